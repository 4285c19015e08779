//! BEIR-style JSONL corpora: one `{"_id", "title", "text"}` object per line, streamed line by
//! line (each line capped at `max_file_bytes`, so one endless line cannot fill memory). A
//! record's id is scoped to its file (`corpus.jsonl#<_id>`, the bare `_id` kept in
//! `metadata.record_id`), so two files sharing an `_id` never replace each other.

use crate::load::{LoadError, Loaded, LoaderOptions, Names};
use crate::walk::describe_io;
use cairn_core::{Document, Metadata};
use std::io::BufRead;

/// One line read under a cap.
enum Line {
    Eof,
    Ok,
    /// Longer than the cap; the rest of it was skipped unread into memory.
    TooLong,
}

/// Reads up to and including the next `\n` into `buf` (cleared first), keeping at most
/// `limit` bytes in memory.
fn read_line_capped<R: BufRead>(r: &mut R, buf: &mut Vec<u8>, limit: u64) -> std::io::Result<Line> {
    buf.clear();
    let mut too_long = false;
    let mut any = false;
    loop {
        let avail = match r.fill_buf() {
            Ok(a) => a,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if avail.is_empty() {
            break;
        }
        any = true;
        let (take, done) = match avail.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (avail.len(), false),
        };
        if !too_long {
            if (buf.len() + take) as u64 > limit.saturating_add(1) {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(&avail[..take]);
            }
        }
        r.consume(take);
        if done {
            break;
        }
    }
    Ok(match (any, too_long) {
        (false, _) => Line::Eof,
        (true, true) => Line::TooLong,
        (true, false) => Line::Ok,
    })
}

/// Loads a JSONL corpus from `reader`. Bad lines are reported with their line number and
/// skipped; the rest load.
pub fn load_jsonl<R: BufRead>(
    mut reader: R,
    names: &Names,
    modified: Option<u64>,
    opts: &LoaderOptions,
) -> Result<Loaded, LoadError> {
    let shown = names.shown;
    let mut out = Loaded::default();
    let mut buf = Vec::new();
    let mut n = 0;
    loop {
        n += 1;
        let bad = |reason: String| LoadError::BadLine {
            path: shown.to_string(),
            line: n,
            reason,
        };
        match read_line_capped(&mut reader, &mut buf, opts.max_file_bytes) {
            Ok(Line::Eof) => break,
            Ok(Line::Ok) => {}
            Ok(Line::TooLong) => {
                out.problems.push(bad(format!(
                    "line longer than the {}-byte limit (raise it with --max-file-size)",
                    opts.max_file_bytes
                )));
                continue;
            }
            Err(e) => {
                out.problems.push(bad(describe_io(&e)));
                break;
            }
        }
        let line = match std::str::from_utf8(&buf) {
            Ok(s) => s.trim(),
            Err(e) => {
                out.problems
                    .push(bad(format!("not valid UTF-8 at byte {}", e.valid_up_to())));
                continue;
            }
        };
        if line.is_empty() {
            continue;
        }
        match record(line, n, names, modified, opts) {
            Ok(d) => out.docs.push(d),
            Err(reason) => out.problems.push(bad(reason)),
        }
    }
    if out.docs.is_empty() && out.problems.is_empty() {
        return Err(LoadError::Empty {
            path: shown.to_string(),
        });
    }
    Ok(out)
}

fn record(
    line: &str,
    n: usize,
    names: &Names,
    modified: Option<u64>,
    opts: &LoaderOptions,
) -> Result<Document, String> {
    let value: serde_json::Value =
        serde_json::from_str(line).map_err(|e| format!("malformed JSON: {e}"))?;
    let id = match &value["_id"] {
        serde_json::Value::String(s) if !s.is_empty() => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => return Err("missing \"_id\" (BEIR corpus lines need _id, title, text)".into()),
    };
    let title = value["title"].as_str().unwrap_or("").trim().to_string();
    let text = value["text"].as_str().unwrap_or("").trim().to_string();
    if text.is_empty() && title.is_empty() {
        return Err(format!("document {id} has no \"title\" or \"text\""));
    }
    // BEIR indexes title and text together.
    let body = if title.is_empty() {
        text
    } else if text.is_empty() {
        title.clone()
    } else {
        format!("{title}\n{text}")
    };
    let mut metadata = Metadata::new();
    metadata.insert("path".into(), names.source.into());
    metadata.insert("line".into(), n.into());
    metadata.insert("record_id".into(), id.clone().into());
    if !title.is_empty() {
        metadata.insert("title".into(), title.clone().into());
    }
    metadata.insert("kind".into(), "jsonl".into());
    if let Some(m) = modified {
        metadata.insert("modified".into(), m.into());
    }
    if let Some(serde_json::Value::Object(extra)) = value.get("metadata") {
        for (k, v) in extra {
            metadata.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    for (k, v) in &opts.extra_meta {
        metadata.insert(k.clone(), v.clone());
    }
    Ok(Document {
        id: format!("{}#{id}", names.id),
        source: names.source.to_string(),
        title: (!title.is_empty()).then_some(title),
        kind: "jsonl".into(),
        text: body,
        metadata,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: Names = Names {
        shown: "c.jsonl",
        id: "c.jsonl",
        source: "c.jsonl",
    };

    #[test]
    fn a_line_past_the_cap_is_skipped_and_the_next_still_loads() {
        let long = format!("{{\"_id\":\"1\",\"text\":\"{}\"}}", "x".repeat(5000));
        let data = format!("{long}\n{{\"_id\":\"2\",\"text\":\"short\"}}\n");
        let opts = LoaderOptions {
            max_file_bytes: 1000,
            ..Default::default()
        };
        let l = load_jsonl(data.as_bytes(), &NAMES, None, &opts).unwrap();
        assert_eq!(l.docs.len(), 1);
        assert_eq!(l.docs[0].id, "c.jsonl#2");
        assert_eq!(l.docs[0].metadata["record_id"], "2");
        assert_eq!(l.docs[0].metadata["line"], 2);
        let p = l.problems[0].to_string();
        assert!(
            p.contains("c.jsonl:1:") && p.contains("1000-byte limit"),
            "{p}"
        );
    }

    #[test]
    fn a_last_line_without_newline_loads() {
        let l = load_jsonl(
            &b"{\"_id\":7,\"text\":\"a\"}"[..],
            &NAMES,
            None,
            &LoaderOptions::default(),
        )
        .unwrap();
        assert_eq!(l.docs[0].id, "c.jsonl#7");
    }
}
