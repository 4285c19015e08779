//! A GGUF chat model on candle: loading (with re-quantisation of weight types candle has no
//! SIMD kernel for), the tokenizer rebuilt from the file's own metadata, and token-by-token
//! generation with streaming text.
//!
//! The chat template lives with the provider that speaks `ChatRequest`; this module takes a
//! rendered prompt and yields text.

use std::collections::HashMap;
use std::io::Cursor;
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use candle_core::quantized::{gguf_file, GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use candle_transformers::generation::{LogitsProcessor, Sampling};
use candle_transformers::models::quantized_llama::{self, MAX_SEQ_LEN};
use candle_transformers::models::quantized_qwen2;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, PreTokenizerWrapper, SplitDelimiterBehavior, Tokenizer};

#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    #[error("{path}: {problem}")]
    File { path: String, problem: String },
    #[error("{path}: unsupported GGUF model: {problem}")]
    Unsupported { path: String, problem: String },
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// The prompt leaves no room for output in the context window (see
    /// [`GgufChat::context_window`]): `prompt` tokens were given, at most `window - 1` fit.
    #[error(
        "prompt of {prompt} tokens does not fit the model's {window}-token context window \
         (prompt and output together; at most {} prompt tokens)",
        .window.saturating_sub(1)
    )]
    ContextTooLong { prompt: usize, window: usize },
    #[error("the prompt is empty: generation needs at least one prompt token")]
    EmptyPrompt,
    #[error("inference: {0}")]
    Inference(String),
}

impl cairn_core::Classify for GgufError {
    fn class(&self) -> cairn_core::ErrorClass {
        match self {
            GgufError::File { .. } | GgufError::Unsupported { .. } | GgufError::EmptyPrompt => {
                cairn_core::ErrorClass::InvalidInput
            }
            GgufError::ContextTooLong { .. } => cairn_core::ErrorClass::ContextTooLong,
            GgufError::Tokenizer(_) | GgufError::Inference(_) => cairn_core::ErrorClass::Internal,
        }
    }
}

impl From<candle_core::Error> for GgufError {
    fn from(e: candle_core::Error) -> Self {
        GgufError::Inference(e.to_string())
    }
}

/// What weight types to run with. candle's Q4_1 dot product is scalar (79% of decode time in a
/// profile); Q8_0 has AVX2 kernels and decodes ~3x faster for a 1.2 s conversion at load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requantize {
    /// Keep the file's types.
    AsShipped,
    /// Convert every tensor of a type without a fast kernel to Q8_0.
    Q8_0,
}

impl Requantize {
    /// `CAIRN_LOCAL_QUANT=as-shipped|q8_0`, default Q8_0.
    pub fn from_env() -> Self {
        match std::env::var("CAIRN_LOCAL_QUANT").ok().as_deref() {
            Some("as-shipped") | Some("asis") | Some("none") => Requantize::AsShipped,
            _ => Requantize::Q8_0,
        }
    }
}

/// Positions candle's `quantized_llama` can hold: its rotary tables have `MAX_SEQ_LEN` rows,
/// and a position past them fails inside candle however long the model's own context is.
pub const RUNTIME_MAX_POSITIONS: usize = MAX_SEQ_LEN;

/// Positions this runtime gives a Qwen2 model: candle's `quantized_qwen2` sizes its rotary
/// tables from the file's context length (32,768), but the KV cache grows with every position
/// and a CPU prefill of that much text takes minutes, so the window is capped here.
pub const QWEN2_MAX_POSITIONS: usize = 8192;

/// The GGUF architectures this runtime runs, each on candle's quantised model of that family.
enum Weights {
    /// Llama, SmolLM2, Mistral: interleaved rotary embedding, no attention biases.
    Llama(quantized_llama::ModelWeights),
    /// Qwen2 and Qwen2.5: biases on q/k/v, NeoX-style rotary embedding, tied embeddings.
    Qwen2(quantized_qwen2::ModelWeights),
}

impl Weights {
    fn from_gguf(
        architecture: &str,
        content: gguf_file::Content,
        reader: &mut Cursor<Vec<u8>>,
        dev: &Device,
    ) -> candle_core::Result<Self> {
        Ok(match architecture {
            "qwen2" => Weights::Qwen2(quantized_qwen2::ModelWeights::from_gguf(
                content, reader, dev,
            )?),
            _ => Weights::Llama(quantized_llama::ModelWeights::from_gguf(
                content, reader, dev,
            )?),
        })
    }

    fn forward(&mut self, x: &Tensor, index_pos: usize) -> candle_core::Result<Tensor> {
        match self {
            Weights::Llama(w) => w.forward(x, index_pos),
            Weights::Qwen2(w) => w.forward(x, index_pos),
        }
    }

    fn clear_kv_cache(&mut self) {
        match self {
            Weights::Llama(w) => w.clear_kv_cache(),
            Weights::Qwen2(w) => w.clear_kv_cache(),
        }
    }
}

/// Why generation stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The model emitted an end-of-turn token.
    EndOfTurn,
    /// `max_tokens` reached, or the context window is full (see [`GgufChat::context_window`]).
    Length,
    /// A stop string appeared (it is not emitted).
    StopString,
    /// The caller's callback asked to stop.
    Cancelled,
}

#[derive(Debug, Clone)]
pub struct GenerateParams {
    pub max_tokens: usize,
    /// 0 or `None` decodes greedily (reproducible answers by default).
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub seed: u64,
    pub stop: Vec<String>,
    /// Drop whitespace before the first visible text (chat models often open their turn with a
    /// newline), so stop strings such as `"\n["` end an answer rather than prevent it.
    pub trim_start: bool,
    /// llama.cpp's repetition penalty over the last `repeat_last_n` generated tokens (1.0 =
    /// off): greedy decoding of a 135M model loops on a phrase without it.
    pub repeat_penalty: f32,
    pub repeat_last_n: usize,
    /// Keep decoding past end-of-turn tokens (benchmarks decode a fixed count).
    pub ignore_eos: bool,
}

impl Default for GenerateParams {
    fn default() -> Self {
        GenerateParams {
            max_tokens: 512,
            temperature: None,
            top_p: None,
            seed: 299_792_458,
            stop: Vec::new(),
            trim_start: true,
            repeat_penalty: 1.1,
            repeat_last_n: 64,
            ignore_eos: false,
        }
    }
}

/// Token counts and timings of one generation.
#[derive(Debug, Clone, Copy)]
pub struct GenerateStats {
    pub prompt_tokens: usize,
    pub output_tokens: usize,
    pub prefill_secs: f64,
    pub decode_secs: f64,
    pub stop: Stop,
}

/// A loaded GGUF chat model. One generation runs at a time (the KV cache is inside).
pub struct GgufChat {
    weights: Mutex<Weights>,
    tokenizer: Tokenizer,
    end_of_turn: Vec<u32>,
    /// `<architecture>.context_length` from the file.
    context_length: usize,
    /// What this runtime can hold: `min(context_length, RUNTIME_MAX_POSITIONS)` (Qwen2:
    /// [`QWEN2_MAX_POSITIONS`]).
    window: usize,
    pub architecture: String,
    /// The weight types in use after loading, e.g. `Q8_0 (re-quantised from Q4_1)`.
    pub quantization: String,
    pub load_secs: f64,
}

impl GgufChat {
    pub fn load(path: &Path, requantize: Requantize) -> Result<Self, GgufError> {
        let started = Instant::now();
        let shown = path.display().to_string();
        let file_err = |problem: String| GgufError::File {
            path: shown.clone(),
            problem,
        };
        let bytes = std::fs::read(path).map_err(|e| file_err(e.to_string()))?;
        let mut reader = Cursor::new(bytes);
        let content = gguf_file::Content::read(&mut reader)
            .map_err(|e| file_err(format!("not a readable GGUF file ({e})")))?;
        let architecture = content
            .metadata
            .get("general.architecture")
            .and_then(|v| v.to_string().ok())
            .cloned()
            .unwrap_or_default();
        let runtime_max = match architecture.as_str() {
            "llama" => RUNTIME_MAX_POSITIONS,
            "qwen2" => QWEN2_MAX_POSITIONS,
            _ => {
                return Err(GgufError::Unsupported {
                    path: shown,
                    problem: format!(
                        "architecture {architecture:?}; cairn runs llama-architecture (SmolLM2, \
                         Llama, Mistral) and qwen2-architecture (Qwen2, Qwen2.5) GGUF models"
                    ),
                })
            }
        };
        let tokenizer = tokenizer_from_gguf(&content.metadata)?;
        let context_length = content
            .metadata
            .get(&format!("{architecture}.context_length"))
            .and_then(|v| v.to_u32().ok())
            .filter(|&n| n > 0)
            .unwrap_or(2048) as usize;
        let end_of_turn = end_of_turn_ids(&content.metadata, &tokenizer);

        let dev = Device::Cpu;
        let mut shipped: HashMap<String, usize> = HashMap::new();
        for info in content.tensor_infos.values() {
            *shipped.entry(format!("{:?}", info.ggml_dtype)).or_default() += 1;
        }
        let slow = |t: GgmlDType| {
            matches!(
                t,
                GgmlDType::Q4_1 | GgmlDType::Q5_0 | GgmlDType::Q5_1 | GgmlDType::Q8_1
            )
        };
        let needs = requantize == Requantize::Q8_0
            && content.tensor_infos.values().any(|i| slow(i.ggml_dtype));
        let weights = if needs {
            let mut names: Vec<&String> = content.tensor_infos.keys().collect();
            names.sort();
            let mut tensors: Vec<(String, QTensor)> = Vec::with_capacity(names.len());
            for name in names {
                let q = content.tensor(&mut reader, name, &dev)?;
                let cols = q.shape().dims().last().copied().unwrap_or(0);
                let q = if slow(q.dtype()) && cols % 32 == 0 {
                    QTensor::quantize(&q.dequantize(&dev)?, GgmlDType::Q8_0)?
                } else {
                    q
                };
                tensors.push((name.clone(), q));
            }
            let meta: Vec<(&str, &gguf_file::Value)> = content
                .metadata
                .iter()
                .map(|(k, v)| (k.as_str(), v))
                .collect();
            let refs: Vec<(&str, &QTensor)> =
                tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
            let mut out = Cursor::new(Vec::new());
            gguf_file::write(&mut out, &meta, &refs)?;
            drop(tensors);
            out.set_position(0);
            let converted = gguf_file::Content::read(&mut out)?;
            Weights::from_gguf(&architecture, converted, &mut out, &dev)?
        } else {
            Weights::from_gguf(&architecture, content, &mut reader, &dev)?
        };
        let mut types: Vec<String> = shipped.keys().cloned().collect();
        types.sort();
        let quantization = if needs {
            format!("Q8_0 (re-quantised at load from {})", types.join("+"))
        } else {
            types.join("+")
        };
        Ok(GgufChat {
            weights: Mutex::new(weights),
            tokenizer,
            end_of_turn,
            context_length,
            window: context_length.min(runtime_max),
            architecture,
            quantization,
            load_secs: started.elapsed().as_secs_f64(),
        })
    }

    /// `<architecture>.context_length` from the file's metadata: what the model was trained for. The
    /// runtime may hold less; budget with [`GgufChat::context_window`].
    pub fn context_length(&self) -> usize {
        self.context_length
    }

    /// Tokens of prompt and output together that one generation can hold: the smaller of the
    /// model's `llama.context_length` and [`RUNTIME_MAX_POSITIONS`] (SmolLM2-135M: 8192 and
    /// 4096, so 4096). A prompt of `window` tokens or more is refused with
    /// [`GgufError::ContextTooLong`]; output stops with [`Stop::Length`] when the window is full.
    pub fn context_window(&self) -> usize {
        self.window
    }

    /// Refuses a prompt that leaves no room for output.
    pub fn check_fits(&self, prompt_tokens: usize) -> Result<(), GgufError> {
        if prompt_tokens >= self.window {
            return Err(GgufError::ContextTooLong {
                prompt: prompt_tokens,
                window: self.window,
            });
        }
        Ok(())
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Tokens of a rendered prompt (special tokens such as `<|im_start|>` count as one).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, GgufError> {
        self.tokenizer
            .encode(text, false)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| GgufError::Tokenizer(e.to_string()))
    }

    /// Generates from a rendered prompt, calling `on_text` with each new piece of text (whole
    /// UTF-8 characters only). `on_text` returning `false` stops generation.
    pub fn generate(
        &self,
        prompt: &str,
        params: &GenerateParams,
        on_text: &mut dyn FnMut(&str) -> bool,
    ) -> Result<GenerateStats, GgufError> {
        let prompt_ids = self.encode(prompt)?;
        self.generate_ids(&prompt_ids, params, on_text)
    }

    /// [`GgufChat::generate`] from prompt tokens (from [`GgufChat::encode`]). A prompt that
    /// leaves no room for output is refused before any work; `max_tokens` is capped to what
    /// fits, so generation ends with [`Stop::Length`] when the window is full.
    pub fn generate_ids(
        &self,
        prompt_ids: &[u32],
        params: &GenerateParams,
        on_text: &mut dyn FnMut(&str) -> bool,
    ) -> Result<GenerateStats, GgufError> {
        if prompt_ids.is_empty() {
            return Err(GgufError::EmptyPrompt);
        }
        self.check_fits(prompt_ids.len())?;
        // Prompt and output share the window: the prefill takes positions 0..prompt, and the
        // last generated token is never fed back, so prompt + max_new <= window keeps every
        // position inside the rotary tables.
        let max_new = params.max_tokens.min(self.window - prompt_ids.len());
        let mut weights = self
            .weights
            .lock()
            .map_err(|_| GgufError::Inference("a previous generation panicked".into()))?;
        weights.clear_kv_cache();
        let sampling = match params.temperature {
            Some(t) if t > 0.0 => match params.top_p {
                Some(p) if p > 0.0 && p < 1.0 => Sampling::TopP { p, temperature: t },
                _ => Sampling::All { temperature: t },
            },
            _ => Sampling::ArgMax,
        };
        let mut sampler = LogitsProcessor::from_sampling(params.seed, sampling);
        let dev = Device::Cpu;

        let t0 = Instant::now();
        let input = Tensor::new(prompt_ids, &dev)?.unsqueeze(0)?;
        let logits = weights.forward(&input, 0)?.squeeze(0)?;
        let mut next = sampler.sample(&logits)?;
        let prefill_secs = t0.elapsed().as_secs_f64();

        let t1 = Instant::now();
        let mut out = TextStream::new(&self.tokenizer);
        let mut stop_scan = StopScan::new(&params.stop);
        let mut produced = 0usize;
        let mut started = false;
        let mut history: Vec<u32> = Vec::with_capacity(max_new);
        let mut stop = Stop::Length;
        while produced < max_new {
            if !params.ignore_eos && self.end_of_turn.contains(&next) {
                stop = Stop::EndOfTurn;
                break;
            }
            produced += 1;
            if let Some(mut piece) = out.push(next)? {
                if params.trim_start && !started {
                    piece = piece.trim_start().to_string();
                    started = !piece.is_empty();
                }
                let (emit, hit) = stop_scan.push(&piece);
                if !emit.is_empty() && !on_text(&emit) {
                    stop = Stop::Cancelled;
                    break;
                }
                if hit {
                    stop = Stop::StopString;
                    break;
                }
            }
            if produced == max_new {
                break;
            }
            history.push(next);
            let input = Tensor::new(&[next], &dev)?.unsqueeze(0)?;
            let mut logits = weights
                .forward(&input, prompt_ids.len() + produced - 1)?
                .squeeze(0)?;
            if params.repeat_penalty != 1.0 {
                let from = history.len().saturating_sub(params.repeat_last_n);
                logits = candle_transformers::utils::apply_repeat_penalty(
                    &logits,
                    params.repeat_penalty,
                    &history[from..],
                )?;
            }
            next = sampler.sample(&logits)?;
        }
        if !matches!(stop, Stop::Cancelled | Stop::StopString) {
            let rest = stop_scan.finish();
            if !rest.is_empty() {
                on_text(&rest);
            }
        }
        Ok(GenerateStats {
            prompt_tokens: prompt_ids.len(),
            output_tokens: produced,
            prefill_secs,
            decode_secs: t1.elapsed().as_secs_f64(),
            stop,
        })
    }
}

/// Turns token ids into text as it becomes whole: a byte-level token can end mid-character.
struct TextStream<'a> {
    tokenizer: &'a Tokenizer,
    ids: Vec<u32>,
    /// Start of the window decoded each step (keeps decoding O(window), not O(n)).
    prev: usize,
    /// Where the text already emitted ends, in `ids`.
    current: usize,
}

impl<'a> TextStream<'a> {
    fn new(tokenizer: &'a Tokenizer) -> Self {
        TextStream {
            tokenizer,
            ids: Vec::new(),
            prev: 0,
            current: 0,
        }
    }

    fn decode(&self, ids: &[u32]) -> Result<String, GgufError> {
        self.tokenizer
            .decode(ids, true)
            .map_err(|e| GgufError::Tokenizer(e.to_string()))
    }

    fn push(&mut self, id: u32) -> Result<Option<String>, GgufError> {
        let before = self.decode(&self.ids[self.prev..self.current])?;
        self.ids.push(id);
        let after = self.decode(&self.ids[self.prev..])?;
        if after.len() > before.len()
            && !after.ends_with('\u{FFFD}')
            && after.is_char_boundary(before.len())
        {
            let piece = after[before.len()..].to_string();
            self.prev = self.current;
            self.current = self.ids.len();
            Ok(Some(piece))
        } else {
            Ok(None)
        }
    }
}

/// Holds back text that could be the start of a stop string, so a stop string is never
/// emitted, even when it arrives split across tokens.
struct StopScan<'a> {
    stops: &'a [String],
    pending: String,
}

impl<'a> StopScan<'a> {
    fn new(stops: &'a [String]) -> Self {
        StopScan {
            stops,
            pending: String::new(),
        }
    }

    /// Text safe to emit now, and whether a stop string was found.
    fn push(&mut self, piece: &str) -> (String, bool) {
        if self.stops.is_empty() {
            return (piece.to_string(), false);
        }
        self.pending.push_str(piece);
        if let Some(at) = self
            .stops
            .iter()
            .filter(|s| !s.is_empty())
            .filter_map(|s| self.pending.find(s.as_str()))
            .min()
        {
            let emit = self.pending[..at].to_string();
            self.pending.clear();
            return (emit, true);
        }
        // Keep the longest suffix that is a prefix of some stop string.
        let mut keep = 0;
        for s in self.stops {
            for (i, _) in self.pending.char_indices() {
                let tail = &self.pending[i..];
                if s.starts_with(tail) {
                    keep = keep.max(tail.len());
                    break;
                }
            }
        }
        let cut = self.pending.len() - keep;
        let emit = self.pending[..cut].to_string();
        self.pending.drain(..cut);
        (emit, false)
    }

    fn finish(&mut self) -> String {
        std::mem::take(&mut self.pending)
    }
}

/// Token ids that end an assistant turn: the file's EOS plus the ChatML and Llama 3 end
/// markers when the vocabulary has them.
fn end_of_turn_ids(meta: &HashMap<String, gguf_file::Value>, tok: &Tokenizer) -> Vec<u32> {
    let mut ids: Vec<u32> = Vec::new();
    if let Some(id) = meta
        .get("tokenizer.ggml.eos_token_id")
        .and_then(|v| v.to_u32().ok())
    {
        ids.push(id);
    }
    for t in ["<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<end_of_turn>"] {
        if let Some(id) = tok.token_to_id(t) {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    ids
}

/// The tokenizer of a GGUF file, read from its metadata alone (no tensor is loaded).
pub fn tokenizer_from_file(path: &Path) -> Result<Tokenizer, GgufError> {
    let file_err = |problem: String| GgufError::File {
        path: path.display().to_string(),
        problem,
    };
    let mut file = std::fs::File::open(path).map_err(|e| file_err(e.to_string()))?;
    let content = gguf_file::Content::read(&mut file)
        .map_err(|e| file_err(format!("not a readable GGUF file ({e})")))?;
    tokenizer_from_gguf(&content.metadata)
}

/// The split pattern of Qwen2's pre-tokenizer, as its `tokenizer.json` and llama.cpp spell it.
const QWEN2_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Rebuilds a byte-level BPE tokenizer (GPT-2 style, as SmolLM2, Qwen2 and Llama 3 ship) from
/// GGUF metadata, with the pre-tokenizer `tokenizer.ggml.pre` names. SmolLM2's (`smollm`) is
/// not one the `tokenizers` crate knows: its `tokenizer.json` splits digits one by one, then
/// applies byte-level splitting without a prefix space, which is the default here. `qwen2` is
/// its own regex split (see [`QWEN2_SPLIT`]).
pub fn tokenizer_from_gguf(
    meta: &HashMap<String, gguf_file::Value>,
) -> Result<Tokenizer, GgufError> {
    let get = |k: &str| {
        meta.get(k)
            .ok_or_else(|| GgufError::Tokenizer(format!("GGUF metadata has no {k}")))
    };
    let model = get("tokenizer.ggml.model")?
        .to_string()
        .map_err(|e| GgufError::Tokenizer(e.to_string()))?;
    if model != "gpt2" {
        return Err(GgufError::Tokenizer(format!(
            "tokenizer type {model:?}; only byte-level BPE (gpt2) tokenizers are supported"
        )));
    }
    let strings = |k: &str| -> Result<Vec<String>, GgufError> {
        get(k)?
            .to_vec()
            .map_err(|e| GgufError::Tokenizer(e.to_string()))?
            .iter()
            .map(|v| {
                v.to_string()
                    .cloned()
                    .map_err(|e| GgufError::Tokenizer(e.to_string()))
            })
            .collect()
    };
    let tokens = strings("tokenizer.ggml.tokens")?;
    let merges: Vec<(String, String)> = strings("tokenizer.ggml.merges")?
        .into_iter()
        .filter_map(|m| {
            m.split_once(' ')
                .map(|(a, b)| (a.to_string(), b.to_string()))
        })
        .collect();
    let types: Vec<i64> = match meta.get("tokenizer.ggml.token_type") {
        Some(v) => v
            .to_vec()
            .map_err(|e| GgufError::Tokenizer(e.to_string()))?
            .iter()
            .map(|t| t.to_i32().map(i64::from).unwrap_or(1))
            .collect(),
        None => Vec::new(),
    };
    let vocab: tokenizers::models::bpe::Vocab = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), i as u32))
        .collect();
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .build()
        .map_err(|e| GgufError::Tokenizer(e.to_string()))?;
    let mut tok = Tokenizer::new(bpe);
    let pre_name = meta
        .get("tokenizer.ggml.pre")
        .and_then(|v| v.to_string().ok())
        .map(String::as_str)
        .unwrap_or("");
    let pre: Vec<PreTokenizerWrapper> = match pre_name {
        // Qwen2's `tokenizer.json` (and llama.cpp's `qwen2` pre-tokenizer): GPT-4's split
        // pattern with digits one by one, then byte-level mapping without its own regex.
        "qwen2" => vec![
            Split::new(
                SplitPattern::Regex(QWEN2_SPLIT.into()),
                SplitDelimiterBehavior::Isolated,
                false,
            )
            .map_err(|e| GgufError::Tokenizer(e.to_string()))?
            .into(),
            ByteLevel::new(false, false, false).into(),
        ],
        _ => vec![
            Digits::new(true).into(),
            ByteLevel::new(false, true, true).into(),
        ],
    };
    tok.with_pre_tokenizer(Some(Sequence::new(pre)));
    tok.with_decoder(Some(ByteLevel::new(false, true, true)));
    // Control tokens (type 3) and user-defined ones (type 4) are matched whole in the text.
    let special: Vec<AddedToken> = types
        .iter()
        .enumerate()
        .filter(|(_, t)| **t == 3 || **t == 4)
        .map(|(i, _)| AddedToken::from(tokens[i].clone(), true))
        .collect();
    tok.add_special_tokens(&special);
    Ok(tok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_strings_are_held_back_across_pieces_and_never_emitted() {
        let stops = vec!["</s>".to_string()];
        let mut s = StopScan::new(&stops);
        assert_eq!(s.push("Hello <"), ("Hello ".to_string(), false));
        assert_eq!(s.push("/"), (String::new(), false));
        assert_eq!(s.push("s> tail"), (String::new(), true));
        let mut s = StopScan::new(&stops);
        assert_eq!(s.push("a <b"), ("a <b".to_string(), false));
        assert_eq!(s.push(" <"), (" ".to_string(), false));
        assert_eq!(s.finish(), "<");
    }

    #[test]
    fn no_stop_strings_pass_text_through() {
        let mut s = StopScan::new(&[]);
        assert_eq!(s.push("abc"), ("abc".to_string(), false));
    }
}
