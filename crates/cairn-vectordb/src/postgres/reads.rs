//! Reads: dense queries (HNSW or exact), lexical queries (BM25 over the `tsvector` lexemes,
//! with collection statistics cached per generation), chunks by id, the count, the document
//! list and `scan`'s pages of whole documents.

use super::sql::{self, Params};
use super::wire::{PgVector, VectorOut};
use super::{LexicalStats, PgStore};
use cairn_core::{
    Chunk, ChunkVector, ClassifiedError, Document, DocumentEntry, DocumentUpsert, ErrorClass,
    Filter, Metadata, StoreHit, StoredChunk, VectorStoreError,
};
use std::collections::HashMap;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

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

impl PgStore {
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

    /// [`cairn_core::VectorStore::query`].
    pub(super) async fn dense(
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

    /// [`cairn_core::VectorStore::query_lexical`].
    pub(super) async fn lexical(
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

    /// [`cairn_core::VectorStore::get`].
    pub(super) async fn chunks_by_id(
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

    /// [`cairn_core::VectorStore::count`].
    pub(super) async fn chunk_count(&self) -> Result<u64, VectorStoreError> {
        let pg = |e| self.err().pg(e);
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&self.inner.sql.count)
            .await
            .map_err(pg)?;
        let row = client.query_one(&stmt, &[]).await.map_err(pg)?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    /// [`cairn_core::VectorStore::documents`].
    pub(super) async fn document_entries(&self) -> Result<Vec<DocumentEntry>, VectorStoreError> {
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

    /// [`cairn_core::VectorStore::scan`].
    pub(super) async fn scan_page(
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
