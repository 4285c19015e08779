//! The provider-neutral request, response and stream-event types. Providers map these to and
//! from their wire formats; middleware and callers only ever see these.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Who said a message. Tool results are their own role, as in OpenAI's and Ollama's formats;
/// providers that fold them into user turns (Anthropic, Gemini) do that in their module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
    Tool,
}

/// One piece of message content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentPart {
    Text {
        text: String,
    },
    /// An image, either by URL or inline (base64 with its media type).
    Image {
        source: ImageSource,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ImageSource {
    Url { url: String },
    Base64 { media_type: String, data: String },
}

/// A tool call the model made. `arguments` is parsed JSON; when the model produced text that
/// is not JSON, it is kept as a JSON string so nothing is lost and the caller can report it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: Value,
    /// Opaque provider state that must be echoed back unchanged (Gemini thought signatures).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    #[serde(default)]
    pub content: Vec<ContentPart>,
    /// Calls made by an assistant turn.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// For `Role::Tool`: which call this answers, and the tool's name (Gemini and Ollama key
    /// results by name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_name: Option<String>,
    /// A tool result that reports a failure (Anthropic's `is_error`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub is_error: bool,
}

impl Message {
    fn text_of(role: Role, text: impl Into<String>) -> Self {
        Message {
            role,
            content: vec![ContentPart::Text { text: text.into() }],
            tool_calls: Vec::new(),
            tool_call_id: None,
            tool_name: None,
            is_error: false,
        }
    }
    pub fn system(text: impl Into<String>) -> Self {
        Self::text_of(Role::System, text)
    }
    pub fn user(text: impl Into<String>) -> Self {
        Self::text_of(Role::User, text)
    }
    pub fn assistant(text: impl Into<String>) -> Self {
        Self::text_of(Role::Assistant, text)
    }
    /// The result of a tool call, to send back after the assistant turn that made it.
    pub fn tool_result(call: &ToolCall, output: impl Into<String>) -> Self {
        Message {
            tool_call_id: Some(call.id.clone()),
            tool_name: Some(call.name.clone()),
            ..Self::text_of(Role::Tool, output)
        }
    }
    /// All text parts joined.
    pub fn text(&self) -> String {
        join_text(&self.content)
    }
}

pub(crate) fn join_text(parts: &[ContentPart]) -> String {
    let mut out = String::new();
    for p in parts {
        if let ContentPart::Text { text } = p {
            out.push_str(text);
        }
    }
    out
}

/// A function the model may call. `parameters` is a JSON schema for the arguments object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub parameters: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "type", content = "name", rename_all = "snake_case")]
pub enum ToolChoice {
    #[default]
    Auto,
    None,
    /// The model must call some tool.
    Required,
    /// The model must call this tool.
    Tool(String),
}

/// Ask for JSON matching a schema. Providers use their native mode where they have one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JsonSchemaFormat {
    pub name: String,
    pub schema: Value,
    /// OpenAI strict mode: every object closed and every property required.
    #[serde(default)]
    pub strict: bool,
}

/// Which prompt parts Anthropic should cache (a `cache_control` breakpoint each). Other
/// providers cache automatically and ignore this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct CacheHints {
    pub system: bool,
    pub tools: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ChatRequest {
    pub messages: Vec<Message>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<Tool>,
    #[serde(default)]
    pub tool_choice: ToolChoice,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<JsonSchemaFormat>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
    #[serde(default)]
    pub cache: CacheHints,
    /// Provider-specific fields merged into the top level of the request body as they are
    /// (e.g. `{"seed": 7}` for OpenAI, `{"top_k": 40}` for Anthropic).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub extra: serde_json::Map<String, Value>,
}

impl ChatRequest {
    pub fn new(messages: Vec<Message>) -> Self {
        ChatRequest {
            messages,
            ..Default::default()
        }
    }
    /// Shorthand for a single user message, with an optional system prompt.
    pub fn prompt(system: Option<&str>, user: &str) -> Self {
        let mut messages = Vec::new();
        if let Some(s) = system {
            messages.push(Message::system(s));
        }
        messages.push(Message::user(user));
        Self::new(messages)
    }
}

/// Why the model stopped, normalised across providers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    Stop,
    Length,
    ToolCalls,
    ContentFilter,
    Other,
}

/// Token counts. `input_tokens` is every prompt token, cached ones included (OpenAI and Gemini
/// report it that way; Anthropic's three counters are summed into it), so cost arithmetic is
/// the same for every provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Usage {
    pub input_tokens: u64,
    /// Of `input_tokens`, how many were read from the provider's prompt cache.
    pub cached_input_tokens: u64,
    /// Of `input_tokens`, how many were written to the prompt cache (Anthropic bills these).
    pub cache_write_tokens: u64,
    pub output_tokens: u64,
}

impl Usage {
    pub fn add(&mut self, other: &Usage) {
        // Saturating: provider-reported counts are untrusted.
        self.input_tokens = self.input_tokens.saturating_add(other.input_tokens);
        self.cached_input_tokens = self
            .cached_input_tokens
            .saturating_add(other.cached_input_tokens);
        self.cache_write_tokens = self
            .cache_write_tokens
            .saturating_add(other.cache_write_tokens);
        self.output_tokens = self.output_tokens.saturating_add(other.output_tokens);
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    pub content: Vec<ContentPart>,
    #[serde(default)]
    pub tool_calls: Vec<ToolCall>,
    pub finish_reason: FinishReason,
    #[serde(default)]
    pub usage: Usage,
    /// The provider's id for this request (`x-request-id`, `request-id`, `responseId`).
    #[serde(default)]
    pub request_id: Option<String>,
    /// The model that answered, as the provider reports it.
    #[serde(default)]
    pub model: Option<String>,
    /// Which of our models served the call, what it cost and whether it came from the
    /// response cache, as the middleware saw it (see [`Served`]).
    #[serde(default)]
    pub served: Served,
}

/// Facts about one call that only the client side knows: which configured model answered (after
/// fallbacks), what the ledger booked for it, whether the response cache answered. Set on
/// `ChatResponse::served` by `chat`, and carried by the last event of a stream
/// ([`ChatEvent::Served`]) through the ledger, fallback and cache middleware.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Served {
    /// `provider:name` of the model that actually answered (after fallbacks); empty only if no
    /// layer set it.
    #[serde(default)]
    pub model: String,
    /// What this call cost per the ledger's pricing; `None` when the model has no price (or no
    /// ledger layer saw the call).
    #[serde(default)]
    pub cost_usd: Option<f64>,
    /// The response came from the on-disk response cache (cost 0, nothing booked).
    #[serde(default)]
    pub from_cache: bool,
}

impl ChatResponse {
    pub fn text(&self) -> String {
        join_text(&self.content)
    }
    /// The assistant turn to append to the conversation, tool calls (and their signatures)
    /// included, so the next request echoes what the provider expects.
    pub fn to_message(&self) -> Message {
        Message {
            role: Role::Assistant,
            content: self.content.clone(),
            tool_calls: self.tool_calls.clone(),
            tool_call_id: None,
            tool_name: None,
            is_error: false,
        }
    }
}

/// One streamed event. A well-formed stream ends with exactly one `Finish`; middleware that
/// restarts a broken stream emits `Restart` first, and consumers drop what they had. Through the
/// ledger, fallback or cache middleware, one `Served` follows the `Finish` as the very last event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ChatEvent {
    /// Metadata known when the response starts.
    Start {
        request_id: Option<String>,
        model: Option<String>,
    },
    TextDelta {
        text: String,
    },
    ToolCallStart {
        index: usize,
        id: String,
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signature: Option<String>,
    },
    ToolCallDelta {
        index: usize,
        arguments: String,
    },
    ToolCallEnd {
        index: usize,
    },
    Usage {
        usage: Usage,
    },
    Finish {
        reason: FinishReason,
    },
    /// The stream broke and is being retried from the start: discard everything received so
    /// far for this call.
    Restart {
        attempt: u32,
        reason: String,
    },
    /// The last event of a stream that went through the ledger, fallback or cache middleware:
    /// which model answered, what the call cost, whether it was a cache hit. Comes after
    /// `Finish`; at most one per stream (after the last `Restart`).
    Served {
        served: Served,
    },
}
