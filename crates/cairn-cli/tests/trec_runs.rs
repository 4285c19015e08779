//! `cairn eval beir --run FILE` and `--score-run FILE`: TREC run files written and read, and
//! cairn's metrics held to pytrec_eval's (trec_eval's code) per query and on the mean, by
//! `tests/python/pytrec_parity.py` in the test venv (`scripts/test` installs
//! pytrec_eval-terrier there): on a small dataset built to hit trec_eval's corners (ties in
//! score, judgements of 0 and below, a query the run lacks, a query without judgements) and
//! (in `tests/scifact.rs`, on the index it builds) on SciFact's hybrid ranking.

mod common;
use common::*;
use std::path::Path;

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn another_systems_run_is_scored_as_trec_eval_scores_it() {
    let tmp = tempfile::tempdir().unwrap();
    let ds = tmp.path().join("ds");
    write(
        &ds.join("corpus.jsonl"),
        "{\"_id\": \"a\", \"text\": \"x\"}\n",
    );
    write(
        &ds.join("queries.jsonl"),
        &["q1", "q2", "q3", "q4", "q5"]
            .iter()
            .map(|q| format!("{{\"_id\": \"{q}\", \"text\": \"t\"}}\n"))
            .collect::<String>(),
    );
    let qrels = ds.join("qrels/test.tsv");
    write(
        &qrels,
        "query-id\tcorpus-id\tscore\n\
         q1\ta\t1\nq1\tb\t0\nq1\tc\t2\n\
         q2\tx\t0\nq2\ty\t0\n\
         q3\tn\t-1\nq3\tp\t1\n\
         q4\tz\t1\n\
         q5\tm\t1\n",
    );
    // q1: "a" and "b" tie, and trec_eval ranks the larger id first whatever the rank column
    // says: b (judged 0), then a, then c. q4 is not in the run; q9 has no judgements. q5's
    // only relevant document is 11th.
    let mut text = String::from(
        "q1 Q0 a 1 5.0 other\nq1 Q0 b 2 5.0 other\nq1 Q0 c 3 1.5 other\n\
         q2 Q0 x 1 1 other\n\
         q3 Q0 n 1 2 other\nq3 Q0 p 2 1 other\n\
         q9 Q0 a 1 1 other\n",
    );
    for i in 0..10 {
        text.push_str(&format!("q5 Q0 d{i} {} {} other\n", i + 1, 20 - i));
    }
    text.push_str("q5 Q0 m 11 0.5 other\n");
    let run_path = tmp.path().join("run.txt");
    write(&run_path, &text);

    let (code, out, err) = run(&[
        "eval",
        "beir",
        ds.to_str().unwrap(),
        "--score-run",
        run_path.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v = json(&out);
    assert_eq!(v["queries"], 5, "{out}");
    assert_eq!(v["unranked_queries"], 1, "{out}");
    assert_eq!(v["unjudged_run_queries"], 1, "{out}");
    let q = &v["per_query"];
    assert_eq!(q["q1"]["mrr@10"], 0.5, "the tie puts b first: {out}");
    let l3 = 3f64.log2();
    let want = (1.0 / l3 + 1.0) / (2.0 + 1.0 / l3);
    assert!((q["q1"]["ndcg@10"].as_f64().unwrap() - want).abs() < 1e-12);
    assert_eq!(q["q2"]["ndcg@10"], 0.0);
    assert_eq!(q["q4"]["recall@100"], 0.0);
    assert_eq!(q["q5"]["mrr@10"], 0.0, "the first hit is 11th: {out}");
    assert_eq!(q["q5"]["recall@100"], 1.0);
    let report = tmp.path().join("report.json");
    std::fs::write(&report, &out).unwrap();
    parity(&qrels, &run_path, &report);

    // The same text report, and a bad line named by file and line.
    let (code, out, err) = run(&[
        "eval",
        "beir",
        ds.to_str().unwrap(),
        "--score-run",
        run_path.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("MRR@10") && out.contains("1 judged queries have no line"));
    std::fs::write(&run_path, "q1 Q0 a 1 5 t\nq1 Q0 b 2 t\n").unwrap();
    let (code, _, err) = run(&[
        "eval",
        "beir",
        ds.to_str().unwrap(),
        "--score-run",
        run_path.to_str().unwrap(),
    ]);
    assert_ne!(code, 0);
    let at = format!("--score-run {}", run_path.display());
    assert!(err.contains(&at), "{err}");
    assert!(
        err.contains(&format!("{}:2: expected 6 columns", run_path.display())),
        "{err}"
    );
    // Scoring a run retrieves nothing: retrieval flags are refused, not ignored.
    let (code, _, err) = run(&[
        "eval",
        "beir",
        ds.to_str().unwrap(),
        "--score-run",
        run_path.to_str().unwrap(),
        "--mode",
        "bm25",
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("--mode"), "{err}");
}
