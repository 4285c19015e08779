//! Reading evaluation datasets (questions with optional gold material) and answers files
//! (questions with what some RAG system answered), as JSON Lines or CSV. Field names follow
//! ragas where it has them, so a ragas dataset reads unchanged:
//!
//! | field | also read as |
//! |---|---|
//! | `question` | `user_input`, `query` |
//! | `reference` (gold answer) | `ground_truth`, `answer` in a dataset (not in an answers file) |
//! | `reference_contexts` | — |
//! | `reference_doc_ids` | — |
//! | `answer` (answers file) | `response` |
//! | `contexts` (answers file) | `retrieved_contexts` |
//!
//! In CSV a list is a JSON array (`["a","b"]`); a plain cell is one item, except in
//! `reference_doc_ids`, where `|` separates ids.

use std::path::Path;

use serde_json::{Map, Value};

use super::sample::{Context, EvalSample, Response, Statement};

/// A file's records, each with where it came from (`line N` / `row N`).
pub(crate) type Records = Vec<(String, Map<String, Value>)>;

#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("{path}: cannot read the dataset: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}, {at}: {message}")]
    Bad {
        path: String,
        /// `line 3` or `row 3`.
        at: String,
        message: String,
    },
    #[error(
        "{path}: no questions in the file; each line (JSONL) or row (CSV) needs a `question` field"
    )]
    Empty { path: String },
}

/// Reads a dataset of questions: `.csv`, else JSON Lines.
pub fn load_dataset(path: &Path) -> Result<Vec<EvalSample>, DatasetError> {
    raw_records(path)?
        .into_iter()
        .map(|(at, rec)| sample_of(&rec, &at, true).map_err(|m| bad(path, &at, m)))
        .collect()
}

/// Reads an answers file: each record a question with the `answer` and `contexts` some system
/// gave, and optional gold material. Citation markers `[n]` in the answer are read as the
/// model's citations of `contexts[n-1]`.
pub fn load_answers(path: &Path) -> Result<Vec<(EvalSample, Response)>, DatasetError> {
    raw_records(path)?
        .into_iter()
        .map(|(at, rec)| {
            let s = sample_of(&rec, &at, false).map_err(|m| bad(path, &at, m.clone()))?;
            let r = response_of_record(&rec).map_err(|m| bad(path, &at, m))?;
            Ok((s, r))
        })
        .collect()
}

fn bad(path: &Path, at: &str, message: String) -> DatasetError {
    DatasetError::Bad {
        path: path.display().to_string(),
        at: at.to_string(),
        message,
    }
}

/// The file's records, each with where it came from (`line N` / `row N`).
pub(crate) fn raw_records(path: &Path) -> Result<Records, DatasetError> {
    let p = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| DatasetError::Io {
        path: p.clone(),
        source,
    })?;
    let csv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let out = if csv {
        csv_records(path, &text)?
    } else {
        jsonl_records(path, &text)?
    };
    if out.is_empty() {
        return Err(DatasetError::Empty { path: p });
    }
    Ok(out)
}

fn jsonl_records(path: &Path, text: &str) -> Result<Records, DatasetError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let at = format!("line {}", i + 1);
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(m)) => out.push((at, m)),
            Ok(_) => {
                return Err(bad(
                    path,
                    &at,
                    "expected a JSON object per line (JSON Lines)".into(),
                ))
            }
            Err(e) => {
                return Err(bad(
                    path,
                    &at,
                    format!("not JSON ({e}); a dataset is JSON Lines, or CSV with a .csv name"),
                ))
            }
        }
    }
    Ok(out)
}

fn csv_records(path: &Path, text: &str) -> Result<Records, DatasetError> {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(text.as_bytes());
    let headers = rdr
        .headers()
        .map_err(|e| bad(path, "row 1", format!("cannot read the header: {e}")))?
        .clone();
    let mut out = Vec::new();
    for (i, row) in rdr.records().enumerate() {
        let at = format!("row {}", i + 2);
        let row = row.map_err(|e| bad(path, &at, e.to_string()))?;
        let mut m = Map::new();
        for (h, v) in headers.iter().zip(row.iter()) {
            let h = h.trim();
            let v = v.trim();
            let list = matches!(
                h,
                "reference_contexts" | "reference_doc_ids" | "contexts" | "retrieved_contexts"
            );
            let value = if list && v.starts_with('[') {
                serde_json::from_str(v)
                    .map_err(|e| bad(path, &at, format!("`{h}`: not a JSON array ({e})")))?
            } else if h == "reference_doc_ids" {
                Value::Array(
                    v.split('|')
                        .map(|s| Value::String(s.trim().into()))
                        .filter(|s| s != "")
                        .collect(),
                )
            } else if list {
                if v.is_empty() {
                    Value::Array(vec![])
                } else {
                    Value::Array(vec![Value::String(v.into())])
                }
            } else if h == "answered" {
                Value::Bool(!matches!(
                    v.to_ascii_lowercase().as_str(),
                    "false" | "0" | "no"
                ))
            } else {
                Value::String(v.into())
            };
            m.insert(h.to_string(), value);
        }
        out.push((at, m));
    }
    Ok(out)
}

/// The first of `names` present and not null.
fn field<'a>(rec: &'a Map<String, Value>, names: &[&str]) -> Option<(&'a str, &'a Value)> {
    names.iter().find_map(|n| {
        rec.get_key_value(*n)
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.as_str(), v))
    })
}

fn text(rec: &Map<String, Value>, names: &[&str]) -> Result<Option<String>, String> {
    match field(rec, names) {
        None => Ok(None),
        Some((_, Value::String(s))) => Ok(Some(s.clone())),
        Some((_, Value::Number(n))) => Ok(Some(n.to_string())),
        Some((_, Value::Bool(b))) => Ok(Some(if *b { "yes" } else { "no" }.into())),
        Some((k, _)) => Err(format!("`{k}` must be a string")),
    }
}

fn strings(rec: &Map<String, Value>, name: &str) -> Result<Vec<String>, String> {
    match rec.get(name) {
        None | Some(Value::Null) => Ok(vec![]),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(a)) => a
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                _ => Err(format!("`{name}[{i}]` must be a string")),
            })
            .collect(),
        Some(_) => Err(format!("`{name}` must be a list of strings")),
    }
}

fn sample_of(rec: &Map<String, Value>, at: &str, dataset: bool) -> Result<EvalSample, String> {
    let question = text(rec, &["question", "user_input", "query"])?
        .filter(|q| !q.trim().is_empty())
        .ok_or("no `question` (or `user_input`): every record needs the question asked")?;
    let gold: &[&str] = if dataset {
        &["reference", "ground_truth", "answer"]
    } else {
        &["reference", "ground_truth"]
    };
    let id = text(rec, &["id", "_id", "query_id"])?
        .unwrap_or_else(|| at.split_whitespace().last().unwrap_or(at).to_string());
    Ok(EvalSample {
        id,
        question,
        reference: text(rec, gold)?.filter(|r| !r.trim().is_empty()),
        reference_contexts: strings(rec, "reference_contexts")?,
        reference_doc_ids: strings(rec, "reference_doc_ids")?,
    })
}

fn response_of_record(rec: &Map<String, Value>) -> Result<Response, String> {
    let answer = text(rec, &["answer", "response"])?
        .ok_or("no `answer` (or `response`): an answers file holds each question's answer")?;
    let contexts = match field(rec, &["contexts", "retrieved_contexts"]) {
        None => vec![],
        Some((k, Value::Array(a))) => a
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(Context {
                    text: s.clone(),
                    ..Default::default()
                }),
                Value::Object(o) => {
                    let get = |n: &str| o.get(n).and_then(Value::as_str).map(str::to_string);
                    Ok(Context {
                        text: get("text").ok_or(format!("`{k}[{i}]` has no `text`"))?,
                        doc_id: get("doc_id"),
                        source: get("source"),
                    })
                }
                _ => Err(format!("`{k}[{i}]` must be a string or {{\"text\": …}}")),
            })
            .collect::<Result<_, _>>()?,
        Some((k, Value::String(s))) => {
            let _ = k;
            vec![Context {
                text: s.clone(),
                ..Default::default()
            }]
        }
        Some((k, _)) => return Err(format!("`{k}` must be a list of passages")),
    };
    let answered = match rec.get("answered") {
        Some(Value::Bool(b)) => *b,
        Some(Value::Null) | None => !cairn_rag::cite::says_it_does_not_know(&answer),
        Some(_) => return Err("`answered` must be true or false".into()),
    };
    let statements = statements_of(&answer);
    Ok(Response {
        answer,
        contexts,
        answered,
        statements,
        ..Default::default()
    })
}

/// The answer's sentences with the `[n]` markers each carries (numbers naming no context are
/// kept: they cite nothing real, which citation precision counts against them).
pub fn statements_of(answer: &str) -> Vec<Statement> {
    cairn_rag::cite::sentences(answer)
        .into_iter()
        .map(|s| Statement {
            text: s.text,
            cites: s.sources,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, body: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join(name);
        std::fs::write(&p, body).unwrap();
        (d, p)
    }

    #[test]
    fn csv_and_jsonl_datasets_with_ragas_names() {
        let (_d, p) = write(
            "qa.csv",
            "question,answer\nWas Lincoln president?,yes\n\"Who, then?\",\"Grace Bedell\"\n",
        );
        let s = load_dataset(&p).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(
            (s[0].id.as_str(), s[0].reference.as_deref()),
            ("2", Some("yes"))
        );
        assert_eq!(s[1].question, "Who, then?");
        let (_d, p) = write(
            "qa.jsonl",
            "{\"id\":\"q1\",\"user_input\":\"Why?\",\"ground_truth\":\"Because.\",\"reference_doc_ids\":[\"a.md\"]}\n\n{\"question\":\"How?\"}\n",
        );
        let s = load_dataset(&p).unwrap();
        assert_eq!(s[0].id, "q1");
        assert_eq!(s[0].reference.as_deref(), Some("Because."));
        assert_eq!(s[0].reference_doc_ids, vec!["a.md"]);
        assert_eq!((s[1].id.as_str(), s[1].reference.as_ref()), ("3", None));
    }

    #[test]
    fn bad_records_name_the_file_line_and_field() {
        let (_d, p) = write("qa.jsonl", "{\"question\":\"ok\"}\n{\"reference\":\"x\"}\n");
        let e = load_dataset(&p).unwrap_err().to_string();
        assert!(
            e.contains("qa.jsonl, line 2") && e.contains("`question`"),
            "{e}"
        );
        let (_d, p) = write("qa.jsonl", "not json\n");
        let e = load_dataset(&p).unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("JSON Lines"), "{e}");
        let (_d, p) = write(
            "qa.jsonl",
            "{\"question\":\"q\",\"reference_doc_ids\":[{}]}\n",
        );
        let e = load_dataset(&p).unwrap_err().to_string();
        assert!(e.contains("`reference_doc_ids[0]`"), "{e}");
        let (_d, p) = write("qa.csv", "question\n");
        assert!(matches!(load_dataset(&p), Err(DatasetError::Empty { .. })));
        let e = load_dataset(Path::new("/nope/qa.jsonl"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nope/qa.jsonl"), "{e}");
    }

    #[test]
    fn answers_files_read_contexts_and_citations() {
        let (_d, p) = write(
            "answers.jsonl",
            concat!(
                "{\"user_input\":\"q\",\"response\":\"Cairns mark trails [1]. They are old [2][1].\",",
                "\"retrieved_contexts\":[\"c1\",{\"text\":\"c2\",\"doc_id\":\"b.md\"}],\"reference\":\"r\"}\n",
                "{\"question\":\"q2\",\"answer\":\"I don't know.\",\"contexts\":[]}\n"
            ),
        );
        let a = load_answers(&p).unwrap();
        let (s, r) = &a[0];
        assert_eq!(s.reference.as_deref(), Some("r"));
        assert_eq!(r.contexts[1].doc_id.as_deref(), Some("b.md"));
        assert_eq!(r.statements.len(), 2);
        assert_eq!(r.statements[0].cites, vec![1]);
        assert_eq!(r.statements[1].cites, vec![2, 1]);
        assert!(r.answered && !a[1].1.answered);
        let (_d, p) = write("answers.jsonl", "{\"question\":\"q\"}\n");
        let e = load_answers(&p).unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("`answer`"), "{e}");
    }
}
