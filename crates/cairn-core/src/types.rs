//! The plain data that flows through the pipeline.

use serde::{Deserialize, Serialize};

/// Free-form metadata: string keys, JSON values. Filters match on it.
pub type Metadata = serde_json::Map<String, serde_json::Value>;

/// A loaded source document, before chunking.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Document {
    /// Stable identity: the file path for files, `_id` for BEIR records.
    pub id: String,
    /// Where it came from (a path), shown in citations.
    pub source: String,
    pub title: Option<String>,
    /// The loader that produced it: `text`, `markdown`, `html`, `code`, `jsonl`.
    pub kind: String,
    pub text: String,
    pub metadata: Metadata,
}

impl Chunk {
    /// What retrievers index and embed: the context header, then the text.
    pub fn indexed_text(&self) -> String {
        if self.context.is_empty() {
            self.text.clone()
        } else {
            format!("{}\n{}", self.context, self.text)
        }
    }
}

/// A span of a document sized for the embedding model.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Chunk {
    /// `{doc_id}#{ordinal}`.
    pub id: String,
    pub doc_id: String,
    pub ordinal: u32,
    pub text: String,
    /// Byte range of `text` in the document's text.
    pub start: usize,
    pub end: usize,
    /// Markdown headings enclosing the chunk, outermost first.
    pub heading_path: Vec<String>,
    /// A short header (document title, heading path) indexed and embedded with the text, so a
    /// chunk cut from the middle of a document still says what it is about. Not in the span.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub context: String,
    pub metadata: Metadata,
}

/// What each retriever said about a hit; absent when that retriever did not return it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RetrieverScores {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dense: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dense_rank: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bm25: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bm25_rank: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fused: Option<f32>,
}

/// One search result.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Hit {
    /// 1-based.
    pub rank: usize,
    /// The score the hits are ordered by (fused, cosine or BM25 depending on the mode).
    pub score: f32,
    pub scores: RetrieverScores,
    pub chunk: Chunk,
    pub source: String,
    pub title: Option<String>,
}
