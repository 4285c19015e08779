//! [`VectorStore`] over Qdrant's REST API (feature `qdrant`; tested against Qdrant's
//! published OpenAPI reference, `docs/redoc/master/openapi.json` in qdrant/qdrant, with
//! `POST /points/query` from 1.10 and collection `metadata` from 1.16).
//!
//! ```no_run
//! # async fn f() -> Result<(), cairn_core::VectorStoreError> {
//! use cairn_core::CollectionInfo;
//! use cairn_vectordb::qdrant::QdrantStore;
//! let info = CollectionInfo { name: "docs".into(), model: "bge-small-en-v1.5".into(), dim: 384 };
//! // "" reads QDRANT_URL; the key comes from QDRANT_API_KEY (sent as the `api-key` header).
//! let store = QdrantStore::open("http://localhost:6333", "docs", Some(&info)).await?;
//! # Ok(()) }
//! ```
//!
//! **Collection.** One Qdrant collection with one unnamed vector of `dim` floats and `Cosine`
//! distance (Qdrant normalises on write and its score is the cosine similarity, reported
//! as is, clamped to `[-1, 1]`); the model id is kept in the collection's `metadata`
//! (`cairn_model`). Opening for writing creates it when it is missing (with a `keyword`
//! payload index on `cairn.doc_id`), and refuses one of another dimension
//! ([`VectorStoreError::DimensionMismatch`]), another distance or another model
//! ([`VectorStoreError::InvalidInput`]).
//!
//! **Points.** Qdrant ids are integers or UUIDs, so a chunk's point id is a name-based UUID:
//! the first 16 bytes of SHA-256 of `"cairn-chunk\0" + chunk id`, stamped version 8 (RFC 9562's
//! custom version) and the RFC 4122 variant. The payload keeps everything back:
//!
//! ```json
//! {
//!   "page_content": "the chunk's text",
//!   "metadata": { "the user's metadata": "as written" },
//!   "cairn": { "chunk_id": "a.md#0", "doc_id": "a.md", "ordinal": 0, "start": 0, "end": 42,
//!              "heading_path": [], "context": "", "source": "a.md", "title": null,
//!              "kind": "markdown", "content_hash": "...", "origin": null, "doc_chunks": 3 },
//!   "cairn_index": { "s": {}, "n": {}, "b": {}, "d": {}, "keys": [] }
//! }
//! ```
//!
//! (`page_content` and `metadata` are LangChain's names, so its Qdrant integration reads the
//! same points; `cairn_index` is the typed view filters read, see [`filter`]; `doc_metadata`
//! joins `cairn` only when the document's metadata differs from the chunk's.)
//!
//! **Writes.** `upsert` checks the whole batch first ([`DocumentUpsert::validate_batch`]:
//! vector lengths, finite non-zero vectors, every chunk's `doc_id`, empty or duplicate chunk
//! or document ids), then deletes the
//! batch's documents by a `cairn.doc_id` filter and writes the points in requests of at most
//! [`UPSERT_BATCH`] points, every write with `wait=true`. Qdrant has no transactions: a
//! failure part-way leaves a document with some of its chunks; each chunk carries its
//! document's chunk count (`doc_chunks`), and [`VectorStore::documents`] reports no content
//! hash for a document whose chunks disagree with it, so the next ingest writes it again.
//!
//! **Listing.** Qdrant's scroll runs in point-id order (hash order here) and `order_by`
//! needs a numeric index, so `documents()` scrolls every point's `cairn` fields and sorts the
//! documents here; `scan(None, n)` does the same, keeps the sorted document ids for the
//! pages that follow (until this store writes), and scrolls each page's points (with
//! vectors) by a `cairn.doc_id` filter. A scan therefore reads the collection's `cairn`
//! fields once, plus each page's points.
//!
//! **What the recorded tests check** (`tests/qdrant.rs`, fixtures written from the reference):
//! the exact requests (paths, `api-key` header, bodies: the collection config, points and
//! payloads, the delete filter, compiled filters, scroll pages) and the mapping of the
//! documented answers back (hits with scores, chunks and metadata read back, documents and
//! scans grouped and ordered, errors: 401 → `Auth`, 404 → `NotFound`, 429/5xx →
//! `Unavailable`), plus refusals made before any request (unsupported filters, wrong
//! dimensions, bad batches). **What they cannot check** without a server: that Qdrant
//! evaluates the filters as its documentation says, recall and ordering of its HNSW index
//! (approximate, so recall is below 1 on large collections unless `exact` search is set
//! server-side), visibility under concurrent writers, and behaviour under load; the
//! conformance suite (`cairn_store::conformance`) is what to run against a real Qdrant.

pub mod filter;

use crate::http::{env, Rest, DEFAULT_TIMEOUT};
use cairn_core::{
    Chunk, ChunkVector, CollectionInfo, Document, DocumentEntry, DocumentUpsert, Filter, Metadata,
    StoreHit, StoredChunk, VectorStore, VectorStoreError,
};
use filter::QdrantFilter;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

/// The variable read when `open` is given an empty URL.
pub const URL_VAR: &str = "QDRANT_URL";
/// The variable holding the API key (sent as the `api-key` header).
pub const KEY_VAR: &str = "QDRANT_API_KEY";
/// Points per upsert request.
pub const UPSERT_BATCH: usize = 256;
/// Points per scroll page, by default ([`QdrantStore::with_page_size`]).
pub const SCROLL_PAGE: usize = 512;
/// Ids per `get` request.
const GET_BATCH: usize = 1000;
/// The payload fields a hit or a read needs (not the filter index).
const READ_FIELDS: [&str; 3] = ["page_content", "metadata", "cairn"];

/// A Qdrant collection as a cairn store.
#[derive(Debug, Clone)]
pub struct QdrantStore {
    rest: Rest,
    /// `/collections/<name>`, the name percent-encoded.
    base: String,
    info: CollectionInfo,
    /// Points per scroll page.
    page: usize,
    /// The sorted document ids of the last listing, for `scan` pages after the first.
    listing: Arc<Mutex<Option<Arc<Vec<String>>>>>,
}

/// cairn's fields of a point, under `cairn` in its payload.
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
    source: String,
    #[serde(default)]
    title: Option<String>,
    kind: String,
    #[serde(default)]
    content_hash: Option<String>,
    #[serde(default)]
    origin: Option<String>,
    /// How many chunks the document has.
    doc_chunks: usize,
    /// The document's metadata, when it differs from the chunk's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    doc_metadata: Option<Metadata>,
}

/// A point read back.
struct Point {
    record: Record,
    chunk: Chunk,
    vector: Option<Vec<f32>>,
    score: Option<f32>,
}

impl QdrantStore {
    /// Opens `collection` at `url` (empty: `$QDRANT_URL`), with the API key from
    /// `$QDRANT_API_KEY` when set. `create: Some(info)` creates a missing collection for
    /// `info.model` and `info.dim` and refuses an existing one built otherwise; `None` opens
    /// an existing one.
    pub async fn open(
        url: &str,
        collection: &str,
        create: Option<&CollectionInfo>,
    ) -> Result<Self, VectorStoreError> {
        let key = env(KEY_VAR);
        Self::open_with_key(url, key.as_deref(), collection, create).await
    }

    /// [`QdrantStore::open`] with the API key given (`None`: no `api-key` header).
    pub async fn open_with_key(
        url: &str,
        api_key: Option<&str>,
        collection: &str,
        create: Option<&CollectionInfo>,
    ) -> Result<Self, VectorStoreError> {
        let name = format!("qdrant:{collection}");
        if collection.is_empty() {
            return Err(VectorStoreError::invalid(
                &name,
                "the collection name is empty",
            ));
        }
        let url = match url.trim() {
            "" => env(URL_VAR).ok_or_else(|| {
                VectorStoreError::invalid(
                    &name,
                    format!("no Qdrant URL was given and {URL_VAR} is not set"),
                )
            })?,
            u => u.to_string(),
        };
        let headers: Vec<(&str, &str)> = api_key.map(|k| vec![("api-key", k)]).unwrap_or_default();
        let rest = Rest::new(name.clone(), &url, &headers, DEFAULT_TIMEOUT)?;
        let base = format!("/collections/{}", segment(collection));
        let info = match rest.json(Method::GET, &base, None).await {
            Ok(v) => existing(&name, collection, &v, create)?,
            Err(VectorStoreError::NotFound { .. }) if create.is_some() => {
                let want = create.expect("checked");
                let body = json!({
                    "vectors": {"size": want.dim, "distance": "Cosine"},
                    "metadata": {"cairn_model": want.model},
                });
                rest.json(Method::PUT, &base, Some(&body)).await?;
                let index = json!({"field_name": "cairn.doc_id", "field_schema": "keyword"});
                rest.json(
                    Method::PUT,
                    &format!("{base}/index?wait=true"),
                    Some(&index),
                )
                .await?;
                CollectionInfo {
                    name: collection.to_string(),
                    model: want.model.clone(),
                    dim: want.dim,
                }
            }
            Err(e) => return Err(e),
        };
        Ok(QdrantStore {
            rest,
            base,
            info,
            page: SCROLL_PAGE,
            listing: Arc::new(Mutex::new(None)),
        })
    }

    /// Points per scroll page when listing and scanning (default [`SCROLL_PAGE`]).
    pub fn with_page_size(mut self, points: usize) -> Self {
        self.page = points.max(1);
        self
    }

    fn store(&self) -> &str {
        self.rest.store()
    }

    fn check_query(&self, vector: &[f32]) -> Result<(), VectorStoreError> {
        if vector.len() != self.info.dim {
            return Err(VectorStoreError::DimensionMismatch {
                store: self.store().to_string(),
                what: "the query vector".into(),
                expected: self.info.dim,
                found: vector.len(),
            });
        }
        Ok(())
    }

    async fn delete_docs(&self, ids: &[&str]) -> Result<(), VectorStoreError> {
        *self.listing.lock().expect("listing lock") = None;
        if ids.is_empty() {
            return Ok(());
        }
        let body = json!({ "filter": doc_filter(ids) });
        self.rest
            .json(
                Method::POST,
                &format!("{}/points/delete?wait=true", self.base),
                Some(&body),
            )
            .await?;
        Ok(())
    }

    /// Every point (a page at a time) matching `filter`, with the payload fields asked.
    async fn scroll(
        &self,
        filter: Option<Value>,
        fields: &[&str],
        with_vector: bool,
    ) -> Result<Vec<Value>, VectorStoreError> {
        let mut out = Vec::new();
        let mut offset = Value::Null;
        loop {
            let mut body = json!({
                "limit": self.page,
                "with_payload": fields,
                "with_vector": with_vector,
            });
            if let Some(f) = &filter {
                body["filter"] = f.clone();
            }
            if !offset.is_null() {
                body["offset"] = offset.clone();
            }
            let v = self
                .rest
                .json(
                    Method::POST,
                    &format!("{}/points/scroll", self.base),
                    Some(&body),
                )
                .await?;
            let result = &v["result"];
            let points = result["points"]
                .as_array()
                .ok_or_else(|| self.malformed("points/scroll", "no result.points"))?;
            out.extend(points.iter().cloned());
            offset = result
                .get("next_page_offset")
                .cloned()
                .unwrap_or(Value::Null);
            if offset.is_null() || points.is_empty() {
                return Ok(out);
            }
        }
    }

    /// Every document with its chunk count, hash and origin, by id.
    async fn list_documents(&self) -> Result<BTreeMap<String, DocumentEntry>, VectorStoreError> {
        let points = self
            .scroll(
                None,
                &[
                    "cairn.doc_id",
                    "cairn.content_hash",
                    "cairn.origin",
                    "cairn.doc_chunks",
                ],
                false,
            )
            .await?;
        struct Agg {
            n: usize,
            hashes: HashSet<Option<String>>,
            origin: Option<String>,
            expected: HashSet<u64>,
        }
        let mut docs: BTreeMap<String, Agg> = BTreeMap::new();
        for p in &points {
            let c = &p["payload"]["cairn"];
            let Some(id) = c["doc_id"].as_str() else {
                continue; // Not a point cairn wrote.
            };
            let a = docs.entry(id.to_string()).or_insert_with(|| Agg {
                n: 0,
                hashes: HashSet::new(),
                origin: None,
                expected: HashSet::new(),
            });
            a.n += 1;
            a.hashes
                .insert(c["content_hash"].as_str().map(str::to_string));
            if a.origin.is_none() {
                a.origin = c["origin"].as_str().map(str::to_string);
            }
            if let Some(n) = c["doc_chunks"].as_u64() {
                a.expected.insert(n);
            }
        }
        let listed: BTreeMap<String, DocumentEntry> = docs
            .into_iter()
            .map(|(id, a)| {
                // A hash only when every chunk agrees and none is missing, so a document a
                // failed write left half-done is written again.
                let whole = a.hashes.len() == 1
                    && a.expected.len() == 1
                    && a.expected.contains(&(a.n as u64));
                let content_hash = if whole {
                    a.hashes.into_iter().next().flatten()
                } else {
                    None
                };
                let entry = DocumentEntry {
                    id: id.clone(),
                    content_hash,
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

    fn point(&self, v: &Value, with_vector: bool) -> Result<Point, VectorStoreError> {
        let payload = &v["payload"];
        let record: Record = serde_json::from_value(payload["cairn"].clone()).map_err(|e| {
            self.malformed(
                "a point",
                &format!("its payload has no cairn fields ({e}); was it written by cairn?"),
            )
        })?;
        let metadata = match &payload["metadata"] {
            Value::Object(m) => m.clone(),
            _ => Metadata::new(),
        };
        let chunk = Chunk {
            id: record.chunk_id.clone(),
            doc_id: record.doc_id.clone(),
            ordinal: record.ordinal,
            text: payload["page_content"].as_str().unwrap_or("").to_string(),
            start: record.start,
            end: record.end,
            heading_path: record.heading_path.clone(),
            context: record.context.clone(),
            metadata,
        };
        let vector = if with_vector {
            Some(vector_of(&v["vector"]).ok_or_else(|| {
                self.malformed("a point", &format!("chunk {} has no vector", chunk.id))
            })?)
        } else {
            None
        };
        let score = v["score"].as_f64().map(|s| (s as f32).clamp(-1.0, 1.0));
        Ok(Point {
            record,
            chunk,
            vector,
            score,
        })
    }

    fn malformed(&self, what: &str, message: &str) -> VectorStoreError {
        VectorStoreError::Unavailable {
            store: self.store().to_string(),
            message: format!("Qdrant's answer to {what} is not as documented: {message}"),
        }
    }
}

/// Checks an existing collection's config against what cairn needs.
fn existing(
    store: &str,
    collection: &str,
    v: &Value,
    create: Option<&CollectionInfo>,
) -> Result<CollectionInfo, VectorStoreError> {
    let config = &v["result"]["config"];
    let vectors = &config["params"]["vectors"];
    let (Some(size), Some(distance)) = (vectors["size"].as_u64(), vectors["distance"].as_str())
    else {
        return Err(VectorStoreError::invalid(
            store,
            format!(
                "collection `{collection}` has no single unnamed vector (named vectors are not \
                 supported): {vectors}"
            ),
        ));
    };
    if distance != "Cosine" {
        return Err(VectorStoreError::invalid(
            store,
            format!(
                "collection `{collection}` measures {distance} distance; cairn's scores are \
                 cosine similarities, so it needs a Cosine collection"
            ),
        ));
    }
    let model = config["metadata"]["cairn_model"]
        .as_str()
        .map(str::to_string);
    if let Some(want) = create {
        if size as usize != want.dim {
            return Err(VectorStoreError::DimensionMismatch {
                store: store.to_string(),
                what: format!("the embedding model {}", want.model),
                expected: size as usize,
                found: want.dim,
            });
        }
        if let Some(m) = &model {
            if *m != want.model {
                return Err(VectorStoreError::invalid(
                    store,
                    format!(
                        "it was built with the embedding model {m}, not {}; use another \
                         collection",
                        want.model
                    ),
                ));
            }
        }
    }
    Ok(CollectionInfo {
        name: collection.to_string(),
        model: model
            .or_else(|| create.map(|c| c.model.clone()))
            .unwrap_or_else(|| "unknown".into()),
        dim: size as usize,
    })
}

/// The point id of a chunk: a name-based UUID (SHA-256, version 8).
pub fn point_id(chunk_id: &str) -> String {
    let h = Sha256::new()
        .chain_update(b"cairn-chunk\0")
        .chain_update(chunk_id.as_bytes())
        .finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// `cairn.doc_id` is one of `ids`.
fn doc_filter(ids: &[&str]) -> Value {
    let m = if ids.len() == 1 {
        json!({"value": ids[0]})
    } else {
        json!({"any": ids})
    };
    json!({"must": [{"key": "cairn.doc_id", "match": m}]})
}

/// A path segment, percent-encoded.
fn segment(s: &str) -> String {
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

fn vector_of(v: &Value) -> Option<Vec<f32>> {
    let arr = match v {
        Value::Array(a) => a,
        // A collection with named vectors answers a map; the unnamed one is "".
        Value::Object(m) => m.get("")?.as_array()?,
        _ => return None,
    };
    arr.iter().map(|x| x.as_f64().map(|f| f as f32)).collect()
}

fn point_json(d: &DocumentUpsert, cv: &ChunkVector) -> Value {
    let c = &cv.chunk;
    let record = Record {
        chunk_id: c.id.clone(),
        doc_id: c.doc_id.clone(),
        ordinal: c.ordinal,
        start: c.start,
        end: c.end,
        heading_path: c.heading_path.clone(),
        context: c.context.clone(),
        source: d.document.source.clone(),
        title: d.document.title.clone(),
        kind: d.document.kind.clone(),
        content_hash: d.content_hash.clone(),
        origin: d.origin.clone(),
        doc_chunks: d.chunks.len(),
        doc_metadata: (d.document.metadata != c.metadata).then(|| d.document.metadata.clone()),
    };
    json!({
        "id": point_id(&c.id),
        "vector": cv.vector,
        "payload": {
            "page_content": c.text,
            "metadata": c.metadata,
            "cairn": record,
            (filter::INDEX): filter::index_payload(&c.metadata),
        },
    })
}

#[async_trait::async_trait]
impl VectorStore for QdrantStore {
    fn name(&self) -> String {
        self.store().to_string()
    }

    async fn info(&self) -> Result<CollectionInfo, VectorStoreError> {
        Ok(self.info.clone())
    }

    async fn upsert(&self, docs: Vec<DocumentUpsert>) -> Result<(), VectorStoreError> {
        DocumentUpsert::validate_batch(self.store(), self.info.dim, &docs)?;
        if docs.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = docs.iter().map(|d| d.document.id.as_str()).collect();
        self.delete_docs(&ids).await?;
        let points: Vec<Value> = docs
            .iter()
            .flat_map(|d| d.chunks.iter().map(move |c| point_json(d, c)))
            .collect();
        for batch in points.chunks(UPSERT_BATCH) {
            let body = json!({ "points": batch });
            self.rest
                .json(
                    Method::PUT,
                    &format!("{}/points?wait=true", self.base),
                    Some(&body),
                )
                .await?;
        }
        Ok(())
    }

    async fn delete_document(&self, doc_id: &str) -> Result<(), VectorStoreError> {
        self.delete_docs(&[doc_id]).await
    }

    async fn query(
        &self,
        vector: &[f32],
        k: usize,
        filter: &Filter,
        with_vectors: bool,
    ) -> Result<Vec<StoreHit>, VectorStoreError> {
        self.check_query(vector)?;
        let compiled = filter::compile(self.store(), filter)?;
        if k == 0 || compiled == QdrantFilter::Nothing {
            return Ok(Vec::new());
        }
        let mut body = json!({
            "query": vector,
            "limit": k,
            "with_payload": READ_FIELDS,
            "with_vector": with_vectors,
        });
        if let QdrantFilter::Where(f) = compiled {
            body["filter"] = f;
        }
        let v = self
            .rest
            .json(
                Method::POST,
                &format!("{}/points/query", self.base),
                Some(&body),
            )
            .await?;
        let points = v["result"]["points"]
            .as_array()
            .ok_or_else(|| self.malformed("points/query", "no result.points"))?;
        points
            .iter()
            .map(|p| {
                let p = self.point(p, with_vectors)?;
                Ok(StoreHit {
                    score: p.score.unwrap_or(0.0),
                    source: p.record.source,
                    title: p.record.title,
                    chunk: p.chunk,
                    vector: p.vector,
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
        for batch in ids.chunks(GET_BATCH) {
            let uuids: Vec<String> = batch.iter().map(|id| point_id(id)).collect();
            let body = json!({
                "ids": uuids,
                "with_payload": READ_FIELDS,
                "with_vector": with_vectors,
            });
            let v = self
                .rest
                .json(Method::POST, &format!("{}/points", self.base), Some(&body))
                .await?;
            let records = v["result"]
                .as_array()
                .ok_or_else(|| self.malformed("points", "result is not a list"))?;
            for r in records {
                let p = self.point(r, with_vectors)?;
                found.insert(
                    p.chunk.id.clone(),
                    StoredChunk {
                        chunk: p.chunk,
                        source: p.record.source,
                        title: p.record.title,
                        vector: p.vector,
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
        let v = self
            .rest
            .json(
                Method::POST,
                &format!("{}/points/count", self.base),
                Some(&json!({"exact": true})),
            )
            .await?;
        v["result"]["count"]
            .as_u64()
            .ok_or_else(|| self.malformed("points/count", "no result.count"))
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
        // The first page lists the documents; the pages after it reuse that listing (until
        // this store writes).
        let cached = match after {
            Some(_) => self.listing.lock().expect("listing lock").clone(),
            None => None,
        };
        let listed = match cached {
            Some(l) => l,
            None => Arc::new(self.list_documents().await?.into_keys().collect()),
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
        let points = self
            .scroll(Some(doc_filter(&page)), &READ_FIELDS, true)
            .await?;
        let mut by_doc: BTreeMap<String, Vec<Point>> = BTreeMap::new();
        for p in &points {
            let p = self.point(p, true)?;
            by_doc.entry(p.record.doc_id.clone()).or_default().push(p);
        }
        Ok(by_doc
            .into_iter()
            .map(|(id, mut points)| {
                points.sort_by_key(|p| p.chunk.ordinal);
                let first = &points[0].record;
                let document = Document {
                    id: id.clone(),
                    source: first.source.clone(),
                    title: first.title.clone(),
                    kind: first.kind.clone(),
                    text: String::new(),
                    metadata: first
                        .doc_metadata
                        .clone()
                        .unwrap_or_else(|| points[0].chunk.metadata.clone()),
                };
                let content_hash = first.content_hash.clone();
                let origin = first.origin.clone();
                DocumentUpsert {
                    document,
                    chunks: points
                        .into_iter()
                        .map(|p| ChunkVector {
                            vector: p.vector.unwrap_or_default(),
                            chunk: p.chunk,
                        })
                        .collect(),
                    content_hash,
                    origin,
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn point_ids_are_stable_uuids() {
        let a = point_id("docs/a.md#0");
        assert_eq!(a, point_id("docs/a.md#0"));
        assert_ne!(a, point_id("docs/a.md#1"));
        assert_eq!(a.len(), 36);
        let parts: Vec<&str> = a.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('8'), "version 8: {a}");
        assert!(
            matches!(&parts[3][..1], "8" | "9" | "a" | "b"),
            "variant: {a}"
        );
    }

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(segment("docs"), "docs");
        assert_eq!(segment("a b/ü"), "a%20b%2F%C3%BC");
    }
}
