//! Readers never write SQLite, and work where nothing can be written: a read-only folder, or
//! read-only files. Root ignores permission bits, so when the tests run as root (CI does) the
//! reading half runs in a copy of this test binary started as `nobody`; otherwise the folder is
//! made read-only with chmod and read in-process. Either way the folder really is read-only
//! for the reader.

mod common;

use cairn_store::hnsw::synthetic_clustered;
use cairn_store::{Index, ReadMode, Searcher};
use common::{build, doc_write_text, listing, names, results, DIM};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

const N: usize = 600;
const CHILD_DIR: &str = "CAIRN_STORE_RO_DIR";
const CHILD_EXPECT: &str = "CAIRN_STORE_RO_EXPECT";
const CHILD_MODE: &str = "CAIRN_STORE_RO_MODE";

/// An index at generation 3 whose derived.bin is stamped with generation 2 (stale).
fn stale_index(dir: &Path) {
    build(dir, N);
    drop(Searcher::open(dir).unwrap());
    let vecs = synthetic_clustered(N, DIM, 20, 11);
    let mut w = Index::open_for_write(dir, "test-model", DIM).unwrap();
    w.write_batch(
        &[doc_write_text(
            "extra",
            "an extra omega document",
            vecs.get(1),
        )],
        &[],
    )
    .unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Sets the mode of every file in `dir`, then of `dir` itself.
fn lock_down(dir: &Path, dir_mode: u32, file_mode: u32) {
    for e in std::fs::read_dir(dir).unwrap() {
        chmod(&e.unwrap().path(), file_mode);
    }
    chmod(dir, dir_mode);
}

/// The reader's half: open, search, compare with the expected results; panics on a mismatch.
/// `mode` names the case: "folder", "folder-ro-files", "files", "wal-without-shm" or "wal-with-shm".
fn check_reader(dir: &Path, expected: &str, mode: &str) {
    if mode.starts_with("wal-") {
        return check_wal(dir, mode);
    }
    let mut s = Searcher::open(dir).unwrap_or_else(|e| panic!("{mode}: open failed: {e}"));
    assert!(s.rebuilt, "{mode}: the stale cache is rebuilt");
    let vecs = synthetic_clustered(N, DIM, 20, 11);
    assert_eq!(results(&s, &vecs), expected, "{mode}");
    assert_eq!(s.doc_id(s.bm25("omega", 1, None)[0].0), "extra");
    assert!(!s.refresh().unwrap(), "{mode}: nothing changed");
    if mode.starts_with("folder") {
        drop(s);
        // Nothing could be cached, so the next open rebuilds again.
        assert!(Searcher::open(dir).unwrap().rebuilt);
    }
}

/// A copy of an index taken while its writer held uncheckpointed commits in its -wal.
fn check_wal(dir: &Path, mode: &str) {
    match (Index::open(dir), mode) {
        (Err(e), "wal-without-shm") => {
            let msg = e.to_string();
            assert!(msg.contains("index.sqlite-wal"), "{msg}");
            assert!(msg.contains("open the index once for writing"), "{msg}");
        }
        (Ok(idx), "wal-with-shm") => {
            assert_eq!(idx.read_mode(), Some(ReadMode::ReadOnly));
            assert_eq!(
                idx.generation().unwrap(),
                2,
                "the -shm lets a reader see the WAL"
            );
        }
        (r, _) => panic!("{mode}: unexpected {:?}", r.map(|i| i.read_mode())),
    }
}

/// In the child started by `read_as_unprivileged`: runs its check and returns true.
fn child() -> bool {
    let Some(dir) = std::env::var_os(CHILD_DIR) else {
        return false;
    };
    let expected = std::env::var(CHILD_EXPECT).unwrap();
    let mode = std::env::var(CHILD_MODE).unwrap();
    check_reader(Path::new(&dir), &expected, &mode);
    true
}

fn is_root(scratch: &Path) -> bool {
    let probe = scratch.join(".uid-probe");
    std::fs::write(&probe, b"").unwrap();
    let uid = std::fs::metadata(&probe).unwrap().uid();
    std::fs::remove_file(probe).unwrap();
    uid == 0
}

/// Runs `check_reader` on `dir` as an unprivileged user: in-process when this is not root,
/// else in a copy of this test binary started as nobody (65534).
fn read_as_unprivileged(work: &Path, test: &str, dir: &Path, expected: &str, mode: &str) {
    if !is_root(work) {
        check_reader(dir, expected, mode);
        return;
    }
    let exe = work.join("reader-test-bin");
    if !exe.exists() {
        std::fs::copy(std::env::current_exe().unwrap(), &exe).unwrap();
        chmod(&exe, 0o755);
    }
    use std::os::unix::process::CommandExt;
    // A thread of this test process forking while the copy's write handle was open leaves the
    // child holding it, and exec then fails with ETXTBSY until that child execs: retry briefly.
    let mut tries = 0;
    let out = loop {
        let r = Command::new(&exe)
            .args([test, "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_DIR, dir)
            .env(CHILD_EXPECT, expected)
            .env(CHILD_MODE, mode)
            .current_dir(work)
            .uid(65534)
            .gid(65534)
            .output();
        match r {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && tries < 100 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            r => break r.unwrap(),
        }
    };
    assert!(
        out.status.success(),
        "{mode}: the reader as nobody failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The child really ran the check (and not zero tests).
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 passed"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn read_only_folder_and_read_only_files_work_without_writing() {
    const TEST: &str = "read_only_folder_and_read_only_files_work_without_writing";
    if child() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    chmod(work.path(), 0o755);
    let original = work.path().join("original");
    stale_index(&original);
    let expected = {
        let s = Searcher::open_read_only(&original).unwrap();
        assert!(s.rebuilt);
        results(&s, &synthetic_clustered(N, DIM, 20, 11))
    };

    // A read-only folder, with no -wal or -shm (as a clean close leaves it): SQLite cannot
    // create its -shm, so the reader opens the database immutable. The files themselves are
    // writable (the case a read-write open fails with SQLITE_READONLY_DIRECTORY), then not.
    for (name, file_mode) in [("folder", 0o666), ("folder-ro-files", 0o444)] {
        let folder = work.path().join(name);
        copy_dir(&original, &folder);
        for f in ["index.sqlite-wal", "index.sqlite-shm"] {
            let _ = std::fs::remove_file(folder.join(f));
        }
        lock_down(&folder, 0o555, file_mode);
        let before = listing(&folder, &[]);
        read_as_unprivileged(work.path(), TEST, &folder, &expected, name);
        assert_eq!(
            listing(&folder, &[]),
            before,
            "{name}: nothing in the folder changed"
        );
        chmod(&folder, 0o755);
    }

    // Read-only files in a writable folder: SQLite makes its -wal/-shm beside them and the
    // rebuilt cache replaces the stale one by rename.
    let files = work.path().join("ro-files");
    copy_dir(&original, &files);
    lock_down(&files, 0o777, 0o444);
    let db_before = std::fs::read(files.join("index.sqlite")).unwrap();
    read_as_unprivileged(work.path(), TEST, &files, &expected, "files");
    assert_eq!(
        std::fs::read(files.join("index.sqlite")).unwrap(),
        db_before
    );

    chmod(&files, 0o755);
}

#[test]
fn a_read_only_open_writes_nothing_but_sqlite_reader_files() {
    let d = tempfile::tempdir().unwrap();
    stale_index(d.path());
    let expected = {
        let copy = tempfile::tempdir().unwrap();
        copy_dir(d.path(), copy.path());
        std::fs::remove_file(copy.path().join("derived.bin")).unwrap();
        results(
            &Searcher::open(copy.path()).unwrap(),
            &synthetic_clustered(N, DIM, 20, 11),
        )
    };
    // The writer's close removed its -wal and -shm.
    let before = listing(d.path(), &[]);
    assert_eq!(
        names(&before),
        ["derived.bin", "index.sqlite", "writer.lock"]
    );
    std::thread::sleep(std::time::Duration::from_millis(20));
    let s = Searcher::open_read_only(d.path()).unwrap();
    assert_eq!(
        s.info().unwrap().generation,
        3,
        "two batches of 500, then one more"
    );
    assert!(s.rebuilt, "the stale cache is rebuilt in memory");
    assert_eq!(results(&s, &synthetic_clustered(N, DIM, 20, 11)), expected);
    drop(s);
    // Only SQLite's reader coordination files appear (an empty -wal and the -shm index that
    // the next writer's close removes); the database and the stale cache are untouched.
    let after = listing(d.path(), &["index.sqlite-shm", "index.sqlite-wal"]);
    assert_eq!(after, before);
    let wal = d.path().join("index.sqlite-wal");
    assert_eq!(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0), 0);
    let files: Vec<_> = std::fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(files.is_empty(), "{files:?}");
}

#[test]
fn a_wal_that_only_a_writable_open_can_read_is_refused_clearly() {
    const TEST: &str = "a_wal_that_only_a_writable_open_can_read_is_refused_clearly";
    if child() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    chmod(work.path(), 0o755);
    let live = work.path().join("live");
    build(&live, 20);
    // Copy the files while the writer still holds uncheckpointed commits in its -wal.
    let mut w = Index::open_for_write(&live, "test-model", DIM).unwrap();
    let v = vec![0.25f32; DIM];
    w.write_batch(&[doc_write_text("late", "late sigma text", &v)], &[])
        .unwrap();
    let with_shm = work.path().join("with-shm");
    let without_shm = work.path().join("without-shm");
    for (dir, shm) in [(&with_shm, true), (&without_shm, false)] {
        std::fs::create_dir(dir).unwrap();
        for f in ["index.sqlite", "index.sqlite-wal", "index.sqlite-shm"] {
            if shm || f != "index.sqlite-shm" {
                std::fs::copy(live.join(f), dir.join(f)).unwrap();
            }
        }
        lock_down(dir, 0o555, 0o444);
    }
    drop(w);
    assert!(
        std::fs::metadata(without_shm.join("index.sqlite-wal"))
            .unwrap()
            .len()
            > 0
    );
    read_as_unprivileged(work.path(), TEST, &without_shm, "", "wal-without-shm");
    read_as_unprivileged(work.path(), TEST, &with_shm, "", "wal-with-shm");
    let probe = |dir: &PathBuf| Index::open(dir).unwrap().generation().unwrap();
    // Root (or anyone who can write the folder) reads the WAL either way.
    for d in [&with_shm, &without_shm] {
        chmod(d, 0o755);
        for f in std::fs::read_dir(d).unwrap() {
            chmod(&f.unwrap().path(), 0o644);
        }
    }
    assert_eq!(probe(&without_shm), 2);
    assert_eq!(probe(&with_shm), 2);
}

#[test]
fn folder_names_with_uri_characters_open_read_only() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("a?b#c%20d e");
    build(&dir, 10);
    let s = Searcher::open_read_only(&dir).unwrap();
    assert_eq!(s.len(), 10);
    assert_eq!(s.chunk(0).unwrap().0.text, common::text_of(0));
}
