//! The read side: the BM25 and vector indexes derived from SQLite, cached in one file stamped
//! with the generation it reflects. A stale or damaged cache is rebuilt from SQLite, so the
//! cache can never make results differ from the system of record.

use crate::bm25::{Bm25Index, Bm25Params};
use crate::codec::{Reader, Writer};
use crate::db::{blob_to_vec, Index, IndexInfo, StoredDoc};
use crate::error::StoreError;
use crate::hnsw::{Hnsw, HnswParams};
use crate::vector::FlatIndex;
use cairn_core::{Chunk, Filter, Metadata};
use rusqlite::params;
use std::path::Path;

const MAGIC: &[u8; 8] = b"CAIRNDV2";
const FILE: &str = "derived.bin";

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

struct DocEntry {
    id: String,
    metadata: Metadata,
}

/// Loaded indexes over one generation of an index.
pub struct Searcher {
    index: Index,
    generation: u64,
    pks: Vec<i64>,
    chunk_doc: Vec<u32>,
    docs: Vec<DocEntry>,
    vectors: FlatIndex,
    bm25: Bm25Index,
    hnsw: Option<Hnsw>,
    /// True when this open rebuilt the derived indexes (rather than loading the cache).
    pub rebuilt: bool,
}

impl Searcher {
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Self::open_with(dir, hnsw_min_chunks())
    }

    /// As `open`, building an HNSW graph when the index holds at least `hnsw_min` chunks.
    pub fn open_with(dir: &Path, hnsw_min: usize) -> Result<Self, StoreError> {
        let index = Index::open(dir)?;
        let generation = index.generation()?;
        let info = index.info()?;
        let want_hnsw = info.chunks as usize >= hnsw_min;
        if let Some(s) = Self::load_cache(&index, generation, info.dim) {
            if s.hnsw.is_some() == want_hnsw {
                return Ok(s);
            }
        }
        let mut s = Self::rebuild(index, generation, info.dim)?;
        if want_hnsw && !s.is_empty() {
            s.hnsw = Some(Hnsw::build(&s.vectors, HnswParams::default()));
        }
        // A reader that cannot write the cache (read-only folder) still works.
        let _ = s.save_cache();
        Ok(s)
    }

    pub fn info(&self) -> Result<IndexInfo, StoreError> {
        self.index.info()
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn len(&self) -> usize {
        self.pks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pks.is_empty()
    }

    pub fn vectors(&self) -> &FlatIndex {
        &self.vectors
    }

    pub fn bm25_index(&self) -> &Bm25Index {
        &self.bm25
    }

    fn rebuild(index: Index, generation: u64, dim: usize) -> Result<Self, StoreError> {
        let err = index.sql_err();
        let mut docs = Vec::new();
        let mut doc_pos = std::collections::HashMap::new();
        {
            let mut stmt = index
                .conn
                .prepare("SELECT id, metadata FROM documents ORDER BY id")
                .map_err(&err)?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                .map_err(&err)?;
            for row in rows {
                let (id, meta) = row.map_err(&err)?;
                doc_pos.insert(id.clone(), docs.len() as u32);
                docs.push(DocEntry {
                    id,
                    metadata: serde_json::from_str(&meta).unwrap_or_default(),
                });
            }
        }
        let mut pks = Vec::new();
        let mut chunk_doc = Vec::new();
        let mut vectors = FlatIndex::new(dim);
        let mut bm25 = Bm25Index::new(Bm25Params::default());
        {
            let mut stmt = index
                .conn
                .prepare("SELECT pk, doc_id, text, vector, context FROM chunks ORDER BY pk")
                .map_err(&err)?;
            let mut rows = stmt.query([]).map_err(&err)?;
            while let Some(r) = rows.next().map_err(&err)? {
                let pk: i64 = r.get(0).map_err(&err)?;
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
                        message: format!("chunk {pk} has a {}-d vector, expected {dim}", v.len()),
                    });
                }
                pks.push(pk);
                chunk_doc.push(d);
                vectors.push(&v);
                if context.is_empty() {
                    bm25.add(&text);
                } else {
                    bm25.add(&format!("{context}\n{text}"));
                }
            }
        }
        drop(err);
        Ok(Searcher {
            index,
            generation,
            pks,
            chunk_doc,
            docs,
            vectors,
            bm25,
            hnsw: None,
            rebuilt: true,
        })
    }

    fn save_cache(&self) -> std::io::Result<()> {
        let mut w = Writer::default();
        w.u64(self.generation);
        w.u32(self.pks.len() as u32);
        w.u32(self.vectors.dim() as u32);
        for &pk in &self.pks {
            w.u64(pk as u64);
        }
        for &d in &self.chunk_doc {
            w.u32(d);
        }
        w.u32(self.docs.len() as u32);
        for d in &self.docs {
            w.bytes(d.id.as_bytes());
            w.bytes(
                serde_json::Value::Object(d.metadata.clone())
                    .to_string()
                    .as_bytes(),
            );
        }
        w.f32s(self.vectors.data());
        self.bm25.write_to(&mut w);
        match &self.hnsw {
            Some(h) => {
                w.u32(1);
                h.write_to(&mut w);
            }
            None => w.u32(0),
        }
        let mut bytes = MAGIC.to_vec();
        bytes.extend(w.into_inner());
        let dir = self.index.dir();
        let tmp = dir.join(format!(".{FILE}.{}.tmp", std::process::id()));
        std::fs::write(&tmp, &bytes)?;
        std::fs::rename(&tmp, dir.join(FILE))
    }

    fn load_cache(index: &Index, generation: u64, dim: usize) -> Option<Self> {
        let bytes = std::fs::read(index.dir().join(FILE)).ok()?;
        let body = bytes.strip_prefix(MAGIC.as_slice())?;
        let mut r = Reader::new(body);
        if r.u64()? != generation {
            return None;
        }
        let n = r.u32()? as usize;
        if r.u32()? as usize != dim {
            return None;
        }
        let pks = (0..n)
            .map(|_| r.u64().map(|v| v as i64))
            .collect::<Option<Vec<_>>>()?;
        let chunk_doc = (0..n).map(|_| r.u32()).collect::<Option<Vec<_>>>()?;
        let nd = r.u32()? as usize;
        let mut docs = Vec::with_capacity(nd);
        for _ in 0..nd {
            let id = String::from_utf8(r.bytes()?.to_vec()).ok()?;
            let metadata = serde_json::from_slice(r.bytes()?).ok()?;
            docs.push(DocEntry { id, metadata });
        }
        if chunk_doc.iter().any(|&d| d as usize >= nd) {
            return None;
        }
        let vectors = FlatIndex::from_data(dim, r.f32s(n * dim)?);
        let bm25 = Bm25Index::read_from(&mut r)?;
        let hnsw = match r.u32()? {
            0 => None,
            _ => Some(Hnsw::read_from(&mut r)?),
        };
        if bm25.len() != n || hnsw.as_ref().is_some_and(|h| h.len() != n) || !r.is_at_end() {
            return None;
        }
        let index = Index::open(index.dir()).ok()?;
        Some(Searcher {
            index,
            generation,
            pks,
            chunk_doc,
            docs,
            vectors,
            bm25,
            hnsw,
            rebuilt: false,
        })
    }

    /// A predicate over chunk positions for a metadata filter, or `None` when unfiltered.
    pub fn allow(&self, filter: &Filter) -> Option<Vec<bool>> {
        if filter.is_empty() {
            return None;
        }
        let ok: Vec<bool> = self
            .docs
            .iter()
            .map(|d| filter.matches(&d.metadata))
            .collect();
        Some(self.chunk_doc.iter().map(|&d| ok[d as usize]).collect())
    }

    /// True when dense search goes through an HNSW graph (large indexes).
    pub fn uses_hnsw(&self) -> bool {
        self.hnsw.is_some()
    }

    /// Nearest chunks by cosine: HNSW on large indexes, exact search on small ones and under
    /// selective filters (where a graph walk would visit mostly rejected nodes).
    pub fn dense(&self, query: &[f32], k: usize, allow: Option<&[bool]>) -> Vec<(u32, f32)> {
        let ef = EF_SEARCH.max(k);
        match (allow, &self.hnsw) {
            (None, Some(h)) => h.search(&self.vectors, query, k, ef, None),
            (Some(a), Some(h)) if a.iter().filter(|&&x| x).count() * 10 >= a.len() => h.search(
                &self.vectors,
                query,
                k,
                ef * 2,
                Some(&|p: u32| a[p as usize]),
            ),
            (Some(a), _) => self.vectors.search(query, k, Some(&|p: u32| a[p as usize])),
            (None, None) => self.vectors.search(query, k, None),
        }
    }

    /// Best chunks by BM25.
    pub fn bm25(&self, query: &str, k: usize, allow: Option<&[bool]>) -> Vec<(u32, f32)> {
        match allow {
            Some(a) => self.bm25.search(query, k, Some(&|p: u32| a[p as usize])),
            None => self.bm25.search(query, k, None),
        }
    }

    /// The document id of a chunk position, without touching SQLite.
    pub fn doc_id(&self, pos: u32) -> &str {
        &self.docs[self.chunk_doc[pos as usize] as usize].id
    }

    /// The chunks of a document under exactly this heading path (its section), in order: what
    /// parent-section expansion widens a retrieved chunk to.
    pub fn section(&self, doc_id: &str, heading_path: &[String]) -> Result<Vec<Chunk>, StoreError> {
        let err = self.index.sql_err();
        let mut stmt = self
            .index
            .conn
            .prepare_cached(
                "SELECT id, ordinal, text, start, end, heading_path, context FROM chunks \
                 WHERE doc_id = ?1 ORDER BY ordinal",
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
                ))
            })
            .map_err(&err)?;
        let mut out = Vec::new();
        for row in rows {
            let (id, ordinal, text, start, end, heading, context) = row.map_err(&err)?;
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
        Ok(out)
    }

    /// Reads a chunk and its document from SQLite.
    pub fn chunk(&self, pos: u32) -> Result<(Chunk, StoredDoc), StoreError> {
        let pk = self.pks[pos as usize];
        let err = self.index.sql_err();
        #[allow(clippy::type_complexity)]
        let (id, doc_id, ordinal, text, start, end, heading, context): (
            String,
            String,
            u32,
            String,
            i64,
            i64,
            String,
            String,
        ) = self
            .index
            .conn
            .query_row(
                "SELECT id, doc_id, ordinal, text, start, end, heading_path, context FROM chunks WHERE pk = ?1",
                params![pk],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                        r.get(7)?,
                    ))
                },
            )
            .map_err(&err)?;
        let doc = self
            .index
            .document(&doc_id)?
            .ok_or_else(|| StoreError::Corrupt {
                path: self.index.db_path(),
                message: format!("chunk {id} belongs to missing document {doc_id}"),
            })?;
        Ok((
            Chunk {
                id,
                doc_id,
                ordinal,
                text,
                start: start as usize,
                end: end as usize,
                heading_path: serde_json::from_str(&heading).unwrap_or_default(),
                context,
                metadata: doc.metadata.clone(),
            },
            doc,
        ))
    }
}
