//! The replay's progress: a bar on a terminal, a plain line every 5 s otherwise.

use chrono::NaiveDate;
use ds_processors::replay::Progress;
use std::io::IsTerminal as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Messages per second.
fn rate(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-9)
}

/// The figures of a progress report, in words.
fn line(p: &Progress) -> String {
    format!(
        "{} messages ({:.0}/s), {} outputs, {}/{} products",
        p.messages,
        rate(p.messages, p.elapsed),
        p.outputs,
        p.products_done,
        p.products
    )
}

/// Where progress goes.
pub struct Display {
    date: NaiveDate,
    bar: Option<indicatif::ProgressBar>,
    last_line: Mutex<Instant>,
}

impl Display {
    /// A bar when stderr is a terminal.
    pub fn new(date: NaiveDate) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let b = indicatif::ProgressBar::new(0);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:30} {percent:>3}% ETA {eta} {msg}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            b
        });
        Self {
            date,
            bar,
            last_line: Mutex::new(Instant::now()),
        }
    }

    /// Shows a progress report.
    pub fn show(&self, p: &Progress) {
        match &self.bar {
            Some(b) => {
                b.set_length(p.length.max(1));
                b.set_position(p.position.min(p.length));
                b.set_message(line(p));
            }
            None => {
                // Plain lines (CI, logs): one every 5 s.
                if let Ok(mut last) = self.last_line.lock() {
                    if last.elapsed() >= Duration::from_secs(5) {
                        *last = Instant::now();
                        let pct = 100.0 * p.position as f64 / p.length.max(1) as f64;
                        eprintln!("replay {}: {pct:.0}% {}", self.date, line(p));
                    }
                }
            }
        }
    }

    /// Clears the bar.
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
