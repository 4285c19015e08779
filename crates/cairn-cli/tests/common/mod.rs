//! Helpers for running the real `cairn` binary in tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn cairn() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cairn"));
    c.env_remove("CAIRN_INDEX")
        .env_remove("CAIRN_CONFIG")
        .env_remove("CAIRN_STORE");
    c
}

/// Every variable that configures a language model: tests remove them all, then set what
/// they mean to use, so the developer's own keys never leak into a test.
pub const PROVIDER_VARS: &[&str] = &[
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "GOOGLE_GEMINI_BASE_URL",
    "OLLAMA_HOST",
    "OLLAMA_API_KEY",
    "CAIRN_LLM_MODEL",
];

/// `cairn` with no language model configured (see [`PROVIDER_VARS`]).
pub fn cairn_no_provider() -> Command {
    let mut c = cairn();
    for v in PROVIDER_VARS {
        c.env_remove(v);
    }
    c
}

/// Runs cairn with `args`, returning (exit code, stdout, stderr).
pub fn run(args: &[&str]) -> (i32, String, String) {
    let out: Output = cairn().args(args).output().expect("run cairn");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

pub fn samples() -> PathBuf {
    repo_root().join("samples/corpus")
}

/// The BEIR SciFact copy beside the checkout (or `CAIRN_SCIFACT_DIR`). Tests that need it fail
/// loudly when it is missing rather than skip.
pub fn scifact() -> PathBuf {
    let dir = std::env::var_os("CAIRN_SCIFACT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared/data/beir/scifact"));
    assert!(
        dir.join("corpus.jsonl").is_file(),
        "SciFact not found at {} (set CAIRN_SCIFACT_DIR)",
        dir.display()
    );
    dir
}

pub fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

/// Ingests `src` into `index` quietly (with `extra` flags), asserting success.
pub fn ingest(src: &Path, index: &Path, extra: &[&str]) {
    let mut args = vec![
        "ingest",
        src.to_str().unwrap(),
        "--index",
        index.to_str().unwrap(),
        "-q",
    ];
    args.extend_from_slice(extra);
    let (code, _, err) = run(&args);
    assert_eq!(code, 0, "{err}");
}

/// The test venv's Python: beside `CAIRN_LLMOCK` (which `scripts/test` sets), else in the
/// cache's venv.
pub fn python() -> PathBuf {
    if let Some(llmock) = std::env::var_os("CAIRN_LLMOCK") {
        return Path::new(&llmock).with_file_name("python");
    }
    let cache = std::env::var_os("CAIRN_CACHE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()))
                .join(".cache/cairn")
        });
    cache.join("venv/bin/python")
}

/// Runs the parity script on a qrels file, a run and cairn's JSON report; returns its output.
pub fn parity(qrels: &Path, run: &Path, report: &Path) -> String {
    let script = repo_root().join("crates/cairn-cli/tests/python/pytrec_parity.py");
    let o = Command::new(python())
        .arg(&script)
        .args([qrels, run, report])
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e} (scripts/test makes the venv with pytrec_eval-terrier)",
                python().display()
            )
        });
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let err = String::from_utf8_lossy(&o.stderr);
    eprintln!("{out}{err}");
    assert!(o.status.success(), "pytrec_parity.py failed:\n{out}\n{err}");
    assert!(out.contains("parity: every value within 1e-06"), "{out}");
    out
}
