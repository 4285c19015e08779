//! Test peers: the real `llmock` server (PyPI) for OpenAI / Anthropic / Gemini, and a small
//! scripted HTTP server of our own for what llmock does not cover (Ollama NDJSON, cached-token
//! usage payloads, byte-exact stream framing, embeddings).
#![allow(dead_code)]

use std::net::TcpListener as StdListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Where the llmock executable is: `CAIRN_LLMOCK`, the venv `scripts/test` makes, or PATH.
pub fn llmock_bin() -> String {
    if let Ok(p) = std::env::var("CAIRN_LLMOCK") {
        return p;
    }
    let cache = std::env::var("CAIRN_CACHE_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| dirs_home().join(".cache/cairn"));
    let venv = cache.join("venv/bin/llmock");
    if venv.exists() {
        return venv.display().to_string();
    }
    "llmock".to_string()
}

fn dirs_home() -> std::path::PathBuf {
    std::env::var("HOME")
        .map(Into::into)
        .unwrap_or_else(|_| "/root".into())
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running llmock on 127.0.0.1, stopped on drop.
pub struct Llmock {
    child: Child,
    pub base: String,
    http: reqwest::Client,
}

impl Llmock {
    pub async fn start() -> Llmock {
        let bin = llmock_bin();
        for _ in 0..3 {
            let port = free_port();
            let child = Command::new(&bin)
                // Chunks paced like real generation (20 ms apart): a client that drops a stream
                // on a malformed chunk hangs up before the server has sent it all, which is
                // how llmock tells "stopped reading" from "ignored it".
                .args(["serve", "--host", "127.0.0.1", "--port", &port.to_string(), "--log-level", "warning", "--stream-chunk-delay-ms", "20"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {bin} ({e}); scripts/test installs llmock into ~/.cache/cairn/venv — run it, or set CAIRN_LLMOCK"));
            let mut m = Llmock {
                child,
                base: format!("http://127.0.0.1:{port}"),
                http: reqwest::Client::new(),
            };
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(r) = m.http.get(format!("{}/health", m.base)).send().await {
                    if r.status().is_success() {
                        return m;
                    }
                }
                if let Ok(Some(_)) = m.child.try_wait() {
                    break; // port taken between probe and bind: try another
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let _ = m.child.kill();
        }
        panic!("llmock did not start");
    }

    pub async fn scenario(&self, behaviors: Value) {
        let r = self
            .http
            .post(format!("{}/_llmock/scenario", self.base))
            .json(&json!({ "behaviors": behaviors }))
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_success(),
            "scenario rejected: {}",
            r.text().await.unwrap()
        );
    }

    pub async fn reset(&self) {
        self.http
            .post(format!("{}/_llmock/reset", self.base))
            .send()
            .await
            .unwrap();
    }

    pub async fn verdict(&self) -> Value {
        self.http
            .get(format!("{}/_llmock/verdict", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn verdict_text(&self) -> String {
        self.http
            .get(format!("{}/_llmock/verdict?format=text", self.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub async fn requests(&self) -> Value {
        self.http
            .get(format!("{}/_llmock/requests", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// The verdict must show no FAIL and no WARN; then the journal is cleared.
    pub async fn assert_clean(&self, what: &str) {
        let v = self.verdict().await;
        if v["errors"] != 0 || v["warnings"] != 0 {
            panic!(
                "{what}: llmock verdict not clean:\n{}",
                self.verdict_text().await
            );
        }
        self.reset().await;
    }

    pub fn base_for(&self, provider: &str) -> String {
        match provider {
            "openai" => format!("{}/v1", self.base),
            "anthropic" => format!("{}/anthropic", self.base),
            "gemini" => format!("{}/gemini", self.base),
            other => panic!("llmock has no {other}"),
        }
    }
}

impl Drop for Llmock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One scripted reply of the fake server.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// Body pieces, each written (and flushed) after its delay.
    pub chunks: Vec<(u64, Vec<u8>)>,
    /// Stop mid-body without the chunked terminator: the client sees a dropped connection.
    pub drop_connection: bool,
}

impl Reply {
    pub fn json(status: u16, v: &Value) -> Reply {
        Reply {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            chunks: vec![(0, v.to_string().into_bytes())],
            drop_connection: false,
        }
    }
    pub fn stream(content_type: &str, chunks: Vec<Vec<u8>>) -> Reply {
        Reply {
            status: 200,
            headers: vec![("content-type".into(), content_type.into())],
            chunks: chunks.into_iter().map(|c| (0, c)).collect(),
            drop_connection: false,
        }
    }
    pub fn header(mut self, k: &str, v: &str) -> Reply {
        self.headers.push((k.into(), v.into()));
        self
    }
}

/// A request the fake server received.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

/// A scripted HTTP/1.1 server: answers each request with the next reply (the last one
/// repeats), using chunked encoding so a reply can drop mid-body.
pub struct FakeServer {
    pub base: String,
    replies: Arc<Mutex<Vec<Reply>>>,
    pub received: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeServer {
    pub async fn start(replies: Vec<Reply>) -> FakeServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let replies = Arc::new(Mutex::new(replies));
        let received = Arc::new(Mutex::new(Vec::new()));
        let (r2, rec2) = (replies.clone(), received.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    return;
                };
                let (r3, rec3) = (r2.clone(), rec2.clone());
                tokio::spawn(async move {
                    let _ = serve(sock, r3, rec3).await;
                });
            }
        });
        FakeServer {
            base,
            replies,
            received,
            task,
        }
    }

    pub fn push(&self, r: Reply) {
        self.replies.lock().unwrap().push(r);
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    mut sock: tokio::net::TcpStream,
    replies: Arc<Mutex<Vec<Reply>>>,
    received: Arc<Mutex<Vec<Received>>>,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 8192];
    let head_end = loop {
        let n = sock.read(&mut tmp).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&tmp[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let path = lines
        .next()
        .unwrap_or_default()
        .split(' ')
        .nth(1)
        .unwrap_or_default()
        .to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = sock.read(&mut tmp).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&tmp[..n]);
    }
    let body = serde_json::from_slice(&buf[head_end..]).unwrap_or(Value::Null);
    received.lock().unwrap().push(Received {
        path,
        headers,
        body,
    });
    let reply = {
        let mut r = replies.lock().unwrap();
        if r.len() > 1 {
            r.remove(0)
        } else {
            r[0].clone()
        }
    };
    let mut head = format!(
        "HTTP/1.1 {} X\r\ntransfer-encoding: chunked\r\nconnection: close\r\n",
        reply.status
    );
    for (k, v) in &reply.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    sock.write_all(head.as_bytes()).await?;
    sock.flush().await?;
    for (delay, c) in &reply.chunks {
        if *delay > 0 {
            tokio::time::sleep(Duration::from_millis(*delay)).await;
        }
        if c.is_empty() {
            continue;
        }
        sock.write_all(format!("{:x}\r\n", c.len()).as_bytes())
            .await?;
        sock.write_all(c).await?;
        sock.write_all(b"\r\n").await?;
        sock.flush().await?;
    }
    if reply.drop_connection {
        // Half a chunk, then close: an incomplete body.
        sock.write_all(b"40\r\n{\"partial").await?;
        sock.flush().await?;
        return Ok(());
    }
    sock.write_all(b"0\r\n\r\n").await?;
    sock.flush().await?;
    Ok(())
}
