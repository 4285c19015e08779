//! The indexes a server answers from, by name: an embedded index folder (read through a
//! [`SharedRetriever`] that follows new generations as any writer commits them, so a replica
//! sees another's upload) or a database store (`postgres://…`, `chroma://…`).

use std::path::PathBuf;
use std::sync::Arc;

use cairn_core::{Embedder, Hit, VectorStore};
use cairn_rag::{RetrieverSource, SearchMode, SearchOptions, SharedRetriever, StoreRetriever};
use cairn_vectordb::StoreUrl;

use crate::error::ApiError;

#[derive(Debug, thiserror::Error)]
#[error("collection {name:?} ({location}): {message}")]
pub struct CollectionError {
    pub name: String,
    pub location: String,
    pub message: String,
}

pub struct Collection {
    pub name: String,
    /// Where it lives, as the user wrote it (passwords redacted).
    pub location: String,
    pub source: RetrieverSource,
    /// The embedded index's folder.
    pub dir: Option<PathBuf>,
    /// Whether BM25 and hybrid search work here.
    pub lexical: bool,
    /// One ingest at a time per collection.
    pub writer: tokio::sync::Mutex<()>,
}

impl Collection {
    /// Opens `location` (a folder, `embedded:DIR` or a store URL) for reading.
    pub async fn open(
        name: &str,
        location: &str,
        embedder: Arc<dyn Embedder>,
    ) -> Result<Collection, CollectionError> {
        let err = |message: String| CollectionError {
            name: name.to_string(),
            location: cairn_vectordb::store_url::redact(location),
            message,
        };
        let url = StoreUrl::parse(location).map_err(|e| err(e.to_string()))?;
        let (source, dir, lexical) = match &url {
            StoreUrl::Embedded { dir } => {
                if !dir.join("index.sqlite").exists() && !dir.exists() {
                    return Err(err(format!(
                        "no index in {}: run `cairn ingest DOCS --index {}` first",
                        dir.display(),
                        dir.display()
                    )));
                }
                let d = dir.clone();
                let e = embedder.clone();
                let shared =
                    tokio::task::spawn_blocking(move || SharedRetriever::open(&d, Some(e)))
                        .await
                        .map_err(|e| err(e.to_string()))?
                        .map_err(|e| err(e.to_string()))?;
                (RetrieverSource::from(shared), Some(dir.clone()), true)
            }
            _ => {
                let store: Arc<dyn VectorStore> =
                    Arc::from(url.open(None).await.map_err(|e| err(e.to_string()))?);
                let r = StoreRetriever::open(store, Some(embedder))
                    .await
                    .map_err(|e| err(e.to_string()))?;
                let lexical = r.has_lexical().await.map_err(|e| err(e.to_string()))?;
                (RetrieverSource::from(r), None, lexical)
            }
        };
        Ok(Collection {
            name: name.to_string(),
            location: url.to_string(),
            source,
            dir,
            lexical,
            writer: tokio::sync::Mutex::new(()),
        })
    }

    /// The mode to search in: the one asked for, else the configured one, which falls back to
    /// dense on a store without full-text search (an explicit lexical mode there is refused).
    pub fn mode(
        &self,
        asked: Option<SearchMode>,
        configured: SearchMode,
    ) -> Result<SearchMode, ApiError> {
        match asked {
            Some(SearchMode::Bm25 | SearchMode::Hybrid) if !self.lexical => {
                let mut e = ApiError::invalid(
                    "mode",
                    format!(
                        "collection {} ({}) has no full-text search: use mode \"dense\"",
                        self.name, self.location
                    ),
                );
                e.code = Some("unsupported_mode");
                Err(e)
            }
            Some(m) => Ok(m),
            None if !self.lexical => Ok(SearchMode::Dense),
            None => Ok(configured),
        }
    }

    /// The store reads go through: the database store, or the embedded index read-only.
    async fn reader(&self) -> Result<Arc<dyn VectorStore>, ApiError> {
        match (&self.source, &self.dir) {
            (RetrieverSource::Store(r), _) => Ok(r.store().clone()),
            (_, Some(dir)) => {
                let d = dir.clone();
                blocking(move || {
                    cairn_store::EmbeddedStore::open_read_only(&d)
                        .map(|s| Arc::new(s) as Arc<dyn VectorStore>)
                        .map_err(|e| ApiError::from_class(&e))
                })
                .await
            }
            _ => Err(ApiError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "the collection has no store",
            )),
        }
    }

    /// Every document: id, origin, chunk count.
    pub async fn documents(&self) -> Result<Vec<serde_json::Value>, ApiError> {
        let docs = self.reader().await?.documents().await.map_err(store_err)?;
        Ok(docs
            .into_iter()
            .map(|d| {
                serde_json::json!({"id": d.id, "origin": d.origin, "chunks": d.chunks,
                "content_hash": d.content_hash})
            })
            .collect())
    }

    /// Removes a document; false when there was none. On the embedded index this takes the
    /// writer lock for the deletion only (so `cairn ingest` can run between requests).
    pub async fn delete_document(&self, id: &str) -> Result<bool, ApiError> {
        let _one = self.writer.lock().await;
        let reader = self.reader().await?;
        let docs = reader.documents().await.map_err(store_err)?;
        if !docs.iter().any(|d| d.id == id) {
            return Ok(false);
        }
        match (&self.source, &self.dir) {
            (RetrieverSource::Store(r), _) => {
                r.store().delete_document(id).await.map_err(store_err)?;
                r.store().finish_writes().await.map_err(store_err)?;
            }
            (_, Some(dir)) => {
                let info = reader.info().await.map_err(store_err)?;
                let d = dir.clone();
                let w = blocking(move || {
                    cairn_store::EmbeddedStore::open(&d, &info.model, info.dim)
                        .map_err(|e| ApiError::from_class(&e))
                })
                .await?;
                w.delete_document(id).await.map_err(store_err)?;
            }
            _ => {}
        }
        if let RetrieverSource::Shared(s) = &self.source {
            let s = s.clone();
            blocking(move || s.refresh().map_err(ApiError::from)).await?;
        }
        Ok(true)
    }

    /// At most `opts.k` hits, best first.
    pub async fn search(&self, query: &str, opts: &SearchOptions) -> Result<Vec<Hit>, ApiError> {
        match &self.source {
            RetrieverSource::Store(r) => Ok(r.search(query, opts).await?),
            RetrieverSource::Shared(s) => {
                let (s, q, o) = (s.clone(), query.to_string(), opts.clone());
                blocking(move || s.search(&q, &o).map_err(ApiError::from)).await
            }
            RetrieverSource::Fixed(r) => {
                let (r, q, o) = (r.clone(), query.to_string(), opts.clone());
                blocking(move || r.search(&q, &o).map_err(ApiError::from)).await
            }
        }
    }
}

fn store_err(e: cairn_core::VectorStoreError) -> ApiError {
    ApiError::from_class(&e)
}

/// Runs CPU-bound work (embedding, index search, SQLite) off the async workers.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => Err(ApiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            format!("a worker failed: {e}"),
        )),
    }
}
