//! Remote embedders behind cairn-core's `Embedder`: OpenAI `/embeddings` (also for compatible
//! servers), Gemini `batchEmbedContents` and Ollama `/api/embed`. Each batches within its API's
//! limit, retries transient failures with the same policy as chat, and L2-normalises vectors
//! so they mix with the local embedder's in cosine search.

use cairn_core::traits::{EmbedError, Embedder};
use serde_json::{json, Value};

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
}

fn model_err(e: LlmError) -> EmbedError {
    EmbedError::Model(e.to_string())
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
    /// Blocking: runs the requests on a private runtime in a scoped thread, so it is safe to
    /// call from inside or outside an async runtime.
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        std::thread::scope(|s| {
            s.spawn(|| {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| EmbedError::Model(e.to_string()))?;
                rt.block_on(self.embed_async(texts)).map_err(model_err)
            })
            .join()
            .unwrap_or_else(|_| Err(EmbedError::Model("the embedding thread panicked".into())))
        })
    }
}
