//! `cairn bench http`: a closed-loop HTTP load generator. N clients each send a request, read
//! the whole response, and send the next, for a fixed time; the same tool drives `cairn serve`
//! and its peers (infinity-emb, llmock) so their numbers compare (bench/serve.sh runs them).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::json;

#[derive(clap::Args)]
pub struct HttpArgs {
    /// The URL to load: POSTed to when --bodies is given, else fetched with GET
    #[arg(long)]
    url: String,
    /// Request bodies, one JSON document per line, sent in turn (each client starts at its own
    /// offset, so concurrent requests differ)
    #[arg(long)]
    bodies: Option<PathBuf>,
    /// An extra request header, `Name: value` (repeatable), e.g. an Authorization header
    #[arg(long = "header", short = 'H')]
    headers: Vec<String>,
    /// Concurrent clients, comma-separated: each level runs in turn
    #[arg(long, default_value = "1,8,32")]
    clients: String,
    /// Seconds measured per level
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds of unmeasured load before each level
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Sample this process's resident memory once a second (the server under load)
    #[arg(long)]
    watch_pid: Option<u32>,
    /// A name for the rows printed
    #[arg(long, default_value = "")]
    label: String,
    #[arg(long)]
    json: bool,
}

/// One level's tally.
#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    errors: usize,
    first_error: Option<String>,
    bytes: usize,
}

pub fn run(a: HttpArgs) -> Result<ExitCode> {
    let levels = parse_levels(&a.clients)?;
    if !a.duration.is_finite() || a.duration <= 0.0 {
        bail!(
            "--duration must be a positive number of seconds, not {}",
            a.duration
        );
    }
    if !a.warmup.is_finite() || a.warmup < 0.0 {
        bail!("--warmup must be zero or more seconds, not {}", a.warmup);
    }
    let bodies = match &a.bodies {
        Some(p) => read_bodies(p)?,
        None => Vec::new(),
    };
    let mut headers = reqwest::header::HeaderMap::new();
    for h in &a.headers {
        let (name, value) = h
            .split_once(':')
            .with_context(|| format!("--header {h:?}: expected `Name: value`"))?;
        headers.insert(
            reqwest::header::HeaderName::from_bytes(name.trim().as_bytes())
                .with_context(|| format!("--header {h:?}: {name:?} is not a header name"))?,
            reqwest::header::HeaderValue::from_str(value.trim()).with_context(|| {
                format!("--header {name}: the value is not a valid header value")
            })?,
        );
    }
    if !bodies.is_empty() {
        headers.insert(
            reqwest::header::CONTENT_TYPE,
            reqwest::header::HeaderValue::from_static("application/json"),
        );
    }
    // One thread: the generator takes at most one core from the server it measures, the same
    // for every server.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let client = reqwest::Client::builder()
        .default_headers(headers)
        .pool_max_idle_per_host(1024)
        .build()?;
    let bodies = Arc::new(bodies);
    let mut rows = Vec::new();
    for &n in &levels {
        let load = Load {
            client: client.clone(),
            url: a.url.clone(),
            bodies: bodies.clone(),
            clients: n,
        };
        if a.warmup > 0.0 {
            rt.block_on(load.run(Duration::from_secs_f64(a.warmup)));
        }
        let rss = a.watch_pid.map(RssWatch::start);
        let started = Instant::now();
        let t = rt.block_on(load.run(Duration::from_secs_f64(a.duration)));
        let elapsed = started.elapsed().as_secs_f64();
        let rss = rss.map(RssWatch::stop);
        let row = summarize(&a.label, n, elapsed, t, rss);
        if a.json {
            println!("{row}");
        } else {
            print_row(&row);
        }
        rows.push(row);
    }
    let failed = rows.iter().any(|r| r["requests"] == 0);
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn parse_levels(s: &str) -> Result<Vec<usize>> {
    let levels: Vec<usize> = s
        .split(',')
        .map(|p| {
            p.trim()
                .parse::<usize>()
                .ok()
                .filter(|&n| n > 0)
                .with_context(|| format!("--clients {s:?}: {p:?} is not a positive whole number"))
        })
        .collect::<Result<_>>()?;
    Ok(levels)
}

fn read_bodies(path: &PathBuf) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading --bodies {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        serde_json::from_str::<serde_json::Value>(line)
            .with_context(|| format!("{}:{}: not a JSON document", path.display(), i + 1))?;
        out.push(line.to_string());
    }
    if out.is_empty() {
        bail!(
            "--bodies {}: the file holds no request body",
            path.display()
        );
    }
    Ok(out)
}

struct Load {
    client: reqwest::Client,
    url: String,
    bodies: Arc<Vec<String>>,
    clients: usize,
}

impl Load {
    /// Runs `clients` closed loops for `dur` and merges their tallies.
    async fn run(&self, dur: Duration) -> Tally {
        let deadline = Instant::now() + dur;
        let tasks: Vec<_> = (0..self.clients)
            .map(|c| {
                let client = self.client.clone();
                let url = self.url.clone();
                let bodies = self.bodies.clone();
                let offset = if bodies.is_empty() {
                    0
                } else {
                    c * bodies.len() / self.clients
                };
                tokio::spawn(async move {
                    let mut t = Tally::default();
                    let mut i = offset;
                    while Instant::now() < deadline {
                        let req = if bodies.is_empty() {
                            client.get(&url)
                        } else {
                            let b = bodies[i % bodies.len()].clone();
                            i += 1;
                            client.post(&url).body(b)
                        };
                        let start = Instant::now();
                        let outcome = match req.send().await {
                            Ok(r) => {
                                let status = r.status();
                                match r.bytes().await {
                                    Ok(b) if status.is_success() => Ok(b.len()),
                                    Ok(b) => Err(format!(
                                        "HTTP {status}: {}",
                                        String::from_utf8_lossy(&b[..b.len().min(200)])
                                    )),
                                    Err(e) => Err(format!("reading the body: {e}")),
                                }
                            }
                            Err(e) => Err(e.to_string()),
                        };
                        match outcome {
                            Ok(n) => {
                                t.latencies.push(start.elapsed());
                                t.bytes += n;
                            }
                            Err(e) => {
                                t.errors += 1;
                                t.first_error.get_or_insert(e);
                                // A refused connection fails at once: don't spin on it.
                                tokio::time::sleep(Duration::from_millis(10)).await;
                            }
                        }
                    }
                    t
                })
            })
            .collect();
        let mut all = Tally::default();
        for task in tasks {
            if let Ok(t) = task.await {
                all.latencies.extend(t.latencies);
                all.errors += t.errors;
                all.bytes += t.bytes;
                if all.first_error.is_none() {
                    all.first_error = t.first_error;
                }
            }
        }
        all
    }
}

/// Samples a process's resident set once a second on its own thread.
struct RssWatch {
    stop: Arc<std::sync::atomic::AtomicBool>,
    handle: std::thread::JoinHandle<Vec<u64>>,
}

impl RssWatch {
    fn start(pid: u32) -> RssWatch {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut samples = Vec::new();
            loop {
                if let Some(kib) = rss_kib(pid) {
                    samples.push(kib);
                }
                for _ in 0..10 {
                    if flag.load(std::sync::atomic::Ordering::Relaxed) {
                        return samples;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        });
        RssWatch { stop, handle }
    }

    /// The samples taken, in KiB.
    fn stop(self) -> Vec<u64> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.handle.join().unwrap_or_default()
    }
}

/// VmRSS of one process (its children, if any, are not counted).
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

fn summarize(
    label: &str,
    clients: usize,
    elapsed: f64,
    mut t: Tally,
    rss: Option<Vec<u64>>,
) -> serde_json::Value {
    t.latencies.sort();
    let ms = |p| (percentile(&t.latencies, p) * 1000.0).round() / 1000.0;
    let mut row = json!({
        "label": label,
        "clients": clients,
        "seconds": (elapsed * 100.0).round() / 100.0,
        "requests": t.latencies.len(),
        "errors": t.errors,
        "requests_per_s": ((t.latencies.len() as f64 / elapsed) * 10.0).round() / 10.0,
        "p50_ms": ms(50.0),
        "p90_ms": ms(90.0),
        "p99_ms": ms(99.0),
        "max_ms": ms(100.0),
        "response_bytes": t.bytes,
    });
    if let Some(e) = t.first_error {
        row["first_error"] = json!(e);
    }
    if let Some(s) = rss.filter(|s| !s.is_empty()) {
        let mib = |k: u64| (k as f64 / 1024.0 * 10.0).round() / 10.0;
        row["rss_first_mib"] = json!(mib(s[0]));
        row["rss_max_mib"] = json!(mib(*s.iter().max().unwrap_or(&0)));
        row["rss_last_mib"] = json!(mib(*s.last().unwrap_or(&0)));
        row["rss_samples"] = json!(s.len());
    }
    row
}

fn print_row(r: &serde_json::Value) {
    let label = r["label"].as_str().unwrap_or("");
    println!(
        "{label}{}clients {:>3}: {:>8} req/s  p50 {:>8.3} ms  p90 {:>8.3} ms  p99 {:>8.3} ms  ({} requests, {} errors)",
        if label.is_empty() { "" } else { "  " },
        r["clients"],
        r["requests_per_s"],
        r["p50_ms"].as_f64().unwrap_or(f64::NAN),
        r["p90_ms"].as_f64().unwrap_or(f64::NAN),
        r["p99_ms"].as_f64().unwrap_or(f64::NAN),
        r["requests"],
        r["errors"],
    );
    if let Some(m) = r.get("rss_max_mib") {
        println!(
            "  resident memory: first {} MiB, max {m} MiB, last {} MiB",
            r["rss_first_mib"], r["rss_last_mib"]
        );
    }
    if let Some(e) = r.get("first_error").and_then(|e| e.as_str()) {
        println!("  first error: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_positive_numbers() {
        assert_eq!(parse_levels("1, 8,32").unwrap(), vec![1, 8, 32]);
        let e = parse_levels("1,0").unwrap_err().to_string();
        assert!(e.contains("--clients") && e.contains("\"0\""), "{e}");
        assert!(parse_levels("a").is_err());
    }

    #[test]
    fn percentiles_pick_the_nearest_rank() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&v, 50.0), 51.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert!(percentile(&[], 50.0).is_nan());
    }
}
