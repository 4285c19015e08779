//! Token counting. OpenAI models: tiktoken with the model's own encoding (o200k_base for the
//! 4o / 4.1 / o-series / 5 families, cl100k_base for older ones) plus the chat format's
//! per-message overhead, which matches what the API bills to within a few tokens. Other
//! providers: their count endpoints (`ChatModel::count_tokens`); locally, the same o200k count
//! stands in as a documented estimate — Claude's and Gemini's tokenisers produce counts of the
//! same order for English text, and the estimate is only used to refuse requests that are
//! clearly over the window before a round trip.

use std::sync::OnceLock;

use tiktoken_rs::CoreBPE;

use crate::model::{ModelId, TokenCount};
use crate::types::{ChatRequest, ContentPart};

fn o200k() -> &'static CoreBPE {
    static B: OnceLock<CoreBPE> = OnceLock::new();
    B.get_or_init(|| tiktoken_rs::o200k_base().expect("o200k_base is bundled"))
}

fn cl100k() -> &'static CoreBPE {
    static B: OnceLock<CoreBPE> = OnceLock::new();
    B.get_or_init(|| tiktoken_rs::cl100k_base().expect("cl100k_base is bundled"))
}

fn bpe_for(model: &str) -> (&'static CoreBPE, bool) {
    let older = ["gpt-4-", "gpt-4", "gpt-3.5", "text-embedding"];
    let newer = [
        "gpt-4o",
        "gpt-4.1",
        "gpt-4.5",
        "gpt-5",
        "o1",
        "o3",
        "o4",
        "chatgpt-4o",
    ];
    if newer.iter().any(|p| model.starts_with(p)) {
        (o200k(), true)
    } else if older.iter().any(|p| model.starts_with(p)) {
        (cl100k(), true)
    } else {
        (o200k(), false)
    }
}

/// Tokens of plain text with the encoding of `model` (o200k when unknown).
pub fn count_text(model: &str, text: &str) -> usize {
    bpe_for(model).0.encode_ordinary(text).len()
}

/// Tokens of prompt text for budgeting: exact (tiktoken) for OpenAI models, and for other
/// providers the o200k count plus 25 %, so a budget holds for their tokenizers too.
pub fn budget_count(id: &ModelId, text: &str) -> usize {
    #[cfg(feature = "local")]
    if id.provider == "local" {
        // The in-process model's own tokenizer: exact.
        if let Ok(n) = crate::providers::local::shared(&id.name).and_then(|m| {
            m.encode(text)
                .map_err(|e| crate::LlmError::InvalidRequest(e.to_string()))
        }) {
            return n.len();
        }
    }
    let n = count_text(&id.name, text);
    if id.provider == "openai" {
        n
    } else {
        n + n / 4
    }
}

/// An image costs at most this many tokens at high detail on OpenAI; used as the estimate.
const IMAGE_TOKENS: u64 = 765;

/// Input tokens of a request: exact for OpenAI models (within the chat format's few-token
/// slack), an estimate elsewhere.
pub fn estimate_request(id: &ModelId, req: &ChatRequest) -> TokenCount {
    let (bpe, known) = bpe_for(&id.name);
    let exact = known && id.provider == "openai";
    let mut n: u64 = 3; // every reply is primed with <|start|>assistant<|message|>
    for m in &req.messages {
        n += 3;
        for p in &m.content {
            n += match p {
                ContentPart::Text { text } => bpe.encode_ordinary(text).len() as u64,
                ContentPart::Image { .. } => IMAGE_TOKENS,
            };
        }
        for c in &m.tool_calls {
            n += bpe.encode_ordinary(&c.name).len() as u64
                + bpe.encode_ordinary(&c.arguments.to_string()).len() as u64
                + 3;
        }
    }
    for t in &req.tools {
        let json = serde_json::json!({"name": t.name, "description": t.description, "parameters": t.parameters});
        n += bpe.encode_ordinary(&json.to_string()).len() as u64;
    }
    if let Some(f) = &req.response_format {
        n += bpe.encode_ordinary(&f.schema.to_string()).len() as u64;
    }
    TokenCount {
        tokens: n,
        exact: exact && req.tools.is_empty() && req.response_format.is_none(),
    }
}

/// Context windows (input + output) of well-known models, by longest name prefix. A local
/// model (`local:…`) can hold at most the runtime's positions
/// ([`cairn_models::gguf::RUNTIME_MAX_POSITIONS`], 4096; Qwen2
/// [`cairn_models::gguf::QWEN2_MAX_POSITIONS`], 8192); its exact window, which a smaller
/// `llama.context_length` can lower, comes from [`crate::ChatModel::context_window`] once
/// the file is loaded. (Built without the `local` feature there are no local models; a
/// `local:` id then gets the table's answer.)
pub fn context_window(id: &ModelId) -> Option<u64> {
    #[cfg(feature = "local")]
    if id.provider == "local" {
        let qwen = id.name.to_ascii_lowercase().contains("qwen");
        return Some(if qwen {
            cairn_models::gguf::QWEN2_MAX_POSITIONS as u64
        } else {
            cairn_models::gguf::RUNTIME_MAX_POSITIONS as u64
        });
    }
    const TABLE: &[(&str, u64)] = &[
        ("gpt-4o", 128_000),
        ("gpt-4.1", 1_047_576),
        ("gpt-5", 400_000),
        ("o1", 200_000),
        ("o3", 200_000),
        ("o4-mini", 200_000),
        ("gpt-4-turbo", 128_000),
        ("gpt-3.5-turbo", 16_385),
        ("claude-", 200_000),
        ("gemini-2.5", 1_048_576),
        ("gemini-3", 1_048_576),
        ("gemini-2.0", 1_048_576),
        ("smollm2", 8_192),
    ];
    TABLE
        .iter()
        .filter(|(p, _)| id.name.starts_with(p))
        .max_by_key(|(p, _)| p.len())
        .map(|(_, w)| *w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Message;

    #[test]
    fn tiktoken_counts_known_strings() {
        // "hello world" is two tokens in both encodings.
        assert_eq!(count_text("gpt-4o", "hello world"), 2);
        assert_eq!(count_text("gpt-3.5-turbo", "hello world"), 2);
        let id = ModelId::new("openai", "gpt-4o-mini");
        let req = ChatRequest::prompt(Some("Be terse."), "hello world");
        let c = estimate_request(&id, &req);
        assert!(c.exact);
        // 3 priming + 2 messages x 3 + "Be terse." (4) + "hello world" (2)
        assert_eq!(
            c.tokens,
            3 + 6 + count_text("gpt-4o", "Be terse.") as u64 + 2
        );
        let c = estimate_request(&ModelId::new("anthropic", "claude-haiku-4-5"), &req);
        assert!(!c.exact);
        let _ = Message::user("x");
    }

    #[test]
    fn windows() {
        assert_eq!(
            context_window(&ModelId::new("openai", "gpt-4o-mini")),
            Some(128_000)
        );
        assert_eq!(
            context_window(&ModelId::new("anthropic", "claude-sonnet-4-5")),
            Some(200_000)
        );
        assert_eq!(context_window(&ModelId::new("ollama", "llama3.2")), None);
        // SmolLM2 was trained for 8192 tokens (Ollama runs it so); candle holds 4096.
        assert_eq!(
            context_window(&ModelId::new("ollama", "smollm2:135m")),
            Some(8_192)
        );
        #[cfg(feature = "local")]
        assert_eq!(
            context_window(&ModelId::new("local", "smollm2-135m-instruct")),
            Some(4_096)
        );
    }
}
