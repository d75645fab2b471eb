//! The element's files, the stats file and the pcap of its drops, written on a thread of
//! their own: the forwarding loop only hands records over, so that no wait of the file
//! system (a rename or a write on a busy disk can take tens of milliseconds) ever holds a
//! frame back.

use std::path::PathBuf;
use std::sync::mpsc::{channel, Sender};
use std::thread::JoinHandle;
use std::time::SystemTime;

use super::pcap::Pcap;
use super::stats::Stats;

enum Record {
    Drop(SystemTime, Vec<u8>),
    Stats(Box<Stats>),
}

pub struct Writer {
    tx: Option<Sender<Record>>,
    thread: Option<JoinHandle<()>>,
    keeps_drops: bool,
}

impl Writer {
    /// A writer of the stats to `stats` and of the drops to `drops`, either optional.
    /// Records reach the files in the order given, so that the drops a stats record
    /// counts are in the pcap before it.
    pub fn start(stats: Option<PathBuf>, drops: Option<Pcap>) -> Writer {
        let keeps_drops = drops.is_some();
        let (tx, rx) = channel::<Record>();
        let thread = std::thread::Builder::new()
            .name("sockbench-delay-writer".into())
            .spawn(move || {
                let mut drops = drops;
                let mut warned = false;
                let mut warn = |what: &str, e: std::io::Error| {
                    if !std::mem::replace(&mut warned, true) {
                        eprintln!("sockbench-delay: {what}: {e}");
                    }
                };
                for rec in rx {
                    match rec {
                        Record::Drop(at, frame) => {
                            if let Some(Err(e)) = drops.as_mut().map(|p| p.write(at, &frame)) {
                                warn("--drops", e);
                            }
                        }
                        Record::Stats(s) => {
                            if let Some(Err(e)) = drops.as_mut().map(Pcap::flush) {
                                warn("--drops", e);
                            }
                            if let Some(Err(e)) = stats.as_ref().map(|p| s.write(p)) {
                                warn("--stats", e);
                            }
                        }
                    }
                }
                if let Some(Err(e)) = drops.as_mut().map(Pcap::flush) {
                    warn("--drops", e);
                }
            })
            .ok();
        Writer {
            tx: Some(tx),
            thread,
            keeps_drops,
        }
    }

    /// A frame the loss generator dropped, received at `at`.
    pub fn dropped(&self, at: SystemTime, frame: &[u8]) {
        if self.keeps_drops {
            if let Some(tx) = &self.tx {
                let _ = tx.send(Record::Drop(at, frame.to_vec()));
            }
        }
    }

    /// The counts as they are now.
    pub fn stats(&self, s: Stats) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Record::Stats(Box::new(s)));
        }
    }

    /// Writes what is left and waits for the files to be complete.
    pub fn finish(mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
