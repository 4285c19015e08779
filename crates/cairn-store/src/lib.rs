//! The embedded index: SQLite (WAL) is the system of record; the BM25 and vector indexes are
//! derived from it, stamped with the generation they reflect, checksummed, and rebuilt when
//! stale or damaged. Readers open SQLite read-only.

pub mod bm25;
mod cache;
pub mod codec;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod db;
pub mod derived;
pub mod error;
pub mod hnsw;
pub mod lexer;
mod pool;
pub mod store;
pub mod topk;
pub mod vector;

pub use bm25::{Bm25Index, Bm25Params};
pub use cache::checksum;
pub use db::{DocWrite, Index, IndexInfo, ReadMode, StoredDoc};
pub use derived::{Searcher, SearcherOptions};
pub use error::StoreError;
pub use store::EmbeddedStore;
pub use vector::FlatIndex;
