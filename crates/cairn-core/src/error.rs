//! Error classification: every library error says what kind of failure it is, so callers
//! (retry loops, the CLI's exit codes) decide without matching on strings.

use std::fmt;

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
    /// This implementation cannot do what was asked (a store without full-text search, a
    /// backend that cannot express a filter); use another one or another mode.
    Unsupported,
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

/// Any error with the class it had, so a seam's own error type (a reranker's, a store's) can
/// carry an implementation's error (an HTTP client's, a model's) without losing what kind of
/// failure it was. Displays as the wrapped error does, and forwards its `source()`.
pub struct ClassifiedError {
    class: ErrorClass,
    inner: Box<dyn std::error::Error + Send + Sync + 'static>,
}

impl ClassifiedError {
    /// Wraps an error that classifies itself, keeping its class.
    pub fn new<E>(e: E) -> Self
    where
        E: std::error::Error + Classify + Send + Sync + 'static,
    {
        ClassifiedError {
            class: e.class(),
            inner: Box::new(e),
        }
    }

    /// Wraps any error (or message) with the class the caller knows it has.
    pub fn with_class(
        class: ErrorClass,
        e: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        ClassifiedError {
            class,
            inner: e.into(),
        }
    }

    /// The wrapped error, when it is a `T`.
    pub fn downcast_ref<T: std::error::Error + 'static>(&self) -> Option<&T> {
        self.inner.downcast_ref::<T>()
    }

    pub fn into_inner(self) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self.inner
    }
}

impl Classify for ClassifiedError {
    fn class(&self) -> ErrorClass {
        self.class
    }
}

impl fmt::Debug for ClassifiedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClassifiedError")
            .field("class", &self.class)
            .field("inner", &self.inner)
            .finish()
    }
}

impl fmt::Display for ClassifiedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner, f)
    }
}

impl std::error::Error for ClassifiedError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner.source()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("peer said slow down")]
    struct Limited;
    impl Classify for Limited {
        fn class(&self) -> ErrorClass {
            ErrorClass::RateLimited {
                retry_after_ms: Some(5),
            }
        }
    }

    #[test]
    fn a_wrapped_error_keeps_its_class_message_and_type() {
        let e = ClassifiedError::new(Limited);
        assert!(e.class().is_retryable());
        assert_eq!(e.to_string(), "peer said slow down");
        assert!(e.downcast_ref::<Limited>().is_some());
        let m = ClassifiedError::with_class(ErrorClass::Unsupported, "no full-text search");
        assert_eq!(m.class(), ErrorClass::Unsupported);
        assert!(!m.class().is_retryable());
        assert_eq!(m.to_string(), "no full-text search");
    }
}
