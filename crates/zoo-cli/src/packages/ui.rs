//! indicatif progress bars for downloads and uploads (hidden by `--quiet`,
//! when stderr is not a terminal, and uncoloured under NO_COLOR).

use super::Output;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::Arc;
use zoo_client::{Bar, Progress};

pub struct Bars {
    multi: MultiProgress,
    style: ProgressStyle,
    verbose: bool,
    quiet: bool,
}

impl Bars {
    pub fn new(out: Output) -> Bars {
        let target = if out.quiet {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        };
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let template = if no_color {
            "{msg:40!} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}"
        } else {
            "{msg:40!} [{bar:30.cyan/blue}] {bytes}/{total_bytes} {bytes_per_sec} {eta}"
        };
        let style = ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        Bars {
            multi: MultiProgress::with_draw_target(target),
            style,
            verbose: out.verbose && !out.quiet,
            quiet: out.quiet,
        }
    }
}

struct IndicatifBar(ProgressBar);

impl Bar for IndicatifBar {
    fn set(&self, done: u64) {
        self.0.set_position(done);
    }
    fn advance(&self, bytes: u64) {
        self.0.inc(bytes);
    }
    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

impl Progress for Bars {
    fn start(&self, label: &str, total: u64) -> Arc<dyn Bar> {
        let bar = self.multi.add(ProgressBar::new(total));
        bar.set_style(self.style.clone());
        bar.set_message(label.to_string());
        Arc::new(IndicatifBar(bar))
    }

    fn note(&self, message: &str) {
        if self.verbose {
            self.print(message);
        }
    }

    fn warn(&self, message: &str) {
        if !self.quiet {
            self.print(&format!("warning: {message}"));
        }
    }
}

impl Bars {
    /// Through the MultiProgress so bars are not torn; it prints nothing
    /// when hidden, so fall back to stderr then.
    fn print(&self, message: &str) {
        if self.multi.is_hidden() {
            eprintln!("{message}");
        } else {
            let _ = self.multi.println(message);
        }
    }
}
