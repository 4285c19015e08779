//! Error classification: every library error says what kind of failure it is, so callers
//! (retry loops, the CLI's exit codes) decide without matching on strings.

/// What kind of failure an error is. Retry logic keys off this, never off messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Worth retrying as is (connection reset, 5xx, a broken stream).
    Transient,
    /// Worth retrying after the given delay in milliseconds, when the peer said one.
    RateLimited { retry_after_ms: Option<u64> },
    /// The input is longer than the model accepts; retrying the same request cannot help.
    ContextTooLong,
    /// Credentials are missing or refused.
    Auth,
    /// The request or the user's input is wrong; fix it and try again.
    InvalidInput,
    /// Something is missing (a file, a model, an index).
    NotFound,
    /// A bug or a corrupted state on our side.
    Internal,
}

impl ErrorClass {
    pub fn is_retryable(self) -> bool {
        matches!(self, ErrorClass::Transient | ErrorClass::RateLimited { .. })
    }
}

/// Implemented by every library error type.
pub trait Classify {
    fn class(&self) -> ErrorClass;
}
