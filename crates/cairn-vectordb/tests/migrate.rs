//! `migrate::copy` and `migrate::verify` between two embedded indexes: a full copy verifies
//! with equal counts and overlap 1.0; a copy that dies mid-way (the target fails on its third
//! batch) resumes on the next run, skipping what was committed, with no duplicates.

use cairn_core::{
    async_trait, Chunk, CollectionInfo, Document, DocumentEntry, DocumentUpsert, Filter, StoreHit,
    StoredChunk, VectorStore, VectorStoreError,
};
use cairn_store::EmbeddedStore;
use cairn_vectordb::migrate::{self, MigrateOptions};
use cairn_vectordb::StoreUrl;
use std::sync::atomic::{AtomicUsize, Ordering};

const DIM: usize = 16;

fn vector(seed: u64) -> Vec<f32> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..DIM)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % 1000) as f32 / 500.0 - 1.0
        })
        .collect()
}

fn docs(n: usize) -> Vec<DocumentUpsert> {
    (0..n)
        .map(|i| {
            let id = format!("doc{i:03}");
            let chunks = (0..1 + i % 3)
                .map(|j| {
                    let c = Chunk {
                        id: format!("{id}#{j}"),
                        doc_id: id.clone(),
                        ordinal: j as u32,
                        text: format!("chunk {j} of {id}"),
                        start: j * 20,
                        end: j * 20 + 15,
                        heading_path: vec![],
                        context: String::new(),
                        metadata: Default::default(),
                    };
                    (c, vector((i * 10 + j) as u64))
                })
                .collect();
            let mut d = DocumentUpsert::new(
                Document {
                    id: id.clone(),
                    source: format!("{id}.txt"),
                    title: None,
                    kind: "text".into(),
                    text: String::new(),
                    metadata: Default::default(),
                },
                chunks,
            );
            d.content_hash = Some(format!("h{i}"));
            d
        })
        .collect()
}

fn info() -> CollectionInfo {
    CollectionInfo {
        name: String::new(),
        model: "test-model".into(),
        dim: DIM,
    }
}

/// A target that fails every upsert after the first `ok` ones, as a killed process would
/// stop writing.
struct Dies<S> {
    inner: S,
    ok: usize,
    calls: AtomicUsize,
}

#[async_trait]
impl<S: VectorStore> VectorStore for Dies<S> {
    fn name(&self) -> String {
        self.inner.name()
    }
    async fn info(&self) -> Result<CollectionInfo, VectorStoreError> {
        self.inner.info().await
    }
    async fn upsert(&self, docs: Vec<DocumentUpsert>) -> Result<(), VectorStoreError> {
        if self.calls.fetch_add(1, Ordering::SeqCst) >= self.ok {
            return Err(VectorStoreError::Unavailable {
                store: self.name(),
                message: "killed".into(),
            });
        }
        self.inner.upsert(docs).await
    }
    async fn delete_document(&self, id: &str) -> Result<(), VectorStoreError> {
        self.inner.delete_document(id).await
    }
    async fn query(
        &self,
        v: &[f32],
        k: usize,
        f: &Filter,
        with_vectors: bool,
    ) -> Result<Vec<StoreHit>, VectorStoreError> {
        self.inner.query(v, k, f, with_vectors).await
    }
    async fn get(
        &self,
        ids: &[&str],
        with_vectors: bool,
    ) -> Result<Vec<StoredChunk>, VectorStoreError> {
        self.inner.get(ids, with_vectors).await
    }
    async fn count(&self) -> Result<u64, VectorStoreError> {
        self.inner.count().await
    }
    async fn documents(&self) -> Result<Vec<DocumentEntry>, VectorStoreError> {
        self.inner.documents().await
    }
    async fn scan(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DocumentUpsert>, VectorStoreError> {
        self.inner.scan(after, limit).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_verifies_and_a_killed_copy_resumes_without_duplicates() {
    let tmp = tempfile::tempdir().unwrap();
    let src = EmbeddedStore::open(&tmp.path().join("src"), "test-model", DIM).unwrap();
    src.upsert(docs(100)).await.unwrap();
    let opts = MigrateOptions {
        batch_docs: 16,
        sample_queries: 30,
        k: 10,
    };

    // A full copy through the URL opener.
    let to_url = StoreUrl::parse(tmp.path().join("full").to_str().unwrap()).unwrap();
    let full = to_url.open(Some(&info())).await.unwrap();
    let r = migrate::copy(&src, full.as_ref(), &opts, |_| {})
        .await
        .unwrap();
    assert_eq!(
        (r.documents, r.copied_documents, r.skipped_documents),
        (100, 100, 0)
    );
    assert_eq!(r.batches, 7);
    let v = migrate::verify(&src, full.as_ref(), &opts).await.unwrap();
    assert!(v.counts_match(), "{v:?}");
    assert_eq!(v.source_chunks, 199);
    assert_eq!(v.queries, 30);
    assert_eq!(v.mean_overlap, 1.0, "{v:?}");

    // Dies on its third batch: two batches (32 documents) committed.
    let dir = tmp.path().join("resumed");
    let dying = Dies {
        inner: EmbeddedStore::open(&dir, "test-model", DIM).unwrap(),
        ok: 2,
        calls: AtomicUsize::new(0),
    };
    let mut seen = Vec::new();
    let e = migrate::copy(&src, &dying, &opts, |p| seen.push(p.seen))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("killed"), "{e}");
    assert_eq!(seen, vec![16, 32]);
    let partial = migrate::verify(&src, &dying.inner, &opts).await.unwrap();
    assert_eq!(partial.target_documents, 32);
    assert!(!partial.counts_match());
    assert_eq!(partial.differing_count, 68);
    drop(dying);

    // The rerun copies the rest only and ends equal.
    let target = EmbeddedStore::open(&dir, "test-model", DIM).unwrap();
    let r = migrate::copy(&src, &target, &opts, |_| {}).await.unwrap();
    assert_eq!((r.copied_documents, r.skipped_documents), (68, 32));
    let v = migrate::verify(&src, &target, &opts).await.unwrap();
    assert!(v.counts_match(), "{v:?}");
    assert_eq!(v.target_chunks, 199, "no duplicates");
    assert_eq!(v.mean_overlap, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_model_is_refused_before_writing() {
    let tmp = tempfile::tempdir().unwrap();
    let src = EmbeddedStore::open(&tmp.path().join("a"), "model-a", DIM).unwrap();
    src.upsert(docs(3)).await.unwrap();
    let dst = EmbeddedStore::open(&tmp.path().join("b"), "model-b", DIM).unwrap();
    let e = migrate::copy(&src, &dst, &MigrateOptions::default(), |_| {})
        .await
        .unwrap_err();
    assert!(e.to_string().contains("model-a"), "{e}");
    assert_eq!(dst.count().await.unwrap(), 0);
    // Opening an existing index with another model through the URL names both.
    let url = StoreUrl::parse(tmp.path().join("a").to_str().unwrap()).unwrap();
    let other = CollectionInfo {
        model: "model-b".into(),
        ..info()
    };
    drop(src);
    let e = url.open(Some(&other)).await.err().expect("refused");
    assert!(
        e.to_string().contains("model-a") && e.to_string().contains("model-b"),
        "{e}"
    );
}
