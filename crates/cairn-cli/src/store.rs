//! `--store URL` (or `CAIRN_STORE`, `[store] url`): opening the database store that `ingest`,
//! `search`, `ask` and `info` use instead of the embedded index. The work is the library's
//! (`Indexer::ingest_store`, `StoreRetriever`); this file opens, names and renders.

use std::sync::Arc;

use anyhow::{Context, Result};
use cairn_core::{CollectionInfo, Embedder, VectorStore};
use cairn_rag::{SearchMode, StoreRetriever};
use cairn_vectordb::StoreUrl;

use crate::models::load_embedder;
use crate::Globals;

/// Opens `url` for reading (`create: None`) or for writing with that collection info.
pub fn open(
    url: &StoreUrl,
    create: Option<&CollectionInfo>,
    rt: &tokio::runtime::Runtime,
) -> Result<Arc<dyn VectorStore>> {
    let store = rt
        .block_on(url.open(create))
        .with_context(|| format!("--store {url}"))?;
    Ok(Arc::from(store))
}

/// The store's retriever, with the embedder loaded unless `mode` is BM25, refusing a store
/// built with another model. A mode that was not asked for (`explicit` false: the config's
/// or the default hybrid) falls back to dense on a store without full-text search, saying
/// so; an explicit one is kept and the search says why it cannot run.
pub fn retriever(
    g: &Globals,
    url: &StoreUrl,
    mode: &mut SearchMode,
    explicit: bool,
    rt: &tokio::runtime::Runtime,
) -> Result<StoreRetriever> {
    let store = open(url, None, rt)?;
    let embedder: Option<Arc<dyn Embedder>> = match mode {
        SearchMode::Bm25 if explicit => None,
        _ => Some(load_embedder(g.model_dir.as_deref(), g.quiet)?.embedder),
    };
    let r = rt
        .block_on(StoreRetriever::open(store, embedder))
        .with_context(|| format!("--store {url}"))?;
    if !explicit && *mode != SearchMode::Dense && !rt.block_on(r.has_lexical())? {
        if !g.quiet {
            eprintln!(
                "[{} has no full-text search: searching dense; pass --mode to choose]",
                r.store().name()
            );
        }
        *mode = SearchMode::Dense;
    }
    Ok(r)
}

/// `cairn info` on a store.
pub fn info(url: &StoreUrl, json: bool) -> Result<std::process::ExitCode> {
    let rt = crate::runtime()?;
    let store = open(url, None, &rt)?;
    let (info, docs, chunks) = rt
        .block_on(async {
            let info = store.info().await?;
            let docs = store.documents().await?.len();
            Ok::<_, cairn_core::VectorStoreError>((info, docs, store.count().await?))
        })
        .with_context(|| format!("--store {url}"))?;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "store": url.to_string(), "collection": info.name, "model": info.model,
                "dim": info.dim, "documents": docs, "chunks": chunks,
            })
        );
    } else {
        println!(
            "{url}: {docs} documents, {chunks} chunks, model {} ({}-d)",
            info.model, info.dim
        );
    }
    Ok(std::process::ExitCode::SUCCESS)
}
