//! Calibrating citation verifiers against people: how often does a verifier call a response
//! supported when people judged it not? Reads BEGIN-format judgement files (Dziri et al.,
//! TACL 2022: an evidence passage, a generated response and a human label) and scores the
//! lexical check across thresholds and rule sets, or a judge model's verdicts.
//!
//! ```
//! use cairn_eval::calibrate::{confusion, auc};
//! let labels = [true, true, false, false];
//! let c = confusion(&[true, false, true, false], &labels);
//! assert_eq!((c.tp, c.fp, c.fn_, c.tn), (1, 1, 1, 1));
//! assert_eq!(auc(&[0.9, 0.8, 0.3, 0.1], &labels), 1.0);
//! ```

use std::path::{Path, PathBuf};

use cairn_rag::verify::{lexical_at, Rules};
use serde::Serialize;

/// One human judgement: is `response` supported by `knowledge`?
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Judgement {
    /// The file's name, e.g. `begin_dev_wow.tsv`.
    pub file: String,
    pub line: usize,
    pub knowledge: String,
    pub response: String,
    /// The label as written (`Fully attributable`, `Not fully attributable`, `Generic`).
    pub label: String,
}

impl Judgement {
    /// People judged the response fully supported by the evidence. `Generic` responses
    /// ("haha") state nothing the evidence supports, so they count as not supported.
    pub fn supported(&self) -> bool {
        self.label == "Fully attributable"
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CalibrationError {
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: no begin_*.tsv files in this folder (pass a folder of BEGIN judgement files or one .tsv file)")]
    NoFiles { path: PathBuf },
    #[error("{path}: the header lacks the column `{column}` (BEGIN files have model_name, data_source, knowledge, message, response, begin_label)")]
    MissingColumn { path: PathBuf, column: &'static str },
    #[error("{path} line {line}: {found} tab-separated fields, the header has {expected}")]
    BadRow {
        path: PathBuf,
        line: usize,
        found: usize,
        expected: usize,
    },
    #[error("{path} line {line}: unknown label `{label}` (expected Fully attributable, Not fully attributable or Generic)")]
    BadLabel {
        path: PathBuf,
        line: usize,
        label: String,
    },
}

/// Reads one BEGIN `.tsv` file, or every `*.tsv` file in a folder (sorted by name).
pub fn load(path: &Path) -> Result<Vec<Judgement>, CalibrationError> {
    let files = if path.is_dir() {
        let rd = std::fs::read_dir(path).map_err(|source| CalibrationError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut v: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "tsv"))
            .collect();
        v.sort();
        if v.is_empty() {
            return Err(CalibrationError::NoFiles {
                path: path.to_path_buf(),
            });
        }
        v
    } else {
        vec![path.to_path_buf()]
    };
    let mut out = Vec::new();
    for f in files {
        out.extend(load_file(&f)?);
    }
    Ok(out)
}

fn load_file(path: &Path) -> Result<Vec<Judgement>, CalibrationError> {
    let text = std::fs::read_to_string(path).map_err(|source| CalibrationError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split('\t').collect();
    let col = |column: &'static str| {
        header
            .iter()
            .position(|h| h.trim() == column)
            .ok_or_else(|| CalibrationError::MissingColumn {
                path: path.to_path_buf(),
                column,
            })
    };
    let (k, r, l) = (col("knowledge")?, col("response")?, col("begin_label")?);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut out = Vec::new();
    for (i, line) in lines.enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() != header.len() {
            return Err(CalibrationError::BadRow {
                path: path.to_path_buf(),
                line: i + 2,
                found: f.len(),
                expected: header.len(),
            });
        }
        let label = f[l].trim().to_string();
        if !matches!(
            label.as_str(),
            "Fully attributable" | "Not fully attributable" | "Generic"
        ) {
            return Err(CalibrationError::BadLabel {
                path: path.to_path_buf(),
                line: i + 2,
                label,
            });
        }
        out.push(Judgement {
            file: name.clone(),
            line: i + 2,
            knowledge: f[k].to_string(),
            response: f[r].to_string(),
            label,
        });
    }
    Ok(out)
}

/// Counts of a verifier's calls against people's labels ("positive" = supported).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Confusion {
    pub tp: usize,
    pub fp: usize,
    pub tn: usize,
    #[serde(rename = "fn")]
    pub fn_: usize,
}

impl Confusion {
    /// Of the responses called supported, the share people judged supported.
    pub fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }
    /// Of the responses people judged supported, the share called supported.
    pub fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }
    /// Of the responses people judged not supported, the share called supported.
    pub fn false_verified_rate(&self) -> f64 {
        ratio(self.fp, self.fp + self.tn)
    }
    pub fn f_beta(&self, beta: f64) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        let b2 = beta * beta;
        if p + r == 0.0 || p.is_nan() {
            0.0
        } else {
            (1.0 + b2) * p * r / (b2 * p + r)
        }
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        f64::NAN
    } else {
        a as f64 / b as f64
    }
}

pub fn confusion(predicted: &[bool], labels: &[bool]) -> Confusion {
    let mut c = Confusion::default();
    for (&p, &l) in predicted.iter().zip(labels) {
        match (p, l) {
            (true, true) => c.tp += 1,
            (true, false) => c.fp += 1,
            (false, false) => c.tn += 1,
            (false, true) => c.fn_ += 1,
        }
    }
    c
}

/// Area under the ROC curve: the chance a supported response scores above an unsupported
/// one (ties count half).
pub fn auc(scores: &[f32], labels: &[bool]) -> f64 {
    let pos: Vec<f32> = scores
        .iter()
        .zip(labels)
        .filter(|x| *x.1)
        .map(|x| *x.0)
        .collect();
    let neg: Vec<f32> = scores
        .iter()
        .zip(labels)
        .filter(|x| !*x.1)
        .map(|x| *x.0)
        .collect();
    if pos.is_empty() || neg.is_empty() {
        return f64::NAN;
    }
    let mut wins = 0.0;
    for p in &pos {
        for n in &neg {
            wins += if p > n {
                1.0
            } else if p == n {
                0.5
            } else {
                0.0
            };
        }
    }
    wins / (pos.len() * neg.len()) as f64
}

/// The lexical check's two parts for one judgement: its overlap score and whether the hard
/// rules passed, so any threshold can be applied afterwards.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LexicalScore {
    pub score: f32,
    pub rules_pass: bool,
}

pub fn lexical_scores(rows: &[Judgement], rules: Rules) -> Vec<LexicalScore> {
    rows.iter()
        .map(|r| {
            let c = lexical_at(&r.response, &r.knowledge, 0.0, rules);
            LexicalScore {
                score: c.score,
                rules_pass: c.mismatch.is_none(),
            }
        })
        .collect()
}

pub fn predict(scores: &[LexicalScore], threshold: f32) -> Vec<bool> {
    scores
        .iter()
        .map(|s| s.rules_pass && s.score >= threshold)
        .collect()
}

/// Thresholds tried when calibrating: 0.30, 0.35, …, 1.00.
pub fn thresholds() -> Vec<f32> {
    (6..=20).map(|i| i as f32 * 0.05).collect()
}

/// The threshold with the best F-beta (beta 0.5 weighs precision twice: a false "verified"
/// costs more than a missed one); the higher threshold on a tie.
pub fn choose_threshold(scores: &[LexicalScore], labels: &[bool], beta: f64) -> f32 {
    let mut best = (1.0f32, -1.0f64);
    for t in thresholds() {
        let f = confusion(&predict(scores, t), labels).f_beta(beta);
        if f >= best.1 - 1e-12 {
            best = (t, f);
        }
    }
    best.0
}

/// One line of a calibration report.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub name: String,
    pub threshold: Option<f32>,
    pub n: usize,
    pub confusion: Confusion,
    pub precision: f64,
    pub recall: f64,
    pub false_verified_rate: f64,
}

impl Row {
    pub fn new(name: impl Into<String>, threshold: Option<f32>, c: Confusion) -> Row {
        Row {
            name: name.into(),
            threshold,
            n: c.tp + c.fp + c.tn + c.fn_,
            confusion: c,
            precision: c.precision(),
            recall: c.recall(),
            false_verified_rate: c.false_verified_rate(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct LexicalReport {
    pub rows: usize,
    pub supported: usize,
    /// AUC of the overlap score alone (how well it ranks), and with the rules applied (a
    /// failed rule scores 0).
    pub auc_overlap: f64,
    pub auc_with_rules: f64,
    /// The threshold the calibration picks on all the files (F0.5).
    pub chosen_threshold: f32,
    /// The verifier cairn ships, the old one, each rule alone, per file, and leave-one-file-out.
    pub table: Vec<Row>,
    /// Every threshold with all rules on.
    pub sweep: Vec<Row>,
}

/// Scores the lexical verifier on `rows`: the shipped setting (`shipped` threshold, all
/// rules), the previous one (0.5, no rules), each rule's contribution, each file, and a
/// leave-one-file-out estimate (threshold chosen on the other files).
pub fn lexical_report(rows: &[Judgement], shipped: f32) -> LexicalReport {
    let labels: Vec<bool> = rows.iter().map(Judgement::supported).collect();
    let all = lexical_scores(rows, Rules::ALL);
    let none = lexical_scores(rows, Rules::NONE);
    let chosen = choose_threshold(&all, &labels, 0.5);
    let mut table = vec![
        Row::new(
            "shipped: all rules",
            Some(shipped),
            confusion(&predict(&all, shipped), &labels),
        ),
        Row::new(
            "previous: overlap only",
            Some(0.5),
            confusion(&predict(&none, 0.5), &labels),
        ),
        Row::new(
            "overlap only",
            Some(shipped),
            confusion(&predict(&none, shipped), &labels),
        ),
    ];
    let one = |f: fn(&mut Rules)| {
        let mut r = Rules::NONE;
        f(&mut r);
        r
    };
    for (name, rules) in [
        ("+ numbers", one(|r| r.numbers = true)),
        ("+ names", one(|r| r.names = true)),
        ("+ negation", one(|r| r.negation = true)),
        ("+ speaker", one(|r| r.speaker = true)),
    ] {
        let s = lexical_scores(rows, rules);
        table.push(Row::new(
            format!("overlap {name}"),
            Some(shipped),
            confusion(&predict(&s, shipped), &labels),
        ));
    }
    let mut files: Vec<&str> = rows.iter().map(|r| r.file.as_str()).collect();
    files.dedup();
    for f in &files {
        let idx: Vec<usize> = (0..rows.len()).filter(|&i| rows[i].file == *f).collect();
        let s: Vec<LexicalScore> = idx.iter().map(|&i| all[i]).collect();
        let l: Vec<bool> = idx.iter().map(|&i| labels[i]).collect();
        table.push(Row::new(
            format!("{f}: shipped"),
            Some(shipped),
            confusion(&predict(&s, shipped), &l),
        ));
        if files.len() > 1 {
            let rest: Vec<usize> = (0..rows.len()).filter(|&i| rows[i].file != *f).collect();
            let rs: Vec<LexicalScore> = rest.iter().map(|&i| all[i]).collect();
            let rl: Vec<bool> = rest.iter().map(|&i| labels[i]).collect();
            let t = choose_threshold(&rs, &rl, 0.5);
            table.push(Row::new(
                format!("{f}: threshold chosen on the other files"),
                Some(t),
                confusion(&predict(&s, t), &l),
            ));
        }
    }
    let ruled: Vec<f32> = all
        .iter()
        .map(|s| if s.rules_pass { s.score } else { 0.0 })
        .collect();
    LexicalReport {
        rows: rows.len(),
        supported: labels.iter().filter(|l| **l).count(),
        auc_overlap: auc(&none.iter().map(|s| s.score).collect::<Vec<_>>(), &labels),
        auc_with_rules: auc(&ruled, &labels),
        chosen_threshold: chosen,
        table,
        sweep: thresholds()
            .into_iter()
            .map(|t| {
                Row::new(
                    format!("all rules at {t:.2}"),
                    Some(t),
                    confusion(&predict(&all, t), &labels),
                )
            })
            .collect(),
    }
}

/// A judge model's verdicts against people's labels. Judgements the judge could not score
/// (a failed call, a reply that is no verdict) are listed with their reason and left out of
/// the confusion counts.
#[derive(Debug, Clone, Serialize)]
pub struct JudgeReport {
    pub judge: String,
    pub rows: usize,
    pub scored: usize,
    pub row: Row,
    /// `file:line: reason` for every judgement the judge gave no verdict on.
    pub unscored: Vec<String>,
}

/// Asks `judge` about every judgement, `concurrency` at a time; `done` is told each finished
/// one (for a progress bar).
pub async fn judge_report(
    rows: &[Judgement],
    judge: &cairn_rag::verify::Judge,
    concurrency: usize,
    done: &(dyn Fn() + Sync),
) -> JudgeReport {
    use futures::StreamExt;
    let verdicts: Vec<_> = futures::stream::iter(rows.iter().map(|r| async move {
        let v = judge.judge(&r.response, &r.knowledge).await;
        done();
        v
    }))
    .buffered(concurrency.max(1))
    .collect()
    .await;
    let mut predicted = Vec::new();
    let mut labels = Vec::new();
    let mut unscored = Vec::new();
    for (r, v) in rows.iter().zip(verdicts) {
        match v {
            Ok(v) => {
                predicted.push(v.entailed);
                labels.push(r.supported());
            }
            Err(e) => unscored.push(format!("{}:{}: {e}", r.file, r.line)),
        }
    }
    JudgeReport {
        judge: judge.model_id(),
        rows: rows.len(),
        scored: predicted.len(),
        row: Row::new(
            format!("judge {}", judge.model_id()),
            None,
            confusion(&predicted, &labels),
        ),
        unscored,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        p
    }

    const HEADER: &str = "model_name\tdata_source\tknowledge\tmessage\tresponse\tbegin_label\n";

    #[test]
    fn loads_files_and_names_bad_rows() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "a.tsv",
            &format!("{HEADER}gpt2\twow\tCairns mark trails.\thi\tCairns mark trails.\tFully attributable\nt5\twow\tCairns mark trails.\thi\thaha\tGeneric"),
        );
        let rows = load(d.path()).unwrap();
        assert_eq!(rows.len(), 2);
        assert!(rows[0].supported() && !rows[1].supported());
        assert_eq!((rows[1].file.as_str(), rows[1].line), ("a.tsv", 3));
        let bad = write(d.path(), "b.tsv", &format!("{HEADER}x\ty\tz"));
        let e = load(&bad).unwrap_err().to_string();
        assert!(
            e.contains("b.tsv line 2") && e.contains("3 tab-separated"),
            "{e}"
        );
        let lbl = write(d.path(), "c.tsv", &format!("{HEADER}a\tb\tc\td\te\tMaybe"));
        assert!(load(&lbl)
            .unwrap_err()
            .to_string()
            .contains("unknown label `Maybe`"));
        let empty = tempfile::tempdir().unwrap();
        assert!(matches!(
            load(empty.path()),
            Err(CalibrationError::NoFiles { .. })
        ));
    }

    #[test]
    fn metrics_and_threshold_choice() {
        let c = confusion(&[true, true, true, false], &[true, false, false, false]);
        assert_eq!(c.precision(), 1.0 / 3.0);
        assert_eq!(c.recall(), 1.0);
        assert_eq!(c.false_verified_rate(), 2.0 / 3.0);
        assert_eq!(auc(&[0.5, 0.5], &[true, false]), 0.5);
        // Supported responses score 0.9; unsupported 0.6 and 0.95 with a failed rule.
        let s = [
            LexicalScore {
                score: 0.9,
                rules_pass: true,
            },
            LexicalScore {
                score: 0.6,
                rules_pass: true,
            },
            LexicalScore {
                score: 0.95,
                rules_pass: false,
            },
        ];
        let l = [true, false, false];
        let t = choose_threshold(&s, &l, 0.5);
        assert!(t > 0.6 && t <= 0.9, "{t}");
        assert_eq!(confusion(&predict(&s, t), &l).fp, 0);
    }
}
