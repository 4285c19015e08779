//! [`StoreRetriever`]: retrieval from any [`VectorStore`] (Postgres, Chroma, Qdrant, the
//! embedded index through its trait) for the ask pipeline, so `cairn ask --store URL`
//! answers exactly as it does from the embedded index: the same fusion ([`search_store`]),
//! the same relevance gate, near-duplicate removal and MMR over the chunks' stored vectors.
//!
//! ```no_run
//! # async fn demo(store: std::sync::Arc<dyn cairn_core::VectorStore>,
//! #               embedder: std::sync::Arc<dyn cairn_core::Embedder>) -> Result<(), cairn_rag::StoreSearchError> {
//! use cairn_rag::{SearchOptions, StoreRetriever};
//! let r = StoreRetriever::open(store, Some(embedder)).await?;
//! for hit in r.search("how are trails marked?", &SearchOptions::default()).await? {
//!     println!("{} {}", hit.rank, hit.source);
//! }
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::sync::Arc;

use cairn_core::{Classify, EmbedError, Embedder, Hit, VectorStore};

use crate::fusion::reciprocal_rank_fusion;
use crate::prepare::{candidates_of, AskOptions, Candidates};
use crate::search::{SearchError, SearchMode, SearchOptions};
use crate::select::Passage;
use crate::store_search::{search_store, StoreSearchError};
use crate::transform::QueryPlan;

/// A store and the embedder its queries are embedded with (none for BM25 alone).
#[derive(Clone)]
pub struct StoreRetriever {
    store: Arc<dyn VectorStore>,
    embedder: Option<Arc<dyn Embedder>>,
}

impl StoreRetriever {
    /// Without checking that the store's vectors come from `embedder`'s model
    /// ([`StoreRetriever::open`] checks).
    pub fn new(store: Arc<dyn VectorStore>, embedder: Option<Arc<dyn Embedder>>) -> Self {
        StoreRetriever { store, embedder }
    }

    /// Refuses a store built with another embedding model than `embedder`'s.
    pub async fn open(
        store: Arc<dyn VectorStore>,
        embedder: Option<Arc<dyn Embedder>>,
    ) -> Result<Self, StoreSearchError> {
        if let Some(e) = &embedder {
            let info = store.info().await?;
            if info.model != e.model_id() {
                return Err(StoreSearchError::Embed(SearchError::ModelMismatch {
                    index: format!("{} ({})", info.model, store.name()),
                    query: e.model_id().to_string(),
                }));
            }
        }
        Ok(StoreRetriever { store, embedder })
    }

    pub fn store(&self) -> &Arc<dyn VectorStore> {
        &self.store
    }

    /// Whether the store has full-text search (so BM25 and hybrid modes can run there): asks
    /// it for one lexical hit, which a store without it refuses before any request.
    pub async fn has_lexical(&self) -> Result<bool, StoreSearchError> {
        match self
            .store
            .query_lexical("cairn", 1, &cairn_core::Filter::All)
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.class() == cairn_core::ErrorClass::Unsupported => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// The query's vector, computed off the async workers.
    pub async fn embed_query(&self, query: &str) -> Result<Vec<f32>, SearchError> {
        let e = self
            .embedder
            .clone()
            .ok_or(SearchError::NoEmbedder("dense"))?;
        let q = query.to_string();
        cairn_core::run_blocking(move || e.embed(&[q.as_str()]))
            .await?
            .pop()
            .ok_or_else(|| SearchError::Embed(EmbedError::Model("no vector for the query".into())))
    }

    async fn vector_for(
        &self,
        query: &str,
        mode: SearchMode,
    ) -> Result<Option<Vec<f32>>, SearchError> {
        Ok(match mode {
            SearchMode::Bm25 => None,
            _ => Some(self.embed_query(query).await?),
        })
    }

    /// At most `opts.k` hits for `query`, best first (dense, lexical or hybrid by
    /// `opts.mode`; lexical needs a store with full-text search).
    pub async fn search(
        &self,
        query: &str,
        opts: &SearchOptions,
    ) -> Result<Vec<Hit>, StoreSearchError> {
        let qv = self.vector_for(query, opts.mode).await?;
        search_store(self.store.as_ref(), query, qv.as_deref(), opts).await
    }

    /// One search per plan (a query expansion's variants), fused by reciprocal rank fusion
    /// over chunk ids, as the embedded path fuses plans.
    pub async fn search_plans(
        &self,
        plans: &[QueryPlan],
        opts: &SearchOptions,
    ) -> Result<Vec<Hit>, StoreSearchError> {
        let mut lists = Vec::with_capacity(plans.len());
        for p in plans {
            let qv = self.vector_for(&p.dense, opts.mode).await?;
            lists.push(search_store(self.store.as_ref(), &p.lexical, qv.as_deref(), opts).await?);
        }
        if lists.len() <= 1 {
            return Ok(lists.pop().unwrap_or_default());
        }
        Ok(fuse_lists(lists, opts))
    }

    /// The ask pipeline's candidates for `question` (retrieved through `plans`): each chunk's
    /// vector read back from the store for the relevance gate, near-duplicate removal and MMR.
    pub async fn candidates(
        &self,
        question: &str,
        plans: &[QueryPlan],
        opts: &AskOptions,
    ) -> Result<Candidates, StoreSearchError> {
        let search = opts.retrieval();
        let plain = plans.len() == 1 && plans[0].dense == question && plans[0].lexical == question;
        let qv = self.vector_for(question, search.mode).await?;
        let hits = if plain {
            search_store(self.store.as_ref(), question, qv.as_deref(), &search).await?
        } else {
            self.search_plans(plans, &search).await?
        };
        let ids: Vec<&str> = hits.iter().map(|h| h.chunk.id.as_str()).collect();
        let mut vectors: HashMap<String, Vec<f32>> = self
            .store
            .get(&ids, true)
            .await?
            .into_iter()
            .filter_map(|c| Some((c.chunk.id, c.vector?)))
            .collect();
        let mut passages = Vec::with_capacity(hits.len());
        let mut vecs = Vec::with_capacity(hits.len());
        for h in &hits {
            // A chunk deleted since the query ran is left out.
            let Some(v) = vectors.remove(&h.chunk.id) else {
                continue;
            };
            passages.push(Passage::from_chunk(
                &h.chunk,
                &h.source,
                h.title.as_deref(),
                passages.len() + 1,
                h.score,
            ));
            vecs.push(v);
        }
        let refs: Vec<&[f32]> = vecs.iter().map(Vec::as_slice).collect();
        Ok(candidates_of(passages, &refs, qv.as_deref(), opts))
    }
}

/// RRF of several hit lists by chunk id, each list weighted 1.
fn fuse_lists(lists: Vec<Vec<Hit>>, opts: &SearchOptions) -> Vec<Hit> {
    let mut ids: HashMap<String, u32> = HashMap::new();
    let mut slots: Vec<Option<Hit>> = Vec::new();
    let mut positions: Vec<Vec<(u32, f32)>> = Vec::with_capacity(lists.len());
    for list in lists {
        let mut l = Vec::with_capacity(list.len());
        for h in list {
            let id = match ids.get(&h.chunk.id) {
                Some(&i) => i,
                None => {
                    let i = slots.len() as u32;
                    ids.insert(h.chunk.id.clone(), i);
                    l.push((i, h.score));
                    slots.push(Some(h));
                    continue;
                }
            };
            l.push((id, h.score));
        }
        positions.push(l);
    }
    let weighted: Vec<(f32, &[(u32, f32)])> =
        positions.iter().map(|l| (1.0, l.as_slice())).collect();
    reciprocal_rank_fusion(&weighted, opts.rrf_k)
        .into_iter()
        .take(opts.k)
        .enumerate()
        .filter_map(|(i, (id, score))| {
            let mut h = slots[id as usize].take()?;
            h.rank = i + 1;
            h.score = score;
            h.scores.fused = Some(score);
            Some(h)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store_search::tests::doc;

    /// Maps each text to a fixed 2-d direction by its first word, so tests know the cosines.
    struct Toy;
    impl Embedder for Toy {
        fn model_id(&self) -> &str {
            "toy"
        }
        fn dim(&self) -> usize {
            2
        }
        fn max_tokens(&self) -> usize {
            64
        }
        fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
            Ok(texts
                .iter()
                .map(|t| match t.split_whitespace().next() {
                    Some("granite") => vec![1.0, 0.0],
                    Some("moss") => vec![0.0, 1.0],
                    _ => vec![0.6, 0.8],
                })
                .collect())
        }
    }

    async fn store(dir: &std::path::Path, model: &str) -> Arc<dyn VectorStore> {
        let s = cairn_store::EmbeddedStore::open(dir, model, 2).unwrap();
        s.upsert(vec![
            doc("a", "granite cairns mark the trail", [1.0, 0.0]),
            doc("b", "granite cairns mark the trail", [1.0, 0.0]),
            doc("c", "moss grows on the north side", [0.0, 1.0]),
        ])
        .await
        .unwrap();
        Arc::new(s)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn candidates_carry_stored_vectors_and_drop_duplicates() {
        let tmp = tempfile::tempdir().unwrap();
        let r = StoreRetriever::open(store(tmp.path(), "toy").await, Some(Arc::new(Toy)))
            .await
            .unwrap();
        let opts = AskOptions {
            search: SearchOptions {
                mode: SearchMode::Dense,
                ..Default::default()
            },
            ..Default::default()
        };
        let q = "granite trail";
        let plan = [QueryPlan {
            lexical: q.into(),
            dense: q.into(),
        }];
        let c = r.candidates(q, &plan, &opts).await.unwrap();
        // a and b are the same text: one is kept; c is far but still a candidate.
        assert_eq!(c.passages.len(), 2, "{:?}", c.passages);
        assert_eq!(c.passages[0].text, "granite cairns mark the trail");
        assert_eq!(c.passages[1].doc_id, "c");
        assert_eq!(c.vectors[1], vec![0.0, 1.0]);
        assert!(c.relevant);
        assert!((c.best_relevance.unwrap() - 1.0).abs() < 1e-5);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_relevance_gate_uses_the_stored_vectors() {
        let tmp = tempfile::tempdir().unwrap();
        let r = StoreRetriever::new(store(tmp.path(), "toy").await, Some(Arc::new(Toy)));
        let opts = AskOptions {
            search: SearchOptions {
                mode: SearchMode::Dense,
                ..Default::default()
            },
            min_relevance: 0.9,
            ..Default::default()
        };
        // "other" embeds to (0.6, 0.8): cosine 0.8 with c, 0.6 with a and b.
        let plan = [QueryPlan {
            lexical: "other".into(),
            dense: "other".into(),
        }];
        let c = r.candidates("other", &plan, &opts).await.unwrap();
        assert!(!c.relevant);
        assert!((c.best_relevance.unwrap() - 0.8).abs() < 1e-5);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_store_of_another_model_is_refused_naming_both() {
        let tmp = tempfile::tempdir().unwrap();
        let e = StoreRetriever::open(store(tmp.path(), "other-model").await, Some(Arc::new(Toy)))
            .await
            .err()
            .expect("refused");
        let msg = e.to_string();
        assert!(msg.contains("other-model") && msg.contains("toy"), "{msg}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn plans_are_fused_by_chunk_id() {
        let tmp = tempfile::tempdir().unwrap();
        let r = StoreRetriever::new(store(tmp.path(), "toy").await, Some(Arc::new(Toy)));
        let opts = SearchOptions {
            mode: SearchMode::Dense,
            k: 3,
            ..Default::default()
        };
        let plans = [
            QueryPlan {
                lexical: "moss".into(),
                dense: "moss".into(),
            },
            QueryPlan {
                lexical: "moss again".into(),
                dense: "moss again".into(),
            },
            QueryPlan {
                lexical: "granite".into(),
                dense: "granite".into(),
            },
        ];
        let hits = r.search_plans(&plans, &opts).await.unwrap();
        // c tops two of three lists.
        assert_eq!(hits[0].chunk.doc_id, "c");
        assert_eq!(hits.len(), 3);
        let ranks: Vec<usize> = hits.iter().map(|h| h.rank).collect();
        assert_eq!(ranks, vec![1, 2, 3]);
        assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
    }
}
