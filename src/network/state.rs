//! Where the network module keeps its files, and how it writes them.
//!
//! - `$RCOMPOSE_ROOT/networks/<name>.json`: one [`NetworkRecord`] per network
//!   (bridge name, subnets, leases), updated under an exclusive lock.
//! - `$RCOMPOSE_RUN/netns/<container>`: network namespace files (`netns.rs`).
//! - `$RCOMPOSE_RUN/dns/<container>.json`: what a running container answers
//!   to in DNS (`dns::records`).
//!
//! Files are private (0600 in 0700 directories, DESIGN.md §5). Writes are
//! atomic (temp file + rename): readers see the old or the new
//! file, never a torn one. They are not fsync'd: the files describe live
//! kernel state that a reboot clears anyway. The locking and atomic-write
//! helpers are private here until the shared `store` module lands; they do
//! what it is meant to do and can be swapped for it.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::error::{NetworkError, Result};
use super::ipam::NetworkIpam;

/// The state root and run directory the network module works under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkPaths {
    pub root: PathBuf,
    pub run: PathBuf,
}

impl NetworkPaths {
    pub fn new(root: impl Into<PathBuf>, run: impl Into<PathBuf>) -> Self {
        NetworkPaths {
            root: root.into(),
            run: run.into(),
        }
    }

    /// `RCOMPOSE_ROOT` (default `/var/lib/rcompose`) and `RCOMPOSE_RUN`
    /// (default `/run/rcompose`).
    pub fn from_env() -> Self {
        let root = std::env::var_os("RCOMPOSE_ROOT")
            .map(PathBuf::from)
            .unwrap_or_else(|| "/var/lib/rcompose".into());
        let run = std::env::var_os("RCOMPOSE_RUN")
            .map(PathBuf::from)
            .unwrap_or_else(|| "/run/rcompose".into());
        NetworkPaths { root, run }
    }

    pub fn networks_dir(&self) -> PathBuf {
        self.root.join("networks")
    }
    pub fn network_file(&self, network: &str) -> PathBuf {
        self.networks_dir().join(format!("{}.json", file_safe(network)))
    }
    pub fn netns_dir(&self) -> PathBuf {
        self.run.join("netns")
    }
    pub fn netns_file(&self, container: &str) -> PathBuf {
        self.netns_dir().join(file_safe(container))
    }
    pub fn dns_dir(&self) -> PathBuf {
        self.run.join("dns")
    }
}

/// Names become file names: anything but `[A-Za-z0-9._-]` is replaced.
pub fn file_safe(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with('.') {
        format!("_{s}")
    } else {
        s
    }
}

/// What rcompose remembers about one network between commands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkRecord {
    /// Full name (`<project>_<network>`, or the external name).
    pub name: String,
    pub bridge: String,
    pub ipam: NetworkIpam,
    pub internal: bool,
    /// The bridge existed before us (`external:`): never removed by `down`.
    pub external: bool,
    pub enable_ipv6: bool,
}

fn state_err(path: &Path, action: &'static str, reason: impl ToString) -> NetworkError {
    NetworkError::State {
        path: path.to_path_buf(),
        action,
        reason: reason.to_string(),
    }
}

/// Reads a JSON file; a missing file is `None`.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    let mut text = String::new();
    match File::open(path) {
        Ok(mut f) => f.read_to_string(&mut text).map_err(|e| state_err(path, "read", e))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(state_err(path, "open", e)),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| state_err(path, "parse", e))
}

/// Writes `value` as JSON to `path` atomically (temp file in the same
/// directory, then rename), creating the directory if needed.
pub fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    crate::store::private_dir(dir).map_err(|e| state_err(dir, "create directory", e))?;
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| state_err(path, "serialize", e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(crate::store::FILE_MODE)
            .open(&tmp)?;
        f.write_all(&bytes)?;
        fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        state_err(path, "write", e)
    })
}

/// Removes a file; a missing file is success.
pub fn remove_file(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(state_err(path, "remove", e)),
        _ => Ok(()),
    }
}

/// An exclusive advisory lock held until dropped (flock on `<path>.lock`).
pub struct FileLock {
    _file: File,
}

impl FileLock {
    pub fn acquire(path: &Path) -> Result<FileLock> {
        let lock_path = path.with_extension("lock");
        if let Some(dir) = lock_path.parent() {
            crate::store::private_dir(dir).map_err(|e| state_err(dir, "create directory", e))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(crate::store::FILE_MODE)
            .open(&lock_path)
            .map_err(|e| state_err(&lock_path, "open lock", e))?;
        loop {
            // SAFETY: flock on an fd we own; no memory is involved.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
            if rc == 0 {
                return Ok(FileLock { _file: file });
            }
            let err = std::io::Error::last_os_error();
            if err.kind() != std::io::ErrorKind::Interrupted {
                return Err(state_err(&lock_path, "lock", err));
            }
        }
    }
}

/// Read-modify-write of one JSON file under its lock. `f` sees `None` when
/// the file does not exist; leaving `None` removes the file.
pub fn update_json<T, R>(path: &Path, f: impl FnOnce(&mut Option<T>) -> Result<R>) -> Result<R>
where
    T: Serialize + DeserializeOwned + PartialEq + Clone,
{
    let _lock = FileLock::acquire(path)?;
    let before: Option<T> = read_json(path)?;
    let mut value = before.clone();
    let out = f(&mut value)?;
    if value != before {
        match &value {
            Some(v) => write_json_atomic(path, v)?,
            None => remove_file(path)?,
        }
    }
    Ok(out)
}

/// All network records under the state root, in name order.
pub fn list_networks(paths: &NetworkPaths) -> Result<Vec<NetworkRecord>> {
    let dir = paths.networks_dir();
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(state_err(&dir, "list", e)),
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let p = entry.path();
        if p.extension().is_some_and(|e| e == "json") && !entry.file_name().to_string_lossy().starts_with('.') {
            if let Some(r) = read_json::<NetworkRecord>(&p)? {
                out.push(r);
            }
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_creates_changes_and_removes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a/b.json");
        update_json::<Vec<u32>, _>(&p, |v| {
            assert!(v.is_none());
            *v = Some(vec![1]);
            Ok(())
        })
        .unwrap();
        assert_eq!(read_json::<Vec<u32>>(&p).unwrap(), Some(vec![1]));
        update_json::<Vec<u32>, _>(&p, |v| {
            *v = None;
            Ok(())
        })
        .unwrap();
        assert!(!p.exists());
        // an error inside leaves the file as it was
        write_json_atomic(&p, &vec![7u32]).unwrap();
        let r = update_json::<Vec<u32>, ()>(&p, |v| {
            *v = Some(vec![8]);
            Err(NetworkError::io("test", std::io::Error::other("boom")))
        });
        assert!(r.is_err());
        assert_eq!(read_json::<Vec<u32>>(&p).unwrap(), Some(vec![7]));
    }

    #[test]
    fn damaged_file_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.json");
        fs::write(&p, "{not json").unwrap();
        let err = read_json::<Vec<u32>>(&p).unwrap_err().to_string();
        assert!(err.contains("x.json") && err.contains("parse"), "{err}");
    }

    #[test]
    fn names_are_file_safe() {
        assert_eq!(file_safe("proj_web-1"), "proj_web-1");
        assert_eq!(file_safe("../etc"), "_.._etc");
        assert_eq!(file_safe("a/b"), "a_b");
    }
}
