//! The ingest pipeline: walk → load → (skip unchanged) → chunk → embed → write in batches.
//!
//! Each batch is one SQLite transaction, so a kill leaves every committed batch intact and a
//! rerun skips those documents by content hash and carries on with the rest.

use cairn_core::{Classify, Document, EmbedError, Embedder, ErrorClass, Metadata};
use cairn_ingest::{
    load_file, walk, Chunker, LoadError, LoaderOptions, WalkEntry, CHUNKER_VERSION,
};
use cairn_store::{DocWrite, Index, StoreError};
use rayon::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct IngestOptions {
    pub loader: LoaderOptions,
    /// Remove documents whose files are gone (and records gone from a re-read JSONL file).
    pub prune: bool,
    /// Chunks embedded and committed per transaction.
    pub batch_chunks: usize,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            loader: LoaderOptions::default(),
            prune: false,
            batch_chunks: 256,
        }
    }
}

/// Something that was not ingested, and why.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Skipped {
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    pub reason: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct IngestReport {
    pub files: usize,
    pub added: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub removed: usize,
    pub chunks: usize,
    pub skipped: Vec<Skipped>,
    #[serde(serialize_with = "secs")]
    pub elapsed: Duration,
    pub generation: u64,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl IngestReport {
    /// Nothing could be ingested: every input was skipped. The CLI exits non-zero then.
    pub fn nothing_ingested(&self) -> bool {
        self.added + self.updated + self.unchanged + self.removed == 0
    }
}

/// Progress callbacks; the CLI draws a bar, tests pass `NoProgress`. Work is counted in
/// documents, since one JSONL file can hold thousands of them.
pub trait IngestProgress: Sync {
    /// How many files the walk found.
    fn files(&self, _total: usize) {}
    /// A file was read and held `docs` documents (0 when it was skipped).
    fn file_loaded(&self, _docs: usize) {}
    /// Documents finished: embedded and committed, or found unchanged.
    fn documents_done(&self, _n: usize) {}
    fn chunks_done(&self, _n: usize) {}
    fn skipped(&self, _s: &Skipped) {}
}

pub struct NoProgress;
impl IngestProgress for NoProgress {}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("embedding failed: {0}")]
    Embed(#[from] EmbedError),
}

impl Classify for IngestError {
    fn class(&self) -> ErrorClass {
        match self {
            IngestError::Store(e) => e.class(),
            IngestError::Embed(e) => e.class(),
        }
    }
}

pub struct Indexer {
    embedder: Arc<dyn Embedder>,
    chunker: Chunker,
}

struct Pending {
    doc: Document,
    origin: String,
    hash: String,
    is_update: bool,
}

impl Indexer {
    pub fn new(embedder: Arc<dyn Embedder>, chunker: Chunker) -> Self {
        Indexer { embedder, chunker }
    }

    pub fn embedder(&self) -> &Arc<dyn Embedder> {
        &self.embedder
    }

    /// A document's identity for change detection: its content, its metadata (less the
    /// modification time, so touching a file does no work) and how it is chunked and embedded.
    fn hash(&self, doc: &Document) -> String {
        let mut h = Sha256::new();
        let cfg = self.chunker.config();
        h.update(self.embedder.model_id().as_bytes());
        h.update(format!("\0{CHUNKER_VERSION}\0{}\0{}\0", cfg.max_tokens, cfg.overlap).as_bytes());
        if cfg.strategy != cairn_ingest::Strategy::Recursive {
            // Recursive indexes keep their hashes; other strategies re-chunk.
            h.update(cfg.strategy.to_string().as_bytes());
        }
        h.update(doc.kind.as_bytes());
        h.update([0]);
        h.update(doc.title.as_deref().unwrap_or("").as_bytes());
        h.update([0]);
        let mut meta: Metadata = doc.metadata.clone();
        meta.remove("modified");
        h.update(serde_json::Value::Object(meta).to_string().as_bytes());
        h.update([0]);
        h.update(doc.text.as_bytes());
        hex::encode(h.finalize())
    }

    pub fn ingest<P: AsRef<Path>>(
        &self,
        paths: &[P],
        index_dir: &Path,
        opts: &IngestOptions,
        progress: &dyn IngestProgress,
    ) -> Result<IngestReport, IngestError> {
        let started = Instant::now();
        let mut report = IngestReport::default();
        let mut index =
            Index::open_for_write(index_dir, self.embedder.model_id(), self.embedder.dim())?;
        let mut hashes = index.doc_hashes()?;
        let index_abs =
            std::fs::canonicalize(index_dir).unwrap_or_else(|_| index_dir.to_path_buf());

        let entries = walk(paths);
        let files: Vec<PathBuf> = entries
            .iter()
            .filter_map(|e| match e {
                WalkEntry::File(p) => Some(p.clone()),
                WalkEntry::Skipped { .. } => None,
            })
            .filter(|p| !std::fs::canonicalize(p).is_ok_and(|c| c.starts_with(&index_abs)))
            .collect();
        for e in &entries {
            if let WalkEntry::Skipped { path, reason } = e {
                let s = Skipped {
                    path: path.display().to_string(),
                    line: None,
                    reason: reason.clone(),
                };
                progress.skipped(&s);
                report.skipped.push(s);
            }
        }
        progress.files(files.len());
        report.files = files.len();

        let mut pending: Vec<Pending> = Vec::new();
        let mut pending_bytes = 0usize;
        let mut seen_by_origin: HashMap<String, HashSet<String>> = HashMap::new();
        // Rough chunk estimate per batch: ~4 bytes per token.
        let batch_bytes = opts.batch_chunks * self.chunker.config().max_tokens * 4;
        for path in &files {
            let origin = std::fs::canonicalize(path)
                .unwrap_or_else(|_| path.clone())
                .display()
                .to_string();
            match load_file(path, &origin, &opts.loader) {
                Ok(loaded) => {
                    for p in loaded.problems {
                        let s = skipped_from(&p);
                        progress.skipped(&s);
                        report.skipped.push(s);
                    }
                    progress.file_loaded(loaded.docs.len());
                    let seen = seen_by_origin.entry(origin.clone()).or_default();
                    for doc in loaded.docs {
                        if !seen.insert(doc.id.clone()) {
                            let s = Skipped {
                                path: doc.source.clone(),
                                line: doc
                                    .metadata
                                    .get("line")
                                    .and_then(|l| l.as_u64())
                                    .map(|l| l as usize),
                                reason: format!("duplicate document id {}", doc.id),
                            };
                            progress.skipped(&s);
                            report.skipped.push(s);
                            progress.documents_done(1);
                            continue;
                        }
                        let hash = self.hash(&doc);
                        match hashes.get(&doc.id) {
                            Some(h) if *h == hash => {
                                report.unchanged += 1;
                                progress.documents_done(1);
                            }
                            old => {
                                pending_bytes += doc.text.len();
                                pending.push(Pending {
                                    is_update: old.is_some(),
                                    doc,
                                    origin: origin.clone(),
                                    hash,
                                });
                                if pending_bytes >= batch_bytes {
                                    self.flush(
                                        &mut index,
                                        &mut pending,
                                        &mut report,
                                        &mut hashes,
                                        progress,
                                    )?;
                                    pending_bytes = 0;
                                }
                            }
                        }
                    }
                }
                Err(e) => {
                    let s = skipped_from(&e);
                    progress.skipped(&s);
                    report.skipped.push(s);
                    progress.file_loaded(0);
                }
            }
        }
        self.flush(&mut index, &mut pending, &mut report, &mut hashes, progress)?;

        if opts.prune {
            let mut delete = Vec::new();
            for (origin, ids) in index.docs_by_origin()? {
                let gone = !Path::new(&origin).exists();
                let seen = seen_by_origin.get(&origin);
                for id in ids {
                    if gone || seen.is_some_and(|s| !s.contains(&id)) {
                        delete.push(id);
                    }
                }
            }
            if !delete.is_empty() {
                report.removed = delete.len();
                index.write_batch(&[], &delete)?;
            }
        }
        report.generation = index.generation()?;
        report.elapsed = started.elapsed();
        Ok(report)
    }

    fn flush(
        &self,
        index: &mut Index,
        pending: &mut Vec<Pending>,
        report: &mut IngestReport,
        hashes: &mut HashMap<String, String>,
        progress: &dyn IngestProgress,
    ) -> Result<(), IngestError> {
        if pending.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(pending);
        let n_docs = batch.len();
        let chunked: Vec<_> = batch
            .par_iter()
            .map(|p| self.chunker.chunk(&p.doc))
            .collect();
        let owned: Vec<String> = chunked.iter().flatten().map(|c| c.indexed_text()).collect();
        let texts: Vec<&str> = owned.iter().map(String::as_str).collect();
        let vectors = self.embedder.embed(&texts)?;
        if vectors.len() != texts.len() {
            return Err(IngestError::Embed(EmbedError::Model(format!(
                "the embedder returned {} vectors for {} chunks",
                vectors.len(),
                texts.len()
            ))));
        }
        let mut vectors = vectors.into_iter();
        let mut writes = Vec::with_capacity(batch.len());
        let mut n_chunks = 0;
        for (p, chunks) in batch.into_iter().zip(chunked) {
            n_chunks += chunks.len();
            let with_vecs = chunks
                .into_iter()
                .map(|c| (c, vectors.next().expect("one vector per chunk")))
                .collect();
            if p.is_update {
                report.updated += 1;
            } else {
                report.added += 1;
            }
            hashes.insert(p.doc.id.clone(), p.hash.clone());
            writes.push(DocWrite {
                doc: p.doc,
                origin: p.origin,
                hash: p.hash,
                chunks: with_vecs,
            });
        }
        index.write_batch(&writes, &[])?;
        report.chunks += n_chunks;
        progress.chunks_done(n_chunks);
        progress.documents_done(n_docs);
        Ok(())
    }
}

fn skipped_from(e: &LoadError) -> Skipped {
    Skipped {
        path: e.path().to_string(),
        line: e.line(),
        reason: e.reason(),
    }
}
