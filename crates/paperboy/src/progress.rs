//! Progress bars on a terminal (nothing when standard error is not one).

use std::{io::IsTerminal, sync::Mutex, time::Duration};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use paperboy_app::Progress;

/// An indicatif bar per phase.
pub struct CliProgress {
    bar: Mutex<Option<ProgressBar>>,
    enabled: bool,
}

impl CliProgress {
    pub fn new() -> CliProgress {
        CliProgress { bar: Mutex::new(None), enabled: std::io::stderr().is_terminal() }
    }
}

impl Progress for CliProgress {
    fn start(&self, label: &str, total: Option<u64>, unit: &str) {
        if !self.enabled {
            return;
        }
        let bar = match total {
            Some(total) => ProgressBar::new(total),
            None => ProgressBar::new_spinner(),
        };
        bar.set_draw_target(ProgressDrawTarget::stderr());
        let template = match (total, unit) {
            (Some(_), "bytes") => "{prefix:>12} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta} left) {msg}",
            (Some(_), _) => "{prefix:>12} [{bar:30}] {human_pos}/{human_len} ({per_sec}, {eta} left) {msg}",
            (None, _) => "{prefix:>12} {spinner} {human_pos} {msg}",
        };
        bar.set_style(ProgressStyle::with_template(template).expect("valid template").progress_chars("=> "));
        bar.set_prefix(label.to_owned());
        bar.enable_steady_tick(Duration::from_millis(200));
        if let Some(old) = self.bar.lock().unwrap().replace(bar) {
            old.finish_and_clear();
        }
    }

    fn advance(&self, n: u64) {
        if let Some(bar) = &*self.bar.lock().unwrap() {
            bar.inc(n);
        }
    }

    fn set_position(&self, position: u64) {
        if let Some(bar) = &*self.bar.lock().unwrap() {
            bar.set_position(position);
        }
    }

    fn note(&self, message: &str) {
        match &*self.bar.lock().unwrap() {
            Some(bar) => bar.println(format!("note: {message}")),
            None => eprintln!("note: {message}"),
        }
    }

    fn finish(&self, _message: &str) {
        if let Some(bar) = self.bar.lock().unwrap().take() {
            bar.finish_and_clear();
        }
    }
}
