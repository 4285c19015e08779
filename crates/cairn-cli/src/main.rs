//! `cairn`: build, run and evaluate retrieval on one machine.

mod ask;
mod bench;
mod bench_generate;
mod bench_http;
mod bench_llm;
mod chat;
mod chat_turn;
mod cost;
mod eval;
mod eval_citations;
mod eval_rag;
mod eval_store;
mod index_cmd;
mod ingest;
mod llm;
mod models;
mod progress;
mod rag_args;
mod search;
mod serve;
mod snippet;
mod store;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

/// The runtime a command's model and pipeline calls run on (two workers: the CPU work of
/// embedding and local generation already keeps the cores busy).
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "cairn",
    version,
    about = "Index documents and search them (embedded, offline, no API key); talk to LLMs",
    long_about = "cairn indexes folders of documents into an embedded index (SQLite + BM25 + \
                  vectors) and searches them with dense, BM25 or hybrid retrieval.\n\n\
                  Quick start:\n  cairn ingest docs/\n  cairn search \"how do I configure it?\""
)]
struct Cli {
    /// Index folder [env: CAIRN_INDEX; config: index.path; default: ./.cairn]
    #[arg(long, global = true, env = "CAIRN_INDEX")]
    index: Option<PathBuf>,
    /// A database store to use instead of the embedded index: postgres://…?collection=NAME,
    /// chroma://HOST:PORT/NAME, qdrant://…, pinecone://…, weaviate://… (see `cairn index
    /// migrate --help`); `ingest`, `search`, `ask` and `info` then work on it
    /// [env: CAIRN_STORE; config: store.url]
    #[arg(long, global = true, env = "CAIRN_STORE", value_name = "URL")]
    store: Option<String>,
    /// Folder holding the embedding model's files, used instead of the cache and downloads
    #[arg(long, global = true, env = "CAIRN_MODEL_DIR")]
    model_dir: Option<PathBuf>,
    /// Config file [env: CAIRN_CONFIG; default: ./cairn.toml if present]
    #[arg(long, global = true, env = "CAIRN_CONFIG")]
    config: Option<PathBuf>,
    /// Print less: no progress bars or notes
    #[arg(short, long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Index files and folders (txt, md, html, source code, BEIR .jsonl)
    Ingest(ingest::Args),
    /// Search the index
    Search(search::Args),
    /// Evaluate retrieval quality
    #[command(subcommand)]
    Eval(eval::EvalCommand),
    /// Whole-index operations: copy an index to another store
    #[command(subcommand)]
    Index(index_cmd::IndexCommand),
    /// Show what an index holds
    Info {
        /// Print as JSON
        #[arg(long)]
        json: bool,
    },
    /// Measure speed (see BENCHMARKS.md)
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Answer a question from the index, citing the passages it rests on
    Ask(ask::Args),
    /// Talk to a language model (OpenAI, Anthropic, Gemini, Ollama)
    Chat(chat::Args),
    /// What language-model calls cost, from the ledger
    Cost(cost::Args),
    /// Manage local model files
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Serve the OpenAI-compatible API, the RAG routes and the web page over HTTP
    Serve(serve::Args),
    /// Manage the server's API keys
    #[command(subcommand)]
    Keys(serve::KeysCommand),
}

#[derive(Subcommand)]
enum ModelsCommand {
    /// Fetch (if needed) and verify the embedding model and the offline generator, then print
    /// where they are
    Fetch {
        /// Local generators to fetch instead of the default ones, by name:
        /// smollm2-135m-instruct, qwen2.5-coder-0.5b, qwen2.5-coder-1.5b (`local:` optional)
        #[arg(value_name = "GENERATOR")]
        generators: Vec<String>,
    },
}

#[derive(Clone)]
pub struct Globals {
    pub index: PathBuf,
    /// True when the index folder was chosen (flag, environment or config), not defaulted.
    pub index_chosen: bool,
    /// True when `--index` was given on the command line (not the environment or config):
    /// `cairn chat` answers from an index only then (or with `[chat] index`).
    pub index_flag: bool,
    /// The database store chosen by `--store`, `CAIRN_STORE` or `[store] url` (an embedded
    /// folder given that way becomes `index` instead).
    pub store: Option<cairn_vectordb::StoreUrl>,
    /// True when `--store` was given on the command line (`eval beir` scores a store only then).
    pub store_flag: bool,
    pub model_dir: Option<PathBuf>,
    pub quiet: bool,
    pub config: cairn::Config,
}

fn main() -> ExitCode {
    use clap::{CommandFactory, FromArgMatches};
    quiet_on_broken_pipe();
    let matches = Cli::command().get_matches();
    let on_line = |id| matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine);
    let (index_flag, store_flag) = (on_line("index"), on_line("store"));
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    match run(cli, index_flag, store_flag) {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&e) && stdout_closed() => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Output into a closed pipe (`cairn search … | head -1`) ends the command quietly with exit
/// 0, as ripgrep does, instead of a panic: `println!` panics when stdout (or stderr) is a pipe
/// whose reader has gone, and this hook turns exactly that panic into a clean exit. Every
/// other panic still reports as usual. (SIGPIPE stays ignored, as Rust sets it, so a peer
/// closing a network connection is still an error the LLM client can retry.)
fn quiet_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let p = info.payload();
        let msg = p
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| p.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.starts_with("failed printing to std")
            && (msg.contains("Broken pipe") || msg.contains("os error 32"))
        {
            std::process::exit(0);
        }
        default(info);
    }));
}

/// True when the error (or one of its causes) is a broken pipe.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// True when stdout is a pipe whose reader has closed it, so a broken-pipe error came from
/// our own output (and not from, say, a network peer).
fn stdout_closed() -> bool {
    let mut p = libc::pollfd {
        fd: libc::STDOUT_FILENO,
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one valid pollfd that we own, and a zero timeout.
    let n = unsafe { libc::poll(&mut p, 1, 0) };
    n > 0 && p.revents & libc::POLLERR != 0
}

fn run(cli: Cli, index_flag: bool, store_flag: bool) -> Result<ExitCode> {
    let config = cairn::Config::load(cli.config.as_deref())?;
    let mut chosen = cli.index.or_else(|| config.index.path.clone());
    let mut index_flag = index_flag;
    let store = match (&cli.store, &config.store.url) {
        (Some(u), _) => Some((u.as_str(), "--store (or CAIRN_STORE)")),
        (None, Some(u)) => Some((u.as_str(), "config store.url")),
        (None, None) => None,
    };
    let store = match store {
        Some((u, from)) => match cairn_vectordb::StoreUrl::parse(u).context(from)? {
            // A folder is the embedded index, whichever way it was named.
            cairn_vectordb::StoreUrl::Embedded { dir } => {
                chosen = Some(dir);
                index_flag |= store_flag;
                None
            }
            url => Some(url),
        },
        None => None,
    };
    let index_chosen = chosen.is_some();
    let index = chosen.unwrap_or_else(|| PathBuf::from(".cairn"));
    let model_dir = cli.model_dir.or_else(|| config.models.dir.clone());
    let g = Globals {
        index,
        index_chosen,
        index_flag,
        store_flag: store_flag && store.is_some(),
        store,
        model_dir,
        quiet: cli.quiet,
        config,
    };
    match cli.command {
        Command::Ingest(a) => ingest::run(&g, a),
        Command::Search(a) => search::run(&g, a),
        Command::Eval(c) => eval::run(&g, c),
        Command::Bench(c) => bench::run(&g, c),
        Command::Ask(a) => ask::run(&g, a),
        Command::Chat(a) => chat::run(&g, a),
        Command::Cost(a) => cost::run(&g, a),
        Command::Serve(a) => serve::run(&g, a),
        Command::Keys(c) => serve::keys(&g, c),
        Command::Index(c) => index_cmd::run(&g, c),
        Command::Info { json } if g.store.is_some() => {
            store::info(g.store.as_ref().expect("checked"), json)
        }
        Command::Info { json } => {
            let i = cairn_store::Index::open(&g.index)?.info()?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "index": g.index, "model": i.model, "dim": i.dim,
                        "generation": i.generation, "documents": i.documents, "chunks": i.chunks,
                    })
                );
            } else {
                println!(
                    "{}: {} documents, {} chunks, model {} ({}-d), generation {}",
                    g.index.display(),
                    i.documents,
                    i.chunks,
                    i.model,
                    i.dim,
                    i.generation
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Models(ModelsCommand::Fetch { generators }) => {
            // The generator has its own folder: `--model-dir` names the embedder's.
            let resolver = cairn_models::Resolver::from_env_with_dir_var(None);
            let mut wanted = Vec::new();
            for name in &generators {
                let bare = name.strip_prefix("local:").unwrap_or(name);
                let known = cairn_models::local_chat_model(bare).ok_or_else(|| {
                    let names: Vec<&str> = cairn_models::LOCAL_CHAT_MODELS
                        .iter()
                        .map(|m| m.name)
                        .collect();
                    anyhow::anyhow!(
                        "models fetch {name}: unknown local generator; use one of {}",
                        names.join(", ")
                    )
                })?;
                wanted.push(known);
            }
            if wanted.is_empty() {
                let m = models::resolve(g.model_dir.as_deref())?;
                println!(
                    "{} ({}): {}",
                    cairn_models::MINILM_L6_V2.name,
                    m.source,
                    m.dir.display()
                );
                wanted.push(&cairn_models::LOCAL_CHAT_MODELS[0]);
            }
            for known in wanted {
                let m = resolver.resolve(known.spec)?;
                println!("{} ({}): {}", known.spec.name, m.source, m.dir.display());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
