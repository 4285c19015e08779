//! `cairn eval beir`.

use crate::ingest::indexer;
use crate::progress::Bar;
use crate::rag_args::RerankChoice;
use crate::search::options;
use crate::Globals;
use anyhow::{Context, Result};
use cairn_eval::{load_dataset, EvalOptions};
use cairn_rag::{Asker, IngestOptions, Retriever, SearchMode};
use cairn_store::Searcher;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(clap::Subcommand)]
pub enum EvalCommand {
    /// Score retrieval on a BEIR-format dataset (corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv)
    Beir(BeirArgs),
    /// Score the citation verifiers against human labels (precision, recall and the share of
    /// unsupported responses called verified)
    Citations(crate::eval_citations::Args),
    /// Score answers: ask a dataset's questions (or read answers from a file) and measure
    /// correctness, faithfulness, relevancy, context precision and recall and citation quality
    Rag(Box<crate::eval_rag::Args>),
    /// Compare two runs of `eval rag --out`: which questions got better or worse, and whether
    /// the difference is significant
    Compare(crate::eval_rag::CompareArgs),
    /// Measure how well the faithfulness metric (a judge, or the lexical check) agrees with
    /// human labels: accuracy, Cohen's kappa, Spearman
    Calibrate(crate::eval_rag::CalibrateArgs),
    /// Print a saved run's summary and render its HTML report (`eval rag --out` wrote it)
    Report(crate::eval_rag::ReportArgs),
}

#[derive(clap::Args)]
#[command(
    after_help = "Index: the corpus is ingested into an index of its own, under the \
    cache folder (~/.cache/cairn/eval/<dataset>-<hash of the dataset's path, the model and the \
    chunking>; CAIRN_CACHE_DIR moves it), and later runs with the same settings reuse it. It \
    never goes into the default index (.cairn, CAIRN_INDEX or [index] path in cairn.toml); \
    --index DIR on the command line picks the folder instead; --store URL on the command line \
    (not CAIRN_STORE or the config) ingests it into that database store and scores retrieval \
    there (documents already copied there by `cairn index migrate` are not embedded again).\n\n\
    Run files: --run FILE writes the ranking the metrics were computed from as a TREC run, one \
    line `qid Q0 docid rank score tag` per retrieved document (rank from 1, tag cairn-MODE), \
    for trec_eval, pytrec_eval or ranx. Its score column is N + 1 - rank for a query that \
    ranks N documents, not the retrieval score: fused scores often tie, and trec_eval re-sorts \
    ties by document id (descending), which would score another order than cairn measured. \
    --score-run FILE scores another system's run instead of retrieving (nothing is ingested): \
    each query's documents ordered as trec_eval orders them (score descending, ties by \
    document id descending), every judged query counted (one the run lacks scores 0). \
    MRR@10 is trec_eval's recip_rank over the top 10. --json adds per_query: each query's \
    ndcg@10, recall@10, recall@100 and mrr@10."
)]
pub struct BeirArgs {
    /// The dataset folder
    pub(crate) dir: PathBuf,
    /// hybrid, dense or bm25
    #[arg(long)]
    pub(crate) mode: Option<SearchMode>,
    /// Which qrels file to use
    #[arg(long, default_value = "test")]
    pub(crate) split: String,
    /// Documents retrieved per query (1 to 100000)
    #[arg(short, long, default_value_t = 100)]
    pub(crate) k: usize,
    /// Largest chunk, in embedding-model tokens
    #[arg(long)]
    chunk_tokens: Option<usize>,
    /// Re-order the top 50 chunks by maximal marginal relevance with this lambda (0 to 1)
    #[arg(long, value_name = "LAMBDA", allow_negative_numbers = true)]
    pub(crate) mmr: Option<f32>,
    /// Chunking strategy for the ingest (see `cairn ingest --help`)
    #[arg(long, value_enum)]
    chunker: Option<crate::ingest::ChunkerChoice>,
    /// Query expansion by the model (--model, or the offline default): multi-query variants
    /// fused by RRF, or HyDE
    #[arg(long, value_enum, default_value = "none")]
    pub(crate) expand: crate::search::ExpandChoice,
    /// Rerank the top chunks of each query: a local cross-encoder or the model, listwise
    #[arg(long, value_enum, default_value = "none")]
    pub(crate) rerank: EvalRerank,
    /// Chunks the reranker sees per query
    #[arg(long, default_value_t = 20)]
    rerank_depth: usize,
    /// The model for --expand and --rerank llm (provider:name)
    #[arg(long)]
    model: Option<String>,
    /// Score only the first N judged queries (model-driven runs are slow on a CPU)
    #[arg(long, value_name = "N")]
    pub(crate) max_queries: Option<usize>,
    /// Print the report as one JSON object, with each query's metrics under per_query
    #[arg(long)]
    pub(crate) json: bool,
    /// Also write the ranking scored as a TREC run file (qid Q0 docid rank score tag), whole
    /// or not at all
    #[arg(long, value_name = "FILE")]
    pub(crate) run: Option<PathBuf>,
    /// Score this TREC run file (another system's ranking) against the split's judgements
    /// instead of retrieving
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with_all = ["run", "mode", "mmr", "expand", "rerank", "chunker", "chunk_tokens", "model"]
    )]
    pub(crate) score_run: Option<PathBuf>,
}

/// The largest `-k`: the runner ranks 10 × k chunks per query to find k documents.
const MAX_K: usize = 100_000;

/// Rejects numbers that cannot mean anything, naming the flag, before any work starts.
fn check_numbers(a: &BeirArgs) -> Result<()> {
    use crate::search::check_count;
    check_count("-k", a.k, "the documents retrieved per query")?;
    if a.k > MAX_K {
        anyhow::bail!(
            "-k {}: at most {MAX_K} documents per query (nDCG@10 and recall@100 need 100)",
            a.k
        );
    }
    if let Some(n) = a.max_queries {
        check_count("--max-queries", n, "the number of queries scored")?;
    }
    if a.rerank != EvalRerank::None {
        check_count(
            "--rerank-depth",
            a.rerank_depth,
            "the chunks the reranker sees",
        )?;
    }
    if let Some(l) = a.mmr {
        if !(0.0..=1.0).contains(&l) {
            anyhow::bail!("--mmr {l}: lambda is between 0 (diversity only) and 1 (relevance only)");
        }
    }
    if a.chunk_tokens == Some(0) {
        anyhow::bail!("--chunk-tokens 0: a chunk needs at least 1 token");
    }
    // Before the ingest, which can take minutes, rather than after it.
    if let Some(p) = &a.run {
        if p.is_dir() {
            anyhow::bail!("--run {}: is a folder; name the file to write", p.display());
        }
    }
    Ok(())
}

/// The index `eval beir` builds for a dataset: its own folder under the cache, named after
/// the dataset and a hash of its canonical path, the embedding model and the chunking, so
/// runs with the same settings reuse it and nothing lands in the user's default index.
fn dataset_index(g: &Globals, a: &BeirArgs, model: &str) -> Result<PathBuf> {
    use sha2::{Digest, Sha256};
    let dir = a
        .dir
        .canonicalize()
        .with_context(|| format!("{}: cannot resolve the dataset folder", a.dir.display()))?;
    let c = &g.config.chunking;
    let strategy = match a.chunker {
        Some(crate::ingest::ChunkerChoice::Semantic) => "semantic",
        Some(crate::ingest::ChunkerChoice::Recursive) => "recursive",
        None => c.strategy.as_str(),
    };
    let key = format!(
        "cairn-eval-index v1\0{}\0{model}\0{}\0{}\0{strategy}\0{}",
        dir.display(),
        a.chunk_tokens.unwrap_or(c.max_tokens),
        c.overlap,
        c.breakpoint_percentile,
    );
    let hash: String = Sha256::digest(key.as_bytes())[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let name: String = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "dataset".into())
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    Ok(eval_cache_root()?.join(format!("{name}-{hash}")))
}

/// The folder holding the evaluation indexes (`<cache>/eval`).
pub fn eval_cache_root() -> Result<PathBuf> {
    let base = std::env::var_os("CAIRN_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| dirs::cache_dir().map(|d| d.join("cairn")))
        .context(
            "no cache folder for the evaluation index: set CAIRN_CACHE_DIR or pass --index DIR",
        )?;
    Ok(base.join("eval"))
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EvalRerank {
    None,
    Local,
    Llm,
}

pub fn run(g: &Globals, c: EvalCommand) -> Result<ExitCode> {
    let a = match c {
        EvalCommand::Beir(a) => a,
        EvalCommand::Citations(a) => return crate::eval_citations::run(g, a),
        EvalCommand::Rag(a) => return crate::eval_rag::run(g, *a),
        EvalCommand::Compare(a) => return crate::eval_rag::compare(a),
        EvalCommand::Calibrate(a) => return crate::eval_rag::calibrate(g, a),
        EvalCommand::Report(a) => return crate::eval_rag::report(a),
    };
    check_numbers(&a)?;
    let ds = load_dataset(&a.dir, &a.split)?;
    if ds.queries.is_empty() {
        anyhow::bail!(
            "{}: no query in queries.jsonl has judgements in qrels/{}.tsv",
            a.dir.display(),
            a.split
        );
    }
    if let Some(path) = &a.score_run {
        return score_run(&a, &ds, path);
    }
    let search = options(g, a.mode, None)?;
    crate::search::check_weights(&search)?;
    let idx = indexer(g, a.chunk_tokens, None, a.chunker)?;
    // Only a --store on the command line: a store named by CAIRN_STORE or the config
    // holds the team's documents, not the dataset.
    if let (Some(store), true) = (&g.store, g.store_flag) {
        return crate::eval_store::run(g, &a, store, &ds, search, &idx);
    }
    let index_dir = if g.index_flag {
        g.index.clone()
    } else {
        dataset_index(g, &a, idx.embedder().model_id())?
    };
    if !g.quiet && !a.json {
        eprintln!("[eval index: {}]", index_dir.display());
    }
    let bar = Bar::new(g.quiet || a.json);
    let report = idx
        .ingest(&[&ds.corpus], &index_dir, &IngestOptions::default(), &bar)
        .with_context(|| format!("ingesting {}", ds.corpus.display()))?;
    bar.finish();
    let searcher = Searcher::open(&index_dir)?;
    let embedder = match search.mode {
        SearchMode::Bm25 => None,
        _ => Some(idx.embedder().clone()),
    };
    let retriever = Arc::new(Retriever::new(searcher, embedder)?);
    let needs_model = a.expand != crate::search::ExpandChoice::None || a.rerank == EvalRerank::Llm;
    let built = if needs_model {
        Some(crate::llm::build(&g.config, a.model.as_deref(), false)?)
    } else {
        None
    };
    let reranker = crate::rag_args::reranker(
        match a.rerank {
            EvalRerank::None => RerankChoice::None,
            EvalRerank::Local => RerankChoice::Local,
            EvalRerank::Llm => RerankChoice::Llm,
        },
        built.as_ref().map(|b| &b.model),
    )?;
    let mut asker = match &built {
        Some(b) => Asker::new(retriever.clone(), b.model.clone()),
        None => Asker::retrieval(retriever.clone()),
    }
    .expand(a.expand.into())
    .rerank_depth(a.rerank_depth);
    let mut name = Vec::new();
    if a.expand != crate::search::ExpandChoice::None {
        name.push(match a.expand {
            crate::search::ExpandChoice::Multi => "multi-query".to_string(),
            _ => "hyde".to_string(),
        });
    }
    if let Some(r) = reranker {
        name.push(format!("rerank {} (top {})", r.name(), a.rerank_depth));
        asker = asker.rerank(r);
    }
    if let Some(l) = a.mmr {
        asker = asker.mmr(l);
    }
    if let Some(b) = &built {
        name.push(format!("model {}", b.model.id()));
    }
    let opts = EvalOptions {
        mode: search.mode,
        k: a.k,
        search,
        mmr: a.mmr,
        max_queries: a.max_queries,
        ranker_name: (!name.is_empty()).then(|| name.join(", ")),
    };
    let rt = crate::runtime()?;
    let total = a
        .max_queries
        .unwrap_or(ds.queries.len())
        .min(ds.queries.len());
    let qbar = if g.quiet || a.json {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(total as u64)
    };
    qbar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} queries  ETA {eta}",
        )
        .expect("static template"),
    );
    // Expansion, reranking and MMR run through the same pipeline `cairn ask` uses.
    let custom = |q: &str,
                  s: &cairn_rag::SearchOptions|
     -> std::result::Result<Vec<cairn_rag::search::Scored>, String> {
        qbar.inc(1);
        rt.block_on(asker.rank(q, s)).map_err(|e| e.to_string())
    };
    let r = cairn_eval::evaluate_with(&retriever, &ds, &a.split, &opts, Some(&custom))?;
    qbar.finish_and_clear();
    write_run(&a, &r)?;
    print_report(
        &r,
        &report,
        retriever.searcher.len() as u64,
        None,
        "reused the index",
        a.json,
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Writes `--run FILE`, when given: the ranking `r` was scored on.
pub(crate) fn write_run(a: &BeirArgs, r: &cairn_eval::EvalReport) -> Result<()> {
    if let Some(path) = &a.run {
        cairn_eval::write_run(path, &r.ranking, &format!("cairn-{}", r.mode))
            .with_context(|| format!("--run {}", path.display()))?;
    }
    Ok(())
}

/// `--score-run FILE`: another system's TREC run scored against the split's judged queries
/// (the first --max-queries of them), as trec_eval scores it.
fn score_run(
    a: &BeirArgs,
    ds: &cairn_eval::BeirDataset,
    path: &std::path::Path,
) -> Result<ExitCode> {
    let run =
        cairn_eval::read_run(path).with_context(|| format!("--score-run {}", path.display()))?;
    let n = a.max_queries.unwrap_or(usize::MAX).min(ds.queries.len());
    let qrels: cairn_eval::Qrels = ds.queries[..n]
        .iter()
        .map(|(qid, _)| (qid.clone(), ds.qrels[qid].clone()))
        .collect();
    let s = cairn_eval::evaluate_run(&run, &qrels);
    if a.json {
        let mut v = serde_json::to_value(&s)?;
        v["dataset"] = ds.dir.display().to_string().into();
        v["split"] = a.split.clone().into();
        v["run"] = path.display().to_string().into();
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "Run {} on BEIR {} ({} split, {} queries)",
        path.display(),
        ds.dir.display(),
        a.split,
        s.queries
    );
    print_means(&s.mean);
    if s.unranked_queries > 0 {
        println!(
            "  {} judged queries have no line in the run (scored 0)",
            s.unranked_queries
        );
    }
    if s.unjudged_run_queries > 0 {
        println!(
            "  {} queries of the run are not among the judged queries scored (ignored)",
            s.unjudged_run_queries
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The four means, one a line, as both text reports show them.
fn print_means(m: &cairn_eval::QueryScores) {
    println!("  nDCG@10     {:.4}", m.ndcg_10);
    println!("  Recall@10   {:.4}", m.recall_10);
    println!("  Recall@100  {:.4}", m.recall_100);
    println!("  MRR@10      {:.4}", m.mrr_10);
}

/// Prints an evaluation with the ingest that preceded it: JSON (the report plus the ingest's
/// figures, the chunk count and the store when there is one) or the text summary. `reused`
/// says what an ingest that embedded nothing found.
pub(crate) fn print_report(
    r: &cairn_eval::EvalReport,
    ingest: &cairn_rag::IngestReport,
    chunks: u64,
    store: Option<&str>,
    reused: &str,
    json: bool,
) -> Result<()> {
    let embedded = ingest.added + ingest.updated;
    let seconds = ingest.elapsed.as_secs_f64();
    let docs_per_s = (embedded > 0).then(|| embedded as f64 / seconds);
    if json {
        let mut v = serde_json::to_value(r)?;
        v["ingest_docs_per_s"] = docs_per_s.into();
        v["ingest_seconds"] = seconds.into();
        v["documents_embedded"] = embedded.into();
        v["chunks"] = chunks.into();
        if let Some(s) = store {
            v["store"] = s.into();
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!(
        "BEIR {} ({} split, {} queries, mode {}{})",
        r.dataset,
        r.split,
        r.queries,
        r.mode,
        r.ranker
            .as_deref()
            .map(|n| format!(", {n}"))
            .unwrap_or_default()
    );
    print_means(&r.mean);
    match docs_per_s {
        Some(d) => println!("  ingest      {d:.1} docs/s ({embedded} documents, {seconds:.1}s)"),
        None => println!(
            "  ingest      {reused} ({} documents unchanged)",
            ingest.unchanged
        ),
    }
    println!("  query p50   {:.2} ms", r.query_latency_ms_p50);
    println!("  query p95   {:.2} ms", r.query_latency_ms_p95);
    Ok(())
}
