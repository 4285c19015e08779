//! `cairn ingest`.

use crate::models::load_embedder;
use crate::progress::Bar;
use crate::Globals;
use anyhow::{Context, Result};
use cairn_core::{Metadata, VectorStore};
use cairn_ingest::LoaderOptions;
use cairn_rag::{Indexer, IngestOptions, IngestReport};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Files and folders to index (folders are walked; hidden and .gitignored files skipped)
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Metadata added to every document, as key=value (repeatable)
    #[arg(long = "meta", value_name = "KEY=VALUE")]
    meta: Vec<String>,
    /// Remove documents whose files no longer exist
    #[arg(long)]
    prune: bool,
    /// Follow symbolic links wherever they point, and walk linked folders (by default a
    /// link found in a folder is followed only to a file inside that folder)
    #[arg(long)]
    follow_links: bool,
    /// Largest chunk, in embedding-model tokens [config: chunking.max_tokens]
    #[arg(long)]
    chunk_tokens: Option<usize>,
    /// Tokens shared by consecutive chunks [config: chunking.overlap]
    #[arg(long)]
    chunk_overlap: Option<usize>,
    /// How plain text is cut: recursive (paragraphs, sentences, words) or semantic (where
    /// adjacent sentences' embeddings drift apart) [config: chunking.strategy]
    #[arg(long, value_enum)]
    chunker: Option<ChunkerChoice>,
    /// Skip files larger than this many bytes (JSONL corpora stream: each line is capped
    /// instead), and DOCX / PDF parts that expand past 5 times it
    #[arg(long, default_value_t = 20 * 1024 * 1024)]
    max_file_size: u64,
    /// CSV / JSON files: the fields whose text is indexed, comma-separated (default: every
    /// text field); the other fields become metadata
    #[arg(long, value_delimiter = ',', value_name = "FIELD,...")]
    text_fields: Vec<String>,
    /// CSV / JSON files: the field that identifies a record (default: its number)
    #[arg(long, value_name = "FIELD")]
    id_field: Option<String>,
    /// Print the summary as JSON
    #[arg(long)]
    json: bool,
}

pub fn parse_meta(pairs: &[String]) -> Result<Metadata> {
    let mut m = Metadata::new();
    for p in pairs {
        let (k, v) = p
            .split_once('=')
            .filter(|(k, _)| !k.trim().is_empty())
            .with_context(|| {
                format!("--meta `{p}`: expected key=value, for example --meta team=search")
            })?;
        m.insert(k.trim().to_string(), v.to_string().into());
    }
    Ok(m)
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ChunkerChoice {
    Recursive,
    Semantic,
}

/// Builds the indexer from config and flags; shared with `eval beir`.
pub fn indexer(
    g: &Globals,
    chunk_tokens: Option<usize>,
    overlap: Option<usize>,
    chunker: Option<ChunkerChoice>,
) -> Result<Indexer> {
    let loaded = load_embedder(g.model_dir.as_deref(), g.quiet)?;
    let mut c = g.config.chunking.clone();
    if let Some(ch) = chunker {
        c.strategy = match ch {
            ChunkerChoice::Semantic => "semantic".into(),
            ChunkerChoice::Recursive => "recursive".into(),
        };
    }
    c.max_tokens = chunk_tokens.unwrap_or(c.max_tokens);
    c.overlap = overlap.unwrap_or(c.overlap);
    cairn::embedded::indexer(&loaded, &c).map_err(|e| match e {
        cairn::embedded::EmbeddedError::Chunking(e) => {
            anyhow::anyhow!("--chunk-tokens / --chunk-overlap: {e}")
        }
        cairn::embedded::EmbeddedError::Strategy(s) => {
            anyhow::anyhow!("config chunking.strategy = {s:?}: use \"recursive\" or \"semantic\"")
        }
        e => e.into(),
    })
}

pub fn run(g: &Globals, a: Args) -> Result<ExitCode> {
    let extra_meta = parse_meta(&a.meta)?;
    let indexer = indexer(g, a.chunk_tokens, a.chunk_overlap, a.chunker)?;
    let opts = IngestOptions {
        loader: LoaderOptions {
            max_file_bytes: a.max_file_size,
            max_expanded_bytes: a.max_file_size.saturating_mul(5),
            extra_meta,
            text_fields: a.text_fields.clone(),
            id_field: a.id_field.clone(),
        },
        prune: a.prune,
        follow_links: a.follow_links,
        ..Default::default()
    };
    let bar = Bar::new(g.quiet || a.json);
    let (report, target) = match &g.store {
        Some(url) => {
            let rt = crate::runtime()?;
            let info = indexer.collection_info(url.collection().unwrap_or_default());
            let store = crate::store::open(url, Some(&info), &rt)?;
            // Files are keyed relative to the current folder, as the embedded index keys
            // them relative to the folder holding it.
            let root = std::env::current_dir().context("reading the current folder")?;
            let report = indexer
                .ingest_store(&a.paths, store.as_ref(), &root, rt.handle(), &opts, &bar)
                .with_context(|| format!("ingesting into {url}"))?;
            bar.finish();
            // Build what the first search would otherwise wait for (Postgres' HNSW index).
            rt.block_on(store.finish_writes())
                .with_context(|| format!("--store {url}"))?;
            (report, url.to_string())
        }
        None => {
            let report = indexer
                .ingest(&a.paths, &g.index, &opts, &bar)
                .with_context(|| format!("ingesting into {}", g.index.display()))?;
            bar.finish();
            // Refresh the derived indexes now, so the first search does not pay for it.
            cairn_store::Searcher::open(&g.index)?;
            (report, g.index.display().to_string())
        }
    };
    if a.json {
        let mut v = serde_json::to_value(&report)?;
        v["index"] = target.into();
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print_summary(&report, &target);
    }
    Ok(if report.nothing_ingested() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn print_summary(r: &IngestReport, target: &str) {
    println!(
        "{} files: {} added, {} updated, {} unchanged, {} removed, {} skipped; {} chunks embedded in {:.1}s ({})",
        r.files,
        r.added,
        r.updated,
        r.unchanged,
        r.removed,
        r.skipped.len(),
        r.chunks,
        r.elapsed.as_secs_f64(),
        target
    );
    if !r.skipped.is_empty() {
        println!("skipped:");
        for s in &r.skipped {
            let at = s.line.map(|l| format!(":{l}")).unwrap_or_default();
            println!("  {}{at}: {}", s.path, s.reason);
        }
    }
    if r.nothing_ingested() {
        println!("nothing could be ingested");
    }
}
