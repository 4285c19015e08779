//! The ingest progress bar on stderr: documents (the bar and its ETA), files, chunks and
//! chunks/s. Each file counts as one document until it is read and its real count is known.

use cairn_rag::{IngestProgress, Skipped};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

pub struct Bar {
    bar: ProgressBar,
    chunks: AtomicUsize,
    files: AtomicUsize,
    files_done: AtomicUsize,
    started: Instant,
    quiet: bool,
}

impl Bar {
    pub fn new(quiet: bool) -> Self {
        let bar = ProgressBar::with_draw_target(
            Some(0),
            if quiet {
                ProgressDrawTarget::hidden()
            } else {
                ProgressDrawTarget::stderr()
            },
        );
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} docs  {msg}  ETA {eta}",
            )
            .expect("static template")
            .progress_chars("=> "),
        );
        Bar {
            bar,
            chunks: AtomicUsize::new(0),
            files: AtomicUsize::new(0),
            files_done: AtomicUsize::new(0),
            started: Instant::now(),
            quiet,
        }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Bar {
    fn update_message(&self) {
        let chunks = self.chunks.load(Ordering::Relaxed);
        let rate = chunks as f64 / self.started.elapsed().as_secs_f64().max(1e-3);
        self.bar.set_message(format!(
            "{}/{} files  {chunks} chunks  {rate:.0} chunks/s",
            self.files_done.load(Ordering::Relaxed),
            self.files.load(Ordering::Relaxed)
        ));
    }
}

impl IngestProgress for Bar {
    fn files(&self, total: usize) {
        self.files.store(total, Ordering::Relaxed);
        self.bar.set_length(total as u64);
        self.update_message();
    }

    fn file_loaded(&self, docs: usize) {
        self.files_done.fetch_add(1, Ordering::Relaxed);
        // The file was counted as one document; now its real count is known.
        let len = self.bar.length().unwrap_or(0) + docs as u64;
        self.bar.set_length(len.saturating_sub(1));
        self.update_message();
    }

    fn documents_done(&self, n: usize) {
        self.bar.inc(n as u64);
    }

    fn chunks_done(&self, n: usize) {
        self.chunks.fetch_add(n, Ordering::Relaxed);
        self.update_message();
    }

    fn large_document(&self, source: &str, bytes: usize) {
        if !self.quiet {
            let line = format!(
                "chunking and embedding {source} ({:.1} MiB); the chunk count shows its progress",
                bytes as f64 / (1024.0 * 1024.0)
            );
            if self.bar.is_hidden() {
                eprintln!("{line}");
            } else {
                self.bar.println(line);
            }
        }
    }

    fn skipped(&self, s: &Skipped) {
        if !self.quiet {
            let at = s.line.map(|l| format!(":{l}")).unwrap_or_default();
            let line = format!("skipped {}{at}: {}", s.path, s.reason);
            if self.bar.is_hidden() {
                eprintln!("{line}");
            } else {
                self.bar.println(line);
            }
        }
    }
}
