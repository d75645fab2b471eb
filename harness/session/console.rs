//! What a run shows on the terminal while it goes: lines above a progress bar whose clock
//! moves inside each test and says how long the run has left.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// Prints to the terminal above the progress bar, or plainly; on stderr when stdout is
/// kept for JSON.
pub struct Console {
    bar: Option<ProgressBar>,
    quiet: bool,
    to_stderr: bool,
}

impl Console {
    /// A console with a progress bar over `total_ms` of planned tests when one is shown:
    /// the bar draws on stderr, where the output it sits above is a terminal. With
    /// `to_stderr`, stdout is kept for JSON lines.
    pub fn with_bar(quiet: bool, to_stderr: bool, total_ms: u64) -> (Console, Option<Ticker>) {
        let shown_on = if to_stderr {
            std::io::stderr().is_terminal()
        } else {
            std::io::stdout().is_terminal()
        };
        let bar = (!quiet && shown_on && std::io::stderr().is_terminal()).then(|| {
            let b = ProgressBar::new(total_ms);
            b.set_style(
                ProgressStyle::with_template("{bar:30} {percent:>3}% {elapsed:>4}  {msg}")
                    .expect("static template"),
            );
            b
        });
        let ticker = bar.clone().map(|b| Ticker::start(b, total_ms));
        let console = Console {
            bar,
            quiet,
            to_stderr,
        };
        (console, ticker)
    }

    /// Clears the progress bar, when there is one.
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }

    pub fn line(&self, s: &str) {
        if self.quiet {
            return;
        }
        match &self.bar {
            Some(b) => b.println(s),
            None if self.to_stderr => eprintln!("{s}"),
            None => println!("{s}"),
        }
    }
    pub fn warn(&self, s: &str) {
        match &self.bar {
            Some(b) => b.suspend(|| eprintln!("{s}")),
            None => eprintln!("{s}"),
        }
    }
}

/// `1h02m`, `3m05s`, `42s`: a time left, to the second.
pub fn format_left(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// Where the run is: what was done before the test in flight, and that test.
struct Tick {
    done_ms: u64,
    case_ms: u64,
    case_started: Instant,
    what: String,
}

/// The progress bar's clock: a thread that moves the bar with time inside each test
/// (planned warm-up + duration), so that it never sits still for a long test, and says
/// which case and repetition run and how long the whole run has left.
pub struct Ticker {
    tick: Arc<Mutex<Tick>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Ticker {
    pub fn start(bar: ProgressBar, total_ms: u64) -> Ticker {
        let tick = Arc::new(Mutex::new(Tick {
            done_ms: 0,
            case_ms: 0,
            case_started: Instant::now(),
            what: String::new(),
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (tick, stop) = (tick.clone(), stop.clone());
            let run_started = Instant::now();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    {
                        let t = tick.lock().unwrap_or_else(|e| e.into_inner());
                        let inside = (t.case_started.elapsed().as_millis() as u64).min(t.case_ms);
                        let pos = (t.done_ms + inside).min(total_ms);
                        bar.set_position(pos);
                        // The planned time left, stretched by what each test has really
                        // taken so far beyond its plan (connecting, reports, pauses).
                        let mut left = Duration::from_millis(total_ms - pos);
                        if t.done_ms > 0 {
                            let ratio = t
                                .case_started
                                .saturating_duration_since(run_started)
                                .as_secs_f64()
                                / Duration::from_millis(t.done_ms).as_secs_f64();
                            left = left.mul_f64(ratio.clamp(1.0, 100.0));
                        }
                        bar.set_message(format!("{}  left ~{}", t.what, format_left(left)));
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
            })
        };
        Ticker {
            tick,
            stop,
            thread: Some(thread),
        }
    }

    /// A test starts: `done_ms` of the plan is behind us, this one is planned `case_ms`.
    pub fn test(&self, done_ms: u64, case_ms: u64, what: String) {
        let mut t = self.tick.lock().unwrap_or_else(|e| e.into_inner());
        *t = Tick {
            done_ms,
            case_ms,
            case_started: Instant::now(),
            what,
        };
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_left_reads_at_a_glance() {
        assert_eq!(format_left(Duration::from_millis(42_900)), "42s");
        assert_eq!(format_left(Duration::from_secs(185)), "3m05s");
        assert_eq!(format_left(Duration::from_secs(3720)), "1h02m");
    }
}
