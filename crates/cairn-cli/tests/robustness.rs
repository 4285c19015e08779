//! User input never panics the CLI (exit code 101 is a bug): output into a closed pipe ends
//! quietly, nonsensical numbers are refused naming the flag (or config key), and `eval beir`
//! builds its own index instead of writing the benchmark corpus into the user's default one.

mod common;
use common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// A three-document BEIR dataset.
fn tiny_beir(dir: &Path) {
    fs::create_dir_all(dir.join("qrels")).unwrap();
    fs::write(
        dir.join("corpus.jsonl"),
        "{\"_id\":\"d1\",\"title\":\"Kestrels\",\"text\":\"Kestrels hover over fields hunting voles.\"}\n\
         {\"_id\":\"d2\",\"title\":\"Owls\",\"text\":\"Owls hunt at night with silent feathers.\"}\n\
         {\"_id\":\"d3\",\"title\":\"Herons\",\"text\":\"Herons wade in shallow water for fish.\"}\n",
    )
    .unwrap();
    fs::write(
        dir.join("queries.jsonl"),
        "{\"_id\":\"q1\",\"text\":\"which bird hovers\"}\n{\"_id\":\"q2\",\"text\":\"night hunter\"}\n",
    )
    .unwrap();
    fs::write(
        dir.join("qrels/test.tsv"),
        "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\n",
    )
    .unwrap();
}

fn small_index(tmp: &Path) -> PathBuf {
    let docs = tmp.join("docs");
    fs::create_dir_all(&docs).unwrap();
    for (name, text) in [
        (
            "a.md",
            "# Kestrels\n\nKestrels hover over fields hunting voles.",
        ),
        (
            "b.md",
            "# Owls\n\nOwls hunt kestrels rarely, and voles often.",
        ),
        (
            "c.md",
            "# Herons\n\nHerons wade in shallow water; kestrels do not.",
        ),
    ] {
        fs::write(docs.join(name), text).unwrap();
    }
    let idx = tmp.join("idx");
    ingest(&docs, &idx, &[]);
    idx
}

fn assert_no_panic(what: &str, code: Option<i32>, err: &str) {
    assert_ne!(code, Some(101), "{what}: exit 101 is a panic\n{err}");
    assert!(!err.contains("panicked"), "{what}: {err}");
}

#[test]
fn output_into_a_closed_pipe_exits_quietly() {
    let tmp = tempfile::tempdir().unwrap();
    let idx = small_index(tmp.path());
    let idx = idx.to_str().unwrap();
    let cases: [&[&str]; 5] = [
        &["search", "kestrels", "--mode", "bm25", "--index", idx],
        &[
            "search", "kestrels", "--mode", "bm25", "--json", "--index", idx,
        ],
        &["search", "kestrels voles", "--index", idx],
        &["info", "--index", idx],
        &["--help"],
    ];
    for args in cases {
        let mut child = cairn()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Close the reading end before cairn writes anything (as `| head -0` would).
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_no_panic(&format!("{args:?}"), out.status.code(), &err);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: a closed pipe ends the command quietly\n{err}"
        );
        assert!(!err.contains("error"), "{args:?}: {err}");
    }
}

#[test]
fn nonsensical_numbers_are_refused_naming_the_flag() {
    let tmp = tempfile::tempdir().unwrap();
    let ds = tmp.path().join("beir");
    tiny_beir(&ds);
    let ds = ds.to_str().unwrap();
    let empty = tmp.path().join("empty.jsonl");
    fs::write(&empty, "").unwrap();
    let empty = empty.to_str().unwrap();
    let corpus = format!("{ds}/corpus.jsonl");
    let missing_idx = tmp.path().join("no-index");
    let idx = missing_idx.to_str().unwrap();
    let cache = tmp.path().join("cache");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["search", "q", "-k", "0", "--index", idx], "-k 0"),
        (
            vec!["search", "q", "--dense-weight", "NaN", "--index", idx],
            "--dense-weight NaN",
        ),
        (
            vec!["search", "q", "--dense-weight", "-1", "--index", idx],
            "--dense-weight -1",
        ),
        (
            vec!["search", "q", "--dense-weight", "inf", "--index", idx],
            "--dense-weight inf",
        ),
        (
            vec!["search", "q", "--bm25-weight", "nan", "--index", idx],
            "--bm25-weight NaN",
        ),
        (
            vec!["search", "q", "--rrf-k", "-60", "--index", idx],
            "--rrf-k -60",
        ),
        (
            vec!["search", "q", "--candidates", "0", "--index", idx],
            "--candidates 0",
        ),
        (
            vec![
                "search",
                "q",
                "--dense-weight",
                "0",
                "--bm25-weight",
                "0",
                "--index",
                idx,
            ],
            "both 0",
        ),
        (
            vec!["eval", "beir", ds, "-k", "18446744073709551615"],
            "-k 18446744073709551615",
        ),
        (vec!["eval", "beir", ds, "-k", "0"], "-k 0"),
        (
            vec!["eval", "beir", ds, "--max-queries", "0"],
            "--max-queries 0",
        ),
        (vec!["eval", "beir", ds, "--mmr", "2"], "--mmr 2"),
        (vec!["eval", "beir", ds, "--mmr", "NaN"], "--mmr NaN"),
        (
            vec![
                "eval",
                "beir",
                ds,
                "--rerank",
                "local",
                "--rerank-depth",
                "0",
            ],
            "--rerank-depth 0",
        ),
        (
            vec!["bench", "search", empty, "--index", idx],
            "empty.jsonl: no queries",
        ),
        (vec!["bench", "search", empty, "-k", "0"], "-k 0"),
        (vec!["bench", "hnsw", "--queries", "0"], "--queries 0"),
        (vec!["bench", "hnsw", "--m", "1"], "--m 1"),
        (vec!["bench", "hnsw", "--ef", "16,x"], "--ef"),
        (
            vec!["bench", "hnsw", "--n", "18446744073709551615"],
            "--n 18446744073709551615",
        ),
        (
            vec!["bench", "embed", &corpus, "--batch-size", "0"],
            "--batch-size 0",
        ),
        (
            vec![
                "bench",
                "llm-stream",
                "--base-url",
                "http://127.0.0.1:9",
                "--calls",
                "0",
            ],
            "--calls 0",
        ),
        (vec!["bench", "generate", "--tokens", "0"], "--tokens 0"),
    ];
    for (args, want) in &cases {
        let out = cairn()
            .args(args)
            .env("CAIRN_CACHE_DIR", &cache)
            .current_dir(tmp.path())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_no_panic(&format!("{args:?}"), out.status.code(), &err);
        assert_eq!(out.status.code(), Some(2), "{args:?}\n{err}");
        assert!(err.contains(want), "{args:?}: expected `{want}` in:\n{err}");
    }
    assert!(!cache.exists(), "a refused command does no work");

    // The same checks hold for config values, naming the key.
    for (toml, want) in [
        ("[search]\nk = 0\n", "config search.k = 0"),
        (
            "[search]\ndense_weight = nan\n",
            "config search.dense_weight = NaN",
        ),
        ("[search]\nrrf_k = -1.0\n", "config search.rrf_k = -1"),
        ("[search]\ncandidates = 0\n", "config search.candidates = 0"),
    ] {
        let cfg = tmp.path().join("cairn.toml");
        fs::write(&cfg, toml).unwrap();
        let out = cairn()
            .args([
                "search",
                "q",
                "--index",
                idx,
                "--config",
                cfg.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_no_panic(toml, out.status.code(), &err);
        assert!(err.contains(want), "{toml}: expected `{want}` in:\n{err}");
    }
}

#[test]
fn huge_k_on_a_real_index_returns_every_chunk_without_panicking() {
    let tmp = tempfile::tempdir().unwrap();
    let idx = small_index(tmp.path());
    for mode in ["bm25", "dense", "hybrid"] {
        let (code, out, err) = run(&[
            "search",
            "kestrels",
            "--mode",
            mode,
            "-k",
            "18446744073709551615",
            "--candidates",
            "18446744073709551615",
            "--json",
            "--index",
            idx.to_str().unwrap(),
        ]);
        assert_no_panic(mode, Some(code), &err);
        assert_eq!(code, 0, "{mode}: {err}");
        let hits = json(&out)["hits"].as_array().unwrap().len();
        assert!((1..=3).contains(&hits), "{mode}: {hits} hits\n{out}");
    }
}

#[test]
fn eval_beir_builds_its_own_index_never_the_default_one() {
    let tmp = tempfile::tempdir().unwrap();
    let ds = tmp.path().join("tiny-beir");
    tiny_beir(&ds);
    let project = tmp.path().join("project");
    fs::create_dir(&project).unwrap();
    fs::write(
        project.join("cairn.toml"),
        "[index]\npath = \"configured-index\"\n",
    )
    .unwrap();
    let cache = tmp.path().join("cache");
    let env_index = tmp.path().join("env-index");
    let eval = |extra: &[&str]| {
        let mut args = vec![
            "eval",
            "beir",
            ds.to_str().unwrap(),
            "--mode",
            "bm25",
            "--json",
        ];
        args.extend_from_slice(extra);
        let out = cairn()
            .args(&args)
            .current_dir(&project)
            .env("CAIRN_CACHE_DIR", &cache)
            .env("CAIRN_INDEX", &env_index)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_no_panic(&format!("{args:?}"), out.status.code(), &err);
        assert_eq!(out.status.code(), Some(0), "{err}");
        json(&String::from_utf8_lossy(&out.stdout))
    };
    let first = eval(&[]);
    assert_eq!(first["documents_embedded"], 3, "{first}");
    for default in [
        project.join("configured-index"),
        project.join(".cairn"),
        env_index.clone(),
    ] {
        assert!(!default.exists(), "{} was written", default.display());
    }
    let made: Vec<PathBuf> = fs::read_dir(cache.join("eval"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(made.len(), 1, "{made:?}");
    let name = made[0].file_name().unwrap().to_str().unwrap().to_string();
    assert!(name.starts_with("tiny-beir-"), "{name}");
    assert_eq!(name.len(), "tiny-beir-".len() + 16, "{name}");
    assert!(made[0].join("index.sqlite").is_file());

    // The same dataset and settings reuse it; other chunking gets another folder.
    assert_eq!(eval(&[])["documents_embedded"], 0);
    eval(&["--chunk-tokens", "64"]);
    assert_eq!(fs::read_dir(cache.join("eval")).unwrap().count(), 2);

    // --index on the command line picks the folder.
    let explicit = tmp.path().join("explicit");
    eval(&["--index", explicit.to_str().unwrap()]);
    assert!(explicit.join("index.sqlite").is_file());
    assert!(!project.join("configured-index").exists());

    let (code, help, _) = run(&["eval", "beir", "--help"]);
    assert_eq!(code, 0);
    assert!(help.contains("never goes into the default index"), "{help}");
}
