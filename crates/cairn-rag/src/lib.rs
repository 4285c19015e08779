//! Retrieval and grounded answers: the ingest pipeline that fills an index ([`Indexer`]), the
//! retrievers over it and fusion, and the ask pipeline ([`Asker`]) that turns a question into
//! an [`Answer`] with checked citations.
//!
//! The pieces between retrieval and the answer are pure functions you can use on their own:
//! fuse a dense and a BM25 ranking, then check a streamed answer's `[n]` citation markers:
//!
//! ```
//! use cairn_rag::{cite::CitationFilter, reciprocal_rank_fusion};
//!
//! let dense = [(7, 0.91), (3, 0.80)]; // (chunk, cosine)
//! let bm25 = [(3, 12.5), (9, 4.0)]; // (chunk, BM25)
//! let fused = reciprocal_rank_fusion(&[(1.0, &dense), (1.0, &bm25)], 60.0);
//! assert_eq!(fused.iter().map(|h| h.0).collect::<Vec<_>>(), [3, 7, 9]);
//!
//! let mut filter = CitationFilter::new(2); // two sources were given to the model
//! let mut shown = filter.push("Cairns mark trails [1]. They are old [");
//! shown += &filter.push("5].");
//! shown += &filter.finish();
//! assert_eq!((shown.as_str(), filter.removed), ("Cairns mark trails [1]. They are old.", 1));
//! ```

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
mod sink;
pub mod store_retriever;
pub mod store_search;
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
pub use store_retriever::StoreRetriever;
pub use store_search::{search_store, StoreSearchError};
