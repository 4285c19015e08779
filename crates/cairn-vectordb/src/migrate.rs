//! Copying an index between any two stores without re-embedding (`cairn index migrate`),
//! then checking the copy by asking both the same questions.
//!
//! - **Batches**: the source is read in pages of whole documents ([`VectorStore::scan`]) and
//!   each page is one `upsert` on the target (one transaction where the target has them).
//! - **Resumable**: before copying, the target lists what it holds
//!   ([`VectorStore::documents`]); a document already there with the same content hash and
//!   chunk count is skipped. A kill mid-copy leaves whole committed batches (or, on stores
//!   without transactions, documents the next run finds incomplete and rewrites), so a
//!   rerun finishes the job with no duplicates: upsert replaces.
//! - **Verified**: sampled query vectors (midpoints of two stored chunks' vectors, so no query
//!   is a stored vector) run on both stores; the report gives the mean top-k overlap.

use cairn_core::{
    CollectionInfo, DocumentEntry, DocumentUpsert, Filter, VectorStore, VectorStoreError,
};
use std::collections::{HashMap, HashSet};
use std::time::Instant;

/// How a migration runs.
#[derive(Debug, Clone)]
pub struct MigrateOptions {
    /// Documents per page read and per upsert written.
    pub batch_docs: usize,
    /// Query vectors sampled for the check (0: no check).
    pub sample_queries: usize,
    /// Hits compared per query.
    pub k: usize,
}

impl Default for MigrateOptions {
    fn default() -> Self {
        MigrateOptions {
            batch_docs: 64,
            sample_queries: 100,
            k: 10,
        }
    }
}

/// Where a migration is, for a progress bar.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Documents seen in the source so far (copied or skipped).
    pub seen: usize,
    /// Documents in the source.
    pub total: usize,
}

/// What a copy did.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CopyReport {
    pub documents: usize,
    pub copied_documents: usize,
    /// Already in the target unchanged (a resumed run).
    pub skipped_documents: usize,
    pub copied_chunks: usize,
    pub batches: usize,
    pub seconds: f64,
}

/// What the check found.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct VerifyReport {
    pub source_documents: usize,
    pub target_documents: usize,
    pub source_chunks: u64,
    pub target_chunks: u64,
    /// Documents whose chunk count or content hash differ, or that one side lacks (the first
    /// ten ids).
    pub differing_documents: Vec<String>,
    pub differing_count: usize,
    pub queries: usize,
    pub k: usize,
    /// Mean over queries of |top-k(source) ∩ top-k(target)| / k.
    pub mean_overlap: f64,
    pub min_overlap: f64,
}

impl VerifyReport {
    /// Counts equal and every listed document the same on both sides.
    pub fn counts_match(&self) -> bool {
        self.source_chunks == self.target_chunks
            && self.source_documents == self.target_documents
            && self.differing_count == 0
    }
}

/// Why a migration stopped.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("reading the source: {0}")]
    Source(#[source] VectorStoreError),
    #[error("writing the target: {0}")]
    Target(#[source] VectorStoreError),
    #[error(
        "the source holds {from_model} vectors ({from_dim}-d) and the target {to_model} \
         ({to_dim}-d); migrate into a new collection"
    )]
    Incompatible {
        from_model: String,
        from_dim: usize,
        to_model: String,
        to_dim: usize,
    },
    #[error("{name} must be at least 1")]
    InvalidParameter { name: &'static str },
}

impl cairn_core::Classify for MigrateError {
    fn class(&self) -> cairn_core::ErrorClass {
        match self {
            MigrateError::Source(e) | MigrateError::Target(e) => e.class(),
            _ => cairn_core::ErrorClass::InvalidInput,
        }
    }
}

/// Refuses a target built with another model or dimension.
pub async fn check_compatible(
    from: &dyn VectorStore,
    to: &dyn VectorStore,
) -> Result<CollectionInfo, MigrateError> {
    let a = from.info().await.map_err(MigrateError::Source)?;
    let b = to.info().await.map_err(MigrateError::Target)?;
    if a.dim != b.dim || a.model != b.model {
        return Err(MigrateError::Incompatible {
            from_model: a.model,
            from_dim: a.dim,
            to_model: b.model,
            to_dim: b.dim,
        });
    }
    Ok(a)
}

fn same(a: &DocumentEntry, b: &DocumentEntry) -> bool {
    a.content_hash.is_some() && a.content_hash == b.content_hash && a.chunks == b.chunks
}

/// Copies every document of `from` into `to`, skipping those already there unchanged.
/// `progress` is called after each page.
pub async fn copy(
    from: &dyn VectorStore,
    to: &dyn VectorStore,
    opts: &MigrateOptions,
    mut progress: impl FnMut(Progress),
) -> Result<CopyReport, MigrateError> {
    if opts.batch_docs == 0 {
        return Err(MigrateError::InvalidParameter { name: "batch_docs" });
    }
    let t = Instant::now();
    check_compatible(from, to).await?;
    let source = from.documents().await.map_err(MigrateError::Source)?;
    let target: HashMap<String, DocumentEntry> = to
        .documents()
        .await
        .map_err(MigrateError::Target)?
        .into_iter()
        .map(|e| (e.id.clone(), e))
        .collect();
    let wanted: HashMap<&str, &DocumentEntry> = source.iter().map(|e| (e.id.as_str(), e)).collect();
    let mut report = CopyReport {
        documents: source.len(),
        copied_documents: 0,
        skipped_documents: 0,
        copied_chunks: 0,
        batches: 0,
        seconds: 0.0,
    };
    let mut after: Option<String> = None;
    let mut seen = 0;
    loop {
        let page = from
            .scan(after.as_deref(), opts.batch_docs)
            .await
            .map_err(MigrateError::Source)?;
        let short = page.len() < opts.batch_docs;
        after = page.last().map(|d| d.document.id.clone());
        seen += page.len();
        let todo: Vec<DocumentUpsert> = page
            .into_iter()
            .filter(|d| {
                let id = d.document.id.as_str();
                let skip = match (wanted.get(id), target.get(id)) {
                    (Some(s), Some(t)) => same(s, t),
                    _ => false,
                };
                if skip {
                    report.skipped_documents += 1;
                }
                !skip
            })
            .collect();
        if !todo.is_empty() {
            report.copied_documents += todo.len();
            report.copied_chunks += todo.iter().map(|d| d.chunks.len()).sum::<usize>();
            report.batches += 1;
            to.upsert(todo).await.map_err(MigrateError::Target)?;
        }
        progress(Progress {
            seen,
            total: source.len(),
        });
        if short || after.is_none() {
            break;
        }
    }
    to.finish_writes().await.map_err(MigrateError::Target)?;
    report.seconds = t.elapsed().as_secs_f64();
    Ok(report)
}

/// Compares the two stores: document listings and counts, then the top-`k` of sampled
/// queries on both.
pub async fn verify(
    from: &dyn VectorStore,
    to: &dyn VectorStore,
    opts: &MigrateOptions,
) -> Result<VerifyReport, MigrateError> {
    if opts.k == 0 {
        return Err(MigrateError::InvalidParameter { name: "k" });
    }
    check_compatible(from, to).await?;
    let a = from.documents().await.map_err(MigrateError::Source)?;
    let b = to.documents().await.map_err(MigrateError::Target)?;
    let bm: HashMap<&str, &DocumentEntry> = b.iter().map(|e| (e.id.as_str(), e)).collect();
    let am: HashSet<&str> = a.iter().map(|e| e.id.as_str()).collect();
    let mut differing: Vec<String> = a
        .iter()
        .filter(|e| {
            bm.get(e.id.as_str())
                .is_none_or(|t| t.chunks != e.chunks || t.content_hash != e.content_hash)
        })
        .map(|e| e.id.clone())
        .collect();
    differing.extend(
        b.iter()
            .filter(|e| !am.contains(e.id.as_str()))
            .map(|e| e.id.clone()),
    );
    let queries = sample_queries(from, a.len(), opts.sample_queries).await?;
    let (mut sum, mut min) = (0.0, 1.0f64);
    for q in &queries {
        let x = from
            .query(q, opts.k, &Filter::All, false)
            .await
            .map_err(MigrateError::Source)?;
        let y = to
            .query(q, opts.k, &Filter::All, false)
            .await
            .map_err(MigrateError::Target)?;
        let ys: HashSet<&str> = y.iter().map(|h| h.chunk.id.as_str()).collect();
        let denom = x.len().max(y.len()).max(1);
        let o = x
            .iter()
            .filter(|h| ys.contains(h.chunk.id.as_str()))
            .count() as f64
            / denom as f64;
        sum += o;
        min = min.min(o);
    }
    let n = queries.len();
    Ok(VerifyReport {
        source_documents: a.len(),
        target_documents: b.len(),
        source_chunks: from.count().await.map_err(MigrateError::Source)?,
        target_chunks: to.count().await.map_err(MigrateError::Target)?,
        differing_count: differing.len(),
        differing_documents: differing.into_iter().take(10).collect(),
        queries: n,
        k: opts.k,
        mean_overlap: if n == 0 { 1.0 } else { sum / n as f64 },
        min_overlap: if n == 0 { 1.0 } else { min },
    })
}

/// Up to `n` query vectors spread over the source: the normalised midpoint of the first
/// chunk of two documents half the collection apart, so no query is a stored vector.
async fn sample_queries(
    from: &dyn VectorStore,
    documents: usize,
    n: usize,
) -> Result<Vec<Vec<f32>>, MigrateError> {
    if n == 0 || documents == 0 {
        return Ok(Vec::new());
    }
    // One pass over the source keeps every `step`-th document's first vector.
    let step = (documents / n).max(1);
    let mut firsts: Vec<Vec<f32>> = Vec::new();
    let mut after: Option<String> = None;
    let mut i = 0usize;
    const PAGE: usize = 256;
    loop {
        let page = from
            .scan(after.as_deref(), PAGE)
            .await
            .map_err(MigrateError::Source)?;
        let short = page.len() < PAGE;
        after = page.last().map(|d| d.document.id.clone());
        for d in page {
            if i.is_multiple_of(step) {
                if let Some(c) = d.chunks.into_iter().next() {
                    firsts.push(c.vector);
                }
            }
            i += 1;
        }
        if short || after.is_none() || firsts.len() >= n {
            break;
        }
    }
    let m = firsts.len();
    let mut out = Vec::with_capacity(n.min(m));
    for j in 0..m.min(n) {
        let (a, b) = (&firsts[j], &firsts[(j + m / 2) % m]);
        let mid: Vec<f32> = a.iter().zip(b).map(|(x, y)| x + y).collect();
        let norm = mid.iter().map(|x| x * x).sum::<f32>().sqrt();
        out.push(if norm > 1e-6 {
            mid.iter().map(|x| x / norm).collect()
        } else {
            a.clone()
        });
    }
    Ok(out)
}
