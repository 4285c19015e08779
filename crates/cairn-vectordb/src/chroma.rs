//! [`VectorStore`] over a Chroma server, through its HTTP API v2 (checked against
//! `chromadb==1.5.9`, `chroma run`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), cairn_core::VectorStoreError> {
//! use cairn_core::{CollectionInfo, VectorStore};
//! use cairn_vectordb::chroma::ChromaStore;
//! let info = CollectionInfo { name: "docs".into(), model: "minilm".into(), dim: 384 };
//! // Creates the collection (cosine space) or opens it when it holds the same model and dim.
//! let store = ChromaStore::open("http://127.0.0.1:8000", "docs", Some(&info)).await?;
//! // Later, to search what was ingested:
//! let store = ChromaStore::open("http://127.0.0.1:8000", "docs", None).await?;
//! println!("{} chunks", store.count().await?);
//! # Ok(()) }
//! ```
//!
//! **Where.** The URL names the server (`http://host:8000`, a path prefix kept for a reverse
//! proxy); the tenant and database are `default_tenant` / `default_database` unless the URL's
//! query says otherwise: `http://host:8000?tenant=acme&database=docs`. A token in
//! `CHROMA_API_KEY` is sent as `x-chroma-token` (never logged). Collection names follow
//! Chroma's rules (3–512 characters of `[A-Za-z0-9._-]`, starting and ending alphanumeric, no
//! `..`, not an IPv4 address) and are checked before any request.
//!
//! **The collection.** Created in cosine space with HNSW `ef_search` = [`EF_SEARCH`]
//! ([`EF_CONSTRUCTION`] when building), its metadata holding `cairn:model` and `cairn:dim`;
//! opening it for writing with another model or dimension is refused before anything is
//! written. Embeddings always come from cairn: Chroma's own embedding function is never used.
//! Vectors are L2-normalised on write (zero or non-finite ones refused) and a hit's score is
//! `1 - cosine distance`. Search is Chroma's HNSW index, so approximate: on the conformance
//! suite's 10k clustered 384-d vectors recall@10 is 1.0 unfiltered, 0.996 under a 50% filter
//! and 1.0 under a 10% one with [`EF_SEARCH`] = 200 (see `tests/chroma.rs`).
//!
//! **Records.** One record per chunk: the chunk id as the record id, the chunk text as the
//! document, the vector, and metadata with cairn's fields under reserved keys —
//! `cairn:doc_id`, `cairn:ordinal`, `cairn:start`, `cairn:end`, `cairn:heading_path` (JSON),
//! `cairn:context`, `cairn:source`, `cairn:title`, `cairn:kind`, `cairn:content_hash`,
//! `cairn:origin`, `cairn:chunks` (the document's chunk count) and `cairn:write` (one token
//! per upsert call) — and the chunk's metadata twice: exactly, as JSON text in
//! `cairn:metadata` (what reads back, so nulls, arrays, objects, integer vs float and unicode
//! all round-trip), and as Chroma values to filter on: strings and booleans as they are,
//! numbers as floats, date strings' instants in `cairn:date:KEY`, and the type tags of every
//! key in `cairn:keys` (see [`chroma_filter`] for why). User keys Chroma cannot hold
//! as they are (empty, `#…`, `$…`, `chroma:…`, `cairn:…`) are filtered on as `cairn:k:KEY`.
//! The document's metadata is stored only where it differs from the chunk's
//! (`cairn:doc_metadata`); the document's full text is not kept (its chunks are), so
//! [`VectorStore::scan`] returns it empty, as the embedded store does. A document without
//! chunks leaves no record, so it is not listed.
//!
//! **Filters** compile to a `where` clause with exactly [`cairn_core::Filter::matches`]
//! semantics: eq, ne, in, nin, ranges on numbers and on ISO-8601 dates, exists, and, or, not
//! ([`chroma_filter`] says how). The one form left is a range whose bound is a plain string
//! (`k > "abc"`, which the filter parser never makes): Chroma orders numbers only, so it is
//! [`VectorStoreError::Unsupported`], refused before any request. Full-text search is
//! Unsupported too: Chroma 1.5's `$contains` on documents is a substring test, not a ranked
//! search.
//!
//! **Upsert without transactions.** Chroma has none, so one `upsert` call is checked whole
//! first (lengths, foreign chunks, duplicate ids, chunk ids owned by documents outside the
//! batch: nothing is written when any fails), then written in groups of documents of at most
//! the server's `max_batch_size` records: delete the group's documents' chunks (by
//! `cairn:doc_id`), then upsert their chunks (a group is one document when that document has
//! more chunks than one request holds). A failure part-way leaves the groups before it
//! written, the rest as they were, and the failing group's documents either as they were
//! (the delete failed), gone (the write failed), or, for a document written in several
//! requests, partly written. A gone document is not listed, and a partly written one is
//! visible as such: its chunks miss some of `cairn:chunks`, or carry two write tokens, and
//! [`VectorStore::documents`] (and `scan`) then report no content hash for it. So an ingest
//! rerun writes both again instead of skipping them as unchanged, and rerunning the same
//! upsert converges to the records one successful call writes.
//!
//! **Listing.** [`VectorStore::documents`] and [`VectorStore::scan`] read every record's
//! metadata in pages of `get` (limit/offset), group chunks by `cairn:doc_id` and sort by
//! document id (ascending, byte order); `scan` then fetches the page's documents' chunks with
//! their vectors by `cairn:doc_id`. Each call reads the whole collection's metadata once, and
//! pages of a collection being written to may disagree with each other.

use crate::http::{self, Rest};
use cairn_core::{
    parse_date, Chunk, ChunkVector, ClassifiedError, CollectionInfo, Document, DocumentEntry,
    DocumentUpsert, ErrorClass, Filter, Metadata, StoreHit, StoredChunk, VectorStore,
    VectorStoreError,
};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

#[path = "chroma_filter.rs"]
pub mod chroma_filter;
use chroma_filter::{Where, KEYS};

/// HNSW `ef_search` of the collections this module creates. Chroma's default (100) already
/// meets the conformance suite's recall (measured 1.0 unfiltered, 0.985 under a 50% filter,
/// 0.996 under a 10% one); 200 buys margin under filters, where HNSW loses most, for little
/// query time. It is a query-time setting Chroma lets one change on an existing collection.
pub const EF_SEARCH: usize = 200;
/// HNSW `ef_construction` of the collections this module creates: Chroma's default.
pub const EF_CONSTRUCTION: usize = 100;
/// How long one request may take.
pub const TIMEOUT: Duration = Duration::from_secs(120);
/// Records per `get` page when listing.
const PAGE: usize = 2000;

const DOC_ID: &str = "cairn:doc_id";
const ORDINAL: &str = "cairn:ordinal";
const START: &str = "cairn:start";
const END: &str = "cairn:end";
const HEADINGS: &str = "cairn:heading_path";
const CONTEXT: &str = "cairn:context";
const SOURCE: &str = "cairn:source";
const TITLE: &str = "cairn:title";
const KIND: &str = "cairn:kind";
const HASH: &str = "cairn:content_hash";
const ORIGIN: &str = "cairn:origin";
const METADATA: &str = "cairn:metadata";
const DOC_METADATA: &str = "cairn:doc_metadata";
const CHUNKS: &str = "cairn:chunks";
const WRITE: &str = "cairn:write";
const MODEL_KEY: &str = "cairn:model";
const DIM_KEY: &str = "cairn:dim";

/// A Chroma collection as a cairn store.
#[derive(Debug)]
pub struct ChromaStore {
    rest: Rest,
    /// `chroma:<collection>`.
    name: String,
    /// `/api/v2/tenants/T/databases/D/collections/ID`.
    path: String,
    info: CollectionInfo,
    max_batch: usize,
}

/// One record read back.
struct Record {
    chunk: Chunk,
    source: String,
    title: Option<String>,
    kind: String,
    hash: Option<String>,
    origin: Option<String>,
    doc_metadata: Metadata,
    total: Option<u64>,
    token: Option<String>,
    vector: Option<Vec<f32>>,
}

#[derive(Deserialize)]
struct GetAnswer {
    ids: Vec<String>,
    #[serde(default)]
    documents: Option<Vec<Option<String>>>,
    #[serde(default)]
    metadatas: Option<Vec<Option<Map<String, Value>>>>,
    #[serde(default)]
    embeddings: Option<Vec<Option<Vec<f32>>>>,
}

/// One column of a query answer: per query, per hit, the value (each level may be null).
type Rows<T> = Option<Vec<Option<Vec<Option<T>>>>>;

#[derive(Deserialize)]
struct QueryAnswer {
    ids: Vec<Vec<String>>,
    #[serde(default)]
    documents: Rows<String>,
    #[serde(default)]
    metadatas: Rows<Map<String, Value>>,
    #[serde(default)]
    embeddings: Rows<Vec<f32>>,
    #[serde(default)]
    distances: Rows<f32>,
}

/// Checks a collection name against Chroma's rules; the message says what is wrong.
pub fn check_collection_name(name: &str) -> Result<(), String> {
    let n = name.chars().count();
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !(3..=512).contains(&n)
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        || !alnum(name.chars().next())
        || !alnum(name.chars().last())
    {
        return Err(format!(
            "`{name}` is not a Chroma collection name: use 3-512 characters from \
             [a-zA-Z0-9._-], starting and ending with a letter or digit"
        ));
    }
    if name.contains("..") {
        return Err(format!(
            "`{name}` is not a Chroma collection name: it may not contain `..`"
        ));
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return Err(format!(
            "`{name}` is not a Chroma collection name: it may not be an IPv4 address"
        ));
    }
    Ok(())
}

/// `s` as one URL path segment.
fn segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The vector scaled to unit length, or `None` when it is zero or not finite.
fn normalised(v: &[f32]) -> Option<Vec<f32>> {
    let n = v.iter().map(|&x| x as f64 * x as f64).sum::<f64>().sqrt();
    if !n.is_finite() || n == 0.0 || v.iter().any(|x| !x.is_finite()) {
        return None;
    }
    Some(v.iter().map(|&x| (x as f64 / n) as f32).collect())
}

/// A token unique to one upsert call (process, time, counter).
fn write_token() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{nanos:x}-{:x}-{:x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// The Chroma metadata of one chunk record.
fn record_metadata(d: &DocumentUpsert, c: &Chunk, total: usize, token: &str) -> Map<String, Value> {
    use chroma_filter::{date_field, field, float, tag};
    let mut m = Map::new();
    let mut tags = Vec::new();
    for (k, v) in &c.metadata {
        match v {
            Value::String(s) => {
                m.insert(field(k), Value::String(s.clone()));
                tags.push(Value::String(tag('s', k)));
                if let Some(epoch) = parse_date(s) {
                    m.insert(date_field(k), float(epoch));
                    tags.push(Value::String(tag('d', k)));
                }
            }
            Value::Number(n) => {
                // `as_f64` is what `Filter::matches` compares.
                m.insert(field(k), float(n.as_f64().unwrap_or(f64::NAN)));
                tags.push(Value::String(tag('n', k)));
            }
            Value::Bool(b) => {
                m.insert(field(k), Value::Bool(*b));
                tags.push(Value::String(tag('b', k)));
            }
            Value::Null | Value::Array(_) | Value::Object(_) => {
                tags.push(Value::String(tag('x', k)))
            }
        }
    }
    if !tags.is_empty() {
        m.insert(KEYS.into(), Value::Array(tags));
    }
    m.insert(DOC_ID.into(), json!(c.doc_id));
    m.insert(ORDINAL.into(), json!(c.ordinal));
    m.insert(START.into(), json!(c.start));
    m.insert(END.into(), json!(c.end));
    if !c.heading_path.is_empty() {
        m.insert(HEADINGS.into(), json!(json!(c.heading_path).to_string()));
    }
    if !c.context.is_empty() {
        m.insert(CONTEXT.into(), json!(c.context));
    }
    m.insert(SOURCE.into(), json!(d.document.source));
    if let Some(t) = &d.document.title {
        m.insert(TITLE.into(), json!(t));
    }
    m.insert(KIND.into(), json!(d.document.kind));
    if let Some(h) = &d.content_hash {
        m.insert(HASH.into(), json!(h));
    }
    if let Some(o) = &d.origin {
        m.insert(ORIGIN.into(), json!(o));
    }
    if !c.metadata.is_empty() {
        m.insert(
            METADATA.into(),
            json!(Value::Object(c.metadata.clone()).to_string()),
        );
    }
    if d.document.metadata != c.metadata {
        m.insert(
            DOC_METADATA.into(),
            json!(Value::Object(d.document.metadata.clone()).to_string()),
        );
    }
    m.insert(CHUNKS.into(), json!(total));
    m.insert(WRITE.into(), json!(token));
    m
}

impl ChromaStore {
    /// Opens the collection `collection` of the Chroma server at `url`. With `create: None`
    /// it must exist (else [`VectorStoreError::NotFound`], saying to ingest first); with
    /// `Some(info)` it is created when missing (cosine space, `info.model` and `info.dim` in
    /// its metadata), and an existing one must hold the same model and dimension.
    pub async fn open(
        url: &str,
        collection: &str,
        create: Option<&CollectionInfo>,
    ) -> Result<ChromaStore, VectorStoreError> {
        let name = format!("chroma:{collection}");
        check_collection_name(collection).map_err(|m| VectorStoreError::invalid(&name, m))?;
        let (base, tenant, database) = split_url(&name, url)?;
        let token = http::env("CHROMA_API_KEY");
        let headers: Vec<(&str, &str)> = token
            .as_deref()
            .map(|t| vec![("x-chroma-token", t)])
            .unwrap_or_default();
        let rest = Rest::new(&name, &base, &headers, TIMEOUT)?;
        let db = format!(
            "/api/v2/tenants/{}/databases/{}",
            segment(&tenant),
            segment(&database)
        );
        let where_ = format!("collection `{collection}` (tenant {tenant}, database {database})");
        if let Some(info) = create {
            if info.dim == 0 {
                return Err(VectorStoreError::invalid(
                    &name,
                    "a collection of 0-dimensional vectors",
                ));
            }
        }
        let found = match rest
            .json(Method::GET, &format!("{db}/collections/{collection}"), None)
            .await
        {
            Ok(v) => Some(v),
            Err(VectorStoreError::NotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        let coll = match (found, create) {
            (Some(v), _) => v,
            (None, None) => {
                return Err(VectorStoreError::NotFound {
                    store: name,
                    what: format!(
                        "{where_}; ingest into it first, which creates it with the \
                         embedding model's dimension"
                    ),
                })
            }
            (None, Some(info)) => {
                let body = json!({
                    "name": collection,
                    "metadata": {MODEL_KEY: info.model, DIM_KEY: info.dim},
                    "configuration": {"hnsw": {
                        "space": "cosine",
                        "ef_search": EF_SEARCH,
                        "ef_construction": EF_CONSTRUCTION,
                    }},
                    "get_or_create": true,
                });
                rest.json(Method::POST, &format!("{db}/collections"), Some(&body))
                    .await?
            }
        };
        let info = collection_info(&name, &where_, collection, &coll)?;
        if let Some(want) = create {
            if want.dim != info.dim {
                return Err(VectorStoreError::DimensionMismatch {
                    store: name,
                    what: format!("the embedding model `{}`", want.model),
                    expected: info.dim,
                    found: want.dim,
                });
            }
            if want.model != info.model {
                return Err(VectorStoreError::invalid(
                    &name,
                    format!(
                        "{where_} holds vectors of the model `{}`, not `{}`; use another \
                         collection or the model it was built with",
                        info.model, want.model
                    ),
                ));
            }
        }
        let id = coll
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| malformed(&name, "the collection has no id"))?;
        let max_batch = match rest
            .json(Method::GET, "/api/v2/pre-flight-checks", None)
            .await
        {
            Ok(v) => v.get("max_batch_size").and_then(Value::as_u64),
            Err(VectorStoreError::NotFound { .. }) => None,
            Err(e) => return Err(e),
        }
        .unwrap_or(1000)
        .max(1) as usize;
        Ok(ChromaStore {
            path: format!("{db}/collections/{}", segment(id)),
            rest,
            name,
            info,
            max_batch,
        })
    }

    /// Deletes the whole collection from the server (every chunk, and its model and
    /// dimension); the store answers `NotFound` afterwards.
    pub async fn delete_collection(&self) -> Result<(), VectorStoreError> {
        let db = self
            .path
            .rsplit_once("/collections/")
            .map(|(db, _)| db)
            .unwrap_or("");
        self.rest
            .json(
                Method::DELETE,
                &format!("{db}/collections/{}", self.info.name),
                None,
            )
            .await?;
        Ok(())
    }

    /// The most records one request carries (the server's `max_batch_size`).
    pub fn max_batch_size(&self) -> usize {
        self.max_batch
    }

    /// The `where` clause `filter` compiles to (`None`: no clause), or the error a query
    /// with it returns before sending anything. `Some(Value::Bool(false))` stands for a
    /// filter that matches nothing, which is answered without a request.
    pub fn where_clause(&self, filter: &Filter) -> Result<Option<Value>, VectorStoreError> {
        Ok(match chroma_filter::compile(&self.name, filter)? {
            Where::True => None,
            Where::False => Some(Value::Bool(false)),
            Where::Expr(v) => Some(v),
        })
    }

    async fn call(
        &self,
        method: Method,
        op: &str,
        body: &Value,
    ) -> Result<Value, VectorStoreError> {
        self.rest
            .json(method, &format!("{}/{op}", self.path), Some(body))
            .await
    }

    /// The records `body` (a `get` request without limit/offset) selects, page by page.
    async fn get_all(&self, mut body: Value) -> Result<Vec<Record>, VectorStoreError> {
        let mut out = Vec::new();
        let mut offset = 0;
        loop {
            body["limit"] = json!(PAGE);
            body["offset"] = json!(offset);
            let page = self.get_records(&body).await?;
            let n = page.len();
            out.extend(page);
            if n < PAGE {
                return Ok(out);
            }
            offset += n;
        }
    }

    async fn get_records(&self, body: &Value) -> Result<Vec<Record>, VectorStoreError> {
        let v = self.call(Method::POST, "get", body).await?;
        let a: GetAnswer = serde_json::from_value(v)
            .map_err(|e| malformed(&self.name, format!("a get answer: {e}")))?;
        let n = a.ids.len();
        let mut docs = a.documents.unwrap_or_default().into_iter();
        let mut metas = a.metadatas.unwrap_or_default().into_iter();
        let mut embs = a.embeddings.unwrap_or_default().into_iter();
        let mut out = Vec::with_capacity(n);
        for id in a.ids {
            out.push(self.decode(
                id,
                docs.next().flatten(),
                metas.next().flatten(),
                embs.next().flatten(),
            )?);
        }
        Ok(out)
    }

    fn decode(
        &self,
        id: String,
        text: Option<String>,
        meta: Option<Map<String, Value>>,
        vector: Option<Vec<f32>>,
    ) -> Result<Record, VectorStoreError> {
        let meta = meta.unwrap_or_default();
        let bad = |what: &str| {
            malformed(
                &self.name,
                format!("record `{id}`: {what} (was it written by cairn?)"),
            )
        };
        let s = |k: &str| meta.get(k).and_then(Value::as_str).map(str::to_string);
        let n = |k: &str| meta.get(k).and_then(Value::as_u64);
        let json_map = |k: &str| -> Result<Option<Metadata>, VectorStoreError> {
            match meta.get(k).and_then(Value::as_str) {
                None => Ok(None),
                Some(t) => serde_json::from_str(t)
                    .map(Some)
                    .map_err(|e| bad(&format!("{k} is not a JSON object ({e})"))),
            }
        };
        let doc_id = s(DOC_ID).ok_or_else(|| bad("no cairn:doc_id"))?;
        let ordinal = n(ORDINAL).ok_or_else(|| bad("no cairn:ordinal"))? as u32;
        let metadata = json_map(METADATA)?.unwrap_or_default();
        let doc_metadata = json_map(DOC_METADATA)?.unwrap_or_else(|| metadata.clone());
        let heading_path = match meta.get(HEADINGS).and_then(Value::as_str) {
            None => Vec::new(),
            Some(t) => {
                serde_json::from_str(t).map_err(|e| bad(&format!("cairn:heading_path: {e}")))?
            }
        };
        let chunk = Chunk {
            id,
            doc_id,
            ordinal,
            text: text.unwrap_or_default(),
            start: n(START).unwrap_or(0) as usize,
            end: n(END).unwrap_or(0) as usize,
            heading_path,
            context: s(CONTEXT).unwrap_or_default(),
            metadata,
        };
        Ok(Record {
            doc_metadata,
            chunk,
            source: s(SOURCE).unwrap_or_default(),
            title: s(TITLE),
            kind: s(KIND).unwrap_or_default(),
            hash: s(HASH),
            origin: s(ORIGIN),
            total: n(CHUNKS),
            token: s(WRITE),
            vector,
        })
    }

    fn check_vector(&self, what: &str, v: &[f32]) -> Result<Vec<f32>, VectorStoreError> {
        if v.len() != self.info.dim {
            return Err(VectorStoreError::DimensionMismatch {
                store: self.name.clone(),
                what: what.to_string(),
                expected: self.info.dim,
                found: v.len(),
            });
        }
        normalised(v).ok_or_else(|| {
            VectorStoreError::invalid(
                &self.name,
                format!("{what}: the vector is zero or not finite"),
            )
        })
    }

    /// The batch checked whole ([`DocumentUpsert::validate_batch`]), the last copy of each
    /// document kept, vectors normalised.
    fn prepare(&self, docs: Vec<DocumentUpsert>) -> Result<Vec<DocumentUpsert>, VectorStoreError> {
        let mut docs = DocumentUpsert::last_copies(docs);
        DocumentUpsert::validate_batch(&self.name, self.info.dim, &docs)?;
        for d in &mut docs {
            for c in &mut d.chunks {
                c.vector = self.check_vector(&format!("chunk {}", c.chunk.id), &c.vector)?;
            }
        }
        Ok(docs)
    }

    /// Refuses the batch when one of its chunk ids is stored for a document outside it.
    async fn check_owners(&self, docs: &[DocumentUpsert]) -> Result<(), VectorStoreError> {
        let doc_ids: HashSet<&str> = docs.iter().map(|d| d.document.id.as_str()).collect();
        let ids: Vec<&str> = docs
            .iter()
            .flat_map(|d| d.chunks.iter().map(|c| c.chunk.id.as_str()))
            .collect();
        for part in ids.chunks(self.max_batch) {
            let v = self
                .call(
                    Method::POST,
                    "get",
                    &json!({"ids": part, "include": ["metadatas"]}),
                )
                .await?;
            let a: GetAnswer = serde_json::from_value(v)
                .map_err(|e| malformed(&self.name, format!("a get answer: {e}")))?;
            let metas = a.metadatas.unwrap_or_default();
            for (id, m) in a.ids.iter().zip(metas) {
                let owner = m
                    .as_ref()
                    .and_then(|m| m.get(DOC_ID))
                    .and_then(Value::as_str)
                    .unwrap_or("");
                if !doc_ids.contains(owner) {
                    return Err(VectorStoreError::invalid(
                        &self.name,
                        format!(
                            "chunk id {id} already belongs to another document ({owner}); \
                             nothing was written"
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Deletes the chunks of `doc_ids`, then writes `docs`' chunks.
    async fn write_group(
        &self,
        docs: &[&DocumentUpsert],
        token: &str,
    ) -> Result<(), VectorStoreError> {
        let ids: Vec<&str> = docs.iter().map(|d| d.document.id.as_str()).collect();
        self.call(
            Method::POST,
            "delete",
            &json!({"where": {DOC_ID: {"$in": ids}}}),
        )
        .await?;
        let records: Vec<(&DocumentUpsert, &ChunkVector)> = docs
            .iter()
            .flat_map(|d| d.chunks.iter().map(move |c| (*d, c)))
            .collect();
        for part in records.chunks(self.max_batch) {
            let ids: Vec<&str> = part.iter().map(|(_, c)| c.chunk.id.as_str()).collect();
            let embeddings: Vec<&[f32]> = part.iter().map(|(_, c)| c.vector.as_slice()).collect();
            let documents: Vec<&str> = part.iter().map(|(_, c)| c.chunk.text.as_str()).collect();
            let metadatas: Vec<Value> = part
                .iter()
                .map(|(d, c)| Value::Object(record_metadata(d, &c.chunk, d.chunks.len(), token)))
                .collect();
            self.call(
                Method::POST,
                "upsert",
                &json!({
                    "ids": ids,
                    "embeddings": embeddings,
                    "documents": documents,
                    "metadatas": metadatas,
                }),
            )
            .await?;
        }
        Ok(())
    }

    /// Every document's chunks' records (metadata only), by document id.
    async fn by_document(&self) -> Result<BTreeMap<String, Vec<Record>>, VectorStoreError> {
        let mut docs: BTreeMap<String, Vec<Record>> = BTreeMap::new();
        for r in self.get_all(json!({"include": ["metadatas"]})).await? {
            docs.entry(r.chunk.doc_id.clone()).or_default().push(r);
        }
        Ok(docs)
    }
}

/// The answer's row for the first (only) query.
fn first_row<T>(x: Option<Vec<Option<Vec<T>>>>) -> std::vec::IntoIter<T> {
    x.and_then(|v| v.into_iter().next().flatten())
        .unwrap_or_default()
        .into_iter()
}

/// Whether a document's records are one whole write: every chunk there, one write token.
fn complete(records: &[Record]) -> bool {
    let tokens: HashSet<Option<&str>> = records.iter().map(|r| r.token.as_deref()).collect();
    tokens.len() == 1
        && records
            .iter()
            .all(|r| r.total == Some(records.len() as u64))
}

fn malformed(store: &str, message: impl Into<String>) -> VectorStoreError {
    VectorStoreError::Backend {
        store: store.to_string(),
        error: ClassifiedError::with_class(ErrorClass::Internal, message.into()),
    }
}

/// The server URL without its query, and the tenant and database the query names.
fn split_url(store: &str, url: &str) -> Result<(String, String, String), VectorStoreError> {
    let mut parsed = reqwest::Url::parse(url).map_err(|e| {
        VectorStoreError::invalid(
            store,
            format!("`{url}` is not a URL ({e}); write it as http://host:port"),
        )
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(VectorStoreError::invalid(
            store,
            format!("`{url}` is not an http:// or https:// URL; write it as http://host:port"),
        ));
    }
    let (mut tenant, mut database) = ("default_tenant".to_string(), "default_database".to_string());
    for (k, v) in parsed.query_pairs() {
        match k.as_ref() {
            "tenant" => tenant = v.into_owned(),
            "database" => database = v.into_owned(),
            other => {
                return Err(VectorStoreError::invalid(
                    store,
                    format!(
                        "`{url}`: unknown parameter `{other}` (the URL may name `tenant` and \
                         `database`)"
                    ),
                ))
            }
        }
    }
    parsed.set_query(None);
    parsed.set_fragment(None);
    Ok((
        parsed.as_str().trim_end_matches('/').to_string(),
        tenant,
        database,
    ))
}

/// The collection's model and dimension from its metadata; refuses collections cairn did not
/// make and ones in another space.
fn collection_info(
    store: &str,
    where_: &str,
    collection: &str,
    coll: &Value,
) -> Result<CollectionInfo, VectorStoreError> {
    let meta = coll.get("metadata");
    let model = meta.and_then(|m| m.get(MODEL_KEY)).and_then(Value::as_str);
    let dim = meta.and_then(|m| m.get(DIM_KEY)).and_then(Value::as_u64);
    let (Some(model), Some(dim)) = (model, dim) else {
        return Err(VectorStoreError::invalid(
            store,
            format!(
                "{where_} was not made by cairn (its metadata has no {MODEL_KEY} and \
                 {DIM_KEY}); use another collection name"
            ),
        ));
    };
    let space = coll
        .pointer("/configuration_json/hnsw/space")
        .or_else(|| coll.pointer("/configuration_json/spann/space"))
        .and_then(Value::as_str);
    if let Some(space) = space {
        if space != "cosine" {
            return Err(VectorStoreError::invalid(
                store,
                format!("{where_} uses the `{space}` space; cairn needs cosine"),
            ));
        }
    }
    Ok(CollectionInfo {
        name: collection.to_string(),
        model: model.to_string(),
        dim: dim as usize,
    })
}

#[async_trait::async_trait]
impl VectorStore for ChromaStore {
    fn name(&self) -> String {
        self.name.clone()
    }

    async fn info(&self) -> Result<CollectionInfo, VectorStoreError> {
        Ok(self.info.clone())
    }

    async fn upsert(&self, docs: Vec<DocumentUpsert>) -> Result<(), VectorStoreError> {
        if docs.is_empty() {
            return Ok(());
        }
        let docs = self.prepare(docs)?;
        self.check_owners(&docs).await?;
        let token = write_token();
        let mut group: Vec<&DocumentUpsert> = Vec::new();
        let mut records = 0;
        for d in &docs {
            if !group.is_empty()
                && (records + d.chunks.len() > self.max_batch || group.len() >= self.max_batch)
            {
                self.write_group(&group, &token).await?;
                group.clear();
                records = 0;
            }
            group.push(d);
            records += d.chunks.len();
        }
        if !group.is_empty() {
            self.write_group(&group, &token).await?;
        }
        Ok(())
    }

    async fn delete_document(&self, doc_id: &str) -> Result<(), VectorStoreError> {
        self.call(Method::POST, "delete", &json!({"where": {DOC_ID: doc_id}}))
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
        let q = self.check_vector("the query vector", vector)?;
        let where_ = chroma_filter::compile(&self.name, filter)?;
        if k == 0 || where_ == Where::False {
            return Ok(Vec::new());
        }
        let mut include = vec!["metadatas", "documents", "distances"];
        if with_vectors {
            include.push("embeddings");
        }
        let mut body = json!({
            "query_embeddings": [q],
            "n_results": k.min(u32::MAX as usize),
            "include": include,
        });
        if let Where::Expr(w) = where_ {
            body["where"] = w;
        }
        let v = self.call(Method::POST, "query", &body).await?;
        let a: QueryAnswer = serde_json::from_value(v)
            .map_err(|e| malformed(&self.name, format!("a query answer: {e}")))?;
        let ids = a.ids.into_iter().next().unwrap_or_default();
        let mut docs = first_row(a.documents);
        let mut metas = first_row(a.metadatas);
        let mut embs = first_row(a.embeddings);
        let mut dists = first_row(a.distances);
        let mut hits = Vec::with_capacity(ids.len());
        for id in ids {
            let (text, meta, emb) = (
                docs.next().flatten(),
                metas.next().flatten(),
                embs.next().flatten(),
            );
            let dist = dists
                .next()
                .flatten()
                .ok_or_else(|| malformed(&self.name, format!("hit `{id}` has no distance")))?;
            let r = self.decode(id, text, meta, emb)?;
            hits.push(StoreHit {
                score: 1.0 - dist,
                chunk: r.chunk,
                source: r.source,
                title: r.title,
                vector: if with_vectors { r.vector } else { None },
            });
        }
        Ok(hits)
    }

    async fn get(
        &self,
        ids: &[&str],
        with_vectors: bool,
    ) -> Result<Vec<StoredChunk>, VectorStoreError> {
        let mut include = vec!["metadatas", "documents"];
        if with_vectors {
            include.push("embeddings");
        }
        let mut found: HashMap<String, StoredChunk> = HashMap::new();
        let unique: Vec<&str> = {
            let mut seen = HashSet::new();
            ids.iter().copied().filter(|i| seen.insert(*i)).collect()
        };
        for part in unique.chunks(self.max_batch) {
            let body = json!({"ids": part, "include": include});
            for r in self.get_records(&body).await? {
                found.insert(
                    r.chunk.id.clone(),
                    StoredChunk {
                        chunk: r.chunk,
                        source: r.source,
                        title: r.title,
                        vector: if with_vectors { r.vector } else { None },
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
            .json(Method::GET, &format!("{}/count", self.path), None)
            .await?;
        v.as_u64()
            .ok_or_else(|| malformed(&self.name, format!("count answered {v}")))
    }

    async fn documents(&self) -> Result<Vec<DocumentEntry>, VectorStoreError> {
        Ok(self
            .by_document()
            .await?
            .into_iter()
            .map(|(id, records)| {
                let whole = complete(&records);
                let first = records.iter().min_by_key(|r| r.chunk.ordinal);
                DocumentEntry {
                    content_hash: first.and_then(|r| r.hash.clone()).filter(|_| whole),
                    origin: first.and_then(|r| r.origin.clone()),
                    chunks: records.len(),
                    id,
                }
            })
            .collect())
    }

    async fn scan(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DocumentUpsert>, VectorStoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = self
            .by_document()
            .await?
            .into_keys()
            .filter(|id| after.is_none_or(|a| id.as_str() > a))
            .take(limit)
            .collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut docs: BTreeMap<String, Vec<Record>> = BTreeMap::new();
        let body = json!({
            "where": {DOC_ID: {"$in": ids}},
            "include": ["metadatas", "documents", "embeddings"],
        });
        for r in self.get_all(body).await? {
            docs.entry(r.chunk.doc_id.clone()).or_default().push(r);
        }
        let mut out = Vec::with_capacity(docs.len());
        for (id, mut records) in docs {
            records.sort_by(|a, b| {
                a.chunk
                    .ordinal
                    .cmp(&b.chunk.ordinal)
                    .then_with(|| a.chunk.id.cmp(&b.chunk.id))
            });
            let whole = complete(&records);
            let first = &records[0];
            let document = Document {
                id: id.clone(),
                source: first.source.clone(),
                title: first.title.clone(),
                kind: first.kind.clone(),
                text: String::new(),
                metadata: first.doc_metadata.clone(),
            };
            let content_hash = first.hash.clone().filter(|_| whole);
            let origin = first.origin.clone();
            let mut chunks = Vec::with_capacity(records.len());
            for r in records {
                let vector = r.vector.ok_or_else(|| {
                    malformed(
                        &self.name,
                        format!("chunk `{}` came without its vector", r.chunk.id),
                    )
                })?;
                chunks.push(ChunkVector {
                    chunk: r.chunk,
                    vector,
                });
            }
            out.push(DocumentUpsert {
                document,
                chunks,
                content_hash,
                origin,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collection_names_follow_chromas_rules() {
        for ok in ["docs", "a.b-c_d", "abc", "x1.2.3"] {
            assert!(check_collection_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ab", "-abc", "abc-", "a b c", "abc..d", "1.2.3.4", "dócs", "",
        ] {
            assert!(check_collection_name(bad).is_err(), "{bad}");
        }
        assert!(check_collection_name(&"a".repeat(513)).is_err());
    }

    #[test]
    fn the_url_names_tenant_and_database() {
        let (b, t, d) = split_url("s", "http://h:8000").unwrap();
        assert_eq!(
            (b.as_str(), t.as_str(), d.as_str()),
            ("http://h:8000", "default_tenant", "default_database")
        );
        let (b, t, d) = split_url("s", "https://h/prefix/?tenant=acme&database=docs").unwrap();
        assert_eq!(
            (b.as_str(), t.as_str(), d.as_str()),
            ("https://h/prefix", "acme", "docs")
        );
        assert!(split_url("s", "http://h:1?db=x").is_err());
        assert!(split_url("s", "h:1").is_err());
    }

    #[test]
    fn vectors_normalise_and_zero_is_refused() {
        assert_eq!(normalised(&[3.0, 4.0]), Some(vec![0.6, 0.8]));
        assert_eq!(normalised(&[0.0, 0.0]), None);
        assert_eq!(normalised(&[f32::NAN, 1.0]), None);
        assert_eq!(normalised(&[f32::INFINITY, 1.0]), None);
    }
}
