//! Citation quality as ALCE (Gao et al., 2023) measures it, with the entailment check either
//! cairn's lexical verifier (no model, deterministic) or a judge model:
//!
//! - **recall**: the share of the answer's sentences that the passages they cite, joined,
//!   entail (a sentence citing nothing scores 0);
//! - **precision**: the share of citations that are needed. For a sentence its joined
//!   citations entail and that cites more than one passage, a citation is needed unless its
//!   passage alone fails to entail the sentence while the others without it still do; a
//!   sentence citing one passage adds 1 if it is entailed; a sentence not entailed adds 0.
//!   An answer without citations scores 0, and a sentence citing a number that names no
//!   passage is not entailed (as ALCE scores it).
//!
//! Only the citations the answering model wrote count (see [`super::sample::Response`]).

use cairn_rag::verify::{self, Judge};
use serde_json::json;

use super::run::Meter;
use super::sample::{MetricResult, Response};

/// How "the passage entails the sentence" is decided.
pub enum Entailment<'a> {
    /// cairn's lexical verifier ([`verify::lexical`]): content-word overlap plus the number,
    /// name, negation and speaker rules. Calibrated against human labels by `cairn eval citations`.
    Lexical,
    /// A judge model ([`Judge`]), its calls booked on the meter.
    Judge(&'a Judge, &'a Meter),
}

impl Entailment<'_> {
    pub fn name(&self) -> &'static str {
        match self {
            Entailment::Lexical => "lexical",
            Entailment::Judge(..) => "judge",
        }
    }

    async fn entails(&self, passage: &str, sentence: &str) -> Result<bool, String> {
        if passage.trim().is_empty() {
            return Ok(false);
        }
        match self {
            Entailment::Lexical => Ok(verify::lexical(sentence, passage).passed()),
            Entailment::Judge(judge, meter) => match judge.verdict(sentence, passage).await {
                Ok((v, served)) => {
                    meter.record(&served);
                    Ok(v.entailed)
                }
                Err(e) => Err(super::judge::reason_of(&e)),
            },
        }
    }
}

/// Citation precision and recall of one response, or why they cannot be scored.
pub async fn scores(response: &Response, check: &Entailment<'_>) -> [MetricResult; 2] {
    let skip = |why: &str| [MetricResult::skipped(why), MetricResult::skipped(why)];
    if !response.answered {
        return skip("refusal: the system declined to answer");
    }
    let statements: Vec<_> = response
        .statements
        .iter()
        .filter(|s| s.text.chars().any(char::is_alphanumeric))
        .collect();
    if statements.is_empty() {
        return skip("no statements: the answer has no sentence");
    }
    let passage = |n: usize| {
        n.checked_sub(1)
            .and_then(|i| response.contexts.get(i))
            .map_or("", |c| c.text.as_str())
    };
    let join = |ns: &[usize]| {
        ns.iter()
            .map(|&n| passage(n))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let (mut entailed, mut needed, mut total) = (0usize, 0usize, 0usize);
    let mut detail = Vec::new();
    for s in statements {
        let mut cites = s.cites.clone();
        cites.dedup();
        total += cites.len();
        // As ALCE: a citation naming no passage makes the sentence unsupported.
        let in_range = cites
            .iter()
            .all(|&n| (1..=response.contexts.len()).contains(&n));
        let joint = !cites.is_empty() && in_range && {
            match check.entails(&join(&cites), &s.text).await {
                Ok(b) => b,
                Err(e) => return skip(&e),
            }
        };
        let mut unneeded = Vec::new();
        if joint {
            entailed += 1;
            if cites.len() == 1 {
                needed += 1;
            } else {
                for &c in &cites {
                    let alone = match check.entails(passage(c), &s.text).await {
                        Ok(b) => b,
                        Err(e) => return skip(&e),
                    };
                    let rest: Vec<usize> = cites.iter().copied().filter(|&o| o != c).collect();
                    let others = !alone
                        && match check.entails(&join(&rest), &s.text).await {
                            Ok(b) => b,
                            Err(e) => return skip(&e),
                        };
                    if others {
                        unneeded.push(c);
                    } else {
                        needed += 1;
                    }
                }
            }
        }
        detail.push(
            json!({"statement": s.text, "cites": cites, "supported": joint,
            "unneeded": unneeded}),
        );
    }
    let details = json!({"checked_by": check.name(), "statements": detail});
    let precision = if total == 0 {
        0.0
    } else {
        needed as f64 / total as f64
    };
    let recall = entailed as f64 / detail.len() as f64;
    [
        MetricResult::value(precision).with_details(details.clone()),
        MetricResult::value(recall).with_details(details),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rag::sample::{Context, Statement};

    fn response(statements: &[(&str, &[usize])]) -> Response {
        let ctx = |t: &str| Context {
            text: t.into(),
            ..Default::default()
        };
        Response {
            answer: String::new(),
            answered: true,
            contexts: vec![
                ctx("Hikers build cairns to mark a trail where the ground is bare rock."),
                ctx("The Inuit built inuksuit as landmarks across the Arctic tundra."),
                ctx("Basalt columns form when thick lava flows cool slowly."),
            ],
            statements: statements
                .iter()
                .map(|(t, c)| Statement {
                    text: t.to_string(),
                    cites: c.to_vec(),
                })
                .collect(),
            ..Default::default()
        }
    }

    fn run(r: &Response) -> (f64, f64) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let [p, r] = rt.block_on(scores(r, &Entailment::Lexical));
        (p.value.unwrap(), r.value.unwrap())
    }

    #[test]
    fn alce_precision_and_recall_by_hand() {
        // s1 cites [1] (supports): recall 1, precision +1.
        // s2 cites [2, 3]: [2] alone entails it, [3] alone does not and [2] without it still
        // does, so [3] is not needed: precision +1 of 2.
        // s3 cites nothing: recall 0.
        // recall = 2/3, precision = 2/3 (needed 2 of 3 citations).
        let r = response(&[
            ("Hikers build cairns to mark a trail [1].", &[1]),
            ("The Inuit built inuksuit as landmarks [2][3].", &[2, 3]),
            ("Basalt is a rock.", &[]),
        ]);
        let (p, rc) = run(&r);
        assert!((rc - 2.0 / 3.0).abs() < 1e-12, "{rc}");
        assert!((p - 2.0 / 3.0).abs() < 1e-12, "{p}");
    }

    #[test]
    fn a_wrong_citation_fails_both_and_out_of_range_cites_nothing() {
        let r = response(&[("Hikers build cairns to mark a trail [3].", &[3])]);
        assert_eq!(run(&r), (0.0, 0.0));
        let r = response(&[("Hikers build cairns to mark a trail [9].", &[9])]);
        assert_eq!(run(&r), (0.0, 0.0));
        // [1] alone would support it, but [9] names no passage: ALCE counts the sentence
        // unsupported and neither citation as needed.
        let r = response(&[("Hikers build cairns to mark a trail [1][9].", &[1, 9])]);
        assert_eq!(run(&r), (0.0, 0.0));
    }

    #[test]
    fn refusals_and_empty_answers_are_not_scored() {
        let mut r = response(&[("I don't know.", &[])]);
        r.answered = false;
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let [p, _] = rt.block_on(scores(&r, &Entailment::Lexical));
        assert!(p.reason.unwrap().starts_with("refusal"));
        let r = response(&[]);
        let [p, _] = rt.block_on(scores(&r, &Entailment::Lexical));
        assert!(p.reason.unwrap().starts_with("no statements"));
    }
}
