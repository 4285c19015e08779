//! The derived indexes: stamped with the generation, rebuilt when stale or damaged, HNSW on
//! large indexes agreeing with exact search.

use cairn_core::{Chunk, Document, Filter, Metadata};
use cairn_store::hnsw::synthetic_clustered;
use cairn_store::{DocWrite, Index, Searcher};

fn doc_write(i: usize, v: &[f32]) -> DocWrite {
    let mut metadata = Metadata::new();
    metadata.insert(
        "parity".into(),
        if i.is_multiple_of(2) { "even" } else { "odd" }.into(),
    );
    let text = format!("document number {i} about topic{}", i % 7);
    DocWrite {
        doc: Document {
            id: format!("d{i}"),
            source: format!("d{i}.txt"),
            title: None,
            kind: "text".into(),
            text: text.clone(),
            metadata: metadata.clone(),
        },
        origin: format!("/x/d{i}.txt"),
        hash: format!("h{i}"),
        chunks: vec![(
            Chunk {
                id: format!("d{i}#0"),
                doc_id: format!("d{i}"),
                ordinal: 0,
                end: text.len(),
                text,
                start: 0,
                heading_path: vec![],
                context: String::new(),
                metadata,
            },
            v.to_vec(),
        )],
    }
}

fn build(dir: &std::path::Path, n: usize) -> cairn_store::FlatIndex {
    let vecs = synthetic_clustered(n, 16, 20, 11);
    let mut idx = Index::open_for_write(dir, "test-model", 16).unwrap();
    let writes: Vec<DocWrite> = (0..n).map(|i| doc_write(i, vecs.get(i as u32))).collect();
    for batch in writes.chunks(500) {
        idx.write_batch(batch, &[]).unwrap();
    }
    vecs
}

#[test]
fn cache_is_stamped_and_rebuilt_when_stale_or_damaged() {
    let d = tempfile::tempdir().unwrap();
    build(d.path(), 1200);
    let s = Searcher::open(d.path()).unwrap();
    assert!(s.rebuilt);
    assert_eq!(s.len(), 1200);
    let g = s.generation();
    drop(s);
    let s = Searcher::open(d.path()).unwrap();
    assert!(!s.rebuilt, "second open must load the cache");
    assert_eq!(s.generation(), g);
    let before = s.bm25("topic3", 5, None);
    drop(s);

    // A new batch bumps the generation: the cache is stale and gets rebuilt.
    {
        let mut idx = Index::open_for_write(d.path(), "test-model", 16).unwrap();
        idx.write_batch(&[], &["d3".to_string()]).unwrap();
    }
    let s = Searcher::open(d.path()).unwrap();
    assert!(s.rebuilt);
    assert_eq!(s.len(), 1199);
    assert!(s.generation() > g);
    let after = s.bm25("topic3", 5, None);
    assert_ne!(before, after);
    drop(s);

    // A damaged cache is ignored and rebuilt.
    let path = d.path().join("derived.bin");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.truncate(bytes.len() / 2);
    std::fs::write(&path, bytes).unwrap();
    let s = Searcher::open(d.path()).unwrap();
    assert!(s.rebuilt);
    assert_eq!(s.len(), 1199);
}

#[test]
fn hnsw_agrees_with_exact_search_and_honours_filters() {
    let d = tempfile::tempdir().unwrap();
    let vecs = build(d.path(), 3000);
    let exact = Searcher::open_with(d.path(), usize::MAX).unwrap();
    assert!(!exact.uses_hnsw());
    drop(exact);
    let graph = Searcher::open_with(d.path(), 0).unwrap();
    assert!(graph.uses_hnsw());
    let mut overlap = 0;
    for q in (0..3000).step_by(60) {
        let query = vecs.get(q as u32);
        let e: Vec<u32> = graph
            .vectors()
            .search(query, 10, None)
            .into_iter()
            .map(|x| x.0)
            .collect();
        let h: Vec<u32> = graph
            .dense(query, 10, None)
            .into_iter()
            .map(|x| x.0)
            .collect();
        overlap += h.iter().filter(|x| e.contains(x)).count();
    }
    assert!(
        overlap as f64 / 500.0 > 0.95,
        "recall {}",
        overlap as f64 / 500.0
    );

    let allow = graph
        .allow(&Filter::parse(&["parity=even"]).unwrap())
        .unwrap();
    let hits = graph.dense(vecs.get(5), 10, Some(&allow));
    assert_eq!(hits.len(), 10);
    for (p, _) in hits {
        assert!(
            graph
                .doc_id(p)
                .trim_start_matches('d')
                .parse::<usize>()
                .unwrap()
                % 2
                == 0
        );
    }
    // More hits than chunks, with and without a filter, neither overflows nor panics.
    assert!(graph.dense(vecs.get(1), usize::MAX, None).len() <= 3000);
    assert!(graph.dense(vecs.get(1), usize::MAX, Some(&allow)).len() <= 1500);
    // The graph is cached with the rest.
    drop(graph);
    let again = Searcher::open_with(d.path(), 0).unwrap();
    assert!(!again.rebuilt && again.uses_hnsw());
}
