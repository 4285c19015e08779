//! Retrieval and grounded answers: the ingest pipeline that fills an index ([`Indexer`]), the
//! retrievers over it and fusion, and the ask pipeline ([`Asker`]) that turns a question into
//! an [`Answer`] with checked citations.

pub mod answer;
pub mod asker;
pub mod cite;
pub mod context;
pub mod fusion;
pub mod grade;
pub mod indexer;
pub mod prepare;
pub mod prompt;
pub mod rerank;
pub mod search;
pub mod select;
pub mod shared;
pub mod transform;
pub mod verify;

pub use answer::{Answer, AnswerEvent};
pub use asker::{AskError, Asker, RetrieverSource};
pub use fusion::reciprocal_rank_fusion;
pub use indexer::{
    Indexer, IngestError, IngestOptions, IngestProgress, IngestReport, NoProgress, Skipped,
};
pub use prepare::AskOptions;
pub use prompt::PromptStyle;
pub use search::{Retriever, SearchError, SearchMode, SearchOptions};
pub use shared::{SharedOptions, SharedRetriever};
