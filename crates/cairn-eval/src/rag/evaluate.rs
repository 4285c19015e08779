//! Running an evaluation: ask every question through an [`Asker`] (or take answers from a
//! file), then score each response with the chosen metrics, concurrently, booking judge costs
//! per metric.

use std::collections::BTreeMap;
use std::time::Instant;

use cairn_rag::grade::Origin;
use cairn_rag::verify::Judge;
use cairn_rag::{Answer, Asker};
use futures::StreamExt;

use super::citations::{self, Entailment};
use super::judge::{self, JudgeModels};
use super::metric::Metric;
use super::run::{Meter, RagRun, RUN_VERSION};
use super::sample::{Context, EvalSample, MetricResult, Response, SampleResult, Statement};
use super::{retrieval, text};

/// Told as samples are answered or scored, for a progress bar.
pub trait Progress: Send + Sync {
    fn start(&self, _what: &str, _total: usize) {}
    fn tick(&self) {}
    fn finish(&self) {}
}

/// No progress output.
pub struct Quiet;
impl Progress for Quiet {}

/// A response as the evaluation sees it, from cairn's [`Answer`]: the sources the model read
/// as contexts, each sentence with only the citations the model wrote.
pub fn response_of(answer: &Answer) -> Response {
    Response {
        answer: answer.text.clone(),
        contexts: answer
            .sources
            .iter()
            .map(|s| Context {
                text: s.passage.text.clone(),
                doc_id: Some(s.passage.doc_id.clone()),
                source: Some(s.location()),
            })
            .collect(),
        answered: answer.answered,
        statements: answer
            .sentences
            .iter()
            .map(|s| Statement {
                text: s.text.clone(),
                cites: s
                    .citations
                    .iter()
                    .filter(|c| c.origin == Origin::Model)
                    .map(|c| c.source)
                    .collect(),
            })
            .collect(),
        model: (!answer.served.model.is_empty()).then(|| answer.served.model.clone()),
        cost_usd: answer.served.cost_usd,
        latency_ms: None,
        error: None,
    }
}

/// Asks every question (no history) through `asker`, `concurrency` at a time, in order. A
/// question the pipeline fails on gets a response carrying the error, so it is reported, not
/// lost.
pub async fn ask_all(
    asker: &Asker,
    samples: Vec<EvalSample>,
    concurrency: usize,
    progress: &dyn Progress,
) -> Vec<(EvalSample, Response)> {
    progress.start("answering", samples.len());
    let out = futures::stream::iter(samples)
        .map(|s| async move {
            let t = Instant::now();
            let mut r = match asker.answer(&s.question, &[]).await {
                Ok(a) => response_of(&a),
                Err(e) => Response {
                    error: Some(e.to_string()),
                    ..Default::default()
                },
            };
            r.latency_ms = Some(t.elapsed().as_secs_f64() * 1e3);
            progress.tick();
            (s, r)
        })
        .buffered(concurrency.max(1))
        .collect()
        .await;
    progress.finish();
    out
}

/// The deterministic metrics of one response (citations checked lexically). Judge metrics in
/// `metrics` are left out.
pub fn score_offline(
    sample: &EvalSample,
    response: &Response,
    metrics: &[Metric],
) -> BTreeMap<String, MetricResult> {
    let mut out = BTreeMap::new();
    if let Some(e) = &response.error {
        for m in metrics.iter().filter(|m| !m.needs_judge()) {
            out.insert(
                m.name().into(),
                MetricResult::skipped(format!("no response: {e}")),
            );
        }
        return out;
    }
    let reference = sample.reference.as_deref();
    let needs_ref = || MetricResult::skipped("no reference: the sample has no gold answer");
    let against = |f: fn(&str, &str) -> f64| {
        reference.map_or_else(needs_ref, |r| MetricResult::value(f(&response.answer, r)))
    };
    let [hit, recall, mrr] = retrieval::scores(sample, &response.contexts);
    let mut retrieval = [Some(hit), Some(recall), Some(mrr)];
    let mut cites: Option<[MetricResult; 2]> = None;
    for &m in metrics {
        let r = match m {
            Metric::ExactMatch => against(text::exact_match),
            Metric::F1 => against(text::token_f1),
            Metric::Contains => against(text::contains),
            Metric::RetrievalHit => retrieval[0].take().unwrap_or_default(),
            Metric::RetrievalRecall => retrieval[1].take().unwrap_or_default(),
            Metric::RetrievalMrr => retrieval[2].take().unwrap_or_default(),
            Metric::CitationPrecision | Metric::CitationRecall => {
                let c = cites.get_or_insert_with(|| {
                    // The lexical check never waits, so polling it here cannot block.
                    futures::executor::block_on(citations::scores(response, &Entailment::Lexical))
                });
                c[usize::from(m == Metric::CitationRecall)].clone()
            }
            Metric::Refusal => MetricResult::value(f64::from(u8::from(!response.answered))),
            _ => continue,
        };
        out.insert(m.name().into(), r);
    }
    out
}

/// Why an evaluation cannot start.
#[derive(Debug, thiserror::Error)]
pub enum EvalSetupError {
    #[error("metrics {0} need a judge model (parameter `judge`); name one, or leave them out")]
    NeedsJudge(String),
    #[error(
        "metric answer_relevancy needs an embedder beside the judge (parameter `judge.embedder`)"
    )]
    NeedsEmbedder,
}

/// Scores responses with a set of metrics; with a judge, the judge metrics and the citation
/// checks go through it.
pub struct Evaluator {
    metrics: Vec<Metric>,
    judge: Option<JudgeModels>,
    concurrency: usize,
}

impl Evaluator {
    /// An evaluator of `metrics` (a judge metric needs [`Evaluator::judge`] before scoring).
    pub fn new(metrics: Vec<Metric>) -> Self {
        Evaluator {
            metrics,
            judge: None,
            concurrency: 4,
        }
    }

    /// The judge for the judge metrics and for citation checks.
    pub fn judge(mut self, judge: JudgeModels) -> Self {
        self.judge = Some(judge);
        self
    }

    /// How many samples are scored at once (judge calls of one sample run one after another).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    pub fn metrics(&self) -> &[Metric] {
        &self.metrics
    }

    /// Refuses a judge metric without a judge, before anything is spent.
    pub fn check(&self) -> Result<(), EvalSetupError> {
        let judged: Vec<&str> = self
            .metrics
            .iter()
            .filter(|m| m.needs_judge())
            .map(|m| m.name())
            .collect();
        match &self.judge {
            None if !judged.is_empty() => Err(EvalSetupError::NeedsJudge(judged.join(", "))),
            Some(j) if j.embedder.is_none() && self.metrics.contains(&Metric::AnswerRelevancy) => {
                Err(EvalSetupError::NeedsEmbedder)
            }
            _ => Ok(()),
        }
    }

    /// Scores every (sample, response) and returns the run, summaries included.
    pub async fn run(
        &self,
        dataset: &str,
        system: &str,
        items: Vec<(EvalSample, Response)>,
        progress: &dyn Progress,
    ) -> Result<RagRun, EvalSetupError> {
        self.check()?;
        let started = Instant::now();
        let created_unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let meters: BTreeMap<Metric, Meter> = self
            .metrics
            .iter()
            .filter(|m| m.needs_judge() || (self.judge.is_some() && is_citation(**m)))
            .map(|&m| (m, Meter::default()))
            .collect();
        let citation_judge = self.judge.as_ref().map(|j| Judge::new(j.chat.clone()));
        progress.start("scoring", items.len());
        let meters_ref = &meters;
        let citation_judge = citation_judge.as_ref();
        let samples: Vec<SampleResult> = futures::stream::iter(items)
            .map(|(sample, response)| async move {
                let metrics = self
                    .score(&sample, &response, meters_ref, citation_judge)
                    .await;
                progress.tick();
                SampleResult {
                    sample,
                    response,
                    metrics,
                }
            })
            .buffered(self.concurrency)
            .collect()
            .await;
        progress.finish();
        let answer_cost_usd = samples
            .iter()
            .filter_map(|s| s.response.cost_usd)
            .fold(0.0, |a, b| a + b);
        let mut run = RagRun {
            version: RUN_VERSION,
            created_unix,
            dataset: dataset.into(),
            system: system.into(),
            judge: self.judge.as_ref().map(|j| j.chat.id().to_string()),
            metrics: self.metrics.iter().map(|m| m.name().to_string()).collect(),
            judge_cost: meters
                .iter()
                .map(|(m, c)| (m.name().to_string(), c.cost()))
                .collect(),
            answer_cost_usd,
            samples,
            ..Default::default()
        };
        run.summarize();
        run.seconds = started.elapsed().as_secs_f64();
        Ok(run)
    }

    async fn score(
        &self,
        sample: &EvalSample,
        response: &Response,
        meters: &BTreeMap<Metric, Meter>,
        citation_judge: Option<&Judge>,
    ) -> BTreeMap<String, MetricResult> {
        let offline: Vec<Metric> = self
            .metrics
            .iter()
            .copied()
            .filter(|m| !(citation_judge.is_some() && is_citation(*m)))
            .collect();
        let mut out = score_offline(sample, response, &offline);
        if let (Some(j), Some(meter)) = (
            citation_judge,
            meters
                .get(&Metric::CitationPrecision)
                .or(meters.get(&Metric::CitationRecall)),
        ) {
            if response.error.is_none() {
                let [p, r] = citations::scores(response, &Entailment::Judge(j, meter)).await;
                for (m, v) in [(Metric::CitationPrecision, p), (Metric::CitationRecall, r)] {
                    if self.metrics.contains(&m) {
                        out.insert(m.name().into(), v);
                    }
                }
            } else {
                for m in self.metrics.iter().filter(|m| is_citation(**m)) {
                    out.insert(m.name().into(), MetricResult::skipped("no response"));
                }
            }
        }
        if let Some(j) = &self.judge {
            for &m in self.metrics.iter().filter(|m| m.needs_judge()) {
                let r = match &response.error {
                    Some(e) => MetricResult::skipped(format!("no response: {e}")),
                    None => judge::score(m, j, sample, response, &meters[&m]).await,
                };
                out.insert(m.name().into(), r);
            }
        }
        out
    }
}

fn is_citation(m: Metric) -> bool {
    matches!(m, Metric::CitationPrecision | Metric::CitationRecall)
}
