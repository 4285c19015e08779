//! Finds the files to ingest: skips hidden files and what `.gitignore` ignores, like `git`.

use std::path::{Path, PathBuf};

/// A file to load, or a path that could not be walked and why.
#[derive(Debug, Clone, PartialEq)]
pub enum WalkEntry {
    File(PathBuf),
    Skipped { path: PathBuf, reason: String },
}

/// How the walk treats symbolic links.
#[derive(Debug, Clone, Copy, Default)]
pub struct WalkOptions {
    /// Follow links wherever they point, and walk linked folders. Without it, a link found
    /// while walking a folder is followed only to a file inside that folder, so a link to
    /// `/etc/passwd` (or `/dev/zero`) is never read. Paths named explicitly are always used.
    pub follow_links: bool,
}

/// Expands files and folders into files, in a stable (sorted) order, with default options.
pub fn walk<P: AsRef<Path>>(paths: &[P]) -> Vec<WalkEntry> {
    walk_with(paths, &WalkOptions::default())
}

/// Expands files and folders into files, in a stable (sorted) order. Pipes, sockets and
/// devices are reported as skipped, never returned.
pub fn walk_with<P: AsRef<Path>>(paths: &[P], opts: &WalkOptions) -> Vec<WalkEntry> {
    let mut out = Vec::new();
    for p in paths {
        let p = p.as_ref();
        let skipped = |reason: String| WalkEntry::Skipped {
            path: p.to_path_buf(),
            reason,
        };
        let meta = match std::fs::metadata(p) {
            Ok(m) => m,
            Err(e) => {
                out.push(skipped(describe_io(&e)));
                continue;
            }
        };
        if meta.is_file() {
            // A file named explicitly is loaded even if hidden or ignored: the user asked.
            out.push(WalkEntry::File(p.to_path_buf()));
            continue;
        }
        if !meta.is_dir() {
            out.push(skipped(format!(
                "{}, not a regular file",
                special_kind(&meta)
            )));
            continue;
        }
        let root = std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        let mut files = Vec::new();
        let walker = ignore::WalkBuilder::new(p)
            .hidden(true)
            .git_ignore(true)
            .git_global(false)
            .git_exclude(false)
            .require_git(false)
            .follow_links(opts.follow_links)
            .build();
        for entry in walker {
            match entry {
                Ok(e) => {
                    let Some(ft) = e.file_type() else { continue };
                    if ft.is_dir() {
                        continue;
                    }
                    if ft.is_symlink() {
                        // Only reached without --follow-links: the walker resolves links
                        // itself when it follows them.
                        files.push(check_link(e.into_path(), &root));
                    } else if ft.is_file() {
                        files.push(WalkEntry::File(e.into_path()));
                    } else {
                        let what = e
                            .metadata()
                            .map(|m| special_kind(&m))
                            .unwrap_or("not a regular file");
                        files.push(WalkEntry::Skipped {
                            path: e.into_path(),
                            reason: format!("{what}, not a regular file"),
                        });
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

/// A link found while walking `root` (canonical): kept when it resolves to a regular file
/// inside `root`; skipped, with the reason, otherwise.
fn check_link(link: PathBuf, root: &Path) -> WalkEntry {
    let skip = |reason: String| WalkEntry::Skipped {
        path: link.clone(),
        reason,
    };
    let target = match std::fs::canonicalize(&link) {
        Ok(t) => t,
        Err(e) => return skip(format!("broken symbolic link ({})", describe_io(&e))),
    };
    if !target.starts_with(root) {
        return skip(format!(
            "symbolic link to {}, outside {}; not followed (pass --follow-links to follow it)",
            target.display(),
            root.display()
        ));
    }
    match std::fs::metadata(&target) {
        Ok(m) if m.is_dir() => {
            skip("symbolic link to a folder; not walked (pass --follow-links to walk it)".into())
        }
        // Regular files, and anything else for the loader to refuse with its reason.
        Ok(_) => WalkEntry::File(link),
        Err(e) => skip(describe_io(&e)),
    }
}

/// What a file that is neither a regular file nor a folder is.
pub(crate) fn special_kind(meta: &std::fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let ft = meta.file_type();
        if ft.is_fifo() {
            return "a named pipe (FIFO)";
        }
        if ft.is_socket() {
            return "a socket";
        }
        if ft.is_char_device() {
            return "a character device";
        }
        if ft.is_block_device() {
            return "a block device";
        }
    }
    let _ = meta;
    "not a regular file"
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
