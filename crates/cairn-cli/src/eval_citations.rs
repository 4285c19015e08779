//! `cairn eval citations`: the citation verifiers scored against human labels (BEGIN files).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use cairn_eval::calibrate::{self, Row};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::Globals;

#[derive(clap::Args)]
#[command(
    after_help = "Files: BEGIN-format TSV (model_name, data_source, knowledge, message, \
    response, begin_label), e.g. ../shared/data/judgements/begin-dev/. A response counts as \
    supported when its label is `Fully attributable`; `Not fully attributable` and `Generic` \
    count as not supported."
)]
pub struct Args {
    /// A folder of judgement .tsv files, or one file
    path: PathBuf,
    /// Which verifier to score: lexical (every threshold and rule) or model (a judge)
    #[arg(long, value_enum, default_value = "lexical")]
    verify: crate::rag_args::VerifyChoice,
    /// provider:name of the judge for --verify model [default: the configured model]
    #[arg(long, value_name = "MODEL")]
    judge: Option<String>,
    /// Score only the first N judgements of each file (judge runs are slow on a CPU)
    #[arg(long, value_name = "N")]
    max_rows: Option<usize>,
    #[command(flatten)]
    flags: CalibrationFlags,
}

/// A count that must be positive, refused by clap (naming the flag) otherwise.
fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{s:?} is not a whole number")),
    }
}

/// The flags `eval citations` and `eval calibrate` share: both score a verifier against human
/// labels, by a judge when one is named.
#[derive(clap::Args)]
pub struct CalibrationFlags {
    /// Judge calls in flight at once (at least 1)
    #[arg(long, default_value_t = 4, value_parser = at_least_one)]
    pub concurrency: usize,
    /// Print the report as one JSON object
    #[arg(long)]
    pub json: bool,
}

pub fn run(g: &Globals, a: Args) -> Result<ExitCode> {
    let mut rows = calibrate::load(&a.path)?;
    if let Some(n) = a.max_rows {
        if n == 0 {
            anyhow::bail!("--max-rows 0 leaves nothing to score: pass a positive number");
        }
        let mut kept: Vec<calibrate::Judgement> = Vec::new();
        for r in rows {
            if kept.iter().filter(|k| k.file == r.file).count() < n {
                kept.push(r);
            }
        }
        rows = kept;
    }
    if a.verify == crate::rag_args::VerifyChoice::Lexical {
        if a.judge.is_some() {
            anyhow::bail!("--judge names the model for --verify model: add --verify model");
        }
        let report = calibrate::lexical_report(&rows, cairn_rag::verify::LEXICAL_THRESHOLD);
        if a.flags.json {
            println!("{}", serde_json::to_string(&report)?);
            return Ok(ExitCode::SUCCESS);
        }
        println!(
            "{} judgements ({} supported by people) · AUC of the overlap score {:.3}, with the rules {:.3} · threshold chosen by F0.5 on these files: {:.2} (shipped: {:.2})",
            report.rows,
            report.supported,
            report.auc_overlap,
            report.auc_with_rules,
            report.chosen_threshold,
            cairn_rag::verify::LEXICAL_THRESHOLD
        );
        print_rows(&report.table);
        println!("\nthreshold sweep, all rules:");
        print_rows(&report.sweep);
        return Ok(ExitCode::SUCCESS);
    }
    let judge = crate::llm::judge(&g.config, a.judge.as_deref())?;
    let bar = ProgressBar::with_draw_target(
        Some(rows.len() as u64),
        if g.quiet || a.flags.json {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        },
    );
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} judged  ETA {eta}",
        )
        .expect("static template"),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let report = rt.block_on(calibrate::judge_report(
        &rows,
        &judge,
        a.flags.concurrency,
        &|| bar.inc(1),
    ));
    bar.finish_and_clear();
    if a.flags.json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "judge {} · {} judgements, {} scored",
        report.judge, report.rows, report.scored
    );
    print_rows(std::slice::from_ref(&report.row));
    if !report.unscored.is_empty() {
        println!("\nnot scored ({}):", report.unscored.len());
        for u in report.unscored.iter().take(10) {
            println!("  {u}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_rows(rows: &[Row]) {
    println!(
        "  {:<58} {:>9} {:>5} {:>9} {:>7} {:>15}",
        "verifier", "threshold", "n", "precision", "recall", "false-verified"
    );
    for r in rows {
        println!(
            "  {:<58} {:>9} {:>5} {:>9.3} {:>7.3} {:>15.3}",
            r.name,
            r.threshold.map_or("-".into(), |t| format!("{t:.2}")),
            r.n,
            r.precision,
            r.recall,
            r.false_verified_rate
        );
    }
}
