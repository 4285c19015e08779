//! Answer quality: what a RAG system answered, scored against the question, its contexts and a
//! reference. Deterministic metrics need no model (SQuAD exact match and F1, "contains",
//! retrieval hit / recall / MRR of the reference documents, ALCE citation precision and
//! recall, refusal rate); judge metrics follow ragas's definitions (faithfulness, answer
//! relevancy, context precision and recall, factual correctness). Every unscored sample
//! carries a reason, and every summary says how many samples it covers.
//!
//! ```
//! use cairn_eval::rag::{score_offline, EvalSample, Metric, Response};
//!
//! let sample = EvalSample { id: "1".into(), question: "When did he begin?".into(),
//!     reference: Some("1832".into()), ..Default::default() };
//! let response = Response { answer: "In 1832.".into(), answered: true, ..Default::default() };
//! let scores = score_offline(&sample, &response, &[Metric::ExactMatch, Metric::F1]);
//! assert_eq!(scores["exact_match"].value, Some(0.0)); // "in 1832" is not "1832"
//! assert!((scores["f1"].value.unwrap() - 2.0 / 3.0).abs() < 1e-12);
//! ```

pub mod agreement;
pub mod calibrate;
pub mod citations;
pub mod compare;
mod compare_html;
pub mod dataset;
pub mod evaluate;
pub mod judge;
mod judge_prompts;
pub mod metric;
pub mod report;
mod report_details;
pub mod report_svg;
pub mod retrieval;
pub mod run;
pub mod sample;
pub mod stats;
pub mod text;

pub use compare::{compare, render_compare_html, render_text, Comparison};
pub use dataset::{load_answers, load_dataset, DatasetError};
pub use evaluate::{response_of, score_offline, Evaluator, Progress};
pub use judge::JudgeModels;
pub use metric::Metric;
pub use report::render_html;
pub use run::{MetricCost, RagRun, Summary, RUN_VERSION};
pub use sample::{Context, EvalSample, MetricResult, Response, SampleResult, Statement};
