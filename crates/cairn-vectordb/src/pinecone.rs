//! [`VectorStore`] over Pinecone's data-plane REST API (feature `pinecone`; written against
//! the published reference, API version [`API_VERSION`], `2025-10/db_data_2025-10.oas.yaml`
//! in pinecone-io/pinecone-api).
//!
//! ```no_run
//! # async fn f() -> Result<(), cairn_core::VectorStoreError> {
//! use cairn_vectordb::pinecone::PineconeStore;
//! // The index's host (from the console or `describe_index`), and the namespace.
//! // "" reads PINECONE_INDEX_HOST; the key comes from PINECONE_API_KEY.
//! let store = PineconeStore::open("https://docs-abc123.svc.aped-4627-b74a.pinecone.io", "docs", None).await?;
//! # Ok(()) }
//! ```
//!
//! **Index and namespace.** `url` is the index's data-plane host (`https://` is assumed when
//! no scheme is given); `collection` is the namespace inside it (`""`: the default
//! namespace), so one index can hold several cairn collections of the same dimension. The
//! data plane cannot create an index (that is the control plane, with cloud and region), so
//! `open` checks an existing one with `describe_index_stats`: its metric must be `cosine`
//! (Pinecone's cosine score is the similarity, reported as is, clamped to `[-1, 1]`), its
//! dimension the model's ([`VectorStoreError::DimensionMismatch`] otherwise), and when the
//! namespace holds records, their model the one asked for. Every request carries the
//! `Api-Key` header (`$PINECONE_API_KEY`) and `X-Pinecone-API-Version: 2025-10`.
//!
//! **Records.** A record's id is its chunk id with spaces, `%`, control and non-ASCII bytes
//! percent-encoded (Pinecone's `fetch` refuses ids with spaces; ids are at most 512
//! characters, longer ones are refused before writing). Its metadata holds
//! - `_cairn`: the chunk, exactly, as a JSON string (id, document id, ordinal, span, heading
//!   path, context, text, source, title, kind, content hash, origin, the document's chunk
//!   count, the model, and the metadata as written: `null`s, nesting and JSON types kept);
//! - `_cairn_doc`, `_cairn_chunk`, `_cairn_v` (the document id, the chunk id, `1`), for
//!   deletes and listings;
//! - the user's scalar metadata under its own keys, with type tags and date instants for
//!   exact filters (see [`filter`]).
//!
//! Pinecone allows 40 KB of metadata per record ([`METADATA_MAX_BYTES`]): a chunk whose
//! metadata would be larger (mostly its text) is refused with
//! [`VectorStoreError::InvalidInput`] before anything is written. On pod-based indexes with
//! selective metadata indexing, index `_cairn_doc`, `_cairn_v`, `_cairn_t`, the `_cairn_d:`
//! fields and the keys you filter on, never `_cairn`.
//!
//! **Writes.** `upsert` checks the whole batch, deletes the batch's documents with a
//! `_cairn_doc` filter, then upserts in requests of at most 1,000 records and 2 MB
//! ([`UPSERT_MAX_RECORDS`], [`UPSERT_MAX_BYTES`]). Pinecone has no transactions and is
//! eventually consistent: a read right after a write may not see it yet, and a failure
//! part-way leaves a document with some chunks; each record carries its document's chunk
//! count, and `documents()` gives such a document no content hash, so the next ingest
//! writes it again. Queries return at most 10,000 hits ([`TOP_K_MAX`], Pinecone's `topK`
//! limit). `count()` is the namespace's `vectorCount` from `describe_index_stats`, which
//! Pinecone documents as lagging behind writes.
//!
//! **Listing.** Pinecone lists record ids (`/vectors/list`, sorted) but not by document,
//! so `documents()` reads every record of the namespace through `fetch_by_metadata` (the
//! `_cairn_v` marker) and sorts the documents here; `scan(None, n)` does the same, keeps
//! the sorted document ids for the pages that follow (until this store writes), and reads
//! each page's records with a `_cairn_doc` `$in` filter.
//!
//! **What the recorded tests check** (`tests/pinecone.rs`): the exact requests (paths and
//! query strings, the `Api-Key` and version headers, bodies: records with their metadata,
//! delete filters, compiled filters, `fetch_by_metadata` pages) and the mapping of the
//! documented answers (matches and scores, fetched vectors, stats, pagination tokens,
//! errors: 401 → `Auth`, 404 → `NotFound`, 429/5xx → `Unavailable`), and the refusals made
//! before any request. **What they cannot check** without the service: that Pinecone
//! evaluates the filters as documented (in particular `$eq` on the `_cairn_t` list as
//! "contains"), freshness after writes, recall of its approximate index, and behaviour
//! under load and rate limits.

pub mod filter;

use crate::http::{env, Rest, DEFAULT_TIMEOUT};
use cairn_core::{
    Chunk, ChunkVector, CollectionInfo, Document, DocumentEntry, DocumentUpsert, Filter, Metadata,
    StoreHit, StoredChunk, VectorStore, VectorStoreError,
};
use filter::PineconeFilter;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

/// The variable read when `open` is given an empty URL: the index's host.
pub const HOST_VAR: &str = "PINECONE_INDEX_HOST";
/// The variable holding the API key (sent as the `Api-Key` header).
pub const KEY_VAR: &str = "PINECONE_API_KEY";
/// The API version every request names (`X-Pinecone-API-Version`).
pub const API_VERSION: &str = "2025-10";
/// Records per upsert request (Pinecone's limit).
pub const UPSERT_MAX_RECORDS: usize = 1000;
/// Bytes per upsert request (Pinecone's limit is 2 MB; this leaves room for the envelope).
pub const UPSERT_MAX_BYTES: usize = 2_000_000;
/// Metadata bytes per record (Pinecone's limit).
pub const METADATA_MAX_BYTES: usize = 40 * 1024;
/// The most hits one query returns (Pinecone's `topK` limit).
pub const TOP_K_MAX: usize = 10_000;
/// Records per `fetch_by_metadata` page, by default ([`PineconeStore::with_page_size`]).
pub const FETCH_PAGE: usize = 100;
/// Ids per `fetch` request (they travel in the query string).
const FETCH_IDS: usize = 100;
/// Documents per delete request.
const DELETE_DOCS: usize = 1000;
/// The longest record id Pinecone accepts.
const ID_MAX: usize = 512;

/// A Pinecone namespace as a cairn store.
#[derive(Debug)]
pub struct PineconeStore {
    rest: Rest,
    namespace: String,
    info: CollectionInfo,
    page: usize,
    /// The sorted document ids of the last listing, for `scan` pages after the first.
    listing: Mutex<Option<Arc<Vec<String>>>>,
}

/// A record's chunk, as the `_cairn` JSON string holds it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    chunk_id: String,
    doc_id: String,
    ordinal: u32,
    start: usize,
    end: usize,
    #[serde(default)]
    heading_path: Vec<String>,
    #[serde(default)]
    context: String,
    #[serde(default)]
    text: String,
    source: String,
    #[serde(default)]
    title: Option<String>,
    kind: String,
    #[serde(default)]
    content_hash: Option<String>,
    #[serde(default)]
    origin: Option<String>,
    doc_chunks: usize,
    #[serde(default)]
    model: String,
    #[serde(default)]
    metadata: Metadata,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    doc_metadata: Option<Metadata>,
}

impl Record {
    fn chunk(&self) -> Chunk {
        Chunk {
            id: self.chunk_id.clone(),
            doc_id: self.doc_id.clone(),
            ordinal: self.ordinal,
            text: self.text.clone(),
            start: self.start,
            end: self.end,
            heading_path: self.heading_path.clone(),
            context: self.context.clone(),
            metadata: self.metadata.clone(),
        }
    }
}

impl PineconeStore {
    /// Opens namespace `namespace` of the index at `url` (its data-plane host; empty:
    /// `$PINECONE_INDEX_HOST`), with the key from `$PINECONE_API_KEY`. `create: Some(info)`
    /// checks the index fits `info` (Pinecone's data plane cannot create an index; a
    /// namespace needs no creating); `None` opens it as it is.
    pub async fn open(
        url: &str,
        namespace: &str,
        create: Option<&CollectionInfo>,
    ) -> Result<Self, VectorStoreError> {
        let key = env(KEY_VAR);
        Self::open_with_key(url, key.as_deref(), namespace, create).await
    }

    /// [`PineconeStore::open`] with the API key given.
    pub async fn open_with_key(
        url: &str,
        api_key: Option<&str>,
        namespace: &str,
        create: Option<&CollectionInfo>,
    ) -> Result<Self, VectorStoreError> {
        let name = format!("pinecone:{namespace}");
        let url = match url.trim() {
            "" => env(HOST_VAR).ok_or_else(|| {
                VectorStoreError::invalid(
                    &name,
                    format!("no Pinecone index host was given and {HOST_VAR} is not set"),
                )
            })?,
            u => u.to_string(),
        };
        let url = if url.contains("://") {
            url
        } else {
            format!("https://{url}")
        };
        let mut headers = vec![("X-Pinecone-API-Version", API_VERSION)];
        if let Some(k) = api_key {
            headers.push(("Api-Key", k));
        }
        let rest = Rest::new(name.clone(), &url, &headers, DEFAULT_TIMEOUT)?;
        let mut store = PineconeStore {
            rest,
            namespace: namespace.to_string(),
            info: CollectionInfo {
                name: namespace.to_string(),
                model: String::new(),
                dim: 0,
            },
            page: FETCH_PAGE,
            listing: Mutex::new(None),
        };
        let stats = store.stats().await?;
        if let Some(metric) = stats["metric"].as_str() {
            if metric != "cosine" {
                return Err(VectorStoreError::invalid(
                    &name,
                    format!(
                        "the index measures {metric}; cairn's scores are cosine similarities, \
                         so it needs a cosine index"
                    ),
                ));
            }
        }
        let dim = stats["dimension"]
            .as_u64()
            .ok_or_else(|| store.malformed("describe_index_stats", "no dimension"))?
            as usize;
        if let Some(want) = create {
            if dim != want.dim {
                return Err(VectorStoreError::DimensionMismatch {
                    store: name,
                    what: format!("the embedding model {}", want.model),
                    expected: dim,
                    found: want.dim,
                });
            }
        }
        let held = store.namespace_count(&stats);
        let mut model = None;
        if held > 0 {
            let body = json!({
                "namespace": store.namespace,
                "filter": {"_cairn_v": {"$eq": 1}},
                "limit": 1,
            });
            let v = store
                .rest
                .json(Method::POST, "/vectors/fetch_by_metadata", Some(&body))
                .await?;
            if let Some(rec) = v["vectors"].as_object().and_then(|m| m.values().next()) {
                let r = store.record(rec)?;
                model = Some(r.model).filter(|m| !m.is_empty());
            }
        }
        if let (Some(want), Some(m)) = (create, &model) {
            if *m != want.model {
                return Err(VectorStoreError::invalid(
                    &name,
                    format!(
                        "it was built with the embedding model {m}, not {}; use another \
                         namespace",
                        want.model
                    ),
                ));
            }
        }
        store.info = CollectionInfo {
            name: namespace.to_string(),
            model: model
                .or_else(|| create.map(|c| c.model.clone()))
                .unwrap_or_else(|| "unknown".into()),
            dim,
        };
        Ok(store)
    }

    /// Records per `fetch_by_metadata` page when listing and scanning (default
    /// [`FETCH_PAGE`]).
    pub fn with_page_size(mut self, records: usize) -> Self {
        self.page = records.max(1);
        self
    }

    fn store(&self) -> &str {
        self.rest.store()
    }

    async fn stats(&self) -> Result<Value, VectorStoreError> {
        self.rest
            .json(Method::POST, "/describe_index_stats", Some(&json!({})))
            .await
    }

    fn namespace_count(&self, stats: &Value) -> u64 {
        stats["namespaces"][&self.namespace]["vectorCount"]
            .as_u64()
            .unwrap_or(0)
    }

    fn malformed(&self, what: &str, message: &str) -> VectorStoreError {
        VectorStoreError::Unavailable {
            store: self.store().to_string(),
            message: format!("Pinecone's answer to {what} is not as documented: {message}"),
        }
    }

    fn forget_listing(&self) {
        *self.listing.lock().expect("listing lock") = None;
    }

    /// The chunk record of a fetched or matched vector.
    fn record(&self, v: &Value) -> Result<Record, VectorStoreError> {
        let text = v["metadata"]["_cairn"].as_str().ok_or_else(|| {
            self.malformed(
                "a record",
                &format!(
                    "record {} has no `_cairn` metadata; was it written by cairn?",
                    v["id"]
                ),
            )
        })?;
        serde_json::from_str(text)
            .map_err(|e| self.malformed("a record", &format!("its `_cairn` is not cairn's ({e})")))
    }

    async fn delete_docs(&self, ids: &[&str]) -> Result<(), VectorStoreError> {
        self.forget_listing();
        for batch in ids.chunks(DELETE_DOCS) {
            let body = json!({
                "filter": {"_cairn_doc": {"$in": batch}},
                "namespace": self.namespace,
            });
            self.rest
                .json(Method::POST, "/vectors/delete", Some(&body))
                .await?;
        }
        Ok(())
    }

    /// Every record `filter` matches, through `fetch_by_metadata`'s pages.
    async fn fetch_where(&self, filter: Value) -> Result<Vec<Value>, VectorStoreError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut body = json!({
                "namespace": self.namespace,
                "filter": filter,
                "limit": self.page,
            });
            if let Some(t) = &token {
                body["paginationToken"] = json!(t);
            }
            let v = self
                .rest
                .json(Method::POST, "/vectors/fetch_by_metadata", Some(&body))
                .await?;
            let vectors = v["vectors"]
                .as_object()
                .ok_or_else(|| self.malformed("fetch_by_metadata", "no vectors"))?;
            out.extend(vectors.values().cloned());
            token = v["pagination"]["next"]
                .as_str()
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            if token.is_none() || vectors.is_empty() {
                return Ok(out);
            }
        }
    }

    async fn list_documents(&self) -> Result<BTreeMap<String, DocumentEntry>, VectorStoreError> {
        let records = self.fetch_where(json!({"_cairn_v": {"$eq": 1}})).await?;
        struct Agg {
            n: usize,
            hashes: HashSet<Option<String>>,
            origin: Option<String>,
            expected: HashSet<usize>,
        }
        let mut docs: BTreeMap<String, Agg> = BTreeMap::new();
        for v in &records {
            let r = self.record(v)?;
            let a = docs.entry(r.doc_id.clone()).or_insert_with(|| Agg {
                n: 0,
                hashes: HashSet::new(),
                origin: None,
                expected: HashSet::new(),
            });
            a.n += 1;
            a.hashes.insert(r.content_hash);
            if a.origin.is_none() {
                a.origin = r.origin;
            }
            a.expected.insert(r.doc_chunks);
        }
        let listed: BTreeMap<String, DocumentEntry> = docs
            .into_iter()
            .map(|(id, a)| {
                let whole =
                    a.hashes.len() == 1 && a.expected.len() == 1 && a.expected.contains(&a.n);
                let entry = DocumentEntry {
                    id: id.clone(),
                    content_hash: if whole {
                        a.hashes.into_iter().next().flatten()
                    } else {
                        None
                    },
                    origin: a.origin,
                    chunks: a.n,
                };
                (id, entry)
            })
            .collect();
        *self.listing.lock().expect("listing lock") =
            Some(Arc::new(listed.keys().cloned().collect()));
        Ok(listed)
    }

    fn vector_of(&self, v: &Value) -> Result<Vec<f32>, VectorStoreError> {
        v["values"]
            .as_array()
            .and_then(|a| a.iter().map(|x| x.as_f64().map(|f| f as f32)).collect())
            .ok_or_else(|| self.malformed("a record", &format!("record {} has no values", v["id"])))
    }
}

/// A record id for a chunk id: spaces, `%`, control and non-ASCII bytes percent-encoded.
pub fn vector_id(chunk_id: &str) -> String {
    let mut out = String::with_capacity(chunk_id.len());
    for b in chunk_id.bytes() {
        if b.is_ascii_graphic() && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A query-string value, percent-encoded.
fn query_value(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A vector as JSON numbers in their shortest `f32` form (`0.6`, not `0.6000000238418579`).
fn floats(v: &[f32]) -> Value {
    Value::Array(
        v.iter()
            .map(|x| {
                x.to_string()
                    .parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                    .map(Value::Number)
                    .unwrap_or(Value::Null)
            })
            .collect(),
    )
}

/// Refuses a batch before anything is written (the shared checks, then Pinecone's id length
/// and metadata size limits); returns each record's JSON.
fn records(
    store: &str,
    info: &CollectionInfo,
    docs: &[DocumentUpsert],
) -> Result<Vec<Value>, VectorStoreError> {
    DocumentUpsert::validate_batch(store, info.dim, docs)?;
    let mut out = Vec::new();
    for d in docs {
        for cv in &d.chunks {
            let (chunk, vector) = (&cv.chunk, &cv.vector);
            let id = vector_id(&chunk.id);
            if id.len() > ID_MAX {
                return Err(VectorStoreError::invalid(
                    store,
                    format!(
                        "chunk id {} is {} characters as a Pinecone record id; Pinecone allows \
                         {ID_MAX}",
                        chunk.id,
                        id.len()
                    ),
                ));
            }
            let record = Record {
                chunk_id: chunk.id.clone(),
                doc_id: chunk.doc_id.clone(),
                ordinal: chunk.ordinal,
                start: chunk.start,
                end: chunk.end,
                heading_path: chunk.heading_path.clone(),
                context: chunk.context.clone(),
                text: chunk.text.clone(),
                source: d.document.source.clone(),
                title: d.document.title.clone(),
                kind: d.document.kind.clone(),
                content_hash: d.content_hash.clone(),
                origin: d.origin.clone(),
                doc_chunks: d.chunks.len(),
                model: info.model.clone(),
                metadata: chunk.metadata.clone(),
                doc_metadata: (d.document.metadata != chunk.metadata)
                    .then(|| d.document.metadata.clone()),
            };
            let mut metadata: Map<String, Value> = filter::filter_fields(&chunk.metadata);
            metadata.insert(
                "_cairn".into(),
                Value::String(serde_json::to_string(&record).expect("a record serialises")),
            );
            metadata.insert("_cairn_chunk".into(), json!(chunk.id));
            metadata.insert("_cairn_doc".into(), json!(chunk.doc_id));
            metadata.insert("_cairn_v".into(), json!(1));
            let size = serde_json::to_string(&metadata)
                .map(|s| s.len())
                .unwrap_or(0);
            if size > METADATA_MAX_BYTES {
                return Err(VectorStoreError::invalid(
                    store,
                    format!(
                        "chunk {} needs {size} bytes of Pinecone metadata (its text, metadata \
                         and cairn's fields); Pinecone allows {METADATA_MAX_BYTES} per record",
                        chunk.id
                    ),
                ));
            }
            out.push(json!({"id": id, "values": floats(vector), "metadata": metadata}));
        }
    }
    Ok(out)
}

#[async_trait::async_trait]
impl VectorStore for PineconeStore {
    fn name(&self) -> String {
        self.store().to_string()
    }

    async fn info(&self) -> Result<CollectionInfo, VectorStoreError> {
        Ok(self.info.clone())
    }

    async fn upsert(&self, docs: Vec<DocumentUpsert>) -> Result<(), VectorStoreError> {
        let recs = records(self.store(), &self.info, &docs)?;
        if docs.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = docs.iter().map(|d| d.document.id.as_str()).collect();
        self.delete_docs(&ids).await?;
        let mut batch: Vec<Value> = Vec::new();
        let mut bytes = 0;
        let mut batches = Vec::new();
        for r in recs {
            let n = r.to_string().len() + 1;
            if !batch.is_empty()
                && (batch.len() == UPSERT_MAX_RECORDS || bytes + n > UPSERT_MAX_BYTES)
            {
                batches.push(std::mem::take(&mut batch));
                bytes = 0;
            }
            bytes += n;
            batch.push(r);
        }
        if !batch.is_empty() {
            batches.push(batch);
        }
        for b in batches {
            let body = json!({"vectors": b, "namespace": self.namespace});
            self.rest
                .json(Method::POST, "/vectors/upsert", Some(&body))
                .await?;
        }
        Ok(())
    }

    async fn delete_document(&self, doc_id: &str) -> Result<(), VectorStoreError> {
        self.forget_listing();
        let body = json!({
            "filter": {"_cairn_doc": {"$eq": doc_id}},
            "namespace": self.namespace,
        });
        self.rest
            .json(Method::POST, "/vectors/delete", Some(&body))
            .await?;
        Ok(())
    }

    async fn query(
        &self,
        vector: &[f32],
        k: usize,
        filter: &Filter,
        with_vectors: bool,
    ) -> Result<Vec<StoreHit>, VectorStoreError> {
        if vector.len() != self.info.dim {
            return Err(VectorStoreError::DimensionMismatch {
                store: self.store().to_string(),
                what: "the query vector".into(),
                expected: self.info.dim,
                found: vector.len(),
            });
        }
        let compiled = filter::compile(self.store(), filter)?;
        if k == 0 || compiled == PineconeFilter::Nothing {
            return Ok(Vec::new());
        }
        let mut body = json!({
            "namespace": self.namespace,
            "vector": floats(vector),
            "topK": k.min(TOP_K_MAX),
            "includeMetadata": true,
            "includeValues": with_vectors,
        });
        if let PineconeFilter::Where(f) = compiled {
            body["filter"] = f;
        }
        let v = self.rest.json(Method::POST, "/query", Some(&body)).await?;
        let matches = v["matches"]
            .as_array()
            .ok_or_else(|| self.malformed("query", "no matches"))?;
        matches
            .iter()
            .map(|m| {
                let r = self.record(m)?;
                Ok(StoreHit {
                    score: (m["score"].as_f64().unwrap_or(0.0) as f32).clamp(-1.0, 1.0),
                    chunk: r.chunk(),
                    source: r.source,
                    title: r.title,
                    vector: if with_vectors {
                        Some(self.vector_of(m)?)
                    } else {
                        None
                    },
                })
            })
            .collect()
    }

    async fn get(
        &self,
        ids: &[&str],
        with_vectors: bool,
    ) -> Result<Vec<StoredChunk>, VectorStoreError> {
        let mut found: BTreeMap<String, StoredChunk> = BTreeMap::new();
        for batch in ids.chunks(FETCH_IDS) {
            let mut path = String::from("/vectors/fetch?");
            for id in batch {
                path.push_str(&format!("ids={}&", query_value(&vector_id(id))));
            }
            path.push_str(&format!("namespace={}", query_value(&self.namespace)));
            let v = self.rest.json(Method::GET, &path, None).await?;
            let vectors = v["vectors"]
                .as_object()
                .ok_or_else(|| self.malformed("fetch", "no vectors"))?;
            for rec in vectors.values() {
                let r = self.record(rec)?;
                let vector = if with_vectors {
                    Some(self.vector_of(rec)?)
                } else {
                    None
                };
                found.insert(
                    r.chunk_id.clone(),
                    StoredChunk {
                        chunk: r.chunk(),
                        source: r.source,
                        title: r.title,
                        vector,
                    },
                );
            }
        }
        Ok(ids
            .iter()
            .filter_map(|id| found.get(*id).cloned())
            .collect())
    }

    async fn count(&self) -> Result<u64, VectorStoreError> {
        let stats = self.stats().await?;
        Ok(self.namespace_count(&stats))
    }

    async fn documents(&self) -> Result<Vec<DocumentEntry>, VectorStoreError> {
        Ok(self.list_documents().await?.into_values().collect())
    }

    async fn scan(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DocumentUpsert>, VectorStoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let cached = match after {
            Some(_) => self.listing.lock().expect("listing lock").clone(),
            None => None,
        };
        let listed = match cached {
            Some(l) => l,
            None => {
                self.list_documents().await?;
                self.listing
                    .lock()
                    .expect("listing lock")
                    .clone()
                    .unwrap_or_default()
            }
        };
        let page: Vec<&str> = listed
            .iter()
            .map(String::as_str)
            .filter(|id| after.is_none_or(|a| *id > a))
            .take(limit)
            .collect();
        if page.is_empty() {
            return Ok(Vec::new());
        }
        let recs = self
            .fetch_where(json!({"_cairn_doc": {"$in": page}}))
            .await?;
        let mut by_doc: BTreeMap<String, Vec<(Record, Vec<f32>)>> = BTreeMap::new();
        for v in &recs {
            let r = self.record(v)?;
            let vector = self.vector_of(v)?;
            by_doc
                .entry(r.doc_id.clone())
                .or_default()
                .push((r, vector));
        }
        Ok(by_doc
            .into_iter()
            .map(|(id, mut chunks)| {
                chunks.sort_by_key(|(r, _)| r.ordinal);
                let first = chunks[0].0.clone();
                DocumentUpsert {
                    document: Document {
                        id,
                        source: first.source.clone(),
                        title: first.title.clone(),
                        kind: first.kind.clone(),
                        text: String::new(),
                        metadata: first.doc_metadata.clone().unwrap_or(first.metadata.clone()),
                    },
                    chunks: chunks
                        .into_iter()
                        .map(|(r, vector)| ChunkVector {
                            chunk: r.chunk(),
                            vector,
                        })
                        .collect(),
                    content_hash: first.content_hash,
                    origin: first.origin,
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_ids_are_printable_ascii_without_spaces() {
        assert_eq!(vector_id("docs/a.md#0"), "docs/a.md#0");
        assert_eq!(vector_id("my doc 100%.md#1"), "my%20doc%20100%25.md#1");
        assert_eq!(vector_id("東京#0"), "%E6%9D%B1%E4%BA%AC#0");
        assert_eq!(query_value("docs/a.md#0"), "docs%2Fa.md%230");
    }

    #[test]
    fn floats_are_short() {
        assert_eq!(floats(&[0.6, 1.0, -0.25]).to_string(), "[0.6,1.0,-0.25]");
    }
}
