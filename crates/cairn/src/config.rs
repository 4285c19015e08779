//! Settings: `cairn.toml` (in the current folder, or a path the caller names), typed and
//! shared by the CLI and the server. Every section is optional and a partial section takes the
//! defaults for what it omits; unknown keys are errors (a typo never goes unnoticed).
//! Environment variables (`CAIRN_*`) and flags override it in the callers.

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// A config file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {} does not exist", .0.display())]
    Missing(PathBuf),
    #[error("reading config file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {} is not valid: {message} (sections: {SECTIONS})", path.display())]
    Invalid { path: PathBuf, message: String },
}

impl cairn_core::Classify for ConfigError {
    fn class(&self) -> cairn_core::ErrorClass {
        cairn_core::ErrorClass::InvalidInput
    }
}

const SECTIONS: &str = "[index] path; [store] url; [chunking] max_tokens, overlap, strategy, \
breakpoint_percentile; [search] mode, k, dense_weight, bm25_weight, rrf_k, candidates; [models] dir; \
[chat] index; [server] bind, port, collections, models, embedding_models, keys, max_body_mb, \
request_timeout_secs, concurrency, cors_origins; [llm] model, fallbacks, max_retries, *_timeout_secs, requests_per_minute, \
tokens_per_minute, cache, cache_dir, ledger, context_window, base_urls; \
[pricing.\"provider:model\"] input, cached_input, cache_write, output";

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub index: IndexConfig,
    #[serde(default)]
    pub store: StoreConfig,
    #[serde(default)]
    pub chunking: ChunkingConfig,
    #[serde(default)]
    pub search: SearchConfig,
    #[serde(default)]
    pub models: ModelsConfig,
    #[serde(default)]
    pub llm: LlmConfig,
    #[serde(default)]
    pub chat: ChatConfig,
    #[serde(default)]
    pub server: ServerConfig,
    /// Price overrides, keyed `provider:model-prefix`, in USD per million tokens.
    #[serde(default)]
    pub pricing: std::collections::BTreeMap<String, cairn_llm::Price>,
}

/// `[llm]`: which model answers and the middleware around it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmConfig {
    /// `provider:name`, e.g. `openai:gpt-4o-mini` (like `--model`).
    pub model: Option<String>,
    /// Models tried in order when the main one fails.
    #[serde(default)]
    pub fallbacks: Vec<String>,
    pub max_retries: Option<u32>,
    pub connect_timeout_secs: Option<f64>,
    pub first_byte_timeout_secs: Option<f64>,
    pub idle_timeout_secs: Option<f64>,
    pub timeout_secs: Option<f64>,
    pub requests_per_minute: Option<u32>,
    pub tokens_per_minute: Option<u32>,
    /// Cache responses on disk (opt-in).
    #[serde(default)]
    pub cache: bool,
    pub cache_dir: Option<PathBuf>,
    /// The cost ledger (SQLite) [env: CAIRN_LEDGER].
    pub ledger: Option<PathBuf>,
    /// Overrides the model's context window, in tokens.
    pub context_window: Option<u64>,
    /// Base URLs by provider (`openai = "http://localhost:8000/v1"`).
    #[serde(default)]
    pub base_urls: std::collections::HashMap<String, String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexConfig {
    pub path: Option<PathBuf>,
}

/// `[store]`: a database store (`postgres://…`, `chroma://…`, `qdrant://…`) that `ingest`,
/// `search` and `ask` use instead of the embedded index.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    pub url: Option<String>,
}

/// `[server]`: what `cairn serve` listens on, serves and allows.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// The address to bind; without API keys only a loopback address is allowed.
    pub bind: String,
    pub port: u16,
    /// Collections by name: an index folder or a store URL (`postgres://…`, `chroma://…`).
    pub collections: std::collections::BTreeMap<String, String>,
    /// `provider:name` specs clients may ask for and `/v1/models` lists, beside `[llm] model`
    /// and its fallbacks.
    pub models: Vec<String>,
    /// Remote embedding models `/v1/embeddings` serves beside the local MiniLM, as
    /// `provider:model` (openai, gemini, ollama).
    pub embedding_models: Vec<String>,
    /// The API keys database (SQLite) [default: keys.sqlite in the user's data folder;
    /// env: CAIRN_KEYS].
    pub keys: Option<PathBuf>,
    /// Largest request body, in MiB.
    pub max_body_mb: u64,
    /// A request still running after this long is answered 504 (streams: the time to the
    /// first byte).
    pub request_timeout_secs: f64,
    /// Requests served at once; beyond it the server answers 503 with `Retry-After`.
    pub concurrency: usize,
    /// Origins allowed by CORS (empty: CORS off).
    pub cors_origins: Vec<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: "127.0.0.1".into(),
            port: 8080,
            collections: Default::default(),
            models: Vec::new(),
            embedding_models: Vec::new(),
            keys: None,
            max_body_mb: 32,
            request_timeout_secs: 300.0,
            concurrency: 64,
            cors_origins: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChunkingConfig {
    /// Largest chunk in the embedding model's tokens.
    pub max_tokens: usize,
    pub overlap: usize,
    /// `recursive` or `semantic`.
    pub strategy: String,
    /// Semantic chunking: split where adjacent-sentence distance exceeds this percentile.
    pub breakpoint_percentile: u8,
}

impl Default for ChunkingConfig {
    fn default() -> Self {
        ChunkingConfig {
            max_tokens: 254,
            overlap: 32,
            strategy: "recursive".into(),
            breakpoint_percentile: 95,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SearchConfig {
    pub mode: String,
    pub k: usize,
    pub dense_weight: f32,
    pub bm25_weight: f32,
    pub rrf_k: f32,
    pub candidates: usize,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            mode: "hybrid".into(),
            k: 10,
            dense_weight: 1.0,
            bm25_weight: 1.0,
            rrf_k: 60.0,
            candidates: 100,
        }
    }
}

#[cfg(feature = "rag")]
impl SearchConfig {
    /// The search these settings describe, every number checked; the error names the key.
    pub fn options(&self) -> Result<cairn_rag::SearchOptions, String> {
        let count = |key: &str, v: usize| {
            if v == 0 {
                Err(format!("config search.{key} = 0: must be at least 1"))
            } else {
                Ok(v)
            }
        };
        let weight = |key: &str, v: f32| {
            if !v.is_finite() || v < 0.0 {
                Err(format!(
                    "config search.{key} = {v}: use a finite number ≥ 0"
                ))
            } else {
                Ok(v)
            }
        };
        Ok(cairn_rag::SearchOptions {
            mode: self
                .mode
                .parse()
                .map_err(|e: String| format!("config search.mode: {e}"))?,
            k: count("k", self.k)?,
            dense_weight: weight("dense_weight", self.dense_weight)?,
            bm25_weight: weight("bm25_weight", self.bm25_weight)?,
            rrf_k: weight("rrf_k", self.rrf_k)?,
            candidates: count("candidates", self.candidates)?,
            ..Default::default()
        })
    }
}

/// `[chat]`: plain `cairn chat` talks to the model; it answers from an index only when asked
/// (`--index` on the command line, or `index` here).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatConfig {
    /// Answer every chat turn from this index, with citations.
    pub index: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelsConfig {
    /// A folder holding the embedding model's files (like `--model-dir`).
    pub dir: Option<PathBuf>,
}

impl Config {
    /// Loads the config file if there is one: `explicit` must exist; without it,
    /// `cairn.toml` in the current folder is read when present.
    pub fn load(explicit: Option<&Path>) -> Result<Config, ConfigError> {
        let (path, required) = match explicit {
            Some(p) => (p.to_path_buf(), true),
            None => (PathBuf::from("cairn.toml"), false),
        };
        if !path.exists() {
            if required {
                return Err(ConfigError::Missing(path));
            }
            return Ok(Config::default());
        }
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        Config::parse(&text).map_err(|message| ConfigError::Invalid { path, message })
    }

    /// Parses the text of a config file; the error is the parser's message.
    pub fn parse(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_sections_take_defaults_and_unknown_keys_fail() {
        let c: Config = toml::from_str("[search]\nmode = \"bm25\"\nk = 5\ndense_weight = 1\nbm25_weight = 2\nrrf_k = 60\ncandidates = 50\n").unwrap();
        assert_eq!(c.search.mode, "bm25");
        assert_eq!(c.chunking.max_tokens, 254);
        assert!(toml::from_str::<Config>("[search]\nmoed = 1\n").is_err());
        // A section with one key takes the defaults for the rest.
        let c: Config = toml::from_str("[search]\nk = 5\n[chat]\nindex = \"idx\"\n").unwrap();
        assert_eq!((c.search.k, c.search.mode.as_str()), (5, "hybrid"));
        assert_eq!(c.search.candidates, 100);
        assert_eq!(c.chat.index, Some(PathBuf::from("idx")));
        assert_eq!(Config::default().chat.index, None);
    }

    proptest::proptest! {
        /// The config parser reads files users write by hand: arbitrary text is an error or a
        /// config, never a panic (`PROPTEST_CASES=1000000` for the long run).
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
            let _ = toml::from_str::<Config>(&text);
        }

        /// Near-valid files: known section and key names with arbitrary values.
        #[test]
        fn near_valid_files_never_panic(
            section in proptest::sample::select(vec!["index", "chunking", "search", "models", "llm", "chat", "pricing.\"openai:x\""]),
            key in proptest::sample::select(vec!["path", "max_tokens", "overlap", "mode", "k", "dense_weight", "rrf_k", "model", "fallbacks", "base_urls", "index", "input", "cache"]),
            value in "\\PC{0,40}",
        ) {
            let _ = toml::from_str::<Config>(&format!("[{section}]\n{key} = {value}\n"));
        }
    }
}
