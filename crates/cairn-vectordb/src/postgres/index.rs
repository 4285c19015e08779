//! The HNSW index: built on request ([`PgStore::build_index`]) or, with
//! [`IndexBuild::OnFirstQuery`], by the first dense query that finds the collection large
//! enough without one.

use super::sql;
use super::{IndexBuild, PgStore};
use cairn_core::VectorStoreError;

impl PgStore {
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

    /// With [`IndexBuild::OnFirstQuery`]: builds the HNSW index when the collection has
    /// reached `hnsw_min_chunks` without one. One session builds (the others search exactly
    /// meanwhile); a role that may not create indexes, or a read-only replica, keeps exact
    /// search.
    pub(super) async fn index_if_due(
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
}
