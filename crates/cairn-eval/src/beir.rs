//! BEIR-format datasets (`corpus.jsonl`, `queries.jsonl`, `qrels/<split>.tsv`) and the run
//! that scores a retriever on one.

use crate::metrics::Qrels;
use crate::trec::{QueryScores, Ranking};
use cairn_rag::search::Scored;
use cairn_rag::{Retriever, SearchError, SearchMode, SearchOptions};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Debug, thiserror::Error)]
pub enum BeirError {
    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("{path}:{line}: {reason}")]
    Line {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error(transparent)]
    Search(#[from] SearchError),
    /// A query transform or reranker (a model call) failed.
    #[error("query {qid}: {message}")]
    Ranker { qid: String, message: String },
}

impl cairn_core::Classify for BeirError {
    fn class(&self) -> cairn_core::ErrorClass {
        match self {
            BeirError::Search(e) => e.class(),
            _ => cairn_core::ErrorClass::InvalidInput,
        }
    }
}

pub struct BeirDataset {
    pub dir: PathBuf,
    pub corpus: PathBuf,
    /// Queries that have judgements in the split, in file order, each id once.
    pub queries: Vec<(String, String)>,
    pub qrels: Qrels,
}

fn open(path: &Path) -> Result<std::io::BufReader<std::fs::File>, BeirError> {
    std::fs::File::open(path)
        .map(std::io::BufReader::new)
        .map_err(|e| BeirError::File {
            path: path.to_path_buf(),
            reason: format!(
                "{e} (a BEIR folder holds corpus.jsonl, queries.jsonl and qrels/<split>.tsv)"
            ),
        })
}

/// Reads queries and qrels; queries without judgements in the split are skipped.
pub fn load_dataset(dir: &Path, split: &str) -> Result<BeirDataset, BeirError> {
    let corpus = dir.join("corpus.jsonl");
    if !corpus.is_file() {
        return Err(BeirError::File {
            path: corpus,
            reason:
                "missing (a BEIR folder holds corpus.jsonl, queries.jsonl and qrels/<split>.tsv)"
                    .into(),
        });
    }
    let qrels_path = dir.join("qrels").join(format!("{split}.tsv"));
    let mut qrels: Qrels = HashMap::new();
    for (i, line) in open(&qrels_path)?.lines().enumerate() {
        let line = line.map_err(|e| BeirError::File {
            path: qrels_path.clone(),
            reason: e.to_string(),
        })?;
        let cols: Vec<&str> = line.split('\t').collect();
        if line.trim().is_empty() || (i == 0 && cols.first() == Some(&"query-id")) {
            continue;
        }
        let bad = |reason: &str| BeirError::Line {
            path: qrels_path.clone(),
            line: i + 1,
            reason: reason.to_string(),
        };
        if cols.len() < 3 {
            return Err(bad("expected query-id<TAB>corpus-id<TAB>score"));
        }
        let score: i32 = cols[2]
            .trim()
            .parse()
            .map_err(|_| bad("score is not an integer"))?;
        qrels
            .entry(cols[0].to_string())
            .or_default()
            .insert(cols[1].to_string(), score);
    }
    let queries_path = dir.join("queries.jsonl");
    let mut queries = Vec::new();
    let mut seen = HashSet::new();
    for (i, line) in open(&queries_path)?.lines().enumerate() {
        let line = line.map_err(|e| BeirError::File {
            path: queries_path.clone(),
            reason: e.to_string(),
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(&line).map_err(|e| BeirError::Line {
            path: queries_path.clone(),
            line: i + 1,
            reason: format!("malformed JSON: {e}"),
        })?;
        let id = match &v["_id"] {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            _ => continue,
        };
        // A query id listed twice is scored once, with its first text.
        if qrels.contains_key(&id) && seen.insert(id.clone()) {
            queries.push((id, v["text"].as_str().unwrap_or("").to_string()));
        }
    }
    Ok(BeirDataset {
        dir: dir.to_path_buf(),
        corpus,
        queries,
        qrels,
    })
}

#[derive(Debug, Clone)]
pub struct EvalOptions {
    pub mode: SearchMode,
    /// Documents retrieved per query (the deepest cut measured).
    pub k: usize,
    pub search: SearchOptions,
    /// Re-order the top `MMR_DEPTH` chunks by maximal marginal relevance with this lambda.
    pub mmr: Option<f32>,
    /// Score only the first this many judged queries (model-driven rankers are slow).
    pub max_queries: Option<usize>,
    /// What the report calls a custom ranker (`multi-query`, `hyde`, `rerank:local:…`).
    pub ranker_name: Option<String>,
}

/// A custom ranking for one query (query expansion, reranking), in place of plain retrieval.
pub type Ranker<'a> = dyn Fn(&str, &SearchOptions) -> Result<Vec<Scored>, String> + 'a;

/// Chunks MMR re-orders per query; the rest keep their retrieval order.
pub const MMR_DEPTH: usize = cairn_rag::asker::MMR_DEPTH;

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            mode: SearchMode::Hybrid,
            k: 100,
            search: SearchOptions::default(),
            mmr: None,
            max_queries: None,
            ranker_name: None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    pub dataset: String,
    pub split: String,
    pub mode: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mmr: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ranker: Option<String>,
    pub queries: usize,
    /// The mean of each metric over the queries scored (`ndcg@10`, `recall@10`, `recall@100`,
    /// `mrr@10` in the JSON, beside the other fields).
    #[serde(flatten)]
    pub mean: QueryScores,
    pub query_latency_ms_p50: f64,
    pub query_latency_ms_p95: f64,
    /// Each query's metrics (the means above are over these).
    pub per_query: BTreeMap<String, QueryScores>,
    /// The ranking measured: each query's documents, best first, as scored (repeats
    /// collapsed, a document with the query's id dropped, at most `k`); what
    /// [`crate::trec::write_run`] writes.
    #[serde(skip)]
    pub ranking: Ranking,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[idx]
}

/// The BEIR `_id` of an indexed document. The index scopes a record's id to its file
/// (`corpus.jsonl#<_id>`, with any `#` of the file's path escaped, so the first `#` ends the
/// file part); an index made before that holds the bare `_id`.
pub fn corpus_id(doc_id: &str) -> &str {
    match doc_id.split_once('#') {
        Some((file, id)) if file.to_ascii_lowercase().ends_with(".jsonl") => id,
        _ => doc_id,
    }
}

/// Runs every judged query and averages the metrics over them. Chunk hits are collapsed to
/// documents (a document ranks where its best chunk ranks), since qrels judge documents.
pub fn evaluate(
    retriever: &Retriever,
    ds: &BeirDataset,
    split: &str,
    opts: &EvalOptions,
) -> Result<EvalReport, BeirError> {
    evaluate_with(retriever, ds, split, opts, None)
}

/// [`evaluate`] with a custom ranker in place of plain retrieval (and MMR).
pub fn evaluate_with(
    retriever: &Retriever,
    ds: &BeirDataset,
    split: &str,
    opts: &EvalOptions,
    ranker: Option<&Ranker>,
) -> Result<EvalReport, BeirError> {
    let mut search = opts.search.clone();
    search.mode = opts.mode;
    // Chunks per document vary; ask for enough chunks to fill k documents.
    search.k = opts.k.saturating_mul(10).max(search.k);
    search.candidates = search.candidates.max(search.k);
    evaluate_ranked(ds, split, opts, &mut |qid: &str, text: &str| {
        let ranked = match (opts.mmr, opts.mode) {
            _ if ranker.is_some() => {
                let f = ranker.expect("checked");
                f(text, &search).map_err(|message| BeirError::Ranker {
                    qid: qid.to_string(),
                    message,
                })?
            }
            (Some(lambda), SearchMode::Dense | SearchMode::Hybrid) => {
                let qv = retriever.embed_query(text)?;
                let ranked = retriever.rank_with_vector(text, Some(&qv), &search);
                cairn_rag::asker::mmr_head(retriever, ranked, lambda, MMR_DEPTH)
            }
            _ => retriever.rank(text, &search)?,
        };
        Ok(ranked
            .iter()
            .map(|s| retriever.searcher.doc_id(s.pos).to_string())
            .collect())
    })
}

/// A ranking of one query (`qid`, `text`) as the document ids of the chunks found, best first.
pub type DocRanker<'a> = dyn FnMut(&str, &str) -> Result<Vec<String>, BeirError> + 'a;

/// Scores any ranking: `rank(qid, text)` gives the ids of the documents of the chunks it
/// found, best first (repeats allowed: a document ranks where its best chunk ranks), from
/// any retriever (a database store, another system). What [`evaluate_with`] measures, and
/// the latency it reports is `rank`'s.
pub fn evaluate_ranked(
    ds: &BeirDataset,
    split: &str,
    opts: &EvalOptions,
    rank: &mut DocRanker,
) -> Result<EvalReport, BeirError> {
    let queries = &ds.queries[..opts.max_queries.unwrap_or(usize::MAX).min(ds.queries.len())];
    let mut lat = Vec::with_capacity(queries.len());
    let mut ranking = Vec::with_capacity(queries.len());
    let mut per_query = BTreeMap::new();
    for (qid, text) in queries {
        let t = Instant::now();
        let ranked = rank(qid, text)?;
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
        let mut seen = HashSet::new();
        let docs: Vec<&str> = ranked
            .iter()
            .map(|d| corpus_id(d))
            .filter(|d| seen.insert(*d) && *d != qid.as_str())
            .take(opts.k)
            .collect();
        per_query.insert(qid.clone(), QueryScores::of(&docs, &ds.qrels[qid]));
        ranking.push((qid.clone(), docs.iter().map(|d| d.to_string()).collect()));
    }
    lat.sort_by(|a, b| a.total_cmp(b));
    Ok(EvalReport {
        dataset: ds.dir.display().to_string(),
        split: split.to_string(),
        mode: opts.mode.as_str().to_string(),
        mmr: opts.mmr,
        ranker: opts.ranker_name.clone(),
        queries: queries.len(),
        mean: QueryScores::mean(per_query.values()),
        query_latency_ms_p50: percentile(&lat, 0.5),
        query_latency_ms_p95: percentile(&lat, 0.95),
        per_query,
        ranking,
    })
}

#[cfg(test)]
mod tests {
    use super::{corpus_id, EvalReport, QueryScores};
    use std::collections::BTreeMap;

    /// The report's JSON, key by key and in order: the means sit beside the other fields under
    /// trec_eval-style names, each query's scores under the same names, the ranking left out.
    #[test]
    fn report_json_keys_are_pinned() {
        let q = QueryScores {
            ndcg_10: 0.5,
            recall_10: 0.25,
            recall_100: 1.0,
            mrr_10: 0.125,
        };
        let mut r = EvalReport {
            dataset: "ds".into(),
            split: "test".into(),
            mode: "hybrid".into(),
            mmr: None,
            ranker: None,
            queries: 1,
            mean: q,
            query_latency_ms_p50: 1.5,
            query_latency_ms_p95: 2.5,
            per_query: BTreeMap::from([("q1".to_string(), q)]),
            ranking: vec![("q1".into(), vec!["a".into()])],
        };
        let scores = r#""ndcg@10":0.5,"recall@10":0.25,"recall@100":1.0,"mrr@10":0.125"#;
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            format!(
                r#"{{"dataset":"ds","split":"test","mode":"hybrid","queries":1,{scores},"query_latency_ms_p50":1.5,"query_latency_ms_p95":2.5,"per_query":{{"q1":{{{scores}}}}}}}"#
            )
        );
        r.mmr = Some(0.5);
        r.ranker = Some("hyde".into());
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(
            (v["mmr"].as_f64(), v["ranker"].as_str()),
            (Some(0.5), Some("hyde"))
        );
    }

    #[test]
    fn corpus_ids_are_recovered_from_scoped_and_bare_ids() {
        assert_eq!(corpus_id("corpus.jsonl#4983"), "4983");
        assert_eq!(corpus_id("/data/scifact/corpus.jsonl#a#b"), "a#b");
        assert_eq!(corpus_id("d%231/CORPUS.JSONL#x"), "x");
        // Bare ids of older indexes, and ids of other files, are kept whole.
        assert_eq!(corpus_id("4983"), "4983");
        assert_eq!(corpus_id("notes.md#3"), "notes.md#3");
    }
}
