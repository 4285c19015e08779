//! Two runs side by side: did B answer better than A? Samples are paired (same id, else same
//! question), so each question is compared with itself and its difficulty cancels out. Per
//! metric it gives the mean difference with a paired bootstrap interval and an exact sign
//! test, and lists the questions that moved most, so a change can be read, not just counted.

use std::collections::HashMap;
use std::fmt::Write;

use serde::Serialize;

pub use super::compare_html::render_compare_html;
use super::metric::Metric;
use super::report::{fmt_score, format_utc, metric_names, truncate};
use super::run::RagRun;
use super::stats;

/// Differences smaller than this are ties: float noise, not a change.
pub(crate) const TIE: f64 = 1e-9;
/// The level below which a sign test counts as significant.
const ALPHA: f64 = 0.05;

/// What a comparison says about each run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RunInfo {
    pub dataset: String,
    pub system: String,
    pub judge: Option<String>,
    pub created_unix: u64,
    pub samples: usize,
}

/// One question whose score moved.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Change {
    pub id: String,
    pub question: String,
    pub a: f64,
    pub b: f64,
    /// `b − a`.
    pub delta: f64,
}

/// One metric over the pairs both runs scored.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MetricComparison {
    pub metric: String,
    /// False for the refusal rate: then a drop is an improvement.
    pub higher_is_better: bool,
    /// Pairs scored in both runs; the means below are over these only.
    pub n: usize,
    pub mean_a: Option<f64>,
    pub mean_b: Option<f64>,
    /// `mean_b − mean_a`.
    pub delta: Option<f64>,
    /// Paired bootstrap 95% interval of the mean difference.
    pub ci95: Option<(f64, f64)>,
    /// Two-sided exact sign test over the pairs that changed.
    pub p_value: Option<f64>,
    /// Pairs where B is better, worse, or the same as A (in the metric's direction).
    pub better: usize,
    pub worse: usize,
    pub same: usize,
    /// p < 0.05 and the interval excludes 0: both tests agree the change is real.
    pub significant: bool,
    /// The pairs that changed, largest |delta| first.
    pub changes: Vec<Change>,
}

/// The comparison of run B against run A (`cairn eval compare A B`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Comparison {
    pub a: RunInfo,
    pub b: RunInfo,
    /// Samples paired across the runs.
    pub pairs: usize,
    /// Of those, paired by question text because no id matched.
    pub paired_by_question: usize,
    /// Pairs sharing an id but not a question: row-number ids over reordered datasets pair
    /// the wrong questions, so this warns.
    pub question_mismatches: usize,
    /// Samples of A without a partner in B, and the reverse.
    pub unpaired_a: usize,
    pub unpaired_b: usize,
    /// Metrics scored by both runs, in A's order.
    pub metrics: Vec<MetricComparison>,
    /// Metrics only one run scored.
    pub only_in_a: Vec<String>,
    pub only_in_b: Vec<String>,
}

impl MetricComparison {
    /// Whether a difference `b − a` is an improvement for this metric.
    pub fn is_better(&self, delta: f64) -> bool {
        delta.abs() > TIE && (delta > 0.0) == self.higher_is_better
    }
}

fn info(run: &RagRun) -> RunInfo {
    RunInfo {
        dataset: run.dataset.clone(),
        system: run.system.clone(),
        judge: run.judge.clone(),
        created_unix: run.created_unix,
        samples: run.samples.len(),
    }
}

/// Questions as pairing compares them: case and spacing do not matter.
fn normalize(q: &str) -> String {
    q.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Pairs sample indices of A and B: by id first, then the rest by question text. Returns the
/// pairs in A's order and how many were paired by question.
fn pair(a: &RagRun, b: &RagRun) -> (Vec<(usize, usize)>, usize) {
    let mut by_id: HashMap<&str, usize> = HashMap::new();
    for (j, s) in b.samples.iter().enumerate().rev() {
        by_id.insert(&s.sample.id, j);
    }
    let mut used = vec![false; b.samples.len()];
    let mut partner: Vec<Option<usize>> = vec![None; a.samples.len()];
    for (i, s) in a.samples.iter().enumerate() {
        if let Some(&j) = by_id.get(s.sample.id.as_str()) {
            if !used[j] {
                used[j] = true;
                partner[i] = Some(j);
            }
        }
    }
    let mut by_question: HashMap<String, usize> = HashMap::new();
    for (j, s) in b.samples.iter().enumerate().rev() {
        if !used[j] {
            by_question.insert(normalize(&s.sample.question), j);
        }
    }
    let mut by_text = 0;
    for (i, s) in a.samples.iter().enumerate() {
        if partner[i].is_some() {
            continue;
        }
        if let Some(&j) = by_question.get(&normalize(&s.sample.question)) {
            if !used[j] {
                used[j] = true;
                partner[i] = Some(j);
                by_text += 1;
            }
        }
    }
    let pairs = partner
        .iter()
        .enumerate()
        .filter_map(|(i, j)| j.map(|j| (i, j)))
        .collect();
    (pairs, by_text)
}

/// Compares run B against run A, metric by metric, over the samples they share.
pub fn compare(a: &RagRun, b: &RagRun) -> Comparison {
    let (pairs, paired_by_question) = pair(a, b);
    let question_mismatches = pairs
        .iter()
        .filter(|&&(i, j)| {
            let (x, y) = (&a.samples[i].sample, &b.samples[j].sample);
            x.id == y.id && normalize(&x.question) != normalize(&y.question)
        })
        .count();
    let (names_a, names_b) = (metric_names(a), metric_names(b));
    let metrics = names_a
        .iter()
        .filter(|m| names_b.contains(m))
        .map(|m| compare_metric(m, a, b, &pairs))
        .collect();
    Comparison {
        a: info(a),
        b: info(b),
        pairs: pairs.len(),
        paired_by_question,
        question_mismatches,
        unpaired_a: a.samples.len() - pairs.len(),
        unpaired_b: b.samples.len() - pairs.len(),
        metrics,
        only_in_a: names_a
            .iter()
            .filter(|m| !names_b.contains(m))
            .cloned()
            .collect(),
        only_in_b: names_b
            .iter()
            .filter(|m| !names_a.contains(m))
            .cloned()
            .collect(),
    }
}

fn compare_metric(
    name: &str,
    a: &RagRun,
    b: &RagRun,
    pairs: &[(usize, usize)],
) -> MetricComparison {
    let mut c = MetricComparison {
        metric: name.to_string(),
        higher_is_better: name
            .parse::<Metric>()
            .map_or(true, Metric::higher_is_better),
        ..Default::default()
    };
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for &(i, j) in pairs {
        let value = |run: &RagRun, k: usize| run.samples[k].metrics.get(name).and_then(|r| r.value);
        let (Some(x), Some(y)) = (value(a, i), value(b, j)) else {
            continue;
        };
        xs.push(x);
        ys.push(y);
        let d = y - x;
        if d.abs() <= TIE {
            c.same += 1;
            continue;
        }
        if c.is_better(d) {
            c.better += 1;
        } else {
            c.worse += 1;
        }
        let s = &a.samples[i].sample;
        c.changes.push(Change {
            id: s.id.clone(),
            question: s.question.clone(),
            a: x,
            b: y,
            delta: d,
        });
    }
    c.changes.sort_by(|p, q| {
        q.delta
            .abs()
            .total_cmp(&p.delta.abs())
            .then_with(|| p.id.cmp(&q.id))
    });
    c.n = xs.len();
    c.mean_a = stats::mean(&xs);
    c.mean_b = stats::mean(&ys);
    c.delta = c.mean_a.zip(c.mean_b).map(|(x, y)| y - x);
    c.ci95 = stats::paired_bootstrap_ci(&xs, &ys);
    c.p_value = (c.n > 0).then(|| stats::sign_test(c.better, c.worse));
    let excludes_zero = c.ci95.is_some_and(|(lo, hi)| lo > 0.0 || hi < 0.0);
    c.significant = excludes_zero && c.p_value.is_some_and(|p| p < ALPHA);
    c
}

pub(crate) fn fmt_p(p: Option<f64>) -> String {
    match p {
        None => "–".into(),
        Some(p) if p < 0.001 => "<0.001".into(),
        Some(p) => format!("{p:.3}"),
    }
}

pub(crate) fn fmt_delta(d: Option<f64>) -> String {
    d.map_or_else(|| "–".into(), |d| format!("{d:+.3}"))
}

pub(crate) fn describe(r: &RunInfo) -> String {
    let when = if r.created_unix == 0 {
        String::new()
    } else {
        format!(", {}", format_utc(r.created_unix))
    };
    format!(
        "{} on {} ({} samples{when})",
        r.system, r.dataset, r.samples
    )
}

pub(crate) fn pairing_line(c: &Comparison) -> String {
    let mut s = format!("Paired {} samples", c.pairs);
    if c.paired_by_question > 0 {
        let _ = write!(s, " ({} by question text)", c.paired_by_question);
    }
    let _ = write!(
        s,
        "; {} only in A, {} only in B.",
        c.unpaired_a, c.unpaired_b
    );
    s
}

/// The comparison as a terminal table, then the `top` questions that improved and worsened
/// most per metric.
pub fn render_text(c: &Comparison, top: usize) -> String {
    let mut out = format!(
        "A: {}\nB: {}\n{}\n",
        describe(&c.a),
        describe(&c.b),
        pairing_line(c)
    );
    if c.question_mismatches > 0 {
        let _ = writeln!(
            out,
            "warning: {} pairs share an id but not the question; are the datasets the same?",
            c.question_mismatches
        );
    }
    for (side, only) in [("A", &c.only_in_a), ("B", &c.only_in_b)] {
        if !only.is_empty() {
            let _ = writeln!(out, "Only run {side} scored: {}", only.join(", "));
        }
    }
    let w = c
        .metrics
        .iter()
        .map(|m| m.metric.len() + 2)
        .max()
        .unwrap_or(6)
        .max(6);
    let _ = writeln!(
        out,
        "\n{:<w$} {:>5} {:>7} {:>7} {:>7}  {:<18} {:>6}   {:>6} {:>6} {:>6}",
        "metric", "n", "A", "B", "delta", "95% CI of delta", "p", "better", "worse", "same"
    );
    for m in &c.metrics {
        let name = if m.higher_is_better {
            m.metric.clone()
        } else {
            format!("{} ↓", m.metric)
        };
        let ci = m
            .ci95
            .map_or_else(|| "–".into(), |(lo, hi)| format!("[{lo:+.3}, {hi:+.3}]"));
        let p = format!(
            "{}{}",
            fmt_p(m.p_value),
            if m.significant { " *" } else { "  " }
        );
        let _ = writeln!(
            out,
            "{name:<w$} {:>5} {:>7} {:>7} {:>7}  {ci:<18} {p:>8} {:>6} {:>6} {:>6}",
            m.n,
            fmt_score(m.mean_a),
            fmt_score(m.mean_b),
            fmt_delta(m.delta),
            m.better,
            m.worse,
            m.same,
        );
    }
    out.push_str("* p < 0.05 and the interval excludes 0.");
    if c.metrics.iter().any(|m| !m.higher_is_better) {
        out.push_str("  ↓ lower is better.");
    }
    out.push('\n');
    for m in c
        .metrics
        .iter()
        .filter(|m| top > 0 && !m.changes.is_empty())
    {
        for (label, better) in [("improved", true), ("worsened", false)] {
            let moved: Vec<&Change> = m
                .changes
                .iter()
                .filter(|ch| m.is_better(ch.delta) == better)
                .take(top)
                .collect();
            if moved.is_empty() {
                continue;
            }
            let _ = writeln!(out, "\n{}: most {label}", m.metric);
            for ch in moved {
                let _ = writeln!(
                    out,
                    "  {:+.3}  {}  {:.3} → {:.3}  {}",
                    ch.delta,
                    ch.id,
                    ch.a,
                    ch.b,
                    truncate(&ch.question, 70)
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rag::sample::{EvalSample, MetricResult, SampleResult};

    /// One sample of a fixture: id, question, and its scores by metric.
    type Row<'a> = (&'a str, &'a str, &'a [(&'a str, f64)]);

    fn sample(id: &str, question: &str, scores: &[(&str, f64)]) -> SampleResult {
        SampleResult {
            sample: EvalSample {
                id: id.to_string(),
                question: question.to_string(),
                ..Default::default()
            },
            metrics: scores
                .iter()
                .map(|(m, v)| (m.to_string(), MetricResult::value(*v)))
                .collect(),
            ..Default::default()
        }
    }

    fn run_of(samples: Vec<SampleResult>) -> RagRun {
        RagRun {
            version: 1,
            metrics: vec!["f1".into()],
            samples,
            ..Default::default()
        }
    }

    fn run(rows: &[Row]) -> RagRun {
        run_of(rows.iter().map(|(i, q, s)| sample(i, q, s)).collect())
    }

    /// Two runs of the same questions with the given f1 values.
    fn runs_of(a: &[f64], b: &[f64]) -> (RagRun, RagRun) {
        let mk = |vals: &[f64]| {
            let samples = vals.iter().enumerate().map(|(i, v)| {
                let id = format!("q{i}");
                sample(&id, &id, &[("f1", *v)])
            });
            run_of(samples.collect())
        };
        (mk(a), mk(b))
    }

    #[test]
    fn sign_test_matches_hand_computed_binomials() {
        // 9 better, 1 worse: 2 × (C(10,0) + C(10,1)) / 2^10.
        assert!((stats::sign_test(9, 1) - 22.0 / 1024.0).abs() < 1e-12);
        assert!((stats::sign_test(1, 9) - 22.0 / 1024.0).abs() < 1e-12);
        // 5 of 5: 2 / 32, not significant at 0.05.
        assert!((stats::sign_test(5, 0) - 0.0625).abs() < 1e-12);
        // 8 better, 2 worse: 2 × (1 + 10 + 45) / 1024.
        assert!((stats::sign_test(8, 2) - 112.0 / 1024.0).abs() < 1e-12);
        assert_eq!(stats::sign_test(3, 3), 1.0);
        assert_eq!(stats::sign_test(0, 0), 1.0);
        // 900 pairs neither overflow nor lose the tail: 500 vs 400 is about 0.001 (normal
        // approximation with continuity correction: z = 49.5 / 15).
        let p = stats::sign_test(500, 400);
        assert!(p > 0.0007 && p < 0.0013, "{p}");
        let tiny = stats::sign_test(900, 0);
        assert!(tiny > 0.0 && tiny < 1e-250, "{tiny}");
        assert_eq!(stats::sign_test(450, 450), 1.0);
    }

    #[test]
    fn paired_interval_excludes_zero_for_a_clear_gain_and_holds_it_for_noise() {
        let a: Vec<f64> = (0..40).map(|i| (i % 5) as f64 / 10.0).collect();
        let gain: Vec<f64> = a
            .iter()
            .enumerate()
            .map(|(i, x)| x + 0.2 + (i % 3) as f64 * 0.05)
            .collect();
        let (lo, hi) = stats::paired_bootstrap_ci(&a, &gain).unwrap();
        assert!(lo > 0.15 && hi < 0.3, "{lo} {hi}");
        let noise: Vec<f64> = a
            .iter()
            .enumerate()
            .map(|(i, x)| x + if i % 2 == 0 { 0.1 } else { -0.1 })
            .collect();
        let (lo, hi) = stats::paired_bootstrap_ci(&a, &noise).unwrap();
        assert!(lo < 0.0 && hi > 0.0, "{lo} {hi}");
        assert_eq!(stats::paired_bootstrap_ci(&[0.5], &[1.0]), None);
    }

    #[test]
    fn a_clear_gain_is_significant_and_noise_is_not() {
        let a: Vec<f64> = (0..30).map(|i| (i % 4) as f64 / 8.0).collect();
        let better: Vec<f64> = a.iter().map(|x| x + 0.3).collect();
        let (ra, rb) = runs_of(&a, &better);
        let m = &compare(&ra, &rb).metrics[0];
        assert_eq!((m.n, m.better, m.worse, m.same), (30, 30, 0, 0));
        assert!((m.delta.unwrap() - 0.3).abs() < 1e-9);
        assert!(m.significant && m.p_value.unwrap() < 1e-8);
        let noisy: Vec<f64> = a
            .iter()
            .enumerate()
            .map(|(i, x)| x + [0.1, -0.1, 0.0][i % 3])
            .collect();
        let (ra, rb) = runs_of(&a, &noisy);
        let m = &compare(&ra, &rb).metrics[0];
        assert_eq!((m.better, m.worse, m.same), (10, 10, 10));
        assert!(!m.significant && m.p_value == Some(1.0));
        // Changes are the moved pairs only, largest first, ties by id.
        assert_eq!(m.changes.len(), 20);
        assert!(m
            .changes
            .windows(2)
            .all(|w| w[0].delta.abs() >= w[1].delta.abs()));
    }

    #[test]
    fn pairs_by_id_then_by_question_and_counts_the_rest() {
        let a = run(&[
            ("1", "Who?", &[("f1", 0.0)]),
            ("2", "When?", &[("f1", 0.5)]),
            ("x", "Where is it?", &[("f1", 0.2)]),
            ("3", "Only in A", &[("f1", 1.0)]),
        ]);
        let b = run(&[
            ("y", "  where IS it? ", &[("f1", 0.9)]),
            ("2", "When?", &[("f1", 0.5)]),
            ("1", "Who?", &[("f1", 1.0)]),
            ("4", "Only in B", &[("f1", 0.0)]),
            ("5", "Also only in B", &[("f1", 0.0)]),
        ]);
        let c = compare(&a, &b);
        assert_eq!((c.pairs, c.paired_by_question), (3, 1));
        assert_eq!(
            (c.unpaired_a, c.unpaired_b, c.question_mismatches),
            (1, 2, 0)
        );
        let m = &c.metrics[0];
        assert_eq!((m.n, m.better, m.worse, m.same), (3, 2, 0, 1));
        let moved: Vec<(&str, f64)> = m
            .changes
            .iter()
            .map(|ch| (ch.id.as_str(), ch.delta))
            .collect();
        assert_eq!(moved.len(), 2);
        assert_eq!(moved[0].0, "1");
        assert!((moved[1].1 - 0.7).abs() < 1e-9 && moved[1].0 == "x");
        // Same ids over different questions pair, but are reported.
        let b = run(&[("1", "Why?", &[("f1", 0.0)])]);
        assert_eq!(compare(&a, &b).question_mismatches, 1);
    }

    #[test]
    fn fewer_refusals_are_an_improvement() {
        let a = run(&[
            ("1", "q1", &[("refusal", 1.0), ("f1", 0.2)]),
            ("2", "q2", &[("refusal", 1.0), ("f1", 0.2)]),
        ]);
        let mut b = run(&[
            ("1", "q1", &[("refusal", 0.0), ("f1", 0.1)]),
            ("2", "q2", &[("refusal", 1.0)]),
        ]);
        b.metrics = vec!["f1".into(), "refusal".into(), "faithfulness".into()];
        let mut a = a;
        a.metrics = vec!["f1".into(), "refusal".into(), "exact_match".into()];
        let c = compare(&a, &b);
        let refusal = c.metrics.iter().find(|m| m.metric == "refusal").unwrap();
        assert!(!refusal.higher_is_better);
        assert_eq!((refusal.better, refusal.worse, refusal.same), (1, 0, 1));
        assert!(refusal.is_better(-1.0) && !refusal.is_better(1.0));
        let f1 = c.metrics.iter().find(|m| m.metric == "f1").unwrap();
        assert_eq!((f1.n, f1.better, f1.worse), (1, 0, 1));
        assert_eq!(
            (c.only_in_a.clone(), c.only_in_b.clone()),
            (
                vec!["exact_match".to_string()],
                vec!["faithfulness".to_string()]
            )
        );
        let text = render_text(&c, 5);
        assert!(text.contains("refusal ↓"), "{text}");
        assert!(
            text.contains("refusal: most improved\n  -1.000  1  1.000 → 0.000  q1"),
            "{text}"
        );
        assert!(text.contains("f1: most worsened\n  -0.100  1"), "{text}");
        assert!(!text.contains("refusal: most worsened"), "{text}");
    }

    #[test]
    fn renderings_show_the_numbers_and_escape_questions() {
        let a: Vec<f64> = (0..12).map(|i| (i % 3) as f64 / 4.0).collect();
        let b: Vec<f64> = a.iter().map(|x| x + 0.25).collect();
        let (ra, mut rb) = runs_of(&a, &b);
        rb.samples[0].sample.question = "<script>x</script>".into();
        let mut ra = ra;
        ra.samples[0].sample.question = "<script>x</script>".into();
        let c = compare(&ra, &rb);
        let text = render_text(&c, 1);
        assert!(
            text.contains("Paired 12 samples; 0 only in A, 0 only in B."),
            "{text}"
        );
        assert!(
            text.contains("+0.250") && text.contains("<0.001 *"),
            "{text}"
        );
        assert_eq!(text.matches("\n  +0.250").count(), 1, "top 1: {text}");
        let html = render_compare_html(&c);
        assert!(html.contains("&lt;script&gt;x&lt;/script&gt;") && !html.contains("<script>x"));
        assert!(html.contains("<svg class=\"delta\"") && html.contains("12 better, 0 worse"));
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["metrics"][0]["better"], 12);
        assert_eq!(json["metrics"][0]["significant"], true);
    }
}
