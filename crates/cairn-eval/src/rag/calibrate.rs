//! Calibrating the faithfulness metric against people: run it on responses whose support by
//! their evidence people labelled, and report agreement (accuracy, Cohen's kappa, Spearman),
//! so a judge model is picked on evidence. Without a judge the offline stand-in is scored:
//! the share of the response's sentences that cairn's lexical check finds in the evidence.

use std::collections::BTreeMap;
use std::path::Path;

use futures::StreamExt;
use serde::Serialize;

use super::agreement::{agreement, Agreement};
use super::dataset::DatasetError;
use super::evaluate::Progress;
use super::judge::{self, JudgeModels};
use super::metric::Metric;
use super::run::{Meter, MetricCost};
use super::sample::{Context, EvalSample, Response};

/// A response people judged: is it supported by `context`?
#[derive(Debug, Clone, PartialEq)]
pub struct Labelled {
    /// `file:line`, for the reasons list.
    pub at: String,
    pub question: String,
    pub response: String,
    pub context: String,
    pub supported: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum LabelsError {
    #[error(transparent)]
    Begin(#[from] crate::calibrate::CalibrationError),
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    #[error("{path}, {at}: {message}")]
    Bad {
        path: String,
        at: String,
        message: String,
    },
}

/// Reads labels: BEGIN `.tsv` files (a file or a folder of them; `Fully attributable` is
/// supported), or JSON Lines / CSV with `response` (or `answer`), `context` (or `knowledge`,
/// or `contexts` as a list), `label` (true/false, 1/0, `supported`/`unsupported`) and an
/// optional `question`.
pub fn load_labels(path: &Path) -> Result<Vec<Labelled>, LabelsError> {
    let tsv = path.is_dir() || path.extension().is_some_and(|e| e == "tsv");
    if tsv {
        return Ok(crate::calibrate::load(path)?
            .into_iter()
            .map(|j| Labelled {
                at: format!("{}:{}", j.file, j.line),
                question: String::new(),
                supported: j.supported(),
                response: j.response,
                context: j.knowledge,
            })
            .collect());
    }
    let p = path.display().to_string();
    let rows = super::dataset::raw_records(path)?;
    rows.into_iter()
        .map(|(at, rec)| {
            let bad = |m: &str| LabelsError::Bad {
                path: p.clone(),
                at: at.clone(),
                message: m.to_string(),
            };
            let s = |k: &str| rec.get(k).and_then(|v| v.as_str()).map(str::to_string);
            let response = s("response")
                .or_else(|| s("answer"))
                .ok_or_else(|| bad("no `response` (or `answer`)"))?;
            let context = match (s("context").or_else(|| s("knowledge")), rec.get("contexts")) {
                (Some(c), _) => c,
                (None, Some(serde_json::Value::Array(a))) => a
                    .iter()
                    .filter_map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join("\n"),
                _ => return Err(bad("no `context` (or `knowledge`, `contexts`)")),
            };
            let supported = match rec.get("label") {
                Some(serde_json::Value::Bool(b)) => *b,
                Some(serde_json::Value::Number(n)) => n.as_f64().is_some_and(|v| v >= 0.5),
                Some(serde_json::Value::String(t)) => {
                    match t.trim().to_ascii_lowercase().as_str() {
                        "1" | "true" | "yes" | "supported" | "fully attributable" => true,
                        "0"
                        | "false"
                        | "no"
                        | "unsupported"
                        | "not supported"
                        | "not fully attributable"
                        | "generic" => false,
                        other => {
                            return Err(bad(&format!(
                                "`label` {other:?}: use true/false, 1/0 or supported/unsupported"
                            )))
                        }
                    }
                }
                _ => {
                    return Err(bad(
                        "no `label`: true when people judged the response supported",
                    ))
                }
            };
            Ok(Labelled {
                at: format!("{p}:{at}"),
                question: s("question").unwrap_or_default(),
                response,
                context,
                supported,
            })
        })
        .collect()
}

/// What calibrating found.
#[derive(Debug, Clone, Serialize)]
pub struct CalibrationReport {
    /// `faithfulness (judge MODEL)` or `lexical faithfulness`.
    pub scorer: String,
    pub rows: usize,
    /// Labels people marked supported.
    pub supported: usize,
    /// A score at or above this counts as "supported".
    pub threshold: f64,
    pub agreement: Agreement,
    /// The threshold with the best kappa on these labels, and its agreement (an optimistic
    /// figure: chosen on the same data).
    pub best_threshold: f64,
    pub best: Agreement,
    /// Why rows went unscored: reason → count.
    pub unscored: BTreeMap<String, usize>,
    pub cost: MetricCost,
}

/// The offline stand-in for faithfulness: the share of the response's sentences whose
/// content the lexical check finds in the context.
pub fn lexical_faithfulness(response: &str, context: &str) -> Option<f64> {
    let sentences: Vec<_> = cairn_rag::cite::sentences(response)
        .into_iter()
        .filter(|s| s.text.chars().any(char::is_alphanumeric))
        .collect();
    if sentences.is_empty() {
        return None;
    }
    let ok = sentences
        .iter()
        .filter(|s| cairn_rag::verify::lexical(&s.text, context).passed())
        .count();
    Some(ok as f64 / sentences.len() as f64)
}

/// Scores every labelled response and measures agreement with the labels.
pub async fn calibrate(
    rows: &[Labelled],
    judge: Option<&JudgeModels>,
    threshold: f64,
    concurrency: usize,
    progress: &dyn Progress,
) -> CalibrationReport {
    let meter = Meter::default();
    progress.start("judging", rows.len());
    let meter_ref = &meter;
    let scores: Vec<Result<f64, String>> = futures::stream::iter(rows)
        .map(|r| async move {
            let out = match judge {
                None => lexical_faithfulness(&r.response, &r.context)
                    .ok_or_else(|| "no statements".to_string()),
                Some(j) => {
                    let sample = EvalSample {
                        id: r.at.clone(),
                        question: r.question.clone(),
                        ..Default::default()
                    };
                    let response = Response {
                        answer: r.response.clone(),
                        contexts: vec![Context {
                            text: r.context.clone(),
                            ..Default::default()
                        }],
                        answered: true,
                        ..Default::default()
                    };
                    let m =
                        judge::score(Metric::Faithfulness, j, &sample, &response, meter_ref).await;
                    m.value.ok_or_else(|| m.reason.unwrap_or_default())
                }
            };
            progress.tick();
            out
        })
        .buffered(concurrency.max(1))
        .collect()
        .await;
    progress.finish();
    let mut unscored: BTreeMap<String, usize> = BTreeMap::new();
    let (mut xs, mut labels) = (Vec::new(), Vec::new());
    for (r, s) in rows.iter().zip(scores) {
        match s {
            Ok(v) => {
                xs.push(v);
                labels.push(r.supported);
            }
            Err(why) => {
                let key = why.split(':').next().unwrap_or(&why).trim().to_string();
                *unscored.entry(key).or_default() += 1;
            }
        }
    }
    let (best_threshold, best) = (1..=20)
        .map(|i| i as f64 / 20.0)
        .map(|t| (t, agreement(&xs, &labels, t)))
        .max_by(|a, b| {
            a.1.kappa
                .unwrap_or(-1.0)
                .total_cmp(&b.1.kappa.unwrap_or(-1.0))
                .then(b.0.total_cmp(&a.0))
        })
        .expect("twenty thresholds");
    CalibrationReport {
        scorer: match judge {
            Some(j) => format!("faithfulness (judge {})", j.chat.id()),
            None => "lexical faithfulness (no judge)".into(),
        },
        rows: rows.len(),
        supported: rows.iter().filter(|r| r.supported).count(),
        threshold,
        agreement: agreement(&xs, &labels, threshold),
        best_threshold,
        best,
        unscored,
        cost: meter.cost(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexical_faithfulness_counts_sentences() {
        let ctx = "Hikers build cairns to mark a trail where the ground is bare rock.";
        let v = lexical_faithfulness(
            "Hikers build cairns to mark a trail. Cairns glow at night in 1850.",
            ctx,
        );
        assert_eq!(v, Some(0.5));
        assert_eq!(lexical_faithfulness("", ctx), None);
    }

    #[test]
    fn labels_from_jsonl_and_errors_name_the_line() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("labels.jsonl");
        std::fs::write(
            &p,
            "{\"response\":\"a\",\"context\":\"b\",\"label\":1}\n{\"answer\":\"c\",\"contexts\":[\"d\",\"e\"],\"label\":\"unsupported\"}\n",
        )
        .unwrap();
        let rows = load_labels(&p).unwrap();
        assert!(rows[0].supported && !rows[1].supported);
        assert_eq!(rows[1].context, "d\ne");
        std::fs::write(
            &p,
            "{\"response\":\"a\",\"context\":\"b\",\"label\":\"maybe\"}\n",
        )
        .unwrap();
        let e = load_labels(&p).unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("`label`"), "{e}");
    }

    #[test]
    fn calibrating_the_lexical_scorer_on_begin_files() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("begin_dev_x.tsv");
        std::fs::write(
            &p,
            "model_name\tdata_source\tknowledge\tmessage\tresponse\tbegin_label\n\
             m\tx\tHikers build cairns to mark a trail on bare rock.\tq\tHikers build cairns to mark a trail.\tFully attributable\n\
             m\tx\tHikers build cairns to mark a trail on bare rock.\tq\tCairns were invented in 1850 by sailors.\tNot fully attributable\n",
        )
        .unwrap();
        let rows = load_labels(&p).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let r = rt.block_on(calibrate(
            &rows,
            None,
            1.0,
            2,
            &super::super::evaluate::Quiet,
        ));
        assert_eq!((r.rows, r.supported), (2, 1));
        assert_eq!(r.agreement.accuracy, 1.0);
        assert_eq!(r.agreement.kappa, Some(1.0));
    }
}
