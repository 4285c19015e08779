//! The answer metrics by name: which need a judge model, which need a reference, and the
//! default set a run scores.

use std::fmt;
use std::str::FromStr;

/// An answer metric. Names are ragas's where ragas has the metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    /// SQuAD exact match of the normalised answer and reference.
    ExactMatch,
    /// SQuAD token F1 of the answer against the reference.
    F1,
    /// The normalised reference occurs in the normalised answer.
    Contains,
    /// A reference document (or passage) is among the contexts.
    RetrievalHit,
    /// Share of reference documents (or passages) among the contexts.
    RetrievalRecall,
    /// Reciprocal rank of the first reference document among the contexts.
    RetrievalMrr,
    /// ALCE citation precision: the model's citations that are needed and support their sentence.
    CitationPrecision,
    /// ALCE citation recall: sentences fully supported by the passages they cite.
    CitationRecall,
    /// 1 when the system declined to answer.
    Refusal,
    /// Judge: statements of the answer supported by the contexts / statements.
    Faithfulness,
    /// Judge + embedder: mean cosine of questions generated from the answer to the question;
    /// 0 for a noncommittal answer.
    AnswerRelevancy,
    /// Judge: average precision of the contexts judged useful, in rank order.
    ContextPrecision,
    /// Judge: reference statements attributable to the contexts / reference statements.
    ContextRecall,
    /// Judge: claim-level F1 of the answer against the reference.
    FactualCorrectness,
}

pub const ALL: [Metric; 14] = [
    Metric::ExactMatch,
    Metric::F1,
    Metric::Contains,
    Metric::RetrievalHit,
    Metric::RetrievalRecall,
    Metric::RetrievalMrr,
    Metric::CitationPrecision,
    Metric::CitationRecall,
    Metric::Refusal,
    Metric::Faithfulness,
    Metric::AnswerRelevancy,
    Metric::ContextPrecision,
    Metric::ContextRecall,
    Metric::FactualCorrectness,
];

impl Metric {
    pub fn name(self) -> &'static str {
        match self {
            Metric::ExactMatch => "exact_match",
            Metric::F1 => "f1",
            Metric::Contains => "contains",
            Metric::RetrievalHit => "retrieval_hit",
            Metric::RetrievalRecall => "retrieval_recall",
            Metric::RetrievalMrr => "retrieval_mrr",
            Metric::CitationPrecision => "citation_precision",
            Metric::CitationRecall => "citation_recall",
            Metric::Refusal => "refusal",
            Metric::Faithfulness => "faithfulness",
            Metric::AnswerRelevancy => "answer_relevancy",
            Metric::ContextPrecision => "context_precision",
            Metric::ContextRecall => "context_recall",
            Metric::FactualCorrectness => "factual_correctness",
        }
    }

    /// True for the metrics a judge model scores.
    pub fn needs_judge(self) -> bool {
        matches!(
            self,
            Metric::Faithfulness
                | Metric::AnswerRelevancy
                | Metric::ContextPrecision
                | Metric::ContextRecall
                | Metric::FactualCorrectness
        )
    }

    /// True when higher is better (all but the refusal rate).
    pub fn higher_is_better(self) -> bool {
        self != Metric::Refusal
    }

    /// The metrics a run scores when none are named: every metric without a judge, and with
    /// one every metric.
    pub fn defaults(judge: bool) -> Vec<Metric> {
        ALL.iter()
            .copied()
            .filter(|m| judge || !m.needs_judge())
            .collect()
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Metric {
    type Err = String;

    /// A metric's name; `-` and `_` are the same, and `em`, `recall`… are not guessed.
    fn from_str(s: &str) -> Result<Self, String> {
        let want = s.trim().to_ascii_lowercase().replace('-', "_");
        ALL.iter()
            .copied()
            .find(|m| m.name() == want)
            .ok_or_else(|| {
                let names: Vec<&str> = ALL.iter().map(|m| m.name()).collect();
                format!("unknown metric `{s}`: expected one of {}", names.join(", "))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_list_the_choices() {
        for m in ALL {
            assert_eq!(m.name().parse::<Metric>().unwrap(), m);
        }
        assert_eq!(
            "Context-Recall".parse::<Metric>(),
            Ok(Metric::ContextRecall)
        );
        let e = "em".parse::<Metric>().unwrap_err();
        assert!(e.contains("`em`") && e.contains("exact_match"), "{e}");
        assert!(!Metric::defaults(false).iter().any(|m| m.needs_judge()));
        assert_eq!(Metric::defaults(true).len(), ALL.len());
    }
}
