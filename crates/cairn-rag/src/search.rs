//! Dense, BM25 and hybrid (RRF) search over one index.

use crate::fusion::reciprocal_rank_fusion;
use cairn_core::{Classify, EmbedError, Embedder, ErrorClass, Filter, Hit, RetrieverScores};
use cairn_store::{Searcher, StoreError};
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SearchMode {
    #[default]
    Hybrid,
    Dense,
    Bm25,
}

impl SearchMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SearchMode::Hybrid => "hybrid",
            SearchMode::Dense => "dense",
            SearchMode::Bm25 => "bm25",
        }
    }
}

impl FromStr for SearchMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "hybrid" => Ok(SearchMode::Hybrid),
            "dense" => Ok(SearchMode::Dense),
            "bm25" | "lexical" => Ok(SearchMode::Bm25),
            other => Err(format!(
                "unknown search mode `{other}`: use hybrid, dense or bm25"
            )),
        }
    }
}

#[derive(Debug, Clone)]
pub struct SearchOptions {
    pub mode: SearchMode,
    pub k: usize,
    pub filter: Filter,
    /// RRF weights per retriever.
    pub dense_weight: f32,
    pub bm25_weight: f32,
    /// RRF's rank constant.
    pub rrf_k: f32,
    /// How many candidates each retriever hands to fusion (at least `k`).
    pub candidates: usize,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions {
            mode: SearchMode::Hybrid,
            k: 10,
            filter: Filter::default(),
            dense_weight: 1.0,
            bm25_weight: 1.0,
            rrf_k: 60.0,
            candidates: 100,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("embedding the query failed: {0}")]
    Embed(#[from] EmbedError),
    #[error("the index was built with model {index}, but the query embedder is {query}")]
    ModelMismatch { index: String, query: String },
    #[error("{0} search needs an embedding model; open the retriever with one or use bm25 mode")]
    NoEmbedder(&'static str),
}

impl Classify for SearchError {
    fn class(&self) -> ErrorClass {
        match self {
            SearchError::Store(e) => e.class(),
            SearchError::Embed(e) => e.class(),
            SearchError::ModelMismatch { .. } | SearchError::NoEmbedder(_) => {
                ErrorClass::InvalidInput
            }
        }
    }
}

/// A chunk position with what each retriever said about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    pub pos: u32,
    pub score: f32,
    pub scores: RetrieverScores,
}

/// Searches one index. The embedder is needed only for dense and hybrid modes.
pub struct Retriever {
    pub searcher: Searcher,
    embedder: Option<Arc<dyn Embedder>>,
}

impl Retriever {
    pub fn new(
        searcher: Searcher,
        embedder: Option<Arc<dyn Embedder>>,
    ) -> Result<Self, SearchError> {
        if let Some(e) = &embedder {
            let info = searcher.info()?;
            if info.model != e.model_id() {
                return Err(SearchError::ModelMismatch {
                    index: info.model,
                    query: e.model_id().to_string(),
                });
            }
        }
        Ok(Retriever { searcher, embedder })
    }

    /// The query embedder (none for a BM25-only retriever).
    pub fn embedder(&self) -> Option<Arc<dyn Embedder>> {
        self.embedder.clone()
    }

    /// Moves the index snapshot to the generation on disk when another process has written
    /// since it was opened (see `Searcher::refresh`); true when it did. Positions from earlier
    /// rankings are invalid afterwards. Long-lived callers (chat, a server) call it between
    /// queries.
    pub fn refresh(&mut self) -> Result<bool, SearchError> {
        Ok(self.searcher.refresh()?)
    }

    pub fn embed_query(&self, query: &str) -> Result<Vec<f32>, SearchError> {
        let e = self
            .embedder
            .as_ref()
            .ok_or(SearchError::NoEmbedder("dense"))?;
        e.embed(&[query])?
            .pop()
            .ok_or(SearchError::Embed(EmbedError::Model(
                "no vector for the query".into(),
            )))
    }

    /// Ranked chunk positions, without reading chunk text (the fast path eval uses).
    pub fn rank(&self, query: &str, opts: &SearchOptions) -> Result<Vec<Scored>, SearchError> {
        let qv = match opts.mode {
            SearchMode::Bm25 => None,
            _ => Some(self.embed_query(query)?),
        };
        Ok(self.rank_with_vector(query, qv.as_deref(), opts))
    }

    /// As `rank`, with the query vector already computed (`None` for BM25 mode).
    pub fn rank_with_vector(
        &self,
        query: &str,
        qv: Option<&[f32]>,
        opts: &SearchOptions,
    ) -> Vec<Scored> {
        let allow = self.searcher.allow(&opts.filter);
        let allow = allow.as_deref();
        let n = opts.candidates.max(opts.k);
        let dense = || {
            qv.map(|v| self.searcher.dense(v, n, allow))
                .unwrap_or_default()
        };
        let bm25 = || self.searcher.bm25(query, n, allow);
        let single = |list: Vec<(u32, f32)>, dense: bool| -> Vec<Scored> {
            list.into_iter()
                .take(opts.k)
                .enumerate()
                .map(|(i, (pos, score))| {
                    let mut s = RetrieverScores::default();
                    if dense {
                        s.dense = Some(score);
                        s.dense_rank = Some(i + 1);
                    } else {
                        s.bm25 = Some(score);
                        s.bm25_rank = Some(i + 1);
                    }
                    Scored {
                        pos,
                        score,
                        scores: s,
                    }
                })
                .collect()
        };
        match opts.mode {
            SearchMode::Dense => single(dense(), true),
            SearchMode::Bm25 => single(bm25(), false),
            SearchMode::Hybrid => {
                let (d, b) = (dense(), bm25());
                let info = |list: &[(u32, f32)]| -> HashMap<u32, (usize, f32)> {
                    list.iter()
                        .enumerate()
                        .map(|(i, (p, s))| (*p, (i + 1, *s)))
                        .collect()
                };
                let (di, bi) = (info(&d), info(&b));
                reciprocal_rank_fusion(
                    &[(opts.dense_weight, &d), (opts.bm25_weight, &b)],
                    opts.rrf_k,
                )
                .into_iter()
                .take(opts.k)
                .map(|(pos, fused)| Scored {
                    pos,
                    score: fused,
                    scores: RetrieverScores {
                        dense: di.get(&pos).map(|x| x.1),
                        dense_rank: di.get(&pos).map(|x| x.0),
                        bm25: bi.get(&pos).map(|x| x.1),
                        bm25_rank: bi.get(&pos).map(|x| x.0),
                        fused: Some(fused),
                    },
                })
                .collect()
            }
        }
    }

    /// Full hits with chunk text and document metadata.
    pub fn search(&self, query: &str, opts: &SearchOptions) -> Result<Vec<Hit>, SearchError> {
        self.hits(self.rank(query, opts)?)
    }

    /// Ranked positions read back as full hits, ranks numbered from 1 in the given order.
    pub fn hits(&self, scored: Vec<Scored>) -> Result<Vec<Hit>, SearchError> {
        scored
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                let (chunk, doc) = self.searcher.chunk(s.pos)?;
                Ok(Hit {
                    rank: i + 1,
                    score: s.score,
                    scores: s.scores,
                    chunk,
                    source: doc.source,
                    title: doc.title,
                })
            })
            .collect()
    }
}
