//! Domain types and traits shared by every cairn crate.
//!
//! The core knows no provider, no store and no model file: it only names the things that
//! flow between them (documents, chunks, hits, filters) and the seams where implementations
//! plug in: [`Embedder`] and [`AsyncEmbedder`], [`Reranker`], [`VectorStore`],
//! [`TokenCounter`]; every error says what kind of failure it is ([`Classify`]).
//!
//! ```
//! use std::sync::Arc;
//! use cairn_core::{AsyncEmbedder, BlockingEmbedder, EmbedError, Embedder, Filter, Metadata};
//!
//! // A seam takes a few lines to implement: here a (very) small embedding model.
//! struct FirstLetter;
//! impl Embedder for FirstLetter {
//!     fn model_id(&self) -> &str { "first-letter" }
//!     fn dim(&self) -> usize { 2 }
//!     fn max_tokens(&self) -> usize { 512 }
//!     fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
//!         Ok(texts
//!             .iter()
//!             .map(|t| if t.starts_with('a') { vec![1.0, 0.0] } else { vec![0.0, 1.0] })
//!             .collect())
//!     }
//! }
//!
//! // A blocking (CPU) model awaited from async code runs on tokio's blocking pool.
//! let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
//! let embedder = BlockingEmbedder::new(Arc::new(FirstLetter));
//! let vectors = rt.block_on(embedder.embed(&["apple", "pear"])).unwrap();
//! assert_eq!(vectors, vec![vec![1.0, 0.0], vec![0.0, 1.0]]);
//!
//! // Filters match metadata the way every store applies them.
//! let filter = Filter::parse(&["lang=en"]).unwrap();
//! let mut meta = Metadata::new();
//! meta.insert("lang".into(), "en".into());
//! assert!(filter.matches(&meta));
//! ```

pub mod blocking;
pub mod embed;
pub mod error;
pub mod filter;
mod filter_parse;
pub mod rerank;
pub mod store;
pub mod traits;
pub mod types;

/// Re-exported so implementations of the async seams need no dependency of their own.
pub use async_trait::async_trait;
pub use blocking::run_blocking;
pub use embed::{AsyncEmbedder, BlockingEmbedder, EmbedError, Embedder};
pub use error::{ClassifiedError, Classify, ErrorClass};
pub use filter::{parse_date, CmpOp, Filter, FilterValue};
pub use filter_parse::FilterParseError;
pub use rerank::{RerankError, Reranker};
pub use store::{
    ChunkVector, CollectionInfo, DocumentEntry, DocumentUpsert, StoreHit, StoredChunk, VectorStore,
    VectorStoreError,
};
pub use traits::TokenCounter;
pub use types::{Chunk, Document, Hit, Metadata, RetrieverScores};
