//! A BERT-family sentence embedder on candle: mean pooling over real tokens, L2-normalised,
//! the same computation sentence-transformers does for all-MiniLM-L6-v2.

use crate::resolver::ResolvedModel;
use crate::specs::ModelSpec;
use cairn_core::{EmbedError, Embedder};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{Tokenizer, TruncationParams};

#[derive(Debug, thiserror::Error)]
pub enum BertError {
    #[error("{file}: {message}")]
    Load { file: String, message: String },
}

impl cairn_core::Classify for BertError {
    fn class(&self) -> cairn_core::ErrorClass {
        cairn_core::ErrorClass::InvalidInput
    }
}

pub struct BertEmbedder {
    model: BertModel,
    tokenizer: Tokenizer,
    device: Device,
    dim: usize,
    max_tokens: usize,
    batch_size: usize,
    model_id: String,
}

impl BertEmbedder {
    /// Loads config, tokenizer and weights from a resolved model folder.
    pub fn load(model: &ResolvedModel, spec: &ModelSpec) -> Result<Self, BertError> {
        let load_err = |file: &str, message: String| BertError::Load {
            file: model.file(file).display().to_string(),
            message,
        };
        let cfg_text = std::fs::read_to_string(model.file("config.json"))
            .map_err(|e| load_err("config.json", e.to_string()))?;
        let config: Config =
            serde_json::from_str(&cfg_text).map_err(|e| load_err("config.json", e.to_string()))?;
        let dim: usize = serde_json::from_str::<serde_json::Value>(&cfg_text)
            .ok()
            .and_then(|v| v["hidden_size"].as_u64())
            .unwrap_or(384) as usize;
        let mut tokenizer = Tokenizer::from_file(model.file("tokenizer.json"))
            .map_err(|e| load_err("tokenizer.json", e.to_string()))?;
        // The packaged tokenizer pads and truncates at 128; sentence-transformers reads up to
        // max_seq_len and pads per batch. We pad ourselves after sorting by length.
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: spec.max_seq_len,
                ..Default::default()
            }))
            .map_err(|e| load_err("tokenizer.json", e.to_string()))?;
        let device = Device::Cpu;
        let weights = model.file("model.safetensors");
        // SAFETY: the file was just verified against its pinned sha256 and is not modified
        // while mapped (the cache is only replaced by rename).
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[&weights], DType::F32, &device) }
            .map_err(|e| load_err("model.safetensors", e.to_string()))?;
        let bert = BertModel::load(vb, &config)
            .map_err(|e| load_err("model.safetensors", e.to_string()))?;
        Ok(BertEmbedder {
            model: bert,
            tokenizer,
            device,
            dim,
            max_tokens: spec.max_seq_len,
            batch_size: 32,
            model_id: spec.name.to_string(),
        })
    }

    pub fn with_batch_size(mut self, n: usize) -> Self {
        self.batch_size = n.max(1);
        self
    }

    /// The tokenizer, for token counting with the same vocabulary.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    fn embed_batch(&self, ids: &[&[u32]]) -> candle_core::Result<Vec<Vec<f32>>> {
        let len = ids.iter().map(|i| i.len()).max().unwrap_or(0).max(1);
        let n = ids.len();
        let mut flat = vec![0u32; n * len];
        let mut mask = vec![0f32; n * len];
        for (r, row) in ids.iter().enumerate() {
            flat[r * len..r * len + row.len()].copy_from_slice(row);
            mask[r * len..r * len + row.len()].fill(1.0);
        }
        let input = Tensor::from_vec(flat, (n, len), &self.device)?;
        let mask_t = Tensor::from_vec(mask, (n, len), &self.device)?;
        let types = input.zeros_like()?;
        let mask_u = mask_t.to_dtype(DType::U32)?;
        let hidden = self.model.forward(&input, &types, Some(&mask_u))?; // (n, len, dim)
        let m = mask_t.unsqueeze(2)?; // (n, len, 1)
        let summed = hidden.broadcast_mul(&m)?.sum(1)?; // (n, dim)
        let counts = m.sum(1)?.clamp(1e-9, f64::MAX)?; // (n, 1)
        let mean = summed.broadcast_div(&counts)?;
        let norm = mean.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
        mean.broadcast_div(&norm)?.to_vec2::<f32>()
    }
}

impl Embedder for BertEmbedder {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| EmbedError::Tokenize(e.to_string()))?;
        // Sorting by length keeps padding (wasted compute) small within each batch.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| encodings[i].get_ids().len());
        let mut out = vec![Vec::new(); texts.len()];
        for group in order.chunks(self.batch_size) {
            let ids: Vec<&[u32]> = group.iter().map(|&i| encodings[i].get_ids()).collect();
            let vecs = self
                .embed_batch(&ids)
                .map_err(|e| EmbedError::Model(e.to_string()))?;
            for (&i, v) in group.iter().zip(vecs) {
                out[i] = v;
            }
        }
        Ok(out)
    }
}
