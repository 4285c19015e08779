//! TREC run files (`qid Q0 docid rank score tag`, one line per retrieved document): cairn's
//! ranking written as one, another system's read back, and any run scored the way trec_eval
//! (and so pytrec_eval and BEIR) scores it.
//!
//! trec_eval ignores the rank column: it orders each query's documents by score, highest
//! first, and breaks ties by document id, *descending* (byte order). [`read_run`] and
//! [`evaluate_run`] order a run the same way. [`write_run`] writes scores that strictly
//! decrease down each query's list, so trec_eval reads back exactly the order cairn measured.

use crate::beir::BeirError;
use crate::metrics::{mrr_at, ndcg_at, recall_at, Qrels};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

/// One system's ranking: query id → (document id, score), in trec_eval's order (score
/// descending, ties by document id descending) when it comes from [`read_run`].
pub type Run = HashMap<String, Vec<(String, f64)>>;

/// The metrics of one query, as trec_eval names them: `ndcg_cut_10`, `recall_10`,
/// `recall_100`, and `recip_rank` over the top 10 only. Also their means over a run: flattened
/// into [`RunScores`] and [`crate::EvalReport`], so every report spells them the same.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct QueryScores {
    #[serde(rename = "ndcg@10")]
    pub ndcg_10: f64,
    #[serde(rename = "recall@10")]
    pub recall_10: f64,
    #[serde(rename = "recall@100")]
    pub recall_100: f64,
    #[serde(rename = "mrr@10")]
    pub mrr_10: f64,
}

impl QueryScores {
    /// Scores `ranked` (document ids, best first, no repeats) against one query's judgements.
    pub fn of(ranked: &[&str], rels: &HashMap<String, i32>) -> QueryScores {
        QueryScores {
            ndcg_10: ndcg_at(10, ranked, rels),
            recall_10: recall_at(10, ranked, rels),
            recall_100: recall_at(100, ranked, rels),
            mrr_10: mrr_at(10, ranked, rels),
        }
    }

    /// The mean of each metric (all zero for no queries).
    pub fn mean<'a>(all: impl IntoIterator<Item = &'a QueryScores>) -> QueryScores {
        let (mut sum, mut n) = (QueryScores::default(), 0usize);
        for q in all {
            sum.ndcg_10 += q.ndcg_10;
            sum.recall_10 += q.recall_10;
            sum.recall_100 += q.recall_100;
            sum.mrr_10 += q.mrr_10;
            n += 1;
        }
        let n = n.max(1) as f64;
        QueryScores {
            ndcg_10: sum.ndcg_10 / n,
            recall_10: sum.recall_10 / n,
            recall_100: sum.recall_100 / n,
            mrr_10: sum.mrr_10 / n,
        }
    }
}

/// A run scored against qrels: the mean over the judged queries and each query's scores.
#[derive(Debug, Clone, Serialize)]
pub struct RunScores {
    /// Judged queries scored (every query of the qrels).
    pub queries: usize,
    #[serde(flatten)]
    pub mean: QueryScores,
    /// Judged queries the run ranks nothing for: they score 0 (trec_eval's `-c`).
    pub unranked_queries: usize,
    /// Queries of the run without judgements: ignored.
    pub unjudged_run_queries: usize,
    pub per_query: BTreeMap<String, QueryScores>,
}

/// Whether `a` ranks above `b` in trec_eval: higher score, then the larger document id.
fn trec_order(a: &(String, f64), b: &(String, f64)) -> std::cmp::Ordering {
    b.1.total_cmp(&a.1)
        .then_with(|| b.0.as_bytes().cmp(a.0.as_bytes()))
}

/// Reads a TREC run file. Each line is `qid Q0 docid rank score tag` (whitespace-separated;
/// the second, rank and tag columns are not used); blank lines are skipped. Each query's
/// documents come back in trec_eval's order. A line that does not parse, a score that is not a
/// finite number, or a document listed twice for a query is an error naming the line.
pub fn read_run(path: &Path) -> Result<Run, BeirError> {
    let file_err = |reason: String| BeirError::File {
        path: path.to_path_buf(),
        reason,
    };
    let f = std::fs::File::open(path).map_err(|e| file_err(format!("cannot read the run: {e}")))?;
    let mut run: Run = HashMap::new();
    // (qid, docid) → the line that listed it first.
    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line.map_err(|e| file_err(format!("cannot read the run: {e}")))?;
        let bad = |reason: String| BeirError::Line {
            path: path.to_path_buf(),
            line: i + 1,
            reason,
        };
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.is_empty() {
            continue;
        }
        if cols.len() != 6 {
            return Err(bad(format!(
                "expected 6 columns `qid Q0 docid rank score tag`, found {}",
                cols.len()
            )));
        }
        let (qid, doc) = (cols[0], cols[2]);
        let score: f64 = cols[4]
            .parse()
            .map_err(|_| bad(format!("score `{}` is not a number", cols[4])))?;
        if !score.is_finite() {
            return Err(bad(format!("score `{}` is not a finite number", cols[4])));
        }
        if let Some(first) = seen.insert((qid.to_string(), doc.to_string()), i + 1) {
            return Err(bad(format!(
                "document {doc} is listed twice for query {qid} (first on line {first}); \
                 trec_eval refuses such a run"
            )));
        }
        run.entry(qid.to_string())
            .or_default()
            .push((doc.to_string(), score));
    }
    if run.is_empty() {
        return Err(file_err(
            "no ranking in the file (a TREC run has one line `qid Q0 docid rank score tag` \
             per retrieved document)"
                .into(),
        ));
    }
    for docs in run.values_mut() {
        docs.sort_by(trec_order);
    }
    Ok(run)
}

/// Scores a run against qrels as trec_eval does: each query's documents in trec_eval's
/// order (score descending, ties by document id descending), every judged query counted
/// (those the run ranks nothing for score 0), queries without judgements ignored. Unlike
/// cairn's own runner it keeps a document whose id is the query's.
pub fn evaluate_run(run: &Run, qrels: &Qrels) -> RunScores {
    let mut per_query = BTreeMap::new();
    let mut unranked = 0;
    for (qid, rels) in qrels {
        let scores = match run.get(qid) {
            Some(docs) => {
                let mut docs: Vec<&(String, f64)> = docs.iter().collect();
                docs.sort_by(|a, b| trec_order(a, b));
                let ids: Vec<&str> = docs.iter().map(|d| d.0.as_str()).collect();
                QueryScores::of(&ids, rels)
            }
            None => {
                unranked += 1;
                QueryScores::default()
            }
        };
        per_query.insert(qid.clone(), scores);
    }
    RunScores {
        queries: per_query.len(),
        mean: QueryScores::mean(per_query.values()),
        unranked_queries: unranked,
        unjudged_run_queries: run.keys().filter(|q| !qrels.contains_key(*q)).count(),
        per_query,
    }
}

/// cairn's ranking of a dataset: each query's document ids, best first, in query order.
pub type Ranking = Vec<(String, Vec<String>)>;

fn check_id(path: &Path, what: &str, id: &str) -> Result<(), BeirError> {
    if id.is_empty() || id.chars().any(char::is_whitespace) {
        return Err(BeirError::File {
            path: path.to_path_buf(),
            reason: format!(
                "{what} `{id}` is empty or holds whitespace, which a TREC run cannot hold"
            ),
        });
    }
    Ok(())
}

/// Writes `ranking` as TREC run lines: `qid Q0 docid rank score tag`, rank from 1, and the
/// score `N + 1 - rank` for a query that ranks N documents. The score is the rank's, not the
/// retrieval's: fused scores often tie, and trec_eval re-sorts ties by document id, which
/// would score another order than the one cairn measured.
pub fn format_run(out: &mut impl Write, ranking: &Ranking, tag: &str) -> std::io::Result<()> {
    for (qid, docs) in ranking {
        let n = docs.len();
        for (i, doc) in docs.iter().enumerate() {
            writeln!(out, "{qid} Q0 {doc} {} {} {tag}", i + 1, n - i)?;
        }
    }
    Ok(())
}

/// Writes `ranking` to `path` as a TREC run ([`format_run`]), whole or not at all (a
/// temporary file beside it, then a rename); creates the folder it goes in.
pub fn write_run(path: &Path, ranking: &Ranking, tag: &str) -> Result<(), BeirError> {
    check_id(path, "the run tag", tag)?;
    for (qid, docs) in ranking {
        check_id(path, "query id", qid)?;
        for d in docs {
            check_id(path, &format!("query {qid}: document id"), d)?;
        }
    }
    let err = |e: std::io::Error| BeirError::File {
        path: path.to_path_buf(),
        reason: format!("cannot write the run: {e}"),
    };
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".part");
    let tmp: PathBuf = path.with_file_name(name);
    let written = std::fs::File::create(&tmp).and_then(|f| {
        let mut w = std::io::BufWriter::new(f);
        format_run(&mut w, ranking, tag)?;
        w.into_inner().map_err(|e| e.into_error())?.sync_all()
    });
    match written.and_then(|()| std::fs::rename(&tmp, path)) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(err(e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn qrels(rows: &[(&str, &str, i32)]) -> Qrels {
        let mut q = Qrels::new();
        for (qid, doc, rel) in rows {
            q.entry(qid.to_string())
                .or_default()
                .insert(doc.to_string(), *rel);
        }
        q
    }

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    #[test]
    fn read_orders_by_score_then_document_id_descending_as_trec_eval() {
        // Ranks in the file are ignored; "b" and "a" tie on 2.0, so trec_eval puts "b" first.
        let f = file("q1 Q0 a 1 2.0 x\n\nq1 Q0 c 2 3 x\n  q1\tQ0 b 3 2.0 x\nq2 Q0 z 1 -1e3 x\n");
        let run = read_run(f.path()).unwrap();
        let ids: Vec<&str> = run["q1"].iter().map(|d| d.0.as_str()).collect();
        assert_eq!(ids, ["c", "b", "a"]);
        assert_eq!(run["q2"], vec![("z".to_string(), -1000.0)]);
    }

    #[test]
    fn read_errors_name_the_line() {
        for (text, line, want) in [
            ("q1 Q0 a 1 1 x\nq1 Q0 b 2 x\n", 2, "expected 6 columns"),
            ("q1 Q0 a 1 high x\n", 1, "score `high` is not a number"),
            ("q1 Q0 a 1 NaN x\n", 1, "not a finite number"),
            (
                "q1 Q0 a 1 2 x\nq2 Q0 a 1 2 x\nq1 Q0 a 3 1 x\n",
                3,
                "first on line 1",
            ),
        ] {
            let f = file(text);
            let e = read_run(f.path()).unwrap_err().to_string();
            let at = format!("{}:{line}: ", f.path().display());
            assert!(e.starts_with(&at) && e.contains(want), "{text:?}: {e}");
        }
        let e = read_run(file("\n \n").path()).unwrap_err().to_string();
        assert!(e.contains("no ranking"), "{e}");
        let e = read_run(Path::new("/nonexistent/run.txt"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("/nonexistent/run.txt: cannot read"), "{e}");
    }

    #[test]
    fn evaluate_run_counts_every_judged_query_and_ignores_unjudged_ones() {
        let q = qrels(&[
            ("q1", "a", 1),
            ("q1", "b", 0),
            ("q2", "c", 2),
            ("q3", "d", 1),
        ]);
        let f = file("q1 Q0 b 1 5 x\nq1 Q0 a 2 5 x\nq2 Q0 c 1 1 x\nq9 Q0 a 1 1 x\n");
        let s = evaluate_run(&read_run(f.path()).unwrap(), &q);
        assert_eq!(
            (s.queries, s.unranked_queries, s.unjudged_run_queries),
            (3, 1, 1)
        );
        // The tie puts "b" (judged 0) first: a is at rank 2.
        let q1 = s.per_query["q1"];
        assert_eq!(q1.mrr_10, 0.5);
        assert!((q1.ndcg_10 - 1.0 / 3f64.log2()).abs() < 1e-12);
        assert_eq!(s.per_query["q2"].ndcg_10, 1.0);
        assert_eq!(s.per_query["q3"], QueryScores::default());
        assert!((s.mean.mrr_10 - 0.5).abs() < 1e-12);
        assert!((s.mean.recall_100 - 2.0 / 3.0).abs() < 1e-12);
    }

    /// The run's JSON, key by key and in order: the means beside the counts under
    /// trec_eval-style names, each query's scores under the same names.
    #[test]
    fn run_scores_json_keys_are_pinned() {
        let q = qrels(&[("q1", "a", 1), ("q2", "b", 1)]);
        let f = file("q1 Q0 x 1 2 t\nq1 Q0 a 2 1 t\n");
        let s = evaluate_run(&read_run(f.path()).unwrap(), &q);
        let q1 = r#""ndcg@10":0.6309297535714575,"recall@10":1.0,"recall@100":1.0,"mrr@10":0.5"#;
        let q2 = r#""ndcg@10":0.0,"recall@10":0.0,"recall@100":0.0,"mrr@10":0.0"#;
        let mean =
            r#""ndcg@10":0.31546487678572877,"recall@10":0.5,"recall@100":0.5,"mrr@10":0.25"#;
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            format!(
                r#"{{"queries":2,{mean},"unranked_queries":1,"unjudged_run_queries":0,"per_query":{{"q1":{{{q1}}},"q2":{{{q2}}}}}}}"#
            )
        );
    }

    #[test]
    fn mrr_at_10_ignores_a_first_hit_below_rank_10() {
        let q = qrels(&[("q", "hit", 1)]);
        let mut lines = String::new();
        for i in 0..10 {
            lines.push_str(&format!("q Q0 miss{i} {} {} t\n", i + 1, 100 - i));
        }
        lines.push_str("q Q0 hit 11 1 t\n");
        let s = evaluate_run(&read_run(file(&lines).path()).unwrap(), &q);
        assert_eq!(s.per_query["q"].mrr_10, 0.0);
        assert_eq!(s.per_query["q"].recall_100, 1.0);
        assert_eq!(s.per_query["q"].recall_10, 0.0);
    }

    #[test]
    fn written_runs_read_back_in_the_order_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/run.txt");
        // "a" < "b" < "c": trec_eval's tie order would reverse this ranking; the rank-derived
        // scores keep it.
        let ranking: Ranking = vec![
            ("q1".into(), vec!["a".into(), "b".into(), "c".into()]),
            ("q2".into(), vec![]),
            ("q3".into(), vec!["x".into()]),
        ];
        write_run(&path, &ranking, "cairn-hybrid").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "q1 Q0 a 1 3 cairn-hybrid\nq1 Q0 b 2 2 cairn-hybrid\nq1 Q0 c 3 1 cairn-hybrid\n\
             q3 Q0 x 1 1 cairn-hybrid\n"
        );
        let run = read_run(&path).unwrap();
        let ids: Vec<&str> = run["q1"].iter().map(|d| d.0.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c"]);
        assert!(!dir.path().join("sub/run.txt.part").exists());
    }

    #[test]
    fn ids_a_run_cannot_hold_are_refused_before_writing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.txt");
        let ranking: Ranking = vec![("q1".into(), vec!["a b".into()])];
        let e = write_run(&path, &ranking, "t").unwrap_err().to_string();
        assert!(e.contains("query q1: document id `a b`"), "{e}");
        assert!(!path.exists());
        assert!(write_run(&path, &vec![], "has space").is_err());
    }
}
