//! `cairn bench`: measurements that BENCHMARKS.md records, run beside their peers by the
//! scripts in `bench/`.

use crate::models::load_embedder;
use crate::Globals;
use anyhow::{Context, Result};
use cairn_core::Embedder;
use cairn_rag::{SearchMode, SearchOptions};
use cairn_store::{Bm25Index, Bm25Params};
use serde_json::json;
use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(clap::Subcommand)]
pub enum BenchCommand {
    /// Embedding throughput on the texts of a BEIR corpus (title + text, as BEIR embeds them)
    Embed(EmbedArgs),
    /// BM25 over whole documents of a BEIR corpus: build time, queries/s, and the top 10 per
    /// query written to a file for comparison with bm25s
    Bm25(Bm25Args),
    /// Search latency over an existing index, with and without query embedding
    Search(SearchArgs),
}

#[derive(clap::Args)]
pub struct Bm25Args {
    /// A BEIR corpus.jsonl
    corpus: PathBuf,
    /// A BEIR queries.jsonl (every query is run)
    queries: PathBuf,
    /// Write `query-id<TAB>doc-id,doc-id,...` (top 10) here
    #[arg(long)]
    dump: Option<PathBuf>,
    /// Run the query set this many times for the timing
    #[arg(long, default_value_t = 5)]
    repeat: usize,
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct SearchArgs {
    /// A BEIR queries.jsonl
    queries: PathBuf,
    #[arg(long, default_value = "hybrid")]
    mode: SearchMode,
    #[arg(short, long, default_value_t = 10)]
    k: usize,
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct EmbedArgs {
    /// A BEIR corpus.jsonl
    corpus: PathBuf,
    /// Embed only the first N documents
    #[arg(long)]
    limit: Option<usize>,
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Print one JSON object
    #[arg(long)]
    json: bool,
}

/// Reads `title + " " + text` of each line of a BEIR corpus.
pub fn read_corpus(path: &PathBuf, limit: Option<usize>) -> Result<Vec<String>> {
    let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        if limit.is_some_and(|l| out.len() >= l) {
            break;
        }
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(&line)
            .with_context(|| format!("{}:{}: malformed JSON", path.display(), i + 1))?;
        let title = v["title"].as_str().unwrap_or("");
        let text = v["text"].as_str().unwrap_or("");
        out.push(format!("{title} {text}").trim().to_string());
    }
    Ok(out)
}

pub fn run(g: &Globals, c: BenchCommand) -> Result<ExitCode> {
    match c {
        BenchCommand::Embed(a) => embed(g, a),
        BenchCommand::Bm25(a) => bm25(a),
        BenchCommand::Search(a) => search(g, a),
    }
}

fn read_queries(path: &PathBuf) -> Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| {
            let v: serde_json::Value = serde_json::from_str(l)
                .with_context(|| format!("{}:{}: malformed JSON", path.display(), i + 1))?;
            let id = match &v["_id"] {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            Ok((id, v["text"].as_str().unwrap_or("").to_string()))
        })
        .collect()
}

fn percentiles(mut ms: Vec<f64>) -> (f64, f64) {
    ms.sort_by(|a, b| a.total_cmp(b));
    let at = |p: f64| ms[((ms.len() - 1) as f64 * p).round() as usize];
    (at(0.5), at(0.95))
}

fn bm25(a: Bm25Args) -> Result<ExitCode> {
    let f = std::fs::File::open(&a.corpus).with_context(|| format!("opening {}", a.corpus.display()))?;
    let mut ids = Vec::new();
    let mut texts = Vec::new();
    for line in std::io::BufReader::new(f).lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(&line)?;
        ids.push(v["_id"].as_str().unwrap_or("").to_string());
        texts.push(format!("{} {}", v["title"].as_str().unwrap_or(""), v["text"].as_str().unwrap_or("")));
    }
    let queries = read_queries(&a.queries)?;
    let t = Instant::now();
    let mut index = Bm25Index::new(Bm25Params::default());
    for text in &texts {
        index.add(text);
    }
    let build_s = t.elapsed().as_secs_f64();
    let mut results = Vec::new();
    let t = Instant::now();
    for _ in 0..a.repeat.max(1) {
        results = queries.iter().map(|(_, q)| index.search(q, 10, None)).collect::<Vec<_>>();
    }
    let secs = t.elapsed().as_secs_f64();
    let qps = (queries.len() * a.repeat.max(1)) as f64 / secs;
    if let Some(path) = &a.dump {
        let mut out = String::new();
        for ((qid, _), hits) in queries.iter().zip(&results) {
            let docs: Vec<&str> = hits.iter().map(|(p, _)| ids[*p as usize].as_str()).collect();
            out.push_str(&format!("{qid}\t{}\n", docs.join(",")));
        }
        std::fs::write(path, out)?;
    }
    let report = json!({"documents": texts.len(), "queries": queries.len(), "build_s": build_s, "queries_per_s": qps});
    if a.json {
        println!("{report}");
    } else {
        println!("BM25: {} documents indexed in {build_s:.2}s; {qps:.0} queries/s (top 10, one thread)", texts.len());
    }
    Ok(ExitCode::SUCCESS)
}

fn search(g: &Globals, a: SearchArgs) -> Result<ExitCode> {
    let queries = read_queries(&a.queries)?;
    let r = crate::search::retriever(g, a.mode)?;
    let opts = SearchOptions { mode: a.mode, k: a.k, ..crate::search::options(g, Some(a.mode), Some(a.k))? };
    // Warm up.
    for (_, q) in queries.iter().take(5) {
        r.rank(q, &opts)?;
    }
    let mut with_embed = Vec::new();
    let mut without = Vec::new();
    for (_, q) in &queries {
        let t = Instant::now();
        let qv = match a.mode {
            SearchMode::Bm25 => None,
            _ => Some(r.embed_query(q)?),
        };
        let t2 = Instant::now();
        let hits = r.rank_with_vector(q, qv.as_deref(), &opts);
        let done = Instant::now();
        std::hint::black_box(hits);
        with_embed.push((done - t).as_secs_f64() * 1000.0);
        without.push((done - t2).as_secs_f64() * 1000.0);
    }
    let (p50, p95) = percentiles(without);
    let (e50, e95) = percentiles(with_embed);
    let report = json!({
        "mode": a.mode.as_str(), "queries": queries.len(), "chunks": r.searcher.len(),
        "ms_p50_excluding_embedding": p50, "ms_p95_excluding_embedding": p95,
        "ms_p50_including_embedding": e50, "ms_p95_including_embedding": e95,
    });
    if a.json {
        println!("{report}");
    } else {
        println!("{} search over {} chunks, {} queries:", a.mode.as_str(), r.searcher.len(), queries.len());
        println!("  excluding query embedding: p50 {p50:.3} ms, p95 {p95:.3} ms");
        println!("  including query embedding: p50 {e50:.3} ms, p95 {e95:.3} ms");
    }
    Ok(ExitCode::SUCCESS)
}

fn embed(g: &Globals, a: EmbedArgs) -> Result<ExitCode> {
    let texts = read_corpus(&a.corpus, a.limit)?;
    let loaded = load_embedder(g.model_dir.as_deref(), true)?;
    let embedder = std::sync::Arc::try_unwrap(loaded.embedder)
        .ok()
        .context("embedder is shared")?
        .with_batch_size(a.batch_size);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    // Warm up (page in the weights, size the allocator) on a few texts.
    embedder.embed(&refs[..refs.len().min(8)])?;
    let t = Instant::now();
    let v = embedder.embed(&refs)?;
    let secs = t.elapsed().as_secs_f64();
    let tokens: usize = refs
        .iter()
        .map(|t| {
            embedder
                .tokenizer()
                .encode_fast(*t, true)
                .map(|e| e.len())
                .unwrap_or(0)
        })
        .sum();
    let report = json!({
        "texts": v.len(),
        "tokens": tokens,
        "seconds": secs,
        "texts_per_s": v.len() as f64 / secs,
        "tokens_per_s": tokens as f64 / secs,
        "batch_size": a.batch_size,
        "threads": rayon::current_num_threads(),
    });
    if a.json {
        println!("{report}");
    } else {
        println!(
            "embedded {} texts ({} tokens) in {:.2}s: {:.1} texts/s, {:.0} tokens/s",
            v.len(),
            tokens,
            secs,
            v.len() as f64 / secs,
            tokens as f64 / secs
        );
    }
    Ok(ExitCode::SUCCESS)
}
