//! cairn's [`cairn_core::VectorStore`] over the databases a team already runs. Each backend is
//! a cargo feature and one module that maps cairn's requests and filters to the service's API
//! and its answers and errors back; the embedded index (`cairn_store`) stays the default.
//!
//! Every adapter passes the conformance suite (`cairn_store::conformance`) against a real
//! server where one can run here (Postgres with pgvector, Chroma), and against recorded
//! request/response pairs that follow the published API reference where none can (Qdrant,
//! Pinecone, Weaviate).

pub mod migrate;
pub mod store_url;

pub use store_url::{RestKind, StoreUrl, StoreUrlError};

#[cfg(feature = "http")]
pub mod http;

#[cfg(feature = "postgres")]
pub mod postgres;

#[cfg(feature = "chroma")]
pub mod chroma;

#[cfg(feature = "pinecone")]
pub mod pinecone;
#[cfg(feature = "qdrant")]
pub mod qdrant;
#[cfg(feature = "weaviate")]
pub mod weaviate;
