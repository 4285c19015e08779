//! Tokenisation for BM25, the same as bm25s's default English pipeline: lowercase, words of
//! two or more word characters (`(?u)\b\w\w+\b`), English stopwords removed, Snowball
//! (Porter2) stemming.

use rust_stemmers::{Algorithm, Stemmer};
use std::collections::HashSet;
use std::sync::OnceLock;

/// The English stopword list bm25s uses by default.
pub const STOPWORDS_EN: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
    "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these",
    "they", "this", "to", "was", "will", "with",
];

fn stopwords() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| STOPWORDS_EN.iter().copied().collect())
}

pub struct Lexer {
    stemmer: Stemmer,
}

impl Default for Lexer {
    fn default() -> Self {
        Lexer {
            stemmer: Stemmer::create(Algorithm::English),
        }
    }
}

impl Lexer {
    /// Calls `f` with each index term of `text`, in order.
    pub fn for_each_term(&self, text: &str, mut f: impl FnMut(&str)) {
        let mut word = String::new();
        let mut chars = 0;
        let mut flush = |word: &mut String, chars: &mut usize| {
            if *chars >= 2 && !stopwords().contains(word.as_str()) {
                f(&self.stemmer.stem(word));
            }
            word.clear();
            *chars = 0;
        };
        for c in text.chars() {
            if c.is_alphanumeric() || c == '_' {
                for l in c.to_lowercase() {
                    word.push(l);
                }
                chars += 1;
            } else if !word.is_empty() {
                flush(&mut word, &mut chars);
            }
        }
        if !word.is_empty() {
            flush(&mut word, &mut chars);
        }
    }

    pub fn terms(&self, text: &str) -> Vec<String> {
        let mut v = Vec::new();
        self.for_each_term(text, |t| v.push(t.to_string()));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowercases_drops_stopwords_and_short_words_and_stems() {
        let l = Lexer::default();
        assert_eq!(
            l.terms("The Running dogs, a cat & I were jumping_high in 2020!"),
            vec!["run", "dog", "cat", "were", "jumping_high", "2020"]
        );
    }
}
