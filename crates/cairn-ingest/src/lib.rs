//! Loaders (file kinds → `Document`s) and chunkers (`Document` → `Chunk`s).

pub mod chunk;
pub mod load;
pub mod markdown;
pub mod office;
pub mod records;
pub mod walk;

pub use chunk::{ChunkError, Chunker, ChunkerConfig, Strategy, CHUNKER_VERSION};
pub use load::{kind_for_path, load_file, LoadError, Loaded, LoaderOptions};
pub use walk::{walk, WalkEntry};
