//! The cost ledger: every completed call's tokens and price, in SQLite, so `cairn cost` can
//! report by model or by day. The cost is computed when the call is recorded, from the pricing
//! table in force then; unpriced models record their tokens with a NULL cost.
//!
//! [`Ledgered`] also tells the caller what it booked: `ChatResponse::served.cost_usd` after
//! `chat`, and one final [`ChatEvent::Served`] after a stream's `Finish`. It books under its
//! inner model's id, so it belongs below any fallback chain (one per model, as
//! [`crate::select::build`] stacks it) and below the response cache.

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::StreamExt;
use rusqlite::{params, Connection};
use serde::Serialize;

use crate::error::LlmError;
use crate::model::{ChatModel, ChatStream, ModelId, ModelProfile, TokenCount};
use crate::pricing::Pricing;
use crate::types::{ChatEvent, ChatRequest, ChatResponse, Served, Usage};

pub struct Ledger {
    conn: Mutex<Connection>,
    pricing: Pricing,
}

fn storage(e: impl std::fmt::Display) -> LlmError {
    LlmError::Storage {
        what: "cost ledger",
        message: e.to_string(),
    }
}

/// One row of a report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LedgerRow {
    pub key: String,
    pub calls: u64,
    pub input_tokens: u64,
    pub cached_input_tokens: u64,
    pub cache_write_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
    /// Calls whose model has no price (their cost counts as 0 in `cost_usd`).
    pub unpriced_calls: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    Model,
    Day,
}

impl Ledger {
    pub fn open(path: &Path, pricing: Pricing) -> Result<Self, LlmError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| storage(format!("{}: {e}", dir.display())))?;
        }
        let conn =
            Connection::open(path).map_err(|e| storage(format!("{}: {e}", path.display())))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(storage)?;
        // WAL with synchronous=NORMAL: a commit is not flushed to disk, so booking a call costs
        // no fsync (milliseconds on a VM disk); a crashed process loses nothing, a power cut at
        // most the last calls, and the file stays consistent either way.
        conn.execute_batch(
            "PRAGMA journal_mode=WAL;
             PRAGMA synchronous=NORMAL;
             CREATE TABLE IF NOT EXISTS calls (
                id INTEGER PRIMARY KEY,
                at TEXT NOT NULL,
                provider TEXT NOT NULL,
                model TEXT NOT NULL,
                input_tokens INTEGER NOT NULL,
                cached_input_tokens INTEGER NOT NULL,
                cache_write_tokens INTEGER NOT NULL,
                output_tokens INTEGER NOT NULL,
                cost_usd REAL,
                request_id TEXT
             );
             CREATE INDEX IF NOT EXISTS calls_at ON calls(at);",
        )
        .map_err(storage)?;
        Ok(Ledger {
            conn: Mutex::new(conn),
            pricing,
        })
    }

    pub fn pricing(&self) -> &Pricing {
        &self.pricing
    }

    /// Records one call at the current time; returns its cost.
    pub fn record(
        &self,
        model: &ModelId,
        usage: &Usage,
        request_id: Option<&str>,
    ) -> Result<Option<f64>, LlmError> {
        let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        self.record_at(&at, model, usage, request_id)
    }

    pub fn record_at(
        &self,
        at: &str,
        model: &ModelId,
        usage: &Usage,
        request_id: Option<&str>,
    ) -> Result<Option<f64>, LlmError> {
        let cost = self.pricing.cost(model, usage);
        self.conn
            .lock()
            .expect("ledger lock")
            .execute(
                "INSERT INTO calls (at, provider, model, input_tokens, cached_input_tokens,
                   cache_write_tokens, output_tokens, cost_usd, request_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    at,
                    model.provider,
                    model.name,
                    usage.input_tokens as i64,
                    usage.cached_input_tokens as i64,
                    usage.cache_write_tokens as i64,
                    usage.output_tokens as i64,
                    cost,
                    request_id
                ],
            )
            .map_err(storage)?;
        Ok(cost)
    }

    /// The id of the newest recorded call (0 when empty): remember it before a call, then
    /// [`Ledger::calls_after`] tells what that call cost and which model served it.
    pub fn last_id(&self) -> Result<i64, LlmError> {
        self.conn
            .lock()
            .expect("ledger lock")
            .query_row("SELECT COALESCE(MAX(id), 0) FROM calls", [], |r| r.get(0))
            .map_err(storage)
    }

    /// Calls recorded after `id`: (`provider:model`, cost or `None` when unpriced).
    pub fn calls_after(&self, id: i64) -> Result<Vec<(String, Option<f64>)>, LlmError> {
        let conn = self.conn.lock().expect("ledger lock");
        let mut stmt = conn
            .prepare(
                "SELECT provider || ':' || model, cost_usd FROM calls WHERE id > ?1 ORDER BY id",
            )
            .map_err(storage)?;
        let rows = stmt
            .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(storage)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(storage)
    }

    /// Totals grouped by model or UTC day, for calls at or after `since` (`YYYY-MM-DD` or an
    /// RFC 3339 instant).
    pub fn report(&self, since: Option<&str>, by: GroupBy) -> Result<Vec<LedgerRow>, LlmError> {
        let key = match by {
            GroupBy::Model => "provider || ':' || model",
            GroupBy::Day => "substr(at, 1, 10)",
        };
        let sql = format!(
            "SELECT {key} AS k, COUNT(*), SUM(input_tokens), SUM(cached_input_tokens),
                    SUM(cache_write_tokens), SUM(output_tokens), COALESCE(SUM(cost_usd), 0),
                    SUM(cost_usd IS NULL)
             FROM calls WHERE at >= ?1 GROUP BY k ORDER BY k"
        );
        let conn = self.conn.lock().expect("ledger lock");
        let mut stmt = conn.prepare(&sql).map_err(storage)?;
        let rows = stmt
            .query_map([since.unwrap_or("")], |r| {
                Ok(LedgerRow {
                    key: r.get(0)?,
                    calls: r.get::<_, i64>(1)? as u64,
                    input_tokens: r.get::<_, i64>(2)? as u64,
                    cached_input_tokens: r.get::<_, i64>(3)? as u64,
                    cache_write_tokens: r.get::<_, i64>(4)? as u64,
                    output_tokens: r.get::<_, i64>(5)? as u64,
                    cost_usd: r.get(6)?,
                    unpriced_calls: r.get::<_, i64>(7)? as u64,
                })
            })
            .map_err(storage)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(storage)
    }
}

/// Records every completed call of the wrapped model.
pub struct Ledgered {
    inner: Arc<dyn ChatModel>,
    ledger: Arc<Ledger>,
}

impl Ledgered {
    pub fn new(inner: Arc<dyn ChatModel>, ledger: Arc<Ledger>) -> Self {
        Ledgered { inner, ledger }
    }
}

/// Records one call and returns its cost: what was booked, or, when the ledger could not be
/// written (logged), what the pricing says the call cost all the same.
fn book(ledger: &Ledger, id: &ModelId, usage: &Usage, request_id: Option<&str>) -> Option<f64> {
    match ledger.record(id, usage, request_id) {
        Ok(cost) => cost,
        Err(e) => {
            tracing::warn!(error = %e, "could not record the call in the cost ledger");
            ledger.pricing.cost(id, usage)
        }
    }
}

/// The served facts of a call this layer booked: the inner layers' (`held`) with the booked
/// cost, naming this layer's model when nothing below named one.
fn served_with_cost(held: Option<Served>, id: &ModelId, cost: Option<f64>) -> Served {
    let mut s = held.unwrap_or_default();
    if s.model.is_empty() {
        s.model = id.to_string();
    }
    s.cost_usd = cost;
    s
}

#[async_trait]
impl ChatModel for Ledgered {
    fn id(&self) -> ModelId {
        self.inner.id()
    }
    fn profile(&self) -> ModelProfile {
        self.inner.profile()
    }

    async fn chat(&self, req: &ChatRequest) -> Result<ChatResponse, LlmError> {
        let mut r = self.inner.chat(req).await?;
        let id = self.inner.id();
        let cost = book(&self.ledger, &id, &r.usage, r.request_id.as_deref());
        r.served = served_with_cost(Some(std::mem::take(&mut r.served)), &id, cost);
        Ok(r)
    }

    /// Books the call at its `Finish` (so a consumer that stops reading there is still
    /// charged), holds back any `Served` from below, and ends the stream with one `Served`
    /// carrying the booked cost.
    async fn stream(&self, req: &ChatRequest) -> Result<ChatStream, LlmError> {
        let mut s = self.inner.stream(req).await?;
        let ledger = self.ledger.clone();
        let id = self.inner.id();
        Ok(Box::pin(async_stream::stream! {
            let mut usage = Usage::default();
            let mut rid = None;
            let mut held = None;
            // The booked cost, once `Finish` came.
            let mut booked: Option<Option<f64>> = None;
            while let Some(ev) = s.next().await {
                match &ev {
                    Ok(ChatEvent::Served { served }) => {
                        held = Some(served.clone());
                        continue;
                    }
                    Ok(ChatEvent::Start { request_id, .. }) => rid = request_id.clone(),
                    Ok(ChatEvent::Usage { usage: u }) => usage = *u,
                    Ok(ChatEvent::Restart { .. }) => {
                        usage = Usage::default();
                        held = None;
                        booked = None;
                    }
                    Ok(ChatEvent::Finish { .. }) => booked = Some(book(&ledger, &id, &usage, rid.as_deref())),
                    Err(_) => booked = None,
                    _ => {}
                }
                yield ev;
            }
            if let Some(cost) = booked {
                yield Ok(ChatEvent::Served { served: served_with_cost(held, &id, cost) });
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
