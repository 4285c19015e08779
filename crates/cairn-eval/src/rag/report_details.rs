//! A metric's `details` in the report: lists of judged statements (faithfulness verdicts,
//! citation support, generated questions) as tables with the judge's reasons, so a score can
//! be checked statement by statement; anything else as pretty JSON.

use std::fmt::Write;

use serde_json::Value;

use super::report::escape;

/// Field names a verdict table reads, in the order it prefers them.
const TEXT_KEYS: [&str; 4] = ["statement", "claim", "question", "text"];
const VERDICT_KEYS: [&str; 4] = ["verdict", "supported", "attributed", "useful"];

/// A metric's details: lists of judged statements as tables, short values inline, anything
/// else as pretty JSON.
pub fn render_details(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Array(rows) => verdict_table(rows).unwrap_or_else(|| pretty(v)),
        Value::Object(map) => {
            let mut out = String::new();
            for (k, v) in map {
                if let Some(table) = v.as_array().and_then(|rows| verdict_table(rows)) {
                    let _ = write!(out, "<p class=\"mute\">{}</p>{table}", escape(k));
                } else if is_short(v) {
                    let _ = write!(
                        out,
                        "<p class=\"mute\">{}: {}</p>",
                        escape(k),
                        escape(&inline(v))
                    );
                } else {
                    let _ = write!(out, "<p class=\"mute\">{}</p>{}", escape(k), pretty(v));
                }
            }
            out
        }
        _ => pretty(v),
    }
}

fn pretty(v: &Value) -> String {
    let text = serde_json::to_string_pretty(v).unwrap_or_default();
    format!("<pre>{}</pre>", escape(&text))
}

/// A scalar, or a list of scalars: fits on a line.
fn is_short(v: &Value) -> bool {
    match v {
        Value::Array(xs) => xs.iter().all(|x| !x.is_array() && !x.is_object()),
        Value::Object(_) => false,
        _ => true,
    }
}

/// A value on one line: strings without their quotes.
fn inline(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        _ => v.to_string(),
    }
}

/// A table of judged items when every row is an object with a text field; `None` otherwise.
fn verdict_table(rows: &[Value]) -> Option<String> {
    let objects: Vec<_> = rows.iter().map(Value::as_object).collect::<Option<_>>()?;
    let text_key = |o: &serde_json::Map<String, Value>| {
        TEXT_KEYS
            .iter()
            .find(|k| o.get(**k).is_some_and(Value::is_string))
    };
    if objects.is_empty() || !objects.iter().all(|o| text_key(o).is_some()) {
        return None;
    }
    let verdict_key = VERDICT_KEYS
        .iter()
        .find(|k| objects.iter().any(|o| o.contains_key(**k)));
    let mut out = String::from(
        "<div class=\"scroll\"><table><thead><tr><th class=\"num\">#</th><th>Statement</th>\
         <th>Verdict</th><th>Reason</th></tr></thead><tbody>",
    );
    for (i, o) in objects.iter().enumerate() {
        let tk = text_key(o).copied().unwrap_or("text");
        let verdict = verdict_key
            .and_then(|k| o.get(*k))
            .map_or(String::new(), verdict_cell);
        let mut reason = o
            .get("reason")
            .map(inline)
            .map(|r| escape(&r))
            .unwrap_or_default();
        let extra: Vec<String> = o
            .iter()
            .filter(|(k, _)| {
                k.as_str() != tk && k.as_str() != "reason" && Some(&k.as_str()) != verdict_key
            })
            .map(|(k, v)| format!("{}: {}", escape(k), escape(&inline(v))))
            .collect();
        if !extra.is_empty() {
            let sep = if reason.is_empty() { "" } else { "<br>" };
            let _ = write!(
                reason,
                "{sep}<span class=\"mute\">{}</span>",
                extra.join("; ")
            );
        }
        let _ = write!(
            out,
            "<tr><td class=\"num\">{}</td><td>{}</td><td>{verdict}</td><td>{reason}</td></tr>",
            i + 1,
            escape(&inline(&o[tk])),
        );
    }
    out.push_str("</tbody></table></div>");
    Some(out)
}

fn verdict_cell(v: &Value) -> String {
    let yes = match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) if n.as_f64() == Some(1.0) => Some(true),
        Value::Number(n) if n.as_f64() == Some(0.0) => Some(false),
        _ => None,
    };
    match yes {
        Some(true) => "<span class=\"good\">✓ yes</span>".into(),
        Some(false) => "<span class=\"bad\">✗ no</span>".into(),
        None => escape(&inline(v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn judged_statements_become_a_table_and_the_rest_json() {
        let d = json!({"statements": [
            {"statement": "S1", "verdict": 1, "reason": "R1"},
            {"statement": "S2 <i>", "verdict": 0, "reason": "R2"}]});
        let html = render_details(&d);
        assert!(html.contains("<td>S1</td><td><span class=\"good\">✓ yes</span></td><td>R1</td>"));
        assert!(html.contains("S2 &lt;i&gt;") && html.contains("✗ no"));
        let cites = json!({"checked_by": "lexical", "statements": [
            {"statement": "S", "cites": [1, 2], "supported": false, "unneeded": [2]}]});
        let html = render_details(&cites);
        assert!(html.contains("checked_by: lexical"));
        assert!(html.contains("✗ no") && html.contains("cites: [1,2]; unneeded: [2]"));
        assert!(render_details(&json!({"ranks": [1, 3]})).contains("ranks: [1,3]"));
        let other = render_details(&json!({"nested": {"a": [{"b": 1}]}}));
        assert!(other.contains("<pre>") && other.contains("&quot;b&quot;: 1"));
        assert_eq!(render_details(&Value::Null), "");
    }
}
