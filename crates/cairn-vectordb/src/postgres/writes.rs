//! Writes: a batch checked whole, then written in one transaction (the documents' old chunks
//! deleted, the documents upserted, the chunks by binary `COPY`, the HNSW index built or
//! dropped as [`IndexBuild`] says, the generation moved on); deleting a document.

use super::sql;
use super::wire::{JsonbText, PgVector};
use super::{IndexBuild, PgStore};
use cairn_core::{Chunk, ChunkVector, Document, DocumentUpsert, Metadata, VectorStoreError};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::Type;

/// A validated document of a batch, its vectors normalised.
struct DocWrite {
    doc: Document,
    hash: Option<String>,
    origin: Option<String>,
    metadata: String,
    chunks: Vec<(Chunk, String, Vec<f32>)>,
}

/// Checks a batch before anything is written: the checks every store makes
/// ([`DocumentUpsert::validate_batch`]; the last copy of a document id wins, as in the
/// embedded store), then vectors normalised, metadata as JSON text, and no text holding a NUL
/// character (PostgreSQL cannot store one).
fn prepare(
    store: &str,
    dim: usize,
    docs: Vec<DocumentUpsert>,
) -> Result<Vec<DocWrite>, VectorStoreError> {
    let docs = DocumentUpsert::last_copies(docs);
    DocumentUpsert::validate_batch(store, dim, &docs)?;
    let mut out = Vec::with_capacity(docs.len());
    for d in docs {
        let id = &d.document.id;
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

impl PgStore {
    /// [`cairn_core::VectorStore::upsert`].
    pub(super) async fn write_batch(
        &self,
        docs: Vec<DocumentUpsert>,
    ) -> Result<(), VectorStoreError> {
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

    /// [`cairn_core::VectorStore::delete_document`].
    pub(super) async fn delete_one(&self, doc_id: &str) -> Result<(), VectorStoreError> {
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
}
