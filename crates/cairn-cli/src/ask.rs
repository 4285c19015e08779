//! `cairn ask`: a question in, an answer out that cites the passages it rests on. The
//! pipeline is [`cairn_rag::Asker`]; this file parses flags and renders.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;
use cairn_rag::{AnswerEvent, PromptStyle, RetrieverSource};
use futures::StreamExt;

use crate::rag_args::{cost_text, print_citations, removed_note, RagArgs};
use crate::Globals;

#[derive(clap::Args)]
pub struct Args {
    /// The question
    question: String,
    /// provider:name of the answering model (see `cairn chat --help`)
    #[arg(short, long)]
    model: Option<String>,
    /// Route the question to one of several indexes (repeatable): NAME=DIR or
    /// NAME=DIR:DESCRIPTION (see `cairn search --help`)
    #[arg(long, value_name = "NAME=DIR[:DESCRIPTION]")]
    among: Vec<String>,
    /// Pick the retrieval mode per question: rules (the default when bare) or model (--mode wins)
    #[arg(long, value_enum, num_args = 0..=1, default_missing_value = "rules", value_name = "HOW")]
    route: Option<crate::search::RouteChoice>,
    #[command(flatten)]
    rag: RagArgs,
    /// Print the answer, sources, citations and per-sentence sources as JSON
    #[arg(long)]
    json: bool,
}

pub fn run(g: &Globals, a: Args) -> Result<ExitCode> {
    if a.question.trim().is_empty() {
        anyhow::bail!("the question is empty: pass the question to answer");
    }
    a.rag.check()?;
    if g.store.is_some() && !a.among.is_empty() {
        anyhow::bail!(
            "--among routes among embedded index folders: leave out --store (or CAIRN_STORE)"
        );
    }
    let routed = crate::search::route_among(g, &a.among, a.route, a.model.as_deref(), &a.question)?;
    let collection = routed.as_ref().map(|r| r.1.clone());
    let g = routed.as_ref().map_or(g, |r| &r.0);
    let built = crate::llm::build(&g.config, a.model.as_deref(), false)?;
    let mut search = crate::search::options(g, a.rag.mode, None)?;
    if let (Some(how), None) = (a.route, a.rag.mode) {
        search.mode = crate::search::routed(g, how, a.model.as_deref(), &a.question)?;
    }
    let rt = crate::runtime()?;
    let retriever: RetrieverSource = match &g.store {
        Some(url) => {
            let explicit = a.rag.mode.is_some() || a.route.is_some();
            crate::store::retriever(g, url, &mut search.mode, explicit, &rt)?.into()
        }
        None => Arc::new(crate::search::retriever(g, search.mode)?).into(),
    };
    let asker = a.rag.asker(
        g,
        retriever,
        built.model.clone(),
        search,
        a.model.as_deref(),
    )?;
    // A small model's answer is trimmed and attributed after it ends: print it then.
    let echo = !a.json && asker.style() == PromptStyle::Full;
    let answer = rt.block_on(async {
        let mut out = std::io::stdout();
        let mut events = std::pin::pin!(asker.stream(&a.question, &[]));
        while let Some(ev) = events.next().await {
            match ev? {
                AnswerEvent::TextDelta { text } if echo => {
                    out.write_all(text.as_bytes())?;
                    out.flush()?;
                }
                AnswerEvent::Restart { reason } if echo => {
                    writeln!(out)?;
                    eprintln!("[the stream broke ({reason}); restarting — discard the partial answer above]");
                }
                AnswerEvent::Done { answer } => return Ok(*answer),
                _ => {}
            }
        }
        anyhow::bail!("the answer stream ended without an answer")
    })?;
    if a.json {
        println!("{}", answer.to_json(collection.as_deref()));
        return Ok(ExitCode::SUCCESS);
    }
    if !answer.asked_model {
        println!("{}", answer.text);
        if !g.quiet {
            eprintln!(
                "[no passage reached the relevance threshold {} (best {:.3}); the model was not asked]",
                a.rag.min_relevance,
                answer.best_relevance.unwrap_or(0.0)
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    if echo {
        println!();
    } else {
        println!("{}", answer.text);
    }
    print_citations(&answer, true);
    if !g.quiet {
        if let Some(n) = removed_note(answer.citations.removed) {
            eprintln!("{n}");
        }
        if answer.answered && answer.cited.is_empty() {
            eprintln!(
                "[warning: the answer cites none of the {} sources]",
                answer.sources.len()
            );
        }
        eprintln!(
            "[answered by {} · {} in / {} out tokens · {} · {} sources, {} cited · {}]",
            answer.served.model,
            answer.usage.input_tokens,
            answer.usage.output_tokens,
            cost_text(&answer.served),
            answer.sources.len(),
            answer.cited.len(),
            answer.citations.summary()
        );
        if let Some(h) = built.hint {
            eprintln!("[{h}]");
        }
    }
    Ok(ExitCode::SUCCESS)
}
