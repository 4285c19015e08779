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
//!
//! **Code.** This module holds the options and the store type; `schema` opens a collection
//! (creating its schema on first use), `index` builds the HNSW index, `writes` checks and
//! writes batches (binary `COPY`) and deletes, `reads` answers dense and lexical queries,
//! `get`, `documents` and `scan`, `wire` has pgvector's and jsonb's binary formats, `errors`
//! maps client errors to [`VectorStoreError`]s, `conn` parses connection settings (with
//! `tls`, libpq's relaxed certificate checks) and `sql` holds the SQL text and the filter
//! compiler.

mod conn;
mod errors;
mod index;
mod reads;
mod schema;
mod sql;
mod tls;
mod wire;
mod writes;

use cairn_core::{
    CollectionInfo, DocumentEntry, DocumentUpsert, Filter, StoreHit, StoredChunk, VectorStore,
    VectorStoreError,
};
use deadpool_postgres::Pool;
use errors::Errors;
use sql::Statements;
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::types::Type;

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
    /// How many writes the collection has seen (each `upsert` and effective delete is one).
    pub async fn generation(&self) -> Result<u64, VectorStoreError> {
        let client = self.client().await?;
        let row = client
            .query_one(&self.inner.sql.generation, &[])
            .await
            .map_err(|e| self.err().pg(e))?;
        Ok(row.get::<_, i64>(0) as u64)
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

    async fn client(&self) -> Result<deadpool_postgres::Object, VectorStoreError> {
        self.inner.pool.get().await.map_err(|e| self.err().pool(e))
    }
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
        self.write_batch(docs).await
    }

    async fn delete_document(&self, doc_id: &str) -> Result<(), VectorStoreError> {
        self.delete_one(doc_id).await
    }

    async fn query(
        &self,
        vector: &[f32],
        k: usize,
        filter: &Filter,
        with_vectors: bool,
    ) -> Result<Vec<StoreHit>, VectorStoreError> {
        self.dense(vector, k, filter, with_vectors).await
    }

    async fn query_lexical(
        &self,
        text: &str,
        k: usize,
        filter: &Filter,
    ) -> Result<Vec<StoreHit>, VectorStoreError> {
        self.lexical(text, k, filter).await
    }

    async fn get(
        &self,
        ids: &[&str],
        with_vectors: bool,
    ) -> Result<Vec<StoredChunk>, VectorStoreError> {
        self.chunks_by_id(ids, with_vectors).await
    }

    async fn count(&self) -> Result<u64, VectorStoreError> {
        self.chunk_count().await
    }

    async fn documents(&self) -> Result<Vec<DocumentEntry>, VectorStoreError> {
        self.document_entries().await
    }

    async fn scan(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DocumentUpsert>, VectorStoreError> {
        self.scan_page(after, limit).await
    }
}
