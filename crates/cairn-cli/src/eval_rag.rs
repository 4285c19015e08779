//! `cairn eval rag`: ask a dataset's questions through the same pipeline as `cairn ask` (or
//! read answers produced elsewhere) and score the answers. The work is
//! `cairn_eval::rag::Evaluator`; this file parses flags and renders.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use cairn_eval::rag::{self, EvalSample, JudgeModels, Metric, RagRun, Response};
use cairn_rag::RetrieverSource;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::rag_args::{RagArgs, VerifyChoice};
use crate::Globals;

#[derive(clap::Args)]
#[command(after_help = "\
Datasets: JSON Lines or CSV (by the .csv name) with `question` and optionally `reference` \
(the gold answer; `ground_truth`, or `answer` in a dataset, are read as it), \
`reference_contexts` and `reference_doc_ids`. The questions are answered from the index \
(--index, CAIRN_INDEX, --store) exactly as `cairn ask` answers them. --answers FILE instead \
scores answers another system gave: `question`, `answer` (or `response`), `contexts` (or \
`retrieved_contexts`), optional `reference`; `[n]` markers in an answer cite contexts[n-1].

Metrics without a judge (always): exact_match, f1, contains (SQuAD normalisation), \
retrieval_hit, retrieval_recall, retrieval_mrr (reference documents among the contexts), \
citation_precision, citation_recall (ALCE, checked lexically; by the judge with --judge), \
refusal. With --judge MODEL also: faithfulness, answer_relevancy, context_precision, \
context_recall, factual_correctness (ragas's definitions; docs/eval-metrics.md). Judge \
calls are cached on disk (cairn's cache folder, judge/), so a rerun costs $0 and gives the \
same numbers.

Examples:
  cairn ingest samples/corpus
  cairn eval rag samples/eval/questions.jsonl --report eval.html
  cairn eval rag qa.csv --model openai:gpt-4o-mini --judge openai:gpt-4o --out run.json
  cairn eval rag --answers theirs.jsonl --judge openai:gpt-4o --fail-under faithfulness=0.8
  cairn eval compare before.json after.json")]
pub struct Args {
    /// The dataset of questions (JSONL or CSV)
    #[arg(required_unless_present = "answers")]
    dataset: Option<PathBuf>,
    /// Score the answers in this file (JSONL or CSV) instead of asking the questions
    #[arg(long, value_name = "FILE", conflicts_with = "dataset")]
    answers: Option<PathBuf>,
    /// provider:name of the answering model (see `cairn chat --help`)
    #[arg(short, long)]
    model: Option<String>,
    #[command(flatten)]
    rag: RagArgs,
    /// The embedding model answer_relevancy compares questions with: provider:model (openai,
    /// gemini or ollama) [default: the local all-MiniLM-L6-v2]
    #[arg(long, value_name = "MODEL", requires = "judge")]
    judge_embedder: Option<String>,
    /// Metrics to score, comma-separated [default: every metric the judge allows]
    #[arg(long, value_delimiter = ',', value_name = "METRIC,…")]
    metrics: Vec<Metric>,
    /// Score only the first N questions
    #[arg(long, value_name = "N")]
    max_questions: Option<usize>,
    /// Write the report, one self-contained HTML file
    #[arg(long, value_name = "FILE.html")]
    report: Option<PathBuf>,
    /// Write the run (every answer, score and verdict) as JSON, for `cairn eval compare`
    #[arg(long, value_name = "FILE.json")]
    out: Option<PathBuf>,
    /// Exit 1 when a metric's mean is below the value (repeatable), for CI
    #[arg(long = "fail-under", value_name = "METRIC=VALUE")]
    fail_under: Vec<String>,
    /// Questions answered and scored at once [default: 4; a local model answers one at a
    /// time, since it shares this machine's cores]
    #[arg(long)]
    concurrency: Option<usize>,
    /// Print the whole run as one JSON object
    #[arg(long)]
    json: bool,
}

/// `--fail-under` thresholds, checked against the metrics the run scores.
fn thresholds(specs: &[String], metrics: &[Metric]) -> Result<Vec<(Metric, f64)>> {
    specs
        .iter()
        .map(|s| {
            let (m, v) = s.split_once('=').with_context(|| {
                format!("--fail-under {s:?}: expected METRIC=VALUE, e.g. faithfulness=0.8")
            })?;
            let m: Metric = m.parse().map_err(|e| anyhow::anyhow!("--fail-under: {e}"))?;
            let v: f64 = v
                .trim()
                .parse()
                .ok()
                .filter(|v: &f64| (0.0..=1.0).contains(v))
                .with_context(|| format!("--fail-under {s:?}: the value is a number from 0 to 1"))?;
            if !metrics.contains(&m) {
                anyhow::bail!("--fail-under {s:?}: {m} is not among the metrics scored (--metrics, or --judge for judge metrics)");
            }
            Ok((m, v))
        })
        .collect()
}

struct Bar(ProgressBar);

impl Bar {
    fn new(hidden: bool) -> Self {
        let bar = ProgressBar::with_draw_target(
            Some(0),
            if hidden {
                ProgressDrawTarget::hidden()
            } else {
                ProgressDrawTarget::stderr()
            },
        );
        bar.set_style(
            ProgressStyle::with_template(
                "{msg:10} [{elapsed_precise}] {bar:30} {pos}/{len}  ETA {eta}",
            )
            .expect("static template")
            .progress_chars("=> "),
        );
        Bar(bar)
    }
}

impl rag::Progress for Bar {
    fn start(&self, what: &str, total: usize) {
        self.0.reset();
        self.0.set_length(total as u64);
        self.0.set_message(what.to_string());
    }
    fn tick(&self) {
        self.0.inc(1);
    }
    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

pub fn run(g: &Globals, a: Args) -> Result<ExitCode> {
    let mut rag_flags = a.rag.clone();
    // In `eval rag`, --judge names the judge of the metrics; --verify model still checks
    // the answers' citations with it as `ask` would.
    let judge_spec = rag_flags.judge.clone();
    if rag_flags.verify != VerifyChoice::Model {
        rag_flags.judge = None;
    }
    rag_flags.check()?;
    let started = std::time::Instant::now();
    if a.concurrency == Some(0) {
        anyhow::bail!("--concurrency 0: pass how many questions to work on at once (default 4)");
    }
    if a.max_questions == Some(0) {
        anyhow::bail!("--max-questions 0 leaves nothing to score: pass a positive number");
    }
    let metrics = if a.metrics.is_empty() {
        Metric::defaults(judge_spec.is_some())
    } else {
        let mut m = a.metrics.clone();
        m.dedup();
        m
    };
    if judge_spec.is_none() {
        let judged: Vec<&str> = metrics
            .iter()
            .filter(|m| m.needs_judge())
            .map(|m| m.name())
            .collect();
        if !judged.is_empty() {
            anyhow::bail!(
                "--metrics {}: these need a judge model: pass --judge provider:name",
                judged.join(",")
            );
        }
    }
    let fail_under = thresholds(&a.fail_under, &metrics)?;
    let rt = crate::runtime()?;
    let mut evaluator = rag::Evaluator::new(metrics).concurrency(a.concurrency.unwrap_or(4));
    let mut judge_name = None;
    if let Some(spec) = &judge_spec {
        let chat = g
            .config
            .judge_model(Some(spec))
            .with_context(|| format!("--judge {spec}"))?;
        let embedder: Option<Arc<dyn cairn_core::AsyncEmbedder>> = match (
            &a.judge_embedder,
            evaluator.metrics().contains(&Metric::AnswerRelevancy),
        ) {
            (_, false) => None,
            (Some(spec), true) => Some(Arc::new(
                rt.block_on(g.config.remote_embedder(spec))
                    .with_context(|| format!("--judge-embedder {spec}"))?,
            )),
            (None, true) => {
                let e = crate::models::load_embedder(g.model_dir.as_deref(), g.quiet)?;
                Some(Arc::new(cairn_core::BlockingEmbedder::new(e.embedder)))
            }
        };
        judge_name = Some(chat.id().to_string());
        evaluator = evaluator.judge(JudgeModels { chat, embedder });
    }
    evaluator.check()?;
    let bar = Bar::new(g.quiet || a.json);
    let (dataset, system, items) = match (&a.answers, &a.dataset) {
        (Some(file), _) => {
            let mut items = rag::load_answers(file)?;
            truncate(&mut items, a.max_questions);
            (
                file.display().to_string(),
                format!("answers from {}", file.display()),
                items,
            )
        }
        (None, Some(file)) => {
            let mut samples = rag::load_dataset(file)?;
            truncate(&mut samples, a.max_questions);
            let (system, items) = ask_all(g, &a, &rag_flags, samples, &bar, &rt)?;
            (file.display().to_string(), system, items)
        }
        (None, None) => anyhow::bail!("pass the dataset file, or --answers FILE"),
    };
    let mut run = rt.block_on(evaluator.run(&dataset, &system, items, &bar))?;
    run.seconds = started.elapsed().as_secs_f64();
    if let Some(p) = &a.out {
        run.save(p)
            .with_context(|| format!("--out {}: cannot write the run", p.display()))?;
    }
    if let Some(p) = &a.report {
        write_whole(p, rag::report::render_html(&run).as_bytes())
            .with_context(|| format!("--report {}: cannot write the report", p.display()))?;
    }
    if a.json {
        println!("{}", serde_json::to_string(&run)?);
    } else {
        print_summary(&run, judge_name.as_deref());
        if !g.quiet {
            for (flag, p) in [("run", &a.out), ("report", &a.report)] {
                if let Some(p) = p {
                    eprintln!("[{flag}: {}]", p.display());
                }
            }
        }
    }
    let failed: Vec<String> = fail_under
        .iter()
        .filter_map(|(m, min)| {
            let mean = run.summary.get(m.name()).and_then(|s| s.mean);
            match mean {
                Some(v) if v >= *min => None,
                Some(v) => Some(format!("{m} {v:.4} < {min}")),
                None => Some(format!("{m}: no sample scored (needs {min})")),
            }
        })
        .collect();
    if !failed.is_empty() {
        eprintln!("[--fail-under: {}]", failed.join("; "));
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn truncate<T>(v: &mut Vec<T>, n: Option<usize>) {
    if let Some(n) = n {
        v.truncate(n);
    }
}

/// Writes a file whole or not at all.
pub fn write_whole(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".part");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// Answers every question through the `cairn ask` pipeline these flags describe.
fn ask_all(
    g: &Globals,
    a: &Args,
    flags: &RagArgs,
    samples: Vec<EvalSample>,
    bar: &Bar,
    rt: &tokio::runtime::Runtime,
) -> Result<(String, Vec<(EvalSample, Response)>)> {
    let built = crate::llm::build(&g.config, a.model.as_deref(), false)?;
    let mut search = crate::search::options(g, flags.mode, None)?;
    let (retriever, where_): (RetrieverSource, String) = match &g.store {
        Some(url) => (
            crate::store::retriever(g, url, &mut search.mode, flags.mode.is_some(), rt)?.into(),
            url.to_string(),
        ),
        None => (
            Arc::new(crate::search::retriever(g, search.mode)?).into(),
            g.index.display().to_string(),
        ),
    };
    let mode = search.mode.as_str();
    let asker = flags.asker(
        g,
        retriever,
        built.model.clone(),
        search,
        a.model.as_deref(),
    )?;
    let system = format!(
        "cairn ask · index {where_} · model {} · {mode} retrieval · k {}",
        built.model.id(),
        flags.k
    );
    let local = built.model.profile().prompt == cairn_llm::model::PromptKind::Compact;
    let concurrency = a.concurrency.unwrap_or(if local { 1 } else { 4 });
    let items = rt.block_on(rag::evaluate::ask_all(&asker, samples, concurrency, bar));
    let failed = items.iter().filter(|(_, r)| r.error.is_some()).count();
    if failed == items.len() && !items.is_empty() {
        let e = items[0].1.error.clone().unwrap_or_default();
        anyhow::bail!("every question failed to answer; the first: {e}");
    }
    if failed > 0 && !g.quiet {
        eprintln!("[{failed} of {} questions failed to answer; they score nothing and the report says why]", items.len());
    }
    Ok((system, items))
}

fn print_summary(run: &RagRun, judge: Option<&str>) {
    println!(
        "{} questions · {}{}",
        run.samples.len(),
        run.system,
        judge.map(|j| format!(" · judge {j}")).unwrap_or_default()
    );
    println!(
        "{:<20} {:>7}  {:<17} {:>9}  not scored",
        "metric", "mean", "95% CI", "n/total"
    );
    for m in &run.metrics {
        let Some(s) = run.summary.get(m) else {
            continue;
        };
        let mean = s.mean.map_or("—".into(), |v| format!("{v:.4}"));
        let ci = s
            .ci95
            .map_or(String::new(), |(l, h)| format!("[{l:.3}, {h:.3}]"));
        let skipped: Vec<String> = s.skipped.iter().map(|(r, n)| format!("{n} {r}")).collect();
        println!(
            "{m:<20} {mean:>7}  {ci:<17} {:>9}  {}",
            format!("{}/{}", s.n, s.total),
            skipped.join(", ")
        );
    }
    let calls: u64 = run.judge_cost.values().map(|c| c.calls).sum();
    if calls > 0 {
        let cached: u64 = run.judge_cost.values().map(|c| c.cached).sum();
        let usd: f64 = run.judge_cost.values().map(|c| c.usd).sum();
        let per: Vec<String> = run
            .judge_cost
            .iter()
            .map(|(m, c)| format!("{m} {} calls ${:.4}", c.calls, c.usd))
            .collect();
        println!(
            "judge: {calls} calls ({cached} from the cache), ${usd:.4} — {}",
            per.join(", ")
        );
    }
    let mut ms: Vec<f64> = run
        .samples
        .iter()
        .filter_map(|s| s.response.latency_ms)
        .collect();
    ms.sort_by(f64::total_cmp);
    let median = if ms.is_empty() {
        String::new()
    } else {
        format!(" · {:.1} s per answer (median)", ms[ms.len() / 2] / 1e3)
    };
    println!(
        "answering: ${:.4}{median} · {:.1} s in all",
        run.answer_cost_usd, run.seconds
    );
}

#[derive(clap::Args)]
pub struct CompareArgs {
    /// The earlier run (`cairn eval rag --out A.json`)
    run_a: PathBuf,
    /// The later run
    run_b: PathBuf,
    /// Questions listed among those that got better and worse
    #[arg(long, default_value_t = 10)]
    top: usize,
    /// Write the comparison as one self-contained HTML file
    #[arg(long, value_name = "FILE.html")]
    report: Option<PathBuf>,
    /// Print the comparison as one JSON object
    #[arg(long)]
    json: bool,
}

pub fn compare(a: CompareArgs) -> Result<ExitCode> {
    let ra = RagRun::load(&a.run_a)?;
    let rb = RagRun::load(&a.run_b)?;
    let c = rag::compare::compare(&ra, &rb);
    if let Some(p) = &a.report {
        write_whole(p, rag::compare::render_compare_html(&c).as_bytes())
            .with_context(|| format!("--report {}: cannot write the report", p.display()))?;
    }
    if a.json {
        println!("{}", serde_json::to_string(&c)?);
    } else {
        print!("{}", rag::compare::render_text(&c, a.top));
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args)]
#[command(after_help = "\
Labels: BEGIN judgement files (a .tsv or a folder of them, e.g. \
../shared/data/judgements/begin-dev/; `Fully attributable` is supported), or JSON Lines / CSV \
with `response`, `context` (or `knowledge`, or a `contexts` list), `label` (true/false, 1/0, \
supported/unsupported) and an optional `question`. Each response is scored for faithfulness \
to its context, by the judge with --judge (cached on disk like every judge call), else by \
cairn's lexical check per sentence; a score at or above --threshold counts as supported.")]
pub struct CalibrateArgs {
    /// The human labels
    #[arg(long, value_name = "FILE|DIR")]
    labels: PathBuf,
    /// provider:name of the judge to calibrate [default: the lexical check, no model]
    #[arg(long, value_name = "MODEL")]
    judge: Option<String>,
    /// A faithfulness score at or above this counts as "supported" (0 to 1)
    #[arg(long, default_value_t = 1.0)]
    threshold: f64,
    /// Score only the first N labels
    #[arg(long, value_name = "N")]
    max_rows: Option<usize>,
    #[command(flatten)]
    flags: crate::eval_citations::CalibrationFlags,
}

pub fn calibrate(g: &Globals, a: CalibrateArgs) -> Result<ExitCode> {
    if !(0.0..=1.0).contains(&a.threshold) {
        anyhow::bail!(
            "--threshold {}: a faithfulness score is between 0 and 1",
            a.threshold
        );
    }
    if a.max_rows == Some(0) {
        anyhow::bail!("--max-rows needs a positive number");
    }
    let mut rows = rag::calibrate::load_labels(&a.labels)?;
    truncate(&mut rows, a.max_rows);
    let judge = match &a.judge {
        Some(spec) => Some(JudgeModels {
            chat: g
                .config
                .judge_model(Some(spec))
                .with_context(|| format!("--judge {spec}"))?,
            embedder: None,
        }),
        None => None,
    };
    let bar = Bar::new(g.quiet || a.flags.json);
    let rt = crate::runtime()?;
    let r = rt.block_on(rag::calibrate::calibrate(
        &rows,
        judge.as_ref(),
        a.threshold,
        a.flags.concurrency,
        &bar,
    ));
    if a.flags.json {
        println!("{}", serde_json::to_string(&r)?);
        return Ok(ExitCode::SUCCESS);
    }
    let opt = |v: Option<f64>| v.map_or("—".into(), |v| format!("{v:.3}"));
    let ag = &r.agreement;
    println!(
        "{} · {} labels ({} supported by people), {} scored",
        r.scorer, r.rows, r.supported, ag.n
    );
    println!(
        "at threshold {:.2}: accuracy {:.3} · Cohen's kappa {} · Spearman {} · tp {} fp {} fn {} tn {}",
        r.threshold, ag.accuracy, opt(ag.kappa), opt(ag.spearman), ag.tp, ag.fp, ag.fn_, ag.tn
    );
    println!(
        "best threshold on these labels (optimistic): {:.2} · accuracy {:.3} · kappa {}",
        r.best_threshold,
        r.best.accuracy,
        opt(r.best.kappa)
    );
    if !r.unscored.is_empty() {
        let why: Vec<String> = r.unscored.iter().map(|(k, n)| format!("{n} {k}")).collect();
        println!("not scored: {}", why.join(", "));
    }
    if r.cost.calls > 0 {
        println!(
            "judge: {} calls ({} from the cache), ${:.4}",
            r.cost.calls, r.cost.cached, r.cost.usd
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args)]
pub struct ReportArgs {
    /// A run written by `cairn eval rag --out`
    run: PathBuf,
    /// Write the report, one self-contained HTML file
    #[arg(long, value_name = "FILE.html")]
    report: Option<PathBuf>,
}

/// Prints a saved run's summary again, and renders its HTML report.
pub fn report(a: ReportArgs) -> Result<ExitCode> {
    let run = RagRun::load(&a.run)?;
    if let Some(p) = &a.report {
        write_whole(p, rag::report::render_html(&run).as_bytes())
            .with_context(|| format!("--report {}: cannot write the report", p.display()))?;
    }
    print_summary(&run, run.judge.as_deref());
    Ok(ExitCode::SUCCESS)
}
