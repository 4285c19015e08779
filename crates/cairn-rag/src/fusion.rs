//! Reciprocal rank fusion (Cormack et al., 2009): each list contributes `weight / (k + rank)`
//! for every item it ranks, rank counted from 1. Scores across retrievers are incomparable
//! (cosine vs BM25), ranks are not.

use std::collections::HashMap;

/// Fuses ranked lists of `(id, score)`; returns `(id, fused score)` best first, ties broken
/// by the lower id.
pub fn reciprocal_rank_fusion(lists: &[(f32, &[(u32, f32)])], k: f32) -> Vec<(u32, f32)> {
    let mut acc: HashMap<u32, f32> = HashMap::new();
    for (weight, list) in lists {
        for (rank0, (id, _)) in list.iter().enumerate() {
            *acc.entry(*id).or_insert(0.0) += weight / (k + rank0 as f32 + 1.0);
        }
    }
    let mut out: Vec<(u32, f32)> = acc.into_iter().collect();
    out.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_example() {
        let dense = [(1, 0.9), (2, 0.8), (3, 0.1)];
        let bm25 = [(3, 12.0), (1, 7.0)];
        let got = reciprocal_rank_fusion(&[(1.0, &dense), (1.0, &bm25)], 60.0);
        // 1: 1/61 + 1/62; 3: 1/63 + 1/61; 2: 1/62.
        let want = [
            (1, 1.0 / 61.0 + 1.0 / 62.0),
            (3, 1.0 / 63.0 + 1.0 / 61.0),
            (2, 1.0 / 62.0),
        ];
        assert_eq!(got.len(), 3);
        for ((gi, gs), (wi, ws)) in got.iter().zip(want.iter()) {
            assert_eq!(gi, wi);
            assert!((gs - ws).abs() < 1e-7);
        }
    }

    #[test]
    fn weights_shift_the_order() {
        let a = [(1, 0.0), (2, 0.0)];
        let b = [(2, 0.0), (1, 0.0)];
        let got = reciprocal_rank_fusion(&[(1.0, &a), (2.0, &b)], 60.0);
        assert_eq!(got[0].0, 2);
        let got = reciprocal_rank_fusion(&[(2.0, &a), (1.0, &b)], 60.0);
        assert_eq!(got[0].0, 1);
    }

    #[test]
    fn empty_lists_give_nothing() {
        assert!(reciprocal_rank_fusion(&[(1.0, &[])], 60.0).is_empty());
    }
}
