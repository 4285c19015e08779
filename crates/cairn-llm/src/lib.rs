//! cairn-llm: one `ChatModel` API over OpenAI (and compatible servers), Anthropic, Gemini and
//! Ollama; one shared HTTP / SSE / NDJSON transport; middleware for retries, rate limits,
//! fallbacks, caching and a cost ledger; structured output; token counting.
//!
//! Everything around a provider call is plain data you can build and check offline: the
//! `provider:name` spec that picks a model, the request, and what a reply cost:
//!
//! ```
//! use cairn_llm::{select::parse_spec, ChatRequest, ModelId, Pricing, Role, Usage};
//!
//! let (provider, name) = parse_spec("openai:gpt-4o-mini").unwrap();
//! assert!(parse_spec("gpt-4o-mini").is_err(), "the provider is required");
//! let request = ChatRequest::prompt(Some("Answer in one word."), "What marks a trail?");
//! assert_eq!(request.messages[1].role, Role::User);
//! let usage = Usage { input_tokens: 1_000_000, output_tokens: 100_000, ..Default::default() };
//! let cost = Pricing::default().cost(&ModelId::new(provider, name), &usage).unwrap();
//! assert!((cost - 0.21).abs() < 1e-9, "{cost}"); // $0.15 in + $0.06 out
//! ```

pub mod embed;
pub mod error;
pub mod history;
pub mod middleware;
pub mod model;
pub mod pricing;
pub mod providers;
pub mod select;
pub mod structured;
pub mod tokens;
pub mod transport;
pub mod types;

pub use error::{LlmError, StreamBreak, TimeoutPhase};
pub use model::{
    collect, Accumulator, ChatModel, ChatStream, ModelId, ModelProfile, PromptKind, TokenCount,
};
pub use pricing::{Price, Pricing};
pub use transport::Timeouts;
pub use types::{
    CacheHints, ChatEvent, ChatRequest, ChatResponse, ContentPart, FinishReason, ImageSource,
    JsonSchemaFormat, Message, Role, Served, Tool, ToolCall, ToolChoice, Usage,
};
