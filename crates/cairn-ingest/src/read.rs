//! Reading untrusted files safely: only regular files are opened for reading (checked on the
//! opened handle, not only on the path, and FIFOs are opened without blocking so a pipe can
//! never hang an ingest), and every read goes through a hard byte cap, so a file that lies
//! about its size (`/dev/zero` behind a link, a file still growing) cannot exhaust memory.

use crate::load::LoadError;
use crate::walk::describe_io;
use std::fs::{File, Metadata};
use std::io::Read;
use std::path::Path;

fn not_regular(shown: &str, meta: &Metadata) -> LoadError {
    LoadError::NotRegular {
        path: shown.to_string(),
        what: crate::walk::special_kind(meta).to_string(),
    }
}

/// Opens `path` for reading if, and only if, it is a regular file. Returns the file and the
/// metadata of the opened handle.
pub(crate) fn open_regular(path: &Path, shown: &str) -> Result<(File, Metadata), LoadError> {
    let unreadable = |e: std::io::Error| LoadError::Unreadable {
        path: shown.to_string(),
        reason: describe_io(&e),
    };
    // A stat never blocks: refuse pipes and devices before opening them at all.
    let before = std::fs::metadata(path).map_err(unreadable)?;
    if before.is_dir() {
        return Err(LoadError::Unreadable {
            path: shown.to_string(),
            reason: "is a directory".into(),
        });
    }
    if !before.is_file() {
        return Err(not_regular(shown, &before));
    }
    let mut o = std::fs::OpenOptions::new();
    o.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // If the path was swapped for a FIFO since the stat, opening it must not wait for a
        // writer; on a regular file the flag changes nothing.
        o.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    let file = o.open(path).map_err(unreadable)?;
    // The handle decides: the path may have changed between the stat and the open.
    let meta = file.metadata().map_err(unreadable)?;
    if !meta.is_file() {
        return Err(not_regular(shown, &meta));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if (meta.dev(), meta.ino()) != (before.dev(), before.ino()) {
            return Err(LoadError::Unreadable {
                path: shown.to_string(),
                reason: "the file was replaced while it was being opened; run the ingest again"
                    .into(),
            });
        }
    }
    Ok((file, meta))
}

/// Reads at most `limit` bytes; a longer file is `TooLarge`, whatever its metadata said.
pub(crate) fn read_capped(
    file: File,
    meta: &Metadata,
    limit: u64,
    shown: &str,
) -> Result<Vec<u8>, LoadError> {
    let too_large = |size: u64| LoadError::TooLarge {
        path: shown.to_string(),
        size,
        limit,
    };
    if meta.len() > limit {
        return Err(too_large(meta.len()));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| LoadError::Unreadable {
            path: shown.to_string(),
            reason: describe_io(&e),
        })?;
    if bytes.len() as u64 > limit {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

/// Reads a decompressing reader (a zip entry, a deflate stream) to at most `limit` bytes;
/// `Err(())` when it would expand past it.
#[cfg_attr(not(feature = "office"), allow(dead_code))]
pub(crate) fn read_expanded<R: Read>(
    r: R,
    limit: u64,
) -> Result<Result<Vec<u8>, ()>, std::io::Error> {
    let mut out = Vec::new();
    r.take(limit.saturating_add(1)).read_to_end(&mut out)?;
    Ok(if out.len() as u64 > limit {
        Err(())
    } else {
        Ok(out)
    })
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn fifos_and_devices_are_refused_without_blocking() {
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("pipe.txt");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = open_regular(&fifo, "pipe.txt").unwrap_err();
        assert!(e.to_string().contains("named pipe"), "{e}");
        let e = open_regular(Path::new("/dev/zero"), "/dev/zero").unwrap_err();
        assert!(e.to_string().contains("character device"), "{e}");
    }

    #[test]
    fn reads_stop_at_the_cap() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f.txt");
        std::fs::write(&p, vec![b'a'; 100]).unwrap();
        let (f, meta) = open_regular(&p, "f.txt").unwrap();
        assert_eq!(read_capped(f, &meta, 100, "f.txt").unwrap().len(), 100);
        let (f, meta) = open_regular(&p, "f.txt").unwrap();
        let e = read_capped(f, &meta, 99, "f.txt").unwrap_err();
        assert!(matches!(e, LoadError::TooLarge { .. }), "{e}");
        assert!(matches!(read_expanded(&[0u8; 10][..], 9).unwrap(), Err(())));
        assert_eq!(
            read_expanded(&[0u8; 10][..], 10).unwrap().unwrap().len(),
            10
        );
    }
}
