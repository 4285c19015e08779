//! A BERT-family sentence embedder: mean pooling over real tokens, L2-normalised, the same
//! computation sentence-transformers does for all-MiniLM-L6-v2.
//!
//! The encoder is written out by hand over `gemm` rather than run through a tensor library:
//! sequences are packed without padding (attention runs per sequence), bias, activation,
//! residual and layer norm are fused into single passes over each row, buffers are reused
//! across layers, and a batch is split across threads by sequence so both cores do whole
//! forward passes. On this model that is what it took to match PyTorch on the CPU
//! (see BENCHMARKS.md); a generic tensor graph spent most of its time outside matmuls.

use crate::math::{add_bias_residual_layer_norm, bias_gelu, layer_norm_row, softmax_row};
use crate::resolver::ResolvedModel;
use crate::specs::ModelSpec;
use cairn_core::{EmbedError, Embedder};
use rayon::prelude::*;
use serde::Deserialize;
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

#[derive(Debug, Clone, Deserialize)]
struct Config {
    hidden_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    intermediate_size: usize,
    #[serde(default = "default_eps")]
    layer_norm_eps: f32,
    max_position_embeddings: usize,
    #[serde(default = "default_act")]
    hidden_act: String,
}

fn default_eps() -> f32 {
    1e-12
}
fn default_act() -> String {
    "gelu".into()
}

/// A linear layer in PyTorch's layout: `weight` is `[out, in]` row-major.
struct Linear {
    weight: Vec<f32>,
    bias: Vec<f32>,
    inp: usize,
    out: usize,
}

struct Layer {
    /// Query, key and value stacked into one `[3h, h]` projection.
    qkv: Linear,
    attn_out: Linear,
    ln1: (Vec<f32>, Vec<f32>),
    up: Linear,
    down: Linear,
    ln2: (Vec<f32>, Vec<f32>),
}

struct Weights {
    word: Vec<f32>,
    position: Vec<f32>,
    token_type: Vec<f32>,
    emb_ln: (Vec<f32>, Vec<f32>),
    layers: Vec<Layer>,
}

/// A read-only strided matrix: element (r, c) is `data[r * rs + c * cs]`.
#[derive(Clone, Copy)]
struct View<'a> {
    data: &'a [f32],
    rs: usize,
    cs: usize,
}

impl<'a> View<'a> {
    fn rows(data: &'a [f32], rs: usize) -> Self {
        View { data, rs, cs: 1 }
    }
    /// The transpose of a row-major matrix with row stride `rs`.
    fn transposed(data: &'a [f32], rs: usize) -> Self {
        View {
            data,
            rs: 1,
            cs: rs,
        }
    }
    /// Elements an `r × c` view reaches, which must lie inside `data`.
    fn check(&self, r: usize, c: usize) {
        let reach = if r == 0 || c == 0 {
            0
        } else {
            (r - 1) * self.rs + (c - 1) * self.cs + 1
        };
        assert!(reach <= self.data.len(), "matrix view out of bounds");
    }
}

/// `dst[m × n] (row stride dst_rs) = scale · a[m × k] · b[k × n]`, single-threaded: callers
/// parallelise by batch. Bounds are checked before the unchecked kernel runs.
fn gemm_into(
    dst: &mut [f32],
    dst_rs: usize,
    (m, n, k): (usize, usize, usize),
    a: View,
    b: View,
    scale: f32,
) {
    a.check(m, k);
    b.check(k, n);
    View::rows(dst, dst_rs).check(m, n);
    // SAFETY: the three checks above keep every element the kernel touches inside its slice,
    // and `dst` is borrowed mutably, so it aliases neither input.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_rs as isize,
            false,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            0.0,
            scale,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// `dst[t, out] = x[t, in] · Wᵀ` (no bias) for a PyTorch-layout `[out, in]` weight.
fn linear(dst: &mut [f32], x: &[f32], rows: usize, l: &Linear) {
    let x = View::rows(x, l.inp);
    gemm_into(
        dst,
        l.out,
        (rows, l.out, l.inp),
        x,
        View::transposed(&l.weight, l.inp),
        1.0,
    );
}

pub struct BertEmbedder {
    cfg: Config,
    w: Weights,
    tokenizer: Tokenizer,
    dim: usize,
    max_tokens: usize,
    batch_size: usize,
    model_id: String,
}

impl BertEmbedder {
    /// Loads config, tokenizer and weights from a resolved model folder.
    pub fn load(model: &ResolvedModel, spec: &ModelSpec) -> Result<Self, BertError> {
        let err = |file: &str, message: String| BertError::Load {
            file: model.file(file).display().to_string(),
            message,
        };
        let cfg_text = std::fs::read_to_string(model.file("config.json"))
            .map_err(|e| err("config.json", e.to_string()))?;
        let cfg: Config =
            serde_json::from_str(&cfg_text).map_err(|e| err("config.json", e.to_string()))?;
        if cfg.hidden_act != "gelu" {
            return Err(err(
                "config.json",
                format!("hidden_act {} is not supported (only gelu)", cfg.hidden_act),
            ));
        }
        if !cfg.hidden_size.is_multiple_of(cfg.num_attention_heads) {
            return Err(err(
                "config.json",
                "hidden_size is not a multiple of num_attention_heads".into(),
            ));
        }
        let mut tokenizer = Tokenizer::from_file(model.file("tokenizer.json"))
            .map_err(|e| err("tokenizer.json", e.to_string()))?;
        // The packaged tokenizer pads and truncates at 128; sentence-transformers reads up to
        // max_seq_len, and we never pad at all.
        tokenizer.with_padding(None);
        let max_tokens = spec.max_seq_len.min(cfg.max_position_embeddings);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_tokens,
                ..Default::default()
            }))
            .map_err(|e| err("tokenizer.json", e.to_string()))?;
        let bytes = std::fs::read(model.file("model.safetensors"))
            .map_err(|e| err("model.safetensors", e.to_string()))?;
        let w = load_weights(&bytes, &cfg).map_err(|m| err("model.safetensors", m))?;
        Ok(BertEmbedder {
            dim: cfg.hidden_size,
            cfg,
            w,
            tokenizer,
            max_tokens,
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

    /// Runs the encoder over packed sequences and returns one pooled, normalised vector each.
    fn forward(&self, seqs: &[&[u32]]) -> Vec<Vec<f32>> {
        let h = self.cfg.hidden_size;
        let x = self.hidden(seqs, None);
        // Mean pooling over each sequence's tokens, then L2 normalisation.
        let mut out = Vec::with_capacity(seqs.len());
        let mut start = 0;
        for s in seqs {
            let mut v = vec![0f32; h];
            for r in x[start * h..(start + s.len()) * h].chunks_exact(h) {
                for (a, b) in v.iter_mut().zip(r) {
                    *a += b;
                }
            }
            let n = s.len().max(1) as f32;
            v.iter_mut().for_each(|a| *a /= n);
            let norm = v.iter().map(|a| a * a).sum::<f32>().sqrt().max(1e-12);
            v.iter_mut().for_each(|a| *a /= norm);
            out.push(v);
            start += s.len();
        }
        out
    }

    pub(crate) fn hidden_size(&self) -> usize {
        self.cfg.hidden_size
    }

    pub(crate) fn vocab_size(&self) -> usize {
        self.w.word.len() / self.cfg.hidden_size
    }

    /// The last hidden states of packed sequences, row after row (`Σ len × hidden`).
    /// `types` are the segment ids of sentence pairs (all 0 when `None`).
    pub(crate) fn hidden(&self, seqs: &[&[u32]], types: Option<&[&[u32]]>) -> Vec<f32> {
        let h = self.cfg.hidden_size;
        let heads = self.cfg.num_attention_heads;
        let hd = h / heads;
        let inter = self.cfg.intermediate_size;
        let eps = self.cfg.layer_norm_eps;
        let total: usize = seqs.iter().map(|s| s.len()).sum();
        let max_len = seqs.iter().map(|s| s.len()).max().unwrap_or(0);
        let w = &self.w;

        // Embeddings: word + position + token type, then layer norm.
        let mut x = vec![0f32; total * h];
        let mut row = 0;
        let type_rows = w.token_type.len() / h;
        for (si, s) in seqs.iter().enumerate() {
            for (p, &id) in s.iter().enumerate() {
                let dst = &mut x[row * h..(row + 1) * h];
                let word = &w.word[id as usize * h..(id as usize + 1) * h];
                let pos = &w.position[p * h..(p + 1) * h];
                let t = types
                    .and_then(|t| t[si].get(p))
                    .map_or(0, |&t| (t as usize).min(type_rows - 1));
                let tt = &w.token_type[t * h..(t + 1) * h];
                for i in 0..h {
                    dst[i] = word[i] + pos[i] + tt[i];
                }
                layer_norm_row(dst, &w.emb_ln.0, &w.emb_ln.1, eps);
                row += 1;
            }
        }

        let mut qkv = vec![0f32; total * 3 * h];
        let mut ctx = vec![0f32; total * h];
        let mut tmp = vec![0f32; total * h];
        let mut up = vec![0f32; total * inter];
        let mut scores = vec![0f32; max_len * max_len];
        let scale = 1.0 / (hd as f32).sqrt();
        for layer in &w.layers {
            linear(&mut qkv, &x, total, &layer.qkv);
            for r in qkv.chunks_exact_mut(3 * h) {
                for (v, b) in r.iter_mut().zip(&layer.qkv.bias) {
                    *v += b;
                }
            }
            // Attention, sequence by sequence and head by head: no padding, no mask.
            let mut start = 0;
            for s in seqs {
                let len = s.len();
                let block = &qkv[start * 3 * h..(start + len) * 3 * h];
                for head in 0..heads {
                    let q = &block[head * hd..];
                    let k = &block[h + head * hd..];
                    let v = &block[2 * h + head * hd..];
                    let sc = &mut scores[..len * len];
                    let (qv, kt) = (View::rows(q, 3 * h), View::transposed(k, 3 * h));
                    gemm_into(sc, len, (len, len, hd), qv, kt, scale);
                    sc.chunks_exact_mut(len).for_each(softmax_row);
                    let out = &mut ctx[start * h + head * hd..];
                    let (p, vv) = (View::rows(sc, len), View::rows(v, 3 * h));
                    gemm_into(out, h, (len, hd, len), p, vv, 1.0);
                }
                start += len;
            }
            linear(&mut tmp, &ctx, total, &layer.attn_out);
            add_bias_residual_layer_norm(
                &mut tmp,
                &x,
                &layer.attn_out.bias,
                &layer.ln1.0,
                &layer.ln1.1,
                eps,
            );
            std::mem::swap(&mut x, &mut tmp);
            linear(&mut up, &x, total, &layer.up);
            bias_gelu(&mut up, &layer.up.bias);
            linear(&mut tmp, &up, total, &layer.down);
            add_bias_residual_layer_norm(
                &mut tmp,
                &x,
                &layer.down.bias,
                &layer.ln2.0,
                &layer.ln2.1,
                eps,
            );
            std::mem::swap(&mut x, &mut tmp);
        }
        x
    }
}

fn load_weights(bytes: &[u8], cfg: &Config) -> Result<Weights, String> {
    let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| e.to_string())?;
    let get = |name: &str, shape: &[usize]| -> Result<Vec<f32>, String> {
        // Some exports prefix every name with the architecture.
        let t = st
            .tensor(name)
            .or_else(|_| st.tensor(&format!("bert.{name}")))
            .map_err(|_| format!("tensor {name} is missing"))?;
        if t.dtype() != safetensors::Dtype::F32 {
            return Err(format!("tensor {name} is {:?}, expected F32", t.dtype()));
        }
        if t.shape() != shape {
            return Err(format!(
                "tensor {name} has shape {:?}, expected {shape:?}",
                t.shape()
            ));
        }
        Ok(t.data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect())
    };
    let h = cfg.hidden_size;
    let i = cfg.intermediate_size;
    let linear = |prefix: &str, out: usize, inp: usize| -> Result<Linear, String> {
        Ok(Linear {
            weight: get(&format!("{prefix}.weight"), &[out, inp])?,
            bias: get(&format!("{prefix}.bias"), &[out])?,
            inp,
            out,
        })
    };
    let ln = |prefix: &str| -> Result<(Vec<f32>, Vec<f32>), String> {
        Ok((
            get(&format!("{prefix}.weight"), &[h])?,
            get(&format!("{prefix}.bias"), &[h])?,
        ))
    };
    let vocab = st
        .tensor("embeddings.word_embeddings.weight")
        .or_else(|_| st.tensor("bert.embeddings.word_embeddings.weight"))
        .map_err(|_| "tensor embeddings.word_embeddings.weight is missing".to_string())?
        .shape()[0];
    let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
    for l in 0..cfg.num_hidden_layers {
        let p = format!("encoder.layer.{l}");
        let q = linear(&format!("{p}.attention.self.query"), h, h)?;
        let k = linear(&format!("{p}.attention.self.key"), h, h)?;
        let v = linear(&format!("{p}.attention.self.value"), h, h)?;
        let qkv = Linear {
            weight: [q.weight, k.weight, v.weight].concat(),
            bias: [q.bias, k.bias, v.bias].concat(),
            inp: h,
            out: 3 * h,
        };
        layers.push(Layer {
            qkv,
            attn_out: linear(&format!("{p}.attention.output.dense"), h, h)?,
            ln1: ln(&format!("{p}.attention.output.LayerNorm"))?,
            up: linear(&format!("{p}.intermediate.dense"), i, h)?,
            down: linear(&format!("{p}.output.dense"), h, i)?,
            ln2: ln(&format!("{p}.output.LayerNorm"))?,
        });
    }
    Ok(Weights {
        word: get("embeddings.word_embeddings.weight", &[vocab, h])?,
        position: get(
            "embeddings.position_embeddings.weight",
            &[cfg.max_position_embeddings, h],
        )?,
        token_type: get("embeddings.token_type_embeddings.weight", &[2, h])
            .or_else(|_| get("embeddings.token_type_embeddings.weight", &[1, h]))?,
        emb_ln: ln("embeddings.LayerNorm")?,
        layers,
    })
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
        let vocab = self.w.word.len() / self.dim;
        if let Some(bad) = encodings
            .iter()
            .flat_map(|e| e.get_ids())
            .find(|&&id| id as usize >= vocab)
        {
            return Err(EmbedError::Model(format!(
                "token id {bad} is outside the model's vocabulary of {vocab}"
            )));
        }
        // Sequences of similar length share a batch, so work per thread is even; batches run
        // in parallel, one whole forward pass per thread.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(encodings[i].get_ids().len()));
        let batches: Vec<&[usize]> = order.chunks(self.batch_size).collect();
        let results: Vec<Vec<Vec<f32>>> = batches
            .par_iter()
            .map(|group| {
                let ids: Vec<&[u32]> = group.iter().map(|&i| encodings[i].get_ids()).collect();
                self.forward(&ids)
            })
            .collect();
        let mut out = vec![Vec::new(); texts.len()];
        for (group, vecs) in batches.iter().zip(results) {
            for (&i, v) in group.iter().zip(vecs) {
                out[i] = v;
            }
        }
        Ok(out)
    }
}
