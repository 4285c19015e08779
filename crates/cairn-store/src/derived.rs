//! The read side: the BM25 and vector indexes derived from SQLite, cached in `derived.bin`
//! (checksummed, stamped with the generation it reflects). A stale or damaged cache is rebuilt
//! from SQLite, so the cache cannot make results differ from the system of record.
//!
//! A `Searcher` is a snapshot of one generation: chunk positions from its searches stay valid
//! until [`Searcher::refresh`] moves it to the generation SQLite holds now. Chunk text is read
//! back by the chunk's id, and only while its document is still the version the snapshot
//! indexed; otherwise the read fails with [`StoreError::Changed`] rather than return another
//! chunk's row.

use crate::bm25::{Bm25Index, Bm25Params};
use crate::cache::{self, ChunkIds, Derived, DocEntry};
use crate::db::{blob_to_vec, Index, IndexInfo, ReadMode, StoredDoc};
use crate::error::StoreError;
use crate::hnsw::{Hnsw, HnswParams};
use crate::pool::{self, ReadPool};
use crate::vector::FlatIndex;
use cairn_core::{Chunk, Filter};
use rusqlite::{params, OptionalExtension};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Below this many chunks exact search is fast enough (and exact); above it an HNSW graph is
/// built. `CAIRN_HNSW_MIN_CHUNKS` overrides it.
pub const HNSW_MIN_CHUNKS: usize = 20_000;

/// Candidates an HNSW query keeps (at least k).
const EF_SEARCH: usize = 128;

fn hnsw_min_chunks() -> usize {
    std::env::var("CAIRN_HNSW_MIN_CHUNKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(HNSW_MIN_CHUNKS)
}

/// How a [`Searcher`] opens an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearcherOptions {
    /// Build an HNSW graph when the index holds at least this many chunks.
    pub hnsw_min_chunks: usize,
    /// Save a rebuilt cache to `derived.bin` (best effort: a folder that cannot be written
    /// keeps the rebuilt indexes in memory only). `false` never writes anything.
    pub write_cache: bool,
}

impl Default for SearcherOptions {
    fn default() -> Self {
        SearcherOptions {
            hnsw_min_chunks: hnsw_min_chunks(),
            write_cache: true,
        }
    }
}

/// Loaded indexes over one generation of an index.
///
/// `Send + Sync`: one `Arc<Searcher>` serves many threads. The derived indexes sit behind an
/// `Arc` and are only read (HNSW's visited sets are pooled inside it); SQLite reads go through
/// a small pool of read-only connections shared by this snapshot and the ones
/// [`Self::reopen`] and [`Self::refresh`] make from it.
pub struct Searcher {
    pool: Arc<ReadPool>,
    d: Arc<Derived>,
    options: SearcherOptions,
    /// True when this open rebuilt the derived indexes (rather than loading the cache).
    pub rebuilt: bool,
}

const _: () = {
    fn assert<T: Send + Sync>() {}
    let _ = assert::<Searcher>;
};

/// Saves of `derived.bin` from one process go one at a time (they share a temporary name).
static SAVE: Mutex<()> = Mutex::new(());

impl Searcher {
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Self::open_with_options(dir, SearcherOptions::default())
    }

    /// As `open`, building an HNSW graph when the index holds at least `hnsw_min` chunks.
    pub fn open_with(dir: &Path, hnsw_min: usize) -> Result<Self, StoreError> {
        Self::open_with_options(
            dir,
            SearcherOptions {
                hnsw_min_chunks: hnsw_min,
                ..Default::default()
            },
        )
    }

    /// As `open`, writing nothing in the index folder: SQLite is opened read-only and a stale
    /// cache is rebuilt in memory only.
    pub fn open_read_only(dir: &Path) -> Result<Self, StoreError> {
        Self::open_with_options(
            dir,
            SearcherOptions {
                write_cache: false,
                ..Default::default()
            },
        )
    }

    pub fn open_with_options(dir: &Path, options: SearcherOptions) -> Result<Self, StoreError> {
        let pool = Arc::new(ReadPool::new(Index::open(dir)?, pool::default_cap()));
        Self::open_in(pool, options)
    }

    /// Loads (or rebuilds) the generation SQLite holds now, reading through `pool`.
    fn open_in(pool: Arc<ReadPool>, options: SearcherOptions) -> Result<Self, StoreError> {
        let (d, rebuilt) = {
            let index = pool.get()?;
            let generation = index.generation()?;
            let info = index.info()?;
            let want_hnsw = info.chunks as usize >= options.hnsw_min_chunks;
            match cache::load(index.dir(), generation, info.dim) {
                Some(d) if d.hnsw.is_some() == want_hnsw => (d, false),
                _ => {
                    let mut d = rebuild(&index, info.dim)?;
                    if want_hnsw && d.ids.len() > 0 {
                        d.hnsw = Some(Hnsw::build(&d.vectors, HnswParams::default()));
                    }
                    if options.write_cache {
                        let _one = SAVE.lock().unwrap_or_else(|e| e.into_inner());
                        // A reader that cannot write the cache (read-only folder) still works.
                        let _ = cache::save(index.dir(), &d);
                    }
                    (d, true)
                }
            }
        };
        Ok(Searcher {
            pool,
            d: Arc::new(d),
            options,
            rebuilt,
        })
    }

    /// A new snapshot of the generation SQLite holds now, opened beside this one (which stays
    /// valid for whoever holds it). It shares this snapshot's connection pool, except for an
    /// `immutable=1` open, whose connections never see new commits: that gets a fresh one.
    pub fn reopen(&self) -> Result<Searcher, StoreError> {
        match self.pool.mode() {
            ReadMode::Immutable => Self::open_with_options(self.pool.dir(), self.options),
            ReadMode::ReadOnly => Self::open_in(self.pool.clone(), self.options),
        }
    }

    /// SQLite connections this snapshot's pool has open now (idle or lending).
    pub fn read_connections(&self) -> usize {
        self.pool.open_connections()
    }

    /// The most SQLite connections the pool opens; further readers wait for one to return.
    pub fn max_read_connections(&self) -> usize {
        self.pool.cap()
    }

    /// How SQLite is read (`mode=ro`, or `immutable=1` in a folder that cannot be written).
    pub fn read_mode(&self) -> ReadMode {
        self.pool.mode()
    }

    /// The generation SQLite holds now (one small query; the snapshot's is [`Self::generation`]).
    pub fn current_generation(&self) -> Result<u64, StoreError> {
        match self.pool.mode() {
            // An immutable connection never sees new commits: ask a fresh one.
            ReadMode::Immutable => Index::open(self.pool.dir())?.generation(),
            ReadMode::ReadOnly => self.pool.get()?.generation(),
        }
    }

    /// True when SQLite has moved past this snapshot (another process ingested).
    pub fn is_stale(&self) -> Result<bool, StoreError> {
        Ok(self.current_generation()? != self.d.generation)
    }

    /// Moves the snapshot to the generation SQLite holds now, when it differs: returns true
    /// when it did. Positions from earlier searches are invalid after a refresh. Call it
    /// between queries in a long-lived reader (a chat session, a server).
    pub fn refresh(&mut self) -> Result<bool, StoreError> {
        if !self.is_stale()? {
            return Ok(false);
        }
        *self = self.reopen()?;
        Ok(true)
    }

    pub fn info(&self) -> Result<IndexInfo, StoreError> {
        self.pool.get()?.info()
    }

    /// The generation this snapshot reflects.
    pub fn generation(&self) -> u64 {
        self.d.generation
    }

    pub fn len(&self) -> usize {
        self.d.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.d.ids.len() == 0
    }

    pub fn vectors(&self) -> &FlatIndex {
        &self.d.vectors
    }

    pub fn bm25_index(&self) -> &Bm25Index {
        &self.d.bm25
    }

    /// The stable id of the chunk at a position.
    pub fn chunk_id(&self, pos: u32) -> &str {
        self.d.ids.get(pos as usize)
    }

    /// A predicate over chunk positions for a metadata filter, or `None` when unfiltered.
    pub fn allow(&self, filter: &Filter) -> Option<Vec<bool>> {
        if filter.is_empty() {
            return None;
        }
        let ok: Vec<bool> = self
            .d
            .docs
            .iter()
            .map(|d| filter.matches(&d.metadata))
            .collect();
        Some(self.d.chunk_doc.iter().map(|&d| ok[d as usize]).collect())
    }

    /// True when dense search goes through an HNSW graph (large indexes).
    pub fn uses_hnsw(&self) -> bool {
        self.d.hnsw.is_some()
    }

    /// Nearest chunks by cosine: HNSW on large indexes, exact search on small ones and under
    /// selective filters (where a graph walk would visit mostly rejected nodes).
    pub fn dense(&self, query: &[f32], k: usize, allow: Option<&[bool]>) -> Vec<(u32, f32)> {
        // More than every chunk is every chunk (and keeps `ef` arithmetic in range).
        let k = k.min(self.len());
        let ef = EF_SEARCH.max(k);
        let vectors = &self.d.vectors;
        match (allow, &self.d.hnsw) {
            (None, Some(h)) => h.search(vectors, query, k, ef, None),
            (Some(a), Some(h)) if a.iter().filter(|&&x| x).count() * 10 >= a.len() => {
                h.search(vectors, query, k, ef * 2, Some(&|p: u32| a[p as usize]))
            }
            (Some(a), _) => vectors.search(query, k, Some(&|p: u32| a[p as usize])),
            (None, None) => vectors.search(query, k, None),
        }
    }

    /// Best chunks by BM25.
    pub fn bm25(&self, query: &str, k: usize, allow: Option<&[bool]>) -> Vec<(u32, f32)> {
        let k = k.min(self.len());
        match allow {
            Some(a) => self.d.bm25.search(query, k, Some(&|p: u32| a[p as usize])),
            None => self.d.bm25.search(query, k, None),
        }
    }

    /// The document id of a chunk position, without touching SQLite.
    pub fn doc_id(&self, pos: u32) -> &str {
        &self.d.docs[self.d.chunk_doc[pos as usize] as usize].id
    }

    fn doc_entry(&self, doc_id: &str) -> Option<&DocEntry> {
        self.d
            .docs
            .binary_search_by(|d| d.id.as_str().cmp(doc_id))
            .ok()
            .map(|i| &self.d.docs[i])
    }

    /// The error for a chunk whose document moved on. `index` is the connection the caller
    /// already holds: taking a second one from the pool could wait forever on a full pool.
    fn changed(&self, index: &Index, chunk: &str) -> StoreError {
        let now = match self.pool.mode() {
            ReadMode::Immutable => self.current_generation(),
            ReadMode::ReadOnly => index.generation(),
        };
        StoreError::Changed {
            path: self.pool.dir().to_path_buf(),
            opened: self.d.generation,
            now: now.unwrap_or(self.d.generation),
            chunk: chunk.to_string(),
        }
    }

    /// The chunks of a document under exactly this heading path (its section), in order: what
    /// parent-section expansion widens a retrieved chunk to. Fails with
    /// [`StoreError::Changed`] when the document was rewritten or removed since this snapshot.
    pub fn section(&self, doc_id: &str, heading_path: &[String]) -> Result<Vec<Chunk>, StoreError> {
        let Some(entry) = self.doc_entry(doc_id) else {
            return Ok(Vec::new());
        };
        let index = self.pool.get()?;
        let err = index.sql_err();
        let mut stmt = index
            .conn
            .prepare_cached(
                "SELECT c.id, c.ordinal, c.text, c.start, c.end, c.heading_path, c.context, \
                 d.generation FROM chunks c JOIN documents d ON d.id = c.doc_id \
                 WHERE c.doc_id = ?1 ORDER BY c.ordinal",
            )
            .map_err(&err)?;
        let rows = stmt
            .query_map(params![doc_id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, u32>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, String>(6)?,
                    r.get::<_, i64>(7)?,
                ))
            })
            .map_err(&err)?;
        let mut out = Vec::new();
        let mut seen = false;
        for row in rows {
            let (id, ordinal, text, start, end, heading, context, generation) =
                row.map_err(&err)?;
            if generation as u64 != entry.generation {
                return Err(self.changed(&index, &id));
            }
            seen = true;
            let path: Vec<String> = serde_json::from_str(&heading).unwrap_or_default();
            if path == heading_path {
                out.push(Chunk {
                    id,
                    doc_id: doc_id.to_string(),
                    ordinal,
                    text,
                    start: start as usize,
                    end: end as usize,
                    heading_path: path,
                    context,
                    metadata: Default::default(),
                });
            }
        }
        if !seen
            && self
                .d
                .chunk_doc
                .iter()
                .any(|&d| self.d.docs[d as usize].id == doc_id)
        {
            return Err(self.changed(&index, doc_id));
        }
        Ok(out)
    }

    /// Every document in SQLite now (not this snapshot's generation), in id order.
    pub fn documents(&self) -> Result<Vec<cairn_core::DocumentEntry>, StoreError> {
        self.pool.get()?.entries()
    }

    /// A page of whole documents from SQLite now, in id order ([`Index::scan`]).
    pub fn scan(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<cairn_core::DocumentUpsert>, StoreError> {
        self.pool.get()?.scan(after, limit)
    }

    /// Reads a chunk and its document from SQLite, by the chunk's stable id. Fails with
    /// [`StoreError::Changed`] when the chunk's document was rewritten or removed since this
    /// snapshot (call [`Self::refresh`] and search again).
    pub fn chunk(&self, pos: u32) -> Result<(Chunk, StoredDoc), StoreError> {
        if pos as usize >= self.len() {
            return Err(StoreError::Position {
                pos,
                len: self.len(),
            });
        }
        let id = self.d.ids.get(pos as usize);
        let want = self.d.docs[self.d.chunk_doc[pos as usize] as usize].generation;
        let index = self.pool.get()?;
        let err = index.sql_err();
        let mut stmt = index
            .conn
            .prepare_cached(
                "SELECT c.doc_id, c.ordinal, c.text, c.start, c.end, c.heading_path, c.context, \
                 d.origin, d.source, d.title, d.kind, d.metadata, d.generation \
                 FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE c.id = ?1",
            )
            .map_err(&err)?;
        let row = stmt
            .query_row(params![id], |r| {
                let meta: String = r.get(11)?;
                let metadata: cairn_core::Metadata =
                    serde_json::from_str(&meta).unwrap_or_default();
                let doc_id: String = r.get(0)?;
                let heading: String = r.get(5)?;
                let chunk = Chunk {
                    id: id.to_string(),
                    doc_id: doc_id.clone(),
                    ordinal: r.get(1)?,
                    text: r.get(2)?,
                    start: r.get::<_, i64>(3)? as usize,
                    end: r.get::<_, i64>(4)? as usize,
                    heading_path: serde_json::from_str(&heading).unwrap_or_default(),
                    context: r.get(6)?,
                    metadata: metadata.clone(),
                };
                let doc = StoredDoc {
                    id: doc_id,
                    origin: r.get(7)?,
                    source: r.get(8)?,
                    title: r.get(9)?,
                    kind: r.get(10)?,
                    metadata,
                };
                Ok((chunk, doc, r.get::<_, i64>(12)? as u64))
            })
            .optional()
            .map_err(&err)?;
        match row {
            Some((chunk, doc, generation)) if generation == want => Ok((chunk, doc)),
            _ => Err(self.changed(&index, id)),
        }
    }
}

/// Reads every document and chunk of the index in one read transaction (so the snapshot is
/// one generation even while a writer commits) and builds the derived indexes.
fn rebuild(index: &Index, dim: usize) -> Result<Derived, StoreError> {
    let err = index.sql_err();
    let tx = index.conn.unchecked_transaction().map_err(&err)?;
    let generation: u64 = tx
        .query_row("SELECT value FROM meta WHERE key = 'generation'", [], |r| {
            r.get::<_, String>(0)
        })
        .optional()
        .map_err(&err)?
        .and_then(|g| g.parse().ok())
        .unwrap_or(0);
    let mut docs = Vec::new();
    let mut doc_pos = std::collections::HashMap::new();
    {
        let mut stmt = tx
            .prepare("SELECT id, metadata, generation FROM documents ORDER BY id")
            .map_err(&err)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .map_err(&err)?;
        for row in rows {
            let (id, meta, generation) = row.map_err(&err)?;
            doc_pos.insert(id.clone(), docs.len() as u32);
            docs.push(DocEntry {
                id,
                metadata: serde_json::from_str(&meta).unwrap_or_default(),
                generation: generation as u64,
            });
        }
    }
    let mut ids = ChunkIds::default();
    let mut chunk_doc = Vec::new();
    let mut vectors = FlatIndex::new(dim);
    let mut bm25 = Bm25Index::new(Bm25Params::default());
    {
        let mut stmt = tx
            .prepare("SELECT id, doc_id, text, vector, context FROM chunks ORDER BY pk")
            .map_err(&err)?;
        let mut rows = stmt.query([]).map_err(&err)?;
        while let Some(r) = rows.next().map_err(&err)? {
            let id: String = r.get(0).map_err(&err)?;
            let doc: String = r.get(1).map_err(&err)?;
            let text: String = r.get(2).map_err(&err)?;
            let blob: Vec<u8> = r.get(3).map_err(&err)?;
            let context: String = r.get(4).map_err(&err)?;
            let v = blob_to_vec(&blob);
            let Some(&d) = doc_pos.get(&doc) else {
                continue;
            };
            if v.len() != dim {
                return Err(StoreError::Corrupt {
                    path: index.db_path(),
                    message: format!("chunk {id} has a {}-d vector, expected {dim}", v.len()),
                });
            }
            ids.push(&id);
            chunk_doc.push(d);
            vectors.push(&v);
            if context.is_empty() {
                bm25.add(&text);
            } else {
                bm25.add(&format!("{context}\n{text}"));
            }
        }
    }
    drop(tx);
    Ok(Derived {
        generation,
        ids,
        chunk_doc,
        docs,
        vectors,
        bm25,
        hnsw: None,
    })
}
