//! `derived.bin`: the derived indexes of one generation, checksummed.
//!
//! Layout: `MAGIC` (8 bytes), the payload's length (u64) and its CRC-32 (u32), then the
//! payload: the generation, the chunk ids and their documents, the vectors, BM25 and the
//! optional HNSW graph. A file whose length or checksum does not match (a torn write, a
//! flipped bit, an edit) is ignored and rebuilt from SQLite. CRC-32 (hardware-accelerated by
//! crc32fast) catches accidental damage; it is no defence against someone who can write the
//! folder, but such a person can rewrite `index.sqlite` too.

use crate::bm25::Bm25Index;
use crate::codec::{Reader, Writer};
use crate::hnsw::Hnsw;
use crate::vector::FlatIndex;
use cairn_core::Metadata;
use std::path::Path;

const MAGIC: &[u8; 8] = b"CAIRNDV3";
const HEADER: usize = 8 + 8 + 4;
pub(crate) const FILE: &str = "derived.bin";

/// A document as the derived indexes see it.
pub(crate) struct DocEntry {
    pub id: String,
    pub metadata: Metadata,
    /// The generation that last wrote the document: a chunk read back from SQLite must come
    /// from the same one, or the snapshot no longer describes it.
    pub generation: u64,
}

/// Chunk ids, concatenated.
#[derive(Default)]
pub(crate) struct ChunkIds {
    text: String,
    ends: Vec<u64>,
}

impl ChunkIds {
    pub fn push(&mut self, id: &str) {
        self.text.push_str(id);
        self.ends.push(self.text.len() as u64);
    }
    pub fn get(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.text[start..self.ends[i] as usize]
    }
    pub fn len(&self) -> usize {
        self.ends.len()
    }
}

/// The derived indexes over one generation; chunk positions index every list.
pub(crate) struct Derived {
    pub generation: u64,
    pub ids: ChunkIds,
    pub chunk_doc: Vec<u32>,
    /// Sorted by id.
    pub docs: Vec<DocEntry>,
    pub vectors: FlatIndex,
    pub bm25: Bm25Index,
    pub hnsw: Option<Hnsw>,
}

/// The CRC-32 `derived.bin` carries.
pub fn checksum(payload: &[u8]) -> u32 {
    crc32fast::hash(payload)
}

pub(crate) fn encode(d: &Derived) -> Vec<u8> {
    let mut w = Writer::default();
    w.u64(d.generation);
    w.u32(d.ids.len() as u32);
    w.u32(d.vectors.dim() as u32);
    w.bytes(d.ids.text.as_bytes());
    for &e in &d.ids.ends {
        w.u64(e);
    }
    for &c in &d.chunk_doc {
        w.u32(c);
    }
    w.u32(d.docs.len() as u32);
    for doc in &d.docs {
        w.bytes(doc.id.as_bytes());
        w.bytes(
            serde_json::Value::Object(doc.metadata.clone())
                .to_string()
                .as_bytes(),
        );
        w.u64(doc.generation);
    }
    w.f32s(d.vectors.data());
    d.bm25.write_to(&mut w);
    match &d.hnsw {
        Some(h) => {
            w.u32(1);
            h.write_to(&mut w);
        }
        None => w.u32(0),
    }
    let payload = w.into_inner();
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&checksum(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    out
}

/// The derived indexes in `bytes` if they are intact and describe `generation` with
/// `dim`-dimensional vectors; `None` otherwise (the caller rebuilds from SQLite).
pub(crate) fn decode(bytes: &[u8], generation: u64, dim: usize) -> Option<Derived> {
    let rest = bytes.strip_prefix(MAGIC.as_slice())?;
    let (len, rest) = rest.split_at_checked(8)?;
    let (crc, payload) = rest.split_at_checked(4)?;
    if u64::from_le_bytes(len.try_into().ok()?) != payload.len() as u64
        || u32::from_le_bytes(crc.try_into().ok()?) != checksum(payload)
    {
        return None;
    }
    let mut r = Reader::new(payload);
    if r.u64()? != generation {
        return None;
    }
    let n = r.u32()? as usize;
    if r.u32()? as usize != dim {
        return None;
    }
    let text = std::str::from_utf8(r.bytes()?).ok()?.to_string();
    let mut ends = Vec::with_capacity(n.min(r.remaining() / 8));
    let mut prev = 0;
    for _ in 0..n {
        let e = r.u64()?;
        if e < prev || e > text.len() as u64 || !text.is_char_boundary(e as usize) {
            return None;
        }
        prev = e;
        ends.push(e);
    }
    let chunk_doc = (0..n).map(|_| r.u32()).collect::<Option<Vec<_>>>()?;
    let nd = r.u32()? as usize;
    let mut docs = Vec::with_capacity(nd.min(r.remaining() / 16));
    for _ in 0..nd {
        let id = String::from_utf8(r.bytes()?.to_vec()).ok()?;
        let metadata = serde_json::from_slice(r.bytes()?).ok()?;
        let generation = r.u64()?;
        docs.push(DocEntry {
            id,
            metadata,
            generation,
        });
    }
    if chunk_doc.iter().any(|&d| d as usize >= nd) || !docs.is_sorted_by(|a, b| a.id < b.id) {
        return None;
    }
    let vectors = FlatIndex::from_data(dim, r.f32s(n.checked_mul(dim)?)?);
    let bm25 = Bm25Index::read_from(&mut r)?;
    let hnsw = match r.u32()? {
        0 => None,
        1 => Some(Hnsw::read_from(&mut r)?),
        _ => return None,
    };
    if bm25.len() != n || hnsw.as_ref().is_some_and(|h| h.len() != n) || !r.is_at_end() {
        return None;
    }
    Some(Derived {
        generation,
        ids: ChunkIds { text, ends },
        chunk_doc,
        docs,
        vectors,
        bm25,
        hnsw,
    })
}

/// Reads `dir/derived.bin`; `None` when it is missing, damaged or of another generation.
pub(crate) fn load(dir: &Path, generation: u64, dim: usize) -> Option<Derived> {
    decode(&std::fs::read(dir.join(FILE)).ok()?, generation, dim)
}

/// Writes `dir/derived.bin` through a temporary file renamed into place, so a reader never
/// sees half a file (and the checksum catches one a crash left behind anyway).
pub(crate) fn save(dir: &Path, d: &Derived) -> std::io::Result<()> {
    let tmp = dir.join(format!(".{FILE}.{}.tmp", std::process::id()));
    let result =
        std::fs::write(&tmp, encode(d)).and_then(|()| std::fs::rename(&tmp, dir.join(FILE)));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
