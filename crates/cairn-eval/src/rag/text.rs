//! Answer-against-reference metrics that need no model, normalised as the SQuAD evaluation
//! script normalises (lower case, ASCII punctuation and the articles a/an/the removed,
//! whitespace collapsed), after the answer's `[n]` citation markers are removed.

use std::collections::HashMap;

use cairn_rag::cite::strip_markers;

/// SQuAD's `normalize_answer`.
pub fn normalize(s: &str) -> String {
    let lower = s.to_lowercase();
    let no_punct: String = lower
        .chars()
        .filter(|c| !c.is_ascii_punctuation())
        .collect();
    no_punct
        .split_whitespace()
        .filter(|w| !matches!(*w, "a" | "an" | "the"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn tokens(s: &str) -> Vec<String> {
    normalize(&strip_markers(s))
        .split(' ')
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

/// 1.0 when the normalised answer equals the normalised reference.
pub fn exact_match(answer: &str, reference: &str) -> f64 {
    f64::from(u8::from(tokens(answer) == tokens(reference)))
}

/// SQuAD token F1: the harmonic mean of the shares of answer tokens found in the reference and
/// of reference tokens found in the answer (tokens counted with multiplicity). When either side
/// is empty after normalisation, 1.0 if both are, else 0.0 (SQuAD 2.0's rule).
pub fn token_f1(answer: &str, reference: &str) -> f64 {
    let (a, r) = (tokens(answer), tokens(reference));
    if a.is_empty() || r.is_empty() {
        return f64::from(u8::from(a.is_empty() && r.is_empty()));
    }
    let mut counts: HashMap<&str, i64> = HashMap::new();
    for t in &r {
        *counts.entry(t).or_default() += 1;
    }
    let mut same = 0usize;
    for t in &a {
        if let Some(c) = counts.get_mut(t.as_str()) {
            if *c > 0 {
                *c -= 1;
                same += 1;
            }
        }
    }
    if same == 0 {
        return 0.0;
    }
    let p = same as f64 / a.len() as f64;
    let rc = same as f64 / r.len() as f64;
    2.0 * p * rc / (p + rc)
}

/// 1.0 when the normalised reference occurs in the normalised answer as whole words
/// ("yes" is in "Yes, he did", not in "eyes"). An empty reference never occurs.
pub fn contains(answer: &str, reference: &str) -> f64 {
    let r = tokens(reference).join(" ");
    if r.is_empty() {
        return 0.0;
    }
    let a = format!(" {} ", tokens(answer).join(" "));
    f64::from(u8::from(a.contains(&format!(" {r} "))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_is_squads() {
        assert_eq!(normalize("The  Cat, an apple & A dog!"), "cat apple dog");
        assert_eq!(normalize("Théâtre"), "théâtre");
        assert_eq!(normalize("U.S.A."), "usa");
    }

    #[test]
    fn exact_match_ignores_case_punctuation_articles_and_markers() {
        assert_eq!(exact_match("Yes.", "yes"), 1.0);
        assert_eq!(exact_match("The 1832 [1]", "1832"), 1.0);
        assert_eq!(exact_match("in 1832", "1832"), 0.0);
    }

    #[test]
    fn f1_by_hand() {
        // answer: [lincoln, began, in, 1832] (4), reference: [1832] (1): same 1.
        // p = 1/4, r = 1, f1 = 2 * 0.25 / 1.25 = 0.4
        assert!((token_f1("Lincoln began in 1832.", "1832") - 0.4).abs() < 1e-12);
        // Multiplicity: answer [a1 a1 b] vs reference [a1 b b]: same = 1 (a1) + 1 (b) = 2;
        // p = r = 2/3.
        assert!((token_f1("x x y", "x y y") - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(token_f1("no overlap here", "1832"), 0.0);
        assert_eq!(token_f1("the", "a"), 1.0); // both empty after normalisation
        assert_eq!(token_f1("the", "1832"), 0.0);
    }

    #[test]
    fn contains_matches_whole_words() {
        assert_eq!(contains("Yes, he did [2].", "yes"), 1.0);
        assert_eq!(contains("His eyes were blue.", "yes"), 0.0);
        assert_eq!(contains("It was 18 months long.", "18 months"), 1.0);
        assert_eq!(contains("anything", "the"), 0.0);
    }
}
