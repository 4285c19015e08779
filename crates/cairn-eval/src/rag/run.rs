//! A whole evaluation run: every sample's result, the summary per metric with its interval and
//! coverage, and what judging cost. This is the file `cairn eval rag --json` / `--out` writes,
//! the HTML report renders and `cairn eval compare` reads.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use super::sample::SampleResult;
use super::stats;

/// The run file's format version; a reader refuses others.
pub const RUN_VERSION: u32 = 1;

/// One metric over the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Mean over the scored samples; `None` when none could be scored.
    pub mean: Option<f64>,
    /// 95% bootstrap interval of the mean.
    #[serde(default)]
    pub ci95: Option<(f64, f64)>,
    /// Samples scored.
    pub n: usize,
    /// Samples in the run.
    pub total: usize,
    /// Why the others were not scored: reason (up to its first `:`) → count.
    #[serde(default)]
    pub skipped: BTreeMap<String, usize>,
}

/// What judging one metric cost.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricCost {
    /// Calls made to the judge model (or embedder), cached ones included.
    pub calls: u64,
    /// Of those, served by the on-disk cache (free).
    pub cached: u64,
    /// Dollars as the ledger priced them; 0 for cached and local calls.
    pub usd: f64,
}

/// A run of `cairn eval rag`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RagRun {
    pub version: u32,
    /// Seconds since the Unix epoch when the run started.
    pub created_unix: u64,
    /// The dataset file, as given.
    pub dataset: String,
    /// What answered: `cairn ask` with its index and model, or the answers file.
    pub system: String,
    /// The judge model, when judge metrics ran.
    #[serde(default)]
    pub judge: Option<String>,
    /// The metrics scored, in order.
    pub metrics: Vec<String>,
    pub summary: BTreeMap<String, Summary>,
    /// Judging cost per metric.
    #[serde(default)]
    pub judge_cost: BTreeMap<String, MetricCost>,
    /// What answering cost (0 for answers read from a file or a local model).
    #[serde(default)]
    pub answer_cost_usd: f64,
    /// Wall time of the whole run.
    #[serde(default)]
    pub seconds: f64,
    pub samples: Vec<SampleResult>,
}

/// Why a run file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum RunFileError {
    #[error("{path}: cannot read the run file: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: not a run file of `cairn eval rag --out` ({message})")]
    Format { path: String, message: String },
}

impl RagRun {
    /// Recomputes every metric's summary from the samples.
    pub fn summarize(&mut self) {
        self.summary = self
            .metrics
            .iter()
            .map(|m| (m.clone(), summarize(m, &self.samples)))
            .collect();
    }

    /// Per-sample values of a metric (`None` where it was not scored), in sample order.
    pub fn values(&self, metric: &str) -> Vec<Option<f64>> {
        self.samples
            .iter()
            .map(|s| s.metrics.get(metric).and_then(|r| r.value))
            .collect()
    }

    /// Writes the run as JSON, whole or not at all (temporary file, then rename).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
        let tmp = path.with_extension("json.part");
        if let Some(d) = dir {
            std::fs::create_dir_all(d)?;
        }
        std::fs::write(&tmp, json)?;
        std::fs::rename(&tmp, path)
    }

    pub fn load(path: &Path) -> Result<RagRun, RunFileError> {
        let p = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| RunFileError::Io {
            path: p.clone(),
            source,
        })?;
        let run: RagRun = serde_json::from_slice(&bytes).map_err(|e| RunFileError::Format {
            path: p.clone(),
            message: e.to_string(),
        })?;
        if run.version != RUN_VERSION {
            return Err(RunFileError::Format {
                path: p,
                message: format!("version {}, this cairn reads {RUN_VERSION}", run.version),
            });
        }
        Ok(run)
    }
}

/// One metric's summary over the samples.
pub fn summarize(metric: &str, samples: &[SampleResult]) -> Summary {
    let mut values = Vec::new();
    let mut skipped: BTreeMap<String, usize> = BTreeMap::new();
    for s in samples {
        match s.metrics.get(metric) {
            Some(r) => match r.value {
                Some(v) => values.push(v),
                None => {
                    let reason = r.reason.as_deref().unwrap_or("no reason recorded");
                    let key = reason.split(':').next().unwrap_or(reason).trim();
                    *skipped.entry(key.to_string()).or_default() += 1;
                }
            },
            None => *skipped.entry("not scored".into()).or_default() += 1,
        }
    }
    Summary {
        mean: stats::mean(&values),
        ci95: stats::bootstrap_ci(&values),
        n: values.len(),
        total: samples.len(),
        skipped,
    }
}

/// Counts what one metric's judge calls cost, from the `Served` facts each response carries.
/// Shared by the concurrent tasks scoring that metric.
#[derive(Debug, Default)]
pub struct Meter {
    calls: AtomicU64,
    cached: AtomicU64,
    /// Dollars × 10⁹, so atomics can add them.
    nano_usd: AtomicU64,
}

impl Meter {
    /// Books one call of the judge model.
    pub fn record(&self, served: &cairn_llm::Served) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if served.from_cache {
            self.cached.fetch_add(1, Ordering::Relaxed);
        }
        let usd = served.cost_usd.unwrap_or(0.0).max(0.0);
        self.nano_usd
            .fetch_add((usd * 1e9).round() as u64, Ordering::Relaxed);
    }

    /// Books a call that has no `Served` (an embedding).
    pub fn record_call(&self, cached: bool) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if cached {
            self.cached.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn cost(&self) -> MetricCost {
        MetricCost {
            calls: self.calls.load(Ordering::Relaxed),
            cached: self.cached.load(Ordering::Relaxed),
            usd: self.nano_usd.load(Ordering::Relaxed) as f64 / 1e9,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rag::sample::MetricResult;

    fn sample(v: Option<f64>, reason: Option<&str>) -> SampleResult {
        let mut s = SampleResult::default();
        let r = match v {
            Some(v) => MetricResult::value(v),
            None => MetricResult::skipped(reason.unwrap()),
        };
        s.metrics.insert("f1".into(), r);
        s
    }

    #[test]
    fn summary_counts_coverage_and_reasons() {
        let samples = vec![
            sample(Some(1.0), None),
            sample(Some(0.0), None),
            sample(None, Some("parse failure: expected JSON")),
            sample(None, Some("parse failure: missing field")),
            sample(None, Some("no reference")),
            SampleResult::default(),
        ];
        let s = summarize("f1", &samples);
        assert_eq!(s.mean, Some(0.5));
        assert_eq!((s.n, s.total), (2, 6));
        assert_eq!(s.skipped["parse failure"], 2);
        assert_eq!(s.skipped["no reference"], 1);
        assert_eq!(s.skipped["not scored"], 1);
        let none = summarize("faithfulness", &samples);
        assert_eq!((none.mean, none.n), (None, 0));
    }

    #[test]
    fn run_files_round_trip_and_other_versions_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut run = RagRun {
            version: RUN_VERSION,
            metrics: vec!["f1".into()],
            samples: vec![sample(Some(1.0), None), sample(Some(0.5), None)],
            ..Default::default()
        };
        run.summarize();
        let p = dir.path().join("sub/run.json");
        run.save(&p).unwrap();
        assert_eq!(RagRun::load(&p).unwrap(), run);
        run.version = 99;
        run.save(&p).unwrap();
        let e = RagRun::load(&p).unwrap_err().to_string();
        assert!(e.contains("run.json") && e.contains("version 99"), "{e}");
        std::fs::write(&p, "{").unwrap();
        assert!(RagRun::load(&p)
            .unwrap_err()
            .to_string()
            .contains("not a run file"));
    }

    #[test]
    fn meter_adds_costs() {
        let m = Meter::default();
        let mut s = cairn_llm::Served {
            cost_usd: Some(0.25),
            ..Default::default()
        };
        m.record(&s);
        s.from_cache = true;
        s.cost_usd = Some(0.0);
        m.record(&s);
        let c = m.cost();
        assert_eq!((c.calls, c.cached), (2, 1));
        assert!((c.usd - 0.25).abs() < 1e-9);
    }
}
