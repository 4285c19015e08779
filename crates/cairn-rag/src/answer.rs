//! What an answer is: its text, each sentence with the sources it cites and what the check
//! found, the sources the model read, and the facts of the call (usage, cost, the model that
//! served it). [`crate::Asker`] produces it; the CLI and the server render it.

use cairn_llm::{Served, Usage};
use serde::Serialize;

use crate::cite::CitedSentence;
use crate::context::Source;
use crate::grade::{grade, judge_all, CitationCounts};
use crate::prompt::{PromptStyle, COMPACT_SENTENCES};
use crate::verify::Judge;

/// A grounded answer.
#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    pub question: String,
    /// What retrieval searched for: the question, or a follow-up rewritten to stand alone.
    pub query: String,
    /// The answer as shown: citation markers naming no source removed; a compact-style answer
    /// trimmed to its first distinct sentences, with cairn's attributions added.
    pub text: String,
    /// False when the answer is "I don't know" (said by the model, or by cairn when nothing
    /// retrieved was relevant).
    pub answered: bool,
    /// False when no passage reached the relevance gate and the model was not asked.
    pub asked_model: bool,
    pub sentences: Vec<CitedSentence>,
    /// The citations counted by who wrote them and what the check found.
    pub citations: CitationCounts,
    /// Source numbers the answer cites, each once, in order of first citation.
    pub cited: Vec<usize>,
    /// The numbered sources the model read (empty when it was not asked).
    pub sources: Vec<Source>,
    /// The best query–passage cosine retrieval saw (dense and hybrid modes).
    pub best_relevance: Option<f32>,
    /// The retrieval mode: `hybrid`, `dense` or `bm25`.
    pub mode: &'static str,
    pub style: PromptStyle,
    pub usage: Usage,
    /// The model that answered (after fallbacks), its cost, and whether the response cache
    /// served it, as the middleware reported them for this call.
    pub served: Served,
    pub request_id: Option<String>,
}

impl Answer {
    /// The answer as `cairn ask --json` prints it and the server returns it: the text, each
    /// source (marked cited or not) with its location and passage, the citation counts, the
    /// sources of each sentence, usage and cost. `collection` names the index it came from
    /// where there were several.
    pub fn to_json(&self, collection: Option<&str>) -> serde_json::Value {
        use serde_json::json;
        let citations = self.citations_json();
        if !self.asked_model {
            return json!({"question": self.question, "answer": self.text, "answered": false,
                "model": null, "sources": [], "best_relevance": self.best_relevance,
                "citations": citations, "sentences": [], "collection": collection});
        }
        json!({"question": self.question, "answer": self.text, "answered": self.answered,
            "model": self.served.model, "from_cache": self.served.from_cache, "mode": self.mode,
            "collection": collection, "sources": self.sources_json(), "citations": citations,
            "sentences": self.sentences, "usage": self.usage, "cost_usd": self.served.cost_usd,
            "best_relevance": self.best_relevance})
    }

    /// The numbered sources as JSON ([`Source::to_json`]), each marked cited or not.
    pub fn sources_json(&self) -> serde_json::Value {
        self.sources
            .iter()
            .map(|s| {
                let mut v = s.to_json();
                v["cited"] = self.cited.contains(&s.n).into();
                v
            })
            .collect()
    }

    /// The citation counts with the cited source numbers (`cited`), as JSON.
    pub fn citations_json(&self) -> serde_json::Value {
        let mut citations = serde_json::to_value(&self.citations).unwrap_or_default();
        citations["cited"] = serde_json::json!(self.cited);
        citations
    }

    /// The sources the answer cites, in order of first citation.
    pub fn cited_sources(&self) -> Vec<&Source> {
        self.cited
            .iter()
            .filter_map(|n| self.sources.iter().find(|s| s.n == *n))
            .collect()
    }
}

/// What [`crate::Asker::stream`] yields, in this order: `Rewritten` (follow-ups only),
/// `Sources`, then `TextDelta`s (a `Restart` discards the text so far), then `Done`.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AnswerEvent {
    /// A follow-up question was rewritten into this standalone question before retrieval.
    Rewritten { query: String },
    /// The sources the model is about to read (empty when nothing retrieved was relevant).
    Sources { sources: Vec<Source> },
    /// Answer text as it streams, markers naming no source already removed. For the compact
    /// style the final [`Answer::text`] may be shorter (trimmed) or longer (attributions).
    TextDelta { text: String },
    /// The model's stream broke and is retried from the start: discard the text so far.
    Restart { reason: String },
    /// The checked answer.
    Done { answer: Box<Answer> },
}

/// An answer's text with every citation graded.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The answer as shown (compact answers trimmed, cairn's attributions added).
    pub text: String,
    pub sentences: Vec<CitedSentence>,
    pub counts: CitationCounts,
}

/// Grades an answer's citations against its sources with the lexical check. A compact-style
/// answer (small local models) is first trimmed to its first distinct sentences, and a
/// sentence the model left uncited is attributed by cairn ([`crate::cite::attribute`]),
/// counted as such and never as verified. `removed` is the stream filter's count of markers
/// that named no source.
pub fn check(answer: &str, sources: &[Source], style: PromptStyle, removed: usize) -> Checked {
    let texts: Vec<(usize, &str)> = sources
        .iter()
        .map(|s| (s.n, s.passage.text.as_str()))
        .collect();
    let (text, mut sentences) = if style == PromptStyle::Compact {
        crate::cite::attribute(answer, COMPACT_SENTENCES, &texts)
    } else {
        (answer.to_string(), crate::cite::sentences(answer))
    };
    let all: Vec<usize> = sources.iter().map(|s| s.n).collect();
    grade(&mut sentences, &text_of(sources), &all);
    let counts = CitationCounts::of(&sentences, removed, "lexical");
    Checked {
        text,
        sentences,
        counts,
    }
}

fn text_of<'a>(sources: &'a [Source]) -> impl Fn(usize) -> Option<&'a str> + 'a {
    move |n| {
        sources
            .iter()
            .find(|s| s.n == n)
            .map(|s| s.passage.text.as_str())
    }
}

impl Checked {
    /// Re-checks every citation with a judge model: what `verified` means becomes "entailed
    /// (judge)".
    pub async fn judge(&mut self, judge: &Judge, sources: &[Source]) {
        judge_all(&mut self.sentences, judge, &text_of(sources)).await;
        self.counts = CitationCounts::of(&self.sentences, self.counts.removed, "judge");
    }
}
