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
    /// HNSW recall@10 against exact search and queries/s, on synthetic clustered vectors or
    /// on the vectors of an index; writes the vectors for the hnswlib side with --dump-dir
    Hnsw(HnswArgs),
    /// LLM client overhead: stream a long reply from an OpenAI-compatible peer with cairn and
    /// with raw reqwest, interleaved, and compare wall and CPU time per call
    LlmStream(crate::bench_llm::LlmStreamArgs),
    /// Local generation speed: prompt prefill and decode tokens/s on a GGUF chat model
    /// (bench/generate.sh runs llama.cpp beside it)
    Generate(crate::bench_generate::GenerateArgs),
    /// HTTP load: N concurrent clients in closed loops against one URL (a `cairn serve` route
    /// or a peer's), latency percentiles and requests/s per level (bench/serve.sh)
    Http(crate::bench_http::HttpArgs),
}

#[derive(clap::Args)]
pub struct HnswArgs {
    /// Use the chunk vectors of this index instead of synthetic ones (queries are held out)
    #[arg(long)]
    from_index: Option<PathBuf>,
    /// Synthetic vectors: how many
    #[arg(long, default_value_t = 100_000)]
    n: usize,
    #[arg(long, default_value_t = 384)]
    dim: usize,
    #[arg(long, default_value_t = 1000)]
    clusters: usize,
    /// Held-out query vectors
    #[arg(long, default_value_t = 1000)]
    queries: usize,
    #[arg(long, default_value_t = 16)]
    m: usize,
    #[arg(long, default_value_t = 200)]
    ef_construction: usize,
    /// ef values to measure, comma-separated
    #[arg(long, default_value = "16,32,64,128,256")]
    ef: String,
    /// Write base.f32, queries.f32 and params.json here for bench/hnsw_compare.py
    #[arg(long)]
    dump_dir: Option<PathBuf>,
    #[arg(long)]
    json: bool,
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
        let line = line.with_context(|| format!("reading {}", path.display()))?;
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
        BenchCommand::Hnsw(a) => hnsw(a),
        BenchCommand::LlmStream(a) => crate::bench_llm::run(a),
        BenchCommand::Generate(a) => crate::bench_generate::run(a),
        BenchCommand::Http(a) => crate::bench_http::run(a),
    }
}

/// Most vector floats `bench hnsw` holds (4 GiB), so a typo fails with a message rather than
/// an allocation failure.
const MAX_FLOATS: usize = 1 << 30;

/// The `--ef` list: comma-separated whole numbers ≥ 1.
fn ef_list(s: &str) -> Result<Vec<usize>> {
    let list = s
        .split(',')
        .map(|e| match e.trim().parse::<usize>() {
            Ok(v) if v >= 1 => Ok(v),
            _ => Err(anyhow::anyhow!(
                "--ef {s:?}: {e:?} is not a whole number ≥ 1 (pass e.g. --ef 16,64,256)"
            )),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(list)
}

fn check_hnsw_args(a: &HnswArgs) -> Result<Vec<usize>> {
    use crate::search::check_count;
    check_count("--queries", a.queries, "the held-out queries")?;
    check_count("--m", a.m, "the graph degree")?;
    if a.m < 2 || a.m > 256 {
        anyhow::bail!("--m {}: the graph degree must be between 2 and 256", a.m);
    }
    check_count("--ef-construction", a.ef_construction, "the build beam")?;
    if a.from_index.is_none() {
        check_count("--n", a.n, "the number of vectors")?;
        check_count("--dim", a.dim, "the vector dimension")?;
        check_count("--clusters", a.clusters, "the number of clusters")?;
        let floats =
            a.n.checked_add(a.queries)
                .and_then(|t| t.checked_mul(a.dim))
                .filter(|&f| f <= MAX_FLOATS);
        if floats.is_none() {
            anyhow::bail!(
                "--n {} + --queries {} vectors of --dim {} are more than this benchmark holds \
                 ({MAX_FLOATS} floats, 4 GiB)",
                a.n,
                a.queries,
                a.dim
            );
        }
    }
    ef_list(&a.ef)
}

fn hnsw(a: HnswArgs) -> Result<ExitCode> {
    use cairn_store::hnsw::{synthetic_clustered, Hnsw, HnswParams};
    use cairn_store::FlatIndex;
    let efs = check_hnsw_args(&a)?;
    let (all, source) = match &a.from_index {
        Some(dir) => {
            let s = cairn_store::Searcher::open_with(dir, usize::MAX)?;
            (s.vectors().clone(), format!("index {}", dir.display()))
        }
        None => (
            synthetic_clustered(a.n + a.queries, a.dim, a.clusters, 42),
            format!("synthetic clustered ({} clusters)", a.clusters),
        ),
    };
    let dim = all.dim();
    let total = all.len();
    anyhow::ensure!(
        total > a.queries,
        "--queries {}: need more vectors than held-out queries, have {total} ({source})",
        a.queries
    );
    // Hold out evenly spaced queries.
    let step = total / a.queries;
    let mut base = Vec::with_capacity((total - a.queries) * dim);
    let mut queries = Vec::with_capacity(a.queries * dim);
    for i in 0..total {
        let v = all.get(i as u32);
        if i % step == 0 && queries.len() < a.queries * dim {
            queries.extend_from_slice(v);
        } else {
            base.extend_from_slice(v);
        }
    }
    let base = FlatIndex::from_data(dim, base);
    let queries = FlatIndex::from_data(dim, queries);
    if let Some(d) = &a.dump_dir {
        std::fs::create_dir_all(d)?;
        let bytes = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        std::fs::write(d.join("base.f32"), bytes(base.data()))?;
        std::fs::write(d.join("queries.f32"), bytes(queries.data()))?;
        std::fs::write(
            d.join("params.json"),
            json!({"dim": dim, "m": a.m, "ef_construction": a.ef_construction, "ef": a.ef})
                .to_string(),
        )?;
    }
    let nq = queries.len();
    let t = Instant::now();
    let exact: Vec<Vec<u32>> = (0..nq)
        .map(|i| {
            base.search(queries.get(i as u32), 10, None)
                .into_iter()
                .map(|x| x.0)
                .collect()
        })
        .collect();
    let exact_qps = nq as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    let params = HnswParams {
        m: a.m,
        ef_construction: a.ef_construction,
        ..Default::default()
    };
    let graph = Hnsw::build(&base, params);
    let build_s = t.elapsed().as_secs_f64();
    let mut rows = Vec::new();
    for ef in efs {
        let t = Instant::now();
        let got: Vec<Vec<u32>> = (0..nq)
            .map(|i| {
                graph
                    .search(&base, queries.get(i as u32), 10, ef, None)
                    .into_iter()
                    .map(|x| x.0)
                    .collect()
            })
            .collect();
        let qps = nq as f64 / t.elapsed().as_secs_f64();
        let hits: usize = got
            .iter()
            .zip(&exact)
            .map(|(g, e)| g.iter().filter(|x| e.contains(x)).count())
            .sum();
        rows.push(
            json!({"ef": ef, "recall@10": hits as f64 / (nq * 10) as f64, "queries_per_s": qps}),
        );
    }
    let report = json!({
        "vectors": base.len(), "dim": dim, "queries": nq, "source": source, "m": a.m,
        "ef_construction": a.ef_construction, "build_s": build_s, "exact_queries_per_s": exact_qps,
        "hnsw": rows,
    });
    if a.json {
        println!("{report}");
    } else {
        println!(
            "{} vectors ({dim}-d, {source}), {nq} queries, one thread",
            base.len()
        );
        println!("  exact: {exact_qps:.0} q/s");
        println!(
            "  HNSW M={} efC={}: built in {build_s:.1}s",
            a.m, a.ef_construction
        );
        for r in &rows {
            println!(
                "    ef={:<4} recall@10 {:.4}  {:.0} q/s",
                r["ef"],
                r["recall@10"].as_f64().unwrap_or(0.0),
                r["queries_per_s"].as_f64().unwrap_or(0.0)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn read_queries(path: &PathBuf) -> Result<Vec<(String, String)>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
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

/// The median and 95th percentile; NaN for no samples.
fn percentiles(mut ms: Vec<f64>) -> (f64, f64) {
    if ms.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    ms.sort_by(|a, b| a.total_cmp(b));
    let at = |p: f64| ms[((ms.len() - 1) as f64 * p).round() as usize];
    (at(0.5), at(0.95))
}

fn bm25(a: Bm25Args) -> Result<ExitCode> {
    let f = std::fs::File::open(&a.corpus)
        .with_context(|| format!("opening {}", a.corpus.display()))?;
    let mut ids = Vec::new();
    let mut texts = Vec::new();
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line.with_context(|| format!("reading {}", a.corpus.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(&line)
            .with_context(|| format!("{}:{}: malformed JSON", a.corpus.display(), i + 1))?;
        ids.push(v["_id"].as_str().unwrap_or("").to_string());
        texts.push(format!(
            "{} {}",
            v["title"].as_str().unwrap_or(""),
            v["text"].as_str().unwrap_or("")
        ));
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
        results = queries
            .iter()
            .map(|(_, q)| index.search(q, 10, None))
            .collect::<Vec<_>>();
    }
    let secs = t.elapsed().as_secs_f64();
    let qps = (queries.len() * a.repeat.max(1)) as f64 / secs;
    if let Some(path) = &a.dump {
        let mut out = String::new();
        for ((qid, _), hits) in queries.iter().zip(&results) {
            let docs: Vec<&str> = hits
                .iter()
                .map(|(p, _)| ids[*p as usize].as_str())
                .collect();
            out.push_str(&format!("{qid}\t{}\n", docs.join(",")));
        }
        std::fs::write(path, out)?;
    }
    let report = json!({"documents": texts.len(), "queries": queries.len(), "build_s": build_s, "queries_per_s": qps});
    if a.json {
        println!("{report}");
    } else {
        println!(
            "BM25: {} documents indexed in {build_s:.2}s; {qps:.0} queries/s (top 10, one thread)",
            texts.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn search(g: &Globals, a: SearchArgs) -> Result<ExitCode> {
    crate::search::check_count("-k", a.k, "the number of hits")?;
    let queries = read_queries(&a.queries)?;
    if queries.is_empty() {
        anyhow::bail!(
            "{}: no queries (expected BEIR queries.jsonl, one JSON object with \"_id\" and \"text\" per line)",
            a.queries.display()
        );
    }
    let r = crate::search::retriever(g, a.mode)?;
    let opts = SearchOptions {
        mode: a.mode,
        k: a.k,
        ..crate::search::options(g, Some(a.mode), Some(a.k))?
    };
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
        println!(
            "{} search over {} chunks, {} queries:",
            a.mode.as_str(),
            r.searcher.len(),
            queries.len()
        );
        println!("  excluding query embedding: p50 {p50:.3} ms, p95 {p95:.3} ms");
        println!("  including query embedding: p50 {e50:.3} ms, p95 {e95:.3} ms");
    }
    Ok(ExitCode::SUCCESS)
}

fn embed(g: &Globals, a: EmbedArgs) -> Result<ExitCode> {
    crate::search::check_count("--batch-size", a.batch_size, "the texts per batch")?;
    let texts = read_corpus(&a.corpus, a.limit)?;
    if texts.is_empty() {
        anyhow::bail!("{}: no texts to embed", a.corpus.display());
    }
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
