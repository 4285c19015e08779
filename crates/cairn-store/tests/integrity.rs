//! derived.bin is checksummed (damage is rebuilt from SQLite, never served), and a long-lived
//! searcher follows another process's writes through `refresh` and never reads another
//! chunk's row.

mod common;

use cairn_store::{Index, Searcher, StoreError};
use common::{build, doc_write_text, results, DIM};

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn damaged_cache_bytes_are_detected_and_rebuilt_from_sqlite() {
    let d = tempfile::tempdir().unwrap();
    let n = 1200;
    let vecs = build(d.path(), n);
    let fresh = Searcher::open(d.path()).unwrap();
    assert!(fresh.rebuilt);
    let expected = results(&fresh, &vecs);
    let dim_bytes: Vec<u8> = fresh
        .vectors()
        .get(0)
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    drop(fresh);
    let path = d.path().join("derived.bin");
    let good = std::fs::read(&path).unwrap();
    let loaded = Searcher::open(d.path()).unwrap();
    assert!(!loaded.rebuilt, "an intact cache is loaded");
    assert_eq!(results(&loaded, &vecs), expected);
    drop(loaded);

    // Negate every vector in the file (still a well-formed file, only the numbers differ).
    let at = find(&good, &dim_bytes).expect("vector 0 is stored in derived.bin");
    let mut negated = good.clone();
    for f in 0..n * DIM {
        negated[at + f * 4 + 3] ^= 0x80;
    }
    // One flipped bit in the BM25 part, one in the checksum itself, and the payload's length.
    let mut flipped = good.clone();
    flipped[at + n * DIM * 4 + 100] ^= 0x01;
    let mut bad_sum = good.clone();
    bad_sum[16] ^= 0x40;
    let mut bad_len = good.clone();
    bad_len[8] ^= 0x01;
    for (what, bytes) in [
        ("negated vectors", negated),
        ("a flipped BM25 byte", flipped),
        ("a damaged checksum", bad_sum),
        ("a damaged length", bad_len),
    ] {
        std::fs::write(&path, &bytes).unwrap();
        let s = Searcher::open(d.path()).unwrap();
        assert!(s.rebuilt, "{what}: the damaged cache must be rebuilt");
        assert_eq!(results(&s, &vecs), expected, "{what}");
        drop(s);
        // The rebuild replaced the damaged file with a good one.
        assert_eq!(std::fs::read(&path).unwrap(), good, "{what}");
    }
}

#[test]
fn checksum_cost_is_small_next_to_reading_the_file() {
    // The checksum runs over every byte of derived.bin on each open; it must stay a small
    // part of the load (crc32fast: several GB/s with PCLMULQDQ, ~1 GB/s without).
    let buf = vec![0x5au8; 64 << 20];
    let t = std::time::Instant::now();
    let c = cairn_store::checksum(&buf);
    let secs = t.elapsed().as_secs_f64();
    assert_ne!(c, 0);
    let gb_s = buf.len() as f64 / secs / 1e9;
    eprintln!("crc32 of 64 MiB: {:.1} ms ({gb_s:.1} GB/s)", secs * 1e3);
    assert!(gb_s > 0.5, "checksum throughput {gb_s:.2} GB/s");
}

#[test]
fn refresh_follows_another_writer_and_reads_rows_by_stable_id() {
    let d = tempfile::tempdir().unwrap();
    let n = 50;
    let vecs = build(d.path(), n);
    let mut s = Searcher::open(d.path()).unwrap();
    let g0 = s.generation();
    let pos = |s: &Searcher, doc: &str| (0..s.len() as u32).find(|&p| s.doc_id(p) == doc).unwrap();
    let (p3, p5, plast) = (pos(&s, "d3"), pos(&s, "d5"), pos(&s, "d49"));
    assert!(!s.is_stale().unwrap());

    // Another writer rewrites d3, deletes d49 (the highest rowid) and adds a document whose
    // chunk takes d49's rowid.
    {
        let mut w = Index::open_for_write(d.path(), "test-model", DIM).unwrap();
        w.write_batch(
            &[
                doc_write_text("d3", "rewritten gamma text", vecs.get(3)),
                doc_write_text("dnew", "a brand new zeta document", vecs.get(49)),
            ],
            &["d49".to_string()],
        )
        .unwrap();
    }
    assert!(s.is_stale().unwrap());
    assert_eq!(s.generation(), g0, "the snapshot keeps its generation");
    assert!(s.current_generation().unwrap() > g0);

    // Unchanged rows still read back; changed ones fail clearly instead of returning another
    // row (the old rowid-based read returned dnew's text for d49's position).
    assert_eq!(s.chunk(p5).unwrap().0.text, common::text_of(5));
    for p in [p3, plast] {
        match s.chunk(p) {
            Err(StoreError::Changed {
                opened, now, chunk, ..
            }) => {
                assert_eq!(opened, g0);
                assert!(now > g0);
                assert!(chunk == "d3#0" || chunk == "d49#0", "{chunk}");
            }
            other => panic!("position {p}: expected StoreError::Changed, got {other:?}"),
        }
    }
    let msg = s.chunk(p3).unwrap_err().to_string();
    assert!(msg.contains("refresh()"), "{msg}");
    assert!(matches!(
        s.section("d3", &[]),
        Err(StoreError::Changed { .. })
    ));
    // Asking for more hits than there are chunks returns them all.
    assert_eq!(s.bm25("document", usize::MAX, None).len(), n);
    assert_eq!(s.dense(vecs.get(0), usize::MAX, None).len(), n);
    assert!(matches!(
        s.chunk(10_000),
        Err(StoreError::Position {
            pos: 10_000,
            len: 50
        })
    ));

    // refresh() moves to the new generation; results then match a fresh open.
    assert!(s.refresh().unwrap());
    assert!(!s.refresh().unwrap(), "a second refresh has nothing to do");
    assert_eq!(s.len(), n);
    let fresh = Searcher::open(d.path()).unwrap();
    assert_eq!(s.generation(), fresh.generation());
    let zeta = s.bm25("zeta", 1, None);
    assert_eq!(s.doc_id(zeta[0].0), "dnew");
    assert_eq!(
        s.chunk(zeta[0].0).unwrap().0.text,
        "a brand new zeta document"
    );
    let gamma = s.bm25("gamma", 1, None);
    assert_eq!(s.chunk(gamma[0].0).unwrap().0.text, "rewritten gamma text");
    assert_eq!(
        s.section("d3", &[]).unwrap()[0].text,
        "rewritten gamma text"
    );
    assert_eq!(s.bm25("topic3", 10, None), fresh.bm25("topic3", 10, None));
}
