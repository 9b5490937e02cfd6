//! `logs`: the containers' json-file logs, interleaved in time order, with
//! `--tail`, `--since`, `--until` and `--follow` (which also picks up
//! containers that start later, and a container's new log after it is
//! recreated).

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::supervisor::log_reader::{forward_lines, ReverseLines};
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
    /// Set (with an empty `text`) after a container's last line when it
    /// has exited, only while following `until_exited` (attached `up`
    /// prints "NAME exited with code N", as Docker Compose).
    pub exited: Option<i32>,
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
        exited: None,
    })
}

/// The marker that follows a container's last line once it has exited.
fn exit_marker(c: &Existing) -> Line {
    Line {
        container: c.id.clone(),
        service: c.service.clone(),
        number: c.number,
        time: Utc::now(),
        stderr: false,
        text: String::new(),
        exited: Some(c.state.exit_code.unwrap_or(-1)),
    }
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

fn parse(line: &[u8]) -> Option<LogRecord> {
    serde_json::from_slice(line).ok()
}

/// What was read of one container's log files.
struct Read<T> {
    items: Vec<T>,
    /// The current file's inode and the offset after its last complete
    /// line, where following goes on.
    inode: u64,
    offset: u64,
}

/// Reads the records of a container's log files (`current` and its
/// rotated predecessors) that `keep` turns into items, oldest first; with
/// `tail`, only the last `tail` of them, read backwards from the end so
/// that a long log costs what is shown, not its size.
fn read_log_files<T>(current: &Path, tail: Option<usize>, mut keep: impl FnMut(LogRecord) -> Option<T>) -> Read<T> {
    let mut read = Read {
        items: Vec::new(),
        inode: 0,
        offset: 0,
    };
    let open = |p: &Path| {
        let f = std::fs::File::open(p).ok()?;
        let meta = f.metadata().ok()?;
        Some((f, meta.ino(), meta.len()))
    };
    let files = log_files(current);
    match tail {
        None => {
            for path in &files {
                let Some((file, inode, len)) = open(path) else { continue };
                let end = forward_lines(&file, 0, len, |l| {
                    if let Some(item) = parse(l).and_then(&mut keep) {
                        read.items.push(item);
                    }
                });
                if path == current {
                    read.inode = inode;
                    read.offset = end.unwrap_or(0);
                }
            }
        }
        Some(n) => {
            // Newest file first, each from its end, until `n` are found.
            for path in files.iter().rev() {
                let Some((file, inode, len)) = open(path) else { continue };
                let Ok(lines) = ReverseLines::new(&file, len) else {
                    continue;
                };
                if path == current {
                    read.inode = inode;
                    read.offset = lines.end();
                }
                for line in lines {
                    if read.items.len() >= n {
                        break;
                    }
                    let Ok(line) = line else { break };
                    if let Some(item) = parse(&line).and_then(&mut keep) {
                        read.items.push(item);
                    }
                }
                if read.items.len() >= n {
                    break;
                }
            }
            read.items.reverse();
        }
    }
    read
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
        let read = read_log_files(&current, opts.tail, |r| to_line(c, r).filter(|l| in_window(l, opts)));
        lines.extend(read.items);
        cursors.insert(
            c.id.clone(),
            Cursor {
                container: c.clone(),
                path: current,
                inode: read.inode,
                offset: read.offset,
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
    // Containers whose exit was reported (until they run again).
    let mut reported: std::collections::HashSet<String> = std::collections::HashSet::new();
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
            if opts.until_exited {
                // Each container that exited: the rest of its lines, then
                // its exit.
                for c in &now {
                    if c.running() {
                        reported.remove(&c.id);
                        continue;
                    }
                    if c.state.started_at.is_none() || !reported.insert(c.id.clone()) {
                        continue;
                    }
                    let mut last: Vec<Line> = Vec::new();
                    if let Some(cur) = cursors.get_mut(&c.id) {
                        read_new(cur, &mut last);
                    }
                    last.push(exit_marker(c));
                    for l in &last {
                        if !emit(l) {
                            return Ok(());
                        }
                    }
                }
                if now.iter().all(|c| !c.running()) {
                    return Ok(());
                }
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// Reads the complete lines appended since the cursor; starts over when
/// the file was rotated or replaced.
fn read_new(cur: &mut Cursor, out: &mut Vec<Line>) {
    // The file now at the path (after a rotation, a new one, read from
    // its start).
    let Ok(f) = std::fs::File::open(&cur.path) else {
        return;
    };
    let Ok(meta) = f.metadata() else {
        return;
    };
    if meta.ino() != cur.inode || meta.len() < cur.offset {
        cur.inode = meta.ino();
        cur.offset = 0;
    }
    let len = meta.len();
    if len == cur.offset {
        return;
    }
    let container = &cur.container;
    if let Ok(end) = forward_lines(&f, cur.offset, len, |l| {
        if let Some(line) = parse(l).and_then(|r| to_line(container, r)) {
            out.push(line);
        }
    }) {
        cur.offset = end;
    }
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

    fn record(i: usize) -> String {
        let r = LogRecord {
            log: format!("line {i}\n"),
            stream: "stdout".into(),
            time: format!("2026-11-22T10:00:{:02}.000000000Z", i % 60),
        };
        serde_json::to_string(&r).unwrap() + "\n"
    }

    fn numbers(read: &Read<LogRecord>) -> Vec<usize> {
        read.items
            .iter()
            .map(|r| r.log.trim_end().strip_prefix("line ").unwrap().parse().unwrap())
            .collect()
    }

    #[test]
    fn tail_reads_back_through_rotated_files_and_stops_at_a_partial_line() {
        let dir = tempfile::tempdir().unwrap();
        let current = dir.path().join("c-json.log");
        // .2 holds 0..3000, .1 holds 3000..3010, the current file
        // 3010..3015 and half of a record the supervisor is writing: more
        // than one read block (64 KiB) in all.
        let text = |r: std::ops::Range<usize>| r.map(record).collect::<String>();
        std::fs::write(dir.path().join("c-json.log.2"), text(0..3000)).unwrap();
        std::fs::write(dir.path().join("c-json.log.1"), text(3000..3010)).unwrap();
        let complete = text(3010..3015);
        let partial = &record(3015)[..20];
        std::fs::write(&current, format!("{complete}{partial}")).unwrap();
        assert!(std::fs::metadata(dir.path().join("c-json.log.2")).unwrap().len() > 64 * 1024);

        let read = read_log_files(&current, Some(3), Some);
        assert_eq!(numbers(&read), vec![3012, 3013, 3014]);
        assert_eq!(read.offset, complete.len() as u64);
        let read = read_log_files(&current, Some(20), Some);
        assert_eq!(numbers(&read), (2995..3015).collect::<Vec<_>>());
        let read = read_log_files(&current, Some(2000), Some);
        assert_eq!(numbers(&read), (1015..3015).collect::<Vec<_>>());
        let read = read_log_files(&current, Some(0), Some);
        assert!(read.items.is_empty());
        assert_eq!(read.offset, complete.len() as u64);
        let all = read_log_files(&current, None, Some);
        assert_eq!(numbers(&all), (0..3015).collect::<Vec<_>>());
        assert_eq!(all.offset, complete.len() as u64);

        // The window applies before counting, as Docker's --since/--until
        // with --tail: the last 4 of those at second 20..=29.
        let in_window = |r: LogRecord| {
            let s: u32 = r.time[17..19].parse().unwrap();
            (20..30).contains(&s).then_some(r)
        };
        let read = read_log_files(&current, Some(4), in_window);
        assert_eq!(numbers(&read), vec![2966, 2967, 2968, 2969]);
    }
}
