//! Evaluation: retrieval metrics computed as pytrec_eval / BEIR compute them, and the BEIR
//! runner that drives the same ingest and search code users run.
//!
//! Score a ranking against graded judgements ([`Qrels`]) with the metrics BEIR reports:
//!
//! ```
//! use cairn_eval::{mrr_at, ndcg_at, recall_at, Qrels};
//!
//! let mut qrels = Qrels::new();
//! qrels.entry("q1".into()).or_default().extend([("a".to_string(), 2), ("b".to_string(), 1)]);
//! let judged = &qrels["q1"];
//! let ranked = ["x", "a", "b"]; // what a retriever returned for q1
//! assert_eq!(recall_at(1, &ranked, judged), 0.0);
//! assert_eq!(recall_at(3, &ranked, judged), 1.0);
//! assert_eq!(mrr_at(10, &ranked, judged), 0.5);
//! assert!((ndcg_at(10, &["a", "b"], judged) - 1.0).abs() < 1e-12); // the ideal order
//! assert!(ndcg_at(10, &ranked, judged) < 1.0);
//! ```

pub mod beir;
pub mod calibrate;
pub mod metrics;
pub mod rag;
pub mod trec;

pub use beir::{
    evaluate, evaluate_ranked, evaluate_with, load_dataset, BeirDataset, BeirError, DocRanker,
    EvalOptions, EvalReport, Ranker,
};
pub use metrics::{mrr_at, ndcg_at, recall_at, Qrels};
pub use trec::{evaluate_run, read_run, write_run, QueryScores, Ranking, Run, RunScores};
