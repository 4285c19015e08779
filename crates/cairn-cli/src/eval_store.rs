//! `cairn eval beir --store URL`: the dataset ingested into a database store
//! (`Indexer::ingest_store`; documents already there by content hash, e.g. copied by
//! `cairn index migrate`, are skipped) and retrieval quality measured through it
//! (`cairn_rag::search_store`, the embedded index's fusion) on the same metrics as the
//! embedded path (`cairn_eval::evaluate_ranked`).

use crate::eval::{BeirArgs, EvalRerank};
use crate::Globals;
use anyhow::{Context, Result};
use cairn_core::VectorStore;
use cairn_eval::{BeirDataset, BeirError, EvalOptions};
use cairn_rag::{search_store, Indexer, IngestOptions, SearchMode, SearchOptions};
use cairn_vectordb::StoreUrl;
use std::process::ExitCode;

pub fn run(
    g: &Globals,
    a: &BeirArgs,
    url: &StoreUrl,
    ds: &BeirDataset,
    search: SearchOptions,
    idx: &Indexer,
) -> Result<ExitCode> {
    let embedder = idx.embedder().clone();
    if a.rerank != EvalRerank::None
        || a.mmr.is_some()
        || a.expand != crate::search::ExpandChoice::None
    {
        anyhow::bail!(
            "--store scores plain retrieval: --rerank, --expand and --mmr run on the embedded \
             index only for now"
        );
    }
    let rt = crate::runtime()?;
    let info = idx.collection_info(url.collection().unwrap_or_default());
    let store = crate::store::open(url, Some(&info), &rt)?;
    // Keyed as the embedded evaluation index keys the corpus (relative to the folder holding
    // the evaluation indexes), so a store migrated from one already holds every document.
    let root = crate::eval::eval_cache_root()?;
    let bar = crate::progress::Bar::new(g.quiet || a.json);
    let ingested = idx
        .ingest_store(
            &[&ds.corpus],
            store.as_ref(),
            &root,
            rt.handle(),
            &IngestOptions::default(),
            &bar,
        )
        .with_context(|| format!("ingesting {} into {url}", ds.corpus.display()))?;
    bar.finish();
    rt.block_on(store.finish_writes())
        .with_context(|| format!("--store {url}"))?;
    let chunks = rt.block_on(store.count())?;
    let mode = search.mode;
    let opts = EvalOptions {
        mode,
        k: a.k,
        search: search.clone(),
        mmr: None,
        max_queries: a.max_queries,
        ranker_name: Some(format!("store {url}")),
    };
    let mut s = search;
    s.k = a.k.saturating_mul(10).max(s.k);
    s.candidates = s.candidates.max(s.k);
    let bar = if g.quiet || a.json {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(ds.queries.len().min(a.max_queries.unwrap_or(usize::MAX)) as u64)
    };
    let r = cairn_eval::evaluate_ranked(ds, &a.split, &opts, &mut |qid, text| {
        bar.inc(1);
        let qv = match mode {
            SearchMode::Bm25 => None,
            _ => embedder
                .embed(&[text])
                .map_err(cairn_rag::SearchError::from)?
                .pop(),
        };
        let hits = rt
            .block_on(search_store(store.as_ref(), text, qv.as_deref(), &s))
            .map_err(|e| BeirError::Ranker {
                qid: qid.to_string(),
                message: e.to_string(),
            })?;
        Ok(hits.into_iter().map(|h| h.chunk.doc_id).collect())
    })?;
    bar.finish_and_clear();
    crate::eval::write_run(a, &r)?;
    crate::eval::print_report(
        &r,
        &ingested,
        chunks,
        Some(&url.to_string()),
        "the store held the dataset",
        a.json,
    )?;
    Ok(ExitCode::SUCCESS)
}
