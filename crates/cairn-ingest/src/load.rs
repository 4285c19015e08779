//! Loaders: one file in, documents out. Each failure names the file (and line) and says why.

use cairn_core::{Document, Metadata};
use std::path::Path;

/// Limits and extra metadata applied to every loaded document.
#[derive(Debug, Clone)]
pub struct LoaderOptions {
    /// Files read whole larger than this are skipped; a `.jsonl` file streams, and this
    /// caps each of its lines instead.
    pub max_file_bytes: u64,
    /// What a compressed part may expand to (a DOCX's `word/document.xml`, a PDF stream):
    /// a file over it is skipped as a likely decompression bomb.
    pub max_expanded_bytes: u64,
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
            max_expanded_bytes: 100 * 1024 * 1024,
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
    /// A kind this build cannot read (cairn-ingest built without the feature).
    #[error("{path}: this build of cairn cannot read it (built without the `{feature}` feature)")]
    Disabled { path: String, feature: &'static str },
    #[error("{path}: empty file")]
    Empty { path: String },
    #[error("{path}: {what}, not a regular file; only regular files are ingested")]
    NotRegular { path: String, what: String },
    #[error(
        "{path}: {part} expands to more than {limit} bytes (a decompression bomb?); raise --max-file-size if the file is genuine"
    )]
    Expanded {
        path: String,
        part: String,
        limit: u64,
    },
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
            | LoadError::Disabled { path, .. }
            | LoadError::NotRegular { path, .. }
            | LoadError::Expanded { path, .. }
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

/// How a loaded file is named: in messages (the path as the user reached it), as its
/// document id (the prefix of its records' and chunks' ids), and as the `source` (and
/// `metadata.path`) people see. See [`crate::ids::FileKey`].
#[derive(Debug, Clone, Copy)]
pub struct Names<'a> {
    pub shown: &'a str,
    pub id: &'a str,
    pub source: &'a str,
}

/// Loads one file, named `id` and shown (and stored as `source`) as the path given.
pub fn load_file(path: &Path, id: &str, opts: &LoaderOptions) -> Result<Loaded, LoadError> {
    load_file_as(path, id, &path.display().to_string(), opts)
}

/// Loads one file as document `id` with `source` as its name. Only regular files are read,
/// through a hard cap of `opts.max_file_bytes` (JSONL: per line), by the reader in `read.rs`.
pub fn load_file_as(
    path: &Path,
    id: &str,
    source: &str,
    opts: &LoaderOptions,
) -> Result<Loaded, LoadError> {
    let shown = path.display().to_string();
    let names = Names {
        shown: &shown,
        id,
        source,
    };
    let kind = kind_for_path(path).ok_or_else(|| LoadError::Unsupported {
        path: shown.clone(),
        ext: path
            .extension()
            .map(|e| format!(" .{}", e.to_string_lossy()))
            .unwrap_or_default(),
    })?;
    let (file, meta) = crate::read::open_regular(path, &shown)?;
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs());
    if kind == "jsonl" {
        return crate::jsonl::load_jsonl(std::io::BufReader::new(file), &names, modified, opts);
    }
    let bytes = crate::read::read_capped(file, &meta, opts.max_file_bytes, &shown)?;
    let title_stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
    load_bytes(kind, &bytes, &names, title_stem, modified, opts)
}

/// Loads the bytes of one file of `kind` (as [`kind_for_path`] names it); `stem` is the
/// title used when the content has none. The loaders read untrusted bytes: any input gives
/// documents or a `LoadError`, never a panic.
pub fn load_bytes(
    kind: &str,
    bytes: &[u8],
    names: &Names,
    stem: Option<String>,
    modified: Option<u64>,
    opts: &LoaderOptions,
) -> Result<Loaded, LoadError> {
    let shown = names.shown.to_string();
    match kind {
        #[cfg(feature = "pdf")]
        "pdf" => return crate::office::load_pdf(bytes, names, modified, opts),
        #[cfg(feature = "office")]
        "docx" => return crate::office::load_docx(bytes, names, modified, opts),
        #[cfg(not(feature = "pdf"))]
        "pdf" => {
            return Err(LoadError::Disabled {
                path: shown,
                feature: "pdf",
            })
        }
        #[cfg(not(feature = "office"))]
        "docx" => {
            return Err(LoadError::Disabled {
                path: shown,
                feature: "office",
            })
        }
        "jsonl" => return crate::jsonl::load_jsonl(bytes, names, modified, opts),
        _ => {}
    }
    let text = decode_text(bytes, &shown)?;
    match kind {
        "csv" => return crate::records::load_csv(&text, names, opts),
        "json" => return crate::records::load_json(&text, names, opts),
        _ => {}
    }
    let (title, body) = match kind {
        "html" => crate::html::html_to_text(&text),
        "markdown" => (markdown_title(&text), text),
        _ => (None, text),
    };
    if body.trim().is_empty() {
        return Err(LoadError::Empty { path: shown });
    }
    let title = title.or(stem);
    let mut metadata = Metadata::new();
    metadata.insert("path".into(), names.source.into());
    if let Some(t) = &title {
        metadata.insert("title".into(), t.clone().into());
    }
    metadata.insert("kind".into(), kind.into());
    if let Some(m) = modified {
        metadata.insert("modified".into(), m.into());
    }
    if kind == "code" {
        if let Some(ext) = Path::new(names.source).extension() {
            metadata.insert("language".into(), ext.to_string_lossy().into_owned().into());
        }
    }
    for (k, v) in &opts.extra_meta {
        metadata.insert(k.clone(), v.clone());
    }
    Ok(Loaded {
        docs: vec![Document {
            id: names.id.to_string(),
            source: names.source.to_string(),
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
        // Scoped to the file (was the bare "1", which let two files' records collide).
        assert!(l.docs[0].id.ends_with("corpus.jsonl#1"), "{}", l.docs[0].id);
        assert_eq!(l.docs[0].metadata["record_id"], "1");
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
