//! `cairn serve` and `cairn keys`: the server is `cairn_serve::build` over the config; this
//! file parses flags, binds, and prints where it listens.

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::{Context, Result};
use cairn_serve::{KeyStore, NewKey};

use crate::Globals;

#[derive(clap::Args)]
#[command(after_help = "Examples:
  cairn serve                                   the index in .cairn as collection \"default\"
  cairn serve --collection docs=./docs-index --collection wiki=postgres://localhost/db?collection=wiki
  curl localhost:8080/v1/chat/completions -H 'content-type: application/json' \\
    -d '{\"model\": \"rag:default\", \"messages\": [{\"role\": \"user\", \"content\": \"How are trails marked?\"}]}'

Without API keys the server listens on loopback only; create one with `cairn keys create`
and clients send it as Authorization: Bearer <key>.")]
pub struct Args {
    /// Address to listen on [config: server.bind; default 127.0.0.1]
    #[arg(long)]
    bind: Option<String>,
    /// Port [config: server.port; default 8080; 0 picks a free one]
    #[arg(long, short)]
    port: Option<u16>,
    /// A collection to serve, NAME=DIR or NAME=STORE_URL (repeatable) [config:
    /// [server.collections]; default: the index (or --store) as "default"]
    #[arg(long, value_name = "NAME=LOCATION")]
    collection: Vec<String>,
    /// The model that answers rag: requests and /v1/ask by default [config: llm.model]
    #[arg(short, long)]
    model: Option<String>,
    /// Largest request body in MiB; bigger ones get 413 [config: server.max_body_mb; default 32]
    #[arg(long, value_name = "MIB")]
    max_body_mb: Option<u64>,
    /// Requests served at once; past it 503 with Retry-After [config: server.concurrency;
    /// default 64]
    #[arg(long)]
    concurrency: Option<usize>,
}

pub fn run(g: &Globals, a: Args) -> Result<ExitCode> {
    let mut config = g.config.clone();
    if let Some(m) = a.model {
        config.llm.model = Some(m);
    }
    if let Some(n) = a.max_body_mb {
        anyhow::ensure!(
            n > 0,
            "--max-body-mb 0 would refuse every request: pass at least 1"
        );
        config.server.max_body_mb = n;
    }
    if let Some(n) = a.concurrency {
        anyhow::ensure!(
            n > 0,
            "--concurrency 0 would refuse every request: pass at least 1"
        );
        config.server.concurrency = n;
    }
    let mut collections = Vec::new();
    for c in &a.collection {
        let (name, location) = c
            .split_once('=')
            .filter(|(n, l)| !n.is_empty() && !l.is_empty())
            .with_context(|| format!("--collection {c}: use NAME=DIR or NAME=STORE_URL"))?;
        collections.push((name.to_string(), location.to_string()));
    }
    if collections.is_empty() && config.server.collections.is_empty() {
        let location = match &g.store {
            Some(url) => url.to_string(),
            None => g.index.display().to_string(),
        };
        collections.push(("default".to_string(), location));
    }
    let bind = a.bind.unwrap_or_else(|| config.server.bind.clone());
    let port = a.port.unwrap_or(config.server.port);
    let addr: SocketAddr = format!("{bind}:{port}")
        .parse()
        .or_else(|_| format!("[{bind}]:{port}").parse())
        .with_context(|| format!("--bind {bind}: not an IP address (e.g. 127.0.0.1 or 0.0.0.0)"))?;
    let opts = cairn_serve::ServeOptions {
        collections,
        keys: config.keys_path(),
        model_dir: g.model_dir.clone(),
    };
    let rt = crate::runtime()?;
    rt.block_on(async move {
        let state = cairn_serve::build(config, opts).await?;
        cairn_serve::app::check_bind(&addr, state.require_keys).map_err(anyhow::Error::msg)?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("listening on {addr}"))?;
        let local = listener.local_addr()?;
        let names: Vec<&str> = state.collections.keys().map(String::as_str).collect();
        eprintln!(
            "cairn serve: listening on http://{local} · collections {} · default model {} · {}",
            names.join(", "),
            state.models.default_spec(),
            if state.require_keys {
                "API keys required"
            } else {
                "no API keys: loopback only, no authentication"
            }
        );
        let app = cairn_serve::router(std::sync::Arc::new(state));
        cairn_serve::serve(listener, app, cairn_serve::app::shutdown_signal()).await?;
        eprintln!("cairn serve: stopped");
        Ok(ExitCode::SUCCESS)
    })
}

#[derive(clap::Subcommand)]
pub enum KeysCommand {
    /// Create an API key; it is printed once and stored only as a hash
    Create {
        /// A name to list and revoke it by
        #[arg(long)]
        name: String,
        /// Stop serving model calls once the key has spent this many dollars
        #[arg(long, value_name = "USD")]
        budget_usd: Option<f64>,
        /// Requests per minute allowed
        #[arg(long)]
        rpm: Option<u32>,
        /// The only collections it may use (comma-separated) [default: all]
        #[arg(long, value_delimiter = ',')]
        collections: Option<Vec<String>>,
        /// Print as JSON
        #[arg(long)]
        json: bool,
    },
    /// List keys (never their secrets) with spend and limits
    List {
        /// Print as JSON
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key: requests with it get 401 from then on
    Revoke {
        /// The key's name
        name: String,
    },
}

pub fn keys(g: &Globals, c: KeysCommand) -> Result<ExitCode> {
    let path = g.config.keys_path();
    let ks = KeyStore::open(&path)?;
    match c {
        KeysCommand::Create {
            name,
            budget_usd,
            rpm,
            collections,
            json,
        } => {
            let (secret, info) = ks
                .create(&NewKey {
                    name,
                    budget_usd,
                    rpm,
                    collections,
                })
                .map_err(|e| match e {
                    cairn_serve::keys::KeyError::Invalid { param, message } => {
                        anyhow::anyhow!("--{}: {message}", param.replace('_', "-"))
                    }
                    e => e.into(),
                })?;
            if json {
                let mut v = serde_json::to_value(&info)?;
                v["key"] = serde_json::json!(secret);
                println!("{v}");
            } else {
                println!("{secret}");
                if !g.quiet {
                    eprintln!(
                        "[key {:?} created in {}: this is the only time it is shown; clients send it as Authorization: Bearer <key>]",
                        info.name,
                        path.display()
                    );
                }
            }
        }
        KeysCommand::List { json } => {
            let list = ks.list()?;
            if json {
                println!("{}", serde_json::to_value(&list)?);
            } else if list.is_empty() {
                println!(
                    "no keys in {} (the server runs without keys, loopback only)",
                    path.display()
                );
            } else {
                for k in list {
                    println!(
                        "{:<16} {}…  spent ${:.4}{}{}{}{}",
                        k.name,
                        k.prefix,
                        k.spent_usd,
                        k.budget_usd
                            .map(|b| format!(" of ${b:.2}"))
                            .unwrap_or_default(),
                        k.rpm.map(|r| format!(" · {r} rpm")).unwrap_or_default(),
                        k.collections
                            .map(|c| format!(" · collections {}", c.join(",")))
                            .unwrap_or_default(),
                        k.revoked
                            .map(|r| format!(" · revoked {r}"))
                            .unwrap_or_default(),
                    );
                }
            }
        }
        KeysCommand::Revoke { name } => {
            let k = ks.revoke(&name)?;
            println!("revoked {:?}", k.name);
        }
    }
    Ok(ExitCode::SUCCESS)
}
