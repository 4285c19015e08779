//! [`Asker`]: the ask pipeline as one library call. A follow-up is rewritten to stand alone,
//! the question optionally expanded (multi-query, HyDE), retrieved, near-duplicates dropped,
//! reranked, selected (MMR or rank order), merged, assembled within the token budget, put to
//! the model, streamed with its citation markers checked as they arrive, and graded.
//! `cairn ask`, `cairn chat --index` and `cairn eval beir` all run it.

use std::sync::Arc;

use async_stream::try_stream;
use cairn_core::{Classify, ErrorClass};
use cairn_llm::{Accumulator, ChatEvent, ChatModel, LlmError, Message, Role};
use futures::{Stream, StreamExt};

use crate::answer::{check, Answer, AnswerEvent};
use crate::cite::{cited_numbers, says_it_does_not_know, CitationFilter};
use crate::grade::CitationCounts;
use crate::prepare::{candidates_from, finish, AskOptions};
use crate::prompt::{PromptStyle, DO_NOT_KNOW};
use crate::rerank::Reranker;
use crate::search::{Retriever, Scored, SearchError, SearchMode, SearchOptions};
use crate::select::{mmr_order, reorder_head};
use crate::shared::SharedRetriever;
use crate::store_retriever::StoreRetriever;
use crate::store_search::StoreSearchError;
use crate::transform::{Expand, QueryPlan};
use crate::verify::Judge;

/// How many retrieved chunks a reranker sees by default.
pub const RERANK_DEPTH: usize = 20;
/// How deep MMR reorders a ranked list ([`mmr_head`]).
pub const MMR_DEPTH: usize = 50;

#[derive(Debug, thiserror::Error)]
pub enum AskError {
    #[error(transparent)]
    Search(#[from] SearchError),
    #[error(transparent)]
    Store(#[from] StoreSearchError),
    #[error(transparent)]
    Model(Box<LlmError>),
    /// A query transform (`expand`) or the follow-up rewrite failed.
    #[error("{step}: the model could not write it: {source}")]
    Transform {
        step: &'static str,
        #[source]
        source: Box<LlmError>,
    },
    #[error("reranking with {reranker}: {message}")]
    Rerank {
        reranker: String,
        message: String,
        class: ErrorClass,
    },
    #[error("{name}: {reason}")]
    InvalidParameter { name: &'static str, reason: String },
}

impl From<LlmError> for AskError {
    fn from(e: LlmError) -> Self {
        AskError::Model(Box::new(e))
    }
}

impl Classify for AskError {
    fn class(&self) -> ErrorClass {
        match self {
            AskError::Search(e) => e.class(),
            AskError::Store(e) => e.class(),
            AskError::Model(e) | AskError::Transform { source: e, .. } => e.class(),
            AskError::Rerank { class, .. } => *class,
            AskError::InvalidParameter { .. } => ErrorClass::InvalidInput,
        }
    }
}

fn invalid(name: &'static str, reason: impl Into<String>) -> AskError {
    AskError::InvalidParameter {
        name,
        reason: reason.into(),
    }
}

type Count = Arc<dyn Fn(&str) -> usize + Send + Sync>;

/// What an [`Asker`] retrieves from: one snapshot, a [`SharedRetriever`] that moves to new
/// generations as a writer commits (each question runs on one generation throughout), or a
/// database store ([`StoreRetriever`]).
#[derive(Clone)]
pub enum RetrieverSource {
    Fixed(Arc<Retriever>),
    Shared(Arc<SharedRetriever>),
    Store(Arc<StoreRetriever>),
}

impl RetrieverSource {
    /// The embedded index's snapshot; a store has none (what needs one says so).
    fn current(&self) -> Result<Arc<Retriever>, AskError> {
        match self {
            RetrieverSource::Fixed(r) => Ok(r.clone()),
            RetrieverSource::Shared(s) => Ok(s.current()?),
            RetrieverSource::Store(s) => Err(invalid(
                "retriever",
                format!(
                    "{} is a database store; ranking by index position needs the embedded index",
                    s.store().name()
                ),
            )),
        }
    }
}

impl From<Arc<StoreRetriever>> for RetrieverSource {
    fn from(r: Arc<StoreRetriever>) -> Self {
        RetrieverSource::Store(r)
    }
}
impl From<StoreRetriever> for RetrieverSource {
    fn from(r: StoreRetriever) -> Self {
        RetrieverSource::Store(Arc::new(r))
    }
}

impl From<Arc<Retriever>> for RetrieverSource {
    fn from(r: Arc<Retriever>) -> Self {
        RetrieverSource::Fixed(r)
    }
}
impl From<Retriever> for RetrieverSource {
    fn from(r: Retriever) -> Self {
        RetrieverSource::Fixed(Arc::new(r))
    }
}
impl From<Arc<SharedRetriever>> for RetrieverSource {
    fn from(r: Arc<SharedRetriever>) -> Self {
        RetrieverSource::Shared(r)
    }
}
impl From<SharedRetriever> for RetrieverSource {
    fn from(r: SharedRetriever) -> Self {
        RetrieverSource::Shared(Arc::new(r))
    }
}

/// Runs CPU-bound work (embedding, index search, SQLite reads) off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, AskError> + Send + 'static,
) -> Result<T, AskError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// The ask pipeline over one retriever and one model. Built with defaults that follow the
/// model's profile (prompt style, source budget, token counter); every step can be set.
///
/// ```no_run
/// # async fn demo(retriever: std::sync::Arc<cairn_rag::Retriever>,
/// #               model: std::sync::Arc<dyn cairn_llm::ChatModel>) -> Result<(), cairn_rag::AskError> {
/// use cairn_rag::{Asker, transform::Expand};
/// let asker = Asker::new(retriever, model).k(5).mmr(0.7).expand(Expand::Multi);
/// let answer = asker.answer("How are trails marked?", &[]).await?;
/// println!("{} ({})", answer.text, answer.citations.summary());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Asker {
    retriever: RetrieverSource,
    model: Option<Arc<dyn ChatModel>>,
    opts: AskOptions,
    reranker: Option<Arc<dyn Reranker>>,
    rerank_depth: usize,
    expand: Expand,
    variants: usize,
    judge: Option<Judge>,
    temperature: Option<f32>,
    max_tokens: Option<u32>,
    count: Count,
}

impl Asker {
    pub fn new(retriever: impl Into<RetrieverSource>, model: Arc<dyn ChatModel>) -> Self {
        let profile = model.profile();
        let mut a = Asker::retrieval(retriever);
        a.opts.style = profile.prompt.into();
        a.opts.budget_tokens = profile.source_budget;
        a.count = Arc::new(move |t: &str| profile.count(t));
        a.model = Some(model);
        a
    }

    /// The retrieval half alone (for [`Asker::rank`] without a model: reranking by a
    /// cross-encoder, MMR). Answering or expanding then fails naming the missing model.
    pub fn retrieval(retriever: impl Into<RetrieverSource>) -> Self {
        Asker {
            retriever: retriever.into(),
            model: None,
            opts: AskOptions::default(),
            reranker: None,
            rerank_depth: RERANK_DEPTH,
            expand: Expand::None,
            variants: 3,
            judge: None,
            temperature: None,
            max_tokens: None,
            count: Arc::new(|t: &str| t.split_whitespace().count()),
        }
    }

    /// Every selection and prompt option at once (search mode, filter, k, budget, style...).
    pub fn options(mut self, opts: AskOptions) -> Self {
        self.opts = opts;
        self
    }
    pub fn search(mut self, search: SearchOptions) -> Self {
        self.opts.search = search;
        self
    }
    /// Passages given to the model.
    pub fn k(mut self, k: usize) -> Self {
        self.opts.k = k;
        self
    }
    /// Chunks retrieved before selection.
    pub fn candidates(mut self, n: usize) -> Self {
        self.opts.candidates = n;
        self
    }
    /// Maximal marginal relevance: 0 = diverse … 1 = relevance only.
    pub fn mmr(mut self, lambda: f32) -> Self {
        self.opts.mmr = Some(lambda);
        self
    }
    /// Tokens the sources may take in the prompt.
    pub fn budget(mut self, tokens: usize) -> Self {
        self.opts.budget_tokens = tokens;
        self
    }
    pub fn min_relevance(mut self, cosine: f32) -> Self {
        self.opts.min_relevance = cosine;
        self
    }
    pub fn prompt(mut self, style: PromptStyle) -> Self {
        self.opts.style = style;
        self
    }
    pub fn parent_sections(mut self, on: bool) -> Self {
        self.opts.parent_sections = on;
        self
    }
    pub fn rerank(mut self, reranker: Arc<dyn Reranker>) -> Self {
        self.reranker = Some(reranker);
        self
    }
    /// Chunks the reranker sees.
    pub fn rerank_depth(mut self, depth: usize) -> Self {
        self.rerank_depth = depth;
        self
    }
    pub fn expand(mut self, expand: Expand) -> Self {
        self.expand = expand;
        self
    }
    /// Checks citations with a judge model as well as lexically.
    pub fn judge(mut self, judge: Judge) -> Self {
        self.judge = Some(judge);
        self
    }
    pub fn temperature(mut self, t: f32) -> Self {
        self.temperature = Some(t);
        self
    }
    pub fn max_tokens(mut self, n: u32) -> Self {
        self.max_tokens = Some(n);
        self
    }

    pub fn opts(&self) -> &AskOptions {
        &self.opts
    }
    pub fn style(&self) -> PromptStyle {
        self.opts.style
    }
    /// The snapshot the next question would run on (an error over a database store).
    pub fn retriever(&self) -> Result<Arc<Retriever>, AskError> {
        self.retriever.current()
    }
    /// Moves a shared retriever to the generation on disk now when another process has
    /// written since; the new generation when it did. A fixed snapshot never moves.
    pub fn refresh(&self) -> Result<Option<u64>, SearchError> {
        match &self.retriever {
            RetrieverSource::Shared(s) => Ok(s.refresh()?.then(|| s.generation())),
            RetrieverSource::Fixed(_) | RetrieverSource::Store(_) => Ok(None),
        }
    }

    pub fn reranker_name(&self) -> Option<String> {
        self.reranker.as_ref().map(|r| r.name())
    }

    /// Rejects options that cannot mean anything, naming the parameter.
    fn check_options(&self) -> Result<(), AskError> {
        let o = &self.opts;
        if o.k == 0 {
            return Err(invalid("k", "0 passages gives the model nothing to read"));
        }
        if o.candidates == 0 {
            return Err(invalid("candidates", "must be at least 1"));
        }
        if o.budget_tokens == 0 {
            return Err(invalid("budget", "0 tokens leaves no room for any source"));
        }
        if let Some(l) = o.mmr {
            if !(0.0..=1.0).contains(&l) {
                return Err(invalid("mmr", format!("{l}: lambda is between 0 and 1")));
            }
        }
        if !o.min_relevance.is_finite() {
            return Err(invalid("min_relevance", "must be a finite number"));
        }
        if let (true, RetrieverSource::Store(s)) = (o.parent_sections, &self.retriever) {
            return Err(invalid(
                "parent_sections",
                format!(
                    "{} is a database store, which cannot read a whole section back; \
                     use the embedded index or leave parent sections off",
                    s.store().name()
                ),
            ));
        }
        if self.reranker.is_some() && self.rerank_depth == 0 {
            return Err(invalid("rerank_depth", "must be at least 1"));
        }
        Ok(())
    }

    fn model(&self, step: &'static str) -> Result<&Arc<dyn ChatModel>, AskError> {
        self.model
            .as_ref()
            .ok_or_else(|| invalid(step, "needs a model: build the Asker with Asker::new"))
    }

    /// The retrievals for `query`: the query itself, or the expansion's plans.
    async fn plans(&self, query: &str) -> Result<Vec<QueryPlan>, AskError> {
        if self.expand == Expand::None {
            return Ok(vec![QueryPlan {
                lexical: query.to_string(),
                dense: query.to_string(),
            }]);
        }
        let model = self.model("expand")?;
        crate::transform::plan(model.as_ref(), query, self.expand, self.variants)
            .await
            .map_err(|source| AskError::Transform {
                step: "expand",
                source: Box::new(source),
            })
    }

    /// Ranks `query` under `search` with the plans (fused by RRF), returning the question's
    /// vector too; on a blocking thread.
    async fn ranked(
        r: Arc<Retriever>,
        query: &str,
        plans: Vec<QueryPlan>,
        search: SearchOptions,
    ) -> Result<(Vec<Scored>, Option<Vec<f32>>), AskError> {
        let query = query.to_string();
        blocking(move || {
            let qv = match search.mode {
                SearchMode::Bm25 => None,
                _ => Some(r.embed_query(&query)?),
            };
            let plain = plans.len() == 1 && plans[0].dense == query && plans[0].lexical == query;
            let scored = if plain {
                r.rank_with_vector(&query, qv.as_deref(), &search)
            } else {
                crate::transform::rank_plans(&r, &plans, &search)?
            };
            Ok((scored, qv))
        })
        .await
    }

    /// The reranker's order over `texts` (the head of a list), when one is set.
    async fn rerank_order(
        &self,
        query: &str,
        texts: &[&str],
    ) -> Result<Option<Vec<(usize, f32)>>, AskError> {
        let Some(r) = &self.reranker else {
            return Ok(None);
        };
        if texts.len() < 2 {
            return Ok(None);
        }
        r.rerank(query, texts)
            .await
            .map(Some)
            .map_err(|e| AskError::Rerank {
                reranker: r.name(),
                class: e.class(),
                message: e.to_string(),
            })
    }

    /// A ranked list of chunk positions for `query` (what `eval beir` scores): expansion,
    /// retrieval under `search`, the reranker over the head, then MMR over the head.
    pub async fn rank(&self, query: &str, search: &SearchOptions) -> Result<Vec<Scored>, AskError> {
        self.check_options()?;
        let r = self.retriever.current()?;
        let plans = self.plans(query).await?;
        let (mut ranked, _) = Self::ranked(r.clone(), query, plans, search.clone()).await?;
        if self.reranker.is_some() {
            let depth = ranked.len().min(self.rerank_depth);
            let head: Vec<u32> = ranked[..depth].iter().map(|s| s.pos).collect();
            let rr = r.clone();
            let texts: Vec<String> = blocking(move || {
                head.iter()
                    .map(|&pos| rr.searcher.chunk(pos).map(|(c, _)| c.text))
                    .collect::<Result<_, _>>()
                    .map_err(|e| AskError::Search(e.into()))
            })
            .await?;
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            if let Some(order) = self.rerank_order(query, &refs).await? {
                let idx: Vec<usize> = order.iter().map(|o| o.0).collect();
                ranked = reorder_head(&ranked, &idx);
            }
        }
        if let (Some(lambda), false) = (self.opts.mmr, search.mode == SearchMode::Bm25) {
            ranked = mmr_head(&r, ranked, lambda, MMR_DEPTH);
        }
        Ok(ranked)
    }

    /// The whole answer (the stream, folded).
    pub async fn answer(&self, question: &str, history: &[Message]) -> Result<Answer, AskError> {
        let mut s = std::pin::pin!(self.stream(question, history));
        while let Some(ev) = s.next().await {
            if let AnswerEvent::Done { answer } = ev? {
                return Ok(*answer);
            }
        }
        unreachable!("the answer stream always ends with Done or an error")
    }

    /// The answer as events ([`AnswerEvent`]). `history` holds the conversation before
    /// `question`: a follow-up is rewritten to stand alone before retrieval, and the full
    /// prompt style carries the earlier turns (without their sources).
    pub fn stream<'a>(
        &'a self,
        question: &'a str,
        history: &'a [Message],
    ) -> impl Stream<Item = Result<AnswerEvent, AskError>> + Send + 'a {
        try_stream! {
            self.check_options()?;
            if question.trim().is_empty() {
                Err(invalid("question", "is empty"))?;
            }
            let model = self.model("answer")?.clone();
            let query = crate::transform::standalone(model.as_ref(), history, question)
                .await
                .map_err(|source| AskError::Transform {
                    step: "rewriting the follow-up",
                    source: Box::new(source),
                })?;
            if query != question {
                yield AnswerEvent::Rewritten { query: query.clone() };
            }
            let plans = self.plans(&query).await?;
            let (mut cands, r) = match &self.retriever {
                RetrieverSource::Store(s) => (s.candidates(&query, &plans, &self.opts).await?, None),
                _ => {
                    // One generation serves the whole question.
                    let r = self.retriever.current()?;
                    let (scored, qv) =
                        Self::ranked(r.clone(), &query, plans, self.opts.retrieval()).await?;
                    let (rr, opts) = (r.clone(), self.opts.clone());
                    let c = blocking(move || {
                        Ok(candidates_from(&rr, &scored, qv.as_deref(), &opts)?)
                    })
                    .await?;
                    (c, Some(r))
                }
            };
            if cands.relevant {
                let depth = cands.passages.len().min(self.rerank_depth);
                let texts: Vec<&str> =
                    cands.passages[..depth].iter().map(|p| p.text.as_str()).collect();
                if let Some(order) = self.rerank_order(&query, &texts).await? {
                    cands.rerank(&order);
                }
            }
            let count = self.count.clone();
            let prepared = finish(&cands, &query, &self.opts, &*count, r.as_deref());
            yield AnswerEvent::Sources { sources: prepared.sources.clone() };
            let mut answer = Answer {
                question: question.to_string(),
                query: query.clone(),
                text: DO_NOT_KNOW.to_string(),
                answered: false,
                asked_model: false,
                sentences: Vec::new(),
                citations: CitationCounts { checked_by: "lexical", ..Default::default() },
                cited: Vec::new(),
                sources: Vec::new(),
                best_relevance: prepared.best_relevance,
                mode: self.opts.search.mode.as_str(),
                style: self.opts.style,
                usage: Default::default(),
                served: Default::default(),
                request_id: None,
            };
            if !prepared.relevant {
                yield AnswerEvent::Done { answer: Box::new(answer) };
                return;
            }
            let mut req = prepared.request.clone();
            if self.opts.style == PromptStyle::Full {
                // Earlier turns sit between the instructions and the question. A small model
                // gets the standalone question alone: earlier turns pull it off the example.
                let earlier: Vec<Message> =
                    history.iter().filter(|m| m.role != Role::System).cloned().collect();
                req.messages.splice(1..1, earlier);
            }
            if self.temperature.is_some() {
                req.temperature = self.temperature;
            }
            if self.max_tokens.is_some() {
                req.max_output_tokens = self.max_tokens;
            }
            let n = prepared.sources.len();
            let mut filter = CitationFilter::new(n);
            let mut acc = Accumulator::default();
            let mut text = String::new();
            let mut events = model.stream(&req).await?;
            while let Some(ev) = events.next().await {
                let ev = ev?;
                match &ev {
                    ChatEvent::TextDelta { text: t } => {
                        let shown = filter.push(t);
                        if !shown.is_empty() {
                            text.push_str(&shown);
                            yield AnswerEvent::TextDelta { text: shown };
                        }
                    }
                    ChatEvent::Restart { reason, .. } => {
                        filter = CitationFilter::new(n);
                        text.clear();
                        yield AnswerEvent::Restart { reason: reason.clone() };
                    }
                    _ => {}
                }
                acc.push(&ev);
            }
            let tail = filter.finish();
            if !tail.is_empty() {
                text.push_str(&tail);
                yield AnswerEvent::TextDelta { text: tail };
            }
            let resp = acc.response();
            let mut checked = check(&text, &prepared.sources, self.opts.style, filter.removed);
            if let Some(j) = &self.judge {
                checked.judge(j, &prepared.sources).await;
            }
            answer.answered = !says_it_does_not_know(&checked.text);
            answer.asked_model = true;
            answer.cited = cited_numbers(&checked.sentences);
            answer.text = checked.text;
            answer.sentences = checked.sentences;
            answer.citations = checked.counts;
            answer.sources = prepared.sources;
            answer.usage = resp.usage;
            answer.served = resp.served;
            answer.request_id = resp.request_id;
            yield AnswerEvent::Done { answer: Box::new(answer) };
        }
    }
}

/// Reorders the first `depth` entries of a ranking by MMR with `lambda`, relevance being
/// their scores and diversity the index's chunk vectors; the tail keeps its order.
pub fn mmr_head(
    retriever: &Retriever,
    ranked: Vec<Scored>,
    lambda: f32,
    depth: usize,
) -> Vec<Scored> {
    let depth = ranked.len().min(depth);
    let vecs = retriever.searcher.vectors();
    let head: Vec<&[f32]> = ranked[..depth].iter().map(|s| vecs.get(s.pos)).collect();
    let scores: Vec<f32> = ranked[..depth].iter().map(|s| s.score).collect();
    let order = mmr_order(&scores, &head, depth, lambda);
    reorder_head(&ranked, &order)
}
