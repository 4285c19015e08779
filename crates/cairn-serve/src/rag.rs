//! The RAG routes: `POST /v1/search`, `POST /v1/ask` (JSON, or SSE of the ask pipeline's
//! events), `GET /v1/collections`, a collection's documents, and the `rag:<collection>` chat
//! model. Each is a few lines over the library: the collection's retriever, an [`Asker`] and
//! the model stack.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::sse::Event;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use cairn_core::Filter;
use cairn_llm::ChatModel;
use cairn_rag::{Answer, AnswerEvent, Asker, SearchMode};
use futures::channel::mpsc;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Map, Value};

use crate::app::{AppState, Caller};
use crate::body::{Fields, JsonBody};
use crate::chat::{data, now, response_id, sse, with_served_by};
use crate::collections::Collection;
use crate::error::ApiError;
use crate::wire::{self, ChatParams, ChunkWriter};

/// `filter`: the text form (`lang = en and year >= 2020`) or the MongoDB-style JSON object.
fn filter(b: &Map<String, Value>) -> Result<Filter, ApiError> {
    match b.opt("filter") {
        None => Ok(Filter::default()),
        Some(Value::String(s)) => {
            Filter::parse_one(s).map_err(|e| ApiError::invalid("filter", e.to_string()))
        }
        Some(v @ Value::Object(_)) => {
            Filter::from_json(v).map_err(|e| ApiError::invalid("filter", e.to_string()))
        }
        Some(_) => Err(ApiError::invalid(
            "filter",
            "filter must be a string (lang = en) or a JSON object ({\"lang\": \"en\"})",
        )),
    }
}

fn mode(b: &Map<String, Value>) -> Result<Option<SearchMode>, ApiError> {
    b.str_opt("mode")?
        .map(|m| m.parse().map_err(|e: String| ApiError::invalid("mode", e)))
        .transpose()
}

fn search_options(
    s: &AppState,
    c: &Collection,
    b: &Map<String, Value>,
) -> Result<cairn_rag::SearchOptions, ApiError> {
    let mut opts = s
        .models
        .config()
        .search
        .options()
        .map_err(|e| ApiError::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, e))?;
    opts.mode = c.mode(mode(b)?, opts.mode)?;
    opts.filter = filter(b)?;
    Ok(opts)
}

pub async fn search(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    JsonBody(b): JsonBody,
) -> Result<Json<Value>, ApiError> {
    b.only(&["collection", "query", "k", "mode", "filter"])?;
    let c = s.collection(b.str_opt("collection")?, &caller)?;
    let query = b.str_req("query")?;
    if query.trim().is_empty() {
        return Err(ApiError::invalid("query", "the query is empty"));
    }
    let mut opts = search_options(&s, &c, &b)?;
    if let Some(k) = b.count_opt("k", 1000)? {
        opts.k = k;
    }
    opts.candidates = opts.candidates.max(opts.k);
    let hits = c.search(query, &opts).await?;
    let data: Vec<Value> = hits
        .iter()
        .map(|h| {
            json!({"rank": h.rank, "score": h.score, "scores": h.scores, "chunk_id": h.chunk.id,
                "document_id": h.chunk.doc_id, "source": h.source, "title": h.title,
                "heading_path": h.chunk.heading_path, "start": h.chunk.start, "end": h.chunk.end,
                "text": h.chunk.text, "metadata": h.chunk.metadata})
        })
        .collect();
    Ok(Json(
        json!({"object": "list", "collection": c.name, "mode": opts.mode.as_str(),
        "data": data}),
    ))
}

/// The ask pipeline for one request over `c`, answering with `model`.
fn asker(
    s: &AppState,
    c: &Collection,
    model: Arc<dyn ChatModel>,
    b: &Map<String, Value>,
) -> Result<Asker, ApiError> {
    let opts = search_options(s, c, b)?;
    let mut a = Asker::new(c.source.clone(), model).search(opts);
    if let Some(k) = b.count_opt("k", 50)? {
        a = a.k(k);
    }
    if let Some(n) = b.count_opt("candidates", 1000)? {
        a = a.candidates(n);
    }
    if let Some(r) = b.f32_opt("min_relevance", -1.0..=1.0)? {
        a = a.min_relevance(r);
    }
    if let Some(l) = b.f32_opt("mmr", 0.0..=1.0)? {
        a = a.mmr(l);
    }
    Ok(a)
}

/// The spec and model a RAG request answers with: its `model`, else the default.
fn answering(s: &AppState, name: Option<&str>) -> Result<(String, Arc<dyn ChatModel>), ApiError> {
    let spec = match name {
        Some(n) => s.models.resolve(n)?,
        None => s.models.default_spec().to_string(),
    };
    let model = s.models.get(&spec)?;
    Ok((spec, model))
}

pub async fn ask(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    JsonBody(b): JsonBody,
) -> Result<Response, ApiError> {
    b.only(&[
        "collection",
        "question",
        "k",
        "mode",
        "filter",
        "stream",
        "model",
        "candidates",
        "min_relevance",
        "mmr",
    ])?;
    let c = s.collection(b.str_opt("collection")?, &caller)?;
    let question = b.str_req("question")?.to_string();
    if question.trim().is_empty() {
        return Err(ApiError::invalid("question", "the question is empty"));
    }
    s.check_budget(&caller)?;
    let (spec, model) = answering(&s, b.str_opt("model")?)?;
    let a = asker(&s, &c, model, &b)?;
    let name = c.name.clone();
    if !b.bool_opt("stream")?.unwrap_or(false) {
        let answer = a.answer(&question, &[]).await?;
        s.book(&caller, &answer.usage, answer.served.cost_usd);
        let served = served_by(&answer, &spec);
        return Ok(with_served_by(
            Json(answer.to_json(Some(&name))).into_response(),
            &served,
        ));
    }
    let (tx, rx) = mpsc::channel::<Event>(32);
    let st = s.clone();
    tokio::spawn(async move {
        let mut tx = tx;
        let mut events = std::pin::pin!(a.stream(&question, &[]));
        while let Some(ev) = events.next().await {
            let event = match ev {
                Ok(AnswerEvent::Done { answer }) => {
                    st.book(&caller, &answer.usage, answer.served.cost_usd);
                    Event::default()
                        .event("done")
                        .data(answer.to_json(Some(&name)).to_string())
                }
                Ok(AnswerEvent::Sources { sources }) => {
                    let v: Vec<Value> = sources.iter().map(|s| s.to_json()).collect();
                    Event::default()
                        .event("sources")
                        .data(json!({"sources": v}).to_string())
                }
                Ok(ev) => {
                    let v = serde_json::to_value(&ev).unwrap_or_default();
                    let kind = v["type"].as_str().unwrap_or("event").to_string();
                    Event::default().event(kind).data(v.to_string())
                }
                Err(e) => {
                    st.metrics.stream_error("upstream");
                    Event::default()
                        .event("error")
                        .data(ApiError::from(e).body().to_string())
                }
            };
            if tx.send(event).await.is_err() {
                return;
            }
        }
    });
    Ok(with_served_by(sse(rx), &spec))
}

fn served_by(a: &Answer, spec: &str) -> String {
    if a.served.model.is_empty() {
        spec.to_string()
    } else {
        a.served.model.clone()
    }
}

/// The `cairn` extension of a `rag:` chat answer: sources, citation counts, per-sentence
/// support.
fn extension(a: &Answer, served: &str) -> Value {
    json!({"collection": null, "served_by": served, "cost_usd": a.served.cost_usd,
        "answered": a.answered, "sources": a.sources_json(), "citations": a.citations_json(),
        "sentences": a.sentences})
}

/// `model: "rag:<collection>"` on `/v1/chat/completions`: the last user message is the
/// question, the turns before it the history (a follow-up is rewritten to stand alone).
pub async fn chat(
    s: AppState,
    caller: Caller,
    collection: String,
    p: ChatParams,
) -> Result<Response, ApiError> {
    let c = s.collection(Some(&collection), &caller)?;
    let (question, history) = crate::chat::question_of(&p.request.messages)?;
    let (spec, model) = answering(&s, None)?;
    let mut a = Asker::new(c.source.clone(), model).search(search_options(&s, &c, &Map::new())?);
    if let Some(t) = p.request.temperature {
        a = a.temperature(t);
    }
    if let Some(n) = p.request.max_output_tokens {
        a = a.max_tokens(n);
    }
    let id = response_id("chatcmpl");
    let created = now();
    if !p.stream {
        let answer = a.answer(&question, &history).await?;
        s.book(&caller, &answer.usage, answer.served.cost_usd);
        let served = served_by(&answer, &spec);
        let resp = cairn_llm::ChatResponse {
            content: vec![cairn_llm::ContentPart::Text {
                text: answer.text.clone(),
            }],
            tool_calls: Vec::new(),
            finish_reason: cairn_llm::FinishReason::Stop,
            usage: answer.usage,
            request_id: answer.request_id.clone(),
            model: None,
            served: answer.served.clone(),
        };
        let mut body = wire::completion(&id, created, &p.model, &resp);
        body["cairn"] = extension(&answer, &served);
        body["cairn"]["collection"] = json!(c.name);
        return Ok(with_served_by(Json(body).into_response(), &served));
    }
    let (tx, rx) = mpsc::channel::<Event>(32);
    let st = s.clone();
    let include_usage = p.include_usage;
    let name = c.name.clone();
    let mut w = ChunkWriter::new(id, created, p.model.clone());
    let answering = spec.clone();
    tokio::spawn(async move {
        let mut tx = tx;
        let mut events = std::pin::pin!(a.stream(&question, &history));
        let mut sent = false;
        while let Some(ev) = events.next().await {
            let chunk = match ev {
                Ok(AnswerEvent::TextDelta { text }) => {
                    sent = true;
                    w.event(&cairn_llm::ChatEvent::TextDelta { text })
                }
                Ok(AnswerEvent::Restart { reason }) if sent => {
                    st.metrics.stream_error("upstream");
                    let _ = tx
                        .send(data(&ApiError::broke_after_output(&reason).body()))
                        .await;
                    return;
                }
                Ok(AnswerEvent::Done { answer }) => {
                    st.book(&caller, &answer.usage, answer.served.cost_usd);
                    let served = served_by(&answer, &answering);
                    let mut last = w
                        .event(&cairn_llm::ChatEvent::Finish {
                            reason: cairn_llm::FinishReason::Stop,
                        })
                        .expect("a finish makes a chunk");
                    if include_usage {
                        last["usage"] = wire::usage(&answer.usage);
                    }
                    last["cairn"] = extension(&answer, &served);
                    last["cairn"]["collection"] = json!(name);
                    // The shown answer may differ from the streamed text (markers naming no
                    // source removed, a compact answer trimmed): the extension has the final one.
                    last["cairn"]["text"] = json!(answer.text);
                    Some(last)
                }
                Ok(_) => None,
                Err(e) => {
                    st.metrics.stream_error("upstream");
                    Some(ApiError::from(e).body())
                }
            };
            if let Some(c) = chunk {
                if tx.send(data(&c)).await.is_err() {
                    return;
                }
            }
        }
        let _ = tx.send(Event::default().data("[DONE]")).await;
    });
    Ok(with_served_by(sse(rx), &spec))
}

pub async fn collections(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Json<Value> {
    let data: Vec<Value> = s
        .collections
        .values()
        .filter(|c| caller.check_collection(&c.name).is_ok())
        .map(|c| {
            json!({"name": c.name, "location": c.location, "lexical": c.lexical,
            "modes": if c.lexical { json!(["hybrid", "dense", "bm25"]) } else { json!(["dense"]) }})
        })
        .collect();
    Json(json!({"object": "list", "data": data}))
}

/// The documents of a collection: id, source, chunks.
pub async fn documents(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let c = s.collection(Some(&name), &caller)?;
    let docs = c.documents().await?;
    Ok(Json(
        json!({"object": "list", "collection": c.name, "data": docs}),
    ))
}

pub async fn delete_document(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((name, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let c = s.collection(Some(&name), &caller)?;
    let deleted = c.delete_document(&id).await?;
    if !deleted {
        return Err(ApiError::not_found(
            format!("collection {name:?} has no document {id:?}"),
            "document_not_found",
        ));
    }
    Ok(Json(
        json!({"id": id, "object": "document", "deleted": true}),
    ))
}
