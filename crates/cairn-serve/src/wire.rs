//! The OpenAI Chat Completions wire format, server side: a request body read into cairn's
//! provider-neutral [`ChatRequest`] (every field checked, a bad one named as `param`), and
//! [`ChatResponse`]s and [`ChatEvent`]s written back as `chat.completion` bodies and
//! `chat.completion.chunk` stream events. The client side of the same format is
//! `cairn_llm::providers::openai`.

use cairn_llm::{
    ChatEvent, ChatRequest, ChatResponse, ContentPart, FinishReason, ImageSource, Message, Role,
    Tool, ToolCall, ToolChoice, Usage,
};
use serde_json::{json, Map, Value};

use crate::error::ApiError;

/// A chat completion request, read.
#[derive(Debug, Clone)]
pub struct ChatParams {
    pub model: String,
    pub request: ChatRequest,
    pub stream: bool,
    /// `stream_options.include_usage`: a last chunk with empty `choices` carries the usage.
    pub include_usage: bool,
}

fn field<'a>(o: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    o.get(key).filter(|v| !v.is_null())
}

fn string(v: &Value, param: &str) -> Result<String, ApiError> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| ApiError::invalid(param, format!("{param} must be a string")))
}

fn object<'a>(v: &'a Value, param: &str) -> Result<&'a Map<String, Value>, ApiError> {
    v.as_object()
        .ok_or_else(|| ApiError::invalid(param, format!("{param} must be an object")))
}

/// Reads a `POST /v1/chat/completions` body.
pub fn parse_chat(body: &Value) -> Result<ChatParams, ApiError> {
    let o = object(body, "body")?;
    let model = string(
        field(o, "model").ok_or_else(|| ApiError::invalid("model", "model is required"))?,
        "model",
    )?;
    let msgs = field(o, "messages")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::invalid("messages", "messages must be an array of messages"))?;
    if msgs.is_empty() {
        return Err(ApiError::invalid("messages", "messages is empty"));
    }
    let messages = msgs
        .iter()
        .enumerate()
        .map(|(i, m)| message(m, &format!("messages[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    let mut req = ChatRequest::new(messages);
    if let Some(n) = field(o, "n") {
        if n.as_u64() != Some(1) {
            return Err(ApiError::invalid("n", "only n = 1 is supported"));
        }
    }
    if let Some(t) = field(o, "tools") {
        let tools = t
            .as_array()
            .ok_or_else(|| ApiError::invalid("tools", "tools must be an array"))?;
        for (i, t) in tools.iter().enumerate() {
            req.tools.push(tool(t, &format!("tools[{i}]"))?);
        }
    }
    if let Some(c) = field(o, "tool_choice") {
        req.tool_choice = tool_choice(c)?;
    }
    if let Some(f) = field(o, "response_format") {
        req.response_format = response_format(f)?;
    }
    if let Some(t) = field(o, "temperature") {
        let t = t
            .as_f64()
            .filter(|t| (0.0..=2.0).contains(t))
            .ok_or_else(|| {
                ApiError::invalid("temperature", "temperature must be a number from 0 to 2")
            })?;
        req.temperature = Some(t as f32);
    }
    for key in ["max_completion_tokens", "max_tokens"] {
        if let Some(n) = field(o, key) {
            let n = n
                .as_u64()
                .filter(|n| *n > 0 && *n <= u32::MAX as u64)
                .ok_or_else(|| {
                    ApiError::invalid(key, format!("{key} must be a positive integer"))
                })?;
            req.max_output_tokens.get_or_insert(n as u32);
        }
    }
    if let Some(s) = field(o, "stop") {
        req.stop = match s {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a
                .iter()
                .map(|v| string(v, "stop"))
                .collect::<Result<_, _>>()?,
            _ => {
                return Err(ApiError::invalid(
                    "stop",
                    "stop must be a string or an array",
                ))
            }
        };
    }
    // Sampling fields every provider module knows how to drop or map are passed as they are.
    for key in ["seed", "top_p", "frequency_penalty", "presence_penalty"] {
        if let Some(v) = field(o, key) {
            if !v.is_number() {
                return Err(ApiError::invalid(key, format!("{key} must be a number")));
            }
            req.extra.insert(key.into(), v.clone());
        }
    }
    let stream = match field(o, "stream") {
        None => false,
        Some(v) => v
            .as_bool()
            .ok_or_else(|| ApiError::invalid("stream", "stream must be true or false"))?,
    };
    let include_usage = field(o, "stream_options")
        .and_then(|s| s.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Ok(ChatParams {
        model,
        request: req,
        stream,
        include_usage,
    })
}

fn content(v: Option<&Value>, param: &str) -> Result<Vec<ContentPart>, ApiError> {
    let Some(v) = v else { return Ok(Vec::new()) };
    match v {
        Value::String(s) => Ok(vec![ContentPart::Text { text: s.clone() }]),
        Value::Array(parts) => parts
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let param = format!("{param}[{i}]");
                let o = object(p, &param)?;
                match o.get("type").and_then(Value::as_str) {
                    Some("text") => Ok(ContentPart::Text {
                        text: string(
                            o.get("text").unwrap_or(&Value::Null),
                            &format!("{param}.text"),
                        )?,
                    }),
                    Some("image_url") => {
                        let url = o
                            .get("image_url")
                            .and_then(|u| u.get("url").or(Some(u)))
                            .and_then(Value::as_str)
                            .ok_or_else(|| {
                                ApiError::invalid(
                                    format!("{param}.image_url.url"),
                                    "an image_url part needs image_url.url",
                                )
                            })?;
                        Ok(ContentPart::Image { source: image(url) })
                    }
                    other => Err(ApiError::invalid(
                        format!("{param}.type"),
                        format!(
                            "content part type {other:?} is not supported: use text or image_url"
                        ),
                    )),
                }
            })
            .collect(),
        _ => Err(ApiError::invalid(
            param,
            format!("{param} must be a string or an array of parts"),
        )),
    }
}

/// A `data:` URL becomes inline base64; any other URL is passed by reference.
fn image(url: &str) -> ImageSource {
    if let Some(rest) = url.strip_prefix("data:") {
        if let Some((media, data)) = rest.split_once(";base64,") {
            return ImageSource::Base64 {
                media_type: media.to_string(),
                data: data.to_string(),
            };
        }
    }
    ImageSource::Url {
        url: url.to_string(),
    }
}

fn message(v: &Value, param: &str) -> Result<Message, ApiError> {
    let o = object(v, param)?;
    let role = match field(o, "role").and_then(Value::as_str) {
        Some("system" | "developer") => Role::System,
        Some("user") => Role::User,
        Some("assistant") => Role::Assistant,
        Some("tool") => Role::Tool,
        other => {
            return Err(ApiError::invalid(
                format!("{param}.role"),
                format!("role {other:?} is not one of system, developer, user, assistant, tool"),
            ))
        }
    };
    let mut m = Message::user("");
    m.role = role;
    m.content = content(field(o, "content"), &format!("{param}.content"))?;
    if let Some(calls) = field(o, "tool_calls") {
        let calls = calls.as_array().ok_or_else(|| {
            ApiError::invalid(format!("{param}.tool_calls"), "tool_calls must be an array")
        })?;
        for (i, c) in calls.iter().enumerate() {
            let p = format!("{param}.tool_calls[{i}]");
            let f = c.get("function").ok_or_else(|| {
                ApiError::invalid(format!("{p}.function"), "a tool call needs function")
            })?;
            let args = f.get("arguments").and_then(Value::as_str).unwrap_or("{}");
            m.tool_calls.push(ToolCall {
                id: string(c.get("id").unwrap_or(&Value::Null), &format!("{p}.id"))?,
                name: string(
                    f.get("name").unwrap_or(&Value::Null),
                    &format!("{p}.function.name"),
                )?,
                arguments: serde_json::from_str(args).unwrap_or_else(|_| json!(args)),
                signature: None,
            });
        }
    }
    if role == Role::Tool {
        m.tool_call_id = Some(string(
            field(o, "tool_call_id").unwrap_or(&Value::Null),
            &format!("{param}.tool_call_id"),
        )?);
        m.tool_name = field(o, "name").and_then(Value::as_str).map(str::to_string);
    }
    Ok(m)
}

fn tool(v: &Value, param: &str) -> Result<Tool, ApiError> {
    let o = object(v, param)?;
    if o.get("type").and_then(Value::as_str).unwrap_or("function") != "function" {
        return Err(ApiError::invalid(
            format!("{param}.type"),
            "only function tools are supported",
        ));
    }
    let f = object(
        o.get("function").unwrap_or(&Value::Null),
        &format!("{param}.function"),
    )?;
    Ok(Tool {
        name: string(
            f.get("name").unwrap_or(&Value::Null),
            &format!("{param}.function.name"),
        )?,
        description: f
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        parameters: f
            .get("parameters")
            .cloned()
            .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
    })
}

fn tool_choice(v: &Value) -> Result<ToolChoice, ApiError> {
    Ok(match v {
        Value::String(s) => match s.as_str() {
            "auto" => ToolChoice::Auto,
            "none" => ToolChoice::None,
            "required" => ToolChoice::Required,
            _ => {
                return Err(ApiError::invalid(
                    "tool_choice",
                    "tool_choice must be auto, none, required or a function",
                ))
            }
        },
        _ => ToolChoice::Tool(
            v.get("function")
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str)
                .ok_or_else(|| ApiError::invalid("tool_choice.function.name", "name the function"))?
                .to_string(),
        ),
    })
}

fn response_format(v: &Value) -> Result<Option<cairn_llm::JsonSchemaFormat>, ApiError> {
    match v.get("type").and_then(Value::as_str) {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(cairn_llm::JsonSchemaFormat {
            name: "json_object".into(),
            schema: json!({"type": "object"}),
            strict: false,
        })),
        Some("json_schema") => {
            let s = object(
                v.get("json_schema").unwrap_or(&Value::Null),
                "response_format.json_schema",
            )?;
            Ok(Some(cairn_llm::JsonSchemaFormat {
                name: s
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("response")
                    .to_string(),
                schema: s.get("schema").cloned().ok_or_else(|| {
                    ApiError::invalid(
                        "response_format.json_schema.schema",
                        "the schema is missing",
                    )
                })?,
                strict: s.get("strict").and_then(Value::as_bool).unwrap_or(false),
            }))
        }
        other => Err(ApiError::invalid(
            "response_format.type",
            format!("response_format type {other:?} is not text, json_object or json_schema"),
        )),
    }
}

pub fn finish_reason(r: FinishReason) -> &'static str {
    match r {
        FinishReason::Stop | FinishReason::Other => "stop",
        FinishReason::Length => "length",
        FinishReason::ToolCalls => "tool_calls",
        FinishReason::ContentFilter => "content_filter",
    }
}

pub fn usage(u: &Usage) -> Value {
    json!({"prompt_tokens": u.input_tokens, "completion_tokens": u.output_tokens,
        "total_tokens": u.input_tokens.saturating_add(u.output_tokens),
        "prompt_tokens_details": {"cached_tokens": u.cached_input_tokens}})
}

fn arguments(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        v => v.to_string(),
    }
}

/// A `chat.completion` body for `resp`, as `model` (the name the client asked for).
pub fn completion(id: &str, created: u64, model: &str, resp: &ChatResponse) -> Value {
    let text = resp.text();
    let mut message = json!({"role": "assistant",
        "content": if text.is_empty() && !resp.tool_calls.is_empty() { Value::Null } else { json!(text) },
        "refusal": null});
    if !resp.tool_calls.is_empty() {
        message["tool_calls"] = resp
            .tool_calls
            .iter()
            .map(|c| {
                json!({"id": c.id, "type": "function",
                "function": {"name": c.name, "arguments": arguments(&c.arguments)}})
            })
            .collect();
    }
    json!({"id": id, "object": "chat.completion", "created": created, "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": null,
            "finish_reason": finish_reason(resp.finish_reason)}],
        "usage": usage(&resp.usage), "system_fingerprint": null})
}

/// Writes a stream of [`ChatEvent`]s as `chat.completion.chunk`s.
pub struct ChunkWriter {
    pub id: String,
    pub created: u64,
    pub model: String,
    started: bool,
    /// Tool-call indexes as the client sees them (0, 1, … in order of first appearance).
    tools: Vec<usize>,
}

impl ChunkWriter {
    pub fn new(id: String, created: u64, model: String) -> Self {
        ChunkWriter {
            id,
            created,
            model,
            started: false,
            tools: Vec::new(),
        }
    }

    pub fn chunk(&self, delta: Value, finish: Option<&str>) -> Value {
        json!({"id": self.id, "object": "chat.completion.chunk", "created": self.created,
            "model": self.model, "system_fingerprint": null,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]})
    }

    /// The usage chunk `include_usage` asks for: empty `choices`.
    pub fn usage_chunk(&self, u: &Usage) -> Value {
        json!({"id": self.id, "object": "chat.completion.chunk", "created": self.created,
            "model": self.model, "system_fingerprint": null, "choices": [], "usage": usage(u)})
    }

    fn delta(&mut self, mut d: Value) -> Value {
        if !self.started {
            self.started = true;
            d["role"] = json!("assistant");
        }
        d
    }

    fn tool_index(&mut self, index: usize) -> usize {
        match self.tools.iter().position(|i| *i == index) {
            Some(p) => p,
            None => {
                self.tools.push(index);
                self.tools.len() - 1
            }
        }
    }

    /// The chunk for one event, if it makes one (`Usage`, `Served`, `Start`, `ToolCallEnd`
    /// make none: the caller keeps the usage for the end).
    pub fn event(&mut self, ev: &ChatEvent) -> Option<Value> {
        match ev {
            ChatEvent::TextDelta { text } if !text.is_empty() => {
                let d = self.delta(json!({"content": text}));
                Some(self.chunk(d, None))
            }
            ChatEvent::ToolCallStart {
                index, id, name, ..
            } => {
                let i = self.tool_index(*index);
                let d = self.delta(
                    json!({"tool_calls": [{"index": i, "id": id, "type": "function",
                    "function": {"name": name, "arguments": ""}}]}),
                );
                Some(self.chunk(d, None))
            }
            ChatEvent::ToolCallDelta { index, arguments } => {
                let i = self.tool_index(*index);
                let d = self.delta(
                    json!({"tool_calls": [{"index": i, "function": {"arguments": arguments}}]}),
                );
                Some(self.chunk(d, None))
            }
            ChatEvent::Finish { reason } => {
                let d = self.delta(json!({}));
                Some(self.chunk(d, Some(finish_reason(*reason))))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_full_request() {
        let body = json!({"model": "openai:gpt-4o-mini", "stream": true,
            "stream_options": {"include_usage": true},
            "messages": [
                {"role": "developer", "content": "Be brief."},
                {"role": "user", "content": [{"type": "text", "text": "Weather?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
                    "function": {"name": "weather", "arguments": "{\"city\":\"Oslo\"}"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "sunny"}],
            "tools": [{"type": "function", "function": {"name": "weather",
                "parameters": {"type": "object"}}}],
            "tool_choice": {"type": "function", "function": {"name": "weather"}},
            "response_format": {"type": "json_schema", "json_schema": {"name": "w",
                "schema": {"type": "object"}, "strict": true}},
            "max_tokens": 50, "stop": "END", "seed": 7});
        let p = parse_chat(&body).unwrap();
        assert!(p.stream && p.include_usage);
        let r = &p.request;
        assert_eq!(r.messages[0].role, Role::System);
        assert!(matches!(
            r.messages[1].content[1],
            ContentPart::Image {
                source: ImageSource::Base64 { .. }
            }
        ));
        assert_eq!(
            r.messages[2].tool_calls[0].arguments,
            json!({"city": "Oslo"})
        );
        assert_eq!(r.messages[3].tool_call_id.as_deref(), Some("c1"));
        assert_eq!(r.tool_choice, ToolChoice::Tool("weather".into()));
        assert!(r.response_format.as_ref().unwrap().strict);
        assert_eq!(
            (r.max_output_tokens, r.stop.clone()),
            (Some(50), vec!["END".to_string()])
        );
        assert_eq!(r.extra["seed"], 7);
    }

    #[test]
    fn bad_fields_are_named() {
        let cases = [
            (
                json!({"messages": [{"role": "user", "content": "x"}]}),
                "model",
            ),
            (json!({"model": "m", "messages": "hi"}), "messages"),
            (
                json!({"model": "m", "messages": [{"role": "boss", "content": "x"}]}),
                "messages[0].role",
            ),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": 5}]}),
                "messages[0].content",
            ),
            (
                json!({"model": "m", "messages": [{"role": "tool", "content": "x"}]}),
                "messages[0].tool_call_id",
            ),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": 9}),
                "temperature",
            ),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "n": 2}),
                "n",
            ),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
                "response_format": {"type": "xml"}}),
                "response_format.type",
            ),
        ];
        for (body, param) in cases {
            let e = parse_chat(&body).unwrap_err();
            assert_eq!(e.param.as_deref(), Some(param), "{body}");
            assert_eq!(e.status, 400);
        }
    }

    #[test]
    fn stream_chunks_renumber_tool_calls_and_mark_the_first_delta() {
        let mut w = ChunkWriter::new("c".into(), 1, "m".into());
        let a = w
            .event(&ChatEvent::ToolCallStart {
                index: 3,
                id: "t".into(),
                name: "f".into(),
                signature: None,
            })
            .unwrap();
        assert_eq!(a["choices"][0]["delta"]["role"], "assistant");
        assert_eq!(a["choices"][0]["delta"]["tool_calls"][0]["index"], 0);
        let b = w
            .event(&ChatEvent::ToolCallDelta {
                index: 3,
                arguments: "{}".into(),
            })
            .unwrap();
        assert!(b["choices"][0]["delta"].get("role").is_none());
        let f = w
            .event(&ChatEvent::Finish {
                reason: FinishReason::ToolCalls,
            })
            .unwrap();
        assert_eq!(f["choices"][0]["finish_reason"], "tool_calls");
        assert!(w
            .event(&ChatEvent::Usage {
                usage: Usage::default()
            })
            .is_none());
        assert_eq!(
            w.usage_chunk(&Usage {
                input_tokens: 2,
                output_tokens: 3,
                ..Default::default()
            })["usage"]["total_tokens"],
            5
        );
    }
}
