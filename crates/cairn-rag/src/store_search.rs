//! Dense, full-text and hybrid search over any [`VectorStore`] (Postgres, Chroma, the
//! embedded index through its trait), with the same fusion as the embedded [`Retriever`]:
//! reciprocal rank fusion of the dense and lexical candidate lists, weights and `rrf_k` from
//! [`SearchOptions`], so a store's results compare with the embedded index's one to one.
//!
//! [`Retriever`]: crate::Retriever

use crate::fusion::reciprocal_rank_fusion;
use crate::search::{SearchError, SearchMode, SearchOptions};
use cairn_core::{
    Classify, ErrorClass, Hit, RetrieverScores, StoreHit, VectorStore, VectorStoreError,
};
use std::collections::HashMap;

/// Why a store search failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreSearchError {
    #[error(transparent)]
    Store(#[from] VectorStoreError),
    #[error(transparent)]
    Embed(#[from] SearchError),
    /// BM25 or hybrid on a store without full-text search.
    #[error("{store} has no full-text search, so `{mode}` search cannot run there; use dense")]
    NoLexical { store: String, mode: &'static str },
}

impl Classify for StoreSearchError {
    fn class(&self) -> ErrorClass {
        match self {
            StoreSearchError::Store(e) => e.class(),
            StoreSearchError::Embed(e) => e.class(),
            StoreSearchError::NoLexical { .. } => ErrorClass::Unsupported,
        }
    }
}

/// Searches `store` for `query` (whose embedding is `qv`; `None` in BM25 mode): at most
/// `opts.k` hits, best first, each dense and lexical list `opts.candidates` deep.
pub async fn search_store(
    store: &dyn VectorStore,
    query: &str,
    qv: Option<&[f32]>,
    opts: &SearchOptions,
) -> Result<Vec<Hit>, StoreSearchError> {
    let n = opts.candidates.max(opts.k);
    let dense = |depth: usize| async move {
        match qv {
            Some(v) => store.query(v, depth, &opts.filter, false).await,
            None => Ok(Vec::new()),
        }
    };
    let lexical = |depth: usize| async move {
        store
            .query_lexical(query, depth, &opts.filter)
            .await
            .map_err(|e| match e.class() {
                ErrorClass::Unsupported => StoreSearchError::NoLexical {
                    store: store.name(),
                    mode: opts.mode.as_str(),
                },
                _ => e.into(),
            })
    };
    Ok(match opts.mode {
        SearchMode::Dense => numbered(dense(opts.k).await?, true),
        SearchMode::Bm25 => numbered(lexical(opts.k).await?, false),
        SearchMode::Hybrid => {
            let (d, b) = (dense(n).await?, lexical(n).await?);
            fuse(d, b, opts)
        }
    })
}

fn numbered(hits: Vec<StoreHit>, dense: bool) -> Vec<Hit> {
    hits.into_iter()
        .enumerate()
        .map(|(i, h)| {
            if dense {
                h.into_dense_hit(i + 1)
            } else {
                h.into_lexical_hit(i + 1)
            }
        })
        .collect()
}

/// RRF over chunk ids, as [`crate::Retriever`] fuses positions.
fn fuse(dense: Vec<StoreHit>, lexical: Vec<StoreHit>, opts: &SearchOptions) -> Vec<Hit> {
    let mut ids: HashMap<String, u32> = HashMap::new();
    let mut hits: Vec<StoreHit> = Vec::new();
    let mut key = |h: StoreHit| -> u32 {
        match ids.get(h.chunk_id()) {
            Some(&i) => i,
            None => {
                let i = hits.len() as u32;
                ids.insert(h.chunk_id().to_string(), i);
                hits.push(h);
                i
            }
        }
    };
    let d: Vec<(u32, f32)> = dense
        .into_iter()
        .map(|h| (h.score, h))
        .map(|(s, h)| (key(h), s))
        .collect();
    let b: Vec<(u32, f32)> = lexical
        .into_iter()
        .map(|h| (h.score, h))
        .map(|(s, h)| (key(h), s))
        .collect();
    let rank_of = |list: &[(u32, f32)]| -> HashMap<u32, (usize, f32)> {
        list.iter()
            .enumerate()
            .map(|(i, (p, s))| (*p, (i + 1, *s)))
            .collect()
    };
    let (di, bi) = (rank_of(&d), rank_of(&b));
    let fused = reciprocal_rank_fusion(
        &[(opts.dense_weight, &d), (opts.bm25_weight, &b)],
        opts.rrf_k,
    );
    let mut slots: Vec<Option<StoreHit>> = hits.into_iter().map(Some).collect();
    fused
        .into_iter()
        .take(opts.k)
        .enumerate()
        .filter_map(|(i, (id, score))| {
            let h = slots[id as usize].take()?;
            Some(Hit {
                rank: i + 1,
                score,
                scores: RetrieverScores {
                    dense: di.get(&id).map(|x| x.1),
                    dense_rank: di.get(&id).map(|x| x.0),
                    bm25: bi.get(&id).map(|x| x.1),
                    bm25_rank: bi.get(&id).map(|x| x.0),
                    fused: Some(score),
                },
                chunk: h.chunk,
                source: h.source,
                title: h.title,
            })
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use cairn_core::{Chunk, Document, DocumentUpsert};

    fn store(dir: &std::path::Path) -> cairn_store::EmbeddedStore {
        cairn_store::EmbeddedStore::open(dir, "m", 2).unwrap()
    }

    /// A one-chunk document with a 2-d vector (shared with `store_retriever`'s tests).
    pub(crate) fn doc(id: &str, text: &str, v: [f32; 2]) -> DocumentUpsert {
        let c = Chunk {
            id: format!("{id}#0"),
            doc_id: id.into(),
            ordinal: 0,
            text: text.into(),
            start: 0,
            end: text.len(),
            heading_path: vec![],
            context: String::new(),
            metadata: Default::default(),
        };
        DocumentUpsert::new(
            Document {
                id: id.into(),
                source: format!("{id}.txt"),
                title: None,
                kind: "text".into(),
                text: text.into(),
                metadata: Default::default(),
            },
            vec![(c, v.to_vec())],
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hybrid_fuses_dense_and_lexical_by_rank() {
        let tmp = tempfile::tempdir().unwrap();
        let s = store(tmp.path());
        s.upsert(vec![
            doc("a", "granite cairns mark the trail", [1.0, 0.0]),
            doc("b", "cairns of granite", [0.0, 1.0]),
            doc("c", "nothing relevant here", [0.9, 0.1]),
        ])
        .await
        .unwrap();
        let mut opts = SearchOptions {
            k: 3,
            ..Default::default()
        };
        let q = [1.0f32, 0.0];
        let hits = search_store(&s, "granite cairns", Some(&q), &opts)
            .await
            .unwrap();
        // a: dense 1 + lexical 1 or 2; b: lexical only; c: dense 2 only.
        assert_eq!(hits[0].chunk.id, "a#0");
        assert!(hits[0].scores.fused.is_some() && hits[0].scores.bm25_rank.is_some());
        assert_eq!(hits.len(), 3);
        opts.mode = SearchMode::Dense;
        let dense = search_store(&s, "", Some(&q), &opts).await.unwrap();
        let ids: Vec<&str> = dense.iter().map(|h| h.chunk.id.as_str()).collect();
        assert_eq!(ids, ["a#0", "c#0", "b#0"]);
        assert_eq!(dense[1].rank, 2);
    }
}
