//! Rerankers behind cairn-core's [`Reranker`] trait (re-exported here): a local cross-encoder,
//! the Cohere, Voyage and Jina rerank APIs (one module's worth of mapping each, sharing
//! cairn-llm's transport and retry policy), and a listwise LLM reranker over any `ChatModel`.
//! Their errors are [`RerankError`]s that keep the class of what failed (an `LlmError`, the
//! local model's error).

use std::sync::Arc;

use async_trait::async_trait;
use cairn_llm::middleware::clock::Jitterer;
use cairn_llm::middleware::{RetryPolicy, SystemClock};
use cairn_llm::providers::Endpoint;
use cairn_llm::transport::{ErrorBody, Headers};
use cairn_llm::{ChatModel, ChatRequest, LlmError, Message};
use serde_json::{json, Value};

pub use cairn_core::rerank::{RerankError, Reranker};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RerankApi {
    Cohere,
    Voyage,
    Jina,
}

impl RerankApi {
    pub fn default_base(self) -> &'static str {
        match self {
            RerankApi::Cohere => "https://api.cohere.com",
            RerankApi::Voyage => "https://api.voyageai.com",
            RerankApi::Jina => "https://api.jina.ai",
        }
    }
    pub fn default_model(self) -> &'static str {
        match self {
            RerankApi::Cohere => "rerank-v3.5",
            RerankApi::Voyage => "rerank-2.5",
            RerankApi::Jina => "jina-reranker-v2-base-multilingual",
        }
    }
    /// The SDKs' variables: key, then base URL.
    pub fn env_vars(self) -> (&'static [&'static str], &'static str) {
        match self {
            RerankApi::Cohere => (&["CO_API_KEY", "COHERE_API_KEY"], "CO_API_URL"),
            RerankApi::Voyage => (&["VOYAGE_API_KEY"], "VOYAGE_BASE_URL"),
            RerankApi::Jina => (&["JINA_API_KEY"], "JINA_BASE_URL"),
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            RerankApi::Cohere => "cohere",
            RerankApi::Voyage => "voyage",
            RerankApi::Jina => "jina",
        }
    }
    fn path(self) -> &'static str {
        match self {
            RerankApi::Cohere => "v2/rerank",
            _ => "v1/rerank",
        }
    }
}

pub struct ApiReranker {
    pub api: RerankApi,
    pub endpoint: Endpoint,
    pub model: String,
    pub retry: RetryPolicy,
    rng: Jitterer,
}

fn parse_error(body: &[u8]) -> ErrorBody {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let msg = v
        .get("message")
        .or_else(|| v.pointer("/detail"))
        .or_else(|| v.pointer("/error/message"))
        .or_else(|| v.get("error"))
        .map(|m| {
            m.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| m.to_string())
        })
        .unwrap_or_default();
    ErrorBody {
        code: None,
        message: msg,
        retry_after: None,
    }
}

impl ApiReranker {
    pub fn new(api: RerankApi, endpoint: Endpoint, model: Option<&str>) -> Self {
        ApiReranker {
            api,
            endpoint,
            model: model.unwrap_or(api.default_model()).to_string(),
            retry: RetryPolicy::default(),
            rng: Jitterer::from_time(),
        }
    }

    /// From the environment: the key is required for the vendor's own host.
    pub fn from_env(
        api: RerankApi,
        env: &dyn Fn(&str) -> Option<String>,
        transport: Arc<cairn_llm::transport::Transport>,
    ) -> Result<Self, LlmError> {
        let (keys, base_var) = api.env_vars();
        let key = keys.iter().find_map(|k| env(k));
        let base = env(base_var).unwrap_or_else(|| api.default_base().to_string());
        if key.is_none() && base == api.default_base() {
            return Err(LlmError::NotConfigured(format!(
                "the {} rerank API: no API key; set {}",
                api.name(),
                keys.join(" or ")
            )));
        }
        Ok(Self::new(
            api,
            Endpoint {
                base_url: base,
                api_key: key,
                transport,
            },
            None,
        ))
    }

    async fn once(&self, query: &str, docs: &[&str]) -> Result<Vec<(usize, f32)>, LlmError> {
        let mut headers = Headers::new();
        if let Some(k) = &self.endpoint.api_key {
            headers.push(("authorization", format!("Bearer {k}")));
        }
        let body = match self.api {
            RerankApi::Cohere => {
                json!({"model": self.model, "query": query, "documents": docs, "top_n": docs.len()})
            }
            RerankApi::Voyage => {
                json!({"model": self.model, "query": query, "documents": docs, "top_k": docs.len(), "truncation": true})
            }
            RerankApi::Jina => {
                json!({"model": self.model, "query": query, "documents": docs, "top_n": docs.len(), "return_documents": false})
            }
        };
        let (v, _) = self
            .endpoint
            .transport
            .post_json(
                self.api.name(),
                &self.endpoint.url(self.api.path()),
                &headers,
                &body,
                parse_error,
            )
            .await?;
        let list = v
            .get(if self.api == RerankApi::Voyage {
                "data"
            } else {
                "results"
            })
            .and_then(Value::as_array)
            .ok_or_else(|| LlmError::Decode {
                provider: self.api.name(),
                message: "no results in the rerank response".into(),
            })?;
        let mut out: Vec<(usize, f32)> = Vec::new();
        for r in list {
            let i = r.get("index").and_then(Value::as_u64).map(|i| i as usize);
            let s = r.get("relevance_score").and_then(Value::as_f64);
            match (i, s) {
                (Some(i), Some(s)) if i < docs.len() && !out.iter().any(|(j, _)| *j == i) => {
                    out.push((i, s as f32))
                }
                _ => {
                    return Err(LlmError::Decode {
                        provider: self.api.name(),
                        message: format!("bad rerank result {r}"),
                    })
                }
            }
        }
        Ok(complete(out, docs.len()))
    }
}

/// Sorts by score and appends any document the reranker left out, in original order, after
/// the ones it ranked.
fn complete(mut ranked: Vec<(usize, f32)>, n: usize) -> Vec<(usize, f32)> {
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    let floor = ranked.last().map(|r| r.1).unwrap_or(0.0);
    for i in 0..n {
        if !ranked.iter().any(|(j, _)| *j == i) {
            ranked.push((i, floor - 1.0 - i as f32 * 1e-3));
        }
    }
    ranked
}

#[async_trait]
impl Reranker for ApiReranker {
    fn name(&self) -> String {
        format!("{}:{}", self.api.name(), self.model)
    }
    async fn rerank(&self, query: &str, docs: &[&str]) -> Result<Vec<(usize, f32)>, RerankError> {
        if docs.is_empty() {
            return Ok(vec![]);
        }
        let what = self.name();
        let (r, _) = self
            .retry
            .run(&SystemClock::default(), &self.rng, 0, &what, || {
                self.once(query, docs)
            })
            .await
            .map_err(RerankError::backend)?;
        Ok(r)
    }
}

/// A local BERT cross-encoder (`cross-encoder/ms-marco-MiniLM-L-6-v2` by default): each
/// passage is scored with the query as a sentence pair.
pub struct CrossEncoderReranker {
    model: Arc<cairn_models::BertCrossEncoder>,
}

impl CrossEncoderReranker {
    pub fn new(model: Arc<cairn_models::BertCrossEncoder>) -> Self {
        CrossEncoderReranker { model }
    }
}

#[async_trait]
impl Reranker for CrossEncoderReranker {
    fn name(&self) -> String {
        format!("local:{}", self.model.name())
    }

    /// The forward passes run on the blocking pool, so awaiting this never stalls the
    /// executor's threads.
    async fn rerank(&self, query: &str, docs: &[&str]) -> Result<Vec<(usize, f32)>, RerankError> {
        if docs.is_empty() {
            return Ok(vec![]);
        }
        let model = self.model.clone();
        let query = query.to_string();
        let docs: Vec<String> = docs.iter().map(|d| d.to_string()).collect();
        let scores = cairn_core::run_blocking(move || {
            let refs: Vec<&str> = docs.iter().map(String::as_str).collect();
            model.score(&query, &refs)
        })
        .await
        .map_err(RerankError::backend)?;
        let mut ranked: Vec<(usize, f32)> = scores.into_iter().enumerate().collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        Ok(ranked)
    }
}

/// Listwise reranking by a chat model: it sees the numbered passages and returns their numbers
/// best first (RankGPT-style). Numbers it omits keep their order after the ones it ranked.
pub struct LlmReranker {
    pub model: Arc<dyn ChatModel>,
    /// Words of each passage shown to the model.
    pub words_per_passage: usize,
}

impl LlmReranker {
    pub fn new(model: Arc<dyn ChatModel>) -> Self {
        LlmReranker {
            model,
            words_per_passage: 80,
        }
    }

    pub fn request(&self, query: &str, docs: &[&str]) -> ChatRequest {
        let mut list = String::new();
        for (i, d) in docs.iter().enumerate() {
            let words: Vec<&str> = d.split_whitespace().take(self.words_per_passage).collect();
            list.push_str(&format!("[{}] {}\n", i + 1, words.join(" ")));
        }
        let mut r = ChatRequest::new(vec![
            Message::system("You rank passages by how well they answer a query. Reply with the passage numbers only, most relevant first, separated by spaces, e.g. `3 1 2`."),
            Message::user(format!("Query: {query}\n\nPassages:\n{list}\nRanking:")),
        ]);
        r.temperature = Some(0.0);
        r.max_output_tokens = Some((docs.len() * 4 + 8) as u32);
        r
    }
}

/// The passage numbers in a ranking reply, 1-based, de-duplicated, in range.
pub fn parse_ranking(reply: &str, n: usize) -> Vec<usize> {
    let mut out = Vec::new();
    for tok in reply.split(|c: char| !c.is_ascii_digit()) {
        if let Ok(k) = tok.parse::<usize>() {
            if (1..=n).contains(&k) && !out.contains(&k) {
                out.push(k);
            }
        }
    }
    out
}

#[async_trait]
impl Reranker for LlmReranker {
    fn name(&self) -> String {
        format!("llm:{}", self.model.id())
    }
    async fn rerank(&self, query: &str, docs: &[&str]) -> Result<Vec<(usize, f32)>, RerankError> {
        if docs.len() < 2 {
            return Ok(docs.iter().enumerate().map(|(i, _)| (i, 1.0)).collect());
        }
        let reply = self
            .model
            .chat(&self.request(query, docs))
            .await
            .map_err(RerankError::backend)?
            .text();
        let ranked: Vec<(usize, f32)> = parse_ranking(&reply, docs.len())
            .into_iter()
            .enumerate()
            .map(|(r, k)| (k - 1, 1.0 / (r + 1) as f32))
            .collect();
        Ok(complete(ranked, docs.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranking_replies_parse_leniently() {
        assert_eq!(parse_ranking("3 1 2", 3), vec![3, 1, 2]);
        assert_eq!(parse_ranking("[2] > [1] > [2] > [9]", 3), vec![2, 1]);
        assert_eq!(parse_ranking("none", 3), Vec::<usize>::new());
    }

    #[test]
    fn a_backend_error_keeps_its_class_and_message() {
        use cairn_core::{Classify, ErrorClass};
        let e = RerankError::backend(LlmError::InvalidRequest("bad query".into()));
        assert_eq!(e.class(), ErrorClass::InvalidInput);
        assert_eq!(
            e.to_string(),
            LlmError::InvalidRequest("bad query".into()).to_string()
        );
        assert!(e.downcast_ref::<LlmError>().is_some());
        let e = RerankError::backend(LlmError::Decode {
            provider: "cohere",
            message: "no results".into(),
        });
        assert!(e.class().is_retryable());
    }

    #[test]
    fn omitted_documents_follow_in_order() {
        let r = complete(vec![(2, 0.9)], 4);
        let order: Vec<usize> = r.iter().map(|x| x.0).collect();
        assert_eq!(order, vec![2, 0, 1, 3]);
        assert!(r.windows(2).all(|w| w[0].1 > w[1].1));
    }
}
