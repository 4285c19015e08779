//! The store seam: where chunks and their vectors are kept and searched. The embedded index
//! (`cairn_store::EmbeddedStore`) implements it, and so do the database adapters (Postgres
//! with pgvector, Chroma, Qdrant, Pinecone, Weaviate), so the pipeline above never names one.
//!
//! Everything here speaks in stable ids (`Chunk::id`, `Document::id`) and scores, never in a
//! store's internal positions, and every store passes the same conformance suite
//! (`cairn_store::conformance`, feature `conformance`).

use crate::error::{ClassifiedError, Classify, ErrorClass};
use crate::filter::Filter;
use crate::types::{Chunk, Document, Hit, RetrieverScores};
use std::sync::Arc;

/// What a collection was built with. A query vector must come from the same model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionInfo {
    /// The store's name for the collection: a folder, a schema, a collection name.
    pub name: String,
    /// The embedding model its vectors came from ([`crate::Embedder::model_id`]).
    pub model: String,
    /// The length of every vector it holds.
    pub dim: usize,
}

/// A chunk with its embedding (L2-normalised, `CollectionInfo::dim` long).
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkVector {
    pub chunk: Chunk,
    pub vector: Vec<f32>,
}

/// One document to write with all of its chunks. Upserting a document replaces every chunk
/// it had, so writing the same document twice leaves one copy.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentUpsert {
    pub document: Document,
    /// Every chunk's `doc_id` is `document.id`; chunk ids are unique across the collection.
    pub chunks: Vec<ChunkVector>,
    /// The ingest pipeline's content hash (unchanged documents are skipped on the next run);
    /// kept by stores that can.
    pub content_hash: Option<String>,
    /// The file the document came from, when it differs from `document.source` (pruning
    /// removed files keys on it).
    pub origin: Option<String>,
}

impl DocumentUpsert {
    pub fn new(document: Document, chunks: Vec<(Chunk, Vec<f32>)>) -> Self {
        DocumentUpsert {
            document,
            chunks: chunks
                .into_iter()
                .map(|(chunk, vector)| ChunkVector { chunk, vector })
                .collect(),
            content_hash: None,
            origin: None,
        }
    }
}

/// A document as a store lists it: what an ingest compares, what a migration resumes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentEntry {
    pub id: String,
    /// As given on upsert ([`DocumentUpsert::content_hash`]).
    pub content_hash: Option<String>,
    /// As given on upsert ([`DocumentUpsert::origin`]).
    pub origin: Option<String>,
    /// How many chunks it has.
    pub chunks: usize,
}

/// A chunk read back by id, with what a citation shows of its document.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredChunk {
    /// Its `metadata` is the metadata it was written with (the ingest pipeline gives each
    /// chunk its document's metadata; the embedded store keeps it once per document).
    pub chunk: Chunk,
    pub source: String,
    pub title: Option<String>,
    /// The stored vector, when asked for.
    pub vector: Option<Vec<f32>>,
}

/// One query result.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreHit {
    /// Dense queries: the cosine similarity of the query and the chunk's vector, in
    /// `[-1, 1]` (1 = same direction). Adapters over a distance (pgvector's `<=>`, Chroma's
    /// cosine space) report `1 - distance`. Lexical queries: a relevance score `>= 0` (BM25;
    /// on Postgres over its own lexemes), comparable within one query only.
    pub score: f32,
    pub chunk: Chunk,
    pub source: String,
    pub title: Option<String>,
    /// The stored vector, when the query asked for it (MMR needs it).
    pub vector: Option<Vec<f32>>,
}

impl StoreHit {
    pub fn chunk_id(&self) -> &str {
        &self.chunk.id
    }

    pub fn doc_id(&self) -> &str {
        &self.chunk.doc_id
    }

    /// As a pipeline [`Hit`] at 1-based `rank`, from a dense query.
    pub fn into_dense_hit(self, rank: usize) -> Hit {
        let scores = RetrieverScores {
            dense: Some(self.score),
            dense_rank: Some(rank),
            ..Default::default()
        };
        self.into_hit(rank, scores)
    }

    /// As a pipeline [`Hit`] at 1-based `rank`, from a lexical query.
    pub fn into_lexical_hit(self, rank: usize) -> Hit {
        let scores = RetrieverScores {
            bm25: Some(self.score),
            bm25_rank: Some(rank),
            ..Default::default()
        };
        self.into_hit(rank, scores)
    }

    fn into_hit(self, rank: usize, scores: RetrieverScores) -> Hit {
        Hit {
            rank,
            score: self.score,
            scores,
            chunk: self.chunk,
            source: self.source,
            title: self.title,
        }
    }
}

/// Why a store operation failed. Every variant names the store (`VectorStore::name`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VectorStoreError {
    /// This store cannot do it (full-text search, a filter operator it cannot express).
    #[error("{store}: {operation} is not supported by this store")]
    Unsupported { store: String, operation: String },
    /// A vector of the wrong length; nothing was written.
    #[error(
        "{store}: the collection holds {expected}-dimensional vectors, but {what} has {found} \
         dimensions (was it embedded with another model?)"
    )]
    DimensionMismatch {
        store: String,
        what: String,
        expected: usize,
        found: usize,
    },
    /// The request is wrong (a chunk of another document, a duplicate chunk id); nothing was
    /// written.
    #[error("{store}: {message}")]
    InvalidInput { store: String, message: String },
    /// The collection (or what the operation needs) does not exist.
    #[error("{store}: {what} not found")]
    NotFound { store: String, what: String },
    /// The store did not answer or refused for now (connection refused, timeout, 5xx, a
    /// writer holding the lock): worth retrying.
    #[error("{store}: {message}")]
    Unavailable { store: String, message: String },
    /// Credentials missing or refused.
    #[error("{store}: {message}")]
    Auth { store: String, message: String },
    /// The engine's own error, with the class it had.
    #[error("{store}: {error}")]
    Backend {
        store: String,
        error: ClassifiedError,
    },
}

impl VectorStoreError {
    /// Wraps an engine's error, keeping its class.
    pub fn backend<E>(store: impl Into<String>, e: E) -> Self
    where
        E: std::error::Error + Classify + Send + Sync + 'static,
    {
        VectorStoreError::Backend {
            store: store.into(),
            error: ClassifiedError::new(e),
        }
    }

    pub fn unsupported(store: impl Into<String>, operation: impl Into<String>) -> Self {
        VectorStoreError::Unsupported {
            store: store.into(),
            operation: operation.into(),
        }
    }

    pub fn invalid(store: impl Into<String>, message: impl Into<String>) -> Self {
        VectorStoreError::InvalidInput {
            store: store.into(),
            message: message.into(),
        }
    }
}

impl Classify for VectorStoreError {
    fn class(&self) -> ErrorClass {
        match self {
            VectorStoreError::Unsupported { .. } => ErrorClass::Unsupported,
            VectorStoreError::DimensionMismatch { .. } | VectorStoreError::InvalidInput { .. } => {
                ErrorClass::InvalidInput
            }
            VectorStoreError::NotFound { .. } => ErrorClass::NotFound,
            VectorStoreError::Unavailable { .. } => ErrorClass::Transient,
            VectorStoreError::Auth { .. } => ErrorClass::Auth,
            VectorStoreError::Backend { error, .. } => error.class(),
        }
    }
}

/// A collection of chunks with their vectors: the embedded index, or a database.
///
/// The contract every implementation keeps (and `cairn_store::conformance` checks):
/// - **Ids, not positions.** Chunks are named by `Chunk::id`, documents by `Document::id`.
/// - **Upsert replaces.** Writing a document removes every chunk it had before, so re-running
///   an ingest never duplicates; each `upsert` call is one batch (the embedded store and
///   Postgres write it in one transaction; stores without transactions say what a failure
///   leaves). Vectors of the wrong length, chunks whose `doc_id` is not their document's and
///   duplicate chunk ids are refused before anything is written.
/// - **Dense queries** return at most `k` hits (fewer when fewer chunks match; none for
///   `k == 0`), best first by cosine similarity in `[-1, 1]`, each chunk at most once, only
///   chunks whose metadata the filter matches ([`Filter::matches`]), with their vectors when
///   `with_vectors` is set. Exact or approximate: an approximate index documents its recall.
/// - **Metadata** round-trips as written: unicode keys and values, JSON types kept.
#[async_trait::async_trait]
pub trait VectorStore: Send + Sync {
    /// The store and collection, for messages: `embedded:/srv/.cairn`, `postgres:docs`.
    fn name(&self) -> String;

    async fn info(&self) -> Result<CollectionInfo, VectorStoreError>;

    /// Writes documents with their chunks and vectors, each replacing the document's earlier
    /// chunks (idempotent).
    async fn upsert(&self, docs: Vec<DocumentUpsert>) -> Result<(), VectorStoreError>;

    /// Removes a document and all its chunks; a document that is not there is not an error.
    async fn delete_document(&self, doc_id: &str) -> Result<(), VectorStoreError>;

    /// The `k` chunks nearest to `vector` (L2-normalised, `dim` long) among those `filter`
    /// matches, best first.
    async fn query(
        &self,
        vector: &[f32],
        k: usize,
        filter: &Filter,
        with_vectors: bool,
    ) -> Result<Vec<StoreHit>, VectorStoreError>;

    /// Full-text search, for stores that have it (so hybrid search runs inside the engine):
    /// the `k` best chunks for `text`, best first. Others answer
    /// [`VectorStoreError::Unsupported`] (classified [`ErrorClass::Unsupported`]).
    async fn query_lexical(
        &self,
        text: &str,
        k: usize,
        filter: &Filter,
    ) -> Result<Vec<StoreHit>, VectorStoreError> {
        let _ = (text, k, filter);
        Err(VectorStoreError::unsupported(
            self.name(),
            "lexical (full-text) search",
        ))
    }

    /// The chunks with these ids, in the order asked; ids that are not stored are left out.
    async fn get(
        &self,
        ids: &[&str],
        with_vectors: bool,
    ) -> Result<Vec<StoredChunk>, VectorStoreError>;

    /// How many chunks the collection holds.
    async fn count(&self) -> Result<u64, VectorStoreError>;

    /// Every document with its content hash, origin and chunk count, in ascending id order.
    async fn documents(&self) -> Result<Vec<DocumentEntry>, VectorStoreError>;

    /// Up to `limit` whole documents (the document, every chunk with its vector, the content
    /// hash and origin, exactly as upserted) in ascending id order, starting after the id
    /// `after` (exclusive; `None` from the start). A page shorter than `limit` is the last.
    /// What `cairn index migrate` copies between stores without re-embedding.
    async fn scan(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DocumentUpsert>, VectorStoreError>;

    /// Called once a bulk write (an ingest, a migration) is done: builds now what the first
    /// query would otherwise build (Postgres' HNSW index), so that query does not wait. Does
    /// nothing by default.
    async fn finish_writes(&self) -> Result<(), VectorStoreError> {
        Ok(())
    }
}

macro_rules! forward_store {
    ($ptr:ident) => {
        #[async_trait::async_trait]
        impl<T: VectorStore + ?Sized> VectorStore for $ptr<T> {
            fn name(&self) -> String {
                (**self).name()
            }
            async fn info(&self) -> Result<CollectionInfo, VectorStoreError> {
                (**self).info().await
            }
            async fn upsert(&self, docs: Vec<DocumentUpsert>) -> Result<(), VectorStoreError> {
                (**self).upsert(docs).await
            }
            async fn delete_document(&self, doc_id: &str) -> Result<(), VectorStoreError> {
                (**self).delete_document(doc_id).await
            }
            async fn query(
                &self,
                vector: &[f32],
                k: usize,
                filter: &Filter,
                with_vectors: bool,
            ) -> Result<Vec<StoreHit>, VectorStoreError> {
                (**self).query(vector, k, filter, with_vectors).await
            }
            async fn query_lexical(
                &self,
                text: &str,
                k: usize,
                filter: &Filter,
            ) -> Result<Vec<StoreHit>, VectorStoreError> {
                (**self).query_lexical(text, k, filter).await
            }
            async fn get(
                &self,
                ids: &[&str],
                with_vectors: bool,
            ) -> Result<Vec<StoredChunk>, VectorStoreError> {
                (**self).get(ids, with_vectors).await
            }
            async fn count(&self) -> Result<u64, VectorStoreError> {
                (**self).count().await
            }
            async fn documents(&self) -> Result<Vec<DocumentEntry>, VectorStoreError> {
                (**self).documents().await
            }
            async fn scan(
                &self,
                after: Option<&str>,
                limit: usize,
            ) -> Result<Vec<DocumentUpsert>, VectorStoreError> {
                (**self).scan(after, limit).await
            }
            async fn finish_writes(&self) -> Result<(), VectorStoreError> {
                (**self).finish_writes().await
            }
        }
    };
}

forward_store!(Arc);
forward_store!(Box);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_store_and_classify() {
        let e = VectorStoreError::unsupported("chroma:docs", "lexical (full-text) search");
        assert_eq!(e.class(), ErrorClass::Unsupported);
        assert!(e.to_string().starts_with("chroma:docs: lexical"), "{e}");
        let e = VectorStoreError::DimensionMismatch {
            store: "x".into(),
            what: "chunk a#0".into(),
            expected: 384,
            found: 768,
        };
        assert_eq!(e.class(), ErrorClass::InvalidInput);
        assert!(e.to_string().contains("384") && e.to_string().contains("768"));
        let e = VectorStoreError::Unavailable {
            store: "postgres:docs".into(),
            message: "connection refused".into(),
        };
        assert!(e.class().is_retryable());
    }
}
