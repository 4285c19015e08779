//! `cairn search`.

use crate::models::load_embedder;
use crate::snippet::snippet;
use crate::Globals;
use anyhow::{Context, Result};
use cairn_core::{Embedder, Filter};
use cairn_rag::{Retriever, SearchMode, SearchOptions};
use cairn_store::Searcher;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(clap::Args)]
pub struct Args {
    /// What to look for
    query: String,
    /// hybrid (RRF of dense and BM25), dense or bm25 [config: search.mode]
    #[arg(long)]
    mode: Option<SearchMode>,
    /// Number of hits [config: search.k]
    #[arg(short, long)]
    k: Option<usize>,
    /// Only hits whose metadata has key=value (repeatable; all must hold)
    #[arg(long = "filter", value_name = "KEY=VALUE")]
    filter: Vec<String>,
    /// RRF weight of the dense retriever, a number ≥ 0 [config: search.dense_weight]
    #[arg(long, allow_negative_numbers = true)]
    dense_weight: Option<f32>,
    /// RRF weight of the BM25 retriever, a number ≥ 0 [config: search.bm25_weight]
    #[arg(long, allow_negative_numbers = true)]
    bm25_weight: Option<f32>,
    /// RRF's rank constant, a number ≥ 0 [config: search.rrf_k]
    #[arg(long, allow_negative_numbers = true)]
    rrf_k: Option<f32>,
    /// Chunks each retriever hands to fusion, at least 1 [config: search.candidates]
    #[arg(long)]
    candidates: Option<usize>,
    /// Query expansion by a language model: multi (variants fused by RRF) or hyde (embed a
    /// hypothetical answer); uses --model or the configured model
    #[arg(long, value_enum, default_value = "none")]
    expand: ExpandChoice,
    /// provider:name of the model for --expand
    #[arg(short, long)]
    model: Option<String>,
    /// Pick the mode per query: `rules` (identifiers, codes and quoted phrases go to BM25, the
    /// rest to hybrid; the default when the flag is bare) or `model` (the model classifies
    /// it); --mode wins
    #[arg(long, value_enum, num_args = 0..=1, default_missing_value = "rules", value_name = "HOW")]
    route: Option<RouteChoice>,
    /// Route the query to one of several indexes (repeatable): NAME=DIR or
    /// NAME=DIR:DESCRIPTION; --route model asks the model, otherwise the name and description
    /// sharing most words with the query win
    #[arg(long, value_name = "NAME=DIR[:DESCRIPTION]")]
    among: Vec<String>,
    /// Print hits as JSON
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RouteChoice {
    Rules,
    Model,
}

/// Parses `--among` entries.
fn collections(
    among: &[String],
) -> Result<Vec<(cairn_rag::transform::Collection, std::path::PathBuf)>> {
    among
        .iter()
        .map(|e| {
            let (name, rest) = e.split_once('=').with_context(|| {
                format!("--among {e:?}: expected NAME=DIR or NAME=DIR:DESCRIPTION")
            })?;
            let (dir, description) = match rest.split_once(':') {
                Some((d, desc)) => (d, desc.to_string()),
                None => (rest, String::new()),
            };
            if name.trim().is_empty() || dir.trim().is_empty() {
                anyhow::bail!("--among {e:?}: the name and the folder must not be empty");
            }
            let dir = std::path::PathBuf::from(dir);
            if !dir.join("index.sqlite").is_file() {
                anyhow::bail!(
                    "--among {e:?}: {} holds no cairn index (run `cairn ingest ... --index {}` first)",
                    dir.display(),
                    dir.display()
                );
            }
            Ok((
                cairn_rag::transform::Collection {
                    name: name.trim().to_string(),
                    description,
                },
                dir,
            ))
        })
        .collect()
}

/// With `--among`, the index the router picks for `query` (by rules, or by the model with
/// `--route model`): the globals pointing at it and the collection's name.
pub fn route_among(
    g: &Globals,
    among: &[String],
    how: Option<RouteChoice>,
    model: Option<&str>,
    query: &str,
) -> Result<Option<(Globals, String)>> {
    if among.is_empty() {
        return Ok(None);
    }
    let cols = collections(among)?;
    let list: Vec<cairn_rag::transform::Collection> = cols.iter().map(|c| c.0.clone()).collect();
    let i = if how == Some(RouteChoice::Model) {
        let (built, rt) = model_call(g, model)?;
        rt.block_on(cairn_rag::transform::route_collection_with_model(
            built.model.as_ref(),
            query,
            &list,
        ))
        .context("--among with --route model: the model could not pick a collection")?
    } else {
        cairn_rag::transform::route_collection(query, &list)
    };
    let mut routed = g.clone();
    routed.index = cols[i].1.clone();
    routed.index_chosen = true;
    if !g.quiet {
        eprintln!("[routed to {} ({})]", cols[i].0.name, cols[i].1.display());
    }
    Ok(Some((routed, cols[i].0.name.clone())))
}

/// The configured model stack and a runtime to call it on, for one model call made from
/// synchronous command code (routing, query expansion).
fn model_call(
    g: &Globals,
    model: Option<&str>,
) -> Result<(crate::llm::Built, tokio::runtime::Runtime)> {
    let built = crate::llm::build(&g.config, model, false)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok((built, rt))
}

/// The mode a `--route` choice picks for `query`.
pub fn routed(
    g: &Globals,
    how: RouteChoice,
    model: Option<&str>,
    query: &str,
) -> Result<SearchMode> {
    Ok(match how {
        RouteChoice::Rules => cairn_rag::transform::route(query),
        RouteChoice::Model => {
            let (built, rt) = model_call(g, model)?;
            rt.block_on(cairn_rag::transform::route_with_model(
                built.model.as_ref(),
                query,
            ))
            .context("--route model: the model could not classify the query")?
        }
    })
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExpandChoice {
    None,
    Multi,
    Hyde,
}

impl From<ExpandChoice> for cairn_rag::transform::Expand {
    fn from(e: ExpandChoice) -> Self {
        match e {
            ExpandChoice::None => Self::None,
            ExpandChoice::Multi => Self::Multi,
            ExpandChoice::Hyde => Self::Hyde,
        }
    }
}

/// The query plans for an expansion (one plain plan for none), asking the model when needed.
pub fn plans(
    g: &Globals,
    model: Option<&str>,
    expand: ExpandChoice,
    query: &str,
) -> Result<Vec<cairn_rag::transform::QueryPlan>> {
    if expand == ExpandChoice::None {
        return Ok(vec![cairn_rag::transform::QueryPlan {
            lexical: query.to_string(),
            dense: query.to_string(),
        }]);
    }
    let (built, rt) = model_call(g, model)?;
    rt.block_on(cairn_rag::transform::plan(
        built.model.as_ref(),
        query,
        expand.into(),
        3,
    ))
    .context("--expand: the model could not write the expansion")
}

/// A count given as `name` (a flag or a config key): at least 1.
pub fn check_count(name: &str, v: usize, what: &str) -> Result<usize> {
    if v == 0 {
        anyhow::bail!("{name} 0: {what} must be at least 1");
    }
    Ok(v)
}

/// A weight or constant given as `name`: a finite number ≥ 0.
pub fn check_non_negative(name: &str, v: f32) -> Result<f32> {
    if !v.is_finite() || v < 0.0 {
        anyhow::bail!("{name} {v}: use a finite number ≥ 0");
    }
    Ok(v)
}

/// Checks options that came from config and flags together: hybrid fusion needs one
/// retriever with a weight above 0.
pub fn check_weights(opts: &SearchOptions) -> Result<()> {
    if opts.mode == SearchMode::Hybrid && opts.dense_weight == 0.0 && opts.bm25_weight == 0.0 {
        anyhow::bail!(
            "--dense-weight and --bm25-weight (or search.dense_weight and search.bm25_weight) \
             are both 0: hybrid search would rank nothing; give one a weight above 0"
        );
    }
    Ok(())
}

/// Search options from config, overridden by flags. Config values are checked here, naming
/// their keys.
pub fn options(g: &Globals, mode: Option<SearchMode>, k: Option<usize>) -> Result<SearchOptions> {
    let mut opts = g.config.search.options().map_err(anyhow::Error::msg)?;
    if let Some(m) = mode {
        opts.mode = m;
    }
    if let Some(k) = k {
        opts.k = check_count("-k", k, "the number of hits")?;
    }
    Ok(opts)
}

/// Opens the index, loading the embedder only when the mode needs it.
pub fn retriever(g: &Globals, mode: SearchMode) -> Result<Retriever> {
    let searcher = Searcher::open(&g.index)?;
    let embedder: Option<Arc<dyn Embedder>> = match mode {
        SearchMode::Bm25 => None,
        _ => Some(load_embedder(g.model_dir.as_deref(), g.quiet)?.embedder),
    };
    Ok(Retriever::new(searcher, embedder)?)
}

pub fn run(g: &Globals, a: Args) -> Result<ExitCode> {
    // Every number is checked before any index is opened or model called. Routing among
    // indexes changes only the index, so the options come from the same config.
    let mut opts = options(g, a.mode, a.k)?;
    opts.filter = Filter::parse(&a.filter).context("--filter")?;
    if let Some(w) = a.dense_weight {
        opts.dense_weight = check_non_negative("--dense-weight", w)?;
    }
    if let Some(w) = a.bm25_weight {
        opts.bm25_weight = check_non_negative("--bm25-weight", w)?;
    }
    if let Some(r) = a.rrf_k {
        opts.rrf_k = check_non_negative("--rrf-k", r)?;
    }
    if let Some(c) = a.candidates {
        opts.candidates = check_count("--candidates", c, "the candidates per retriever")?;
    }
    if a.query.trim().is_empty() {
        anyhow::bail!("the query is empty: pass some text to search for");
    }
    if a.route.is_none() {
        check_weights(&opts)?;
    }
    if g.store.is_some() && !a.among.is_empty() {
        anyhow::bail!(
            "--among routes among embedded index folders: leave out --store (or CAIRN_STORE)"
        );
    }
    let picked = route_among(g, &a.among, a.route, a.model.as_deref(), &a.query)?;
    let g = picked.as_ref().map_or(g, |r| &r.0);
    if let (Some(how), None) = (a.route, a.mode) {
        opts.mode = routed(g, how, a.model.as_deref(), &a.query)?;
    }
    check_weights(&opts)?;
    let hits = match &g.store {
        Some(url) => {
            let rt = crate::runtime()?;
            let explicit = a.mode.is_some() || a.route.is_some();
            let r = crate::store::retriever(g, url, &mut opts.mode, explicit, &rt)?;
            let found = if a.expand == ExpandChoice::None {
                rt.block_on(r.search(&a.query, &opts))
            } else {
                let plans = plans(g, a.model.as_deref(), a.expand, &a.query)?;
                rt.block_on(r.search_plans(&plans, &opts))
            };
            found.with_context(|| format!("searching {url}"))?
        }
        None => {
            let r = retriever(g, opts.mode)?;
            if a.expand == ExpandChoice::None {
                r.search(&a.query, &opts)?
            } else {
                let plans = plans(g, a.model.as_deref(), a.expand, &a.query)?;
                r.hits(cairn_rag::transform::rank_plans(&r, &plans, &opts)?)?
            }
        }
    };
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "query": a.query,
                "mode": opts.mode.as_str(),
                "hits": hits,
            }))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    if hits.is_empty() {
        println!("no results");
        return Ok(ExitCode::SUCCESS);
    }
    let tty = std::io::stdout().is_terminal();
    let (open, close) = if tty {
        ("\x1b[1;33m", "\x1b[0m")
    } else {
        ("**", "**")
    };
    for h in &hits {
        let heading = if h.chunk.heading_path.is_empty() {
            String::new()
        } else {
            format!(" › {}", h.chunk.heading_path.join(" › "))
        };
        let score = match opts.mode {
            SearchMode::Hybrid => format!(
                "{:.4} (dense {}, bm25 {})",
                h.score,
                h.scores
                    .dense_rank
                    .map(|r| format!("#{r}"))
                    .unwrap_or("-".into()),
                h.scores
                    .bm25_rank
                    .map(|r| format!("#{r}"))
                    .unwrap_or("-".into())
            ),
            _ => format!("{:.4}", h.score),
        };
        println!(
            "{:>2}. {}{}  [{}]",
            h.rank,
            display_source(&h.source, h.chunk.metadata.get("line")),
            heading,
            score
        );
        println!("    {}", snippet(&h.chunk.text, &a.query, 240, open, close));
    }
    Ok(ExitCode::SUCCESS)
}

/// A source path relative to the current folder when it is under it.
fn display_source(source: &str, line: Option<&serde_json::Value>) -> String {
    let cwd = std::env::current_dir().ok();
    let shown = cwd
        .and_then(|c| {
            std::path::Path::new(source)
                .strip_prefix(c)
                .ok()
                .map(|p| p.display().to_string())
        })
        .unwrap_or_else(|| source.to_string());
    match line {
        Some(l) => format!("{shown}:{l}"),
        None => shown,
    }
}
