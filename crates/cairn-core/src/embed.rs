//! Embedders: the blocking [`Embedder`] the CPU models and the ingest pipeline use, the
//! [`AsyncEmbedder`] async code (a server, remote APIs) uses, and [`BlockingEmbedder`], which
//! runs any `Embedder` as an `AsyncEmbedder` on tokio's blocking pool.

use std::sync::Arc;

use crate::blocking::run_blocking;
use crate::error::{ClassifiedError, Classify, ErrorClass};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmbedError {
    #[error("tokenizing failed: {0}")]
    Tokenize(String),
    #[error("the embedding model failed: {0}")]
    Model(String),
    /// A backend's own error (an HTTP API's), with the class it had: a rate limit stays
    /// retryable, a refused key stays an auth failure.
    #[error("the embedding model failed: {0}")]
    Backend(ClassifiedError),
}

impl EmbedError {
    /// Wraps an implementation's error, keeping its class.
    pub fn backend<E>(e: E) -> Self
    where
        E: std::error::Error + Classify + Send + Sync + 'static,
    {
        EmbedError::Backend(ClassifiedError::new(e))
    }
}

impl Classify for EmbedError {
    fn class(&self) -> ErrorClass {
        match self {
            EmbedError::Tokenize(_) => ErrorClass::InvalidInput,
            EmbedError::Model(_) => ErrorClass::Internal,
            EmbedError::Backend(e) => e.class(),
        }
    }
}

/// Turns texts into vectors, blocking the calling thread. Implementations batch internally;
/// callers pass what they have. From async code, wrap it in [`BlockingEmbedder`].
pub trait Embedder: Send + Sync {
    /// A stable name for the model, recorded in the index so a mismatched query model is caught.
    fn model_id(&self) -> &str;
    fn dim(&self) -> usize;
    /// The longest input in tokens, special tokens included, that the model reads.
    fn max_tokens(&self) -> usize;
    /// One L2-normalised vector per text, in order.
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError>;
}

/// Turns texts into vectors without blocking the executor. Remote embedders implement it
/// natively; CPU models through [`BlockingEmbedder`].
#[async_trait::async_trait]
pub trait AsyncEmbedder: Send + Sync {
    /// As [`Embedder::model_id`]: the same model has the same id through either trait.
    fn model_id(&self) -> &str;
    fn dim(&self) -> usize;
    /// The longest input in tokens, special tokens included, that the model reads.
    fn max_tokens(&self) -> usize;
    /// One L2-normalised vector per text, in order.
    async fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError>;
}

/// Runs a blocking [`Embedder`] (a CPU model) as an [`AsyncEmbedder`]: each call copies the
/// texts and runs the model on tokio's blocking pool (inline when awaited outside tokio).
pub struct BlockingEmbedder<E: ?Sized = dyn Embedder> {
    inner: Arc<E>,
}

impl<E: Embedder + ?Sized + 'static> BlockingEmbedder<E> {
    pub fn new(inner: Arc<E>) -> Self {
        BlockingEmbedder { inner }
    }

    /// The wrapped embedder, for the blocking callers that share it.
    pub fn inner(&self) -> &Arc<E> {
        &self.inner
    }
}

impl<E: ?Sized> Clone for BlockingEmbedder<E> {
    fn clone(&self) -> Self {
        BlockingEmbedder {
            inner: self.inner.clone(),
        }
    }
}

#[async_trait::async_trait]
impl<E: Embedder + ?Sized + 'static> AsyncEmbedder for BlockingEmbedder<E> {
    fn model_id(&self) -> &str {
        self.inner.model_id()
    }
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    fn max_tokens(&self) -> usize {
        self.inner.max_tokens()
    }
    async fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let inner = self.inner.clone();
        let owned: Vec<String> = texts.iter().map(|t| t.to_string()).collect();
        run_blocking(move || {
            let refs: Vec<&str> = owned.iter().map(String::as_str).collect();
            inner.embed(&refs)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two-dimensional "embeddings" from the text's length; records the thread it ran on.
    struct Toy(std::sync::Mutex<Vec<std::thread::ThreadId>>);
    impl Embedder for Toy {
        fn model_id(&self) -> &str {
            "toy"
        }
        fn dim(&self) -> usize {
            2
        }
        fn max_tokens(&self) -> usize {
            8
        }
        fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
            self.0.lock().unwrap().push(std::thread::current().id());
            if texts.contains(&"") {
                return Err(EmbedError::Tokenize("empty text".into()));
            }
            Ok(texts
                .iter()
                .map(|t| {
                    if t.len() % 2 == 0 {
                        vec![1.0, 0.0]
                    } else {
                        vec![0.0, 1.0]
                    }
                })
                .collect())
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_adapter_runs_the_model_off_the_executor_thread() {
        let toy = Arc::new(Toy(Default::default()));
        let e = BlockingEmbedder::new(toy.clone());
        assert_eq!((e.model_id(), e.dim(), e.max_tokens()), ("toy", 2, 8));
        let v = AsyncEmbedder::embed(&e, &["ab", "abc"]).await.unwrap();
        assert_eq!(v, vec![vec![1.0, 0.0], vec![0.0, 1.0]]);
        assert_ne!(toy.0.lock().unwrap()[0], std::thread::current().id());
        // Errors keep their class; no texts, no call.
        let err = AsyncEmbedder::embed(&e, &[""]).await.unwrap_err();
        assert_eq!(err.class(), ErrorClass::InvalidInput);
        assert!(AsyncEmbedder::embed(&e, &[]).await.unwrap().is_empty());
        assert_eq!(toy.0.lock().unwrap().len(), 2);
        // Any `Arc<dyn Embedder>` fits too.
        let dynamic: BlockingEmbedder = BlockingEmbedder::new(toy as Arc<dyn Embedder>);
        let _: &dyn AsyncEmbedder = &dynamic;
    }

    #[test]
    fn a_backend_error_keeps_its_class() {
        #[derive(Debug, thiserror::Error)]
        #[error("429 from the API")]
        struct Limited;
        impl Classify for Limited {
            fn class(&self) -> ErrorClass {
                ErrorClass::RateLimited {
                    retry_after_ms: None,
                }
            }
        }
        let e = EmbedError::backend(Limited);
        assert!(e.class().is_retryable());
        assert_eq!(
            e.to_string(),
            "the embedding model failed: 429 from the API"
        );
    }
}
