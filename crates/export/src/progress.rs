//! How an export reports its progress: an indicatif bar (offsets done of the total) when
//! stderr is a terminal; otherwise plain lines on stdout, one per file written or skipped, so a
//! log or a pipe gets a readable record rather than control sequences.
//!
//! Invariant: every message reaches the user in both modes (above the bar, or as a line).

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// Progress of one export.
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// Progress over `total` offsets: a bar on a terminal, lines otherwise.
    pub fn new(total: u64) -> Progress {
        Progress::with_bar(total, std::io::stderr().is_terminal())
    }

    /// Progress that never draws a bar.
    pub fn plain() -> Progress {
        Progress::with_bar(0, false)
    }

    fn with_bar(total: u64, bar: bool) -> Progress {
        let bar = bar.then(|| {
            let b = ProgressBar::new(total);
            b.set_style(
                ProgressStyle::with_template(
                    "{elapsed_precise} [{bar:40}] {pos}/{len} offsets ({per_sec}, eta {eta}) {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            b
        });
        Progress { bar }
    }

    /// `n` more offsets are done (written or already there).
    pub fn advance(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc(n);
        }
    }

    /// Shows what is being read.
    pub fn status(&self, msg: String) {
        if let Some(b) = &self.bar {
            b.set_message(msg);
        }
    }

    /// A message the user keeps.
    pub fn line(&self, msg: String) {
        match &self.bar {
            Some(b) => b.println(msg),
            None => println!("{msg}"),
        }
    }

    /// Ends the bar (the lines stay).
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
