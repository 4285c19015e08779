//! The plumbing every REST backend shares (Chroma, Qdrant, Pinecone, Weaviate): one client
//! with timeouts, the service's auth header, JSON in and out, and the mapping of transport
//! failures and status codes to [`VectorStoreError`]s that classify themselves. A backend
//! module only builds paths and bodies and reads answers.

use cairn_core::VectorStoreError;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::Method;
use serde_json::Value;
use std::time::Duration;

/// How long a request may take before it counts as the server being unavailable.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// A JSON-over-HTTP endpoint of one store.
#[derive(Clone)]
pub struct Rest {
    client: reqwest::Client,
    base: String,
    /// The store's name for messages (`chroma:docs`).
    store: String,
}

impl std::fmt::Debug for Rest {
    // Headers (the API key) are never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rest")
            .field("base", &self.base)
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl Rest {
    /// `base` is the service URL (`http://localhost:8000`); `headers` are sent with every
    /// request (the API key header, marked sensitive so it is never logged).
    pub fn new(
        store: impl Into<String>,
        base: &str,
        headers: &[(&str, &str)],
        timeout: Duration,
    ) -> Result<Self, VectorStoreError> {
        let store = store.into();
        let url = reqwest::Url::parse(base).map_err(|e| {
            VectorStoreError::invalid(
                &store,
                format!("`{base}` is not a URL ({e}); write it as http://host:port"),
            )
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(VectorStoreError::invalid(
                &store,
                format!("`{base}` is not an http:// or https:// URL"),
            ));
        }
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            let name = HeaderName::from_bytes(k.as_bytes()).map_err(|e| {
                VectorStoreError::invalid(&store, format!("header name `{k}`: {e}"))
            })?;
            let mut value = HeaderValue::from_str(v).map_err(|_| {
                VectorStoreError::invalid(
                    &store,
                    format!("the value of header `{k}` has characters a header cannot carry"),
                )
            })?;
            value.set_sensitive(true);
            map.insert(name, value);
        }
        let client = reqwest::Client::builder()
            .default_headers(map)
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| VectorStoreError::invalid(&store, format!("HTTP client: {e}")))?;
        Ok(Rest {
            client,
            base: base.trim_end_matches('/').to_string(),
            store,
        })
    }

    pub fn store(&self) -> &str {
        &self.store
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sends `body` (if any) as JSON to `path` (starting with `/`) and reads a JSON answer
    /// (`Value::Null` for an empty body). A status outside 2xx becomes the error its class
    /// says, carrying the server's message.
    pub async fn json(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, VectorStoreError> {
        let url = format!("{}{path}", self.base);
        let mut req = self.client.request(method.clone(), &url);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| self.transport(&url, e))?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| self.transport(&url, e))?;
        if status.is_success() {
            if text.trim().is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_str(&text).map_err(|e| VectorStoreError::Unavailable {
                store: self.store.clone(),
                message: format!("{method} {path}: the answer is not JSON ({e})"),
            });
        }
        Err(status_error(
            &self.store,
            &method,
            path,
            status.as_u16(),
            &text,
        ))
    }

    fn transport(&self, url: &str, e: reqwest::Error) -> VectorStoreError {
        let what = if e.is_timeout() {
            "timed out"
        } else if e.is_connect() {
            "could not connect"
        } else {
            "failed"
        };
        VectorStoreError::Unavailable {
            store: self.store.clone(),
            message: format!(
                "the request to {url} {what} ({e}); is the server running at {}?",
                self.base
            ),
        }
    }
}

/// The error a non-2xx answer stands for. The message is the server's own (`error`,
/// `message` or `detail` of a JSON body, else the text), cut short.
pub fn status_error(
    store: &str,
    method: &Method,
    path: &str,
    status: u16,
    body: &str,
) -> VectorStoreError {
    let message = server_message(body);
    let what = format!("{method} {path} answered {status}: {message}");
    let store = store.to_string();
    match status {
        401 | 403 => VectorStoreError::Auth {
            store,
            message: format!("{what} (check the API key)"),
        },
        404 => VectorStoreError::NotFound { store, what },
        408 | 429 | 500..=599 => VectorStoreError::Unavailable {
            store,
            message: what,
        },
        _ => VectorStoreError::InvalidInput {
            store,
            message: what,
        },
    }
}

fn server_message(body: &str) -> String {
    let from_json = serde_json::from_str::<Value>(body).ok().and_then(|v| {
        ["error", "message", "detail", "status"]
            .iter()
            .find_map(|k| match v.get(k)? {
                Value::String(s) => Some(s.clone()),
                Value::Null => None,
                other => Some(nested_message(other).unwrap_or_else(|| other.to_string())),
            })
    });
    let mut m = from_json.unwrap_or_else(|| body.trim().to_string());
    if m.is_empty() {
        m = "(no message)".into();
    }
    if m.chars().count() > 400 {
        m = m.chars().take(400).collect::<String>() + "…";
    }
    m
}

/// The text of a nested error: Qdrant's `{"status": {"error": "..."}}`, Weaviate's
/// `{"error": [{"message": "..."}]}`.
fn nested_message(v: &Value) -> Option<String> {
    match v {
        Value::Object(o) => ["error", "message"]
            .iter()
            .find_map(|k| o.get(*k)?.as_str().map(str::to_string)),
        Value::Array(a) => {
            let parts: Vec<String> = a
                .iter()
                .filter_map(|x| x.as_str().map(str::to_string).or_else(|| nested_message(x)))
                .collect();
            (!parts.is_empty()).then(|| parts.join("; "))
        }
        _ => None,
    }
}

/// The value of an environment variable, when set and not blank.
pub fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_core::{Classify, ErrorClass};

    #[test]
    fn statuses_classify() {
        let e = |s| status_error("x", &Method::GET, "/p", s, r#"{"error":"nope"}"#);
        assert_eq!(e(401).class(), ErrorClass::Auth);
        assert_eq!(e(404).class(), ErrorClass::NotFound);
        assert_eq!(e(503).class(), ErrorClass::Transient);
        assert_eq!(e(429).class(), ErrorClass::Transient);
        assert_eq!(e(400).class(), ErrorClass::InvalidInput);
        assert!(e(400).to_string().contains("nope"), "{}", e(400));
        assert!(e(400).to_string().starts_with("x: "));
    }

    #[test]
    fn nested_error_messages_are_unwrapped() {
        let m = |b: &str| status_error("x", &Method::GET, "/p", 400, b).to_string();
        assert!(
            m(r#"{"status": {"error": "Wrong input: no such field"}, "time": 0}"#)
                .ends_with("answered 400: Wrong input: no such field"),
            "{}",
            m(r#"{"status": {"error": "x"}}"#)
        );
        assert!(m(r#"{"error": [{"message": "a"}, {"message": "b"}]}"#).ends_with(": a; b"));
        assert!(m(r#"{"error": {"code": 1}}"#).ends_with(r#": {"code":1}"#));
    }

    #[test]
    fn bad_urls_are_refused_before_any_request() {
        let e = Rest::new("chroma:docs", "localhost:8000", &[], DEFAULT_TIMEOUT).unwrap_err();
        assert!(e.to_string().contains("chroma:docs"), "{e}");
        assert_eq!(e.class(), ErrorClass::InvalidInput);
        assert!(Rest::new("c", "ftp://h", &[], DEFAULT_TIMEOUT).is_err());
    }

    #[test]
    fn the_key_is_not_in_debug_output() {
        let r = Rest::new("c", "http://h:1", &[("api-key", "s3cret")], DEFAULT_TIMEOUT).unwrap();
        assert!(!format!("{r:?}").contains("s3cret"));
    }
}
