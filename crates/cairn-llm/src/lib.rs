//! cairn-llm: one `ChatModel` API over OpenAI (and compatible servers), Anthropic, Gemini and
//! Ollama; one shared HTTP / SSE / NDJSON transport; middleware for retries, rate limits,
//! fallbacks, caching and a cost ledger; structured output; token counting.

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
