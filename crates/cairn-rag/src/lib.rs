//! Retrieval: the ingest pipeline that fills an index, the retrievers over it, and fusion.

pub mod answer;
pub mod cite;
pub mod context;
pub mod fusion;
pub mod grade;
pub mod indexer;
pub mod rerank;
pub mod search;
pub mod select;
pub mod transform;
pub mod verify;

pub use fusion::reciprocal_rank_fusion;
pub use indexer::{
    Indexer, IngestError, IngestOptions, IngestProgress, IngestReport, NoProgress, Skipped,
};
pub use search::{Retriever, SearchError, SearchMode, SearchOptions};
