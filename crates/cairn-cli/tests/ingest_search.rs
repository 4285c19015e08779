//! End to end on the bundled sample corpus: ingest, search, re-ingest, change, prune.

mod common;
use common::*;
use std::fs;

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn ingest_search_reingest_update_prune() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = tmp.path().join("corpus");
    copy_dir(&samples(), &corpus);
    let index = tmp.path().join("idx");
    let (idx, c) = (index.to_str().unwrap(), corpus.to_str().unwrap());

    let (code, out, err) = run(&["ingest", c, "--index", idx, "--meta", "team=docs", "--json"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let r = json(&out);
    let files = r["files"].as_u64().unwrap();
    assert!(files >= 24, "{out}");
    assert_eq!(r["added"].as_u64().unwrap(), files);
    assert!(r["chunks"].as_u64().unwrap() >= files);
    assert_eq!(r["skipped"].as_array().unwrap().len(), 0, "{out}");

    // Hybrid search finds the right document first, with heading path and scores in JSON.
    let (code, out, err) = run(&[
        "search",
        "how do hikers mark a trail over bare rock?",
        "--index",
        idx,
        "--json",
        "-k",
        "3",
    ]);
    assert_eq!(code, 0, "{err}");
    let v = json(&out);
    assert_eq!(v["mode"], "hybrid");
    let hits = v["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 3);
    let top = &hits[0];
    assert!(
        top["source"]
            .as_str()
            .unwrap()
            .ends_with("nature/cairns.md"),
        "{top}"
    );
    assert_eq!(top["chunk"]["heading_path"][0], "Cairns");
    assert!(top["chunk"]["id"].as_str().unwrap().contains("cairns.md#"));
    assert!(top["chunk"]["doc_id"]
        .as_str()
        .unwrap()
        .ends_with("cairns.md"));
    assert_eq!(top["chunk"]["metadata"]["team"], "docs");
    assert_eq!(top["chunk"]["metadata"]["kind"], "markdown");
    assert!(top["scores"]["fused"].as_f64().unwrap() > 0.0);
    assert!(top["scores"]["dense"].is_number() && top["scores"]["bm25"].is_number());

    // Each mode answers on its own terms.
    for (mode, q, want) in [
        ("bm25", "Fresnel lens", "lighthouses.txt"),
        (
            "dense",
            "which insects tell each other where food is by dancing",
            "honeybees.md",
        ),
    ] {
        let (code, out, err) = run(&[
            "search", q, "--index", idx, "--mode", mode, "--json", "-k", "1",
        ]);
        assert_eq!(code, 0, "{err}");
        let v = json(&out);
        assert!(
            v["hits"][0]["source"].as_str().unwrap().ends_with(want),
            "{mode}: {out}"
        );
    }

    // Filters restrict hits to matching metadata.
    let (code, out, _) = run(&[
        "search",
        "history",
        "--index",
        idx,
        "--filter",
        "kind=text",
        "--json",
        "-k",
        "20",
    ]);
    assert_eq!(code, 0);
    let v = json(&out);
    let hits = v["hits"].as_array().unwrap();
    assert!(!hits.is_empty());
    assert!(
        hits.iter()
            .all(|h| h["chunk"]["metadata"]["kind"] == "text"),
        "{out}"
    );

    // Human output shows rank, source, heading and a highlighted snippet.
    let (code, out, _) = run(&["search", "sourdough starter", "--index", idx, "-k", "2"]);
    assert_eq!(code, 0);
    assert!(out.starts_with(" 1. "), "{out}");
    assert!(out.contains("sourdough.md"), "{out}");
    assert!(out.contains("**starter**"), "{out}");

    // Re-running on unchanged files does no work.
    let (code, out, _) = run(&["ingest", c, "--index", idx, "--meta", "team=docs", "--json"]);
    assert_eq!(code, 0);
    let r = json(&out);
    assert_eq!(r["unchanged"].as_u64().unwrap(), files, "{out}");
    assert_eq!(
        r["added"].as_u64().unwrap() + r["updated"].as_u64().unwrap(),
        0
    );
    assert_eq!(r["chunks"].as_u64().unwrap(), 0);

    // A changed file replaces its chunks; a deleted one goes with --prune.
    fs::write(
        corpus.join("nature/tides.txt"),
        "Tides\n\nThe zebracorn tide table was rewritten.",
    )
    .unwrap();
    fs::remove_file(corpus.join("kitchen/coffee.md")).unwrap();
    let (code, out, _) = run(&[
        "ingest",
        c,
        "--index",
        idx,
        "--meta",
        "team=docs",
        "--prune",
        "--json",
    ]);
    assert_eq!(code, 0, "{out}");
    let r = json(&out);
    assert_eq!(r["updated"].as_u64().unwrap(), 1, "{out}");
    assert_eq!(r["removed"].as_u64().unwrap(), 1, "{out}");
    let (_, out, _) = run(&[
        "search",
        "zebracorn",
        "--index",
        idx,
        "--mode",
        "bm25",
        "--json",
    ]);
    let v = json(&out);
    assert_eq!(
        v["hits"].as_array().unwrap().len(),
        1,
        "old chunks must be gone: {out}"
    );
    let (_, out, _) = run(&[
        "search",
        "espresso grind",
        "--index",
        idx,
        "--mode",
        "bm25",
        "--json",
    ]);
    assert!(
        !out.contains("coffee.md"),
        "pruned document still found: {out}"
    );
}

#[test]
fn bad_flags_and_missing_index_get_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let idx = tmp.path().join("none");
    let (code, _, err) = run(&["search", "x", "--index", idx.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(
        err.contains("no index at") && err.contains("cairn ingest"),
        "{err}"
    );
    let (code, _, err) = run(&["search", "x", "--mode", "fuzzy"]);
    assert_ne!(code, 0);
    assert!(err.contains("fuzzy") && err.contains("hybrid"), "{err}");
    let (code, _, err) = run(&[
        "search",
        "x",
        "--filter",
        "nokey",
        "--index",
        idx.to_str().unwrap(),
    ]);
    assert_ne!(code, 0);
    assert!(
        err.contains("--filter") && err.contains("key=value"),
        "{err}"
    );
    let (code, _, err) = run(&[
        "ingest",
        ".",
        "--meta",
        "novalue",
        "--index",
        idx.to_str().unwrap(),
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("--meta `novalue`"), "{err}");
}
