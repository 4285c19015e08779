//! SciFact end to end: retrieval quality thresholds in every mode, a SIGKILL in the middle
//! of ingesting that leaves a valid index which a rerun completes to the same state, and
//! `cairn index migrate` of the index (killed mid-copy, resumed, verified).

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
    let mut embedded_ndcg = std::collections::HashMap::new();
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
        embedded_ndcg.insert(mode, ndcg);
        eprintln!("{mode}: nDCG@10 {ndcg:.4}, recall@100 {}", v["recall@100"]);
        assert!(ndcg >= floor, "{mode} nDCG@10 {ndcg} < {floor}");
        assert!(v["recall@100"].as_f64().unwrap() >= v["recall@10"].as_f64().unwrap());
    }
    // The same index's hybrid ranking as a TREC run file, held to pytrec_eval.
    hybrid_run_matches_pytrec_eval(&sf, &clean);

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

    through_database_stores(&clean, clean_chunks, &sf, &embedded_ndcg);
}

fn migrate_json(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["index", "migrate", "--json"];
    all.extend_from_slice(args);
    let (code, out, err) = run(&all);
    assert_eq!(code, 0, "{all:?}: {err}{out}");
    json(&out)
}

/// Chunks in a store, through `migrate --verify-only` against the clean index.
fn store_chunks(clean: &str, store: &str) -> Option<u64> {
    let (code, out, _) = run(&[
        "index",
        "migrate",
        "--json",
        "--verify-only",
        "--sample",
        "0",
        "--from",
        clean,
        "--to",
        store,
    ]);
    // Exit 1 means "counts differ", which is what a partial copy reports.
    if code > 1 {
        return None;
    }
    json(&out)["verify"]["target_chunks"].as_u64()
}

fn env_url(var: &str, script: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!("{var} is not set: start the server with `scripts/peers/{script}.sh start DIR` and export the line it prints (scripts/test does)")
    })
}

/// The SciFact index copied to Postgres one document per batch, SIGKILLed a quarter of the
/// way, resumed; then copied on to Chroma; each copy verified (counts, no duplicates, top-10
/// overlap), and retrieval quality through each store within 0.01 of the embedded index's.
fn through_database_stores(
    clean: &std::path::Path,
    clean_chunks: u64,
    sf: &std::path::Path,
    embedded_ndcg: &std::collections::HashMap<&str, f64>,
) {
    let run_id = std::process::id();
    let pg_base = env_url("CAIRN_TEST_PG_URL", "postgres");
    let sep = if pg_base.contains('?') { '&' } else { '?' };
    // Exact settings: dense search scans instead of walking HNSW, as the embedded index does
    // at this size, so the copy must give the same top 10.
    let pg = format!("{pg_base}{sep}collection=scifact_{run_id}&exact_below=1000000");
    let chroma_base = env_url("CAIRN_TEST_CHROMA_URL", "chroma");
    let chroma = format!(
        "chroma://{}/scifact_{run_id}",
        chroma_base
            .trim_start_matches("http://")
            .trim_end_matches('/')
    );
    let from = clean.to_str().unwrap();

    let mut child = cairn()
        .args([
            "index", "migrate", "--from", from, "--to", &pg, "--batch", "1", "-q",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "migrate made no progress"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "migrate finished before it could be killed"
        );
        if store_chunks(from, &pg).is_some_and(|c| c >= clean_chunks / 4) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let partial = store_chunks(from, &pg).expect("the killed target opens");
    assert!(
        partial > 0 && partial < clean_chunks,
        "{partial} of {clean_chunks}"
    );

    let v = migrate_json(&["--from", from, "--to", &pg, "--batch", "256"]);
    let copy = &v["copy"];
    assert!(
        copy["skipped_documents"].as_u64().unwrap() > 0,
        "a rerun resumes: {v}"
    );
    assert_eq!(
        copy["copied_documents"].as_u64().unwrap() + copy["skipped_documents"].as_u64().unwrap(),
        5183,
        "{v}"
    );
    // Chroma has no exact mode: its HNSW (ef 200) is held to recall-level agreement.
    for (v, what, floor) in [
        (v, "embedded -> postgres", 0.99),
        (
            migrate_json(&["--from", &pg, "--to", &chroma, "--batch", "256"]),
            "postgres -> chroma",
            0.95,
        ),
    ] {
        let check = &v["verify"];
        assert_eq!(check["source_chunks"], clean_chunks, "{what}: {v}");
        assert_eq!(
            check["target_chunks"], clean_chunks,
            "{what}: no duplicates: {v}"
        );
        assert_eq!(check["differing_count"], 0, "{what}: {v}");
        assert_eq!(check["queries"], 100);
        let overlap = check["mean_overlap"].as_f64().unwrap();
        eprintln!("{what}: top-10 overlap {overlap:.4}");
        assert!(overlap >= floor, "{what}: top-10 overlap {overlap}: {v}");
        assert_eq!(v["ok"], true);
    }

    // The same queries and metrics through each store.
    for (store, modes) in [(&pg, &["dense", "hybrid"][..]), (&chroma, &["dense"][..])] {
        for mode in modes {
            let (code, out, err) = run(&[
                "eval",
                "beir",
                sf.to_str().unwrap(),
                "--store",
                store,
                "--mode",
                mode,
                "-k",
                "10",
                "--json",
            ]);
            assert_eq!(code, 0, "{store} {mode}: {err}");
            let r = json(&out);
            // eval ingests into the store first: the migrated copy is every document
            // unchanged (same ids, same content hashes), so nothing is embedded again.
            assert_eq!(r["documents_embedded"], 0, "{store} {mode}: {out}");
            let ndcg = r["ndcg@10"].as_f64().unwrap();
            let want = embedded_ndcg[mode];
            eprintln!(
                "{store} {mode}: nDCG@10 {ndcg:.4} (embedded {want:.4}), p50 {} ms, p95 {} ms",
                r["query_latency_ms_p50"], r["query_latency_ms_p95"]
            );
            // Dense: the same vectors, exact on Postgres, HNSW at recall ~0.99 on Chroma.
            // Hybrid: Postgres ranks its full text by BM25 with the embedded index's
            // parameters (over its own lexemes and stopwords), fused the same way.
            assert!(
                (ndcg - want).abs() <= 0.01,
                "{store} {mode}: nDCG@10 {ndcg} vs embedded {want}"
            );
        }
    }
    // Chroma has no ranked full-text search: hybrid says so instead of guessing.
    let (code, _, err) = run(&[
        "eval",
        "beir",
        sf.to_str().unwrap(),
        "--store",
        &chroma,
        "--mode",
        "hybrid",
        "--max-queries",
        "1",
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("no full-text search"), "{err}");
}

/// The hybrid ranking of `index` written as a TREC run file: its lines well formed, its
/// metrics equal to pytrec_eval's per query and on the mean, and read back by `--score-run`
/// to the same scores.
fn hybrid_run_matches_pytrec_eval(sf: &std::path::Path, index: &std::path::Path) {
    let tmp = tempfile::tempdir().unwrap();
    let run_path = tmp.path().join("runs/hybrid.txt");
    let (code, out, err) = run(&[
        "eval",
        "beir",
        sf.to_str().unwrap(),
        "--index",
        index.to_str().unwrap(),
        "--mode",
        "hybrid",
        "--run",
        run_path.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v = json(&out);
    assert_eq!(v["queries"], 300, "{out}");
    let per_query = v["per_query"].as_object().unwrap();
    assert_eq!(per_query.len(), 300);
    let ndcg = v["ndcg@10"].as_f64().unwrap();
    assert!(ndcg >= 0.68, "hybrid nDCG@10 {ndcg}");

    // The file: per query, ranks 1.. in order and strictly decreasing scores, tag cairn-hybrid.
    let text = std::fs::read_to_string(&run_path).unwrap();
    let mut last: Option<(String, usize, f64)> = None;
    let mut lines = 0;
    for line in text.lines() {
        let c: Vec<&str> = line.split(' ').collect();
        assert_eq!(c.len(), 6, "{line}");
        assert_eq!((c[1], c[5]), ("Q0", "cairn-hybrid"), "{line}");
        let (rank, score): (usize, f64) = (c[3].parse().unwrap(), c[4].parse().unwrap());
        match &last {
            Some((q, r, s)) if q == c[0] => {
                assert_eq!(rank, r + 1, "{line}");
                assert!(score < *s, "{line}");
            }
            _ => {
                assert_eq!(rank, 1, "{line}");
                assert!(per_query.contains_key(c[0]), "{line}");
            }
        }
        last = Some((c[0].to_string(), rank, score));
        lines += 1;
    }
    assert_eq!(lines, 300 * 100, "100 documents for each query");
    assert!(!tmp.path().join("runs/hybrid.txt.part").exists());

    let report = tmp.path().join("report.json");
    std::fs::write(&report, &out).unwrap();
    let qrels = sf.join("qrels/test.tsv");
    parity(&qrels, &run_path, &report);

    // cairn reading its own run back scores what it measured.
    let (code, out2, err) = run(&[
        "eval",
        "beir",
        sf.to_str().unwrap(),
        "--score-run",
        run_path.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let s = json(&out2);
    assert_eq!(s["unranked_queries"], 0);
    for key in ["ndcg@10", "recall@10", "recall@100", "mrr@10"] {
        let (a, b) = (v[key].as_f64().unwrap(), s[key].as_f64().unwrap());
        assert!((a - b).abs() < 1e-12, "{key}: {a} vs {b}");
        for (qid, m) in per_query {
            assert_eq!(m[key], s["per_query"][qid][key], "{qid} {key}");
        }
    }
}
