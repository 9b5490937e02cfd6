//! The engine's event log: one JSON line per container event (create,
//! start, die, pause, unpause, health_status, destroy) appended to
//! `$RCOMPOSE_RUN/events.jsonl` by whoever makes the change — the
//! supervisor for what happens to the process, the caller for create and
//! destroy. `rcompose events` tails it. There is no daemon to ask, and
//! reading states on a timer would miss changes that come fast.
//!
//! Each line is one `write` on an `O_APPEND` file, so writers in several
//! processes do not interleave. The file is rotated (one old generation)
//! past [`MAX_BYTES`]; a reader that sees it shrink starts again from the top.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::state::Roots;

const MAX_BYTES: u64 = 8 << 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub time: DateTime<Utc>,
    pub action: String,
    /// The container id.
    pub id: String,
    /// The container's labels, plus details of the action (`exitCode`).
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

fn log_path(roots: &Roots) -> PathBuf {
    roots.run.join("events.jsonl")
}

/// Appends an event. Failing to record one never fails the change itself:
/// the error is returned for the caller to report if it wants.
pub fn record(
    roots: &Roots,
    id: &str,
    action: &str,
    labels: &BTreeMap<String, String>,
    extra: &[(&str, String)],
) -> std::io::Result<()> {
    let mut attributes = labels.clone();
    for (k, v) in extra {
        attributes.insert(k.to_string(), v.clone());
    }
    let event = Event {
        time: Utc::now(),
        action: action.to_string(),
        id: id.to_string(),
        attributes,
    };
    let mut line = serde_json::to_vec(&event).map_err(std::io::Error::other)?;
    line.push(b'\n');
    let path = log_path(roots);
    if let Some(dir) = path.parent() {
        crate::store::private_dir(dir).map_err(std::io::Error::other)?;
    }
    if fs::metadata(&path).is_ok_and(|m| m.len() > MAX_BYTES) {
        let _ = fs::rename(&path, path.with_extension("jsonl.1"));
    }
    let mut f = crate::store::open_private_append(&path)?;
    f.write_all(&line)
}

/// Reads the events appended after it was opened.
pub struct Tail {
    path: PathBuf,
    file: Option<File>,
    pos: u64,
    partial: Vec<u8>,
}

impl Tail {
    /// Starts at the current end: only new events are read.
    pub fn from_now(roots: &Roots) -> Tail {
        let path = log_path(roots);
        let pos = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        Tail {
            file: File::open(&path).ok(),
            path,
            pos,
            partial: Vec::new(),
        }
    }

    /// The complete events written since the last call.
    pub fn read_new(&mut self) -> Vec<Event> {
        let len = fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0);
        if self.file.is_none() || len < self.pos {
            // Created since, or rotated: read the new file from the top.
            self.file = File::open(&self.path).ok();
            if len < self.pos {
                self.pos = 0;
                self.partial.clear();
            }
        }
        let Some(file) = self.file.as_mut() else {
            return Vec::new();
        };
        let mut buf = Vec::new();
        if file.seek(SeekFrom::Start(self.pos)).is_err() || file.read_to_end(&mut buf).is_err() {
            return Vec::new();
        }
        self.pos += buf.len() as u64;
        self.partial.extend_from_slice(&buf);
        let mut out = Vec::new();
        while let Some(nl) = self.partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=nl).collect();
            if let Ok(e) = serde_json::from_slice::<Event>(&line) {
                out.push(e);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tail_reads_what_is_appended_after_it_opened() {
        let dir = tempfile::tempdir().unwrap();
        let roots = Roots {
            root: dir.path().join("root"),
            run: dir.path().join("run"),
        };
        let labels = BTreeMap::from([("a".to_string(), "b".to_string())]);
        record(&roots, "old", "start", &labels, &[]).unwrap();
        let mut tail = Tail::from_now(&roots);
        assert!(tail.read_new().is_empty());
        record(&roots, "c1", "start", &labels, &[]).unwrap();
        record(&roots, "c1", "die", &labels, &[("exitCode", "3".into())]).unwrap();
        let got = tail.read_new();
        assert_eq!(
            got.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
            ["start", "die"]
        );
        assert_eq!(got[1].attributes["exitCode"], "3");
        assert_eq!(got[1].attributes["a"], "b");
        assert!(tail.read_new().is_empty());
    }
}
