//! The report's plots as inline SVG, so the HTML file needs no script library and no network:
//! a histogram of each metric's per-sample values, and the interval of a difference between
//! two runs drawn against zero.

use std::fmt::Write;

use super::report::escape;

/// Bins a histogram has: tenths of the [0, 1] range every metric scores in.
pub const BINS: usize = 10;

/// Counts values into `bins` equal bins over [0, 1]. Values outside are clamped, so none is
/// lost, and 1.0 falls in the last bin (bins are half-open except the last).
pub fn bin_counts(values: &[f64], bins: usize) -> Vec<usize> {
    let mut counts = vec![0; bins.max(1)];
    let last = counts.len() - 1;
    for v in values.iter().filter(|v| v.is_finite()) {
        // The small nudge keeps 0.3 (= 2.9999…/10 in binary) in the bin it reads as.
        let i = (v.clamp(0.0, 1.0) * counts.len() as f64 + 1e-9).floor() as usize;
        counts[i.min(last)] += 1;
    }
    counts
}

/// An inline SVG histogram of one metric's values, with axes labelled and each bar titled (a
/// tooltip, and what a screen reader reads).
pub fn histogram_svg(metric: &str, values: &[f64]) -> String {
    const LEFT: f64 = 34.0;
    const WIDTH: f64 = 216.0;
    const TOP: f64 = 8.0;
    const HEIGHT: f64 = 86.0;
    let counts = bin_counts(values, BINS);
    let max = counts.iter().copied().max().unwrap_or(0);
    let bottom = TOP + HEIGHT;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="hist" viewBox="0 0 260 128" role="img" aria-label="Distribution of {m}: {n} scored samples"><title>Distribution of {m}</title>"#,
        m = escape(metric),
        n = values.len()
    );
    if max == 0 {
        let _ = write!(
            s,
            r#"<text x="142" y="56" text-anchor="middle">no scored samples</text>"#
        );
    }
    let w = WIDTH / BINS as f64;
    for (i, &c) in counts.iter().enumerate() {
        let h = if max == 0 {
            0.0
        } else {
            c as f64 / max as f64 * HEIGHT
        };
        let lo = i as f64 / BINS as f64;
        let hi = (i + 1) as f64 / BINS as f64;
        let close = if i + 1 == BINS { ']' } else { ')' };
        let _ = write!(
            s,
            r#"<rect class="bar" x="{x:.1}" y="{y:.1}" width="{bw:.1}" height="{h:.1}"><title>[{lo:.1}, {hi:.1}{close}: {c} sample{pl}</title></rect>"#,
            x = LEFT + i as f64 * w + 1.0,
            y = bottom - h,
            bw = w - 2.0,
            pl = if c == 1 { "" } else { "s" },
        );
    }
    let _ = write!(
        s,
        concat!(
            r#"<line class="axis" x1="{l}" y1="{b}" x2="{r}" y2="{b}"/>"#,
            r#"<line class="axis" x1="{l}" y1="{t}" x2="{l}" y2="{b}"/>"#,
            r#"<text x="{l}" y="{lb}" text-anchor="middle">0</text>"#,
            r#"<text x="{mid}" y="{lb}" text-anchor="middle">0.5</text>"#,
            r#"<text x="{r}" y="{lb}" text-anchor="middle">1</text>"#,
            r#"<text x="{mid}" y="126" text-anchor="middle">score</text>"#,
            r#"<text x="{yl}" y="{ty}" text-anchor="end">{max}</text>"#,
            r#"<text x="{yl}" y="{b}" text-anchor="end">0</text>"#,
            r#"<text x="10" y="{ym}" text-anchor="middle" transform="rotate(-90 10 {ym})">samples</text>"#,
            "</svg>"
        ),
        l = LEFT,
        r = LEFT + WIDTH,
        t = TOP,
        b = bottom,
        lb = bottom + 12.0,
        mid = LEFT + WIDTH / 2.0,
        yl = LEFT - 4.0,
        ty = TOP + 8.0,
        ym = TOP + HEIGHT / 2.0,
        max = max,
    );
    s
}

/// A one-line plot of a difference and its interval against a zero line, on a scale shared
/// by every row (`scale` is the largest |value| drawn), so rows compare at a glance.
pub fn delta_svg(delta: f64, ci: Option<(f64, f64)>, scale: f64, good: bool) -> String {
    const W: f64 = 160.0;
    let scale = if scale > 0.0 { scale } else { 1.0 };
    let x = |v: f64| W / 2.0 + (v / scale).clamp(-1.0, 1.0) * (W / 2.0 - 6.0);
    let class = if good { "good" } else { "bad" };
    let mut s = format!(
        r#"<svg class="delta" viewBox="0 0 {W} 20" role="img" aria-label="difference {delta:+.3}"><line class="zero" x1="{z}" y1="1" x2="{z}" y2="19"/>"#,
        z = W / 2.0
    );
    if let Some((lo, hi)) = ci {
        let _ = write!(
            s,
            r#"<line class="ci {class}" x1="{:.1}" y1="10" x2="{:.1}" y2="10"/>"#,
            x(lo),
            x(hi)
        );
    }
    let _ = write!(
        s,
        r#"<circle class="{class}" cx="{:.1}" cy="10" r="4"/></svg>"#,
        x(delta)
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_fall_in_their_tenth_and_the_ends_are_kept() {
        let values = [
            0.0,
            0.05,
            0.1,
            0.3,
            0.35,
            0.7,
            0.99,
            1.0,
            1.0,
            -0.2,
            1.5,
            f64::NAN,
        ];
        let c = bin_counts(&values, 10);
        assert_eq!(c, vec![3, 1, 0, 2, 0, 0, 0, 1, 0, 4]);
        assert_eq!(bin_counts(&[0.5], 2), vec![0, 1]);
        assert_eq!(bin_counts(&[], 10), vec![0; 10]);
    }

    #[test]
    fn histogram_titles_each_bar_with_its_count() {
        let svg = histogram_svg("f1 <x>", &[0.0, 0.0, 1.0]);
        assert!(svg.contains("[0.0, 0.1): 2 samples"), "{svg}");
        assert!(svg.contains("[0.9, 1.0]: 1 sample<"), "{svg}");
        assert!(svg.contains("f1 &lt;x&gt;") && !svg.contains("<x>"));
        assert_eq!(svg.matches("<rect").count(), BINS);
        assert!(histogram_svg("f1", &[]).contains("no scored samples"));
    }
}
