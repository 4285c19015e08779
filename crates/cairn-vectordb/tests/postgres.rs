//! The Postgres store against a real PostgreSQL with pgvector: the conformance suite every
//! store passes, filters checked against `Filter::matches` on awkward values, and bad input
//! (a closed port, a wrong password, another dimension, a foreign chunk id, a missing
//! collection).
//!
//! Needs `CAIRN_TEST_PG_URL`, which `scripts/peers/postgres.sh start DIR` prints:
//!
//! ```sh
//! eval "export $(scripts/peers/postgres.sh start /tmp/cairn-pg)"
//! cargo test -p cairn-vectordb --features postgres --test postgres
//! scripts/peers/postgres.sh stop /tmp/cairn-pg
//! ```

use cairn_core::{
    Chunk, Classify, CmpOp, CollectionInfo, Document, DocumentUpsert, ErrorClass, Filter,
    FilterValue, Metadata, VectorStore, VectorStoreError,
};
use cairn_store::conformance::{self, Options};
use cairn_vectordb::postgres::{IndexBuild, PgOptions, PgStore};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

const DIM: usize = 384;

fn url() -> String {
    match std::env::var("CAIRN_TEST_PG_URL") {
        Ok(u) if !u.is_empty() => u,
        _ => panic!(
            "CAIRN_TEST_PG_URL is not set. These tests need PostgreSQL with pgvector: run \
             `scripts/peers/postgres.sh start DIR` (it prints CAIRN_TEST_PG_URL=...), export that \
             line, and `scripts/peers/postgres.sh stop DIR` afterwards"
        ),
    }
}

fn info(dim: usize) -> CollectionInfo {
    CollectionInfo {
        name: String::new(),
        model: "test-model".into(),
        dim,
    }
}

/// A collection name no other test (or earlier run) uses.
fn unique(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros()
        % 1_000_000_000_000;
    format!(
        "t_{tag}_{}_{t}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Stores made by a test, dropped at its end.
#[derive(Clone, Default)]
struct Made {
    stores: Arc<Mutex<Vec<PgStore>>>,
    options: PgOptions,
}

impl Made {
    fn with(options: PgOptions) -> Self {
        Made {
            stores: Default::default(),
            options,
        }
    }

    async fn fresh(&self, tag: &str, dim: usize) -> PgStore {
        let s = PgStore::open_with(&url(), &unique(tag), Some(&info(dim)), &self.options)
            .await
            .unwrap_or_else(|e| panic!("opening a fresh collection: {e}"));
        self.stores.lock().unwrap().push(s.clone());
        s
    }

    fn last(&self) -> PgStore {
        self.stores.lock().unwrap().last().unwrap().clone()
    }

    async fn drop_all(&self) {
        let stores: Vec<PgStore> = std::mem::take(&mut *self.stores.lock().unwrap());
        for s in stores {
            s.drop_collection().await.unwrap();
        }
    }
}

/// The suite with `options`; says whether the recall collection (the last store) was indexed.
async fn conforms(tag: &'static str, options: PgOptions) -> bool {
    let made = Made::with(options);
    let m = made.clone();
    let t = Instant::now();
    let report = conformance::run_with(
        move || {
            let m = m.clone();
            async move { m.fresh(tag, DIM).await }
        },
        &Options::default(),
    )
    .await;
    println!("{report}");
    println!(
        "recall@10: {:?}; the whole suite took {:.1} s",
        report.recall_at_10,
        t.elapsed().as_secs_f64()
    );
    assert!(report.lexical, "Postgres has full-text search: {report}");
    assert!(
        report.unsupported_filters.is_empty(),
        "every filter compiles to SQL: {:?}",
        report.unsupported_filters
    );
    assert!(report.recall_at_10.iter().all(|&r| r >= 0.95), "{report}");
    let indexed = made.last().has_index().await.unwrap();
    made.drop_all().await;
    indexed
}

/// As shipped: writes are plain COPYs, search is exact below 10k chunks, and the first query
/// of the 10k-chunk recall collection builds the HNSW index the recall queries then use.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_conforms() {
    assert!(
        conforms("conf", PgOptions::default()).await,
        "the 10k-chunk recall collection was not indexed"
    );
}

/// With the index from the first write: kept up row by row (and rebuilt after batches large
/// next to the collection) while the suite writes, deletes and rewrites.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_conforms_through_an_index_kept_up_by_every_write() {
    let options = PgOptions {
        hnsw_min_chunks: 0,
        index_build: IndexBuild::OnWrite,
        ..PgOptions::default()
    };
    assert!(conforms("confidx", options).await);
}

fn doc(id: &str, metadata: Metadata, chunks: Vec<(&str, Vec<f32>)>) -> DocumentUpsert {
    DocumentUpsert::new(
        Document {
            id: id.into(),
            source: format!("{id}.txt"),
            title: None,
            kind: "text".into(),
            text: String::new(),
            metadata: metadata.clone(),
        },
        chunks
            .into_iter()
            .enumerate()
            .map(|(i, (cid, v))| {
                (
                    Chunk {
                        id: cid.into(),
                        doc_id: id.into(),
                        ordinal: i as u32,
                        text: format!("text of {cid}"),
                        start: 0,
                        end: 1,
                        heading_path: vec![],
                        context: String::new(),
                        metadata: metadata.clone(),
                    },
                    v,
                )
            })
            .collect(),
    )
}

fn axis(i: usize) -> Vec<f32> {
    let mut v = vec![0.0; DIM];
    v[i % DIM] = 1.0;
    v
}

fn names_the_store(e: &VectorStoreError, store: &str) {
    assert!(e.to_string().starts_with(store), "{e}");
}

/// A URL with its password replaced.
fn with_password(url: &str, password: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a postgres:// URL");
    let (userinfo, host) = rest.split_once('@').expect("a URL with user and password");
    let user = userinfo.split(':').next().unwrap();
    format!("{scheme}://{user}:{password}@{host}")
}

/// A URL with its host and port replaced.
fn with_port(url: &str, port: u16) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (userinfo, host) = rest.split_once('@').unwrap();
    let path = host.split_once('/').map(|(_, p)| p).unwrap_or("");
    format!("{scheme}://{userinfo}@127.0.0.1:{port}/{path}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_port_is_unavailable_and_names_the_store() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = with_port(&url(), port);
    let e = PgStore::open(&url, "docs", Some(&info(DIM)))
        .await
        .unwrap_err();
    assert!(
        matches!(e, VectorStoreError::Unavailable { .. }),
        "want Unavailable: {e}"
    );
    assert_eq!(e.class(), ErrorClass::Transient);
    names_the_store(&e, "postgres:docs");
    let msg = e.to_string();
    assert!(
        msg.contains(&format!("127.0.0.1:{port}")) && msg.contains("is the server running"),
        "{msg}"
    );
    let password = url.split_once("://").unwrap().1.split_once('@').unwrap().0;
    assert!(
        !msg.contains(password),
        "the message shows the password: {msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_auth() {
    let url = with_password(&url(), "not-the-password");
    let e = PgStore::open(&url, "docs", None).await.unwrap_err();
    assert!(matches!(e, VectorStoreError::Auth { .. }), "want Auth: {e}");
    assert_eq!(e.class(), ErrorClass::Auth);
    names_the_store(&e, "postgres:docs");
    assert!(!e.to_string().contains("not-the-password"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collections_keep_their_dimension_and_model() {
    let made = Made::default();
    let s = made.fresh("dim", DIM).await;
    let name = s.info().await.unwrap().name;
    s.upsert(vec![doc("a", Metadata::new(), vec![("a#0", axis(0))])])
        .await
        .unwrap();
    let e = PgStore::open(&url(), &name, Some(&info(256)))
        .await
        .unwrap_err();
    match &e {
        VectorStoreError::DimensionMismatch {
            expected, found, ..
        } => assert_eq!((*expected, *found), (DIM, 256), "{e}"),
        _ => panic!("want DimensionMismatch: {e}"),
    }
    names_the_store(&e, &format!("postgres:{name}"));
    let other_model = CollectionInfo {
        model: "another-model".into(),
        ..info(DIM)
    };
    let e = PgStore::open(&url(), &name, Some(&other_model))
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::InvalidInput, "{e}");
    assert!(e.to_string().contains("test-model"), "{e}");
    // Refused before any write: the collection is as it was.
    let again = PgStore::open(&url(), &name, None).await.unwrap();
    assert_eq!(again.info().await.unwrap().dim, DIM);
    assert_eq!(again.info().await.unwrap().model, "test-model");
    assert_eq!(again.count().await.unwrap(), 1);
    assert_eq!(again.name(), format!("postgres:{name}"));
    made.drop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunk_id_owned_by_another_document_writes_nothing() {
    let made = Made::default();
    let s = made.fresh("owned", DIM).await;
    s.upsert(vec![doc("a", Metadata::new(), vec![("shared#0", axis(0))])])
        .await
        .unwrap();
    let generation = s.generation().await.unwrap();
    let e = s
        .upsert(vec![
            doc("c", Metadata::new(), vec![("c#0", axis(2))]),
            doc("b", Metadata::new(), vec![("shared#0", axis(1))]),
        ])
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::InvalidInput, "{e}");
    assert!(e.to_string().contains("another document"), "{e}");
    names_the_store(&e, &s.name());
    assert_eq!(s.count().await.unwrap(), 1);
    assert!(s.get(&["c#0"], false).await.unwrap().is_empty());
    assert_eq!(
        s.get(&["shared#0"], false).await.unwrap()[0].chunk.doc_id,
        "a"
    );
    let docs = s.documents().await.unwrap();
    assert_eq!(docs.len(), 1, "{docs:?}");
    assert_eq!(s.generation().await.unwrap(), generation);
    made.drop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_the_server_refuses_midway_writes_nothing() {
    let made = Made::default();
    let s = made.fresh("midway", DIM).await;
    // An id too long for a btree entry, and not compressible: refused during the COPY.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let long: String = (0..12_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b'a' + (x % 26) as u8)
        })
        .collect();
    let e = s
        .upsert(vec![
            doc("ok", Metadata::new(), vec![("ok#0", axis(0))]),
            doc("long", Metadata::new(), vec![(long.as_str(), axis(1))]),
        ])
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::InvalidInput, "{e}");
    names_the_store(&e, &s.name());
    assert_eq!(s.count().await.unwrap(), 0);
    assert!(s.documents().await.unwrap().is_empty());
    made.drop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_collections_are_not_found() {
    let name = unique("missing");
    let e = PgStore::open(&url(), &name, None).await.unwrap_err();
    assert!(
        matches!(e, VectorStoreError::NotFound { .. }),
        "want NotFound: {e}"
    );
    names_the_store(&e, &format!("postgres:{name}"));
    assert!(e.to_string().contains("ingest"), "{e}");
    // A collection dropped under an open store: a filtered query says NotFound.
    let made = Made::default();
    let s = made.fresh("gone", DIM).await;
    s.drop_collection().await.unwrap();
    let f = Filter::parse(&["lang = en"]).unwrap();
    let e = s.query(&axis(0), 5, &f, false).await.unwrap_err();
    assert_eq!(e.class(), ErrorClass::NotFound, "{e}");
    names_the_store(&e, &s.name());
    let e = s.query_lexical("word", 5, &f).await.unwrap_err();
    assert_eq!(e.class(), ErrorClass::NotFound, "{e}");
    // Bad names are refused before connecting.
    let e = PgStore::open(&url(), "Bad Name", None).await.unwrap_err();
    assert_eq!(e.class(), ErrorClass::InvalidInput, "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vectors_are_stored_normalised_and_zero_ones_refused() {
    let made = Made::default();
    let s = made.fresh("norm", DIM).await;
    let mut v = axis(3);
    v[3] = 4.0;
    s.upsert(vec![doc("a", Metadata::new(), vec![("a#0", v)])])
        .await
        .unwrap();
    let got = s.get(&["a#0"], true).await.unwrap();
    assert_eq!(got[0].vector.as_deref(), Some(axis(3).as_slice()));
    for bad in [vec![0.0; DIM], {
        let mut v = axis(1);
        v[2] = f32::NAN;
        v
    }] {
        let e = s
            .upsert(vec![doc("z", Metadata::new(), vec![("z#0", bad.clone())])])
            .await
            .unwrap_err();
        assert_eq!(e.class(), ErrorClass::InvalidInput, "{e}");
        let e = s
            .query(&bad, 3, &Filter::default(), false)
            .await
            .unwrap_err();
        assert_eq!(e.class(), ErrorClass::InvalidInput, "{e}");
    }
    let mut m = Metadata::new();
    m.insert("k".into(), json!("nul \u{0} inside"));
    let e = s
        .upsert(vec![doc("n", m, vec![("n#0", axis(4))])])
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::InvalidInput, "{e}");
    assert!(e.to_string().contains("NUL"), "{e}");
    assert_eq!(s.count().await.unwrap(), 1);
    made.drop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_first_uses_at_once_create_one_collection() {
    let name = unique("race");
    let url = url();
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let (url, name) = (url.clone(), name.clone());
            tokio::spawn(async move { PgStore::open(&url, &name, Some(&info(DIM))).await })
        })
        .collect();
    let mut stores = Vec::new();
    for t in tasks {
        stores.push(t.await.unwrap().unwrap());
    }
    stores[0]
        .upsert(vec![doc("a", Metadata::new(), vec![("a#0", axis(0))])])
        .await
        .unwrap();
    assert_eq!(stores[5].count().await.unwrap(), 1);
    stores[0].drop_collection().await.unwrap();
}

/// Values that trip typed comparisons: numbers of both spellings, numeric strings, booleans,
/// null, nested JSON, and date strings well- and ill-formed.
fn awkward_values() -> Vec<Value> {
    let mut v = vec![
        json!(2020),
        json!(2020.0),
        json!(2020.5),
        json!(-1),
        json!(0),
        json!(0.1),
        json!(1e300),
        json!("2020"),
        json!(""),
        json!("abc"),
        json!("Abc"),
        json!("ä"),
        json!("東京"),
        json!(true),
        json!(false),
        json!(null),
        json!([1, 2]),
        json!(["2020"]),
        json!({"a": 1}),
    ];
    for d in [
        "2021-03-01",
        "2021-03-01T12:00:00Z",
        "2021-03-01T12:00:00+02:00",
        "2021-03-01T14:00:00+04:00",
        "2021-03-01T12:00:00.1Z",
        "2021-03-01T12:00:00.123456789-00:30",
        "2021-03-01 12:00",
        "2021-03-01t12:00:00z",
        " 2021-03-01 ",
        "\u{3000}2021-03-01\u{2029}",
        "2021-02-29",
        "2020-02-29",
        "2021-3-01",
        "20210301",
        "2021-03-01T",
        "2021-03-01Z",
        "2021-03-01T24:00",
        "2021-03-01T23:60",
        "2021-03-01T23:59:60Z",
        "2021-03-01T23:59:61Z",
        "2021-03-01T12:00:00.Z",
        "2021-03-01T12:00:00+0200",
        "2021-03-01T12:00:00+24:00",
        "2021-03-01T12:00:00 Z",
        "0000-01-01",
        "0000-03-01",
        "9999-12-31T23:59:59-23:59",
        "2021-13-01",
        "2021-04-31",
        "١٢٣٤-01-01",
        "2021-03-01T12",
    ] {
        v.push(json!(d));
    }
    v
}

fn date(s: &str) -> FilterValue {
    FilterValue::Date {
        text: s.into(),
        epoch: cairn_core::parse_date(s).unwrap(),
    }
}

fn awkward_filters() -> Vec<Filter> {
    let scalars: Vec<FilterValue> = vec![
        2020.0.into(),
        2020.5.into(),
        0.1.into(),
        (-1.0).into(),
        0.0.into(),
        1e300.into(),
        f64::INFINITY.into(),
        f64::NAN.into(),
        "2020".into(),
        "".into(),
        "abc".into(),
        "Abc".into(),
        "ä".into(),
        "東京".into(),
        "2021-03-01".into(),
        true.into(),
        false.into(),
        date("2021-03-01"),
        date("2021-03-01T12:00:00Z"),
        date("2021-03-01T10:00:00Z"),
        date("2021-03-01T12:00:00.1Z"),
        date("2021-03-01T12:30:00.123456789Z"),
        date("2020-02-29"),
        date("0000-01-01"),
    ];
    let ops = [
        CmpOp::Eq,
        CmpOp::Ne,
        CmpOp::Gt,
        CmpOp::Gte,
        CmpOp::Lt,
        CmpOp::Lte,
    ];
    let mut out = Vec::new();
    for v in &scalars {
        for op in ops {
            out.push(Filter::Cmp {
                key: "v".into(),
                op,
                value: v.clone(),
            });
        }
    }
    for (i, w) in scalars.windows(3).enumerate() {
        for negated in [false, true] {
            out.push(Filter::In {
                key: if i % 4 == 3 { "w" } else { "v" }.into(),
                values: w.to_vec(),
                negated,
            });
        }
    }
    out.push(Filter::In {
        key: "v".into(),
        values: vec![],
        negated: true,
    });
    out.push(Filter::In {
        key: "v".into(),
        values: vec![],
        negated: false,
    });
    out.push(Filter::exists("v"));
    out.push(Filter::exists("w"));
    out.push(Filter::exists("nope"));
    out.push(Filter::And(vec![]));
    out.push(Filter::Or(vec![]));
    let base: Vec<Filter> = out.clone();
    for (i, f) in base.iter().enumerate().step_by(7) {
        let g = &base[(i * 13 + 5) % base.len()];
        out.push(Filter::Not(Box::new(f.clone())));
        out.push(Filter::And(vec![
            f.clone(),
            Filter::Not(Box::new(g.clone())),
        ]));
        out.push(Filter::Or(vec![
            Filter::Not(Box::new(f.clone())),
            g.clone(),
        ]));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_agree_with_filter_matches_on_awkward_values() {
    let made = Made::default();
    let s = made.fresh("filters", DIM).await;
    let values = awkward_values();
    let mut written: Vec<(String, Metadata)> = Vec::new();
    let docs: Vec<DocumentUpsert> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let mut m = Metadata::new();
            m.insert("v".into(), v.clone());
            if i % 3 == 0 {
                m.insert("w".into(), values[(i * 7) % values.len()].clone());
            }
            let id = format!("d{i:03}");
            let cid = format!("{id}#0");
            written.push((cid.clone(), m.clone()));
            doc(&id, m, vec![(cid.as_str(), axis(i))])
        })
        .collect();
    s.upsert(docs).await.unwrap();
    // Metadata reads back as written, JSON types kept.
    let ids: Vec<&str> = written.iter().map(|(id, _)| id.as_str()).collect();
    let got = s.get(&ids, false).await.unwrap();
    for (c, (_, m)) in got.iter().zip(&written) {
        assert_eq!(&c.chunk.metadata, m, "{}", c.chunk.id);
    }
    let mut q = vec![0.01; DIM];
    q[0] = 1.0;
    let filters = awkward_filters();
    let t = Instant::now();
    for f in &filters {
        let hits = s
            .query(&q, 1000, f, false)
            .await
            .unwrap_or_else(|e| panic!("filter {f}: {e}"));
        let got: HashSet<&str> = hits.iter().map(|h| h.chunk.id.as_str()).collect();
        let want: HashSet<&str> = written
            .iter()
            .filter(|(_, m)| f.matches(m))
            .map(|(id, _)| id.as_str())
            .collect();
        let mut extra: Vec<_> = got.difference(&want).collect();
        let mut missing: Vec<_> = want.difference(&got).collect();
        extra.sort();
        missing.sort();
        assert!(
            extra.is_empty() && missing.is_empty(),
            "filter {f} ({f:?}): returned {extra:?} that it should not, missed {missing:?}"
        );
    }
    println!(
        "{} filters agree with Filter::matches over {} values ({:.2} ms each)",
        filters.len(),
        values.len(),
        t.elapsed().as_secs_f64() * 1e3 / filters.len() as f64
    );
    made.drop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_is_built_when_the_policy_says() {
    let three = |base: usize| -> Vec<DocumentUpsert> {
        (0..3)
            .map(|i| {
                let id = format!("d{}", base + i);
                let cid = format!("{id}#0");
                doc(&id, Metadata::new(), vec![(cid.as_str(), axis(base + i))])
            })
            .collect()
    };
    // Manual: never by itself; build_index does.
    let made = Made::with(PgOptions {
        hnsw_min_chunks: 0,
        index_build: IndexBuild::Manual,
        ..PgOptions::default()
    });
    let s = made.fresh("manual", DIM).await;
    s.upsert(three(0)).await.unwrap();
    s.query(&axis(0), 2, &Filter::default(), false)
        .await
        .unwrap();
    assert!(!s.has_index().await.unwrap());
    s.build_index().await.unwrap();
    assert!(s.has_index().await.unwrap());
    s.upsert(three(3)).await.unwrap();
    let hits = s
        .query(&axis(4), 1, &Filter::default(), false)
        .await
        .unwrap();
    assert_eq!(hits[0].chunk.id, "d4#0");
    made.drop_all().await;
    // On the first query: not by writes, not below the threshold.
    let made = Made::with(PgOptions {
        hnsw_min_chunks: 6,
        ..PgOptions::default()
    });
    let s = made.fresh("lazy", DIM).await;
    s.upsert(three(0)).await.unwrap();
    s.query(&axis(0), 2, &Filter::default(), false)
        .await
        .unwrap();
    assert!(
        !s.has_index().await.unwrap(),
        "3 chunks, below the threshold"
    );
    s.upsert(three(3)).await.unwrap();
    assert!(!s.has_index().await.unwrap(), "writes do not build it");
    let hits = s
        .query(&axis(5), 1, &Filter::default(), false)
        .await
        .unwrap();
    assert_eq!(hits[0].chunk.id, "d5#0");
    assert!(
        s.has_index().await.unwrap(),
        "the first query at 6 chunks builds it"
    );
    // A batch as large as the collection drops it for the next query to rebuild.
    s.upsert(three(6).into_iter().chain(three(9)).collect())
        .await
        .unwrap();
    assert!(!s.has_index().await.unwrap());
    let hits = s
        .query(&axis(10), 1, &Filter::default(), false)
        .await
        .unwrap();
    assert_eq!(hits[0].chunk.id, "d10#0");
    assert!(s.has_index().await.unwrap());
    assert_eq!(s.count().await.unwrap(), 12);
    s.delete_document("d10").await.unwrap();
    assert_eq!(s.count().await.unwrap(), 11);
    made.drop_all().await;
}
