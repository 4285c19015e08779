//! Confidence intervals by the bootstrap: resampling the per-question scores says how much a
//! mean over this many questions can move, without assuming a distribution. Seeded, so a
//! rerun prints the same interval.

/// A small, fast, seeded generator (xorshift64*): reproducible resampling without a dependency.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 11) as u128 * n as u128) >> 53) as usize
    }
}

/// Resamples drawn for an interval: enough for stable 2.5% / 97.5% percentiles.
pub const RESAMPLES: usize = 2000;
/// The seed every interval uses, so reports are reproducible.
pub const SEED: u64 = 0x00C0_FFEE;

pub fn mean(xs: &[f64]) -> Option<f64> {
    (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
}

/// The `q` quantile (0..=1) of sorted values, interpolating linearly between ranks.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// The 95% percentile-bootstrap interval of the mean. `None` for fewer than two values.
pub fn bootstrap_ci(xs: &[f64]) -> Option<(f64, f64)> {
    if xs.len() < 2 {
        return None;
    }
    let mut rng = Rng::new(SEED);
    let mut means: Vec<f64> = (0..RESAMPLES)
        .map(|_| (0..xs.len()).map(|_| xs[rng.below(xs.len())]).sum::<f64>() / xs.len() as f64)
        .collect();
    means.sort_by(f64::total_cmp);
    Some((quantile(&means, 0.025), quantile(&means, 0.975)))
}

/// The 95% bootstrap interval of the mean difference `b − a` over paired values: resampling
/// pairs, not each side alone, so the questions' own difficulty cancels out. `None` for fewer
/// than two pairs.
pub fn paired_bootstrap_ci(a: &[f64], b: &[f64]) -> Option<(f64, f64)> {
    let diffs: Vec<f64> = a.iter().zip(b).map(|(x, y)| y - x).collect();
    bootstrap_ci(&diffs)
}

/// Two-sided exact sign test: the chance of a split at least this uneven between `better` and
/// `worse` if either were equally likely (ties are left out by the caller). The binomial is
/// summed in log space so that hundreds of pairs neither overflow nor underflow early.
pub fn sign_test(better: usize, worse: usize) -> f64 {
    let n = better + worse;
    if n == 0 {
        return 1.0;
    }
    let k = better.min(worse);
    // ln C(n, i) for i = 0..=k, built up term by term; they increase, so the last is largest.
    let mut terms = Vec::with_capacity(k + 1);
    let mut ln_c = 0.0f64;
    for i in 0..=k {
        if i > 0 {
            ln_c += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        terms.push(ln_c);
    }
    let max = terms[k];
    let ln_tail = max + terms.iter().map(|t| (t - max).exp()).sum::<f64>().ln();
    (2.0 * (ln_tail - n as f64 * std::f64::consts::LN_2).exp()).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_holds_the_mean_and_narrows_with_more_data() {
        let small: Vec<f64> = (0..20).map(|i| (i % 2) as f64).collect();
        let big: Vec<f64> = (0..2000).map(|i| (i % 2) as f64).collect();
        let (a, b) = bootstrap_ci(&small).unwrap();
        let (c, d) = bootstrap_ci(&big).unwrap();
        assert!(a < 0.5 && 0.5 < b, "{a} {b}");
        assert!(c < 0.5 && 0.5 < d, "{c} {d}");
        assert!(d - c < (b - a) / 4.0, "{a} {b} {c} {d}");
        // Reproducible, and degenerate data gives a point.
        assert_eq!(bootstrap_ci(&small), Some((a, b)));
        assert_eq!(bootstrap_ci(&[1.0, 1.0, 1.0]), Some((1.0, 1.0)));
        assert_eq!(bootstrap_ci(&[1.0]), None);
    }

    #[test]
    fn quantiles_interpolate() {
        let s = [0.0, 1.0, 2.0, 3.0];
        assert_eq!(quantile(&s, 0.0), 0.0);
        assert_eq!(quantile(&s, 1.0), 3.0);
        assert!((quantile(&s, 0.5) - 1.5).abs() < 1e-12);
        let mut r = Rng::new(7);
        assert!((0..1000).all(|_| r.below(3) < 3));
    }
}
