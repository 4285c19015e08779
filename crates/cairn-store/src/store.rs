//! The embedded index behind cairn-core's [`VectorStore`] trait: [`EmbeddedStore`] writes
//! through [`Index`] (the one writer of an index folder) and reads through a [`Searcher`]
//! snapshot that it moves to the newest generation before every read, so it sees its own
//! writes and those of other processes.
//!
//! SQLite and the derived indexes are blocking, CPU-bound code: every async method runs its
//! work on tokio's blocking pool ([`cairn_core::run_blocking`]).

use crate::db::{DocWrite, Index};
use crate::derived::{Searcher, SearcherOptions};
use crate::error::StoreError;
use cairn_core::{
    async_trait, run_blocking, CollectionInfo, DocumentEntry, DocumentUpsert, Filter, StoreHit,
    StoredChunk, VectorStore, VectorStoreError,
};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// The embedded index (SQLite system of record, derived BM25 / exact / HNSW indexes) as a
/// [`VectorStore`].
///
/// - Dense search is exact below [`SearcherOptions::hnsw_min_chunks`] chunks (20,000 by
///   default) and under selective filters (under 10% of chunks), HNSW above: on the
///   conformance suite's 10k vectors recall@10 is ≥ 0.995 clustered in 384 dimensions and
///   0.997 uniformly random in 32 (uniformly random 384-d directions, which no embedding
///   model produces, give 0.65).
/// - Vectors are stored L2-normalised: a vector that is not is normalised on write (and a
///   query vector before searching), so scores are cosines in `[-1, 1]`; a zero or non-finite
///   vector is refused.
/// - Metadata is kept once per document: a chunk reads back with its document's metadata
///   (what the ingest pipeline gives every chunk), and filters match that.
/// - Lexical search is BM25 over the chunk's context header and text.
/// - Each `upsert` is one SQLite transaction (one generation); a failure writes nothing.
#[derive(Clone)]
pub struct EmbeddedStore {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    name: String,
    model: String,
    dim: usize,
    /// `None` for a read-only store.
    writer: Option<Mutex<Index>>,
    reader: Mutex<Reader>,
}

struct Reader {
    searcher: Searcher,
    /// Chunk id → position in `searcher`, for the generation in `positions_of`.
    positions: HashMap<String, u32>,
    positions_of: Option<u64>,
}

impl Reader {
    /// Moves to the generation SQLite holds now.
    fn refresh(&mut self) -> Result<(), StoreError> {
        self.searcher.refresh()?;
        Ok(())
    }

    fn position(&mut self, id: &str) -> Option<u32> {
        let generation = self.searcher.generation();
        if self.positions_of != Some(generation) {
            self.positions = (0..self.searcher.len() as u32)
                .map(|p| (self.searcher.chunk_id(p).to_string(), p))
                .collect();
            self.positions_of = Some(generation);
        }
        self.positions.get(id).copied()
    }

    fn hit(&self, pos: u32, score: f32, with_vectors: bool) -> Result<StoreHit, StoreError> {
        let (chunk, doc) = self.searcher.chunk(pos)?;
        Ok(StoreHit {
            score,
            chunk,
            source: doc.source,
            title: doc.title,
            vector: with_vectors.then(|| self.searcher.vectors().get(pos).to_vec()),
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Reads retried this many times when a concurrent writer commits between the snapshot's
/// refresh and a chunk read ([`StoreError::Changed`]).
const READ_ATTEMPTS: usize = 4;

impl EmbeddedStore {
    /// Opens (creating if needed) the index in `dir` for reading and writing, with the given
    /// embedding model. Takes the index's writer lock for the store's lifetime.
    pub fn open(dir: &Path, model: &str, dim: usize) -> Result<Self, StoreError> {
        Self::open_with_options(dir, model, dim, SearcherOptions::default())
    }

    /// As [`Self::open`], with the read side's options (the HNSW threshold, cache writing).
    pub fn open_with_options(
        dir: &Path,
        model: &str,
        dim: usize,
        options: SearcherOptions,
    ) -> Result<Self, StoreError> {
        let writer = Index::open_for_write(dir, model, dim)?;
        let searcher = Searcher::open_with_options(dir, options)?;
        Self::assemble(dir, Some(writer), searcher)
    }

    /// Opens an existing index for reading only: writes fail with
    /// [`VectorStoreError::Unsupported`], and nothing in the folder is written.
    pub fn open_read_only(dir: &Path) -> Result<Self, StoreError> {
        let searcher = Searcher::open_read_only(dir)?;
        Self::assemble(dir, None, searcher)
    }

    fn assemble(dir: &Path, writer: Option<Index>, searcher: Searcher) -> Result<Self, StoreError> {
        let info = searcher.info()?;
        Ok(EmbeddedStore {
            inner: Arc::new(Inner {
                dir: dir.to_path_buf(),
                name: format!("embedded:{}", dir.display()),
                model: info.model,
                dim: info.dim,
                writer: writer.map(Mutex::new),
                reader: Mutex::new(Reader {
                    searcher,
                    positions: HashMap::new(),
                    positions_of: None,
                }),
            }),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// True when dense queries go through the HNSW graph now (the index holds at least the
    /// threshold's chunks).
    pub fn uses_hnsw(&self) -> Result<bool, StoreError> {
        let mut r = lock(&self.inner.reader);
        r.refresh()?;
        Ok(r.searcher.uses_hnsw())
    }

    fn err(&self, e: StoreError) -> VectorStoreError {
        VectorStoreError::backend(self.inner.name.clone(), e)
    }

    /// Runs `f` on the blocking pool over a snapshot of the newest generation, retrying when
    /// a concurrent commit changed a chunk it read.
    async fn read<T, F>(&self, f: F) -> Result<T, VectorStoreError>
    where
        T: Send + 'static,
        F: Fn(&mut Reader) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = self.inner.clone();
        run_blocking(move || {
            let mut r = lock(&inner.reader);
            let mut attempt = 0;
            loop {
                r.refresh()?;
                match f(&mut r) {
                    Err(StoreError::Changed { .. }) if attempt + 1 < READ_ATTEMPTS => attempt += 1,
                    other => return other,
                }
            }
        })
        .await
        .map_err(|e| self.err(e))
    }

    /// The query vector as the index holds vectors: `dim` long, finite, unit length.
    fn query_vector(&self, vector: &[f32]) -> Result<Vec<f32>, VectorStoreError> {
        if vector.len() != self.inner.dim {
            return Err(VectorStoreError::DimensionMismatch {
                store: self.inner.name.clone(),
                what: "the query vector".into(),
                expected: self.inner.dim,
                found: vector.len(),
            });
        }
        normalised(vector).ok_or_else(|| {
            VectorStoreError::invalid(
                self.inner.name.clone(),
                "the query vector is zero or not finite; cosine similarity is undefined",
            )
        })
    }

    /// Checks a batch before anything is written ([`DocumentUpsert::validate_batch`]) and
    /// turns it into the index's writes (the last copy of a document listed twice wins).
    fn prepare(
        name: &str,
        dim: usize,
        docs: Vec<DocumentUpsert>,
    ) -> Result<Vec<DocWrite>, VectorStoreError> {
        let docs = DocumentUpsert::last_copies(docs);
        DocumentUpsert::validate_batch(name, dim, &docs)?;
        let mut out = Vec::with_capacity(docs.len());
        for d in docs {
            let mut chunks = Vec::with_capacity(d.chunks.len());
            for c in d.chunks {
                let v = normalised(&c.vector).ok_or_else(|| {
                    VectorStoreError::invalid(
                        name,
                        format!("chunk {}: the vector is zero or not finite", c.chunk.id),
                    )
                })?;
                chunks.push((c.chunk, v));
            }
            out.push(DocWrite {
                origin: d.origin.unwrap_or_else(|| d.document.source.clone()),
                hash: d.content_hash.unwrap_or_default(),
                doc: d.document,
                chunks,
            });
        }
        Ok(out)
    }

    fn writer(&self) -> Result<&Mutex<Index>, VectorStoreError> {
        self.inner.writer.as_ref().ok_or_else(|| {
            VectorStoreError::unsupported(
                self.inner.name.clone(),
                "writing (this store was opened read-only)",
            )
        })
    }
}

/// `v` scaled to unit length, or `None` when it is zero or not finite.
fn normalised(v: &[f32]) -> Option<Vec<f32>> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if !norm.is_finite() || norm == 0.0 {
        return None;
    }
    if (norm - 1.0).abs() <= 1e-6 {
        Some(v.to_vec())
    } else {
        Some(v.iter().map(|x| x / norm).collect())
    }
}

#[async_trait]
impl VectorStore for EmbeddedStore {
    fn name(&self) -> String {
        self.inner.name.clone()
    }

    async fn info(&self) -> Result<CollectionInfo, VectorStoreError> {
        Ok(CollectionInfo {
            name: self.inner.name.clone(),
            model: self.inner.model.clone(),
            dim: self.inner.dim,
        })
    }

    async fn upsert(&self, docs: Vec<DocumentUpsert>) -> Result<(), VectorStoreError> {
        self.writer()?;
        if docs.is_empty() {
            return Ok(());
        }
        let inner = self.inner.clone();
        let written = run_blocking(move || {
            let writes = match Self::prepare(&inner.name, inner.dim, docs) {
                Ok(w) => w,
                Err(refused) => return Ok(Err(refused)),
            };
            let mut w = lock(inner.writer.as_ref().expect("checked above"));
            w.write_batch(&writes, &[]).map(|_| Ok(()))
        })
        .await;
        written.map_err(|e| match &e {
            // The only constraint a checked batch can break: a chunk id that another
            // document owns. The transaction rolled back, so nothing was written.
            StoreError::Sqlite { source, .. }
                if source.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation) =>
            {
                VectorStoreError::invalid(
                    self.inner.name.clone(),
                    format!(
                        "a chunk id in this batch already belongs to another document; \
                         nothing was written ({source})"
                    ),
                )
            }
            _ => self.err(e),
        })?
    }

    async fn delete_document(&self, doc_id: &str) -> Result<(), VectorStoreError> {
        self.writer()?;
        let inner = self.inner.clone();
        let id = doc_id.to_string();
        run_blocking(move || {
            let mut w = lock(inner.writer.as_ref().expect("checked above"));
            if w.document(&id)?.is_some() {
                w.write_batch(&[], &[id])?;
            }
            Ok(())
        })
        .await
        .map_err(|e| self.err(e))
    }

    async fn query(
        &self,
        vector: &[f32],
        k: usize,
        filter: &Filter,
        with_vectors: bool,
    ) -> Result<Vec<StoreHit>, VectorStoreError> {
        let q = self.query_vector(vector)?;
        if k == 0 {
            return Ok(Vec::new());
        }
        let filter = filter.clone();
        self.read(move |r| {
            let allow = r.searcher.allow(&filter);
            r.searcher
                .dense(&q, k, allow.as_deref())
                .into_iter()
                .map(|(pos, score)| r.hit(pos, score, with_vectors))
                .collect()
        })
        .await
    }

    async fn query_lexical(
        &self,
        text: &str,
        k: usize,
        filter: &Filter,
    ) -> Result<Vec<StoreHit>, VectorStoreError> {
        if k == 0 {
            return Ok(Vec::new());
        }
        let (text, filter) = (text.to_string(), filter.clone());
        self.read(move |r| {
            let allow = r.searcher.allow(&filter);
            r.searcher
                .bm25(&text, k, allow.as_deref())
                .into_iter()
                .map(|(pos, score)| r.hit(pos, score, false))
                .collect()
        })
        .await
    }

    async fn get(
        &self,
        ids: &[&str],
        with_vectors: bool,
    ) -> Result<Vec<StoredChunk>, VectorStoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
        self.read(move |r| {
            let mut out = Vec::with_capacity(ids.len());
            for id in &ids {
                if let Some(pos) = r.position(id) {
                    let h = r.hit(pos, 0.0, with_vectors)?;
                    out.push(StoredChunk {
                        chunk: h.chunk,
                        source: h.source,
                        title: h.title,
                        vector: h.vector,
                    });
                }
            }
            Ok(out)
        })
        .await
    }

    async fn count(&self) -> Result<u64, VectorStoreError> {
        self.read(|r| Ok(r.searcher.len() as u64)).await
    }

    async fn documents(&self) -> Result<Vec<DocumentEntry>, VectorStoreError> {
        self.read(|r| r.searcher.documents()).await
    }

    async fn scan(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DocumentUpsert>, VectorStoreError> {
        let after = after.map(str::to_string);
        self.read(move |r| r.searcher.scan(after.as_deref(), limit))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_is_send_and_sync() {
        fn assert<T: Send + Sync + 'static>() {}
        assert::<EmbeddedStore>();
        let _: Option<Box<dyn VectorStore>> = None::<Box<EmbeddedStore>>.map(|b| b as _);
    }

    #[test]
    fn vectors_are_normalised_or_refused() {
        assert_eq!(normalised(&[3.0, 4.0]).unwrap(), vec![0.6, 0.8]);
        assert!(normalised(&[0.0, 0.0]).is_none());
        assert!(normalised(&[f32::NAN, 1.0]).is_none());
    }
}
