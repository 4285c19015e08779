//! Helpers for running the real `cairn` binary in tests.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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

/// A running `cairn serve` on a free port, its stderr collected; killed on drop.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`, from its "listening on" line.
    pub base: String,
    log: Arc<Mutex<String>>,
}

impl Server {
    /// Runs `c` (a `cairn` command with its environment, folder and global flags) as
    /// `serve --port 0 ARGS`, and waits for the address it listens on.
    pub fn start(mut c: Command, args: &[&str]) -> Server {
        c.args(["serve", "--port", "0"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = c.spawn().expect("run cairn serve");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on ").nth(1) {
                    let _ = tx.send(rest.split(' ').next().unwrap_or("").to_string());
                }
                sink.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(base) => Server { child, base, log },
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "cairn serve {} did not start:\n{}",
                    args.join(" "),
                    log.lock().unwrap()
                )
            }
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Its stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    pub fn sigterm(&self) {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
    }

    pub fn wait(&mut self) -> ExitStatus {
        self.child.wait().unwrap()
    }

    /// SIGTERM, then the exit status.
    pub fn stop(&mut self) -> ExitStatus {
        self.sigterm();
        self.wait()
    }

    /// Its resident memory, from /proc.
    pub fn rss_kib(&self) -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        s.lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
