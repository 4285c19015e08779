//! Bad input: each problem is named with its file (and line), ingest goes on with the rest,
//! the summary lists what was skipped and why, and the exit code is non-zero only when nothing
//! could be ingested.

mod common;
use common::*;
use std::fs;

#[test]
fn every_kind_of_bad_file_is_reported_and_the_rest_ingests() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("in");
    fs::create_dir(&d).unwrap();
    fs::write(
        d.join("good.md"),
        "# Good\n\nThis document is fine and mentions kestrels.",
    )
    .unwrap();
    fs::write(d.join("latin1.txt"), b"caf\xe9 au lait").unwrap();
    fs::write(d.join("blob.txt"), b"\x7fELF\x02\x01\x01\x00\x00\x00binary").unwrap();
    fs::write(d.join("huge.txt"), vec![b'a'; 50 * 1024 * 1024]).unwrap();
    fs::write(
        d.join("corpus.jsonl"),
        "{\"_id\":\"d1\",\"title\":\"Falcons\",\"text\":\"Peregrines dive fast.\"}\n{\"_id\": \"d2\", \"text\": \n{\"_id\":\"d3\",\"text\":\"Owls hunt at night.\"}\n",
    )
    .unwrap();
    // Unreadable: a link to nothing (root can read any file, so permissions alone can't do it).
    std::os::unix::fs::symlink(d.join("gone-target.txt"), d.join("unreadable.txt")).unwrap();
    fs::write(d.join("picture.png"), b"\x89PNG").unwrap();
    let missing = tmp.path().join("no-such-folder");
    let idx = tmp.path().join("idx");

    let (code, out, err) = run(&[
        "ingest",
        d.to_str().unwrap(),
        missing.to_str().unwrap(),
        "--index",
        idx.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "some files ingested, so success\n{out}\n{err}");
    let expect = [
        ("latin1.txt", "not valid UTF-8"),
        ("blob.txt", "binary file"),
        ("huge.txt", "--max-file-size"),
        ("corpus.jsonl:2", "malformed JSON"),
        ("unreadable.txt", "no such file"),
        ("picture.png", "unsupported file type .png"),
        ("no-such-folder", "no such file or directory"),
    ];
    let summary = out
        .split("skipped:")
        .nth(1)
        .unwrap_or_else(|| panic!("no skipped list: {out}"));
    for (file, why) in expect {
        let line = summary
            .lines()
            .find(|l| l.contains(file))
            .unwrap_or_else(|| panic!("{file} not in summary:\n{out}"));
        assert!(line.contains(why), "{file}: expected `{why}` in `{line}`");
        // Also reported as it happened, on stderr.
        assert!(err.contains(file), "{file} not reported on stderr:\n{err}");
    }
    assert!(
        out.contains(" 3 added,"),
        "good.md and two JSONL records: {out}"
    );

    let (_, out, _) = run(&[
        "search",
        "owls at night",
        "--index",
        idx.to_str().unwrap(),
        "--mode",
        "bm25",
        "--json",
    ]);
    let v = json(&out);
    // Record ids are scoped to their file (a shared `_id` in another file is another
    // record); the bare id stays in the metadata.
    assert_eq!(
        v["hits"][0]["chunk"]["doc_id"], "in/corpus.jsonl#d3",
        "{out}"
    );

    // The same in JSON.
    let (code, out, _) = run(&[
        "ingest",
        d.to_str().unwrap(),
        "--index",
        idx.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(code, 0);
    let r = json(&out);
    let skipped = r["skipped"].as_array().unwrap();
    let line2 = skipped
        .iter()
        .find(|s| s["path"].as_str().unwrap().ends_with("corpus.jsonl"))
        .unwrap();
    assert_eq!(line2["line"], 2);
    assert_eq!(r["unchanged"], 3);
}

#[test]
fn nothing_ingestible_exits_non_zero() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty");
    fs::create_dir(&empty).unwrap();
    let idx = tmp.path().join("idx");
    let (code, out, _) = run(&[
        "ingest",
        empty.to_str().unwrap(),
        "--index",
        idx.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("0 files") && out.contains("nothing could be ingested"),
        "{out}"
    );

    let missing = tmp.path().join("nope.md");
    let (code, out, err) = run(&[
        "ingest",
        missing.to_str().unwrap(),
        "--index",
        idx.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(
        out.contains("nope.md: no such file or directory"),
        "{out}\n{err}"
    );

    let bin = tmp.path().join("only.txt");
    fs::write(&bin, b"\x00\x01\x02").unwrap();
    let (code, out, _) = run(&[
        "ingest",
        bin.to_str().unwrap(),
        "--index",
        idx.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(out.contains("only.txt: binary file"), "{out}");
}
