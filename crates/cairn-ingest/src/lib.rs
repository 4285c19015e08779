//! Loaders (file kinds → `Document`s) and chunkers (`Document` → `Chunk`s).

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
