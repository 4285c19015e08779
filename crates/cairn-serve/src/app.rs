//! The server's state and its router: routes, then the layers every request passes (metrics,
//! the concurrency limit, keys, the request timeout, CORS), and graceful shutdown.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Router;
use cairn_core::{AsyncEmbedder, TokenCounter};
use cairn_llm::Usage;
use tokio::sync::Semaphore;

use crate::collections::Collection;
use crate::error::ApiError;
use crate::keys::{KeyInfo, KeyStore};
use crate::metrics::Metrics;
use crate::models::Models;

/// The request limits of `[server]`.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Bytes.
    pub max_body: usize,
    pub request_timeout: Duration,
    pub concurrency: usize,
    pub cors_origins: Vec<String>,
}

impl Limits {
    pub fn from_config(c: &cairn::config::ServerConfig) -> Result<Self, ApiError> {
        if !(c.request_timeout_secs.is_finite() && c.request_timeout_secs > 0.0) {
            return Err(ApiError::invalid(
                "server.request_timeout_secs",
                "must be a positive number of seconds",
            ));
        }
        if c.concurrency == 0 || c.max_body_mb == 0 {
            return Err(ApiError::invalid(
                if c.concurrency == 0 {
                    "server.concurrency"
                } else {
                    "server.max_body_mb"
                },
                "must be at least 1",
            ));
        }
        Ok(Limits {
            max_body: (c.max_body_mb.min(4096) * 1024 * 1024) as usize,
            request_timeout: Duration::from_secs_f64(c.request_timeout_secs),
            concurrency: c.concurrency,
            cors_origins: c.cors_origins.clone(),
        })
    }
}

/// An embedding model `/v1/embeddings` serves.
#[derive(Clone)]
pub struct EmbedModel {
    pub embedder: Arc<dyn AsyncEmbedder>,
    /// Counts the usage's tokens where the model's tokenizer is at hand.
    pub counter: Option<Arc<dyn TokenCounter>>,
}

/// Everything a handler reads.
pub struct ServerState {
    pub models: Models,
    /// By the names a client may use; several names can share one model.
    pub embedders: BTreeMap<String, EmbedModel>,
    /// The name `/v1/models` lists each embedding model under.
    pub embedder_names: Vec<String>,
    pub collections: BTreeMap<String, Arc<Collection>>,
    pub keys: Option<Arc<KeyStore>>,
    /// Set when the keys database held a key at start: every route but `/health` and the
    /// page's static files then needs one.
    pub require_keys: bool,
    pub limits: Limits,
    pub metrics: Metrics,
    /// The ingest pipeline uploads go through (`None`: uploads are refused).
    pub indexer: Option<Arc<cairn_rag::Indexer>>,
    permits: Arc<Semaphore>,
    /// Request times per key, for its requests-per-minute limit.
    windows: Mutex<HashMap<i64, VecDeque<Instant>>>,
}

pub type AppState = Arc<ServerState>;

/// Who is calling: the key's record, or nobody when keys are off.
#[derive(Clone, Default)]
pub struct Caller(pub Option<KeyInfo>);

impl Caller {
    /// 403 unless the key may use `collection`.
    pub fn check_collection(&self, collection: &str) -> Result<(), ApiError> {
        match &self.0 {
            Some(k) if !k.may_use(collection) => {
                let mut e = ApiError::new(
                    StatusCode::FORBIDDEN,
                    format!(
                        "the key {:?} may not use the collection {collection:?}",
                        k.name
                    ),
                );
                e.code = Some("collection_not_allowed");
                Err(e.with_param("collection"))
            }
            _ => Ok(()),
        }
    }
}

impl ServerState {
    pub fn new(
        models: Models,
        embedders: Vec<(Vec<String>, EmbedModel)>,
        collections: Vec<Collection>,
        keys: Option<Arc<KeyStore>>,
        limits: Limits,
    ) -> Result<Self, ApiError> {
        let require_keys = match &keys {
            Some(k) => k.any().map_err(|e| ApiError::from_class(&e))?,
            None => false,
        };
        let mut by_name = BTreeMap::new();
        let mut names = Vec::new();
        for (aliases, m) in embedders {
            if let Some(first) = aliases.first() {
                names.push(first.clone());
            }
            for a in aliases {
                by_name.insert(a, m.clone());
            }
        }
        Ok(ServerState {
            models,
            embedders: by_name,
            embedder_names: names,
            collections: collections
                .into_iter()
                .map(|c| (c.name.clone(), Arc::new(c)))
                .collect(),
            keys,
            require_keys,
            permits: Arc::new(Semaphore::new(limits.concurrency)),
            limits,
            metrics: Metrics::default(),
            indexer: None,
            windows: Mutex::new(HashMap::new()),
        })
    }

    /// Lets uploads through `indexer` (the pipeline `cairn ingest` uses).
    pub fn with_indexer(mut self, indexer: Arc<cairn_rag::Indexer>) -> Self {
        self.indexer = Some(indexer);
        self
    }

    /// The collection a request names (or the only one), checked against the caller's key.
    pub fn collection(
        &self,
        name: Option<&str>,
        caller: &Caller,
    ) -> Result<Arc<Collection>, ApiError> {
        let name = match name {
            Some(n) => n,
            None if self.collections.len() == 1 => self.collections.keys().next().expect("one"),
            None => {
                return Err(ApiError::invalid(
                    "collection",
                    format!(
                        "name the collection: one of {}",
                        self.collections
                            .keys()
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ))
            }
        };
        caller.check_collection(name)?;
        self.collections.get(name).cloned().ok_or_else(|| {
            ApiError::not_found(
                format!(
                    "no collection {name:?}: the server has {}",
                    if self.collections.is_empty() {
                        "none ([server.collections] in cairn.toml, or --collection)".to_string()
                    } else {
                        self.collections
                            .keys()
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ),
                "collection_not_found",
            )
            .with_param("collection")
        })
    }

    /// Refuses a model call for a key over its budget.
    pub fn check_budget(&self, caller: &Caller) -> Result<(), ApiError> {
        match &caller.0 {
            Some(k) if k.over_budget() => Err(ApiError::too_many(
                format!(
                    "the key {:?} has spent ${:.4} of its ${:.4} budget: create a key with a \
                     larger --budget-usd",
                    k.name,
                    k.spent_usd,
                    k.budget_usd.unwrap_or(0.0)
                ),
                "budget_exceeded",
                Duration::from_secs(3600),
            )),
            _ => Ok(()),
        }
    }

    /// Books a model call's tokens and cost to the metrics and the caller's key.
    pub fn book(&self, caller: &Caller, usage: &Usage, cost_usd: Option<f64>) {
        self.metrics
            .usage(usage.input_tokens, usage.output_tokens, cost_usd);
        if let (Some(k), Some(keys), Some(c)) = (&caller.0, &self.keys, cost_usd) {
            if let Err(e) = keys.spend(k.id, c) {
                eprintln!("[cairn serve] booking spend to key {:?}: {e}", k.name);
            }
        }
    }

    fn rate_check(&self, key: &KeyInfo) -> Result<(), ApiError> {
        let Some(rpm) = key.rpm else { return Ok(()) };
        let now = Instant::now();
        let mut w = self.windows.lock().expect("windows lock");
        let q = w.entry(key.id).or_default();
        while q
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60))
        {
            q.pop_front();
        }
        if q.len() >= rpm as usize {
            let wait = Duration::from_secs(60).saturating_sub(now.duration_since(q[0]));
            return Err(ApiError::too_many(
                format!(
                    "the key {:?} is limited to {rpm} requests per minute",
                    key.name
                ),
                "rate_limit_exceeded",
                wait,
            ));
        }
        q.push_back(now);
        Ok(())
    }
}

/// The routes and layers over `state`.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/v1/models", get(crate::chat::models))
        .route("/v1/models/{*id}", get(crate::chat::model))
        .route("/v1/chat/completions", post(crate::chat::completions))
        .route("/v1/embeddings", post(crate::embeddings::embeddings))
        .route("/v1/search", post(crate::rag::search))
        .route("/v1/ask", post(crate::rag::ask))
        .route("/v1/collections", get(crate::rag::collections))
        .route(
            "/v1/collections/{name}/documents",
            get(crate::rag::documents).post(crate::upload::upload),
        )
        .route(
            "/v1/collections/{name}/documents/{*id}",
            delete(crate::rag::delete_document),
        )
        .route("/metrics", get(metrics))
        .layer(axum::extract::DefaultBodyLimit::max(state.limits.max_body))
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .layer(middleware::from_fn_with_state(state.clone(), timeout));
    let mut app = Router::new()
        .route("/health", get(health))
        .merge(crate::web::routes())
        .merge(api)
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), limit))
        .layer(middleware::from_fn_with_state(state.clone(), observe));
    if !state.limits.cors_origins.is_empty() {
        let origins: Vec<HeaderValue> = state
            .limits
            .cors_origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o).ok())
            .collect();
        app = app.layer(
            tower_http::cors::CorsLayer::new()
                .allow_origin(origins)
                .allow_methods([Method::GET, Method::POST, Method::DELETE])
                .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE]),
        );
    }
    app.with_state(state)
}

async fn health() -> impl IntoResponse {
    axum::Json(serde_json::json!({"status": "ok"}))
}

async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render(),
    )
}

async fn not_found(req: Request) -> ApiError {
    ApiError::not_found(
        format!("no route {} {}", req.method(), req.uri().path()),
        "unknown_route",
    )
}

/// Counts every request by route and status, and its time to the headers.
async fn observe(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let start = Instant::now();
    s.metrics.started();
    let r = next.run(req).await;
    let class = error_class(r.status());
    s.metrics
        .request(&route, r.status().as_u16(), start.elapsed(), class);
    r
}

/// The class `/metrics` counts an error status under.
fn error_class(status: StatusCode) -> Option<&'static str> {
    Some(match status.as_u16() {
        0..=399 => return None,
        401 | 403 => "auth",
        429 => "rate_limited",
        503 => "overloaded",
        502 | 504 => "upstream",
        400..=499 => "invalid_request",
        _ => "internal",
    })
}

/// At most `concurrency` requests at once; past it 503 with `Retry-After` at once instead of a
/// queue without bound. A stream holds its permit until its body ends.
async fn limit(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let permit = match s.permits.clone().try_acquire_owned() {
        Ok(p) => p,
        Err(_) => {
            let mut e = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "the server is at its limit of {} requests at once ([server] concurrency): retry shortly",
                    s.limits.concurrency
                ),
            );
            e.code = Some("overloaded");
            e.retry_after = Some(Duration::from_secs(1));
            return e.into_response();
        }
    };
    let r = next.run(req).await;
    // A body already whole (JSON) is done with its permit now and keeps its Content-Length;
    // only a stream carries the permit along.
    if axum::body::HttpBody::size_hint(r.body()).exact().is_some() {
        return r;
    }
    let (parts, body) = r.into_parts();
    let body = axum::body::Body::from_stream(futures::StreamExt::map(
        body.into_data_stream(),
        move |chunk| {
            let _held = &permit;
            chunk
        },
    ));
    Response::from_parts(parts, body)
}

/// A request whose headers are not ready within the timeout gets 504.
async fn timeout(State(s): State<AppState>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(s.limits.request_timeout, next.run(req)).await {
        Ok(r) => r,
        Err(_) => {
            let mut e = ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                format!(
                    "the request took longer than {:.0} s ([server] request_timeout_secs)",
                    s.limits.request_timeout.as_secs_f64()
                ),
            );
            e.code = Some("timeout");
            e.into_response()
        }
    }
}

/// With keys on, every API route needs `Authorization: Bearer <key>` of a live key, within its
/// requests-per-minute limit. The key goes into the request as a [`Caller`].
async fn authenticate(State(s): State<AppState>, mut req: Request, next: Next) -> Response {
    match caller(&s, &req) {
        Ok(c) => {
            req.extensions_mut().insert(c);
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

fn caller(s: &ServerState, req: &Request) -> Result<Caller, ApiError> {
    if !s.require_keys {
        return Ok(Caller(None));
    }
    let keys = s.keys.as_ref().expect("keys on means a store");
    let secret = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            ApiError::unauthorized(
                "this server needs an API key: send Authorization: Bearer <key> (cairn keys create)",
            )
        })?;
    let key = keys
        .verify(secret)
        .map_err(|e| ApiError::from_class(&e))?
        .ok_or_else(|| ApiError::unauthorized("the API key is not valid or was revoked"))?;
    s.rate_check(&key)?;
    Ok(Caller(Some(key)))
}

/// Why a bind address was refused.
pub fn check_bind(addr: &SocketAddr, require_keys: bool) -> Result<(), String> {
    if require_keys || addr.ip().is_loopback() {
        return Ok(());
    }
    Err(format!(
        "refusing to listen on {addr} without API keys: anyone on the network could use the \
         server's models. Create a key first (`cairn keys create --name NAME`), or bind to \
         127.0.0.1"
    ))
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets in-flight requests and
/// streams finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
