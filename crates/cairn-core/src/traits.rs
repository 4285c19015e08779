//! The seams where implementations plug in.

use crate::error::{Classify, ErrorClass};

/// Counts tokens the way a given model does, so chunk sizes and budgets mean the same thing
/// as the model's limits.
pub trait TokenCounter: Send + Sync {
    /// Tokens in `text`, without special tokens.
    fn count_tokens(&self, text: &str) -> usize;
}

#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error("tokenizing failed: {0}")]
    Tokenize(String),
    #[error("the embedding model failed: {0}")]
    Model(String),
}

impl Classify for EmbedError {
    fn class(&self) -> ErrorClass {
        match self {
            EmbedError::Tokenize(_) => ErrorClass::InvalidInput,
            EmbedError::Model(_) => ErrorClass::Internal,
        }
    }
}

/// Turns texts into vectors. Implementations batch internally; callers pass what they have.
pub trait Embedder: Send + Sync {
    /// A stable name for the model, recorded in the index so a mismatched query model is caught.
    fn model_id(&self) -> &str;
    fn dim(&self) -> usize;
    /// The longest input in tokens, special tokens included, that the model reads.
    fn max_tokens(&self) -> usize;
    /// One L2-normalised vector per text, in order.
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError>;
}
