//! The Chroma backend against a real Chroma server (`chromadb==1.5.9`):
//!
//! ```sh
//! eval "$(scripts/peers/chroma.sh start /tmp/cairn-chroma)"   # sets CAIRN_TEST_CHROMA_URL
//! export CAIRN_TEST_CHROMA_URL
//! cargo test -p cairn-vectordb --features chroma --test chroma
//! scripts/peers/chroma.sh stop /tmp/cairn-chroma
//! ```
//!
//! Every test makes collections of its own (unique names) and deletes them at the end. The
//! check that an inexpressible filter is refused before any request, and that the token is
//! sent, run against a small fake server in this file that counts what it is asked.

use cairn_core::{
    Chunk, Classify, CmpOp, CollectionInfo, Document, DocumentUpsert, ErrorClass, Filter,
    FilterValue, Metadata, VectorStore, VectorStoreError,
};
use cairn_store::conformance::{self, Options};
use cairn_vectordb::chroma::ChromaStore;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// MiniLM's dimension.
const DIM: usize = 384;

fn url() -> String {
    match std::env::var("CAIRN_TEST_CHROMA_URL") {
        Ok(u) if !u.trim().is_empty() => u,
        _ => panic!(
            "CAIRN_TEST_CHROMA_URL is not set: start a Chroma server with \
             `scripts/peers/chroma.sh start DIR` and export the line it prints \
             (CAIRN_TEST_CHROMA_URL=http://127.0.0.1:PORT); stop it with \
             `scripts/peers/chroma.sh stop DIR`"
        ),
    }
}

/// A collection name no other test or run uses.
fn unique(what: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "cairn-{what}-{}-{nanos:x}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn info(name: &str, dim: usize) -> CollectionInfo {
    CollectionInfo {
        name: name.to_string(),
        model: "test-model".into(),
        dim,
    }
}

/// Fresh collections, deleted when `cleanup` runs.
#[derive(Default)]
struct Fresh {
    names: Mutex<Vec<String>>,
}

impl Fresh {
    async fn store(&self, what: &str, dim: usize) -> ChromaStore {
        let name = unique(what);
        self.names.lock().unwrap().push(name.clone());
        ChromaStore::open(&url(), &name, Some(&info(&name, dim)))
            .await
            .unwrap_or_else(|e| panic!("creating the collection {name}: {e}"))
    }

    async fn cleanup(&self) {
        let names = std::mem::take(&mut *self.names.lock().unwrap());
        for name in names {
            if let Ok(s) = ChromaStore::open(&url(), &name, None).await {
                s.delete_collection().await.unwrap();
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chroma_conforms() {
    let fresh = Fresh::default();
    let t = Instant::now();
    let report =
        conformance::run_with(|| fresh.store("conformance", DIM), &Options::default()).await;
    println!("{report}");
    println!("whole suite: {:.1} s", t.elapsed().as_secs_f64());
    fresh.cleanup().await;
    assert!(!report.lexical, "Chroma has no ranked full-text search");
    // Every operator of the filter language compiles exactly (chroma_filter.rs).
    assert_eq!(
        report.unsupported_filters,
        Vec::<String>::new(),
        "filters Chroma was expected to express"
    );
    assert!(
        report.recall_at_10.iter().all(|&r| r >= 0.95),
        "{:?}",
        report.recall_at_10
    );
}

fn chunk(doc: &str, i: usize, metadata: &Metadata) -> Chunk {
    Chunk {
        id: format!("{doc}#{i}"),
        doc_id: doc.to_string(),
        ordinal: i as u32,
        text: format!("text {i} of {doc}"),
        start: i * 10,
        end: i * 10 + 9,
        heading_path: vec![],
        context: String::new(),
        metadata: metadata.clone(),
    }
}

fn axis(dim: usize, i: usize) -> Vec<f32> {
    let mut v = vec![0.01; dim];
    v[i % dim] = 1.0;
    v
}

fn document(id: &str, metadata: Metadata, n: usize, dim: usize) -> DocumentUpsert {
    let chunks = (0..n)
        .map(|i| (chunk(id, i, &metadata), axis(dim, i + id.len())))
        .collect();
    let mut d = DocumentUpsert::new(
        Document {
            id: id.to_string(),
            source: format!("{id}.txt"),
            title: None,
            kind: "text".into(),
            text: String::new(),
            metadata,
        },
        chunks,
    );
    d.content_hash = Some(format!("hash of {id}"));
    d
}

fn meta(v: Value) -> Metadata {
    v.as_object().cloned().unwrap()
}

/// Beyond the suite's cases: the corners of Chroma's comparisons (integers against floats,
/// missing keys under `$ne`, mixed `in` lists, booleans ordered, keys Chroma reserves,
/// values it cannot hold), each compared with `Filter::matches` on every record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_agree_with_the_reference_on_chromas_corner_cases() {
    let fresh = Fresh::default();
    let s = fresh.store("corners", 8).await;
    let metas = [
        json!({"n": 2020, "s": "a", "b": true, "$x": 1, "": "leer", "cairn:doc_id": "fake"}),
        json!({"n": 2020.0, "s": "b", "b": false, "chroma:x": "c", "#document": "d"}),
        json!({"n": "2020", "s": 5, "arr": ["a", 1], "obj": {"n": 1}, "nul": null}),
        json!({"n": 1, "s": "a", "d": "2024-06-01T10:00:00+02:00", "big": 18446744073709551615u64}),
        json!({}),
        json!({"n": 0.5, "d": "2024-06-01", "b": "true"}),
        json!({"n": -3, "d": "not a date", "nul": null, "$x": "1"}),
        json!({"n": 1.5, "s": "", "d": 20240601}),
    ];
    let docs: Vec<DocumentUpsert> = metas
        .iter()
        .enumerate()
        .map(|(i, m)| document(&format!("c{i}"), meta(m.clone()), 1, 8))
        .collect();
    let written: Vec<(String, Metadata)> = docs
        .iter()
        .map(|d| (d.chunks[0].chunk.id.clone(), d.document.metadata.clone()))
        .collect();
    s.upsert(docs).await.unwrap();
    let date = |t: &str| FilterValue::Date {
        text: t.into(),
        epoch: cairn_core::parse_date(t).unwrap(),
    };
    let not = |f: Filter| Filter::Not(Box::new(f));
    let mut cases: Vec<Filter> = [
        "n = 2020",
        "n = 2020.0",
        "n = \"2020\"",
        "n != 2020",
        "n != \"2020\"",
        "n < 1.5",
        "n <= 1",
        "n > 0.7",
        "n >= -3",
        "n > -3.5 and n < 1",
        "not n < 1.5",
        "not n != 2020",
        "s = a",
        "s != a",
        "s = \"\"",
        "not s = a",
        "s in [a, 5]",
        "s not in [a, 5]",
        "not s not in [a]",
        "b = true",
        "b != true",
        "b in [true, \"true\"]",
        "exists nul",
        "not exists nul",
        "exists arr",
        "exists obj",
        "exists s and not exists b",
        "arr = a",
        "obj != x",
        "arr not in [a]",
        "d > 2024-05-31",
        "d >= 2024-06-01T08:00:00Z",
        "not d > 2024-05-31",
        "d = 2024-06-01",
        "{\"big\": {\"$gt\": 1e19}}",
        "big = 18446744073709551615",
        "n in [1, 2020, \"2020\"]",
        "n not in [1, 2020]",
        "not (n = 1 or s = a)",
        "not (exists n and not exists s)",
    ]
    .iter()
    .map(|t| Filter::parse(&[*t]).unwrap_or_else(|e| panic!("{t}: {e}")))
    .collect();
    cases.extend([
        Filter::eq("$x", 1.0),
        Filter::eq("$x", "1"),
        Filter::eq("", "leer"),
        Filter::exists(""),
        not(Filter::exists("$x")),
        Filter::eq("cairn:doc_id", "fake"),
        Filter::cmp("cairn:doc_id", CmpOp::Ne, "c0"),
        Filter::eq("chroma:x", "c"),
        Filter::eq("#document", "d"),
        Filter::cmp("b", CmpOp::Gt, false),
        Filter::cmp("b", CmpOp::Lte, true),
        not(Filter::cmp("b", CmpOp::Lt, true)),
        Filter::cmp("d", CmpOp::Eq, date("2024-06-01T08:00:00Z")),
        Filter::cmp("d", CmpOp::Ne, date("2024-06-01")),
        Filter::any_of("d", vec![date("2024-06-01"), "not a date".into()]),
        Filter::In {
            key: "d".into(),
            values: vec![date("2024-06-01")],
            negated: true,
        },
        Filter::cmp("n", CmpOp::Lt, f64::INFINITY),
        Filter::cmp("n", CmpOp::Ne, f64::NAN),
        not(Filter::cmp("n", CmpOp::Gt, f64::NEG_INFINITY)),
        Filter::Or(vec![]),
        Filter::And(vec![]),
        not(Filter::And(vec![])),
    ]);
    let q = axis(8, 3);
    for f in &cases {
        let mut want: Vec<&str> = written
            .iter()
            .filter(|(_, m)| f.matches(m))
            .map(|(id, _)| id.as_str())
            .collect();
        want.sort();
        let hits = s
            .query(&q, 100, f, false)
            .await
            .unwrap_or_else(|e| panic!("filter `{f}`: {e}"));
        let mut got: Vec<&str> = hits.iter().map(|h| h.chunk.id.as_str()).collect();
        got.sort();
        assert_eq!(got, want, "filter `{f}` (where {:?})", s.where_clause(f));
    }
    // Metadata Chroma cannot hold as it is reads back exactly.
    let got = s
        .get(
            &written
                .iter()
                .map(|(id, _)| id.as_str())
                .collect::<Vec<_>>(),
            false,
        )
        .await
        .unwrap();
    for (c, (id, m)) in got.iter().zip(&written) {
        assert_eq!(&c.chunk.id, id);
        assert_eq!(&c.chunk.metadata, m, "{id}");
    }
    fresh.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_port_is_unavailable_naming_the_store() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let e = ChromaStore::open(
        &format!("http://127.0.0.1:{port}"),
        "docs",
        Some(&info("docs", DIM)),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, VectorStoreError::Unavailable { .. }), "{e:?}");
    assert!(e.class().is_retryable());
    assert!(e.to_string().starts_with("chroma:docs: "), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_dimension_or_model_is_refused_before_any_write() {
    let fresh = Fresh::default();
    let s = fresh.store("dims", DIM).await;
    let name = s.info().await.unwrap().name;
    s.upsert(vec![document("a", Metadata::new(), 2, DIM)])
        .await
        .unwrap();
    let e = ChromaStore::open(&url(), &name, Some(&info(&name, 256)))
        .await
        .unwrap_err();
    match &e {
        VectorStoreError::DimensionMismatch {
            store,
            expected,
            found,
            ..
        } => {
            assert_eq!(
                (store.as_str(), *expected, *found),
                (s.name().as_str(), 384, 256)
            );
        }
        other => panic!("want DimensionMismatch, got {other:?}"),
    }
    let mut other_model = info(&name, DIM);
    other_model.model = "another-model".into();
    let e = ChromaStore::open(&url(), &name, Some(&other_model))
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::InvalidInput, "{e}");
    assert!(e.to_string().contains("another-model"), "{e}");
    // Opening to read takes what the collection says.
    let r = ChromaStore::open(&url(), &name, None).await.unwrap();
    assert_eq!(r.info().await.unwrap(), info(&name, DIM));
    assert_eq!(r.count().await.unwrap(), 2);
    // A vector of the wrong length is refused whole.
    let e = s
        .upsert(vec![
            document("b", Metadata::new(), 1, DIM),
            document("c", Metadata::new(), 1, 256),
        ])
        .await
        .unwrap_err();
    assert!(
        matches!(e, VectorStoreError::DimensionMismatch { .. }),
        "{e}"
    );
    assert_eq!(s.count().await.unwrap(), 2);
    fresh.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_collection_is_not_found_and_bad_names_are_refused_locally() {
    let name = unique("missing");
    let e = ChromaStore::open(&url(), &name, None).await.unwrap_err();
    assert!(matches!(e, VectorStoreError::NotFound { .. }), "{e:?}");
    assert!(
        e.to_string().contains(&name) && e.to_string().contains("ingest"),
        "{e}"
    );
    // Names Chroma would refuse are refused before any request (the port is closed).
    for bad in ["ab", "has space", "a..b", "-lead", "10.0.0.1", "ünï"] {
        let e = ChromaStore::open("http://127.0.0.1:9", bad, None)
            .await
            .unwrap_err();
        assert_eq!(e.class(), ErrorClass::InvalidInput, "{bad}: {e}");
        assert!(e.to_string().contains("collection name"), "{e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partly_written_document_loses_its_hash_and_a_rerun_converges() {
    let fresh = Fresh::default();
    let s = fresh.store("partial", 8).await;
    let d = document("p", meta(json!({"k": "v"})), 3, 8);
    s.upsert(vec![d.clone()]).await.unwrap();
    let listed = s.documents().await.unwrap();
    assert_eq!(listed[0].content_hash.as_deref(), Some("hash of p"));
    // What a failure between two batches leaves: some of the document's chunks.
    let name = s.info().await.unwrap().name;
    let rest =
        cairn_vectordb::http::Rest::new("test", &url(), &[], cairn_vectordb::http::DEFAULT_TIMEOUT)
            .unwrap();
    let db = "/api/v2/tenants/default_tenant/databases/default_database";
    let coll = rest
        .json(
            reqwest::Method::GET,
            &format!("{db}/collections/{name}"),
            None,
        )
        .await
        .unwrap();
    let id = coll["id"].as_str().unwrap();
    rest.json(
        reqwest::Method::POST,
        &format!("{db}/collections/{id}/delete"),
        Some(&json!({"ids": ["p#1"]})),
    )
    .await
    .unwrap();
    let listed = s.documents().await.unwrap();
    assert_eq!(listed[0].chunks, 2);
    assert_eq!(
        listed[0].content_hash, None,
        "an incomplete document must not look unchanged to an ingest"
    );
    s.upsert(vec![d.clone()]).await.unwrap();
    let listed = s.documents().await.unwrap();
    assert_eq!(
        (listed[0].chunks, listed[0].content_hash.as_deref()),
        (3, Some("hash of p"))
    );
    // A chunk id another document owns is refused whole.
    let mut thief = document("q", Metadata::new(), 1, 8);
    thief.chunks[0].chunk.id = "p#0".into();
    let e = s.upsert(vec![thief]).await.unwrap_err();
    assert_eq!(e.class(), ErrorClass::InvalidInput, "{e}");
    assert!(e.to_string().contains("another document"), "{e}");
    assert_eq!(s.count().await.unwrap(), 3);
    // Zero vectors are refused, longer ones stored normalised.
    let mut zero = document("z", Metadata::new(), 1, 8);
    zero.chunks[0].vector = vec![0.0; 8];
    assert_eq!(
        s.upsert(vec![zero]).await.unwrap_err().class(),
        ErrorClass::InvalidInput
    );
    let mut long = document("l", Metadata::new(), 1, 8);
    long.chunks[0].vector = vec![2.0; 8];
    s.upsert(vec![long]).await.unwrap();
    let got = s.get(&["l#0"], true).await.unwrap();
    let v = got[0].vector.as_ref().unwrap();
    assert!(
        v.iter().all(|x| (x - 8f32.sqrt().recip()).abs() < 1e-6),
        "{v:?}"
    );
    fresh.cleanup().await;
}

/// A stand-in for a Chroma server that answers opening a collection `fake-coll` and
/// queries, and records every request (method, path, token header).
struct FakeServer {
    url: String,
    seen: Arc<Mutex<Vec<String>>>,
}

fn fake_server() -> FakeServer {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let mut len = 0;
            let mut token = String::new();
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                    break;
                }
                let (k, v) = h.split_once(':').unwrap_or((&h, ""));
                match k.trim().to_ascii_lowercase().as_str() {
                    "content-length" => len = v.trim().parse().unwrap_or(0),
                    "x-chroma-token" => token = v.trim().to_string(),
                    _ => {}
                }
            }
            let mut body = vec![0; len];
            let _ = reader.read_exact(&mut body);
            let mut parts = line.split_whitespace();
            let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            log.lock()
                .unwrap()
                .push(format!("{method} {path} token={token}"));
            let (status, answer) = if path.ends_with("/collections/fake-coll") {
                (
                    200,
                    json!({
                        "id": "00000000-0000-0000-0000-000000000001",
                        "name": "fake-coll",
                        "metadata": {"cairn:model": "m", "cairn:dim": 4},
                        "configuration_json": {"hnsw": {"space": "cosine"}},
                    }),
                )
            } else if path == "/api/v2/pre-flight-checks" {
                (200, json!({"max_batch_size": 10}))
            } else if path.ends_with("/query") {
                (
                    200,
                    json!({"ids": [[]], "distances": [[]], "metadatas": [[]], "documents": [[]]}),
                )
            } else {
                (
                    404,
                    json!({"error": "NotFoundError", "message": "no such thing"}),
                )
            };
            let text = answer.to_string();
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{text}",
                text.len()
            );
        }
    });
    FakeServer { url, seen }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inexpressible_filter_is_refused_before_any_request() {
    let fake = fake_server();
    let s = ChromaStore::open(&fake.url, "fake-coll", None)
        .await
        .unwrap();
    assert_eq!(s.info().await.unwrap().dim, 4);
    let before = fake.seen.lock().unwrap().len();
    assert_eq!(before, 2, "{:?}", fake.seen.lock().unwrap());
    // Chroma orders numbers only: a range on a plain string cannot be expressed.
    let string_range = Filter::cmp("lang", CmpOp::Gt, "en");
    for f in [
        string_range.clone(),
        Filter::Not(Box::new(string_range.clone())),
        Filter::and([Filter::eq("a", "b"), Filter::Or(vec![string_range.clone()])]),
    ] {
        let e = s
            .query(&[1.0, 0.0, 0.0, 0.0], 5, &f, false)
            .await
            .unwrap_err();
        assert_eq!(e.class(), ErrorClass::Unsupported, "{e}");
        assert!(e.to_string().starts_with("chroma:fake-coll: "), "{e}");
        assert!(e.to_string().contains("lang > \"en\""), "{e}");
    }
    let e = s
        .query_lexical("words", 5, &Filter::default())
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::Unsupported, "{e}");
    assert_eq!(
        fake.seen.lock().unwrap().len(),
        before,
        "a request was sent: {:?}",
        fake.seen.lock().unwrap()
    );
    // A filter that matches nothing is answered without a request too; an expressible one
    // is sent.
    let none = Filter::Or(vec![]);
    assert!(s
        .query(&[1.0, 0.0, 0.0, 0.0], 5, &none, false)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(fake.seen.lock().unwrap().len(), before);
    s.query(&[1.0, 0.0, 0.0, 0.0], 5, &Filter::eq("a", "b"), false)
        .await
        .unwrap();
    assert_eq!(fake.seen.lock().unwrap().len(), before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_is_sent_as_x_chroma_token() {
    let fake = fake_server();
    // Only this test sets it, and only open() reads it; the real server ignores it.
    std::env::set_var("CHROMA_API_KEY", "s3cret-token");
    let opened = ChromaStore::open(&fake.url, "fake-coll", None).await;
    std::env::remove_var("CHROMA_API_KEY");
    let s = opened.unwrap();
    let seen = fake.seen.lock().unwrap().clone();
    assert!(
        seen.iter().all(|r| r.ends_with("token=s3cret-token")),
        "{seen:?}"
    );
    assert!(
        !format!("{s:?}").contains("s3cret"),
        "the token is never printed"
    );
}
