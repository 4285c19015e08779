//! One `Arc<Searcher>` read by many threads: the same answers as one thread gets, SQLite
//! reads through a bounded pool of connections, snapshots that outlive a reopen, and
//! `StoreError::Changed` (never a hang) when every pooled connection meets a rewritten row.

mod common;

use cairn_store::hnsw::synthetic_clustered;
use cairn_store::{Index, Searcher, StoreError};
use common::{build, doc_write_text, results, text_of, DIM};
use std::sync::{Arc, Barrier};

const N: usize = 600;
const THREADS: usize = 8;

#[test]
fn threads_sharing_one_searcher_get_what_one_thread_gets() {
    let tmp = tempfile::tempdir().unwrap();
    let vecs = build(tmp.path(), N);
    let s = Arc::new(Searcher::open(tmp.path()).unwrap());
    let alone = results(&s, &vecs);
    let info = s.info().unwrap();
    let vecs = Arc::new(vecs);
    let start = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (s, vecs, start, alone, info) = (
                s.clone(),
                vecs.clone(),
                start.clone(),
                alone.clone(),
                info.clone(),
            );
            std::thread::spawn(move || {
                start.wait();
                for i in 0..40 {
                    assert_eq!(results(&s, &vecs), alone, "thread {t}, round {i}");
                    let p = ((t * 41 + i * 13) % N) as u32;
                    let (chunk, doc) = s.chunk(p).unwrap();
                    assert_eq!(chunk.id, s.chunk_id(p));
                    assert_eq!(doc.id, s.doc_id(p));
                    let section = s.section(&doc.id, &chunk.heading_path).unwrap();
                    assert_eq!(section.len(), 1);
                    assert_eq!(section[0].text, chunk.text);
                    assert_eq!(s.info().unwrap(), info);
                    assert!(!s.is_stale().unwrap());
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("a reader thread failed");
    }
    let open = s.read_connections();
    assert!(
        (1..=s.max_read_connections()).contains(&open),
        "{open} connections open, at most {} allowed",
        s.max_read_connections()
    );
    assert!(s.max_read_connections() >= 2);
}

#[test]
fn a_reopened_snapshot_shares_the_pool_and_the_old_one_keeps_its_generation() {
    let tmp = tempfile::tempdir().unwrap();
    build(tmp.path(), N);
    let old = Searcher::open(tmp.path()).unwrap();
    let before = old.bm25("omega", 5, None);
    assert!(before.is_empty());
    let vecs = synthetic_clustered(N, DIM, 20, 11);
    let mut w = Index::open_for_write(tmp.path(), "test-model", DIM).unwrap();
    w.write_batch(
        &[doc_write_text("extra", "an omega document", vecs.get(3))],
        &[],
    )
    .unwrap();
    assert!(old.is_stale().unwrap());

    let new = old.reopen().unwrap();
    assert_eq!(new.generation(), old.generation() + 1);
    assert_eq!(new.len(), old.len() + 1);
    assert!(!new.is_stale().unwrap());
    let hit = new.bm25("omega", 5, None);
    assert_eq!(hit.len(), 1);
    assert_eq!(new.chunk(hit[0].0).unwrap().0.id, "extra#0");
    // The old snapshot still answers for its own generation, through the shared pool.
    assert!(old.bm25("omega", 5, None).is_empty());
    assert_eq!(old.chunk(7).unwrap().0.text, text_of(7));
    assert_eq!(old.read_connections(), new.read_connections());

    let mut moving = old;
    assert!(moving.refresh().unwrap());
    assert_eq!(moving.generation(), new.generation());
    assert!(!moving.refresh().unwrap());
}

#[test]
fn rewritten_rows_fail_with_changed_on_every_thread_even_with_the_pool_full() {
    let tmp = tempfile::tempdir().unwrap();
    let vecs = build(tmp.path(), N);
    let s = Arc::new(Searcher::open(tmp.path()).unwrap());
    let opened = s.generation();
    // Rewrite d0..d15: their rows now carry a newer generation than the snapshot indexed.
    let mut w = Index::open_for_write(tmp.path(), "test-model", DIM).unwrap();
    let rewrites: Vec<_> = (0..16)
        .map(|i| doc_write_text(&format!("d{i}"), "rewritten", vecs.get(i as u32)))
        .collect();
    let now = w.write_batch(&rewrites, &[]).unwrap();
    let positions: Vec<u32> = (0..s.len() as u32)
        .filter(|&p| {
            s.doc_id(p)
                .strip_prefix('d')
                .and_then(|n| n.parse::<usize>().ok())
                .is_some_and(|n| n < 16)
        })
        .collect();
    assert_eq!(positions.len(), 16);
    let positions = Arc::new(positions);
    let start = Arc::new(Barrier::new(THREADS));
    let (done, finished) = std::sync::mpsc::channel();
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (s, positions, start, done) =
                (s.clone(), positions.clone(), start.clone(), done.clone());
            std::thread::spawn(move || {
                start.wait();
                for round in 0..20 {
                    let p = positions[(t + round) % positions.len()];
                    match s.chunk(p) {
                        Err(StoreError::Changed {
                            opened: o, now: n, ..
                        }) => {
                            assert_eq!((o, n), (opened, now), "thread {t}");
                        }
                        other => panic!("thread {t}, position {p}: {other:?}"),
                    }
                    let id = s.doc_id(p).to_string();
                    assert!(
                        matches!(s.section(&id, &[]), Err(StoreError::Changed { .. })),
                        "thread {t}: section of {id}"
                    );
                }
                done.send(t).unwrap();
            })
        })
        .collect();
    drop(done);
    // A reader that takes a second connection while holding one could wait forever.
    for _ in 0..THREADS {
        finished
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("a reader hung (or failed) waiting for a pooled connection");
    }
    for h in handles {
        h.join().expect("a reader thread failed");
    }
    assert!(s.read_connections() <= s.max_read_connections());
}
