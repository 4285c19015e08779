//! `POST /v1/embeddings`: one string or a batch, as floats or base64 (little-endian `f32`,
//! what the OpenAI SDKs decode), from the local model or any embedder the server was given.

use axum::extract::State;
use axum::{Extension, Json};
use base64::Engine;
use serde_json::{json, Value};

use crate::app::{AppState, Caller};
use crate::body::{Fields, JsonBody};
use crate::error::ApiError;

/// OpenAI's own limit on inputs per request.
const MAX_INPUTS: usize = 2048;

pub async fn embeddings(
    State(s): State<AppState>,
    Extension(_caller): Extension<Caller>,
    JsonBody(b): JsonBody,
) -> Result<Json<Value>, ApiError> {
    b.only(&["model", "input", "encoding_format", "dimensions", "user"])?;
    let name = b.str_req("model")?;
    let m = s.embedders.get(name).ok_or_else(|| {
        ApiError::not_found(
            format!(
                "the embedding model {name:?} is not served here: use {}",
                s.embedder_names.join(", ")
            ),
            "model_not_found",
        )
        .with_param("model")
    })?;
    let inputs: Vec<String> = match b.opt("input") {
        Some(Value::String(t)) => vec![t.clone()],
        Some(Value::Array(a)) if !a.is_empty() => a
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(t) => Ok(t.clone()),
                _ => Err(ApiError::invalid(
                    format!("input[{i}]"),
                    "each input must be a string (token arrays are tokens of another \
                     model's tokenizer: send the text)",
                )),
            })
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(ApiError::invalid(
                "input",
                "input must be a string or a non-empty array of strings",
            ))
        }
    };
    if inputs.len() > MAX_INPUTS {
        return Err(ApiError::invalid(
            "input",
            format!("{} inputs: at most {MAX_INPUTS} per request", inputs.len()),
        ));
    }
    if let Some(i) = inputs.iter().position(|t| t.is_empty()) {
        return Err(ApiError::invalid(
            format!("input[{i}]"),
            "an input is empty",
        ));
    }
    let base64 = match b.str_opt("encoding_format")? {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(ApiError::invalid(
                "encoding_format",
                format!("encoding_format {other:?} is not float or base64"),
            ))
        }
    };
    let dim = m.embedder.dim();
    if let Some(d) = b.opt("dimensions") {
        if d.as_u64() != Some(dim as u64) {
            return Err(ApiError::invalid(
                "dimensions",
                format!(
                    "{name} gives {dim}-d vectors and cannot shorten them: leave dimensions out"
                ),
            ));
        }
    }
    let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let vectors = m.embedder.embed(&refs).await?;
    let tokens: usize = match &m.counter {
        Some(c) => inputs.iter().map(|t| c.count_tokens(t)).sum(),
        None => inputs.iter().map(|t| t.split_whitespace().count()).sum(),
    };
    let data: Vec<Value> = vectors
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let embedding = if base64 {
                let bytes: Vec<u8> = v.iter().flat_map(|f| f.to_le_bytes()).collect();
                json!(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(v)
            };
            json!({"object": "embedding", "index": i, "embedding": embedding})
        })
        .collect();
    Ok(Json(json!({"object": "list", "data": data, "model": name,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})))
}
