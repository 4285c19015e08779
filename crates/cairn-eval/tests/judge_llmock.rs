//! The judge metrics against the real llmock peer (OpenAI's wire format): scripted judge
//! replies give the scores computed here by hand; malformed, truncated, incomplete and refusing
//! replies, a miscounted verdict list, a slow judge and an HTTP error each give their reason;
//! every call (repair rounds and embeddings included) is booked on the meter; each sample's
//! statements go to the judge in one call; the response cache makes a rerun free and identical.

mod judge_replies;
#[path = "../../cairn-llm/tests/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use cairn_core::embed::{AsyncEmbedder, EmbedError};
use cairn_eval::rag::judge::{self, JudgeModels};
use cairn_eval::rag::run::{Meter, MetricCost};
use cairn_eval::rag::{Context, EvalSample, Metric, MetricResult, Response};
use cairn_llm::middleware::Cache;
use cairn_llm::providers::{openai::OpenAi, Endpoint};
use cairn_llm::transport::Transport;
use cairn_llm::{ChatModel, Timeouts};
use judge_replies::{json_reply, text_reply, verdicts};
use serde_json::{json, Value};
use support::Llmock;

const DIM: usize = 4096;

/// Bag of words hashed into `DIM` buckets (FNV-1a), L2-normalised: deterministic, and with the
/// few words used here landing in distinct buckets its cosines are the word-count cosines.
struct BagOfWords;

fn words(t: &str) -> Vec<String> {
    t.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

fn fnv(w: &str) -> usize {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in w.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x100000001b3);
    }
    (h % DIM as u64) as usize
}

#[async_trait::async_trait]
impl AsyncEmbedder for BagOfWords {
    fn model_id(&self) -> &str {
        "test:bag-of-words"
    }
    fn dim(&self) -> usize {
        DIM
    }
    fn max_tokens(&self) -> usize {
        512
    }
    async fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        Ok(texts
            .iter()
            .map(|t| {
                let mut v = vec![0f32; DIM];
                words(t).iter().for_each(|w| v[fnv(w)] += 1.0);
                let n = v
                    .iter()
                    .map(|x| x * x)
                    .sum::<f32>()
                    .sqrt()
                    .max(f32::MIN_POSITIVE);
                v.iter().map(|x| x / n).collect()
            })
            .collect())
    }
}

/// The cosine of two texts' word counts, computed without the embedder.
fn word_cosine(a: &str, b: &str) -> f64 {
    let counts = |t: &str| {
        let mut m: HashMap<String, f64> = HashMap::new();
        words(t)
            .into_iter()
            .for_each(|w| *m.entry(w).or_default() += 1.0);
        m
    };
    let (ca, cb) = (counts(a), counts(b));
    let dot: f64 = ca.iter().map(|(w, x)| x * cb.get(w).unwrap_or(&0.0)).sum();
    let norm = |m: &HashMap<String, f64>| m.values().map(|x| x * x).sum::<f64>().sqrt();
    dot / (norm(&ca) * norm(&cb))
}

fn model(mock: &Llmock, timeouts: Timeouts) -> Arc<dyn ChatModel> {
    let ep = Endpoint {
        base_url: mock.base_for("openai"),
        api_key: Some("test-key".into()),
        transport: Arc::new(Transport::new(timeouts)),
    };
    Arc::new(OpenAi::new(ep, "gpt-4o-mini"))
}

fn timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(5),
        first_byte: Duration::from_secs(10),
        idle: Duration::from_secs(5),
        total: Duration::from_secs(30),
    }
}

fn judge_of(chat: Arc<dyn ChatModel>) -> JudgeModels {
    JudgeModels {
        chat,
        embedder: Some(Arc::new(BagOfWords)),
    }
}

fn sample(reference: Option<&str>) -> EvalSample {
    EvalSample {
        id: "1".into(),
        question: "Where was Einstein born?".into(),
        reference: reference.map(str::to_string),
        ..Default::default()
    }
}

fn response(answer: &str, contexts: &[&str]) -> Response {
    Response {
        answer: answer.into(),
        answered: true,
        contexts: contexts
            .iter()
            .map(|t| Context {
                text: t.to_string(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

const CONTEXTS: [&str; 3] = [
    "Albert Einstein was born in Ulm, in the Kingdom of Wurttemberg, on 14 March 1879.",
    "The Andes is the longest continental mountain range in the world.",
    "Einstein's family moved to Munich in 1880.",
];

async fn score(
    metric: Metric,
    judge: &JudgeModels,
    s: &EvalSample,
    r: &Response,
) -> (MetricResult, MetricCost) {
    let meter = Meter::default();
    let result = judge::score(metric, judge, s, r, &meter).await;
    assert!(
        result.value.is_some() != result.reason.is_some(),
        "{result:?}"
    );
    assert!(!result.value.is_some_and(f64::is_nan), "{result:?}");
    (result, meter.cost())
}

/// The bodies of the chat requests llmock received since the last reset, oldest first.
async fn bodies(mock: &Llmock) -> Vec<Value> {
    let reqs = mock.requests().await;
    let out = reqs["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["body"].clone())
        .collect();
    mock.reset().await;
    out
}

fn user(body: &Value) -> &str {
    body["messages"][1]["content"].as_str().unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[tokio::test]
async fn faithfulness_checks_every_statement_in_one_call() {
    let mock = Llmock::start().await;
    let judge = judge_of(model(&mock, timeouts()));
    let statements = [
        "Einstein was born in Ulm.",
        "Einstein was born in 1879.",
        "Einstein was born in Berlin.",
    ];
    mock.scenario(json!([
        json_reply(json!({"statements": statements})),
        verdicts(&[1, 1, 0])
    ]))
    .await;
    let r = response(
        "Einstein was born in Ulm in 1879 [1], in Berlin [2].",
        &CONTEXTS,
    );
    let (m, cost) = score(Metric::Faithfulness, &judge, &sample(None), &r).await;
    assert!(close(m.value.unwrap(), 2.0 / 3.0), "{m:?}");
    assert_eq!(m.details["statements"][2]["statement"], statements[2]);
    assert_eq!(m.details["statements"][2]["verdict"], 0);
    assert_eq!(m.details["statements"][0]["reason"], "reason 1");
    assert_eq!((cost.calls, cost.cached), (2, 0));
    let b = bodies(&mock).await;
    assert_eq!(
        b.len(),
        2,
        "one call for the statements, one for all verdicts"
    );
    // The answer reaches the judge without cairn's citation markers.
    assert!(user(&b[0]).ends_with("Answer: Einstein was born in Ulm in 1879, in Berlin."));
    let check = user(&b[1]);
    assert!(check.starts_with(&format!("Context: {}\n\n{}", CONTEXTS[0], CONTEXTS[1])));
    let numbered = format!(
        "Statements:\n1. {}\n2. {}\n3. {}",
        statements[0], statements[1], statements[2]
    );
    assert!(check.ends_with(&numbered), "{check}");
    for body in &b {
        assert_eq!(body["temperature"], 0.0);
        assert!(body["max_tokens"].as_u64().unwrap() >= 1024, "{body}");
        assert_eq!(body["response_format"]["type"], "json_schema");
        assert_eq!(body["response_format"]["json_schema"]["strict"], true);
    }
    assert_eq!(b[1]["response_format"]["json_schema"]["name"], "Verdicts");

    // A refusal states nothing: not scored, as ragas gives no score without statements.
    mock.scenario(json!([json_reply(json!({"statements": []}))]))
        .await;
    let mut r = response("I don't know.", &CONTEXTS);
    r.answered = false;
    let (m, cost) = score(Metric::Faithfulness, &judge, &sample(None), &r).await;
    assert!(m.reason.unwrap().starts_with("no statements: "));
    assert_eq!(cost.calls, 1);
}

#[tokio::test]
async fn answer_relevancy_is_the_mean_cosine_unless_noncommittal() {
    let mock = Llmock::start().await;
    let judge = judge_of(model(&mock, timeouts()));
    let q = sample(None).question;
    let generated = [
        "Where was Einstein born?",
        "In which city was Einstein born?",
        "What is Einstein's birthplace?",
    ];
    mock.scenario(json!([json_reply(
        json!({"questions": generated, "noncommittal": 0})
    )]))
    .await;
    let r = response("Einstein was born in Ulm.", &CONTEXTS);
    let (m, cost) = score(Metric::AnswerRelevancy, &judge, &sample(None), &r).await;
    // By hand: 1, 3/(2·√6) and 1/(2·√5), their mean.
    let by_hand = (1.0 + 3.0 / (2.0 * 6f64.sqrt()) + 1.0 / (2.0 * 5f64.sqrt())) / 3.0;
    let expected: f64 = generated.iter().map(|g| word_cosine(&q, g)).sum::<f64>() / 3.0;
    assert!(close(expected, by_hand));
    assert!(
        (m.value.unwrap() - expected).abs() < 1e-6,
        "{m:?} vs {expected}"
    );
    assert_eq!(m.details["noncommittal"], false);
    assert_eq!(m.details["questions"][1]["question"], generated[1]);
    let c1 = m.details["questions"][1]["cosine"].as_f64().unwrap();
    assert!((c1 - 3.0 / (2.0 * 6f64.sqrt())).abs() < 1e-6);
    assert_eq!(cost.calls, 2, "the judge call and one embedding call");
    let b = bodies(&mock).await;
    assert_eq!(b.len(), 1);
    assert!(user(&b[0]).ends_with("Answer: Einstein was born in Ulm."));

    mock.scenario(json!([json_reply(
        json!({"questions": generated, "noncommittal": 1})
    )]))
    .await;
    let r = response("I'm not sure where Einstein was born.", &CONTEXTS);
    let (m, _) = score(Metric::AnswerRelevancy, &judge, &sample(None), &r).await;
    assert_eq!(m.value, Some(0.0));
    assert_eq!(m.details["noncommittal"], true);
}

#[tokio::test]
async fn context_precision_is_average_precision_in_rank_order() {
    let mock = Llmock::start().await;
    let judge = judge_of(model(&mock, timeouts()));
    let reference = "Einstein was born in Ulm in 1879.";
    mock.scenario(json!([verdicts(&[1, 0, 1])])).await;
    let r = response("Ulm.", &CONTEXTS);
    let (m, cost) = score(
        Metric::ContextPrecision,
        &judge,
        &sample(Some(reference)),
        &r,
    )
    .await;
    assert!(close(m.value.unwrap(), (1.0 + 2.0 / 3.0) / 2.0), "{m:?}");
    assert_eq!(m.details["against"], "reference");
    assert_eq!(m.details["contexts"][1]["useful"], 0);
    assert_eq!(m.details["contexts"][2]["rank"], 3);
    assert_eq!(cost.calls, 1);
    let b = bodies(&mock).await;
    let u = user(&b[0]);
    assert!(u.contains(&format!("Answer: {reference}\n")), "{u}");
    assert!(u.contains(&format!("[3] {}", CONTEXTS[2])), "{u}");

    // Without a reference the response stands in, as ragas's "without reference" variant.
    mock.scenario(json!([verdicts(&[0, 0, 1])])).await;
    let (m, _) = score(Metric::ContextPrecision, &judge, &sample(None), &r).await;
    assert!(close(m.value.unwrap(), 1.0 / 3.0), "{m:?}");
    assert!(m.details["against"]
        .as_str()
        .unwrap()
        .starts_with("response"));
    assert!(user(&bodies(&mock).await[0]).contains("Answer: Ulm.\n"));

    mock.scenario(json!([verdicts(&[0, 0, 0])])).await;
    let (m, _) = score(Metric::ContextPrecision, &judge, &sample(None), &r).await;
    assert_eq!(m.value, Some(0.0));
    mock.reset().await;

    let (m, cost) = score(
        Metric::ContextPrecision,
        &judge,
        &sample(None),
        &response("Ulm.", &[]),
    )
    .await;
    assert!(m.reason.unwrap().starts_with("no contexts: "));
    assert_eq!(cost.calls, 0);
}

#[tokio::test]
async fn context_recall_classifies_each_reference_sentence() {
    let mock = Llmock::start().await;
    let judge = judge_of(model(&mock, timeouts()));
    let reference = "Einstein was born in Ulm. He was born in 1879. He won a Nobel Prize. \
        His family moved to Munich.";
    mock.scenario(json!([verdicts(&[1, 1, 0, 1])])).await;
    let r = response("Ulm.", &CONTEXTS);
    let (m, cost) = score(Metric::ContextRecall, &judge, &sample(Some(reference)), &r).await;
    assert_eq!(m.value, Some(0.75), "{m:?}");
    assert_eq!(
        m.details["sentences"][2]["sentence"],
        "He won a Nobel Prize."
    );
    assert_eq!(m.details["sentences"][2]["verdict"], 0);
    assert_eq!(cost.calls, 1);
    let u = user(&bodies(&mock).await[0]).to_string();
    assert!(
        u.ends_with(
            "Sentences:\n1. Einstein was born in Ulm.\n2. He was born in 1879.\n\
        3. He won a Nobel Prize.\n4. His family moved to Munich."
        ),
        "{u}"
    );

    let (m, cost) = score(Metric::ContextRecall, &judge, &sample(None), &r).await;
    assert!(m.reason.unwrap().starts_with("no reference: "));
    assert_eq!(cost.calls, 0);
}

#[tokio::test]
async fn factual_correctness_is_claim_f1() {
    let mock = Llmock::start().await;
    let judge = judge_of(model(&mock, timeouts()));
    let answer = "Einstein was born in Ulm in 1879 and won the Nobel Prize in 1930.";
    let reference = "Einstein was born in Ulm. He was born in 1879. He died in Princeton.";
    let answer_claims = [
        "Einstein was born in Ulm.",
        "Einstein was born in 1879.",
        "Einstein won the Nobel Prize in 1930.",
    ];
    let reference_claims = [
        "Einstein was born in Ulm.",
        "Einstein was born in 1879.",
        "Einstein died in Princeton.",
    ];
    mock.scenario(json!([
        json_reply(json!({"statements": answer_claims})),
        verdicts(&[1, 1, 0]),
        json_reply(json!({"statements": reference_claims})),
        verdicts(&[1, 1, 0]),
    ]))
    .await;
    let r = response(answer, &CONTEXTS);
    let (m, cost) = score(
        Metric::FactualCorrectness,
        &judge,
        &sample(Some(reference)),
        &r,
    )
    .await;
    // TP 2, FP 1, FN 1: precision 2/3, recall 2/3, F1 2/3.
    assert!(close(m.value.unwrap(), 2.0 / 3.0), "{m:?}");
    assert!(close(m.details["precision"].as_f64().unwrap(), 2.0 / 3.0));
    assert!(close(m.details["recall"].as_f64().unwrap(), 2.0 / 3.0));
    assert_eq!(m.details["answer_claims"][2]["verdict"], 0);
    assert_eq!(
        m.details["reference_claims"][2]["claim"],
        reference_claims[2]
    );
    assert_eq!(cost.calls, 4);
    let b = bodies(&mock).await;
    assert_eq!(b.len(), 4);
    assert_eq!(user(&b[0]), format!("Text: {answer}"));
    assert!(user(&b[1]).starts_with(&format!("Context: {reference}\nStatements:\n1. ")));
    assert_eq!(user(&b[2]), format!("Text: {reference}"));
    assert!(user(&b[3]).starts_with(&format!("Context: {answer}\nStatements:\n1. ")));

    // Uneven: TP 3, FP 1 (P = 3/4), FN 2 (R = 3/5): F1 = 2/3; and TP 1, FP 0, FN 3: 2/5.
    mock.scenario(json!([
        json_reply(json!({"statements": ["a", "b", "c", "d"]})),
        verdicts(&[1, 1, 0, 1]),
        json_reply(json!({"statements": ["e", "f", "g"]})),
        verdicts(&[0, 1, 0]),
        json_reply(json!({"statements": ["a"]})),
        verdicts(&[1]),
        json_reply(json!({"statements": ["e", "f", "g"]})),
        verdicts(&[0, 0, 0]),
    ]))
    .await;
    let (m, _) = score(
        Metric::FactualCorrectness,
        &judge,
        &sample(Some(reference)),
        &r,
    )
    .await;
    assert!(close(m.details["precision"].as_f64().unwrap(), 0.75));
    assert!(close(m.details["recall"].as_f64().unwrap(), 0.6));
    assert!(close(m.value.unwrap(), 2.0 / 3.0), "{m:?}");
    let (m, _) = score(
        Metric::FactualCorrectness,
        &judge,
        &sample(Some(reference)),
        &r,
    )
    .await;
    // P = 1, R = 1/4: F1 = 2·(1/4)/(5/4) = 2/5.
    assert!(close(m.value.unwrap(), 0.4), "{m:?}");
    mock.reset().await;

    // A refusal states no claim: F1 0, as ragas scores it, after one call.
    mock.scenario(json!([json_reply(json!({"statements": []}))]))
        .await;
    let mut r = response("I don't know.", &CONTEXTS);
    r.answered = false;
    let (m, cost) = score(
        Metric::FactualCorrectness,
        &judge,
        &sample(Some(reference)),
        &r,
    )
    .await;
    assert_eq!(m.value, Some(0.0));
    assert_eq!(cost.calls, 1);
}

#[tokio::test]
async fn replies_the_judge_gets_wrong_are_reasons_not_scores() {
    let mock = Llmock::start().await;
    let judge = judge_of(model(&mock, timeouts()));
    let reference = "Einstein was born in Ulm. He was born in 1879.";
    let s = sample(Some(reference));
    let r = response("Ulm.", &CONTEXTS);

    // Malformed twice: the repair round is spent, then `parse failure`; both calls booked.
    mock.scenario(json!([
        text_reply("verdicts: 1, 1"),
        text_reply("{verdicts: [1, 1]}")
    ]))
    .await;
    let (m, cost) = score(Metric::ContextRecall, &judge, &s, &r).await;
    let reason = m.reason.unwrap();
    assert!(
        reason.starts_with("parse failure: ") && reason.contains("not JSON"),
        "{reason}"
    );
    assert_eq!(cost.calls, 2);
    let b = bodies(&mock).await;
    assert_eq!(b.len(), 2);
    let repair = b[1]["messages"].as_array().unwrap();
    assert_eq!(
        repair.len(),
        4,
        "the repair round shows the judge its reply and the errors"
    );
    assert!(repair[3]["content"]
        .as_str()
        .unwrap()
        .contains("does not match"));

    // Truncated JSON, then a whole reply: the repair round saves the sample.
    mock.scenario(json!([
        text_reply("{\"verdicts\": [{\"reason\": \"stated\", \"verdict\": 1}, {\"reas"),
        verdicts(&[1, 0]),
    ]))
    .await;
    let (m, cost) = score(Metric::ContextRecall, &judge, &s, &r).await;
    assert_eq!(m.value, Some(0.5), "{m:?}");
    assert_eq!(cost.calls, 2);
    mock.reset().await;

    // A field missing twice names the field.
    let missing = json_reply(json!({"verdicts": [{"verdict": 1}, {"verdict": 0}]}));
    mock.scenario(json!([missing, missing])).await;
    let (m, cost) = score(Metric::ContextRecall, &judge, &s, &r).await;
    let reason = m.reason.unwrap();
    assert!(
        reason.starts_with("parse failure: ") && reason.contains("reason"),
        "{reason}"
    );
    assert_eq!(cost.calls, 2);
    mock.reset().await;

    // A verdict list that does not line up with the sentences.
    mock.scenario(json!([verdicts(&[1, 1, 1])])).await;
    let (m, cost) = score(Metric::ContextRecall, &judge, &s, &r).await;
    assert_eq!(
        m.reason.unwrap(),
        "parse failure: the judge gave 3 verdicts for 2 sentences"
    );
    assert_eq!(cost.calls, 1);
    mock.reset().await;

    // The judge declines in prose, twice.
    let no = "I'm sorry, I can't help with that.";
    mock.scenario(json!([text_reply(no), text_reply(no)])).await;
    let (m, cost) = score(Metric::Faithfulness, &judge, &s, &r).await;
    let reason = m.reason.unwrap();
    assert!(
        reason.starts_with("refusal: ") && reason.contains(no),
        "{reason}"
    );
    assert_eq!(cost.calls, 2);
    mock.reset().await;

    // An HTTP error the judge model cannot recover from.
    mock.scenario(json!([{"type": "fail", "status": 400, "message": "bad schema"}]))
        .await;
    let (m, cost) = score(Metric::ContextPrecision, &judge, &s, &r).await;
    let reason = m.reason.unwrap();
    assert!(
        reason.starts_with("judge error: ") && reason.contains("400"),
        "{reason}"
    );
    assert_eq!(cost.calls, 0);
    mock.reset().await;

    // A judge slower than the deadline.
    let impatient = Timeouts {
        first_byte: Duration::from_millis(300),
        total: Duration::from_millis(600),
        ..timeouts()
    };
    let slow = judge_of(model(&mock, impatient));
    mock.scenario(json!([{"type": "delay", "seconds": 2.0}]))
        .await;
    let (m, _) = score(Metric::ContextPrecision, &slow, &s, &r).await;
    let reason = m.reason.unwrap();
    assert!(reason.starts_with("timeout: "), "{reason}");
}

#[tokio::test]
async fn the_response_cache_makes_a_rerun_free_and_identical() {
    let mock = Llmock::start().await;
    let dir = tempfile::tempdir().unwrap();
    let cached: Arc<dyn ChatModel> = Arc::new(Cache::new(model(&mock, timeouts()), dir.path()));
    let judge = judge_of(cached);
    mock.scenario(json!([
        json_reply(
            json!({"statements": ["Einstein was born in Ulm.", "Einstein was born in Bern."]})
        ),
        verdicts(&[1, 0]),
    ]))
    .await;
    let r = response("Einstein was born in Ulm, or Bern.", &CONTEXTS);
    let (first, cost) = score(Metric::Faithfulness, &judge, &sample(None), &r).await;
    assert_eq!(first.value, Some(0.5));
    assert_eq!((cost.calls, cost.cached), (2, 0));
    assert_eq!(bodies(&mock).await.len(), 2);
    let (again, cost) = score(Metric::Faithfulness, &judge, &sample(None), &r).await;
    assert_eq!(again, first);
    assert_eq!((cost.calls, cost.cached, cost.usd), (2, 2, 0.0));
    assert!(
        bodies(&mock).await.is_empty(),
        "the rerun reached no server"
    );
}
