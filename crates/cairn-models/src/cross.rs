//! A BERT-family cross-encoder: the query and a passage are read together as a sentence pair
//! and a classification head scores how well the passage answers the query (the
//! `BertForSequenceClassification` layout of `cross-encoder/ms-marco-MiniLM-L-6-v2`).
//!
//! It shares the hand-written encoder with the embedder; only the head differs: the `[CLS]`
//! row through the pooler (dense + tanh) and the classifier. Scores are what
//! sentence-transformers' `CrossEncoder.predict` returns by default: the sigmoid of a single
//! logit, or the probability of the last label for two-label heads.

use crate::bert::{BertEmbedder, BertError};
use crate::resolver::ResolvedModel;
use crate::specs::ModelSpec;
use rayon::prelude::*;

/// A tensor's values and shape.
type Tensor = (Vec<f32>, Vec<usize>);

/// A dense layer in PyTorch's `[out, in]` layout.
struct Dense {
    weight: Vec<f32>,
    bias: Vec<f32>,
    out: usize,
}

impl Dense {
    fn apply(&self, x: &[f32]) -> Vec<f32> {
        let inp = x.len();
        (0..self.out)
            .map(|o| {
                let row = &self.weight[o * inp..(o + 1) * inp];
                row.iter().zip(x).map(|(a, b)| a * b).sum::<f32>() + self.bias[o]
            })
            .collect()
    }
}

pub struct BertCrossEncoder {
    encoder: BertEmbedder,
    pooler: Option<Dense>,
    classifier: Dense,
    name: String,
    batch_size: usize,
}

impl BertCrossEncoder {
    pub fn load(model: &ResolvedModel, spec: &ModelSpec) -> Result<Self, BertError> {
        let encoder = BertEmbedder::load(model, spec)?;
        let file = model.file("model.safetensors");
        let err = |message: String| BertError::Load {
            file: file.display().to_string(),
            message,
        };
        let bytes = std::fs::read(&file).map_err(|e| err(e.to_string()))?;
        let st = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| err(e.to_string()))?;
        let h = encoder.hidden_size();
        let get = |names: &[&str]| -> Result<Option<Tensor>, BertError> {
            for n in names {
                if let Ok(t) = st.tensor(n) {
                    if t.dtype() != safetensors::Dtype::F32 {
                        return Err(err(format!("tensor {n} is {:?}, expected F32", t.dtype())));
                    }
                    let v = t
                        .data()
                        .chunks_exact(4)
                        .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
                        .collect();
                    return Ok(Some((v, t.shape().to_vec())));
                }
            }
            Ok(None)
        };
        let dense = |w: &[&str], b: &[&str]| -> Result<Option<Dense>, BertError> {
            match (get(w)?, get(b)?) {
                (Some((weight, ws)), Some((bias, bs))) => {
                    if ws.len() != 2 || ws[1] != h || bs != [ws[0]] {
                        return Err(err(format!(
                            "tensor {} has shape {ws:?}, expected [labels, {h}]",
                            w[0]
                        )));
                    }
                    Ok(Some(Dense {
                        weight,
                        bias,
                        out: ws[0],
                    }))
                }
                _ => Ok(None),
            }
        };
        let pooler = dense(
            &["bert.pooler.dense.weight", "pooler.dense.weight"],
            &["bert.pooler.dense.bias", "pooler.dense.bias"],
        )?;
        let classifier = dense(&["classifier.weight"], &["classifier.bias"])?.ok_or_else(|| {
            err(
                "no classifier.weight / classifier.bias: not a BERT cross-encoder \
                 (BertForSequenceClassification); sentence embedders cannot rerank"
                    .into(),
            )
        })?;
        Ok(BertCrossEncoder {
            encoder,
            pooler,
            classifier,
            name: spec.name.to_string(),
            batch_size: 16,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// One relevance score in [0, 1] per passage, in the order given.
    pub fn score(&self, query: &str, passages: &[&str]) -> Result<Vec<f32>, BertError> {
        let tok = self.encoder.tokenizer();
        let pairs: Vec<(String, String)> = passages
            .iter()
            .map(|p| (query.to_string(), p.to_string()))
            .collect();
        let enc = tok.encode_batch(pairs, true).map_err(|e| BertError::Load {
            file: "tokenizer.json".into(),
            message: e.to_string(),
        })?;
        let vocab = self.encoder.vocab_size();
        if enc
            .iter()
            .flat_map(|e| e.get_ids())
            .any(|&id| id as usize >= vocab)
        {
            return Err(BertError::Load {
                file: "tokenizer.json".into(),
                message: format!("a token id is outside the model's vocabulary of {vocab}"),
            });
        }
        let h = self.encoder.hidden_size();
        let idx: Vec<usize> = (0..enc.len()).collect();
        let scores: Vec<Vec<f32>> = idx
            .par_chunks(self.batch_size)
            .map(|group| {
                let ids: Vec<&[u32]> = group.iter().map(|&i| enc[i].get_ids()).collect();
                let types: Vec<&[u32]> = group.iter().map(|&i| enc[i].get_type_ids()).collect();
                let x = self.encoder.hidden(&ids, Some(&types));
                let mut start = 0;
                let mut out = Vec::with_capacity(group.len());
                for s in &ids {
                    let cls = &x[start * h..(start + 1) * h];
                    let pooled = match &self.pooler {
                        Some(p) => p.apply(cls).into_iter().map(f32::tanh).collect(),
                        None => cls.to_vec(),
                    };
                    out.push(head_score(&self.classifier.apply(&pooled)));
                    start += s.len();
                }
                out
            })
            .collect();
        Ok(scores.into_iter().flatten().collect())
    }
}

/// Sigmoid of one logit; for several labels, the softmax probability of the last one.
fn head_score(logits: &[f32]) -> f32 {
    match logits {
        [z] => 1.0 / (1.0 + (-z).exp()),
        _ => {
            let m = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let sum: f32 = logits.iter().map(|z| (z - m).exp()).sum();
            (logits.last().copied().unwrap_or(0.0) - m).exp() / sum
        }
    }
}

#[cfg(test)]
mod tests {
    use super::head_score;

    #[test]
    fn head_scores_match_sentence_transformers_defaults() {
        assert!((head_score(&[0.0]) - 0.5).abs() < 1e-6);
        assert!((head_score(&[2.0]) - 0.880_797).abs() < 1e-5);
        assert!((head_score(&[1.0, 1.0]) - 0.5).abs() < 1e-6);
        assert!((head_score(&[0.0, 2.0]) - 0.880_797).abs() < 1e-5);
    }
}
