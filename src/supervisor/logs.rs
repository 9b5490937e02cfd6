//! The container's log in Docker's json-file format, one JSON object per
//! line: `{"log":"hello\n","stream":"stdout","time":"2026-…Z"}`, with
//! `max-size`/`max-file` rotation (`<id>-json.log`, `.1`, `.2`, …).
//! Lines longer than 16 KiB are split, as Docker does.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::runtime::LogConfig;

const MAX_LINE: usize = 16 * 1024;

/// One log record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogRecord {
    pub log: String,
    pub stream: String,
    pub time: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// Appends records to the log, rotating it.
///
/// Writing never fails the caller: a record that cannot be written (the
/// disk is full, an I/O error) is dropped and counted, and the first record
/// written after that is a note from rcompose saying how many were lost.
/// A partly written record is cut off again, so the file stays one JSON
/// object per line.
pub struct LogWriter {
    path: PathBuf,
    file: Option<File>,
    size: u64,
    config: LogConfig,
    pending: [Vec<u8>; 2],
    /// Records dropped since the last one written, and why.
    dropped: u64,
    cause: Option<String>,
    /// A change worth a line in the supervisor's own log.
    news: Option<String>,
}

impl LogWriter {
    pub fn open(path: &Path, config: LogConfig) -> std::io::Result<LogWriter> {
        let file = crate::store::open_private_append(path)?;
        let size = file.metadata()?.len();
        Ok(LogWriter {
            path: path.to_path_buf(),
            file: Some(file),
            size,
            config,
            pending: [Vec::new(), Vec::new()],
            dropped: 0,
            cause: None,
            news: None,
        })
    }

    /// Takes bytes read from a stream; writes every complete line.
    pub fn feed(&mut self, stream: Stream, data: &[u8]) {
        let idx = stream as usize;
        self.pending[idx].extend_from_slice(data);
        loop {
            let buf = &self.pending[idx];
            let cut = match buf.iter().position(|&b| b == b'\n') {
                Some(nl) if nl < MAX_LINE => nl + 1,
                _ if buf.len() >= MAX_LINE => MAX_LINE,
                _ => break,
            };
            let line: Vec<u8> = self.pending[idx].drain(..cut).collect();
            self.record(stream, &line);
        }
    }

    /// Writes what is left of a stream without a final newline (at its end).
    pub fn flush_partial(&mut self, stream: Stream) {
        let rest = std::mem::take(&mut self.pending[stream as usize]);
        if !rest.is_empty() {
            self.record(stream, &rest);
        }
    }

    /// Records dropped so far (since the last one written).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// What changed since the last call (records started being dropped, or
    /// writing works again), for the supervisor's own log.
    pub fn take_news(&mut self) -> Option<String> {
        self.news.take()
    }

    fn record(&mut self, stream: Stream, line: &[u8]) {
        if self.dropped > 0 {
            let note = format!(
                "rcompose: {} log line(s) dropped: {}\n",
                self.dropped,
                self.cause.as_deref().unwrap_or("cannot write the log")
            );
            if self.write_record(Stream::Stderr, note.as_bytes()).is_err() {
                self.dropped += 1;
                return;
            }
            self.news = Some(format!(
                "writing {} again; {} line(s) were dropped",
                self.path.display(),
                self.dropped
            ));
            self.dropped = 0;
            self.cause = None;
        }
        if let Err(e) = self.write_record(stream, line) {
            if self.dropped == 0 {
                self.news = Some(format!("cannot write {}: {e}; dropping log lines", self.path.display()));
            }
            self.dropped += 1;
            self.cause = Some(e.to_string());
        }
    }

    fn write_record(&mut self, stream: Stream, line: &[u8]) -> std::io::Result<()> {
        let record = LogRecord {
            log: String::from_utf8_lossy(line).into_owned(),
            stream: stream.name().to_string(),
            time: Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true),
        };
        let mut bytes = serde_json::to_vec(&record).map_err(std::io::Error::other)?;
        bytes.push(b'\n');
        if let Some(max) = self.config.max_size {
            if self.size > 0 && self.size + bytes.len() as u64 > max {
                self.rotate()?;
            }
        }
        if self.file.is_none() {
            // A rotation that failed half-way: start a current file again.
            let file = crate::store::open_private_append(&self.path)?;
            self.size = file.metadata()?.len();
            self.file = Some(file);
        }
        let Some(file) = &mut self.file else {
            return Ok(());
        };
        if let Err(e) = file.write_all(&bytes) {
            // Cut off what got written of this record.
            let _ = file.set_len(self.size);
            return Err(e);
        }
        self.size += bytes.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        let keep = self.config.max_file.unwrap_or(1).max(1);
        self.file = None;
        if keep == 1 {
            fs::remove_file(&self.path).or_else(ignore_missing)?;
        } else {
            let numbered = |n: u32| PathBuf::from(format!("{}.{n}", self.path.display()));
            fs::remove_file(numbered(keep - 1)).or_else(ignore_missing)?;
            for n in (1..keep - 1).rev() {
                fs::rename(numbered(n), numbered(n + 1)).or_else(ignore_missing)?;
            }
            fs::rename(&self.path, numbered(1)).or_else(ignore_missing)?;
        }
        self.file = Some(crate::store::open_private_append(&self.path)?);
        self.size = 0;
        Ok(())
    }
}

fn ignore_missing(e: std::io::Error) -> std::io::Result<()> {
    if e.kind() == std::io::ErrorKind::NotFound {
        Ok(())
    } else {
        Err(e)
    }
}

/// Reads the records of a log file (the current one).
pub fn read_log(path: &Path) -> std::io::Result<Vec<LogRecord>> {
    let text = fs::read_to_string(path)?;
    Ok(text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_become_json_records_with_timestamps() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let mut w = LogWriter::open(&path, LogConfig::default()).unwrap();
        w.feed(Stream::Stdout, b"hel");
        w.feed(Stream::Stderr, b"oops\n");
        w.feed(Stream::Stdout, b"lo\nwor");
        w.flush_partial(Stream::Stdout);
        let recs = read_log(&path).unwrap();
        let got: Vec<(&str, &str)> = recs.iter().map(|r| (r.log.as_str(), r.stream.as_str())).collect();
        assert_eq!(
            got,
            vec![("oops\n", "stderr"), ("hello\n", "stdout"), ("wor", "stdout")]
        );
        let t = chrono::DateTime::parse_from_rfc3339(&recs[0].time).unwrap();
        assert!((Utc::now() - t.with_timezone(&Utc)).num_seconds() < 60);
        assert!(recs[0].time.ends_with('Z'));
    }

    #[test]
    fn long_lines_are_split() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let mut w = LogWriter::open(&path, LogConfig::default()).unwrap();
        w.feed(Stream::Stdout, &vec![b'a'; MAX_LINE + 10]);
        w.flush_partial(Stream::Stdout);
        let recs = read_log(&path).unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].log.len(), MAX_LINE);
    }

    #[test]
    fn rotation_keeps_max_file_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let config = LogConfig {
            max_size: Some(200),
            max_file: Some(3),
        };
        let mut w = LogWriter::open(&path, config).unwrap();
        for i in 0..40 {
            w.feed(Stream::Stdout, format!("line {i}\n").as_bytes());
        }
        let mut names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, vec!["c-json.log", "c-json.log.1", "c-json.log.2"]);
        for n in &names {
            assert!(fs::metadata(dir.path().join(n)).unwrap().len() <= 200);
        }
        let last = read_log(&path).unwrap();
        assert_eq!(last.last().unwrap().log, "line 39\n");
    }

    /// /dev/full fails every write with ENOSPC, as a full disk does.
    #[test]
    fn lines_that_cannot_be_written_are_dropped_counted_and_reported() {
        let mut w = LogWriter::open(Path::new("/dev/full"), LogConfig::default()).unwrap();
        w.feed(Stream::Stdout, b"one\ntwo\n");
        w.flush_partial(Stream::Stdout);
        assert_eq!(w.dropped(), 2);
        assert!(w.take_news().unwrap().contains("dropping log lines"));
        assert_eq!(w.take_news(), None);

        // Space again (here: the writer pointed at a real file).
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        w.path = path.clone();
        w.file = Some(crate::store::open_private_append(&path).unwrap());
        w.size = 0;
        w.feed(Stream::Stdout, b"three\n");
        assert_eq!(w.dropped(), 0);
        assert!(w.take_news().unwrap().contains("2 line(s) were dropped"));
        let recs = read_log(&path).unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].stream, "stderr");
        assert!(recs[0]
            .log
            .starts_with("rcompose: 2 log line(s) dropped: No space left on device"));
        assert_eq!(recs[1].log, "three\n");
    }
}
