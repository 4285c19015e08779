//! The plain types an answer evaluation passes around: what was asked ([`EvalSample`]), what
//! the system answered ([`Response`]), and what each metric made of it ([`MetricResult`]).
//! They serialise as the run file `cairn eval rag --json` writes and `cairn eval compare` reads.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One question of a dataset, with whatever gold material it carries.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EvalSample {
    /// A stable id: the dataset's `id` column, else the 1-based row number.
    pub id: String,
    pub question: String,
    /// The gold answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// Passages that hold the answer (text).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reference_contexts: Vec<String>,
    /// Documents that hold the answer: a cairn document id (`docs/a.md`), a record id
    /// (`corpus.jsonl#42` or just `42`) or a path suffix.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reference_doc_ids: Vec<String>,
}

/// A passage the system read, in the order it was given to the model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Context {
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc_id: Option<String>,
    /// Where it comes from, for people (path › heading, page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// One sentence of the answer and the contexts it cites (1-based, as `[n]` markers number them).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Statement {
    pub text: String,
    #[serde(default)]
    pub cites: Vec<usize>,
}

/// What a RAG system returned for one sample.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub answer: String,
    pub contexts: Vec<Context>,
    /// False when the system declined to answer ("I don't know").
    pub answered: bool,
    /// The answer's sentences with their citations. Only citations the system's model wrote
    /// count here: attributions added afterwards (cairn's own) are left out, so citation
    /// quality measures the model.
    #[serde(default)]
    pub statements: Vec<Statement>,
    /// The model that answered, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// What answering cost, when known (0 for a cached or local call).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    /// Why the system gave no response (the sample then scores nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A metric's verdict on one sample: a value in [0, 1], or the reason there is none.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricResult {
    #[serde(default)]
    pub value: Option<f64>,
    /// Why the sample could not be scored: `no reference`, `parse failure: …`, `refusal: …`,
    /// `timeout`, … Set exactly when `value` is `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What the score is made of, for the drill-down: statements with verdicts and reasons,
    /// generated questions, per-context usefulness.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub details: serde_json::Value,
}

impl MetricResult {
    pub fn value(v: f64) -> Self {
        MetricResult {
            value: Some(v),
            ..Default::default()
        }
    }

    pub fn skipped(reason: impl Into<String>) -> Self {
        MetricResult {
            value: None,
            reason: Some(reason.into()),
            details: serde_json::Value::Null,
        }
    }

    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }
}

/// One sample, its response and its scores.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SampleResult {
    pub sample: EvalSample,
    pub response: Response,
    /// Metric name → result.
    pub metrics: BTreeMap<String, MetricResult>,
}
