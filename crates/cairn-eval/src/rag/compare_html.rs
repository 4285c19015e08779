//! The comparison of two runs as one self-contained HTML page, styled like the run report:
//! the metric table with each difference drawn against zero, then the questions that moved.

use std::fmt::Write;

use super::compare::{describe, fmt_delta, fmt_p, pairing_line, Comparison, TIE};
use super::report::{escape, fmt_ci, fmt_score, lower_is_better, page, truncate};
use super::report_svg::delta_svg;

/// Rows of the per-metric change tables in the HTML; the JSON keeps them all.
const HTML_CHANGES: usize = 200;

/// The comparison as one self-contained HTML page, styled like the run report.
pub fn render_compare_html(c: &Comparison) -> String {
    let mut body = String::from("<header><h1>RAG comparison</h1><dl class=\"meta\">");
    for (k, v) in [
        ("A", describe(&c.a)),
        ("B", describe(&c.b)),
        ("Pairing", pairing_line(c)),
    ] {
        let _ = write!(body, "<dt>{k}</dt><dd>{}</dd>", escape(&v));
    }
    body.push_str("</dl>");
    if c.question_mismatches > 0 {
        let _ = write!(
            body,
            "<p class=\"bad\">{} pairs share an id but not the question: are the datasets the same?</p>",
            c.question_mismatches
        );
    }
    body.push_str(
        "</header><h2>Metrics</h2><div class=\"scroll\"><table><thead><tr><th>Metric</th>\
         <th class=\"num\">n</th><th class=\"num\">A</th><th class=\"num\">B</th>\
         <th class=\"num\">Δ</th><th class=\"num\">95% CI</th><th>Δ vs 0</th>\
         <th class=\"num\">p</th><th class=\"num\">Better / worse / same</th></tr></thead><tbody>",
    );
    let scale = c
        .metrics
        .iter()
        .flat_map(|m| [m.delta, m.ci95.map(|c| c.0), m.ci95.map(|c| c.1)])
        .flatten()
        .fold(0.0f64, |s, v| s.max(v.abs()));
    for m in &c.metrics {
        let good = m.delta.is_none_or(|d| d.abs() <= TIE || m.is_better(d));
        let class = if m.significant {
            if good {
                " class=\"good\""
            } else {
                " class=\"bad\""
            }
        } else {
            ""
        };
        let plot = m
            .delta
            .map_or(String::new(), |d| delta_svg(d, m.ci95, scale, good));
        let dir = if lower_is_better(&m.metric) {
            " <span class=\"mute\">(lower is better)</span>"
        } else {
            ""
        };
        let _ = write!(
            body,
            "<tr><td>{}{dir}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\"><span{class}>{}</span></td>\
             <td class=\"num\">{}</td><td>{plot}</td><td class=\"num\">{}{}</td>\
             <td class=\"num\">{} / {} / {}</td></tr>",
            escape(&m.metric),
            m.n,
            fmt_score(m.mean_a),
            fmt_score(m.mean_b),
            fmt_delta(m.delta),
            fmt_ci(m.ci95),
            escape(&fmt_p(m.p_value)),
            if m.significant { " *" } else { "" },
            m.better,
            m.worse,
            m.same,
        );
    }
    body.push_str(
        "</tbody></table></div><p class=\"mute\">* p &lt; 0.05 (sign test) and the paired \
         bootstrap interval excludes 0.</p><h2>Questions that moved</h2>",
    );
    for m in c.metrics.iter().filter(|m| !m.changes.is_empty()) {
        let _ = write!(
            body,
            "<details class=\"sample\"><summary><strong>{}</strong> {} better, {} worse</summary>\
             <div class=\"body scroll\"><table><thead><tr><th>Id</th><th>Question</th>\
             <th class=\"num\">A</th><th class=\"num\">B</th><th class=\"num\">Δ</th></tr>\
             </thead><tbody>",
            escape(&m.metric),
            m.better,
            m.worse
        );
        for ch in m.changes.iter().take(HTML_CHANGES) {
            let class = if m.is_better(ch.delta) { "good" } else { "bad" };
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td class=\"num\">{:.3}</td><td class=\"num\">{:.3}</td>\
                 <td class=\"num {class}\">{:+.3}</td></tr>",
                escape(&ch.id),
                escape(&truncate(&ch.question, 200)),
                ch.a,
                ch.b,
                ch.delta
            );
        }
        body.push_str("</tbody></table>");
        if m.changes.len() > HTML_CHANGES {
            let _ = write!(
                body,
                "<p class=\"mute\">The {HTML_CHANGES} largest of {} changes; the JSON has all.</p>",
                m.changes.len()
            );
        }
        body.push_str("</div></details>");
    }
    page("cairn eval compare", &body, "")
}
