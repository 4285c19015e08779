//! Prices in USD per million tokens, from the reference's pricing table (§11, standard tier,
//! checked 2026-11-26). Overridable from config. A model matches the longest table name it
//! starts with, so dated ids (`claude-sonnet-4-5-20250929`, `gpt-4o-mini-2024-07-18`) find
//! their family.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::ModelId;
use crate::types::Usage;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Price {
    pub input: f64,
    /// Cache reads; the input price when absent.
    #[serde(default)]
    pub cached_input: Option<f64>,
    /// Cache writes (Anthropic: 1.25x input for the 5-minute TTL); the input price when absent.
    #[serde(default)]
    pub cache_write: Option<f64>,
    pub output: f64,
    /// Prompts over this many input tokens bill at `long` for the whole request (Gemini Pro,
    /// Sonnet 4.6).
    #[serde(default)]
    pub long_threshold: Option<u64>,
    #[serde(default)]
    pub long: Option<LongPrice>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LongPrice {
    pub input: f64,
    #[serde(default)]
    pub cached_input: Option<f64>,
    pub output: f64,
}

const fn p(input: f64, cached: f64, write: f64, output: f64) -> Price {
    Price {
        input,
        cached_input: Some(cached),
        cache_write: Some(write),
        output,
        long_threshold: None,
        long: None,
    }
}

const fn long(mut base: Price, threshold: u64, input: f64, cached: f64, output: f64) -> Price {
    base.long_threshold = Some(threshold);
    base.long = Some(LongPrice {
        input,
        cached_input: Some(cached),
        output,
    });
    base
}

/// (provider, model prefix, price). OpenAI and Gemini charge no cache-write premium: writes
/// bill as plain input.
const DEFAULTS: &[(&str, &str, Price)] = &[
    ("openai", "gpt-4o", p(2.50, 1.25, 2.50, 10.00)),
    ("openai", "gpt-4o-mini", p(0.15, 0.075, 0.15, 0.60)),
    ("openai", "gpt-4.1", p(2.00, 0.50, 2.00, 8.00)),
    ("openai", "gpt-4.1-mini", p(0.40, 0.10, 0.40, 1.60)),
    ("openai", "gpt-4.1-nano", p(0.10, 0.025, 0.10, 0.40)),
    ("openai", "o1", p(15.00, 7.50, 15.00, 60.00)),
    ("openai", "o3", p(2.00, 0.50, 2.00, 8.00)),
    ("openai", "o3-mini", p(1.10, 0.55, 1.10, 4.40)),
    ("openai", "o3-pro", p(20.00, 20.00, 20.00, 80.00)),
    ("openai", "o4-mini", p(1.10, 0.275, 1.10, 4.40)),
    ("openai", "gpt-5", p(1.25, 0.125, 1.25, 10.00)),
    ("openai", "gpt-5-mini", p(0.25, 0.025, 0.25, 2.00)),
    ("openai", "gpt-5-nano", p(0.05, 0.005, 0.05, 0.40)),
    ("openai", "gpt-5.4", p(2.50, 0.25, 2.50, 15.00)),
    ("openai", "gpt-5.4-mini", p(0.75, 0.075, 0.75, 4.50)),
    ("openai", "gpt-5.4-nano", p(0.20, 0.02, 0.20, 1.25)),
    ("openai", "text-embedding-3-small", p(0.02, 0.02, 0.02, 0.0)),
    ("openai", "text-embedding-3-large", p(0.13, 0.13, 0.13, 0.0)),
    ("anthropic", "claude-opus-4", p(15.00, 1.50, 18.75, 75.00)),
    ("anthropic", "claude-opus-4-1", p(15.00, 1.50, 18.75, 75.00)),
    ("anthropic", "claude-opus-4-5", p(5.00, 0.50, 6.25, 25.00)),
    ("anthropic", "claude-opus-4-6", p(5.00, 0.50, 6.25, 25.00)),
    ("anthropic", "claude-opus-4-7", p(5.00, 0.50, 6.25, 25.00)),
    ("anthropic", "claude-sonnet-4", p(3.00, 0.30, 3.75, 15.00)),
    ("anthropic", "claude-sonnet-4-5", p(3.00, 0.30, 3.75, 15.00)),
    (
        "anthropic",
        "claude-sonnet-4-6",
        long(p(3.00, 0.30, 3.75, 15.00), 200_000, 6.00, 0.60, 22.50),
    ),
    ("anthropic", "claude-haiku-4-5", p(1.00, 0.10, 1.25, 5.00)),
    (
        "gemini",
        "gemini-2.5-pro",
        long(p(1.25, 0.125, 1.25, 10.00), 200_000, 2.50, 0.25, 15.00),
    ),
    ("gemini", "gemini-2.5-flash", p(0.30, 0.03, 0.30, 2.50)),
    ("gemini", "gemini-2.5-flash-lite", p(0.10, 0.01, 0.10, 0.40)),
    (
        "gemini",
        "gemini-3.1-pro-preview",
        long(p(2.00, 0.20, 2.00, 12.00), 200_000, 4.00, 0.40, 18.00),
    ),
    ("gemini", "gemini-embedding-001", p(0.15, 0.15, 0.15, 0.0)),
];

/// A pricing table: the defaults plus overrides keyed `provider:model-prefix`.
#[derive(Debug, Clone)]
pub struct Pricing {
    table: BTreeMap<(String, String), Price>,
}

impl Default for Pricing {
    fn default() -> Self {
        Pricing {
            table: DEFAULTS
                .iter()
                .map(|(prov, m, p)| ((prov.to_string(), m.to_string()), *p))
                .collect(),
        }
    }
}

impl Pricing {
    /// Adds or replaces an entry; `key` is `provider:model-prefix`.
    pub fn set(&mut self, key: &str, price: Price) -> Result<(), String> {
        let (prov, model) = key.split_once(':').ok_or_else(|| {
            format!("pricing key {key:?} must be provider:model, e.g. openai:gpt-4o")
        })?;
        self.table
            .insert((prov.to_string(), model.to_string()), price);
        Ok(())
    }

    /// The entry whose model name is the longest prefix of this model's name. Dots and dashes
    /// are treated alike (`claude-sonnet-4.5` = `claude-sonnet-4-5`).
    pub fn lookup(&self, id: &ModelId) -> Option<Price> {
        if id.provider == "local" && !self.table.keys().any(|(p, _)| p == "local") {
            // In-process models cost nothing per token.
            return Some(Price {
                input: 0.0,
                cached_input: None,
                cache_write: None,
                output: 0.0,
                long_threshold: None,
                long: None,
            });
        }
        let name = id.name.replace('.', "-");
        let name = name.rsplit('/').next().unwrap_or(&name); // openrouter-style vendor/model
        self.table
            .iter()
            .filter(|((prov, m), _)| {
                let m = m.replace('.', "-");
                *prov == id.provider
                    && (name == m
                        || (name.starts_with(&m) && name.as_bytes().get(m.len()) == Some(&b'-')))
            })
            .max_by_key(|((_, m), _)| m.len())
            .map(|(_, p)| *p)
    }

    /// Cost of one call in USD, or `None` for a model without a price.
    pub fn cost(&self, id: &ModelId, u: &Usage) -> Option<f64> {
        let p = self.lookup(id)?;
        Some(cost_with(&p, u))
    }
}

pub fn cost_with(p: &Price, u: &Usage) -> f64 {
    let (input, cached, output) = match (p.long_threshold, p.long) {
        (Some(t), Some(l)) if u.input_tokens > t => {
            (l.input, l.cached_input.unwrap_or(l.input), l.output)
        }
        _ => (p.input, p.cached_input.unwrap_or(p.input), p.output),
    };
    let write = p.cache_write.unwrap_or(input);
    let plain = u
        .input_tokens
        .saturating_sub(u.cached_input_tokens)
        .saturating_sub(u.cache_write_tokens);
    (plain as f64 * input
        + u.cached_input_tokens as f64 * cached
        + u.cache_write_tokens as f64 * write
        + u.output_tokens as f64 * output)
        / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_wins_and_dated_ids_match() {
        let t = Pricing::default();
        let mini = t
            .lookup(&ModelId::new("openai", "gpt-4o-mini-2024-07-18"))
            .unwrap();
        assert_eq!(mini.input, 0.15);
        assert_eq!(
            t.lookup(&ModelId::new("openai", "gpt-4o")).unwrap().input,
            2.5
        );
        let s = t
            .lookup(&ModelId::new("anthropic", "claude-sonnet-4-5-20250929"))
            .unwrap();
        assert_eq!(s.cache_write, Some(3.75));
        assert_eq!(
            t.lookup(&ModelId::new("anthropic", "claude-opus-4-5"))
                .unwrap()
                .input,
            5.0
        );
        assert_eq!(
            t.lookup(&ModelId::new("anthropic", "claude-opus-4-1-20250805"))
                .unwrap()
                .input,
            15.0
        );
        assert!(t.lookup(&ModelId::new("openai", "gpt-9")).is_none());
        assert!(t.lookup(&ModelId::new("ollama", "llama3.2")).is_none());
    }

    #[test]
    fn anthropic_cache_arithmetic() {
        let t = Pricing::default();
        let u = Usage {
            input_tokens: 2121,
            cached_input_tokens: 2000,
            cache_write_tokens: 100,
            output_tokens: 5,
        };
        let c = t
            .cost(&ModelId::new("anthropic", "claude-sonnet-4-5"), &u)
            .unwrap();
        let want = (21.0 * 3.0 + 2000.0 * 0.3 + 100.0 * 3.75 + 5.0 * 15.0) / 1e6;
        assert!((c - want).abs() < 1e-12, "{c} vs {want}");
    }

    #[test]
    fn long_context_tier() {
        let t = Pricing::default();
        let u = Usage {
            input_tokens: 300_000,
            output_tokens: 1000,
            ..Default::default()
        };
        let c = t
            .cost(&ModelId::new("gemini", "gemini-2.5-pro"), &u)
            .unwrap();
        assert!((c - (300_000.0 * 2.5 + 1000.0 * 15.0) / 1e6).abs() < 1e-12);
    }
}
