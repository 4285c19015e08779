//! Remote embedders behind cairn-core's `AsyncEmbedder` (natively) and `Embedder` (blocking):
//! OpenAI `/embeddings` (also for compatible servers), Gemini `batchEmbedContents` and Ollama
//! `/api/embed`. Each batches within its API's limit, retries transient failures with the same
//! policy as chat, and L2-normalises vectors so they mix with the local embedder's in cosine
//! search. Errors keep their class (a rate limit stays retryable) through `EmbedError::Backend`.

use std::sync::OnceLock;

use cairn_core::traits::{AsyncEmbedder, EmbedError, Embedder};
use serde_json::{json, Value};
use tokio::runtime::{Handle, Runtime, RuntimeFlavor};

use crate::error::LlmError;
use crate::middleware::clock::Jitterer;
use crate::middleware::{RetryPolicy, SystemClock};
use crate::providers::{gemini, ollama, openai, Endpoint};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmbedProvider {
    OpenAi,
    Gemini,
    Ollama,
}

impl EmbedProvider {
    /// Inputs per request: OpenAI takes 2,048, Gemini's batch endpoint 100; Ollama documents
    /// no limit, so a moderate batch keeps one request's latency bounded.
    pub fn batch_limit(self) -> usize {
        match self {
            EmbedProvider::OpenAi => 2048,
            EmbedProvider::Gemini => 100,
            EmbedProvider::Ollama => 64,
        }
    }

    fn name(self) -> &'static str {
        match self {
            EmbedProvider::OpenAi => "openai",
            EmbedProvider::Gemini => "gemini",
            EmbedProvider::Ollama => "ollama",
        }
    }
}

/// Gemini task types for retrieval: documents and queries embed differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GeminiTask {
    Document,
    Query,
}

pub struct RemoteEmbedder {
    provider: EmbedProvider,
    endpoint: Endpoint,
    model: String,
    id: String,
    dim: usize,
    max_tokens: usize,
    batch: usize,
    retry: RetryPolicy,
    rng: Jitterer,
    /// Gemini only.
    pub task: GeminiTask,
    /// The runtime the blocking `Embedder::embed` drives requests on when the caller is not
    /// on a multi-thread tokio runtime: made on first use, kept for the embedder's lifetime.
    runtime: OnceLock<Runtime>,
}

fn model_err(e: LlmError) -> EmbedError {
    EmbedError::backend(e)
}

impl Drop for RemoteEmbedder {
    fn drop(&mut self) {
        // Dropping a runtime blocks on its workers, which panics inside async code; the
        // embedder may well be dropped there.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl RemoteEmbedder {
    /// Connects and learns the vector size by embedding one probe text.
    pub async fn connect(
        provider: EmbedProvider,
        endpoint: Endpoint,
        model: impl Into<String>,
    ) -> Result<Self, LlmError> {
        let model = model.into();
        let mut e = RemoteEmbedder {
            id: format!("{}:{model}", provider.name()),
            provider,
            endpoint,
            max_tokens: match provider {
                EmbedProvider::OpenAi => 8191,
                EmbedProvider::Gemini => 2048,
                EmbedProvider::Ollama => 512,
            },
            model,
            dim: 0,
            batch: provider.batch_limit(),
            retry: RetryPolicy::default(),
            rng: Jitterer::from_time(),
            task: GeminiTask::Document,
            runtime: OnceLock::new(),
        };
        let v = e.embed_async(&["dimension probe"]).await?;
        e.dim = v.first().map(Vec::len).unwrap_or(0);
        if e.dim == 0 {
            return Err(LlmError::Decode {
                provider: provider.name(),
                message: "the embedding endpoint returned an empty vector".into(),
            });
        }
        Ok(e)
    }

    pub fn with_batch_size(mut self, n: usize) -> Self {
        self.batch = n.clamp(1, self.provider.batch_limit());
        self
    }

    pub fn with_retry(mut self, p: RetryPolicy) -> Self {
        self.retry = p;
        self
    }

    /// All texts, in order, batched and retried.
    pub async fn embed_async(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, LlmError> {
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(self.batch.max(1)) {
            let (vecs, _) = self
                .retry
                .run(&SystemClock::default(), &self.rng, 0, &self.id, || {
                    self.batch_once(chunk)
                })
                .await?;
            if vecs.len() != chunk.len() {
                return Err(LlmError::Decode {
                    provider: self.provider.name(),
                    message: format!("asked for {} embeddings, got {}", chunk.len(), vecs.len()),
                });
            }
            out.extend(vecs.into_iter().map(normalise));
        }
        Ok(out)
    }

    async fn batch_once(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, LlmError> {
        let t = &self.endpoint.transport;
        let mut headers = crate::transport::Headers::new();
        match self.provider {
            EmbedProvider::OpenAi => {
                if let Some(k) = &self.endpoint.api_key {
                    headers.push(("authorization", format!("Bearer {k}")));
                }
                let body = json!({"model": self.model, "input": texts, "encoding_format": "float"});
                let (v, _) = t
                    .post_json(
                        "openai",
                        &self.endpoint.url("embeddings"),
                        &headers,
                        &body,
                        openai::parse_error,
                    )
                    .await?;
                let mut data: Vec<(u64, Vec<f32>)> = v
                    .get("data")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|d| {
                        (
                            d.get("index").and_then(Value::as_u64).unwrap_or(0),
                            floats(d.get("embedding")),
                        )
                    })
                    .collect();
                data.sort_by_key(|(i, _)| *i);
                Ok(data.into_iter().map(|(_, v)| v).collect())
            }
            EmbedProvider::Gemini => {
                if let Some(k) = &self.endpoint.api_key {
                    headers.push(("x-goog-api-key", k.clone()));
                }
                let task = match self.task {
                    GeminiTask::Document => "RETRIEVAL_DOCUMENT",
                    GeminiTask::Query => "RETRIEVAL_QUERY",
                };
                let name = format!("models/{}", self.model);
                let requests: Vec<Value> = texts
                    .iter()
                    .map(|t| json!({"model": name, "content": {"parts": [{"text": t}]}, "taskType": task}))
                    .collect();
                let url = self
                    .endpoint
                    .url(&format!("v1beta/models/{}:batchEmbedContents", self.model));
                let (v, _) = t
                    .post_json(
                        "gemini",
                        &url,
                        &headers,
                        &json!({"requests": requests}),
                        gemini::parse_error,
                    )
                    .await?;
                Ok(v.get("embeddings")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|e| floats(e.get("values")))
                    .collect())
            }
            EmbedProvider::Ollama => {
                if let Some(k) = &self.endpoint.api_key {
                    headers.push(("authorization", format!("Bearer {k}")));
                }
                let body = json!({"model": self.model, "input": texts, "truncate": true});
                let (v, _) = t
                    .post_json(
                        "ollama",
                        &self.endpoint.url("api/embed"),
                        &headers,
                        &body,
                        ollama::parse_error,
                    )
                    .await?;
                Ok(v.get("embeddings")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|e| floats(Some(e)))
                    .collect())
            }
        }
    }
}

fn floats(v: Option<&Value>) -> Vec<f32> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_f64)
                .map(|x| x as f32)
                .collect()
        })
        .unwrap_or_default()
}

fn normalise(mut v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
    v
}

impl RemoteEmbedder {
    /// The embedder's own runtime: one worker thread, so connections it opens keep being
    /// driven between calls.
    fn runtime(&self) -> Result<&Runtime, EmbedError> {
        if let Some(rt) = self.runtime.get() {
            return Ok(rt);
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("cairn-embed")
            .enable_all()
            .build()
            .map_err(|e| EmbedError::Model(format!("cannot start the embedding runtime: {e}")))?;
        // Two threads racing here: the loser's runtime is shut down without blocking.
        if let Err(spare) = self.runtime.set(rt) {
            spare.shutdown_background();
        }
        Ok(self.runtime.get().expect("set above"))
    }
}

#[async_trait::async_trait]
impl AsyncEmbedder for RemoteEmbedder {
    fn model_id(&self) -> &str {
        &self.id
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn max_tokens(&self) -> usize {
        self.max_tokens
    }
    async fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.embed_async(texts).await.map_err(model_err)
    }
}

impl Embedder for RemoteEmbedder {
    fn model_id(&self) -> &str {
        &self.id
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn max_tokens(&self) -> usize {
        self.max_tokens
    }
    /// Blocking, and safe to call from anywhere: on a multi-thread tokio runtime the worker
    /// steps aside (`block_in_place`) and the requests run on that runtime; elsewhere they run
    /// on the embedder's own runtime (made once, on first use), from a scoped thread when the
    /// caller is on a current-thread runtime (which cannot be blocked in place).
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        match Handle::try_current() {
            Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| h.block_on(self.embed_async(texts)))
                    .map_err(model_err)
            }
            Ok(_) => {
                let rt = self.runtime()?;
                std::thread::scope(|s| {
                    s.spawn(|| rt.block_on(self.embed_async(texts)).map_err(model_err))
                        .join()
                        .unwrap_or_else(|_| {
                            Err(EmbedError::Model("the embedding thread panicked".into()))
                        })
                })
            }
            Err(_) => self
                .runtime()?
                .block_on(self.embed_async(texts))
                .map_err(model_err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::Transport;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// An Ollama-shaped `/api/embed` server on a loopback port: each text gets `[len, 1]`.
    /// One request per connection (`connection: close`). Returns the base URL and a request
    /// counter.
    fn ollama_server() -> (String, Arc<AtomicUsize>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let count = Arc::new(AtomicUsize::new(0));
        let seen = count.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                seen.fetch_add(1, Ordering::SeqCst);
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut len = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    let lower = line.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; len];
                reader.read_exact(&mut body).unwrap();
                let req: Value = serde_json::from_slice(&body).unwrap();
                let embeddings: Vec<Value> = req["input"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| json!([t.as_str().unwrap().len() as f64, 1.0]))
                    .collect();
                let reply = json!({"model": "m", "embeddings": embeddings}).to_string();
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
                    reply.len()
                );
            }
        });
        (base, count)
    }

    fn connect(base: String) -> RemoteEmbedder {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(RemoteEmbedder::connect(
            EmbedProvider::Ollama,
            Endpoint {
                base_url: base,
                api_key: None,
                transport: Arc::new(Transport::new(Default::default())),
            },
            "all-minilm",
        ))
        .unwrap()
    }

    fn unit(len: f32) -> Vec<f32> {
        normalise(vec![len, 1.0])
    }

    #[test]
    fn blocking_calls_outside_a_runtime_reuse_one_runtime() {
        let (base, requests) = ollama_server();
        let e = connect(base);
        assert_eq!(Embedder::dim(&e), 2);
        assert!(
            e.runtime.get().is_none(),
            "no runtime before the first blocking call"
        );
        let v = Embedder::embed(&e, &["abc"]).unwrap();
        assert_eq!(v, vec![unit(3.0)]);
        let first: *const Runtime = e.runtime.get().unwrap();
        for _ in 0..3 {
            Embedder::embed(&e, &["a", "abcd"]).unwrap();
        }
        assert!(std::ptr::eq(first, e.runtime.get().unwrap()));
        assert_eq!(
            requests.load(Ordering::SeqCst),
            5,
            "the probe and four calls"
        );
    }

    #[test]
    fn blocking_calls_work_on_either_kind_of_runtime_and_drop_inside_one() {
        let (base, _) = ollama_server();
        let current = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        current.block_on(async {
            let e = connect_async(base.clone()).await;
            assert_eq!(Embedder::embed(&e, &["ab"]).unwrap(), vec![unit(2.0)]);
            assert!(e.runtime.get().is_some());
            // Dropped inside async code with its runtime: must not panic.
        });
        let multi = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        multi.block_on(async {
            let e = connect_async(base.clone()).await;
            let v = tokio::spawn(async move {
                let v = Embedder::embed(&e, &["abcde"]).unwrap();
                assert!(e.runtime.get().is_none(), "runs on the caller's runtime");
                let w = AsyncEmbedder::embed(&e, &["abcde"]).await.unwrap();
                assert_eq!(v, w);
                v
            })
            .await
            .unwrap();
            assert_eq!(v, vec![unit(5.0)]);
        });
    }

    #[tokio::test]
    async fn errors_keep_their_class() {
        use cairn_core::{Classify, ErrorClass};
        let (base, _) = ollama_server();
        let e = connect_async(base).await.with_retry(RetryPolicy {
            max_retries: 0,
            ..Default::default()
        });
        // A server that is gone: a connection error, which is transient.
        let mut gone = e;
        gone.endpoint.base_url = "http://127.0.0.1:9".into();
        let err = AsyncEmbedder::embed(&gone, &["x"]).await.unwrap_err();
        assert_eq!(err.class(), ErrorClass::Transient, "{err}");
    }

    async fn connect_async(base: String) -> RemoteEmbedder {
        RemoteEmbedder::connect(
            EmbedProvider::Ollama,
            Endpoint {
                base_url: base,
                api_key: None,
                transport: Arc::new(Transport::new(Default::default())),
            },
            "all-minilm",
        )
        .await
        .unwrap()
    }
}
