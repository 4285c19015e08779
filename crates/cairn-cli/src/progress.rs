//! The ingest progress bar: files, chunks, chunks/s and ETA, on stderr.

use cairn_rag::{IngestProgress, Skipped};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

pub struct Bar {
    bar: ProgressBar,
    chunks: AtomicUsize,
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
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} files  {msg}  ETA {eta}",
            )
            .expect("static template")
            .progress_chars("=> "),
        );
        Bar {
            bar,
            chunks: AtomicUsize::new(0),
            started: Instant::now(),
            quiet,
        }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl IngestProgress for Bar {
    fn files(&self, total: usize) {
        self.bar.set_length(total as u64);
    }

    fn file_done(&self, _path: &str) {
        self.bar.inc(1);
    }

    fn chunks_done(&self, n: usize) {
        let total = self.chunks.fetch_add(n, Ordering::Relaxed) + n;
        let rate = total as f64 / self.started.elapsed().as_secs_f64().max(1e-3);
        self.bar
            .set_message(format!("{total} chunks  {rate:.0} chunks/s"));
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
