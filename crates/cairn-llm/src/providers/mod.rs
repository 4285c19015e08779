//! One module per provider: each maps `ChatRequest` to its JSON and its JSON (whole or
//! streamed) back to `ChatResponse` / `ChatEvent`s. Transport, retries and accounting live
//! elsewhere.

pub mod anthropic;
pub mod gemini;
pub mod local;
pub mod ollama;
pub mod openai;

use std::sync::Arc;

use futures::StreamExt;
use serde_json::{Map, Value};

use crate::error::LlmError;
use crate::model::ChatStream;
use crate::transport::{ndjson_lines, sse_events, ByteStream, Transport};
use crate::types::{ChatEvent, ContentPart, ImageSource};

/// One provider's stream payloads (SSE `data` fields, NDJSON lines) to `ChatEvent`s: the
/// provider's whole streaming grammar, synchronous and free of I/O, so a recorded stream can
/// be replayed and the parsers fuzzed without a network. Untrusted input: never panics.
pub trait StreamDecoder: Send {
    /// One payload; its events go to `out`. `Ok(true)` when it ended the stream properly (the
    /// provider's end marker): nothing after it is read.
    fn payload(&mut self, data: &[u8], out: &mut Vec<ChatEvent>) -> Result<bool, LlmError>;

    /// The body ended without an end marker: the last events, or why the stream is broken
    /// (most providers: truncated).
    fn end_of_body(&mut self, out: &mut Vec<ChatEvent>) -> Result<(), LlmError>;
}

/// Runs a decoder over payloads already in hand: the events, and the error that ended the
/// stream if it did not end properly. Events a failing payload produced before its error are
/// kept, as the live stream yields them.
pub fn decode_payloads<D, I, B>(dec: &mut D, payloads: I) -> (Vec<ChatEvent>, Option<LlmError>)
where
    D: StreamDecoder + ?Sized,
    I: IntoIterator<Item = B>,
    B: AsRef<[u8]>,
{
    let mut out = Vec::new();
    for p in payloads {
        match dec.payload(p.as_ref(), &mut out) {
            Ok(true) => return (out, None),
            Ok(false) => {}
            Err(e) => return (out, Some(e)),
        }
    }
    let err = dec.end_of_body(&mut out).err();
    (out, err)
}

/// A byte stream framed as SSE and decoded by `dec`.
pub(crate) fn sse_chat_stream<D: StreamDecoder + 'static>(
    provider: &'static str,
    bytes: ByteStream,
    mut dec: D,
) -> ChatStream {
    let mut events = sse_events(provider, bytes);
    Box::pin(async_stream::stream! {
        let mut out = Vec::new();
        while let Some(batch) = events.next().await {
            let batch = match batch { Ok(b) => b, Err(e) => { yield Err(e); return; } };
            for ev in batch {
                let r = dec.payload(ev.data.as_bytes(), &mut out);
                for e in out.drain(..) { yield Ok(e); }
                match r {
                    Ok(true) => return,
                    Ok(false) => {}
                    Err(e) => { yield Err(e); return; }
                }
            }
        }
        let r = dec.end_of_body(&mut out);
        for e in out.drain(..) { yield Ok(e); }
        if let Err(e) = r { yield Err(e); }
    })
}

/// A byte stream framed as NDJSON and decoded by `dec`.
pub(crate) fn ndjson_chat_stream<D: StreamDecoder + 'static>(
    bytes: ByteStream,
    mut dec: D,
) -> ChatStream {
    let mut lines = ndjson_lines(bytes);
    Box::pin(async_stream::stream! {
        let mut out = Vec::new();
        while let Some(line) = lines.next().await {
            let line = match line { Ok(l) => l, Err(e) => { yield Err(e); return; } };
            let r = dec.payload(&line, &mut out);
            for e in out.drain(..) { yield Ok(e); }
            match r {
                Ok(true) => return,
                Ok(false) => {}
                Err(e) => { yield Err(e); return; }
            }
        }
        let r = dec.end_of_body(&mut out);
        for e in out.drain(..) { yield Ok(e); }
        if let Err(e) = r { yield Err(e); }
    })
}

/// Where a provider lives and how to authenticate. The key is never logged, cached or stored.
#[derive(Clone)]
pub struct Endpoint {
    pub base_url: String,
    pub api_key: Option<String>,
    pub transport: Arc<Transport>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Endpoint {
    pub fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base_url.trim_end_matches('/'), path)
    }
}

/// Merges `extra` into the top level of a request body; extra wins.
pub(crate) fn merge_extra(body: &mut Value, extra: &Map<String, Value>) {
    if let Value::Object(m) = body {
        for (k, v) in extra {
            m.insert(k.clone(), v.clone());
        }
    }
}

/// Appends a turn `{"role": role, key: items}`, merging it into the previous turn when the
/// role repeats: Anthropic and Gemini want alternating roles, and the tool results of one
/// assistant turn belong in one user turn.
pub(crate) fn push_turn(out: &mut Vec<Value>, role: &str, key: &str, items: Vec<Value>) {
    if let Some(last) = out.last_mut() {
        if last["role"] == role {
            if let Some(a) = last[key].as_array_mut() {
                a.extend(items);
                return;
            }
        }
    }
    let mut turn = serde_json::Map::new();
    turn.insert("role".into(), Value::String(role.into()));
    turn.insert(key.into(), Value::Array(items));
    out.push(Value::Object(turn));
}

/// A data URI for an inline image (OpenAI's `image_url`).
pub(crate) fn image_url(src: &ImageSource) -> String {
    match src {
        ImageSource::Url { url } => url.clone(),
        ImageSource::Base64 { media_type, data } => format!("data:{media_type};base64,{data}"),
    }
}

pub(crate) fn has_images(parts: &[ContentPart]) -> bool {
    parts.iter().any(|p| matches!(p, ContentPart::Image { .. }))
}

pub(crate) fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for k in path {
        cur = cur.get(*k)?;
    }
    cur.as_str()
}

pub(crate) fn u64_at(v: &Value, path: &[&str]) -> u64 {
    let mut cur = v;
    for k in path {
        match cur.get(*k) {
            Some(x) => cur = x,
            None => return 0,
        }
    }
    cur.as_u64().unwrap_or(0)
}

/// A provider's reply, marked as served by that provider's model.
pub(crate) fn served_by(
    id: crate::model::ModelId,
    r: Result<crate::types::ChatResponse, LlmError>,
) -> Result<crate::types::ChatResponse, LlmError> {
    r.map(|mut r| {
        r.served.model = id.to_string();
        r
    })
}
