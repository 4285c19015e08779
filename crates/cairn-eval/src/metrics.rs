//! Retrieval metrics over one query, the way trec_eval (and so pytrec_eval and BEIR) defines
//! them: graded gains (the qrel value, negatives as zero), log2 rank discount, ideal DCG from
//! the judged documents.

use std::collections::HashMap;

/// Judgements: query id → document id → relevance grade.
pub type Qrels = HashMap<String, HashMap<String, i32>>;

fn gain(rels: &HashMap<String, i32>, doc: &str) -> f64 {
    rels.get(doc).copied().unwrap_or(0).max(0) as f64
}

/// nDCG@k for one ranked list.
pub fn ndcg_at(k: usize, ranked: &[&str], rels: &HashMap<String, i32>) -> f64 {
    let dcg: f64 = ranked
        .iter()
        .take(k)
        .enumerate()
        .map(|(i, d)| gain(rels, d) / ((i + 2) as f64).log2())
        .sum();
    let mut ideal: Vec<f64> = rels
        .values()
        .map(|&r| r.max(0) as f64)
        .filter(|&g| g > 0.0)
        .collect();
    ideal.sort_by(|a, b| b.total_cmp(a));
    let idcg: f64 = ideal
        .iter()
        .take(k)
        .enumerate()
        .map(|(i, g)| g / ((i + 2) as f64).log2())
        .sum();
    if idcg == 0.0 {
        0.0
    } else {
        dcg / idcg
    }
}

/// Share of the relevant documents found in the top k.
pub fn recall_at(k: usize, ranked: &[&str], rels: &HashMap<String, i32>) -> f64 {
    let relevant = rels.values().filter(|&&r| r > 0).count();
    if relevant == 0 {
        return 0.0;
    }
    let found = ranked
        .iter()
        .take(k)
        .filter(|d| gain(rels, d) > 0.0)
        .count();
    found as f64 / relevant as f64
}

/// Reciprocal rank of the first relevant document within the top k.
pub fn mrr_at(k: usize, ranked: &[&str], rels: &HashMap<String, i32>) -> f64 {
    ranked
        .iter()
        .take(k)
        .position(|d| gain(rels, d) > 0.0)
        .map(|i| 1.0 / (i + 1) as f64)
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rels(pairs: &[(&str, i32)]) -> HashMap<String, i32> {
        pairs.iter().map(|(d, r)| (d.to_string(), *r)).collect()
    }

    #[test]
    fn ndcg_binary_by_hand() {
        // Relevant: a, b. Ranked: x a y b.
        // DCG = 1/log2(3) + 1/log2(5); IDCG = 1 + 1/log2(3).
        let r = rels(&[("a", 1), ("b", 1)]);
        let got = ndcg_at(10, &["x", "a", "y", "b"], &r);
        let want = (1.0 / 3f64.log2() + 1.0 / 5f64.log2()) / (1.0 + 1.0 / 3f64.log2());
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    }

    #[test]
    fn ndcg_graded_by_hand() {
        // Grades a=2, b=1, c=0 (judged non-relevant). Ranked: b c a.
        // DCG = 1/1 + 0 + 2/log2(4) = 2; IDCG = 2/1 + 1/log2(3).
        let r = rels(&[("a", 2), ("b", 1), ("c", 0)]);
        let got = ndcg_at(10, &["b", "c", "a"], &r);
        let want = 2.0 / (2.0 + 1.0 / 3f64.log2());
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        // Cut at 1: DCG = 1, IDCG = 2.
        assert!((ndcg_at(1, &["b", "c", "a"], &r) - 0.5).abs() < 1e-12);
        // A perfect ranking scores 1.
        assert!((ndcg_at(10, &["a", "b"], &r) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn ideal_uses_all_judged_documents_even_unretrieved() {
        // Three relevant, only one retrieved at rank 1: IDCG counts all three within k.
        let r = rels(&[("a", 1), ("b", 1), ("c", 1)]);
        let got = ndcg_at(10, &["a"], &r);
        let want = 1.0 / (1.0 + 1.0 / 3f64.log2() + 0.5);
        assert!((got - want).abs() < 1e-12);
    }

    #[test]
    fn recall_and_mrr_by_hand() {
        let r = rels(&[("a", 1), ("b", 1), ("c", 0)]);
        let ranked = ["c", "x", "b", "y", "a"];
        assert!((recall_at(3, &ranked, &r) - 0.5).abs() < 1e-12);
        assert!((recall_at(5, &ranked, &r) - 1.0).abs() < 1e-12);
        assert!((mrr_at(10, &ranked, &r) - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(mrr_at(2, &ranked, &r), 0.0);
        assert_eq!(recall_at(10, &ranked, &rels(&[])), 0.0);
    }
}
