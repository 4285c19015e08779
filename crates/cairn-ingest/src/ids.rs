//! Document identity: how a file is named in an index, whatever spelling reached it.
//!
//! A file is named by its canonical path relative to the index's *root* (the folder that holds
//! the index folder, like a git work tree holds `.git`), with `/` separators. A file outside
//! the root keeps its canonical absolute path (the last resort: nothing shorter is stable).
//! In ids, `%` and `#` of the path are percent-escaped (as are bytes that are not UTF-8), so
//! everything after the first `#` of an id is the part within the file: a record (`a.jsonl#7`),
//! a page (`r.pdf#page=2`), a chunk (`notes.md#3`).

use std::path::{Component, Path};

/// How one file is named in the index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileKey {
    /// The document id of the file (and the prefix of its records' and chunks' ids).
    pub id: String,
    /// The path shown to people and stored as `source` and `metadata.path`: relative to the
    /// root, or absolute for a file outside it.
    pub name: String,
}

impl FileKey {
    /// The key of `canonical` (a path with no `.`, `..` or symbolic links) under `root`
    /// (canonical too).
    pub fn new(root: &Path, canonical: &Path) -> FileKey {
        match canonical.strip_prefix(root) {
            Ok(rel) if rel.components().next().is_some() => FileKey::from_components(rel, false),
            _ => FileKey::from_components(canonical, true),
        }
    }

    fn from_components(p: &Path, absolute: bool) -> FileKey {
        let mut id = String::new();
        let mut name = String::new();
        for c in p.components() {
            let part = match c {
                Component::Normal(s) => s,
                // Canonical paths hold only normal components below the root.
                _ => continue,
            };
            if absolute || !id.is_empty() {
                id.push('/');
                name.push('/');
            }
            escape_into(part.as_encoded_bytes(), &mut id);
            name.push_str(&part.to_string_lossy());
        }
        FileKey { id, name }
    }
}

/// Percent-escapes `%`, `#`, control characters and bytes that are not UTF-8.
fn escape_into(bytes: &[u8], out: &mut String) {
    for chunk in bytes.utf8_chunks() {
        for ch in chunk.valid().chars() {
            if ch == '%' || ch == '#' || ch.is_control() {
                let mut buf = [0u8; 4];
                for b in ch.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("%{b:02X}"));
                }
            } else {
                out.push(ch);
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// The path a file id names: percent-escapes decoded, relative ids under `root`.
pub fn path_of(root: &Path, file_id: &str) -> std::path::PathBuf {
    let b = file_id.as_bytes();
    let mut bytes = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                bytes.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        bytes.push(b[i]);
        i += 1;
    }
    #[cfg(unix)]
    let p = {
        use std::os::unix::ffi::OsStringExt;
        std::path::PathBuf::from(std::ffi::OsString::from_vec(bytes))
    };
    #[cfg(not(unix))]
    let p = std::path::PathBuf::from(String::from_utf8_lossy(&bytes).into_owned());
    if p.is_absolute() {
        p
    } else {
        root.join(p)
    }
}

/// The part of a record's id within its file: `"corpus.jsonl#doc-7"` → `"doc-7"`. `None`
/// for ids of whole files (and ids an index made before record ids were scoped to their
/// file, which were the bare record id).
pub fn record_part(doc_id: &str) -> Option<&str> {
    doc_id.split_once('#').map(|(_, r)| r)
}

/// Whether `doc_id` belongs to the file named `file_id` (is it, or one of its records or
/// pages).
pub fn belongs_to(doc_id: &str, file_id: &str) -> bool {
    doc_id
        .strip_prefix(file_id)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('#'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_under_the_root_absolute_outside() {
        let k = FileKey::new(Path::new("/p"), Path::new("/p/docs/a b.md"));
        assert_eq!(k.id, "docs/a b.md");
        assert_eq!(k.name, "docs/a b.md");
        let k = FileKey::new(Path::new("/p"), Path::new("/elsewhere/x.md"));
        assert_eq!(k.id, "/elsewhere/x.md");
        // A sibling folder sharing the root's name as a prefix is outside.
        let k = FileKey::new(Path::new("/p"), Path::new("/pq/x.md"));
        assert_eq!(k.id, "/pq/x.md");
    }

    #[test]
    fn hash_and_percent_are_escaped_so_the_record_part_is_unambiguous() {
        let k = FileKey::new(Path::new("/p"), Path::new("/p/c#1/50%.jsonl"));
        assert_eq!(k.id, "c%231/50%25.jsonl");
        assert_eq!(k.name, "c#1/50%.jsonl");
        let rec = format!("{}#a#b", k.id);
        assert_eq!(record_part(&rec), Some("a#b"));
        assert!(belongs_to(&rec, &k.id));
        assert!(belongs_to(&k.id, &k.id));
        assert!(!belongs_to("c%231/50%25.jsonl.bak", &k.id));
        assert_eq!(record_part("plain.md"), None);
        assert_eq!(
            path_of(Path::new("/p"), &k.id),
            Path::new("/p/c#1/50%.jsonl")
        );
        assert_eq!(path_of(Path::new("/p"), "/abs/x%"), Path::new("/abs/x%"));
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_names_stay_distinct() {
        use std::os::unix::ffi::OsStrExt;
        let a = Path::new(std::ffi::OsStr::from_bytes(b"/p/\xff.txt"));
        let b = Path::new(std::ffi::OsStr::from_bytes(b"/p/\xfe.txt"));
        let (ka, kb) = (
            FileKey::new(Path::new("/p"), a),
            FileKey::new(Path::new("/p"), b),
        );
        assert_eq!(ka.id, "%FF.txt");
        assert_ne!(ka.id, kb.id);
        assert_eq!(path_of(Path::new("/p"), &ka.id), a);
    }
}
