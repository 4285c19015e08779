//! `cairn serve`: an OpenAI-compatible HTTP server over cairn's library pipeline.
//!
//! Every OpenAI SDK works against it by changing the base URL: `/v1/chat/completions`
//! (streaming, tools and `response_format` passed to the configured providers through the
//! middleware stack; `model: "rag:<collection>"` answers from an index with checked
//! citations), `/v1/embeddings`, `/v1/models`. Beside them the RAG routes (`/v1/search`,
//! `/v1/ask`, `/v1/collections`), API keys with budgets and rate limits, `/health`,
//! `/metrics`, and a web page. Handlers are a few lines over [`cairn_rag::Asker`], the
//! collection's retriever and the model stack; the server orchestrates nothing itself.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use cairn_serve::{app, Collection, Models, ServerState};
//! let config = cairn::Config::default();
//! let local = cairn::embedded::default_embedder(None)?;
//! let docs = Collection::open("docs", ".cairn", local.embedder.clone()).await?;
//! let state = ServerState::new(
//!     Models::new(config.clone())?,
//!     vec![(vec!["all-MiniLM-L6-v2".into()], app::EmbedModel {
//!         embedder: Arc::new(cairn::core::BlockingEmbedder::new(local.embedder.clone())),
//!         counter: Some(local.counter.clone()),
//!     })],
//!     vec![docs],
//!     None,
//!     app::Limits::from_config(&config.server)?,
//! )?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! app::serve(listener, app::router(Arc::new(state)), app::shutdown_signal()).await?;
//! # Ok(()) }
//! ```

pub mod app;
pub mod body;
pub mod chat;
pub mod collections;
pub mod embeddings;
pub mod error;
pub mod keys;
pub mod metrics;
pub mod models;
pub mod rag;
pub mod upload;
pub mod web;
pub mod wire;

pub use app::{router, serve, AppState, ServerState};
pub use collections::{Collection, CollectionError};
pub use error::ApiError;
pub use keys::{KeyInfo, KeyStore, NewKey};
pub use models::Models;
pub mod setup;
pub use setup::{build, ServeOptions};
