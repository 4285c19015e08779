use cairn_core::{Classify, ErrorClass};
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("index {path}: {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("index {path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error("no index at {0} (create one with `cairn ingest PATH --index {0}`)")]
    Missing(PathBuf),
    #[error("index {path} was built with {found}, but {wanted} was requested; use another --index or re-ingest")]
    ModelMismatch {
        path: PathBuf,
        found: String,
        wanted: String,
    },
    #[error("index {path} is being written by another process (lock file {lock}); wait for it to finish")]
    Locked { path: PathBuf, lock: PathBuf },
    #[error("index {path}: corrupt data: {message}")]
    Corrupt { path: PathBuf, message: String },
    #[error(
        "index {path} changed since this searcher loaded generation {opened} (it is at \
         generation {now} now): chunk {chunk} was removed or rewritten; call `refresh()` on \
         the searcher and search again"
    )]
    Changed {
        path: PathBuf,
        opened: u64,
        now: u64,
        chunk: String,
    },
    #[error("chunk position {pos} is out of range: this searcher holds {len} chunks (positions come from its own results)")]
    Position { pos: u32, len: usize },
}

impl Classify for StoreError {
    fn class(&self) -> ErrorClass {
        match self {
            StoreError::Missing(_) => ErrorClass::NotFound,
            StoreError::ModelMismatch { .. } => ErrorClass::InvalidInput,
            StoreError::Locked { .. } | StoreError::Changed { .. } => ErrorClass::Transient,
            StoreError::Position { .. } => ErrorClass::InvalidInput,
            _ => ErrorClass::Internal,
        }
    }
}
