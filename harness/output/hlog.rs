//! `latency.hlog`: the standard HdrHistogram interval log (as written by the Java
//! HistogramLogWriter and read by HistogramLogAnalyzer), one tagged histogram per case ×
//! repetition × metric, compressed V2 encoding. Values are nanoseconds.

use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime};

use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::Histogram;

use super::{AppendFile, WriteError};

pub struct HlogWriter {
    pub(super) file: AppendFile,
    base: SystemTime,
}

/// The tag of one histogram: `case1.rep2.rtt` (tags may hold no comma or space).
pub fn tag(case: u32, repetition: u32, metric: &str) -> String {
    format!("case{case}.rep{repetition}.{metric}")
}

/// A run's tag; in a fleet run the pair follows: `case1.rep1.rtt@SRC>DST` (host names
/// hold neither `@` nor `>`).
pub fn tag_of(run: &crate::results::CaseRun, metric: &str) -> String {
    let tag = tag(run.case, run.repetition, metric);
    if run.src.is_empty() {
        tag
    } else {
        format!("{tag}@{}>{}", run.src, run.dst)
    }
}

impl HlogWriter {
    pub fn create(path: &Path, base: SystemTime) -> Result<HlogWriter, WriteError> {
        let mut header = Vec::new();
        let mut serializer = V2DeflateSerializer::new();
        IntervalLogWriterBuilder::new()
            .add_comment(
                "sockbench latency log; values in nanoseconds; tag = case<N>.rep<N>.<metric>",
            )
            .with_start_time(base)
            .with_base_time(base)
            .begin_log_with(&mut header, &mut serializer)
            .map_err(|e| WriteError::writing(path, e))?;
        header.extend_from_slice(b"\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n");
        let file = AppendFile::create_with(path, &header)?;
        Ok(HlogWriter { file, base })
    }

    /// One histogram's line of the log, to be appended with the rest of its run's rows.
    pub fn entry(
        &self,
        tag_text: &str,
        start: SystemTime,
        length: Duration,
        h: &Histogram<u64>,
    ) -> Result<Vec<u8>, WriteError> {
        let fail = |e: io::Error| WriteError::writing(&self.file.path, e);
        let mut line = Vec::new();
        let mut serializer = V2DeflateSerializer::new();
        let mut writer = IntervalLogWriterBuilder::new()
            .begin_log_with(&mut line, &mut serializer)
            .map_err(fail)?;
        let offset = start.duration_since(self.base).unwrap_or_default();
        writer
            .write_histogram(h, offset, length, Tag::new(tag_text))
            .map_err(|e| fail(io::Error::other(format!("{e:?}"))))?;
        Ok(line)
    }

    pub fn write(
        &mut self,
        tag_text: &str,
        start: SystemTime,
        length: Duration,
        h: &Histogram<u64>,
    ) -> Result<(), WriteError> {
        let line = self.entry(tag_text, start, length, h)?;
        self.file.append(&line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::latency_histogram;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};

    #[test]
    fn the_log_reads_back_with_its_tags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("latency.hlog");
        let base = SystemTime::now();
        let mut w = HlogWriter::create(&path, base).unwrap();
        let mut h = latency_histogram();
        h.record(25_000).unwrap();
        h.record(30_000).unwrap();
        w.write(
            &tag(1, 1, "rtt"),
            base + Duration::from_secs(2),
            Duration::from_secs(5),
            &h,
        )
        .unwrap();
        w.write(
            &tag(2, 1, "rtt"),
            base + Duration::from_secs(9),
            Duration::from_secs(5),
            &h,
        )
        .unwrap();
        let text = std::fs::read(&path).unwrap();
        let hists: Vec<_> = IntervalLogIterator::new(&text)
            .filter_map(|e| match e.unwrap() {
                LogEntry::Interval(i) => Some(i),
                _ => None,
            })
            .collect();
        assert_eq!(hists.len(), 2);
        assert_eq!(hists[0].tag().unwrap().as_str(), "case1.rep1.rtt");
        assert_eq!(hists[1].start_timestamp(), Duration::from_secs(9));
        assert_eq!(hists[0].duration(), Duration::from_secs(5));
    }
}
