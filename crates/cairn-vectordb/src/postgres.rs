//! [`VectorStore`] over PostgreSQL with pgvector (feature `postgres`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), cairn_core::VectorStoreError> {
//! use cairn_core::{CollectionInfo, Filter, VectorStore};
//! use cairn_vectordb::postgres::PgStore;
//!
//! let info = CollectionInfo { name: "docs".into(), model: "all-MiniLM-L6-v2".into(), dim: 384 };
//! // Creates the collection (the schema `cairn_docs`) on first use.
//! let store = PgStore::open("postgres://cairn@db.internal/rag?sslmode=verify-full", "docs", Some(&info)).await?;
//! let hits = store.query(&vec![0.05; 384], 10, &Filter::parse(&["lang = en"]).unwrap(), false).await?;
//! # let _ = hits; Ok(()) }
//! ```
//!
//! **Layout.** One schema per collection, `cairn_<collection>`, created on first use and
//! versioned: `meta` (schema version, model, dimension, generation), `documents` and
//! `chunks` (text, span, headings, metadata as `jsonb`, the L2-normalised embedding as
//! `vector(dim)` under an HNSW index with `vector_cosine_ops`, and a generated `tsvector` under
//! a GIN index). Ids are `COLLATE "C"`, so listings are in byte order, as Rust sorts.
//!
//! **Queries.** Dense queries go through the HNSW index (`ORDER BY embedding <=> $1 LIMIT k`,
//! score `1 - distance`) with `hnsw.ef_search` = max(`PgOptions::ef_search`, k) set per query;
//! filtered ones (and k above pgvector's ef limit) use pgvector 0.8's iterative scan in relaxed
//! order and are re-sorted. When an approximate scan returns fewer than k rows the query runs
//! again exactly, so fewer hits always mean fewer matching chunks. Lexical queries use
//! Postgres full text (any of the words, ranked by BM25 over the `tsvector` lexemes), so hybrid search can run in the
//! database. Filters compile to SQL with bind parameters and the exact semantics of
//! [`Filter::matches`].
//!
//! **Writes.** Each `upsert` is one transaction: the documents' old chunks go, the documents
//! are upserted, the chunks arrive by binary `COPY`, and the generation moves on. A refused or
//! failed batch writes nothing.
//!
//! **Connections.** A pool (deadpool-postgres). `url` is a `postgres://` URL or a `key=value`
//! connection string; missing parts come from `PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`,
//! `PGDATABASE`, `PGSSLMODE`, `PGSSLROOTCERT`, `PGCONNECT_TIMEOUT`, as libpq takes them.
//! `sslmode`: `disable`; `prefer` (the default: plain on loopback and Unix sockets, else TLS
//! when the server offers it); `require` (TLS; the certificate is checked only against an
//! `sslrootcert`, as libpq does); `verify-ca` and `verify-full` (against `sslrootcert` or the
//! webpki roots; `verify-full` also checks the host name). TLS is rustls with ring. Passwords
//! never appear in names, messages or logs.

use crate::postgres_sql::{self as sql, Params, Statements};
use cairn_core::{
    Chunk, ChunkVector, ClassifiedError, CollectionInfo, Document, DocumentEntry, DocumentUpsert,
    ErrorClass, Filter, Metadata, StoreHit, StoredChunk, VectorStore, VectorStoreError,
};
use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::types::{to_sql_checked, FromSql, IsNull, ToSql, Type};
use tokio_postgres::Row;

/// When the HNSW index of a collection is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexBuild {
    /// By the first dense query that finds the collection at `hnsw_min_chunks` or more without
    /// an index (a one-time wait for that query; other queries meanwhile search exactly). Writes
    /// stay plain `COPY`s; a batch large next to the collection drops the index, so the next
    /// query rebuilds it rather than the graph being extended row by row.
    OnFirstQuery,
    /// By the `upsert` that brings the collection to `hnsw_min_chunks`, and again after a
    /// batch large next to the collection; queries never write.
    OnWrite,
    /// Only by [`PgStore::build_index`]; writes keep an existing index up row by row.
    Manual,
}

/// How a [`PgStore`] indexes, searches and connects.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// `hnsw.ef_search` for unfiltered dense queries (raised to k when k is larger; pgvector
    /// caps it at 1000).
    pub ef_search: usize,
    /// `hnsw.ef_search` for filtered dense queries: the index walk finds candidates before
    /// the filter drops some, so it needs a longer list (400 keeps recall@10 at 1.0 under a
    /// 10% filter on 10k clustered vectors, where 100 gives 0.80).
    pub ef_search_filtered: usize,
    /// When the HNSW index is built ([`IndexBuild::OnFirstQuery`]).
    pub index_build: IndexBuild,
    /// The HNSW index is built once the collection holds this many chunks; below, dense
    /// search is an exact scan. 0: from the first write or query.
    pub hnsw_min_chunks: usize,
    /// An `upsert` of at least this fraction of the chunks already stored drops the index
    /// and has it built anew (at once with `OnWrite`, by the next query with `OnFirstQuery`)
    /// instead of inserting into the graph row by row: a build costs several times less per
    /// row than incremental inserts. Readers wait for that batch's commit. 0: never.
    pub rebuild_fraction: f64,
    /// HNSW graph degree, used when a collection is created.
    pub hnsw_m: usize,
    /// HNSW build-time candidate list, used when a collection is created.
    pub hnsw_ef_construction: usize,
    /// The text search configuration of the full-text column, used when a collection is
    /// created (`english`, `simple`, `german`, ...).
    pub text_search: String,
    /// The most connections the pool opens.
    pub pool_size: usize,
    /// How long a caller waits for a free connection before `Unavailable`.
    pub wait_timeout: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            ef_search: 100,
            ef_search_filtered: 400,
            index_build: IndexBuild::OnFirstQuery,
            hnsw_min_chunks: 10_000,
            rebuild_fraction: 0.25,
            hnsw_m: 16,
            hnsw_ef_construction: 64,
            text_search: "english".into(),
            pool_size: 8,
            wait_timeout: Duration::from_secs(30),
        }
    }
}

/// A cairn collection in PostgreSQL with pgvector. Cheap to clone (one pool).
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    /// `host:port` (or the socket path), for messages.
    endpoint: String,
    info: CollectionInfo,
    options: PgOptions,
    pool: Pool,
    sql: Statements,
    /// pgvector's `vector` type as this database numbers it (binary COPY needs it).
    vector_type: Type,
    /// pgvector 0.8 or later: iterative index scans.
    iterative_scan: bool,
    /// The collection's HNSW parameters (`m`, `ef_construction`).
    hnsw: (i32, i32),
    /// Set when this role cannot build the index (no further attempts).
    cannot_index: std::sync::atomic::AtomicBool,
    /// BM25's collection statistics (chunks, mean chunk length in lexemes) and the generation
    /// they were measured at: measured again once another write has landed.
    lexical_stats: std::sync::Mutex<Option<LexicalStats>>,
}

#[derive(Clone, Copy)]
struct LexicalStats {
    generation: i64,
    chunks: f64,
    mean_len: f64,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("name", &self.inner.name)
            .field("endpoint", &self.inner.endpoint)
            .field("info", &self.inner.info)
            .finish()
    }
}

impl PgStore {
    /// Opens the collection `collection` at `url` (empty: the `PG*` environment variables).
    /// `create: None` opens an existing collection (`NotFound` when there is none);
    /// `Some(info)` creates it on first use, and refuses an existing one built with another
    /// dimension (`DimensionMismatch`) or model (`InvalidInput`) before anything is written.
    pub async fn open(
        url: &str,
        collection: &str,
        create: Option<&CollectionInfo>,
    ) -> Result<PgStore, VectorStoreError> {
        Self::open_with(url, collection, create, &PgOptions::default()).await
    }

    /// [`PgStore::open`] with options.
    pub async fn open_with(
        url: &str,
        collection: &str,
        create: Option<&CollectionInfo>,
        options: &PgOptions,
    ) -> Result<PgStore, VectorStoreError> {
        let name = format!("postgres:{collection}");
        validate_collection(&name, collection)?;
        if let Some(info) = create {
            if info.dim == 0 || info.dim > 16_000 {
                return Err(VectorStoreError::invalid(
                    &name,
                    format!(
                        "a collection of {}-dimensional vectors cannot be created (pgvector \
                         holds 1 to 16000)",
                        info.dim
                    ),
                ));
            }
        }
        let ts = &options.text_search;
        if ts.is_empty() || !ts.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            return Err(VectorStoreError::invalid(
                &name,
                format!("text search configuration {ts:?}: use a name such as english"),
            ));
        }
        let conn = ConnInfo::parse(url).map_err(|m| VectorStoreError::invalid(&name, m))?;
        let endpoint = conn.endpoint.clone();
        let err = Errors {
            store: &name,
            endpoint: &endpoint,
        };
        let pool = conn
            .pool(options)
            .map_err(|m| VectorStoreError::invalid(&name, m))?;
        let schema = sql::quote_ident(&format!("cairn_{collection}"));
        let mut client = pool.get().await.map_err(|e| err.pool(e))?;
        tracing::debug!(store = %name, endpoint = %endpoint, "connected");

        let probe = "SELECT current_setting('server_encoding'), \
                 (SELECT extversion FROM pg_extension WHERE extname = 'vector'), \
                 to_regclass($1) IS NOT NULL";
        let meta_table = format!("{schema}.meta");
        let row = client
            .query_one(probe, &[&meta_table])
            .await
            .map_err(|e| err.pg(e))?;
        let encoding: String = row.get(0);
        let mut exists: bool = row.get(2);
        if !exists {
            let Some(info) = create else {
                return Err(VectorStoreError::NotFound {
                    store: name.clone(),
                    what: format!(
                        "collection {collection} (schema cairn_{collection}) at {endpoint}; \
                         ingest into it first, which creates it"
                    ),
                });
            };
            if encoding != "UTF8" {
                return Err(VectorStoreError::invalid(
                    &name,
                    format!(
                        "the database's encoding is {encoding}; cairn needs UTF8 (CREATE \
                         DATABASE ... ENCODING 'UTF8')"
                    ),
                ));
            }
            exists = create_collection(&mut client, &err, &schema, info, options).await?;
            if exists {
                tracing::debug!(store = %name, "created by another process meanwhile");
            } else {
                tracing::info!(store = %name, dim = info.dim, model = %info.model, "created the collection");
            }
        }
        let row = client
            .query_one(
                "SELECT n.nspname, e.extversion FROM pg_extension e \
                 JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'vector'",
                &[],
            )
            .await
            .map_err(|e| err.pg(e))?;
        let vector_schema = sql::quote_ident(row.get::<_, &str>(0));
        let iterative_scan = version_at_least(row.get(1), (0, 8));
        let statements = Statements::new(&schema, &vector_schema);
        let meta = client
            .query_one(&statements.read_meta, &[])
            .await
            .map_err(|e| err.pg(e))?;
        let version: i32 = meta.get(0);
        let model: String = meta.get(1);
        let dim = meta.get::<_, i32>(2) as usize;
        let hnsw: (i32, i32) = (meta.get(5), meta.get(6));
        if version > sql::SCHEMA_VERSION {
            return Err(VectorStoreError::invalid(
                &name,
                format!(
                    "the collection has schema version {version}, written by a newer cairn \
                     (this one reads {})",
                    sql::SCHEMA_VERSION
                ),
            ));
        }
        if let Some(want) = create {
            if want.dim != dim {
                return Err(VectorStoreError::DimensionMismatch {
                    store: name.clone(),
                    what: format!("the embedder {}", want.model),
                    expected: dim,
                    found: want.dim,
                });
            }
            if want.model != model {
                return Err(VectorStoreError::invalid(
                    &name,
                    format!(
                        "the collection was embedded with {model}, not {}; query it with that \
                         model or use another collection",
                        want.model
                    ),
                ));
            }
        }
        let vector_type = client
            .prepare(&format!("SELECT NULL::{vector_schema}.vector"))
            .await
            .map_err(|e| err.pg(e))?
            .columns()[0]
            .type_()
            .clone();
        drop(client);
        Ok(PgStore {
            inner: Arc::new(Inner {
                info: CollectionInfo {
                    name: collection.to_string(),
                    model,
                    dim,
                },
                name,
                endpoint,
                options: options.clone(),
                pool,
                sql: statements,
                vector_type,
                iterative_scan,
                hnsw,
                cannot_index: std::sync::atomic::AtomicBool::new(false),
                lexical_stats: std::sync::Mutex::new(None),
            }),
        })
    }

    /// How many writes the collection has seen (each `upsert` and effective delete is one).
    pub async fn generation(&self) -> Result<u64, VectorStoreError> {
        let client = self.client().await?;
        let row = client
            .query_one(&self.inner.sql.generation, &[])
            .await
            .map_err(|e| self.err().pg(e))?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    /// Builds (or rebuilds) the HNSW index now, whatever the collection's size: after a bulk
    /// load in small batches, or to index a collection below `hnsw_min_chunks`. Readers wait
    /// while it builds.
    pub async fn build_index(&self) -> Result<(), VectorStoreError> {
        let inner = &self.inner;
        if inner.info.dim > sql::HNSW_MAX_DIM {
            return Err(VectorStoreError::unsupported(
                &inner.name,
                format!(
                    "an HNSW index on {}-dimensional vectors (pgvector indexes at most {})",
                    inner.info.dim,
                    sql::HNSW_MAX_DIM
                ),
            ));
        }
        let pg = |e| self.err().pg(e);
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg)?;
        tx.batch_execute(&inner.sql.drop_index())
            .await
            .map_err(pg)?;
        tx.batch_execute(&inner.sql.create_index(inner.hnsw.0, inner.hnsw.1))
            .await
            .map_err(pg)?;
        tx.commit().await.map_err(pg)
    }

    /// Whether dense queries can use the HNSW index (it has been built).
    pub async fn has_index(&self) -> Result<bool, VectorStoreError> {
        let pg = |e| self.err().pg(e);
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT to_regclass($1) IS NOT NULL",
                &[&self.inner.sql.index_name],
            )
            .await
            .map_err(pg)?;
        Ok(row.get(0))
    }

    /// Removes the collection (its schema) and everything in it.
    pub async fn drop_collection(&self) -> Result<(), VectorStoreError> {
        let client = self.client().await?;
        client
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {} CASCADE",
                self.inner.sql.schema
            ))
            .await
            .map_err(|e| self.err().pg(e))
    }

    fn err(&self) -> Errors<'_> {
        Errors {
            store: &self.inner.name,
            endpoint: &self.inner.endpoint,
        }
    }

    /// The collection's chunk count and mean chunk length for BM25, measured once per
    /// generation (a scan of the lexeme lists; later queries at that generation reuse it).
    async fn lexical_stats(
        &self,
        client: &deadpool_postgres::Object,
    ) -> Result<LexicalStats, VectorStoreError> {
        let inner = &self.inner;
        let pg = |e| self.err().pg(e);
        let generation: i64 = client
            .query_one(&inner.sql.generation, &[])
            .await
            .map_err(pg)?
            .get(0);
        let cached = *inner.lexical_stats.lock().expect("lexical stats lock");
        if let Some(s) = cached.filter(|s| s.generation == generation) {
            return Ok(s);
        }
        let row = client
            .query_one(&inner.sql.lexical_stats(), &[])
            .await
            .map_err(pg)?;
        let stats = LexicalStats {
            generation: row.get(0),
            chunks: row.get(1),
            mean_len: row.get(2),
        };
        *inner.lexical_stats.lock().expect("lexical stats lock") = Some(stats);
        Ok(stats)
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, VectorStoreError> {
        self.inner.pool.get().await.map_err(|e| self.err().pool(e))
    }

    /// With [`IndexBuild::OnFirstQuery`]: builds the HNSW index when the collection has
    /// reached `hnsw_min_chunks` without one. One session builds (the others search exactly
    /// meanwhile); a role that may not create indexes, or a read-only replica, keeps exact
    /// search.
    async fn index_if_due(
        &self,
        client: &mut deadpool_postgres::Object,
    ) -> Result<(), VectorStoreError> {
        let inner = &self.inner;
        if inner.options.index_build != IndexBuild::OnFirstQuery
            || inner.info.dim > sql::HNSW_MAX_DIM
            || inner
                .cannot_index
                .load(std::sync::atomic::Ordering::Relaxed)
        {
            return Ok(());
        }
        let err = self.err();
        let pg = |e| err.pg(e);
        let row = client
            .query_one(&inner.sql.index_state, &[&inner.sql.index_name])
            .await
            .map_err(pg)?;
        let (has_index, chunks): (bool, i64) = (row.get(0), row.get(1));
        if has_index || chunks < inner.options.hnsw_min_chunks as i64 {
            return Ok(());
        }
        let tx = client.transaction().await.map_err(pg)?;
        let got: bool = tx
            .query_one(
                "SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))",
                &[&format!("cairn: index {}", inner.sql.schema)],
            )
            .await
            .map_err(pg)?
            .get(0);
        if !got {
            return Ok(());
        }
        let t = std::time::Instant::now();
        let built = async {
            let row = tx
                .query_one(&inner.sql.index_state, &[&inner.sql.index_name])
                .await?;
            if row.get::<_, bool>(0) {
                return Ok(());
            }
            tx.batch_execute(&inner.sql.create_index(inner.hnsw.0, inner.hnsw.1))
                .await?;
            tx.batch_execute(&inner.sql.analyze()).await?;
            tx.batch_execute(&inner.sql.analyzed_now()).await
        }
        .await;
        match built {
            Ok(()) => {
                tx.commit().await.map_err(pg)?;
                tracing::info!(
                    store = %inner.name,
                    chunks,
                    seconds = t.elapsed().as_secs_f64(),
                    "built the HNSW index"
                );
                Ok(())
            }
            Err(e)
                if e.as_db_error()
                    .is_some_and(|d| matches!(d.code().code(), "42501" | "25006")) =>
            {
                // Not allowed to build here: search stays exact; say so once.
                if !inner
                    .cannot_index
                    .swap(true, std::sync::atomic::Ordering::Relaxed)
                {
                    tracing::warn!(store = %inner.name, error = %e, "cannot build the HNSW index; dense search stays exact");
                }
                Ok(())
            }
            Err(e) => Err(err.pg(e)),
        }
    }

    fn check_query_vector(&self, vector: &[f32]) -> Result<(), VectorStoreError> {
        let dim = self.inner.info.dim;
        if vector.len() != dim {
            return Err(VectorStoreError::DimensionMismatch {
                store: self.inner.name.clone(),
                what: "the query vector".into(),
                expected: dim,
                found: vector.len(),
            });
        }
        let norm: f32 = vector.iter().map(|x| x * x).sum();
        if !norm.is_finite() || norm == 0.0 {
            return Err(VectorStoreError::invalid(
                &self.inner.name,
                "the query vector is zero or not finite",
            ));
        }
        Ok(())
    }
}

/// Creates the schema unless another process did first (then `Ok(true)`).
async fn create_collection(
    client: &mut deadpool_postgres::Object,
    err: &Errors<'_>,
    schema: &str,
    info: &CollectionInfo,
    options: &PgOptions,
) -> Result<bool, VectorStoreError> {
    let tx = client.transaction().await.map_err(|e| err.pg(e))?;
    // One creator at a time (two first uses at once, or two collections creating the
    // extension).
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('cairn: create collection', 0))",
        &[],
    )
    .await
    .map_err(|e| err.pg(e))?;
    let meta_table = format!("{schema}.meta");
    let row = tx
        .query_one(
            "SELECT to_regclass($1) IS NOT NULL, \
             EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector')",
            &[&meta_table],
        )
        .await
        .map_err(|e| err.pg(e))?;
    if row.get::<_, bool>(0) {
        return Ok(true);
    }
    if !row.get::<_, bool>(1) {
        tx.batch_execute("CREATE EXTENSION IF NOT EXISTS vector")
            .await
            .map_err(|e| {
                let inner = err.pg(e);
                VectorStoreError::Backend {
                    store: err.store.to_string(),
                    error: ClassifiedError::with_class(
                        inner_class(&inner),
                        format!(
                            "pgvector is not enabled in this database and CREATE EXTENSION \
                             vector failed ({inner}); install pgvector on the server or ask an \
                             administrator to run CREATE EXTENSION vector"
                        ),
                    ),
                }
            })?;
    }
    let vector_schema: String = tx
        .query_one(
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace \
             WHERE e.extname = 'vector'",
            &[],
        )
        .await
        .map_err(|e| err.pg(e))?
        .get(0);
    let ddl = sql::Ddl {
        schema,
        vector_schema: &sql::quote_ident(&vector_schema),
        dim: info.dim,
        text_search: &options.text_search,
    };
    tx.batch_execute(&ddl.sql()).await.map_err(|e| err.pg(e))?;
    let m = options.hnsw_m.clamp(2, 100) as i32;
    let ef_construction = (options.hnsw_ef_construction.clamp(4, 1000) as i32).max(2 * m);
    tx.execute(
        &format!(
            "INSERT INTO {schema}.meta \
                 (schema_version, model, dim, text_search, hnsw_m, hnsw_ef_construction) \
             VALUES ($1, $2, $3, $4, $5, $6)"
        ),
        &[
            &sql::SCHEMA_VERSION,
            &info.model,
            &(info.dim as i32),
            &options.text_search,
            &m,
            &ef_construction,
        ],
    )
    .await
    .map_err(|e| err.pg(e))?;
    tx.commit().await.map_err(|e| err.pg(e))?;
    Ok(false)
}

fn inner_class(e: &VectorStoreError) -> ErrorClass {
    use cairn_core::Classify;
    e.class()
}

/// `"0.8.1"` is at least `(0, 8)`.
fn version_at_least(v: &str, want: (u32, u32)) -> bool {
    let mut parts = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let major = parts.next().unwrap_or(0);
    let minor = parts.next().unwrap_or(0);
    (major, minor) >= want
}

/// Collection names become schema names (`cairn_<collection>`, at most 63 bytes).
fn validate_collection(store: &str, c: &str) -> Result<(), VectorStoreError> {
    let ok = !c.is_empty()
        && c.len() <= 57
        && c.as_bytes()[0].is_ascii_alphanumeric()
        && c.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(VectorStoreError::invalid(
            store,
            format!(
                "collection name {c:?} is not valid: use 1 to 57 lowercase ASCII letters, \
                 digits, `_` and `-`, starting with a letter or digit (it names the schema \
                 cairn_<collection>)"
            ),
        ))
    }
}

// ---- writes ---------------------------------------------------------------------------------

/// A validated document of a batch, its vectors normalised.
struct DocWrite {
    doc: Document,
    hash: Option<String>,
    origin: Option<String>,
    metadata: String,
    chunks: Vec<(Chunk, String, Vec<f32>)>,
}

/// Checks a batch before anything is written (as the embedded store does): the last copy of
/// a document id wins, every chunk names its document, chunk ids are unique, vectors have the
/// collection's length and a direction (stored normalised), and no text holds a NUL
/// character (PostgreSQL cannot store one).
fn prepare(
    store: &str,
    dim: usize,
    docs: Vec<DocumentUpsert>,
) -> Result<Vec<DocWrite>, VectorStoreError> {
    let mut last: HashMap<String, usize> = HashMap::new();
    for (i, d) in docs.iter().enumerate() {
        last.insert(d.document.id.clone(), i);
    }
    let mut chunk_ids = HashSet::new();
    let mut out = Vec::with_capacity(last.len());
    for (i, d) in docs.into_iter().enumerate() {
        if last.get(&d.document.id) != Some(&i) {
            continue;
        }
        let id = &d.document.id;
        if id.is_empty() {
            return Err(VectorStoreError::invalid(
                store,
                "a document has an empty id",
            ));
        }
        let doc_what = || format!("document {id}");
        no_nul(store, doc_what, "id", id)?;
        no_nul(store, doc_what, "source", &d.document.source)?;
        no_nul(store, doc_what, "kind", &d.document.kind)?;
        for (field, v) in [
            ("title", &d.document.title),
            ("content hash", &d.content_hash),
            ("origin", &d.origin),
        ] {
            if let Some(v) = v {
                no_nul(store, doc_what, field, v)?;
            }
        }
        let metadata = metadata_json(store, doc_what, &d.document.metadata)?;
        let mut chunks = Vec::with_capacity(d.chunks.len());
        for ChunkVector { chunk, vector } in d.chunks {
            if chunk.doc_id != *id {
                return Err(VectorStoreError::invalid(
                    store,
                    format!(
                        "chunk {} says it belongs to document {}, but it was given with \
                         document {id}",
                        chunk.id, chunk.doc_id
                    ),
                ));
            }
            if !chunk_ids.insert(chunk.id.clone()) {
                return Err(VectorStoreError::invalid(
                    store,
                    format!("chunk id {} appears twice in one upsert", chunk.id),
                ));
            }
            if vector.len() != dim {
                return Err(VectorStoreError::DimensionMismatch {
                    store: store.to_string(),
                    what: format!("chunk {}", chunk.id),
                    expected: dim,
                    found: vector.len(),
                });
            }
            let v = normalised(&vector).ok_or_else(|| {
                VectorStoreError::invalid(
                    store,
                    format!("chunk {}: the vector is zero or not finite", chunk.id),
                )
            })?;
            let what = || format!("chunk {}", chunk.id);
            no_nul(store, what, "id", &chunk.id)?;
            no_nul(store, what, "text", &chunk.text)?;
            no_nul(store, what, "context", &chunk.context)?;
            for h in &chunk.heading_path {
                no_nul(store, what, "heading path", h)?;
            }
            let meta = metadata_json(store, what, &chunk.metadata)?;
            chunks.push((chunk, meta, v));
        }
        out.push(DocWrite {
            metadata,
            hash: d.content_hash,
            origin: d.origin,
            doc: d.document,
            chunks,
        });
    }
    Ok(out)
}

fn no_nul(
    store: &str,
    what: impl Fn() -> String,
    field: &str,
    s: &str,
) -> Result<(), VectorStoreError> {
    if s.contains('\0') {
        Err(VectorStoreError::invalid(
            store,
            format!(
                "{}: its {field} contains a NUL character, which PostgreSQL cannot store",
                what()
            ),
        ))
    } else {
        Ok(())
    }
}

fn metadata_json(
    store: &str,
    what: impl Fn() -> String,
    m: &Metadata,
) -> Result<String, VectorStoreError> {
    let s = serde_json::to_string(m)
        .map_err(|e| VectorStoreError::invalid(store, format!("{}: metadata: {e}", what())))?;
    // JSON escapes NUL as \u0000, which jsonb refuses.
    if s.contains("\\u0000") {
        return Err(VectorStoreError::invalid(
            store,
            format!(
                "{}: its metadata contains a NUL character, which PostgreSQL cannot store",
                what()
            ),
        ));
    }
    Ok(s)
}

/// `v` scaled to unit length, or `None` when it is zero or not finite.
fn normalised(v: &[f32]) -> Option<Vec<f32>> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if !norm.is_finite() || norm == 0.0 {
        return None;
    }
    if (norm - 1.0).abs() <= 1e-6 {
        Some(v.to_vec())
    } else {
        Some(v.iter().map(|x| x / norm).collect())
    }
}

// ---- the vector and jsonb wire formats -------------------------------------------------------

/// A vector parameter in pgvector's binary format (dimension, unused, big-endian floats).
struct PgVector<'a>(&'a [f32]);

impl std::fmt::Debug for PgVector<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "vector({})", self.0.len())
    }
}

impl ToSql for PgVector<'_> {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        use bytes::BufMut;
        let dim = u16::try_from(self.0.len())?;
        out.reserve(4 + 4 * self.0.len());
        out.put_u16(dim);
        out.put_u16(0);
        for x in self.0 {
            out.put_f32(*x);
        }
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        ty.name() == "vector"
    }

    to_sql_checked!();
}

/// A vector read back.
struct VectorOut(Vec<f32>);

impl<'a> FromSql<'a> for VectorOut {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        if raw.len() < 4 {
            return Err("a vector value shorter than its header".into());
        }
        let dim = u16::from_be_bytes([raw[0], raw[1]]) as usize;
        let body = &raw[4..];
        if body.len() != 4 * dim {
            return Err(format!("a vector of {dim} dimensions has {} bytes", body.len()).into());
        }
        Ok(VectorOut(
            body.chunks_exact(4)
                .map(|b| f32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
        ))
    }

    fn accepts(ty: &Type) -> bool {
        ty.name() == "vector"
    }
}

/// JSON text as a binary `jsonb` value (format version 1, then the text).
#[derive(Debug)]
struct JsonbText<'a>(&'a str);

impl ToSql for JsonbText<'_> {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        use bytes::BufMut;
        out.put_u8(1);
        out.put_slice(self.0.as_bytes());
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSONB
    }

    to_sql_checked!();
}

// ---- reads ----------------------------------------------------------------------------------

/// A chunk row in [`sql`]'s column order (id .. title), its vector at `vector_at`.
fn chunk_row(
    store: &str,
    row: &Row,
    vector_at: Option<usize>,
) -> Result<StoredChunk, VectorStoreError> {
    let metadata = parse_metadata(store, row.get(8))?;
    let chunk = Chunk {
        id: row.get(0),
        doc_id: row.get(1),
        ordinal: row.get::<_, i64>(2) as u32,
        text: row.get(3),
        start: row.get::<_, i64>(4) as usize,
        end: row.get::<_, i64>(5) as usize,
        heading_path: row.get(6),
        context: row.get(7),
        metadata,
    };
    let vector = vector_at.map(|i| row.get::<_, VectorOut>(i).0);
    Ok(StoredChunk {
        chunk,
        source: row.get(9),
        title: row.get(10),
        vector,
    })
}

fn parse_metadata(store: &str, s: &str) -> Result<Metadata, VectorStoreError> {
    serde_json::from_str(s).map_err(|e| VectorStoreError::Backend {
        store: store.to_string(),
        error: ClassifiedError::with_class(
            ErrorClass::Internal,
            format!("stored metadata does not read as a JSON object: {e}"),
        ),
    })
}

#[async_trait::async_trait]
impl VectorStore for PgStore {
    async fn finish_writes(&self) -> Result<(), VectorStoreError> {
        let mut client = self.client().await?;
        self.index_if_due(&mut client).await
    }

    fn name(&self) -> String {
        self.inner.name.clone()
    }

    async fn info(&self) -> Result<CollectionInfo, VectorStoreError> {
        Ok(self.inner.info.clone())
    }

    async fn upsert(&self, docs: Vec<DocumentUpsert>) -> Result<(), VectorStoreError> {
        let inner = &self.inner;
        let store = inner.name.as_str();
        let docs = prepare(store, inner.info.dim, docs)?;
        if docs.is_empty() {
            return Ok(());
        }
        let err = self.err();
        let pg = |e| err.pg(e);
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg)?;
        // The meta row's lock also puts concurrent writers of the collection in line.
        let lock = tx.prepare_cached(&inner.sql.lock_meta).await.map_err(pg)?;
        let meta = tx.query_one(&lock, &[]).await.map_err(pg)?;
        let generation = meta.get::<_, i64>(0) + 1;
        let stored: i64 = meta.get(1);
        let mut analyzed: i64 = meta.get(2);
        let doc_ids: Vec<&str> = docs.iter().map(|d| d.doc.id.as_str()).collect();
        let delete = tx
            .prepare_cached(&inner.sql.delete_chunks_of)
            .await
            .map_err(pg)?;
        let deleted = tx.execute(&delete, &[&doc_ids]).await.map_err(pg)? as i64;
        let chunk_ids: Vec<&str> = docs
            .iter()
            .flat_map(|d| d.chunks.iter().map(|(c, ..)| c.id.as_str()))
            .collect();
        let foreign = tx
            .prepare_cached(&inner.sql.foreign_chunk)
            .await
            .map_err(pg)?;
        if let Some(row) = tx.query_opt(&foreign, &[&chunk_ids]).await.map_err(pg)? {
            let (id, owner): (String, String) = (row.get(0), row.get(1));
            let given = docs
                .iter()
                .find(|d| d.chunks.iter().any(|(c, ..)| c.id == id))
                .map(|d| d.doc.id.as_str())
                .unwrap_or_default();
            return Err(VectorStoreError::invalid(
                store,
                format!(
                    "chunk id {id} belongs to another document ({owner}), but it was given \
                     with document {given}; nothing was written"
                ),
            ));
        }
        let sources: Vec<&str> = docs.iter().map(|d| d.doc.source.as_str()).collect();
        let titles: Vec<Option<&str>> = docs.iter().map(|d| d.doc.title.as_deref()).collect();
        let kinds: Vec<&str> = docs.iter().map(|d| d.doc.kind.as_str()).collect();
        let metas: Vec<&str> = docs.iter().map(|d| d.metadata.as_str()).collect();
        let hashes: Vec<Option<&str>> = docs.iter().map(|d| d.hash.as_deref()).collect();
        let origins: Vec<Option<&str>> = docs.iter().map(|d| d.origin.as_deref()).collect();
        let upsert = tx
            .prepare_cached(&inner.sql.upsert_documents)
            .await
            .map_err(pg)?;
        tx.execute(
            &upsert,
            &[
                &doc_ids,
                &sources,
                &titles,
                &kinds,
                &metas,
                &hashes,
                &origins,
                &generation,
            ],
        )
        .await
        .map_err(pg)?;
        // The index: built once the collection is large enough, rebuilt after a batch that is
        // large next to what is stored (cheaper than inserting into the graph row by row).
        let before = (stored - deleted).max(0);
        let added = chunk_ids.len() as i64;
        let after = before + added;
        let has_index: bool = tx
            .query_one(
                "SELECT to_regclass($1) IS NOT NULL",
                &[&inner.sql.index_name],
            )
            .await
            .map_err(pg)?
            .get(0);
        let indexable = inner.info.dim <= sql::HNSW_MAX_DIM
            && after >= inner.options.hnsw_min_chunks as i64
            && added > 0;
        let fraction = inner.options.rebuild_fraction;
        let large = fraction > 0.0 && added as f64 >= fraction * before as f64;
        let (build, drop) = match inner.options.index_build {
            IndexBuild::OnWrite => {
                let build = indexable && (!has_index || large);
                (build, build && has_index)
            }
            IndexBuild::OnFirstQuery => (false, has_index && large),
            IndexBuild::Manual => (false, false),
        };
        let has_index = has_index && !drop;
        if drop {
            tx.batch_execute(&inner.sql.drop_index())
                .await
                .map_err(pg)?;
        }
        let copy = tx
            .prepare_cached(&inner.sql.copy_chunks)
            .await
            .map_err(pg)?;
        let sink = tx.copy_in(&copy).await.map_err(pg)?;
        let types = [
            Type::TEXT,
            Type::TEXT,
            Type::INT8,
            Type::TEXT,
            Type::INT8,
            Type::INT8,
            Type::TEXT_ARRAY,
            Type::TEXT,
            Type::JSONB,
            inner.vector_type.clone(),
        ];
        let writer = BinaryCopyInWriter::new(sink, &types);
        let mut writer = std::pin::pin!(writer);
        for d in &docs {
            for (c, meta, v) in &d.chunks {
                writer
                    .as_mut()
                    .write(&[
                        &c.id,
                        &c.doc_id,
                        &(c.ordinal as i64),
                        &c.text,
                        &(c.start as i64),
                        &(c.end as i64),
                        &c.heading_path,
                        &c.context,
                        &JsonbText(meta),
                        &PgVector(v),
                    ])
                    .await
                    .map_err(pg)?;
            }
        }
        writer.finish().await.map_err(pg)?;
        if build {
            let t = std::time::Instant::now();
            tx.batch_execute(&inner.sql.create_index(inner.hnsw.0, inner.hnsw.1))
                .await
                .map_err(pg)?;
            tracing::debug!(
                store,
                chunks = after,
                seconds = t.elapsed().as_secs_f64(),
                "built the HNSW index"
            );
        }
        // Fresh statistics once the collection has grown by a fifth (the planner weighs the
        // index against a scan by them; autovacuum may come minutes later).
        if (build || has_index) && after as f64 > 1.2 * analyzed as f64 {
            tx.batch_execute(&inner.sql.analyze()).await.map_err(pg)?;
            analyzed = after;
        }
        let set = tx.prepare_cached(&inner.sql.set_meta).await.map_err(pg)?;
        tx.execute(&set, &[&generation, &after, &analyzed])
            .await
            .map_err(pg)?;
        tx.commit().await.map_err(pg)?;
        tracing::debug!(
            store,
            generation,
            documents = docs.len(),
            chunks = added,
            "upserted"
        );
        Ok(())
    }

    async fn delete_document(&self, doc_id: &str) -> Result<(), VectorStoreError> {
        let err = self.err();
        let pg = |e| err.pg(e);
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg)?;
        let sql = &self.inner.sql;
        let chunks = tx.prepare_cached(&sql.delete_chunks_of).await.map_err(pg)?;
        let removed = tx.execute(&chunks, &[&vec![doc_id]]).await.map_err(pg)? as i64;
        let delete = tx.prepare_cached(&sql.delete_document).await.map_err(pg)?;
        if tx.execute(&delete, &[&doc_id]).await.map_err(pg)? > 0 {
            let bump = tx.prepare_cached(&sql.bump_generation).await.map_err(pg)?;
            tx.execute(&bump, &[&removed]).await.map_err(pg)?;
        }
        tx.commit().await.map_err(pg)
    }

    async fn query(
        &self,
        vector: &[f32],
        k: usize,
        filter: &Filter,
        with_vectors: bool,
    ) -> Result<Vec<StoreHit>, VectorStoreError> {
        self.check_query_vector(vector)?;
        if k == 0 {
            return Ok(Vec::new());
        }
        let inner = &self.inner;
        let err = self.err();
        let pg = |e| err.pg(e);
        let mut client = self.client().await?;
        self.index_if_due(&mut client).await?;
        let mut params = Params::starting_at(3);
        let condition = sql::compile_filter(filter, "c.metadata", &inner.sql.schema, &mut params);
        let text = inner.sql.dense(&condition, with_vectors);
        let limit = i64::try_from(k).unwrap_or(i64::MAX);
        let base = if filter.is_empty() {
            inner.options.ef_search
        } else {
            inner.options.ef_search_filtered
        };
        let ef = base.max(k).clamp(1, sql::EF_SEARCH_MAX);
        // Plans for this vector and k (pgvector costs the index by the limit).
        let mut settings = format!(
            "SET LOCAL plan_cache_mode = force_custom_plan; SET LOCAL hnsw.ef_search = {ef}"
        );
        if inner.iterative_scan && (!filter.is_empty() || k > ef) {
            settings.push_str("; SET LOCAL hnsw.iterative_scan = relaxed_order");
        }
        let qv = PgVector(vector);
        let mut args: Vec<&(dyn ToSql + Sync)> = vec![&qv, &limit];
        args.extend(params.values());
        let tx = client.transaction().await.map_err(pg)?;
        tx.batch_execute(&settings).await.map_err(pg)?;
        let stmt = if filter.is_empty() {
            tx.prepare_cached(&text).await.map_err(pg)?
        } else {
            tx.prepare(&text).await.map_err(pg)?
        };
        let mut rows = tx.query(&stmt, &args).await.map_err(pg)?;
        if rows.len() < k {
            // An approximate scan may stop short (a filter, a graph that does not reach every
            // chunk): say for certain with an exact scan.
            tx.batch_execute("SET LOCAL enable_indexscan = off")
                .await
                .map_err(pg)?;
            rows = tx.query(&stmt, &args).await.map_err(pg)?;
        }
        tx.commit().await.map_err(pg)?;
        let vector_at = with_vectors.then_some(12);
        rows.iter()
            .map(|row| {
                let StoredChunk {
                    chunk,
                    source,
                    title,
                    vector,
                } = chunk_row(&inner.name, row, vector_at)?;
                let distance: f64 = row.get(11);
                Ok(StoreHit {
                    score: (1.0 - distance).clamp(-1.0, 1.0) as f32,
                    chunk,
                    source,
                    title,
                    vector,
                })
            })
            .collect()
    }

    async fn query_lexical(
        &self,
        text: &str,
        k: usize,
        filter: &Filter,
    ) -> Result<Vec<StoreHit>, VectorStoreError> {
        if k == 0 || text.trim().is_empty() {
            return Ok(Vec::new());
        }
        if text.contains('\0') {
            return Err(VectorStoreError::invalid(
                &self.inner.name,
                "the query text contains a NUL character",
            ));
        }
        let inner = &self.inner;
        let err = self.err();
        let pg = |e| err.pg(e);
        let mut params = Params::starting_at(5);
        let condition = sql::compile_filter(filter, "c.metadata", &inner.sql.schema, &mut params);
        let sql_text = inner.sql.lexical(&condition);
        let limit = i64::try_from(k).unwrap_or(i64::MAX);
        let mut client = self.client().await?;
        let stats = self.lexical_stats(&client).await?;
        let mut args: Vec<&(dyn ToSql + Sync)> =
            vec![&text, &limit, &stats.chunks, &stats.mean_len];
        args.extend(params.values());
        let tx = client.transaction().await.map_err(pg)?;
        // A plan for this query's words: a generic plan would run the tsquery function once
        // per row.
        tx.batch_execute("SET LOCAL plan_cache_mode = force_custom_plan")
            .await
            .map_err(pg)?;
        let rows = if filter.is_empty() {
            let stmt = tx.prepare_cached(&sql_text).await.map_err(pg)?;
            tx.query(&stmt, &args).await
        } else {
            tx.query(&sql_text, &args).await
        }
        .map_err(pg)?;
        tx.commit().await.map_err(pg)?;
        rows.iter()
            .map(|row| {
                let StoredChunk {
                    chunk,
                    source,
                    title,
                    ..
                } = chunk_row(&inner.name, row, None)?;
                let score: f32 = row.get(11);
                Ok(StoreHit {
                    score: score.max(0.0),
                    chunk,
                    source,
                    title,
                    vector: None,
                })
            })
            .collect()
    }

    async fn get(
        &self,
        ids: &[&str],
        with_vectors: bool,
    ) -> Result<Vec<StoredChunk>, VectorStoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let inner = &self.inner;
        let pg = |e| self.err().pg(e);
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&inner.sql.get(with_vectors))
            .await
            .map_err(pg)?;
        let rows = client.query(&stmt, &[&ids]).await.map_err(pg)?;
        let mut found: HashMap<String, StoredChunk> = HashMap::with_capacity(rows.len());
        for row in &rows {
            let c = chunk_row(&inner.name, row, with_vectors.then_some(11))?;
            found.insert(c.chunk.id.clone(), c);
        }
        Ok(ids
            .iter()
            .filter_map(|id| found.get(*id).cloned())
            .collect())
    }

    async fn count(&self) -> Result<u64, VectorStoreError> {
        let pg = |e| self.err().pg(e);
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&self.inner.sql.count)
            .await
            .map_err(pg)?;
        let row = client.query_one(&stmt, &[]).await.map_err(pg)?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    async fn documents(&self) -> Result<Vec<DocumentEntry>, VectorStoreError> {
        let pg = |e| self.err().pg(e);
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&self.inner.sql.documents)
            .await
            .map_err(pg)?;
        let rows = client.query(&stmt, &[]).await.map_err(pg)?;
        Ok(rows
            .iter()
            .map(|r| DocumentEntry {
                id: r.get(0),
                content_hash: r.get(1),
                origin: r.get(2),
                chunks: r.get::<_, i64>(3) as usize,
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
        let inner = &self.inner;
        let store = inner.name.as_str();
        let pg = |e| self.err().pg(e);
        let mut client = self.client().await?;
        // One snapshot, so a concurrent write cannot split a document from its chunks.
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(pg)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let stmt = tx
            .prepare_cached(&inner.sql.scan_documents)
            .await
            .map_err(pg)?;
        let rows = tx.query(&stmt, &[&after, &limit]).await.map_err(pg)?;
        let mut docs = Vec::with_capacity(rows.len());
        for r in &rows {
            docs.push(DocumentUpsert {
                document: Document {
                    id: r.get(0),
                    source: r.get(1),
                    title: r.get(2),
                    kind: r.get(3),
                    // The document's full text is not kept (its chunks are).
                    text: String::new(),
                    metadata: parse_metadata(store, r.get(4))?,
                },
                chunks: Vec::new(),
                content_hash: r.get(5),
                origin: r.get(6),
            });
        }
        let ids: Vec<&str> = docs.iter().map(|d| d.document.id.as_str()).collect();
        let stmt = tx
            .prepare_cached(&inner.sql.scan_chunks)
            .await
            .map_err(pg)?;
        let rows = tx.query(&stmt, &[&ids]).await.map_err(pg)?;
        tx.commit().await.map_err(pg)?;
        let at: HashMap<String, usize> = docs
            .iter()
            .enumerate()
            .map(|(i, d)| (d.document.id.clone(), i))
            .collect();
        for r in &rows {
            let chunk = Chunk {
                id: r.get(0),
                doc_id: r.get(1),
                ordinal: r.get::<_, i64>(2) as u32,
                text: r.get(3),
                start: r.get::<_, i64>(4) as usize,
                end: r.get::<_, i64>(5) as usize,
                heading_path: r.get(6),
                context: r.get(7),
                metadata: parse_metadata(store, r.get(8))?,
            };
            let vector = r.get::<_, VectorOut>(9).0;
            if let Some(&i) = at.get(&chunk.doc_id) {
                docs[i].chunks.push(ChunkVector { chunk, vector });
            }
        }
        Ok(docs)
    }
}

// ---- errors ---------------------------------------------------------------------------------

/// Maps client errors to [`VectorStoreError`]s naming the store and the server.
struct Errors<'a> {
    store: &'a str,
    endpoint: &'a str,
}

impl Errors<'_> {
    fn unavailable(&self, why: impl std::fmt::Display) -> VectorStoreError {
        VectorStoreError::Unavailable {
            store: self.store.to_string(),
            message: format!(
                "cannot reach PostgreSQL at {} ({why}); is the server running at {}?",
                self.endpoint, self.endpoint
            ),
        }
    }

    fn backend(&self, class: ErrorClass, message: String) -> VectorStoreError {
        VectorStoreError::Backend {
            store: self.store.to_string(),
            error: ClassifiedError::with_class(class, message),
        }
    }

    fn pool(&self, e: PoolError) -> VectorStoreError {
        match e {
            PoolError::Backend(e) => self.pg(e),
            PoolError::Timeout(_) => VectorStoreError::Unavailable {
                store: self.store.to_string(),
                message: format!(
                    "no connection to PostgreSQL at {} came free in time (the pool is busy, or \
                     connecting takes too long)",
                    self.endpoint
                ),
            },
            other => self.backend(ErrorClass::Internal, format!("connection pool: {other}")),
        }
    }

    fn pg(&self, e: tokio_postgres::Error) -> VectorStoreError {
        let store = self.store.to_string();
        if let Some(db) = e.as_db_error() {
            let code = db.code().code();
            let mut message = format!("{} (SQLSTATE {code})", db.message());
            if let Some(d) = db.detail() {
                message.push_str(&format!("; {d}"));
            }
            if let Some(h) = db.hint() {
                message.push_str(&format!("; hint: {h}"));
            }
            return match code {
                "28P01" | "28000" => VectorStoreError::Auth {
                    store,
                    message: format!(
                        "PostgreSQL at {} refused the credentials: {message}",
                        self.endpoint
                    ),
                },
                "42501" => VectorStoreError::Auth {
                    store,
                    message: format!("permission denied: {message}"),
                },
                "42P01" | "3F000" => VectorStoreError::NotFound {
                    store,
                    what: format!("the collection's tables at {} ({message})", self.endpoint),
                },
                "3D000" => VectorStoreError::NotFound {
                    store,
                    what: format!("the database at {} ({message})", self.endpoint),
                },
                c if c.starts_with("08")
                    || c.starts_with("53")
                    || c.starts_with("57P")
                    || c == "40001"
                    || c == "40P01"
                    || c == "55P03" =>
                {
                    VectorStoreError::Unavailable {
                        store,
                        message: format!("PostgreSQL at {}: {message}", self.endpoint),
                    }
                }
                c if c.starts_with("22") || c.starts_with("23") || c == "54000" => {
                    VectorStoreError::invalid(store, message)
                }
                _ => self.backend(ErrorClass::Internal, message),
            };
        }
        let text = e.to_string();
        if text.contains("password missing") {
            return VectorStoreError::Auth {
                store,
                message: format!(
                    "PostgreSQL at {} asks for a password; give one in the URL or PGPASSWORD",
                    self.endpoint
                ),
            };
        }
        // The io error behind a failed connection, if any.
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            if let Some(io) = s.downcast_ref::<std::io::Error>() {
                use std::io::ErrorKind::*;
                if matches!(
                    io.kind(),
                    ConnectionRefused
                        | ConnectionReset
                        | ConnectionAborted
                        | NotConnected
                        | TimedOut
                        | AddrNotAvailable
                        | BrokenPipe
                        | UnexpectedEof
                        | NotFound
                ) {
                    return self.unavailable(io);
                }
            }
            source = s.source();
        }
        if e.is_closed() || text.contains("timeout") || text.contains("error connecting") {
            return self.unavailable(&text);
        }
        if text.contains("TLS") || text.contains("tls") {
            return self.backend(
                ErrorClass::Auth,
                format!("TLS with PostgreSQL at {} failed: {text}", self.endpoint),
            );
        }
        self.backend(ErrorClass::Internal, text)
    }
}

// ---- connection settings --------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ssl {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

/// A parsed connection: the client's settings, the TLS mode, and the server for messages.
struct ConnInfo {
    config: tokio_postgres::Config,
    ssl: Ssl,
    root_cert: Option<PathBuf>,
    endpoint: String,
}

impl ConnInfo {
    /// A `postgres://` URL or `key=value` string, with the `PG*` variables filling the gaps.
    fn parse(url: &str) -> Result<ConnInfo, String> {
        Self::parse_with_env(url, |k| std::env::var(k).ok())
    }

    fn parse_with_env(url: &str, env: impl Fn(&str) -> Option<String>) -> Result<ConnInfo, String> {
        let url = url.trim();
        let (rest, ssl_params) = split_ssl_params(url)?;
        let mut config = if rest.is_empty() {
            tokio_postgres::Config::new()
        } else {
            tokio_postgres::Config::from_str(&rest)
                .map_err(|e| format!("the PostgreSQL connection string does not parse: {e}"))?
        };
        let get = |k: &str| ssl_params.get(k).cloned().or_else(|| env(k_env(k)));
        for k in ssl_params.keys() {
            if matches!(k.as_str(), "sslcert" | "sslkey" | "sslpassword" | "sslcrl") {
                return Err(format!(
                    "{k}: client certificates are not supported by cairn's Postgres store"
                ));
            }
        }
        if config.get_hosts().is_empty() && config.get_hostaddrs().is_empty() {
            match env("PGHOST").filter(|h| !h.is_empty()) {
                Some(hosts) => {
                    for h in hosts.split(',') {
                        if h.starts_with('/') {
                            config.host_path(h);
                        } else {
                            config.host(h);
                        }
                    }
                }
                None => {
                    config.host("localhost");
                }
            }
        }
        if config.get_ports().is_empty() {
            if let Some(p) = env("PGPORT").filter(|p| !p.is_empty()) {
                let port = p
                    .parse()
                    .map_err(|_| format!("PGPORT={p:?} is not a port number"))?;
                config.port(port);
            }
        }
        if config.get_user().is_none() {
            let user = env("PGUSER")
                .or_else(|| env("USER"))
                .unwrap_or_else(|| "postgres".into());
            config.user(&user);
        }
        if config.get_password().is_none() {
            if let Some(p) = env("PGPASSWORD") {
                config.password(p);
            }
        }
        if config.get_dbname().is_none() {
            if let Some(d) = env("PGDATABASE").filter(|d| !d.is_empty()) {
                config.dbname(&d);
            }
        }
        if config.get_connect_timeout().is_none() {
            let secs = env("PGCONNECT_TIMEOUT")
                .and_then(|s| s.parse::<u64>().ok())
                .filter(|&s| s > 0)
                .unwrap_or(10);
            config.connect_timeout(Duration::from_secs(secs));
        }
        if config.get_application_name().is_none() {
            config.application_name("cairn");
        }
        let ssl = match get("sslmode").as_deref().unwrap_or("prefer") {
            "disable" | "allow" => Ssl::Disable,
            "prefer" => Ssl::Prefer,
            "require" => Ssl::Require,
            "verify-ca" => Ssl::VerifyCa,
            "verify-full" => Ssl::VerifyFull,
            other => {
                return Err(format!(
                    "sslmode={other:?}: use disable, prefer, require, verify-ca or verify-full"
                ))
            }
        };
        let root_cert = get("sslrootcert")
            .filter(|p| !p.is_empty() && p != "system")
            .map(PathBuf::from);
        let local = config.get_hosts().iter().all(|h| match h {
            Host::Unix(_) => true,
            Host::Tcp(h) => is_loopback(h),
        }) && config.get_hostaddrs().iter().all(|a| a.is_loopback());
        let ssl = if ssl == Ssl::Prefer && local {
            Ssl::Disable
        } else {
            ssl
        };
        config.ssl_mode(match ssl {
            Ssl::Disable => SslMode::Disable,
            Ssl::Prefer => SslMode::Prefer,
            _ => SslMode::Require,
        });
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let endpoint = match (config.get_hosts().first(), config.get_hostaddrs().first()) {
            (Some(Host::Tcp(h)), _) if h.contains(':') => format!("[{h}]:{port}"),
            (Some(Host::Tcp(h)), _) => format!("{h}:{port}"),
            (Some(Host::Unix(p)), _) => format!("{}/.s.PGSQL.{port}", p.display()),
            (None, Some(a)) => format!("{a}:{port}"),
            (None, None) => format!("localhost:{port}"),
        };
        Ok(ConnInfo {
            config,
            ssl,
            root_cert,
            endpoint,
        })
    }

    fn pool(&self, options: &PgOptions) -> Result<Pool, String> {
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = match self.ssl {
            Ssl::Disable => {
                Manager::from_config(self.config.clone(), tokio_postgres::NoTls, manager_config)
            }
            _ => Manager::from_config(
                self.config.clone(),
                tokio_postgres_rustls::MakeRustlsConnect::new(self.tls()?),
                manager_config,
            ),
        };
        Pool::builder(manager)
            .max_size(options.pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(options.wait_timeout))
            .build()
            .map_err(|e| format!("connection pool: {e}"))
    }

    fn tls(&self) -> Result<rustls::ClientConfig, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?;
        let roots = || -> Result<rustls::RootCertStore, String> {
            let mut roots = rustls::RootCertStore::empty();
            match &self.root_cert {
                Some(path) => {
                    use rustls::pki_types::pem::PemObject;
                    let certs = rustls::pki_types::CertificateDer::pem_file_iter(path)
                        .map_err(|e| format!("sslrootcert {}: {e}", path.display()))?;
                    for c in certs {
                        let c = c.map_err(|e| format!("sslrootcert {}: {e}", path.display()))?;
                        roots
                            .add(c)
                            .map_err(|e| format!("sslrootcert {}: {e}", path.display()))?;
                    }
                }
                None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            }
            Ok(roots)
        };
        let verifier = |roots: rustls::RootCertStore| {
            rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots),
                provider.clone(),
            )
            .build()
            .map_err(|e| format!("TLS: {e}"))
        };
        let config = match (self.ssl, &self.root_cert) {
            (Ssl::VerifyFull, _) => builder.with_root_certificates(roots()?),
            // As libpq: `require` with a root certificate checks the chain like verify-ca.
            (Ssl::VerifyCa, _) | (Ssl::Require, Some(_)) => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(tls::ChainOnly(verifier(roots()?)?))),
            _ => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(tls::EncryptOnly(provider.clone()))),
        };
        Ok(config.with_no_client_auth())
    }
}

/// The `PG*` variable behind a connection parameter.
fn k_env(k: &str) -> &'static str {
    match k {
        "sslmode" => "PGSSLMODE",
        "sslrootcert" => "PGSSLROOTCERT",
        _ => "",
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|a| a.is_loopback())
}

/// Takes the `ssl*` parameters out of a URL's query or a `key=value` string (the client
/// library knows only some of them) and returns the rest.
fn split_ssl_params(url: &str) -> Result<(String, HashMap<String, String>), String> {
    let mut ssl = HashMap::new();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let Some((base, query)) = url.split_once('?') else {
            return Ok((url.to_string(), ssl));
        };
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            if k.starts_with("ssl") && k != "sslnegotiation" {
                ssl.insert(k.to_string(), percent_decode(v)?);
            } else {
                kept.push(pair);
            }
        }
        let rest = if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        return Ok((rest, ssl));
    }
    let mut kept = Vec::new();
    for (k, v) in parse_key_values(url)? {
        if k.starts_with("ssl") && k != "sslnegotiation" {
            ssl.insert(k, v);
        } else {
            let quoted = v.replace('\\', "\\\\").replace('\'', "\\'");
            kept.push(format!("{k}='{quoted}'"));
        }
    }
    Ok((kept.join(" "), ssl))
}

fn percent_decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| "a bad %-escape in the connection URL".to_string())?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "the connection URL is not UTF-8".to_string())
}

/// libpq's `key=value` syntax: values bare or single-quoted, `\` escaping the next character.
fn parse_key_values(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(out);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err(format!(
                "the connection string has `{key}` without `=value` (use a postgres:// URL or \
                 key=value pairs)"
            ));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    None => return Err(format!("an unterminated quoted value for `{key}`")),
                    Some('\'') => break,
                    Some('\\') => value.extend(chars.next()),
                    Some(c) => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.extend(chars.next());
                } else {
                    value.push(c);
                }
            }
        }
        out.push((key, value));
    }
}

/// The two relaxed certificate checks libpq's `sslmode` allows.
mod tls {
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::client::WebPkiServerVerifier;
    use rustls::crypto::CryptoProvider;
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{CertificateError, DigitallySignedStruct, Error, SignatureScheme};
    use std::sync::Arc;

    /// `sslmode=require` without a root certificate: encryption, no certificate check (the
    /// handshake signatures are still verified).
    #[derive(Debug)]
    pub(super) struct EncryptOnly(pub Arc<CryptoProvider>);

    impl ServerCertVerifier for EncryptOnly {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &ServerName<'_>,
            _: &[u8],
            _: UnixTime,
        ) -> Result<ServerCertVerified, Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, Error> {
            rustls::crypto::verify_tls12_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, Error> {
            rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }

    /// `sslmode=verify-ca`: the chain must lead to a trusted root; the name is not checked.
    #[derive(Debug)]
    pub(super) struct ChainOnly(pub Arc<WebPkiServerVerifier>);

    impl ServerCertVerifier for ChainOnly {
        fn verify_server_cert(
            &self,
            end_entity: &CertificateDer<'_>,
            intermediates: &[CertificateDer<'_>],
            server_name: &ServerName<'_>,
            ocsp: &[u8],
            now: UnixTime,
        ) -> Result<ServerCertVerified, Error> {
            match self
                .0
                .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
            {
                Err(Error::InvalidCertificate(
                    CertificateError::NotValidForName
                    | CertificateError::NotValidForNameContext { .. },
                )) => Ok(ServerCertVerified::assertion()),
                other => other,
            }
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, Error> {
            self.0.verify_tls12_signature(message, cert, dss)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, Error> {
            self.0.verify_tls13_signature(message, cert, dss)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.supported_verify_schemes()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn urls_key_values_and_the_environment() {
        let c = ConnInfo::parse_with_env(
            "postgres://u:secret@db.example:6543/rag?sslmode=verify-full&application_name=x",
            env(&[]),
        )
        .unwrap();
        assert_eq!(c.ssl, Ssl::VerifyFull);
        assert_eq!(c.endpoint, "db.example:6543");
        assert_eq!(c.config.get_dbname(), Some("rag"));
        assert_eq!(c.config.get_password(), Some(&b"secret"[..]));

        let c = ConnInfo::parse_with_env(
            "host=127.0.0.1 port=5433 user='a b' password='it\\'s' sslmode=prefer",
            env(&[]),
        )
        .unwrap();
        assert_eq!(c.ssl, Ssl::Disable, "prefer on loopback is plain");
        assert_eq!(c.config.get_user(), Some("a b"));
        assert_eq!(c.config.get_password(), Some(&b"it's"[..]));

        let c = ConnInfo::parse_with_env(
            "",
            env(&[
                ("PGHOST", "pg.internal"),
                ("PGPORT", "5999"),
                ("PGUSER", "me"),
                ("PGPASSWORD", "pw"),
                ("PGDATABASE", "d"),
                ("PGSSLMODE", "require"),
            ]),
        )
        .unwrap();
        assert_eq!(c.endpoint, "pg.internal:5999");
        assert_eq!(c.ssl, Ssl::Require);
        assert_eq!(c.config.get_user(), Some("me"));
        assert_eq!(c.config.get_dbname(), Some("d"));
        assert!(c.tls().is_ok());

        assert!(ConnInfo::parse_with_env("postgres://x/?sslmode=bogus", env(&[])).is_err());
        assert!(ConnInfo::parse_with_env("host", env(&[])).is_err());
        assert!(
            ConnInfo::parse_with_env("postgres://x/?sslcert=/a.pem", env(&[])).is_err(),
            "client certificates are refused, not ignored"
        );
    }

    #[test]
    fn collection_names() {
        for ok in ["docs", "my-docs_2", "0"] {
            assert!(validate_collection("s", ok).is_ok(), "{ok}");
        }
        for bad in ["", "Docs", "-x", "a b", "a\"b", &"x".repeat(58)] {
            assert!(validate_collection("s", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn versions() {
        assert!(version_at_least("0.8.0", (0, 8)));
        assert!(version_at_least("1.0", (0, 8)));
        assert!(!version_at_least("0.7.4", (0, 8)));
    }
}
