//! The HTML report of a run: one self-contained file (inline CSS and SVG, a few lines of
//! optional script, nothing fetched) so it can be mailed, archived or opened offline. It
//! shows the summary with intervals and coverage, each metric's distribution, and every
//! question with its answer, contexts and the judge's verdicts, so a score can be traced to
//! the statements behind it.

use std::fmt::Write;

use super::report_details::render_details;
use super::report_svg::histogram_svg;
use super::run::{summarize, RagRun, Summary};
use super::sample::{MetricResult, SampleResult};

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// The style both the report and the comparison use: readable at phone width, dark-mode aware.
pub(crate) const CSS: &str = r#"
:root{color-scheme:light dark;--fg:#1b1f24;--bg:#fff;--mute:#57606a;--line:#d0d7de;--good:#1a7f37;--bad:#cf222e;--bar:#4a72b0;--soft:#f6f8fa}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--bg:#0d1117;--mute:#8d96a0;--line:#30363d;--good:#3fb950;--bad:#f85149;--bar:#6e9be0;--soft:#161b22}}
*{box-sizing:border-box}
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg);max-width:64rem;margin:0 auto;padding:1rem;overflow-wrap:anywhere}
h1{font-size:1.5rem;margin:.2rem 0 1rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid var(--line)}h4{margin:.8rem 0 .2rem}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{padding:.3rem .5rem;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:.1rem 1rem;margin:0}dl.meta dt{color:var(--mute)}dl.meta dd{margin:0}
.plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(15rem,1fr));gap:1rem}
figure{margin:0}figcaption{font-weight:600}
svg{width:100%;height:auto;font-size:9px;fill:var(--fg)}
svg .bar{fill:var(--bar)}svg .axis,svg .zero{stroke:var(--mute)}svg.delta{max-width:10rem;min-width:6rem}
svg .ci{stroke-width:2}svg .ci.good{stroke:var(--good)}svg .ci.bad{stroke:var(--bad)}svg circle.good{fill:var(--good)}svg circle.bad{fill:var(--bad)}
details.sample{border:1px solid var(--line);border-radius:6px;margin:.4rem 0}
details.sample>summary{cursor:pointer;padding:.4rem .6rem}
summary:focus-visible,button:focus-visible,input:focus-visible{outline:2px solid var(--bar);outline-offset:2px}
.body{padding:0 .8rem .8rem}
.text{white-space:pre-wrap}
.mute,.src{color:var(--mute)}.good{color:var(--good)}.bad{color:var(--bad)}
.score{display:inline-block;font-size:.8rem;background:var(--soft);border-radius:4px;padding:0 .3rem;margin-left:.3rem}
ol.ctx{list-style:none;padding:0}ol.ctx li{margin:.4rem 0;padding:.4rem;background:var(--soft);border-radius:4px}
.metric{border-top:1px solid var(--line);padding:.3rem 0}
pre{white-space:pre-wrap;background:var(--soft);padding:.5rem;border-radius:4px;font-size:.8rem}
.tools{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center}.tools input{flex:1;min-width:10rem;padding:.3rem}
"#;

/// Filters the drill-down by text and opens or closes it all; the page works without it.
const SCRIPT: &str = r#"
const q=document.getElementById('filter');
if(q){q.addEventListener('input',()=>{const t=q.value.toLowerCase();document.querySelectorAll('details.sample').forEach(d=>{d.hidden=!!t&&!d.textContent.toLowerCase().includes(t)})})}
document.querySelectorAll('button[data-open]').forEach(b=>b.addEventListener('click',()=>{const o=b.dataset.open==='1';document.querySelectorAll('details.sample').forEach(d=>{d.open=o})}));
"#;

/// A whole page around `body` (already HTML).
pub(crate) fn page(title: &str, body: &str, script: &str) -> String {
    let script = if script.is_empty() {
        String::new()
    } else {
        format!("<script>{script}</script>")
    };
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{CSS}</style></head><body>\n{body}\n{script}</body></html>\n",
        escape(title)
    )
}

/// A score as the report prints it; `–` for none.
pub(crate) fn fmt_score(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), |v| format!("{v:.3}"))
}

/// Dollars with enough digits for a judge call's cost.
pub(crate) fn fmt_usd(v: f64) -> String {
    if v == 0.0 {
        "$0".into()
    } else if v < 1.0 {
        format!("${v:.4}")
    } else {
        format!("${v:.2}")
    }
}

pub(crate) fn fmt_ci(ci: Option<(f64, f64)>) -> String {
    ci.map_or_else(|| "–".into(), |(a, b)| format!("[{a:.3}, {b:.3}]"))
}

/// A text cut to `n` characters, for summary lines.
pub(crate) fn truncate(s: &str, n: usize) -> String {
    let s = s.trim();
    match s.char_indices().nth(n) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// `YYYY-MM-DD HH:MM UTC` from Unix seconds, without a date library (Hinnant's civil date).
pub(crate) fn format_utc(unix: u64) -> String {
    let (days, secs) = ((unix / 86_400) as i64, unix % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        secs / 3600,
        secs % 3600 / 60
    )
}

/// The run's metrics in order, then any the samples hold that the run does not list.
pub(crate) fn metric_names(run: &RagRun) -> Vec<String> {
    let mut names = run.metrics.clone();
    for s in &run.samples {
        for m in s.metrics.keys() {
            if !names.contains(m) {
                names.push(m.clone());
            }
        }
    }
    names
}

/// A metric's summary as recorded, else computed from the samples.
fn summary_of(run: &RagRun, metric: &str) -> Summary {
    run.summary
        .get(metric)
        .cloned()
        .unwrap_or_else(|| summarize(metric, &run.samples))
}

/// Whether lower values of the named metric are better, for labels.
pub(crate) fn lower_is_better(metric: &str) -> bool {
    metric
        .parse::<super::Metric>()
        .is_ok_and(|m| !m.higher_is_better())
}

/// Renders a run as one self-contained HTML page.
pub fn render_html(run: &RagRun) -> String {
    let names = metric_names(run);
    let mut body = String::new();
    header(&mut body, run);
    summary_table(&mut body, run, &names);
    body.push_str("<h2 id=\"distributions\">Distributions</h2><div class=\"plots\">");
    for m in &names {
        let values: Vec<f64> = run.values(m).into_iter().flatten().collect();
        let _ = write!(
            body,
            "<figure><figcaption>{}</figcaption>{}</figure>",
            escape(m),
            histogram_svg(m, &values)
        );
    }
    body.push_str("</div>");
    drilldown(&mut body, run, &names);
    page(&format!("cairn eval rag: {}", run.dataset), &body, SCRIPT)
}

fn header(out: &mut String, run: &RagRun) {
    let calls: u64 = run.judge_cost.values().map(|c| c.calls).sum();
    let cached: u64 = run.judge_cost.values().map(|c| c.cached).sum();
    let usd: f64 = run.judge_cost.values().fold(0.0, |a, c| a + c.usd);
    let date = if run.created_unix == 0 {
        "–".to_string()
    } else {
        format_utc(run.created_unix)
    };
    let rows = [
        ("Dataset", escape(&run.dataset)),
        ("System", escape(&run.system)),
        ("Judge", escape(run.judge.as_deref().unwrap_or("none"))),
        ("Date", date),
        ("Duration", format!("{:.1} s", run.seconds)),
        ("Samples", run.samples.len().to_string()),
        (
            "Judge cost",
            format!("{} ({calls} calls, {cached} cached)", fmt_usd(usd)),
        ),
        ("Answer cost", fmt_usd(run.answer_cost_usd)),
    ];
    out.push_str("<header><h1>RAG evaluation</h1><dl class=\"meta\">");
    for (k, v) in rows {
        let _ = write!(out, "<dt>{k}</dt><dd>{v}</dd>");
    }
    out.push_str("</dl></header>");
}

fn summary_table(out: &mut String, run: &RagRun, names: &[String]) {
    out.push_str(
        "<h2 id=\"summary\">Summary</h2><div class=\"scroll\"><table><thead><tr>\
         <th>Metric</th><th class=\"num\">Mean</th><th class=\"num\">95% CI</th>\
         <th class=\"num\">Coverage</th><th>Skipped</th><th class=\"num\">Judge calls</th>\
         <th class=\"num\">Cached</th><th class=\"num\">Cost</th></tr></thead><tbody>",
    );
    for m in names {
        let s = summary_of(run, m);
        let skipped: Vec<String> = s
            .skipped
            .iter()
            .map(|(r, n)| format!("{} × {n}", escape(r)))
            .collect();
        let (calls, cached, usd) = run.judge_cost.get(m).map_or_else(
            || ("–".into(), "–".into(), "–".into()),
            |c| (c.calls.to_string(), c.cached.to_string(), fmt_usd(c.usd)),
        );
        let dir = if lower_is_better(m) {
            " <span class=\"mute\">(lower is better)</span>"
        } else {
            ""
        };
        let _ = write!(
            out,
            "<tr><td>{}{dir}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{} of {}</td><td>{}</td><td class=\"num\">{calls}</td>\
             <td class=\"num\">{cached}</td><td class=\"num\">{usd}</td></tr>",
            escape(m),
            fmt_score(s.mean),
            fmt_ci(s.ci95),
            s.n,
            s.total,
            skipped.join("<br>"),
        );
    }
    out.push_str("</tbody></table></div>");
}

/// The metrics a sample's summary line shows: answer quality first, at most four.
fn key_metrics(names: &[String]) -> Vec<&String> {
    const PRIORITY: [&str; 8] = [
        "factual_correctness",
        "faithfulness",
        "answer_relevancy",
        "context_recall",
        "f1",
        "exact_match",
        "retrieval_hit",
        "citation_recall",
    ];
    let mut keys: Vec<&String> = PRIORITY
        .iter()
        .filter_map(|p| names.iter().find(|n| n == p))
        .collect();
    keys.extend(names.iter().filter(|n| !PRIORITY.contains(&n.as_str())));
    keys.truncate(4);
    keys
}

fn drilldown(out: &mut String, run: &RagRun, names: &[String]) {
    out.push_str(
        "<h2 id=\"questions\">Questions</h2><div class=\"tools\">\
         <label for=\"filter\">Filter</label><input id=\"filter\" type=\"search\" \
         placeholder=\"text in question, answer, reasons…\">\
         <button type=\"button\" data-open=\"1\">Expand all</button>\
         <button type=\"button\" data-open=\"0\">Collapse all</button></div>",
    );
    let keys = key_metrics(names);
    for (i, s) in run.samples.iter().enumerate() {
        let _ = write!(
            out,
            "<details class=\"sample\" id=\"s{i}\"><summary><strong>{}</strong> {}",
            escape(&s.sample.id),
            escape(&truncate(&s.sample.question, 120))
        );
        for k in &keys {
            let v = s.metrics.get(*k).and_then(|r| r.value);
            let _ = write!(
                out,
                "<span class=\"score\">{} {}</span>",
                escape(k),
                fmt_score(v)
            );
        }
        out.push_str("</summary><div class=\"body\">");
        sample_body(out, s, names);
        out.push_str("</div></details>\n");
    }
}

fn sample_body(out: &mut String, s: &SampleResult, names: &[String]) {
    let (q, r) = (&s.sample, &s.response);
    let _ = write!(
        out,
        "<h4>Question</h4><div class=\"text\">{}</div>",
        escape(&q.question)
    );
    if let Some(reference) = &q.reference {
        let _ = write!(
            out,
            "<h4>Reference</h4><div class=\"text\">{}</div>",
            escape(reference)
        );
    }
    if !q.reference_doc_ids.is_empty() {
        let docs: Vec<String> = q.reference_doc_ids.iter().map(|d| escape(d)).collect();
        let _ = write!(
            out,
            "<p class=\"mute\">Reference documents: {}</p>",
            docs.join(", ")
        );
    }
    let _ = write!(
        out,
        "<h4>Answer</h4><div class=\"text\">{}</div>",
        escape(&r.answer)
    );
    let mut meta = Vec::new();
    if !r.answered {
        meta.push("declined to answer".to_string());
    }
    if let Some(m) = &r.model {
        meta.push(format!("model {}", escape(m)));
    }
    if let Some(c) = r.cost_usd {
        meta.push(fmt_usd(c));
    }
    if let Some(l) = r.latency_ms {
        meta.push(format!("{l:.0} ms"));
    }
    if !meta.is_empty() {
        let _ = write!(out, "<p class=\"mute\">{}</p>", meta.join(" · "));
    }
    if let Some(e) = &r.error {
        let _ = write!(out, "<p class=\"bad\">Error: {}</p>", escape(e));
    }
    if !r.contexts.is_empty() {
        out.push_str("<h4>Contexts</h4><ol class=\"ctx\">");
        for (i, c) in r.contexts.iter().enumerate() {
            let origin: Vec<String> = [&c.source, &c.doc_id]
                .into_iter()
                .flatten()
                .map(|t| escape(t))
                .collect();
            let _ = write!(
                out,
                "<li><span class=\"src\">[{}] {}</span><div class=\"text\">{}</div></li>",
                i + 1,
                origin.join(" · "),
                escape(&c.text)
            );
        }
        out.push_str("</ol>");
    }
    out.push_str("<h4>Scores</h4>");
    for m in names {
        if let Some(result) = s.metrics.get(m) {
            metric_block(out, m, result);
        }
    }
}

fn metric_block(out: &mut String, name: &str, r: &MetricResult) {
    let verdict = match (r.value, &r.reason) {
        (Some(v), _) => format!("<strong>{v:.3}</strong>"),
        (None, reason) => format!(
            "<span class=\"bad\">skipped: {}</span>",
            escape(reason.as_deref().unwrap_or("no reason recorded"))
        ),
    };
    let _ = write!(
        out,
        "<div class=\"metric\">{} {verdict}{}</div>",
        escape(name),
        render_details(&r.details)
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rag::run::MetricCost;
    use crate::rag::sample::{Context, EvalSample, Response};
    use serde_json::json;

    fn fixture() -> RagRun {
        let mut a = SampleResult {
            sample: EvalSample {
                id: "q1".into(),
                question: "Who wrote <b>it</b>?".into(),
                reference: Some("Ada & Bob".into()),
                ..Default::default()
            },
            response: Response {
                answer: "Ada <script>alert(1)</script>".into(),
                answered: true,
                contexts: vec![Context {
                    text: "Ada wrote it.".into(),
                    doc_id: Some("docs/a.md".into()),
                    source: Some("a.md › Intro".into()),
                }],
                ..Default::default()
            },
            ..Default::default()
        };
        let details = json!({"statements": [
            {"statement": "Ada wrote it", "verdict": 1, "reason": "context [1] says so"},
            {"statement": "Bob helped", "verdict": 0, "reason": "not in the contexts"}]});
        a.metrics.insert(
            "faithfulness".into(),
            MetricResult::value(0.5).with_details(details),
        );
        a.metrics.insert("f1".into(), MetricResult::value(0.8));
        let mut b = a.clone();
        b.sample.id = "q2".into();
        b.metrics.insert(
            "faithfulness".into(),
            MetricResult::skipped("parse failure: expected JSON"),
        );
        b.metrics.insert("f1".into(), MetricResult::value(0.4));
        let mut run = RagRun {
            version: 1,
            created_unix: 1_700_000_000,
            dataset: "qa.jsonl".into(),
            system: "cairn ask".into(),
            judge: Some("judge-model".into()),
            metrics: vec!["f1".into(), "faithfulness".into()],
            samples: vec![a, b],
            ..Default::default()
        };
        run.judge_cost.insert(
            "faithfulness".into(),
            MetricCost {
                calls: 7,
                cached: 3,
                usd: 0.0123,
            },
        );
        run.summarize();
        run
    }

    #[test]
    fn escape_covers_markup_and_quotes() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(escape("plain ü"), "plain ü");
    }

    #[test]
    fn report_escapes_answers_and_shows_coverage_reasons_and_costs() {
        let html = render_html(&fixture());
        assert!(!html.contains("<script>alert"), "answer not escaped");
        assert!(html.contains("Ada &lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("Who wrote &lt;b&gt;it&lt;/b&gt;?"));
        assert!(html.contains("Ada &amp; Bob"));
        // Coverage per metric, and the skipped reason with its count.
        assert!(html.contains("1 of 2</td>"), "faithfulness coverage");
        assert!(html.contains("2 of 2</td>"), "f1 coverage");
        assert!(html.contains("parse failure × 1"));
        assert!(html.contains("skipped: parse failure: expected JSON"));
        assert!(html.contains("$0.0123") && html.contains("(7 calls, 3 cached)"));
        assert!(html.contains("2023-11-14 22:13 UTC"));
        // Contexts numbered with their origin; one drill-down per sample; no remote resources.
        assert!(html.contains("[1] a.md › Intro · docs/a.md"));
        assert_eq!(html.matches("<details class=\"sample\"").count(), 2);
        assert_eq!(html.matches("<svg class=\"hist\"").count(), 2);
        assert!(!html.contains("http://") && !html.contains("https://"));
    }

    #[test]
    fn dates_and_truncation() {
        assert_eq!(format_utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(format_utc(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(truncate("héllo world", 5), "héllo…");
        assert_eq!(truncate("short", 10), "short");
    }
}
