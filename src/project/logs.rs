//! `logs`: the containers' json-file logs, interleaved in time order, with
//! `--tail`, `--since`, `--until` and `--follow` (which also picks up
//! containers that start later, and a container's new log after it is
//! recreated).

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::supervisor::logs::LogRecord;

use super::engine::Engine;
use super::error::Result;
use super::inventory::{self, Existing};
use super::Target;

#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    pub services: Vec<String>,
    pub follow: bool,
    /// Lines per container from the end (`None`: all).
    pub tail: Option<usize>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Only the container with this number (`--index`).
    pub index: Option<u32>,
    /// Include one-off containers (`run`).
    pub oneoff: bool,
    /// Stop following once every followed container has exited (attached `up`).
    pub until_exited: bool,
    /// Only this container (attached `run`).
    pub container: Option<String>,
}

/// One line of one container's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub container: String,
    pub service: String,
    pub number: u32,
    pub time: DateTime<Utc>,
    pub stderr: bool,
    pub text: String,
}

/// `--since`/`--until` values: RFC 3339 timestamps, Unix seconds, or a
/// duration before now such as `5m`, `1h30m`, `10s`.
pub fn parse_time(s: &str, now: DateTime<Utc>) -> std::result::Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).map(|t| t.and_utc()).unwrap_or(now));
    }
    if let Ok(secs) = s.parse::<f64>() {
        return DateTime::from_timestamp(secs as i64, ((secs.fract()) * 1e9) as u32)
            .ok_or_else(|| format!("{s:?} is out of range"));
    }
    match crate::compose::normalize::parse_duration(s) {
        Ok(d) => Ok(now - chrono::Duration::from_std(d).unwrap_or_default()),
        Err(_) => Err(format!(
            "{s:?} is not a timestamp (2026-01-02T15:04:05Z), Unix time, or a duration like 5m or 1h30m"
        )),
    }
}

fn to_line(c: &Existing, r: LogRecord) -> Option<Line> {
    let time = DateTime::parse_from_rfc3339(&r.time).ok()?.with_timezone(&Utc);
    Some(Line {
        container: c.id.clone(),
        service: c.service.clone(),
        number: c.number,
        time,
        stderr: r.stream == "stderr",
        text: r.log,
    })
}

/// The log files of a container, oldest first (`.N` … `.1`, then current).
fn log_files(current: &Path) -> Vec<PathBuf> {
    let mut rotated: Vec<(u32, PathBuf)> = Vec::new();
    for n in 1..100 {
        let p = PathBuf::from(format!("{}.{n}", current.display()));
        if !p.exists() {
            break;
        }
        rotated.push((n, p));
    }
    rotated.sort_by(|a, b| b.0.cmp(&a.0));
    let mut out: Vec<PathBuf> = rotated.into_iter().map(|(_, p)| p).collect();
    out.push(current.to_path_buf());
    out
}

fn parse_records(text: &str) -> impl Iterator<Item = LogRecord> + '_ {
    text.lines().filter_map(|l| serde_json::from_str(l).ok())
}

/// Where following a container's current log file has got to.
struct Cursor {
    container: Existing,
    path: PathBuf,
    inode: u64,
    offset: u64,
}

fn select(engine: &Engine, target: &Target, opts: &LogOptions) -> Result<Vec<Existing>> {
    target.check_services(&opts.services)?;
    Ok(inventory::list(engine, &target.name)?
        .into_iter()
        .filter(|c| opts.services.is_empty() || opts.services.contains(&c.service))
        .filter(|c| opts.oneoff || !c.oneoff)
        .filter(|c| opts.index.is_none_or(|i| c.number == i))
        .filter(|c| opts.container.as_ref().is_none_or(|n| &c.id == n))
        .collect())
}

fn in_window(l: &Line, opts: &LogOptions) -> bool {
    opts.since.is_none_or(|s| l.time >= s) && opts.until.is_none_or(|u| l.time < u)
}

/// Prints logs through `emit` (which returns false to stop, e.g. on a
/// closed pipe) until done, or with `follow` until `stop` is set.
pub fn logs(
    engine: &Engine,
    target: &Target,
    opts: &LogOptions,
    stop: &AtomicBool,
    emit: &mut dyn FnMut(&Line) -> bool,
) -> Result<()> {
    let containers = select(engine, target, opts)?;
    let mut lines: Vec<Line> = Vec::new();
    let mut cursors: HashMap<String, Cursor> = HashMap::new();
    for c in &containers {
        let current = engine.roots.container(&c.id).log();
        let mut mine: Vec<Line> = Vec::new();
        // Following goes on from exactly what was read here: a line the
        // supervisor appends meanwhile is read then, not skipped.
        let (mut inode, mut offset) = (0, 0);
        for f in log_files(&current) {
            let Ok(mut file) = std::fs::File::open(&f) else {
                continue;
            };
            let mut buf = Vec::new();
            if file.read_to_end(&mut buf).is_err() {
                continue;
            }
            let complete = buf.iter().rposition(|b| *b == b'\n').map_or(0, |p| p + 1);
            if f == current {
                inode = file.metadata().map(|m| m.ino()).unwrap_or(0);
                offset = complete as u64;
            }
            let text = String::from_utf8_lossy(&buf[..complete]);
            mine.extend(
                parse_records(&text)
                    .filter_map(|r| to_line(c, r))
                    .filter(|l| in_window(l, opts)),
            );
        }
        if let Some(n) = opts.tail {
            let skip = mine.len().saturating_sub(n);
            mine.drain(..skip);
        }
        lines.extend(mine);
        cursors.insert(
            c.id.clone(),
            Cursor {
                container: c.clone(),
                path: current,
                inode,
                offset,
            },
        );
    }
    // A stable sort keeps each container's own order for equal times.
    lines.sort_by_key(|l| l.time);
    for l in &lines {
        if !emit(l) {
            return Ok(());
        }
    }
    if !opts.follow {
        return Ok(());
    }
    follow(engine, target, opts, stop, cursors, emit)
}

fn follow(
    engine: &Engine,
    target: &Target,
    opts: &LogOptions,
    stop: &AtomicBool,
    mut cursors: HashMap<String, Cursor>,
    emit: &mut dyn FnMut(&Line) -> bool,
) -> Result<()> {
    let mut rescan = 0u32;
    while !stop.load(Ordering::Relaxed) {
        let mut batch: Vec<Line> = Vec::new();
        for cur in cursors.values_mut() {
            read_new(cur, &mut batch);
        }
        batch.sort_by_key(|l| l.time);
        for l in batch.iter().filter(|l| opts.until.is_none_or(|u| l.time < u)) {
            if !emit(l) {
                return Ok(());
            }
        }
        rescan += 1;
        if rescan % 5 == 0 {
            // New containers (scale up, restarts by `up`) are followed from
            // their first line.
            let now = select(engine, target, opts)?;
            for c in &now {
                cursors.entry(c.id.clone()).or_insert_with(|| Cursor {
                    container: c.clone(),
                    path: engine.roots.container(&c.id).log(),
                    inode: 0,
                    offset: 0,
                });
            }
            if opts.until_exited && now.iter().all(|c| !c.running()) {
                // Drain what the last container wrote before it exited.
                let mut last: Vec<Line> = Vec::new();
                for cur in cursors.values_mut() {
                    read_new(cur, &mut last);
                }
                last.sort_by_key(|l| l.time);
                for l in &last {
                    if !emit(l) {
                        break;
                    }
                }
                return Ok(());
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// Reads the complete lines appended since the cursor; starts over when
/// the file was rotated or replaced.
fn read_new(cur: &mut Cursor, out: &mut Vec<Line>) {
    let Ok(meta) = std::fs::metadata(&cur.path) else {
        return;
    };
    if meta.ino() != cur.inode || meta.len() < cur.offset {
        cur.inode = meta.ino();
        cur.offset = 0;
    }
    if meta.len() == cur.offset {
        return;
    }
    let Ok(mut f) = std::fs::File::open(&cur.path) else {
        return;
    };
    if f.seek(SeekFrom::Start(cur.offset)).is_err() {
        return;
    }
    let mut buf = Vec::new();
    if f.read_to_end(&mut buf).is_err() {
        return;
    }
    let complete = match buf.iter().rposition(|b| *b == b'\n') {
        Some(p) => p + 1,
        None => return,
    };
    cur.offset += complete as u64;
    let text = String::from_utf8_lossy(&buf[..complete]);
    out.extend(parse_records(&text).filter_map(|r| to_line(&cur.container, r)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_timestamps_or_durations_before_now() {
        let now = DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            parse_time("5m", now).unwrap(),
            DateTime::parse_from_rfc3339("2026-11-22T09:55:00Z").unwrap()
        );
        assert_eq!(
            parse_time("2026-11-22T09:00:00Z", now).unwrap(),
            DateTime::parse_from_rfc3339("2026-11-22T09:00:00Z").unwrap()
        );
        assert_eq!(parse_time("1700000000", now).unwrap().timestamp(), 1_700_000_000);
        assert!(parse_time("yesterday", now).is_err());
    }
}
