//! The seams where implementations plug in: every trait of the pipeline, in one place.

pub use crate::embed::{AsyncEmbedder, BlockingEmbedder, EmbedError, Embedder};
pub use crate::rerank::{RerankError, Reranker};
pub use crate::store::VectorStore;

/// Counts tokens the way a given model does, so chunk sizes and budgets mean the same thing
/// as the model's limits.
pub trait TokenCounter: Send + Sync {
    /// Tokens in `text`, without special tokens.
    fn count_tokens(&self, text: &str) -> usize;
}
