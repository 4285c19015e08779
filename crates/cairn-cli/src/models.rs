//! Loading the embedding model through the resolver, with a message while it happens.

use anyhow::{Context, Result};
use cairn_core::TokenCounter;
use cairn_models::{BertEmbedder, HfTokenCounter, ResolvedModel, Resolver, Source, MINILM_L6_V2};
use std::path::Path;
use std::sync::Arc;

pub struct Loaded {
    pub embedder: Arc<BertEmbedder>,
    pub counter: Arc<dyn TokenCounter>,
}

/// Finds the embedding model's files through the resolver (`--model-dir` first).
pub fn resolve(model_dir: Option<&Path>) -> Result<ResolvedModel> {
    let mut resolver = Resolver::from_env();
    if let Some(d) = model_dir {
        resolver.explicit_dir = Some(d.to_path_buf());
    }
    Ok(resolver.resolve(&MINILM_L6_V2)?)
}

pub fn load_embedder(model_dir: Option<&Path>, quiet: bool) -> Result<Loaded> {
    let spec = MINILM_L6_V2;
    let resolved = resolve(model_dir)?;
    if !quiet && !matches!(resolved.source, Source::Cache | Source::ExplicitDir) {
        eprintln!(
            "fetched {} from the {} into {}",
            spec.name,
            resolved.source,
            resolved.dir.display()
        );
    }
    let embedder =
        BertEmbedder::load(&resolved, &spec).with_context(|| format!("loading {}", spec.name))?;
    let counter: Arc<dyn TokenCounter> =
        Arc::new(HfTokenCounter::new(embedder.tokenizer().clone()));
    Ok(Loaded {
        embedder: Arc::new(embedder),
        counter,
    })
}

/// The local reranker: `CAIRN_RERANKER_DIR` when set, else the cache or the hub.
pub fn load_cross_encoder() -> Result<Arc<cairn_models::BertCrossEncoder>> {
    let spec = cairn_models::MS_MARCO_MINILM_L6_V2;
    let resolver = Resolver::from_env_with_dir_var(Some("CAIRN_RERANKER_DIR"));
    let resolved = resolver.resolve(&spec)?;
    let model = cairn_models::BertCrossEncoder::load(&resolved, &spec)
        .with_context(|| format!("loading the reranker {}", resolved.dir.display()))?;
    Ok(Arc::new(model))
}
