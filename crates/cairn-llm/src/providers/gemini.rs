//! Google Gemini `generateContent` / `streamGenerateContent?alt=sse`: roles `user` / `model`,
//! system text in `systemInstruction`, function calls as parts (their thought signatures echoed
//! back unchanged), structured output via `responseJsonSchema`. A Gemini stream has no end
//! marker: it is complete only if a chunk carried a `finishReason`.

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

pub const DEFAULT_BASE_URL: &str = "https://generativelanguage.googleapis.com";
const P: &str = "gemini";

#[derive(Debug, Clone)]
pub struct Gemini {
    pub endpoint: Endpoint,
    pub model: String,
}

impl Gemini {
    pub fn new(endpoint: Endpoint, model: impl Into<String>) -> Self {
        Gemini {
            endpoint,
            model: model.into(),
        }
    }

    fn headers(&self) -> Headers {
        let mut h = Headers::new();
        if let Some(k) = &self.endpoint.api_key {
            h.push(("x-goog-api-key", k.clone()));
        }
        h
    }

    fn url(&self, method: &str) -> String {
        self.endpoint
            .url(&format!("v1beta/models/{}:{method}", self.model))
    }

    pub fn body(&self, req: &ChatRequest) -> Value {
        let mut body = json!({"contents": contents(req)});
        let b = body.as_object_mut().expect("object");
        let system: Vec<String> = req
            .messages
            .iter()
            .filter(|m| m.role == Role::System)
            .map(|m| m.text())
            .collect();
        if !system.is_empty() {
            b.insert(
                "systemInstruction".into(),
                json!({"parts": [{"text": system.join("\n\n")}]}),
            );
        }
        let mut gen = serde_json::Map::new();
        if let Some(t) = req.temperature {
            gen.insert("temperature".into(), json!(t));
        }
        if let Some(n) = req.max_output_tokens {
            gen.insert("maxOutputTokens".into(), json!(n));
        }
        if !req.stop.is_empty() {
            gen.insert("stopSequences".into(), json!(req.stop));
        }
        if let Some(f) = &req.response_format {
            gen.insert("responseMimeType".into(), json!("application/json"));
            gen.insert("responseJsonSchema".into(), f.schema.clone());
        }
        if !gen.is_empty() {
            b.insert("generationConfig".into(), Value::Object(gen));
        }
        if !req.tools.is_empty() {
            let decls: Vec<Value> = req
                .tools
                .iter()
                .map(|t| json!({"name": t.name, "description": t.description, "parametersJsonSchema": t.parameters}))
                .collect();
            b.insert("tools".into(), json!([{"functionDeclarations": decls}]));
            let cfg = match &req.tool_choice {
                ToolChoice::Auto => json!({"mode": "AUTO"}),
                ToolChoice::None => json!({"mode": "NONE"}),
                ToolChoice::Required => json!({"mode": "ANY"}),
                ToolChoice::Tool(n) => json!({"mode": "ANY", "allowedFunctionNames": [n]}),
            };
            b.insert("toolConfig".into(), json!({"functionCallingConfig": cfg}));
        }
        merge_extra(&mut body, &req.extra);
        body
    }
}

fn contents(req: &ChatRequest) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for m in &req.messages {
        let (role, parts) = match m.role {
            Role::System => continue,
            Role::User => ("user", parts(&m.content)),
            Role::Tool => {
                let text = m.text();
                let output: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
                let key = if m.is_error { "error" } else { "output" };
                let mut fr = json!({"name": m.tool_name.clone().unwrap_or_default(), "response": {key: output}});
                if let Some(id) = m.tool_call_id.as_ref().filter(|id| !id.is_empty()) {
                    fr["id"] = json!(id);
                }
                ("user", vec![json!({"functionResponse": fr})])
            }
            Role::Assistant => {
                let mut p = parts(&m.content);
                for c in &m.tool_calls {
                    let mut fc = json!({"name": c.name, "args": c.arguments});
                    if !c.id.is_empty() {
                        fc["id"] = json!(c.id);
                    }
                    let mut part = json!({"functionCall": fc});
                    if let Some(s) = &c.signature {
                        part["thoughtSignature"] = json!(s);
                    }
                    p.push(part);
                }
                ("model", p)
            }
        };
        super::push_turn(&mut out, role, "parts", parts);
    }
    out
}

fn parts(content: &[ContentPart]) -> Vec<Value> {
    content
        .iter()
        .map(|p| match p {
            ContentPart::Text { text } => json!({"text": text}),
            ContentPart::Image {
                source: ImageSource::Base64 { media_type, data },
            } => json!({"inlineData": {"mimeType": media_type, "data": data}}),
            ContentPart::Image {
                source: ImageSource::Url { url },
            } => json!({"fileData": {"fileUri": url}}),
        })
        .collect()
}

fn finish(s: &str, has_calls: bool) -> FinishReason {
    match s {
        "STOP" if has_calls => FinishReason::ToolCalls,
        "STOP" => FinishReason::Stop,
        "MAX_TOKENS" => FinishReason::Length,
        "SAFETY"
        | "RECITATION"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT"
        | "IMAGE_RECITATION" => FinishReason::ContentFilter,
        _ => FinishReason::Other,
    }
}

/// Thinking tokens bill as output.
pub(crate) fn usage(u: &Value) -> Usage {
    Usage {
        input_tokens: u64_at(u, &["promptTokenCount"]),
        cached_input_tokens: u64_at(u, &["cachedContentTokenCount"]),
        cache_write_tokens: 0,
        output_tokens: u64_at(u, &["candidatesTokenCount"])
            .saturating_add(u64_at(u, &["thoughtsTokenCount"])),
    }
}

/// Text deltas and function calls of one response (or one streamed chunk).
fn candidate_parts(v: &Value) -> (String, Vec<ToolCall>) {
    let mut text = String::new();
    let mut calls = Vec::new();
    let parts = v
        .pointer("/candidates/0/content/parts")
        .and_then(Value::as_array);
    for p in parts.into_iter().flatten() {
        if p.get("thought").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        if let Some(t) = p.get("text").and_then(Value::as_str) {
            text.push_str(t);
        }
        if let Some(fc) = p.get("functionCall") {
            calls.push(ToolCall {
                id: str_at(fc, &["id"]).unwrap_or_default().to_string(),
                name: str_at(fc, &["name"]).unwrap_or_default().to_string(),
                arguments: fc.get("args").cloned().unwrap_or(json!({})),
                signature: str_at(p, &["thoughtSignature"]).map(str::to_string),
            });
        }
    }
    (text, calls)
}

fn blocked(v: &Value) -> bool {
    v.get("candidates")
        .and_then(Value::as_array)
        .is_none_or(|c| c.is_empty())
        && v.pointer("/promptFeedback/blockReason").is_some()
}

pub fn parse_response(v: &Value, request_id: Option<String>) -> Result<ChatResponse, LlmError> {
    let (text, tool_calls) = candidate_parts(v);
    let finish_reason = if blocked(v) {
        FinishReason::ContentFilter
    } else {
        match v
            .pointer("/candidates/0/finishReason")
            .and_then(Value::as_str)
        {
            Some(f) => finish(f, !tool_calls.is_empty()),
            None if v.get("candidates").is_none() => {
                return Err(LlmError::Decode {
                    provider: P,
                    message: "no candidates in the response".into(),
                })
            }
            None => FinishReason::Other,
        }
    };
    Ok(ChatResponse {
        content: if text.is_empty() {
            vec![]
        } else {
            vec![ContentPart::Text { text }]
        },
        tool_calls,
        finish_reason,
        usage: v.get("usageMetadata").map(usage).unwrap_or_default(),
        request_id: request_id.or_else(|| str_at(v, &["responseId"]).map(str::to_string)),
        model: str_at(v, &["modelVersion"]).map(str::to_string),
        served: Default::default(),
    })
}

/// `google.rpc.Status`, with `RetryInfo.retryDelay` ("37s") when quota ran out.
pub fn parse_error(body: &[u8]) -> ErrorBody {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let v = if v.is_array() { v[0].clone() } else { v };
    let e = v.get("error").unwrap_or(&Value::Null);
    let retry_after = e
        .get("details")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find_map(|d| d.get("retryDelay").and_then(Value::as_str))
        .and_then(crate::transport::parse_go_duration);
    ErrorBody {
        code: str_at(e, &["status"]).map(str::to_string),
        message: str_at(e, &["message"]).unwrap_or_default().to_string(),
        retry_after,
    }
}

/// The `streamGenerateContent?alt=sse` grammar: whole-response-shaped chunks and no end
/// marker, so the body's end completes the stream only if a chunk carried a `finishReason`
/// (or the prompt was blocked).
#[derive(Default)]
pub struct GeminiStream {
    request_id: Option<String>,
    started: bool,
    n_calls: usize,
    usage: Option<Usage>,
    finish: Option<String>,
    blocked: bool,
}

impl GeminiStream {
    /// `request_id` from the response headers, when sent; else the chunks' `responseId`.
    pub fn new(request_id: Option<String>) -> Self {
        GeminiStream {
            request_id,
            ..Default::default()
        }
    }
}

impl StreamDecoder for GeminiStream {
    fn payload(&mut self, data: &[u8], out: &mut Vec<ChatEvent>) -> Result<bool, LlmError> {
        let v = parse_event(P, data)?;
        if let Some(e) = v.get("error") {
            let b = parse_error(json!({ "error": e }).to_string().as_bytes());
            return Err(LlmError::Stream {
                provider: P,
                kind: StreamBreak::ErrorEvent,
                detail: format!("{}: {}", b.code.unwrap_or_default(), b.message),
            });
        }
        if !self.started {
            self.started = true;
            out.push(ChatEvent::Start {
                request_id: self
                    .request_id
                    .clone()
                    .or_else(|| str_at(&v, &["responseId"]).map(str::to_string)),
                model: str_at(&v, &["modelVersion"]).map(str::to_string),
            });
        }
        let (text, calls) = candidate_parts(&v);
        if !text.is_empty() {
            out.push(ChatEvent::TextDelta { text });
        }
        for c in calls {
            let index = self.n_calls;
            self.n_calls += 1;
            out.push(ChatEvent::ToolCallStart {
                index,
                id: c.id,
                name: c.name,
                signature: c.signature,
            });
            out.push(ChatEvent::ToolCallDelta {
                index,
                arguments: c.arguments.to_string(),
            });
            out.push(ChatEvent::ToolCallEnd { index });
        }
        if let Some(u) = v.get("usageMetadata") {
            self.usage = Some(usage(u));
        }
        if let Some(f) = v
            .pointer("/candidates/0/finishReason")
            .and_then(Value::as_str)
        {
            self.finish = Some(f.to_string());
        }
        if blocked(&v) {
            self.blocked = true;
        }
        Ok(false)
    }

    fn end_of_body(&mut self, out: &mut Vec<ChatEvent>) -> Result<(), LlmError> {
        let reason = match (&self.finish, self.blocked) {
            (_, true) => FinishReason::ContentFilter,
            (Some(f), _) => finish(f, self.n_calls > 0),
            (None, false) => return Err(truncated(P)),
        };
        if let Some(u) = self.usage {
            out.push(ChatEvent::Usage { usage: u });
        }
        out.push(ChatEvent::Finish { reason });
        Ok(())
    }
}

#[async_trait]
impl ChatModel for Gemini {
    fn id(&self) -> ModelId {
        ModelId::new(P, &self.model)
    }

    async fn chat(&self, req: &ChatRequest) -> Result<ChatResponse, LlmError> {
        let (v, rid) = self
            .endpoint
            .transport
            .post_json(
                P,
                &self.url("generateContent"),
                &self.headers(),
                &self.body(req),
                parse_error,
            )
            .await?;
        served_by(self.id(), parse_response(&v, rid))
    }

    async fn stream(&self, req: &ChatRequest) -> Result<ChatStream, LlmError> {
        let (bytes, rid) = self
            .endpoint
            .transport
            .post_stream(
                P,
                &self.url("streamGenerateContent?alt=sse"),
                &self.headers(),
                &self.body(req),
                parse_error,
            )
            .await?;
        Ok(sse_chat_stream(P, bytes, GeminiStream::new(rid)))
    }

    /// `POST models/{model}:countTokens`: exact.
    async fn count_tokens(&self, req: &ChatRequest) -> Result<TokenCount, LlmError> {
        let mut body = json!({"contents": contents(req)});
        // countTokens takes system instruction and tools only inside a generateContentRequest.
        let full = self.body(req);
        if full.get("systemInstruction").is_some() || full.get("tools").is_some() {
            let mut g = full.clone();
            g["model"] = json!(format!("models/{}", self.model));
            body = json!({"generateContentRequest": g});
        }
        let (v, _) = self
            .endpoint
            .transport
            .post_json(
                P,
                &self.url("countTokens"),
                &self.headers(),
                &body,
                parse_error,
            )
            .await?;
        match v.get("totalTokens").and_then(Value::as_u64) {
            Some(n) => Ok(TokenCount {
                tokens: n,
                exact: true,
            }),
            None => Err(LlmError::Decode {
                provider: P,
                message: "countTokens reply has no totalTokens".into(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Message;

    #[test]
    fn function_call_with_signature_round_trips() {
        let v = json!({"candidates":[{"content":{"role":"model","parts":[
            {"functionCall":{"name":"get_weather","args":{"city":"Paris"}},"thoughtSignature":"c2lnbmF0dXJl"}]},
            "finishReason":"STOP"}],
            "usageMetadata":{"promptTokenCount":27,"candidatesTokenCount":3,"thoughtsTokenCount":30,"cachedContentTokenCount":20},
            "modelVersion":"gemini-2.5-flash","responseId":"r1"});
        let r = parse_response(&v, None).unwrap();
        assert_eq!(r.finish_reason, FinishReason::ToolCalls);
        assert_eq!(r.usage.output_tokens, 33);
        assert_eq!(r.usage.cached_input_tokens, 20);
        assert_eq!(r.request_id.as_deref(), Some("r1"));
        let call = r.tool_calls[0].clone();
        assert_eq!(call.signature.as_deref(), Some("c2lnbmF0dXJl"));
        let req = ChatRequest::new(vec![
            Message::user("weather?"),
            r.to_message(),
            Message::tool_result(&call, "21C"),
        ]);
        let ep = Endpoint {
            base_url: "http://x".into(),
            api_key: None,
            transport: std::sync::Arc::new(crate::transport::Transport::new(Default::default())),
        };
        let b = Gemini::new(ep, "gemini-2.5-flash").body(&req);
        assert_eq!(b["contents"][1]["role"], "model");
        assert_eq!(
            b["contents"][1]["parts"][0]["thoughtSignature"],
            "c2lnbmF0dXJl"
        );
        assert_eq!(
            b["contents"][2]["parts"][0]["functionResponse"]["response"]["output"],
            "21C"
        );
    }

    #[test]
    fn blocked_prompt_and_thought_parts() {
        let v = json!({"promptFeedback":{"blockReason":"SAFETY"}});
        assert_eq!(
            parse_response(&v, None).unwrap().finish_reason,
            FinishReason::ContentFilter
        );
        let v = json!({"candidates":[{"content":{"parts":[{"text":"hmm","thought":true},{"text":"Madrid."}]},"finishReason":"STOP"}]});
        assert_eq!(parse_response(&v, None).unwrap().text(), "Madrid.");
    }

    #[test]
    fn retry_delay_from_error_details() {
        let b = parse_error(br#"{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"37s"}]}}"#);
        assert_eq!(b.code.as_deref(), Some("RESOURCE_EXHAUSTED"));
        assert_eq!(b.retry_after, Some(std::time::Duration::from_secs(37)));
    }
}
