//! The system of record: SQLite in WAL mode. One transaction per ingest batch, each bumping
//! the generation, so a crash leaves the last committed batch and a rerun resumes from there.

use crate::error::StoreError;
use cairn_core::{Chunk, Document, Metadata};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

const SCHEMA_VERSION: &str = "2";

/// What an index was built with; a query must use the same embedding model.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexInfo {
    pub model: String,
    pub dim: usize,
    pub generation: u64,
    pub documents: u64,
    pub chunks: u64,
}

/// One document to (re)write with its chunks and their vectors.
pub struct DocWrite {
    pub doc: Document,
    /// The file the document came from; `--prune` removes documents whose origin is gone.
    pub origin: String,
    /// Content hash: unchanged documents are skipped on the next run.
    pub hash: String,
    pub chunks: Vec<(Chunk, Vec<f32>)>,
}

/// A document row, without its chunks.
#[derive(Debug, Clone)]
pub struct StoredDoc {
    pub id: String,
    pub origin: String,
    pub source: String,
    pub title: Option<String>,
    pub kind: String,
    pub metadata: Metadata,
}

/// How a reader's SQLite connection is opened. Readers never write SQLite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadMode {
    /// `mode=ro`: read-only, and sees each batch a writer commits.
    ReadOnly,
    /// `mode=ro&immutable=1`: the folder cannot be written, so SQLite cannot create the `-shm`
    /// file WAL readers coordinate through. The file is read without locks and nothing is
    /// written; a writer with other permissions is not seen until the index is reopened.
    Immutable,
}

pub struct Index {
    pub(crate) dir: PathBuf,
    pub(crate) conn: Connection,
    /// `None` for the writer.
    read_mode: Option<ReadMode>,
    /// Held while this handle may write; released on drop.
    _lock: Option<File>,
}

fn vec_to_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub(crate) fn blob_to_vec(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

impl Index {
    pub(crate) fn sql_err(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |source| StoreError::Sqlite {
            path: self.db_path(),
            source,
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.join("index.sqlite")
    }

    /// Opens (creating if needed) an index for writing with the given embedding model.
    /// Takes the index's writer lock: one writer at a time, any number of readers.
    pub fn open_for_write(dir: &Path, model: &str, dim: usize) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Io {
            path: dir.to_path_buf(),
            message: format!("cannot create the index folder: {e}"),
        })?;
        let lock_path = dir.join("writer.lock");
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| StoreError::Io {
                path: lock_path.clone(),
                message: e.to_string(),
            })?;
        if lock.try_lock().is_err() {
            return Err(StoreError::Locked {
                path: dir.to_path_buf(),
                lock: lock_path,
            });
        }
        let mut idx = Self::connect(dir, Some(lock))?;
        idx.init_schema()?;
        if let Some(v) = idx.meta("schema_version")? {
            if v != SCHEMA_VERSION {
                return Err(StoreError::Corrupt {
                    path: dir.to_path_buf(),
                    message: format!(
                        "it uses index format {v}, this cairn writes format {SCHEMA_VERSION}; \
                         delete the folder and ingest again"
                    ),
                });
            }
        }
        match idx.meta("model")? {
            Some(found) if found != model => {
                return Err(StoreError::ModelMismatch {
                    path: dir.to_path_buf(),
                    found,
                    wanted: model.to_string(),
                })
            }
            Some(_) => {}
            None => {
                let tx = idx
                    .conn
                    .transaction()
                    .map_err(|source| StoreError::Sqlite {
                        path: dir.join("index.sqlite"),
                        source,
                    })?;
                for (k, v) in [
                    ("model", model.to_string()),
                    ("dim", dim.to_string()),
                    ("schema_version", SCHEMA_VERSION.to_string()),
                    ("generation", "0".to_string()),
                ] {
                    tx.execute(
                        "INSERT OR REPLACE INTO meta(key, value) VALUES (?1, ?2)",
                        params![k, v],
                    )
                    .map_err(|source| StoreError::Sqlite {
                        path: dir.join("index.sqlite"),
                        source,
                    })?;
                }
                tx.commit().map_err(|source| StoreError::Sqlite {
                    path: dir.join("index.sqlite"),
                    source,
                })?;
            }
        }
        Ok(idx)
    }

    /// Opens an existing index for reading. The connection is read-only (`mode=ro`), so a
    /// reader never writes SQLite. In a folder this process cannot write (where SQLite cannot
    /// create its `-shm` file) it falls back to `immutable=1`, unless `index.sqlite-wal` holds
    /// changes that only a writable open can read.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let path = dir.join("index.sqlite");
        if !path.is_file() {
            return Err(StoreError::Missing(dir.to_path_buf()));
        }
        let idx = match Self::connect_read(dir, ReadMode::ReadOnly) {
            Ok(idx) => idx,
            Err(StoreError::Sqlite { source, .. }) if needs_immutable(&source) => {
                let wal = dir.join("index.sqlite-wal");
                if std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0) {
                    return Err(StoreError::Io {
                        path: dir.to_path_buf(),
                        message: format!(
                            "{} holds changes not yet merged into index.sqlite, and SQLite \
                             cannot read them here ({source}); open the index once for writing \
                             where its folder is writable (an ingest merges them), or copy the \
                             folder somewhere writable",
                            wal.display()
                        ),
                    });
                }
                Self::connect_read(dir, ReadMode::Immutable)?
            }
            Err(e) => return Err(e),
        };
        Ok(idx)
    }

    /// How this handle reads (`None` for the writer).
    pub fn read_mode(&self) -> Option<ReadMode> {
        self.read_mode
    }

    /// Opens one more reader connection in a given mode (the pool's later connections).
    pub(crate) fn connect_read(dir: &Path, mode: ReadMode) -> Result<Self, StoreError> {
        let path = dir.join("index.sqlite");
        let uri = sqlite_uri(&path, mode == ReadMode::Immutable);
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn =
            Connection::open_with_flags(&uri, flags).map_err(|source| StoreError::Sqlite {
                path: path.clone(),
                source,
            })?;
        let idx = Index {
            dir: dir.to_path_buf(),
            conn,
            read_mode: Some(mode),
            _lock: None,
        };
        idx.conn
            .busy_timeout(std::time::Duration::from_secs(30))
            .map_err(idx.sql_err())?;
        // The first read is where SQLite opens the WAL and its -shm file.
        if idx.meta("model")?.is_none() {
            return Err(StoreError::Missing(dir.to_path_buf()));
        }
        Ok(idx)
    }

    fn connect(dir: &Path, lock: Option<File>) -> Result<Self, StoreError> {
        let path = dir.join("index.sqlite");
        let conn = Connection::open(&path).map_err(|source| StoreError::Sqlite {
            path: path.clone(),
            source,
        })?;
        let idx = Index {
            dir: dir.to_path_buf(),
            conn,
            read_mode: None,
            _lock: lock,
        };
        idx.conn
            .busy_timeout(std::time::Duration::from_secs(30))
            .map_err(idx.sql_err())?;
        idx.conn
            .execute_batch(
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
            )
            .map_err(idx.sql_err())?;
        Ok(idx)
    }

    fn init_schema(&self) -> Result<(), StoreError> {
        self.conn
            .execute_batch(
                "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
                 CREATE TABLE IF NOT EXISTS documents(
                    id TEXT PRIMARY KEY,
                    origin TEXT NOT NULL,
                    source TEXT NOT NULL,
                    title TEXT,
                    kind TEXT NOT NULL,
                    hash TEXT NOT NULL,
                    metadata TEXT NOT NULL,
                    generation INTEGER NOT NULL);
                 CREATE INDEX IF NOT EXISTS documents_origin ON documents(origin);
                 CREATE TABLE IF NOT EXISTS chunks(
                    pk INTEGER PRIMARY KEY,
                    id TEXT NOT NULL UNIQUE,
                    doc_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
                    ordinal INTEGER NOT NULL,
                    text TEXT NOT NULL,
                    start INTEGER NOT NULL,
                    end INTEGER NOT NULL,
                    heading_path TEXT NOT NULL,
                    context TEXT NOT NULL,
                    vector BLOB NOT NULL);
                 CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id);",
            )
            .map_err(self.sql_err())
    }

    pub(crate) fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(self.sql_err())
    }

    pub fn generation(&self) -> Result<u64, StoreError> {
        Ok(self
            .meta("generation")?
            .and_then(|g| g.parse().ok())
            .unwrap_or(0))
    }

    pub fn info(&self) -> Result<IndexInfo, StoreError> {
        let count = |sql: &str| -> Result<u64, StoreError> {
            self.conn
                .query_row(sql, [], |r| r.get::<_, i64>(0))
                .map(|n| n as u64)
                .map_err(self.sql_err())
        };
        Ok(IndexInfo {
            model: self.meta("model")?.unwrap_or_default(),
            dim: self.meta("dim")?.and_then(|d| d.parse().ok()).unwrap_or(0),
            generation: self.generation()?,
            documents: count("SELECT COUNT(*) FROM documents")?,
            chunks: count("SELECT COUNT(*) FROM chunks")?,
        })
    }

    /// Content hash of every stored document, to skip unchanged ones.
    pub fn doc_hashes(&self) -> Result<HashMap<String, String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, hash FROM documents")
            .map_err(self.sql_err())?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(self.sql_err())?;
        rows.collect::<Result<_, _>>().map_err(self.sql_err())
    }

    /// Document ids grouped by the file they came from.
    pub fn docs_by_origin(&self) -> Result<HashMap<String, Vec<String>>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT origin, id FROM documents")
            .map_err(self.sql_err())?;
        let mut out: HashMap<String, Vec<String>> = HashMap::new();
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(self.sql_err())?;
        for row in rows {
            let (o, id) = row.map_err(self.sql_err())?;
            out.entry(o).or_default().push(id);
        }
        Ok(out)
    }

    /// Writes a batch in one transaction: each document replaces its old chunks, `delete`
    /// removes documents. Returns the new generation.
    pub fn write_batch(
        &mut self,
        batch: &[DocWrite],
        delete: &[String],
    ) -> Result<u64, StoreError> {
        let path = self.db_path();
        let err = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(err)?;
        {
            let mut del_chunks = tx
                .prepare_cached("DELETE FROM chunks WHERE doc_id = ?1")
                .map_err(err)?;
            let mut del_doc = tx
                .prepare_cached("DELETE FROM documents WHERE id = ?1")
                .map_err(err)?;
            for id in delete {
                del_chunks.execute([id]).map_err(err)?;
                del_doc.execute([id]).map_err(err)?;
            }
            let generation: u64 = tx
                .query_row("SELECT value FROM meta WHERE key='generation'", [], |r| {
                    r.get::<_, String>(0)
                })
                .map_err(err)?
                .parse()
                .unwrap_or(0)
                + 1;
            let mut put_doc = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO documents(id, origin, source, title, kind, hash, metadata, generation)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .map_err(err)?;
            let mut put_chunk = tx
                .prepare_cached(
                    "INSERT INTO chunks(id, doc_id, ordinal, text, start, end, heading_path, context, vector)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )
                .map_err(err)?;
            for w in batch {
                del_chunks.execute([&w.doc.id]).map_err(err)?;
                put_doc
                    .execute(params![
                        w.doc.id,
                        w.origin,
                        w.doc.source,
                        w.doc.title,
                        w.doc.kind,
                        w.hash,
                        serde_json::Value::Object(w.doc.metadata.clone()).to_string(),
                        generation as i64,
                    ])
                    .map_err(err)?;
                for (c, v) in &w.chunks {
                    put_chunk
                        .execute(params![
                            c.id,
                            c.doc_id,
                            c.ordinal,
                            c.text,
                            c.start as i64,
                            c.end as i64,
                            serde_json::to_string(&c.heading_path).unwrap_or_default(),
                            c.context,
                            vec_to_blob(v),
                        ])
                        .map_err(err)?;
                }
            }
            tx.execute(
                "UPDATE meta SET value = ?1 WHERE key = 'generation'",
                [generation.to_string()],
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)?;
        self.generation()
    }

    /// Every document with its hash, origin and chunk count, in id order.
    pub fn entries(&self) -> Result<Vec<cairn_core::DocumentEntry>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT d.id, d.hash, d.origin, (SELECT COUNT(*) FROM chunks c WHERE c.doc_id = d.id) \
                 FROM documents d ORDER BY d.id",
            )
            .map_err(self.sql_err())?;
        let rows = stmt
            .query_map([], |r| {
                let hash: String = r.get(1)?;
                Ok(cairn_core::DocumentEntry {
                    id: r.get(0)?,
                    content_hash: (!hash.is_empty()).then_some(hash),
                    origin: Some(r.get(2)?),
                    chunks: r.get::<_, i64>(3)? as usize,
                })
            })
            .map_err(self.sql_err())?;
        rows.collect::<Result<_, _>>().map_err(self.sql_err())
    }

    /// Up to `limit` whole documents after the id `after`, in id order, read in one
    /// transaction so a concurrent commit cannot split a document. The document's full text
    /// is not kept (its chunks are): it reads back empty.
    pub fn scan(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<cairn_core::DocumentUpsert>, StoreError> {
        let path = self.db_path();
        let err = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.unchecked_transaction().map_err(err)?;
        let mut docs = Vec::new();
        {
            let mut stmt = tx
                .prepare_cached(
                    "SELECT id, origin, source, title, kind, metadata, hash FROM documents \
                     WHERE ?1 IS NULL OR id > ?1 ORDER BY id LIMIT ?2",
                )
                .map_err(err)?;
            let rows = stmt
                .query_map(params![after, limit as i64], |r| {
                    let hash: String = r.get(6)?;
                    Ok((row_to_doc(r)?, hash))
                })
                .map_err(err)?;
            for row in rows {
                docs.push(row.map_err(err)?);
            }
        }
        let mut out = Vec::with_capacity(docs.len());
        {
            let mut stmt = tx
                .prepare_cached(
                    "SELECT id, ordinal, text, start, end, heading_path, context, vector \
                     FROM chunks WHERE doc_id = ?1 ORDER BY ordinal, id",
                )
                .map_err(err)?;
            for (d, hash) in docs {
                let rows = stmt
                    .query_map([&d.id], |r| {
                        let heading: String = r.get(5)?;
                        let blob: Vec<u8> = r.get(7)?;
                        Ok(cairn_core::ChunkVector {
                            chunk: Chunk {
                                id: r.get(0)?,
                                doc_id: d.id.clone(),
                                ordinal: r.get(1)?,
                                text: r.get(2)?,
                                start: r.get::<_, i64>(3)? as usize,
                                end: r.get::<_, i64>(4)? as usize,
                                heading_path: serde_json::from_str(&heading).unwrap_or_default(),
                                context: r.get(6)?,
                                metadata: d.metadata.clone(),
                            },
                            vector: blob_to_vec(&blob),
                        })
                    })
                    .map_err(err)?;
                let chunks = rows.collect::<Result<Vec<_>, _>>().map_err(err)?;
                out.push(cairn_core::DocumentUpsert {
                    document: Document {
                        id: d.id,
                        source: d.source,
                        title: d.title,
                        kind: d.kind,
                        text: String::new(),
                        metadata: d.metadata,
                    },
                    chunks,
                    content_hash: (!hash.is_empty()).then_some(hash),
                    origin: Some(d.origin),
                });
            }
        }
        tx.commit().map_err(err)?;
        Ok(out)
    }

    /// Loads one document row.
    pub fn document(&self, id: &str) -> Result<Option<StoredDoc>, StoreError> {
        self.conn
            .query_row(
                "SELECT id, origin, source, title, kind, metadata FROM documents WHERE id = ?1",
                [id],
                row_to_doc,
            )
            .optional()
            .map_err(self.sql_err())
    }
}

/// A read-only open failed because SQLite could not create or open what a WAL reader needs
/// (the folder or the `-shm` file is not writable).
fn needs_immutable(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::ReadOnly | rusqlite::ErrorCode::CannotOpen)
    )
}

/// A `file:` URI for `path` with the read-only parameters; `%`, `?`, `#` and bytes outside
/// printable ASCII are percent-encoded.
fn sqlite_uri(path: &Path, immutable: bool) -> String {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    #[cfg(unix)]
    let bytes = std::os::unix::ffi::OsStrExt::as_bytes(abs.as_os_str()).to_vec();
    #[cfg(not(unix))]
    let bytes = abs.to_string_lossy().replace('\\', "/").into_bytes();
    let mut uri = String::from("file://");
    #[cfg(not(unix))]
    uri.push('/');
    for b in bytes {
        match b {
            b'%' | b'?' | b'#' | 0..=0x20 | 0x7f.. => uri.push_str(&format!("%{b:02X}")),
            _ => uri.push(b as char),
        }
    }
    uri.push_str(if immutable {
        "?mode=ro&immutable=1"
    } else {
        "?mode=ro"
    });
    uri
}

fn row_to_doc(r: &rusqlite::Row) -> rusqlite::Result<StoredDoc> {
    let meta: String = r.get(5)?;
    Ok(StoredDoc {
        id: r.get(0)?,
        origin: r.get(1)?,
        source: r.get(2)?,
        title: r.get(3)?,
        kind: r.get(4)?,
        metadata: serde_json::from_str(&meta).unwrap_or_default(),
    })
}
