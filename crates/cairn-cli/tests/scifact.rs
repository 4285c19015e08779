//! SciFact end to end: retrieval quality thresholds in every mode, and a SIGKILL in the middle
//! of ingesting that leaves a valid index which a rerun completes to the same state.

mod common;
use common::*;
use std::time::{Duration, Instant};

fn generation_chunks(index: &std::path::Path) -> Option<(u64, u64)> {
    let (code, out, _) = run(&["info", "--json", "--index", index.to_str().unwrap()]);
    if code != 0 {
        return None;
    }
    let v = json(&out);
    Some((v["generation"].as_u64()?, v["chunks"].as_u64()?))
}

fn search_json(index: &std::path::Path, q: &str, mode: &str) -> Vec<(String, f64)> {
    let (code, out, err) = run(&[
        "search",
        q,
        "--index",
        index.to_str().unwrap(),
        "--mode",
        mode,
        "--json",
        "-k",
        "10",
    ]);
    assert_eq!(code, 0, "{err}");
    json(&out)["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["chunk"]["id"].as_str().unwrap().to_string(),
                h["score"].as_f64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn scifact_quality_and_kill_mid_ingest() {
    let sf = scifact();
    let corpus = sf.join("corpus.jsonl");
    let tmp = tempfile::tempdir().unwrap();
    let clean = tmp.path().join("clean");

    // A clean ingest.
    let (code, out, err) = run(&[
        "ingest",
        corpus.to_str().unwrap(),
        "--index",
        clean.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let r = json(&out);
    assert_eq!(r["added"], 5183, "{out}");
    let (_, clean_chunks) = generation_chunks(&clean).unwrap();

    // Quality in each mode, reusing the index (no re-embedding).
    for (mode, floor) in [("bm25", 0.66), ("dense", 0.64), ("hybrid", 0.68)] {
        let (code, out, err) = run(&[
            "eval",
            "beir",
            sf.to_str().unwrap(),
            "--index",
            clean.to_str().unwrap(),
            "--mode",
            mode,
            "--json",
        ]);
        assert_eq!(code, 0, "{err}");
        let v = json(&out);
        for key in [
            "ndcg@10",
            "recall@10",
            "recall@100",
            "mrr@10",
            "queries",
            "mode",
        ] {
            assert!(v.get(key).is_some(), "missing {key}: {out}");
        }
        assert_eq!(v["queries"], 300);
        assert_eq!(v["mode"], mode);
        assert_eq!(
            v["documents_embedded"], 0,
            "a reused index must not re-embed: {out}"
        );
        let ndcg = v["ndcg@10"].as_f64().unwrap();
        eprintln!("{mode}: nDCG@10 {ndcg:.4}, recall@100 {}", v["recall@100"]);
        assert!(ndcg >= floor, "{mode} nDCG@10 {ndcg} < {floor}");
        assert!(v["recall@100"].as_f64().unwrap() >= v["recall@10"].as_f64().unwrap());
    }

    // Kill an ingest once some batches are committed, then rerun it.
    let killed = tmp.path().join("killed");
    let mut child = cairn()
        .args([
            "ingest",
            corpus.to_str().unwrap(),
            "--index",
            killed.to_str().unwrap(),
            "-q",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(900),
            "ingest made no progress"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "ingest finished before it could be killed"
        );
        if let Some((g, c)) = generation_chunks(&killed) {
            if g >= 3 && c >= clean_chunks / 4 {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let (_, partial) = generation_chunks(&killed).expect("the killed index opens");
    assert!(
        partial > 0 && partial < clean_chunks,
        "{partial} of {clean_chunks}"
    );

    let (code, out, err) = run(&[
        "ingest",
        corpus.to_str().unwrap(),
        "--index",
        killed.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let r = json(&out);
    assert!(
        r["unchanged"].as_u64().unwrap() > 0,
        "rerun must resume, not restart: {out}"
    );
    assert_eq!(
        r["added"].as_u64().unwrap() + r["unchanged"].as_u64().unwrap(),
        5183,
        "{out}"
    );
    let (_, resumed) = generation_chunks(&killed).unwrap();
    assert_eq!(resumed, clean_chunks);

    for q in [
        "0-dimensional biomaterials show inductive properties.",
        "ALDH1 expression is associated with poorer prognosis for breast cancer primary tumors.",
        "Vitamin D deficiency increases the risk of cardiovascular disease.",
    ] {
        for mode in ["bm25", "hybrid"] {
            let a = search_json(&clean, q, mode);
            let b = search_json(&killed, q, mode);
            assert_eq!(a.len(), 10);
            let ids = |v: &[(String, f64)]| v.iter().map(|h| h.0.clone()).collect::<Vec<_>>();
            assert_eq!(ids(&a), ids(&b), "{mode}: {q}");
            for (x, y) in a.iter().zip(&b) {
                assert!((x.1 - y.1).abs() < 1e-5, "{mode}: {q}: {x:?} vs {y:?}");
            }
        }
    }
}
