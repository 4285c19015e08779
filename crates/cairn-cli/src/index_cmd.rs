//! `cairn index …`: whole-index operations. `migrate` copies an index between any two stores
//! (the embedded folder, Postgres with pgvector, Chroma, Qdrant, Pinecone, Weaviate) without
//! re-embedding, then checks the copy; the steps are `cairn_vectordb::migrate`'s.

use anyhow::{Context, Result};
use cairn_vectordb::migrate::{self, MigrateOptions};
use cairn_vectordb::StoreUrl;
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum IndexCommand {
    /// Copy an index to another store (documents, chunks, metadata, vectors; no re-embedding),
    /// in batches, resumable after a kill, then compare sampled queries on both
    #[command(
        after_help = "STORES:\n  ./.cairn, embedded:DIR            the embedded index in a folder\n  \
        postgres://user@host/db?collection=NAME   Postgres with pgvector (PG* variables fill the rest)\n  \
        chroma://host:8000/NAME           Chroma (CHROMA_API_KEY)\n  \
        qdrant://host:6333/NAME           Qdrant (QDRANT_API_KEY)\n  \
        pinecone://INDEX-HOST/NAMESPACE   Pinecone (PINECONE_API_KEY)\n  \
        weaviate://host:8080/CLASS        Weaviate (WEAVIATE_API_KEY)\n  \
        Add +https to chroma, qdrant or weaviate for TLS.\n\n\
        EXAMPLE:\n  cairn index migrate --to 'postgres://localhost/rag?collection=docs'"
    )]
    Migrate(MigrateArgs),
}

#[derive(clap::Args)]
pub struct MigrateArgs {
    /// The store to copy from [default: the index folder, --index]
    #[arg(long, value_name = "STORE")]
    from: Option<String>,
    /// The store to copy into; created with the source's model and dimension
    #[arg(long, value_name = "STORE")]
    to: String,
    /// Documents per batch (one write each)
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Sampled queries to compare after copying (0: no check)
    #[arg(long, default_value_t = 100)]
    sample: usize,
    /// Hits compared per sampled query
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// Only compare the two stores; copy nothing
    #[arg(long)]
    verify_only: bool,
    /// Exit non-zero when the mean top-k overlap is below this
    #[arg(long, value_name = "FRACTION")]
    min_overlap: Option<f64>,
    /// Print the result as JSON
    #[arg(long)]
    json: bool,
}

pub fn run(g: &crate::Globals, c: IndexCommand) -> Result<ExitCode> {
    match c {
        IndexCommand::Migrate(a) => crate::runtime()?.block_on(run_migrate(g, a)),
    }
}

async fn run_migrate(g: &crate::Globals, a: MigrateArgs) -> Result<ExitCode> {
    if a.batch == 0 {
        anyhow::bail!("--batch must be at least 1");
    }
    if a.k == 0 {
        anyhow::bail!("--k must be at least 1");
    }
    if let Some(m) = a.min_overlap {
        if !(0.0..=1.0).contains(&m) {
            anyhow::bail!("--min-overlap must be between 0 and 1, not {m}");
        }
    }
    let from_text = a
        .from
        .clone()
        .unwrap_or_else(|| g.index.display().to_string());
    let from_url = StoreUrl::parse(&from_text).context("--from")?;
    let to_url = StoreUrl::parse(&a.to).context("--to")?;
    if from_url == to_url {
        anyhow::bail!("--from and --to name the same store ({from_url})");
    }
    let from = from_url
        .open(None)
        .await
        .with_context(|| format!("--from {from_url}"))?;
    let mut info = from.info().await.context("--from")?;
    info.name = to_url.collection().unwrap_or_default().to_string();
    let to = to_url
        .open(if a.verify_only { None } else { Some(&info) })
        .await
        .with_context(|| format!("--to {to_url}"))?;
    let opts = MigrateOptions {
        batch_docs: a.batch,
        sample_queries: a.sample,
        k: a.k,
    };
    let copied = if a.verify_only {
        None
    } else {
        let bar = ProgressBar::with_draw_target(
            Some(0),
            if g.quiet || a.json {
                ProgressDrawTarget::hidden()
            } else {
                ProgressDrawTarget::stderr()
            },
        );
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} docs  ETA {eta}",
            )
            .expect("static template")
            .progress_chars("=> "),
        );
        let r = migrate::copy(from.as_ref(), to.as_ref(), &opts, |p| {
            bar.set_length(p.total as u64);
            bar.set_position(p.seen as u64);
        })
        .await;
        bar.finish_and_clear();
        Some(r.with_context(|| format!("copying {from_url} to {to_url}"))?)
    };
    let v = migrate::verify(from.as_ref(), to.as_ref(), &opts)
        .await
        .with_context(|| format!("comparing {from_url} with {to_url}"))?;
    let below = a.min_overlap.is_some_and(|m| v.mean_overlap < m);
    let ok = v.counts_match() && !below;
    if a.json {
        println!(
            "{}",
            serde_json::json!({
                "from": from_url.to_string(), "to": to_url.to_string(),
                "copy": copied, "verify": v, "ok": ok,
            })
        );
    } else {
        if let Some(c) = &copied {
            println!(
                "copied {} of {} documents ({} chunks) in {} batches, {:.1} s; {} already there",
                c.copied_documents,
                c.documents,
                c.copied_chunks,
                c.batches,
                c.seconds,
                c.skipped_documents
            );
        }
        println!(
            "{from_url}: {} documents, {} chunks\n{to_url}: {} documents, {} chunks",
            v.source_documents, v.source_chunks, v.target_documents, v.target_chunks
        );
        if v.differing_count > 0 {
            println!(
                "{} documents differ (first: {}); run without --verify-only to copy them",
                v.differing_count,
                v.differing_documents.join(", ")
            );
        }
        if v.queries > 0 {
            println!(
                "top-{} overlap over {} sampled queries: mean {:.4}, min {:.2}",
                v.k, v.queries, v.mean_overlap, v.min_overlap
            );
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
