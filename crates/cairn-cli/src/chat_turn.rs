//! One `cairn chat` turn rendered: a plain reply (streamed, whole, or structured JSON) or an
//! index-backed answer from [`cairn_rag::Asker`], each with the footer the middleware's
//! per-response facts fill (model served, cost, cache).

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use cairn_llm::{ChatEvent, ChatModel, ChatRequest, ChatResponse, Message, Served, Usage};
use cairn_rag::{AnswerEvent, Asker, PromptStyle, SharedRetriever};
use futures::StreamExt;
use serde_json::{json, Value};

use crate::chat::Args;
use crate::rag_args::{cost_text, print_citations, removed_note, RerankChoice, VerifyChoice};
use crate::search::ExpandChoice;
use crate::Globals;

pub struct Session {
    pub asker: Option<Asker>,
    pub hint: Option<&'static str>,
    pub model: Arc<dyn ChatModel>,
    pub args: Args,
    pub schema: Option<cairn_llm::JsonSchemaFormat>,
}

pub fn read_schema(path: &PathBuf) -> Result<cairn_llm::JsonSchemaFormat> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--schema {}: cannot read the file", path.display()))?;
    let schema: Value = serde_json::from_str(&text).with_context(|| {
        format!(
            "--schema {}: not valid JSON; pass a JSON Schema document",
            path.display()
        )
    })?;
    if !schema.is_object() {
        anyhow::bail!(
            "--schema {}: a JSON Schema must be an object",
            path.display()
        );
    }
    cairn_llm::structured::validate(&schema, &Value::Null)
        .map_err(|e| anyhow::anyhow!("--schema {}: {e}", path.display()))?;
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "result".into());
    Ok(cairn_llm::structured::format_for(&name, schema))
}

/// The pipeline for index chat, when an index was asked for: `--index` on the command line or
/// `[chat] index` (an `[index] path` for the other commands does not turn chat into index chat).
pub fn index_asker(g: &Globals, args: &Args, built: &crate::llm::Built) -> Result<Option<Asker>> {
    let index = if g.index_flag {
        Some(g.index.clone())
    } else {
        g.config.chat.index.clone()
    };
    let r = &args.rag;
    let Some(index) = index else {
        if r.rerank != RerankChoice::None
            || r.expand != ExpandChoice::None
            || r.mmr.is_some()
            || r.verify != VerifyChoice::Lexical
        {
            anyhow::bail!(
                "--rerank, --expand, --mmr and --verify apply to index chat: add --index DIR"
            );
        }
        return Ok(None);
    };
    r.check()?;
    let g = &Globals {
        index,
        index_chosen: true,
        ..g.clone()
    };
    let search = crate::search::options(g, r.mode, None)?;
    // A long session follows another process's ingests: each turn reads the generation on
    // disk (checked when the turn starts).
    let retriever = crate::search::retriever(g, search.mode)?;
    let embedder = retriever.embedder();
    let shared = SharedRetriever::from_retriever(retriever, embedder, Duration::ZERO);
    let mut a = r.asker(
        g,
        Arc::new(shared),
        built.model.clone(),
        search,
        args.model.as_deref(),
    )?;
    if let Some(t) = args.temperature {
        a = a.temperature(t);
    }
    if let Some(n) = args.max_tokens {
        a = a.max_tokens(n);
    }
    Ok(Some(a))
}

/// The line after a reply; `extra` (e.g. the citation summary) goes inside its brackets.
fn footer(
    served: &Served,
    cost: &str,
    u: &Usage,
    request_id: Option<&str>,
    extra: Option<&str>,
    hint: Option<&str>,
) -> String {
    let mut s = format!(
        "[{} · {} in ({} cached, {} cache write) / {} out tokens · {cost}",
        served.model, u.input_tokens, u.cached_input_tokens, u.cache_write_tokens, u.output_tokens
    );
    if let Some(r) = request_id {
        s.push_str(&format!(" · {r}"));
    }
    if let Some(e) = extra {
        s.push_str(&format!(" · {e}"));
    }
    s.push(']');
    if let Some(h) = hint {
        s.push_str(&format!("\n[{h}]"));
    }
    s
}

impl Session {
    pub fn start(&self) -> Vec<Message> {
        self.args
            .system
            .as_ref()
            .map(|s| vec![Message::system(s.clone())])
            .unwrap_or_default()
    }

    /// Moves index chat to the generation on disk when another process wrote since.
    pub fn refresh(&self, quiet: bool) -> Result<()> {
        if let Some(a) = &self.asker {
            if let Some(generation) = a.refresh()? {
                if !quiet {
                    eprintln!("[the index changed: now at generation {generation}]");
                }
            }
        }
        Ok(())
    }

    fn footer(&self, resp: &ChatResponse, extra: Option<&str>) -> String {
        footer(
            &resp.served,
            &cost_text(&resp.served),
            &resp.usage,
            resp.request_id.as_deref(),
            extra,
            self.hint,
        )
    }

    fn json_of(&self, resp: &ChatResponse, value: Option<&Value>) -> Value {
        json!({
            "model": resp.served.model,
            "from_cache": resp.served.from_cache,
            "provider_model": resp.model,
            "text": resp.text(),
            "json": value,
            "tool_calls": resp.tool_calls,
            "finish_reason": resp.finish_reason,
            "usage": resp.usage,
            "cost_usd": resp.served.cost_usd,
            "request_id": resp.request_id,
        })
    }

    /// One retrieval-augmented turn: the Asker rewrites, retrieves, answers, checks.
    async fn rag_turn(&self, asker: &Asker, history: &mut Vec<Message>, quiet: bool) -> Result<()> {
        let question = history.last().map(Message::text).unwrap_or_default();
        let earlier = history[..history.len() - 1].to_vec();
        let echo = asker.style() == PromptStyle::Full;
        let mut out = std::io::stdout();
        let mut events = std::pin::pin!(asker.stream(&question, &earlier));
        let mut answer = None;
        while let Some(ev) = events.next().await {
            match ev? {
                AnswerEvent::Rewritten { query } if !quiet => {
                    eprintln!("[searching for: {query}]")
                }
                AnswerEvent::TextDelta { text } if echo => {
                    out.write_all(text.as_bytes())?;
                    out.flush()?;
                }
                AnswerEvent::Restart { reason } if echo => {
                    writeln!(out)?;
                    eprintln!("[the stream broke ({reason}); restarting — discard the partial answer above]");
                }
                AnswerEvent::Done { answer: a } => answer = Some(*a),
                _ => {}
            }
        }
        let a = answer.context("the answer stream ended without an answer")?;
        if echo && a.asked_model {
            println!();
        } else {
            println!("{}", a.text);
        }
        print_citations(&a, false);
        if !quiet && a.asked_model {
            if let Some(n) = removed_note(a.citations.removed) {
                eprintln!("{n}");
            }
            let summary = a.citations.summary();
            let cost = cost_text(&a.served);
            let f = footer(
                &a.served,
                &cost,
                &a.usage,
                a.request_id.as_deref(),
                Some(&summary),
                self.hint,
            );
            eprintln!("{f}");
        }
        history.push(Message::assistant(a.text));
        Ok(())
    }

    pub async fn turn(&self, history: &mut Vec<Message>, quiet: bool) -> Result<()> {
        if let Some(asker) = &self.asker {
            return self.rag_turn(asker, history, quiet).await;
        }
        let mut req = ChatRequest::new(history.to_vec());
        req.temperature = self.args.temperature;
        req.max_output_tokens = self.args.max_tokens;
        let (req, dropped) = cairn_llm::history::fit(self.model.as_ref(), &req).await?;
        if dropped > 0 && !quiet {
            eprintln!(
                "[left out the {dropped} oldest message{} to fit the model's context window]",
                if dropped == 1 { "" } else { "s" }
            );
        }
        if let Some(fmt) = &self.schema {
            let (value, resp) =
                cairn_llm::structured::generate_json(self.model.as_ref(), &req, fmt).await?;
            if self.args.json {
                println!("{}", self.json_of(&resp, Some(&value)));
            } else {
                println!("{}", serde_json::to_string_pretty(&value)?);
                if !quiet {
                    eprintln!("{}", self.footer(&resp, None));
                }
            }
            history.push(Message::assistant(value.to_string()));
            return Ok(());
        }
        if self.args.json || self.args.no_stream {
            let resp = self.model.chat(&req).await?;
            if self.args.json {
                println!("{}", self.json_of(&resp, None));
            } else {
                println!("{}", resp.text());
                if !quiet {
                    eprintln!("{}", self.footer(&resp, None));
                }
            }
            history.push(resp.to_message());
            return Ok(());
        }
        let mut stream = self.model.stream(&req).await?;
        let mut acc = cairn_llm::Accumulator::default();
        let mut out = std::io::stdout();
        while let Some(ev) = stream.next().await {
            let ev = ev?;
            match &ev {
                ChatEvent::TextDelta { text } => {
                    out.write_all(text.as_bytes())?;
                    out.flush()?;
                }
                ChatEvent::Restart { reason, .. } => {
                    writeln!(out)?;
                    out.flush()?;
                    eprintln!(
                        "[the stream broke ({reason}); restarting — discard the partial reply above]"
                    );
                }
                _ => {}
            }
            acc.push(&ev);
        }
        let resp = acc.response();
        writeln!(out)?;
        for c in &resp.tool_calls {
            println!("[tool call {} {}({})]", c.id, c.name, c.arguments);
        }
        if !quiet {
            eprintln!("{}", self.footer(&resp, None));
        }
        history.push(resp.to_message());
        Ok(())
    }
}
