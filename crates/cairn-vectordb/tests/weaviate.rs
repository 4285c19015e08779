//! The Weaviate adapter against recorded exchanges (`tests/fixtures/weaviate/`, written from
//! Weaviate's OpenAPI reference and its GraphQL search API): what it sends, and how it reads
//! the answers.

mod support;

use cairn_core::{
    Classify, CmpOp, CollectionInfo, DocumentUpsert, ErrorClass, Filter, VectorStore,
    VectorStoreError,
};
use cairn_vectordb::weaviate::WeaviateStore;
use serde_json::json;
use support::replay::Replay;
use support::{doc, meta};

const KEY: &str = "weaviate-test-key";

fn info(dim: usize) -> CollectionInfo {
    CollectionInfo {
        name: "Docs".into(),
        model: "test-model".into(),
        dim,
    }
}

async fn store_with(names: &[&str]) -> (Replay, WeaviateStore) {
    let mut all = vec!["open_existing"];
    all.extend_from_slice(names);
    let replay = Replay::fixtures("weaviate", &all);
    let store =
        replay.ok(WeaviateStore::open_with_key(&replay.url(), Some(KEY), "docs", None).await);
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
async fn opens_a_class_and_reads_model_and_dimension() {
    let (replay, store) = store_with(&[]).await;
    replay.finish();
    assert_eq!(store.info().await.unwrap(), info(4));
    assert_eq!(
        store.name(),
        "weaviate:Docs",
        "the class name is capitalised"
    );
    for r in replay.received() {
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {KEY}").as_str())
        );
    }
}

#[tokio::test]
async fn creates_a_missing_class() {
    let replay = Replay::fixture("weaviate", "create");
    let store =
        replay.ok(
            WeaviateStore::open_with_key(&replay.url(), Some(KEY), "Docs", Some(&info(4))).await,
        );
    replay.finish();
    assert_eq!(store.info().await.unwrap(), info(4));
}

#[tokio::test]
async fn refuses_a_class_of_another_dimension() {
    let replay = Replay::fixture("weaviate", "open_mismatch");
    let e = WeaviateStore::open_with_key(&replay.url(), Some(KEY), "Docs", Some(&info(4)))
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
    assert!(e.to_string().starts_with("weaviate:Docs: "), "{e}");
}

#[tokio::test]
async fn upsert_adds_properties_deletes_then_writes_objects() {
    let (replay, store) = store_with(&["upsert"]).await;
    replay.ok(store.upsert(two_docs()).await);
    replay.finish();
}

#[tokio::test]
async fn delete_document_deletes_by_doc_key() {
    let (replay, store) = store_with(&["delete"]).await;
    replay.ok(store.delete_document("docs/b.md").await);
    replay.finish();
}

#[tokio::test]
async fn queries_map_distance_to_similarity_and_read_the_schema_again_when_needed() {
    let (replay, store) = store_with(&["query"]).await;
    let hits = replay.ok(store
        .query(&[1.0, 0.0, 0.0, 0.0], 2, &Filter::All, false)
        .await);
    let docs = two_docs();
    let ids: Vec<&str> = hits.iter().map(|h| h.chunk_id()).collect();
    assert_eq!(ids, ["docs/a.md#0", "docs/a.md#1"]);
    assert_eq!(hits[0].score, 1.0);
    assert!((hits[1].score - 0.6).abs() < 1e-6, "1 - 0.4");
    assert_eq!(hits[1].chunk, docs[0].chunks[1].chunk);
    assert_eq!(hits[1].source, "docs/a.md.txt");

    let f = Filter::parse(&["lang = de", "published > 2024-01-01"]).unwrap();
    let hits = replay.ok(store.query(&[0.0, 0.0, 0.6, 0.8], 5, &f, true).await);
    replay.finish();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].chunk, docs[1].chunks[0].chunk);
    assert_eq!(hits[0].score, 1.0, "clamped");
    assert_eq!(hits[0].vector.as_deref(), Some(&[0.0, 0.0, 0.6, 0.8][..]));
}

#[tokio::test]
async fn lexical_queries_use_bm25() {
    let (replay, store) = store_with(&["lexical"]).await;
    let hits = replay.ok(store.query_lexical("chunk of", 2, &Filter::All).await);
    replay.finish();
    let ids: Vec<&str> = hits.iter().map(|h| h.chunk_id()).collect();
    assert_eq!(ids, ["docs/a.md#1", "docs/a.md#0"]);
    assert!((hits[0].score - 0.8316).abs() < 1e-6);
}

#[tokio::test]
async fn get_reads_objects_by_id_in_the_order_asked() {
    let (replay, store) = store_with(&["get"]).await;
    let got = replay.ok(store
        .get(&["docs/b.md#0", "docs/none.md#0", "docs/a.md#0"], true)
        .await);
    replay.finish();
    let ids: Vec<&str> = got.iter().map(|c| c.chunk.id.as_str()).collect();
    assert_eq!(ids, ["docs/b.md#0", "docs/a.md#0"]);
    assert_eq!(got[0].chunk, two_docs()[1].chunks[0].chunk);
    assert_eq!(got[1].vector.as_deref(), Some(&[1.0, 0.0, 0.0, 0.0][..]));
}

#[tokio::test]
async fn count_documents_and_scan_use_the_cursor() {
    let (replay, store) = store_with(&["documents_scan"]).await;
    let store = store.with_page_size(2);
    assert_eq!(replay.ok(store.count().await), 4);
    let listed = replay.ok(store.documents().await);
    let ids: Vec<&str> = listed.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["docs/a.md", "docs/b.md", "docs/c.md"]);
    assert_eq!(listed[0].chunks, 2);
    assert_eq!(listed[0].content_hash.as_deref(), Some("hash-docs/a.md"));
    assert_eq!(
        listed[2].content_hash, None,
        "a half-written document has no hash"
    );

    let page = replay.ok(store.scan(None, 2).await);
    let docs = two_docs();
    assert_eq!(page.len(), 2);
    for (got, want) in page.iter().zip(&docs) {
        assert_eq!(got.document.id, want.document.id);
        assert_eq!(got.document.title, want.document.title);
        assert_eq!(got.document.metadata, want.document.metadata);
        assert_eq!(got.content_hash, want.content_hash);
        assert_eq!(got.origin, want.origin);
        assert_eq!(got.chunks, want.chunks, "in order, with vectors");
    }
    let rest = replay.ok(store.scan(Some("docs/b.md"), 2).await);
    replay.finish();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].document.id, "docs/c.md");
}

#[tokio::test]
async fn failures_are_classified() {
    let (replay, store) = store_with(&["errors"]).await;
    let e = store.count().await.unwrap_err();
    assert_eq!(e.class(), ErrorClass::Auth, "401: {e}");
    assert!(!e.to_string().contains(KEY));
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
    let e = store.count().await.unwrap_err();
    assert_eq!(e.class(), ErrorClass::InvalidInput, "GraphQL error: {e}");
    assert!(e.to_string().contains("Cannot query field"), "{e}");
    let mut one = two_docs();
    one.truncate(1);
    let e = store.upsert(one).await.unwrap_err();
    assert_eq!(e.class(), ErrorClass::InvalidInput, "per-object error: {e}");
    assert!(
        e.to_string().contains("docs/a.md#1") && e.to_string().contains("vector lengths"),
        "{e}"
    );
    let e = store.delete_document("docs/b.md").await.unwrap_err();
    assert!(
        matches!(e, VectorStoreError::Unavailable { .. }),
        "429: {e}"
    );
    replay.finish();
}

#[tokio::test]
async fn refusals_come_before_any_request() {
    let (replay, store) = store_with(&[]).await;
    let q = [1.0, 0.0, 0.0, 0.0];
    let e = store
        .query(&q, 3, &Filter::cmp("lang", CmpOp::Lt, "x"), false)
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::Unsupported, "{e}");
    assert!(e.to_string().starts_with("weaviate:Docs: "), "{e}");
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
    // A filter on a key whose typed property the class lacks would read the schema again;
    // one that folds to "nothing" needs no request.
    let none = Filter::any_of("lang", vec![]);
    assert!(store.query(&q, 3, &none, false).await.unwrap().is_empty());
    let mut docs = two_docs();
    docs[0].chunks[0].chunk.doc_id = "docs/x.md".into();
    assert_eq!(
        store.upsert(docs).await.unwrap_err().class(),
        ErrorClass::InvalidInput
    );
    replay.finish();
    assert_eq!(replay.received().len(), 2, "only the open");
    assert!(!format!("{store:?}").contains(KEY));
}

#[tokio::test]
async fn servers_before_1_33_refuse_not() {
    let replay = Replay::fixture("weaviate", "open_old");
    let store =
        replay.ok(WeaviateStore::open_with_key(&replay.url(), Some(KEY), "Docs", None).await);
    let f = Filter::parse(&["not lang = en"]).unwrap();
    let e = store
        .query(&[1.0, 0.0, 0.0, 0.0], 3, &f, false)
        .await
        .unwrap_err();
    replay.finish();
    assert_eq!(e.class(), ErrorClass::Unsupported, "{e}");
    assert!(e.to_string().contains("1.33"), "{e}");
}
