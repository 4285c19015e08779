//! The Pinecone adapter against recorded exchanges (`tests/fixtures/pinecone/`, written from
//! Pinecone's data-plane API reference, version 2025-10): what it sends, and how it reads
//! the answers.

mod support;

use cairn_core::{
    Classify, CmpOp, CollectionInfo, DocumentUpsert, ErrorClass, Filter, VectorStore,
    VectorStoreError,
};
use cairn_vectordb::pinecone::PineconeStore;
use serde_json::json;
use support::replay::Replay;
use support::{doc, meta};

const KEY: &str = "pinecone-test-key";

fn info(dim: usize) -> CollectionInfo {
    CollectionInfo {
        name: "docs".into(),
        model: "test-model".into(),
        dim,
    }
}

async fn store_with(names: &[&str]) -> (Replay, PineconeStore) {
    let mut all = vec!["open_existing"];
    all.extend_from_slice(names);
    let replay = Replay::fixtures("pinecone", &all);
    let store =
        replay.ok(PineconeStore::open_with_key(&replay.url(), Some(KEY), "docs", None).await);
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
async fn opens_a_namespace_and_reads_dimension_and_model() {
    let (replay, store) = store_with(&[]).await;
    replay.finish();
    assert_eq!(store.info().await.unwrap(), info(4));
    assert_eq!(store.name(), "pinecone:docs");
    for r in replay.received() {
        assert_eq!(r.header("api-key"), Some(KEY));
        assert_eq!(r.header("x-pinecone-api-version"), Some("2025-10"));
    }
}

#[tokio::test]
async fn an_empty_namespace_takes_the_model_asked_for() {
    let replay = Replay::fixture("pinecone", "open_create");
    let store =
        replay.ok(
            PineconeStore::open_with_key(&replay.url(), Some(KEY), "docs", Some(&info(4))).await,
        );
    replay.finish();
    assert_eq!(store.info().await.unwrap(), info(4));
}

#[tokio::test]
async fn refuses_an_index_of_another_dimension_metric_or_model() {
    let replay = Replay::fixture("pinecone", "open_mismatch");
    let e = PineconeStore::open_with_key(&replay.url(), Some(KEY), "docs", Some(&info(4)))
        .await
        .unwrap_err();
    replay.finish();
    assert!(
        matches!(
            e,
            VectorStoreError::DimensionMismatch {
                expected: 8,
                found: 4,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().starts_with("pinecone:docs: "), "{e}");

    let replay = Replay::fixture("pinecone", "open_dotproduct");
    let e = PineconeStore::open_with_key(&replay.url(), Some(KEY), "docs", Some(&info(4)))
        .await
        .unwrap_err();
    replay.finish();
    assert_eq!(e.class(), ErrorClass::InvalidInput);
    assert!(e.to_string().contains("dotproduct"), "{e}");

    let replay = Replay::fixture("pinecone", "open_other_model");
    let e = PineconeStore::open_with_key(&replay.url(), Some(KEY), "docs", Some(&info(4)))
        .await
        .unwrap_err();
    replay.finish();
    assert_eq!(e.class(), ErrorClass::InvalidInput);
    assert!(e.to_string().contains("other-model"), "{e}");
}

#[tokio::test]
async fn upsert_deletes_by_document_then_writes_records_with_their_metadata() {
    let (replay, store) = store_with(&["upsert"]).await;
    replay.ok(store.upsert(two_docs()).await);
    replay.finish();
}

#[tokio::test]
async fn delete_document_deletes_by_metadata() {
    let (replay, store) = store_with(&["delete"]).await;
    replay.ok(store.delete_document("docs/b.md").await);
    replay.finish();
}

#[tokio::test]
async fn queries_map_matches_scores_and_values() {
    let (replay, store) = store_with(&["query"]).await;
    let hits = replay.ok(store
        .query(&[1.0, 0.0, 0.0, 0.0], 2, &Filter::All, false)
        .await);
    let docs = two_docs();
    let ids: Vec<&str> = hits.iter().map(|h| h.chunk_id()).collect();
    assert_eq!(ids, ["docs/a.md#0", "docs/a.md#1"]);
    assert_eq!(hits[0].score, 1.0);
    assert!((hits[1].score - 0.6).abs() < 1e-6);
    assert_eq!(hits[1].chunk, docs[0].chunks[1].chunk);
    assert_eq!(hits[1].title.as_deref(), Some("Title of docs/a.md"));
    assert!(hits[0].vector.is_none());

    let f = Filter::parse(&["lang = de", "published > 2024-01-01"]).unwrap();
    let hits = replay.ok(store.query(&[0.0, 0.0, 0.6, 0.8], 5, &f, true).await);
    replay.finish();
    assert_eq!(hits.len(), 1);
    assert_eq!(
        hits[0].chunk, docs[1].chunks[0].chunk,
        "metadata as written"
    );
    assert_eq!(hits[0].score, 1.0, "clamped");
    assert_eq!(hits[0].vector.as_deref(), Some(&[0.0, 0.0, 0.6, 0.8][..]));
}

#[tokio::test]
async fn get_fetches_by_record_id_in_the_order_asked() {
    let (replay, store) = store_with(&["get"]).await;
    let got = replay.ok(store
        .get(&["docs/b.md#0", "docs/none.md#0", "docs/a.md#0"], false)
        .await);
    replay.finish();
    let ids: Vec<&str> = got.iter().map(|c| c.chunk.id.as_str()).collect();
    assert_eq!(ids, ["docs/b.md#0", "docs/a.md#0"]);
    assert_eq!(got[0].chunk, two_docs()[1].chunks[0].chunk);
    assert!(got[0].vector.is_none(), "values only when asked");
    assert_eq!(got[1].source, "docs/a.md.txt");
}

#[tokio::test]
async fn count_documents_and_scan_follow_pagination() {
    let (replay, store) = store_with(&["documents_scan"]).await;
    let store = store.with_page_size(2);
    assert_eq!(replay.ok(store.count().await), 4);
    let listed = replay.ok(store.documents().await);
    let ids: Vec<&str> = listed.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["docs/a.md", "docs/b.md", "docs/c.md"]);
    assert_eq!(listed[0].chunks, 2);
    assert_eq!(listed[1].content_hash.as_deref(), Some("hash-docs/b.md"));
    assert_eq!(listed[1].origin.as_deref(), Some("files/docs/b.md"));
    assert_eq!(
        listed[2].content_hash, None,
        "a half-written document has no hash"
    );

    let page = replay.ok(store.scan(None, 2).await);
    let docs = two_docs();
    assert_eq!(page.len(), 2);
    for (got, want) in page.iter().zip(&docs) {
        assert_eq!(got.document.id, want.document.id);
        assert_eq!(got.document.source, want.document.source);
        assert_eq!(got.document.title, want.document.title);
        assert_eq!(got.document.metadata, want.document.metadata);
        assert_eq!(got.content_hash, want.content_hash);
        assert_eq!(got.origin, want.origin);
        assert_eq!(got.chunks, want.chunks);
    }
    let rest = replay.ok(store.scan(Some("docs/b.md"), 2).await);
    replay.finish();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].document.id, "docs/c.md");
}

#[tokio::test]
async fn statuses_are_classified() {
    let (replay, store) = store_with(&["errors"]).await;
    let e = store.count().await.unwrap_err();
    assert_eq!(e.class(), ErrorClass::Auth, "401: {e}");
    assert!(e.to_string().contains("Invalid API Key"), "{e}");
    assert!(!e.to_string().contains(KEY));
    let q = [1.0, 0.0, 0.0, 0.0];
    let e = store.query(&q, 3, &Filter::All, false).await.unwrap_err();
    assert_eq!(e.class(), ErrorClass::NotFound, "404: {e}");
    let e = store.delete_document("docs/a.md").await.unwrap_err();
    assert!(
        matches!(e, VectorStoreError::Unavailable { .. }),
        "429: {e}"
    );
    let mut one = two_docs();
    one.truncate(1);
    let e = store.upsert(one).await.unwrap_err();
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
    replay.finish();
}

#[tokio::test]
async fn refusals_come_before_any_request() {
    let (replay, store) = store_with(&[]).await;
    let q = [1.0, 0.0, 0.0, 0.0];
    for f in [
        Filter::parse(&["not lang = en"]).unwrap(),
        Filter::parse(&["not exists extra"]).unwrap(),
        Filter::cmp("lang", CmpOp::Gte, "de"),
        Filter::eq("_cairn_doc", "docs/a.md"),
    ] {
        let e = store.query(&q, 3, &f, false).await.unwrap_err();
        assert_eq!(e.class(), ErrorClass::Unsupported, "{f}: {e}");
        assert!(e.to_string().starts_with("pinecone:docs: "), "{e}");
    }
    let e = store
        .query(&[1.0], 3, &Filter::All, false)
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::InvalidInput);
    assert!(store
        .query(&q, 0, &Filter::All, false)
        .await
        .unwrap()
        .is_empty());
    // Metadata over Pinecone's 40 KB.
    let mut big = two_docs();
    big[0].chunks[0].chunk.text = "x".repeat(41 * 1024);
    let e = store.upsert(big).await.unwrap_err();
    assert_eq!(e.class(), ErrorClass::InvalidInput);
    assert!(e.to_string().contains("40960"), "{e}");
    let mut long = two_docs();
    long[1].chunks[0].chunk.id = format!("docs/b.md#{}", "9".repeat(600));
    assert_eq!(
        store.upsert(long).await.unwrap_err().class(),
        ErrorClass::InvalidInput
    );
    let mut zero = two_docs();
    zero[1].chunks[0].vector = vec![0.0; 4];
    assert_eq!(
        store.upsert(zero).await.unwrap_err().class(),
        ErrorClass::InvalidInput
    );
    replay.finish();
    assert_eq!(replay.received().len(), 2, "only the open");
    assert!(!format!("{store:?}").contains(KEY));
}
