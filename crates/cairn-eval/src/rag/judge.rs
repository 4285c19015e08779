//! The judge metrics (faithfulness, answer relevancy, context precision, context recall,
//! factual correctness) over any `ChatModel`, with ragas's current definitions; the formulas,
//! prompts and departures are in `docs/eval-metrics.md`. Each metric asks for structured
//! output (one repair round), checks all items of a sample in one call, and books every call
//! on its [`Meter`]. A sample the judge cannot score gets a reason, never NaN.

use std::sync::Arc;

use async_trait::async_trait;
use cairn_core::embed::AsyncEmbedder;
use cairn_llm::error::LlmError;
use cairn_llm::model::{ChatModel, ChatStream, ModelId, ModelProfile, TokenCount};
use cairn_llm::structured::{format_of, generate_json};
use cairn_llm::{ChatRequest, ChatResponse};
use cairn_rag::cite;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use super::judge_prompts::{self as prompts, Questions, Statements, Verdict, Verdicts};
use super::metric::Metric;
use super::run::Meter;
use super::sample::{EvalSample, MetricResult, Response};

/// The models a judged run uses: a chat model (wrap it in the response cache so reruns are
/// free and identical) and, for answer relevancy, an embedder.
#[derive(Clone)]
pub struct JudgeModels {
    pub chat: Arc<dyn ChatModel>,
    pub embedder: Option<Arc<dyn AsyncEmbedder>>,
}

/// Why a sample was not scored (`no reference: …`, `parse failure: …`, …).
type Skip = String;

/// Scores one judge metric on one sample. Never fails: a sample the judge cannot score gets
/// a reason (`parse failure: …`, `refusal: …`, `timeout`, `judge error: …`, `no reference`…).
pub async fn score(
    metric: Metric,
    judge: &JudgeModels,
    sample: &EvalSample,
    response: &Response,
    meter: &Meter,
) -> MetricResult {
    let chat = Booked {
        inner: judge.chat.as_ref(),
        meter,
    };
    let x = Input::of(sample, response);
    let result = match metric {
        Metric::Faithfulness => faithfulness(&chat, &x).await,
        Metric::AnswerRelevancy => match &judge.embedder {
            Some(e) => answer_relevancy(&chat, e.as_ref(), meter, &x).await,
            None => Err("judge error: answer_relevancy needs an embedder beside the judge".into()),
        },
        Metric::ContextPrecision => context_precision(&chat, &x).await,
        Metric::ContextRecall => context_recall(&chat, &x).await,
        Metric::FactualCorrectness => factual_correctness(&chat, &x).await,
        other => Err(format!("judge error: {other} is not a judge metric")),
    };
    result.unwrap_or_else(MetricResult::skipped)
}

/// The recorded reason for a judge call that gave no usable verdict: `refusal: …` when the
/// judge declined in prose instead of replying with JSON, `parse failure: …` when the reply was
/// not the JSON asked for (after the repair round), `timeout: …`, else `judge error: …` with
/// the error's own message (which never holds a key).
pub fn reason_of(e: &LlmError) -> String {
    match e {
        LlmError::SchemaMismatch { reply, .. } if is_refusal(reply) => {
            format!(
                "refusal: the judge declined to answer (reply: {:?})",
                clip(reply)
            )
        }
        LlmError::SchemaMismatch { errors, reply, .. } => {
            format!("parse failure: {errors} (reply: {:?})", clip(reply))
        }
        LlmError::Timeout { .. } => format!("timeout: {e}"),
        LlmError::AllFailed { last, .. } if matches!(**last, LlmError::Timeout { .. }) => {
            format!("timeout: {e}")
        }
        _ => format!("judge error: {e}"),
    }
}

/// A reply in prose that declines ("I'm sorry, I can't help with that."), told apart from
/// malformed JSON so a run says its judge refused rather than that it cannot write JSON.
pub fn is_refusal(reply: &str) -> bool {
    let r = reply.to_lowercase().replace('\u{2019}', "'");
    if r.contains('{') {
        return false;
    }
    [
        "i'm sorry",
        "i am sorry",
        "i apologize",
        "i can't",
        "i cannot",
        "i can not",
        "i'm unable",
        "i am unable",
        "i'm not able",
        "i am not able",
        "i won't",
        "i will not",
        "as an ai",
    ]
    .iter()
    .any(|p| r.contains(p))
}

fn clip(s: &str) -> String {
    s.chars().take(120).collect()
}

/// What the prompts see of a sample: the answer without cairn's `[n]` markers (they are not
/// claims), the non-blank contexts in rank order, a non-blank reference.
struct Input<'a> {
    question: &'a str,
    answer: String,
    contexts: Vec<&'a str>,
    reference: Option<&'a str>,
}

impl<'a> Input<'a> {
    fn of(sample: &'a EvalSample, response: &'a Response) -> Self {
        Input {
            question: &sample.question,
            answer: cite::strip_markers(&response.answer).trim().to_string(),
            contexts: response
                .contexts
                .iter()
                .map(|c| c.text.trim())
                .filter(|t| !t.is_empty())
                .collect(),
            reference: sample
                .reference
                .as_deref()
                .map(str::trim)
                .filter(|r| !r.is_empty()),
        }
    }

    fn joined_contexts(&self) -> String {
        self.contexts.join("\n\n")
    }

    fn reference(&self) -> Result<&'a str, Skip> {
        self.reference
            .ok_or_else(|| "no reference: the sample has no gold answer".to_string())
    }
}

/// The judge model with every call booked on the meter: `generate_json` returns only its last
/// response, so booking there would miss the first call of a repair round.
struct Booked<'a> {
    inner: &'a dyn ChatModel,
    meter: &'a Meter,
}

#[async_trait]
impl ChatModel for Booked<'_> {
    fn id(&self) -> ModelId {
        self.inner.id()
    }
    fn profile(&self) -> ModelProfile {
        self.inner.profile()
    }
    async fn chat(&self, req: &ChatRequest) -> Result<ChatResponse, LlmError> {
        let r = self.inner.chat(req).await?;
        self.meter.record(&r.served);
        Ok(r)
    }
    async fn stream(&self, req: &ChatRequest) -> Result<ChatStream, LlmError> {
        self.inner.stream(req).await
    }
    async fn count_tokens(&self, req: &ChatRequest) -> Result<TokenCount, LlmError> {
        self.inner.count_tokens(req).await
    }
    async fn context_window(&self) -> Result<Option<u64>, LlmError> {
        self.inner.context_window().await
    }
}

/// One structured call: the reply as `T`, or the reason there is none.
async fn ask<T: DeserializeOwned + schemars::JsonSchema>(
    chat: &dyn ChatModel,
    req: &ChatRequest,
) -> Result<T, Skip> {
    let format = format_of::<T>();
    let (value, resp) = generate_json(chat, req, &format)
        .await
        .map_err(|e| reason_of(&e))?;
    serde_json::from_value(value)
        .map_err(|e| format!("parse failure: {e} (reply: {:?})", clip(&resp.text())))
}

/// The non-blank items, trimmed.
fn cleaned(items: Vec<String>) -> Vec<String> {
    items
        .into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// A list of one verdict per item sent. A judge that gives more or fewer cannot be lined up
/// with the items, so the sample is not scored rather than scored on a guess.
async fn verdicts(
    chat: &dyn ChatModel,
    req: &ChatRequest,
    n: usize,
    what: &str,
) -> Result<Vec<Verdict>, Skip> {
    let v: Verdicts = ask(chat, req).await?;
    if v.verdicts.len() != n {
        return Err(format!(
            "parse failure: the judge gave {} verdicts for {n} {what}",
            v.verdicts.len()
        ));
    }
    Ok(v.verdicts)
}

/// Verdict 0 for every item, without a call: nothing can support them.
fn unsupported(n: usize, why: &str) -> Vec<Verdict> {
    let v = Verdict {
        reason: why.to_string(),
        verdict: 0,
    };
    vec![v; n]
}

fn passed(verdicts: &[Verdict]) -> Vec<bool> {
    verdicts.iter().map(|v| v.verdict != 0).collect()
}

/// `[{key: item, "verdict": 0|1, "reason": …}]` for the drill-down.
fn itemized(key: &str, items: &[String], verdicts: &[Verdict]) -> Value {
    items
        .iter()
        .zip(verdicts)
        .map(|(s, v)| json!({key: s, "verdict": u8::from(v.verdict != 0), "reason": v.reason}))
        .collect()
}

/// The share of items that passed; `None` for no items (the caller gives the reason).
pub fn share(passed: &[bool]) -> Option<f64> {
    (!passed.is_empty()).then(|| passed.iter().filter(|&&p| p).count() as f64 / passed.len() as f64)
}

/// ragas's average precision of ranked verdicts: Σ_k precision@k × v_k over the number of
/// useful items; 0 when none is useful (ragas's 1e-10 in the denominator gives the same).
pub fn average_precision(verdicts: &[u8]) -> f64 {
    let (mut hits, mut sum) = (0usize, 0.0);
    for (k, &v) in verdicts.iter().enumerate() {
        if v != 0 {
            hits += 1;
            sum += hits as f64 / (k + 1) as f64;
        }
    }
    if hits == 0 {
        0.0
    } else {
        sum / hits as f64
    }
}

/// Cosine similarity; 0 when either vector is all zeros (never NaN).
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let norm = |v: &[f32]| v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let (na, nb) = (norm(a), norm(b));
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}

/// Answer relevancy from the cosines of the generated questions: their mean, times 0 for a
/// noncommittal answer; a negative mean counts as 0 so the score stays in [0, 1].
pub fn relevancy(cosines: &[f64], noncommittal: bool) -> f64 {
    if noncommittal || cosines.is_empty() {
        return 0.0;
    }
    (cosines.iter().sum::<f64>() / cosines.len() as f64).max(0.0)
}

/// ragas's `fbeta_score` with beta 1: precision, recall and F1, each 0 where undefined.
pub fn precision_recall_f1(tp: usize, fp: usize, fn_: usize) -> (f64, f64, f64) {
    let ratio = |a: usize, b: usize| {
        if a + b == 0 {
            0.0
        } else {
            a as f64 / (a + b) as f64
        }
    };
    let (p, r) = (ratio(tp, fp), ratio(tp, fn_));
    let f1 = if p + r == 0.0 {
        0.0
    } else {
        2.0 * p * r / (p + r)
    };
    (p, r, f1)
}

/// Statements of the answer supported by the contexts / statements.
async fn faithfulness(chat: &dyn ChatModel, x: &Input<'_>) -> Result<MetricResult, Skip> {
    if x.answer.is_empty() {
        return Err("no statements: the answer is empty".into());
    }
    let s: Statements = ask(chat, &prompts::statements(x.question, &x.answer)).await?;
    let statements = cleaned(s.statements);
    if statements.is_empty() {
        return Err("no statements: the judge found no statement in the answer".into());
    }
    let v = if x.contexts.is_empty() {
        unsupported(statements.len(), "no context was given")
    } else {
        let req = prompts::supported(&x.joined_contexts(), &statements);
        verdicts(chat, &req, statements.len(), "statements").await?
    };
    let score = share(&passed(&v)).unwrap_or(0.0);
    Ok(MetricResult::value(score)
        .with_details(json!({"statements": itemized("statement", &statements, &v)})))
}

/// Mean cosine of the question to questions written back from the answer; 0 if noncommittal.
async fn answer_relevancy(
    chat: &dyn ChatModel,
    embedder: &dyn AsyncEmbedder,
    meter: &Meter,
    x: &Input<'_>,
) -> Result<MetricResult, Skip> {
    if x.answer.is_empty() {
        let details = json!({"questions": [], "noncommittal": true, "note": "the answer is empty"});
        return Ok(MetricResult::value(0.0).with_details(details));
    }
    let q: Questions = ask(chat, &prompts::questions(&x.answer)).await?;
    let generated = cleaned(q.questions);
    if generated.is_empty() {
        return Err("parse failure: the judge wrote no question".into());
    }
    let mut texts = vec![x.question];
    texts.extend(generated.iter().map(String::as_str));
    let vectors = embedder
        .embed(&texts)
        .await
        .map_err(|e| format!("judge error: embedding the questions: {e}"))?;
    meter.record_call(false);
    if vectors.len() != texts.len() {
        return Err(format!(
            "judge error: the embedder returned {} vectors for {} texts",
            vectors.len(),
            texts.len()
        ));
    }
    let cosines: Vec<f64> = vectors[1..]
        .iter()
        .map(|v| cosine(&vectors[0], v))
        .collect();
    let noncommittal = q.noncommittal != 0;
    let questions: Vec<Value> = generated
        .iter()
        .zip(&cosines)
        .map(|(g, c)| json!({"question": g, "cosine": c}))
        .collect();
    Ok(MetricResult::value(relevancy(&cosines, noncommittal))
        .with_details(json!({"questions": questions, "noncommittal": noncommittal})))
}

/// Average precision of the contexts judged useful for reaching the reference (or, without
/// one, the response), in rank order.
async fn context_precision(chat: &dyn ChatModel, x: &Input<'_>) -> Result<MetricResult, Skip> {
    if x.contexts.is_empty() {
        return Err("no contexts: the response used no passage".into());
    }
    let (against, answer) = match x.reference {
        Some(r) => ("reference", r),
        None if !x.answer.is_empty() => {
            ("response (the sample has no reference)", x.answer.as_str())
        }
        None => {
            return Err(
                "no reference: the sample has no gold answer and the response is empty".into(),
            )
        }
    };
    let req = prompts::useful(x.question, answer, &x.contexts);
    let v = verdicts(chat, &req, x.contexts.len(), "passages").await?;
    let flags: Vec<u8> = v.iter().map(|v| u8::from(v.verdict != 0)).collect();
    let contexts: Vec<Value> = v
        .iter()
        .enumerate()
        .map(
            |(i, v)| json!({"rank": i + 1, "useful": u8::from(v.verdict != 0), "reason": v.reason}),
        )
        .collect();
    Ok(MetricResult::value(average_precision(&flags))
        .with_details(json!({"against": against, "contexts": contexts})))
}

/// Reference sentences attributable to the contexts / reference sentences.
async fn context_recall(chat: &dyn ChatModel, x: &Input<'_>) -> Result<MetricResult, Skip> {
    let reference = x.reference()?;
    let sentences = cleaned(
        cite::sentences(reference)
            .into_iter()
            .map(|s| cite::strip_markers(&s.text))
            .collect(),
    );
    if sentences.is_empty() {
        return Err("no statements: the reference has no sentence".into());
    }
    let v = if x.contexts.is_empty() {
        unsupported(sentences.len(), "no context was given")
    } else {
        let req = prompts::attributed(x.question, &x.joined_contexts(), &sentences);
        verdicts(chat, &req, sentences.len(), "sentences").await?
    };
    let score = share(&passed(&v)).unwrap_or(0.0);
    Ok(MetricResult::value(score)
        .with_details(json!({"sentences": itemized("sentence", &sentences, &v)})))
}

/// Claim-level F1 of the answer against the reference, as ragas counts it: TP and FP from the
/// answer's claims checked against the reference, FN from the reference's claims the answer
/// does not support.
async fn factual_correctness(chat: &dyn ChatModel, x: &Input<'_>) -> Result<MetricResult, Skip> {
    let reference = x.reference()?;
    let answer_claims = if x.answer.is_empty() {
        Vec::new()
    } else {
        cleaned(
            ask::<Statements>(chat, &prompts::claims(&x.answer))
                .await?
                .statements,
        )
    };
    if answer_claims.is_empty() {
        // TP = FP = 0: precision and recall are 0 whatever the reference holds, so its calls
        // would change nothing.
        let details = json!({"precision": 0.0, "recall": 0.0, "answer_claims": [],
            "reference_claims": [], "note": "the answer states no claim"});
        return Ok(MetricResult::value(0.0).with_details(details));
    }
    let req = prompts::supported(reference, &answer_claims);
    let answer_v = verdicts(chat, &req, answer_claims.len(), "claims").await?;
    let reference_claims = cleaned(
        ask::<Statements>(chat, &prompts::claims(reference))
            .await?
            .statements,
    );
    let reference_v = if reference_claims.is_empty() {
        Vec::new()
    } else {
        let req = prompts::supported(&x.answer, &reference_claims);
        verdicts(chat, &req, reference_claims.len(), "claims").await?
    };
    let tp = passed(&answer_v).iter().filter(|&&p| p).count();
    let fp = answer_v.len() - tp;
    let fn_ = passed(&reference_v).iter().filter(|&&p| !p).count();
    let (precision, recall, f1) = precision_recall_f1(tp, fp, fn_);
    Ok(MetricResult::value(f1).with_details(json!({
        "precision": precision,
        "recall": recall,
        "tp": tp, "fp": fp, "fn": fn_,
        "answer_claims": itemized("claim", &answer_claims, &answer_v),
        "reference_claims": itemized("claim", &reference_claims, &reference_v),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn average_precision_by_hand() {
        assert!(close(
            average_precision(&[1, 0, 1]),
            (1.0 / 1.0 + 2.0 / 3.0) / 2.0
        ));
        assert!(close(average_precision(&[0, 1]), 0.5));
        assert!(close(
            average_precision(&[0, 1, 1]),
            (1.0 / 2.0 + 2.0 / 3.0) / 2.0
        ));
        assert!(close(average_precision(&[1, 1, 0, 0]), 1.0));
        assert_eq!(average_precision(&[0, 0, 0]), 0.0);
        assert_eq!(average_precision(&[]), 0.0);
    }

    #[test]
    fn shares_and_f1_by_hand() {
        assert_eq!(share(&[true, false, true, true]), Some(0.75));
        assert_eq!(share(&[]), None);
        let (p, r, f) = precision_recall_f1(2, 1, 1);
        assert!(close(p, 2.0 / 3.0) && close(r, 2.0 / 3.0) && close(f, 2.0 / 3.0));
        // P = 3/4, R = 3/5: F1 = 2·(9/20)/(27/20) = 2/3.
        let (p, r, f) = precision_recall_f1(3, 1, 2);
        assert!(
            close(p, 0.75) && close(r, 0.6) && close(f, 2.0 / 3.0),
            "{f}"
        );
        assert_eq!(precision_recall_f1(0, 2, 3), (0.0, 0.0, 0.0));
        assert_eq!(precision_recall_f1(0, 0, 0), (0.0, 0.0, 0.0));
        assert_eq!(precision_recall_f1(2, 0, 0), (1.0, 1.0, 1.0));
    }

    #[test]
    fn cosines_and_relevancy_never_give_nan() {
        assert!(close(cosine(&[1.0, 0.0], &[2.0, 0.0]), 1.0));
        assert!(close(cosine(&[1.0, 0.0], &[0.0, 3.0]), 0.0));
        assert!(close(cosine(&[3.0, 4.0], &[4.0, 3.0]), 24.0 / 25.0));
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 0.0]), 0.0);
        assert!(close(relevancy(&[0.5, 1.0, 0.75], false), 0.75));
        assert_eq!(relevancy(&[0.5, 1.0, 0.75], true), 0.0);
        assert_eq!(relevancy(&[-0.25], false), 0.0);
        assert_eq!(relevancy(&[], false), 0.0);
    }

    #[test]
    fn reasons_name_what_went_wrong() {
        let mismatch = |reply: &str| LlmError::SchemaMismatch {
            schema_name: "Verdicts".into(),
            errors: "the reply is not JSON".into(),
            reply: reply.into(),
        };
        let r = reason_of(&mismatch("I\u{2019}m sorry, I can't help with that."));
        assert!(r.starts_with("refusal: ") && r.contains("sorry"), "{r}");
        let r = reason_of(&mismatch("{\"verdicts\": [{\"reason\": \"I can't tell\""));
        assert!(r.starts_with("parse failure: the reply is not JSON"), "{r}");
        let timeout = LlmError::Timeout {
            provider: "openai",
            phase: cairn_llm::TimeoutPhase::Total,
            after: Duration::from_secs(1),
        };
        assert!(reason_of(&timeout).starts_with("timeout: "));
        let all = LlmError::AllFailed {
            errors: vec![("openai:x".into(), timeout.to_string())],
            last: Box::new(timeout),
        };
        assert!(reason_of(&all).starts_with("timeout: "));
        let r = reason_of(&LlmError::InvalidRequest("bad".into()));
        assert_eq!(r, "judge error: invalid request: bad");
        assert!(!is_refusal("Sure: {\"verdicts\": []}"));
        assert!(is_refusal("As an AI, I cannot judge this."));
    }

    #[test]
    fn inputs_drop_markers_blank_contexts_and_blank_references() {
        let sample = EvalSample {
            question: "Why?".into(),
            reference: Some("  ".into()),
            ..Default::default()
        };
        let ctx = |t: &str| super::super::sample::Context {
            text: t.into(),
            ..Default::default()
        };
        let response = Response {
            answer: "Cairns mark trails [1]. They are old [2].".into(),
            contexts: vec![ctx("first"), ctx("  "), ctx("third")],
            answered: true,
            ..Default::default()
        };
        let x = Input::of(&sample, &response);
        assert_eq!(x.answer, "Cairns mark trails. They are old.");
        assert_eq!(x.contexts, ["first", "third"]);
        assert_eq!(x.joined_contexts(), "first\n\nthird");
        assert!(x.reference().unwrap_err().starts_with("no reference"));
    }
}
