//! Exact vector search over L2-normalised vectors (cosine = dot product).
//!
//! Exact search is the baseline every approximate index is measured against, and stays the
//! path for small collections and selective filters.

use crate::topk::top_k;

/// Dot product with eight independent accumulators, so the compiler can keep them in one
/// SIMD register (a single running sum would force sequential float adds).
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; 8];
    let chunks = n / 8;
    for i in 0..chunks {
        let x = &a[i * 8..i * 8 + 8];
        let y = &b[i * 8..i * 8 + 8];
        for j in 0..8 {
            acc[j] += x[j] * y[j];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for i in chunks * 8..n {
        s += a[i] * b[i];
    }
    s
}

/// Row-major vectors, one per chunk position.
#[derive(Debug, Clone, Default)]
pub struct FlatIndex {
    dim: usize,
    data: Vec<f32>,
}

impl FlatIndex {
    pub fn new(dim: usize) -> Self {
        FlatIndex {
            dim,
            data: Vec::new(),
        }
    }

    pub fn from_data(dim: usize, data: Vec<f32>) -> Self {
        debug_assert!(dim > 0 && data.len().is_multiple_of(dim));
        FlatIndex { dim, data }
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn len(&self) -> usize {
        self.data.len().checked_div(self.dim).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn push(&mut self, v: &[f32]) {
        assert_eq!(v.len(), self.dim, "vector dimension");
        self.data.extend_from_slice(v);
    }

    pub fn get(&self, pos: u32) -> &[f32] {
        let s = pos as usize * self.dim;
        &self.data[s..s + self.dim]
    }

    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// The `k` nearest positions by cosine, best first.
    pub fn search(
        &self,
        query: &[f32],
        k: usize,
        allow: Option<&dyn Fn(u32) -> bool>,
    ) -> Vec<(u32, f32)> {
        let scored: Vec<(u32, f32)> = self
            .data
            .chunks_exact(self.dim.max(1))
            .enumerate()
            .filter(|(i, _)| allow.is_none_or(|f| f(*i as u32)))
            .map(|(i, v)| (i as u32, dot(query, v)))
            .collect();
        top_k(scored, k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_matches_naive_for_odd_lengths() {
        let a: Vec<f32> = (0..19).map(|i| i as f32 * 0.5).collect();
        let b: Vec<f32> = (0..19).map(|i| 1.0 - i as f32 * 0.1).collect();
        let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - naive).abs() < 1e-4);
    }

    #[test]
    fn finds_nearest_and_filters() {
        let mut f = FlatIndex::new(2);
        f.push(&[1.0, 0.0]);
        f.push(&[0.0, 1.0]);
        f.push(&[0.6, 0.8]);
        let got = f.search(&[0.0, 1.0], 2, None);
        assert_eq!(got.iter().map(|h| h.0).collect::<Vec<_>>(), vec![1, 2]);
        let not1 = |p: u32| p != 1;
        assert_eq!(f.search(&[0.0, 1.0], 1, Some(&not1))[0].0, 2);
    }
}
