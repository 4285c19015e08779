//! Anthropic Messages: system at the top level, tool results as user-turn blocks, prompt-cache
//! breakpoints on the system prompt and tools when asked, structured output by forcing one
//! tool whose input schema is the target schema (works on every Claude model and proxy).

use std::collections::HashMap;

use async_trait::async_trait;
use serde_json::{json, Value};

use super::{merge_extra, served_by, sse_chat_stream, str_at, u64_at, Endpoint, StreamDecoder};
use crate::error::{LlmError, StreamBreak};
use crate::model::{ChatModel, ChatStream, ModelId, TokenCount};
use crate::transport::{parse_event, truncated, ErrorBody, Headers};
use crate::types::{
    ChatEvent, ChatRequest, ChatResponse, ContentPart, FinishReason, ImageSource, Role, ToolCall,
    ToolChoice, Usage,
};

pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
pub const API_VERSION: &str = "2023-06-01";
/// `max_tokens` is required by the API; this is sent when the request sets none.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;
const P: &str = "anthropic";

#[derive(Debug, Clone)]
pub struct Anthropic {
    pub endpoint: Endpoint,
    pub model: String,
}

impl Anthropic {
    pub fn new(endpoint: Endpoint, model: impl Into<String>) -> Self {
        Anthropic {
            endpoint,
            model: model.into(),
        }
    }

    fn headers(&self) -> Headers {
        let mut h = Headers::new();
        if let Some(k) = &self.endpoint.api_key {
            h.push(("x-api-key", k.clone()));
        }
        h.push(("anthropic-version", API_VERSION.to_string()));
        h
    }

    pub fn body(&self, req: &ChatRequest, stream: bool) -> Value {
        let mut body = self.prompt_body(req);
        let b = body.as_object_mut().expect("object");
        b.insert(
            "max_tokens".into(),
            json!(req.max_output_tokens.unwrap_or(DEFAULT_MAX_TOKENS)),
        );
        if let Some(t) = req.temperature {
            b.insert("temperature".into(), json!(t));
        }
        if !req.stop.is_empty() {
            b.insert("stop_sequences".into(), json!(req.stop));
        }
        if stream {
            b.insert("stream".into(), json!(true));
        }
        merge_extra(&mut body, &req.extra);
        body
    }

    /// The part of the body that count_tokens takes too.
    fn prompt_body(&self, req: &ChatRequest) -> Value {
        let mut body = json!({"model": self.model, "messages": messages(req)});
        let b = body.as_object_mut().expect("object");
        let system: Vec<String> = req
            .messages
            .iter()
            .filter(|m| m.role == Role::System)
            .map(|m| m.text())
            .collect();
        if !system.is_empty() {
            let mut block = json!({"type": "text", "text": system.join("\n\n")});
            if req.cache.system {
                block["cache_control"] = json!({"type": "ephemeral"});
            }
            b.insert("system".into(), json!([block]));
        }
        let mut tools: Vec<Value> = req
            .tools
            .iter()
            .map(|t| json!({"name": t.name, "description": t.description, "input_schema": t.parameters}))
            .collect();
        let mut choice = match &req.tool_choice {
            ToolChoice::Auto => json!({"type": "auto"}),
            ToolChoice::None => json!({"type": "none"}),
            ToolChoice::Required => json!({"type": "any"}),
            ToolChoice::Tool(n) => json!({"type": "tool", "name": n}),
        };
        if let Some(f) = &req.response_format {
            tools.push(json!({
                "name": result_tool(&f.name),
                "description": "Return the answer as this tool's input, matching its schema exactly.",
                "input_schema": f.schema,
            }));
            choice = json!({"type": "tool", "name": result_tool(&f.name)});
        }
        if !tools.is_empty() {
            if req.cache.tools {
                if let Some(last) = tools.last_mut() {
                    last["cache_control"] = json!({"type": "ephemeral"});
                }
            }
            b.insert("tools".into(), Value::Array(tools));
            b.insert("tool_choice".into(), choice);
        }
        body
    }
}

/// The name of the forced tool that carries structured output.
fn result_tool(schema_name: &str) -> String {
    let clean: String = schema_name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .take(48)
        .collect();
    format!("emit_{}", if clean.is_empty() { "result" } else { &clean })
}

fn messages(req: &ChatRequest) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for m in &req.messages {
        let (role, blocks) = match m.role {
            Role::System => continue,
            Role::Tool => {
                let mut b = json!({
                    "type": "tool_result",
                    "tool_use_id": m.tool_call_id.clone().unwrap_or_default(),
                    "content": m.text(),
                });
                if m.is_error {
                    b["is_error"] = json!(true);
                }
                ("user", vec![b])
            }
            Role::User => ("user", parts(&m.content)),
            Role::Assistant => {
                let mut blocks = parts(&m.content);
                for c in &m.tool_calls {
                    let input = match &c.arguments {
                        Value::Object(_) => c.arguments.clone(),
                        _ => json!({}),
                    };
                    blocks.push(
                        json!({"type": "tool_use", "id": c.id, "name": c.name, "input": input}),
                    );
                }
                ("assistant", blocks)
            }
        };
        super::push_turn(&mut out, role, "content", blocks);
    }
    out
}

fn parts(content: &[ContentPart]) -> Vec<Value> {
    content
        .iter()
        .map(|p| match p {
            ContentPart::Text { text } => json!({"type": "text", "text": text}),
            ContentPart::Image {
                source: ImageSource::Url { url },
            } => json!({"type": "image", "source": {"type": "url", "url": url}}),
            ContentPart::Image {
                source: ImageSource::Base64 { media_type, data },
            } => json!({"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}),
        })
        .collect()
}

fn stop_reason(s: Option<&str>) -> FinishReason {
    match s {
        Some("end_turn") | Some("stop_sequence") => FinishReason::Stop,
        Some("max_tokens") | Some("model_context_window_exceeded") => FinishReason::Length,
        Some("tool_use") => FinishReason::ToolCalls,
        Some("refusal") => FinishReason::ContentFilter,
        _ => FinishReason::Other,
    }
}

/// Anthropic's `input_tokens` excludes cache reads and writes; ours includes them.
pub(crate) fn usage(u: &Value) -> Usage {
    let read = u64_at(u, &["cache_read_input_tokens"]);
    let write = u64_at(u, &["cache_creation_input_tokens"]);
    Usage {
        // Saturating: the counts come off the wire.
        input_tokens: u64_at(u, &["input_tokens"])
            .saturating_add(read)
            .saturating_add(write),
        cached_input_tokens: read,
        cache_write_tokens: write,
        output_tokens: u64_at(u, &["output_tokens"]),
    }
}

pub fn parse_response(
    v: &Value,
    request_id: Option<String>,
    structured: Option<&str>,
) -> Result<ChatResponse, LlmError> {
    let blocks = v
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| LlmError::Decode {
            provider: P,
            message: "no content in the response".into(),
        })?;
    let forced = structured.map(result_tool);
    let mut content = Vec::new();
    let mut tool_calls = Vec::new();
    let mut finish = stop_reason(str_at(v, &["stop_reason"]));
    for b in blocks {
        match str_at(b, &["type"]) {
            Some("text") => content.push(ContentPart::Text {
                text: str_at(b, &["text"]).unwrap_or_default().into(),
            }),
            Some("tool_use") => {
                let name = str_at(b, &["name"]).unwrap_or_default().to_string();
                let input = b.get("input").cloned().unwrap_or(json!({}));
                if forced.as_deref() == Some(name.as_str()) {
                    content = vec![ContentPart::Text {
                        text: input.to_string(),
                    }];
                    finish = FinishReason::Stop;
                } else {
                    tool_calls.push(ToolCall {
                        id: str_at(b, &["id"]).unwrap_or_default().into(),
                        name,
                        arguments: input,
                        signature: None,
                    });
                }
            }
            _ => {} // thinking, server tools and future block types are tolerated
        }
    }
    Ok(ChatResponse {
        content,
        tool_calls,
        finish_reason: finish,
        usage: v.get("usage").map(usage).unwrap_or_default(),
        request_id: request_id.or_else(|| str_at(v, &["id"]).map(str::to_string)),
        model: str_at(v, &["model"]).map(str::to_string),
        served: Default::default(),
    })
}

pub fn parse_error(body: &[u8]) -> ErrorBody {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    ErrorBody {
        code: str_at(&v, &["error", "type"]).map(str::to_string),
        message: str_at(&v, &["error", "message"])
            .unwrap_or_default()
            .to_string(),
        retry_after: None,
    }
}

#[derive(Default)]
struct StreamState {
    /// Content-block index → tool-call index (or `None` for the forced structured tool).
    tools: HashMap<u64, Option<usize>>,
    n_calls: usize,
    usage: Usage,
    finish: Option<FinishReason>,
    forced: Option<String>,
}

impl StreamState {
    /// Handles one event; returns true at `message_stop`.
    fn event(&mut self, v: &Value, out: &mut Vec<ChatEvent>) -> Result<bool, LlmError> {
        match str_at(v, &["type"]).unwrap_or_default() {
            "message_start" => {
                let m = v.get("message").unwrap_or(&Value::Null);
                if let Some(u) = m.get("usage") {
                    self.usage = usage(u);
                }
                out.push(ChatEvent::Start {
                    request_id: str_at(m, &["id"]).map(str::to_string),
                    model: str_at(m, &["model"]).map(str::to_string),
                });
            }
            "content_block_start" => {
                let idx = v.get("index").and_then(Value::as_u64).unwrap_or(0);
                let b = v.get("content_block").unwrap_or(&Value::Null);
                match str_at(b, &["type"]) {
                    Some("tool_use") => {
                        let name = str_at(b, &["name"]).unwrap_or_default().to_string();
                        if self.forced.as_deref() == Some(name.as_str()) {
                            self.tools.insert(idx, None);
                        } else {
                            let i = self.n_calls;
                            self.n_calls += 1;
                            self.tools.insert(idx, Some(i));
                            out.push(ChatEvent::ToolCallStart {
                                index: i,
                                id: str_at(b, &["id"]).unwrap_or_default().into(),
                                name,
                                signature: None,
                            });
                        }
                    }
                    Some("text") => {
                        if let Some(t) = str_at(b, &["text"]).filter(|t| !t.is_empty()) {
                            out.push(ChatEvent::TextDelta { text: t.into() });
                        }
                    }
                    _ => {}
                }
            }
            "content_block_delta" => {
                let idx = v.get("index").and_then(Value::as_u64).unwrap_or(0);
                let d = v.get("delta").unwrap_or(&Value::Null);
                match str_at(d, &["type"]) {
                    Some("text_delta") => out.push(ChatEvent::TextDelta {
                        text: str_at(d, &["text"]).unwrap_or_default().into(),
                    }),
                    Some("input_json_delta") => {
                        let part = str_at(d, &["partial_json"]).unwrap_or_default();
                        match self.tools.get(&idx) {
                            Some(Some(i)) if !part.is_empty() => {
                                out.push(ChatEvent::ToolCallDelta {
                                    index: *i,
                                    arguments: part.into(),
                                })
                            }
                            Some(None) if !part.is_empty() => {
                                out.push(ChatEvent::TextDelta { text: part.into() })
                            }
                            _ => {}
                        }
                    }
                    _ => {}
                }
            }
            "content_block_stop" => {
                let idx = v.get("index").and_then(Value::as_u64).unwrap_or(0);
                if let Some(Some(i)) = self.tools.get(&idx) {
                    out.push(ChatEvent::ToolCallEnd { index: *i });
                }
            }
            "message_delta" => {
                if let Some(r) = v.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    self.finish = Some(stop_reason(Some(r)));
                }
                if let Some(u) = v.get("usage") {
                    // Cumulative counts; newer versions repeat the input side too.
                    self.usage.output_tokens = u64_at(u, &["output_tokens"]);
                    if u.get("input_tokens").is_some() {
                        let o = self.usage.output_tokens;
                        self.usage = usage(u);
                        self.usage.output_tokens = o;
                    }
                }
            }
            "message_stop" => {
                out.push(ChatEvent::Usage { usage: self.usage });
                let mut reason = self.finish.unwrap_or(FinishReason::Other);
                if self.forced.is_some() && self.n_calls == 0 {
                    reason = FinishReason::Stop;
                }
                out.push(ChatEvent::Finish { reason });
                return Ok(true);
            }
            "error" => {
                let b = parse_error(v.to_string().as_bytes());
                return Err(LlmError::Stream {
                    provider: P,
                    kind: StreamBreak::ErrorEvent,
                    detail: format!("{}: {}", b.code.unwrap_or_default(), b.message),
                });
            }
            _ => {} // ping and future event types
        }
        Ok(false)
    }
}

/// The Messages stream grammar: typed events until `message_stop`; without it the stream
/// is truncated.
#[derive(Default)]
pub struct AnthropicStream {
    st: StreamState,
    request_id: Option<String>,
    started: bool,
}

impl AnthropicStream {
    /// `request_id` from the response headers, when sent (else `message_start`'s id);
    /// `structured`: the schema name of a structured-output request, whose forced tool's
    /// input is streamed as text.
    pub fn new(request_id: Option<String>, structured: Option<&str>) -> Self {
        AnthropicStream {
            st: StreamState {
                forced: structured.map(result_tool),
                ..Default::default()
            },
            request_id,
            started: false,
        }
    }
}

impl StreamDecoder for AnthropicStream {
    fn payload(&mut self, data: &[u8], out: &mut Vec<ChatEvent>) -> Result<bool, LlmError> {
        let v = parse_event(P, data)?;
        let from = out.len();
        let done = self.st.event(&v, out)?;
        // One `Start`, first, as from every provider: `message_start` gives it; a server
        // that sends other events first gets a bare one, and a repeated `message_start`
        // none (found by tests/prop_anthropic.rs).
        let is_start = |e: &ChatEvent| matches!(e, ChatEvent::Start { .. });
        if self.started {
            let mut i = from;
            while i < out.len() {
                if is_start(&out[i]) {
                    out.remove(i);
                } else {
                    i += 1;
                }
            }
        } else if out.len() > from {
            self.started = true;
            if !is_start(&out[from]) {
                out.insert(
                    from,
                    ChatEvent::Start {
                        request_id: None,
                        model: None,
                    },
                );
            }
        }
        if self.request_id.is_some() {
            if let Some(ChatEvent::Start { request_id, .. }) = out.get_mut(from) {
                *request_id = self.request_id.clone();
            }
        }
        Ok(done)
    }

    fn end_of_body(&mut self, _out: &mut Vec<ChatEvent>) -> Result<(), LlmError> {
        Err(truncated(P))
    }
}

#[async_trait]
impl ChatModel for Anthropic {
    fn id(&self) -> ModelId {
        ModelId::new(P, &self.model)
    }

    async fn chat(&self, req: &ChatRequest) -> Result<ChatResponse, LlmError> {
        let url = self.endpoint.url("v1/messages");
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
        served_by(
            self.id(),
            parse_response(
                &v,
                rid,
                req.response_format.as_ref().map(|f| f.name.as_str()),
            ),
        )
    }

    async fn stream(&self, req: &ChatRequest) -> Result<ChatStream, LlmError> {
        let url = self.endpoint.url("v1/messages");
        let (bytes, rid) = self
            .endpoint
            .transport
            .post_stream(P, &url, &self.headers(), &self.body(req, true), parse_error)
            .await?;
        let structured = req.response_format.as_ref().map(|f| f.name.as_str());
        Ok(sse_chat_stream(
            P,
            bytes,
            AnthropicStream::new(rid, structured),
        ))
    }

    /// `POST /v1/messages/count_tokens`: exact, and free.
    async fn count_tokens(&self, req: &ChatRequest) -> Result<TokenCount, LlmError> {
        let url = self.endpoint.url("v1/messages/count_tokens");
        let (v, _) = self
            .endpoint
            .transport
            .post_json(
                P,
                &url,
                &self.headers(),
                &self.prompt_body(req),
                parse_error,
            )
            .await?;
        match v.get("input_tokens").and_then(Value::as_u64) {
            Some(n) => Ok(TokenCount {
                tokens: n,
                exact: true,
            }),
            None => Err(LlmError::Decode {
                provider: P,
                message: "count_tokens reply has no input_tokens".into(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Accumulator;
    use crate::types::Message;

    #[test]
    fn one_start_first_whatever_order_the_events_come_in() {
        // Found by tests/prop_anthropic.rs: a delta before message_start, and a second
        // message_start, each gave a Start event out of place.
        let start = r#"{"type":"message_start","message":{"id":"m1","model":"c","usage":{"input_tokens":3}}}"#;
        let delta =
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}}"#;
        let stop = r#"{"type":"message_stop"}"#;
        let (evs, err) = super::super::decode_payloads(
            &mut AnthropicStream::new(None, None),
            [delta, start, start, stop],
        );
        assert!(err.is_none(), "{err:?}");
        let starts: Vec<usize> = evs
            .iter()
            .enumerate()
            .filter(|(_, e)| matches!(e, ChatEvent::Start { .. }))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(starts, vec![0], "{evs:?}");
        let (evs, _) = super::super::decode_payloads(
            &mut AnthropicStream::new(Some("req-h".into()), None),
            [start, delta, stop],
        );
        assert_eq!(
            evs[0],
            ChatEvent::Start {
                request_id: Some("req-h".into()),
                model: Some("c".into())
            }
        );
    }

    #[test]
    fn cache_usage_is_normalised() {
        let v = json!({"content":[{"type":"text","text":"Paris."}],"stop_reason":"end_turn",
            "usage":{"input_tokens":21,"output_tokens":5,"cache_creation_input_tokens":100,"cache_read_input_tokens":2000}});
        let r = parse_response(&v, None, None).unwrap();
        assert_eq!(r.usage.input_tokens, 2121);
        assert_eq!(r.usage.cached_input_tokens, 2000);
        assert_eq!(r.usage.cache_write_tokens, 100);
        assert_eq!(r.finish_reason, FinishReason::Stop);
    }

    #[test]
    fn tool_stream_with_empty_first_fragment() {
        let evs = [
            json!({"type":"message_start","message":{"id":"msg_1","model":"claude-sonnet-4-5","content":[],"usage":{"input_tokens":50,"cache_creation_input_tokens":0,"cache_read_input_tokens":10,"output_tokens":1}}}),
            json!({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}),
            json!({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Let me check."}}),
            json!({"type":"content_block_stop","index":0}),
            json!({"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{}}}),
            json!({"type":"ping"}),
            json!({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}),
            json!({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"city\": \"Pa"}}),
            json!({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"ris\"}"}}),
            json!({"type":"content_block_stop","index":1}),
            json!({"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":22}}),
            json!({"type":"message_stop"}),
        ];
        let mut st = StreamState::default();
        let mut out = Vec::new();
        let mut done = false;
        for e in &evs {
            done = st.event(e, &mut out).unwrap();
        }
        assert!(done);
        let mut acc = Accumulator::default();
        out.iter().for_each(|e| acc.push(e));
        let r = acc.response();
        assert_eq!(r.text(), "Let me check.");
        assert_eq!(r.tool_calls[0].arguments, json!({"city": "Paris"}));
        assert_eq!(r.finish_reason, FinishReason::ToolCalls);
        assert_eq!(r.usage.input_tokens, 60);
        assert_eq!(r.usage.cached_input_tokens, 10);
        assert_eq!(r.usage.output_tokens, 22);
        assert_eq!(r.request_id.as_deref(), Some("msg_1"));
    }

    #[test]
    fn tool_results_fold_into_one_user_turn_and_cache_flags_mark_breakpoints() {
        let call = ToolCall {
            id: "toolu_1".into(),
            name: "f".into(),
            arguments: json!({"x": 1}),
            signature: None,
        };
        let call2 = ToolCall {
            id: "toolu_2".into(),
            ..call.clone()
        };
        let mut asst = Message::assistant("");
        asst.content.clear();
        asst.tool_calls = vec![call.clone(), call2.clone()];
        let mut req = ChatRequest::new(vec![
            Message::system("Be terse."),
            Message::user("hi"),
            asst,
            Message::tool_result(&call, "1"),
            Message::tool_result(&call2, "2"),
        ]);
        req.tools = vec![crate::types::Tool {
            name: "f".into(),
            description: String::new(),
            parameters: json!({"type": "object"}),
        }];
        req.cache.system = true;
        req.cache.tools = true;
        let ep = Endpoint {
            base_url: "http://x".into(),
            api_key: None,
            transport: std::sync::Arc::new(crate::transport::Transport::new(Default::default())),
        };
        let b = Anthropic::new(ep, "claude-haiku-4-5").body(&req, false);
        let msgs = b["messages"].as_array().unwrap();
        assert_eq!(msgs.len(), 3);
        assert_eq!(msgs[2]["role"], "user");
        assert_eq!(msgs[2]["content"].as_array().unwrap().len(), 2);
        assert_eq!(msgs[2]["content"][1]["tool_use_id"], "toolu_2");
        assert_eq!(b["system"][0]["cache_control"]["type"], "ephemeral");
        assert_eq!(b["tools"][0]["cache_control"]["type"], "ephemeral");
        assert_eq!(b["max_tokens"], DEFAULT_MAX_TOKENS);
    }
}
