//! Rerankers: reorder retrieved passages by relevance to a query (a cross-encoder, a rerank
//! API, a chat model). Implementations live with their backends (`cairn_rag::rerank`).

use crate::error::{ClassifiedError, Classify, ErrorClass};

/// Why a rerank failed. A backend's error keeps the class it had, so a retry loop or the CLI
/// can tell a rate limit from a refused key from a bug without reading messages.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RerankError {
    /// The backend (an API, a chat model, a local model) failed; displays as its error does.
    #[error(transparent)]
    Backend(#[from] ClassifiedError),
    /// The query or the passages cannot be reranked as given.
    #[error("cannot rerank: {0}")]
    InvalidInput(String),
}

impl RerankError {
    /// Wraps a backend's error, keeping its class: `.map_err(RerankError::backend)`.
    pub fn backend<E>(e: E) -> Self
    where
        E: std::error::Error + Classify + Send + Sync + 'static,
    {
        RerankError::Backend(ClassifiedError::new(e))
    }

    /// The backend's error, when it is a `T`.
    pub fn downcast_ref<T: std::error::Error + 'static>(&self) -> Option<&T> {
        match self {
            RerankError::Backend(e) => e.downcast_ref(),
            _ => None,
        }
    }
}

impl Classify for RerankError {
    fn class(&self) -> ErrorClass {
        match self {
            RerankError::Backend(e) => e.class(),
            RerankError::InvalidInput(_) => ErrorClass::InvalidInput,
        }
    }
}

/// Reorders documents by relevance to a query. Returns `(index into docs, score)`, best
/// first, every document exactly once. Scores are comparable within one call only (a
/// probability, a relevance score or a rank-derived number, depending on the reranker).
/// CPU-bound implementations run their work on the blocking pool
/// ([`crate::blocking::run_blocking`]) so awaiting them never stalls the executor.
#[async_trait::async_trait]
pub trait Reranker: Send + Sync {
    /// What reranked, for logs and errors: `local:<model>`, `cohere:<model>`, `llm:<model>`.
    fn name(&self) -> String;
    async fn rerank(&self, query: &str, docs: &[&str]) -> Result<Vec<(usize, f32)>, RerankError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cohere: invalid api token")]
    struct Refused;
    impl Classify for Refused {
        fn class(&self) -> ErrorClass {
            ErrorClass::Auth
        }
    }

    #[test]
    fn errors_classify_themselves_and_show_the_backend_message() {
        let e = RerankError::backend(Refused);
        assert_eq!(e.class(), ErrorClass::Auth);
        assert_eq!(e.to_string(), "cohere: invalid api token");
        assert!(e.downcast_ref::<Refused>().is_some());
        let e = RerankError::InvalidInput("no query".into());
        assert_eq!(e.class(), ErrorClass::InvalidInput);
        // What callers need for `?` into anyhow and `Box<dyn Error>`.
        fn is_std_error<E: std::error::Error + Send + Sync + 'static>(_: &E) {}
        is_std_error(&e);
    }
}
