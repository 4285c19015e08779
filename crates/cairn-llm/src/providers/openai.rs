//! OpenAI Chat Completions, and any server that speaks it (vLLM, llama.cpp, LM Studio,
//! OpenRouter, Ollama's `/v1`). Liberal in what it reads: missing fields, unknown enum values,
//! `null` or empty finish reasons.

use std::borrow::Cow;
use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{
    image_url, merge_extra, served_by, sse_chat_stream, str_at, u64_at, Endpoint, StreamDecoder,
};
use crate::error::{LlmError, StreamBreak};
use crate::model::{parse_arguments, ChatModel, ChatStream, ModelId, TokenCount};
use crate::transport::{parse_event, truncated, ErrorBody, Headers};
use crate::types::{
    ChatEvent, ChatRequest, ChatResponse, ContentPart, FinishReason, Role, ToolCall, ToolChoice,
    Usage,
};

pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
const P: &str = "openai";

#[derive(Debug, Clone)]
pub struct OpenAi {
    pub endpoint: Endpoint,
    pub model: String,
}

impl OpenAi {
    pub fn new(endpoint: Endpoint, model: impl Into<String>) -> Self {
        OpenAi {
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

    /// The official API wants `max_completion_tokens` (o-series reject `max_tokens`); most
    /// compatible servers only know `max_tokens`.
    fn official(&self) -> bool {
        self.endpoint.base_url.contains("api.openai.com")
    }

    pub fn body(&self, req: &ChatRequest, stream: bool) -> Value {
        let mut body = json!({
            "model": self.model,
            "messages": req.messages.iter().map(message).collect::<Vec<_>>(),
        });
        let b = body.as_object_mut().expect("object");
        if !req.tools.is_empty() {
            let tools: Vec<Value> = req
                .tools
                .iter()
                .map(|t| {
                    json!({"type": "function", "function": {
                        "name": t.name, "description": t.description, "parameters": t.parameters}})
                })
                .collect();
            b.insert("tools".into(), Value::Array(tools));
            b.insert(
                "tool_choice".into(),
                match &req.tool_choice {
                    ToolChoice::Auto => json!("auto"),
                    ToolChoice::None => json!("none"),
                    ToolChoice::Required => json!("required"),
                    ToolChoice::Tool(n) => json!({"type": "function", "function": {"name": n}}),
                },
            );
        }
        if let Some(f) = &req.response_format {
            b.insert(
                "response_format".into(),
                json!({"type": "json_schema", "json_schema": {
                    "name": f.name, "schema": f.schema, "strict": f.strict}}),
            );
        }
        if let Some(t) = req.temperature {
            b.insert("temperature".into(), json!(t));
        }
        if let Some(n) = req.max_output_tokens {
            let key = if self.official() {
                "max_completion_tokens"
            } else {
                "max_tokens"
            };
            b.insert(key.into(), json!(n));
        }
        if !req.stop.is_empty() {
            b.insert("stop".into(), json!(req.stop));
        }
        if stream {
            b.insert("stream".into(), json!(true));
            b.insert("stream_options".into(), json!({"include_usage": true}));
        }
        merge_extra(&mut body, &req.extra);
        body
    }
}

fn message(m: &crate::types::Message) -> Value {
    match m.role {
        Role::System => json!({"role": "system", "content": m.text()}),
        Role::Tool => json!({
            "role": "tool",
            "tool_call_id": m.tool_call_id.clone().unwrap_or_default(),
            "content": m.text(),
        }),
        Role::Assistant => {
            let mut v = json!({"role": "assistant"});
            let text = m.text();
            v["content"] = if text.is_empty() && !m.tool_calls.is_empty() {
                Value::Null
            } else {
                json!(text)
            };
            if !m.tool_calls.is_empty() {
                v["tool_calls"] = m
                    .tool_calls
                    .iter()
                    .map(|c| {
                        json!({"id": c.id, "type": "function", "function": {
                            "name": c.name, "arguments": arguments_string(&c.arguments)}})
                    })
                    .collect();
            }
            v
        }
        Role::User => {
            let content = if super::has_images(&m.content) {
                m.content
                    .iter()
                    .map(|p| match p {
                        ContentPart::Text { text } => json!({"type": "text", "text": text}),
                        ContentPart::Image { source } => {
                            json!({"type": "image_url", "image_url": {"url": image_url(source)}})
                        }
                    })
                    .collect()
            } else {
                json!(m.text())
            };
            json!({"role": "user", "content": content})
        }
    }
}

pub(crate) fn arguments_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        v => v.to_string(),
    }
}

fn finish(s: Option<&str>, has_tool_calls: bool) -> Option<FinishReason> {
    Some(match s? {
        "stop" => FinishReason::Stop,
        "length" => FinishReason::Length,
        "tool_calls" | "function_call" => FinishReason::ToolCalls,
        "content_filter" => FinishReason::ContentFilter,
        "" => return None,
        _ if has_tool_calls => FinishReason::ToolCalls,
        _ => FinishReason::Other,
    })
}

fn inferred(has_tool_calls: bool) -> FinishReason {
    if has_tool_calls {
        FinishReason::ToolCalls
    } else {
        FinishReason::Stop
    }
}

pub(crate) fn usage(u: &Value) -> Usage {
    Usage {
        input_tokens: u64_at(u, &["prompt_tokens"]),
        cached_input_tokens: u64_at(u, &["prompt_tokens_details", "cached_tokens"]),
        cache_write_tokens: u64_at(u, &["prompt_tokens_details", "cache_write_tokens"]),
        output_tokens: u64_at(u, &["completion_tokens"]),
    }
}

pub fn parse_response(v: &Value, request_id: Option<String>) -> Result<ChatResponse, LlmError> {
    let choice = v
        .get("choices")
        .and_then(|c| c.get(0))
        .ok_or_else(|| LlmError::Decode {
            provider: P,
            message: "no choices in the response".into(),
        })?;
    let msg = choice.get("message").cloned().unwrap_or(Value::Null);
    let mut content = Vec::new();
    match msg.get("content") {
        Some(Value::String(s)) if !s.is_empty() => {
            content.push(ContentPart::Text { text: s.clone() })
        }
        Some(Value::Array(parts)) => {
            for p in parts {
                if let Some(t) = p.get("text").and_then(Value::as_str) {
                    content.push(ContentPart::Text { text: t.into() });
                }
            }
        }
        _ => {}
    }
    let tool_calls: Vec<ToolCall> = msg
        .get("tool_calls")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|c| ToolCall {
                    id: str_at(c, &["id"]).unwrap_or_default().to_string(),
                    name: str_at(c, &["function", "name"])
                        .unwrap_or_default()
                        .to_string(),
                    arguments: match c.pointer("/function/arguments") {
                        Some(Value::String(s)) => parse_arguments(s),
                        Some(v) => v.clone(),
                        None => json!({}),
                    },
                    signature: None,
                })
                .collect()
        })
        .unwrap_or_default();
    let has_calls = !tool_calls.is_empty();
    Ok(ChatResponse {
        content,
        finish_reason: finish(str_at(choice, &["finish_reason"]), has_calls)
            .unwrap_or_else(|| inferred(has_calls)),
        tool_calls,
        usage: v.get("usage").map(usage).unwrap_or_default(),
        request_id: request_id.or_else(|| str_at(v, &["id"]).map(str::to_string)),
        model: str_at(v, &["model"]).map(str::to_string),
        served: Default::default(),
    })
}

pub fn parse_error(body: &[u8]) -> ErrorBody {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let e = v.get("error").unwrap_or(&v);
    ErrorBody {
        code: str_at(e, &["code"])
            .or_else(|| str_at(e, &["type"]))
            .map(str::to_string),
        message: str_at(e, &["message"])
            .or_else(|| e.as_str())
            .unwrap_or_default()
            .to_string(),
        retry_after: None,
    }
}

// Streamed chunks are parsed into these borrowed shapes rather than `Value`: a long reply is
// thousands of chunks, and skipping unknown fields without building maps is most of the
// client's CPU (BENCHMARKS.md). Every field is optional, so unknown servers still parse.
#[derive(Deserialize, Default)]
pub(crate) struct WireChunk<'a> {
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    choices: Option<Vec<WireChoice<'a>>>,
    #[serde(default)]
    usage: Option<Value>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize)]
struct WireChoice<'a> {
    #[serde(borrow, default)]
    delta: Option<WireDelta<'a>>,
    #[serde(borrow, default)]
    finish_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct WireDelta<'a> {
    #[serde(borrow, default)]
    content: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    tool_calls: Option<Vec<WireToolCall<'a>>>,
}

#[derive(Deserialize)]
struct WireToolCall<'a> {
    #[serde(default)]
    index: Option<u64>,
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    function: Option<WireFunction<'a>>,
}

#[derive(Deserialize)]
struct WireFunction<'a> {
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    arguments: Option<Cow<'a, str>>,
}

/// The state of one streamed response: tool calls by their wire index.
#[derive(Default)]
struct StreamState {
    calls: BTreeMap<u64, usize>,
    finish: Option<FinishReason>,
    usage: Option<Usage>,
}

impl StreamState {
    fn chunk(&mut self, v: &WireChunk, out: &mut Vec<ChatEvent>) -> Result<(), LlmError> {
        if let Some(e) = &v.error {
            let b = parse_error(json!({ "error": e }).to_string().as_bytes());
            return Err(LlmError::Stream {
                provider: P,
                kind: StreamBreak::ErrorEvent,
                detail: format!("{}: {}", b.code.unwrap_or_default(), b.message),
            });
        }
        if let Some(u) = v.usage.as_ref().filter(|u| u.is_object()) {
            self.usage = Some(usage(u));
        }
        let Some(choice) = v.choices.as_ref().and_then(|c| c.first()) else {
            return Ok(());
        };
        if let Some(delta) = &choice.delta {
            if let Some(t) = delta.content.as_deref().filter(|t| !t.is_empty()) {
                out.push(ChatEvent::TextDelta { text: t.into() });
            }
            for c in delta.tool_calls.iter().flatten() {
                let wire = c.index.unwrap_or(0);
                let next = self.calls.len();
                let f = c.function.as_ref();
                let index = match self.calls.get(&wire) {
                    Some(i) => *i,
                    None => {
                        self.calls.insert(wire, next);
                        out.push(ChatEvent::ToolCallStart {
                            index: next,
                            id: c.id.as_deref().unwrap_or_default().to_string(),
                            name: f
                                .and_then(|f| f.name.as_deref())
                                .unwrap_or_default()
                                .to_string(),
                            signature: None,
                        });
                        next
                    }
                };
                if let Some(a) = f
                    .and_then(|f| f.arguments.as_deref())
                    .filter(|a| !a.is_empty())
                {
                    out.push(ChatEvent::ToolCallDelta {
                        index,
                        arguments: a.into(),
                    });
                }
            }
        }
        if let Some(f) = &choice.finish_reason {
            self.finish = finish(Some(f), !self.calls.is_empty()).or(self.finish);
        }
        Ok(())
    }

    fn end(&mut self, out: &mut Vec<ChatEvent>) {
        for i in 0..self.calls.len() {
            out.push(ChatEvent::ToolCallEnd { index: i });
        }
        if let Some(u) = self.usage {
            out.push(ChatEvent::Usage { usage: u });
        }
        out.push(ChatEvent::Finish {
            reason: self
                .finish
                .unwrap_or_else(|| inferred(!self.calls.is_empty())),
        });
    }
}

/// The Chat Completions stream grammar: chunks until `[DONE]`; without it the stream is
/// truncated (the usage chunk, and possibly more, is missing), even after a finish reason.
#[derive(Default)]
pub struct OpenAiStream {
    st: StreamState,
    started: bool,
    request_id: Option<String>,
}

impl OpenAiStream {
    /// `request_id` from the response headers, when sent; else the chunks' `id`.
    pub fn new(request_id: Option<String>) -> Self {
        OpenAiStream {
            request_id,
            ..Default::default()
        }
    }
}

impl StreamDecoder for OpenAiStream {
    fn payload(&mut self, data: &[u8], out: &mut Vec<ChatEvent>) -> Result<bool, LlmError> {
        if std::str::from_utf8(data).is_ok_and(|t| t.trim_start().starts_with("[DONE]")) {
            self.st.end(out);
            return Ok(true);
        }
        let v: WireChunk = match serde_json::from_slice(data) {
            Ok(v) => v,
            Err(_) => match parse_event(P, data) {
                // Valid JSON of an unexpected shape: keep going if it carries nothing we read,
                // otherwise it is as bad as malformed.
                Ok(v) if v.get("choices").is_none() && v.get("error").is_none() => {
                    WireChunk::default()
                }
                Ok(_) => {
                    return Err(LlmError::Stream {
                        provider: P,
                        kind: StreamBreak::Malformed,
                        detail: format!(
                            "unexpected chunk shape: {}",
                            crate::transport::preview(data)
                        ),
                    })
                }
                Err(e) => return Err(e),
            },
        };
        if !self.started {
            self.started = true;
            out.push(ChatEvent::Start {
                request_id: self
                    .request_id
                    .clone()
                    .or_else(|| v.id.as_deref().map(str::to_string)),
                model: v.model.as_deref().map(str::to_string),
            });
        }
        self.st.chunk(&v, out)?;
        Ok(false)
    }

    fn end_of_body(&mut self, _out: &mut Vec<ChatEvent>) -> Result<(), LlmError> {
        Err(truncated(P))
    }
}

#[async_trait]
impl ChatModel for OpenAi {
    fn id(&self) -> ModelId {
        ModelId::new(P, &self.model)
    }

    async fn chat(&self, req: &ChatRequest) -> Result<ChatResponse, LlmError> {
        let url = self.endpoint.url("chat/completions");
        let (v, rid) = self
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
        served_by(self.id(), parse_response(&v, rid))
    }

    async fn stream(&self, req: &ChatRequest) -> Result<ChatStream, LlmError> {
        let url = self.endpoint.url("chat/completions");
        let (bytes, rid) = self
            .endpoint
            .transport
            .post_stream(P, &url, &self.headers(), &self.body(req, true), parse_error)
            .await?;
        Ok(sse_chat_stream(P, bytes, OpenAiStream::new(rid)))
    }

    async fn count_tokens(&self, req: &ChatRequest) -> Result<TokenCount, LlmError> {
        Ok(crate::tokens::estimate_request(&self.id(), req))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Accumulator;

    #[test]
    fn parses_a_tool_call_stream_from_the_reference() {
        let chunks = [
            r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]}"#,
            r#"{"id":"chatcmpl-1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]},"finish_reason":null}]}"#,
            r#"{"id":"chatcmpl-1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]},"finish_reason":null}]}"#,
            r#"{"id":"chatcmpl-1","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
            r#"{"id":"chatcmpl-1","choices":[],"usage":{"prompt_tokens":44,"completion_tokens":16,"total_tokens":60,"prompt_tokens_details":{"cached_tokens":32}}}"#,
        ];
        let mut st = StreamState::default();
        let mut out = Vec::new();
        for c in chunks {
            st.chunk(&serde_json::from_str(c).unwrap(), &mut out)
                .unwrap();
        }
        st.end(&mut out);
        let mut acc = Accumulator::default();
        out.iter().for_each(|e| acc.push(e));
        let r = acc.response();
        assert_eq!(r.finish_reason, FinishReason::ToolCalls);
        assert_eq!(r.tool_calls.len(), 1);
        assert_eq!(r.tool_calls[0].name, "get_weather");
        assert_eq!(r.tool_calls[0].arguments, json!({"city": "Paris"}));
        assert_eq!(r.usage.input_tokens, 44);
        assert_eq!(r.usage.cached_input_tokens, 32);
        assert_eq!(r.usage.output_tokens, 16);
    }

    #[test]
    fn tolerant_of_missing_fields_and_unknown_values() {
        let v = json!({"choices":[{"message":{"content":"hi"},"finish_reason":""}]});
        let r = parse_response(&v, None).unwrap();
        assert_eq!(r.text(), "hi");
        assert_eq!(r.finish_reason, FinishReason::Stop);
        assert_eq!(r.usage, Usage::default());
        let v = json!({"choices":[{"message":{"content":"hi"},"finish_reason":"eos_token"}]});
        assert_eq!(
            parse_response(&v, None).unwrap().finish_reason,
            FinishReason::Other
        );
        let v = json!({"choices":[{"message":{"content":null,"tool_calls":[{"id":"c","function":{"name":"f","arguments":"{\"a\":1}"}}]},"finish_reason":null}]});
        let r = parse_response(&v, None).unwrap();
        assert_eq!(r.finish_reason, FinishReason::ToolCalls);
        assert_eq!(r.tool_calls[0].arguments, json!({"a": 1}));
    }

    #[test]
    fn error_body_names_code_and_message() {
        let b = parse_error(br#"{"error":{"message":"This model's maximum context length is 128000 tokens","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#);
        assert_eq!(b.code.as_deref(), Some("context_length_exceeded"));
        assert!(b.message.starts_with("This model"));
    }
}
