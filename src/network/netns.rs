//! Network namespaces kept as files: a new namespace is bind-mounted onto a
//! file under the run directory, so it outlives the processes inside it (a
//! restarted container finds its interfaces and addresses again). The
//! runtime joins it by path.
//!
//! Namespaces are entered briefly, on a dedicated OS thread ([`run_in`]):
//! the calling thread, and any async runtime on it, never changes namespace.

use std::fs::{self, File, OpenOptions};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};

use super::error::{NetworkError, Result};

const NSFS_MAGIC: i64 = 0x6e73_6673;

fn ns_err(path: &Path, action: &'static str, source: std::io::Error) -> NetworkError {
    NetworkError::Netns {
        path: path.to_path_buf(),
        action,
        source,
    }
}

fn errno(e: nix::Error) -> std::io::Error {
    std::io::Error::from_raw_os_error(e as i32)
}

/// Whether `path` is a mounted namespace file (not just an empty file left
/// behind by a crash).
pub fn is_netns(path: &Path) -> bool {
    nix::sys::statfs::statfs(path)
        .map(|s| s.filesystem_type().0 == NSFS_MAGIC)
        .unwrap_or(false)
}

/// Creates a new network namespace at `path`. If `path` already holds one
/// (a container restarting), it is kept and `false` is returned; `true`
/// means a new namespace was made. Its `lo` is down until [`super::veth`]
/// configures it.
pub fn create(path: &Path) -> Result<bool> {
    if is_netns(path) {
        return Ok(false);
    }
    if let Some(dir) = path.parent() {
        crate::store::private_dir(dir).map_err(|e| ns_err(dir, "create directory", std::io::Error::other(e)))?;
    }
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(crate::store::FILE_MODE)
        .open(path)
        .map_err(|e| ns_err(path, "create file", e))?;
    let made = std::thread::scope(|s| {
        s.spawn(|| -> Result<()> {
            unshare(CloneFlags::CLONE_NEWNET).map_err(|e| ns_err(path, "unshare", errno(e)))?;
            mount(
                Some("/proc/thread-self/ns/net"),
                path,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(|e| ns_err(path, "bind mount", errno(e)))
        })
        .join()
        .unwrap_or_else(|_| {
            Err(ns_err(
                path,
                "create",
                std::io::Error::other("namespace thread panicked"),
            ))
        })
    });
    if let Err(e) = made {
        let _ = fs::remove_file(path);
        return Err(e);
    }
    Ok(true)
}

/// Removes the namespace file: unmounts it (the namespace goes away with
/// the last process and interface in it) and deletes the file. A missing
/// file is success.
pub fn remove(path: &Path) -> Result<()> {
    match umount2(path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::Error::EINVAL) | Err(nix::Error::ENOENT) => {}
        Err(e) => return Err(ns_err(path, "unmount", errno(e))),
    }
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(ns_err(path, "remove file", e)),
        _ => Ok(()),
    }
}

/// Runs `f` on a fresh OS thread that has joined the namespace at `netns`
/// (or stays in the caller's namespace for `None`). Sockets created in `f`
/// belong to that namespace for their whole life, wherever they are used.
pub fn run_in<T: Send>(netns: Option<&Path>, f: impl FnOnce() -> T + Send) -> Result<T> {
    let file = match netns {
        Some(p) => Some((File::open(p).map_err(|e| ns_err(p, "open", e))?, p.to_path_buf())),
        None => None,
    };
    std::thread::scope(|s| {
        s.spawn(move || -> Result<T> {
            if let Some((file, path)) = &file {
                if !is_netns(path) {
                    return Err(ns_err(
                        path,
                        "join",
                        std::io::Error::other("not a network namespace file"),
                    ));
                }
                setns(file.as_fd(), CloneFlags::CLONE_NEWNET).map_err(|e| ns_err(path, "setns", errno(e)))?;
            }
            Ok(f())
        })
        .join()
        .unwrap_or_else(|_| {
            let p = netns
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from("(current)"));
            Err(ns_err(&p, "run", std::io::Error::other("namespace thread panicked")))
        })
    })
}
