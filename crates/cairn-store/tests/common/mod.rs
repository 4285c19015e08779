//! Shared fixtures: small synthetic indexes with one chunk per document.
#![allow(dead_code)]

use cairn_core::{Chunk, Document, Metadata};
use cairn_store::hnsw::synthetic_clustered;
use cairn_store::{DocWrite, FlatIndex, Index, Searcher};
use std::path::Path;

pub const DIM: usize = 16;

pub fn doc_write_text(id: &str, text: &str, v: &[f32]) -> DocWrite {
    let mut metadata = Metadata::new();
    metadata.insert("name".into(), id.into());
    DocWrite {
        doc: Document {
            id: id.to_string(),
            source: format!("{id}.txt"),
            title: None,
            kind: "text".into(),
            text: text.to_string(),
            metadata: metadata.clone(),
        },
        origin: format!("/x/{id}.txt"),
        hash: format!("h-{id}-{}", text.len()),
        chunks: vec![(
            Chunk {
                id: format!("{id}#0"),
                doc_id: id.to_string(),
                ordinal: 0,
                end: text.len(),
                text: text.to_string(),
                start: 0,
                heading_path: vec![],
                context: String::new(),
                metadata,
            },
            v.to_vec(),
        )],
    }
}

pub fn text_of(i: usize) -> String {
    format!("document number {i} about topic{}", i % 7)
}

/// Writes `n` documents `d0..` with clustered vectors (in batches of 500); returns the vectors.
pub fn build(dir: &Path, n: usize) -> FlatIndex {
    let vecs = synthetic_clustered(n, DIM, 20, 11);
    let mut idx = Index::open_for_write(dir, "test-model", DIM).unwrap();
    let writes: Vec<DocWrite> = (0..n)
        .map(|i| doc_write_text(&format!("d{i}"), &text_of(i), vecs.get(i as u32)))
        .collect();
    for batch in writes.chunks(500) {
        idx.write_batch(batch, &[]).unwrap();
    }
    vecs
}

/// What a searcher answers for a fixed set of queries: BM25 and dense hits with scores, and
/// the text of each query's best chunk read back from SQLite. Equal strings mean equal results.
pub fn results(s: &Searcher, vecs: &FlatIndex) -> String {
    let mut out = String::new();
    for q in ["topic3", "document number 17", "topic5 about"] {
        let hits = s.bm25(q, 5, None);
        out.push_str(&format!("bm25 {q}: {hits:?}\n"));
        if let Some(&(p, _)) = hits.first() {
            out.push_str(&format!("  {}\n", s.chunk(p).unwrap().0.text));
        }
    }
    for q in [0u32, 7, 123, 400] {
        let hits = s.dense(vecs.get(q), 5, None);
        out.push_str(&format!("dense {q}: {hits:?}\n"));
        if let Some(&(p, _)) = hits.first() {
            out.push_str(&format!("  {}\n", s.chunk(p).unwrap().0.text));
        }
    }
    out
}

/// Every file in `dir` with its length, modification time and contents, for "nothing was
/// written" checks. `skip` names files left out.
pub fn listing(dir: &Path, skip: &[&str]) -> Vec<(String, u64, std::time::SystemTime, Vec<u8>)> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| !skip.contains(&e.file_name().to_str().unwrap()))
        .map(|e| {
            let m = e.metadata().unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                m.len(),
                m.modified().unwrap(),
                std::fs::read(e.path()).unwrap_or_default(),
            )
        })
        .collect();
    out.sort();
    out
}

pub fn names(l: &[(String, u64, std::time::SystemTime, Vec<u8>)]) -> Vec<&str> {
    l.iter().map(|e| e.0.as_str()).collect()
}
