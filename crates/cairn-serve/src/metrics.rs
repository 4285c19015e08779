//! `/metrics` in Prometheus's text format: requests by route and status, a latency histogram
//! per route, tokens and cost booked, errors by class. Counters live behind one mutex: a few
//! map updates per request, nothing next to a model call or a search.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

/// Latency buckets in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct Inner {
    requests: BTreeMap<(String, u16), u64>,
    latency: BTreeMap<String, Histogram>,
    errors: BTreeMap<&'static str, u64>,
    input_tokens: u64,
    output_tokens: u64,
    cost_usd: f64,
    in_flight: i64,
}

#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    pub fn started(&self) {
        self.inner.lock().expect("metrics lock").in_flight += 1;
    }

    /// One finished request (its headers sent; a stream's body may still be running).
    pub fn request(&self, route: &str, status: u16, took: Duration, error: Option<&'static str>) {
        let mut m = self.inner.lock().expect("metrics lock");
        m.in_flight -= 1;
        *m.requests.entry((route.to_string(), status)).or_default() += 1;
        let h = m.latency.entry(route.to_string()).or_default();
        let s = took.as_secs_f64();
        for (i, b) in BUCKETS.iter().enumerate() {
            if s <= *b {
                h.counts[i] += 1;
            }
        }
        h.count += 1;
        h.sum += s;
        if let Some(class) = error {
            *m.errors.entry(class).or_default() += 1;
        }
    }

    /// Tokens and cost of one model call.
    pub fn usage(&self, input: u64, output: u64, cost_usd: Option<f64>) {
        let mut m = self.inner.lock().expect("metrics lock");
        m.input_tokens = m.input_tokens.saturating_add(input);
        m.output_tokens = m.output_tokens.saturating_add(output);
        m.cost_usd += cost_usd.filter(|c| c.is_finite()).unwrap_or(0.0);
    }

    /// A stream that failed after its headers went out (the request counted as 200).
    pub fn stream_error(&self, class: &'static str) {
        *self
            .inner
            .lock()
            .expect("metrics lock")
            .errors
            .entry(class)
            .or_default() += 1;
    }

    pub fn render(&self) -> String {
        let m = self.inner.lock().expect("metrics lock");
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP cairn_requests_total HTTP requests by route and status."
        );
        let _ = writeln!(out, "# TYPE cairn_requests_total counter");
        for ((route, status), n) in &m.requests {
            let _ = writeln!(
                out,
                "cairn_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP cairn_request_duration_seconds Time to the response headers."
        );
        let _ = writeln!(out, "# TYPE cairn_request_duration_seconds histogram");
        for (route, h) in &m.latency {
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "cairn_request_duration_seconds_bucket{{route=\"{route}\",le=\"{b}\"}} {}",
                    h.counts[i]
                );
            }
            let _ = writeln!(
                out,
                "cairn_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "cairn_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "cairn_request_duration_seconds_count{{route=\"{route}\"}} {}",
                h.count
            );
        }
        let _ = writeln!(out, "# HELP cairn_errors_total Errors by class.");
        let _ = writeln!(out, "# TYPE cairn_errors_total counter");
        for (class, n) in &m.errors {
            let _ = writeln!(out, "cairn_errors_total{{class=\"{class}\"}} {n}");
        }
        let _ = writeln!(out, "# HELP cairn_tokens_total Model tokens booked.");
        let _ = writeln!(out, "# TYPE cairn_tokens_total counter");
        let _ = writeln!(
            out,
            "cairn_tokens_total{{kind=\"input\"}} {}",
            m.input_tokens
        );
        let _ = writeln!(
            out,
            "cairn_tokens_total{{kind=\"output\"}} {}",
            m.output_tokens
        );
        let _ = writeln!(
            out,
            "# HELP cairn_cost_usd_total Cost booked by the ledger's pricing."
        );
        let _ = writeln!(out, "# TYPE cairn_cost_usd_total counter");
        let _ = writeln!(out, "cairn_cost_usd_total {}", m.cost_usd);
        let _ = writeln!(
            out,
            "# HELP cairn_requests_in_flight Requests being served."
        );
        let _ = writeln!(out, "# TYPE cairn_requests_in_flight gauge");
        let _ = writeln!(out, "cairn_requests_in_flight {}", m.in_flight);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let m = Metrics::default();
        m.started();
        m.request("/v1/search", 200, Duration::from_millis(3), None);
        m.started();
        m.request(
            "/v1/search",
            400,
            Duration::from_millis(30),
            Some("invalid_request"),
        );
        m.usage(10, 5, Some(0.5));
        let t = m.render();
        assert!(
            t.contains("cairn_requests_total{route=\"/v1/search\",status=\"200\"} 1"),
            "{t}"
        );
        assert!(
            t.contains("le=\"0.005\"} 1") && t.contains("le=\"0.05\"} 2"),
            "{t}"
        );
        assert!(t.contains("cairn_errors_total{class=\"invalid_request\"} 1"));
        assert!(t.contains("cairn_tokens_total{kind=\"input\"} 10"));
        assert!(t.contains("cairn_cost_usd_total 0.5") && t.contains("in_flight 0"));
    }
}
