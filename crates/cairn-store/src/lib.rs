//! The embedded index: SQLite (WAL) is the system of record; the BM25 and vector indexes are
//! derived from it, stamped with the generation they reflect, checksummed, and rebuilt when
//! stale or damaged. Readers open SQLite read-only.
//!
//! Write chunks with their vectors once, then search them densely or by BM25 from a folder:
//!
//! ```
//! use cairn_core::{Chunk, Document, Metadata};
//! use cairn_store::{DocWrite, Index, Searcher};
//! # fn doc(id: &str, text: &str, vector: Vec<f32>) -> DocWrite {
//! #     let (meta, text) = (Metadata::new(), text.to_string());
//! #     let chunk = Chunk { id: format!("{id}#0"), doc_id: id.into(), ordinal: 0, start: 0,
//! #         end: text.len(), text: text.clone(), heading_path: vec![], context: String::new(),
//! #         metadata: meta.clone() };
//! #     let doc = Document { id: id.into(), source: format!("{id}.txt"), title: None,
//! #         kind: "text".into(), text, metadata: meta };
//! #     let chunks = vec![(chunk, vector)];
//! #     DocWrite { doc, origin: format!("{id}.txt"), hash: id.into(), chunks }
//! # }
//! let dir = tempfile::tempdir().unwrap();
//! let mut index = Index::open_for_write(dir.path(), "toy-embedder", 2).unwrap();
//! let docs = [doc("a", "cairns mark the trail", vec![1.0, 0.0]),
//!             doc("b", "bring water and a map", vec![0.0, 1.0])];
//! index.write_batch(&docs, &[]).unwrap();
//!
//! let searcher = Searcher::open(dir.path()).unwrap();
//! let dense = searcher.dense(&[0.8, 0.6], 2, None);
//! assert_eq!((searcher.len(), searcher.doc_id(dense[0].0)), (2, "a"));
//! let lexical = searcher.bm25("water", 2, None);
//! assert_eq!(lexical.len(), 1);
//! assert_eq!(searcher.doc_id(lexical[0].0), "b");
//! ```

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
