//! The on-disk state root (DESIGN.md §5) and the two primitives every module
//! that writes state needs: atomic file replacement and advisory locks.
//!
//! Nothing here knows what the files mean; the image, runtime and volume
//! modules lay their own trees out below the root. What does live here is
//! who may read them ([`modes`]: root only) and the one safe way to read a
//! file of an image or a container from the host ([`in_root`]).

mod in_root;
mod modes;

pub use in_root::{read_in_root, read_in_root_path, read_text_in_root, CHAR_DEVICE, MAX_IN_ROOT_FILE};
pub use modes::{
    dir_with_mode, make_private, open_private_append, private_dir, secure_run_root, secure_state_root, DIR_MODE,
    FILE_MODE, ROOT_DIR_MODE, SHARED_DIR_MODE, SHARED_FILE_MODE,
};

use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Default state root when `RCOMPOSE_ROOT` is not set.
pub const DEFAULT_ROOT: &str = "/var/lib/rcompose";

/// Errors of the state root primitives. Each names the path involved.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot write {path}: {source}; check that the state root is writable and not full")]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot lock {path}: {source}; check that the state root is writable")]
    Lock { path: PathBuf, source: io::Error },
    #[error("cannot create directory {path}: {source}; check the permissions of the state root")]
    CreateDir { path: PathBuf, source: io::Error },
    #[error("cannot read {name} in {root}: {source}")]
    ReadInRoot {
        name: String,
        root: PathBuf,
        source: io::Error,
    },
    #[error("cannot read {name} in {root}: it is {kind}, not a regular file; make it a regular file in the image")]
    NotRegular {
        name: String,
        root: PathBuf,
        kind: &'static str,
    },
    #[error("cannot read {name} in {root}: it is larger than {} MiB; this is not a real {name}", limit >> 20)]
    TooLarge { name: String, root: PathBuf, limit: u64 },
}

/// The state root: a directory under which each engine module keeps its data.
#[derive(Debug, Clone)]
pub struct Root {
    path: PathBuf,
}

impl Root {
    /// The root at `path`, created if missing (0710), tightened if an older
    /// version left it open to other users.
    pub fn open(path: impl Into<PathBuf>) -> Result<Root, StoreError> {
        let path = path.into();
        secure_state_root(&path)?;
        Ok(Root { path })
    }

    /// The root named by `RCOMPOSE_ROOT`, or [`DEFAULT_ROOT`].
    pub fn from_env() -> PathBuf {
        std::env::var_os("RCOMPOSE_ROOT")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_ROOT))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A private subdirectory of the root, created if missing.
    pub fn subdir(&self, name: &str) -> Result<PathBuf, StoreError> {
        let dir = self.path.join(name);
        private_dir(&dir)?;
        Ok(dir)
    }
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A name for a temporary file that no other process or thread uses at the
/// same time: the pid tells a later cleanup whether its writer is still alive.
pub fn temp_name(prefix: &str) -> String {
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}{}-{n}-{nanos:08x}", std::process::id())
}

/// The pid embedded by [`temp_name`] in a file name, if any.
pub fn temp_owner(name: &OsStr, prefix: &str) -> Option<i32> {
    let rest = name.to_str()?.strip_prefix(prefix)?;
    rest.split('-').next()?.parse().ok()
}

/// Whether the process `pid` still exists (a temp file of a live writer must
/// not be cleaned up under it).
pub fn process_alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    // Signal 0 checks existence; EPERM still means the process exists.
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
        Ok(()) => true,
        Err(e) => e == nix::errno::Errno::EPERM,
    }
}

/// Writes `data` to `path` atomically as a private file (0600): readers
/// see the old content or the new, never a part. The temp file lives in the
/// same directory so the rename cannot cross file systems; it is synced
/// first so that a crash cannot leave a renamed but empty file.
pub fn atomic_write(path: &Path, data: &[u8]) -> Result<(), StoreError> {
    atomic_write_mode(path, data, FILE_MODE)
}

/// [`atomic_write`] with exactly `mode` (whatever the umask): only for the
/// few files a container shows to its users ([`SHARED_FILE_MODE`]).
pub fn atomic_write_mode(path: &Path, data: &[u8], mode: u32) -> Result<(), StoreError> {
    let err = |source| StoreError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(temp_name(".tmp-"));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode & 0o700)
            .open(&tmp)?;
        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        f.write_all(data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(err)
}

/// An advisory lock on a file (flock), released on drop. Locks serialize
/// read-modify-write of shared state files between processes.
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

impl Lock {
    /// Takes an exclusive lock on `path` (created if missing), waiting for it.
    pub fn exclusive(path: &Path) -> Result<Lock, StoreError> {
        Self::take(path, libc::LOCK_EX)
    }

    /// Takes a shared lock on `path` (created if missing), waiting for it.
    pub fn shared(path: &Path) -> Result<Lock, StoreError> {
        Self::take(path, libc::LOCK_SH)
    }

    fn take(path: &Path, op: libc::c_int) -> Result<Lock, StoreError> {
        let err = |source| StoreError::Lock {
            path: path.to_path_buf(),
            source,
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(FILE_MODE)
            .custom_flags(libc::O_CLOEXEC)
            .open(path)
            .map_err(err)?;
        loop {
            // SAFETY: flock on a descriptor we own; no memory is involved.
            let rc = unsafe { libc::flock(file.as_raw_fd(), op) };
            if rc == 0 {
                return Ok(Lock { _file: file });
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(err(e));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        atomic_write(&p, b"one").unwrap();
        atomic_write(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        atomic_write_mode(&p, b"three", SHARED_FILE_MODE).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o644);
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn temp_names_carry_the_pid() {
        let n = temp_name("ingest-");
        assert_eq!(temp_owner(OsStr::new(&n), "ingest-"), Some(std::process::id() as i32));
        assert!(process_alive(std::process::id() as i32));
    }

    #[test]
    fn locks_are_reentrant_per_open() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("lock");
        let a = Lock::shared(&p).unwrap();
        let b = Lock::shared(&p).unwrap();
        drop((a, b));
        let _c = Lock::exclusive(&p).unwrap();
    }
}
