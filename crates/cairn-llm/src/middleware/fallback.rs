//! A chain of models: when one fails (permanently, or after its own retries), the next one
//! gets the same request. A stream that already yielded output before its model gave up is
//! restarted on the next model with a `Restart` event, never stitched together.
//!
//! The answer says which model gave it: `ChatResponse::served.model`, and one final
//! `ChatEvent::Served` after a stream's `Finish` (the answering model's own, or one naming it).

use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;

use crate::error::LlmError;
use crate::model::{ChatModel, ChatStream, ModelId, ModelProfile, TokenCount};
use crate::types::{ChatEvent, ChatRequest, ChatResponse, Served};

pub struct Fallback {
    models: Vec<Arc<dyn ChatModel>>,
}

impl Fallback {
    /// `models` must not be empty; the first is the primary.
    pub fn new(models: Vec<Arc<dyn ChatModel>>) -> Result<Self, LlmError> {
        if models.is_empty() {
            return Err(LlmError::InvalidRequest(
                "a fallback chain needs at least one model".into(),
            ));
        }
        Ok(Fallback { models })
    }
}

fn all_failed(errors: Vec<(String, LlmError)>) -> LlmError {
    let mut errors = errors;
    let (_, last) = errors.pop().expect("at least one error");
    if errors.is_empty() {
        return last;
    }
    LlmError::AllFailed {
        errors: errors
            .into_iter()
            .map(|(m, e)| (m, e.to_string()))
            .collect(),
        last: Box::new(last),
    }
}

#[async_trait]
impl ChatModel for Fallback {
    fn id(&self) -> ModelId {
        self.models[0].id()
    }
    /// The primary's profile, as for `id`.
    fn profile(&self) -> ModelProfile {
        self.models[0].profile()
    }

    async fn chat(&self, req: &ChatRequest) -> Result<ChatResponse, LlmError> {
        let mut errors = Vec::new();
        for m in &self.models {
            match m.chat(req).await {
                Ok(mut r) => {
                    if r.served.model.is_empty() {
                        r.served.model = m.id().to_string();
                    }
                    return Ok(r);
                }
                Err(e) => {
                    tracing::warn!(model = %m.id(), error = %e, "falling back to the next model");
                    errors.push((m.id().to_string(), e));
                }
            }
        }
        Err(all_failed(errors))
    }

    async fn stream(&self, req: &ChatRequest) -> Result<ChatStream, LlmError> {
        let models = self.models.clone();
        let req = req.clone();
        // Open the first model that accepts the request before returning, so setup errors
        // surface from `stream()` itself like any single model's.
        let mut errors = Vec::new();
        let mut start = None;
        for (i, m) in models.iter().enumerate() {
            match m.stream(&req).await {
                Ok(s) => {
                    start = Some((i, s));
                    break;
                }
                Err(e) => errors.push((m.id().to_string(), e)),
            }
        }
        let Some((first, s)) = start else {
            return Err(all_failed(errors));
        };
        Ok(Box::pin(async_stream::stream! {
            let mut errors = errors;
            let mut i = first;
            let mut s = s;
            loop {
                let mut yielded = false;
                let mut failed = None;
                // The answering model's own `Served`, held back until its stream ends.
                let mut held: Option<Served> = None;
                let mut finished = false;
                while let Some(ev) = s.next().await {
                    match ev {
                        Ok(ChatEvent::Served { served }) => held = Some(served),
                        Ok(ev) => {
                            match &ev {
                                ChatEvent::Finish { .. } => finished = true,
                                ChatEvent::Restart { .. } => { held = None; finished = false; }
                                _ => {}
                            }
                            yielded = true;
                            yield Ok(ev);
                        }
                        Err(e) => { failed = Some(e); break; }
                    }
                }
                let Some(err) = failed else {
                    if finished || held.is_some() {
                        let mut served = held.unwrap_or_default();
                        if served.model.is_empty() {
                            served.model = models[i].id().to_string();
                        }
                        yield Ok(ChatEvent::Served { served });
                    }
                    return;
                };
                errors.push((models[i].id().to_string(), err));
                drop(std::mem::replace(&mut s, Box::pin(futures::stream::empty())));
                // Find the next model that opens.
                let mut next = None;
                for (j, m) in models.iter().enumerate().skip(i + 1) {
                    match m.stream(&req).await {
                        Ok(ns) => { next = Some((j, ns)); break; }
                        Err(e) => errors.push((m.id().to_string(), e)),
                    }
                }
                match next {
                    Some((j, ns)) => {
                        if yielded {
                            yield Ok(ChatEvent::Restart {
                                attempt: (j + 1) as u32,
                                reason: format!("{} failed; falling back to {}", models[i].id(), models[j].id()),
                            });
                        }
                        i = j;
                        s = ns;
                    }
                    None => { yield Err(all_failed(std::mem::take(&mut errors))); return; }
                }
            }
        }))
    }

    async fn count_tokens(&self, req: &ChatRequest) -> Result<TokenCount, LlmError> {
        self.models[0].count_tokens(req).await
    }
    /// The primary's window, as for `id` and `count_tokens`.
    async fn context_window(&self) -> Result<Option<u64>, LlmError> {
        self.models[0].context_window().await
    }
}
