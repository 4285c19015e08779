//! The language model the CLI talks to, as the config describes it (`cairn::Config::chat_model`:
//! flags over `CAIRN_*` variables over `cairn.toml`, provider keys from the official SDKs'
//! variables), with the flag named in errors.

use anyhow::Result;

use cairn::Config;
pub use cairn::Stack as Built;

/// The model for `--model` (or config / environment), wrapped in the full middleware stack.
/// A spec the library refuses is reported under the flag or key it came from.
pub fn build(config: &Config, flag_model: Option<&str>, cache: bool) -> Result<Built> {
    config.chat_model(flag_model, cache).map_err(|e| match &e {
        cairn::StackError::Llm(l)
            if matches!(
                **l,
                cairn_llm::LlmError::InvalidRequest(_)
                    | cairn_llm::LlmError::FeatureDisabled { .. }
            ) =>
        {
            let from = if flag_model.is_some() {
                "--model"
            } else if config.llm.model.is_some() {
                "cairn.toml [llm] model"
            } else {
                "CAIRN_LLM_MODEL"
            };
            anyhow::anyhow!("{from}: {e}")
        }
        _ => e.into(),
    })
}

/// The judge for `--verify model` (verdicts cached on disk).
pub fn judge(config: &Config, spec: Option<&str>) -> Result<cairn_rag::verify::Judge> {
    Ok(config.judge(spec)?)
}

pub fn open_ledger(config: &Config) -> Result<std::sync::Arc<cairn_llm::middleware::Ledger>> {
    Ok(config.open_ledger()?)
}

pub fn ledger_path(config: &Config) -> std::path::PathBuf {
    config.ledger_path()
}
