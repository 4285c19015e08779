//! The conformance suite every [`VectorStore`] passes: the embedded index, and the database
//! adapters (pgvector, Chroma, Qdrant, ...). A store's test calls [`run`] with a function that
//! makes a fresh, empty store (one per check); a failed check panics with a message naming
//! the check, the store and what differed.
//!
//! ```ignore
//! #[tokio::test(flavor = "multi_thread")]
//! async fn my_store_conforms() {
//!     let report = cairn_store::conformance::run(|| async { MyStore::connect_fresh(384).await }).await;
//!     println!("{report}");
//! }
//! ```
//!
//! Built only with the `conformance` feature. Everything is deterministic: fixed seeds, no
//! clock, no randomness from the environment.

use cairn_core::{
    Chunk, Classify, Document, DocumentUpsert, ErrorClass, Filter, Metadata, StoreHit, VectorStore,
    VectorStoreError,
};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::time::{Duration, Instant};

/// What [`run_with`] checks and how hard.
#[derive(Debug, Clone)]
pub struct Options {
    /// Chunks in the recall collection (written as documents of 10 chunks).
    pub recall_chunks: usize,
    /// Random query vectors scored against exact search.
    pub recall_queries: usize,
    /// How the recall collection and its queries are drawn: around this many random centres
    /// (Gaussian noise of the centre's length, then normalised), as embeddings cluster by
    /// topic; `0` draws uniformly random directions instead. Uniform directions are the
    /// degenerate case for every graph index: in 384 dimensions the embedded HNSW (M = 16,
    /// ef = 128) finds 0.65 of the exact top 10 of them, in 32 dimensions 0.997.
    pub recall_clusters: usize,
    /// The least mean recall@10 accepted, unfiltered and under each filter.
    pub min_recall: f64,
    /// Documents per `upsert` call when loading the recall collection.
    pub batch_docs: usize,
    /// Seed of every random vector the suite draws.
    pub seed: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            recall_chunks: 10_000,
            recall_queries: 100,
            recall_clusters: 500,
            min_recall: 0.95,
            batch_docs: 100,
            seed: 0xC0FFEE,
        }
    }
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct Report {
    pub store: String,
    /// Each check with how long it took and a note (what was measured or skipped).
    pub checks: Vec<(&'static str, Duration, String)>,
    /// Mean recall@10 against exact search: unfiltered, then under a 50% and a 10% filter.
    pub recall_at_10: [f64; 3],
    /// False when the store answered lexical queries with `Unsupported`.
    pub lexical: bool,
    /// The filters the store answered with `Unsupported` (it cannot express them).
    pub unsupported_filters: Vec<String>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "conformance of {}:", self.store)?;
        for (name, took, note) in &self.checks {
            writeln!(
                f,
                "  ok  {name:<24} {:>8.1} ms  {note}",
                took.as_secs_f64() * 1e3
            )?;
        }
        Ok(())
    }
}

/// Runs every check with the default [`Options`] (10k vectors, recall@10 ≥ 0.95).
pub async fn run<S, F, Fut>(make: F) -> Report
where
    S: VectorStore,
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
{
    run_with(make, &Options::default()).await
}

/// Runs every check, each on a fresh store from `make`; panics on the first that fails.
pub async fn run_with<S, F, Fut>(mut make: F, opts: &Options) -> Report
where
    S: VectorStore,
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
{
    let mut report = Report {
        store: String::new(),
        checks: Vec::new(),
        recall_at_10: [0.0; 3],
        lexical: false,
        unsupported_filters: Vec::new(),
    };
    macro_rules! check {
        ($name:literal, $f:ident $(, $arg:expr)*) => {{
            let store = make().await;
            if report.store.is_empty() {
                report.store = store.name();
            }
            let ctx = Ctx { check: $name, store: store.name() };
            let t = Instant::now();
            let note = $f(&ctx, &store $(, $arg)*).await;
            report.checks.push(($name, t.elapsed(), note));
        }};
    }
    check!("empty store", empty_store);
    check!("upsert then query", upsert_then_query, opts.seed);
    check!("re-upsert idempotence", reupsert_idempotence, opts.seed);
    check!("delete by document", delete_by_document, opts.seed);
    let mut unsupported = Vec::new();
    check!(
        "filter operators",
        filter_operators,
        opts.seed,
        &mut unsupported
    );
    report.unsupported_filters = unsupported;
    check!("documents and scan", documents_and_scan, opts.seed);
    check!("top-k order", top_k_order, opts.seed);
    check!("score range", score_range, opts.seed);
    check!("unicode metadata", unicode_metadata, opts.seed);
    check!("with vectors", with_vectors, opts.seed);
    check!("invalid input", invalid_input, opts.seed);
    let mut lexical = false;
    check!("lexical query", lexical_query, &mut lexical);
    report.lexical = lexical;
    let mut recall = [0.0; 3];
    check!("recall@10 vs exact", recall_vs_exact, opts, &mut recall);
    report.recall_at_10 = recall;
    report
}

struct Ctx {
    check: &'static str,
    store: String,
}

impl Ctx {
    fn fail(&self, message: impl fmt::Display) -> ! {
        panic!(
            "conformance check `{}` failed on {}: {message}",
            self.check, self.store
        )
    }

    fn ensure(&self, cond: bool, message: impl FnOnce() -> String) {
        if !cond {
            self.fail(message())
        }
    }

    fn ok<T>(&self, r: Result<T, VectorStoreError>, what: &str) -> T {
        r.unwrap_or_else(|e| self.fail(format_args!("{what} returned an error: {e}")))
    }
}

// ---- fixtures ------------------------------------------------------------------------------

/// Noise around a cluster centre, relative to the centre's length.
const NOISE: f64 = 1.5;

/// SplitMix64: small, fast and the same everywhere.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed)
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in (0, 1].
    fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }
    fn gaussian(&mut self) -> f64 {
        let (u, v) = (self.unit(), self.unit());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
    /// A uniformly random direction: L2-normalised Gaussian.
    fn unit_vector(&mut self, dim: usize) -> Vec<f32> {
        let v: Vec<f64> = (0..dim).map(|_| self.gaussian()).collect();
        normalise(v)
    }
    /// A direction near one of `centres` (unit vectors): the centre plus Gaussian noise of
    /// the same expected length, normalised.
    fn near(&mut self, centres: &[Vec<f32>]) -> Vec<f32> {
        let c = &centres[(self.next_u64() % centres.len() as u64) as usize];
        let sigma = NOISE / (c.len() as f64).sqrt();
        normalise(
            c.iter()
                .map(|&x| x as f64 + sigma * self.gaussian())
                .collect(),
        )
    }
}

fn normalise(v: Vec<f64>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    v.iter().map(|x| (x / n) as f32).collect()
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn meta(pairs: Value) -> Metadata {
    match pairs {
        Value::Object(m) => m,
        _ => Metadata::new(),
    }
}

/// A document `id` with one chunk per vector; every chunk carries the document's metadata.
fn doc(id: &str, metadata: Metadata, vectors: Vec<Vec<f32>>) -> DocumentUpsert {
    let texts: Vec<String> = (0..vectors.len())
        .map(|i| format!("chunk {i} of {id}: some words to index"))
        .collect();
    doc_with_texts(id, metadata, texts, vectors)
}

fn doc_with_texts(
    id: &str,
    metadata: Metadata,
    texts: Vec<String>,
    vectors: Vec<Vec<f32>>,
) -> DocumentUpsert {
    let full = texts.join("\n");
    let mut start = 0;
    let chunks = texts
        .into_iter()
        .zip(vectors)
        .enumerate()
        .map(|(i, (text, v))| {
            let end = start + text.len();
            let c = Chunk {
                id: format!("{id}#{i}"),
                doc_id: id.to_string(),
                ordinal: i as u32,
                start,
                end,
                heading_path: if i % 2 == 1 {
                    vec!["Part".to_string(), format!("Section {i}")]
                } else {
                    Vec::new()
                },
                context: if i % 2 == 1 {
                    format!("{id} > Section {i}")
                } else {
                    String::new()
                },
                text,
                metadata: metadata.clone(),
            };
            start = end + 1;
            (c, v)
        })
        .collect();
    DocumentUpsert::new(
        Document {
            id: id.to_string(),
            source: format!("{id}.txt"),
            title: Some(format!("Title of {id}")),
            kind: "text".into(),
            text: full,
            metadata,
        },
        chunks,
    )
}

/// Chunk id → the chunk, its vector, its document's source and title, as written.
type Written = HashMap<String, (Chunk, Vec<f32>, String, Option<String>)>;

/// Every chunk of a batch by id, with its vector, as written.
fn written(docs: &[DocumentUpsert]) -> Written {
    docs.iter()
        .flat_map(|d| {
            d.chunks.iter().map(|c| {
                (
                    c.chunk.id.clone(),
                    (
                        c.chunk.clone(),
                        c.vector.clone(),
                        d.document.source.clone(),
                        d.document.title.clone(),
                    ),
                )
            })
        })
        .collect()
}

/// The exact top `k` ids and scores among `chunks` for `q`, best first, under `filter`.
fn exact(chunks: &Written, q: &[f32], k: usize, filter: &Filter) -> Vec<(String, f32)> {
    let mut all: Vec<(String, f32)> = chunks
        .iter()
        .filter(|(_, (c, ..))| filter.matches(&c.metadata))
        .map(|(id, (_, v, ..))| (id.clone(), dot(q, v)))
        .collect();
    all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    all.truncate(k);
    all
}

fn ids(hits: &[StoreHit]) -> Vec<&str> {
    hits.iter().map(|h| h.chunk.id.as_str()).collect()
}

fn check_order(ctx: &Ctx, hits: &[StoreHit], what: &str) {
    for w in hits.windows(2) {
        ctx.ensure(w[0].score >= w[1].score - 1e-6, || {
            format!(
                "{what}: scores are not in descending order ({} {} before {} {})",
                w[0].chunk.id, w[0].score, w[1].chunk.id, w[1].score
            )
        });
    }
    let unique: HashSet<&str> = ids(hits).into_iter().collect();
    ctx.ensure(unique.len() == hits.len(), || {
        format!("{what}: a chunk is returned twice: {:?}", ids(hits))
    });
}

fn same_chunk(ctx: &Ctx, got: &Chunk, want: &Chunk, what: &str) {
    ctx.ensure(got == want, || {
        format!(
            "{what}: chunk {} does not read back as written:\n  got  {got:?}\n  want {want:?}",
            want.id
        )
    });
}

async fn dim_of<S: VectorStore>(ctx: &Ctx, store: &S) -> usize {
    let info = ctx.ok(store.info().await, "info()");
    ctx.ensure(info.dim > 0, || "info() reports dimension 0".into());
    info.dim
}

fn none() -> Filter {
    Filter::default()
}

/// Three documents with 2, 3 and 1 chunks.
fn three_docs(dim: usize, seed: u64) -> Vec<DocumentUpsert> {
    let mut rng = Rng::new(seed);
    let mut vs = |n: usize| (0..n).map(|_| rng.unit_vector(dim)).collect::<Vec<_>>();
    vec![
        doc("docs/a.md", meta(json!({"lang": "en"})), vs(2)),
        doc("docs/b.md", meta(json!({"lang": "de"})), vs(3)),
        doc(
            "docs/c.md",
            meta(json!({"lang": "en", "year": 2021})),
            vs(1),
        ),
    ]
}

// ---- checks --------------------------------------------------------------------------------

async fn empty_store<S: VectorStore>(ctx: &Ctx, store: &S) -> String {
    let info = ctx.ok(store.info().await, "info()");
    ctx.ensure(info.dim > 0, || "info() reports dimension 0".into());
    ctx.ensure(!info.model.is_empty(), || {
        "info() reports no model id".into()
    });
    ctx.ensure(ctx.ok(store.count().await, "count()") == 0, || {
        "a fresh store is not empty".into()
    });
    let q = Rng::new(1).unit_vector(info.dim);
    let hits = ctx.ok(store.query(&q, 10, &none(), false).await, "query()");
    ctx.ensure(hits.is_empty(), || {
        format!("an empty store returned hits: {:?}", ids(&hits))
    });
    let got = ctx.ok(store.get(&["nothing#0"], true).await, "get()");
    ctx.ensure(got.is_empty(), || {
        "get() of an unknown id returned a chunk".into()
    });
    ctx.ok(
        store.delete_document("nothing").await,
        "delete_document() of an unknown document",
    );
    ctx.ok(store.upsert(Vec::new()).await, "upsert() of nothing");
    format!(
        "{} ({} dimensions, model {})",
        info.name, info.dim, info.model
    )
}

async fn upsert_then_query<S: VectorStore>(ctx: &Ctx, store: &S, seed: u64) -> String {
    let dim = dim_of(ctx, store).await;
    let docs = three_docs(dim, seed);
    let chunks = written(&docs);
    ctx.ok(store.upsert(docs).await, "upsert()");
    let n = ctx.ok(store.count().await, "count()");
    ctx.ensure(n == 6, || format!("count() is {n} after writing 6 chunks"));
    for (id, (chunk, v, source, title)) in &chunks {
        let hits = ctx.ok(store.query(v, 1, &none(), false).await, "query()");
        ctx.ensure(hits.len() == 1 && hits[0].chunk.id == *id, || {
            format!("querying with {id}'s own vector returned {:?}", ids(&hits))
        });
        let h = &hits[0];
        ctx.ensure((h.score - 1.0).abs() < 1e-4, || {
            format!("{id} scored {} against its own vector (want 1)", h.score)
        });
        same_chunk(ctx, &h.chunk, chunk, "query()");
        ctx.ensure(h.doc_id() == chunk.doc_id && h.chunk_id() == id, || {
            format!("hit ids: {} / {}", h.chunk_id(), h.doc_id())
        });
        ctx.ensure(h.source == *source && h.title == *title, || {
            format!(
                "{id}: source/title {:?} {:?}, want {source:?} {title:?}",
                h.source, h.title
            )
        });
    }
    // `get` keeps the order asked and leaves out unknown ids.
    let want = ["docs/b.md#2", "docs/a.md#0", "docs/zz.md#0", "docs/c.md#0"];
    let got = ctx.ok(store.get(&want, false).await, "get()");
    let got_ids: Vec<&str> = got.iter().map(|c| c.chunk.id.as_str()).collect();
    ctx.ensure(
        got_ids == ["docs/b.md#2", "docs/a.md#0", "docs/c.md#0"],
        || format!("get({want:?}) returned {got_ids:?}"),
    );
    for c in &got {
        let (chunk, _, source, title) = &chunks[&c.chunk.id];
        same_chunk(ctx, &c.chunk, chunk, "get()");
        ctx.ensure(c.source == *source && c.title == *title, || {
            format!("get(): {} source/title differ", c.chunk.id)
        });
    }
    "6 chunks in 3 documents found by their own vectors, read back field for field".into()
}

async fn reupsert_idempotence<S: VectorStore>(ctx: &Ctx, store: &S, seed: u64) -> String {
    let dim = dim_of(ctx, store).await;
    let docs = three_docs(dim, seed);
    ctx.ok(store.upsert(docs.clone()).await, "upsert()");
    for round in 0..2 {
        ctx.ok(store.upsert(docs.clone()).await, "upsert() again");
        let n = ctx.ok(store.count().await, "count()");
        ctx.ensure(n == 6, || {
            format!(
                "count() is {n} after writing the same 6 chunks {} times",
                round + 2
            )
        });
    }
    let q = Rng::new(seed ^ 1).unit_vector(dim);
    let hits = ctx.ok(store.query(&q, 100, &none(), false).await, "query()");
    ctx.ensure(hits.len() == 6, || {
        format!("query(k=100) returned {} hits, want 6", hits.len())
    });
    check_order(ctx, &hits, "query(k=100) after re-upserts");
    // Rewriting a document with fewer chunks removes the ones it no longer has.
    let mut rng = Rng::new(seed ^ 2);
    let v = rng.unit_vector(dim);
    let b = doc_with_texts(
        "docs/b.md",
        meta(json!({"lang": "de", "rev": 2})),
        vec!["the rewritten first chunk of b".into()],
        vec![v.clone()],
    );
    let new_b0 = b.chunks[0].chunk.clone();
    ctx.ok(
        store.upsert(vec![b]).await,
        "upsert() of a shorter document",
    );
    let n = ctx.ok(store.count().await, "count()");
    ctx.ensure(n == 4, || {
        format!("count() is {n} after b went from 3 chunks to 1, want 4")
    });
    let got = ctx.ok(
        store
            .get(&["docs/b.md#0", "docs/b.md#1", "docs/b.md#2"], false)
            .await,
        "get()",
    );
    ctx.ensure(got.len() == 1, || {
        format!(
            "b's removed chunks are still there: {:?}",
            got.iter().map(|c| &c.chunk.id).collect::<Vec<_>>()
        )
    });
    same_chunk(ctx, &got[0].chunk, &new_b0, "get() after rewriting b");
    let old_b2 = &docs[1].chunks[2].vector;
    let hits = ctx.ok(store.query(old_b2, 100, &none(), false).await, "query()");
    ctx.ensure(!ids(&hits).contains(&"docs/b.md#2"), || {
        "a removed chunk is still found".into()
    });
    let top = ctx.ok(store.query(&v, 1, &none(), false).await, "query()");
    ctx.ensure(ids(&top) == ["docs/b.md#0"], || {
        format!("b#0's new vector finds {:?}, not b#0", ids(&top))
    });
    "3 writes of one batch leave 6 chunks; a shorter rewrite drops the rest".into()
}

async fn delete_by_document<S: VectorStore>(ctx: &Ctx, store: &S, seed: u64) -> String {
    let dim = dim_of(ctx, store).await;
    let docs = three_docs(dim, seed);
    let chunks = written(&docs);
    ctx.ok(store.upsert(docs.clone()).await, "upsert()");
    ctx.ok(
        store.delete_document("docs/b.md").await,
        "delete_document()",
    );
    let n = ctx.ok(store.count().await, "count()");
    ctx.ensure(n == 3, || {
        format!("count() is {n} after deleting b's 3 of 6 chunks")
    });
    let got = ctx.ok(
        store
            .get(
                &["docs/b.md#0", "docs/b.md#1", "docs/b.md#2", "docs/a.md#1"],
                false,
            )
            .await,
        "get()",
    );
    let got_ids: Vec<&str> = got.iter().map(|c| c.chunk.id.as_str()).collect();
    ctx.ensure(got_ids == ["docs/a.md#1"], || {
        format!("after deleting b, get() returned {got_ids:?}")
    });
    same_chunk(
        ctx,
        &got[0].chunk,
        &chunks["docs/a.md#1"].0,
        "get() of another document",
    );
    for c in &docs[1].chunks {
        let hits = ctx.ok(store.query(&c.vector, 100, &none(), false).await, "query()");
        ctx.ensure(hits.iter().all(|h| h.doc_id() != "docs/b.md"), || {
            format!(
                "a deleted document's chunk is still found: {:?}",
                ids(&hits)
            )
        });
        ctx.ensure(hits.len() == 3, || {
            format!("query(k=100) returned {} hits, want 3", hits.len())
        });
    }
    ctx.ok(
        store.delete_document("docs/b.md").await,
        "delete_document() twice",
    );
    ctx.ok(
        store.delete_document("docs/never.md").await,
        "delete_document() of an unknown document",
    );
    ctx.ok(
        store.upsert(vec![docs[1].clone()]).await,
        "upsert() after delete",
    );
    let n = ctx.ok(store.count().await, "count()");
    ctx.ensure(n == 6, || {
        format!("count() is {n} after writing b back, want 6")
    });
    "deleting b removes its 3 chunks from count, get and query; deletes are idempotent".into()
}

async fn filter_operators<S: VectorStore>(
    ctx: &Ctx,
    store: &S,
    seed: u64,
    unsupported: &mut Vec<String>,
) -> String {
    let dim = dim_of(ctx, store).await;
    let mut rng = Rng::new(seed ^ 3);
    let langs = ["en", "de", "fr"];
    let places = ["Zürich", "Köln", "東京"];
    let docs: Vec<DocumentUpsert> = (0..12)
        .map(|i| {
            // The year is a number, except for one document where it is the string "2020".
            let year = if i == 5 {
                json!("2020")
            } else {
                json!(2020 + (i % 2))
            };
            let mut m = meta(json!({
                "lang": langs[i % 3],
                "year": year,
                "flag": i % 4 == 0,
                "ort": places[i % 3],
                "score": i as f64 / 10.0,
                "published": if i % 2 == 0 {
                    format!("2021-{:02}-01", 1 + i / 2)
                } else {
                    format!("2021-01-{:02}T{:02}:30:00+01:00", 1 + i, i)
                },
            }));
            if i % 6 == 0 {
                m.insert("extra".into(), json!("x"));
            }
            doc(
                &format!("f{i:02}"),
                m,
                vec![rng.unit_vector(dim), rng.unit_vector(dim)],
            )
        })
        .collect();
    let chunks = written(&docs);
    ctx.ok(store.upsert(docs).await, "upsert()");
    let cases: Vec<Vec<&str>> = vec![
        vec![],
        vec!["lang=en"],
        vec!["year=2020"],
        vec!["year=2021"],
        vec!["year=\"2020\""],
        vec!["flag=true"],
        vec!["flag=false"],
        vec!["lang=en", "year=2021"],
        vec!["ort=Zürich"],
        vec!["ort=東京", "flag=true"],
        vec!["extra=x"],
        vec!["lang=EN"],
        vec!["missing=x"],
        vec!["lang=en", "lang=de"],
        vec!["lang != en"],
        vec!["missing != x"],
        vec!["lang in [en, fr]"],
        vec!["lang not in [en, fr]"],
        vec!["year in [2021, 1999]"],
        vec!["score > 0.5"],
        vec!["score >= 0.5"],
        vec!["score < 0.25"],
        vec!["score <= 0.25 or score >= 1"],
        vec!["year >= 2021"],
        vec!["published > 2021-03-01"],
        vec!["published <= 2021-03-01T12:00:00Z"],
        vec!["published < 2021-01-05 and lang = de"],
        vec!["exists extra"],
        vec!["not exists extra"],
        vec!["not lang = en"],
        vec!["lang = en or flag = true"],
        vec!["(lang = en or lang = de) and not (flag = true)"],
        vec!["{\"$or\": [{\"ort\": \"Köln\"}, {\"score\": {\"$gt\": 0.9}}]}"],
    ];
    let q = rng.unit_vector(dim);
    for case in &cases {
        let f = Filter::parse(case).unwrap();
        let want = exact(&chunks, &q, usize::MAX, &f);
        let hits = match store.query(&q, 100, &f, false).await {
            Err(e) if e.class() == ErrorClass::Unsupported => {
                // A backend that cannot express an operator says so, naming the store.
                ctx.ensure(e.to_string().contains(&ctx.store), || {
                    format!("filter {case:?}: the unsupported error does not name the store: {e}")
                });
                unsupported.push(case.join(" and "));
                continue;
            }
            r => ctx.ok(r, "query() with a filter"),
        };
        let got: HashSet<&str> = ids(&hits).into_iter().collect();
        let want_ids: HashSet<&str> = want.iter().map(|w| w.0.as_str()).collect();
        ctx.ensure(got == want_ids, || {
            let mut extra: Vec<_> = got.difference(&want_ids).collect();
            let mut missing: Vec<_> = want_ids.difference(&got).collect();
            extra.sort();
            missing.sort();
            format!("filter {case:?}: returned {extra:?} that it should not, missed {missing:?}")
        });
        check_order(ctx, &hits, &format!("filter {case:?}"));
        // k smaller than the matches: the best matches.
        let hits = ctx.ok(store.query(&q, 3, &f, false).await, "query() with a filter");
        let want3: Vec<&str> = want.iter().take(3).map(|w| w.0.as_str()).collect();
        ctx.ensure(ids(&hits) == want3, || {
            format!(
                "filter {case:?}, k=3: returned {:?}, exact search says {want3:?}",
                ids(&hits)
            )
        });
        for h in &hits {
            ctx.ensure(f.matches(&h.chunk.metadata), || {
                format!(
                    "filter {case:?}: hit {} has metadata {:?}",
                    h.chunk.id, h.chunk.metadata
                )
            });
        }
    }
    let note = format!(
        "{} filters (eq, ne, in, nin, ranges on numbers and dates, exists, and/or/not, unicode, \
         types, absent keys) over 24 chunks",
        cases.len()
    );
    if unsupported.is_empty() {
        note
    } else {
        format!("{note}; unsupported here: {}", unsupported.join("; "))
    }
}

async fn documents_and_scan<S: VectorStore>(ctx: &Ctx, store: &S, seed: u64) -> String {
    let dim = dim_of(ctx, store).await;
    let mut rng = Rng::new(seed ^ 0x5CA4);
    // Ids written out of order, with one to three chunks; some carry a hash and an origin.
    let mut docs: Vec<DocumentUpsert> = (0..25)
        .map(|i| {
            let id = format!("scan/{:02}-{}", (i * 7) % 25, ["ä", "b", "ç"][i % 3]);
            let n = 1 + i % 3;
            let mut d = doc(
                &id,
                meta(json!({"i": i, "tag": format!("t{}", i % 4)})),
                (0..n).map(|_| rng.unit_vector(dim)).collect(),
            );
            if i % 2 == 0 {
                d.content_hash = Some(format!("hash-{i}"));
                d.origin = Some(format!("files/{i}.md"));
            }
            d
        })
        .collect();
    ctx.ok(store.upsert(docs[..10].to_vec()).await, "upsert()");
    ctx.ok(store.upsert(docs[10..].to_vec()).await, "upsert()");
    docs.sort_by(|a, b| a.document.id.cmp(&b.document.id));
    let listed = ctx.ok(store.documents().await, "documents()");
    let want_ids: Vec<&str> = docs.iter().map(|d| d.document.id.as_str()).collect();
    let got_ids: Vec<&str> = listed.iter().map(|e| e.id.as_str()).collect();
    ctx.ensure(got_ids == want_ids, || {
        format!("documents() lists {got_ids:?}, want {want_ids:?} (ascending id order)")
    });
    for (e, d) in listed.iter().zip(&docs) {
        ctx.ensure(e.chunks == d.chunks.len(), || {
            format!(
                "documents(): {} has {} chunks, {} were written",
                e.id,
                e.chunks,
                d.chunks.len()
            )
        });
        ctx.ensure(e.content_hash == d.content_hash, || {
            format!(
                "documents(): {} has hash {:?}, {:?} was written",
                e.id, e.content_hash, d.content_hash
            )
        });
        if d.origin.is_some() {
            ctx.ensure(e.origin == d.origin, || {
                format!(
                    "documents(): {} has origin {:?}, {:?} was written",
                    e.id, e.origin, d.origin
                )
            });
        }
    }
    // Pages of 7 until a short page: every document once, in order, as written.
    let mut scanned: Vec<DocumentUpsert> = Vec::new();
    let mut pages = 0;
    loop {
        let after = scanned.last().map(|d| d.document.id.clone());
        let page = ctx.ok(store.scan(after.as_deref(), 7).await, "scan()");
        pages += 1;
        ctx.ensure(page.len() <= 7, || {
            format!("scan(limit 7) returned {} documents", page.len())
        });
        let short = page.len() < 7;
        scanned.extend(page);
        if short || pages > 10 {
            break;
        }
    }
    let got_ids: Vec<&str> = scanned.iter().map(|d| d.document.id.as_str()).collect();
    ctx.ensure(got_ids == want_ids, || {
        format!("scan() in pages of 7 returned {got_ids:?}, want {want_ids:?}")
    });
    for (got, want) in scanned.iter().zip(&docs) {
        let (g, w) = (&got.document, &want.document);
        ctx.ensure(
            g.source == w.source
                && g.title == w.title
                && g.kind == w.kind
                && g.metadata == w.metadata,
            || {
                format!(
                    "scan(): document {} reads back as {g:?}, written {w:?}",
                    w.id
                )
            },
        );
        ctx.ensure(got.content_hash == want.content_hash, || {
            format!(
                "scan(): {} has hash {:?}, {:?} was written",
                w.id, got.content_hash, want.content_hash
            )
        });
        ctx.ensure(got.chunks.len() == want.chunks.len(), || {
            format!(
                "scan(): {} has {} chunks, {} were written",
                w.id,
                got.chunks.len(),
                want.chunks.len()
            )
        });
        for (gc, wc) in got.chunks.iter().zip(&want.chunks) {
            same_chunk(ctx, &gc.chunk, &wc.chunk, "scan()");
            let close = gc.vector.len() == wc.vector.len()
                && gc
                    .vector
                    .iter()
                    .zip(&wc.vector)
                    .all(|(a, b)| (a - b).abs() < 1e-5);
            ctx.ensure(close, || {
                format!("scan(): chunk {} has another vector", wc.chunk.id)
            });
        }
    }
    let gone = docs[3].document.id.clone();
    ctx.ok(store.delete_document(&gone).await, "delete_document()");
    let listed = ctx.ok(store.documents().await, "documents()");
    ctx.ensure(
        listed.len() == 24 && listed.iter().all(|e| e.id != gone),
        || {
            format!(
                "documents() after deleting {gone} lists {} documents",
                listed.len()
            )
        },
    );
    format!("25 documents listed and scanned in {pages} pages, as written")
}

/// Six documents of ten chunks each.
fn sixty(dim: usize, seed: u64) -> Vec<DocumentUpsert> {
    let mut rng = Rng::new(seed);
    (0..6)
        .map(|d| {
            doc(
                &format!("t{d}"),
                meta(json!({"d": d})),
                (0..10).map(|_| rng.unit_vector(dim)).collect(),
            )
        })
        .collect()
}

async fn top_k_order<S: VectorStore>(ctx: &Ctx, store: &S, seed: u64) -> String {
    let dim = dim_of(ctx, store).await;
    let docs = sixty(dim, seed ^ 4);
    let chunks = written(&docs);
    ctx.ok(store.upsert(docs).await, "upsert()");
    let mut rng = Rng::new(seed ^ 5);
    for qi in 0..20 {
        let q = rng.unit_vector(dim);
        for k in [1, 5, 10, 59, 60, 61, 1000] {
            let hits = ctx.ok(store.query(&q, k, &none(), false).await, "query()");
            let want = exact(&chunks, &q, k, &none());
            ctx.ensure(hits.len() == want.len(), || {
                format!(
                    "query {qi}, k={k}: {} hits from 60 chunks, want {}",
                    hits.len(),
                    want.len()
                )
            });
            check_order(ctx, &hits, &format!("query {qi}, k={k}"));
            for (i, (h, w)) in hits.iter().zip(&want).enumerate() {
                ctx.ensure((h.score - w.1).abs() < 1e-4, || {
                    format!(
                        "query {qi}, k={k}: hit {i} is {} scoring {}, exact search has {} scoring {}",
                        h.chunk.id, h.score, w.0, w.1
                    )
                });
            }
        }
        let hits = ctx.ok(store.query(&q, 0, &none(), false).await, "query(k=0)");
        ctx.ensure(hits.is_empty(), || {
            format!("k=0 returned {} hits", hits.len())
        });
    }
    "20 queries × k in {1,5,10,59,60,61,1000} equal exact search over 60 chunks; k=0 is empty"
        .into()
}

async fn score_range<S: VectorStore>(ctx: &Ctx, store: &S, seed: u64) -> String {
    let dim = dim_of(ctx, store).await;
    let docs = sixty(dim, seed ^ 6);
    let chunks = written(&docs);
    ctx.ok(store.upsert(docs).await, "upsert()");
    let mut rng = Rng::new(seed ^ 7);
    let (mut lo, mut hi) = (f32::MAX, f32::MIN);
    for _ in 0..10 {
        let q = rng.unit_vector(dim);
        let hits = ctx.ok(store.query(&q, 60, &none(), false).await, "query()");
        for h in &hits {
            let cos = dot(&q, &chunks[&h.chunk.id].1);
            ctx.ensure((-1.0 - 1e-4..=1.0 + 1e-4).contains(&h.score), || {
                format!("{} scored {}, outside [-1, 1]", h.chunk.id, h.score)
            });
            ctx.ensure((h.score - cos).abs() < 1e-4, || {
                format!(
                    "{} scored {}, but its cosine with the query is {cos}",
                    h.chunk.id, h.score
                )
            });
            lo = lo.min(h.score);
            hi = hi.max(h.score);
        }
    }
    // A stored vector scores 1 against itself and -1 against its opposite.
    let (id, (_, v, ..)) = chunks.iter().min_by(|a, b| a.0.cmp(b.0)).unwrap();
    let neg: Vec<f32> = v.iter().map(|x| -x).collect();
    let hits = ctx.ok(store.query(&neg, 60, &none(), false).await, "query()");
    let last = hits
        .last()
        .unwrap_or_else(|| ctx.fail("query(k=60) returned nothing"));
    ctx.ensure(
        last.chunk.id == *id && (last.score + 1.0).abs() < 1e-4,
        || {
            format!(
                "against -{id}, the last hit is {} scoring {} (want {id}, -1)",
                last.chunk.id, last.score
            )
        },
    );
    // Cosine ignores the query's length.
    let long: Vec<f32> = v.iter().map(|x| x * 3.5).collect();
    let hits = ctx.ok(store.query(&long, 1, &none(), false).await, "query()");
    ctx.ensure(
        hits.len() == 1 && hits[0].chunk.id == *id && (hits[0].score - 1.0).abs() < 1e-4,
        || {
            format!(
                "a 3.5× longer copy of {id} finds {:?} scoring {:?}",
                ids(&hits),
                hits.first().map(|h| h.score)
            )
        },
    );
    format!("scores are cosines; seen {lo:.3}..{hi:.3}, -1 for an opposite, 1 for a scaled copy")
}

async fn unicode_metadata<S: VectorStore>(ctx: &Ctx, store: &S, seed: u64) -> String {
    let dim = dim_of(ctx, store).await;
    let mut rng = Rng::new(seed ^ 8);
    let m = meta(json!({
        "città": "Torino",
        "日本語のキー": "値 — ✓",
        "emoji 🎉": "ja",
        "key with spaces and \"quotes\"": "line\nbreak\ttab",
        "ß": {"ä": [1, "ß", null, true, 2.5], "leer": {}},
        "zahl": 3.25,
        "negativ": -42,
        "wahr": false,
        "nichts": null,
        "rtl": "שלום",
    }));
    let id = "docs/naïve café/日本語 #1.md";
    let texts = vec![
        "Grüße aus Köln — 東京 🎉".to_string(),
        "Ωμέγα and ẞ".to_string(),
    ];
    let mut d = doc_with_texts(
        id,
        m.clone(),
        texts,
        vec![rng.unit_vector(dim), rng.unit_vector(dim)],
    );
    d.document.title = Some("Über 🎯".into());
    d.chunks[1].chunk.heading_path = vec!["Kapitel 1".into(), "Überblick 🎯".into()];
    d.chunks[1].chunk.context = "Über 🎯 > Kapitel 1 > Überblick 🎯".into();
    let plain = doc(
        "plain",
        meta(json!({"città": "Roma"})),
        vec![rng.unit_vector(dim)],
    );
    let chunks = written(&[d.clone(), plain.clone()]);
    ctx.ok(store.upsert(vec![d.clone(), plain]).await, "upsert()");
    let want: Vec<&str> = d.chunks.iter().map(|c| c.chunk.id.as_str()).collect();
    let got = ctx.ok(store.get(&want, false).await, "get()");
    ctx.ensure(got.len() == 2, || {
        format!("get({want:?}) returned {} chunks", got.len())
    });
    for c in &got {
        same_chunk(ctx, &c.chunk, &chunks[&c.chunk.id].0, "get()");
        ctx.ensure(c.chunk.metadata == m, || {
            format!("metadata came back as {:?}", c.chunk.metadata)
        });
        ctx.ensure(c.title.as_deref() == Some("Über 🎯"), || {
            format!("title {:?}", c.title)
        });
    }
    let hits = ctx.ok(
        store.query(&d.chunks[1].vector, 1, &none(), false).await,
        "query()",
    );
    ctx.ensure(hits.len() == 1, || "query() found nothing".into());
    same_chunk(ctx, &hits[0].chunk, &d.chunks[1].chunk, "query()");
    for (case, n) in [
        (vec!["città=Torino"], 2),
        (vec!["città=Roma"], 1),
        (vec!["emoji 🎉=ja"], 2),
        (vec!["日本語のキー=値 — ✓"], 2),
        (vec!["rtl=שלום", "zahl=3.25"], 2),
        (vec!["negativ=-42", "wahr=false"], 2),
        (vec!["città=torino"], 0),
    ] {
        let f = Filter::parse(&case).unwrap();
        let hits = ctx.ok(
            store.query(&d.chunks[0].vector, 10, &f, false).await,
            "query()",
        );
        ctx.ensure(hits.len() == n, || {
            format!("filter {case:?} returned {:?}, want {n} chunks", ids(&hits))
        });
    }
    format!(
        "{} unicode keys, nested JSON, unicode ids, text, title, headings round-trip",
        m.len()
    )
}

async fn with_vectors<S: VectorStore>(ctx: &Ctx, store: &S, seed: u64) -> String {
    let dim = dim_of(ctx, store).await;
    let docs = sixty(dim, seed ^ 9);
    let chunks = written(&docs);
    ctx.ok(store.upsert(docs).await, "upsert()");
    let close = |a: &[f32], b: &[f32]| {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-5)
    };
    let q = Rng::new(seed ^ 10).unit_vector(dim);
    let f = Filter::parse(&["d=3"]).unwrap();
    for filter in [none(), f] {
        let hits = ctx.ok(
            store.query(&q, 15, &filter, true).await,
            "query(with_vectors)",
        );
        for h in &hits {
            let v = h.vector.as_deref().unwrap_or_else(|| {
                ctx.fail(format_args!(
                    "query(with_vectors = true): {} has no vector",
                    h.chunk.id
                ))
            });
            ctx.ensure(close(v, &chunks[&h.chunk.id].1), || {
                format!(
                    "{}'s returned vector differs from the stored one",
                    h.chunk.id
                )
            });
        }
    }
    let want = ["t0#3", "t5#9"];
    let got = ctx.ok(store.get(&want, true).await, "get(with_vectors)");
    ctx.ensure(got.len() == 2, || {
        format!("get({want:?}) returned {} chunks", got.len())
    });
    for c in &got {
        let v = c.vector.as_deref().unwrap_or_else(|| {
            ctx.fail(format_args!(
                "get(with_vectors = true): {} has no vector",
                c.chunk.id
            ))
        });
        ctx.ensure(close(v, &chunks[&c.chunk.id].1), || {
            format!("get(): {}'s vector differs from the stored one", c.chunk.id)
        });
    }
    "query and get return the stored vectors (±1e-5) when asked".into()
}

async fn invalid_input<S: VectorStore>(ctx: &Ctx, store: &S, seed: u64) -> String {
    let dim = dim_of(ctx, store).await;
    let docs = three_docs(dim, seed);
    ctx.ok(store.upsert(vec![docs[0].clone()]).await, "upsert()");
    let mut rng = Rng::new(seed ^ 11);
    let expect_invalid = |r: Result<(), VectorStoreError>, what: &str| match r {
        Ok(()) => ctx.fail(format_args!("{what} was accepted")),
        Err(e) => ctx.ensure(e.class() == ErrorClass::InvalidInput, || {
            format!(
                "{what}: the error is classified {:?}, want InvalidInput: {e}",
                e.class()
            )
        }),
    };
    // A wrong-length vector anywhere in a batch refuses the whole batch.
    let short = doc(
        "docs/short.md",
        Metadata::new(),
        vec![rng.unit_vector(dim + 1)],
    );
    expect_invalid(
        store.upsert(vec![docs[1].clone(), short]).await,
        "a batch with a vector of the wrong length",
    );
    // A chunk that names another document.
    let mut stray = docs[2].clone();
    stray.chunks[0].chunk.doc_id = "docs/other.md".into();
    expect_invalid(
        store.upsert(vec![stray]).await,
        "a chunk whose doc_id is not its document's",
    );
    // The same chunk id twice in one batch.
    let mut twice = docs[1].clone();
    let first = twice.chunks[0].chunk.id.clone();
    twice.chunks[1].chunk.id = first;
    expect_invalid(
        store.upsert(vec![twice]).await,
        "a batch with a chunk id twice",
    );
    let n = ctx.ok(store.count().await, "count()");
    ctx.ensure(n == 2, || {
        format!("count() is {n} after refused writes, want the 2 written before")
    });
    let got = ctx.ok(
        store
            .get(&["docs/b.md#0", "docs/short.md#0", "docs/c.md#0"], false)
            .await,
        "get()",
    );
    ctx.ensure(got.is_empty(), || {
        format!(
            "a refused batch was partly written: {:?}",
            got.iter().map(|c| &c.chunk.id).collect::<Vec<_>>()
        )
    });
    match store
        .query(&rng.unit_vector(dim + 3), 5, &none(), false)
        .await
    {
        Ok(_) => ctx.fail("a query vector of the wrong length was accepted"),
        Err(e) => ctx.ensure(e.class() == ErrorClass::InvalidInput, || {
            format!(
                "a wrong-length query: classified {:?}, want InvalidInput: {e}",
                e.class()
            )
        }),
    }
    "wrong dimensions, foreign chunks and duplicate ids are refused whole, as InvalidInput".into()
}

async fn lexical_query<S: VectorStore>(ctx: &Ctx, store: &S, supported: &mut bool) -> String {
    let dim = dim_of(ctx, store).await;
    let mut rng = Rng::new(11);
    let texts = [
        "the quick brown fox jumps over the lazy dog",
        "a zebra crossing in the city centre",
        "a fox alone in the snow",
        "nothing to see here at all",
    ];
    let docs: Vec<DocumentUpsert> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            doc_with_texts(
                &format!("l{i}"),
                meta(json!({"group": if i % 2 == 0 { "even" } else { "odd" }})),
                vec![t.to_string()],
                vec![rng.unit_vector(dim)],
            )
        })
        .collect();
    ctx.ok(store.upsert(docs).await, "upsert()");
    match store.query_lexical("zebra", 10, &none()).await {
        Err(e) if e.class() == ErrorClass::Unsupported => {
            *supported = false;
            return format!("unsupported, skipped ({e})");
        }
        Err(e) => ctx.fail(format_args!(
            "query_lexical() failed without saying Unsupported: {e}"
        )),
        Ok(hits) => {
            *supported = true;
            ctx.ensure(ids(&hits).first() == Some(&"l1#0"), || {
                format!("`zebra` found {:?}, want l1#0 first", ids(&hits))
            });
        }
    }
    let hits = ctx.ok(
        store.query_lexical("fox dog", 10, &none()).await,
        "query_lexical()",
    );
    check_order(ctx, &hits, "query_lexical(fox dog)");
    ctx.ensure(ids(&hits).first() == Some(&"l0#0"), || {
        format!(
            "`fox dog` ranks {:?}, want l0#0 (both words) first",
            ids(&hits)
        )
    });
    ctx.ensure(hits.iter().all(|h| h.score >= 0.0), || {
        "a lexical score is negative".into()
    });
    let hits = ctx.ok(
        store.query_lexical("fox dog", 1, &none()).await,
        "query_lexical()",
    );
    ctx.ensure(hits.len() == 1, || {
        format!("k=1 returned {} hits", hits.len())
    });
    let f = Filter::parse(&["group=odd"]).unwrap();
    let hits = ctx.ok(
        store.query_lexical("fox dog zebra", 10, &f).await,
        "query_lexical()",
    );
    ctx.ensure(ids(&hits) == ["l1#0"], || {
        format!("filter group=odd returned {:?}", ids(&hits))
    });
    ctx.ok(store.delete_document("l1").await, "delete_document()");
    let hits = ctx.ok(
        store.query_lexical("zebra", 10, &none()).await,
        "query_lexical()",
    );
    ctx.ensure(hits.is_empty(), || {
        format!("a deleted chunk is still found: {:?}", ids(&hits))
    });
    "ranks, k, filters and deletes hold for full-text queries".into()
}

async fn recall_vs_exact<S: VectorStore>(
    ctx: &Ctx,
    store: &S,
    opts: &Options,
    recall: &mut [f64; 3],
) -> String {
    let dim = dim_of(ctx, store).await;
    let mut rng = Rng::new(opts.seed ^ 12);
    let centres: Vec<Vec<f32>> = (0..opts.recall_clusters)
        .map(|_| rng.unit_vector(dim))
        .collect();
    let draw = |rng: &mut Rng| {
        if centres.is_empty() {
            rng.unit_vector(dim)
        } else {
            rng.near(&centres)
        }
    };
    let per_doc = 10;
    let n_docs = opts.recall_chunks.div_ceil(per_doc);
    let docs: Vec<DocumentUpsert> = (0..n_docs)
        .map(|d| {
            let n = per_doc.min(opts.recall_chunks - d * per_doc);
            doc(
                &format!("r{d:05}"),
                meta(json!({"half": d % 2, "tenth": format!("b{}", d % 10)})),
                (0..n).map(|_| draw(&mut rng)).collect(),
            )
        })
        .collect();
    let chunks = written(&docs);
    let t = Instant::now();
    let mut pending = docs;
    while !pending.is_empty() {
        let rest = pending.split_off(opts.batch_docs.min(pending.len()));
        ctx.ok(store.upsert(pending).await, "upsert()");
        pending = rest;
    }
    let load = t.elapsed();
    let n = ctx.ok(store.count().await, "count()");
    ctx.ensure(n as usize == opts.recall_chunks, || {
        format!("count() is {n} after writing {} chunks", opts.recall_chunks)
    });
    let filters = [
        none(),
        Filter::parse(&["half=0"]).unwrap(),
        Filter::parse(&["tenth=b3"]).unwrap(),
    ];
    let queries: Vec<Vec<f32>> = (0..opts.recall_queries).map(|_| draw(&mut rng)).collect();
    let t = Instant::now();
    for (fi, f) in filters.iter().enumerate() {
        let mut found = 0usize;
        let mut total = 0usize;
        for q in &queries {
            let want = exact(&chunks, q, 10, f);
            let hits = ctx.ok(store.query(q, 10, f, false).await, "query()");
            ctx.ensure(hits.len() == want.len(), || {
                format!("filter `{}`: {} hits, want {}", f, hits.len(), want.len())
            });
            check_order(ctx, &hits, "recall query");
            for h in &hits {
                ctx.ensure(f.matches(&h.chunk.metadata), || {
                    format!("filter `{}`: hit {} does not match it", f, h.chunk.id)
                });
            }
            let got: HashSet<&str> = ids(&hits).into_iter().collect();
            found += want.iter().filter(|w| got.contains(w.0.as_str())).count();
            total += want.len();
        }
        recall[fi] = found as f64 / total.max(1) as f64;
        ctx.ensure(recall[fi] >= opts.min_recall, || {
            format!(
                "recall@10 under filter `{}` is {:.4} over {} random queries, below {}",
                f,
                recall[fi],
                queries.len(),
                opts.min_recall
            )
        });
    }
    let query_time = t.elapsed();
    format!(
        "{} {} chunks ({dim}-d) loaded in {:.1} s; recall@10 {:.4} / {:.4} (50% filter) / {:.4} (10% filter) over {} queries ({:.2} ms each)",
        opts.recall_chunks,
        if centres.is_empty() { "uniform".to_string() } else { format!("clustered ({})", centres.len()) },
        load.as_secs_f64(),
        recall[0],
        recall[1],
        recall[2],
        queries.len(),
        query_time.as_secs_f64() * 1e3 / (3 * queries.len()).max(1) as f64,
    )
}
