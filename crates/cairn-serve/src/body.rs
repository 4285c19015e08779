//! Request bodies: read up to the configured limit and no further (a body over it is answered
//! 413 without being held in memory), then parsed as JSON with errors in OpenAI's shape; and
//! the small typed readers the RAG routes use to name a bad field.

use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde_json::{Map, Value};

use crate::app::AppState;
use crate::error::ApiError;

/// A JSON object body.
pub struct JsonBody(pub Map<String, Value>);

/// Reads at most `limit` bytes of `req`'s body.
pub async fn read_limited(req: Request, limit: usize) -> Result<axum::body::Bytes, ApiError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::too_large("the request body", limit));
    }
    axum::body::to_bytes(req.into_body(), limit)
        .await
        .map_err(|_| ApiError::too_large("the request body", limit))
}

impl FromRequest<AppState> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let bytes = read_limited(req, state.limits.max_body).await?;
        let v: Value = serde_json::from_slice(&bytes).map_err(|e| {
            ApiError::invalid("body", format!("the request body is not valid JSON: {e}"))
        })?;
        match v {
            Value::Object(o) => Ok(JsonBody(o)),
            _ => Err(ApiError::invalid(
                "body",
                "the request body must be a JSON object",
            )),
        }
    }
}

/// Typed field readers that name the field when it is wrong.
pub trait Fields {
    fn opt(&self, key: &str) -> Option<&Value>;

    fn str_opt(&self, key: &str) -> Result<Option<&str>, ApiError> {
        match self.opt(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(ApiError::invalid(key, format!("{key} must be a string"))),
        }
    }

    fn str_req(&self, key: &str) -> Result<&str, ApiError> {
        self.str_opt(key)?
            .ok_or_else(|| ApiError::invalid(key, format!("{key} is required")))
    }

    fn count_opt(&self, key: &str, max: u64) -> Result<Option<usize>, ApiError> {
        match self.opt(key) {
            None => Ok(None),
            Some(v) => match v.as_u64() {
                Some(n) if n >= 1 && n <= max => Ok(Some(n as usize)),
                _ => Err(ApiError::invalid(
                    key,
                    format!("{key} must be an integer from 1 to {max}"),
                )),
            },
        }
    }

    fn f32_opt(
        &self,
        key: &str,
        range: std::ops::RangeInclusive<f32>,
    ) -> Result<Option<f32>, ApiError> {
        match self.opt(key) {
            None => Ok(None),
            Some(v) => match v.as_f64().map(|f| f as f32) {
                Some(f) if range.contains(&f) => Ok(Some(f)),
                _ => Err(ApiError::invalid(
                    key,
                    format!(
                        "{key} must be a number from {} to {}",
                        range.start(),
                        range.end()
                    ),
                )),
            },
        }
    }

    fn bool_opt(&self, key: &str) -> Result<Option<bool>, ApiError> {
        match self.opt(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(ApiError::invalid(
                key,
                format!("{key} must be true or false"),
            )),
        }
    }

    /// Refuses fields the route does not know, so a typo is never silently ignored.
    fn only(&self, known: &[&str]) -> Result<(), ApiError>;
}

impl Fields for Map<String, Value> {
    fn opt(&self, key: &str) -> Option<&Value> {
        self.get(key).filter(|v| !v.is_null())
    }

    fn only(&self, known: &[&str]) -> Result<(), ApiError> {
        match self.keys().find(|k| !known.contains(&k.as_str())) {
            Some(k) => Err(ApiError::invalid(
                k.as_str(),
                format!("unknown field {k:?}: this route takes {}", known.join(", ")),
            )),
            None => Ok(()),
        }
    }
}
