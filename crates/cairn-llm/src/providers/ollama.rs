//! Ollama's native `/api/chat`: NDJSON streaming, tool calls whose arguments are objects and
//! arrive whole, tool results keyed by tool name, `format` for a JSON schema.

use async_trait::async_trait;
use serde_json::{json, Value};

use super::{merge_extra, ndjson_chat_stream, served_by, str_at, u64_at, Endpoint, StreamDecoder};
use crate::error::{LlmError, StreamBreak};
use crate::model::{ChatModel, ChatStream, ModelId};
use crate::transport::{parse_event, truncated, ErrorBody, Headers};
use crate::types::{
    ChatEvent, ChatRequest, ChatResponse, ContentPart, FinishReason, ImageSource, Role, ToolCall,
    Usage,
};

pub const DEFAULT_HOST: &str = "http://127.0.0.1:11434";
const P: &str = "ollama";

#[derive(Debug, Clone)]
pub struct Ollama {
    pub endpoint: Endpoint,
    pub model: String,
}

/// `OLLAMA_HOST` as Ollama reads it: `host`, `host:port` or a URL; port 11434 when missing
/// (80/443 for an explicit http/https URL without one).
pub fn host_url(host: &str) -> String {
    let h = host.trim().trim_end_matches('/');
    if h.is_empty() {
        return DEFAULT_HOST.to_string();
    }
    let (scheme, rest, explicit) = match h.split_once("://") {
        Some((s, r)) => (s.to_string(), r.to_string(), true),
        None => ("http".to_string(), h.to_string(), false),
    };
    let (hostport, path) = match rest.split_once('/') {
        Some((hp, p)) => (hp.to_string(), format!("/{p}")),
        None => (rest, String::new()),
    };
    let has_port = hostport
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.chars().all(|c| c.is_ascii_digit()) && !hostport.ends_with(']'));
    let hostport = if hostport.is_empty() {
        "127.0.0.1".to_string()
    } else {
        hostport
    };
    let port = if has_port || explicit {
        String::new()
    } else {
        ":11434".to_string()
    };
    format!("{scheme}://{hostport}{port}{path}")
}

impl Ollama {
    pub fn new(endpoint: Endpoint, model: impl Into<String>) -> Self {
        Ollama {
            endpoint,
            model: model.into(),
        }
    }

    fn headers(&self) -> Headers {
        let mut h = Headers::new();
        if let Some(k) = &self.endpoint.api_key {
            h.push(("authorization", format!("Bearer {k}")));
        }
        h
    }

    pub fn body(&self, req: &ChatRequest, stream: bool) -> Value {
        let messages: Vec<Value> = req.messages.iter().map(message).collect();
        let mut body = json!({"model": self.model, "messages": messages, "stream": stream});
        let b = body.as_object_mut().expect("object");
        if !req.tools.is_empty() {
            let tools: Vec<Value> = req
                .tools
                .iter()
                .map(|t| json!({"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}))
                .collect();
            b.insert("tools".into(), Value::Array(tools));
        }
        if let Some(f) = &req.response_format {
            b.insert("format".into(), f.schema.clone());
        }
        let mut opts = serde_json::Map::new();
        if let Some(t) = req.temperature {
            opts.insert("temperature".into(), json!(t));
        }
        if let Some(n) = req.max_output_tokens {
            opts.insert("num_predict".into(), json!(n));
        }
        if !req.stop.is_empty() {
            opts.insert("stop".into(), json!(req.stop));
        }
        if !opts.is_empty() {
            b.insert("options".into(), Value::Object(opts));
        }
        merge_extra(&mut body, &req.extra);
        body
    }
}

fn message(m: &crate::types::Message) -> Value {
    let role = match m.role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    };
    let mut v = json!({"role": role, "content": m.text()});
    let images: Vec<&str> = m
        .content
        .iter()
        .filter_map(|p| match p {
            ContentPart::Image {
                source: ImageSource::Base64 { data, .. },
            } => Some(data.as_str()),
            _ => None,
        })
        .collect();
    if !images.is_empty() {
        v["images"] = json!(images);
    }
    if !m.tool_calls.is_empty() {
        v["tool_calls"] = m
            .tool_calls
            .iter()
            .map(|c| json!({"function": {"name": c.name, "arguments": c.arguments}}))
            .collect();
    }
    if m.role == Role::Tool {
        if let Some(n) = &m.tool_name {
            v["tool_name"] = json!(n);
        }
        if let Some(id) = &m.tool_call_id {
            v["tool_call_id"] = json!(id);
        }
    }
    v
}

fn tool_calls(msg: &Value, start: usize) -> Vec<ToolCall> {
    msg.get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, c)| ToolCall {
            id: str_at(c, &["id"])
                .map(str::to_string)
                .unwrap_or_else(|| format!("call_{}", start + i)),
            name: str_at(c, &["function", "name"]).unwrap_or_default().into(),
            arguments: match c.pointer("/function/arguments") {
                Some(Value::String(s)) => crate::model::parse_arguments(s),
                Some(v) => v.clone(),
                None => json!({}),
            },
            signature: None,
        })
        .collect()
}

fn finish(done_reason: Option<&str>, has_calls: bool) -> FinishReason {
    match done_reason {
        _ if has_calls => FinishReason::ToolCalls,
        Some("stop") | None => FinishReason::Stop,
        Some("length") => FinishReason::Length,
        _ => FinishReason::Other,
    }
}

fn usage(v: &Value) -> Usage {
    Usage {
        input_tokens: u64_at(v, &["prompt_eval_count"]),
        output_tokens: u64_at(v, &["eval_count"]),
        ..Default::default()
    }
}

pub fn parse_response(v: &Value) -> Result<ChatResponse, LlmError> {
    let msg = v.get("message").ok_or_else(|| LlmError::Decode {
        provider: P,
        message: "no message in the response".into(),
    })?;
    let text = str_at(msg, &["content"]).unwrap_or_default();
    let calls = tool_calls(msg, 0);
    Ok(ChatResponse {
        content: if text.is_empty() {
            vec![]
        } else {
            vec![ContentPart::Text { text: text.into() }]
        },
        finish_reason: finish(str_at(v, &["done_reason"]), !calls.is_empty()),
        tool_calls: calls,
        usage: usage(v),
        request_id: None,
        model: str_at(v, &["model"]).map(str::to_string),
        served: Default::default(),
    })
}

pub fn parse_error(body: &[u8]) -> ErrorBody {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    ErrorBody {
        code: None,
        message: str_at(&v, &["error"]).unwrap_or_default().to_string(),
        retry_after: None,
    }
}

#[async_trait]
impl ChatModel for Ollama {
    fn id(&self) -> ModelId {
        ModelId::new(P, &self.model)
    }

    async fn chat(&self, req: &ChatRequest) -> Result<ChatResponse, LlmError> {
        let url = self.endpoint.url("api/chat");
        let (v, _) = self
            .endpoint
            .transport
            .post_json(
                P,
                &url,
                &self.headers(),
                &self.body(req, false),
                parse_error,
            )
            .await?;
        if let Some(e) = v.get("error").and_then(Value::as_str) {
            return Err(LlmError::Decode {
                provider: P,
                message: e.to_string(),
            });
        }
        served_by(self.id(), parse_response(&v))
    }

    async fn stream(&self, req: &ChatRequest) -> Result<ChatStream, LlmError> {
        let url = self.endpoint.url("api/chat");
        let (bytes, rid) = self
            .endpoint
            .transport
            .post_stream(P, &url, &self.headers(), &self.body(req, true), parse_error)
            .await?;
        Ok(ndjson_chat_stream(bytes, OllamaStream::new(rid)))
    }
}

/// The `/api/chat` NDJSON grammar: one message object per line until `done: true`; without
/// it the stream is truncated. Tool calls arrive whole.
#[derive(Default)]
pub struct OllamaStream {
    request_id: Option<String>,
    started: bool,
    n_calls: usize,
}

impl OllamaStream {
    /// `request_id` from the response headers, when sent.
    pub fn new(request_id: Option<String>) -> Self {
        OllamaStream {
            request_id,
            ..Default::default()
        }
    }
}

impl StreamDecoder for OllamaStream {
    fn payload(&mut self, data: &[u8], out: &mut Vec<ChatEvent>) -> Result<bool, LlmError> {
        let v = parse_event(P, data)?;
        if let Some(e) = v.get("error") {
            return Err(LlmError::Stream {
                provider: P,
                kind: StreamBreak::ErrorEvent,
                detail: e
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| e.to_string()),
            });
        }
        if !self.started {
            self.started = true;
            out.push(ChatEvent::Start {
                request_id: self.request_id.clone(),
                model: str_at(&v, &["model"]).map(str::to_string),
            });
        }
        let msg = v.get("message").unwrap_or(&Value::Null);
        if let Some(t) = str_at(msg, &["content"]).filter(|t| !t.is_empty()) {
            out.push(ChatEvent::TextDelta {
                text: t.to_string(),
            });
        }
        for c in tool_calls(msg, self.n_calls) {
            let index = self.n_calls;
            self.n_calls += 1;
            out.push(ChatEvent::ToolCallStart {
                index,
                id: c.id,
                name: c.name,
                signature: None,
            });
            out.push(ChatEvent::ToolCallDelta {
                index,
                arguments: c.arguments.to_string(),
            });
            out.push(ChatEvent::ToolCallEnd { index });
        }
        if v.get("done").and_then(Value::as_bool) == Some(true) {
            out.push(ChatEvent::Usage { usage: usage(&v) });
            out.push(ChatEvent::Finish {
                reason: finish(str_at(&v, &["done_reason"]), self.n_calls > 0),
            });
            return Ok(true);
        }
        Ok(false)
    }

    fn end_of_body(&mut self, _out: &mut Vec<ChatEvent>) -> Result<(), LlmError> {
        Err(truncated(P))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ollama_host_forms() {
        assert_eq!(host_url(""), "http://127.0.0.1:11434");
        assert_eq!(host_url("0.0.0.0"), "http://0.0.0.0:11434");
        assert_eq!(host_url("example.com:8080"), "http://example.com:8080");
        assert_eq!(host_url("https://ollama.example"), "https://ollama.example");
        assert_eq!(host_url("http://127.0.0.1:5000/"), "http://127.0.0.1:5000");
    }

    #[test]
    fn tool_calls_have_object_arguments() {
        let v = json!({"model":"llama3.2","message":{"role":"assistant","content":"","tool_calls":[{"function":{"name":"get_weather","arguments":{"city":"Tokyo"}}}]},"done":true,"done_reason":"stop","prompt_eval_count":12,"eval_count":7});
        let r = parse_response(&v).unwrap();
        assert_eq!(r.finish_reason, FinishReason::ToolCalls);
        assert_eq!(r.tool_calls[0].arguments, json!({"city": "Tokyo"}));
        assert_eq!(r.usage.input_tokens, 12);
        assert_eq!(r.usage.output_tokens, 7);
    }
}
