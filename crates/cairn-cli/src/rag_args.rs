//! The flags `cairn ask` and `cairn chat --index` share, checked here (naming the flag) and
//! turned into a [`cairn_rag::Asker`]; and the rendering both use.

use std::sync::Arc;

use anyhow::{Context, Result};
use cairn_core::Filter;
use cairn_llm::ChatModel;
use cairn_rag::rerank::{ApiReranker, LlmReranker, RerankApi, Reranker};
use cairn_rag::{Answer, Asker, PromptStyle, RetrieverSource, SearchMode};

use crate::search::{check_count, check_non_negative, ExpandChoice};
use crate::Globals;

#[derive(clap::Args, Clone)]
pub struct RagArgs {
    /// Passages given to the model
    #[arg(short, long, default_value_t = 5)]
    pub k: usize,
    /// How the question and sources are put to the model: full instructions, or the compact
    /// prompt with a worked example for small models (and cairn's citation attribution)
    /// [default: compact for local models, full otherwise]
    #[arg(long, value_enum)]
    pub prompt: Option<PromptChoice>,
    /// Widen each chosen chunk to its whole section (same document and heading) before the
    /// context is assembled
    #[arg(long)]
    pub parent_sections: bool,
    /// Chunks retrieved before selection
    #[arg(long, default_value_t = 30)]
    pub candidates: usize,
    /// Retrieval mode [config: search.mode]
    #[arg(long)]
    pub mode: Option<SearchMode>,
    /// Rerank the retrieved chunks before selection: a local cross-encoder, an LLM listwise
    /// ranking by the answering model, or the Cohere / Voyage / Jina rerank APIs (CO_API_KEY,
    /// VOYAGE_API_KEY, JINA_API_KEY)
    #[arg(long, value_enum, default_value = "none")]
    pub rerank: RerankChoice,
    /// Query expansion: multi (the model writes variants, fused by RRF) or hyde (embed a
    /// hypothetical answer)
    #[arg(long, value_enum, default_value = "none")]
    pub expand: ExpandChoice,
    /// Diversify passages with maximal marginal relevance (0 = diverse … 1 = relevance only)
    #[arg(long, value_name = "LAMBDA")]
    pub mmr: Option<f32>,
    /// Tokens the sources may take in the prompt
    /// [default: 2000; 700 for the local model, whose prefill runs on the CPU]
    #[arg(long)]
    pub budget: Option<usize>,
    /// Below this query–passage cosine nothing is relevant and the answer is "I don't know"
    #[arg(long, default_value_t = 0.25)]
    pub min_relevance: f32,
    /// Only passages whose metadata has key=value (repeatable)
    #[arg(long = "filter", value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
    /// How citations are checked: lexical (the sentence's words, numbers, names and
    /// negations must be in the cited passage) or model (a judge model reads both; verdicts
    /// cached on disk)
    #[arg(long, value_enum, default_value = "lexical")]
    pub verify: VerifyChoice,
    /// provider:name of the judge for --verify model [default: the answering model]; in
    /// `eval rag`, the model that scores the judge metrics
    #[arg(long, value_name = "MODEL")]
    pub judge: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum VerifyChoice {
    Lexical,
    Model,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PromptChoice {
    Full,
    Compact,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RerankChoice {
    None,
    /// A local cross-encoder (ms-marco-MiniLM-L-6-v2 from the hub, or CAIRN_RERANKER_DIR)
    Local,
    Llm,
    Cohere,
    Voyage,
    Jina,
}

impl RagArgs {
    /// Rejects numbers that cannot mean anything, naming the flag, before any work starts.
    pub fn check(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.mmr.unwrap_or(0.5)) {
            anyhow::bail!("--mmr must be between 0 and 1");
        }
        if self.k == 0 {
            anyhow::bail!("-k 0 gives the model no passages: pass how many to give it (default 5)");
        }
        if self.budget == Some(0) {
            anyhow::bail!(
                "--budget 0 leaves no room for any source: pass the tokens the sources may take \
                 (default 2000, 700 for the local model)"
            );
        }
        check_count(
            "--candidates",
            self.candidates,
            "the chunks retrieved before selection",
        )?;
        check_non_negative("--min-relevance", self.min_relevance)?;
        if self.judge.is_some() && self.verify != VerifyChoice::Model {
            anyhow::bail!("--judge names the model for --verify model: add --verify model");
        }
        Ok(())
    }

    /// The pipeline these flags describe, over `retriever` and `model`; `search` carries the
    /// mode and the config's search settings, `answering` the spec of `--model`.
    pub fn asker(
        &self,
        g: &Globals,
        retriever: impl Into<RetrieverSource>,
        model: Arc<dyn ChatModel>,
        mut search: cairn_rag::SearchOptions,
        answering: Option<&str>,
    ) -> Result<Asker> {
        search.filter = Filter::parse(&self.filter).context("--filter")?;
        let mut a = Asker::new(retriever, model.clone())
            .search(search)
            .k(self.k)
            .candidates(self.candidates)
            .min_relevance(self.min_relevance)
            .parent_sections(self.parent_sections)
            .expand(self.expand.into());
        if let Some(l) = self.mmr {
            a = a.mmr(l);
        }
        if let Some(b) = self.budget {
            a = a.budget(b);
        }
        match self.prompt {
            Some(PromptChoice::Full) => a = a.prompt(PromptStyle::Full),
            Some(PromptChoice::Compact) => a = a.prompt(PromptStyle::Compact),
            None => {}
        }
        if let Some(r) = reranker(self.rerank, Some(&model))? {
            a = a.rerank(r);
        }
        if self.verify == VerifyChoice::Model {
            a = a.judge(crate::llm::judge(
                &g.config,
                self.judge.as_deref().or(answering),
            )?);
        }
        Ok(a)
    }
}

/// The reranker a `--rerank` choice names (`llm` ranks with `model`).
pub fn reranker(
    choice: RerankChoice,
    model: Option<&Arc<dyn ChatModel>>,
) -> Result<Option<Arc<dyn Reranker>>> {
    Ok(Some(match choice {
        RerankChoice::None => return Ok(None),
        RerankChoice::Llm => Arc::new(LlmReranker::new(
            model
                .context("--rerank llm ranks with a model: pass --model")?
                .clone(),
        )),
        RerankChoice::Local => Arc::new(cairn_rag::rerank::CrossEncoderReranker::new(
            crate::models::load_cross_encoder()?,
        )),
        other => {
            let api = match other {
                RerankChoice::Cohere => RerankApi::Cohere,
                RerankChoice::Voyage => RerankApi::Voyage,
                _ => RerankApi::Jina,
            };
            let transport = Arc::new(cairn_llm::transport::Transport::new(Default::default()));
            Arc::new(
                ApiReranker::from_env(api, &cairn_llm::select::process_env, transport)
                    .with_context(|| format!("--rerank {}", api.name()))?,
            )
        }
    }))
}

/// The lines under an answer: the cited sources, then what the citation check flagged.
pub fn print_citations(a: &Answer, heading: bool) {
    let cited = a.cited_sources();
    if !cited.is_empty() {
        if heading {
            println!("\nSources:");
        }
        for s in cited {
            println!("{}", s.cited_line());
        }
    }
    let flags = cairn_rag::grade::flag_lines(&a.sentences);
    if !flags.is_empty() {
        if heading {
            println!("\nCitation check:");
        }
        for f in flags {
            println!("{f}");
        }
    }
}

/// What a call cost, for a footer: the cache, a price, or no price.
pub fn cost_text(served: &cairn_llm::Served) -> String {
    match (served.from_cache, served.cost_usd) {
        (true, _) => "from the response cache, $0".into(),
        (_, Some(c)) => format!("${c:.6}"),
        (_, None) => "no price for this model".into(),
    }
}

/// The stderr note for markers that named no provided source.
pub fn removed_note(removed: usize) -> Option<String> {
    (removed > 0).then(|| {
        format!(
            "[removed {removed} citation{} naming no provided source]",
            if removed == 1 { "" } else { "s" }
        )
    })
}
