//! Measures what the derived.bin checksum costs on load: builds an index of N chunks
//! (default 200,000; 384-d, exact search), then times loading the cache and the CRC-32 alone.
//!
//! cargo run -p cairn-store --example derived_load -- [N] [DIR]

use cairn_core::{Chunk, Document, Metadata};
use cairn_store::hnsw::synthetic_clustered;
use cairn_store::{DocWrite, Index, Searcher, SearcherOptions};
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args
        .next()
        .map(|a| a.parse().expect("N"))
        .unwrap_or(200_000);
    let tmp = tempfile::tempdir().unwrap();
    let dir = args
        .next()
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| tmp.path().to_path_buf());
    let dim = 384;
    let opts = SearcherOptions {
        hnsw_min_chunks: usize::MAX,
        write_cache: true,
    };
    if !dir.join("index.sqlite").exists() {
        let vecs = synthetic_clustered(n, dim, 1000, 7);
        let t = Instant::now();
        let mut idx = Index::open_for_write(&dir, "bench-model", dim).unwrap();
        let words = [
            "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "theta", "kappa",
        ];
        let mut batch = Vec::new();
        for i in 0..n {
            let text: String = (0..40)
                .map(|j| {
                    format!(
                        "{}{} ",
                        words[(i * 7 + j * 3) % 8],
                        (i * 31 + j * 17) % 5000
                    )
                })
                .collect();
            batch.push(DocWrite {
                doc: Document {
                    id: format!("doc{i}"),
                    source: format!("doc{i}.txt"),
                    title: None,
                    kind: "text".into(),
                    text: text.clone(),
                    metadata: Metadata::new(),
                },
                origin: format!("/x/doc{i}.txt"),
                hash: format!("h{i}"),
                chunks: vec![(
                    Chunk {
                        id: format!("doc{i}#0"),
                        doc_id: format!("doc{i}"),
                        ordinal: 0,
                        end: text.len(),
                        text,
                        start: 0,
                        heading_path: vec![],
                        context: String::new(),
                        metadata: Metadata::new(),
                    },
                    vecs.get(i as u32).to_vec(),
                )],
            });
            if batch.len() == 5000 {
                idx.write_batch(&batch, &[]).unwrap();
                batch.clear();
            }
        }
        idx.write_batch(&batch, &[]).unwrap();
        drop(idx);
        eprintln!("wrote {n} chunks in {:.1}s", t.elapsed().as_secs_f64());
        let t = Instant::now();
        let s = Searcher::open_with_options(&dir, opts).unwrap();
        assert!(s.rebuilt);
        eprintln!("rebuilt from SQLite in {:.2}s", t.elapsed().as_secs_f64());
    }
    let bytes = std::fs::read(dir.join("derived.bin")).unwrap();
    let mut load = Vec::new();
    let mut crc = Vec::new();
    let mut read = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let s = Searcher::open_with_options(&dir, opts).unwrap();
        load.push(t.elapsed().as_secs_f64());
        assert!(!s.rebuilt);
        let t = Instant::now();
        std::hint::black_box(std::fs::read(dir.join("derived.bin")).unwrap());
        read.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        std::hint::black_box(cairn_store::checksum(&bytes[20..]));
        crc.push(t.elapsed().as_secs_f64());
    }
    let med = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (l, r, c) = (med(&mut load), med(&mut read), med(&mut crc));
    println!(
        "{n} chunks, derived.bin {:.0} MB: open (cache) {:.0} ms, of which reading the file ~{:.0} ms and CRC-32 {:.1} ms ({:.1}% of the open, {:.1} GB/s)",
        bytes.len() as f64 / 1e6,
        l * 1e3,
        r * 1e3,
        c * 1e3,
        100.0 * c / l,
        bytes.len() as f64 / c / 1e9
    );
}
