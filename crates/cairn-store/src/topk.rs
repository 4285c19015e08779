//! Top-k selection shared by the retrievers.

/// The `k` highest `(id, score)` pairs, best first; ties broken by the lower id so results
/// are deterministic.
pub fn top_k(mut scored: Vec<(u32, f32)>, k: usize) -> Vec<(u32, f32)> {
    let cmp = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    if k == 0 {
        return Vec::new();
    }
    if scored.len() > k {
        scored.select_nth_unstable_by(k - 1, cmp);
        scored.truncate(k);
    }
    scored.sort_unstable_by(cmp);
    scored
}

#[cfg(test)]
mod tests {
    #[test]
    fn picks_best_with_stable_ties() {
        let v = vec![(0, 0.1), (1, 0.9), (2, 0.5), (3, 0.9), (4, 0.2)];
        assert_eq!(
            super::top_k(v.clone(), 3),
            vec![(1, 0.9), (3, 0.9), (2, 0.5)]
        );
        assert_eq!(super::top_k(v, 10).len(), 5);
    }
}
