//! Context assembly: numbered source blocks, best first, within a token budget. A passage that
//! does not fit whole is cut back to its last complete sentence that fits, never mid-sentence;
//! if not even one sentence fits, it is left out.

use crate::select::Passage;

/// A passage as the prompt numbers it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Source {
    /// 1-based number the model cites as `[n]`.
    pub n: usize,
    pub passage: Passage,
    /// True when the passage was cut back to fit.
    pub truncated: bool,
}

impl Source {
    /// The source as the server's and `ask --json`'s clients read it: number, location,
    /// span, chunk ids and passage text.
    pub fn to_json(&self) -> serde_json::Value {
        let p = &self.passage;
        serde_json::json!({"n": self.n, "source": p.source, "title": p.title,
            "heading_path": p.heading_path, "page": p.page, "start": p.start, "end": p.end,
            "chunk_ids": p.chunk_ids, "rank": p.rank, "truncated": self.truncated,
            "text": p.text})
    }

    /// Where the passage comes from, for people: `path › heading › heading (page 3)`.
    pub fn location(&self) -> String {
        let p = &self.passage;
        let mut s = p.source.clone();
        for h in &p.heading_path {
            s.push_str(" › ");
            s.push_str(h);
        }
        if let Some(page) = p.page {
            s.push_str(&format!(" (page {page})"));
        }
        s
    }

    /// The block the prompt shows for this source.
    /// The line that lists a cited source under an answer.
    pub fn cited_line(&self) -> String {
        format!(
            "  [{}] {} (bytes {}–{})",
            self.n,
            self.location(),
            self.passage.start,
            self.passage.end
        )
    }

    pub fn block(&self) -> String {
        format!(
            "[{}] {}\n{}\n",
            self.n,
            self.location(),
            self.passage.text.trim()
        )
    }
}

/// Byte offsets just past each sentence end (`.`, `!`, `?` or a blank line, followed by
/// whitespace or the end), the last one being the text's end.
pub fn sentence_ends(text: &str) -> Vec<usize> {
    let b = text.as_bytes();
    let mut ends = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let terminal = matches!(c, b'.' | b'!' | b'?');
        let blank = c == b'\n' && b.get(i + 1) == Some(&b'\n');
        if (terminal && b.get(i + 1).is_none_or(|n| n.is_ascii_whitespace())) || blank {
            ends.push(i + 1);
        }
        i += 1;
    }
    if ends.last() != Some(&text.len()) {
        ends.push(text.len());
    }
    ends
}

/// Sources within `budget` tokens as `count` measures the rendered blocks, in the order given
/// (best first). `count` must be the answering model's tokenizer (or an overestimate of it).
pub fn assemble(passages: &[Passage], budget: usize, count: &dyn Fn(&str) -> usize) -> Vec<Source> {
    let mut out: Vec<Source> = Vec::new();
    let mut used = 0;
    for p in passages {
        let n = out.len() + 1;
        let whole = Source {
            n,
            passage: p.clone(),
            truncated: false,
        };
        let cost = count(&whole.block());
        if used + cost <= budget {
            used += cost;
            out.push(whole);
            continue;
        }
        // The longest prefix ending at a sentence boundary that fits.
        let ends = sentence_ends(&p.text);
        let mut fitted = None;
        let (mut lo, mut hi) = (0usize, ends.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            let mut cut = p.clone();
            cut.text = p.text[..ends[mid]].to_string();
            cut.end = p.start + ends[mid];
            let s = Source {
                n,
                passage: cut,
                truncated: true,
            };
            let c = count(&s.block());
            if used + c <= budget {
                fitted = Some((s, c));
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        if let Some((s, c)) = fitted {
            used += c;
            out.push(s);
        }
    }
    out
}

/// The numbered sources as the prompt shows them.
pub fn render(sources: &[Source]) -> String {
    sources
        .iter()
        .map(Source::block)
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passage(text: &str, rank: usize) -> Passage {
        Passage {
            doc_id: format!("d{rank}"),
            source: format!("doc{rank}.md"),
            title: None,
            heading_path: vec!["Intro".into()],
            start: 0,
            end: text.len(),
            text: text.into(),
            chunk_ids: vec![],
            rank,
            score: 0.0,
            page: None,
        }
    }

    fn words(s: &str) -> usize {
        s.split_whitespace().count()
    }

    #[test]
    fn sentences_end_at_terminals_and_blank_lines() {
        let t = "Dr. Who? Yes. 3.5 is a number! Next\n\nPara";
        let mut parts = Vec::new();
        let mut from = 0;
        for e in sentence_ends(t) {
            let p = t[from..e].trim();
            if !p.is_empty() {
                parts.push(p);
            }
            from = e;
        }
        assert_eq!(
            parts,
            vec!["Dr.", "Who?", "Yes.", "3.5 is a number!", "Next", "Para"]
        );
    }

    #[test]
    fn budget_is_never_exceeded_order_is_kept_and_cuts_fall_on_sentences() {
        let ps = vec![
            passage("First source has five words.", 1),
            passage(
                "Second one. It has two sentences here. And a third one too.",
                2,
            ),
            passage("Third.", 3),
        ];
        for budget in 0..60 {
            let out = assemble(&ps, budget, &words);
            let used: usize = out.iter().map(|s| words(&s.block())).sum();
            assert!(used <= budget, "budget {budget}: used {used}");
            // Numbers are consecutive and follow the given order.
            for (i, s) in out.iter().enumerate() {
                assert_eq!(s.n, i + 1);
            }
            let ranks: Vec<usize> = out.iter().map(|s| s.passage.rank).collect();
            assert!(ranks.windows(2).all(|w| w[0] < w[1]), "{ranks:?}");
            for s in &out {
                let t = s.passage.text.trim_end();
                assert!(t.ends_with('.'), "cut mid-sentence: {t:?}");
                assert!(ps.iter().any(|p| p.text.starts_with(t)));
            }
        }
        // Enough for all: nothing truncated.
        let out = assemble(&ps, 1000, &words);
        assert_eq!(out.len(), 3);
        assert!(out.iter().all(|s| !s.truncated));
        // Room for the first and part of the second: cut after a whole sentence.
        let first = words(&assemble(&ps[..1], 1000, &words)[0].block());
        let out = assemble(&ps, first + 8, &words);
        assert_eq!(out.len(), 2);
        assert!(out[1].truncated);
        assert_eq!(out[1].passage.text, "Second one.");
        assert_eq!(out[1].passage.end, "Second one.".len());
    }

    #[test]
    fn blocks_show_number_location_and_page() {
        let mut p = passage("Text.", 1);
        p.page = Some(3);
        let s = &assemble(&[p], 100, &words)[0];
        assert_eq!(s.block(), "[1] doc1.md › Intro (page 3)\nText.\n");
    }
}
