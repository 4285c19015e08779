//! The one HTTP client every provider shares: JSON posts, byte streams with connect /
//! first-byte / idle / total timeouts, SSE and NDJSON framing, and the generic half of error
//! mapping (status, request id, Retry-After and rate-limit reset headers). Providers supply only
//! how to read their error body.

pub mod ndjson;
pub mod sse;

use std::pin::Pin;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::error::{LlmError, StreamBreak, TimeoutPhase};

pub use ndjson::NdjsonDecoder;
pub use sse::{SseDecoder, SseEvent};

/// Limits on one HTTP call. A stalled stream fails on `idle` and is retried like any other
/// transient failure.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timeouts {
    pub connect: Duration,
    /// From sending the request to the response headers, and to the first body bytes.
    pub first_byte: Duration,
    /// Longest silence between two body chunks of a stream.
    pub idle: Duration,
    /// The whole call.
    pub total: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            first_byte: Duration::from_secs(120),
            idle: Duration::from_secs(60),
            total: Duration::from_secs(600),
        }
    }
}

/// What a provider learns from its error body.
#[derive(Debug, Default, Clone)]
pub struct ErrorBody {
    pub code: Option<String>,
    pub message: String,
    /// A delay the body asked for (Gemini's `RetryInfo.retryDelay`).
    pub retry_after: Option<Duration>,
}

pub type ErrorParser = fn(&[u8]) -> ErrorBody;

pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, LlmError>> + Send>>;
/// SSE events in the batches one network read completes: one yield per read, not per event.
pub type SseStream = Pin<Box<dyn Stream<Item = Result<Vec<SseEvent>, LlmError>> + Send>>;
pub type LineStream = Pin<Box<dyn Stream<Item = Result<Vec<u8>, LlmError>> + Send>>;

#[derive(Debug, Clone)]
pub struct Transport {
    client: reqwest::Client,
    pub timeouts: Timeouts,
}

/// Headers to send. Values may hold secrets: they are never logged or stored.
pub type Headers = Vec<(&'static str, String)>;

impl Transport {
    pub fn new(timeouts: Timeouts) -> Self {
        let client = reqwest::Client::builder()
            .connect_timeout(timeouts.connect)
            .build()
            .expect("the TLS backend initialises");
        Transport { client, timeouts }
    }

    async fn send(
        &self,
        provider: &'static str,
        url: &str,
        headers: &Headers,
        body: &Value,
        parse_error: ErrorParser,
    ) -> Result<(reqwest::Response, Option<String>), LlmError> {
        let mut rb = self.client.post(url).json(body);
        for (k, v) in headers {
            rb = rb.header(*k, v);
        }
        let started = Instant::now();
        let limit = self.timeouts.first_byte.min(self.timeouts.total);
        let resp = match tokio::time::timeout(limit, rb.send()).await {
            Err(_) => {
                return Err(LlmError::Timeout {
                    provider,
                    phase: phase_for(limit, self.timeouts.total, TimeoutPhase::FirstByte),
                    after: started.elapsed(),
                })
            }
            Ok(Err(e)) => return Err(connection_error(provider, &e)),
            Ok(Ok(r)) => r,
        };
        let request_id = request_id(resp.headers());
        let status = resp.status().as_u16();
        if status >= 400 {
            let headers = resp.headers().clone();
            let body = tokio::time::timeout(limit, resp.bytes())
                .await
                .ok()
                .and_then(|r| r.ok())
                .unwrap_or_default();
            return Err(api_error(
                provider,
                status,
                &headers,
                &body,
                request_id,
                parse_error,
            ));
        }
        Ok((resp, request_id))
    }

    /// POSTs JSON and reads a JSON reply.
    pub async fn post_json(
        &self,
        provider: &'static str,
        url: &str,
        headers: &Headers,
        body: &Value,
        parse_error: ErrorParser,
    ) -> Result<(Value, Option<String>), LlmError> {
        let started = Instant::now();
        let (resp, rid) = self.send(provider, url, headers, body, parse_error).await?;
        let left = self.timeouts.total.saturating_sub(started.elapsed());
        let bytes = match tokio::time::timeout(left, resp.bytes()).await {
            Err(_) => {
                return Err(LlmError::Timeout {
                    provider,
                    phase: TimeoutPhase::Total,
                    after: started.elapsed(),
                })
            }
            Ok(Err(e)) => return Err(connection_error(provider, &e)),
            Ok(Ok(b)) => b,
        };
        let v: Value = serde_json::from_slice(&bytes).map_err(|e| LlmError::Decode {
            provider,
            message: format!("the body is not JSON ({e}): {}", preview(&bytes)),
        })?;
        Ok((v, rid))
    }

    /// POSTs JSON and returns the body as it arrives, under the idle and total timeouts.
    pub async fn post_stream(
        &self,
        provider: &'static str,
        url: &str,
        headers: &Headers,
        body: &Value,
        parse_error: ErrorParser,
    ) -> Result<(ByteStream, Option<String>), LlmError> {
        let started = Instant::now();
        let (mut resp, rid) = self.send(provider, url, headers, body, parse_error).await?;
        let t = self.timeouts;
        let s = async_stream::stream! {
            // One timer for the whole stream, moved only when it fires: re-arming a timer per
            // chunk costs more than the rest of the client's per-event work (BENCHMARKS.md).
            let total_deadline = started + t.total;
            let mut last = Instant::now();
            let mut first = true;
            let gap = |first: bool| if first { t.first_byte } else { t.idle };
            let timer = tokio::time::sleep_until((last + gap(true)).min(total_deadline).into());
            tokio::pin!(timer);
            loop {
                tokio::select! {
                    biased;
                    chunk = resp.chunk() => match chunk {
                        Err(e) => {
                            yield Err(LlmError::Stream {
                                provider,
                                kind: StreamBreak::Dropped,
                                detail: error_chain(&e),
                            });
                            break;
                        }
                        Ok(None) => break,
                        Ok(Some(b)) => {
                            last = Instant::now();
                            if first {
                                // From the first-byte limit to the (usually shorter) idle one.
                                first = false;
                                timer.as_mut().reset((last + t.idle).min(total_deadline).into());
                            }
                            yield Ok(b);
                        }
                    },
                    () = &mut timer => {
                        let now = Instant::now();
                        let due = (last + gap(first)).min(total_deadline);
                        if now >= due {
                            let phase = if due == total_deadline { TimeoutPhase::Total }
                                else if first { TimeoutPhase::FirstByte } else { TimeoutPhase::Idle };
                            yield Err(LlmError::Timeout { provider, phase, after: now - last });
                            break;
                        }
                        timer.as_mut().reset(due.into());
                    }
                }
            }
        };
        Ok((Box::pin(s), rid))
    }
}

fn phase_for(limit: Duration, total: Duration, phase: TimeoutPhase) -> TimeoutPhase {
    if limit == total {
        TimeoutPhase::Total
    } else {
        phase
    }
}

/// Frames a byte stream as SSE events. At end of input any unterminated event is dispatched;
/// whether the stream ended properly is the provider's call (it knows its end marker).
pub fn sse_events(provider: &'static str, mut bytes: ByteStream) -> SseStream {
    Box::pin(async_stream::stream! {
        let mut dec = SseDecoder::new();
        while let Some(chunk) = bytes.next().await {
            match chunk {
                Err(e) => { yield Err(e); return; }
                Ok(b) => match dec.feed(&b) {
                    Ok(evs) => if !evs.is_empty() { yield Ok(evs); },
                    Err(e) => {
                        yield Err(LlmError::Stream { provider, kind: StreamBreak::Malformed, detail: e.0 });
                        return;
                    }
                },
            }
        }
        match dec.finish() {
            Ok(Some(ev)) => yield Ok(vec![ev]),
            Ok(None) => {}
            Err(e) => yield Err(LlmError::Stream { provider, kind: StreamBreak::Malformed, detail: e.0 }),
        }
    })
}

/// Frames a byte stream as NDJSON lines.
pub fn ndjson_lines(mut bytes: ByteStream) -> LineStream {
    Box::pin(async_stream::stream! {
        let mut dec = NdjsonDecoder::new();
        while let Some(chunk) = bytes.next().await {
            match chunk {
                Err(e) => { yield Err(e); return; }
                Ok(b) => for line in dec.feed(&b) { yield Ok(line); },
            }
        }
        if let Some(line) = dec.finish() {
            yield Ok(line);
        }
    })
}

/// Parses one streamed JSON payload, or says which provider sent what.
pub fn parse_event(provider: &'static str, data: &[u8]) -> Result<Value, LlmError> {
    serde_json::from_slice(data).map_err(|e| LlmError::Stream {
        provider,
        kind: StreamBreak::Malformed,
        detail: format!("{e}: {}", preview(data)),
    })
}

pub fn truncated(provider: &'static str) -> LlmError {
    LlmError::Stream {
        provider,
        kind: StreamBreak::Truncated,
        detail: String::new(),
    }
}

pub(crate) fn preview(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    let s = s.trim();
    if s.chars().count() > 200 {
        format!("{}...", s.chars().take(200).collect::<String>())
    } else {
        s.to_string()
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

fn connection_error(provider: &'static str, e: &reqwest::Error) -> LlmError {
    LlmError::Connection {
        provider,
        message: error_chain(e),
    }
}

fn request_id(h: &HeaderMap) -> Option<String> {
    ["x-request-id", "request-id", "x-goog-request-id"]
        .iter()
        .find_map(|k| h.get(*k).and_then(|v| v.to_str().ok()).map(str::to_string))
}

fn api_error(
    provider: &'static str,
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    request_id: Option<String>,
    parse_error: ErrorParser,
) -> LlmError {
    let parsed = parse_error(body);
    let message = if parsed.message.is_empty() {
        if body.is_empty() {
            "(empty body)".to_string()
        } else {
            preview(body)
        }
    } else {
        parsed.message
    };
    let should_retry = headers
        .get("x-should-retry")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| match v.trim() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        });
    LlmError::Api {
        provider,
        status,
        code: parsed.code,
        message,
        request_id,
        retry_after: retry_after(headers, std::time::SystemTime::now()).or(parsed.retry_after),
        should_retry,
    }
}

/// The wait a response asks for: `retry-after-ms`, then `retry-after` (seconds or an HTTP
/// date), then the rate-limit reset headers of an exhausted bucket (OpenAI's durations like
/// `6m0s`, Anthropic's RFC 3339 instants).
/// Waits longer than this (a year) are read as this: far past any retry policy's ceiling,
/// so the caller is told to come back later, and still safe to add to an `Instant`.
pub const MAX_WAIT: Duration = Duration::from_secs(365 * 24 * 3600);

/// Seconds a server sent as a wait: `None` when negative or NaN, at most [`MAX_WAIT`] (a
/// number too large for an f64 reads as infinite). `Duration::from_secs_f64` panics past
/// `u64::MAX` seconds.
fn wait_secs(s: f64) -> Option<Duration> {
    if s.is_nan() || s < 0.0 {
        return None;
    }
    Some(Duration::from_secs_f64(s.min(MAX_WAIT.as_secs_f64())))
}

pub fn retry_after(h: &HeaderMap, now: std::time::SystemTime) -> Option<Duration> {
    let get = |k: &str| h.get(k).and_then(|v| v.to_str().ok()).map(str::trim);
    let until = |t: std::time::SystemTime| t.duration_since(now).unwrap_or_default().min(MAX_WAIT);
    if let Some(ms) = get("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        if let Some(d) = wait_secs(ms / 1000.0) {
            return Some(d);
        }
    }
    if let Some(v) = get("retry-after") {
        if let Ok(s) = v.parse::<f64>() {
            if let Some(d) = wait_secs(s) {
                return Some(d);
            }
        } else if let Ok(t) = httpdate::parse_http_date(v) {
            return Some(until(t));
        }
    }
    let mut best: Option<Duration> = None;
    let mut consider = |d: Duration| best = Some(best.map_or(d, |b| b.max(d)));
    for kind in ["requests", "tokens"] {
        let exhausted = get(&format!("x-ratelimit-remaining-{kind}")) == Some("0");
        if let Some(d) = get(&format!("x-ratelimit-reset-{kind}")).and_then(parse_go_duration) {
            if exhausted {
                consider(d);
            }
        }
    }
    for kind in ["requests", "tokens", "input-tokens", "output-tokens"] {
        let exhausted = get(&format!("anthropic-ratelimit-{kind}-remaining")) == Some("0");
        if let Some(t) = get(&format!("anthropic-ratelimit-{kind}-reset")) {
            if let (true, Ok(t)) = (exhausted, chrono::DateTime::parse_from_rfc3339(t)) {
                let t: std::time::SystemTime = t.with_timezone(&chrono::Utc).into();
                consider(until(t));
            }
        }
    }
    best
}

/// `1h2m3.5s`, `6m0s`, `12ms`, `850us`: the duration strings OpenAI's reset headers use (and
/// Gemini's `retryDelay`). At most [`MAX_WAIT`].
pub fn parse_go_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_end == 0 {
            return None;
        }
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_end];
        rest = &rest[unit_end..];
        total += n * match unit {
            "h" => 3600.0,
            "m" => 60.0,
            "s" | "" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
    }
    wait_secs(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("6m0s"), Some(Duration::from_secs(360)));
        assert_eq!(parse_go_duration("12ms"), Some(Duration::from_millis(12)));
        assert_eq!(parse_go_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_go_duration("1h2m"), Some(Duration::from_secs(3720)));
        assert_eq!(parse_go_duration("soon"), None);
    }

    #[test]
    fn huge_or_endless_waits_are_capped_not_a_panic() {
        // Found by tests/prop_gemini.rs (a stream error event's retryDelay) and
        // tests/prop_retry_after.rs: Duration::from_secs_f64 panicked past u64::MAX seconds.
        let now = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_go_duration(&"9".repeat(400)), Some(MAX_WAIT));
        assert_eq!(parse_go_duration("99999999999999999999h"), Some(MAX_WAIT));
        assert_eq!(
            retry_after(&headers(&[("retry-after", "1e20")]), now),
            Some(MAX_WAIT)
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after-ms", "1e30")]), now),
            Some(MAX_WAIT)
        );
        assert_eq!(
            retry_after(
                &headers(&[("retry-after", "Fri, 31 Dec 9999 23:59:59 GMT")]),
                now
            ),
            Some(MAX_WAIT)
        );
        let body = br#"{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","details":[{"retryDelay":"99999999999999999999999s"}]}}"#;
        assert_eq!(
            crate::providers::gemini::parse_error(body).retry_after,
            Some(MAX_WAIT)
        );
    }

    #[test]
    fn retry_after_precedence() {
        let now = std::time::SystemTime::now();
        let h = headers(&[("retry-after-ms", "250"), ("retry-after", "3")]);
        assert_eq!(retry_after(&h, now), Some(Duration::from_millis(250)));
        let h = headers(&[("retry-after", "2.5")]);
        assert_eq!(retry_after(&h, now), Some(Duration::from_millis(2500)));
        let when = now + Duration::from_secs(30);
        let h = headers(&[("retry-after", &httpdate::fmt_http_date(when))]);
        let d = retry_after(&h, now).unwrap();
        assert!(
            d <= Duration::from_secs(30) && d >= Duration::from_secs(28),
            "{d:?}"
        );
        let h = headers(&[
            ("x-ratelimit-remaining-requests", "0"),
            ("x-ratelimit-reset-requests", "1s"),
            ("x-ratelimit-remaining-tokens", "100"),
            ("x-ratelimit-reset-tokens", "6m0s"),
        ]);
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(1)));
        let reset = chrono::DateTime::<chrono::Utc>::from(now + Duration::from_secs(20));
        let h = headers(&[
            ("anthropic-ratelimit-tokens-remaining", "0"),
            ("anthropic-ratelimit-tokens-reset", &reset.to_rfc3339()),
        ]);
        let d = retry_after(&h, now).unwrap();
        assert!(
            d > Duration::from_secs(19) && d <= Duration::from_secs(20),
            "{d:?}"
        );
        assert_eq!(retry_after(&headers(&[]), now), None);
    }
}
