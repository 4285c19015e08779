//! The store conformance suite on the embedded index: as shipped (exact search below 20k
//! chunks), and with the HNSW threshold lowered so the 10k-vector recall check goes through
//! the graph, on clustered 384-d vectors (as embeddings are) and on uniformly random 32-d
//! ones. Plus what only the embedded store promises.

use cairn_core::{Chunk, Classify, Document, DocumentUpsert, ErrorClass, Filter, VectorStore};
use cairn_store::conformance::{self, Options, Report};
use cairn_store::{EmbeddedStore, SearcherOptions};
use std::sync::Mutex;
use tempfile::TempDir;

/// MiniLM's dimension.
const DIM: usize = 384;

/// Fresh stores in temporary folders that live until the test ends.
struct Fresh {
    dirs: Mutex<Vec<TempDir>>,
    dim: usize,
    options: SearcherOptions,
}

impl Fresh {
    fn new(dim: usize, hnsw_min_chunks: usize) -> Self {
        Fresh {
            dirs: Mutex::new(Vec::new()),
            dim,
            options: SearcherOptions {
                hnsw_min_chunks,
                write_cache: true,
            },
        }
    }

    fn store(&self) -> EmbeddedStore {
        let dir = tempfile::tempdir().unwrap();
        let s = EmbeddedStore::open_with_options(dir.path(), "test-model", self.dim, self.options)
            .unwrap();
        self.dirs.lock().unwrap().push(dir);
        s
    }

    /// Runs the suite; the last store it made (the recall collection) is reopened to say
    /// whether dense search went through the graph.
    async fn run(&self, opts: &Options) -> (Report, bool) {
        let report = conformance::run_with(|| async { self.store() }, opts).await;
        println!("{report}");
        let dirs = self.dirs.lock().unwrap();
        let last = EmbeddedStore::open_with_options(
            dirs.last().unwrap().path(),
            "test-model",
            self.dim,
            self.options,
        )
        .unwrap();
        (report, last.uses_hnsw().unwrap())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_store_conforms_with_exact_search() {
    let (report, hnsw) = Fresh::new(DIM, 20_000)
        .run(&Options {
            recall_clusters: 0,
            ..Options::default()
        })
        .await;
    assert!(report.lexical, "the embedded store has BM25");
    assert!(
        report.unsupported_filters.is_empty(),
        "the embedded store evaluates every filter: {:?}",
        report.unsupported_filters
    );
    // Below the HNSW threshold search is exact, even on uniformly random directions.
    assert!(!hnsw);
    assert_eq!(report.recall_at_10, [1.0; 3], "{report}");
}

/// Loading in two batches keeps the graph to one build past the threshold.
const TWO_BATCHES: Options = Options {
    recall_chunks: 10_000,
    recall_queries: 100,
    recall_clusters: 500,
    min_recall: 0.95,
    batch_docs: 500,
    seed: 0xC0FFEE,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_store_conforms_through_hnsw() {
    let (report, hnsw) = Fresh::new(DIM, 5_000).run(&TWO_BATCHES).await;
    assert!(hnsw, "the recall check did not use HNSW");
    assert!(report.recall_at_10.iter().all(|&r| r >= 0.95), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hnsw_recall_holds_on_uniform_directions_in_low_dimensions() {
    let (report, hnsw) = Fresh::new(32, 5_000)
        .run(&Options {
            recall_clusters: 0,
            ..TWO_BATCHES
        })
        .await;
    assert!(hnsw, "the recall check did not use HNSW");
    assert!(report.recall_at_10.iter().all(|&r| r >= 0.95), "{report}");
}

fn one_chunk_doc(doc: &str, chunk_id: &str, v: Vec<f32>) -> DocumentUpsert {
    DocumentUpsert::new(
        Document {
            id: doc.into(),
            source: doc.into(),
            title: None,
            kind: "text".into(),
            text: "x".into(),
            metadata: Default::default(),
        },
        vec![(
            Chunk {
                id: chunk_id.into(),
                doc_id: doc.into(),
                ordinal: 0,
                text: "x".into(),
                start: 0,
                end: 1,
                heading_path: vec![],
                context: String::new(),
                metadata: Default::default(),
            },
            v,
        )],
    )
}

fn axis(i: usize) -> Vec<f32> {
    let mut v = vec![0.0; DIM];
    v[i] = 1.0;
    v
}

#[tokio::test]
async fn a_chunk_id_owned_by_another_document_is_refused_whole() {
    let fresh = Fresh::new(DIM, 20_000);
    let s = fresh.store();
    s.upsert(vec![one_chunk_doc("a", "shared#0", axis(0))])
        .await
        .unwrap();
    let e = s
        .upsert(vec![
            one_chunk_doc("c", "c#0", axis(2)),
            one_chunk_doc("b", "shared#0", axis(1)),
        ])
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::InvalidInput, "{e}");
    assert!(e.to_string().contains("another document"), "{e}");
    assert_eq!(s.count().await.unwrap(), 1);
    assert!(s.get(&["c#0"], false).await.unwrap().is_empty());
    assert_eq!(
        s.get(&["shared#0"], false).await.unwrap()[0].chunk.doc_id,
        "a"
    );
}

#[tokio::test]
async fn unnormalised_vectors_are_stored_normalised_and_zero_ones_refused() {
    let fresh = Fresh::new(DIM, 20_000);
    let s = fresh.store();
    let mut v = axis(3);
    v[3] = 4.0;
    s.upsert(vec![one_chunk_doc("a", "a#0", v)]).await.unwrap();
    let got = s.get(&["a#0"], true).await.unwrap();
    assert_eq!(got[0].vector.as_deref(), Some(axis(3).as_slice()));
    let e = s
        .upsert(vec![one_chunk_doc("z", "z#0", vec![0.0; DIM])])
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::InvalidInput, "{e}");
    let e = s
        .query(&vec![0.0; DIM], 3, &Filter::default(), false)
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::InvalidInput, "{e}");
}

#[tokio::test]
async fn a_read_only_store_reads_and_refuses_writes() {
    let fresh = Fresh::new(DIM, 20_000);
    let dir = {
        let s = fresh.store();
        s.upsert(vec![one_chunk_doc("a", "a#0", axis(0))])
            .await
            .unwrap();
        s.dir().to_path_buf()
    };
    let r = EmbeddedStore::open_read_only(&dir).unwrap();
    assert_eq!(r.count().await.unwrap(), 1);
    assert_eq!(r.info().await.unwrap().model, "test-model");
    let e = r.delete_document("a").await.unwrap_err();
    assert_eq!(e.class(), ErrorClass::Unsupported, "{e}");
    assert!(e.to_string().contains("read-only"), "{e}");
}

#[tokio::test]
async fn a_reader_sees_what_another_handle_writes() {
    let fresh = Fresh::new(DIM, 20_000);
    let w = fresh.store();
    w.upsert(vec![one_chunk_doc("a", "a#0", axis(0))])
        .await
        .unwrap();
    let r = EmbeddedStore::open_read_only(w.dir()).unwrap();
    assert_eq!(r.count().await.unwrap(), 1);
    w.upsert(vec![one_chunk_doc("b", "b#0", axis(1))])
        .await
        .unwrap();
    assert_eq!(r.count().await.unwrap(), 2);
    let hits = r
        .query(&axis(1), 1, &Filter::default(), false)
        .await
        .unwrap();
    assert_eq!(hits[0].chunk_id(), "b#0");
    // The trait object is what the pipeline holds.
    let dynamic: std::sync::Arc<dyn VectorStore> = std::sync::Arc::new(r);
    assert_eq!(dynamic.count().await.unwrap(), 2);
}

/// The embedded store with a bug: dense queries ignore the filter.
struct IgnoresFilters(EmbeddedStore);

#[cairn_core::async_trait]
impl VectorStore for IgnoresFilters {
    fn name(&self) -> String {
        format!("filterless {}", self.0.name())
    }
    async fn info(&self) -> Result<cairn_core::CollectionInfo, cairn_core::VectorStoreError> {
        self.0.info().await
    }
    async fn upsert(&self, docs: Vec<DocumentUpsert>) -> Result<(), cairn_core::VectorStoreError> {
        self.0.upsert(docs).await
    }
    async fn delete_document(&self, doc_id: &str) -> Result<(), cairn_core::VectorStoreError> {
        self.0.delete_document(doc_id).await
    }
    async fn query(
        &self,
        vector: &[f32],
        k: usize,
        _filter: &Filter,
        with_vectors: bool,
    ) -> Result<Vec<cairn_core::StoreHit>, cairn_core::VectorStoreError> {
        self.0
            .query(vector, k, &Filter::default(), with_vectors)
            .await
    }
    async fn get(
        &self,
        ids: &[&str],
        with_vectors: bool,
    ) -> Result<Vec<cairn_core::StoredChunk>, cairn_core::VectorStoreError> {
        self.0.get(ids, with_vectors).await
    }
    async fn count(&self) -> Result<u64, cairn_core::VectorStoreError> {
        self.0.count().await
    }
    async fn documents(
        &self,
    ) -> Result<Vec<cairn_core::DocumentEntry>, cairn_core::VectorStoreError> {
        self.0.documents().await
    }
    async fn scan(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DocumentUpsert>, cairn_core::VectorStoreError> {
        self.0.scan(after, limit).await
    }
}

#[tokio::test]
#[should_panic(expected = "conformance check `filter operators` failed on filterless embedded:")]
async fn the_suite_names_the_check_a_broken_store_fails() {
    let fresh = Fresh::new(DIM, 20_000);
    conformance::run(|| async { IgnoresFilters(fresh.store()) }).await;
}
