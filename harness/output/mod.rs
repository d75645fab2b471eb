//! The results directory: one file per output format, each in its own module. Every
//! run's rows are written and flushed as soon as the run ends, so nothing measured is lost
//! if a later run fails or the process is stopped.

pub mod cases;
pub mod histograms;
pub mod hlog;
pub mod intervals;
pub mod meta;
pub mod sizes;
pub mod summary;
pub mod table;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Context;
use serde::Serialize;

use crate::results::CaseRun;

/// The column names a flat row struct serializes to, in order.
pub fn header_of<T: Serialize + Default>() -> Vec<String> {
    let mut w = csv::WriterBuilder::new()
        .has_headers(true)
        .from_writer(Vec::new());
    w.serialize(T::default()).expect("a default row serializes");
    let bytes = w.into_inner().expect("in-memory writer");
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(&bytes[..]);
    let first = r
        .records()
        .next()
        .expect("a header line")
        .expect("valid csv");
    first.iter().map(str::to_string).collect()
}

/// A CSV file that has its header written up front (so an empty run still names its
/// columns) and is flushed after every batch of rows.
struct CsvFile {
    w: csv::Writer<File>,
}

impl CsvFile {
    fn create<T: Serialize + Default>(path: &Path) -> anyhow::Result<CsvFile> {
        let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
        let mut w = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(file);
        w.write_record(header_of::<T>())?;
        w.flush()?;
        Ok(CsvFile { w })
    }

    fn write<T: Serialize>(&mut self, rows: impl IntoIterator<Item = T>) -> anyhow::Result<()> {
        for row in rows {
            self.w.serialize(row)?;
        }
        self.w.flush()?;
        Ok(())
    }
}

pub struct ResultsWriter {
    pub dir: PathBuf,
    summary: CsvFile,
    intervals: CsvFile,
    histograms: CsvFile,
    sizes: CsvFile,
    hlog: hlog::HlogWriter,
}

impl ResultsWriter {
    pub fn create(dir: &Path, started: SystemTime) -> anyhow::Result<ResultsWriter> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(ResultsWriter {
            dir: dir.to_path_buf(),
            summary: CsvFile::create::<summary::SummaryRow>(&dir.join("summary.csv"))?,
            intervals: CsvFile::create::<intervals::IntervalRow>(&dir.join("intervals.csv"))?,
            histograms: CsvFile::create::<histograms::HistogramRow>(&dir.join("histograms.csv"))?,
            sizes: CsvFile::create::<sizes::SizeRow>(&dir.join("sizes.csv"))?,
            hlog: hlog::HlogWriter::create(&dir.join("latency.hlog"), started)
                .context("creating latency.hlog")?,
        })
    }

    /// Writes every file's rows for one finished run.
    pub fn write(&mut self, run: &CaseRun) -> anyhow::Result<()> {
        self.summary.write([summary::SummaryRow::from_run(run)])?;
        self.intervals.write(intervals::rows(run))?;
        self.sizes.write(sizes::rows(run))?;
        let merged = run.merged_histograms().map_err(anyhow::Error::msg)?;
        for (metric, h) in &merged {
            let mut rows = histograms::bucket_rows(run.case, run.repetition, metric, h);
            for row in &mut rows {
                row.src.clone_from(&run.src);
                row.dst.clone_from(&run.dst);
            }
            self.histograms.write(rows)?;
            let length = run
                .measured_s()
                .map(std::time::Duration::from_secs_f64)
                .unwrap_or(run.spec.duration);
            self.hlog.write(
                &hlog::tag_of(run, metric),
                run.outcome.started + run.spec.warmup,
                length,
                h,
            )?;
        }
        Ok(())
    }
}
