//! The Qdrant adapter against recorded exchanges (`tests/fixtures/qdrant/`, written from
//! Qdrant's OpenAPI reference): what it sends, and how it reads the answers.

mod support;

use cairn_core::{
    Classify, CollectionInfo, DocumentUpsert, ErrorClass, Filter, VectorStore, VectorStoreError,
};
use cairn_vectordb::qdrant::QdrantStore;
use serde_json::json;
use support::replay::Replay;
use support::{doc, meta};

const KEY: &str = "qdrant-test-key";

fn info(name: &str, dim: usize) -> CollectionInfo {
    CollectionInfo {
        name: name.into(),
        model: "test-model".into(),
        dim,
    }
}

/// A store on an existing 4-dimensional collection `docs`, then the fixtures named.
async fn store_with(names: &[&str]) -> (Replay, QdrantStore) {
    let mut all = vec!["open_existing"];
    all.extend_from_slice(names);
    let replay = Replay::fixtures("qdrant", &all);
    let store = replay.ok(QdrantStore::open_with_key(&replay.url(), Some(KEY), "docs", None).await);
    (replay, store)
}

fn two_docs() -> Vec<DocumentUpsert> {
    vec![
        doc(
            "docs/a.md",
            meta(json!({"lang": "en", "year": 2021})),
            vec![vec![1.0, 0.0, 0.0, 0.0], vec![0.6, 0.8, 0.0, 0.0]],
        ),
        doc(
            "docs/b.md",
            meta(json!({"lang": "de", "tags": ["x", "y"], "published": "2024-06-01"})),
            vec![vec![0.0, 0.0, 0.6, 0.8]],
        ),
    ]
}

#[tokio::test]
async fn opens_an_existing_collection_and_reads_its_config() {
    let (replay, store) = store_with(&[]).await;
    let got = store.info().await.unwrap();
    assert_eq!(got, info("docs", 4));
    assert_eq!(store.name(), "qdrant:docs");
    replay.finish();
    let sent = replay.received();
    assert_eq!(sent[0].header("api-key"), Some(KEY));
}

#[tokio::test]
async fn creates_a_missing_collection_with_cosine_distance_and_a_doc_id_index() {
    let replay = Replay::fixture("qdrant", "create");
    let store = replay.ok(QdrantStore::open_with_key(
        &replay.url(),
        Some(KEY),
        "fresh",
        Some(&info("fresh", 4)),
    )
    .await);
    replay.finish();
    assert_eq!(store.info().await.unwrap(), info("fresh", 4));
}

#[tokio::test]
async fn refuses_a_collection_of_another_dimension_before_writing() {
    let replay = Replay::fixture("qdrant", "open_mismatch");
    let err = QdrantStore::open_with_key(&replay.url(), Some(KEY), "docs", Some(&info("docs", 4)))
        .await
        .unwrap_err();
    replay.finish();
    match &err {
        VectorStoreError::DimensionMismatch {
            expected, found, ..
        } => assert_eq!((*expected, *found), (8, 4)),
        other => panic!("want DimensionMismatch, got {other:?}"),
    }
    assert_eq!(err.class(), ErrorClass::InvalidInput);
    assert!(err.to_string().starts_with("qdrant:docs: "), "{err}");
    assert_eq!(replay.received().len(), 1, "nothing after the check");
}

#[tokio::test]
async fn a_missing_collection_opened_for_reading_is_not_found() {
    let replay = Replay::fixture("qdrant", "open_missing");
    let err = QdrantStore::open_with_key(&replay.url(), Some(KEY), "gone", None)
        .await
        .unwrap_err();
    replay.finish();
    assert_eq!(err.class(), ErrorClass::NotFound, "{err}");
    assert!(err.to_string().contains("doesn't exist"), "{err}");
}

#[tokio::test]
async fn upsert_deletes_the_documents_then_writes_their_points() {
    let (replay, store) = store_with(&["upsert"]).await;
    replay.ok(store.upsert(two_docs()).await);
    replay.finish();
    for r in replay.received() {
        assert_eq!(r.header("api-key"), Some(KEY), "{} {}", r.method, r.path);
    }
}

#[tokio::test]
async fn delete_document_deletes_by_a_doc_id_filter() {
    let (replay, store) = store_with(&["delete"]).await;
    replay.ok(store.delete_document("docs/b.md").await);
    replay.finish();
}

#[tokio::test]
async fn queries_map_hits_scores_and_vectors() {
    let (replay, store) = store_with(&["query"]).await;
    let hits = replay.ok(store
        .query(&[1.0, 0.0, 0.0, 0.0], 2, &Filter::All, false)
        .await);
    let ids: Vec<&str> = hits.iter().map(|h| h.chunk_id()).collect();
    assert_eq!(ids, ["docs/a.md#0", "docs/a.md#1"]);
    assert_eq!(hits[0].score, 1.0);
    assert!((hits[1].score - 0.6).abs() < 1e-6);
    assert_eq!(
        hits[1].chunk,
        two_docs()[0].chunks[1].chunk,
        "the chunk reads back"
    );
    assert_eq!(hits[1].source, "docs/a.md.txt");
    assert_eq!(hits[1].title.as_deref(), Some("Title of docs/a.md"));
    assert!(hits[0].vector.is_none());

    let f = Filter::parse(&["lang = de", "published > 2024-01-01"]).unwrap();
    let hits = replay.ok(store.query(&[0.0, 0.0, 0.6, 0.8], 5, &f, true).await);
    replay.finish();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].chunk, two_docs()[1].chunks[0].chunk);
    assert_eq!(
        hits[0].score, 1.0,
        "a score past 1 from rounding is clamped"
    );
    assert_eq!(hits[0].vector.as_deref(), Some(&[0.0, 0.0, 0.6, 0.8][..]));
    assert!(f.matches(&hits[0].chunk.metadata));
}

#[tokio::test]
async fn get_returns_chunks_in_the_order_asked_and_leaves_out_missing_ones() {
    let (replay, store) = store_with(&["get"]).await;
    let got = replay.ok(store
        .get(&["docs/b.md#0", "docs/none.md#0", "docs/a.md#0"], true)
        .await);
    replay.finish();
    let ids: Vec<&str> = got.iter().map(|c| c.chunk.id.as_str()).collect();
    assert_eq!(ids, ["docs/b.md#0", "docs/a.md#0"]);
    let docs = two_docs();
    assert_eq!(got[0].chunk, docs[1].chunks[0].chunk);
    assert_eq!(got[0].chunk.metadata["tags"], json!(["x", "y"]));
    assert_eq!(got[1].vector.as_deref(), Some(&[1.0, 0.0, 0.0, 0.0][..]));
    assert_eq!(got[1].source, "docs/a.md.txt");
}

#[tokio::test]
async fn count_documents_and_scan_page_through_the_collection() {
    let (replay, store) = store_with(&["documents_scan"]).await;
    let store = store.with_page_size(2);
    assert_eq!(replay.ok(store.count().await), 4);

    let listed = replay.ok(store.documents().await);
    let ids: Vec<&str> = listed.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["docs/a.md", "docs/b.md", "docs/c.md"]);
    assert_eq!(listed[0].chunks, 2);
    assert_eq!(listed[0].content_hash.as_deref(), Some("hash-docs/a.md"));
    assert_eq!(listed[0].origin.as_deref(), Some("files/docs/a.md"));
    assert_eq!(
        listed[2].content_hash, None,
        "a document missing a chunk has no hash, so it is written again"
    );

    let page = replay.ok(store.scan(None, 2).await);
    let docs = two_docs();
    assert_eq!(page.len(), 2);
    for (got, want) in page.iter().zip(&docs) {
        assert_eq!(got.document.id, want.document.id);
        assert_eq!(got.document.source, want.document.source);
        assert_eq!(got.document.title, want.document.title);
        assert_eq!(got.document.kind, want.document.kind);
        assert_eq!(got.document.metadata, want.document.metadata);
        assert_eq!(got.content_hash, want.content_hash);
        assert_eq!(got.origin, want.origin);
        assert_eq!(
            got.chunks, want.chunks,
            "chunks in order, with their vectors"
        );
    }
    let rest = replay.ok(store.scan(Some("docs/b.md"), 2).await);
    replay.finish();
    assert_eq!(rest.len(), 1, "a short page is the last");
    assert_eq!(rest[0].document.id, "docs/c.md");
    assert_eq!(rest[0].chunks[0].vector, vec![0.5, 0.5, 0.5, 0.5]);
}

#[tokio::test]
async fn statuses_are_classified() {
    let (replay, store) = store_with(&["errors"]).await;
    let e = store.count().await.unwrap_err();
    assert_eq!(e.class(), ErrorClass::Auth, "401: {e}");
    assert!(!e.to_string().contains(KEY), "the key is never shown: {e}");
    let e = store.count().await.unwrap_err();
    assert_eq!(e.class(), ErrorClass::NotFound, "404: {e}");
    let q = [1.0, 0.0, 0.0, 0.0];
    let e = store.query(&q, 3, &Filter::All, false).await.unwrap_err();
    assert!(
        matches!(e, VectorStoreError::Unavailable { .. }),
        "429: {e}"
    );
    assert!(e.class().is_retryable());
    let e = store.delete_document("docs/a.md").await.unwrap_err();
    assert!(
        matches!(e, VectorStoreError::Unavailable { .. }),
        "503: {e}"
    );
    let e = store.count().await.unwrap_err();
    assert!(
        matches!(e, VectorStoreError::Unavailable { .. }),
        "500: {e}"
    );
    let e = store.query(&q, 3, &Filter::All, false).await.unwrap_err();
    assert_eq!(e.class(), ErrorClass::InvalidInput, "400: {e}");
    assert!(e.to_string().contains("Vector dimension error"), "{e}");
    replay.finish();
}

#[tokio::test]
async fn refusals_come_before_any_request() {
    let (replay, store) = store_with(&[]).await;
    let q = [1.0, 0.0, 0.0, 0.0];
    // A filter Qdrant cannot express exactly.
    let f = Filter::cmp("lang", cairn_core::CmpOp::Gt, "de");
    let e = store.query(&q, 3, &f, false).await.unwrap_err();
    assert_eq!(e.class(), ErrorClass::Unsupported, "{e}");
    assert!(e.to_string().starts_with("qdrant:docs: "), "{e}");
    // A query vector of the wrong length.
    let e = store
        .query(&[1.0, 0.0], 3, &Filter::All, false)
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::InvalidInput, "{e}");
    // k = 0, and a filter that matches nothing, need no request.
    assert!(store
        .query(&q, 0, &Filter::All, false)
        .await
        .unwrap()
        .is_empty());
    let none = Filter::any_of("lang", vec![]);
    assert!(store.query(&q, 5, &none, false).await.unwrap().is_empty());
    // Bad batches.
    let mut docs = two_docs();
    docs[1].chunks[0].vector = vec![1.0; 5];
    let e = store.upsert(docs).await.unwrap_err();
    assert!(
        matches!(e, VectorStoreError::DimensionMismatch { .. }),
        "{e}"
    );
    let mut docs = two_docs();
    docs[0].chunks[1].chunk.doc_id = "docs/other.md".into();
    assert_eq!(
        store.upsert(docs).await.unwrap_err().class(),
        ErrorClass::InvalidInput
    );
    let mut docs = two_docs();
    docs[0].chunks[1].chunk.id = "docs/a.md#0".into();
    assert_eq!(
        store.upsert(docs).await.unwrap_err().class(),
        ErrorClass::InvalidInput
    );
    let mut docs = two_docs();
    docs[0].chunks[0].vector = vec![0.0; 4];
    assert_eq!(
        store.upsert(docs).await.unwrap_err().class(),
        ErrorClass::InvalidInput
    );
    // Nothing to write, nothing sent.
    replay.ok(store.upsert(Vec::new()).await);
    assert!(replay.ok(store.get(&[], false).await).is_empty());
    replay.finish();
    assert_eq!(replay.received().len(), 1, "only the open");
}

#[tokio::test]
async fn the_key_stays_out_of_debug_output() {
    let (replay, store) = store_with(&[]).await;
    replay.finish();
    assert!(!format!("{store:?}").contains(KEY));
}
