//! `cairn bench generate`: local generation speed (prompt prefill and decode tokens/s) on a
//! GGUF file, greedy, a fixed number of decoded tokens (EOS ignored). `bench/generate.sh`
//! runs llama.cpp on the same file, prompt and thread count, interleaved with this.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use cairn_models::{GenerateParams, GgufChat, Requantize};

#[derive(clap::Args)]
pub struct GenerateArgs {
    /// The GGUF file [default: SmolLM2-135M-Instruct Q4_1 through the resolver]
    #[arg(long)]
    model_file: Option<PathBuf>,
    /// A file holding the prompt (the same text goes to llama.cpp) [default: built in]
    #[arg(long)]
    prompt_file: Option<PathBuf>,
    /// Tokens to decode after the prompt
    #[arg(long, default_value_t = 128)]
    tokens: usize,
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Weights as shipped, or re-quantised to Q8_0 at load
    #[arg(long, value_enum, default_value = "q8-0")]
    quant: Quant,
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Quant {
    AsShipped,
    Q8_0,
}

/// A prompt of about 500 tokens: ChatML around the sample corpus's own prose.
pub const DEFAULT_PROMPT: &str = include_str!("../../../bench/generate_prompt.txt");

pub fn run(a: GenerateArgs) -> Result<ExitCode> {
    crate::search::check_count("--tokens", a.tokens, "the tokens to decode")?;
    crate::search::check_count("--runs", a.runs, "the number of runs")?;
    let path = match a.model_file {
        Some(p) => p,
        None => {
            let r = cairn_models::Resolver::from_env_with_dir_var(None);
            r.resolve(&cairn_models::SMOLLM2_135M_INSTRUCT)?
                .file(cairn_models::SMOLLM2_FILE)
        }
    };
    let prompt = match &a.prompt_file {
        Some(p) => {
            std::fs::read_to_string(p).with_context(|| format!("--prompt-file {}", p.display()))?
        }
        None => DEFAULT_PROMPT.to_string(),
    };
    let quant = match a.quant {
        Quant::AsShipped => Requantize::AsShipped,
        Quant::Q8_0 => Requantize::Q8_0,
    };
    let model = GgufChat::load(&path, quant).with_context(|| format!("{}", path.display()))?;
    let params = GenerateParams {
        max_tokens: a.tokens,
        ignore_eos: true,
        ..GenerateParams::default()
    };
    let threads = candle_core_threads();
    for run in 0..a.runs {
        let s = model.generate(&prompt, &params, &mut |_| true)?;
        let prefill = s.prompt_tokens as f64 / s.prefill_secs;
        // The first output token comes from the prefill pass.
        let decode = (s.output_tokens.saturating_sub(1)) as f64 / s.decode_secs;
        if a.json {
            println!(
                "{}",
                serde_json::json!({"engine": "cairn", "quant": model.quantization, "run": run,
                    "threads": threads, "load_s": model.load_secs,
                    "prompt_tokens": s.prompt_tokens, "output_tokens": s.output_tokens,
                    "prefill_tok_s": prefill, "decode_tok_s": decode})
            );
        } else {
            println!(
                "cairn ({}) run {run}: prefill {} tokens at {prefill:.0} tok/s, decode {} tokens at {decode:.1} tok/s (load {:.2} s, {threads} threads)",
                model.quantization, s.prompt_tokens, s.output_tokens, model.load_secs
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The threads candle's CPU kernels use (`RAYON_NUM_THREADS`, else every core).
fn candle_core_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}
