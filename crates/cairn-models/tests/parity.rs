//! Embeddings equal sentence-transformers' for the same model: cosine ≥ 0.999 on every
//! reference sentence. The reference vectors were written once by
//! `bench/make_reference_embeddings.py`; this test only reads them.

use cairn_core::Embedder;
use cairn_models::{BertEmbedder, Resolver, MINILM_L6_V2};

fn embedder() -> BertEmbedder {
    let resolved = Resolver::from_env().resolve(&MINILM_L6_V2).expect("model");
    BertEmbedder::load(&resolved, &MINILM_L6_V2).expect("load")
}

fn reference() -> (Vec<String>, Vec<Vec<f32>>) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let sentences: Vec<String> = std::fs::read_to_string(dir.join("minilm_reference.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let raw = std::fs::read(dir.join("minilm_reference.f32")).unwrap();
    let flat: Vec<f32> = raw
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(flat.len(), sentences.len() * 384);
    (sentences, flat.chunks(384).map(|c| c.to_vec()).collect())
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

#[test]
fn matches_sentence_transformers_on_every_reference_sentence() {
    let (sentences, want) = reference();
    assert!(sentences.len() >= 250, "{} sentences", sentences.len());
    let e = embedder();
    let refs: Vec<&str> = sentences.iter().map(String::as_str).collect();
    let got = e.embed(&refs).unwrap();
    let mut worst = (1.0f32, String::new());
    for ((s, g), w) in sentences.iter().zip(&got).zip(&want) {
        let norm: f32 = g.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "not normalised: {norm}");
        let c = cosine(g, w);
        if c < worst.0 {
            worst = (c, s.clone());
        }
    }
    assert!(worst.0 >= 0.999, "cosine {} for {:?}", worst.0, worst.1);
}

#[test]
fn a_text_embeds_the_same_alone_or_in_a_padded_batch() {
    let e = embedder();
    let texts = [
        "short one",
        "a considerably longer sentence that forces padding of the short one in its batch",
    ];
    let batch = e.embed(&texts).unwrap();
    let alone = e.embed(&texts[..1]).unwrap();
    assert!(cosine(&batch[0], &alone[0]) > 0.99999);
    assert_eq!(e.dim(), 384);
    assert_eq!(e.max_tokens(), 256);
}
