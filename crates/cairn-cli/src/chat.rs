//! `cairn chat`: one-shot (a prompt argument or piped stdin) or an interactive session with
//! history; tokens stream as they arrive; usage and cost at the end; `--json` for the whole
//! response; `--schema FILE` for validated JSON output.

use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use cairn_llm::{ChatEvent, ChatModel, ChatRequest, ChatResponse, Message, ModelId, Usage};
use futures::StreamExt;
use serde_json::{json, Value};

use crate::Globals;

#[derive(clap::Args)]
#[command(
    after_help = "Models: openai:NAME, anthropic:NAME, gemini:NAME, ollama:NAME. Without \
    --model: [llm] model in cairn.toml, CAIRN_LLM_MODEL, then whichever of OPENAI_API_KEY, \
    ANTHROPIC_API_KEY, GEMINI_API_KEY / GOOGLE_API_KEY, OLLAMA_HOST is set. Base URLs: \
    OPENAI_BASE_URL, ANTHROPIC_BASE_URL, GOOGLE_GEMINI_BASE_URL."
)]
pub struct Args {
    /// The prompt; read from stdin when omitted and stdin is not a terminal
    prompt: Option<String>,
    /// provider:name, e.g. openai:gpt-4o-mini, anthropic:claude-sonnet-4-5, gemini:gemini-2.5-flash, ollama:llama3.2
    #[arg(short, long)]
    model: Option<String>,
    /// A system prompt
    #[arg(short, long)]
    system: Option<String>,
    /// Reply with JSON matching this JSON schema file (validated; one repair round)
    #[arg(long, value_name = "FILE")]
    schema: Option<PathBuf>,
    /// Sampling temperature
    #[arg(long)]
    temperature: Option<f32>,
    /// Most output tokens
    #[arg(long)]
    max_tokens: Option<u32>,
    /// Print the whole response as JSON (no streaming)
    #[arg(long)]
    json: bool,
    /// Wait for the whole reply instead of streaming tokens
    #[arg(long)]
    no_stream: bool,
    /// Interactive session even when stdin is not a terminal (one prompt per line)
    #[arg(short, long)]
    interactive: bool,
    /// Serve repeated requests from the on-disk response cache
    #[arg(long)]
    cache: bool,
}

/// Retrieval-augmented chat (`--index`): each turn is answered from the index with citations;
/// follow-ups are rewritten into standalone questions with the history before retrieving.
struct Rag {
    retriever: cairn_rag::Retriever,
    opts: cairn_rag::answer::AskOptions,
    count: Box<dyn Fn(&str) -> usize>,
}

struct Session {
    rag: Option<Rag>,
    hint: Option<&'static str>,
    model: std::sync::Arc<dyn ChatModel>,
    ledger: std::sync::Arc<cairn_llm::middleware::Ledger>,
    id: ModelId,
    args: Args,
    schema: Option<cairn_llm::JsonSchemaFormat>,
}

fn read_schema(path: &PathBuf) -> Result<cairn_llm::JsonSchemaFormat> {
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

pub fn run(g: &Globals, args: Args) -> Result<ExitCode> {
    let schema = args.schema.as_ref().map(read_schema).transpose()?;
    let built = crate::llm::build(&g.config, args.model.as_deref(), args.cache)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let id = built.model.id();
    // An index answers only when asked for: `--index` on the command line or `[chat] index`
    // (an `[index] path` for the other commands does not turn chat into index chat).
    let chat_index = if g.index_flag {
        Some(g.index.clone())
    } else {
        g.config.chat.index.clone()
    };
    let rag = if let Some(index) = chat_index {
        let g = &Globals {
            index,
            index_chosen: true,
            ..g.clone()
        };
        let search = crate::search::options(g, None, None)?;
        let retriever = crate::search::retriever(g, search.mode)?;
        let budget_id = id.clone();
        Some(Rag {
            retriever,
            opts: cairn_rag::answer::AskOptions {
                search,
                style: crate::llm::prompt_style(&id),
                budget_tokens: if id.provider == "local" {
                    crate::ask::LOCAL_BUDGET
                } else {
                    2000
                },
                ..Default::default()
            },
            count: Box::new(move |t: &str| cairn_llm::tokens::budget_count(&budget_id, t)),
        })
    } else {
        None
    };
    let mut s = Session {
        rag,
        model: built.model,
        ledger: built.ledger,
        hint: built.hint,
        id,
        args,
        schema,
    };
    let stdin = std::io::stdin();
    let interactive = s.args.interactive || (s.args.prompt.is_none() && stdin.is_terminal());
    if !interactive {
        let prompt = match &s.args.prompt {
            Some(p) => p.clone(),
            None => {
                let mut t = String::new();
                stdin
                    .lock()
                    .read_to_string(&mut t)
                    .context("reading the prompt from stdin")?;
                t
            }
        };
        if prompt.trim().is_empty() {
            anyhow::bail!("no prompt: pass one as an argument or on stdin, or run `cairn chat` in a terminal for a session");
        }
        let mut history = s.start();
        history.push(Message::user(prompt));
        rt.block_on(s.turn(&mut history, g.quiet))?;
        return Ok(ExitCode::SUCCESS);
    }
    if !g.quiet {
        eprintln!(
            "cairn chat with {} — /reset clears the history, /exit or Ctrl-D ends",
            s.id
        );
    }
    let mut history = s.start();
    if let Some(p) = &s.args.prompt {
        history.push(Message::user(p.clone()));
        rt.block_on(s.turn(&mut history, g.quiet))?;
    }
    let mut lines = stdin.lock().lines();
    loop {
        if !g.quiet {
            eprint!("> ");
            std::io::stderr().flush().ok();
        }
        let Some(line) = lines.next() else { break };
        let line = line.context("reading stdin")?;
        match line.trim() {
            "" => continue,
            "/exit" | "/quit" => break,
            "/reset" => {
                history = s.start();
                eprintln!("(history cleared)");
                continue;
            }
            _ => {}
        }
        // Another process may have ingested since the last turn: read the new generation.
        if let Some(rag) = s.rag.as_mut() {
            match rag.retriever.refresh() {
                Ok(true) if !g.quiet => eprintln!(
                    "[the index changed: now at generation {}]",
                    rag.retriever.searcher.generation()
                ),
                Err(e) => eprintln!("error: {e:#}"),
                _ => {}
            }
        }
        history.push(Message::user(line));
        if let Err(e) = rt.block_on(s.turn(&mut history, g.quiet)) {
            // A failed turn leaves the session usable; drop the unanswered prompt.
            history.pop();
            eprintln!("error: {e:#}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

impl Session {
    fn start(&self) -> Vec<Message> {
        self.args
            .system
            .as_ref()
            .map(|s| vec![Message::system(s.clone())])
            .unwrap_or_default()
    }

    fn request(&self, history: &[Message]) -> ChatRequest {
        let mut r = ChatRequest::new(history.to_vec());
        r.temperature = self.args.temperature;
        r.max_output_tokens = self.args.max_tokens;
        r
    }

    /// Which model served the turn and what it cost, from the ledger rows it added (a
    /// fallback books under the model that answered; a cache hit books nothing).
    fn served(&self, before: i64) -> (String, Option<f64>, bool) {
        crate::llm::served(&self.ledger, before, &self.id)
    }

    /// The line after a reply; `extra` (e.g. the citation summary) goes inside its brackets.
    fn footer(&self, resp: &ChatResponse, before: i64, extra: Option<&str>) -> String {
        let (model, cost, cached) = self.served(before);
        let cost = match (cost, cached) {
            (_, true) => "from the response cache, $0".to_string(),
            (Some(c), _) => format!("${c:.6}"),
            (None, _) => "no price for this model".into(),
        };
        let u: &Usage = &resp.usage;
        let mut s = format!(
            "[{model} · {} in ({} cached, {} cache write) / {} out tokens · {cost}",
            u.input_tokens, u.cached_input_tokens, u.cache_write_tokens, u.output_tokens
        );
        if let Some(r) = &resp.request_id {
            s.push_str(&format!(" · {r}"));
        }
        if let Some(e) = extra {
            s.push_str(&format!(" · {e}"));
        }
        s.push(']');
        if let Some(h) = self.hint {
            s.push_str(&format!("\n[{h}]"));
        }
        s
    }

    fn json_of(&self, resp: &ChatResponse, value: Option<&Value>, before: i64) -> Value {
        let (model, cost, cached) = self.served(before);
        json!({
            "model": model,
            "from_cache": cached,
            "provider_model": resp.model,
            "text": resp.text(),
            "json": value,
            "tool_calls": resp.tool_calls,
            "finish_reason": resp.finish_reason,
            "usage": resp.usage,
            "cost_usd": cost,
            "request_id": resp.request_id,
        })
    }

    /// A follow-up rewritten as a standalone question, using the conversation so far.
    async fn standalone(&self, history: &[Message]) -> Result<String> {
        let question = history.last().map(Message::text).unwrap_or_default();
        let earlier: Vec<&Message> = history[..history.len() - 1]
            .iter()
            .filter(|m| m.role != cairn_llm::Role::System)
            .collect();
        if earlier.is_empty() {
            return Ok(question);
        }
        let mut convo = String::new();
        for m in earlier {
            let who = if m.role == cairn_llm::Role::User {
                "User"
            } else {
                "Assistant"
            };
            convo.push_str(&format!("{who}: {}\n", m.text()));
        }
        let mut req = ChatRequest::new(vec![
            Message::system("Rewrite the follow-up question as a standalone question that can be understood without the conversation. Reply with the question only."),
            Message::user(format!("Conversation:\n{convo}\nFollow-up question: {question}\n\nStandalone question:")),
        ]);
        req.temperature = Some(0.0);
        req.max_output_tokens = Some(100);
        let r = self.model.chat(&req).await?.text();
        // The question is the first line; small models add more after it.
        let r = r
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("")
            .trim_matches('"')
            .trim();
        Ok(if r.is_empty() {
            question
        } else {
            r.to_string()
        })
    }

    /// One retrieval-augmented turn: rewrite, retrieve, answer with checked citations.
    async fn rag_turn(&self, rag: &Rag, history: &mut Vec<Message>, quiet: bool) -> Result<()> {
        let question = self.standalone(history).await?;
        if !quiet && Some(question.as_str()) != history.last().map(|m| m.text()).as_deref() {
            eprintln!("[searching for: {question}]");
        }
        let prepared =
            cairn_rag::answer::prepare(&rag.retriever, &question, &rag.opts, &rag.count)?;
        if !prepared.relevant {
            println!("{}", cairn_rag::answer::DO_NOT_KNOW);
            history.push(Message::assistant(cairn_rag::answer::DO_NOT_KNOW));
            return Ok(());
        }
        let before = self.ledger.last_id().unwrap_or(i64::MAX);
        let mut req = prepared.request.clone();
        let compact = rag.opts.style == cairn_rag::answer::PromptStyle::Compact;
        if !compact {
            // Earlier turns (without their sources) sit between the instructions and the
            // question. A small local model gets the standalone question alone: earlier turns
            // only pull it off the worked example.
            let earlier: Vec<Message> = history[..history.len() - 1]
                .iter()
                .filter(|m| m.role != cairn_llm::Role::System)
                .cloned()
                .collect();
            req.messages.splice(1..1, earlier);
        }
        if self.args.temperature.is_some() {
            req.temperature = self.args.temperature;
        }
        if self.args.max_tokens.is_some() {
            req.max_output_tokens = self.args.max_tokens;
        }
        let stream = self.model.stream(&req).await?;
        let (answer, filter, resp) =
            crate::ask::stream_cited(stream, prepared.sources.len(), !compact).await?;
        let checked =
            cairn_rag::answer::check(&answer, &prepared.sources, rag.opts.style, filter.removed);
        if compact {
            println!("{}", checked.text);
        }
        for n in cairn_rag::cite::cited_numbers(&checked.sentences) {
            if let Some(s) = prepared.sources.iter().find(|s| s.n == n) {
                println!("{}", s.cited_line());
            }
        }
        for f in cairn_rag::grade::flag_lines(&checked.sentences) {
            println!("{f}");
        }
        if !quiet {
            if filter.removed > 0 {
                eprintln!(
                    "[removed {} citation(s) naming no provided source]",
                    filter.removed
                );
            }
            let summary = checked.counts.summary();
            eprintln!("{}", self.footer(&resp, before, Some(&summary)));
        }
        let answer = checked.text;
        history.push(Message::assistant(answer));
        Ok(())
    }

    async fn turn(&self, history: &mut Vec<Message>, quiet: bool) -> Result<()> {
        if let Some(rag) = &self.rag {
            return self.rag_turn(rag, history, quiet).await;
        }
        let (req, dropped) =
            cairn_llm::history::fit(self.model.as_ref(), &self.request(history)).await?;
        if dropped > 0 && !quiet {
            eprintln!(
                "[left out the {dropped} oldest message{} to fit the model's context window]",
                if dropped == 1 { "" } else { "s" }
            );
        }
        let before = self.ledger.last_id().unwrap_or(i64::MAX);
        if let Some(fmt) = &self.schema {
            let (value, resp) =
                cairn_llm::structured::generate_json(self.model.as_ref(), &req, fmt).await?;
            if self.args.json {
                println!("{}", self.json_of(&resp, Some(&value), before));
            } else {
                println!("{}", serde_json::to_string_pretty(&value)?);
                if !quiet {
                    eprintln!("{}", self.footer(&resp, before, None));
                }
            }
            history.push(Message::assistant(value.to_string()));
            return Ok(());
        }
        if self.args.json || self.args.no_stream {
            let resp = self.model.chat(&req).await?;
            if self.args.json {
                println!("{}", self.json_of(&resp, None, before));
            } else {
                println!("{}", resp.text());
                if !quiet {
                    eprintln!("{}", self.footer(&resp, before, None));
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
            eprintln!("{}", self.footer(&resp, before, None));
        }
        history.push(resp.to_message());
        Ok(())
    }
}
