//! The ingest pipeline: walk → load → (skip unchanged) → chunk → embed → write in batches.
//!
//! Each batch is one SQLite transaction, so a kill leaves every committed batch intact and a
//! rerun skips those documents by content hash and carries on with the rest.
//!
//! Files are named by their canonical path relative to the index's root, the folder that
//! holds the index folder (`FileKey`), so however a path is spelled on the command line the
//! document keeps its id and its hash. Indexes made before keyed files by absolute path (and
//! JSONL records by bare `_id`); a file re-read from such an index replaces its old-style
//! documents in the same batch (counted as updated).

use crate::sink::{Sink, StoreSink};
use cairn_core::{
    Classify, CollectionInfo, Document, EmbedError, Embedder, ErrorClass, Metadata, VectorStore,
    VectorStoreError,
};
use cairn_ingest::ids::{belongs_to, path_of};
use cairn_ingest::{
    load_file_as, walk_with, Chunker, FileKey, LoadError, LoaderOptions, WalkEntry, WalkOptions,
    CHUNKER_VERSION,
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
    /// Follow symbolic links anywhere (see `WalkOptions::follow_links`).
    pub follow_links: bool,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            loader: LoaderOptions::default(),
            prune: false,
            batch_chunks: 256,
            follow_links: false,
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
    /// Chunks embedded (reported per embedding batch, so a big file shows progress).
    fn chunks_done(&self, _n: usize) {}
    fn skipped(&self, _s: &Skipped) {}
    /// A document of at least [`LARGE_DOCUMENT_BYTES`] is being chunked and embedded.
    fn large_document(&self, _source: &str, _bytes: usize) {}
}

/// Documents this large are announced through [`IngestProgress::large_document`].
pub const LARGE_DOCUMENT_BYTES: usize = 1 << 20;

pub struct NoProgress;
impl IngestProgress for NoProgress {}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing to a database store ([`Indexer::ingest_store`]).
    #[error(transparent)]
    VectorStore(#[from] VectorStoreError),
    #[error("embedding failed: {0}")]
    Embed(#[from] EmbedError),
}

impl Classify for IngestError {
    fn class(&self) -> ErrorClass {
        match self {
            IngestError::Store(e) => e.class(),
            IngestError::VectorStore(e) => e.class(),
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

/// A file to load: the path as walked and its key in the index.
struct Input {
    path: PathBuf,
    key: FileKey,
    /// The origin an index made before file keys recorded: the canonical absolute path.
    legacy_origin: String,
}

/// The folder an index's file keys are relative to: the one holding the index folder (for
/// `./.cairn`, the project folder), as git's work tree holds `.git`.
pub fn index_root(index_abs: &Path) -> PathBuf {
    index_abs
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| index_abs.to_path_buf())
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

    /// Ingests `paths` into the embedded index in `index_dir` (created on first use), each
    /// batch one transaction.
    pub fn ingest<P: AsRef<Path>>(
        &self,
        paths: &[P],
        index_dir: &Path,
        opts: &IngestOptions,
        progress: &dyn IngestProgress,
    ) -> Result<IngestReport, IngestError> {
        let mut index =
            Index::open_for_write(index_dir, self.embedder.model_id(), self.embedder.dim())?;
        let index_abs =
            std::fs::canonicalize(index_dir).unwrap_or_else(|_| index_dir.to_path_buf());
        let root = index_root(&index_abs);
        self.ingest_into(paths, &mut index, &root, Some(&index_abs), opts, progress)
    }

    /// The collection a store opened for this indexer's writes must have (pass it to the
    /// store's `open`, which creates it or refuses one built with another model).
    pub fn collection_info(&self, name: &str) -> CollectionInfo {
        CollectionInfo {
            name: name.to_string(),
            model: self.embedder.model_id().to_string(),
            dim: self.embedder.dim(),
        }
    }

    /// Ingests `paths` into any [`VectorStore`], each batch one `upsert` (one transaction on
    /// stores that have them), so a kill leaves the committed batches and a rerun skips them
    /// by content hash. Files are keyed relative to `root` (the embedded index uses the
    /// folder holding it). Synchronous: the store's calls run on `runtime`, so call it from
    /// outside async code (or from `spawn_blocking`).
    pub fn ingest_store<P: AsRef<Path>>(
        &self,
        paths: &[P],
        store: &dyn VectorStore,
        root: &Path,
        runtime: &tokio::runtime::Handle,
        opts: &IngestOptions,
        progress: &dyn IngestProgress,
    ) -> Result<IngestReport, IngestError> {
        let info = runtime.block_on(store.info())?;
        if info.model != self.embedder.model_id() || info.dim != self.embedder.dim() {
            return Err(VectorStoreError::invalid(
                store.name(),
                format!(
                    "it holds {}-dimensional vectors of {}, not {}-dimensional vectors of {}; \
                     use another collection or the model it was built with",
                    info.dim,
                    info.model,
                    self.embedder.dim(),
                    self.embedder.model_id()
                ),
            )
            .into());
        }
        let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
        let mut sink = StoreSink { store, runtime };
        self.ingest_into(paths, &mut sink, &root, None, opts, progress)
    }

    fn ingest_into<P: AsRef<Path>>(
        &self,
        paths: &[P],
        index: &mut dyn Sink,
        root: &Path,
        skip_dir: Option<&Path>,
        opts: &IngestOptions,
        progress: &dyn IngestProgress,
    ) -> Result<IngestReport, IngestError> {
        let started = Instant::now();
        let mut report = IngestReport::default();
        let mut hashes = index.hashes()?;
        let by_origin = index.by_origin()?;
        let root = root.to_path_buf();
        let skip = |s: Skipped, report: &mut IngestReport| {
            progress.skipped(&s);
            report.skipped.push(s);
        };

        let walk_opts = WalkOptions {
            follow_links: opts.follow_links,
        };
        let mut files: Vec<Input> = Vec::new();
        let mut keys_seen = HashSet::new();
        for e in walk_with(paths, &walk_opts) {
            let path = match e {
                WalkEntry::File(p) => p,
                WalkEntry::Skipped { path, reason } => {
                    let s = Skipped {
                        path: path.display().to_string(),
                        line: None,
                        reason,
                    };
                    skip(s, &mut report);
                    continue;
                }
            };
            let canonical = match std::fs::canonicalize(&path) {
                Ok(c) => c,
                Err(e) => {
                    let s = Skipped {
                        path: path.display().to_string(),
                        line: None,
                        reason: cairn_ingest::walk::describe_io(&e),
                    };
                    skip(s, &mut report);
                    continue;
                }
            };
            if skip_dir.is_some_and(|d| canonical.starts_with(d)) {
                continue;
            }
            let key = FileKey::new(&root, &canonical);
            // The same file reached twice (`docs docs/a.md`, or a link to it) loads once.
            if keys_seen.insert(key.id.clone()) {
                files.push(Input {
                    path,
                    legacy_origin: canonical.display().to_string(),
                    key,
                });
            }
        }
        progress.files(files.len());
        report.files = files.len();

        let mut pending: Vec<Pending> = Vec::new();
        let mut deletes: Vec<String> = Vec::new();
        let mut pending_bytes = 0usize;
        let mut seen_by_origin: HashMap<String, HashSet<String>> = HashMap::new();
        // Rough chunk estimate per batch: ~4 bytes per token.
        let batch_bytes = opts.batch_chunks * self.chunker.config().max_tokens * 4;
        for input in &files {
            let origin = input.key.id.clone();
            let loaded = match load_file_as(&input.path, &origin, &input.key.name, &opts.loader) {
                Ok(l) => l,
                Err(e) => {
                    skip(skipped_from(&e), &mut report);
                    progress.file_loaded(0);
                    continue;
                }
            };
            for p in &loaded.problems {
                skip(skipped_from(p), &mut report);
            }
            progress.file_loaded(loaded.docs.len());
            let new_ids: HashSet<&str> = loaded.docs.iter().map(|d| d.id.as_str()).collect();
            let legacy = legacy_ids(&by_origin, input, &new_ids);
            let migrating = !legacy.is_empty();
            deletes.extend(legacy);
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
                    skip(s, &mut report);
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
                            is_update: old.is_some() || migrating,
                            doc,
                            origin: origin.clone(),
                            hash,
                        });
                        if pending_bytes >= batch_bytes {
                            self.flush(
                                index,
                                &mut pending,
                                &mut deletes,
                                &mut report,
                                &mut hashes,
                                progress,
                                opts.batch_chunks,
                            )?;
                            pending_bytes = 0;
                        }
                    }
                }
            }
        }
        self.flush(
            index,
            &mut pending,
            &mut deletes,
            &mut report,
            &mut hashes,
            progress,
            opts.batch_chunks,
        )?;

        if opts.prune {
            let mut delete = Vec::new();
            for (origin, ids) in index.by_origin()? {
                // Old indexes stored absolute paths unescaped; try the origin both ways.
                let gone = !Path::new(&origin).exists() && !path_of(&root, &origin).exists();
                let seen = seen_by_origin.get(&origin);
                for id in ids {
                    if gone || seen.is_some_and(|s| !s.contains(&id)) {
                        delete.push(id);
                    }
                }
            }
            if !delete.is_empty() {
                report.removed = delete.len();
                index.write(Vec::new(), &delete)?;
            }
        }
        report.generation = index.generation()?;
        report.elapsed = started.elapsed();
        Ok(report)
    }

    /// Chunks, embeds and writes the pending documents (and `deletes`) in one transaction.
    #[allow(clippy::too_many_arguments)]
    fn flush(
        &self,
        index: &mut dyn Sink,
        pending: &mut Vec<Pending>,
        deletes: &mut Vec<String>,
        report: &mut IngestReport,
        hashes: &mut HashMap<String, String>,
        progress: &dyn IngestProgress,
        embed_batch: usize,
    ) -> Result<(), IngestError> {
        if pending.is_empty() && deletes.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(pending);
        let n_docs = batch.len();
        for p in &batch {
            if p.doc.text.len() >= LARGE_DOCUMENT_BYTES {
                progress.large_document(&p.doc.source, p.doc.text.len());
            }
        }
        let chunked: Vec<_> = batch
            .par_iter()
            .map(|p| self.chunker.chunk(&p.doc))
            .collect();
        let owned: Vec<String> = chunked.iter().flatten().map(|c| c.indexed_text()).collect();
        let texts: Vec<&str> = owned.iter().map(String::as_str).collect();
        let mut vectors = Vec::with_capacity(texts.len());
        // In slices, so a file of thousands of chunks shows its progress.
        for slice in texts.chunks(embed_batch.max(1)) {
            let v = self.embedder.embed(slice)?;
            if v.len() != slice.len() {
                return Err(IngestError::Embed(EmbedError::Model(format!(
                    "the embedder returned {} vectors for {} chunks",
                    v.len(),
                    slice.len()
                ))));
            }
            vectors.extend(v);
            progress.chunks_done(slice.len());
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
        let deletes = std::mem::take(deletes);
        index.write(writes, &deletes)?;
        report.chunks += n_chunks;
        progress.documents_done(n_docs);
        Ok(())
    }
}

/// Documents an index made before file keys hold for `input`: those under its old origin
/// (the absolute path), and those under its origin whose ids are not scoped to the file
/// (bare JSONL `_id`s). The ids the file now produces are never among them.
fn legacy_ids(
    by_origin: &HashMap<String, Vec<String>>,
    input: &Input,
    new_ids: &HashSet<&str>,
) -> Vec<String> {
    let mut out = Vec::new();
    if input.legacy_origin != input.key.id {
        if let Some(ids) = by_origin.get(&input.legacy_origin) {
            out.extend(ids.iter().cloned());
        }
    }
    if let Some(ids) = by_origin.get(&input.key.id) {
        out.extend(
            ids.iter()
                .filter(|id| !belongs_to(id, &input.key.id))
                .cloned(),
        );
    }
    out.retain(|id| !new_ids.contains(id.as_str()));
    out
}

fn skipped_from(e: &LoadError) -> Skipped {
    Skipped {
        path: e.path().to_string(),
        line: e.line(),
        reason: e.reason(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_core::{Chunk, TokenCounter};
    use cairn_ingest::{ChunkerConfig, Strategy};
    use std::fs;

    struct Words;
    impl TokenCounter for Words {
        fn count_tokens(&self, t: &str) -> usize {
            t.split_whitespace().count()
        }
    }

    /// Vectors from letter counts: deterministic, no model.
    struct Letters;
    impl Embedder for Letters {
        fn model_id(&self) -> &str {
            "letters"
        }
        fn dim(&self) -> usize {
            4
        }
        fn max_tokens(&self) -> usize {
            256
        }
        fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
            Ok(texts
                .iter()
                .map(|t| {
                    let c = |ch: char| t.matches(ch).count() as f32 + 1.0;
                    vec![c('a'), c('e'), c('o'), c('s')]
                })
                .collect())
        }
    }

    fn indexer() -> Indexer {
        let cfg = ChunkerConfig {
            max_tokens: 64,
            overlap: 8,
            strategy: Strategy::Recursive,
        };
        let chunker = Chunker::new(Arc::new(Words), cfg, 256).unwrap();
        Indexer::new(Arc::new(Letters), chunker)
    }

    fn ids(index: &Path) -> Vec<String> {
        let mut v: Vec<String> = Index::open(index)
            .unwrap()
            .doc_hashes()
            .unwrap()
            .into_keys()
            .collect();
        v.sort();
        v
    }

    fn project() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        let docs = root.join("docs");
        fs::create_dir_all(docs.join("sub")).unwrap();
        fs::write(docs.join("a.md"), "# A\n\nalpha text").unwrap();
        fs::write(docs.join("sub/b.txt"), "beta text").unwrap();
        (tmp, root.join(".cairn"), docs)
    }

    #[test]
    fn spelling_of_the_path_never_changes_ids_or_hashes() {
        let (_tmp, index, docs) = project();
        let ix = indexer();
        let o = IngestOptions::default();
        let r = ix.ingest(&[&docs], &index, &o, &NoProgress).unwrap();
        assert_eq!(r.added, 2);
        // The ids are relative to the project folder, with no absolute path in them.
        assert_eq!(ids(&index), vec!["docs/a.md", "docs/sub/b.txt"]);
        let dotted = docs.join("sub/../.");
        let trailing = PathBuf::from(format!("{}/", docs.display()));
        for spelling in [dotted, trailing, docs.join("a.md")] {
            let r = ix.ingest(&[&spelling], &index, &o, &NoProgress).unwrap();
            assert_eq!((r.added, r.updated), (0, 0), "{}", spelling.display());
            assert!(r.unchanged >= 1);
        }
        // The same file named twice loads once.
        let r = ix
            .ingest(&[docs.clone(), docs.join("a.md")], &index, &o, &NoProgress)
            .unwrap();
        assert_eq!((r.files, r.unchanged), (2, 2), "{:?}", r.skipped);
        let stored = Index::open(&index)
            .unwrap()
            .document("docs/a.md")
            .unwrap()
            .unwrap();
        assert_eq!(stored.source, "docs/a.md");
        assert_eq!(stored.metadata["path"], "docs/a.md");
    }

    #[test]
    fn records_of_two_files_sharing_an_id_both_stay() {
        let (_tmp, index, docs) = project();
        fs::write(
            docs.join("a.jsonl"),
            "{\"_id\":\"1\",\"text\":\"from a\"}\n",
        )
        .unwrap();
        fs::write(
            docs.join("b.jsonl"),
            "{\"_id\":\"1\",\"text\":\"from b\"}\n",
        )
        .unwrap();
        let ix = indexer();
        let o = IngestOptions::default();
        let a = docs.join("a.jsonl");
        let b = docs.join("b.jsonl");
        ix.ingest(&[&a], &index, &o, &NoProgress).unwrap();
        let r = ix.ingest(&[&b], &index, &o, &NoProgress).unwrap();
        assert_eq!(r.added, 1, "b's record is its own");
        for _ in 0..2 {
            let r = ix.ingest(&[&a, &b], &index, &o, &NoProgress).unwrap();
            assert_eq!((r.unchanged, r.added, r.updated), (2, 0, 0));
        }
        assert_eq!(ids(&index), vec!["docs/a.jsonl#1", "docs/b.jsonl#1"]);
        let stored = Index::open(&index).unwrap();
        let d = stored.document("docs/b.jsonl#1").unwrap().unwrap();
        assert_eq!(d.metadata["record_id"], "1");
    }

    #[test]
    fn an_index_with_absolute_path_ids_is_migrated_in_place_and_prune_still_works() {
        let (_tmp, index, docs) = project();
        fs::write(docs.join("c.jsonl"), "{\"_id\":\"7\",\"text\":\"seven\"}\n").unwrap();
        // What an older cairn wrote: absolute paths as ids and origins, bare JSONL ids.
        let old = |id: &str, origin: &Path| DocWrite {
            doc: Document {
                id: id.into(),
                source: origin.display().to_string(),
                title: None,
                kind: "text".into(),
                text: "old".into(),
                metadata: Metadata::new(),
            },
            origin: origin.display().to_string(),
            hash: "old".into(),
            chunks: vec![(
                Chunk {
                    id: format!("{id}#0"),
                    doc_id: id.into(),
                    ordinal: 0,
                    text: "old".into(),
                    start: 0,
                    end: 3,
                    heading_path: vec![],
                    context: String::new(),
                    metadata: Metadata::new(),
                },
                vec![1.0, 0.0, 0.0, 0.0],
            )],
        };
        {
            let mut ix = Index::open_for_write(&index, "letters", 4).unwrap();
            let a = docs.join("a.md");
            let b = docs.join("sub/b.txt");
            let c = docs.join("c.jsonl");
            let writes = [
                old(&a.display().to_string(), &a),
                old(&b.display().to_string(), &b),
                old("7", &c),
            ];
            ix.write_batch(&writes, &[]).unwrap();
        }
        let ix = indexer();
        let o = IngestOptions::default();
        let r = ix.ingest(&[&docs], &index, &o, &NoProgress).unwrap();
        assert_eq!((r.added, r.updated), (0, 3), "{r:?}");
        assert_eq!(
            ids(&index),
            vec!["docs/a.md", "docs/c.jsonl#7", "docs/sub/b.txt"],
            "old rows replaced, none left behind"
        );
        // Prune resolves the relative origins against the project folder.
        fs::remove_file(docs.join("sub/b.txt")).unwrap();
        let prune = IngestOptions {
            prune: true,
            ..Default::default()
        };
        let r = ix.ingest(&[&docs], &index, &prune, &NoProgress).unwrap();
        assert_eq!((r.removed, r.unchanged), (1, 2), "{r:?}");
        assert_eq!(ids(&index), vec!["docs/a.md", "docs/c.jsonl#7"]);
    }

    #[test]
    fn files_outside_the_project_keep_their_absolute_path() {
        let (_tmp, index, _docs) = project();
        let other = tempfile::tempdir().unwrap();
        let f = other.path().canonicalize().unwrap().join("x.txt");
        fs::write(&f, "outside text").unwrap();
        let r = indexer()
            .ingest(&[&f], &index, &IngestOptions::default(), &NoProgress)
            .unwrap();
        assert_eq!(r.added, 1);
        assert_eq!(ids(&index), vec![f.display().to_string()]);
    }
}
