//! Evaluation: retrieval metrics computed as pytrec_eval / BEIR compute them, and the BEIR
//! runner that drives the same ingest and search code users run.

pub mod beir;
pub mod calibrate;
pub mod metrics;

pub use beir::{
    evaluate, evaluate_with, load_dataset, BeirDataset, BeirError, EvalOptions, EvalReport, Ranker,
};
pub use metrics::{mrr_at, ndcg_at, recall_at, Qrels};
