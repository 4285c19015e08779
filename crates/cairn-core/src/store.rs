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
use std::collections::{HashMap, HashSet};
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

    /// Refuses a batch before anything is written, with the checks every store makes (the
    /// [`VectorStore`] contract): a document id that is empty or listed twice, a chunk id
    /// that is empty or appears twice in the batch, a chunk whose `doc_id` is not its
    /// document's, a vector that is not `dim` long ([`VectorStoreError::DimensionMismatch`]),
    /// and a vector that is all zeros or holds a value that is not a finite number (cosine
    /// similarity is undefined for it). The first problem found is returned, naming `store`,
    /// the document or chunk and what is wrong; every one but the length is
    /// [`VectorStoreError::InvalidInput`].
    ///
    /// A store that keeps the last copy of a document listed twice passes the batch through
    /// [`DocumentUpsert::last_copies`] first. What needs the store's own state (a chunk id
    /// that a document outside the batch owns) or its own limits (id length, metadata size,
    /// characters it cannot hold) the store checks itself.
    pub fn validate_batch(
        store: &str,
        dim: usize,
        docs: &[DocumentUpsert],
    ) -> Result<(), VectorStoreError> {
        let mut doc_ids: HashSet<&str> = HashSet::with_capacity(docs.len());
        // Each chunk id with the document it was given with, to name both on a repeat.
        let mut chunk_ids: HashMap<&str, &str> = HashMap::new();
        for d in docs {
            let id = d.document.id.as_str();
            if id.is_empty() {
                return Err(VectorStoreError::invalid(
                    store,
                    format!(
                        "a document (source {:?}) has an empty id",
                        d.document.source
                    ),
                ));
            }
            if !doc_ids.insert(id) {
                return Err(VectorStoreError::invalid(
                    store,
                    format!("document {id} appears twice in one batch"),
                ));
            }
            for ChunkVector { chunk, vector } in &d.chunks {
                if chunk.doc_id != id {
                    return Err(VectorStoreError::invalid(
                        store,
                        format!(
                            "chunk {} says it belongs to document {}, but it was given with \
                             document {id}",
                            chunk.id, chunk.doc_id
                        ),
                    ));
                }
                if chunk.id.is_empty() {
                    return Err(VectorStoreError::invalid(
                        store,
                        format!("document {id} has a chunk with an empty id"),
                    ));
                }
                if let Some(first) = chunk_ids.insert(&chunk.id, id) {
                    let given = if first == id {
                        format!("both times in document {id}")
                    } else {
                        format!("in documents {first} and {id}")
                    };
                    return Err(VectorStoreError::invalid(
                        store,
                        format!("chunk id {} appears twice in one batch ({given})", chunk.id),
                    ));
                }
                if vector.len() != dim {
                    return Err(VectorStoreError::DimensionMismatch {
                        store: store.to_string(),
                        what: format!("chunk {}", chunk.id),
                        expected: dim,
                        found: vector.len(),
                    });
                }
                if vector.iter().any(|x| !x.is_finite()) || vector.iter().all(|x| *x == 0.0) {
                    return Err(VectorStoreError::invalid(
                        store,
                        format!(
                            "chunk {}: the vector is all zeros or has a value that is not a \
                             finite number (cosine similarity needs a finite, non-zero vector)",
                            chunk.id
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The batch with only the last copy of each document listed more than once, in the
    /// order of those last copies: for stores where a later copy replaces an earlier one in
    /// the same batch, as a later `upsert` would. [`DocumentUpsert::validate_batch`] refuses
    /// repeats instead.
    pub fn last_copies(docs: Vec<DocumentUpsert>) -> Vec<DocumentUpsert> {
        let mut last: HashMap<&str, usize> = HashMap::with_capacity(docs.len());
        for (i, d) in docs.iter().enumerate() {
            last.insert(&d.document.id, i);
        }
        if last.len() == docs.len() {
            return docs;
        }
        let keep: HashSet<usize> = last.into_values().collect();
        docs.into_iter()
            .enumerate()
            .filter(|(i, _)| keep.contains(i))
            .map(|(_, d)| d)
            .collect()
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
///   duplicate chunk ids are refused before anything is written
///   ([`DocumentUpsert::validate_batch`] makes the checks every store shares).
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

    const DIM: usize = 3;

    fn document(id: &str, chunk_ids: &[&str]) -> DocumentUpsert {
        let document = Document {
            id: id.into(),
            source: format!("{id}.md"),
            title: None,
            kind: "markdown".into(),
            text: String::new(),
            metadata: Default::default(),
        };
        let chunks = chunk_ids
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let chunk = Chunk {
                    id: (*c).into(),
                    doc_id: id.into(),
                    ordinal: i as u32,
                    text: format!("text of {c}"),
                    start: 0,
                    end: 0,
                    heading_path: Vec::new(),
                    context: String::new(),
                    metadata: Default::default(),
                };
                (chunk, vec![0.6, 0.8, 0.0])
            })
            .collect();
        DocumentUpsert::new(document, chunks)
    }

    /// The batch's refusal: its class and message.
    fn refusal(docs: &[DocumentUpsert]) -> (ErrorClass, String) {
        let e = DocumentUpsert::validate_batch("test:docs", DIM, docs).unwrap_err();
        let message = e.to_string();
        assert!(
            message.starts_with("test:docs: "),
            "names the store: {message}"
        );
        (e.class(), message)
    }

    #[test]
    fn a_sound_batch_passes() {
        let docs = [document("a", &["a#0", "a#1"]), document("b", &["b#0"])];
        DocumentUpsert::validate_batch("s", DIM, &docs).unwrap();
        DocumentUpsert::validate_batch("s", DIM, &[]).unwrap();
        // A document without chunks is a document with nothing to search (yet).
        DocumentUpsert::validate_batch("s", DIM, &[document("e", &[])]).unwrap();
    }

    #[test]
    fn a_wrong_length_vector_is_a_dimension_mismatch() {
        let mut docs = [document("a", &["a#0"]), document("b", &["b#0", "b#1"])];
        docs[1].chunks[1].vector.push(0.0);
        let e = DocumentUpsert::validate_batch("test:docs", DIM, &docs).unwrap_err();
        match &e {
            VectorStoreError::DimensionMismatch {
                store,
                what,
                expected,
                found,
            } => {
                assert_eq!(
                    (store.as_str(), what.as_str(), *expected, *found),
                    ("test:docs", "chunk b#1", 3, 4)
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(e.class(), ErrorClass::InvalidInput);
    }

    #[test]
    fn a_chunk_of_another_document_is_refused() {
        let mut docs = [document("a", &["a#0"])];
        docs[0].chunks[0].chunk.doc_id = "z".into();
        let (class, m) = refusal(&docs);
        assert_eq!(class, ErrorClass::InvalidInput);
        assert!(
            m.contains("chunk a#0") && m.contains("document z") && m.contains("document a"),
            "{m}"
        );
    }

    #[test]
    fn repeated_ids_are_refused_naming_where() {
        // Twice in one document.
        let (class, m) = refusal(&[document("a", &["a#0", "a#0"])]);
        assert_eq!(class, ErrorClass::InvalidInput);
        assert!(
            m.contains("chunk id a#0 appears twice") && m.contains("document a"),
            "{m}"
        );
        // In two documents.
        let (_, m) = refusal(&[document("a", &["x"]), document("b", &["x"])]);
        assert!(
            m.contains("chunk id x") && m.contains("documents a and b"),
            "{m}"
        );
        // The same document twice.
        let (class, m) = refusal(&[document("a", &["a#0"]), document("a", &["a#1"])]);
        assert_eq!(class, ErrorClass::InvalidInput);
        assert!(m.contains("document a appears twice"), "{m}");
    }

    #[test]
    fn empty_ids_are_refused() {
        let (class, m) = refusal(&[document("", &[])]);
        assert_eq!(class, ErrorClass::InvalidInput);
        assert!(m.contains("empty id") && m.contains(".md"), "{m}");
        let mut docs = [document("a", &["a#0"])];
        docs[0].chunks[0].chunk.id = String::new();
        let (_, m) = refusal(&docs);
        assert!(m.contains("document a has a chunk with an empty id"), "{m}");
    }

    #[test]
    fn zero_and_non_finite_vectors_are_refused() {
        for bad in [
            vec![0.0, 0.0, 0.0],
            vec![0.0, f32::NAN, 1.0],
            vec![f32::INFINITY, 0.0, 0.0],
            vec![1.0, f32::NEG_INFINITY, 0.0],
        ] {
            let mut docs = [document("a", &["a#0", "a#1"])];
            docs[0].chunks[1].vector = bad.clone();
            let (class, m) = refusal(&docs);
            assert_eq!(class, ErrorClass::InvalidInput, "{bad:?}");
            assert!(m.contains("chunk a#1") && m.contains("all zeros"), "{m}");
        }
        // Not unit length is fine: stores normalise or compare by angle.
        let mut docs = [document("a", &["a#0"])];
        docs[0].chunks[0].vector = vec![3.0, 0.0, -4.0];
        DocumentUpsert::validate_batch("s", DIM, &docs).unwrap();
    }

    #[test]
    fn the_first_problem_is_reported() {
        let mut docs = [document("a", &["a#0"]), document("b", &["b#0"])];
        docs[0].chunks[0].vector = vec![0.0; 3];
        docs[1].chunks[0].vector = vec![1.0];
        let (_, m) = refusal(&docs);
        assert!(m.contains("chunk a#0") && m.contains("all zeros"), "{m}");
    }

    #[test]
    fn last_copies_keep_each_documents_last_copy_in_order() {
        let docs = vec![
            document("a", &["a#0"]),
            document("b", &["b#0"]),
            document("a", &["a#0", "a#1"]),
            document("c", &["c#0"]),
            document("b", &["b#9"]),
        ];
        let kept = DocumentUpsert::last_copies(docs);
        let ids: Vec<(&str, usize)> = kept
            .iter()
            .map(|d| (d.document.id.as_str(), d.chunks.len()))
            .collect();
        assert_eq!(ids, [("a", 2), ("c", 1), ("b", 1)]);
        assert_eq!(kept[2].chunks[0].chunk.id, "b#9");
        // An earlier copy's chunks are not the batch's: a#0 is not repeated.
        DocumentUpsert::validate_batch("s", DIM, &kept).unwrap();
        // Without repeats, nothing changes.
        let docs = vec![document("a", &["a#0"]), document("b", &["b#0"])];
        assert_eq!(DocumentUpsert::last_copies(docs.clone()), docs);
    }
}
