//! Building the language model the CLI talks to: flags over `CAIRN_*` variables over
//! `cairn.toml`, provider keys from the official SDKs' variables.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use cairn_llm::middleware::{Ledger, Limits, RetryPolicy};
use cairn_llm::select::{self, StackOptions};
use cairn_llm::{ChatModel, Pricing, Timeouts};

use crate::config::Config;

/// The pricing table: defaults plus `[pricing."provider:model"]` overrides.
pub fn pricing(config: &Config) -> Result<Pricing> {
    let mut p = Pricing::default();
    for (k, v) in &config.pricing {
        p.set(k, *v)
            .map_err(|e| anyhow::anyhow!("cairn.toml [pricing]: {e}"))?;
    }
    Ok(p)
}

/// Where the cost ledger lives: `CAIRN_LEDGER`, `[llm] ledger`, or the user's data folder.
pub fn ledger_path(config: &Config) -> PathBuf {
    if let Some(p) = std::env::var_os("CAIRN_LEDGER").filter(|v| !v.is_empty()) {
        return PathBuf::from(p);
    }
    if let Some(p) = &config.llm.ledger {
        return p.clone();
    }
    dirs::data_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("cairn")
        .join("ledger.sqlite")
}

pub fn open_ledger(config: &Config) -> Result<Arc<Ledger>> {
    let path = ledger_path(config);
    Ok(Arc::new(
        Ledger::open(&path, pricing(config)?).with_context(|| {
            format!(
                "opening the cost ledger {} (set CAIRN_LEDGER to move it)",
                path.display()
            )
        })?,
    ))
}

fn secs(v: Option<f64>, default: Duration, what: &str) -> Result<Duration> {
    match v {
        None => Ok(default),
        Some(s) if s.is_finite() && s > 0.0 => Ok(Duration::from_secs_f64(s)),
        Some(s) => {
            anyhow::bail!("cairn.toml [llm] {what} = {s}: must be a positive number of seconds")
        }
    }
}

pub struct Built {
    pub model: Arc<dyn ChatModel>,
    /// Nothing was configured and the offline model answers: say how to pick a stronger one.
    pub hint: Option<&'static str>,
}

/// The model for `--model` (or config / environment), wrapped in the full middleware stack.
pub fn build(config: &Config, flag_model: Option<&str>, cache: bool) -> Result<Built> {
    let env = select::process_env;
    let spec = select::resolve_spec(flag_model, config.llm.model.as_deref(), &env)?;
    let hint = (flag_model.is_none()
        && config.llm.model.is_none()
        && spec == cairn_llm::providers::local::DEFAULT_SPEC
        && select::process_env("CAIRN_LLM_MODEL").is_none())
    .then_some(select::NOT_CONFIGURED_HINT);
    let mut specs = vec![spec];
    specs.extend(config.llm.fallbacks.iter().cloned());
    let c = &config.llm;
    let d = Timeouts::default();
    let timeouts = Timeouts {
        connect: secs(c.connect_timeout_secs, d.connect, "connect_timeout_secs")?,
        first_byte: secs(
            c.first_byte_timeout_secs,
            d.first_byte,
            "first_byte_timeout_secs",
        )?,
        idle: secs(c.idle_timeout_secs, d.idle, "idle_timeout_secs")?,
        total: secs(c.timeout_secs, d.total, "timeout_secs")?,
    };
    let mut retry = RetryPolicy::default();
    if let Some(n) = c.max_retries {
        retry.max_retries = n;
    }
    let ledger = open_ledger(config)?;
    let cache_on =
        cache || c.cache || std::env::var("CAIRN_LLM_CACHE").is_ok_and(|v| v == "1" || v == "true");
    let cache_dir = cache_on.then(|| {
        c.cache_dir
            .clone()
            .unwrap_or_else(|| cache_base().join("responses"))
    });
    let opts = StackOptions {
        timeouts,
        retry,
        limits: Limits {
            requests_per_minute: c.requests_per_minute,
            tokens_per_minute: c.tokens_per_minute,
        },
        cache_dir,
        ledger: Some(ledger.clone()),
        context_window: c.context_window,
        base_urls: c.base_urls.clone(),
    };
    let model = select::build(&specs, &opts, &env)?;
    Ok(Built { model, hint })
}

/// cairn's cache folder: `CAIRN_CACHE_DIR`, or `cairn` in the user's cache directory.
fn cache_base() -> PathBuf {
    std::env::var_os("CAIRN_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| dirs::cache_dir().map(|d| d.join("cairn")))
        .unwrap_or_else(|| PathBuf::from(".cairn-cache"))
}

/// The judge for `--verify model`: `spec`'s model (else the configured one) with the full
/// middleware stack, its verdicts always cached on disk (`judge/` in cairn's cache folder),
/// so a rerun costs nothing and gives the same verdicts.
pub fn judge(config: &Config, spec: Option<&str>) -> Result<cairn_rag::verify::Judge> {
    let built = build(config, spec, false)?;
    let cached = cairn_llm::middleware::Cache::new(built.model, cache_base().join("judge"));
    Ok(cairn_rag::verify::Judge::new(Arc::new(cached)))
}
