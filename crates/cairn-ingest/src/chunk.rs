//! Token-aware chunking. Sizes count the embedding model's tokens, so no chunk is ever cut
//! off by the model; boundaries come from text-splitter (recursive: paragraphs, sentences,
//! words), and markdown is chunked section by section with fenced code kept whole.

use crate::markdown;
use cairn_core::{Chunk, Document, TokenCounter};
use std::sync::Arc;
use text_splitter::{ChunkConfig, ChunkSizer, MarkdownSplitter, TextSplitter};

#[derive(Debug, Clone, Copy)]
pub struct ChunkerConfig {
    /// Largest chunk in model tokens (special tokens excluded).
    pub max_tokens: usize,
    /// Tokens shared by consecutive chunks.
    pub overlap: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ChunkError {
    #[error("chunk overlap {overlap} must be smaller than the chunk size {size}")]
    Overlap { overlap: usize, size: usize },
    #[error("chunk size must be at least 8 tokens, got {0}")]
    TooSmall(usize),
}

/// Adapts our `TokenCounter` to text-splitter's sizing trait.
struct Sizer(Arc<dyn TokenCounter>);

impl ChunkSizer for Sizer {
    fn size(&self, chunk: &str) -> usize {
        self.0.count_tokens(chunk)
    }
}

pub struct Chunker {
    counter: Arc<dyn TokenCounter>,
    config: ChunkerConfig,
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
        Ok(Chunker { counter, config })
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
        let t = self.counter.count_tokens(header) + 1;
        (t <= self.config.max_tokens / 4).then(|| (self.config.max_tokens - t, t))
    }

    fn chunk_config(&self, capacity: usize) -> ChunkConfig<Sizer> {
        ChunkConfig::new(capacity)
            .with_sizer(Sizer(self.counter.clone()))
            .with_overlap(self.config.overlap.min(capacity / 2))
            .expect("overlap is below capacity")
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
            TextSplitter::new(self.chunk_config(cap))
                .chunk_indices(&doc.text)
                .map(|(s, c)| {
                    (
                        s,
                        s + c.len(),
                        Vec::new(),
                        header_unless_present(&header, c),
                    )
                })
                .collect()
        };
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
            if b.fenced && self.counter.count_tokens(body) <= cap {
                pieces.push((b.start, b.end, b.heading_path, header, cap));
                continue;
            }
            for (s, c) in MarkdownSplitter::new(self.chunk_config(cap)).chunk_indices(body) {
                pieces.push((
                    b.start + s,
                    b.start + s + c.len(),
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
                    && self.counter.count_tokens(text[last.0..p.1].trim()) <= last.4.min(p.4)
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
            },
            256,
        )
        .unwrap();
        assert_eq!(c.config().max_tokens, 254);
        assert!(Chunker::new(
            Arc::new(Words),
            ChunkerConfig {
                max_tokens: 20,
                overlap: 20
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
