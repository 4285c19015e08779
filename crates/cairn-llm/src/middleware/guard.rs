//! Refuses a request that cannot fit the model's context window before it is sent: the local
//! token count (plus the requested output budget) against the window.

use std::sync::Arc;

use async_trait::async_trait;

use crate::error::LlmError;
use crate::model::{ChatModel, ChatStream, ModelId, TokenCount};
use crate::types::{ChatRequest, ChatResponse};

pub struct ContextGuard {
    inner: Arc<dyn ChatModel>,
    window: u64,
}

impl ContextGuard {
    /// `window` in tokens; see [`crate::tokens::context_window`] for the known defaults.
    pub fn new(inner: Arc<dyn ChatModel>, window: u64) -> Self {
        ContextGuard { inner, window }
    }

    fn check(&self, req: &ChatRequest) -> Result<(), LlmError> {
        let id = self.inner.id();
        let count = crate::tokens::estimate_request(&id, req);
        let limit = self
            .window
            .saturating_sub(req.max_output_tokens.unwrap_or(0) as u64);
        if count.tokens > limit {
            return Err(LlmError::ContextTooLong {
                model: id.to_string(),
                tokens: count.tokens,
                limit,
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
    async fn chat(&self, req: &ChatRequest) -> Result<ChatResponse, LlmError> {
        self.check(req)?;
        self.inner.chat(req).await
    }
    async fn stream(&self, req: &ChatRequest) -> Result<ChatStream, LlmError> {
        self.check(req)?;
        self.inner.stream(req).await
    }
    async fn count_tokens(&self, req: &ChatRequest) -> Result<TokenCount, LlmError> {
        self.inner.count_tokens(req).await
    }
}
