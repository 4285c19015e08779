//! `cairn chat`: one-shot (a prompt argument or piped stdin) or an interactive session with
//! history; tokens stream as they arrive; usage and cost at the end; `--json` for the whole
//! response; `--schema FILE` for validated JSON output; `--index` answers every turn from an
//! index through [`cairn_rag::Asker`] (rewrite, retrieve, rerank, cite, check).

use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use cairn_llm::Message;

use crate::chat_turn::Session;
use crate::rag_args::RagArgs;
use crate::Globals;

#[derive(clap::Args)]
#[command(
    after_help = "Models: openai:NAME, anthropic:NAME, gemini:NAME, ollama:NAME. Without \
    --model: [llm] model in cairn.toml, CAIRN_LLM_MODEL, then whichever of OPENAI_API_KEY, \
    ANTHROPIC_API_KEY, GEMINI_API_KEY / GOOGLE_API_KEY, OLLAMA_HOST is set. Base URLs: \
    OPENAI_BASE_URL, ANTHROPIC_BASE_URL, GOOGLE_GEMINI_BASE_URL. With --index (or [chat] \
    index), the retrieval flags below apply to every turn."
)]
pub struct Args {
    /// The prompt; read from stdin when omitted and stdin is not a terminal
    pub prompt: Option<String>,
    /// provider:name, e.g. openai:gpt-4o-mini, anthropic:claude-sonnet-4-5, gemini:gemini-2.5-flash, ollama:llama3.2
    #[arg(short, long)]
    pub model: Option<String>,
    /// A system prompt
    #[arg(short, long)]
    pub system: Option<String>,
    /// Reply with JSON matching this JSON schema file (validated; one repair round)
    #[arg(long, value_name = "FILE")]
    pub schema: Option<PathBuf>,
    /// Sampling temperature
    #[arg(long)]
    pub temperature: Option<f32>,
    /// Most output tokens
    #[arg(long)]
    pub max_tokens: Option<u32>,
    /// Print the whole response as JSON (no streaming)
    #[arg(long)]
    pub json: bool,
    /// Wait for the whole reply instead of streaming tokens
    #[arg(long)]
    pub no_stream: bool,
    /// Interactive session even when stdin is not a terminal (one prompt per line)
    #[arg(short, long)]
    pub interactive: bool,
    /// Serve repeated requests from the on-disk response cache
    #[arg(long)]
    pub cache: bool,
    #[command(flatten)]
    pub rag: RagArgs,
}

pub fn run(g: &Globals, args: Args) -> Result<ExitCode> {
    let schema = args
        .schema
        .as_ref()
        .map(crate::chat_turn::read_schema)
        .transpose()?;
    let built = crate::llm::build(&g.config, args.model.as_deref(), args.cache)?;
    let rt = crate::runtime()?;
    let asker = crate::chat_turn::index_asker(g, &args, &built)?;
    let s = Session {
        asker,
        model: built.model,
        hint: built.hint,
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
            s.model.id()
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
        if let Err(e) = s.refresh(g.quiet) {
            eprintln!("error: {e:#}");
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
