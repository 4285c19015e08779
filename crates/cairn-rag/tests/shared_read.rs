//! One `SharedRetriever` serves many threads while a writer ingests into the same index:
//! no search fails, every result is what the same query returns when run alone on the same
//! generation, and the writer's documents are visible through `current()` once committed.
//!
//! The embedder is a small deterministic stand-in (hashed bag of words, L2-normalised): what
//! is under test is the store's read side (the shared derived indexes, the connection pool,
//! moving between generations), not the quality of the vectors, and a real model would make
//! the test slow and dependent on downloaded weights.

use cairn_core::{EmbedError, Embedder, Hit, TokenCounter};
use cairn_ingest::{Chunker, ChunkerConfig, Strategy};
use cairn_rag::{
    Indexer, IngestOptions, NoProgress, Retriever, SearchMode, SearchOptions, SharedOptions,
    SharedRetriever,
};
use cairn_store::{Searcher, SearcherOptions};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

const DIM: usize = 64;
const READERS: usize = 8;
const SEARCHES: usize = 500;
const STEPS: usize = 6;
const NEW_PER_STEP: usize = 4;

/// Hashed bag of words: each word adds ±1 to one of `DIM` buckets (FNV-1a), then L2-normalised.
struct HashedWords;

fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.to_lowercase())
}

impl Embedder for HashedWords {
    fn model_id(&self) -> &str {
        "test-hashed-words"
    }
    fn dim(&self) -> usize {
        DIM
    }
    fn max_tokens(&self) -> usize {
        512
    }
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        Ok(texts
            .iter()
            .map(|t| {
                let mut v = vec![0f32; DIM];
                for w in words(t) {
                    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
                    for b in w.bytes() {
                        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
                    }
                    let sign = if h >> 63 == 0 { 1.0 } else { -1.0 };
                    v[(h % DIM as u64) as usize] += sign;
                }
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                if norm == 0.0 {
                    v[0] = 1.0;
                } else {
                    v.iter_mut().for_each(|x| *x /= norm);
                }
                v
            })
            .collect())
    }
}

struct Whitespace;
impl TokenCounter for Whitespace {
    fn count_tokens(&self, t: &str) -> usize {
        t.split_whitespace().count()
    }
}

fn indexer() -> Indexer {
    let cfg = ChunkerConfig {
        max_tokens: 48,
        overlap: 8,
        strategy: Strategy::Recursive,
    };
    let chunker = Chunker::new(Arc::new(Whitespace), cfg, 512).unwrap();
    Indexer::new(Arc::new(HashedWords), chunker)
}

const VOCAB: &[&str] = &[
    "river", "mountain", "forest", "desert", "ocean", "glacier", "valley", "canyon", "island",
    "meadow", "storm", "rain", "snow", "wind", "thunder", "sunlight", "shadow", "harbor", "bridge",
    "tower", "castle", "village", "market", "garden", "library", "engine", "signal", "copper",
    "silver", "granite", "marble", "timber", "lantern", "compass", "voyage", "pilgrim", "merchant",
    "sailor", "farmer", "scholar", "painter", "weaver", "falcon", "salmon", "wolf", "otter",
    "heron", "beetle", "orchard", "vineyard", "quarry", "furnace", "anchor", "kettle",
];

/// Deterministic text: `n` words drawn from `VOCAB` by a small LCG seeded with `seed`.
fn text(seed: u64, n: usize) -> String {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        out.push(VOCAB[((x >> 33) % VOCAB.len() as u64) as usize]);
        if i % 12 == 11 {
            out.push("\n\n");
        }
    }
    out.join(" ")
}

fn write_doc(dir: &Path, name: &str, title: &str, body: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(name), format!("# {title}\n\n{body}\n")).unwrap();
}

/// The word only step `s`'s documents contain.
fn marker(s: usize) -> String {
    format!("novel{s}")
}

const QUERIES: &[&str] = &[
    "river valley forest",
    "storm at the harbor",
    "copper and silver in the quarry",
    "the sailor's compass",
    "falcon heron otter",
    "a scholar in the library",
    "granite marble tower castle",
    "rain snow wind",
    "novel1 lantern",
    "novel3 merchant market",
    "novel5 orchard",
    "vineyard farmer garden",
];

fn opts() -> SearchOptions {
    SearchOptions {
        mode: SearchMode::Hybrid,
        k: 5,
        candidates: 20,
        ..Default::default()
    }
}

/// Every query run alone on a fresh, independent snapshot of the generation on disk now.
fn reference(index: &Path) -> (u64, Vec<Vec<Hit>>) {
    let searcher = Searcher::open_with_options(
        index,
        SearcherOptions {
            write_cache: false,
            ..Default::default()
        },
    )
    .unwrap();
    let retriever = Retriever::new(searcher, Some(Arc::new(HashedWords))).unwrap();
    let hits = QUERIES
        .iter()
        .map(|q| retriever.search(q, &opts()).unwrap())
        .collect();
    (retriever.searcher.generation(), hits)
}

/// A project folder with 40 documents ingested into `<root>/.cairn`.
fn project() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    let docs = root.join("docs");
    for i in 0..40 {
        write_doc(
            &docs,
            &format!("d{i:02}.md"),
            &format!("Document {i}"),
            &text(i, 30 + (i as usize % 5) * 15),
        );
    }
    let index = root.join(".cairn");
    let report = indexer()
        .ingest(&[&docs], &index, &IngestOptions::default(), &NoProgress)
        .unwrap();
    assert_eq!(report.added, 40);
    (tmp, root, index)
}

/// What one reader saw: the snapshot's generation, the query and its hits.
type Seen = (u64, usize, Vec<Hit>);

#[test]
fn eight_readers_share_one_retriever_while_a_writer_ingests() {
    let started = Instant::now();
    let (_tmp, root, index) = project();
    let check_every = Duration::from_millis(5);
    let shared = Arc::new(
        SharedRetriever::open_with(
            &index,
            Some(Arc::new(HashedWords)),
            SharedOptions {
                check_every,
                ..Default::default()
            },
        )
        .unwrap(),
    );
    let first = reference(&index);
    assert_eq!(first.0, shared.generation());
    let expected: Arc<Mutex<BTreeMap<u64, Vec<Vec<Hit>>>>> =
        Arc::new(Mutex::new(BTreeMap::from([first])));

    let total = READERS * SEARCHES;
    let progress = Arc::new(AtomicUsize::new(0));
    let ingesting = Arc::new(AtomicBool::new(false));
    let during_ingest = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(Barrier::new(READERS + 1));

    let writer = {
        let (progress, ingesting, expected, start) = (
            progress.clone(),
            ingesting.clone(),
            expected.clone(),
            start.clone(),
        );
        let (root, index) = (root.clone(), index.clone());
        std::thread::spawn(move || -> Vec<u64> {
            let indexer = indexer();
            let mut generations = Vec::new();
            let mut last = *expected.lock().unwrap().keys().last().unwrap();
            start.wait();
            for s in 1..=STEPS {
                // Commit while the readers are busy: the steps fall in the first half of
                // their work, so each generation is searched by them before they finish.
                while progress.load(Ordering::Relaxed) < (s - 1) * total / (2 * STEPS) {
                    std::thread::sleep(Duration::from_millis(1));
                }
                let dir = root.join(format!("new{s}"));
                for j in 0..NEW_PER_STEP {
                    let body = format!(
                        "{} {} {}",
                        marker(s),
                        text(1000 + (s * 10 + j) as u64, 40),
                        marker(s)
                    );
                    write_doc(&dir, &format!("n{j}.md"), &format!("New {s}.{j}"), &body);
                }
                ingesting.store(true, Ordering::SeqCst);
                let report = indexer
                    .ingest(&[&dir], &index, &IngestOptions::default(), &NoProgress)
                    .unwrap();
                ingesting.store(false, Ordering::SeqCst);
                assert_eq!(report.added, NEW_PER_STEP, "step {s}");
                assert_eq!(report.generation, last + 1, "step {s}: one commit per step");
                last = report.generation;
                let (generation, hits) = reference(&index);
                assert_eq!(generation, last, "only this thread writes");
                expected.lock().unwrap().insert(generation, hits);
                generations.push(generation);
            }
            generations
        })
    };

    let readers: Vec<_> = (0..READERS)
        .map(|t| {
            let (shared, progress, ingesting, during_ingest, start) = (
                shared.clone(),
                progress.clone(),
                ingesting.clone(),
                during_ingest.clone(),
                start.clone(),
            );
            std::thread::spawn(move || -> Result<Vec<Seen>, String> {
                start.wait();
                let mut seen = Vec::with_capacity(SEARCHES);
                for i in 0..SEARCHES {
                    let q = (t * 5 + i * 7) % QUERIES.len();
                    let r = shared.current().map_err(|e| format!("current(): {e}"))?;
                    let hits = r
                        .search(QUERIES[q], &opts())
                        .map_err(|e| format!("search {:?}: {e}", QUERIES[q]))?;
                    if ingesting.load(Ordering::SeqCst) {
                        during_ingest.fetch_add(1, Ordering::Relaxed);
                    }
                    seen.push((r.searcher.generation(), q, hits));
                    progress.fetch_add(1, Ordering::Relaxed);
                }
                Ok(seen)
            })
        })
        .collect();

    let mut all: Vec<Vec<Seen>> = Vec::new();
    let mut errors = Vec::new();
    for (t, h) in readers.into_iter().enumerate() {
        match h.join().expect("a reader panicked") {
            Ok(seen) => all.push(seen),
            Err(e) => errors.push(format!("reader {t}: {e}")),
        }
    }
    let written = writer.join().expect("the writer panicked");
    assert!(errors.is_empty(), "searches failed: {errors:#?}");
    assert_eq!(written.len(), STEPS);
    let final_generation = *written.last().unwrap();

    // Every result equals the single-threaded reference of its generation.
    let expected = expected.lock().unwrap();
    let mut generations_seen = BTreeSet::new();
    for (t, seen) in all.iter().enumerate() {
        assert_eq!(seen.len(), SEARCHES);
        let mut prev = 0;
        for (i, (generation, q, hits)) in seen.iter().enumerate() {
            assert!(
                *generation >= prev,
                "reader {t} went back from generation {prev} to {generation}"
            );
            prev = *generation;
            generations_seen.insert(*generation);
            let want = expected.get(generation).unwrap_or_else(|| {
                panic!("reader {t} saw generation {generation}, never committed")
            });
            assert_eq!(
                hits, &want[*q],
                "reader {t}, search {i} ({:?}) on generation {generation}",
                QUERIES[*q]
            );
            assert!(!hits.is_empty(), "{:?} finds something", QUERIES[*q]);
        }
    }
    // The readers moved with the writer, and kept searching while it ingested.
    assert!(
        generations_seen.len() >= 2,
        "readers saw only generations {generations_seen:?}"
    );
    assert!(
        during_ingest.load(Ordering::Relaxed) > 0,
        "no search completed while the writer was ingesting"
    );

    // After the last commit, `current()` serves the final generation within `check_every`.
    std::thread::sleep(check_every * 2);
    let now = shared.current().unwrap();
    assert_eq!(now.searcher.generation(), final_generation);
    assert!(!shared.refresh().unwrap(), "current() had already moved");
    let lexical = SearchOptions {
        mode: SearchMode::Bm25,
        k: 50,
        ..Default::default()
    };
    for s in 1..=STEPS {
        // Only step `s`'s documents hold its marker word: BM25 finds exactly them.
        let docs: BTreeSet<String> = now
            .search(&marker(s), &lexical)
            .unwrap()
            .into_iter()
            .map(|h| h.chunk.doc_id)
            .collect();
        let want: BTreeSet<String> = (0..NEW_PER_STEP)
            .map(|j| format!("new{s}/n{j}.md"))
            .collect();
        assert_eq!(docs, want, "step {s}'s documents are visible");
    }
    for (q, want) in expected[&final_generation].iter().enumerate() {
        assert_eq!(&now.search(QUERIES[q], &opts()).unwrap(), want);
    }
    eprintln!(
        "{} searches over generations {generations_seen:?} ({} during ingest) in {:.1?}",
        total,
        during_ingest.load(Ordering::Relaxed),
        started.elapsed()
    );
}

#[test]
fn refresh_moves_at_once_and_old_snapshots_keep_working() {
    let (_tmp, root, index) = project();
    let shared = SharedRetriever::open_with(
        &index,
        Some(Arc::new(HashedWords)),
        SharedOptions {
            check_every: Duration::from_secs(3600),
            ..Default::default()
        },
    )
    .unwrap();
    let old = shared.current().unwrap();
    let before = old.search("novel9 river", &opts()).unwrap();
    assert!(!shared.refresh().unwrap(), "nothing was written yet");

    let dir = root.join("later");
    write_doc(&dir, "x.md", "Later", "novel9 novel9 river");
    let report = indexer()
        .ingest(&[&dir], &index, &IngestOptions::default(), &NoProgress)
        .unwrap();
    assert_eq!(report.generation, old.searcher.generation() + 1);

    // The hourly check is not due: current() keeps the snapshot it has.
    let same = shared.current().unwrap();
    assert!(Arc::ptr_eq(&same, &old));
    assert!(same.searcher.is_stale().unwrap());

    assert!(shared.refresh().unwrap());
    let new = shared.current().unwrap();
    assert_eq!(new.searcher.generation(), report.generation);
    assert_eq!(shared.generation(), report.generation);
    let top = new.search("novel9", &opts()).unwrap();
    assert_eq!(top[0].chunk.doc_id, "later/x.md");
    assert!(!shared.refresh().unwrap());

    // A query that held the old snapshot still gets that generation's answer.
    assert_eq!(old.search("novel9 river", &opts()).unwrap(), before);
    assert!(before.iter().all(|h| h.chunk.doc_id != "later/x.md"));
    assert_eq!(old.searcher.generation() + 1, new.searcher.generation());
}
