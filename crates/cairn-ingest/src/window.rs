//! Keeping chunking linear in the length of a document: a token sizer that stops counting
//! once a text is shown too big, and windows that bound what text-splitter scans per chunk.

use cairn_core::TokenCounter;
use std::sync::Arc;
use text_splitter::ChunkSizer;

/// Adapts our `TokenCounter` to text-splitter's sizing trait.
///
/// text-splitter sizes the first section of each semantic level to pick one, and on text
/// with few separators that section is the rest of the document (a single-line file, one
/// huge JSONL record): counting it whole for every chunk made chunking quadratic. A text
/// far longer than the capacity only needs to be shown too big, so the sizer counts growing
/// prefixes (cut at whitespace) and stops at the first that exceeds the capacity. The result
/// is then a lower bound of the true count that is still over the capacity, which is all
/// text-splitter asks ("does not fit"); texts that fit are counted exactly.
pub(crate) struct Sizer {
    pub(crate) counter: Arc<dyn TokenCounter>,
    pub(crate) capacity: usize,
}

/// Bytes per token above which a text is counted by prefixes (no tokenizer makes tokens
/// this long on average, so a prefix of `capacity * PROBE_BYTES_PER_TOKEN` bytes of a text
/// that fits is the whole text).
const PROBE_BYTES_PER_TOKEN: usize = 16;

impl ChunkSizer for Sizer {
    fn size(&self, chunk: &str) -> usize {
        let mut probe = self
            .capacity
            .saturating_mul(PROBE_BYTES_PER_TOKEN)
            .max(4096);
        while probe < chunk.len() {
            let cut = prefix_cut(chunk, probe);
            let n = self.counter.count_tokens(&chunk[..cut]);
            if n > self.capacity {
                return n;
            }
            probe = probe.saturating_mul(2);
        }
        self.counter.count_tokens(chunk)
    }
}

/// A cut of `text` at or below `at` bytes: after the last whitespace in its second half, or
/// else at a character boundary.
fn prefix_cut(text: &str, at: usize) -> usize {
    let mut end = at.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    match text[end / 2..end].rfind(char::is_whitespace) {
        Some(i) => end / 2 + i,
        None => end,
    }
}

/// Texts are split in windows of about this many bytes, cut at paragraph (else line, else
/// word) boundaries. text-splitter rescans every separator left in its input for each
/// chunk, so on one big text that is quadratic; per window it is bounded. Documents below
/// this size are split exactly as before.
pub const WINDOW_BYTES: usize = 64 * 1024;

/// `text` cut into windows of at most about `WINDOW_BYTES`, as (start, end) byte ranges
/// that cover it in order.
pub fn windows(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    while text.len() - start > WINDOW_BYTES {
        let mut hard = start + WINDOW_BYTES;
        while !text.is_char_boundary(hard) {
            hard -= 1;
        }
        let half = start + WINDOW_BYTES / 2;
        let mut lo = half;
        while !text.is_char_boundary(lo) {
            lo += 1;
        }
        let region = &text[lo..hard];
        let cut = region
            .rfind("\n\n")
            .map(|i| lo + i + 2)
            .or_else(|| region.rfind('\n').map(|i| lo + i + 1))
            .or_else(|| {
                region
                    .rfind(char::is_whitespace)
                    .map(|i| lo + i + region[i..].chars().next().map_or(1, char::len_utf8))
            })
            .unwrap_or(hard);
        out.push((start, cut));
        start = cut;
    }
    if start < text.len() || out.is_empty() {
        out.push((start, text.len()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Chunker, ChunkerConfig, Strategy};
    use cairn_core::{Document, Metadata};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// One token per word, and a tally of the bytes it was asked to count.
    #[derive(Default)]
    struct Tally(AtomicUsize);
    impl TokenCounter for Tally {
        fn count_tokens(&self, text: &str) -> usize {
            self.0.fetch_add(text.len(), Ordering::Relaxed);
            text.split_whitespace().count()
        }
    }

    fn chunked_bytes(text: &str, kind: &str) -> (usize, usize) {
        let tally = Arc::new(Tally::default());
        let c = Chunker::new(
            tally.clone(),
            ChunkerConfig {
                max_tokens: 254,
                overlap: 32,
                strategy: Strategy::Recursive,
            },
            256,
        )
        .unwrap();
        let doc = Document {
            id: "d".into(),
            source: "d".into(),
            title: Some("T".into()),
            kind: kind.into(),
            text: text.into(),
            metadata: Metadata::new(),
        };
        let chunks = c.chunk(&doc);
        for ch in &chunks {
            assert!(ch.text.split_whitespace().count() <= 254);
            assert_eq!(&text[ch.start..ch.end], ch.text);
        }
        (chunks.len(), tally.0.load(Ordering::Relaxed))
    }

    #[test]
    fn tokens_counted_grow_linearly_with_the_text() {
        // A single line (no separator above words), prose with paragraphs, and markdown: the
        // bytes handed to the tokenizer per byte of text must not grow with the text.
        let word_line = |n: usize| "lorem ipsum dolor sit amet. ".repeat(n);
        let prose = |n: usize| "A sentence here. Another one there.\n\n".repeat(n);
        for (name, make, kind) in [
            ("one line", &word_line as &dyn Fn(usize) -> String, "text"),
            ("prose", &prose, "text"),
            ("markdown", &prose, "markdown"),
        ] {
            let small = make(20_000);
            let big = make(80_000);
            let (_, a) = chunked_bytes(&small, kind);
            let (n, b) = chunked_bytes(&big, kind);
            let per_small = a as f64 / small.len() as f64;
            let per_big = b as f64 / big.len() as f64;
            assert!(n > 100, "{name}: {n} chunks");
            assert!(
                per_big < per_small * 1.5 + 1.0,
                "{name}: {per_small:.1} → {per_big:.1} bytes counted per byte"
            );
            assert!(
                per_big < 200.0,
                "{name}: {per_big:.1} bytes counted per byte"
            );
        }
    }

    #[test]
    fn the_sizer_stops_once_a_text_is_too_big_and_is_exact_when_it_fits() {
        let tally = Arc::new(Tally::default());
        let s = Sizer {
            counter: tally.clone(),
            capacity: 100,
        };
        let huge = "word ".repeat(200_000);
        let n = s.size(&huge);
        assert!(n > 100);
        assert!(tally.0.load(Ordering::Relaxed) < 20_000, "counted too much");
        let fits = "word ".repeat(90);
        assert_eq!(s.size(&fits), 90);
        // Long words: few tokens in many bytes, still counted exactly.
        let long = format!("{} end", "x".repeat(10_000));
        assert_eq!(s.size(&long), 2);
    }

    #[test]
    fn windows_cover_the_text_at_paragraph_breaks() {
        let para = format!("{}\n\n", "word ".repeat(200));
        let text = para.repeat(300);
        let w = windows(&text);
        assert!(w.len() > 1);
        assert_eq!(w[0].0, 0);
        assert_eq!(w.last().unwrap().1, text.len());
        for pair in w.windows(2) {
            assert_eq!(pair[0].1, pair[1].0);
            assert!(text[..pair[0].1].ends_with("\n\n"));
        }
        for (s, e) in &w {
            assert!(e - s <= WINDOW_BYTES);
        }
        // No separator at all, multi-byte characters: cuts stay on character boundaries.
        let t = "é".repeat(100_000);
        let w = windows(&t);
        assert!(w
            .iter()
            .all(|&(s, e)| t.is_char_boundary(s) && t.is_char_boundary(e)));
        assert_eq!(windows("short"), vec![(0, 5)]);
        assert_eq!(windows(""), vec![(0, 0)]);
    }
}
