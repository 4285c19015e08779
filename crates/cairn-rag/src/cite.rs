//! Citation checking. The model cites sources as `[n]` (or `[n, m]`); a marker naming no
//! provided source is removed and counted. Works on a stream: text is held back only while a
//! `[` could still be the start of a marker.

use serde::Serialize;

use crate::grade::{best_source, Citation};

/// Filters citation markers out of streamed text as it arrives.
#[derive(Debug)]
pub struct CitationFilter {
    sources: usize,
    pending: String,
    /// Spaces not yet shown: dropped if an invalid marker follows them.
    held: String,
    pub removed: usize,
    /// Every valid source number cited, in first-cited order.
    pub cited: Vec<usize>,
}

/// Longest marker we wait for before deciding `[` was plain text.
const MAX_MARKER: usize = 24;

impl CitationFilter {
    pub fn new(sources: usize) -> Self {
        CitationFilter {
            sources,
            pending: String::new(),
            held: String::new(),
            removed: 0,
            cited: Vec::new(),
        }
    }

    /// Feeds text; returns what can be shown now. Trailing spaces are held back too, so a
    /// removed marker does not leave "fact ." behind.
    pub fn push(&mut self, text: &str) -> String {
        self.pending.push_str(text);
        let mut out = String::new();
        loop {
            let Some(open) = self.pending.find('[') else {
                let all = std::mem::take(&mut self.pending);
                let keep = all.trim_end_matches(' ').len();
                self.emit(&mut out, &all[..keep]);
                self.held.push_str(&all[keep..]);
                return out;
            };
            let before = self.pending[..open].to_string();
            let keep = before.trim_end_matches(' ').len();
            self.emit(&mut out, &before[..keep]);
            self.held.push_str(&before[keep..]);
            self.pending.drain(..open);
            match self.pending.find(']') {
                Some(close) => {
                    let inner = self.pending[1..close].to_string();
                    match parse_marker(&inner) {
                        Some(nums) => {
                            let valid: Vec<usize> = nums
                                .iter()
                                .copied()
                                .filter(|n| (1..=self.sources).contains(n))
                                .collect();
                            self.removed += nums.len() - valid.len();
                            for n in &valid {
                                if !self.cited.contains(n) {
                                    self.cited.push(*n);
                                }
                            }
                            if valid.is_empty() {
                                self.held.clear();
                            } else {
                                let list: Vec<String> =
                                    valid.iter().map(|n| n.to_string()).collect();
                                self.emit(&mut out, &format!("[{}]", list.join(", ")));
                            }
                        }
                        None => {
                            let raw = self.pending[..=close].to_string();
                            self.emit(&mut out, &raw);
                        }
                    }
                    self.pending.drain(..=close);
                }
                None if self.pending.len() > MAX_MARKER
                    || !self.pending[1..]
                        .chars()
                        .all(|c| c.is_ascii_digit() || c == ',' || c == ' ') =>
                {
                    // Not a marker: release the bracket and go on.
                    self.emit(&mut out, "[");
                    self.pending.drain(..1);
                }
                None => return out,
            }
        }
    }

    fn emit(&mut self, out: &mut String, text: &str) {
        if text.is_empty() {
            return;
        }
        out.push_str(&std::mem::take(&mut self.held));
        out.push_str(text);
    }

    /// Flushes what is held back at the end of the stream.
    pub fn finish(&mut self) -> String {
        let mut out = std::mem::take(&mut self.held);
        out.push_str(&std::mem::take(&mut self.pending));
        out
    }
}

/// `1`, `1, 2`, `1,2` → numbers; anything else is not a marker.
fn parse_marker(inner: &str) -> Option<Vec<usize>> {
    let nums: Option<Vec<usize>> = inner
        .split(',')
        .map(|p| p.trim().parse::<usize>().ok())
        .collect();
    nums.filter(|v| !v.is_empty())
}

/// One answer sentence, the sources it cites and what checking them found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CitedSentence {
    pub text: String,
    /// Every source the sentence cites, in order (the model's and cairn's).
    pub sources: Vec<usize>,
    /// The sources among `sources` that cairn attributed (the model cited nothing here).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attributed: Vec<usize>,
    /// One entry per cited source (filled by [`crate::grade::grade`]).
    pub citations: Vec<Citation>,
}

/// The source numbers the sentences cite, each once, in order of first citation.
pub fn cited_numbers(sentences: &[CitedSentence]) -> Vec<usize> {
    let mut out: Vec<usize> = Vec::new();
    for &n in sentences.iter().flat_map(|s| &s.sources) {
        if !out.contains(&n) {
            out.push(n);
        }
    }
    out
}

const STOPWORDS: &[&str] = &[
    "the", "and", "for", "are", "was", "were", "with", "that", "this", "from", "they", "their",
    "them", "these", "those", "has", "have", "had", "not", "but", "its", "into", "can", "may",
    "which", "who", "what", "when", "where", "how", "why", "than", "then", "there", "also", "use",
    "uses", "used", "using", "been", "being", "will", "would", "should", "could", "about", "such",
    "each", "other", "some", "any", "all", "more", "most", "only", "very", "does", "did",
];

/// Lower-cased, stemmed content words (Snowball English, as BM25 uses), so "marks" meets
/// "marked".
pub(crate) fn content_words(text: &str) -> Vec<String> {
    static STEMMER: std::sync::OnceLock<rust_stemmers::Stemmer> = std::sync::OnceLock::new();
    let stemmer =
        STEMMER.get_or_init(|| rust_stemmers::Stemmer::create(rust_stemmers::Algorithm::English));
    // "5,016,723" and "5016723" are one number: drop separators between digits first.
    let b = text.as_bytes();
    let joined: String = text
        .char_indices()
        .filter(|&(i, c)| {
            !(c == ','
                && i > 0
                && b[i - 1].is_ascii_digit()
                && b.get(i + 1).is_some_and(u8::is_ascii_digit))
        })
        .map(|(_, c)| c)
        .collect();
    joined
        .split(|c: char| !c.is_alphanumeric())
        .map(str::to_lowercase)
        .filter(|w| w.chars().count() >= 3 && !STOPWORDS.contains(&w.as_str()))
        .map(|w| stemmer.stem(&w).into_owned())
        .collect()
}

/// Splits checked answer text into sentences, each with the markers in it (a marker right
/// after the full stop belongs to the sentence before it).
pub fn sentences(answer: &str) -> Vec<CitedSentence> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let chars: Vec<char> = answer.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        cur.push(c);
        let end = matches!(c, '.' | '!' | '?')
            && chars
                .get(i + 1)
                .is_none_or(|n| n.is_whitespace() || *n == '[');
        if end || (c == '\n' && chars.get(i + 1) == Some(&'\n')) {
            // Swallow markers that follow the terminal.
            let mut j = i + 1;
            loop {
                let mut k = j;
                while k < chars.len() && chars[k] == ' ' {
                    k += 1;
                }
                if k < chars.len() && chars[k] == '[' {
                    if let Some(len) = chars[k..].iter().position(|&c| c == ']') {
                        let inner: String = chars[k + 1..k + len].iter().collect();
                        if parse_marker(&inner).is_some() {
                            cur.extend(&chars[j..=k + len]);
                            j = k + len + 1;
                            continue;
                        }
                    }
                }
                break;
            }
            push_sentence(&mut out, &cur);
            cur.clear();
            i = j;
            continue;
        }
        i += 1;
    }
    push_sentence(&mut out, &cur);
    out
}

fn push_sentence(out: &mut Vec<CitedSentence>, s: &str) {
    let t = s.trim();
    if t.is_empty() {
        return;
    }
    let mut sources = Vec::new();
    let mut rest = t;
    while let Some(o) = rest.find('[') {
        match rest[o..].find(']') {
            Some(c) => {
                if let Some(nums) = parse_marker(&rest[o + 1..o + c]) {
                    for n in nums {
                        if !sources.contains(&n) {
                            sources.push(n);
                        }
                    }
                }
                rest = &rest[o + c + 1..];
            }
            None => break,
        }
    }
    out.push(CitedSentence {
        text: t.to_string(),
        sources,
        attributed: Vec::new(),
        citations: Vec::new(),
    });
}

/// For models too small to cite reliably: keeps the first `max_sentences` distinct sentences,
/// and a sentence the model left without a citation that passes the lexical check gets the
/// source that passes it best, added and marked as cairn's ([`CitedSentence::attributed`]).
/// A citation the model wrote is never removed or replaced: it stays beside cairn's, and
/// [`crate::grade::grade`] checks and flags it. Returns the new answer and its sentences.
pub fn attribute(
    answer: &str,
    max_sentences: usize,
    sources: &[(usize, &str)],
) -> (String, Vec<CitedSentence>) {
    let mut kept: Vec<CitedSentence> = Vec::new();
    for s in sentences(answer) {
        let bare = content_words(&s.text);
        if kept.iter().any(|k| content_words(&k.text) == bare) {
            break; // the model started repeating itself
        }
        kept.push(s);
        if kept.len() == max_sentences {
            break;
        }
    }
    let all: Vec<usize> = sources.iter().map(|(n, _)| *n).collect();
    let text_of = |n: usize| sources.iter().find(|(m, _)| *m == n).map(|(_, t)| *t);
    for s in &mut kept {
        let supported = s
            .sources
            .iter()
            .any(|&n| text_of(n).is_some_and(|t| crate::verify::lexical(&s.text, t).passed()));
        if supported {
            continue;
        }
        if let Some((n, _)) = best_source(&s.text, &all, &text_of) {
            if !s.sources.contains(&n) {
                s.text = with_marker(&s.text, n);
                s.sources.push(n);
                s.attributed.push(n);
            }
        }
    }
    let text = kept
        .iter()
        .map(|s| s.text.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    (text, kept)
}

/// The sentence with `[n]` added after its other markers, before its final full stop.
fn with_marker(sentence: &str, n: usize) -> String {
    let t = sentence.trim_end();
    match t.char_indices().last() {
        Some((i, c)) if matches!(c, '.' | '!' | '?') => {
            let body = &t[..i];
            if body.ends_with(']') {
                format!("{body}[{n}]{c}")
            } else {
                format!("{} [{n}]{c}", body.trim_end())
            }
        }
        Some((_, ']')) => format!("{t}[{n}]"),
        _ => format!("{t} [{n}]"),
    }
}

/// The text without its `[n]` markers (and the space before each).
pub fn strip_markers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(o) = rest.find('[') {
        match rest[o..].find(']') {
            Some(c) if parse_marker(&rest[o + 1..o + c]).is_some() => {
                out.push_str(rest[..o].trim_end_matches(' '));
                rest = &rest[o + c + 1..];
            }
            _ => {
                out.push_str(&rest[..=o]);
                rest = &rest[o + 1..];
            }
        }
    }
    out.push_str(rest);
    out.trim_start().to_string()
}

/// What the model says when the sources do not answer the question; matched loosely.
pub fn says_it_does_not_know(answer: &str) -> bool {
    let a = answer.to_ascii_lowercase();
    [
        "i don't know",
        "i do not know",
        "not in the provided sources",
        "the sources do not",
        "cannot answer",
        "can't answer",
    ]
    .iter()
    .any(|p| a.contains(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(sources: usize, pieces: &[&str]) -> (String, CitationFilter) {
        let mut f = CitationFilter::new(sources);
        let mut out = String::new();
        for p in pieces {
            out.push_str(&f.push(p));
        }
        out.push_str(&f.finish());
        (out, f)
    }

    #[test]
    fn invalid_markers_are_removed_and_counted() {
        let (out, f) = run(
            2,
            &["Paris is the capital [1]. It is big [7]. Both [1, 9] [2]."],
        );
        assert_eq!(out, "Paris is the capital [1]. It is big. Both [1] [2].");
        assert_eq!(f.removed, 2);
        assert_eq!(f.cited, vec![1, 2]);
    }

    #[test]
    fn markers_split_across_deltas_and_plain_brackets_survive() {
        let whole = "See [1] and [3]; arrays like a[i] or [note] stay. [2";
        for cut in 1..whole.len() {
            let (out, f) = run(2, &[&whole[..cut], &whole[cut..]]);
            assert_eq!(
                out, "See [1] and; arrays like a[i] or [note] stay. [2",
                "cut {cut}"
            );
            assert_eq!(f.removed, 1);
        }
    }

    #[test]
    fn sentences_map_to_their_sources() {
        let s = sentences(
            "Paris is the capital [1]. It has 2.1 million people. [2][1] Is it big? Yes [3].",
        );
        assert_eq!(s.len(), 4);
        assert_eq!(
            s[0],
            CitedSentence {
                text: "Paris is the capital [1].".into(),
                sources: vec![1],
                attributed: Vec::new(),
                citations: Vec::new(),
            }
        );
        assert_eq!(s[1].sources, vec![2, 1]);
        assert!(s[1].text.starts_with("It has 2.1 million"));
        assert_eq!(s[2].sources, Vec::<usize>::new());
        assert_eq!(s[3].sources, vec![3]);
    }

    #[test]
    fn attribution_fills_only_uncited_sentences_and_stops_repetition() {
        let sources = [
            (
                1,
                "Hikers build and follow cairns to mark a trail over bare rock.",
            ),
            (2, "Wash knives by hand and dry them at once."),
        ];
        let (a, s) = attribute(
            "Cairns mark a trail over bare rock. Dry knives at once [2]. Cairns mark a trail over bare rock. More text.",
            3,
            &sources,
        );
        assert_eq!(
            a,
            "Cairns mark a trail over bare rock [1]. Dry knives at once [2]."
        );
        assert_eq!(s[0].attributed, vec![1]);
        assert!(
            s[1].attributed.is_empty(),
            "the model's citation stays the model's"
        );
        // A citation the model wrote is never removed or replaced, even when it names the
        // wrong source: cairn's attribution goes beside it, marked as cairn's.
        let (a, s) = attribute("Cairns mark a trail over bare rock [2].", 2, &sources);
        assert_eq!(a, "Cairns mark a trail over bare rock [2][1].");
        assert_eq!(
            (s[0].sources.clone(), s[0].attributed.clone()),
            (vec![2, 1], vec![1])
        );
        assert_eq!(with_marker("Done. [2]", 1), "Done. [2][1]");
        assert_eq!(with_marker("No stop", 3), "No stop [3]");
        // Nothing supported: no citation is invented; the sentence cap holds.
        let (a, s) = attribute("The moon is made of cheese. Second. Third.", 2, &sources);
        assert_eq!(a, "The moon is made of cheese. Second.");
        assert!(s.iter().all(|s| s.attributed.is_empty()));
    }

    #[test]
    fn does_not_know() {
        assert!(says_it_does_not_know(
            "I don't know: the sources do not say."
        ));
        assert!(!says_it_does_not_know("Paris [1]."));
    }
}
