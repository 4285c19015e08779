//! Snippets with the query's terms highlighted (matched by stem, as BM25 matches them).

use cairn_store::lexer::Lexer;
use std::collections::HashSet;

/// A window of about `width` characters around the first query term, with every term wrapped
/// by `open`/`close`.
pub fn snippet(text: &str, query: &str, width: usize, open: &str, close: &str) -> String {
    let lexer = Lexer::default();
    let terms: HashSet<String> = lexer.terms(query).into_iter().collect();
    // Word spans in the text.
    let mut words = Vec::new();
    let mut start = None;
    for (i, c) in text
        .char_indices()
        .chain(std::iter::once((text.len(), ' ')))
    {
        let w = c.is_alphanumeric() || c == '_';
        match (w, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                words.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    let hit = |&(s, e): &(usize, usize)| {
        let t = lexer.terms(&text[s..e]);
        t.len() == 1 && terms.contains(&t[0])
    };
    let first = words.iter().find(|w| hit(w)).map(|w| w.0).unwrap_or(0);
    let mut from = first.saturating_sub(width / 3);
    while !text.is_char_boundary(from) {
        from -= 1;
    }
    // Start at a word boundary.
    if from > 0 {
        if let Some(w) = words.iter().find(|w| w.0 >= from) {
            from = w.0;
        }
    }
    let mut to = (from + width).min(text.len());
    while !text.is_char_boundary(to) {
        to += 1;
    }
    let mut out = String::new();
    if from > 0 {
        out.push('…');
    }
    let mut at = from;
    for w in words.iter().filter(|w| w.0 >= from && w.1 <= to) {
        if hit(w) {
            out.push_str(&text[at..w.0]);
            out.push_str(open);
            out.push_str(&text[w.0..w.1]);
            out.push_str(close);
            at = w.1;
        }
    }
    out.push_str(&text[at..to]);
    if to < text.len() {
        out.push('…');
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highlights_stemmed_matches() {
        let s = snippet("Dogs were running in the park.", "run dog", 100, "[", "]");
        assert_eq!(s, "[Dogs] were [running] in the park.");
    }

    #[test]
    fn windows_long_text_around_first_match() {
        let text = format!("{} needle {}", "hay ".repeat(200), "hay ".repeat(200));
        let s = snippet(&text, "needle", 60, "<", ">");
        assert!(s.contains("<needle>"));
        assert!(s.starts_with('…') && s.ends_with('…'));
        assert!(s.chars().count() < 80);
    }
}
