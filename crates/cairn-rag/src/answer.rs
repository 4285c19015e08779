//! Grounded answers: retrieve, select, assemble within the budget, and the prompt that asks
//! for numbered citations (and for "I don't know" when the sources do not hold the answer).

use cairn_llm::{ChatRequest, Message};

use crate::cite::CitedSentence;
use crate::context::{assemble, render, Source};
use crate::grade::{grade, judge_all, CitationCounts};
use crate::search::{Retriever, SearchError, SearchMode, SearchOptions};
use crate::select::{dedup, merge_adjacent, min_max, mmr_with, Passage};
use crate::transform::QueryPlan;
use crate::verify::Judge;

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

/// Prompts differ by what the model can follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PromptStyle {
    /// Full instructions, sources with their locations: for provider models.
    #[default]
    Full,
    /// For small local models (SmolLM2-135M): short instructions, bare numbered passages (a
    /// location line makes them list locations), one paragraph asked for and enforced with
    /// stop sequences (they go on to recite every source otherwise).
    Compact,
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

pub const SYSTEM_PROMPT: &str = "You answer questions using only the numbered sources you are given. \
After each sentence, cite the sources that support it by number in square brackets, like [1] or [2, 3]. \
Cite only sources that appear in the list. If the sources do not contain the answer, reply exactly: \
I don't know based on the provided sources.";

pub const DO_NOT_KNOW: &str = "I don't know based on the provided sources.";

const COMPACT_SYSTEM_PROMPT: &str = "Answer the question by copying the sentence from the \
sources that answers it, then write its source number in square brackets.";
/// One worked example: a 135M model copies a demonstrated answer shape far more reliably than it
/// follows an instruction.
const COMPACT_EXAMPLE: (&str, &str) = (
    "Sources:\n[1] Bees collect nectar from flowers and turn it into honey in the hive.\n[2] Wasps do \
     not make honey.\n\nQuestion: Where does honey come from?",
    "Bees collect nectar from flowers and turn it into honey in the hive [1].",
);
/// Sentences a compact answer keeps: small models repeat themselves after that.
pub const COMPACT_SENTENCES: usize = 2;

/// An answer's text with every citation graded.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The answer as shown (compact answers trimmed, cairn's attributions added).
    pub text: String,
    pub sentences: Vec<CitedSentence>,
    pub counts: CitationCounts,
}

/// Grades an answer's citations against its sources with the lexical check. A compact-style
/// answer (small local models) is first trimmed to its first distinct sentences, and a
/// sentence the model left uncited is attributed by cairn ([`crate::cite::attribute`]),
/// counted as such and never as verified. `removed` is the stream filter's count of markers
/// that named no source.
pub fn check(answer: &str, sources: &[Source], style: PromptStyle, removed: usize) -> Checked {
    let texts: Vec<(usize, &str)> = sources
        .iter()
        .map(|s| (s.n, s.passage.text.as_str()))
        .collect();
    let (text, mut sentences) = if style == PromptStyle::Compact {
        crate::cite::attribute(answer, COMPACT_SENTENCES, &texts)
    } else {
        (answer.to_string(), crate::cite::sentences(answer))
    };
    let all: Vec<usize> = sources.iter().map(|s| s.n).collect();
    grade(&mut sentences, &text_of(sources), &all);
    let counts = CitationCounts::of(&sentences, removed, "lexical");
    Checked {
        text,
        sentences,
        counts,
    }
}

fn text_of<'a>(sources: &'a [Source]) -> impl Fn(usize) -> Option<&'a str> + 'a {
    move |n| {
        sources
            .iter()
            .find(|s| s.n == n)
            .map(|s| s.passage.text.as_str())
    }
}

impl Checked {
    /// Re-checks every citation with a judge model (`--verify model`): what `verified` means
    /// becomes "entailed (judge)".
    pub async fn judge(&mut self, judge: &Judge, sources: &[Source]) {
        judge_all(&mut self.sentences, judge, &text_of(sources)).await;
        self.counts = CitationCounts::of(&self.sentences, self.counts.removed, "judge");
    }
}

/// The chat request for a question over numbered sources.
pub fn prompt(question: &str, sources: &[Source]) -> ChatRequest {
    prompt_styled(question, sources, PromptStyle::Full)
}

pub fn prompt_styled(question: &str, sources: &[Source], style: PromptStyle) -> ChatRequest {
    if style == PromptStyle::Compact {
        let passages: Vec<String> = sources
            .iter()
            .map(|s| {
                format!(
                    "[{}] {}",
                    s.n,
                    s.passage
                        .text
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" ")
                )
            })
            .collect();
        let mut req = ChatRequest::new(vec![
            Message::system(COMPACT_SYSTEM_PROMPT),
            Message::user(COMPACT_EXAMPLE.0),
            Message::assistant(COMPACT_EXAMPLE.1),
            Message::user(format!(
                "Sources:\n{}\n\nQuestion: {}",
                passages.join("\n"),
                question.trim()
            )),
        ]);
        req.stop = vec!["\n[".into(), "\n\n".into(), "\nQuestion:".into()];
        req.max_output_tokens = Some(96);
        // Greedy: sampling only adds noise to a model this small.
        req.temperature = Some(0.0);
        return req;
    }
    ChatRequest::new(vec![
        Message::system(SYSTEM_PROMPT),
        Message::user(format!(
            "Sources:\n\n{}\nQuestion: {}\n\nAnswer with citations:",
            render(sources),
            question.trim()
        )),
    ])
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
        let depth = ranked.len();
        let floor = ranked.iter().map(|r| r.1).fold(f32::INFINITY, f32::min);
        let mut order: Vec<(usize, f32)> = ranked.to_vec();
        order.extend((depth..self.passages.len()).map(|i| (i, floor - 1.0 - i as f32 * 1e-3)));
        let passages = order
            .iter()
            .map(|&(i, _)| self.passages[i].clone())
            .collect();
        let vectors = order
            .iter()
            .map(|&(i, _)| self.vectors[i].clone())
            .collect();
        self.passages = passages;
        self.vectors = vectors;
        for (r, (p, (_, score))) in self.passages.iter_mut().zip(&order).enumerate() {
            p.rank = r + 1;
            p.score = *score;
        }
    }
}

/// Retrieves `opts.candidates` chunks for the question and drops near-duplicates.
pub fn candidates(
    retriever: &Retriever,
    question: &str,
    opts: &AskOptions,
) -> Result<Candidates, SearchError> {
    let plan = [QueryPlan {
        lexical: question.to_string(),
        dense: question.to_string(),
    }];
    candidates_for(retriever, question, &plan, opts)
}

/// As `candidates`, for the retrievals of a query transform (fused by RRF). Relevance and MMR
/// are measured against the question itself.
pub fn candidates_for(
    retriever: &Retriever,
    question: &str,
    plans: &[QueryPlan],
    opts: &AskOptions,
) -> Result<Candidates, SearchError> {
    let qv = match opts.search.mode {
        SearchMode::Bm25 => None,
        _ => Some(retriever.embed_query(question)?),
    };
    let mut search = opts.search.clone();
    search.k = opts.candidates.max(opts.k);
    search.candidates = search.candidates.max(search.k);
    let scored = if plans.len() == 1 && plans[0].dense == question && plans[0].lexical == question {
        retriever.rank_with_vector(question, qv.as_deref(), &search)
    } else {
        crate::transform::rank_plans(retriever, plans, &search)?
    };
    let vectors = retriever.searcher.vectors();
    let mut best_relevance: Option<f32> = None;
    let mut passages = Vec::new();
    let mut vecs: Vec<&[f32]> = Vec::new();
    for (i, s) in scored.iter().enumerate() {
        let (chunk, doc) = retriever.searcher.chunk(s.pos)?;
        let v = vectors.get(s.pos);
        if let Some(q) = &qv {
            let c: f32 = q.iter().zip(v).map(|(a, b)| a * b).sum();
            best_relevance = Some(best_relevance.map_or(c, |b: f32| b.max(c)));
        }
        passages.push(Passage::from_chunk(
            &chunk,
            &doc.source,
            doc.title.as_deref(),
            i + 1,
            s.score,
        ));
        vecs.push(v);
    }
    let relevant = match (opts.search.mode, best_relevance) {
        (SearchMode::Bm25, _) => !passages.is_empty(),
        (_, Some(b)) => b >= opts.min_relevance,
        (_, None) => false,
    };
    let texts: Vec<&str> = passages.iter().map(|p| p.text.as_str()).collect();
    let keep = dedup(&texts, &vecs, opts.duplicate_cosine);
    Ok(Candidates {
        passages: keep.iter().map(|&i| passages[i].clone()).collect(),
        vectors: keep.iter().map(|&i| vecs[i].to_vec()).collect(),
        query_vector: qv,
        relevant,
        best_relevance,
    })
}

/// Selects (MMR or order), merges, assembles within the budget and builds the prompt.
pub fn finish(
    c: &Candidates,
    question: &str,
    opts: &AskOptions,
    count: &dyn Fn(&str) -> usize,
) -> Prepared {
    finish_with(c, question, opts, count, None)
}

/// [`finish`], with the index to read whole sections from when `opts.parent_sections` is on.
pub fn finish_with(
    c: &Candidates,
    question: &str,
    opts: &AskOptions,
    count: &dyn Fn(&str) -> usize,
    retriever: Option<&Retriever>,
) -> Prepared {
    let vecs: Vec<&[f32]> = c.vectors.iter().map(Vec::as_slice).collect();
    let order: Vec<usize> = match (opts.mmr, &c.query_vector) {
        (Some(lambda), Some(_)) => {
            // Relevance is the retrieval's own score (fused for hybrid), scaled to [0, 1].
            let scores: Vec<f32> = c.passages.iter().map(|p| p.score).collect();
            mmr_with(&min_max(&scores), &vecs, opts.k, lambda)
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

/// `candidates` then `finish`, without reranking.
pub fn prepare(
    retriever: &Retriever,
    question: &str,
    opts: &AskOptions,
    count: &dyn Fn(&str) -> usize,
) -> Result<Prepared, SearchError> {
    Ok(finish_with(
        &candidates(retriever, question, opts)?,
        question,
        opts,
        count,
        Some(retriever),
    ))
}
