//! The results directory: one file per output format, each in its own module. Every
//! run's rows are written and flushed as soon as the run ends, so nothing measured is lost
//! if a later run fails or the process is stopped.

pub mod cases;
pub mod figure;
pub mod histograms;
pub mod hlog;
pub mod intervals;
pub mod meta;
pub mod metric;
pub mod sizes;
pub mod summary;
pub mod table;

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Serialize;

use crate::results::CaseRun;

/// A results file that could not be written, with its path and the OS error, in one line:
/// `writing results/x/summary.csv: No space left on device (os error 28)`.
#[derive(Debug, thiserror::Error)]
#[error("{action} {}: {error}", path.display())]
pub struct WriteError {
    /// `creating` or `writing`.
    pub action: &'static str,
    pub path: PathBuf,
    pub error: io::Error,
}

/// What `ResultsWriter` could not do: a file not written, or a run's latency histograms
/// that would not merge (its other rows are written first).
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error("case {case} repetition {repetition}: {message}")]
    Histogram {
        case: u32,
        repetition: u32,
        message: String,
    },
}

impl WriteError {
    pub fn creating(path: &Path, error: io::Error) -> WriteError {
        WriteError {
            action: "creating",
            path: path.to_path_buf(),
            error,
        }
    }
    pub fn writing(path: &Path, error: io::Error) -> WriteError {
        WriteError {
            action: "writing",
            path: path.to_path_buf(),
            error,
        }
    }
}

/// A file that only ever grows by whole records. Each batch goes to the kernel in one
/// `write_all`; if any of it fails (a full disk takes part of a write and refuses the
/// rest), the file is cut back to where the batch began, so what stays is whole lines.
pub(crate) struct AppendFile {
    file: File,
    path: PathBuf,
    len: u64,
}

impl AppendFile {
    pub(crate) fn create(path: &Path) -> Result<AppendFile, WriteError> {
        let file = File::create(path).map_err(|e| WriteError::creating(path, e))?;
        Ok(AppendFile {
            file,
            path: path.to_path_buf(),
            len: 0,
        })
    }

    /// A new file that starts with `header`. If the header cannot be written (a full
    /// disk), the file is removed again: a results file has its header or does not exist.
    pub(crate) fn create_with(path: &Path, header: &[u8]) -> Result<AppendFile, WriteError> {
        let mut file = AppendFile::create(path)?;
        if let Err(e) = file.append(header) {
            drop(file);
            let _ = std::fs::remove_file(path);
            return Err(e);
        }
        Ok(file)
    }

    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    pub(crate) fn append(&mut self, bytes: &[u8]) -> Result<(), WriteError> {
        if bytes.is_empty() {
            return Ok(());
        }
        match self.file.write_all(bytes) {
            Ok(()) => {
                self.len += bytes.len() as u64;
                Ok(())
            }
            Err(e) => {
                self.truncate(self.len);
                Err(WriteError::writing(&self.path, e))
            }
        }
    }

    /// Cuts the file back to `len` bytes (a length it had) and writes on from there.
    /// Shrinking a file needs no space, so this holds on a full disk; if it fails all the
    /// same, the write error being reported is the one that matters.
    pub(crate) fn truncate(&mut self, len: u64) {
        let _ = self.file.set_len(len);
        let _ = self.file.seek(SeekFrom::Start(len));
        self.len = len;
    }
}

/// Replaces `path` with `bytes` all at once: they go to a hidden temporary file beside it,
/// which is synced and renamed over it. A reader sees the old file or the new one, never
/// a part; on failure the old file stays and the temporary file is removed.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    let result = File::create(&tmp)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        WriteError::writing(path, e)
    })
}

/// Rows serialized to CSV text, without a header.
fn csv_bytes<T: Serialize>(rows: impl IntoIterator<Item = T>) -> io::Result<Vec<u8>> {
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    for row in rows {
        w.serialize(row).map_err(io::Error::other)?;
    }
    w.into_inner().map_err(|e| io::Error::other(e.to_string()))
}

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
/// columns) and grows by whole rows.
struct CsvFile {
    file: AppendFile,
}

impl CsvFile {
    fn create<T: Serialize + Default>(path: &Path) -> Result<CsvFile, WriteError> {
        let mut header = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(Vec::new());
        header
            .write_record(header_of::<T>())
            .map_err(|e| WriteError::writing(path, io::Error::other(e)))?;
        let header = header
            .into_inner()
            .map_err(|e| WriteError::writing(path, io::Error::other(e.to_string())))?;
        Ok(CsvFile {
            file: AppendFile::create_with(path, &header)?,
        })
    }

    fn rows<T: Serialize>(&self, rows: impl IntoIterator<Item = T>) -> Result<Vec<u8>, WriteError> {
        csv_bytes(rows).map_err(|e| WriteError::writing(&self.file.path, e))
    }
}

pub struct ResultsWriter {
    pub dir: PathBuf,
    summary: CsvFile,
    intervals: CsvFile,
    histograms: CsvFile,
    sizes: CsvFile,
    hlog: hlog::HlogWriter,
    /// Each file's length when the runs in it were last counted in `meta.json`
    /// ([`ResultsWriter::commit`]), in the order of [`ResultsWriter::files`].
    committed: [u64; 5],
}

impl ResultsWriter {
    pub fn create(dir: &Path, started: SystemTime) -> Result<ResultsWriter, WriteError> {
        std::fs::create_dir_all(dir).map_err(|e| WriteError::creating(dir, e))?;
        let mut w = ResultsWriter {
            dir: dir.to_path_buf(),
            summary: CsvFile::create::<summary::SummaryRow>(&dir.join("summary.csv"))?,
            intervals: CsvFile::create::<intervals::IntervalRow>(&dir.join("intervals.csv"))?,
            histograms: CsvFile::create::<histograms::HistogramRow>(&dir.join("histograms.csv"))?,
            sizes: CsvFile::create::<sizes::SizeRow>(&dir.join("sizes.csv"))?,
            hlog: hlog::HlogWriter::create(&dir.join("latency.hlog"), started)?,
            committed: [0; 5],
        };
        w.commit();
        Ok(w)
    }

    /// The files in the order rows are appended (summary.csv last: a run is in
    /// summary.csv only once its other rows are in).
    fn files(&mut self) -> [&mut AppendFile; 5] {
        [
            &mut self.intervals.file,
            &mut self.sizes.file,
            &mut self.histograms.file,
            &mut self.hlog.file,
            &mut self.summary.file,
        ]
    }

    /// Marks the runs written so far as counted: `meta.json` now says how many there are.
    pub fn commit(&mut self) {
        let mut lens = [0; 5];
        for (len, f) in lens.iter_mut().zip(self.files()) {
            *len = f.len();
        }
        self.committed = lens;
    }

    /// Takes back every run written since the last [`ResultsWriter::commit`], for when
    /// `meta.json` could not be rewritten to count them (a full disk): the files then hold
    /// the runs `meta.json` counts, no more. Shrinking a file needs no space.
    pub fn roll_back(&mut self) {
        let committed = self.committed;
        for (f, len) in self.files().into_iter().zip(committed) {
            f.truncate(len);
        }
    }

    /// Writes every file's rows for one finished run: all of them or, if a write fails
    /// (a full disk), none — each file is cut back to where it was, so a run is in every
    /// file or in none, and every file holds whole rows.
    pub fn write(&mut self, run: &CaseRun) -> Result<(), OutputError> {
        let summary = self.summary.rows([summary::SummaryRow::from_run(run)])?;
        let intervals = self.intervals.rows(intervals::rows(run))?;
        let sizes = self.sizes.rows(sizes::rows(run))?;
        // A histogram that will not decode still lets the run's other rows be written,
        // and is reported after them.
        let merged = run.merged_histograms();
        let length = run
            .measured_s()
            .map(std::time::Duration::from_secs_f64)
            .unwrap_or(run.spec.duration);
        let mut histograms = Vec::new();
        let mut hlog = Vec::new();
        for (metric, h) in merged.iter().flatten() {
            let mut rows = histograms::bucket_rows(run.case, run.repetition, metric, h);
            for row in &mut rows {
                row.src.clone_from(&run.src);
                row.dst.clone_from(&run.dst);
            }
            histograms.extend(self.histograms.rows(rows)?);
            hlog.extend(self.hlog.entry(
                &hlog::tag_of(run, metric),
                run.outcome.started + run.spec.warmup,
                length,
                h,
            )?);
        }
        let batches: [&[u8]; 5] = [&intervals, &sizes, &histograms, &hlog, &summary];
        let files = self.files();
        let before: Vec<u64> = files.iter().map(|f| f.len()).collect();
        let mut done: Vec<(&mut AppendFile, u64)> = Vec::new();
        for ((file, bytes), len) in files.into_iter().zip(batches).zip(before) {
            if let Err(e) = file.append(bytes) {
                for (f, len) in done {
                    f.truncate(len);
                }
                return Err(e.into());
            }
            done.push((file, len));
        }
        merged.map(drop).map_err(|e| OutputError::Histogram {
            case: run.case,
            repetition: run.repetition,
            message: e.to_string(),
        })
    }
}

/// The default results directory: `results/<UTC time>-<name>/`, or with `-2`, `-3`...
/// after it when a run started in the same second has it already.
pub fn default_out_dir(name: &str, started: SystemTime) -> PathBuf {
    let stamp = meta::utc_timestamp(started).replace([':', '-'], "");
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    unused_dir(Path::new("results"), &format!("{stamp}-{safe}"))
}

/// `root/base`, or the first of `root/base-2`, `root/base-3`... that no one has, made
/// empty here: two runs started at once never get the same one. If `root` cannot be
/// made, `root/base`, for the results writer to report why.
fn unused_dir(root: &Path, base: &str) -> PathBuf {
    let named = |n: u32| match n {
        1 => root.join(base),
        n => root.join(format!("{base}-{n}")),
    };
    if std::fs::create_dir_all(root).is_err() {
        return named(1);
    }
    for n in 1..10_000 {
        match std::fs::create_dir(named(n)) {
            Ok(()) => return named(n),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(_) => break,
        }
    }
    named(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_started_in_the_same_second_gets_a_directory_of_its_own() {
        let root = tempfile::tempdir().unwrap();
        let base = "20261206T202741Z-tcp-stream";
        // Each call claims its directory, as a run started at the same moment would.
        assert_eq!(unused_dir(root.path(), base), root.path().join(base));
        assert!(root.path().join(base).is_dir());
        let second = unused_dir(root.path(), base);
        assert_eq!(second, root.path().join(format!("{base}-2")));
        let third = unused_dir(root.path(), base);
        assert_eq!(third, root.path().join(format!("{base}-3")));
    }

    #[test]
    fn a_failed_write_names_the_file_and_the_os_error() {
        // /dev/full refuses every write with ENOSPC, as a full disk does.
        let mut f = AppendFile::create(Path::new("/dev/full")).unwrap();
        let e = f.append(b"case,repetition\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "writing /dev/full: No space left on device (os error 28)"
        );
        assert_eq!(f.len(), 0);
        let e = CsvFile::create::<histograms::HistogramRow>(Path::new("/nonexistent/h.csv"))
            .err()
            .unwrap();
        assert_eq!(
            e.to_string(),
            "creating /nonexistent/h.csv: No such file or directory (os error 2)"
        );
    }

    #[test]
    fn appends_and_rollbacks_keep_whole_batches() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.csv");
        let mut f = AppendFile::create(&path).unwrap();
        f.append(b"a,b\n1,2\n").unwrap();
        let len = f.len();
        f.append(b"3,4\n").unwrap();
        f.truncate(len);
        f.append(b"5,6\n").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"a,b\n1,2\n5,6\n");
    }

    fn run(repetition: u32, histogram: &str) -> CaseRun {
        use crate::measure::outcome::{Status, TestOutcome};
        use crate::measure::{EncodedHistogram, RoleReport, SideReport};
        let mut h = crate::measure::latency_histogram();
        h.record(40_000).unwrap();
        let mut enc = EncodedHistogram::encode("rtt", &h);
        if !histogram.is_empty() {
            enc.v2_base64 = histogram.to_string();
        }
        CaseRun {
            case: 1,
            repetition,
            label: String::new(),
            spec: crate::spec::config::TestSpec::default(),
            outcome: TestOutcome {
                sender: SideReport {
                    roles: vec![RoleReport {
                        histograms: vec![enc],
                        ..RoleReport::default()
                    }],
                    ..SideReport::default()
                },
                receiver: None,
                status: Status::Ok,
                error: None,
                started: SystemTime::now(),
            },
            not_applicable: Vec::new(),
            src: String::new(),
            dst: String::new(),
        }
    }

    #[test]
    fn each_run_adds_whole_rows_and_a_bad_histogram_keeps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = ResultsWriter::create(dir.path(), SystemTime::now()).unwrap();
        w.write(&run(1, "")).unwrap();
        let e = w.write(&run(2, "not base64!")).unwrap_err();
        assert!(e.to_string().contains("bad base64"), "{e}");
        let summary = std::fs::read_to_string(dir.path().join("summary.csv")).unwrap();
        assert_eq!(
            summary.lines().count(),
            3,
            "header and both runs: {summary}"
        );
        let buckets = std::fs::read_to_string(dir.path().join("histograms.csv")).unwrap();
        assert!(buckets.lines().skip(1).all(|l| l.starts_with("1,1,rtt,")));
        assert!(buckets.lines().count() > 1);
    }

    #[test]
    fn a_roll_back_takes_out_the_runs_since_the_last_commit() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = ResultsWriter::create(dir.path(), SystemTime::now()).unwrap();
        let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap();
        w.roll_back();
        assert_eq!(read("summary.csv").lines().count(), 1, "the header stays");
        w.write(&run(1, "")).unwrap();
        w.commit();
        let committed = [
            read("summary.csv"),
            read("histograms.csv"),
            read("latency.hlog"),
        ];
        w.write(&run(2, "")).unwrap();
        w.write(&run(3, "")).unwrap();
        w.roll_back();
        let now = [
            read("summary.csv"),
            read("histograms.csv"),
            read("latency.hlog"),
        ];
        assert_eq!(now, committed);
        w.write(&run(2, "")).unwrap();
        assert_eq!(read("summary.csv").lines().count(), 3);
    }

    #[test]
    fn an_atomic_write_that_fails_keeps_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.json");
        write_atomically(&path, b"{\"runs\":1}\n").unwrap();
        write_atomically(&path, b"{\"runs\":2}\n").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"{\"runs\":2}\n");

        // A directory in the way: the rename fails after the temporary file was written.
        let blocked = dir.path().join("cases.csv");
        std::fs::create_dir(&blocked).unwrap();
        std::fs::write(blocked.join("x"), "x").unwrap();
        let e = write_atomically(&blocked, b"case\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with(&format!("writing {}: ", blocked.display())),
            "{e}"
        );
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left.len(), 2, "no temporary file is left: {left:?}");
    }
}
