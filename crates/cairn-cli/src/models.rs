//! Loading the embedding model through the resolver, with a message while it happens.

use anyhow::{Context, Result};
use cairn_models::{ResolvedModel, Resolver, Source, MINILM_L6_V2};
use std::path::Path;
use std::sync::Arc;

pub use cairn::embedded::LocalEmbedder as Loaded;

/// Finds the embedding model's files through the resolver (`--model-dir` first).
pub fn resolve(model_dir: Option<&Path>) -> Result<ResolvedModel> {
    let mut resolver = Resolver::from_env();
    if let Some(d) = model_dir {
        resolver.explicit_dir = Some(d.to_path_buf());
    }
    Ok(resolver.resolve(&MINILM_L6_V2)?)
}

/// The default embedder, saying so when its files had to be fetched.
pub fn load_embedder(model_dir: Option<&Path>, quiet: bool) -> Result<Loaded> {
    let loaded = cairn::embedded::default_embedder(model_dir)?;
    if !quiet && !matches!(loaded.source, Source::Cache | Source::ExplicitDir) {
        eprintln!(
            "fetched {} from the {} into {}",
            MINILM_L6_V2.name,
            loaded.source,
            resolve(model_dir)?.dir.display()
        );
    }
    Ok(loaded)
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
