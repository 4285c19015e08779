//! `cairn eval beir`.

use crate::ingest::indexer;
use crate::progress::Bar;
use crate::search::options;
use crate::Globals;
use anyhow::{Context, Result};
use cairn_eval::{evaluate, load_dataset, EvalOptions};
use cairn_rag::{IngestOptions, Retriever, SearchMode};
use cairn_store::Searcher;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum EvalCommand {
    /// Score retrieval on a BEIR-format dataset (corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv)
    Beir(BeirArgs),
}

#[derive(clap::Args)]
pub struct BeirArgs {
    /// The dataset folder
    dir: PathBuf,
    /// hybrid, dense or bm25
    #[arg(long)]
    mode: Option<SearchMode>,
    /// Which qrels file to use
    #[arg(long, default_value = "test")]
    split: String,
    /// Documents retrieved per query
    #[arg(short, long, default_value_t = 100)]
    k: usize,
    /// Largest chunk, in embedding-model tokens
    #[arg(long)]
    chunk_tokens: Option<usize>,
    /// Re-order the top 50 chunks by maximal marginal relevance with this lambda
    #[arg(long, value_name = "LAMBDA")]
    mmr: Option<f32>,
    /// Chunking strategy for the ingest (see `cairn ingest --help`)
    #[arg(long, value_enum)]
    chunker: Option<crate::ingest::ChunkerChoice>,
    /// Print the report as one JSON object
    #[arg(long)]
    json: bool,
}

pub fn run(g: &Globals, c: EvalCommand) -> Result<ExitCode> {
    let EvalCommand::Beir(a) = c;
    let ds = load_dataset(&a.dir, &a.split)?;
    if ds.queries.is_empty() {
        anyhow::bail!(
            "{}: no query in queries.jsonl has judgements in qrels/{}.tsv",
            a.dir.display(),
            a.split
        );
    }
    let search = options(g, a.mode, None)?;
    // Without --index, each run builds a fresh index in a temporary folder.
    let tmp;
    let index_dir = if g.index_chosen {
        g.index.clone()
    } else {
        tmp = tempfile::tempdir()?;
        tmp.path().to_path_buf()
    };
    let idx = indexer(g, a.chunk_tokens, None, a.chunker)?;
    let bar = Bar::new(g.quiet || a.json);
    let report = idx
        .ingest(&[&ds.corpus], &index_dir, &IngestOptions::default(), &bar)
        .with_context(|| format!("ingesting {}", ds.corpus.display()))?;
    bar.finish();
    let embedded = report.added + report.updated;
    let docs_per_s = (embedded > 0).then(|| embedded as f64 / report.elapsed.as_secs_f64());
    let searcher = Searcher::open(&index_dir)?;
    let embedder = match search.mode {
        SearchMode::Bm25 => None,
        _ => Some(idx.embedder().clone()),
    };
    let retriever = Retriever::new(searcher, embedder)?;
    let opts = EvalOptions {
        mode: search.mode,
        k: a.k,
        search,
        mmr: a.mmr,
    };
    let r = evaluate(&retriever, &ds, &a.split, &opts)?;
    if a.json {
        let mut v = serde_json::to_value(&r)?;
        v["ingest_docs_per_s"] = docs_per_s.into();
        v["ingest_seconds"] = report.elapsed.as_secs_f64().into();
        v["documents_embedded"] = embedded.into();
        v["chunks"] = retriever.searcher.len().into();
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!(
            "BEIR {} ({} split, {} queries, mode {})",
            r.dataset, r.split, r.queries, r.mode
        );
        println!("  nDCG@10     {:.4}", r.ndcg_10);
        println!("  Recall@10   {:.4}", r.recall_10);
        println!("  Recall@100  {:.4}", r.recall_100);
        println!("  MRR@10      {:.4}", r.mrr_10);
        match docs_per_s {
            Some(d) => println!(
                "  ingest      {d:.1} docs/s ({embedded} documents, {:.1}s)",
                report.elapsed.as_secs_f64()
            ),
            None => println!(
                "  ingest      reused the index ({} documents unchanged)",
                report.unchanged
            ),
        }
        println!("  query p50   {:.2} ms", r.query_latency_ms_p50);
        println!("  query p95   {:.2} ms", r.query_latency_ms_p95);
    }
    Ok(ExitCode::SUCCESS)
}
