//! Reading a results directory back: each CSV into the row struct that wrote it (serde),
//! one row at a time, and `meta.json` into `Meta`. A cell that does not parse is refused
//! with `file:line: column NAME: ...`, so a hand-edited or truncated file is never charted.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::Histogram;
use serde::de::DeserializeOwned;

use super::ReportError;
use crate::output::meta::Meta;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ReportError + '_ {
    move |source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The rows of one CSV file, deserialized one at a time into `T` by column name (so
/// columns added later, anywhere, do not disturb reading).
pub struct Rows<T> {
    path: PathBuf,
    reader: csv::Reader<BufReader<File>>,
    header: csv::StringRecord,
    record: csv::StringRecord,
    /// Rows read so far.
    pub count: u64,
    _row: PhantomData<T>,
}

impl<T: DeserializeOwned> Rows<T> {
    /// Opens `path` and checks that its header has every column of `need`.
    pub fn open(path: &Path, need: &[&str]) -> Result<Rows<T>, ReportError> {
        let file = File::open(path).map_err(io(path))?;
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(BufReader::with_capacity(1 << 16, file));
        let header = reader
            .headers()
            .map_err(|source| ReportError::Csv {
                path: path.to_path_buf(),
                line: 0,
                source,
            })?
            .clone();
        if let Some(missing) = need.iter().find(|c| !header.iter().any(|h| h == **c)) {
            return Err(ReportError::MissingColumn {
                path: path.to_path_buf(),
                column: missing.to_string(),
            });
        }
        Ok(Rows {
            path: path.to_path_buf(),
            reader,
            header,
            record: csv::StringRecord::new(),
            count: 0,
            _row: PhantomData,
        })
    }

    /// The next row and its line number, `None` at the end of the file.
    pub fn next_row(&mut self) -> Result<Option<(u64, T)>, ReportError> {
        match self.reader.read_record(&mut self.record) {
            Ok(false) => return Ok(None),
            Ok(true) => {}
            Err(source) => {
                let line = source.position().map(|p| p.line()).unwrap_or(0);
                return Err(ReportError::Csv {
                    path: self.path.clone(),
                    line,
                    source,
                });
            }
        }
        let line = self.record.position().map(|p| p.line()).unwrap_or(0);
        self.count += 1;
        match self.record.deserialize::<T>(Some(&self.header)) {
            Ok(row) => Ok(Some((line, row))),
            Err(e) => Err(self.cell_error(line, e)),
        }
    }

    fn cell_error(&self, line: u64, e: csv::Error) -> ReportError {
        let field = match e.kind() {
            csv::ErrorKind::Deserialize { err, .. } => err.field().map(|f| (f, err.kind())),
            _ => None,
        };
        let Some((field, kind)) = field else {
            return ReportError::Csv {
                path: self.path.clone(),
                line,
                source: e,
            };
        };
        use csv::DeserializeErrorKind as K;
        let expected = match kind {
            K::ParseInt(_) => "a whole number".to_string(),
            K::ParseFloat(_) => "a number".to_string(),
            K::ParseBool(_) => "true or false".to_string(),
            other => other.to_string(),
        };
        ReportError::BadCell {
            path: self.path.clone(),
            line,
            column: self.header.get(field as usize).unwrap_or("?").to_string(),
            value: self.record.get(field as usize).unwrap_or("").to_string(),
            expected,
        }
    }

    /// Refuses a file with a header and no rows.
    pub fn require_rows(&self, what: &str) -> Result<(), ReportError> {
        if self.count == 0 {
            return Err(ReportError::NoRows {
                path: self.path.clone(),
                what: what.to_string(),
            });
        }
        Ok(())
    }
}

/// `meta.json`, read into the struct that wrote it.
pub fn read_meta(path: &Path) -> Result<Meta, ReportError> {
    let file = File::open(path).map_err(io(path))?;
    serde_json::from_reader(BufReader::new(file)).map_err(|source| ReportError::Json {
        path: path.to_path_buf(),
        source,
    })
}

/// One histogram of `latency.hlog`: its case, repetition, metric and counts.
pub struct TaggedHistogram {
    pub case: u32,
    /// Fleet runs: the sending and the receiving host (from `@SRC>DST`); empty otherwise.
    pub src: String,
    pub dst: String,
    pub metric: String,
    pub histogram: Histogram<u64>,
}

/// Reads `latency.hlog` one line at a time, handing each histogram tagged
/// `case<N>.rep<M>.<metric>` whose case `want` accepts to `sink`; the others are skipped
/// without being decoded.
pub fn read_hlog(
    path: &Path,
    want: impl Fn(u32, &str, &str) -> bool,
    mut sink: impl FnMut(TaggedHistogram) -> Result<(), ReportError>,
) -> Result<(), ReportError> {
    let file = File::open(path).map_err(io(path))?;
    let mut deserializer = Deserializer::new();
    let mut line = String::new();
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let mut number = 0u64;
    loop {
        line.clear();
        let n = reader.read_line(&mut line).map_err(io(path))?;
        if n == 0 {
            return Ok(());
        }
        number += 1;
        let text = line.trim_end();
        if text.is_empty() || text.starts_with('#') || text.starts_with('"') {
            continue;
        }
        let Some(case) = text
            .strip_prefix("Tag=case")
            .and_then(|t| t.split('.').next())
            .and_then(|c| c.parse::<u32>().ok())
        else {
            continue;
        };
        let pair = text
            .split(',')
            .next()
            .and_then(|t| t.split_once('@'))
            .and_then(|(_, p)| p.split_once('>'));
        let (src, dst) = pair.unwrap_or(("", ""));
        if !want(case, src, dst) {
            continue;
        }
        let (src, dst) = (src.to_string(), dst.to_string());
        let bad = |detail: String| ReportError::BadHistogram {
            path: path.to_path_buf(),
            line: number,
            detail,
        };
        // The parser wants each line whole, newline included.
        let whole = format!("{text}\n");
        let entry = IntervalLogIterator::new(whole.as_bytes())
            .next()
            .ok_or_else(|| bad("unreadable histogram line".into()))?
            .map_err(|e| bad(format!("unreadable histogram line: {e:?}")))?;
        let LogEntry::Interval(ih) = entry else {
            continue;
        };
        let Some(tag) = ih.tag() else { continue };
        let base = tag.as_str().split('@').next().unwrap_or_default();
        let Some(metric) = base.splitn(3, '.').nth(2) else {
            continue;
        };
        let bytes = base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            ih.encoded_histogram(),
        )
        .map_err(|e| bad(format!("histogram {}: {e}", tag.as_str())))?;
        let histogram: Histogram<u64> = deserializer
            .deserialize(&mut &bytes[..])
            .map_err(|e| bad(format!("histogram {}: {e:?}", tag.as_str())))?;
        sink(TaggedHistogram {
            case,
            src,
            dst,
            metric: metric.to_string(),
            histogram,
        })?;
    }
}
