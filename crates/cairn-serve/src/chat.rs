//! `POST /v1/chat/completions` and `GET /v1/models`. A provider model gets the request as it
//! came (tools, `response_format`) through its middleware stack; `model: "rag:<collection>"`
//! answers the last user message from that collection with checked citations, the sources
//! and per-sentence support in the `cairn` extension field (the body's, or the last chunk's).

use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Path, State};
use axum::http::{HeaderName, HeaderValue};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use cairn_llm::{ChatEvent, ChatStream, Role};
use futures::channel::mpsc;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};

use crate::app::{AppState, Caller};
use crate::body::JsonBody;
use crate::error::ApiError;
use crate::wire::{self, ChunkWriter};

pub const SERVED_BY: HeaderName = HeaderName::from_static("x-cairn-served-by");

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// An id for a response (`chatcmpl-…`): random, so ids from replicas never collide.
pub fn response_id(prefix: &str) -> String {
    let mut b = [0u8; 12];
    let _ = getrandom::fill(&mut b);
    format!("{prefix}-{}", hex::encode(b))
}

fn model_entry(id: &str, owner: &str) -> Value {
    json!({"id": id, "object": "model", "created": 0, "owned_by": owner})
}

fn listed(s: &AppState, caller: &Caller) -> Vec<Value> {
    let mut data: Vec<Value> = s
        .models
        .allowed()
        .iter()
        .map(|spec| model_entry(spec, spec.split(':').next().unwrap_or("cairn")))
        .collect();
    for name in s.collections.keys() {
        if caller.check_collection(name).is_ok() {
            data.push(model_entry(&format!("rag:{name}"), "cairn"));
        }
    }
    for name in &s.embedder_names {
        data.push(model_entry(name, "cairn"));
    }
    data
}

pub async fn models(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Json<Value> {
    Json(json!({"object": "list", "data": listed(&s, &caller)}))
}

pub async fn model(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    listed(&s, &caller)
        .into_iter()
        .find(|m| m["id"] == id.as_str())
        .map(Json)
        .ok_or_else(|| {
            ApiError::not_found(format!("no model {id:?} is served here"), "model_not_found")
        })
}

pub async fn completions(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let p = wire::parse_chat(&Value::Object(body))?;
    s.check_budget(&caller)?;
    if let Some(collection) = p.model.strip_prefix("rag:") {
        return crate::rag::chat(s.clone(), caller, collection.to_string(), p).await;
    }
    let spec = s.models.resolve(&p.model)?;
    let model = s.models.get(&spec)?;
    let id = response_id("chatcmpl");
    let created = now();
    if !p.stream {
        let resp = model.chat(&p.request).await?;
        s.book(&caller, &resp.usage, resp.served.cost_usd);
        let served_by = if resp.served.model.is_empty() {
            spec
        } else {
            resp.served.model.clone()
        };
        let mut body = wire::completion(&id, created, &p.model, &resp);
        body["cairn"] = json!({"served_by": served_by, "cost_usd": resp.served.cost_usd,
            "from_cache": resp.served.from_cache});
        return Ok(with_served_by(Json(body).into_response(), &served_by));
    }
    // Opening the stream is where a refused request, a rate limit or a down provider shows:
    // those still get their own status, before any byte is sent.
    let stream = model.stream(&p.request).await?;
    let writer = ChunkWriter::new(id, created, p.model.clone());
    let (tx, rx) = mpsc::channel::<Event>(32);
    tokio::spawn(pump(s.clone(), caller, stream, writer, p.include_usage, tx));
    Ok(with_served_by(sse(rx), &spec))
}

pub fn with_served_by(mut r: Response, model: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(model) {
        r.headers_mut().insert(SERVED_BY, v);
    }
    r
}

/// Server-sent events from a channel: the sender ends the stream by dropping.
pub fn sse(rx: mpsc::Receiver<Event>) -> Response {
    Sse::new(rx.map(Ok::<_, std::convert::Infallible>)).into_response()
}

pub fn data(v: &Value) -> Event {
    Event::default().data(v.to_string())
}

/// Relays a model stream as chunks. A stream that breaks and restarts before it sent any
/// output goes on unseen; after output, the client cannot take text back, so the stream
/// ends with an error event instead of a stitched answer.
async fn pump(
    s: AppState,
    caller: Caller,
    mut stream: ChatStream,
    mut w: ChunkWriter,
    include_usage: bool,
    mut tx: mpsc::Sender<Event>,
) {
    let mut usage = cairn_llm::Usage::default();
    let mut served = cairn_llm::Served::default();
    let mut sent = false;
    while let Some(ev) = stream.next().await {
        let ev = match ev {
            Ok(ev) => ev,
            Err(e) => {
                s.metrics.stream_error("upstream");
                let _ = tx.send(data(&ApiError::from(e).body())).await;
                return;
            }
        };
        match &ev {
            ChatEvent::Usage { usage: u } => usage = *u,
            ChatEvent::Served { served: sv } => served = sv.clone(),
            ChatEvent::Restart { reason, .. } if sent => {
                s.metrics.stream_error("upstream");
                let _ = tx
                    .send(data(&ApiError::broke_after_output(reason).body()))
                    .await;
                return;
            }
            _ => {}
        }
        if let Some(chunk) = w.event(&ev) {
            sent = true;
            if tx.send(data(&chunk)).await.is_err() {
                return; // the client went away: dropping the stream cancels the call
            }
        }
    }
    s.book(&caller, &usage, served.cost_usd);
    let extension = json!({"served_by": served.model, "cost_usd": served.cost_usd,
        "from_cache": served.from_cache});
    let mut last = if include_usage {
        w.usage_chunk(&usage)
    } else {
        json!({"id": w.id, "object": "chat.completion.chunk", "created": w.created,
            "model": w.model, "choices": []})
    };
    last["cairn"] = extension;
    let _ = tx.send(data(&last)).await;
    let _ = tx.send(Event::default().data("[DONE]")).await;
}

/// The question and the history before it, from a chat's messages: the last message must be
/// the user's; system messages are dropped (the RAG prompt is cairn's).
pub fn question_of(
    messages: &[cairn_llm::Message],
) -> Result<(String, Vec<cairn_llm::Message>), ApiError> {
    let (last, before) = messages
        .split_last()
        .ok_or_else(|| ApiError::invalid("messages", "messages is empty"))?;
    if last.role != Role::User || last.text().trim().is_empty() {
        return Err(ApiError::invalid(
            format!("messages[{}]", messages.len() - 1),
            "a rag: model answers the last message, which must be the user's question",
        ));
    }
    let history = before
        .iter()
        .filter(|m| matches!(m.role, Role::User | Role::Assistant))
        .cloned()
        .collect();
    Ok((last.text(), history))
}
