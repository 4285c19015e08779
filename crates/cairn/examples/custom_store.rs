//! Implement the store seam for your own engine, then prove it with the conformance suite every
//! cairn store passes (upsert and re-upsert, delete by document, each filter operator, top-k
//! order, score range, unicode metadata, stored vectors, recall against exact search).
//!
//! Here the engine is a `HashMap` searched exhaustively, so its recall is exact.
//!
//! `cargo run --example custom_store --features conformance`

use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;

use cairn::core::{
    Chunk, CollectionInfo, DocumentEntry, DocumentUpsert, Filter, StoreHit, StoredChunk,
    VectorStore, VectorStoreError,
};

/// `v` scaled to length 1, so a dot product is a cosine in [-1, 1]; `None` for a zero or
/// non-finite vector, which has no direction.
fn unit(v: &[f32]) -> Option<Vec<f32>> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    (norm.is_finite() && norm > 0.0).then(|| v.iter().map(|x| x / norm).collect())
}

/// One chunk as the store keeps it.
struct Row {
    chunk: Chunk,
    vector: Vec<f32>,
    source: String,
    title: Option<String>,
}

/// Chunks by id, and each document as written (in id order, for listing and scans).
struct MemoryStore {
    dim: usize,
    rows: RwLock<HashMap<String, Row>>,
    docs: RwLock<BTreeMap<String, DocumentUpsert>>,
}

impl MemoryStore {
    fn new(dim: usize) -> Self {
        MemoryStore {
            dim,
            rows: RwLock::default(),
            docs: RwLock::default(),
        }
    }

    /// Refuses a batch before writing any of it (a wrong length, a zero vector, a chunk of
    /// another document, an id twice) with the check every store shares.
    fn check(&self, docs: &[DocumentUpsert]) -> Result<(), VectorStoreError> {
        DocumentUpsert::validate_batch(&self.name(), self.dim, docs)
    }
}

#[async_trait::async_trait]
impl VectorStore for MemoryStore {
    fn name(&self) -> String {
        "memory".into()
    }

    async fn info(&self) -> Result<CollectionInfo, VectorStoreError> {
        Ok(CollectionInfo {
            name: "memory".into(),
            model: "example".into(),
            dim: self.dim,
        })
    }

    async fn upsert(&self, docs: Vec<DocumentUpsert>) -> Result<(), VectorStoreError> {
        self.check(&docs)?;
        let (mut rows, mut all) = (self.rows.write().unwrap(), self.docs.write().unwrap());
        for mut d in docs {
            for old in all
                .remove(&d.document.id)
                .into_iter()
                .flat_map(|d| d.chunks)
            {
                rows.remove(&old.chunk.id);
            }
            for c in &mut d.chunks {
                c.vector = unit(&c.vector).expect("checked");
                let row = Row {
                    vector: c.vector.clone(),
                    chunk: c.chunk.clone(),
                    source: d.document.source.clone(),
                    title: d.document.title.clone(),
                };
                rows.insert(row.chunk.id.clone(), row);
            }
            // Stores keep chunks, not the document's full text.
            d.document.text.clear();
            all.insert(d.document.id.clone(), d);
        }
        Ok(())
    }

    async fn delete_document(&self, doc_id: &str) -> Result<(), VectorStoreError> {
        let (mut rows, mut all) = (self.rows.write().unwrap(), self.docs.write().unwrap());
        for old in all.remove(doc_id).into_iter().flat_map(|d| d.chunks) {
            rows.remove(&old.chunk.id);
        }
        Ok(())
    }

    async fn query(
        &self,
        vector: &[f32],
        k: usize,
        filter: &Filter,
        with_vectors: bool,
    ) -> Result<Vec<StoreHit>, VectorStoreError> {
        if vector.len() != self.dim {
            return Err(VectorStoreError::DimensionMismatch {
                store: self.name(),
                what: "the query vector".into(),
                expected: self.dim,
                found: vector.len(),
            });
        }
        let vector = unit(vector)
            .ok_or_else(|| VectorStoreError::invalid(self.name(), "a zero or non-finite query"))?;
        let rows = self.rows.read().unwrap();
        let mut scored: Vec<(f32, &Row)> = rows
            .values()
            .filter(|r| filter.matches(&r.chunk.metadata))
            .map(|r| (r.vector.iter().zip(&vector).map(|(a, b)| a * b).sum(), r))
            .collect();
        // Best first; ties by id so the order is stable.
        scored.sort_by(|a, b| {
            b.0.total_cmp(&a.0)
                .then_with(|| a.1.chunk.id.cmp(&b.1.chunk.id))
        });
        Ok(scored
            .into_iter()
            .take(k)
            .map(|(score, r)| StoreHit {
                score,
                chunk: r.chunk.clone(),
                source: r.source.clone(),
                title: r.title.clone(),
                vector: with_vectors.then(|| r.vector.clone()),
            })
            .collect())
    }

    async fn get(
        &self,
        ids: &[&str],
        with_vectors: bool,
    ) -> Result<Vec<StoredChunk>, VectorStoreError> {
        let rows = self.rows.read().unwrap();
        Ok(ids
            .iter()
            .filter_map(|id| rows.get(*id))
            .map(|r| StoredChunk {
                chunk: r.chunk.clone(),
                source: r.source.clone(),
                title: r.title.clone(),
                vector: with_vectors.then(|| r.vector.clone()),
            })
            .collect())
    }

    async fn count(&self) -> Result<u64, VectorStoreError> {
        Ok(self.rows.read().unwrap().len() as u64)
    }

    async fn documents(&self) -> Result<Vec<DocumentEntry>, VectorStoreError> {
        Ok(self
            .docs
            .read()
            .unwrap()
            .values()
            .map(|d| DocumentEntry {
                id: d.document.id.clone(),
                content_hash: d.content_hash.clone(),
                origin: d.origin.clone(),
                chunks: d.chunks.len(),
            })
            .collect())
    }

    async fn scan(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DocumentUpsert>, VectorStoreError> {
        use std::ops::Bound::{Excluded, Unbounded};
        let start = after.map_or(Unbounded, |a| Excluded(a.to_string()));
        let docs = self.docs.read().unwrap();
        Ok(docs
            .range((start, Unbounded))
            .take(limit)
            .map(|(_, d)| d.clone())
            .collect())
    }
}

#[tokio::main]
async fn main() {
    // A fresh, empty store per check; the suite panics naming the first check that fails.
    let report = cairn::store::conformance::run(|| async { MemoryStore::new(384) }).await;
    print!("{report}");
    println!(
        "recall@10 (unfiltered, 50% filter, 10% filter): {:?}",
        report.recall_at_10
    );
}
