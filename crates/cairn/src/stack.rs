//! The language model a [`Config`] describes: the spec (argument, `[llm] model`,
//! `CAIRN_LLM_MODEL`, then whichever provider key is set, else the offline model) and its
//! fallbacks, wrapped in the whole middleware stack (timeouts, retries, rate limits, the
//! optional response cache, the cost ledger). The CLI and the server build models only here.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cairn_llm::middleware::{Ledger, Limits, RetryPolicy};
use cairn_llm::select::{self, StackOptions};
use cairn_llm::{ChatModel, LlmError, Pricing, Timeouts};

use crate::Config;

#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error("config [pricing] {key}: {reason}")]
    Pricing { key: String, reason: String },
    #[error("config [llm] {key} = {value}: must be a positive number of seconds")]
    Seconds { key: &'static str, value: f64 },
    #[error("opening the cost ledger {}: {source} (set CAIRN_LEDGER to move it)", path.display())]
    Ledger {
        path: PathBuf,
        #[source]
        source: Box<LlmError>,
    },
    #[error(transparent)]
    Llm(Box<LlmError>),
}

impl From<LlmError> for StackError {
    fn from(e: LlmError) -> Self {
        StackError::Llm(Box::new(e))
    }
}

impl cairn_core::Classify for StackError {
    fn class(&self) -> cairn_core::ErrorClass {
        match self {
            StackError::Llm(e) | StackError::Ledger { source: e, .. } => e.class(),
            _ => cairn_core::ErrorClass::InvalidInput,
        }
    }
}

/// A model with its middleware, and the ledger it books into.
pub struct Stack {
    pub model: Arc<dyn ChatModel>,
    pub ledger: Arc<Ledger>,
    /// Nothing was configured and the offline model answers: how to pick a stronger one.
    pub hint: Option<&'static str>,
}

/// cairn's cache folder: `CAIRN_CACHE_DIR`, or `cairn` in the user's cache directory.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("CAIRN_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| dirs::cache_dir().map(|d| d.join("cairn")))
        .unwrap_or_else(|| PathBuf::from(".cairn-cache"))
}

fn secs(v: Option<f64>, default: Duration, key: &'static str) -> Result<Duration, StackError> {
    match v {
        None => Ok(default),
        Some(s) if s.is_finite() && s > 0.0 => Ok(Duration::from_secs_f64(s)),
        Some(value) => Err(StackError::Seconds { key, value }),
    }
}

impl Config {
    /// The pricing table: defaults plus `[pricing."provider:model"]` overrides.
    pub fn pricing(&self) -> Result<Pricing, StackError> {
        let mut p = Pricing::default();
        for (k, v) in &self.pricing {
            p.set(k, *v).map_err(|reason| StackError::Pricing {
                key: k.clone(),
                reason,
            })?;
        }
        Ok(p)
    }

    /// Where the server's API keys live: `CAIRN_KEYS`, `[server] keys`, or the user's data
    /// folder.
    pub fn keys_path(&self) -> PathBuf {
        if let Some(p) = std::env::var_os("CAIRN_KEYS").filter(|v| !v.is_empty()) {
            return PathBuf::from(p);
        }
        if let Some(p) = &self.server.keys {
            return p.clone();
        }
        dirs::data_dir()
            .unwrap_or_else(|| PathBuf::from("."))
            .join("cairn")
            .join("keys.sqlite")
    }

    /// Where the cost ledger lives: `CAIRN_LEDGER`, `[llm] ledger`, or the user's data folder.
    pub fn ledger_path(&self) -> PathBuf {
        if let Some(p) = std::env::var_os("CAIRN_LEDGER").filter(|v| !v.is_empty()) {
            return PathBuf::from(p);
        }
        if let Some(p) = &self.llm.ledger {
            return p.clone();
        }
        dirs::data_dir()
            .unwrap_or_else(|| PathBuf::from("."))
            .join("cairn")
            .join("ledger.sqlite")
    }

    pub fn open_ledger(&self) -> Result<Arc<Ledger>, StackError> {
        let path = self.ledger_path();
        Ok(Arc::new(Ledger::open(&path, self.pricing()?).map_err(
            |source| StackError::Ledger {
                path,
                source: Box::new(source),
            },
        )?))
    }

    /// The model `spec` names (else the configured one), in the full middleware stack;
    /// `cache` turns the response cache on (as `[llm] cache` and `CAIRN_LLM_CACHE=1` do).
    pub fn chat_model(&self, spec: Option<&str>, cache: bool) -> Result<Stack, StackError> {
        let env = select::process_env;
        let resolved = select::resolve_spec(spec, self.llm.model.as_deref(), &env)?;
        let hint = (spec.is_none()
            && self.llm.model.is_none()
            && resolved == cairn_llm::providers::local::DEFAULT_SPEC
            && env("CAIRN_LLM_MODEL").is_none())
        .then_some(select::NOT_CONFIGURED_HINT);
        let mut specs = vec![resolved];
        specs.extend(self.llm.fallbacks.iter().cloned());
        let c = &self.llm;
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
        let ledger = self.open_ledger()?;
        let cache_on = cache
            || c.cache
            || std::env::var("CAIRN_LLM_CACHE").is_ok_and(|v| v == "1" || v == "true");
        let cache_dir = cache_on.then(|| {
            c.cache_dir
                .clone()
                .unwrap_or_else(|| cache_dir().join("responses"))
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
        Ok(Stack {
            model,
            ledger,
            hint,
        })
    }

    /// A remote embedding model, `provider:model` (openai, gemini or ollama), its endpoint
    /// from the environment and `[llm] base_urls` as a chat model's is, with `[llm]
    /// max_retries`; it is asked once for its vector size, so a wrong key fails here.
    pub async fn remote_embedder(
        &self,
        spec: &str,
    ) -> Result<cairn_llm::embed::RemoteEmbedder, StackError> {
        use cairn_llm::embed::{EmbedProvider, RemoteEmbedder};
        let bad = |why: String| StackError::from(LlmError::InvalidRequest(why));
        let (provider, model) = spec
            .split_once(':')
            .filter(|(p, m)| !p.is_empty() && !m.is_empty())
            .ok_or_else(|| {
                bad(format!(
                    "embedding model {spec:?}: expected provider:model, e.g. \
                     openai:text-embedding-3-small"
                ))
            })?;
        let kind = match provider {
            "openai" => EmbedProvider::OpenAi,
            "gemini" => EmbedProvider::Gemini,
            "ollama" => EmbedProvider::Ollama,
            other => {
                return Err(bad(format!(
                    "embedding model {spec:?}: {other:?} has no embeddings here: use openai, \
                     gemini or ollama"
                )))
            }
        };
        let transport = Arc::new(cairn_llm::transport::Transport::new(Timeouts::default()));
        let endpoint = select::endpoint(
            provider,
            self.llm.base_urls.get(provider).map(String::as_str),
            &select::process_env,
            transport,
        )?;
        let mut retry = RetryPolicy::default();
        if let Some(n) = self.llm.max_retries {
            retry.max_retries = n;
        }
        Ok(RemoteEmbedder::connect(kind, endpoint, model)
            .await?
            .with_retry(retry))
    }

    /// The judge for model-checked citations: `spec`'s model (else the configured one) in
    /// the full stack, its verdicts always cached on disk (`judge/` in cairn's cache folder),
    /// so a rerun costs nothing and gives the same verdicts.
    #[cfg(feature = "rag")]
    pub fn judge(&self, spec: Option<&str>) -> Result<cairn_rag::verify::Judge, StackError> {
        Ok(cairn_rag::verify::Judge::new(self.judge_model(spec)?))
    }

    /// A judge model (`spec`, else the configured one) in the full stack, every reply cached
    /// on disk (`judge/` in cairn's cache folder) by model and request: what `eval rag`'s
    /// judge metrics and the citation judge call, so reruns are free and identical.
    pub fn judge_model(&self, spec: Option<&str>) -> Result<Arc<dyn ChatModel>, StackError> {
        let stack = self.chat_model(spec, false)?;
        Ok(Arc::new(cairn_llm::middleware::Cache::new(
            stack.model,
            cache_dir().join("judge"),
        )))
    }
}
