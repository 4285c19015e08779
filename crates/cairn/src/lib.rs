//! cairn: build, run and evaluate LLM applications in Rust. This crate re-exports the layers
//! (`core`, `llm`, `models`, `ingest`, `store`, `rag`, `eval`) behind cargo features, and holds
//! what the CLI and the server share: the typed [`Config`], the model [`Stack`] a config
//! describes, and the embedded defaults.
//!
//! A config file's sections are all optional, and a partial section takes the defaults:
//!
//! ```
//! let config = cairn::Config::parse("[search]\nk = 3\n").unwrap();
//! assert_eq!((config.search.k, config.search.mode.as_str()), (3, "hybrid"));
//! assert!(cairn::Config::parse("[search]\nkk = 3\n").is_err());
//! ```
//!
//! Ingest a folder and ask with citations, offline (`cargo run --example rag`):
//!
//! ```no_run
//! # #[cfg(feature = "rag")]
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! let config = cairn::Config::default();
//! let local = cairn::embedded::default_embedder(None)?;
//! let index = std::path::Path::new(".cairn");
//! cairn::embedded::indexer(&local, &config.chunking)?.ingest(
//!     &["samples/corpus"], index, &Default::default(), &cairn::rag::NoProgress)?;
//! let retriever = Arc::new(cairn::embedded::open_retriever(index, Some(local.embedder))?);
//! let model = config.chat_model(None, false)?.model;
//! let answer = cairn::rag::Asker::new(retriever, model).answer("How are trails marked?", &[]).await?;
//! println!("{}\n{}", answer.text, answer.citations.summary());
//! # Ok(()) }
//! ```
//!
//! Features: `local` (the local models on candle), `rag` (ingest, the embedded store, the ask
//! pipeline; implies `local`), `eval` (implies `rag`); all on by default. With
//! `default-features = false` only the core and the provider client are built: no candle.

pub mod config;
#[cfg(feature = "rag")]
pub mod embedded;
pub mod stack;

pub use config::{Config, ConfigError};
pub use stack::{cache_dir, Stack, StackError};

pub use cairn_core as core;
#[cfg(feature = "eval")]
pub use cairn_eval as eval;
#[cfg(feature = "rag")]
pub use cairn_ingest as ingest;
pub use cairn_llm as llm;
#[cfg(feature = "local")]
pub use cairn_models as models;
#[cfg(feature = "rag")]
pub use cairn_rag as rag;
#[cfg(feature = "rag")]
pub use cairn_store as store;
