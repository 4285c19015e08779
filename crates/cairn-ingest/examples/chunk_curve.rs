//! How load + chunk time grows with the input: single-line text, ordinary prose, markdown,
//! one huge JSONL record, flat and deeply nested HTML, at the sizes given (MB).
//!
//! ```text
//! cargo run --release -p cairn-ingest --example chunk_curve -- 1 10 100
//! cargo run --release -p cairn-ingest --example chunk_curve -- --baseline 0.1 0.2 0.4
//! cargo run --release -p cairn-ingest --example chunk_curve -- --only=JSONL 1 10 100
//! ```
//!
//! Tokens are counted by the MiniLM tokenizer from the model cache (`cairn models fetch`),
//! or the `tokenizer.json` named by `CAIRN_TOKENIZER`. `--baseline` runs text-splitter the
//! way the chunker did before it was made linear (an exact token count of every candidate,
//! the whole text at once), to show the quadratic curve it replaced. Timings on a busy
//! machine are noisy; the shape (seconds per MB flat or growing) is what matters.

use cairn_core::{Document, TokenCounter};
use cairn_ingest::{load_bytes, Chunker, ChunkerConfig, LoaderOptions, Names, Strategy};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use text_splitter::{ChunkConfig, ChunkSizer, TextSplitter};

struct Hf(tokenizers::Tokenizer);
impl TokenCounter for Hf {
    fn count_tokens(&self, text: &str) -> usize {
        self.0
            .encode_fast(text, false)
            .map(|e| e.len())
            .unwrap_or(text.len())
    }
}

struct Exact(Arc<dyn TokenCounter>);
impl ChunkSizer for Exact {
    fn size(&self, chunk: &str) -> usize {
        self.0.count_tokens(chunk)
    }
}

fn find_tokenizer() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CAIRN_TOKENIZER") {
        return Some(p.into());
    }
    let home = std::env::var_os("HOME")?;
    let root = PathBuf::from(home).join(".cache/cairn/models");
    let mut stack = vec![root];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).ok()?.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n == "tokenizer.json")
                && p.to_string_lossy().to_lowercase().contains("minilm")
            {
                return Some(p);
            }
        }
    }
    None
}

fn counter() -> Arc<dyn TokenCounter> {
    let path = find_tokenizer().unwrap_or_else(|| {
        eprintln!(
            "no MiniLM tokenizer.json found: run `cairn models fetch` or set CAIRN_TOKENIZER"
        );
        std::process::exit(2);
    });
    let mut t = tokenizers::Tokenizer::from_file(&path).expect("tokenizer.json");
    t.with_padding(None);
    let _ = t.with_truncation(None);
    eprintln!("tokenizer: {}", path.display());
    Arc::new(Hf(t))
}

const SENTENCE: &str = "The cairn marks the trail where the path crosses bare rock. ";

/// The inputs, `bytes` long each: (name, loader kind, file bytes).
fn inputs(bytes: usize) -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let line: String = SENTENCE.repeat(bytes / SENTENCE.len() + 1)[..bytes].to_string();
    // Words and nothing else: no sentence end, so text-splitter's first sentence is the rest
    // of the text.
    let words = line.replace('.', "");
    let mut prose = String::with_capacity(bytes + 200);
    while prose.len() < bytes {
        prose.push_str(&SENTENCE.repeat(5));
        prose.push_str("\n\n");
    }
    let mut md = String::from("# Trails\n\n");
    md.push_str(&prose);
    let jsonl = format!("{{\"_id\":\"1\",\"title\":\"Big\",\"text\":\"{line}\"}}\n");
    let depth = bytes / "<div></div>".len();
    let html = format!(
        "<html><body>{}{line}{}</body></html>",
        "<div>".repeat(depth / 2),
        "</div>".repeat(depth / 2)
    );
    let mut flat = String::from("<html><body>");
    while flat.len() < bytes {
        flat.push_str("<p>");
        flat.push_str(&SENTENCE.repeat(5));
        flat.push_str("</p>\n");
    }
    flat.push_str("</body></html>");
    vec![
        ("single-line text", "text", line.into_bytes()),
        ("one line, no stops", "text", words.into_bytes()),
        ("flat HTML", "html", flat.into_bytes()),
        ("prose", "text", prose.into_bytes()),
        ("markdown", "markdown", md.into_bytes()),
        ("one-line JSONL", "jsonl", jsonl.into_bytes()),
        ("deep HTML", "html", html.into_bytes()),
    ]
}

fn main() {
    let mut baseline = false;
    let mut only: Option<String> = None;
    let mut sizes = Vec::new();
    for a in std::env::args().skip(1) {
        if a == "--baseline" {
            baseline = true;
        } else if let Some(o) = a.strip_prefix("--only=") {
            only = Some(o.to_string());
        } else {
            sizes.push(a.parse::<f64>().expect("sizes in MB, e.g. 1 10 100"));
        }
    }
    if sizes.is_empty() {
        sizes = vec![1.0, 10.0, 100.0];
    }
    let counter = counter();
    let chunker = Chunker::new(
        counter.clone(),
        ChunkerConfig {
            max_tokens: 254,
            overlap: 32,
            strategy: Strategy::Recursive,
        },
        256,
    )
    .expect("chunker");
    let opts = LoaderOptions {
        max_file_bytes: u64::MAX,
        ..Default::default()
    };
    let names = Names {
        shown: "input",
        id: "input",
        source: "input",
    };
    println!(
        "{:<18} {:>8} {:>9} {:>9} {:>9} {:>8}",
        "input", "MB", "load s", "chunk s", "s per MB", "chunks"
    );
    for &mb in &sizes {
        let bytes = (mb * 1024.0 * 1024.0) as usize;
        for (name, kind, data) in inputs(bytes) {
            if (baseline && kind != "text")
                || only.as_ref().is_some_and(|o| !name.contains(o.as_str()))
            {
                continue;
            }
            let t = Instant::now();
            let loaded = load_bytes(kind, &data, &names, None, None, &opts).expect("loads");
            let load_s = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let mut n = 0;
            for doc in &loaded.docs {
                n += if baseline {
                    baseline_chunks(&counter, doc)
                } else {
                    chunker.chunk(doc).len()
                };
            }
            let chunk_s = t.elapsed().as_secs_f64();
            println!(
                "{name:<20} {mb:>8.2} {load_s:>9.2} {chunk_s:>9.2} {:>9.2} {n:>8}",
                (load_s + chunk_s) / mb
            );
        }
    }
}

/// What `Chunker::chunk` did before: text-splitter over the whole text with an exact count.
fn baseline_chunks(counter: &Arc<dyn TokenCounter>, doc: &Document) -> usize {
    let cfg = ChunkConfig::new(254)
        .with_sizer(Exact(counter.clone()))
        .with_overlap(32)
        .expect("overlap");
    TextSplitter::new(cfg).chunk_indices(&doc.text).count()
}
