//! One API over the providers: a primary model with a fallback, retries with backoff, a cost
//! ledger, and structured output into a Rust type (its JSON schema from schemars, the reply
//! validated, one repair round).
//!
//! `OPENAI_API_KEY=… ANTHROPIC_API_KEY=… cargo run --example chat` (any `provider:name` pair:
//! `cargo run --example chat -- openai:gpt-4o-mini ollama:llama3.2`; base URLs from
//! `OPENAI_BASE_URL`, `ANTHROPIC_BASE_URL`, … as the official SDKs read them)

use std::sync::Arc;
use std::time::Duration;

use cairn::llm::middleware::{Ledger, RetryPolicy};
use cairn::llm::select::{self, StackOptions};
use cairn::llm::{ChatModel, ChatRequest, Message, Pricing};

/// What we want back, as a type: the schema sent to the model is derived from it.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[allow(dead_code)]
struct City {
    name: String,
    country: String,
    population_millions: f64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let primary = args.next().unwrap_or_else(|| "openai:gpt-4o-mini".into());
    let fallback = args
        .next()
        .unwrap_or_else(|| "anthropic:claude-haiku-4-5".into());
    let ledger = Arc::new(Ledger::open(
        &std::env::temp_dir().join("cairn-example-ledger.sqlite"),
        Pricing::default(),
    )?);
    let opts = StackOptions {
        retry: RetryPolicy {
            max_retries: 3,
            base_delay: Duration::from_millis(250),
            ..Default::default()
        },
        ledger: Some(ledger),
        ..Default::default()
    };
    // Retries wrap each model; the fallback answers when the primary keeps failing.
    let model: Arc<dyn ChatModel> =
        select::build(&[primary, fallback], &opts, &select::process_env)?;

    let req = ChatRequest::new(vec![Message::user(
        "Name the largest city in Japan, its country and its population.",
    )]);
    let city: City = cairn::llm::structured::generate(model.as_ref(), &req).await?;
    println!("{city:#?}");

    let reply = model
        .chat(&ChatRequest::new(vec![Message::user(
            "Say hello in French.",
        )]))
        .await?;
    println!(
        "{} [{} · ${:.6}]",
        reply.text(),
        reply.served.model,
        reply.served.cost_usd.unwrap_or(0.0)
    );
    Ok(())
}
