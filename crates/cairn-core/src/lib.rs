//! Domain types and traits shared by every cairn crate.
//!
//! The core knows no provider, no store and no model file: it only names the things that
//! flow between them (documents, chunks, hits) and the seams where implementations plug in.

pub mod error;
pub mod filter;
pub mod traits;
pub mod types;

pub use error::{Classify, ErrorClass};
pub use filter::{Filter, FilterParseError};
pub use traits::{EmbedError, Embedder, TokenCounter};
pub use types::{Chunk, Document, Hit, Metadata, RetrieverScores};
