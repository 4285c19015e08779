//! The `ChatModel` trait every provider implements and every middleware wraps, and the
//! accumulator that folds a stream back into a response.

use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use futures::{Stream, StreamExt};
use serde_json::Value;

use crate::error::LlmError;
use crate::types::{
    ChatEvent, ChatRequest, ChatResponse, ContentPart, FinishReason, ToolCall, Usage,
};

pub type ChatStream = Pin<Box<dyn Stream<Item = Result<ChatEvent, LlmError>> + Send>>;

/// Which provider and model a `ChatModel` talks to (`openai:gpt-4o-mini`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModelId {
    pub provider: String,
    pub name: String,
}

impl ModelId {
    pub fn new(provider: impl Into<String>, name: impl Into<String>) -> Self {
        ModelId {
            provider: provider.into(),
            name: name.into(),
        }
    }
}

impl std::fmt::Display for ModelId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.provider, self.name)
    }
}

/// How many tokens a request's input holds, and whether the number is exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenCount {
    pub tokens: u64,
    pub exact: bool,
}

#[async_trait]
pub trait ChatModel: Send + Sync {
    fn id(&self) -> ModelId;

    /// One whole response.
    async fn chat(&self, req: &ChatRequest) -> Result<ChatResponse, LlmError>;

    /// The response as events. The stream ends after `Finish`, or with an error.
    async fn stream(&self, req: &ChatRequest) -> Result<ChatStream, LlmError>;

    /// Input tokens of a request: the provider's count endpoint where it has one, otherwise
    /// the local estimate in [`crate::tokens`].
    async fn count_tokens(&self, req: &ChatRequest) -> Result<TokenCount, LlmError> {
        Ok(crate::tokens::estimate_request(&self.id(), req))
    }

    /// The most tokens one request can hold, input and output together, when known: the
    /// published window of provider models ([`crate::tokens::context_window`]), the runtime's
    /// real limit for the local model (its GGUF `llama.context_length` capped by what candle
    /// holds), the enforced window through a [`crate::middleware::ContextGuard`]. Budgeting
    /// code (trimming a chat history) compares it with [`ChatModel::count_tokens`] plus the
    /// output it wants room for.
    async fn context_window(&self) -> Result<Option<u64>, LlmError> {
        Ok(crate::tokens::context_window(&self.id()))
    }
}

#[async_trait]
impl<M: ChatModel + ?Sized> ChatModel for Arc<M> {
    fn id(&self) -> ModelId {
        (**self).id()
    }
    async fn chat(&self, req: &ChatRequest) -> Result<ChatResponse, LlmError> {
        (**self).chat(req).await
    }
    async fn stream(&self, req: &ChatRequest) -> Result<ChatStream, LlmError> {
        (**self).stream(req).await
    }
    async fn count_tokens(&self, req: &ChatRequest) -> Result<TokenCount, LlmError> {
        (**self).count_tokens(req).await
    }
    async fn context_window(&self) -> Result<Option<u64>, LlmError> {
        (**self).context_window().await
    }
}

/// Folds stream events into a `ChatResponse`. A `Restart` clears everything.
#[derive(Debug, Default, Clone)]
pub struct Accumulator {
    text: String,
    calls: Vec<(usize, String, String, String, Option<String>)>,
    usage: Option<Usage>,
    finish: Option<FinishReason>,
    request_id: Option<String>,
    model: Option<String>,
}

impl Accumulator {
    pub fn push(&mut self, ev: &ChatEvent) {
        match ev {
            ChatEvent::Start { request_id, model } => {
                self.request_id = request_id.clone().or(self.request_id.take());
                self.model = model.clone().or(self.model.take());
            }
            ChatEvent::TextDelta { text } => self.text.push_str(text),
            ChatEvent::ToolCallStart {
                index,
                id,
                name,
                signature,
            } => self.calls.push((
                *index,
                id.clone(),
                name.clone(),
                String::new(),
                signature.clone(),
            )),
            ChatEvent::ToolCallDelta { index, arguments } => {
                if let Some(c) = self.calls.iter_mut().rev().find(|c| c.0 == *index) {
                    c.3.push_str(arguments);
                }
            }
            ChatEvent::ToolCallEnd { .. } => {}
            ChatEvent::Usage { usage } => self.usage = Some(*usage),
            ChatEvent::Finish { reason } => self.finish = Some(*reason),
            ChatEvent::Restart { .. } => *self = Accumulator::default(),
        }
    }

    pub fn is_finished(&self) -> bool {
        self.finish.is_some()
    }

    pub fn has_output(&self) -> bool {
        !self.text.is_empty() || !self.calls.is_empty()
    }

    /// The response so far. Tool-call arguments that are not JSON are kept as a string.
    pub fn response(&self) -> ChatResponse {
        let tool_calls = self
            .calls
            .iter()
            .map(|(_, id, name, args, sig)| ToolCall {
                id: id.clone(),
                name: name.clone(),
                arguments: parse_arguments(args),
                signature: sig.clone(),
            })
            .collect();
        let content = if self.text.is_empty() {
            Vec::new()
        } else {
            vec![ContentPart::Text {
                text: self.text.clone(),
            }]
        };
        ChatResponse {
            content,
            tool_calls,
            finish_reason: self.finish.unwrap_or(FinishReason::Other),
            usage: self.usage.unwrap_or_default(),
            request_id: self.request_id.clone(),
            model: self.model.clone(),
        }
    }
}

/// Arguments text to JSON: empty means no arguments, invalid JSON is kept as a string.
pub fn parse_arguments(args: &str) -> Value {
    if args.trim().is_empty() {
        return Value::Object(Default::default());
    }
    serde_json::from_str(args).unwrap_or_else(|_| Value::String(args.to_string()))
}

/// Drains a stream into a response.
pub async fn collect(mut stream: ChatStream) -> Result<ChatResponse, LlmError> {
    let mut acc = Accumulator::default();
    while let Some(ev) = stream.next().await {
        acc.push(&ev?);
    }
    Ok(acc.response())
}

/// Replays a complete response as the events a stream of it would have produced (cache hits,
/// providers without streaming).
pub fn events_of(resp: &ChatResponse) -> Vec<ChatEvent> {
    let mut evs = vec![ChatEvent::Start {
        request_id: resp.request_id.clone(),
        model: resp.model.clone(),
    }];
    let text = resp.text();
    if !text.is_empty() {
        evs.push(ChatEvent::TextDelta { text });
    }
    for (i, c) in resp.tool_calls.iter().enumerate() {
        evs.push(ChatEvent::ToolCallStart {
            index: i,
            id: c.id.clone(),
            name: c.name.clone(),
            signature: c.signature.clone(),
        });
        let args = match &c.arguments {
            Value::String(s) => s.clone(),
            v => v.to_string(),
        };
        evs.push(ChatEvent::ToolCallDelta {
            index: i,
            arguments: args,
        });
        evs.push(ChatEvent::ToolCallEnd { index: i });
    }
    evs.push(ChatEvent::Usage { usage: resp.usage });
    evs.push(ChatEvent::Finish {
        reason: resp.finish_reason,
    });
    evs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_discards_partial_output() {
        let mut acc = Accumulator::default();
        acc.push(&ChatEvent::TextDelta { text: "Hel".into() });
        acc.push(&ChatEvent::Restart {
            attempt: 1,
            reason: "x".into(),
        });
        acc.push(&ChatEvent::TextDelta {
            text: "Hello".into(),
        });
        acc.push(&ChatEvent::Finish {
            reason: FinishReason::Stop,
        });
        assert_eq!(acc.response().text(), "Hello");
    }

    #[test]
    fn replayed_events_fold_back_to_the_same_response() {
        let resp = ChatResponse {
            content: vec![ContentPart::Text { text: "hi".into() }],
            tool_calls: vec![ToolCall {
                id: "c1".into(),
                name: "f".into(),
                arguments: serde_json::json!({"a": 1}),
                signature: Some("sig".into()),
            }],
            finish_reason: FinishReason::ToolCalls,
            usage: Usage {
                input_tokens: 3,
                output_tokens: 2,
                ..Default::default()
            },
            request_id: Some("r".into()),
            model: Some("m".into()),
        };
        let mut acc = Accumulator::default();
        for e in events_of(&resp) {
            acc.push(&e);
        }
        assert_eq!(acc.response(), resp);
    }
}
