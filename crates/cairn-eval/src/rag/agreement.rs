//! How well a metric agrees with people: accuracy and Cohen's kappa of its yes/no calls
//! against human labels, and Spearman's rank correlation of its scores with them.

use serde::Serialize;

/// Agreement of binary predictions and scores with binary human labels.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Agreement {
    pub n: usize,
    pub accuracy: f64,
    /// Agreement beyond chance: (p_o − p_e) / (1 − p_e); 0 when chance explains everything,
    /// 1 for perfect agreement. `None` when p_e = 1 (one class only on both sides).
    pub kappa: Option<f64>,
    /// Spearman's rho of the scores with the labels (ties get their average rank); `None`
    /// when either side is constant.
    pub spearman: Option<f64>,
    /// Predicted yes / labelled yes counts: [[tp, fp], [fn, tn]].
    pub tp: usize,
    pub fp: usize,
    pub fn_: usize,
    pub tn: usize,
}

/// Cohen's kappa of two binary raters.
pub fn cohen_kappa(a: &[bool], b: &[bool]) -> Option<f64> {
    let n = a.len().min(b.len());
    if n == 0 {
        return None;
    }
    let agree = a.iter().zip(b).filter(|(x, y)| x == y).count() as f64 / n as f64;
    let pa = a.iter().take(n).filter(|x| **x).count() as f64 / n as f64;
    let pb = b.iter().take(n).filter(|x| **x).count() as f64 / n as f64;
    let pe = pa * pb + (1.0 - pa) * (1.0 - pb);
    ((1.0 - pe).abs() > 1e-12).then(|| (agree - pe) / (1.0 - pe))
}

/// 1-based ranks, ties given the average of the ranks they span.
pub fn ranks(xs: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..xs.len()).collect();
    idx.sort_by(|&i, &j| xs[i].total_cmp(&xs[j]));
    let mut out = vec![0.0; xs.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && xs[idx[j + 1]] == xs[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            out[k] = avg;
        }
        i = j + 1;
    }
    out
}

/// Pearson's correlation; `None` when either side is constant or the lengths differ.
pub fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    if x.len() != y.len() || x.len() < 2 {
        return None;
    }
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    (sxx > 0.0 && syy > 0.0).then(|| sxy / (sxx * syy).sqrt())
}

/// Spearman's rho: Pearson's correlation of the tie-averaged ranks.
pub fn spearman(x: &[f64], y: &[f64]) -> Option<f64> {
    pearson(&ranks(x), &ranks(y))
}

/// Agreement of `scores` (thresholded at `threshold` into yes/no) with `labels`.
pub fn agreement(scores: &[f64], labels: &[bool], threshold: f64) -> Agreement {
    let predicted: Vec<bool> = scores.iter().map(|s| *s >= threshold).collect();
    let count = |p: bool, l: bool| {
        predicted
            .iter()
            .zip(labels)
            .filter(|(a, b)| **a == p && **b == l)
            .count()
    };
    let n = scores.len().min(labels.len());
    let label_f: Vec<f64> = labels.iter().map(|l| f64::from(u8::from(*l))).collect();
    Agreement {
        n,
        accuracy: if n == 0 {
            0.0
        } else {
            (count(true, true) + count(false, false)) as f64 / n as f64
        },
        kappa: cohen_kappa(&predicted, labels),
        spearman: spearman(scores, &label_f),
        tp: count(true, true),
        fp: count(true, false),
        fn_: count(false, true),
        tn: count(false, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kappa_by_hand() {
        // 10 items: both yes 4, both no 3, a yes/b no 2, a no/b yes 1.
        // p_o = 0.7; p_a = 0.6, p_b = 0.5; p_e = 0.3 + 0.2 = 0.5; kappa = 0.2 / 0.5 = 0.4
        let a = [
            true, true, true, true, false, false, false, true, true, false,
        ];
        let b = [
            true, true, true, true, false, false, false, false, false, true,
        ];
        assert!((cohen_kappa(&a, &b).unwrap() - 0.4).abs() < 1e-12);
        assert_eq!(cohen_kappa(&[true, true], &[true, true]), None);
        assert_eq!(cohen_kappa(&[true, false], &[true, false]), Some(1.0));
    }

    #[test]
    fn ranks_average_ties_and_spearman_by_hand() {
        assert_eq!(ranks(&[10.0, 20.0, 20.0, 5.0]), vec![2.0, 3.5, 3.5, 1.0]);
        assert_eq!(spearman(&[1.0, 2.0, 3.0], &[10.0, 20.0, 30.0]), Some(1.0));
        assert_eq!(spearman(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]), Some(-1.0));
        // x ranks [1,2,3,4], y = [1,0,1,0] ranks [3.5,1.5,3.5,1.5]:
        // pearson of [1,2,3,4] and [3.5,1.5,3.5,1.5]: dx = [-1.5,-.5,.5,1.5], dy = [1,-1,1,-1]
        // sxy = -1.5+.5+.5-1.5 = -2, sxx = 5, syy = 4 → -2 / sqrt(20)
        let r = spearman(&[1.0, 2.0, 3.0, 4.0], &[1.0, 0.0, 1.0, 0.0]).unwrap();
        assert!((r + 2.0 / 20f64.sqrt()).abs() < 1e-12, "{r}");
        assert_eq!(spearman(&[1.0, 1.0], &[0.0, 1.0]), None);
    }

    #[test]
    fn agreement_counts() {
        let a = agreement(&[1.0, 0.5, 0.0, 1.0], &[true, true, false, false], 1.0);
        assert_eq!((a.tp, a.fp, a.fn_, a.tn), (1, 1, 1, 1));
        assert_eq!(a.accuracy, 0.5);
        assert_eq!(a.kappa, Some(0.0));
    }
}
