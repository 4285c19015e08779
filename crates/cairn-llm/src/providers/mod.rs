//! One module per provider: each maps `ChatRequest` to its JSON and its JSON (whole or
//! streamed) back to `ChatResponse` / `ChatEvent`s. Transport, retries and accounting live
//! elsewhere.

pub mod anthropic;
pub mod gemini;
pub mod local;
pub mod ollama;
pub mod openai;

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::transport::Transport;
use crate::types::{ContentPart, ImageSource};

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
