//! A replay server for the REST adapters that cannot run their service here (Qdrant, Pinecone,
//! Weaviate): a small HTTP/1.1 server on `127.0.0.1` that answers a script of recorded
//! exchanges in order and records every request it received.
//!
//! A script is a JSON fixture (`tests/fixtures/<service>/<name>.json`):
//!
//! ```json
//! {
//!   "about": "what the exchanges show, and where the reference documents them",
//!   "exchanges": [
//!     {
//!       "request": {"method": "GET", "path": "/collections/docs",
//!                   "headers": {"api-key": "test-key"}, "body": null},
//!       "response": {"status": 200, "headers": {}, "body": {"result": {}}}
//!     }
//!   ]
//! }
//! ```
//!
//! Each request is checked against the next exchange: the method, the path with its query
//! string (exactly), every recorded header (name case-insensitive, value exact) and the JSON
//! body (equal, numbers within 1e-6 relative, since an adapter sends `f32`s that JSON widens;
//! a `null` body expects none). A request that does not match is answered `418` with the
//! difference, and [`Replay::finish`] panics naming every difference and every exchange that
//! was never asked for.
//!
//! The server is `std::net` on its own threads (one per connection, keep-alive honoured), so
//! it needs no tokio features beyond the ones the crate already has and runs beside any test
//! runtime.

#![allow(dead_code)]

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// One recorded request and the answer it gets.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub request: Expected,
    pub response: Canned,
}

/// What the adapter must send.
#[derive(Debug, Clone)]
pub struct Expected {
    pub method: String,
    /// The path and query string, as sent (`/collections/docs/points?wait=true`).
    pub path: String,
    /// Headers that must be present with these values.
    pub headers: Vec<(String, String)>,
    /// The JSON body; `None` expects an empty body.
    pub body: Option<Value>,
}

/// What the server answers.
#[derive(Debug, Clone)]
pub struct Canned {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// `None` answers with an empty body.
    pub body: Option<Value>,
}

/// A request as the server received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (`None` when empty or not JSON).
    pub fn json(&self) -> Option<Value> {
        if self.body.is_empty() {
            return None;
        }
        serde_json::from_slice(&self.body).ok()
    }
}

struct State {
    script: Vec<Exchange>,
    next: usize,
    received: Vec<Received>,
    problems: Vec<String>,
}

/// A running replay server.
pub struct Replay {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl Replay {
    /// Serves `script` on a free port of 127.0.0.1.
    pub fn start(script: Vec<Exchange>) -> Replay {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let state = Arc::new(Mutex::new(State {
            script,
            next: 0,
            received: Vec::new(),
            problems: Vec::new(),
        }));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { break };
                let state = shared.clone();
                std::thread::spawn(move || serve_connection(stream, state));
            }
        });
        Replay { addr, state }
    }

    /// Serves the exchanges of `tests/fixtures/<service>/<name>.json`.
    pub fn fixture(service: &str, name: &str) -> Replay {
        Replay::start(load(service, name))
    }

    /// Serves several fixtures one after the other.
    pub fn fixtures(service: &str, names: &[&str]) -> Replay {
        Replay::start(names.iter().flat_map(|n| load(service, n)).collect())
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far, in order.
    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// How many exchanges have been served.
    pub fn served(&self) -> usize {
        self.state.lock().unwrap().next
    }

    /// Panics unless every request matched its exchange and every exchange was asked for.
    pub fn finish(&self) {
        let st = self.state.lock().unwrap();
        let mut problems = st.problems.clone();
        if st.next < st.script.len() {
            for (i, ex) in st.script.iter().enumerate().skip(st.next) {
                problems.push(format!(
                    "exchange {i} was never asked for: {} {}",
                    ex.request.method, ex.request.path
                ));
            }
        }
        if !problems.is_empty() {
            panic!(
                "the adapter did not send the recorded requests:\n  {}",
                problems.join("\n  ")
            );
        }
    }

    /// Panics naming the replay's problems first when `r` is an error, else returns its value.
    #[track_caller]
    pub fn ok<T, E: std::fmt::Display>(&self, r: Result<T, E>) -> T {
        match r {
            Ok(v) => v,
            Err(e) => {
                let problems = self.state.lock().unwrap().problems.clone();
                panic!(
                    "the adapter failed: {e}\nreplay problems: {}",
                    if problems.is_empty() {
                        "none".to_string()
                    } else {
                        problems.join("\n  ")
                    }
                );
            }
        }
    }
}

/// The exchanges of a fixture file.
pub fn load(service: &str, name: &str) -> Vec<Exchange> {
    let path = fixture_path(service, name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let v: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
    let list = v
        .get("exchanges")
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("{} has no `exchanges` array", path.display()));
    list.iter()
        .enumerate()
        .map(|(i, ex)| {
            parse_exchange(ex).unwrap_or_else(|e| panic!("{}: exchange {i}: {e}", path.display()))
        })
        .collect()
}

pub fn fixture_path(service: &str, name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(service)
        .join(format!("{name}.json"))
}

fn parse_exchange(v: &Value) -> Result<Exchange, String> {
    let req = v.get("request").ok_or("no `request`")?;
    let resp = v.get("response").ok_or("no `response`")?;
    let headers = |h: Option<&Value>| -> Result<Vec<(String, String)>, String> {
        match h {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    other => Err(format!("header {k} is {other}, not a string")),
                })
                .collect(),
            Some(other) => Err(format!("headers must be an object, not {other}")),
        }
    };
    let body = |b: Option<&Value>| match b {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.clone()),
    };
    Ok(Exchange {
        request: Expected {
            method: req
                .get("method")
                .and_then(Value::as_str)
                .ok_or("request without `method`")?
                .to_string(),
            path: req
                .get("path")
                .and_then(Value::as_str)
                .ok_or("request without `path`")?
                .to_string(),
            headers: headers(req.get("headers"))?,
            body: body(req.get("body")),
        },
        response: Canned {
            status: resp
                .get("status")
                .and_then(Value::as_u64)
                .ok_or("response without `status`")? as u16,
            headers: headers(resp.get("headers"))?,
            body: body(resp.get("body")),
        },
    })
}

fn serve_connection(stream: TcpStream, state: Arc<Mutex<State>>) {
    let Ok(write_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut writer = write_half;
    loop {
        let req = match read_request(&mut reader) {
            Ok(Some(r)) => r,
            Ok(None) | Err(_) => return,
        };
        let close = req
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let (status, headers, body) = answer(&state, req);
        if write_response(&mut writer, status, &headers, &body).is_err() || close {
            return;
        }
    }
}

/// Checks the request against the next exchange and picks the answer.
fn answer(state: &Mutex<State>, req: Received) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut st = state.lock().unwrap();
    let i = st.received.len();
    st.received.push(req.clone());
    let Some(ex) = st.script.get(st.next).cloned() else {
        let msg = format!(
            "request {i} ({} {}) came after the last recorded exchange",
            req.method, req.path
        );
        st.problems.push(msg.clone());
        return (
            418,
            Vec::new(),
            json!({ "error": msg }).to_string().into_bytes(),
        );
    };
    st.next += 1;
    let diffs = mismatch(&ex.request, &req);
    if !diffs.is_empty() {
        let msg = format!(
            "request {i} ({} {}) differs from the recording ({} {}): {}",
            req.method,
            req.path,
            ex.request.method,
            ex.request.path,
            diffs.join("; ")
        );
        st.problems.push(msg.clone());
        return (
            418,
            Vec::new(),
            json!({ "error": msg }).to_string().into_bytes(),
        );
    }
    // A text answer (a `text/...` content type with a string body) goes out as the bare text.
    let text = ex.response.headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("content-type") && v.to_ascii_lowercase().starts_with("text/")
    });
    let body = match &ex.response.body {
        None => Vec::new(),
        Some(Value::String(s)) if text => s.clone().into_bytes(),
        Some(b) => b.to_string().into_bytes(),
    };
    (ex.response.status, ex.response.headers.clone(), body)
}

/// What differs between the recording and what was sent (empty when they match).
pub fn mismatch(want: &Expected, got: &Received) -> Vec<String> {
    let mut out = Vec::new();
    if !want.method.eq_ignore_ascii_case(&got.method) {
        out.push(format!("method {} (recorded {})", got.method, want.method));
    }
    if want.path != got.path {
        out.push(format!("path {} (recorded {})", got.path, want.path));
    }
    for (k, v) in &want.headers {
        match got.header(k) {
            None => out.push(format!("header {k} missing")),
            Some(g) if g != v => out.push(format!("header {k} has another value")),
            Some(_) => {}
        }
    }
    match (&want.body, got.body.is_empty()) {
        (None, true) => {}
        (None, false) => out.push(format!(
            "a body was sent where none was recorded: {}",
            String::from_utf8_lossy(&got.body)
        )),
        (Some(_), true) => out.push("no body was sent".into()),
        (Some(w), false) => match serde_json::from_slice::<Value>(&got.body) {
            Err(e) => out.push(format!("the body is not JSON ({e})")),
            Ok(g) => json_diff("body", w, &g, &mut out),
        },
    }
    out
}

/// Structural JSON comparison; numbers compare within 1e-6 relative.
pub fn json_diff(at: &str, want: &Value, got: &Value, out: &mut Vec<String>) {
    match (want, got) {
        (Value::Number(a), Value::Number(b)) => {
            let (a, b) = (
                a.as_f64().unwrap_or(f64::NAN),
                b.as_f64().unwrap_or(f64::NAN),
            );
            if (a - b).abs() > 1e-6 * a.abs().max(1.0) {
                out.push(format!("{at}: {b} (recorded {a})"));
            }
        }
        (Value::Object(a), Value::Object(b)) => {
            for (k, va) in a {
                match b.get(k) {
                    None => out.push(format!("{at}.{k}: missing")),
                    Some(vb) => json_diff(&format!("{at}.{k}"), va, vb, out),
                }
            }
            for k in b.keys() {
                if !a.contains_key(k) {
                    out.push(format!("{at}.{k}: sent but not recorded ({})", b[k]));
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            if a.len() != b.len() {
                out.push(format!(
                    "{at}: {} items (recorded {}): {got}",
                    b.len(),
                    a.len()
                ));
                return;
            }
            for (i, (va, vb)) in a.iter().zip(b).enumerate() {
                json_diff(&format!("{at}[{i}]"), va, vb, out);
            }
        }
        (a, b) if a == b => {}
        // A string holding JSON (Pinecone's `_cairn` record) compares as that JSON, so key
        // order inside it does not matter.
        (Value::String(a), Value::String(b)) if embedded_json(a).is_some() => {
            match (embedded_json(a), embedded_json(b)) {
                (Some(wa), Some(gb)) => json_diff(&format!("{at}(json)"), &wa, &gb, out),
                _ => out.push(format!("{at}: {b:?} (recorded {a:?})")),
            }
        }
        (a, b) => out.push(format!("{at}: {b} (recorded {a})")),
    }
}

/// The JSON object or array a string holds, if it holds one.
fn embedded_json(s: &str) -> Option<Value> {
    let t = s.trim_start();
    if !(t.starts_with('{') || t.starts_with('[')) {
        return None;
    }
    serde_json::from_str::<Value>(s)
        .ok()
        .filter(|v| v.is_object() || v.is_array())
}

fn read_request(reader: &mut BufReader<TcpStream>) -> std::io::Result<Option<Received>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
        return Err(std::io::Error::other(format!("bad request line {line:?}")));
    };
    let (method, path) = (method.to_string(), path.to_string());
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 {
            return Err(std::io::Error::other(
                "the connection closed inside the headers",
            ));
        }
        let h = h.trim_end_matches(['\r', '\n']);
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let mut req = Received {
        method,
        path,
        headers,
        body: Vec::new(),
    };
    let chunked = req
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                .map_err(std::io::Error::other)?;
            if n == 0 {
                // The trailer section ends with an empty line.
                loop {
                    let mut t = String::new();
                    if reader.read_line(&mut t)? == 0 || t.trim().is_empty() {
                        break;
                    }
                }
                break;
            }
            let mut chunk = vec![0; n];
            reader.read_exact(&mut chunk)?;
            req.body.extend_from_slice(&chunk);
            let mut crlf = [0u8; 2];
            reader.read_exact(&mut crlf)?;
        }
    } else if let Some(n) = req.header("content-length") {
        let n: usize = n.parse().map_err(std::io::Error::other)?;
        let mut body = vec![0; n];
        reader.read_exact(&mut body)?;
        req.body = body;
    }
    Ok(Some(req))
}

fn write_response(
    w: &mut TcpStream,
    status: u16,
    headers: &[(String, String)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        head.push_str("content-type: application/json\r\n");
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    w.write_all(head.as_bytes())?;
    w.write_all(body)?;
    w.flush()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        418 => "Replay Mismatch",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_compare_within_tolerance_and_structure_exactly() {
        let mut out = Vec::new();
        json_diff(
            "body",
            &json!({"v": [0.1, 2], "k": "x"}),
            &json!({"v": [0.10000000149011612, 2.0], "k": "x"}),
            &mut out,
        );
        assert!(out.is_empty(), "{out:?}");
        json_diff("body", &json!({"a": 1}), &json!({"a": 1, "b": 2}), &mut out);
        json_diff("body", &json!([1, 2]), &json!([1]), &mut out);
        json_diff("body", &json!("x"), &json!(1), &mut out);
        assert_eq!(out.len(), 3, "{out:?}");
    }
}
