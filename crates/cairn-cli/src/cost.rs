//! `cairn cost`: what the ledger recorded, by model or by day.

use std::process::ExitCode;

use anyhow::Result;
use cairn_llm::middleware::GroupBy;

use crate::Globals;

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum By {
    Model,
    Day,
}

#[derive(clap::Args)]
pub struct Args {
    /// Only calls on or after this date (YYYY-MM-DD, UTC) or instant (RFC 3339)
    #[arg(long)]
    since: Option<String>,
    /// Group by model or by UTC day
    #[arg(long, value_enum, default_value = "model")]
    by: By,
    /// Print as JSON
    #[arg(long)]
    json: bool,
}

fn check_since(s: &str) -> Result<()> {
    let date_ok = chrono_like_date(s);
    if date_ok || s.contains('T') && s.len() >= 19 {
        return Ok(());
    }
    anyhow::bail!(
        "--since {s:?}: expected a date like 2026-11-26 or an instant like 2026-11-26T09:00:00Z"
    )
}

fn chrono_like_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

pub fn run(g: &Globals, args: Args) -> Result<ExitCode> {
    if let Some(s) = &args.since {
        check_since(s)?;
    }
    let ledger = crate::llm::open_ledger(&g.config)?;
    let by = match args.by {
        By::Model => GroupBy::Model,
        By::Day => GroupBy::Day,
    };
    let rows = ledger.report(args.since.as_deref(), by)?;
    let total: f64 = rows.iter().map(|r| r.cost_usd).sum();
    let calls: u64 = rows.iter().map(|r| r.calls).sum();
    if args.json {
        println!(
            "{}",
            serde_json::json!({"ledger": crate::llm::ledger_path(&g.config), "rows": rows, "total_cost_usd": total, "total_calls": calls})
        );
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        println!(
            "no calls recorded{}",
            args.since
                .map(|s| format!(" since {s}"))
                .unwrap_or_default()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let head = match by {
        GroupBy::Model => "model",
        GroupBy::Day => "day",
    };
    println!(
        "{head:<34} {:>6} {:>11} {:>10} {:>10} {:>10} {:>12}",
        "calls", "input", "cached", "cache wr", "output", "cost USD"
    );
    for r in &rows {
        let mark = if r.unpriced_calls > 0 { " *" } else { "" };
        println!(
            "{:<34} {:>6} {:>11} {:>10} {:>10} {:>10} {:>12.6}{mark}",
            r.key,
            r.calls,
            r.input_tokens,
            r.cached_input_tokens,
            r.cache_write_tokens,
            r.output_tokens,
            r.cost_usd
        );
    }
    println!("{:<34} {calls:>6} {:>56.6}", "total", total);
    if rows.iter().any(|r| r.unpriced_calls > 0) {
        println!("* some calls used a model without a price; add one under [pricing.\"provider:model\"] in cairn.toml");
    }
    Ok(ExitCode::SUCCESS)
}
