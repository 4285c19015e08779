//! The server a config describes: its models, the local embedder, its collections (each
//! opened and checked before the first request) and its keys. What `cairn serve` runs; a
//! library user can build a [`ServerState`] piece by piece instead.

use std::path::PathBuf;
use std::sync::Arc;

use crate::app::{EmbedModel, Limits, ServerState};
use crate::collections::Collection;
use crate::error::ApiError;
use crate::keys::KeyStore;
use crate::models::Models;

/// What the command line adds to the config.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// Collections by name (a folder or a store URL), added to `[server.collections]`.
    pub collections: Vec<(String, String)>,
    /// The keys database.
    pub keys: PathBuf,
    /// A folder holding the embedding model's files.
    pub model_dir: Option<PathBuf>,
}

/// The names `/v1/embeddings` knows the local model by.
pub const LOCAL_EMBEDDING_NAMES: [&str; 3] = [
    "all-MiniLM-L6-v2",
    "sentence-transformers/all-MiniLM-L6-v2",
    "local:all-MiniLM-L6-v2",
];

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("loading the embedding model: {0}")]
    Embedder(String),
    #[error(transparent)]
    Collection(#[from] crate::collections::CollectionError),
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Keys(#[from] crate::keys::KeyError),
}

impl From<ApiError> for SetupError {
    fn from(e: ApiError) -> Self {
        SetupError::Config(match e.param {
            Some(p) => format!("{p}: {}", e.message),
            None => e.message,
        })
    }
}

/// Builds the server `config` and `opts` describe.
pub async fn build(config: cairn::Config, opts: ServeOptions) -> Result<ServerState, SetupError> {
    let limits = Limits::from_config(&config.server)?;
    let model_dir = opts.model_dir.clone();
    let local = tokio::task::spawn_blocking(move || {
        cairn::embedded::default_embedder(model_dir.as_deref())
    })
    .await
    .map_err(|e| SetupError::Embedder(e.to_string()))?
    .map_err(|e| SetupError::Embedder(e.to_string()))?;
    let mut named: Vec<(String, String)> = config
        .server
        .collections
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (name, location) in opts.collections {
        named.retain(|(n, _)| *n != name);
        named.push((name, location));
    }
    let mut collections = Vec::new();
    for (name, location) in &named {
        if name.is_empty() || name.contains(['/', ':', ' ']) {
            return Err(SetupError::Config(format!(
                "collection name {name:?}: use letters, digits, - and _"
            )));
        }
        collections.push(Collection::open(name, location, local.embedder.clone()).await?);
    }
    let keys = Arc::new(KeyStore::open(&opts.keys)?);
    let embed = EmbedModel {
        embedder: Arc::new(cairn_core::BlockingEmbedder::new(local.embedder.clone())),
        counter: Some(local.counter.clone()),
    };
    let indexer = cairn::embedded::indexer(&local, &config.chunking)
        .map_err(|e| SetupError::Config(e.to_string()))?;
    let mut embedders = vec![(LOCAL_EMBEDDING_NAMES.map(String::from).to_vec(), embed)];
    for spec in &config.server.embedding_models {
        let remote = config
            .remote_embedder(spec)
            .await
            .map_err(|e| SetupError::Config(format!("[server] embedding_models {spec:?}: {e}")))?;
        // Clients send the name alone (`text-embedding-3-small`), as OpenAI's SDKs do.
        let mut names = vec![spec.clone()];
        if let Some((_, bare)) = spec.split_once(':') {
            names.push(bare.to_string());
        }
        let m = EmbedModel {
            embedder: Arc::new(remote),
            counter: None,
        };
        embedders.push((names, m));
    }
    Ok(ServerState::new(
        Models::new(config)?,
        embedders,
        collections,
        Some(keys),
        limits,
    )?
    .with_indexer(Arc::new(indexer)))
}
