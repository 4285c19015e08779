//! Refuses a request that cannot fit the model's context window before it is sent: the input
//! token count plus the requested output budget against the window.
//!
//! Provider models are counted with the local estimate ([`crate::tokens::estimate_request`]),
//! never a count endpoint (that would be a round trip per request). A model whose profile is
//! [`PromptKind::Compact`] (the in-process local model) is counted exactly with its own
//! tokenizer, and its window is capped by what the runtime really holds
//! ([`ChatModel::context_window`]): a configured window cannot raise a hard limit.

use std::sync::Arc;

use async_trait::async_trait;

use crate::error::LlmError;
use crate::model::{ChatModel, ChatStream, ModelId, ModelProfile, PromptKind, TokenCount};
use crate::types::{ChatRequest, ChatResponse};

pub struct ContextGuard {
    inner: Arc<dyn ChatModel>,
    window: u64,
}

/// A compact-profile model runs in process: it counts its own tokens without a round trip, and
/// its runtime's window is a hard limit.
fn in_process(profile: &ModelProfile) -> bool {
    profile.prompt == PromptKind::Compact
}

/// A request's input tokens as the guard counts them: exactly for the local model (its own
/// tokenizer, no network), the local estimate for provider models (never a count endpoint's
/// round trip).
pub async fn preflight_count(
    model: &dyn ChatModel,
    req: &ChatRequest,
) -> Result<TokenCount, LlmError> {
    let profile = model.profile();
    if in_process(&profile) {
        model.count_tokens(req).await
    } else {
        Ok(crate::tokens::estimate_request(&profile.id, req))
    }
}

impl ContextGuard {
    /// `window` in tokens; see [`crate::tokens::context_window`] for the known defaults.
    pub fn new(inner: Arc<dyn ChatModel>, window: u64) -> Self {
        ContextGuard { inner, window }
    }

    /// The window this guard enforces.
    async fn window(&self) -> Result<u64, LlmError> {
        if in_process(&self.inner.profile()) {
            if let Some(hard) = self.inner.context_window().await? {
                return Ok(self.window.min(hard));
            }
        }
        Ok(self.window)
    }

    async fn check(&self, req: &ChatRequest) -> Result<(), LlmError> {
        let id = self.inner.id();
        let count = preflight_count(self.inner.as_ref(), req).await?;
        let window = self.window().await?;
        let output = req.max_output_tokens.unwrap_or(0) as u64;
        if count.tokens.saturating_add(output) > window {
            return Err(LlmError::ContextTooLong {
                model: id.to_string(),
                tokens: count.tokens,
                limit: window,
                output,
                estimated: !count.exact,
            });
        }
        Ok(())
    }
}

#[async_trait]
impl ChatModel for ContextGuard {
    fn id(&self) -> ModelId {
        self.inner.id()
    }
    /// The inner profile, with the window this guard enforces (capped by the inner's static
    /// window for an in-process model, as [`ChatModel::context_window`] caps it by the real one).
    fn profile(&self) -> ModelProfile {
        let mut p = self.inner.profile();
        p.context_window = Some(match p.context_window {
            Some(hard) if in_process(&p) => self.window.min(hard),
            _ => self.window,
        });
        p
    }
    async fn chat(&self, req: &ChatRequest) -> Result<ChatResponse, LlmError> {
        self.check(req).await?;
        self.inner.chat(req).await
    }
    async fn stream(&self, req: &ChatRequest) -> Result<ChatStream, LlmError> {
        self.check(req).await?;
        self.inner.stream(req).await
    }
    async fn count_tokens(&self, req: &ChatRequest) -> Result<TokenCount, LlmError> {
        self.inner.count_tokens(req).await
    }
    async fn context_window(&self) -> Result<Option<u64>, LlmError> {
        self.window().await.map(Some)
    }
}
