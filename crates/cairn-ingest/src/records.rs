//! Record files: CSV and JSON become one document per record (row or array element). The
//! text comes from the fields named by `--text-fields` (all text fields when none are named),
//! the identity from `--id-field` (the record number when none), the other fields become
//! metadata so filters work on them.

use cairn_core::{Document, Metadata};
use serde_json::Value;

use crate::load::{LoadError, Loaded, LoaderOptions, Names};

fn record_doc(
    names: &Names,
    kind: &str,
    n: usize,
    fields: &serde_json::Map<String, Value>,
    opts: &LoaderOptions,
) -> Result<Option<Document>, String> {
    let text_of = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    let chosen: Vec<(&String, &Value)> = if opts.text_fields.is_empty() {
        fields.iter().filter(|(_, v)| v.is_string()).collect()
    } else {
        let mut out = Vec::new();
        for f in &opts.text_fields {
            match fields.get_key_value(f) {
                Some(kv) => out.push(kv),
                None => {
                    return Err(format!(
                        "no field {f:?} (fields: {}); check --text-fields",
                        fields.keys().cloned().collect::<Vec<_>>().join(", ")
                    ))
                }
            }
        }
        out
    };
    let mut text = String::new();
    for (k, v) in &chosen {
        if let Some(t) = text_of(v).filter(|t| !t.trim().is_empty()) {
            if chosen.len() > 1 {
                text.push_str(&format!("{k}: {t}\n"));
            } else {
                text.push_str(&t);
            }
        }
    }
    if text.trim().is_empty() {
        return Ok(None);
    }
    let rid = match &opts.id_field {
        Some(f) => match fields.get(f).and_then(text_of) {
            Some(v) => v,
            None => {
                return Err(format!(
                    "no value in the id field {f:?} (set by --id-field)"
                ))
            }
        },
        None => n.to_string(),
    };
    let mut metadata = Metadata::new();
    metadata.insert("path".into(), names.source.into());
    metadata.insert("kind".into(), kind.into());
    metadata.insert("record".into(), n.into());
    metadata.insert("record_id".into(), rid.clone().into());
    for (k, v) in fields {
        if !chosen.iter().any(|(c, _)| *c == k) && !v.is_object() && !v.is_array() {
            metadata.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    for (k, v) in &opts.extra_meta {
        metadata.insert(k.clone(), v.clone());
    }
    let title = ["title", "name", "subject"]
        .iter()
        .find_map(|k| fields.get(*k).and_then(Value::as_str))
        .map(str::to_string);
    Ok(Some(Document {
        // Scoped to the file: records of two files never replace each other.
        id: format!("{}#{rid}", names.id),
        source: names.source.to_string(),
        title,
        kind: kind.to_string(),
        text: text.trim_end().to_string(),
        metadata,
    }))
}

/// A CSV file with a header row.
pub fn load_csv(text: &str, names: &Names, opts: &LoaderOptions) -> Result<Loaded, LoadError> {
    let shown = names.shown;
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = rdr
        .headers()
        .map_err(|e| LoadError::Unreadable {
            path: shown.into(),
            reason: format!("not a CSV file with a header row: {e}"),
        })?
        .iter()
        .map(str::to_string)
        .collect();
    let mut loaded = Loaded::default();
    for (i, row) in rdr.records().enumerate() {
        let line = i + 2;
        let row = match row {
            Ok(r) => r,
            Err(e) => {
                loaded.problems.push(LoadError::BadLine {
                    path: shown.into(),
                    line,
                    reason: format!("bad CSV row: {e}"),
                });
                continue;
            }
        };
        let fields: serde_json::Map<String, Value> = headers
            .iter()
            .zip(row.iter())
            .map(|(h, v)| (h.clone(), Value::String(v.to_string())))
            .collect();
        match record_doc(names, "csv", i + 1, &fields, opts) {
            Ok(Some(d)) => loaded.docs.push(d),
            Ok(None) => {}
            Err(reason) => loaded.problems.push(LoadError::BadLine {
                path: shown.into(),
                line,
                reason,
            }),
        }
    }
    if loaded.docs.is_empty() && loaded.problems.is_empty() {
        return Err(LoadError::Empty { path: shown.into() });
    }
    Ok(loaded)
}

/// A JSON file: an array of objects, or an object holding one array of objects (`{"items":
/// [...]}`), or a single object.
pub fn load_json(text: &str, names: &Names, opts: &LoaderOptions) -> Result<Loaded, LoadError> {
    let shown = names.shown;
    let v: Value = serde_json::from_str(text).map_err(|e| LoadError::BadLine {
        path: shown.into(),
        line: e.line(),
        reason: format!("not valid JSON: {e}"),
    })?;
    let records: Vec<&Value> = match &v {
        Value::Array(a) => a.iter().collect(),
        Value::Object(m) => {
            let arrays: Vec<&Vec<Value>> = m
                .values()
                .filter_map(Value::as_array)
                .filter(|a| a.iter().all(Value::is_object) && !a.is_empty())
                .collect();
            if arrays.len() == 1 {
                arrays[0].iter().collect()
            } else {
                vec![&v]
            }
        }
        _ => {
            return Err(LoadError::Unreadable {
                path: shown.into(),
                reason: "a JSON file must hold an object or an array of objects".into(),
            })
        }
    };
    let mut loaded = Loaded::default();
    for (i, r) in records.iter().enumerate() {
        let Some(fields) = r.as_object() else {
            loaded.problems.push(LoadError::Unreadable {
                path: shown.into(),
                reason: format!("record {} is not an object", i + 1),
            });
            continue;
        };
        match record_doc(names, "json", i + 1, fields, opts) {
            Ok(Some(d)) => loaded.docs.push(d),
            Ok(None) => {}
            Err(reason) => loaded.problems.push(LoadError::Unreadable {
                path: shown.into(),
                reason: format!("record {}: {reason}", i + 1),
            }),
        }
    }
    if loaded.docs.is_empty() && loaded.problems.is_empty() {
        return Err(LoadError::Empty { path: shown.into() });
    }
    Ok(loaded)
}
