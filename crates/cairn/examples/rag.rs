//! Ingest a folder and ask a question with checked citations, offline: the local embedder,
//! the embedded index, and the model the environment names (the offline SmolLM2 when none).
//!
//! `cargo run --example rag [QUESTION]`

use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let question = std::env::args().nth(1);
    let question = question
        .as_deref()
        .unwrap_or("What do hikers build to mark a trail?");
    let corpus = concat!(env!("CARGO_MANIFEST_DIR"), "/../../samples/corpus");
    let index = std::env::temp_dir().join("cairn-example-rag");

    let config = cairn::Config::default();
    let local = cairn::embedded::default_embedder(None)?;
    let indexer = cairn::embedded::indexer(&local, &config.chunking)?;
    indexer.ingest(
        &[corpus],
        &index,
        &Default::default(),
        &cairn::rag::NoProgress,
    )?;
    let retriever = cairn::embedded::open_retriever(&index, Some(local.embedder))?;
    let model = config.chat_model(None, false)?.model;
    let answer = cairn::rag::Asker::new(Arc::new(retriever), model)
        .answer(question, &[])
        .await?;

    println!("{}\n", answer.text);
    for s in answer.cited_sources() {
        println!("{}", s.cited_line());
    }
    println!("\n{} · {}", answer.served.model, answer.citations.summary());
    Ok(())
}
