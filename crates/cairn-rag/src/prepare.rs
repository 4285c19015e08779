//! From a ranked list to what the model reads: near-duplicates dropped, the relevance gate,
//! selection (MMR or rank order), adjacent chunks merged (or widened to their sections), and
//! the sources assembled within the token budget into the prompt.

use crate::context::{assemble, Source};
use crate::prompt::{prompt_styled, PromptStyle};
use crate::search::{Retriever, Scored, SearchError, SearchMode, SearchOptions};
use crate::select::{dedup, merge_adjacent, mmr_order, reorder_head, Passage};
use cairn_llm::ChatRequest;

#[derive(Debug, Clone)]
pub struct AskOptions {
    pub search: SearchOptions,
    /// Passages to keep after selection.
    pub k: usize,
    /// Chunks retrieved before selection.
    pub candidates: usize,
    /// Maximal-marginal-relevance lambda; `None` keeps retrieval order.
    pub mmr: Option<f32>,
    /// Cosine at or above which a chunk counts as a near-duplicate of a better one.
    pub duplicate_cosine: f32,
    /// Tokens the sources may take in the prompt.
    pub budget_tokens: usize,
    /// Below this query–chunk cosine (dense and hybrid modes) nothing counts as relevant, and
    /// the answer is "I don't know" without asking the model.
    pub min_relevance: f32,
    /// How the question and sources are put to the model.
    pub style: PromptStyle,
    /// Widen each selected chunk to its whole section (same document and heading path).
    pub parent_sections: bool,
}

impl Default for AskOptions {
    fn default() -> Self {
        AskOptions {
            search: SearchOptions::default(),
            k: 5,
            candidates: 30,
            mmr: None,
            duplicate_cosine: 0.97,
            budget_tokens: 2000,
            min_relevance: 0.25,
            style: PromptStyle::Full,
            parent_sections: false,
        }
    }
}

impl AskOptions {
    /// The search that fetches the candidates: `candidates` chunks (at least `k`).
    pub fn retrieval(&self) -> SearchOptions {
        let mut s = self.search.clone();
        s.k = self.candidates.max(self.k);
        s.candidates = s.candidates.max(s.k);
        s
    }
}

/// What goes to the model, and what it may cite.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub sources: Vec<Source>,
    pub request: ChatRequest,
    /// False when no retrieved chunk reached `min_relevance`.
    pub relevant: bool,
    /// The best query–chunk cosine seen (dense and hybrid modes).
    pub best_relevance: Option<f32>,
}

/// Retrieved chunks after near-duplicate removal, before selection.
#[derive(Debug, Clone)]
pub struct Candidates {
    pub passages: Vec<Passage>,
    pub vectors: Vec<Vec<f32>>,
    pub query_vector: Option<Vec<f32>>,
    pub relevant: bool,
    pub best_relevance: Option<f32>,
}

impl Candidates {
    /// Puts the first candidates in a reranker's order with its scores, best first; the
    /// ones it did not see follow, scored below all of them, so MMR's relevance follows the
    /// reranker.
    pub fn rerank(&mut self, ranked: &[(usize, f32)]) {
        let order: Vec<usize> = ranked.iter().map(|r| r.0).collect();
        let floor = ranked.iter().map(|r| r.1).fold(f32::INFINITY, f32::min);
        let depth = ranked.len();
        self.passages = reorder_head(&self.passages, &order);
        self.vectors = reorder_head(&self.vectors, &order);
        for (r, p) in self.passages.iter_mut().enumerate() {
            p.rank = r + 1;
            p.score = match ranked.get(r) {
                Some(x) => x.1,
                None => floor - 1.0 - (r - depth) as f32 * 1e-3,
            };
        }
    }
}

/// Reads a ranking's chunks back as passages, measures relevance against the question's
/// vector `qv`, and drops near-duplicates.
pub fn candidates_from(
    retriever: &Retriever,
    scored: &[Scored],
    qv: Option<&[f32]>,
    opts: &AskOptions,
) -> Result<Candidates, SearchError> {
    let vectors = retriever.searcher.vectors();
    let mut passages = Vec::new();
    let mut vecs: Vec<&[f32]> = Vec::new();
    for (i, s) in scored.iter().enumerate() {
        let (chunk, doc) = retriever.searcher.chunk(s.pos)?;
        passages.push(Passage::from_chunk(
            &chunk,
            &doc.source,
            doc.title.as_deref(),
            i + 1,
            s.score,
        ));
        vecs.push(vectors.get(s.pos));
    }
    Ok(candidates_of(passages, &vecs, qv, opts))
}

/// Ranked passages with their chunks' vectors (`vecs[i]` is `passages[i]`'s): relevance
/// measured against the question's vector `qv`, near-duplicates dropped. Shared by the
/// embedded path and [`crate::StoreRetriever`].
pub(crate) fn candidates_of(
    passages: Vec<Passage>,
    vecs: &[&[f32]],
    qv: Option<&[f32]>,
    opts: &AskOptions,
) -> Candidates {
    let best_relevance = qv.and_then(|q| {
        vecs.iter()
            .map(|v| q.iter().zip(v.iter()).map(|(a, b)| a * b).sum::<f32>())
            .reduce(f32::max)
    });
    let relevant = match (opts.search.mode, best_relevance) {
        (SearchMode::Bm25, _) => !passages.is_empty(),
        (_, Some(b)) => b >= opts.min_relevance,
        (_, None) => false,
    };
    let texts: Vec<&str> = passages.iter().map(|p| p.text.as_str()).collect();
    let keep = dedup(&texts, vecs, opts.duplicate_cosine);
    Candidates {
        passages: keep.iter().map(|&i| passages[i].clone()).collect(),
        vectors: keep.iter().map(|&i| vecs[i].to_vec()).collect(),
        query_vector: qv.map(<[f32]>::to_vec),
        relevant,
        best_relevance,
    }
}

/// Retrieves `opts.candidates` chunks for the question and drops near-duplicates (no query
/// transform, no reranking: [`crate::Asker`] adds those).
pub fn candidates(
    retriever: &Retriever,
    question: &str,
    opts: &AskOptions,
) -> Result<Candidates, SearchError> {
    let qv = match opts.search.mode {
        SearchMode::Bm25 => None,
        _ => Some(retriever.embed_query(question)?),
    };
    let scored = retriever.rank_with_vector(question, qv.as_deref(), &opts.retrieval());
    candidates_from(retriever, &scored, qv.as_deref(), opts)
}

/// Selects (MMR or order), merges (or widens to sections when `opts.parent_sections`, reading
/// them from `retriever`), assembles within the budget and builds the prompt.
pub fn finish(
    c: &Candidates,
    question: &str,
    opts: &AskOptions,
    count: &dyn Fn(&str) -> usize,
    retriever: Option<&Retriever>,
) -> Prepared {
    let vecs: Vec<&[f32]> = c.vectors.iter().map(Vec::as_slice).collect();
    let order: Vec<usize> = match (opts.mmr, &c.query_vector) {
        (Some(lambda), Some(_)) => {
            let scores: Vec<f32> = c.passages.iter().map(|p| p.score).collect();
            mmr_order(&scores, &vecs, opts.k, lambda)
        }
        _ => (0..c.passages.len().min(opts.k)).collect(),
    };
    // The selection order becomes the rank the context follows.
    let chosen: Vec<Passage> = order
        .iter()
        .enumerate()
        .map(|(r, &i)| {
            let mut p = c.passages[i].clone();
            p.rank = r + 1;
            p
        })
        .collect();
    let merged = match retriever {
        Some(r) if opts.parent_sections => crate::select::expand_sections(chosen, &|p| {
            r.searcher
                .section(&p.doc_id, &p.heading_path)
                .unwrap_or_default()
        }),
        _ => merge_adjacent(chosen),
    };
    let sources = if c.relevant {
        assemble(&merged, opts.budget_tokens, count)
    } else {
        Vec::new()
    };
    let request = prompt_styled(question, &sources, opts.style);
    Prepared {
        relevant: c.relevant && !sources.is_empty(),
        sources,
        request,
        best_relevance: c.best_relevance,
    }
}

/// `candidates` then `finish`, without transforms or reranking.
pub fn prepare(
    retriever: &Retriever,
    question: &str,
    opts: &AskOptions,
    count: &dyn Fn(&str) -> usize,
) -> Result<Prepared, SearchError> {
    Ok(finish(
        &candidates(retriever, question, opts)?,
        question,
        opts,
        count,
        Some(retriever),
    ))
}
