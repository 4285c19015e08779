//! Which chat models a client may name, each built once (so its rate limits, cache and ledger
//! are shared by every request) in the middleware stack the config describes
//! ([`cairn::Config::chat_model`]).
//!
//! A client names a model as cairn does (`openai:gpt-4o-mini`), by its bare name as the
//! OpenAI SDKs and LangChain do (`gpt-4o-mini`, matched against the allowed specs), or as
//! `default`. Only the configured models are allowed (`[llm] model` and its fallbacks, and
//! `[server] models`), so a client cannot spend the server's provider keys on models nobody
//! chose.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cairn_llm::ChatModel;

use crate::error::ApiError;

pub struct Models {
    config: cairn::Config,
    /// The configured default first, then the rest of the allowed specs.
    allowed: Vec<String>,
    built: Mutex<HashMap<String, Arc<dyn ChatModel>>>,
}

impl Models {
    /// The allowed models of `config`; the default is resolved as the CLI resolves it
    /// (`[llm] model`, `CAIRN_LLM_MODEL`, the provider keys set, the offline model).
    pub fn new(config: cairn::Config) -> Result<Self, ApiError> {
        let default = cairn_llm::select::resolve_spec(
            None,
            config.llm.model.as_deref(),
            &cairn_llm::select::process_env,
        )?;
        let mut allowed = vec![default];
        for s in config.llm.fallbacks.iter().chain(&config.server.models) {
            cairn_llm::select::parse_spec(s)
                .map_err(|e| ApiError::invalid("server.models", format!("{s}: {e}")))?;
            if !allowed.contains(s) {
                allowed.push(s.clone());
            }
        }
        Ok(Models {
            config,
            allowed,
            built: Mutex::new(HashMap::new()),
        })
    }

    pub fn config(&self) -> &cairn::Config {
        &self.config
    }

    /// The specs `/v1/models` lists, the default first.
    pub fn allowed(&self) -> &[String] {
        &self.allowed
    }

    pub fn default_spec(&self) -> &str {
        &self.allowed[0]
    }

    /// The spec a request's `model` names, or 404 listing what may be named.
    pub fn resolve(&self, name: &str) -> Result<String, ApiError> {
        if name == "default" {
            return Ok(self.default_spec().to_string());
        }
        if self.allowed.iter().any(|s| s == name) {
            return Ok(name.to_string());
        }
        if !name.contains(':') {
            if let Some(s) = self
                .allowed
                .iter()
                .find(|s| s.split_once(':').is_some_and(|(_, n)| n == name))
            {
                return Ok(s.clone());
            }
        }
        Err(ApiError::not_found(
            format!(
                "the model {name:?} is not served here: use one of {} (or rag:<collection>); \
                 add models to [server] models in cairn.toml",
                self.allowed.join(", ")
            ),
            "model_not_found",
        )
        .with_param("model"))
    }

    /// The model for an allowed spec, built on first use.
    pub fn get(&self, spec: &str) -> Result<Arc<dyn ChatModel>, ApiError> {
        if let Some(m) = self.built.lock().expect("models lock").get(spec) {
            return Ok(m.clone());
        }
        let model = self.config.chat_model(Some(spec), false)?.model;
        let mut built = self.built.lock().expect("models lock");
        Ok(built.entry(spec.to_string()).or_insert(model).clone())
    }

    /// Puts a model in place of a spec's stack (tests; a library user's own model).
    pub fn insert(&mut self, spec: &str, model: Arc<dyn ChatModel>) {
        if !self.allowed.iter().any(|s| s == spec) {
            self.allowed.push(spec.to_string());
        }
        self.built
            .lock()
            .expect("models lock")
            .insert(spec.to_string(), model);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_names_and_default_resolve_to_allowed_specs_only() {
        let config = cairn::Config::parse(
            "[llm]\nmodel = \"openai:gpt-4o-mini\"\nfallbacks = [\"anthropic:claude-haiku-4-5\"]\n\
             [server]\nmodels = [\"gemini:gemini-2.5-flash\"]\n",
        )
        .unwrap();
        let m = Models::new(config).unwrap();
        assert_eq!(m.resolve("default").unwrap(), "openai:gpt-4o-mini");
        assert_eq!(m.resolve("gpt-4o-mini").unwrap(), "openai:gpt-4o-mini");
        assert_eq!(
            m.resolve("claude-haiku-4-5").unwrap(),
            "anthropic:claude-haiku-4-5"
        );
        assert_eq!(
            m.resolve("gemini:gemini-2.5-flash").unwrap(),
            "gemini:gemini-2.5-flash"
        );
        let e = m.resolve("openai:gpt-5").unwrap_err();
        assert_eq!((e.status.as_u16(), e.code), (404, Some("model_not_found")));
        assert!(e.message.contains("openai:gpt-4o-mini"), "{}", e.message);
    }
}
