//! Loaders: one file in, documents out. Each failure names the file (and line) and says why.

use crate::walk::describe_io;
use cairn_core::{Document, Metadata};
use std::io::{BufRead, Read};
use std::path::Path;

/// Limits and extra metadata applied to every loaded document.
#[derive(Debug, Clone)]
pub struct LoaderOptions {
    /// Files read whole (all but `.jsonl`, which streams) larger than this are skipped.
    pub max_file_bytes: u64,
    /// `--meta key=value` pairs added to every document.
    pub extra_meta: Metadata,
    /// CSV / JSON records: the fields whose text is indexed (all text fields when empty).
    pub text_fields: Vec<String>,
    /// CSV / JSON records: the field that identifies a record (its number when `None`).
    pub id_field: Option<String>,
}

impl Default for LoaderOptions {
    fn default() -> Self {
        LoaderOptions {
            max_file_bytes: 20 * 1024 * 1024,
            extra_meta: Metadata::new(),
            text_fields: Vec::new(),
            id_field: None,
        }
    }
}

/// Why a file (or one line of it) was not loaded.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum LoadError {
    #[error("{path}: {reason}")]
    Unreadable { path: String, reason: String },
    #[error(
        "{path}: unsupported file type{ext} (cairn loads .txt, .md, .html, .pdf, .docx, .csv, .json, .jsonl and source code)"
    )]
    Unsupported { path: String, ext: String },
    #[error("{path}: binary file (found a NUL byte); only text files are ingested")]
    Binary { path: String },
    #[error(
        "{path}: not valid UTF-8 (first bad byte at offset {offset}); convert it to UTF-8 first"
    )]
    InvalidUtf8 { path: String, offset: usize },
    #[error("{path}: {size} bytes is larger than the {limit}-byte limit (raise it with --max-file-size)")]
    TooLarge { path: String, size: u64, limit: u64 },
    #[error("{path}: empty file")]
    Empty { path: String },
    #[error("{path}:{line}: {reason}")]
    BadLine {
        path: String,
        line: usize,
        reason: String,
    },
}

impl LoadError {
    /// The file the error is about.
    pub fn path(&self) -> &str {
        match self {
            LoadError::Unreadable { path, .. }
            | LoadError::Unsupported { path, .. }
            | LoadError::Binary { path }
            | LoadError::InvalidUtf8 { path, .. }
            | LoadError::TooLarge { path, .. }
            | LoadError::Empty { path }
            | LoadError::BadLine { path, .. } => path,
        }
    }

    /// The 1-based line, for errors about one line of a file.
    pub fn line(&self) -> Option<usize> {
        match self {
            LoadError::BadLine { line, .. } => Some(*line),
            _ => None,
        }
    }

    /// The message without the leading `path:` (and `line:`), for reports that show those
    /// in columns of their own.
    pub fn reason(&self) -> String {
        let full = self.to_string();
        let prefix = match self.line() {
            Some(l) => format!("{}:{l}: ", self.path()),
            None => format!("{}: ", self.path()),
        };
        full.strip_prefix(&prefix).unwrap_or(&full).to_string()
    }
}

impl cairn_core::Classify for LoadError {
    fn class(&self) -> cairn_core::ErrorClass {
        match self {
            LoadError::Unreadable { reason, .. } if reason.starts_with("no such") => {
                cairn_core::ErrorClass::NotFound
            }
            _ => cairn_core::ErrorClass::InvalidInput,
        }
    }
}

/// What one file produced: documents, and the lines that could not be used.
#[derive(Debug, Default)]
pub struct Loaded {
    pub docs: Vec<Document>,
    pub problems: Vec<LoadError>,
}

const CODE_EXTS: &[&str] = &[
    "rs", "py", "js", "mjs", "ts", "tsx", "jsx", "go", "java", "kt", "scala", "c", "h", "cc",
    "cpp", "hpp", "cs", "rb", "php", "swift", "sh", "bash", "sql", "lua", "r", "jl", "toml",
    "yaml", "yml", "css", "hs", "ml", "ex", "exs", "erl", "clj", "dart", "zig", "nim",
];

/// The loader kind for a path, from its extension.
pub fn kind_for_path(path: &Path) -> Option<&'static str> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    Some(match ext.as_str() {
        "txt" | "text" | "rst" => "text",
        "md" | "markdown" => "markdown",
        "html" | "htm" => "html",
        "jsonl" => "jsonl",
        "json" => "json",
        "csv" => "csv",
        "pdf" => "pdf",
        "docx" => "docx",
        e if CODE_EXTS.contains(&e) => "code",
        _ => return None,
    })
}

/// Loads one file. `id` is the document identity (a canonical path) for non-JSONL files.
pub fn load_file(path: &Path, id: &str, opts: &LoaderOptions) -> Result<Loaded, LoadError> {
    let shown = path.display().to_string();
    let kind = kind_for_path(path).ok_or_else(|| LoadError::Unsupported {
        path: shown.clone(),
        ext: path
            .extension()
            .map(|e| format!(" .{}", e.to_string_lossy()))
            .unwrap_or_default(),
    })?;
    let unreadable = |e: std::io::Error| LoadError::Unreadable {
        path: shown.clone(),
        reason: describe_io(&e),
    };
    let meta = std::fs::metadata(path).map_err(unreadable)?;
    if meta.is_dir() {
        return Err(LoadError::Unreadable {
            path: shown,
            reason: "is a directory".into(),
        });
    }
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs());
    if kind == "jsonl" {
        return load_beir_jsonl(path, opts, modified);
    }
    if meta.len() > opts.max_file_bytes {
        return Err(LoadError::TooLarge {
            path: shown,
            size: meta.len(),
            limit: opts.max_file_bytes,
        });
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(unreadable)?;
    match kind {
        "pdf" => return crate::office::load_pdf(&bytes, &shown, id, modified, opts),
        "docx" => return crate::office::load_docx(&bytes, &shown, id, modified, opts),
        _ => {}
    }
    let text = decode_text(&bytes, &shown)?;
    match kind {
        "csv" => return crate::records::load_csv(&text, &shown, id, opts),
        "json" => return crate::records::load_json(&text, &shown, id, opts),
        _ => {}
    }
    let (title, body) = match kind {
        "html" => html_to_text(&text),
        "markdown" => (markdown_title(&text), text),
        _ => (None, text),
    };
    if body.trim().is_empty() {
        return Err(LoadError::Empty { path: shown });
    }
    let title = title.or_else(|| path.file_stem().map(|s| s.to_string_lossy().into_owned()));
    let mut metadata = Metadata::new();
    metadata.insert("path".into(), shown.clone().into());
    if let Some(t) = &title {
        metadata.insert("title".into(), t.clone().into());
    }
    metadata.insert("kind".into(), kind.into());
    if let Some(m) = modified {
        metadata.insert("modified".into(), m.into());
    }
    if kind == "code" {
        if let Some(ext) = path.extension() {
            metadata.insert("language".into(), ext.to_string_lossy().into_owned().into());
        }
    }
    for (k, v) in &opts.extra_meta {
        metadata.insert(k.clone(), v.clone());
    }
    Ok(Loaded {
        docs: vec![Document {
            id: id.to_string(),
            source: shown,
            title,
            kind: kind.to_string(),
            text: body,
            metadata,
        }],
        problems: Vec::new(),
    })
}

/// Rejects binary and non-UTF-8 content with a message that says which.
fn decode_text(bytes: &[u8], shown: &str) -> Result<String, LoadError> {
    if bytes.is_empty() {
        return Err(LoadError::Empty {
            path: shown.to_string(),
        });
    }
    let head = &bytes[..bytes.len().min(8192)];
    if head.contains(&0) {
        return Err(LoadError::Binary {
            path: shown.to_string(),
        });
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(s.to_string()),
        Err(e) => Err(LoadError::InvalidUtf8 {
            path: shown.to_string(),
            offset: e.valid_up_to(),
        }),
    }
}

/// The first level-one heading, or else the first heading of any level.
fn markdown_title(text: &str) -> Option<String> {
    let mut first_any = None;
    let mut in_fence = false;
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with("```") || t.starts_with("~~~") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        if let Some((level, h)) = crate::markdown::heading(line) {
            if level == 1 {
                return Some(h);
            }
            first_any.get_or_insert(h);
        }
    }
    first_any
}

/// Plain text of an HTML page and its `<title>`.
fn html_to_text(html: &str) -> (Option<String>, String) {
    let lower = html.to_ascii_lowercase();
    let title = lower.find("<title").and_then(|s| {
        let open_end = s + lower[s..].find('>')? + 1;
        let close = open_end + lower[open_end..].find("</title>")?;
        let t = html[open_end..close].trim();
        (!t.is_empty()).then(|| t.to_string())
    });
    let text = html2text::from_read(html.as_bytes(), 10_000).unwrap_or_default();
    (title, text)
}

/// A BEIR corpus: one `{"_id", "title", "text"}` object per line. Bad lines are reported with
/// their line number and skipped; the rest load.
fn load_beir_jsonl(
    path: &Path,
    opts: &LoaderOptions,
    modified: Option<u64>,
) -> Result<Loaded, LoadError> {
    let shown = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|e| LoadError::Unreadable {
        path: shown.clone(),
        reason: describe_io(&e),
    })?;
    let mut out = Loaded::default();
    let reader = std::io::BufReader::new(file);
    for (i, line) in reader.split(b'\n').enumerate() {
        let n = i + 1;
        let bad = |reason: String| LoadError::BadLine {
            path: shown.clone(),
            line: n,
            reason,
        };
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                out.problems.push(bad(describe_io(&e)));
                break;
            }
        };
        let line = match std::str::from_utf8(&line) {
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
        let value: serde_json::Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => {
                out.problems.push(bad(format!("malformed JSON: {e}")));
                continue;
            }
        };
        let id = match &value["_id"] {
            serde_json::Value::String(s) if !s.is_empty() => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            _ => {
                out.problems.push(bad(
                    "missing \"_id\" (BEIR corpus lines need _id, title, text)".into(),
                ));
                continue;
            }
        };
        let title = value["title"].as_str().unwrap_or("").trim().to_string();
        let text = value["text"].as_str().unwrap_or("").trim().to_string();
        if text.is_empty() && title.is_empty() {
            out.problems
                .push(bad(format!("document {id} has no \"title\" or \"text\"")));
            continue;
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
        metadata.insert("path".into(), shown.clone().into());
        metadata.insert("line".into(), n.into());
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
        out.docs.push(Document {
            id,
            source: shown.clone(),
            title: (!title.is_empty()).then_some(title),
            kind: "jsonl".into(),
            text: body,
            metadata,
        });
    }
    if out.docs.is_empty() && out.problems.is_empty() {
        return Err(LoadError::Empty { path: shown });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn load(path: &Path) -> Result<Loaded, LoadError> {
        load_file(path, &path.display().to_string(), &LoaderOptions::default())
    }

    #[test]
    fn markdown_title_and_metadata() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("n.md");
        fs::write(&p, "intro\n## Sub\n# Main Title\ntext").unwrap();
        let mut opts = LoaderOptions::default();
        opts.extra_meta.insert("team".into(), "search".into());
        let l = load_file(&p, "id", &opts).unwrap();
        let doc = &l.docs[0];
        assert_eq!(doc.title.as_deref(), Some("Main Title"));
        assert_eq!(doc.metadata["kind"], "markdown");
        assert_eq!(doc.metadata["team"], "search");
        assert!(doc.metadata.contains_key("modified"));
    }

    #[test]
    fn html_is_converted_to_text() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("p.html");
        fs::write(
            &p,
            "<html><head><title>Page</title></head><body><p>Hello <b>world</b></p></body></html>",
        )
        .unwrap();
        let l = load(&p).unwrap();
        assert_eq!(l.docs[0].title.as_deref(), Some("Page"));
        assert!(l.docs[0].text.contains("Hello"), "{}", l.docs[0].text);
        assert!(!l.docs[0].text.contains("<b>"));
    }

    #[test]
    fn binary_invalid_utf8_large_and_unsupported_are_named() {
        let d = tempfile::tempdir().unwrap();
        let bin = d.path().join("b.txt");
        fs::write(&bin, b"abc\0def").unwrap();
        let e = load(&bin).unwrap_err().to_string();
        assert!(e.contains("b.txt") && e.contains("binary"), "{e}");

        let bad = d.path().join("u.txt");
        fs::write(&bad, b"ok \xff\xfe bad").unwrap();
        let e = load(&bad).unwrap_err().to_string();
        assert!(
            e.contains("u.txt") && e.contains("UTF-8") && e.contains("offset 3"),
            "{e}"
        );

        let big = d.path().join("big.txt");
        fs::write(&big, vec![b'a'; 2048]).unwrap();
        let opts = LoaderOptions {
            max_file_bytes: 1024,
            ..Default::default()
        };
        let e = load_file(&big, "x", &opts).unwrap_err().to_string();
        assert!(
            e.contains("big.txt") && e.contains("--max-file-size"),
            "{e}"
        );

        let png = d.path().join("i.png");
        fs::write(&png, b"x").unwrap();
        let e = load(&png).unwrap_err().to_string();
        assert!(e.contains("i.png") && e.contains(".png"), "{e}");
    }

    #[test]
    fn jsonl_reports_bad_lines_and_keeps_good_ones() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("corpus.jsonl");
        fs::write(
            &p,
            "{\"_id\":\"1\",\"title\":\"T\",\"text\":\"one\"}\n{not json\n{\"title\":\"x\"}\n{\"_id\":\"2\",\"text\":\"two\"}\n",
        )
        .unwrap();
        let l = load(&p).unwrap();
        assert_eq!(l.docs.len(), 2);
        assert_eq!(l.docs[0].id, "1");
        assert_eq!(l.docs[0].text, "T\none");
        assert_eq!(l.problems.len(), 2);
        let first = l.problems[0].to_string();
        assert!(
            first.contains("corpus.jsonl:2") && first.contains("malformed JSON"),
            "{first}"
        );
        assert!(l.problems[1].to_string().contains(":3: missing \"_id\""));
    }
}
