//! The `ChatModel` trait every provider implements and every middleware wraps, and the
//! accumulator that folds a stream back into a response.

use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use futures::{Stream, StreamExt};
use serde_json::Value;

use crate::error::LlmError;
use crate::types::{
    ChatEvent, ChatRequest, ChatResponse, ContentPart, FinishReason, Served, ToolCall, Usage,
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

/// How to prompt a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptKind {
    /// Full instructions: provider models.
    Full,
    /// A short prompt with a worked example: small local models. Such a model also counts its
    /// own tokens in process, and its runtime's window is a hard limit
    /// ([`crate::middleware::ContextGuard`] relies on both).
    Compact,
}

/// What callers need to know to budget and prompt for a model, without asking its provider:
/// replaces checks on the provider's name. [`ChatModel::profile`] gives it; every middleware
/// forwards its inner (a fallback chain: its primary's) profile.
#[derive(Debug, Clone)]
pub struct ModelProfile {
    pub id: ModelId,
    /// Tokens one request may hold when known (the same as [`ChatModel::context_window`]
    /// without the await where it is static; for the local model the runtime's cap until the
    /// file is loaded, its real window after).
    pub context_window: Option<u64>,
    pub prompt: PromptKind,
    /// Tokens retrieved sources may take in a RAG prompt by default: 700 for the local model
    /// (its prefill runs on a CPU), 2000 otherwise.
    pub source_budget: usize,
}

/// The default [`ModelProfile::source_budget`] of provider models.
pub const FULL_SOURCE_BUDGET: usize = 2000;
/// The default [`ModelProfile::source_budget`] of the local model.
pub const COMPACT_SOURCE_BUDGET: usize = 700;

impl ModelProfile {
    /// The profile a model of this id has unless it says otherwise: the in-process `local:`
    /// models compact prompts and a 700-token source budget, provider models full prompts and
    /// 2000; the window is the static one of [`crate::tokens::context_window`]. The one place
    /// that reads the provider's name; everything else asks the profile.
    pub fn of(id: ModelId) -> Self {
        let compact = id.provider == "local";
        ModelProfile {
            context_window: crate::tokens::context_window(&id),
            id,
            prompt: if compact {
                PromptKind::Compact
            } else {
                PromptKind::Full
            },
            source_budget: if compact {
                COMPACT_SOURCE_BUDGET
            } else {
                FULL_SOURCE_BUDGET
            },
        }
    }

    /// Approximate tokens of `text` as this model counts them, cheap and synchronous
    /// ([`crate::tokens::budget_count`]: exact for OpenAI and the local model, the o200k count
    /// plus 25 % for others).
    pub fn count(&self, text: &str) -> usize {
        crate::tokens::budget_count(&self.id, text)
    }
}

#[async_trait]
pub trait ChatModel: Send + Sync {
    fn id(&self) -> ModelId;

    /// How to prompt and budget for this model; see [`ModelProfile`]. The default follows
    /// from the id ([`ModelProfile::of`]).
    fn profile(&self) -> ModelProfile {
        ModelProfile::of(self.id())
    }

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
    fn profile(&self) -> ModelProfile {
        (**self).profile()
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

/// Folds stream events into a `ChatResponse`. A `Restart` clears everything; a `Served` event
/// becomes `response().served`.
#[derive(Debug, Default, Clone)]
pub struct Accumulator {
    text: String,
    calls: Vec<(usize, String, String, String, Option<String>)>,
    usage: Option<Usage>,
    finish: Option<FinishReason>,
    request_id: Option<String>,
    model: Option<String>,
    served: Served,
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
            ChatEvent::Served { served } => self.served = served.clone(),
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
            served: self.served.clone(),
        }
    }

    /// What the last `Served` event said (the default before one came).
    pub fn served(&self) -> &Served {
        &self.served
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
/// providers without streaming), ending with a `Served` event when `resp.served` holds anything.
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
    if resp.served != Served::default() {
        evs.push(ChatEvent::Served {
            served: resp.served.clone(),
        });
    }
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
            served: Served::default(),
        };
        let mut acc = Accumulator::default();
        for e in events_of(&resp) {
            acc.push(&e);
        }
        assert_eq!(acc.response(), resp);
        // With served facts, they replay too, as the last event.
        let resp = ChatResponse {
            served: Served {
                model: "openai:gpt-4o-mini".into(),
                cost_usd: Some(0.25),
                from_cache: true,
            },
            ..resp
        };
        let evs = events_of(&resp);
        assert!(matches!(evs.last(), Some(ChatEvent::Served { .. })));
        let mut acc = Accumulator::default();
        evs.iter().for_each(|e| acc.push(e));
        assert_eq!(acc.response(), resp);
    }

    #[test]
    fn profiles_follow_the_id_and_count_like_the_budget_counter() {
        let p = ModelProfile::of(ModelId::new("openai", "gpt-4o-mini"));
        assert_eq!(p.prompt, PromptKind::Full);
        assert_eq!(p.source_budget, 2000);
        assert_eq!(p.context_window, Some(128_000));
        assert_eq!(p.count("hello world"), 2);
        let p = ModelProfile::of(ModelId::new("anthropic", "claude-haiku-4-5"));
        assert_eq!((p.prompt, p.source_budget), (PromptKind::Full, 2000));
        // Other providers: the o200k count plus a quarter.
        let text = "word ".repeat(40);
        assert_eq!(
            p.count(&text),
            crate::tokens::count_text("x", &text) * 5 / 4
        );
        let p = ModelProfile::of(ModelId::new("local", "smollm2-135m-instruct"));
        assert_eq!((p.prompt, p.source_budget), (PromptKind::Compact, 700));
    }

    #[test]
    fn served_is_folded_and_a_restart_clears_it() {
        let served = Served {
            model: "anthropic:claude-haiku-4-5".into(),
            cost_usd: Some(0.001),
            from_cache: false,
        };
        let mut acc = Accumulator::default();
        acc.push(&ChatEvent::TextDelta { text: "a".into() });
        acc.push(&ChatEvent::Served {
            served: served.clone(),
        });
        assert_eq!(acc.response().served, served);
        acc.push(&ChatEvent::Restart {
            attempt: 2,
            reason: "x".into(),
        });
        assert_eq!(acc.response().served, Served::default());
        assert_eq!(acc.served(), &Served::default());
    }
}
