//! Fitting a chat history into a model's window: long sessions drop their oldest turns (never
//! the system prompt, never the newest message) until the request and the output it reserves
//! fit, instead of failing once the history outgrows the model.

use crate::{ChatModel, ChatRequest, LlmError, Role};

/// Output tokens reserved when the request sets no `max_output_tokens` (at most a quarter
/// of the window).
pub const DEFAULT_RESERVE: u64 = 512;

/// `req` with its oldest non-system messages dropped until its input (counted as the context
/// guard counts it, [`crate::middleware::guard::preflight_count`]) plus the output it reserves
/// fits `model`'s context window; returns the request and how many messages were
/// dropped. A model with no known window, or a request that fits, comes back unchanged. When
/// even the system prompt and the newest message do not fit, that shortest request is
/// returned and the model (or its context guard) refuses it with a typed error.
pub async fn fit(
    model: &dyn ChatModel,
    req: &ChatRequest,
) -> Result<(ChatRequest, usize), LlmError> {
    let Some(window) = model.context_window().await? else {
        return Ok((req.clone(), 0));
    };
    let reserve = req
        .max_output_tokens
        .map_or(DEFAULT_RESERVE.min(window / 4), u64::from);
    let mut out = req.clone();
    let mut dropped = 0;
    loop {
        let used = crate::middleware::guard::preflight_count(model, &out)
            .await?
            .tokens;
        if used + reserve <= window {
            return Ok((out, dropped));
        }
        // The oldest message that is neither a system message nor the newest one.
        let last = out.messages.len().saturating_sub(1);
        let Some(i) = (0..last).find(|&i| out.messages[i].role != Role::System) else {
            return Ok((out, dropped));
        };
        out.messages.remove(i);
        dropped += 1;
        // A tool result or an assistant turn left leading the history has lost its question:
        // drop it with the turn it answered.
        while i < out.messages.len().saturating_sub(1)
            && out.messages[i].role != Role::User
            && out.messages[i].role != Role::System
        {
            out.messages.remove(i);
            dropped += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ChatResponse, ChatStream, Message, ModelId, TokenCount};
    use async_trait::async_trait;

    /// A model whose window is 100 tokens and whose messages cost 10 tokens a word (counted
    /// by the model itself, as the local provider is).
    struct Tiny;

    #[async_trait]
    impl ChatModel for Tiny {
        fn id(&self) -> ModelId {
            ModelId::new("local", "tiny")
        }
        async fn chat(&self, _: &ChatRequest) -> Result<ChatResponse, LlmError> {
            unreachable!("not called")
        }
        async fn stream(&self, _: &ChatRequest) -> Result<ChatStream, LlmError> {
            unreachable!("not called")
        }
        async fn count_tokens(&self, req: &ChatRequest) -> Result<TokenCount, LlmError> {
            let words: usize = req
                .messages
                .iter()
                .map(|m| m.text().split_whitespace().count())
                .sum();
            Ok(TokenCount {
                tokens: 10 * words as u64,
                exact: true,
            })
        }
        async fn context_window(&self) -> Result<Option<u64>, LlmError> {
            Ok(Some(100))
        }
    }

    #[tokio::test]
    async fn oldest_turns_go_first_and_the_system_prompt_and_question_stay() {
        let mut req = ChatRequest::new(vec![
            Message::system("be brief"),
            Message::user("one two"),
            Message::assistant("three four"),
            Message::user("five six"),
            Message::assistant("seven"),
            Message::user("last question"),
        ]);
        req.max_output_tokens = Some(20);
        // 11 words = 110 tokens + 20 reserved: the first exchange (4 words) must go.
        let (fit_req, dropped) = fit(&Tiny, &req).await.unwrap();
        assert_eq!(dropped, 2);
        let texts: Vec<String> = fit_req.messages.iter().map(|m| m.text()).collect();
        assert_eq!(texts, ["be brief", "five six", "seven", "last question"]);
        // What fits is untouched.
        let small = ChatRequest::new(vec![Message::user("hi")]);
        assert_eq!(fit(&Tiny, &small).await.unwrap().1, 0);
        // Nothing left to drop: the shortest request comes back for the model to refuse.
        let mut huge = ChatRequest::new(vec![Message::system("s"), Message::user("w ".repeat(50))]);
        huge.max_output_tokens = Some(1);
        let (r, d) = fit(&Tiny, &huge).await.unwrap();
        assert_eq!((r.messages.len(), d), (2, 0));
    }
}
