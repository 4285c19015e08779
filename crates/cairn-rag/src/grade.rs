//! What checking an answer's citations found: each citation by who wrote it (the model or
//! cairn) and what the check said, and the counts the footer, `--json` and the benchmarks
//! report. A citation the model wrote is only ever checked and flagged, never rewritten;
//! one cairn attributed is never called verified.

use serde::Serialize;

use crate::cite::{strip_markers, CitedSentence};
use crate::verify::{self, Mismatch, Verdict};

/// Who put a citation there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// The model wrote it.
    Model,
    /// cairn attributed it to a sentence the model left uncited.
    Cairn,
}

/// What checking a citation found. Only a citation the model wrote can be `Supported` or
/// `Entailed`: cairn's own attributions are chosen by the lexical check, so passing it proves
/// nothing about them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The model's citation passed the lexical check: "supported (lexical)".
    Supported,
    /// The judge found the passage entails the sentence: "entailed (judge)".
    Entailed,
    /// The model's citation failed the check (kept in the answer, flagged).
    Unsupported,
    /// Attributed by cairn; never called verified.
    Attributed,
}

impl Status {
    /// The words a person reads for this status.
    pub fn label(self) -> &'static str {
        match self {
            Status::Supported => "supported (lexical)",
            Status::Entailed => "entailed (judge)",
            Status::Unsupported => "not supported",
            Status::Attributed => "attributed by cairn",
        }
    }
}

/// One cited source of one sentence, and what checking it found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Citation {
    pub source: usize,
    pub origin: Origin,
    pub status: Status,
    /// Share of the sentence's content words found in the source, in [0, 1].
    pub support: f32,
    /// Why the lexical check failed (`None` when it passed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mismatch: Option<Mismatch>,
    /// The judge's verdict, when a judge checked it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub judge: Option<Verdict>,
    /// Why the judge gave no verdict, when it was asked and failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub judge_error: Option<String>,
    /// For a model citation that failed: another provided source that passes the lexical
    /// check, i.e. the model most likely named the wrong source.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub better_source: Option<usize>,
}

impl Citation {
    /// True for a citation the model wrote that its check confirmed.
    pub fn verified(&self) -> bool {
        self.origin == Origin::Model && matches!(self.status, Status::Supported | Status::Entailed)
    }
}

/// Checks every citation of every sentence with the lexical verifier. `text_of(n)` is source
/// `n`'s text. A model's failing citation is kept and flagged, with the source that would
/// pass if there is one; cairn's attributions are marked as such, with their support.
pub fn grade<'a>(
    sentences: &mut [CitedSentence],
    text_of: &dyn Fn(usize) -> Option<&'a str>,
    all: &[usize],
) {
    for s in sentences {
        s.citations = s
            .sources
            .iter()
            .map(|&n| {
                let check = text_of(n).map(|t| verify::lexical(&s.text, t));
                let origin = if s.attributed.contains(&n) {
                    Origin::Cairn
                } else {
                    Origin::Model
                };
                let passed = check.as_ref().is_some_and(|c| c.passed());
                let status = match (origin, passed) {
                    (Origin::Cairn, _) => Status::Attributed,
                    (Origin::Model, true) => Status::Supported,
                    (Origin::Model, false) => Status::Unsupported,
                };
                let better_source = (status == Status::Unsupported)
                    .then(|| best_source(&s.text, all, text_of))
                    .flatten()
                    .filter(|&(m, _)| m != n)
                    .map(|(m, _)| m);
                Citation {
                    source: n,
                    origin,
                    status,
                    support: check.as_ref().map_or(0.0, |c| c.score),
                    mismatch: match check {
                        Some(c) => c.mismatch,
                        None => Some(Mismatch::LowOverlap),
                    },
                    judge: None,
                    judge_error: None,
                    better_source,
                }
            })
            .collect();
    }
}

/// The source among `all` that passes the lexical check for `sentence` with the highest
/// overlap (the lower number on a tie).
pub(crate) fn best_source<'a>(
    sentence: &str,
    all: &[usize],
    text_of: &dyn Fn(usize) -> Option<&'a str>,
) -> Option<(usize, f32)> {
    all.iter()
        .filter_map(|&n| {
            let c = verify::lexical(sentence, text_of(n)?);
            c.passed().then_some((n, c.score))
        })
        .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
}

/// What the citations of an answer amount to, counted by who wrote them and what the check
/// found; the footer, `--json` and the benchmarks all report these.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CitationCounts {
    /// Citations the model wrote that name a provided source.
    pub written: usize,
    /// ... of which the check confirmed.
    pub verified: usize,
    /// ... of which failed the check (kept in the answer, flagged).
    pub failed: usize,
    /// ... of the failed ones, how many have another source that passes (wrong source).
    pub wrong_source: usize,
    /// Citations cairn attributed to sentences the model left uncited (not verified).
    pub attributed: usize,
    /// Markers naming no provided source, removed from the text.
    pub removed: usize,
    /// Citations the judge was asked about and gave no verdict on (lexical status kept).
    pub unjudged: usize,
    /// `lexical` or `judge`: what `verified` means.
    pub checked_by: &'static str,
}

impl CitationCounts {
    /// Counts the graded sentences; `removed` comes from the stream's [`crate::cite::CitationFilter`].
    pub fn of(sentences: &[CitedSentence], removed: usize, checked_by: &'static str) -> Self {
        let mut c = CitationCounts {
            removed,
            checked_by,
            ..Default::default()
        };
        for cit in sentences.iter().flat_map(|s| &s.citations) {
            c.unjudged += usize::from(cit.judge_error.is_some());
            match cit.origin {
                Origin::Cairn => c.attributed += 1,
                Origin::Model => {
                    c.written += 1;
                    if cit.verified() {
                        c.verified += 1;
                    } else {
                        c.failed += 1;
                        c.wrong_source += usize::from(cit.better_source.is_some());
                    }
                }
            }
        }
        c
    }

    /// One line for a footer, e.g. "the model's citations: 1 of 2 supported (lexical), 1 not
    /// supported (names the wrong source) · 1 attributed by cairn, not verified".
    pub fn summary(&self) -> String {
        let level = if self.checked_by == "judge" {
            "entailed (judge)"
        } else {
            "supported (lexical)"
        };
        let mut parts = Vec::new();
        if self.written == 0 {
            parts.push("the model wrote no citations".to_string());
        } else {
            let mut s = format!(
                "the model's citations: {} of {} {level}",
                self.verified, self.written
            );
            if self.failed > 0 {
                s.push_str(&format!(", {} not supported", self.failed));
                if self.wrong_source > 0 {
                    s.push_str(&format!(
                        " ({} {} the wrong source)",
                        self.wrong_source,
                        if self.wrong_source == 1 {
                            "names"
                        } else {
                            "name"
                        }
                    ));
                }
            }
            parts.push(s);
        }
        if self.attributed > 0 {
            parts.push(format!(
                "{} attributed by cairn, not verified",
                self.attributed
            ));
        }
        if self.unjudged > 0 {
            parts.push(format!(
                "{} the judge could not check (lexical verdict kept)",
                self.unjudged
            ));
        }
        parts.join(" · ")
    }
}

/// Lines that flag each citation the model wrote that failed its check, and say what cairn
/// attributed, for people reading the answer.
pub fn flag_lines(sentences: &[CitedSentence]) -> Vec<String> {
    let mut out = Vec::new();
    for s in sentences {
        for c in &s.citations {
            let quote = short(&strip_markers(&s.text), 60);
            match c.status {
                Status::Unsupported => {
                    let why = match (&c.judge, &c.mismatch) {
                        (Some(v), _) => format!("judge: {}", v.reason),
                        (None, Some(m)) => format!("{m}; lexical support {:.2}", c.support),
                        (None, None) => format!("lexical support {:.2}", c.support),
                    };
                    let better = c
                        .better_source
                        .map(|b| format!("; source [{b}] supports it"))
                        .unwrap_or_default();
                    out.push(format!(
                        "  [{}] not supported for \"{quote}\" ({why}{better})",
                        c.source
                    ));
                }
                Status::Attributed => out.push(format!(
                    "  [{}] attributed by cairn to \"{quote}\" (chosen by the lexical check, support {:.2}; not verified)",
                    c.source, c.support
                )),
                _ => {}
            }
        }
    }
    out
}

fn short(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max).collect();
    format!("{}…", cut.trim_end())
}

/// Asks `judge` about every citation (the lexical verdicts stay recorded beside it). A model
/// citation becomes `Entailed` or `Unsupported` by the judge's verdict; cairn's attributions
/// keep `Attributed` with the verdict attached. When the judge fails on a citation (no
/// reachable model, a reply that is not a verdict), the error is recorded on it and its
/// lexical status stands; [`CitationCounts::unjudged`] counts them.
pub async fn judge_all<'a>(
    sentences: &mut [CitedSentence],
    judge: &verify::Judge,
    text_of: &(dyn Fn(usize) -> Option<&'a str> + Sync),
) {
    for s in sentences {
        for c in &mut s.citations {
            let Some(passage) = text_of(c.source) else {
                continue;
            };
            match judge.judge(&s.text, passage).await {
                Ok(v) => {
                    if c.origin == Origin::Model {
                        c.status = if v.entailed {
                            Status::Entailed
                        } else {
                            Status::Unsupported
                        };
                        if v.entailed {
                            c.better_source = None;
                        }
                    }
                    c.judge = Some(v);
                    c.judge_error = None;
                }
                Err(e) => c.judge_error = Some(e.to_string()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cite::{attribute, sentences};

    const SOURCES: [&str; 2] = [
        "Hikers build cairns to mark a trail where the ground is bare rock.",
        "Wash knives by hand and dry them at once.",
    ];

    fn graded(answer: &str) -> Vec<CitedSentence> {
        let mut s = sentences(answer);
        grade(&mut s, &|n| SOURCES.get(n - 1).copied(), &[1, 2]);
        s
    }

    #[test]
    fn a_wrong_source_is_kept_flagged_and_counted() {
        let s = graded("Hikers build cairns to mark a trail [2]. Dry knives at once [2].");
        let c = &s[0].citations[0];
        assert_eq!(
            (c.source, c.origin, c.status),
            (2, Origin::Model, Status::Unsupported)
        );
        assert_eq!(c.better_source, Some(1));
        assert_eq!(s[1].citations[0].status, Status::Supported);
        let n = CitationCounts::of(&s, 0, "lexical");
        assert_eq!(
            (n.written, n.verified, n.failed, n.wrong_source),
            (2, 1, 1, 1)
        );
        assert_eq!(
            n.summary(),
            "the model's citations: 1 of 2 supported (lexical), 1 not supported (1 names the wrong source)"
        );
        let flags = flag_lines(&s);
        assert_eq!(flags.len(), 1, "{flags:?}");
        assert!(
            flags[0].contains("[2] not supported") && flags[0].contains("source [1] supports it"),
            "{flags:?}"
        );
    }

    #[test]
    fn a_contradiction_is_not_verified() {
        let s = graded("Hikers do not build cairns to mark a trail [1].");
        let c = &s[0].citations[0];
        assert_eq!(c.status, Status::Unsupported);
        assert_eq!(c.mismatch, Some(Mismatch::Negation));
        assert!(!c.verified());
        assert_eq!(c.better_source, None, "no other source supports it either");
    }

    #[test]
    fn attribution_is_never_called_verified() {
        let texts: Vec<(usize, &str)> = SOURCES
            .iter()
            .enumerate()
            .map(|(i, t)| (i + 1, *t))
            .collect();
        let (_, mut s) = attribute("Hikers build cairns to mark a trail.", 2, &texts);
        grade(&mut s, &|n| SOURCES.get(n - 1).copied(), &[1, 2]);
        let c = &s[0].citations[0];
        assert_eq!((c.origin, c.status), (Origin::Cairn, Status::Attributed));
        assert!(!c.verified());
        assert!(c.support >= verify::LEXICAL_THRESHOLD);
        let n = CitationCounts::of(&s, 1, "lexical");
        assert_eq!(
            (n.written, n.verified, n.attributed, n.removed),
            (0, 0, 1, 1)
        );
        let line = n.summary();
        assert_eq!(
            line,
            "the model wrote no citations · 1 attributed by cairn, not verified"
        );
        assert!(!line.contains("verified against"), "{line}");
        assert!(flag_lines(&s)[0].contains("attributed by cairn"));
    }
}
