//! Token counting with a Hugging Face tokenizer.

use cairn_core::TokenCounter;
use tokenizers::Tokenizer;

/// Counts tokens exactly as the embedding model sees them (special tokens excluded).
pub struct HfTokenCounter {
    tokenizer: Tokenizer,
}

impl HfTokenCounter {
    /// Takes a tokenizer and removes its padding and truncation, which would cap the count.
    pub fn new(mut tokenizer: Tokenizer) -> Self {
        tokenizer.with_padding(None);
        let _ = tokenizer.with_truncation(None);
        HfTokenCounter { tokenizer }
    }
}

impl TokenCounter for HfTokenCounter {
    fn count_tokens(&self, text: &str) -> usize {
        self.tokenizer
            .encode_fast(text, false)
            .map(|e| e.len())
            // A text the tokenizer rejects is still bounded by its length in bytes.
            .unwrap_or(text.len())
    }
}
