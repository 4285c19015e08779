//! The local cross-encoder on a tiny randomly initialised BERT the test builds (no packaged
//! cross-encoder weights exist here): its scores must equal an independent implementation,
//! candle-transformers' `BertModel` on the same weights with the pooler and classifier applied
//! by hand, for sentence pairs whose segment ids matter.

use std::path::Path;

use cairn_models::{BertCrossEncoder, ModelSpec, ResolvedModel, Source};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::Tokenizer;

const H: usize = 16;
const LAYERS: usize = 2;
const HEADS: usize = 4;
const INTER: usize = 32;
const MAX_POS: usize = 64;
const WORDS: &[&str] = &[
    "[PAD]",
    "[CLS]",
    "[SEP]",
    "[UNK]",
    "what",
    "causes",
    "rain",
    "clouds",
    "cool",
    "water",
    "vapour",
    "condenses",
    "into",
    "drops",
    "the",
    "cat",
    "sat",
    "on",
    "mat",
    "sun",
    "is",
    "a",
    "star",
    ".",
    "?",
];

/// A reproducible pseudo-random stream (no rand dependency needed).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.8
    }
}

fn build_model(dir: &Path) {
    let vocab: tokenizers::models::bpe::Vocab = WORDS
        .iter()
        .enumerate()
        .map(|(i, w)| (w.to_string(), i as u32))
        .collect();
    let wp = WordPiece::builder()
        .vocab(vocab)
        .unk_token("[UNK]".into())
        .build()
        .unwrap();
    let mut tok = Tokenizer::new(wp);
    tok.with_normalizer(Some(BertNormalizer::default()));
    tok.with_pre_tokenizer(Some(BertPreTokenizer));
    tok.with_post_processor(Some(
        TemplateProcessing::builder()
            .try_single("[CLS] $A [SEP]")
            .unwrap()
            .try_pair("[CLS] $A [SEP] $B:1 [SEP]:1")
            .unwrap()
            .special_tokens(vec![("[CLS]", 1), ("[SEP]", 2)])
            .build()
            .unwrap(),
    ));
    tok.save(dir.join("tokenizer.json"), false).unwrap();

    let config = serde_json::json!({
        "architectures": ["BertForSequenceClassification"],
        "model_type": "bert",
        "vocab_size": WORDS.len(),
        "hidden_size": H,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS,
        "intermediate_size": INTER,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "max_position_embeddings": MAX_POS,
        "type_vocab_size": 2,
        "initializer_range": 0.02,
        "layer_norm_eps": 1e-12,
        "pad_token_id": 0,
        "num_labels": 1
    });
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();

    let mut rng = Lcg(7);
    let mut tensors: Vec<(String, Vec<usize>)> = vec![
        (
            "embeddings.word_embeddings.weight".into(),
            vec![WORDS.len(), H],
        ),
        (
            "embeddings.position_embeddings.weight".into(),
            vec![MAX_POS, H],
        ),
        ("embeddings.token_type_embeddings.weight".into(), vec![2, H]),
        ("embeddings.LayerNorm.weight".into(), vec![H]),
        ("embeddings.LayerNorm.bias".into(), vec![H]),
        ("pooler.dense.weight".into(), vec![H, H]),
        ("pooler.dense.bias".into(), vec![H]),
        ("classifier.weight".into(), vec![1, H]),
        ("classifier.bias".into(), vec![1]),
    ];
    for l in 0..LAYERS {
        let p = format!("encoder.layer.{l}");
        for (n, shape) in [
            ("attention.self.query", vec![H, H]),
            ("attention.self.key", vec![H, H]),
            ("attention.self.value", vec![H, H]),
            ("attention.output.dense", vec![H, H]),
            ("intermediate.dense", vec![INTER, H]),
            ("output.dense", vec![H, INTER]),
        ] {
            let out = shape[0];
            tensors.push((format!("{p}.{n}.weight"), shape));
            tensors.push((format!("{p}.{n}.bias"), vec![out]));
        }
        for n in ["attention.output.LayerNorm", "output.LayerNorm"] {
            tensors.push((format!("{p}.{n}.weight"), vec![H]));
            tensors.push((format!("{p}.{n}.bias"), vec![H]));
        }
    }
    let data: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .into_iter()
        .map(|(name, shape)| {
            let n: usize = shape.iter().product();
            let is_ln_weight = name.ends_with("LayerNorm.weight");
            let bytes = (0..n)
                .flat_map(|_| {
                    let v = rng.next();
                    let v = if is_ln_weight { 1.0 + v * 0.2 } else { v };
                    v.to_le_bytes()
                })
                .collect();
            (name, shape, bytes)
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = data
        .iter()
        .map(|(n, s, b)| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b)
                    .unwrap(),
            )
        })
        .collect();
    let bytes = safetensors::serialize(views, None).unwrap();
    std::fs::write(dir.join("model.safetensors"), bytes).unwrap();
}

/// The local reranker's spec (unpinned config, tokenizer and weights) under a test name.
const SPEC: ModelSpec = ModelSpec {
    name: "tiny-cross-encoder",
    parts: &[],
    max_seq_len: 64,
    ..cairn_models::MS_MARCO_MINILM_L6_V2
};

/// candle-transformers' BERT plus the head, computed with candle ops.
fn reference_scores(dir: &Path, query: &str, docs: &[&str]) -> Vec<f32> {
    let dev = Device::Cpu;
    let cfg: candle_transformers::models::bert::Config =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    let vb = VarBuilder::from_buffered_safetensors(bytes, DType::F32, &dev).unwrap();
    let bert = candle_transformers::models::bert::BertModel::load(vb.clone(), &cfg).unwrap();
    let pw = vb.get((H, H), "pooler.dense.weight").unwrap();
    let pb = vb.get(H, "pooler.dense.bias").unwrap();
    let cw = vb.get((1, H), "classifier.weight").unwrap();
    let cb = vb.get(1, "classifier.bias").unwrap();
    let tok = Tokenizer::from_file(dir.join("tokenizer.json")).unwrap();
    docs.iter()
        .map(|d| {
            let e = tok.encode((query, *d), true).unwrap();
            let ids = Tensor::new(e.get_ids(), &dev)
                .unwrap()
                .unsqueeze(0)
                .unwrap();
            let types = Tensor::new(e.get_type_ids(), &dev)
                .unwrap()
                .unsqueeze(0)
                .unwrap();
            let out = bert.forward(&ids, &types, None).unwrap();
            let cls = out.get(0).unwrap().get(0).unwrap().unsqueeze(1).unwrap(); // [H, 1]
            let pooled = (pw.matmul(&cls).unwrap().squeeze(1).unwrap() + &pb)
                .unwrap()
                .tanh()
                .unwrap();
            let logit = (cw
                .matmul(&pooled.unsqueeze(1).unwrap())
                .unwrap()
                .squeeze(1)
                .unwrap()
                + &cb)
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()[0];
            1.0 / (1.0 + (-logit).exp())
        })
        .collect()
}

#[test]
fn scores_equal_candle_bert_with_the_classification_head() {
    let dir = tempfile::tempdir().unwrap();
    build_model(dir.path());
    let resolved = ResolvedModel {
        dir: dir.path().to_path_buf(),
        source: Source::ExplicitDir,
    };
    let model = BertCrossEncoder::load(&resolved, &SPEC).unwrap();
    let query = "what causes rain?";
    let docs = [
        "clouds cool and water vapour condenses into drops.",
        "the cat sat on the mat.",
        "the sun is a star.",
        "rain",
        "what causes rain?",
    ];
    let got = model.score(query, &docs).unwrap();
    let want = reference_scores(dir.path(), query, &docs);
    assert_eq!(got.len(), docs.len());
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!(
            (g - w).abs() < 1e-4,
            "passage {i}: got {g}, candle says {w}"
        );
        assert!((0.0..=1.0).contains(g));
    }
    // Random weights still give distinct scores per passage, so the order is meaningful.
    let mut distinct = got.clone();
    distinct.sort_by(f32::total_cmp);
    distinct.dedup_by(|a, b| (*a - *b).abs() < 1e-6);
    assert_eq!(distinct.len(), docs.len(), "{got:?}");
    // Segment ids matter: the same two texts as (query, passage) and swapped score differently.
    let swapped = model.score(docs[0], &[query]).unwrap()[0];
    assert!((swapped - got[0]).abs() > 1e-5, "{swapped} vs {}", got[0]);
}

#[test]
fn an_embedder_without_a_classifier_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    build_model(dir.path());
    // Rewrite the weights without the head.
    let bytes = std::fs::read(dir.path().join("model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let kept: Vec<(String, safetensors::tensor::TensorView)> = st
        .tensors()
        .into_iter()
        .filter(|(n, _)| !n.starts_with("classifier"))
        .collect();
    let out = safetensors::serialize(kept, None).unwrap();
    std::fs::write(dir.path().join("model.safetensors"), out).unwrap();
    let resolved = ResolvedModel {
        dir: dir.path().to_path_buf(),
        source: Source::ExplicitDir,
    };
    let err = BertCrossEncoder::load(&resolved, &SPEC)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("classifier.weight"), "{err}");
    assert!(err.contains("model.safetensors"), "{err}");
}
