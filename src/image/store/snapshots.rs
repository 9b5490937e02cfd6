//! Snapshots: one unpacked layer per numbered directory (short overlay
//! lowerdir paths), linked by diff ID; committed by rename without replace.

use super::blobs::INGEST_PREFIX;
use super::{Image, ImageStore};
use crate::image::digest::Digest;
use crate::image::error::{io_err, ImageError, Result};
use crate::image::sys;
use crate::store::{process_alive, temp_name, temp_owner};
use std::collections::HashSet;
use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

pub(super) const SNAPSHOT_TMP_PREFIX: &str = "tmp-";

impl ImageStore {
    /// The unpacked directory of the layer with diff ID `diff_id`, if present.
    pub fn snapshot(&self, diff_id: &Digest) -> Option<PathBuf> {
        let link = self.snapshots.join(diff_id.algorithm().name()).join(diff_id.hex());
        let target = std::fs::read_link(&link).ok()?;
        let dir = link.parent()?.join(target);
        dir.is_dir().then(|| normalize(&dir))
    }

    /// The lower dirs of an image, bottom layer first. Fails naming the
    /// first layer that is not unpacked.
    pub fn layer_dirs(&self, image: &Image) -> Result<Vec<PathBuf>> {
        image
            .config
            .rootfs
            .diff_ids
            .iter()
            .map(|d| {
                self.snapshot(d).ok_or_else(|| ImageError::NotFound {
                    reference: format!("snapshot of layer {d} (pull the image again)"),
                })
            })
            .collect()
    }

    /// A fresh directory to unpack a layer into.
    pub fn begin_snapshot(&self) -> Result<TempSnapshot> {
        let path = self.snapshots.join(temp_name(SNAPSHOT_TMP_PREFIX));
        std::fs::create_dir(&path).map_err(io_err("cannot create a snapshot directory", &path))?;
        Ok(TempSnapshot {
            path: Some(path),
            snapshots: self.snapshots.clone(),
        })
    }

    /// Removes the snapshot of `diff_id`: the name first (so it vanishes at
    /// once), then the tree.
    pub fn remove_snapshot(&self, diff_id: &Digest) -> Result<bool> {
        let link = self.snapshots.join(diff_id.algorithm().name()).join(diff_id.hex());
        let Some(dir) = self.snapshot(diff_id) else {
            let _ = std::fs::remove_file(&link);
            return Ok(false);
        };
        std::fs::remove_file(&link).map_err(io_err("cannot remove snapshot link", &link))?;
        remove_tree(&dir)?;
        Ok(true)
    }

    /// Diff IDs of all snapshots.
    pub fn snapshot_ids(&self) -> Result<Vec<Digest>> {
        let dir = self.snapshots.join("sha256");
        let mut out = Vec::new();
        for e in std::fs::read_dir(&dir).map_err(io_err("cannot list snapshots", &dir))? {
            let e = e.map_err(io_err("cannot list snapshots", &dir))?;
            if let Ok(d) = format!("sha256:{}", e.file_name().to_string_lossy()).parse() {
                out.push(d);
            }
        }
        Ok(out)
    }

    /// All blob digests.
    pub fn blob_ids(&self) -> Result<Vec<Digest>> {
        let dir = self.content.join("blobs/sha256");
        let mut out = Vec::new();
        for e in std::fs::read_dir(&dir).map_err(io_err("cannot list blobs", &dir))? {
            let e = e.map_err(io_err("cannot list blobs", &dir))?;
            if let Ok(d) = format!("sha256:{}", e.file_name().to_string_lossy()).parse() {
                out.push(d);
            }
        }
        Ok(out)
    }

    /// Removes temp files and directories left by processes that died
    /// mid-pull, and numbered snapshot dirs no name points to (a crash
    /// between the two renames of a commit). Returns how many were removed.
    pub fn clean_stale(&self) -> Result<usize> {
        let mut removed = 0;
        let ingest = self.content.join("ingest");
        if let Ok(rd) = std::fs::read_dir(&ingest) {
            for e in rd.flatten() {
                let alive = temp_owner(&e.file_name(), INGEST_PREFIX).is_some_and(process_alive);
                if !alive && std::fs::remove_file(e.path()).is_ok() {
                    removed += 1;
                }
            }
        }
        let linked: HashSet<PathBuf> = self.snapshot_ids()?.iter().filter_map(|d| self.snapshot(d)).collect();
        if let Ok(rd) = std::fs::read_dir(&self.snapshots) {
            for e in rd.flatten() {
                let name = e.file_name();
                let path = e.path();
                let stale = if let Some(pid) = temp_owner(&name, SNAPSHOT_TMP_PREFIX) {
                    !process_alive(pid)
                } else if name.to_str().is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit())) {
                    // Committed dirs are linked right after their rename; an
                    // unlinked one is only stale if old enough that no commit
                    // can be between its two steps.
                    !linked.contains(&normalize(&path)) && older_than(&path, 60)
                } else {
                    false
                };
                if stale && remove_tree(&path).is_ok() {
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}

/// Whether the inode changed last more than `secs` ago. ctime, not mtime:
/// a snapshot's mtime is the layer's (set from the tar), while ctime is
/// set by the kernel, also by the commit's rename.
fn older_than(path: &Path, secs: u64) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(m) = std::fs::symlink_metadata(path) else {
        return false;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    now - m.ctime() > secs as i64
}

fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Removes a directory tree without following symlinks in it (snapshot
/// trees contain symlinks that point anywhere).
pub fn remove_tree(path: &Path) -> Result<()> {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Ok(());
    };
    let dir = sys::open_dir(parent).map_err(io_err("cannot open", parent))?;
    let cname = CString::new(name.as_bytes()).map_err(|_| ImageError::Io {
        action: "cannot remove",
        path: path.to_path_buf(),
        source: io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"),
    })?;
    sys::remove_all_at(std::os::fd::AsFd::as_fd(&dir), &cname).map_err(io_err("cannot remove", path))
}

/// A layer being unpacked; removed on drop unless committed.
pub struct TempSnapshot {
    path: Option<PathBuf>,
    snapshots: PathBuf,
}

impl TempSnapshot {
    pub fn path(&self) -> &Path {
        self.path.as_deref().unwrap_or(Path::new(""))
    }

    /// Makes the snapshot visible as the layer `diff_id`: rename to the next
    /// free number, then link the diff ID to it. If another pull committed
    /// the same layer meanwhile, ours is dropped and theirs returned.
    pub fn commit(mut self, diff_id: &Digest) -> Result<PathBuf> {
        let tmp = self.path.take().unwrap_or_default();
        let result = self.commit_inner(&tmp, diff_id);
        if result.is_err() {
            let _ = remove_tree(&tmp);
        }
        result
    }

    fn commit_inner(&self, tmp: &Path, diff_id: &Digest) -> Result<PathBuf> {
        let ctmp = CString::new(tmp.as_os_str().as_bytes()).unwrap_or_default();
        let mut n = next_number(&self.snapshots);
        let numbered = loop {
            let dest = self.snapshots.join(n.to_string());
            let cdest = CString::new(dest.as_os_str().as_bytes()).unwrap_or_default();
            match sys::rename_noreplace(libc::AT_FDCWD, &ctmp, libc::AT_FDCWD, &cdest) {
                Ok(()) => break dest,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists || e.raw_os_error() == Some(libc::ENOTEMPTY) => {
                    n += 1
                }
                Err(e) => return Err(io_err("cannot commit the snapshot", &dest)(e)),
            }
        };
        let linkdir = self.snapshots.join(diff_id.algorithm().name());
        let link = linkdir.join(diff_id.hex());
        let tmp_link = linkdir.join(temp_name(".link-"));
        std::os::unix::fs::symlink(format!("../{n}"), &tmp_link)
            .map_err(io_err("cannot link the snapshot", &tmp_link))?;
        let ctl = CString::new(tmp_link.as_os_str().as_bytes()).unwrap_or_default();
        let cl = CString::new(link.as_os_str().as_bytes()).unwrap_or_default();
        match sys::rename_noreplace(libc::AT_FDCWD, &ctl, libc::AT_FDCWD, &cl) {
            Ok(()) => Ok(numbered),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let _ = std::fs::remove_file(&tmp_link);
                let theirs = std::fs::read_link(&link).map(|t| normalize(&linkdir.join(t)));
                match theirs {
                    Ok(t) if t.is_dir() => {
                        let _ = remove_tree(&numbered);
                        Ok(t)
                    }
                    // A dangling link (its dir was removed): replace it.
                    _ => {
                        let _ = std::fs::remove_file(&link);
                        std::os::unix::fs::symlink(format!("../{n}"), &link)
                            .map_err(io_err("cannot link the snapshot", &link))?;
                        Ok(numbered)
                    }
                }
            }
            Err(e) => {
                let _ = std::fs::remove_file(&tmp_link);
                let _ = remove_tree(&numbered);
                Err(io_err("cannot link the snapshot", &link)(e))
            }
        }
    }
}

/// One past the highest snapshot number in use (rename_noreplace settles
/// races between processes that read the same value).
fn next_number(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<u64>().ok()))
                .max()
                .unwrap_or(0)
                + 1
        })
        .unwrap_or(1)
}

impl Drop for TempSnapshot {
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            let _ = remove_tree(&p);
        }
    }
}
