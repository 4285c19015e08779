//! Token-aware chunking. Sizes count the embedding model's tokens, so no chunk is ever cut
//! off by the model; boundaries come from text-splitter (recursive: paragraphs, sentences,
//! words), and markdown is chunked section by section with fenced code kept whole. The
//! semantic strategy splits plain text where the embeddings of adjacent sentence windows
//! drift apart (LlamaIndex's semantic splitter), within the same token limit.

use crate::markdown;
use crate::window::{windows, Sizer};
use cairn_core::{Chunk, Document, Embedder, TokenCounter};
use std::sync::Arc;
use text_splitter::{ChunkConfig, ChunkSizer, MarkdownSplitter, TextSplitter};

#[derive(Debug, Clone, Copy)]
pub struct ChunkerConfig {
    /// Largest chunk in model tokens (special tokens excluded).
    pub max_tokens: usize,
    /// Tokens shared by consecutive chunks.
    pub overlap: usize,
    pub strategy: Strategy,
}

/// How plain-text documents are cut (markdown is always cut per section).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    #[default]
    Recursive,
    /// Split where the distance between adjacent sentence windows exceeds this percentile of
    /// the document's distances (LlamaIndex's default: 95).
    Semantic { breakpoint_percentile: u8 },
}

impl std::fmt::Display for Strategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Strategy::Recursive => f.write_str("recursive"),
            Strategy::Semantic {
                breakpoint_percentile,
            } => {
                write!(f, "semantic@{breakpoint_percentile}")
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ChunkError {
    #[error("chunk overlap {overlap} must be smaller than the chunk size {size}")]
    Overlap { overlap: usize, size: usize },
    #[error("chunk size must be at least 8 tokens, got {0}")]
    TooSmall(usize),
}

pub struct Chunker {
    counter: Arc<dyn TokenCounter>,
    config: ChunkerConfig,
    /// Needed by the semantic strategy only.
    embedder: Option<Arc<dyn Embedder>>,
}

/// Bumped whenever chunk boundaries or headers change, so re-ingesting re-chunks.
pub const CHUNKER_VERSION: u32 = 2;

impl Chunker {
    /// `model_max_tokens` is the model's limit including its two special tokens; the chunk
    /// size is clamped below it.
    pub fn new(
        counter: Arc<dyn TokenCounter>,
        mut config: ChunkerConfig,
        model_max_tokens: usize,
    ) -> Result<Self, ChunkError> {
        config.max_tokens = config.max_tokens.min(model_max_tokens.saturating_sub(2));
        if config.max_tokens < 8 {
            return Err(ChunkError::TooSmall(config.max_tokens));
        }
        if config.overlap >= config.max_tokens {
            return Err(ChunkError::Overlap {
                overlap: config.overlap,
                size: config.max_tokens,
            });
        }
        Ok(Chunker {
            counter,
            config,
            embedder: None,
        })
    }

    /// The embedder the semantic strategy compares sentences with.
    pub fn with_embedder(mut self, e: Arc<dyn Embedder>) -> Self {
        self.embedder = Some(e);
        self
    }

    pub fn config(&self) -> ChunkerConfig {
        self.config
    }

    /// The chunk capacity left once a header of `header_tokens` is set before it. A header
    /// may take at most a quarter of the budget; a longer one is dropped (returns `None`).
    fn capacity(&self, header: &str) -> Option<(usize, usize)> {
        if header.is_empty() {
            return Some((self.config.max_tokens, 0));
        }
        let quarter = self.config.max_tokens / 4;
        let sizer = Sizer {
            counter: self.counter.clone(),
            capacity: quarter,
        };
        let t = sizer.size(header) + 1;
        (t <= quarter).then(|| (self.config.max_tokens - t, t))
    }

    fn chunk_config(&self, capacity: usize) -> ChunkConfig<Sizer> {
        ChunkConfig::new(capacity)
            .with_sizer(Sizer {
                counter: self.counter.clone(),
                capacity,
            })
            .with_overlap(self.config.overlap.min(capacity / 2))
            .expect("overlap is below capacity")
    }

    /// Whether `text` holds at most `capacity` tokens, counting no more of it than needed.
    fn fits(&self, text: &str, capacity: usize) -> bool {
        let sizer = Sizer {
            counter: self.counter.clone(),
            capacity,
        };
        sizer.size(text) <= capacity
    }

    /// text-splitter's recursive (or markdown) split of `text`, window by window (see
    /// [`windows`]), as (offset, length) pairs: linear in the length of the text.
    fn split(&self, text: &str, capacity: usize, markdown: bool) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        for (ws, we) in windows(text) {
            let w = &text[ws..we];
            if markdown {
                let s = MarkdownSplitter::new(self.chunk_config(capacity));
                out.extend(s.chunk_indices(w).map(|(o, c)| (ws + o, c.len())));
            } else {
                let s = TextSplitter::new(self.chunk_config(capacity));
                out.extend(s.chunk_indices(w).map(|(o, c)| (ws + o, c.len())));
            }
        }
        out
    }

    /// Splits a document into chunks carrying its metadata, their byte spans and a context
    /// header (title and heading path) sized into the same token budget.
    pub fn chunk(&self, doc: &Document) -> Vec<Chunk> {
        let title = doc.title.as_deref().unwrap_or("").trim();
        let spans: Vec<(usize, usize, Vec<String>, String)> = if doc.kind == "markdown" {
            self.markdown_spans(&doc.text, title)
        } else {
            let (cap, header) = match self.capacity(title) {
                Some((cap, _)) => (cap, title.to_string()),
                None => (self.config.max_tokens, String::new()),
            };
            if let (
                Strategy::Semantic {
                    breakpoint_percentile,
                },
                Some(e),
            ) = (self.config.strategy, &self.embedder)
            {
                if let Some(spans) =
                    self.semantic_spans(&doc.text, cap, breakpoint_percentile, e.as_ref())
                {
                    return self.finish(
                        doc,
                        spans
                            .into_iter()
                            .map(|(s, e)| {
                                (
                                    s,
                                    e,
                                    Vec::new(),
                                    header_unless_present(&header, &doc.text[s..e]),
                                )
                            })
                            .collect(),
                    );
                }
            }
            self.split(&doc.text, cap, false)
                .into_iter()
                .map(|(s, len)| {
                    (
                        s,
                        s + len,
                        Vec::new(),
                        header_unless_present(&header, &doc.text[s..s + len]),
                    )
                })
                .collect()
        };
        self.finish(doc, spans)
    }

    fn finish(
        &self,
        doc: &Document,
        spans: Vec<(usize, usize, Vec<String>, String)>,
    ) -> Vec<Chunk> {
        spans
            .into_iter()
            .enumerate()
            .map(|(i, (start, end, heading_path, context))| Chunk {
                id: format!("{}#{}", doc.id, i),
                doc_id: doc.id.clone(),
                ordinal: i as u32,
                text: doc.text[start..end].to_string(),
                start,
                end,
                heading_path,
                context,
                metadata: doc.metadata.clone(),
            })
            .collect()
    }

    /// Sentence groups split at semantic breakpoints, each within `cap` tokens (a group that
    /// is too long is split recursively). `None` when the text is too short to compare
    /// sentences or the embedder fails, so the caller falls back to the recursive splitter.
    fn semantic_spans(
        &self,
        text: &str,
        cap: usize,
        percentile: u8,
        embedder: &dyn Embedder,
    ) -> Option<Vec<(usize, usize)>> {
        let sents = sentence_spans(text);
        if sents.len() < 3 {
            return None;
        }
        // Each sentence with its neighbours (buffer 1), as LlamaIndex embeds them.
        let windows: Vec<&str> = (0..sents.len())
            .map(|i| {
                let a = sents[i.saturating_sub(1)].0;
                let b = sents[(i + 1).min(sents.len() - 1)].1;
                &text[a..b]
            })
            .collect();
        let vecs = embedder.embed(&windows).ok()?;
        let dist: Vec<f32> = vecs
            .windows(2)
            .map(|w| 1.0 - w[0].iter().zip(&w[1]).map(|(a, b)| a * b).sum::<f32>())
            .collect();
        let mut sorted = dist.clone();
        sorted.sort_by(f32::total_cmp);
        let k = ((percentile.min(100) as f32 / 100.0) * (sorted.len() - 1) as f32).round() as usize;
        let threshold = sorted[k];
        let mut groups: Vec<(usize, usize)> = Vec::new();
        let mut start = sents[0].0;
        let mut last_split: Option<usize> = None;
        for (i, d) in dist.iter().enumerate() {
            // Windows overlap by a sentence, so a topic change shows as two neighbouring
            // peaks: split at the first, never leave a one-sentence group between them.
            let adjacent = i > 0 && last_split == Some(i - 1);
            if *d >= threshold && *d > 0.0 && !adjacent {
                groups.push((start, sents[i].1));
                start = sents[i + 1].0;
                last_split = Some(i);
            }
        }
        groups.push((start, sents[sents.len() - 1].1));
        let mut out = Vec::new();
        for (s, e) in groups {
            let body = &text[s..e];
            if self.fits(body, cap) {
                out.push((s, e));
            } else {
                for (o, len) in self.split(body, cap, false) {
                    out.push((s + o, s + o + len));
                }
            }
        }
        Some(out)
    }

    fn markdown_spans(&self, text: &str, title: &str) -> Vec<(usize, usize, Vec<String>, String)> {
        let mut pieces: Vec<(usize, usize, Vec<String>, String, usize)> = Vec::new();
        for b in markdown::blocks(text) {
            let mut parts: Vec<&str> = Vec::new();
            if !title.is_empty() && b.heading_path.first().map(String::as_str) != Some(title) {
                parts.push(title);
            }
            parts.extend(b.heading_path.iter().map(String::as_str));
            let header = parts.join(" › ");
            let (cap, header) = match self.capacity(&header) {
                Some((cap, _)) => (cap, header),
                None => (self.config.max_tokens, String::new()),
            };
            let body = &text[b.start..b.end];
            if b.fenced && self.fits(body, cap) {
                pieces.push((b.start, b.end, b.heading_path, header, cap));
                continue;
            }
            for (s, len) in self.split(body, cap, true) {
                pieces.push((
                    b.start + s,
                    b.start + s + len,
                    b.heading_path.clone(),
                    header.clone(),
                    cap,
                ));
            }
        }
        // Pack neighbouring small pieces of one section back together while they fit.
        let mut out: Vec<(usize, usize, Vec<String>, String, usize)> = Vec::new();
        for p in pieces {
            if let Some(last) = out.last_mut() {
                if last.2 == p.2
                    && last.1 <= p.0
                    && self.fits(text[last.0..p.1].trim(), last.4.min(p.4))
                {
                    last.1 = p.1;
                    continue;
                }
            }
            out.push(p);
        }
        // Trim surrounding whitespace so spans point at the content.
        out.into_iter()
            .filter_map(|(s, e, h, header, _)| {
                let slice = &text[s..e];
                let lead = slice.len() - slice.trim_start().len();
                let trail = slice.len() - slice.trim_end().len();
                (s + lead < e - trail).then(|| {
                    let body = &text[s + lead..e - trail];
                    (s + lead, e - trail, h, header_unless_present(&header, body))
                })
            })
            .collect()
    }
}

/// Byte spans of sentences (ending at `.`, `!` or `?` before whitespace, or a line break
/// after a blank line), trimmed of surrounding whitespace.
pub fn sentence_spans(text: &str) -> Vec<(usize, usize)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let push = |s: usize, e: usize, out: &mut Vec<(usize, usize)>| {
        let piece = &text[s..e];
        let lead = piece.len() - piece.trim_start().len();
        let trail = piece.len() - piece.trim_end().len();
        if s + lead < e - trail {
            out.push((s + lead, e - trail));
        }
    };
    for i in 0..b.len() {
        let end = (matches!(b[i], b'.' | b'!' | b'?')
            && b.get(i + 1).is_some_and(|n| n.is_ascii_whitespace()))
            || (b[i] == b'\n' && b.get(i + 1) == Some(&b'\n'));
        if end {
            push(start, i + 1, &mut out);
            start = i + 1;
        }
    }
    push(start, text.len(), &mut out);
    out
}

/// The header, unless the chunk already opens with it (a first chunk holding the title).
fn header_unless_present(header: &str, chunk: &str) -> String {
    let head = chunk.trim_start().trim_start_matches('#').trim_start();
    if header.is_empty() || head.starts_with(header) {
        String::new()
    } else {
        header.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_core::Metadata;

    /// One token per whitespace-separated word: easy to reason about in tests.
    struct Words;
    impl TokenCounter for Words {
        fn count_tokens(&self, text: &str) -> usize {
            text.split_whitespace().count()
        }
    }

    fn doc(kind: &str, text: &str) -> Document {
        Document {
            id: "d".into(),
            source: "d".into(),
            title: None,
            kind: kind.into(),
            text: text.into(),
            metadata: Metadata::new(),
        }
    }

    fn chunker(max: usize, overlap: usize) -> Chunker {
        Chunker::new(
            Arc::new(Words),
            ChunkerConfig {
                max_tokens: max,
                overlap,
                strategy: Strategy::Recursive,
            },
            512,
        )
        .unwrap()
    }

    #[test]
    fn chunks_respect_the_token_limit_and_spans_match() {
        let text = (0..500)
            .map(|i| format!("w{i}"))
            .collect::<Vec<_>>()
            .join(" ");
        let d = doc("text", &text);
        let chunks = chunker(50, 10).chunk(&d);
        assert!(chunks.len() >= 10);
        for c in &chunks {
            assert!(Words.count_tokens(&c.text) <= 50);
            assert_eq!(&d.text[c.start..c.end], c.text);
        }
        // Overlap: consecutive chunks share text.
        assert!(chunks[1].start < chunks[0].end);
        assert_eq!(chunks[3].id, "d#3");
    }

    #[test]
    fn later_chunks_carry_the_title_as_context_within_the_budget() {
        let text = (0..300)
            .map(|i| format!("w{i}"))
            .collect::<Vec<_>>()
            .join(" ");
        let mut d = doc("text", &format!("Big Title {text}"));
        d.title = Some("Big Title".into());
        let chunks = chunker(50, 0).chunk(&d);
        assert_eq!(
            chunks[0].context, "",
            "the first chunk opens with the title"
        );
        for c in &chunks[1..] {
            assert_eq!(c.context, "Big Title");
            assert!(
                Words.count_tokens(&c.indexed_text()) <= 50,
                "{}",
                c.indexed_text()
            );
        }
    }

    #[test]
    fn limit_is_clamped_to_the_model_maximum() {
        let c = Chunker::new(
            Arc::new(Words),
            ChunkerConfig {
                max_tokens: 1000,
                overlap: 0,
                strategy: Strategy::Recursive,
            },
            256,
        )
        .unwrap();
        assert_eq!(c.config().max_tokens, 254);
        assert!(Chunker::new(
            Arc::new(Words),
            ChunkerConfig {
                max_tokens: 20,
                overlap: 20,
                strategy: Strategy::Recursive,
            },
            256
        )
        .is_err());
    }

    #[test]
    fn markdown_keeps_code_fences_whole_and_carries_headings() {
        let code = (0..20)
            .map(|i| format!("let x{i} = {i};"))
            .collect::<Vec<_>>()
            .join("\n");
        let prose = (0..30)
            .map(|i| format!("word{i}"))
            .collect::<Vec<_>>()
            .join(" ");
        let md = format!(
            "# Guide\n\n## Setup\n\n{prose}\n\n```rust\n{code}\n```\n\n## Use\n\nshort text\n"
        );
        let chunks = chunker(100, 0).chunk(&doc("markdown", &md));
        let fence = chunks
            .iter()
            .find(|c| c.text.contains("let x0"))
            .expect("code chunk");
        assert!(
            fence.text.contains("let x19 = 19;"),
            "fence was split: {}",
            fence.text
        );
        assert_eq!(fence.heading_path, vec!["Guide", "Setup"]);
        assert_eq!(fence.context, "Guide › Setup");
        let last = chunks.last().unwrap();
        assert_eq!(last.heading_path, vec!["Guide", "Use"]);
        assert!(last.text.contains("short text"));
        for c in &chunks {
            assert!(Words.count_tokens(&c.text) <= 100);
        }
    }
}

#[cfg(test)]
mod semantic_tests {
    use super::*;
    use cairn_core::{EmbedError, Metadata};

    struct Words;
    impl TokenCounter for Words {
        fn count_tokens(&self, text: &str) -> usize {
            text.split_whitespace().count()
        }
    }

    /// Two topics: vectors point one way for sentences about cats, another for rust.
    struct Topics;
    impl Embedder for Topics {
        fn model_id(&self) -> &str {
            "topics"
        }
        fn dim(&self) -> usize {
            2
        }
        fn max_tokens(&self) -> usize {
            512
        }
        fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
            Ok(texts
                .iter()
                .map(|t| {
                    let cats = t.matches("cat").count() as f32;
                    let rust = t.matches("rust").count() as f32;
                    let n = (cats * cats + rust * rust).sqrt().max(1e-6);
                    vec![cats / n, rust / n]
                })
                .collect())
        }
    }

    #[test]
    fn splits_where_the_topic_changes() {
        let text = "My cat sleeps. The cat purrs. A cat naps. Cats are cat-like. \
                    Rust compiles. The rust borrow checker helps. rust is fast. rust crates abound.";
        let doc = Document {
            id: "d".into(),
            source: "d".into(),
            title: None,
            kind: "text".into(),
            text: text.into(),
            metadata: Metadata::new(),
        };
        let cfg = ChunkerConfig {
            max_tokens: 100,
            overlap: 0,
            strategy: Strategy::Semantic {
                breakpoint_percentile: 90,
            },
        };
        let c = Chunker::new(Arc::new(Words), cfg, 512)
            .unwrap()
            .with_embedder(Arc::new(Topics));
        let chunks = c.chunk(&doc);
        assert_eq!(chunks.len(), 2, "{chunks:?}");
        assert!(chunks[0].text.ends_with("cat-like."), "{}", chunks[0].text);
        assert!(chunks[1].text.starts_with("Rust compiles."));
        for ch in &chunks {
            assert_eq!(&text[ch.start..ch.end], ch.text);
        }
        // The recursive strategy keeps the short text whole.
        let r = Chunker::new(
            Arc::new(Words),
            ChunkerConfig {
                strategy: Strategy::Recursive,
                ..cfg
            },
            512,
        )
        .unwrap();
        assert_eq!(r.chunk(&doc).len(), 1);
    }

    #[test]
    fn sentence_spans_trim_and_keep_decimals() {
        let t = " One. Two 3.5 here!  Three\n\nFour";
        let parts: Vec<&str> = sentence_spans(t)
            .into_iter()
            .map(|(s, e)| &t[s..e])
            .collect();
        assert_eq!(parts, vec!["One.", "Two 3.5 here!", "Three", "Four"]);
    }
}
