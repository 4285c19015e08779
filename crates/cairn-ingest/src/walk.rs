//! Finds the files to ingest: skips hidden files and what `.gitignore` ignores, like `git`.

use std::path::{Path, PathBuf};

/// A file to load, or a path that could not be walked and why.
#[derive(Debug, Clone, PartialEq)]
pub enum WalkEntry {
    File(PathBuf),
    Skipped { path: PathBuf, reason: String },
}

/// Expands files and folders into files, in a stable (sorted) order.
pub fn walk<P: AsRef<Path>>(paths: &[P]) -> Vec<WalkEntry> {
    let mut out = Vec::new();
    for p in paths {
        let p = p.as_ref();
        let meta = match std::fs::metadata(p) {
            Ok(m) => m,
            Err(e) => {
                out.push(WalkEntry::Skipped {
                    path: p.to_path_buf(),
                    reason: describe_io(&e),
                });
                continue;
            }
        };
        if meta.is_file() {
            // A file named explicitly is loaded even if hidden or ignored: the user asked.
            out.push(WalkEntry::File(p.to_path_buf()));
            continue;
        }
        let mut files = Vec::new();
        let walker = ignore::WalkBuilder::new(p)
            .hidden(true)
            .git_ignore(true)
            .git_global(false)
            .git_exclude(false)
            .require_git(false)
            .follow_links(false)
            .build();
        for entry in walker {
            match entry {
                Ok(e) => {
                    let ft = e.file_type();
                    if ft.is_some_and(|t| t.is_file() || t.is_symlink()) {
                        files.push(WalkEntry::File(e.into_path()));
                    }
                }
                Err(e) => files.push(WalkEntry::Skipped {
                    path: p.to_path_buf(),
                    reason: e.to_string(),
                }),
            }
        }
        files.sort_by(|a, b| entry_path(a).cmp(entry_path(b)));
        out.extend(files);
    }
    out
}

fn entry_path(e: &WalkEntry) -> &Path {
    match e {
        WalkEntry::File(p) => p,
        WalkEntry::Skipped { path, .. } => path,
    }
}

/// An I/O error in words a user acts on.
pub fn describe_io(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
        std::io::ErrorKind::PermissionDenied => {
            "permission denied (check the file's permissions)".to_string()
        }
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn skips_hidden_and_gitignored() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("a.md"), "# a").unwrap();
        fs::write(d.path().join(".hidden.md"), "# h").unwrap();
        fs::write(d.path().join(".gitignore"), "ignored.txt\n").unwrap();
        fs::write(d.path().join("ignored.txt"), "x").unwrap();
        fs::create_dir(d.path().join("sub")).unwrap();
        fs::write(d.path().join("sub/b.txt"), "b").unwrap();
        let got: Vec<_> = walk(&[d.path()])
            .into_iter()
            .map(|e| match e {
                WalkEntry::File(p) => p.strip_prefix(d.path()).unwrap().display().to_string(),
                WalkEntry::Skipped { reason, .. } => panic!("{reason}"),
            })
            .collect();
        assert_eq!(got, vec!["a.md", "sub/b.txt"]);
    }

    #[test]
    fn nonexistent_path_is_skipped_with_reason() {
        let got = walk(&["/definitely/not/here"]);
        assert_eq!(
            got,
            vec![WalkEntry::Skipped {
                path: "/definitely/not/here".into(),
                reason: "no such file or directory".into()
            }]
        );
    }
}
