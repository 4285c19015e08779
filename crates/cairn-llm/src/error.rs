//! One error type for every provider, classifying itself so retry and fallback decide on the
//! class, never on message text.

use std::time::Duration;

use cairn_core::error::{Classify, ErrorClass};

use crate::types::ChatResponse;

/// How a stream broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamBreak {
    /// The connection dropped or the body errored.
    Dropped,
    /// The body ended without the provider's end marker.
    Truncated,
    /// An event was not valid JSON, or not the shape the provider documents.
    Malformed,
    /// The provider sent an error event after a 200.
    ErrorEvent,
}

impl std::fmt::Display for StreamBreak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StreamBreak::Dropped => "the connection dropped",
            StreamBreak::Truncated => "the stream ended without its end marker",
            StreamBreak::Malformed => "the stream sent a malformed event",
            StreamBreak::ErrorEvent => "the provider sent an error event",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutPhase {
    Connect,
    FirstByte,
    Idle,
    Total,
}

impl std::fmt::Display for TimeoutPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TimeoutPhase::Connect => "connect",
            TimeoutPhase::FirstByte => "first byte",
            TimeoutPhase::Idle => "idle between stream events",
            TimeoutPhase::Total => "total",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// The provider answered with an HTTP error.
    #[error("{provider} returned HTTP {status}{}: {message}", code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Api {
        provider: &'static str,
        status: u16,
        /// The provider's error type or code (`rate_limit_error`, `RESOURCE_EXHAUSTED`, ...).
        code: Option<String>,
        message: String,
        request_id: Option<String>,
        /// How long the provider asked us to wait (Retry-After, retry-after-ms, reset headers,
        /// Gemini's RetryInfo).
        retry_after: Option<Duration>,
        /// `x-should-retry` when the provider sent it.
        should_retry: Option<bool>,
    },
    #[error("{provider}: could not connect or the request failed in transit: {message}")]
    Connection {
        provider: &'static str,
        message: String,
    },
    #[error("{provider}: {phase} timeout after {after:?}")]
    Timeout {
        provider: &'static str,
        phase: TimeoutPhase,
        after: Duration,
    },
    #[error("{provider}: stream failed: {kind}{}", if detail.is_empty() { String::new() } else { format!(": {detail}") })]
    Stream {
        provider: &'static str,
        kind: StreamBreak,
        detail: String,
    },
    /// A stream broke after output had been yielded and the caller asked not to restart it:
    /// the partial output is here, clearly marked as partial.
    #[error("stream broke after partial output ({} chars): {source}", partial.text().len())]
    PartialStream {
        partial: Box<ChatResponse>,
        #[source]
        source: Box<LlmError>,
    },
    /// A 200 whose body is not what the provider documents.
    #[error("{provider}: unexpected response: {message}")]
    Decode {
        provider: &'static str,
        message: String,
    },
    /// The input (plus the output it asks room for) does not fit the model's context window.
    #[error(
        "the request has {tokens} input tokens{}{}, which does not fit {model}'s context window \
         of {limit} tokens; shorten the prompt or pick a model with a larger window",
        if *estimated { " (estimated)" } else { "" },
        if *output > 0 { format!(" plus {output} reserved for output") } else { String::new() }
    )]
    ContextTooLong {
        model: String,
        /// Input tokens of the request.
        tokens: u64,
        /// The window: input and output together.
        limit: u64,
        /// Output tokens the request reserves (`max_output_tokens`), 0 when it sets none.
        output: u64,
        estimated: bool,
    },
    #[error("{0}")]
    NotConfigured(String),
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The reply did not match the requested JSON schema, even after a repair round.
    #[error("the reply does not match the schema {schema_name}: {errors}")]
    SchemaMismatch {
        schema_name: String,
        errors: String,
        reply: String,
    },
    /// Every model of a fallback chain failed; the last error is the source, all are listed.
    #[error("all {} models failed; last: {last}", errors.len())]
    AllFailed {
        errors: Vec<(String, String)>,
        #[source]
        last: Box<LlmError>,
    },
    #[error("{what}: {message}")]
    Storage { what: &'static str, message: String },
    /// The model needs a cargo feature this build of cairn-llm was compiled without (`local:`
    /// models without the `local` feature).
    #[error("{what}: cairn-llm was built without the `{feature}` feature; rebuild with it (it is on by default) or pick a provider model")]
    FeatureDisabled { feature: &'static str, what: String },
    /// The local model could not be found, loaded or run.
    #[error("local model: {message}")]
    Local { message: String, class: ErrorClass },
}

impl LlmError {
    pub fn provider_message(&self) -> String {
        self.to_string()
    }

    /// The delay the provider asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            LlmError::Api { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    pub fn is_retryable(&self) -> bool {
        self.class().is_retryable()
    }
}

impl Classify for LlmError {
    fn class(&self) -> ErrorClass {
        match self {
            LlmError::Api {
                status,
                code,
                retry_after,
                should_retry,
                message,
                ..
            } => {
                if let Some(s) = should_retry {
                    if *s {
                        return ErrorClass::Transient;
                    }
                    return classify_permanent(*status, code.as_deref(), message);
                }
                match status {
                    429 if code.as_deref() == Some("insufficient_quota") => ErrorClass::Auth,
                    429 => ErrorClass::RateLimited {
                        retry_after_ms: retry_after.map(|d| d.as_millis() as u64),
                    },
                    408 | 409 | 500..=599 => ErrorClass::Transient,
                    _ => classify_permanent(*status, code.as_deref(), message),
                }
            }
            LlmError::Connection { .. } | LlmError::Timeout { .. } | LlmError::Stream { .. } => {
                ErrorClass::Transient
            }
            LlmError::PartialStream { source, .. } => source.class(),
            LlmError::Decode { .. } => ErrorClass::Transient,
            LlmError::ContextTooLong { .. } => ErrorClass::ContextTooLong,
            LlmError::NotConfigured(_) | LlmError::FeatureDisabled { .. } => ErrorClass::NotFound,
            LlmError::InvalidRequest(_) | LlmError::SchemaMismatch { .. } => {
                ErrorClass::InvalidInput
            }
            LlmError::AllFailed { last, .. } => last.class(),
            LlmError::Storage { .. } => ErrorClass::Internal,
            LlmError::Local { class, .. } => *class,
        }
    }
}

fn classify_permanent(status: u16, code: Option<&str>, message: &str) -> ErrorClass {
    let lower = message.to_ascii_lowercase();
    let context = code == Some("context_length_exceeded")
        || lower.contains("context length")
        || lower.contains("context window")
        || lower.contains("prompt is too long")
        || (lower.contains("input token count") && lower.contains("exceeds"));
    match status {
        _ if context => ErrorClass::ContextTooLong,
        401..=403 => ErrorClass::Auth,
        404 => ErrorClass::NotFound,
        _ => ErrorClass::InvalidInput,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, code: Option<&str>, msg: &str) -> LlmError {
        LlmError::Api {
            provider: "openai",
            status,
            code: code.map(str::to_string),
            message: msg.into(),
            request_id: None,
            retry_after: None,
            should_retry: None,
        }
    }

    #[test]
    fn statuses_classify_like_the_sdks() {
        for s in [408, 409, 500, 502, 503, 504, 529] {
            assert_eq!(api(s, None, "x").class(), ErrorClass::Transient, "{s}");
        }
        assert!(matches!(
            api(429, None, "x").class(),
            ErrorClass::RateLimited { .. }
        ));
        assert_eq!(
            api(429, Some("insufficient_quota"), "x").class(),
            ErrorClass::Auth
        );
        for s in [400, 422] {
            assert_eq!(api(s, None, "bad").class(), ErrorClass::InvalidInput);
        }
        assert_eq!(api(401, None, "x").class(), ErrorClass::Auth);
        assert_eq!(api(403, None, "x").class(), ErrorClass::Auth);
        assert_eq!(api(404, None, "x").class(), ErrorClass::NotFound);
        assert_eq!(
            api(400, Some("context_length_exceeded"), "x").class(),
            ErrorClass::ContextTooLong
        );
        assert_eq!(
            api(
                400,
                None,
                "prompt is too long: 210000 tokens > 200000 maximum"
            )
            .class(),
            ErrorClass::ContextTooLong
        );
    }

    #[test]
    fn should_retry_header_wins() {
        let mut e = api(400, None, "x");
        if let LlmError::Api { should_retry, .. } = &mut e {
            *should_retry = Some(true);
        }
        assert!(e.is_retryable());
        let mut e = api(503, None, "x");
        if let LlmError::Api { should_retry, .. } = &mut e {
            *should_retry = Some(false);
        }
        assert!(!e.is_retryable());
    }
}
