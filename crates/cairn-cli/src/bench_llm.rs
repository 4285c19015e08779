//! `cairn bench llm-stream`: the client's cost when streaming a long reply, next to raw reqwest
//! reading the same stream from the same peer, calls interleaved so drift hits both alike.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use cairn_llm::middleware::{Retry, RetryPolicy};
use cairn_llm::providers::{openai::OpenAi, Endpoint};
use cairn_llm::transport::Transport;
use cairn_llm::{ChatEvent, ChatModel, ChatRequest};
use futures::StreamExt;

#[derive(clap::Args)]
pub struct LlmStreamArgs {
    /// An OpenAI-compatible base URL serving the long reply (bench/llm_stream.sh starts llmock)
    #[arg(long)]
    base_url: String,
    #[arg(long, default_value = "gpt-4o-mini")]
    model: String,
    /// Calls per client
    #[arg(long, default_value_t = 20)]
    calls: usize,
    /// Also replay the captured stream from a local in-process server at full speed, so the
    /// numbers measure the clients alone rather than the peer's pace
    #[arg(long)]
    replay: bool,
    #[arg(long)]
    json: bool,
}

/// Process CPU time (user + system).
fn cpu_time() -> Duration {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct we own; RUSAGE_SELF is always valid.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

#[derive(Default)]
struct Tally {
    wall: Vec<Duration>,
    cpu: Duration,
    events: usize,
    bytes: usize,
}

pub fn run(a: LlmStreamArgs) -> Result<ExitCode> {
    crate::search::check_count("--calls", a.calls, "the calls per client")?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(bench(a))
}

/// Serves `events` (one SSE event each, written as its own HTTP chunk) to every POST, with
/// keep-alive, from a plain thread so it shares nothing with the client's runtime.
fn replay_server(events: Vec<Vec<u8>>) -> Result<String> {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let events = Arc::new(events);
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let events = events.clone();
            std::thread::spawn(move || -> std::io::Result<()> {
                let mut reader = BufReader::new(conn.try_clone()?);
                let mut w = std::io::BufWriter::with_capacity(64 * 1024, conn);
                loop {
                    let mut len = 0usize;
                    let mut line = String::new();
                    if reader.read_line(&mut line)? == 0 {
                        return Ok(());
                    }
                    loop {
                        line.clear();
                        reader.read_line(&mut line)?;
                        let l = line.trim();
                        if l.is_empty() {
                            break;
                        }
                        if let Some((k, v)) = l.split_once(':') {
                            if k.eq_ignore_ascii_case("content-length") {
                                len = v.trim().parse().unwrap_or(0);
                            }
                        }
                    }
                    let mut body = vec![0; len];
                    reader.read_exact(&mut body)?;
                    w.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")?;
                    for e in events.iter() {
                        write!(w, "{:x}\r\n", e.len())?;
                        w.write_all(e)?;
                        w.write_all(b"\r\n")?;
                    }
                    w.write_all(b"0\r\n\r\n")?;
                    w.flush()?;
                }
            });
        }
    });
    Ok(format!("http://{addr}/v1"))
}

async fn bench(a: LlmStreamArgs) -> Result<ExitCode> {
    let live = measure(&a.base_url, &a.model, a.calls).await?;
    let mut result = serde_json::json!({"peer": live.0});
    if a.replay {
        // One SSE event per HTTP chunk, as the peer sent them.
        let events: Vec<Vec<u8>> = live
            .1
            .split_inclusive(|&b| b == b'\n')
            .collect::<Vec<_>>()
            .chunks(2)
            .map(|c| c.concat())
            .collect();
        let base = replay_server(events)?;
        result["replay"] = measure(&base, &a.model, a.calls).await?.0;
    }
    if a.json {
        println!("{result}");
    } else {
        println!("{}", serde_json::to_string_pretty(&result)?);
    }
    Ok(ExitCode::SUCCESS)
}

/// Both clients against one base URL; returns the numbers and the captured stream bytes.
async fn measure(
    base_url: &str,
    model: &str,
    calls: usize,
) -> Result<(serde_json::Value, Vec<u8>)> {
    let a = LlmStreamArgs {
        base_url: base_url.to_string(),
        model: model.to_string(),
        calls,
        replay: false,
        json: true,
    };
    let transport = Arc::new(Transport::new(Default::default()));
    let ep = Endpoint {
        base_url: a.base_url.clone(),
        api_key: Some("bench".into()),
        transport,
    };
    let provider = OpenAi::new(ep, &a.model);
    let cairn: Arc<dyn ChatModel> = Arc::new(Retry::new(
        Arc::new(provider.clone()),
        RetryPolicy::default(),
    ));
    let req = ChatRequest::prompt(None, "Stream the long benchmark reply.");
    let body = provider.body(&req, true);
    let url = format!("{}/chat/completions", a.base_url.trim_end_matches('/'));
    let raw = reqwest::Client::new();

    let mut r = Tally::default();
    let mut c = Tally::default();
    let mut capture = Vec::new();
    // Warm both paths (connection setup, the peer's first-request costs).
    for i in 0..(a.calls + 2) {
        let measure = i >= 2;
        // raw reqwest: read every byte of the stream
        let (t0, c0) = (Instant::now(), cpu_time());
        let mut resp = raw
            .post(&url)
            .bearer_auth("bench")
            .json(&body)
            .send()
            .await
            .context("raw request")?;
        let mut bytes = 0;
        let mut captured = Vec::new();
        while let Some(chunk) = resp.chunk().await? {
            bytes += chunk.len();
            if i == 0 {
                captured.extend_from_slice(&chunk);
            }
        }
        if i == 0 {
            capture = captured;
        }
        if measure {
            r.wall.push(t0.elapsed());
            r.cpu += cpu_time() - c0;
            r.bytes = bytes;
        }
        // cairn: SSE framing, JSON per event, typed events, end-marker check, retry layer
        let (t0, c0) = (Instant::now(), cpu_time());
        let mut s = cairn.stream(&req).await?;
        let mut events = 0;
        let mut text = 0;
        while let Some(ev) = s.next().await {
            if let ChatEvent::TextDelta { text: t } = ev? {
                text += t.len();
            }
            events += 1;
        }
        if measure {
            c.wall.push(t0.elapsed());
            c.cpu += cpu_time() - c0;
            c.events = events;
            c.bytes = text;
        }
    }
    let n = a.calls as f64;
    let mean = |t: &Tally| t.wall.iter().map(Duration::as_secs_f64).sum::<f64>() / n;
    let median = |t: &Tally| {
        let mut w: Vec<f64> = t.wall.iter().map(Duration::as_secs_f64).collect();
        w.sort_by(f64::total_cmp);
        w[w.len() / 2]
    };
    let (rw, cw) = (mean(&r), mean(&c));
    let (rc, cc) = (r.cpu.as_secs_f64() / n, c.cpu.as_secs_f64() / n);
    let result = serde_json::json!({
        "calls": a.calls,
        "stream_bytes": r.bytes,
        "events_per_call": c.events,
        "text_bytes_per_call": c.bytes,
        "raw": {"wall_ms_mean": rw * 1e3, "wall_ms_median": median(&r) * 1e3, "cpu_ms_per_call": rc * 1e3},
        "cairn": {"wall_ms_mean": cw * 1e3, "wall_ms_median": median(&c) * 1e3, "cpu_ms_per_call": cc * 1e3},
        "overhead_wall_ms_per_call": (cw - rw) * 1e3,
        "overhead_wall_ms_per_call_median": (median(&c) - median(&r)) * 1e3,
        "extra_cpu_ms_per_call": (cc - rc) * 1e3,
        "extra_cpu_pct_of_call_time": (cc - rc) / cw * 100.0,
    });
    Ok((result, capture))
}
