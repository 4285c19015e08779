//! `cairn ask`: a question in, an answer out that cites the passages it rests on. Retrieve
//! (hybrid by default) → drop near-duplicates → optional MMR → merge adjacent chunks →
//! assemble sources within the token budget → stream the answer with citation markers checked
//! as they arrive → list the cited sources.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use cairn_core::Filter;
use cairn_llm::{ChatEvent, ChatModel};
use cairn_rag::answer::{candidates, candidates_for, finish_with, AskOptions, DO_NOT_KNOW};
use cairn_rag::cite::{says_it_does_not_know, CitationFilter};
use cairn_rag::rerank::{ApiReranker, LlmReranker, RerankApi, Reranker};
use cairn_rag::SearchMode;
use futures::StreamExt;
use serde_json::json;

use crate::Globals;

#[derive(clap::Args)]
pub struct Args {
    /// The question
    question: String,
    /// provider:name of the answering model (see `cairn chat --help`)
    #[arg(short, long)]
    model: Option<String>,
    /// Passages given to the model
    #[arg(short, long, default_value_t = 5)]
    k: usize,
    /// How the question and sources are put to the model: full instructions, or the compact
    /// prompt with a worked example for small models (and cairn's citation attribution)
    /// [default: compact for local models, full otherwise]
    #[arg(long, value_enum)]
    prompt: Option<PromptChoice>,
    /// Widen each chosen chunk to its whole section (same document and heading) before the
    /// context is assembled
    #[arg(long)]
    parent_sections: bool,
    /// Route the question to one of several indexes (repeatable): NAME=DIR or
    /// NAME=DIR:DESCRIPTION (see `cairn search --help`)
    #[arg(long, value_name = "NAME=DIR[:DESCRIPTION]")]
    among: Vec<String>,
    /// Chunks retrieved before selection
    #[arg(long, default_value_t = 30)]
    candidates: usize,
    /// Retrieval mode [config: search.mode]
    #[arg(long)]
    mode: Option<SearchMode>,
    /// Rerank the retrieved chunks before selection: a local cross-encoder, an LLM listwise
    /// ranking by the answering model, or the Cohere / Voyage / Jina rerank APIs (CO_API_KEY,
    /// VOYAGE_API_KEY, JINA_API_KEY)
    #[arg(long, value_enum, default_value = "none")]
    rerank: RerankChoice,
    /// Query expansion: multi (the model writes variants, fused by RRF) or hyde (embed a
    /// hypothetical answer)
    #[arg(long, value_enum, default_value = "none")]
    expand: crate::search::ExpandChoice,
    /// Pick the retrieval mode per question: rules (the default when bare) or model (--mode wins)
    #[arg(long, value_enum, num_args = 0..=1, default_missing_value = "rules", value_name = "HOW")]
    route: Option<crate::search::RouteChoice>,
    /// Diversify passages with maximal marginal relevance (0 = diverse … 1 = relevance only)
    #[arg(long, value_name = "LAMBDA")]
    mmr: Option<f32>,
    /// Tokens the sources may take in the prompt
    /// [default: 2000; 700 for the local model, whose prefill runs on the CPU]
    #[arg(long)]
    budget: Option<usize>,
    /// Below this query–passage cosine nothing is relevant and the answer is "I don't know"
    #[arg(long, default_value_t = 0.25)]
    min_relevance: f32,
    /// Only passages whose metadata has key=value (repeatable)
    #[arg(long = "filter", value_name = "KEY=VALUE")]
    filter: Vec<String>,
    /// How citations are checked: lexical (the sentence's words, numbers, names and
    /// negations must be in the cited passage) or model (a judge model reads both; verdicts
    /// cached on disk)
    #[arg(long, value_enum, default_value = "lexical")]
    verify: VerifyChoice,
    /// provider:name of the judge for --verify model [default: the answering model]
    #[arg(long, value_name = "MODEL")]
    judge: Option<String>,
    /// Print the answer, sources, citations and per-sentence sources as JSON
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum VerifyChoice {
    Lexical,
    Model,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PromptChoice {
    Full,
    Compact,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RerankChoice {
    None,
    /// A local cross-encoder (ms-marco-MiniLM-L-6-v2 from the hub, or CAIRN_RERANKER_DIR)
    Local,
    Llm,
    Cohere,
    Voyage,
    Jina,
}

/// Source tokens for the local model: its prompt is read on the CPU (~200 tokens/s here).
pub const LOCAL_BUDGET: usize = 700;

/// How many retrieved chunks a reranker sees.
const RERANK_DEPTH: usize = 20;

/// Streams an answer to stdout (when `echo`) with its citation markers checked as they
/// arrive; a restarted stream starts the answer and the check over. Returns the checked
/// answer, the filter (cited and removed markers) and the response as accumulated.
pub async fn stream_cited(
    mut stream: cairn_llm::ChatStream,
    sources: usize,
    echo: bool,
) -> Result<(String, CitationFilter, cairn_llm::ChatResponse)> {
    let mut filter = CitationFilter::new(sources);
    let mut acc = cairn_llm::Accumulator::default();
    let mut answer = String::new();
    let mut out = std::io::stdout();
    while let Some(ev) = stream.next().await {
        let ev = ev?;
        match &ev {
            ChatEvent::TextDelta { text } => {
                let shown = filter.push(text);
                answer.push_str(&shown);
                if echo {
                    out.write_all(shown.as_bytes())?;
                    out.flush()?;
                }
            }
            ChatEvent::Restart { reason, .. } => {
                filter = CitationFilter::new(sources);
                answer.clear();
                if echo {
                    writeln!(out)?;
                    eprintln!("[the stream broke ({reason}); restarting — discard the partial answer above]");
                }
            }
            _ => {}
        }
        acc.push(&ev);
    }
    let tail = filter.finish();
    answer.push_str(&tail);
    if echo {
        writeln!(out, "{tail}")?;
    }
    Ok((answer, filter, acc.response()))
}

/// The `citations` object of an answer that cites nothing (the model was not asked).
fn no_citations() -> serde_json::Value {
    let mut v = serde_json::to_value(cairn_rag::grade::CitationCounts {
        checked_by: "lexical",
        ..Default::default()
    })
    .unwrap_or_default();
    v["cited"] = json!([]);
    v
}

pub fn run(g: &Globals, a: Args) -> Result<ExitCode> {
    if a.question.trim().is_empty() {
        anyhow::bail!("the question is empty: pass the question to answer");
    }
    if !(0.0..=1.0).contains(&a.mmr.unwrap_or(0.5)) {
        anyhow::bail!("--mmr must be between 0 and 1");
    }
    if a.k == 0 {
        anyhow::bail!("-k 0 gives the model no passages: pass how many to give it (default 5)");
    }
    if a.budget == Some(0) {
        anyhow::bail!(
            "--budget 0 leaves no room for any source: pass the tokens the sources may take \
             (default 2000, 700 for the local model)"
        );
    }
    crate::search::check_count(
        "--candidates",
        a.candidates,
        "the chunks retrieved before selection",
    )?;
    crate::search::check_non_negative("--min-relevance", a.min_relevance)?;
    if a.judge.is_some() && a.verify != VerifyChoice::Model {
        anyhow::bail!("--judge names the model for --verify model: add --verify model");
    }
    let routed = crate::search::route_among(g, &a.among, a.route, a.model.as_deref(), &a.question)?;
    let collection = routed.as_ref().map(|r| r.1.clone());
    let g = routed.as_ref().map_or(g, |r| &r.0);
    let built = crate::llm::build(&g.config, a.model.as_deref(), false)?;
    let mut search = crate::search::options(g, a.mode, None)?;
    if let (Some(how), None) = (a.route, a.mode) {
        search.mode = crate::search::routed(g, how, a.model.as_deref(), &a.question)?;
    }
    search.filter = Filter::parse(&a.filter).context("--filter")?;
    let retriever = crate::search::retriever(g, search.mode)?;
    let id = built.model.id();
    let count = {
        let id = id.clone();
        move |s: &str| cairn_llm::tokens::budget_count(&id, s)
    };
    let opts = AskOptions {
        search,
        k: a.k,
        candidates: a.candidates,
        mmr: a.mmr,
        budget_tokens: a.budget.unwrap_or(if id.provider == "local" {
            LOCAL_BUDGET
        } else {
            2000
        }),
        min_relevance: a.min_relevance,
        style: match a.prompt {
            Some(PromptChoice::Full) => cairn_rag::answer::PromptStyle::Full,
            Some(PromptChoice::Compact) => cairn_rag::answer::PromptStyle::Compact,
            None => crate::llm::prompt_style(&id),
        },
        parent_sections: a.parent_sections,
        ..AskOptions::default()
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let plans = if a.expand == crate::search::ExpandChoice::None {
        None
    } else {
        Some(
            rt.block_on(cairn_rag::transform::plan(
                built.model.as_ref(),
                &a.question,
                a.expand.into(),
                3,
            ))
            .context("--expand: the model could not write the expansion")?,
        )
    };
    let mut cands = match &plans {
        Some(p) => candidates_for(&retriever, &a.question, p, &opts)?,
        None => candidates(&retriever, &a.question, &opts)?,
    };
    if a.rerank != RerankChoice::None && cands.relevant && cands.passages.len() > 1 {
        let reranker: Box<dyn Reranker> = match a.rerank {
            RerankChoice::Llm => Box::new(LlmReranker::new(built.model.clone())),
            RerankChoice::Local => Box::new(cairn_rag::rerank::CrossEncoderReranker::new(
                crate::models::load_cross_encoder()?,
            )),
            other => {
                let api = match other {
                    RerankChoice::Cohere => RerankApi::Cohere,
                    RerankChoice::Voyage => RerankApi::Voyage,
                    _ => RerankApi::Jina,
                };
                let transport =
                    std::sync::Arc::new(cairn_llm::transport::Transport::new(Default::default()));
                Box::new(ApiReranker::from_env(
                    api,
                    &cairn_llm::select::process_env,
                    transport,
                )?)
            }
        };
        let depth = cands.passages.len().min(RERANK_DEPTH);
        let texts: Vec<&str> = cands.passages[..depth]
            .iter()
            .map(|p| p.text.as_str())
            .collect();
        let ranked = rt
            .block_on(reranker.rerank(&a.question, &texts))
            .with_context(|| format!("reranking with {}", reranker.name()))?;
        cands.rerank(&ranked);
    }
    let prepared = finish_with(&cands, &a.question, &opts, &count, Some(&retriever));
    let sources = &prepared.sources;

    if !prepared.relevant {
        if a.json {
            println!(
                "{}",
                json!({"question": a.question, "answer": DO_NOT_KNOW, "answered": false,
                    "model": null, "sources": [], "best_relevance": prepared.best_relevance,
                    "citations": no_citations(), "sentences": []})
            );
        } else {
            println!("{DO_NOT_KNOW}");
            if !g.quiet {
                eprintln!(
                    "[no passage reached the relevance threshold {} (best {:.3}); the model was not asked]",
                    a.min_relevance,
                    prepared.best_relevance.unwrap_or(0.0)
                );
            }
        }
        return Ok(ExitCode::SUCCESS);
    }

    let before = built.ledger.last_id().unwrap_or(i64::MAX);
    let compact = opts.style == cairn_rag::answer::PromptStyle::Compact;
    let (answer, filter, resp) = rt.block_on(async {
        let stream = built.model.stream(&prepared.request).await?;
        stream_cited(stream, sources.len(), !a.json && !compact).await
    })?;
    let (model, cost, _) = crate::llm::served(&built.ledger, before, &id);
    // A small local model's answer is trimmed to its first distinct sentences, and sentences
    // it left uncited are attributed by cairn (counted apart, never as verified).
    let mut checked = cairn_rag::answer::check(&answer, sources, opts.style, filter.removed);
    if a.verify == VerifyChoice::Model {
        let judge = crate::llm::judge(&g.config, a.judge.as_deref().or(a.model.as_deref()))?;
        rt.block_on(checked.judge(&judge, sources));
    }
    if compact && !a.json {
        println!("{}", checked.text);
    }
    let usage = resp.usage;
    let answered = !says_it_does_not_know(&checked.text);
    let cited_ns = cairn_rag::cite::cited_numbers(&checked.sentences);
    let cited: Vec<&cairn_rag::context::Source> = cited_ns
        .iter()
        .filter_map(|n| sources.iter().find(|s| s.n == *n))
        .collect();

    if a.json {
        let srcs: Vec<serde_json::Value> = sources
            .iter()
            .map(|s| {
                let p = &s.passage;
                json!({"n": s.n, "cited": cited_ns.contains(&s.n), "source": p.source,
                    "title": p.title, "heading_path": p.heading_path, "page": p.page,
                    "start": p.start, "end": p.end, "chunk_ids": p.chunk_ids, "rank": p.rank,
                    "truncated": s.truncated, "text": p.text})
            })
            .collect();
        let mut citations = serde_json::to_value(&checked.counts)?;
        citations["cited"] = json!(cited_ns);
        println!(
            "{}",
            json!({"question": a.question, "answer": checked.text, "answered": answered,
                "model": model, "mode": opts.search.mode.as_str(), "collection": collection,
                "sources": srcs, "citations": citations, "sentences": checked.sentences,
                "usage": usage, "cost_usd": cost, "best_relevance": prepared.best_relevance})
        );
        return Ok(ExitCode::SUCCESS);
    }
    if !cited.is_empty() {
        println!("\nSources:");
        for s in &cited {
            println!("{}", s.cited_line());
        }
    }
    let flags = cairn_rag::grade::flag_lines(&checked.sentences);
    if !flags.is_empty() {
        println!("\nCitation check:");
        for f in flags {
            println!("{f}");
        }
    }
    if !g.quiet {
        if filter.removed > 0 {
            eprintln!(
                "[removed {} citation{} naming no provided source]",
                filter.removed,
                if filter.removed == 1 { "" } else { "s" }
            );
        }
        if answered && cited.is_empty() {
            eprintln!(
                "[warning: the answer cites none of the {} sources]",
                sources.len()
            );
        }
        let cost = cost
            .map(|c| format!("${c:.6}"))
            .unwrap_or_else(|| "no price for this model".into());
        eprintln!(
            "[answered by {model} · {} in / {} out tokens · {cost} · {} sources, {} cited · {}]",
            usage.input_tokens,
            usage.output_tokens,
            sources.len(),
            cited.len(),
            checked.counts.summary()
        );
        if let Some(h) = built.hint {
            eprintln!("[{h}]");
        }
    }
    Ok(ExitCode::SUCCESS)
}
