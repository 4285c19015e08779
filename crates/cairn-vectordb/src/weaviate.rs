//! [`VectorStore`] over Weaviate's REST and GraphQL API (feature `weaviate`; written against
//! the published reference, `openapi-specs/schema.json` in weaviate/weaviate, and its
//! GraphQL `Get` / `Aggregate` search API).
//!
//! ```no_run
//! # async fn f() -> Result<(), cairn_core::VectorStoreError> {
//! use cairn_core::CollectionInfo;
//! use cairn_vectordb::weaviate::WeaviateStore;
//! let info = CollectionInfo { name: "Docs".into(), model: "bge-small-en-v1.5".into(), dim: 384 };
//! // "" reads WEAVIATE_URL; the key comes from WEAVIATE_API_KEY (`Authorization: Bearer`).
//! let store = WeaviateStore::open("http://localhost:8080", "Docs", Some(&info)).await?;
//! # Ok(()) }
//! ```
//!
//! **Class.** One Weaviate class (collection) per cairn collection: the name is
//! capitalised as Weaviate requires (`docs` opens `Docs`), with `vectorizer: none`, one
//! `hnsw` vector index with `cosine` distance, and the model and dimension in its
//! `description` (`{"cairn_model": ..., "cairn_dim": ...}`). Opening for writing creates a
//! missing class, and refuses one of another dimension
//! ([`VectorStoreError::DimensionMismatch`]), distance or model
//! ([`VectorStoreError::InvalidInput`]). `open` also reads `GET /v1/meta`: servers from 1.33
//! have the `Not` filter operator, older ones refuse `not` filters (see [`filter`]).
//!
//! **Objects.** An object's id is a name-based UUID of the chunk id (the first 16 bytes of
//! SHA-256 of `"cairn-chunk\0" + id`, stamped version 8 and the RFC 4122 variant). Its
//! properties: `chunkId`, `docId`, `docKey` (the first 32 hex digits of SHA-256 of the
//! document id, what deletes and scans filter on: `field` tokenization trims white space,
//! a hash has none), `ordinal`, `start`, `end`, `headingPath`, `context`, `text` (searchable:
//! [`VectorStore::query_lexical`] runs Weaviate's BM25 over `text` and `context`), `source`,
//! `title`, `kind`, `contentHash`, `origin`, `docChunks` (the document's chunk count),
//! `metadata` (the metadata as JSON text, exactly as written) and `docMetadata` (only when
//! the document's metadata differs from the chunk's), plus the typed filter properties of
//! [`filter`].
//!
//! **Scores.** `nearVector` answers `_additional { distance }`, the cosine distance; the
//! score is `1 - distance`, clamped to `[-1, 1]`. Lexical hits carry BM25's score (`>= 0`).
//! A query returns at most [`TOP_K_MAX`] hits (Weaviate's default `QUERY_MAXIMUM_RESULTS`).
//!
//! **Writes.** `upsert` checks the whole batch ([`DocumentUpsert::validate_batch`]), adds the typed properties the class lacks
//! (`POST /v1/schema/{class}/properties`), deletes the batch's documents
//! (`DELETE /v1/batch/objects` by `docKey`, repeated while a round deletes a full
//! `QUERY_MAXIMUM_RESULTS`), then writes objects in batches of [`BATCH`]
//! (`POST /v1/batch/objects`, whose per-object errors are read). No transactions: a failure
//! part-way leaves a document with some chunks; `documents()` gives such a document no
//! content hash (its chunks carry the count), so the next ingest writes it again.
//!
//! **Listing.** Weaviate's cursor (`Get` with `after`) runs in UUID order without filters,
//! so `documents()` reads every object's `docId`, `contentHash`, `origin` and `docChunks`
//! through it and sorts here; `scan(None, n)` does the same, keeps the sorted ids and counts
//! for the pages that follow (until this store writes), and reads each page's objects (with
//! vectors) with a `docKey` `ContainsAny` filter.
//!
//! **What the recorded tests check** (`tests/weaviate.rs`): the exact requests (paths, the
//! bearer header, the class and property definitions, object batches, delete filters, the
//! GraphQL queries with their compiled `where` filters) and the mapping of the documented
//! answers (hits and `1 - distance`, BM25 scores, objects read back, cursor pages, batch
//! and GraphQL errors, statuses: 401 → `Auth`, 404 → `NotFound`, 429/5xx → `Unavailable`),
//! and the refusals made before any request. **What they cannot check** without a server:
//! that Weaviate evaluates the filters as documented, its HNSW recall (approximate; tune
//! `ef` server-side), eventual consistency across replicas, and behaviour under load.

pub mod filter;

use crate::http::{env, Rest, DEFAULT_TIMEOUT};
use cairn_core::{
    Chunk, ChunkVector, CollectionInfo, Document, DocumentEntry, DocumentUpsert, Filter, Metadata,
    StoreHit, StoredChunk, VectorStore, VectorStoreError,
};
use filter::WeaviateFilter;
use reqwest::Method;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};

/// The variable read when `open` is given an empty URL.
pub const URL_VAR: &str = "WEAVIATE_URL";
/// The variable holding the API key (sent as `Authorization: Bearer`).
pub const KEY_VAR: &str = "WEAVIATE_API_KEY";
/// Objects per batch request.
pub const BATCH: usize = 100;
/// Objects per cursor page, by default ([`WeaviateStore::with_page_size`]).
pub const PAGE: usize = 500;
/// The most hits one query returns (Weaviate's default `QUERY_MAXIMUM_RESULTS`).
pub const TOP_K_MAX: usize = 10_000;
/// Ids per `get` request.
const GET_BATCH: usize = 100;
/// Objects per scan request (below Weaviate's default `QUERY_MAXIMUM_RESULTS`, 10,000).
const SCAN_OBJECTS: usize = 5000;
/// The properties a read returns.
const READ: &str = "chunkId docId ordinal start end headingPath context text source title kind \
                    contentHash origin docChunks metadata docMetadata";

/// A Weaviate class as a cairn store.
#[derive(Debug)]
pub struct WeaviateStore {
    rest: Rest,
    class: String,
    info: CollectionInfo,
    /// The class's property names, as last read or written.
    properties: RwLock<HashSet<String>>,
    /// Whether the server has the `Not` filter operator.
    negation: bool,
    page: usize,
    /// The sorted document ids (with chunk counts) of the last listing.
    listing: Mutex<Option<Listing>>,
}

/// Document ids in order, with their chunk counts.
type Listing = Arc<Vec<(String, usize)>>;

/// An object read back.
struct Object {
    chunk: Chunk,
    source: String,
    title: Option<String>,
    kind: String,
    content_hash: Option<String>,
    origin: Option<String>,
    doc_metadata: Option<Metadata>,
    vector: Option<Vec<f32>>,
    additional: Value,
}

impl WeaviateStore {
    /// Opens class `class` (capitalised) at `url` (empty: `$WEAVIATE_URL`), with the key from
    /// `$WEAVIATE_API_KEY` when set. `create: Some(info)` creates a missing class for
    /// `info.model` and `info.dim` and refuses one built otherwise; `None` opens an existing
    /// one.
    pub async fn open(
        url: &str,
        class: &str,
        create: Option<&CollectionInfo>,
    ) -> Result<Self, VectorStoreError> {
        let key = env(KEY_VAR);
        Self::open_with_key(url, key.as_deref(), class, create).await
    }

    /// [`WeaviateStore::open`] with the API key given (`None`: no `Authorization` header).
    pub async fn open_with_key(
        url: &str,
        api_key: Option<&str>,
        class: &str,
        create: Option<&CollectionInfo>,
    ) -> Result<Self, VectorStoreError> {
        let class = capitalised(class);
        let name = format!("weaviate:{class}");
        let valid = class.chars().next().is_some_and(|c| c.is_ascii_uppercase())
            && class.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(VectorStoreError::invalid(
                &name,
                format!(
                    "`{class}` is not a Weaviate class name (a letter, then letters, digits \
                     and `_`)"
                ),
            ));
        }
        let url = match url.trim() {
            "" => env(URL_VAR).ok_or_else(|| {
                VectorStoreError::invalid(
                    &name,
                    format!("no Weaviate URL was given and {URL_VAR} is not set"),
                )
            })?,
            u => u.to_string(),
        };
        let bearer = api_key.map(|k| format!("Bearer {k}"));
        let headers: Vec<(&str, &str)> = bearer
            .as_deref()
            .map(|b| vec![("Authorization", b)])
            .unwrap_or_default();
        let rest = Rest::new(name.clone(), &url, &headers, DEFAULT_TIMEOUT)?;
        let meta = rest.json(Method::GET, "/v1/meta", None).await?;
        let negation = meta["version"].as_str().is_some_and(at_least_1_33);
        let schema_path = format!("/v1/schema/{class}");
        let (info, properties) = match rest.json(Method::GET, &schema_path, None).await {
            Ok(v) => existing(&name, &class, &v, create)?,
            Err(VectorStoreError::NotFound { .. }) if create.is_some() => {
                let want = create.expect("checked");
                let body = class_definition(&class, want);
                rest.json(Method::POST, "/v1/schema", Some(&body)).await?;
                let props = body["properties"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|p| p["name"].as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                (
                    CollectionInfo {
                        name: class.clone(),
                        model: want.model.clone(),
                        dim: want.dim,
                    },
                    props,
                )
            }
            Err(e) => return Err(e),
        };
        Ok(WeaviateStore {
            rest,
            class,
            info,
            properties: RwLock::new(properties),
            negation,
            page: PAGE,
            listing: Mutex::new(None),
        })
    }

    /// Objects per cursor page when listing (default [`PAGE`]).
    pub fn with_page_size(mut self, objects: usize) -> Self {
        self.page = objects.max(1);
        self
    }

    fn store(&self) -> &str {
        self.rest.store()
    }

    fn malformed(&self, what: &str, message: &str) -> VectorStoreError {
        VectorStoreError::Unavailable {
            store: self.store().to_string(),
            message: format!("Weaviate's answer to {what} is not as documented: {message}"),
        }
    }

    fn forget_listing(&self) {
        *self.listing.lock().expect("listing lock") = None;
    }

    /// Runs a GraphQL query and returns `data`, or the first GraphQL error.
    async fn graphql(&self, query: String) -> Result<Value, VectorStoreError> {
        let v = self
            .rest
            .json(
                Method::POST,
                "/v1/graphql",
                Some(&json!({ "query": query })),
            )
            .await?;
        if let Some(errors) = v["errors"].as_array().filter(|e| !e.is_empty()) {
            let message = errors[0]["message"].as_str().unwrap_or("(no message)");
            return Err(VectorStoreError::invalid(
                self.store(),
                format!("the GraphQL query failed: {message}"),
            ));
        }
        Ok(v["data"].clone())
    }

    /// The objects of a `Get` query on the class.
    async fn get_objects(&self, args: &str, fields: &str) -> Result<Vec<Value>, VectorStoreError> {
        let query = format!("{{ Get {{ {}({args}) {{ {fields} }} }} }}", self.class);
        let data = self.graphql(query).await?;
        match &data["Get"][&self.class] {
            Value::Array(a) => Ok(a.clone()),
            Value::Null => Ok(Vec::new()),
            _ => Err(self.malformed("Get", "the class's result is not a list")),
        }
    }

    /// Compiles a filter against the class as known, reading the schema again once when the
    /// filter wants properties the class did not have.
    async fn compile(&self, filter: &Filter) -> Result<WeaviateFilter, VectorStoreError> {
        let first = {
            let props = self.properties.read().expect("properties lock");
            let class = filter::Class {
                properties: &props,
                negation: self.negation,
            };
            filter::compile(self.store(), filter, &class)?
        };
        if first.1.is_empty() {
            return Ok(first.0);
        }
        let v = self
            .rest
            .json(Method::GET, &format!("/v1/schema/{}", self.class), None)
            .await?;
        let fresh = property_names(&v);
        let props = {
            let mut known = self.properties.write().expect("properties lock");
            known.extend(fresh);
            known.clone()
        };
        let class = filter::Class {
            properties: &props,
            negation: self.negation,
        };
        Ok(filter::compile(self.store(), filter, &class)?.0)
    }

    /// Adds the typed properties these chunks need that the class lacks.
    async fn add_properties(&self, docs: &[DocumentUpsert]) -> Result<(), VectorStoreError> {
        let mut wanted: BTreeMap<String, Value> = BTreeMap::new();
        {
            let known = self.properties.read().expect("properties lock");
            for d in docs {
                for c in &d.chunks {
                    for (name, def) in filter::filter_properties(&c.chunk.metadata).1 {
                        if !known.contains(&name) {
                            wanted.insert(name, def);
                        }
                    }
                }
            }
        }
        for (name, def) in wanted {
            let path = format!("/v1/schema/{}/properties", self.class);
            match self.rest.json(Method::POST, &path, Some(&def)).await {
                Ok(_) => {}
                // Another writer added it first.
                Err(VectorStoreError::InvalidInput { message, .. })
                    if message.contains("already exists") => {}
                Err(e) => return Err(e),
            }
            self.properties
                .write()
                .expect("properties lock")
                .insert(name);
        }
        Ok(())
    }

    async fn delete_where(&self, filter: Value) -> Result<(), VectorStoreError> {
        self.forget_listing();
        loop {
            let body = json!({
                "match": {"class": self.class, "where": filter},
                "output": "minimal",
                "dryRun": false,
            });
            let v = self
                .rest
                .json(Method::DELETE, "/v1/batch/objects", Some(&body))
                .await?;
            let r = &v["results"];
            let failed = r["failed"].as_u64().unwrap_or(0);
            if failed > 0 {
                let why = r["objects"][0]["errors"]["error"][0]["message"]
                    .as_str()
                    .unwrap_or("no reason given");
                return Err(VectorStoreError::Unavailable {
                    store: self.store().to_string(),
                    message: format!("{failed} objects could not be deleted: {why}"),
                });
            }
            let (done, limit) = (
                r["successful"].as_u64().unwrap_or(0),
                r["limit"].as_u64().unwrap_or(0),
            );
            // A round deletes at most `limit` objects; another round takes the rest.
            if limit == 0 || done < limit {
                return Ok(());
            }
        }
    }

    async fn list_documents(&self) -> Result<BTreeMap<String, DocumentEntry>, VectorStoreError> {
        struct Agg {
            n: usize,
            hashes: HashSet<Option<String>>,
            origin: Option<String>,
            expected: HashSet<u64>,
        }
        let mut docs: BTreeMap<String, Agg> = BTreeMap::new();
        let mut after: Option<String> = None;
        loop {
            let args = match &after {
                None => format!("limit: {}", self.page),
                Some(a) => format!("limit: {}, after: {}", self.page, json!(a)),
            };
            let objects = self
                .get_objects(
                    &args,
                    "docId contentHash origin docChunks _additional { id }",
                )
                .await?;
            for o in &objects {
                let Some(id) = o["docId"].as_str() else {
                    continue;
                };
                let a = docs.entry(id.to_string()).or_insert_with(|| Agg {
                    n: 0,
                    hashes: HashSet::new(),
                    origin: None,
                    expected: HashSet::new(),
                });
                a.n += 1;
                a.hashes
                    .insert(o["contentHash"].as_str().map(str::to_string));
                if a.origin.is_none() {
                    a.origin = o["origin"].as_str().map(str::to_string);
                }
                if let Some(n) = o["docChunks"].as_u64() {
                    a.expected.insert(n);
                }
            }
            if objects.len() < self.page {
                break;
            }
            after = objects
                .last()
                .and_then(|o| o["_additional"]["id"].as_str())
                .map(str::to_string);
            if after.is_none() {
                return Err(self.malformed("the cursor", "an object without an id"));
            }
        }
        let listed: BTreeMap<String, DocumentEntry> = docs
            .into_iter()
            .map(|(id, a)| {
                let whole = a.hashes.len() == 1
                    && a.expected.len() == 1
                    && a.expected.contains(&(a.n as u64));
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
        *self.listing.lock().expect("listing lock") = Some(Arc::new(
            listed.values().map(|e| (e.id.clone(), e.chunks)).collect(),
        ));
        Ok(listed)
    }

    fn object(&self, o: &Value, with_vector: bool) -> Result<Object, VectorStoreError> {
        let s = |k: &str| o[k].as_str().map(str::to_string);
        let n = |k: &str| o[k].as_u64();
        let (Some(id), Some(doc_id)) = (s("chunkId"), s("docId")) else {
            return Err(self.malformed(
                "a read",
                "an object without chunkId or docId; was it written by cairn?",
            ));
        };
        let json_map = |k: &str| -> Result<Option<Metadata>, VectorStoreError> {
            match o[k].as_str() {
                None | Some("") => Ok(None),
                Some(t) => serde_json::from_str(t).map(Some).map_err(|e| {
                    self.malformed("a read", &format!("{k} of {id} is not a JSON object ({e})"))
                }),
            }
        };
        let metadata = json_map("metadata")?.unwrap_or_default();
        let doc_metadata = json_map("docMetadata")?;
        let heading_path = o["headingPath"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let additional = o["_additional"].clone();
        let vector = if with_vector {
            Some(
                additional["vector"]
                    .as_array()
                    .and_then(|a| a.iter().map(|x| x.as_f64().map(|f| f as f32)).collect())
                    .ok_or_else(|| self.malformed("a read", &format!("{id} has no vector")))?,
            )
        } else {
            None
        };
        Ok(Object {
            chunk: Chunk {
                id,
                doc_id,
                ordinal: n("ordinal").unwrap_or(0) as u32,
                text: s("text").unwrap_or_default(),
                start: n("start").unwrap_or(0) as usize,
                end: n("end").unwrap_or(0) as usize,
                heading_path,
                context: s("context").unwrap_or_default(),
                metadata,
            },
            source: s("source").unwrap_or_default(),
            title: s("title"),
            kind: s("kind").unwrap_or_default(),
            content_hash: s("contentHash"),
            origin: s("origin"),
            doc_metadata,
            vector,
            additional,
        })
    }

    async fn search(
        &self,
        how: String,
        k: usize,
        filter: &Filter,
        with_vectors: bool,
        lexical: bool,
    ) -> Result<Vec<StoreHit>, VectorStoreError> {
        let compiled = self.compile(filter).await?;
        if k == 0 || compiled == WeaviateFilter::Nothing {
            return Ok(Vec::new());
        }
        let mut args = format!("{how}, limit: {}", k.min(TOP_K_MAX));
        if let WeaviateFilter::Where(w) = &compiled {
            args.push_str(&format!(", where: {}", filter::graphql(w)));
        }
        let extra = match (lexical, with_vectors) {
            (true, _) => "id score",
            (false, true) => "id distance vector",
            (false, false) => "id distance",
        };
        let objects = self
            .get_objects(&args, &format!("{READ} _additional {{ {extra} }}"))
            .await?;
        objects
            .iter()
            .map(|o| {
                let ob = self.object(o, with_vectors && !lexical)?;
                let score = if lexical {
                    // GraphQL answers BM25's score as a string.
                    let s = &ob.additional["score"];
                    s.as_f64()
                        .or_else(|| s.as_str().and_then(|t| t.parse().ok()))
                        .unwrap_or(0.0) as f32
                } else {
                    let d = ob.additional["distance"].as_f64().ok_or_else(|| {
                        self.malformed("nearVector", &format!("{} has no distance", ob.chunk.id))
                    })?;
                    ((1.0 - d) as f32).clamp(-1.0, 1.0)
                };
                Ok(StoreHit {
                    score,
                    chunk: ob.chunk,
                    source: ob.source,
                    title: ob.title,
                    vector: ob.vector,
                })
            })
            .collect()
    }
}

/// `docs` → `Docs`.
fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

fn at_least_1_33(version: &str) -> bool {
    let mut parts = version
        .trim_start_matches('v')
        .split(['.', '-'])
        .map(|p| p.parse::<u64>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (1, 33)
}

fn property_names(class: &Value) -> HashSet<String> {
    class["properties"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| p["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The class cairn creates.
fn class_definition(class: &str, info: &CollectionInfo) -> Value {
    let stored = |name: &str, t: &str| json!({"name": name, "dataType": [t], "indexFilterable": false, "indexSearchable": false});
    let stored_int =
        |name: &str| json!({"name": name, "dataType": ["int"], "indexFilterable": false});
    json!({
        "class": class,
        "description": json!({"cairn_model": info.model, "cairn_dim": info.dim}).to_string(),
        "vectorizer": "none",
        "vectorIndexType": "hnsw",
        "vectorIndexConfig": {"distance": "cosine"},
        "properties": [
            stored("chunkId", "text"),
            stored("docId", "text"),
            {"name": "docKey", "dataType": ["text"], "tokenization": "field",
             "indexFilterable": true, "indexSearchable": false},
            stored_int("ordinal"),
            stored_int("start"),
            stored_int("end"),
            stored("headingPath", "text[]"),
            {"name": "context", "dataType": ["text"], "tokenization": "word",
             "indexFilterable": false, "indexSearchable": true},
            {"name": "text", "dataType": ["text"], "tokenization": "word",
             "indexFilterable": false, "indexSearchable": true},
            stored("source", "text"),
            stored("title", "text"),
            stored("kind", "text"),
            stored("contentHash", "text"),
            stored("origin", "text"),
            stored_int("docChunks"),
            stored("metadata", "text"),
            stored("docMetadata", "text"),
            {"name": filter::TYPES, "dataType": ["text[]"], "tokenization": "field",
             "indexFilterable": true, "indexSearchable": false},
        ],
    })
}

/// Checks an existing class against what cairn needs.
fn existing(
    store: &str,
    class: &str,
    v: &Value,
    create: Option<&CollectionInfo>,
) -> Result<(CollectionInfo, HashSet<String>), VectorStoreError> {
    let distance = v["vectorIndexConfig"]["distance"]
        .as_str()
        .unwrap_or("cosine");
    if distance != "cosine" {
        return Err(VectorStoreError::invalid(
            store,
            format!(
                "class {class} measures {distance} distance; cairn's scores are cosine \
                 similarities, so it needs a cosine vector index"
            ),
        ));
    }
    let described: Value = v["description"]
        .as_str()
        .and_then(|d| serde_json::from_str(d).ok())
        .unwrap_or(Value::Null);
    let (Some(model), Some(dim)) = (
        described["cairn_model"].as_str(),
        described["cairn_dim"].as_u64(),
    ) else {
        return Err(VectorStoreError::invalid(
            store,
            format!(
                "class {class} was not created by cairn (its description does not name a model \
                 and dimension); use another class"
            ),
        ));
    };
    if let Some(want) = create {
        if dim as usize != want.dim {
            return Err(VectorStoreError::DimensionMismatch {
                store: store.to_string(),
                what: format!("the embedding model {}", want.model),
                expected: dim as usize,
                found: want.dim,
            });
        }
        if model != want.model {
            return Err(VectorStoreError::invalid(
                store,
                format!(
                    "it was built with the embedding model {model}, not {}; use another class",
                    want.model
                ),
            ));
        }
    }
    Ok((
        CollectionInfo {
            name: class.to_string(),
            model: model.to_string(),
            dim: dim as usize,
        },
        property_names(v),
    ))
}

/// The object id of a chunk: a name-based UUID (SHA-256, version 8).
pub fn object_id(chunk_id: &str) -> String {
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

/// The `docKey` of a document id.
pub fn doc_key(doc_id: &str) -> String {
    let h = Sha256::digest(doc_id.as_bytes());
    h.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// A vector as a GraphQL list in the shortest `f32` form.
fn gql_vector(v: &[f32]) -> String {
    let parts: Vec<String> = v
        .iter()
        .map(|x| {
            let s = x.to_string();
            if s.contains(['.', 'e', 'E']) || s.contains("inf") || s.contains("NaN") {
                s
            } else {
                format!("{s}.0")
            }
        })
        .collect();
    format!("[{}]", parts.join(", "))
}

/// The same, as JSON numbers.
fn json_vector(v: &[f32]) -> Value {
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

fn object_json(class: &str, d: &DocumentUpsert, cv: &ChunkVector) -> Value {
    let c = &cv.chunk;
    let mut props = Map::new();
    let mut put = |k: &str, v: Value| {
        props.insert(k.to_string(), v);
    };
    put("chunkId", json!(c.id));
    put("docId", json!(c.doc_id));
    put("docKey", json!(doc_key(&c.doc_id)));
    put("ordinal", json!(c.ordinal));
    put("start", json!(c.start));
    put("end", json!(c.end));
    put("headingPath", json!(c.heading_path));
    put("context", json!(c.context));
    put("text", json!(c.text));
    put("source", json!(d.document.source));
    if let Some(t) = &d.document.title {
        put("title", json!(t));
    }
    put("kind", json!(d.document.kind));
    if let Some(h) = &d.content_hash {
        put("contentHash", json!(h));
    }
    if let Some(o) = &d.origin {
        put("origin", json!(o));
    }
    put("docChunks", json!(d.chunks.len()));
    put(
        "metadata",
        json!(Value::Object(c.metadata.clone()).to_string()),
    );
    if d.document.metadata != c.metadata {
        put(
            "docMetadata",
            json!(Value::Object(d.document.metadata.clone()).to_string()),
        );
    }
    props.extend(filter::filter_properties(&c.metadata).0);
    json!({
        "class": class,
        "id": object_id(&c.id),
        "properties": props,
        "vector": json_vector(&cv.vector),
    })
}

#[async_trait::async_trait]
impl VectorStore for WeaviateStore {
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
        self.add_properties(&docs).await?;
        let keys: Vec<String> = docs.iter().map(|d| doc_key(&d.document.id)).collect();
        self.delete_where(json!({
            "operator": "ContainsAny", "path": ["docKey"], "valueTextArray": keys,
        }))
        .await?;
        let objects: Vec<Value> = docs
            .iter()
            .flat_map(|d| d.chunks.iter().map(move |c| object_json(&self.class, d, c)))
            .collect();
        for batch in objects.chunks(BATCH) {
            let v = self
                .rest
                .json(
                    Method::POST,
                    "/v1/batch/objects",
                    Some(&json!({ "objects": batch })),
                )
                .await?;
            // A 200 may still carry errors per object.
            for item in v.as_array().into_iter().flatten() {
                if let Some(msg) = item["result"]["errors"]["error"][0]["message"].as_str() {
                    let id = item["properties"]["chunkId"].as_str().unwrap_or("?");
                    return Err(VectorStoreError::invalid(
                        self.store(),
                        format!("Weaviate refused chunk {id}: {msg}"),
                    ));
                }
            }
        }
        Ok(())
    }

    async fn delete_document(&self, doc_id: &str) -> Result<(), VectorStoreError> {
        self.delete_where(json!({
            "operator": "Equal", "path": ["docKey"], "valueText": doc_key(doc_id),
        }))
        .await
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
        let how = format!("nearVector: {{vector: {}}}", gql_vector(vector));
        self.search(how, k, filter, with_vectors, false).await
    }

    async fn query_lexical(
        &self,
        text: &str,
        k: usize,
        filter: &Filter,
    ) -> Result<Vec<StoreHit>, VectorStoreError> {
        let how = format!(
            "bm25: {{query: {}, properties: [\"text\", \"context\"]}}",
            json!(text)
        );
        self.search(how, k, filter, false, true).await
    }

    async fn get(
        &self,
        ids: &[&str],
        with_vectors: bool,
    ) -> Result<Vec<StoredChunk>, VectorStoreError> {
        let mut found: BTreeMap<String, StoredChunk> = BTreeMap::new();
        for batch in ids.chunks(GET_BATCH) {
            let conds: Vec<Value> = batch
                .iter()
                .map(|id| json!({"operator": "Equal", "path": ["id"], "valueText": object_id(id)}))
                .collect();
            let w = if conds.len() == 1 {
                conds[0].clone()
            } else {
                json!({"operator": "Or", "operands": conds})
            };
            let args = format!("limit: {}, where: {}", batch.len(), filter::graphql(&w));
            let extra = if with_vectors { "id vector" } else { "id" };
            let objects = self
                .get_objects(&args, &format!("{READ} _additional {{ {extra} }}"))
                .await?;
            for o in &objects {
                let ob = self.object(o, with_vectors)?;
                found.insert(
                    ob.chunk.id.clone(),
                    StoredChunk {
                        chunk: ob.chunk,
                        source: ob.source,
                        title: ob.title,
                        vector: ob.vector,
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
        let data = self
            .graphql(format!(
                "{{ Aggregate {{ {} {{ meta {{ count }} }} }} }}",
                self.class
            ))
            .await?;
        data["Aggregate"][&self.class][0]["meta"]["count"]
            .as_u64()
            .ok_or_else(|| self.malformed("Aggregate", "no meta.count"))
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
        let page: Vec<&(String, usize)> = listed
            .iter()
            .filter(|(id, _)| after.is_none_or(|a| id.as_str() > a))
            .take(limit)
            .collect();
        // Groups of documents whose chunks fit one request.
        let mut groups: Vec<Vec<&(String, usize)>> = Vec::new();
        let mut size = 0;
        for entry in page {
            if groups.is_empty() || size + entry.1 > SCAN_OBJECTS {
                groups.push(Vec::new());
                size = 0;
            }
            size += entry.1;
            groups.last_mut().expect("a group").push(entry);
        }
        let mut by_doc: BTreeMap<String, Vec<Object>> = BTreeMap::new();
        for g in groups {
            let keys: Vec<String> = g.iter().map(|(id, _)| doc_key(id)).collect();
            let n: usize = g.iter().map(|(_, n)| n).sum();
            let w = json!({"operator": "ContainsAny", "path": ["docKey"], "valueTextArray": keys});
            let args = format!("limit: {}, where: {}", n.max(1), filter::graphql(&w));
            let objects = self
                .get_objects(&args, &format!("{READ} _additional {{ id vector }}"))
                .await?;
            for o in &objects {
                let ob = self.object(o, true)?;
                by_doc.entry(ob.chunk.doc_id.clone()).or_default().push(ob);
            }
        }
        Ok(by_doc
            .into_iter()
            .map(|(id, mut objects)| {
                objects.sort_by_key(|o| o.chunk.ordinal);
                let first = &objects[0];
                let document = Document {
                    id,
                    source: first.source.clone(),
                    title: first.title.clone(),
                    kind: first.kind.clone(),
                    text: String::new(),
                    metadata: first
                        .doc_metadata
                        .clone()
                        .unwrap_or_else(|| first.chunk.metadata.clone()),
                };
                let (content_hash, origin) = (first.content_hash.clone(), first.origin.clone());
                DocumentUpsert {
                    document,
                    chunks: objects
                        .into_iter()
                        .map(|o| ChunkVector {
                            vector: o.vector.unwrap_or_default(),
                            chunk: o.chunk,
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
    fn class_names_and_versions() {
        assert_eq!(capitalised("docs"), "Docs");
        assert_eq!(capitalised("Docs"), "Docs");
        assert!(at_least_1_33("1.33.0"));
        assert!(at_least_1_33("1.40.0-dev"));
        assert!(at_least_1_33("2.0.1"));
        assert!(!at_least_1_33("1.32.9"));
        assert!(!at_least_1_33("1.9.0"));
    }

    #[test]
    fn vectors_print_short() {
        assert_eq!(
            gql_vector(&[0.6, 1.0, -0.25, 0.0]),
            "[0.6, 1.0, -0.25, 0.0]"
        );
        assert_eq!(json_vector(&[0.6, 1.0]).to_string(), "[0.6,1.0]");
    }

    #[test]
    fn ids_are_stable() {
        assert_eq!(
            object_id("docs/a.md#0"),
            "17530c0f-eb6f-8f8e-9c29-f1f5847cacf5"
        );
        assert_eq!(doc_key("docs/a.md").len(), 32);
    }
}
