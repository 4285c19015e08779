//! Opening a collection: the connection, the server probe (encoding, pgvector's version), the
//! schema created on first use, and an existing collection checked against what was asked
//! (schema version, dimension, model).

use super::conn::ConnInfo;
use super::errors::Errors;
use super::sql::{self, Statements};
use super::{Inner, PgOptions, PgStore};
use cairn_core::{ClassifiedError, CollectionInfo, ErrorClass, VectorStoreError};
use std::sync::Arc;

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

#[cfg(test)]
mod tests {
    use super::*;

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
