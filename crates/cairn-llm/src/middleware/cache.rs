//! An opt-in response cache on disk, keyed by the model and the normalised request (object
//! keys sorted, so field order does not matter). A cached stream replays as events. Only
//! complete responses are stored; the request holds no credentials, so neither does the cache.
//!
//! A hit says so: `served.from_cache` and a cost of 0 (nothing is booked), with the model that
//! gave the stored answer; a replayed stream ends with that `ChatEvent::Served`. A miss passes
//! the layers below's `Served` on (naming the inner model when none came) and stores it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::LlmError;
use crate::model::{
    events_of, Accumulator, ChatModel, ChatStream, ModelId, ModelProfile, TokenCount,
};
use crate::types::{ChatEvent, ChatRequest, ChatResponse, Served};

pub struct Cache {
    inner: Arc<dyn ChatModel>,
    dir: PathBuf,
}

/// Serialises with object keys sorted at every level.
pub fn canonical_json(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let inner: Vec<String> = keys
                .iter()
                .map(|k| format!("{}:{}", Value::String((*k).clone()), canonical_json(&m[*k])))
                .collect();
            format!("{{{}}}", inner.join(","))
        }
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(canonical_json).collect::<Vec<_>>().join(",")
        ),
        v => v.to_string(),
    }
}

pub fn cache_key(model: &ModelId, req: &ChatRequest) -> String {
    let v = serde_json::to_value(req).unwrap_or(Value::Null);
    let mut h = Sha256::new();
    h.update(model.to_string().as_bytes());
    h.update([0]);
    h.update(canonical_json(&v).as_bytes());
    hex::encode(h.finalize())
}

/// A stored response, marked as a hit: from the cache, free.
fn read(path: &Path) -> Option<ChatResponse> {
    let bytes = std::fs::read(path).ok()?;
    let mut r: ChatResponse = serde_json::from_slice(&bytes).ok()?;
    r.served.from_cache = true;
    r.served.cost_usd = Some(0.0);
    Some(r)
}

fn write(dir: &Path, path: &Path, resp: &ChatResponse) {
    let result = (|| -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(
            &tmp,
            serde_json::to_vec(resp).map_err(std::io::Error::other)?,
        )?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        tracing::warn!(path = %path.display(), error = %e, "could not write the response cache");
    }
}

impl Cache {
    pub fn new(inner: Arc<dyn ChatModel>, dir: impl Into<PathBuf>) -> Self {
        Cache {
            inner,
            dir: dir.into(),
        }
    }

    fn path(&self, req: &ChatRequest) -> PathBuf {
        self.dir
            .join(format!("{}.json", cache_key(&self.inner.id(), req)))
    }
}

#[async_trait]
impl ChatModel for Cache {
    fn id(&self) -> ModelId {
        self.inner.id()
    }
    fn profile(&self) -> ModelProfile {
        self.inner.profile()
    }

    async fn chat(&self, req: &ChatRequest) -> Result<ChatResponse, LlmError> {
        let path = self.path(req);
        if let Some(r) = read(&path) {
            return Ok(r);
        }
        let mut r = self.inner.chat(req).await?;
        if r.served.model.is_empty() {
            r.served.model = self.inner.id().to_string();
        }
        write(&self.dir, &path, &r);
        Ok(r)
    }

    async fn stream(&self, req: &ChatRequest) -> Result<ChatStream, LlmError> {
        let path = self.path(req);
        if let Some(r) = read(&path) {
            // Ends with the hit's `Served` (from the cache, free).
            let evs: Vec<Result<ChatEvent, LlmError>> = events_of(&r).into_iter().map(Ok).collect();
            return Ok(Box::pin(futures::stream::iter(evs)));
        }
        let mut s = self.inner.stream(req).await?;
        let dir = self.dir.clone();
        let id = self.inner.id();
        Ok(Box::pin(async_stream::stream! {
            let mut acc = Accumulator::default();
            let mut held: Option<Served> = None;
            let mut failed = false;
            while let Some(ev) = s.next().await {
                match &ev {
                    Ok(ChatEvent::Served { served }) => {
                        held = Some(served.clone());
                        continue;
                    }
                    Ok(e) => {
                        acc.push(e);
                        match e {
                            // Stored at once, so a consumer that stops reading here still
                            // fills the cache; stored again below with the served facts.
                            ChatEvent::Finish { .. } => write(&dir, &path, &acc.response()),
                            ChatEvent::Restart { .. } => held = None,
                            _ => {}
                        }
                    }
                    Err(_) => failed = true,
                }
                yield ev;
            }
            if acc.is_finished() && !failed {
                let mut served = held.unwrap_or_default();
                if served.model.is_empty() {
                    served.model = id.to_string();
                }
                acc.push(&ChatEvent::Served { served: served.clone() });
                write(&dir, &path, &acc.response());
                yield Ok(ChatEvent::Served { served });
            }
        }))
    }

    async fn count_tokens(&self, req: &ChatRequest) -> Result<TokenCount, LlmError> {
        self.inner.count_tokens(req).await
    }
    async fn context_window(&self) -> Result<Option<u64>, LlmError> {
        self.inner.context_window().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ignores_field_order_but_not_content() {
        let a: Value =
            serde_json::from_str(r#"{"a":1,"b":{"y":2,"x":[1,{"q":1,"p":2}]}}"#).unwrap();
        let b: Value =
            serde_json::from_str(r#"{"b":{"x":[1,{"p":2,"q":1}],"y":2},"a":1}"#).unwrap();
        assert_eq!(canonical_json(&a), canonical_json(&b));
        let m = ModelId::new("openai", "gpt-4o-mini");
        let r1 = ChatRequest::prompt(None, "hi");
        let r2 = ChatRequest::prompt(None, "hi!");
        assert_ne!(cache_key(&m, &r1), cache_key(&m, &r2));
        assert_ne!(
            cache_key(&m, &r1),
            cache_key(&ModelId::new("openai", "gpt-4o"), &r1)
        );
    }
}
