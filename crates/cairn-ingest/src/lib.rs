//! Loaders (file kinds → `Document`s) and chunkers (`Document` → `Chunk`s).
//!
//! A [`Chunker`] cuts a document into chunks sized in the embedding model's tokens; markdown
//! is cut section by section, and each chunk keeps the headings it sits under:
//!
//! ```
//! use std::sync::Arc;
//! use cairn_core::{Document, Metadata, TokenCounter};
//! use cairn_ingest::{Chunker, ChunkerConfig, Strategy};
//!
//! struct Words; // a stand-in for the model's tokenizer
//! impl TokenCounter for Words {
//!     fn count_tokens(&self, text: &str) -> usize { text.split_whitespace().count() }
//! }
//! let config = ChunkerConfig { max_tokens: 64, overlap: 0, strategy: Strategy::Recursive };
//! let chunker = Chunker::new(Arc::new(Words), config, 512).unwrap();
//! let text = "# Trails\n\n## Marking\n\nCairns mark the way.\n\n## Safety\n\nCarry water.\n";
//! let doc = Document { id: "guide.md".into(), source: "guide.md".into(), title: None,
//!     kind: "markdown".into(), text: text.into(), metadata: Metadata::new() };
//! let chunks = chunker.chunk(&doc);
//! let paths: Vec<String> = chunks.iter().map(|c| c.heading_path.join(" › ")).collect();
//! assert_eq!(paths, ["Trails", "Trails › Marking", "Trails › Safety"]);
//! let last = chunks.last().unwrap();
//! assert_eq!(last.context, "Trails › Safety"); // indexed and embedded with the text
//! assert_eq!(&doc.text[last.start..last.end], last.text);
//! ```

pub mod chunk;
pub mod html;
pub mod ids;
pub mod jsonl;
pub mod load;
pub mod markdown;
pub mod office;
mod read;
pub mod records;
pub mod walk;
pub mod window;

pub use chunk::{ChunkError, Chunker, ChunkerConfig, Strategy, CHUNKER_VERSION};
pub use ids::FileKey;
pub use load::{
    kind_for_path, load_bytes, load_file, load_file_as, LoadError, Loaded, LoaderOptions, Names,
};
pub use walk::{walk, walk_with, WalkEntry, WalkOptions};
