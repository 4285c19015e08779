//! Whether the contexts a system read hold the reference material: hit, recall and reciprocal
//! rank of the reference documents (by id) or, without ids, of the reference passages (by text).

use super::sample::{Context, EvalSample, MetricResult};
use super::text::normalize;

/// True when a context comes from the reference document `want`: the same document id, a record
/// id (`corpus.jsonl#42` for `42`), or a path suffix at a `/` (`docs/a.md` for `a.md`).
pub fn doc_matches(ctx: &Context, want: &str) -> bool {
    let want = want.trim();
    if want.is_empty() {
        return false;
    }
    [ctx.doc_id.as_deref(), ctx.source.as_deref()]
        .into_iter()
        .flatten()
        .any(|id| {
            id == want
                || id.rsplit_once('#').is_some_and(|(_, rec)| rec == want)
                || id
                    .strip_suffix(want)
                    .is_some_and(|head| head.ends_with('/') || head.ends_with('#'))
        })
}

/// True when a context holds the reference passage: one normalised text contains the other.
pub fn passage_matches(ctx: &Context, want: &str) -> bool {
    let (c, w) = (normalize(&ctx.text), normalize(want));
    !w.is_empty() && !c.is_empty() && (c.contains(&w) || w.contains(&c))
}

/// For each reference item, the 1-based rank of the first context that holds it.
fn ranks(sample: &EvalSample, contexts: &[Context]) -> Option<Vec<Option<usize>>> {
    let find = |hit: &dyn Fn(&Context) -> bool| contexts.iter().position(hit).map(|i| i + 1);
    if !sample.reference_doc_ids.is_empty() {
        Some(
            sample
                .reference_doc_ids
                .iter()
                .map(|d| find(&|c| doc_matches(c, d)))
                .collect(),
        )
    } else if !sample.reference_contexts.is_empty() {
        Some(
            sample
                .reference_contexts
                .iter()
                .map(|p| find(&|c| passage_matches(c, p)))
                .collect(),
        )
    } else {
        None
    }
}

/// Hit, recall and MRR of the reference material among `contexts`, or why they cannot be
/// scored. Contexts count in the order given (rank 1 first).
pub fn scores(sample: &EvalSample, contexts: &[Context]) -> [MetricResult; 3] {
    let Some(ranks) = ranks(sample, contexts) else {
        let r = || {
            MetricResult::skipped(
                "no reference: the sample has no reference_doc_ids or reference_contexts",
            )
        };
        return [r(), r(), r()];
    };
    let found = ranks.iter().filter(|r| r.is_some()).count();
    let first = ranks.iter().flatten().min().copied();
    let details = serde_json::json!({"ranks": ranks});
    [
        MetricResult::value(f64::from(u8::from(found > 0))).with_details(details.clone()),
        MetricResult::value(found as f64 / ranks.len() as f64).with_details(details.clone()),
        MetricResult::value(first.map_or(0.0, |r| 1.0 / r as f64)).with_details(details),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(doc: &str, text: &str) -> Context {
        Context {
            text: text.into(),
            doc_id: Some(doc.into()),
            source: None,
        }
    }

    #[test]
    fn ids_match_whole_records_and_path_suffixes() {
        let c = ctx("data/corpus.jsonl#42", "x");
        assert!(doc_matches(&c, "42") && doc_matches(&c, "data/corpus.jsonl#42"));
        assert!(!doc_matches(&c, "2") && !doc_matches(&c, ""));
        let d = ctx("samples/corpus/cairns.md", "x");
        assert!(doc_matches(&d, "cairns.md") && doc_matches(&d, "corpus/cairns.md"));
        assert!(!doc_matches(&d, "airns.md"));
    }

    #[test]
    fn hit_recall_and_mrr_by_hand() {
        let contexts = vec![ctx("a", "alpha"), ctx("b", "beta"), ctx("c", "gamma")];
        let s = EvalSample {
            reference_doc_ids: vec!["c".into(), "b".into(), "z".into()],
            ..Default::default()
        };
        let [hit, recall, mrr] = scores(&s, &contexts);
        assert_eq!(hit.value, Some(1.0));
        assert!((recall.value.unwrap() - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(mrr.value, Some(0.5)); // b at rank 2 comes first
        let miss = EvalSample {
            reference_doc_ids: vec!["z".into()],
            ..Default::default()
        };
        let [hit, recall, mrr] = scores(&miss, &contexts);
        assert_eq!(
            (hit.value, recall.value, mrr.value),
            (Some(0.0), Some(0.0), Some(0.0))
        );
    }

    #[test]
    fn passages_match_by_text_and_missing_references_say_so() {
        let contexts = vec![ctx("a", "The Gettysburg Address was given in 1863.")];
        let s = EvalSample {
            reference_contexts: vec!["gettysburg address was given in 1863".into()],
            ..Default::default()
        };
        assert_eq!(scores(&s, &contexts)[0].value, Some(1.0));
        let none = scores(&EvalSample::default(), &contexts);
        assert!(none[2]
            .reason
            .as_deref()
            .unwrap()
            .starts_with("no reference"));
    }
}
