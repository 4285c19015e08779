//! Does a cited passage support the sentence that cites it?
//!
//! Two verifiers, named for what they can claim:
//! - **lexical** ("supported (lexical)"): most of the sentence's content words are in the
//!   passage, and nothing the passage lacks carries the claim: a number, a name, a negation
//!   (or its absence) or a statement about the speaker. Cheap, offline, deterministic; it ranks
//!   well but cannot read meaning, so it is calibrated against human labels (BENCHMARKS.md,
//!   `cairn eval citations`).
//! - **judge** ("entailed (judge)"): a [`ChatModel`] reads the passage and the sentence and
//!   returns a structured verdict. Wrap the model in the response cache so reruns are free
//!   and identical.
//!
//! ```
//! use cairn_rag::verify::lexical;
//! let passage = "Hikers build cairns to mark a trail where the ground is bare rock.";
//! assert!(lexical("Hikers build cairns to mark a trail [1].", passage).passed());
//! assert!(!lexical("Hikers do not build cairns to mark a trail.", passage).passed());
//! ```

use std::collections::HashSet;
use std::sync::Arc;

use cairn_llm::{ChatModel, ChatRequest, LlmError, Message};
use serde::{Deserialize, Serialize};

use crate::cite::{content_words, strip_markers};

/// The share of a sentence's content words the passage must hold for the lexical check.
/// Chosen on the BEGIN development files (human labels of whether a response is supported
/// by its evidence): the threshold with the best F0.5 (precision weighted twice recall), with
/// the number, name, negation and speaker rules on. BENCHMARKS.md has the sweep.
pub const LEXICAL_THRESHOLD: f32 = 0.8;

/// Why a lexical check failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "word", rename_all = "snake_case")]
pub enum Mismatch {
    /// Too few of the sentence's content words are in the passage.
    LowOverlap,
    /// A number in the sentence that the passage does not have.
    Number(String),
    /// A name (a capitalised word inside the sentence) that the passage does not have.
    Name(String),
    /// The sentence negates what the passage's closest sentence states, or the reverse.
    Negation,
    /// The sentence speaks about its speaker ("I", "we"), which no passage can support.
    Speaker(String),
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mismatch::LowOverlap => write!(f, "too few of its words are in the passage"),
            Mismatch::Number(n) => write!(f, "the number {n} is not in the passage"),
            Mismatch::Name(n) => write!(f, "the name {n} is not in the passage"),
            Mismatch::Negation => write!(f, "it negates what the passage says, or the reverse"),
            Mismatch::Speaker(w) => write!(f, "\"{w}\" makes it a claim about the speaker"),
        }
    }
}

/// The outcome of the lexical check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Lexical {
    /// Share of the sentence's content words (stemmed, stop words dropped) in the passage.
    pub score: f32,
    /// The first rule that failed; `None` when the check passed.
    pub mismatch: Option<Mismatch>,
}

impl Lexical {
    pub fn passed(&self) -> bool {
        self.mismatch.is_none()
    }
}

/// Share of the sentence's content words (citation markers aside) that the passage contains.
pub fn overlap(sentence: &str, passage: &str) -> f32 {
    let words = content_words(sentence);
    if words.is_empty() {
        return 0.0;
    }
    let have: HashSet<String> = content_words(passage).into_iter().collect();
    words.iter().filter(|w| have.contains(*w)).count() as f32 / words.len() as f32
}

/// The lexical check at [`LEXICAL_THRESHOLD`].
pub fn lexical(sentence: &str, passage: &str) -> Lexical {
    lexical_at(sentence, passage, LEXICAL_THRESHOLD, Rules::ALL)
}

/// Which of the hard rules apply (all of them by default; the others exist to measure each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    pub numbers: bool,
    pub names: bool,
    pub negation: bool,
    pub speaker: bool,
}

impl Rules {
    pub const ALL: Rules = Rules {
        numbers: true,
        names: true,
        negation: true,
        speaker: true,
    };
    pub const NONE: Rules = Rules {
        numbers: false,
        names: false,
        negation: false,
        speaker: false,
    };
}

/// The lexical check with an explicit threshold and rule set.
pub fn lexical_at(sentence: &str, passage: &str, threshold: f32, rules: Rules) -> Lexical {
    let sentence = strip_markers(sentence);
    let score = overlap(&sentence, passage);
    let mismatch = mismatch(&sentence, passage, rules)
        .or_else(|| (score < threshold).then_some(Mismatch::LowOverlap));
    Lexical { score, mismatch }
}

fn mismatch(sentence: &str, passage: &str, rules: Rules) -> Option<Mismatch> {
    let s_words = words(sentence);
    let p_words = words(passage);
    let p_lower: HashSet<String> = p_words.iter().map(|w| w.to_lowercase()).collect();
    if rules.speaker {
        if let Some(w) = s_words
            .iter()
            .find(|w| is_first_person(w) && !p_lower.contains(&w.to_lowercase()))
        {
            return Some(Mismatch::Speaker(w.to_string()));
        }
    }
    if rules.numbers {
        let have = numbers(&p_words);
        if let Some(n) = numbers(&s_words).into_iter().find(|n| !have.contains(n)) {
            return Some(Mismatch::Number(n));
        }
    }
    if rules.names {
        let stems: HashSet<String> = content_words(passage).into_iter().collect();
        for w in names(&s_words) {
            let lower = w.to_lowercase();
            let stem = content_words(&lower);
            let found = p_lower.contains(&lower) || stem.iter().all(|s| stems.contains(s));
            if !found {
                return Some(Mismatch::Name(w.to_string()));
            }
        }
    }
    if rules.negation {
        // Polarity is compared on what the negation governs (the next three words): the
        // sentence and the passage sentence closest to it must agree on whether the words
        // they share are negated. A negation about something else ("where no path can be
        // worn") does not count.
        let closest = words(closest_sentence(sentence, passage));
        let claim: HashSet<String> = content_words(sentence).into_iter().collect();
        let near: HashSet<String> = closest.iter().flat_map(|w| content_words(w)).collect();
        if negates(&s_words, &near) != negates(&closest, &claim) {
            return Some(Mismatch::Negation);
        }
    }
    None
}

/// Words: runs of letters and digits, keeping an inner apostrophe ("don't") and the
/// separators inside a number ("5,016,723", "2.5").
fn words(text: &str) -> Vec<&str> {
    let b: Vec<(usize, char)> = text.char_indices().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if !b[i].1.is_alphanumeric() {
            i += 1;
            continue;
        }
        let start = b[i].0;
        let mut j = i + 1;
        while j < b.len() {
            let c = b[j].1;
            let inner =
                |ok: fn(char) -> bool| b.get(j + 1).is_some_and(|n| ok(n.1)) && ok(b[j - 1].1);
            if c.is_alphanumeric()
                || ((c == '\'' || c == '’') && inner(char::is_alphabetic))
                || ((c == ',' || c == '.') && inner(|c| c.is_ascii_digit()))
            {
                j += 1;
            } else {
                break;
            }
        }
        let end = b.get(j).map_or(text.len(), |x| x.0);
        out.push(&text[start..end]);
        i = j;
    }
    out
}

const NUMBER_WORDS: &[(&str, &str)] = &[
    ("zero", "0"),
    ("one", "1"),
    ("two", "2"),
    ("three", "3"),
    ("four", "4"),
    ("five", "5"),
    ("six", "6"),
    ("seven", "7"),
    ("eight", "8"),
    ("nine", "9"),
    ("ten", "10"),
    ("eleven", "11"),
    ("twelve", "12"),
    ("thirteen", "13"),
    ("fourteen", "14"),
    ("fifteen", "15"),
    ("sixteen", "16"),
    ("seventeen", "17"),
    ("eighteen", "18"),
    ("nineteen", "19"),
    ("twenty", "20"),
    ("thirty", "30"),
    ("forty", "40"),
    ("fifty", "50"),
    ("sixty", "60"),
    ("seventy", "70"),
    ("eighty", "80"),
    ("ninety", "90"),
    ("hundred", "100"),
    ("thousand", "1000"),
    ("million", "1000000"),
    ("billion", "1000000000"),
    ("trillion", "1000000000000"),
    ("dozen", "12"),
];

/// Numbers in canonical form: digits without thousands separators (ordinals and units cut
/// off: "8th" → "8"), number words as their digits ("five" → "5").
fn numbers(words: &[&str]) -> HashSet<String> {
    let mut out = HashSet::new();
    for w in words {
        let lower = w.to_lowercase();
        if let Some((_, d)) = NUMBER_WORDS.iter().find(|(n, _)| *n == lower) {
            out.insert(d.to_string());
            continue;
        }
        // Every digit run, with its inner separators ("1,472", "2.5", "1990s" → "1990").
        let mut cur = String::new();
        let chars: Vec<char> = w.chars().collect();
        for (i, &c) in chars.iter().enumerate() {
            let sep = (c == ',' || c == '.')
                && !cur.is_empty()
                && chars.get(i + 1).is_some_and(|n| n.is_ascii_digit());
            if c.is_ascii_digit() {
                cur.push(c);
            } else if sep {
                if c == '.' {
                    cur.push('.');
                }
            } else if !cur.is_empty() {
                out.insert(std::mem::take(&mut cur));
            }
        }
        if !cur.is_empty() {
            out.insert(cur);
        }
    }
    out
}

/// Capitalised words that are not the sentence's first word (nor "I"): names, places,
/// titles, acronyms.
fn names<'a>(words: &[&'a str]) -> Vec<&'a str> {
    words
        .iter()
        .skip(1)
        .copied()
        .filter(|w| {
            w.chars().next().is_some_and(char::is_uppercase)
                && w.chars().count() >= 2
                && !is_first_person(w)
                && !w.chars().any(|c| c.is_ascii_digit())
        })
        .collect()
}

const NEGATIONS: &[&str] = &[
    "not", "no", "never", "none", "nobody", "nothing", "neither", "nor", "without", "cannot",
    "nowhere",
];

/// True when a negation in `words` governs (is followed within three words by) one of
/// `shared`'s content words.
fn negates(words: &[&str], shared: &HashSet<String>) -> bool {
    words.iter().enumerate().any(|(i, w)| {
        is_negation(w)
            && words[i + 1..(i + 4).min(words.len())]
                .iter()
                .any(|x| content_words(x).iter().any(|s| shared.contains(s)))
    })
}

fn is_negation(w: &str) -> bool {
    let l = w.to_lowercase().replace('’', "'");
    NEGATIONS.contains(&l.as_str()) || l.ends_with("n't")
}

const FIRST_PERSON: &[&str] = &[
    "i",
    "i'm",
    "i've",
    "i'd",
    "i'll",
    "me",
    "my",
    "mine",
    "myself",
    "we",
    "we're",
    "we've",
    "our",
    "ours",
    "ourselves",
    "us",
];

fn is_first_person(w: &str) -> bool {
    // "US" is a country, not "us".
    if w.len() > 1 && w.chars().all(|c| c.is_uppercase()) {
        return false;
    }
    FIRST_PERSON.contains(&w.to_lowercase().replace('’', "'").as_str())
}

/// The passage sentence that holds most of the sentence's content words: negation is
/// compared against what the passage says about the same thing, not anywhere in it.
fn closest_sentence<'a>(sentence: &str, passage: &'a str) -> &'a str {
    let mut best = (passage, -1.0f32);
    let mut start = 0;
    for end in crate::context::sentence_ends(passage) {
        let s = &passage[start..end];
        start = end;
        let score = overlap(sentence, s);
        if score > best.1 {
            best = (s, score);
        }
    }
    best.0
}

/// A judge's verdict on one (passage, sentence) pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Verdict {
    /// Whether everything the sentence states is stated or clearly implied by the passage.
    pub entailed: bool,
    /// One short sentence: what in the passage supports it, or what is missing or different.
    pub reason: String,
}

/// A model that judges entailment. Any [`ChatModel`]; wrap it in
/// `cairn_llm::middleware::Cache` so the same question is never paid for twice.
#[derive(Clone)]
pub struct Judge {
    model: Arc<dyn ChatModel>,
}

const JUDGE_PROMPT: &str = "You check whether a passage supports a statement. The statement is \
supported only if everything it states is stated or clearly implied by the passage: a number, \
name or date that differs, a negation, or any information the passage does not contain means it \
is not supported. Opinions and statements about the speaker are not supported. Reply with JSON: \
{\"entailed\": true or false, \"reason\": \"one short sentence\"}.";

impl Judge {
    pub fn new(model: Arc<dyn ChatModel>) -> Self {
        Judge { model }
    }

    /// The model that judges, e.g. for reports.
    pub fn model_id(&self) -> String {
        self.model.id().to_string()
    }

    /// The request a verdict is asked with (deterministic, so a cache serves reruns).
    pub fn request(sentence: &str, passage: &str) -> ChatRequest {
        let mut req = ChatRequest::new(vec![
            Message::system(JUDGE_PROMPT),
            Message::user(format!(
                "Passage:\n{}\n\nStatement:\n{}",
                passage.trim(),
                strip_markers(sentence).trim()
            )),
        ]);
        req.temperature = Some(0.0);
        req.max_output_tokens = Some(80);
        req
    }

    /// The verdict on whether `passage` entails `sentence` (citation markers ignored).
    pub async fn judge(&self, sentence: &str, passage: &str) -> Result<Verdict, LlmError> {
        self.verdict(sentence, passage).await.map(|(v, _)| v)
    }

    /// The verdict with the facts of the call that gave it (model, cost, cache hit).
    pub async fn verdict(
        &self,
        sentence: &str,
        passage: &str,
    ) -> Result<(Verdict, cairn_llm::Served), LlmError> {
        let format = cairn_llm::structured::format_of::<Verdict>();
        let (v, resp) = cairn_llm::structured::generate_json(
            self.model.as_ref(),
            &Self::request(sentence, passage),
            &format,
        )
        .await?;
        let verdict = serde_json::from_value(v).map_err(|e| LlmError::SchemaMismatch {
            schema_name: format.name,
            errors: e.to_string(),
            reply: resp.text(),
        })?;
        Ok((verdict, resp.served))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAIRNS: &str = "A cairn is a human-made pile of stones. Hikers build cairns to mark a \
        trail where the ground is bare rock. The Inuit built inuksuit in 1850 for 12 families.";

    #[test]
    fn copied_sentences_pass_and_contradictions_fail() {
        let ok = lexical("Hikers build cairns to mark a trail [1].", CAIRNS);
        assert!(ok.passed(), "{ok:?}");
        assert_eq!(ok.score, 1.0);
        // The audit's reproduction: every content word matches, the meaning is reversed.
        let neg = lexical("Hikers do not build cairns to mark a trail [1].", CAIRNS);
        assert_eq!(neg.mismatch, Some(Mismatch::Negation), "{neg:?}");
        assert_eq!(neg.score, 1.0);
        // The reverse: the passage negates, the sentence asserts.
        let p = "Hikers do not use stone piles to mark a trail.";
        assert_eq!(
            lexical("Hikers use stone piles to mark a trail.", p).mismatch,
            Some(Mismatch::Negation)
        );
        // A negation elsewhere in the passage does not count against the sentence, in
        // another sentence or in a clause about something else.
        let p = "Hikers build cairns to mark a trail. Never knock one down.";
        assert!(lexical("Hikers build cairns to mark a trail.", p).passed());
        let p = "Hikers follow cairns to mark a trail where no path can be worn into rock.";
        assert!(lexical("Hikers follow cairns to mark a trail.", p).passed());
        assert_eq!(
            lexical("Hikers do not follow cairns to mark a trail.", p).mismatch,
            Some(Mismatch::Negation)
        );
    }

    #[test]
    fn numbers_and_names_must_be_in_the_passage() {
        assert_eq!(
            lexical("The Inuit built inuksuit in 1860.", CAIRNS).mismatch,
            Some(Mismatch::Number("1860".into()))
        );
        assert!(lexical("The Inuit built inuksuit in 1850.", CAIRNS).passed());
        assert_eq!(
            lexical("The Inuit built inuksuit for thirteen families.", CAIRNS).mismatch,
            Some(Mismatch::Number("13".into()))
        );
        // Number words meet digits, and thousands separators do not matter.
        assert!(lexical("The Inuit built inuksuit for twelve families.", CAIRNS).passed());
        assert!(lexical("It cost 5,016,723 dollars.", "It cost 5016723 dollars.").passed());
        assert_eq!(
            lexical("The Sami built inuksuit in 1850.", CAIRNS).mismatch,
            Some(Mismatch::Name("Sami".into()))
        );
    }

    #[test]
    fn claims_about_the_speaker_and_thin_overlap_fail() {
        assert_eq!(
            lexical("I think hikers build cairns to mark a trail.", CAIRNS).mismatch,
            Some(Mismatch::Speaker("I".into()))
        );
        // "US" is a name, not the pronoun.
        assert_ne!(
            lexical("Cairns mark US trails.", "Cairns mark US trails.").mismatch,
            Some(Mismatch::Speaker("US".into()))
        );
        let thin = lexical("Hikers carry heavy backpacks over glaciers.", CAIRNS);
        assert_eq!(thin.mismatch, Some(Mismatch::LowOverlap));
        assert!(thin.score < LEXICAL_THRESHOLD);
        assert!(!lexical("", CAIRNS).passed());
    }

    #[test]
    fn words_keep_numbers_and_contractions_whole() {
        assert_eq!(
            words("It's 5,016,723 (2.5%) — don't."),
            vec!["It's", "5,016,723", "2.5", "don't"]
        );
        let n = numbers(&["8th", "1990s", "five", "3.14"]);
        for x in ["8", "1990", "5", "3.14"] {
            assert!(n.contains(x), "{x} in {n:?}");
        }
    }

    #[test]
    fn the_judge_request_is_deterministic_and_drops_markers() {
        let a = Judge::request("Cairns mark trails [1].", CAIRNS);
        let b = Judge::request("Cairns mark trails [1].", CAIRNS);
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
        let text = a.messages[1].text();
        assert!(text.contains("Statement:\nCairns mark trails."), "{text}");
        assert_eq!(a.temperature, Some(0.0));
    }
}
