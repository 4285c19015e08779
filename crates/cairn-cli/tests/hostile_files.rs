//! `cairn ingest` against hostile or awkward input: the same folder spelled three ways, two
//! JSONL files sharing an `_id`, links to pipes, devices and files outside the folder, a zip
//! bomb, and a big single-line file. Nothing hangs, nothing is read that should not be, and
//! every skip says why.

mod common;
use common::*;
use std::fs;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Runs cairn in `dir` with a deadline, so a hang fails the test instead of stalling it.
fn run_in(dir: &Path, args: &[&str], deadline: Duration) -> (i32, String, String) {
    let mut child = cairn()
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run cairn");
    let started = Instant::now();
    loop {
        if let Some(_status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            return (
                out.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            );
        }
        if started.elapsed() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "cairn {args:?} still running after {deadline:?}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn mkfifo(p: &Path) {
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

fn skipped_reason<'a>(report: &'a serde_json::Value, name: &str) -> Option<&'a str> {
    report["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["path"].as_str().unwrap().ends_with(name))
        .map(|s| s["reason"].as_str().unwrap())
}

const MINUTE: Duration = Duration::from_secs(60);

#[test]
fn the_same_folder_spelled_three_ways_is_one_set_of_documents() {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().canonicalize().unwrap();
    let corpus = project.join("samples/corpus");
    fs::create_dir_all(&corpus).unwrap();
    for name in ["kitchen", "nature"] {
        let from = samples().join(name);
        fs::create_dir_all(corpus.join(name)).unwrap();
        for e in fs::read_dir(&from).unwrap() {
            let p = e.unwrap().path();
            fs::copy(&p, corpus.join(name).join(p.file_name().unwrap())).unwrap();
        }
    }
    let abs = corpus.display().to_string();
    // The index is ./.cairn in the project folder.
    let (code, out, err) = run_in(
        &project,
        &["ingest", "samples/corpus", "--json"],
        5 * MINUTE,
    );
    assert_eq!(code, 0, "{err}");
    let first = json(&out);
    let files = first["added"].as_u64().unwrap();
    assert!(files >= 4, "{out}");
    for spelling in [
        "./samples/corpus/",
        abs.as_str(),
        "samples/corpus/../corpus",
    ] {
        let (code, out, err) = run_in(&project, &["ingest", spelling, "--json"], 5 * MINUTE);
        assert_eq!(code, 0, "{err}");
        let r = json(&out);
        assert_eq!(r["unchanged"].as_u64().unwrap(), files, "{spelling}: {out}");
        assert_eq!(
            r["added"].as_u64().unwrap() + r["updated"].as_u64().unwrap(),
            0,
            "{spelling}"
        );
    }
    // Ids and sources are relative to the project: no absolute path in --json output.
    let (code, out, err) = run_in(
        &project,
        &["search", "sourdough starter", "--json", "-k", "5"],
        MINUTE,
    );
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains(&project.display().to_string()), "{out}");
    let v = json(&out);
    let top = &v["hits"][0];
    assert!(
        top["chunk"]["doc_id"]
            .as_str()
            .unwrap()
            .starts_with("samples/corpus/kitchen/"),
        "{top}"
    );
    assert!(
        top["source"]
            .as_str()
            .unwrap()
            .starts_with("samples/corpus/"),
        "{top}"
    );

    // --prune still finds gone files.
    let gone = fs::read_dir(corpus.join("nature"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    fs::remove_file(&gone).unwrap();
    let (code, out, err) = run_in(
        &project,
        &["ingest", "samples/corpus", "--prune", "--json"],
        5 * MINUTE,
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(json(&out)["removed"].as_u64().unwrap(), 1, "{out}");
}

#[test]
fn jsonl_records_sharing_an_id_across_files_are_both_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    fs::write(
        d.join("a.jsonl"),
        "{\"_id\":\"x1\",\"text\":\"Puffins nest on cliffs.\"}\n",
    )
    .unwrap();
    fs::write(
        d.join("b.jsonl"),
        "{\"_id\":\"x1\",\"text\":\"Otters crack shellfish open.\"}\n",
    )
    .unwrap();
    for _ in 0..2 {
        let (code, out, err) = run_in(d, &["ingest", "a.jsonl", "b.jsonl", "--json"], 5 * MINUTE);
        assert_eq!(code, 0, "{err}");
        assert_eq!(json(&out)["skipped"].as_array().unwrap().len(), 0, "{out}");
    }
    for (q, want) in [
        ("puffins cliffs", "a.jsonl#x1"),
        ("otters shellfish", "b.jsonl#x1"),
    ] {
        let (code, out, err) = run_in(
            d,
            &["search", q, "--mode", "bm25", "--json", "-k", "1"],
            MINUTE,
        );
        assert_eq!(code, 0, "{err}");
        let v = json(&out);
        assert_eq!(v["hits"][0]["chunk"]["doc_id"], want, "{out}");
        assert_eq!(
            v["hits"][0]["chunk"]["metadata"]["record_id"], "x1",
            "{out}"
        );
    }
}

#[test]
fn links_pipes_devices_and_bombs_are_skipped_without_hanging() {
    use std::os::unix::fs::symlink;
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("docs");
    fs::create_dir(&d).unwrap();
    fs::write(d.join("good.md"), "# Good\n\nKestrels hover over fields.").unwrap();
    let outside = tmp.path().join("outside-secret.txt");
    fs::write(&outside, "the password is swordfish").unwrap();
    symlink(&outside, d.join("secret.txt")).unwrap();
    symlink("/dev/zero", d.join("zero.txt")).unwrap();
    mkfifo(&d.join("pipe.txt"));
    mkfifo(&tmp.path().join("outside-pipe"));
    symlink(tmp.path().join("outside-pipe"), d.join("to-pipe.txt")).unwrap();
    // A 1 MB-class DOCX whose document.xml inflates to 64 MiB.
    let run = b"<w:p><w:r><w:t>bomb bomb bomb</w:t></w:r></w:p>";
    let xml: Vec<u8> = run.iter().copied().cycle().take(64 << 20).collect();
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        use std::io::Write;
        let mut z = zip::ZipWriter::new(&mut buf);
        z.start_file(
            "word/document.xml",
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        z.write_all(&xml).unwrap();
        z.finish().unwrap();
    }
    fs::write(d.join("bomb.docx"), buf.into_inner()).unwrap();

    let idx = tmp.path().join("idx");
    let (i, ds) = (idx.to_str().unwrap(), d.to_str().unwrap());
    let args = [
        "ingest",
        ds,
        "--index",
        i,
        "--json",
        "--max-file-size",
        "4000000",
    ];
    let (code, out, err) = run_in(tmp.path(), &args, 5 * MINUTE);
    assert_eq!(code, 0, "{err}");
    let r = json(&out);
    assert_eq!(r["added"], 1, "only good.md: {out}");
    for name in ["secret.txt", "zero.txt", "to-pipe.txt"] {
        let why = skipped_reason(&r, name).unwrap_or_else(|| panic!("{name}: {out}"));
        assert!(
            why.contains("outside") && why.contains("--follow-links"),
            "{name}: {why}"
        );
    }
    assert!(
        skipped_reason(&r, "pipe.txt")
            .unwrap()
            .contains("named pipe"),
        "{out}"
    );
    let bomb = skipped_reason(&r, "bomb.docx").unwrap();
    assert!(
        bomb.contains("expands to more than 20000000 bytes"),
        "{bomb}"
    );
    let (_, out, _) = run_in(
        tmp.path(),
        &[
            "search",
            "swordfish password",
            "--index",
            i,
            "--mode",
            "bm25",
            "--json",
        ],
        MINUTE,
    );
    let hits = json(&out)["hits"].as_array().unwrap().len();
    assert_eq!(hits, 0, "a file outside the folder was read: {out}");

    // --follow-links reads the outside file, and still refuses the device and the pipe.
    let mut follow = args.to_vec();
    follow.push("--follow-links");
    let (code, out, err) = run_in(tmp.path(), &follow, 5 * MINUTE);
    assert_eq!(code, 0, "{err}");
    let r = json(&out);
    assert_eq!(r["added"], 1, "secret.txt now: {out}");
    assert!(
        skipped_reason(&r, "zero.txt")
            .unwrap()
            .contains("character device"),
        "{out}"
    );
    assert!(
        skipped_reason(&r, "to-pipe.txt")
            .unwrap()
            .contains("named pipe"),
        "{out}"
    );
}

#[test]
fn a_big_single_line_file_is_chunked_in_linear_time_with_progress() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    // 1.2 MB on one line: chunking used to re-tokenize the rest of the line for every chunk.
    let sentence = "Cairns mark trails across bare rock where paths are hard to see. ";
    let text = sentence.repeat(1_200_000 / sentence.len());
    fs::write(d.join("line.txt"), &text).unwrap();
    let started = Instant::now();
    let (code, out, err) = run_in(d, &["ingest", "line.txt"], 10 * MINUTE);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("1 added"), "{out}");
    assert!(
        err.contains("chunking and embedding line.txt (1.1 MiB)"),
        "the big file is announced: {err}"
    );
    eprintln!("1.2 MB single line ingested in {:?}", started.elapsed());
}
