//! Choosing and building a model: `provider:name` specs, the official SDKs' environment
//! variables for keys and base URLs, and the middleware stack around each model.

use std::path::PathBuf;
use std::sync::Arc;

use crate::error::LlmError;
use crate::middleware::{
    Cache, ContextGuard, Fallback, Ledger, Ledgered, Limits, RateLimit, Retry, RetryPolicy,
};
use crate::model::ChatModel;
use crate::providers::{anthropic, gemini, local, ollama, openai, Endpoint};
use crate::transport::{Timeouts, Transport};

pub const PROVIDERS: &[&str] = &["openai", "anthropic", "gemini", "ollama", "local"];

/// Reads an environment variable; injectable so tests and servers do not touch the process
/// environment.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

pub fn process_env(k: &str) -> Option<String> {
    std::env::var(k).ok().filter(|v| !v.trim().is_empty())
}

/// `provider:name`, split and checked.
pub fn parse_spec(spec: &str) -> Result<(String, String), LlmError> {
    let (p, m) = spec.split_once(':').ok_or_else(|| {
        LlmError::InvalidRequest(format!(
            "model {spec:?}: expected provider:name, e.g. openai:gpt-4o-mini, anthropic:claude-sonnet-4-5, gemini:gemini-2.5-flash, ollama:llama3.2"
        ))
    })?;
    if !PROVIDERS.contains(&p) {
        return Err(LlmError::InvalidRequest(format!(
            "model {spec:?}: unknown provider {p:?}; use one of {} (OpenAI-compatible servers use openai: with OPENAI_BASE_URL)",
            PROVIDERS.join(", ")
        )));
    }
    if m.trim().is_empty() {
        return Err(LlmError::InvalidRequest(format!(
            "model {spec:?}: the model name after {p:?} is empty"
        )));
    }
    Ok((p.to_string(), m.to_string()))
}

/// The model to use: the flag, then config, then `CAIRN_LLM_MODEL`, then the first provider
/// whose standard variable is set. When nothing is, the offline model answers
/// ([`local::DEFAULT_SPEC`]); [`NOT_CONFIGURED_HINT`] tells users how to pick a stronger one.
/// Built without the `local` feature there is no offline model: nothing configured is then
/// `LlmError::NotConfigured`, naming what was checked.
pub fn resolve_spec(
    flag: Option<&str>,
    config: Option<&str>,
    env: EnvLookup,
) -> Result<String, LlmError> {
    if let Some(s) = flag.or(config) {
        return Ok(s.to_string());
    }
    if let Some(s) = env("CAIRN_LLM_MODEL") {
        return Ok(s);
    }
    let detect: &[(&[&str], &str)] = &[
        (&["OPENAI_API_KEY", "OPENAI_BASE_URL"], "openai:gpt-4o-mini"),
        (&["ANTHROPIC_API_KEY"], "anthropic:claude-haiku-4-5"),
        (
            &["GOOGLE_API_KEY", "GEMINI_API_KEY"],
            "gemini:gemini-2.5-flash",
        ),
        (&["OLLAMA_HOST"], "ollama:llama3.2"),
    ];
    for (vars, spec) in detect {
        if vars.iter().any(|v| env(v).is_some()) {
            return Ok(spec.to_string());
        }
    }
    if cfg!(feature = "local") {
        Ok(local::DEFAULT_SPEC.to_string())
    } else {
        Err(LlmError::NotConfigured(NOT_CONFIGURED_NO_LOCAL.to_string()))
    }
}

/// What [`resolve_spec`] says when nothing is configured and there is no offline model.
pub const NOT_CONFIGURED_NO_LOCAL: &str =
    "no model configured (checked --model, [llm] model in cairn.toml, CAIRN_LLM_MODEL, \
     OPENAI_API_KEY / OPENAI_BASE_URL, ANTHROPIC_API_KEY, GOOGLE_API_KEY / GEMINI_API_KEY, \
     OLLAMA_HOST), and this build has no offline model (built without the `local` feature). \
     Set one, e.g. `export OPENAI_API_KEY=sk-...`, or pass --model ollama:llama3.2 with Ollama \
     running.";

/// Shown when the offline default answered because nothing else is configured.
pub const NOT_CONFIGURED_HINT: &str =
    "answered offline by local:smollm2-135m-instruct (no provider \
     configured: checked --model, [llm] model in cairn.toml, CAIRN_LLM_MODEL, OPENAI_API_KEY / \
     OPENAI_BASE_URL, ANTHROPIC_API_KEY, GOOGLE_API_KEY / GEMINI_API_KEY, OLLAMA_HOST). For better \
     answers set one, e.g. `export OPENAI_API_KEY=sk-...`, or pass --model ollama:llama3.2 with \
     Ollama running.";

/// The endpoint for a provider from the environment (and an optional base-URL override from
/// config). A missing key is an error only for the provider's own cloud.
pub fn endpoint(
    provider: &str,
    base_override: Option<&str>,
    env: EnvLookup,
    transport: Arc<Transport>,
) -> Result<Endpoint, LlmError> {
    let (base, key, key_vars, default) = match provider {
        "openai" => (
            env("OPENAI_BASE_URL"),
            env("OPENAI_API_KEY"),
            "OPENAI_API_KEY",
            openai::DEFAULT_BASE_URL,
        ),
        "anthropic" => (
            env("ANTHROPIC_BASE_URL"),
            env("ANTHROPIC_API_KEY"),
            "ANTHROPIC_API_KEY",
            anthropic::DEFAULT_BASE_URL,
        ),
        "gemini" => (
            env("GOOGLE_GEMINI_BASE_URL"),
            env("GOOGLE_API_KEY").or_else(|| env("GEMINI_API_KEY")),
            "GOOGLE_API_KEY or GEMINI_API_KEY",
            gemini::DEFAULT_BASE_URL,
        ),
        "ollama" => (
            env("OLLAMA_HOST").map(|h| ollama::host_url(&h)),
            env("OLLAMA_API_KEY"),
            "OLLAMA_API_KEY",
            ollama::DEFAULT_HOST,
        ),
        other => {
            return Err(LlmError::InvalidRequest(format!(
                "unknown provider {other:?}"
            )))
        }
    };
    let base = base_override
        .map(str::to_string)
        .or(base)
        .unwrap_or_else(|| default.to_string());
    if key.is_none() && base == default && provider != "ollama" {
        return Err(LlmError::NotConfigured(format!(
            "{provider}: no API key. Set {key_vars} (or point the base URL at a compatible server)"
        )));
    }
    Ok(Endpoint {
        base_url: base,
        api_key: key,
        transport,
    })
}

/// The bare provider client for a spec.
pub fn provider_model(
    spec: &str,
    base_override: Option<&str>,
    env: EnvLookup,
    transport: Arc<Transport>,
) -> Result<Arc<dyn ChatModel>, LlmError> {
    let (p, m) = parse_spec(spec)?;
    if p == "local" {
        return local_model(spec, m);
    }
    let ep = endpoint(&p, base_override, env, transport)?;
    Ok(match p.as_str() {
        "openai" => Arc::new(openai::OpenAi::new(ep, m)),
        "anthropic" => Arc::new(anthropic::Anthropic::new(ep, m)),
        "gemini" => Arc::new(gemini::Gemini::new(ep, m)),
        _ => Arc::new(ollama::Ollama::new(ep, m)),
    })
}

#[cfg(feature = "local")]
fn local_model(_spec: &str, name: String) -> Result<Arc<dyn ChatModel>, LlmError> {
    Ok(Arc::new(local::Local::new(name)))
}

#[cfg(not(feature = "local"))]
fn local_model(spec: &str, _name: String) -> Result<Arc<dyn ChatModel>, LlmError> {
    Err(LlmError::FeatureDisabled {
        feature: "local",
        what: format!("model {spec:?}"),
    })
}

/// Everything that shapes the middleware stack.
#[derive(Clone, Default)]
pub struct StackOptions {
    pub timeouts: Timeouts,
    pub retry: RetryPolicy,
    pub limits: Limits,
    /// Response cache directory; `None` leaves caching off.
    pub cache_dir: Option<PathBuf>,
    pub ledger: Option<Arc<Ledger>>,
    /// Overrides the known context window of every model in the stack.
    pub context_window: Option<u64>,
    /// Base URL overrides by provider (from config).
    pub base_urls: std::collections::HashMap<String, String>,
}

/// Builds `Cache(Fallback([Ledgered(Retry(RateLimit(ContextGuard(provider)))), ...]))`:
/// each attempt is rate limited, each model retried on its own, each completed call recorded
/// under the model that answered, and cache hits cost nothing.
pub fn build(
    specs: &[String],
    opts: &StackOptions,
    env: EnvLookup,
) -> Result<Arc<dyn ChatModel>, LlmError> {
    let transport = Arc::new(Transport::new(opts.timeouts));
    let mut chain: Vec<Arc<dyn ChatModel>> = Vec::new();
    for spec in specs {
        let (p, _) = parse_spec(spec)?;
        let mut m = provider_model(
            spec,
            opts.base_urls.get(&p).map(String::as_str),
            env,
            transport.clone(),
        )?;
        if let Some(w) = opts
            .context_window
            .or_else(|| crate::tokens::context_window(&m.id()))
        {
            m = Arc::new(ContextGuard::new(m, w));
        }
        if opts.limits.requests_per_minute.is_some() || opts.limits.tokens_per_minute.is_some() {
            m = Arc::new(RateLimit::new(m, opts.limits));
        }
        m = Arc::new(Retry::new(m, opts.retry.clone()));
        if let Some(l) = &opts.ledger {
            m = Arc::new(Ledgered::new(m, l.clone()));
        }
        chain.push(m);
    }
    let mut m: Arc<dyn ChatModel> = if chain.len() == 1 {
        chain.pop().expect("one")
    } else {
        Arc::new(Fallback::new(chain)?)
    };
    if let Some(dir) = &opts.cache_dir {
        m = Arc::new(Cache::new(m, dir.clone()));
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn resolution_order_and_the_offline_default() {
        let none = env_of(&[]);
        #[cfg(feature = "local")]
        assert_eq!(
            resolve_spec(None, None, &none).unwrap(),
            local::DEFAULT_SPEC
        );
        #[cfg(not(feature = "local"))]
        assert!(matches!(
            resolve_spec(None, None, &none),
            Err(LlmError::NotConfigured(m)) if m.contains("without the `local` feature")
        ));
        let e = NOT_CONFIGURED_HINT;
        for v in [
            "OPENAI_API_KEY",
            "ANTHROPIC_API_KEY",
            "GEMINI_API_KEY",
            "OLLAMA_HOST",
            "--model",
        ] {
            assert!(e.contains(v), "{e}");
        }
        let env = env_of(&[("ANTHROPIC_API_KEY", "k"), ("OLLAMA_HOST", "x")]);
        assert_eq!(
            resolve_spec(None, None, &env).unwrap(),
            "anthropic:claude-haiku-4-5"
        );
        assert_eq!(
            resolve_spec(None, Some("ollama:q"), &env).unwrap(),
            "ollama:q"
        );
        assert_eq!(
            resolve_spec(Some("openai:o3"), Some("ollama:q"), &env).unwrap(),
            "openai:o3"
        );
        assert!(parse_spec("gpt-4o").is_err());
        assert!(parse_spec("mistral:large")
            .unwrap_err()
            .to_string()
            .contains("unknown provider"));
    }

    #[test]
    fn local_models_need_the_local_feature() {
        let t = Arc::new(Transport::new(Default::default()));
        let none = env_of(&[]);
        let r = provider_model("local:smollm2-135m-instruct", None, &none, t);
        #[cfg(feature = "local")]
        {
            let m = r.unwrap();
            assert_eq!(m.id().to_string(), "local:smollm2-135m-instruct");
            assert_eq!(m.profile().prompt, crate::PromptKind::Compact);
            assert_eq!(m.profile().source_budget, 700);
        }
        #[cfg(not(feature = "local"))]
        match r {
            Err(
                e @ LlmError::FeatureDisabled {
                    feature: "local", ..
                },
            ) => {
                let msg = e.to_string();
                assert!(msg.contains("built without the `local` feature"), "{msg}");
                assert!(msg.contains("local:smollm2-135m-instruct"), "{msg}");
            }
            Err(e) => panic!("{e}"),
            Ok(m) => panic!("built {}", m.id()),
        }
        // Selection through `build` says the same.
        #[cfg(not(feature = "local"))]
        assert!(matches!(
            build(
                &["local:x.gguf".to_string()],
                &StackOptions::default(),
                &none
            ),
            Err(LlmError::FeatureDisabled { .. })
        ));
    }

    #[test]
    fn keys_come_from_the_sdk_variables_and_google_wins() {
        let t = Arc::new(Transport::new(Default::default()));
        let env = env_of(&[("GOOGLE_API_KEY", "g"), ("GEMINI_API_KEY", "m")]);
        let ep = endpoint("gemini", None, &env, t.clone()).unwrap();
        assert_eq!(ep.api_key.as_deref(), Some("g"));
        assert!(!format!("{ep:?}").contains('g') || format!("{ep:?}").contains("redacted"));
        let none = env_of(&[]);
        let e = endpoint("openai", None, &none, t.clone())
            .unwrap_err()
            .to_string();
        assert!(e.contains("OPENAI_API_KEY"), "{e}");
        // A compatible server needs no key.
        let env = env_of(&[("OPENAI_BASE_URL", "http://127.0.0.1:8000/v1")]);
        assert!(endpoint("openai", None, &env, t.clone()).is_ok());
        let env = env_of(&[("OLLAMA_HOST", "127.0.0.1:5000")]);
        assert_eq!(
            endpoint("ollama", None, &env, t).unwrap().base_url,
            "http://127.0.0.1:5000"
        );
    }
}
