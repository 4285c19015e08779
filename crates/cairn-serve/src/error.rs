//! Errors as OpenAI sends them: `{"error": {"message", "type", "param", "code"}}` with the
//! status codes its SDKs map to their own exception types (400 `BadRequestError`, 401
//! `AuthenticationError`, 403 `PermissionDeniedError`, 404 `NotFoundError`, 413, 429
//! `RateLimitError` with `Retry-After`, 500, 503). Library errors classify themselves
//! ([`cairn_core::Classify`]); this maps a class to a status once.

use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use cairn_core::{Classify, ErrorClass};
use serde_json::json;

/// One error answer.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// The request field at fault (`messages[2].role`), when one is.
    pub param: Option<String>,
    /// A machine-readable code (`model_not_found`, `invalid_api_key`, `budget_exceeded`).
    pub code: Option<&'static str>,
    pub retry_after: Option<Duration>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            param: None,
            code: None,
            retry_after: None,
        }
    }

    /// 400 naming the field.
    pub fn invalid(param: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError {
            param: Some(param.into()),
            ..Self::new(StatusCode::BAD_REQUEST, message)
        }
    }

    pub fn not_found(message: impl Into<String>, code: &'static str) -> Self {
        ApiError {
            code: Some(code),
            ..Self::new(StatusCode::NOT_FOUND, message)
        }
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError {
            code: Some("invalid_api_key"),
            ..Self::new(StatusCode::UNAUTHORIZED, message)
        }
    }

    pub fn too_many(message: impl Into<String>, code: &'static str, retry: Duration) -> Self {
        ApiError {
            code: Some(code),
            retry_after: Some(retry),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, message)
        }
    }

    /// 502 sent in place of a stream's next chunk when the model's stream broke after output
    /// went out: the client cannot be sent a restart, so it is told to ask again.
    pub fn broke_after_output(reason: &str) -> Self {
        Self::new(
            StatusCode::BAD_GATEWAY,
            format!("the model's stream broke after it had sent output ({reason}): ask again"),
        )
    }

    /// 413 for `what` ("the request body", "the upload") over `limit` bytes.
    pub fn too_large(what: &str, limit: usize) -> Self {
        ApiError {
            code: Some("body_too_large"),
            ..Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "{what} is over the server's limit of {} MiB ([server] max_body_mb)",
                    limit / (1024 * 1024)
                ),
            )
        }
    }

    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    /// A library error, its status following its class.
    pub fn from_class(e: &(impl Classify + std::fmt::Display + ?Sized)) -> Self {
        let message = e.to_string();
        match e.class() {
            ErrorClass::InvalidInput | ErrorClass::ContextTooLong | ErrorClass::Unsupported => {
                let mut err = Self::new(StatusCode::BAD_REQUEST, message);
                if e.class() == ErrorClass::ContextTooLong {
                    err.code = Some("context_length_exceeded");
                }
                err
            }
            ErrorClass::NotFound => Self::not_found(message, "not_found"),
            // The server's own credentials for an upstream provider were refused: the
            // client's key is fine, so this is not the client's 401.
            ErrorClass::Auth => ApiError {
                code: Some("upstream_auth"),
                ..Self::new(StatusCode::BAD_GATEWAY, message)
            },
            ErrorClass::RateLimited { retry_after_ms } => Self::too_many(
                message,
                "rate_limit_exceeded",
                Duration::from_millis(retry_after_ms.unwrap_or(1000)),
            ),
            ErrorClass::Transient => ApiError {
                retry_after: Some(Duration::from_secs(1)),
                ..Self::new(StatusCode::SERVICE_UNAVAILABLE, message)
            },
            ErrorClass::Internal => Self::new(StatusCode::INTERNAL_SERVER_ERROR, message),
        }
    }

    /// OpenAI's `error.type` for the status.
    pub fn kind(&self) -> &'static str {
        match self.status.as_u16() {
            400 | 404 | 413 | 415 | 422 => "invalid_request_error",
            401 => "authentication_error",
            403 => "permission_error",
            429 => "rate_limit_error",
            503 => "service_unavailable",
            _ => "server_error",
        }
    }

    /// The error object (the body's `error` field; also an SSE error event's payload).
    pub fn body(&self) -> serde_json::Value {
        json!({"error": {"message": self.message, "type": self.kind(),
            "param": self.param, "code": self.code}})
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.message)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, axum::Json(self.body())).into_response();
        if let Some(d) = self.retry_after {
            let secs = d.as_secs_f64().ceil().max(1.0) as u64;
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        r
    }
}

macro_rules! from_classified {
    ($($t:ty),*) => {$(
        impl From<$t> for ApiError {
            fn from(e: $t) -> Self {
                ApiError::from_class(&e)
            }
        }
    )*};
}

from_classified!(
    cairn_llm::LlmError,
    cairn_rag::AskError,
    cairn_rag::SearchError,
    cairn_rag::StoreSearchError,
    cairn_core::EmbedError,
    cairn::StackError
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_map_to_openai_statuses() {
        let e = cairn_llm::LlmError::InvalidRequest("bad".into());
        assert_eq!(ApiError::from(e).status, StatusCode::BAD_REQUEST);
        let e = ApiError::too_many("slow down", "rate_limit_exceeded", Duration::from_millis(1));
        let r = e.clone().into_response();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        // Retry-After is whole seconds, at least one.
        assert_eq!(r.headers()[header::RETRY_AFTER], "1");
        assert_eq!(e.body()["error"]["type"], "rate_limit_error");
        let e = ApiError::invalid("messages[0].role", "unknown role");
        assert_eq!(e.body()["error"]["param"], "messages[0].role");
        assert_eq!(e.kind(), "invalid_request_error");
    }
}
