//! Turning a directory into a layer of the image store.
//!
//! The directory is in overlay form: a build step's upper directory (a
//! deleted file is a 0/0 character device, a replaced directory carries
//! `trusted.overlay.opaque=y`) or the files a COPY staged. It becomes an
//! uncompressed tar in the store's content, with OCI's `.wh.` entries for
//! whiteouts, and is then unpacked into a snapshot through the checked path
//! a pull takes, so a built layer is stored exactly as a pulled one.

use std::collections::HashMap;
use std::ffi::CString;
use std::fs;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use crate::image::store::ImageStore;
use crate::image::Digest;

use super::error::{BuildError, Result};

/// A layer committed to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// Digest of the uncompressed tar: both the blob's and the diff ID.
    pub diff_id: Digest,
    pub size: u64,
}

/// Whether `dir` holds nothing (a step that changed no file).
pub fn is_empty(dir: &Path) -> bool {
    fs::read_dir(dir).map(|mut d| d.next().is_none()).unwrap_or(true)
}

/// Writes `dir` as a layer into the store and makes sure its snapshot
/// exists. `what` names the step in errors.
pub fn commit_dir(store: &ImageStore, dir: &Path, what: &str) -> Result<Layer> {
    let fail = |e: io::Error| BuildError::new(format!("{what}: writing the layer from {}: {e}", dir.display()));
    let mut ingest = store.ingest().map_err(BuildError::image)?;
    {
        let mut tar = tar::Builder::new(&mut ingest);
        let mut links = HashMap::new();
        append_tree(&mut tar, dir, "", &mut links).map_err(fail)?;
        tar.finish().map_err(fail)?;
    }
    let (diff_id, size) = ingest.commit_computed(what).map_err(BuildError::image)?;
    if store.snapshot(&diff_id).is_none() {
        let blob = store.open_blob(&diff_id).map_err(BuildError::image)?;
        let (snap, actual) =
            crate::image::pull::unpack_stream(store, blob, &diff_id, &diff_id).map_err(BuildError::image)?;
        if actual != diff_id {
            return Err(BuildError::new(format!(
                "{what}: the layer read back as {actual}, not {diff_id}"
            )));
        }
        snap.commit(&diff_id).map_err(BuildError::image)?;
    }
    Ok(Layer { diff_id, size })
}

/// Appends the entries under `dir` (as `prefix/…`), names sorted so the same
/// tree gives the same digest.
fn append_tree<W: Write>(
    tar: &mut tar::Builder<W>,
    dir: &Path,
    prefix: &str,
    links: &mut HashMap<(u64, u64), String>,
) -> io::Result<()> {
    let mut names: Vec<_> = fs::read_dir(dir)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<io::Result<_>>()?;
    names.sort();
    for name in names {
        let path = dir.join(&name);
        let name = name.to_string_lossy().into_owned();
        let rel = format!("{prefix}{name}");
        let meta = fs::symlink_metadata(&path)?;
        let ft = meta.file_type();
        if ft.is_char_device() && meta.rdev() == 0 {
            // An overlay whiteout: the file was deleted in this layer.
            let wh = format!("{prefix}.wh.{name}");
            append_plain(tar, &wh, &meta, tar::EntryType::Regular, 0, io::empty())?;
            continue;
        }
        let xattrs = read_xattrs(&path)?;
        let opaque = xattrs
            .iter()
            .any(|(k, v)| (k == "trusted.overlay.opaque" || k == "user.overlay.opaque") && v == b"y");
        let kept: Vec<_> = xattrs
            .into_iter()
            .filter(|(k, _)| !k.starts_with("trusted.overlay.") && !k.starts_with("user.overlay."))
            .collect();
        if !kept.is_empty() {
            append_pax_xattrs(tar, &rel, &kept)?;
        }
        if ft.is_dir() {
            append_plain(
                tar,
                &format!("{rel}/"),
                &meta,
                tar::EntryType::Directory,
                0,
                io::empty(),
            )?;
            if opaque {
                append_plain(
                    tar,
                    &format!("{rel}/.wh..wh..opq"),
                    &meta,
                    tar::EntryType::Regular,
                    0,
                    io::empty(),
                )?;
            }
            append_tree(tar, &path, &format!("{rel}/"), links)?;
        } else if ft.is_symlink() {
            let target = fs::read_link(&path)?;
            let mut header = header_for(&meta, tar::EntryType::Symlink, 0);
            tar.append_link(&mut header, &rel, &target)?;
        } else if ft.is_file() {
            if meta.nlink() > 1 {
                let key = (meta.dev(), meta.ino());
                if let Some(first) = links.get(&key) {
                    let mut header = header_for(&meta, tar::EntryType::Link, 0);
                    tar.append_link(&mut header, &rel, first)?;
                    continue;
                }
                links.insert(key, rel.clone());
            }
            let file = fs::File::open(&path)?;
            append_plain(tar, &rel, &meta, tar::EntryType::Regular, meta.len(), file)?;
        } else if ft.is_char_device() || ft.is_block_device() || ft.is_fifo() {
            let kind = if ft.is_char_device() {
                tar::EntryType::Char
            } else if ft.is_block_device() {
                tar::EntryType::Block
            } else {
                tar::EntryType::Fifo
            };
            let mut header = header_for(&meta, kind, 0);
            let dev = meta.rdev();
            header.set_device_major(libc::major(dev))?;
            header.set_device_minor(libc::minor(dev))?;
            tar.append_data(&mut header, &rel, io::empty())?;
        }
        // Sockets do not go into images.
    }
    Ok(())
}

fn header_for(meta: &fs::Metadata, kind: tar::EntryType, size: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(meta.mode() & 0o7777);
    header.set_uid(meta.uid() as u64);
    header.set_gid(meta.gid() as u64);
    header.set_mtime(meta.mtime().max(0) as u64);
    header.set_size(size);
    header
}

fn append_plain<W: Write>(
    tar: &mut tar::Builder<W>,
    name: &str,
    meta: &fs::Metadata,
    kind: tar::EntryType,
    size: u64,
    data: impl io::Read,
) -> io::Result<()> {
    let mut header = header_for(meta, kind, size);
    tar.append_data(&mut header, name, data)
}

/// A PAX extended header carrying `SCHILY.xattr.*` records for the entry
/// that follows (file capabilities, ACLs), as Docker writes them.
fn append_pax_xattrs<W: Write>(tar: &mut tar::Builder<W>, rel: &str, xattrs: &[(String, Vec<u8>)]) -> io::Result<()> {
    let mut data = Vec::new();
    for (name, value) in xattrs {
        let body_len = " SCHILY.xattr.".len() + name.len() + 1 + value.len() + 1;
        // The length counts its own digits.
        let mut len = body_len + 1;
        while len != body_len + len.to_string().len() {
            len = body_len + len.to_string().len();
        }
        data.extend_from_slice(format!("{len} SCHILY.xattr.{name}=").as_bytes());
        data.extend_from_slice(value);
        data.push(b'\n');
    }
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(tar::EntryType::XHeader);
    header.set_mode(0o644);
    header.set_size(data.len() as u64);
    let short: String = rel.chars().rev().take(80).collect::<String>().chars().rev().collect();
    tar.append_data(
        &mut header,
        format!("PaxHeaders/{}", short.trim_start_matches('/')),
        &data[..],
    )
}

/// The extended attributes of `path` itself (not a symlink's target).
fn read_xattrs(path: &Path) -> io::Result<Vec<(String, Vec<u8>)>> {
    let cpath = CString::new(path.as_os_str().as_bytes()).map_err(|_| io::ErrorKind::InvalidInput)?;
    // SAFETY: a null buffer asks for the size.
    let size = unsafe { libc::llistxattr(cpath.as_ptr(), std::ptr::null_mut(), 0) };
    if size <= 0 {
        return Ok(Vec::new());
    }
    let mut names = vec![0u8; size as usize];
    // SAFETY: `names` has `size` bytes.
    let size = unsafe { libc::llistxattr(cpath.as_ptr(), names.as_mut_ptr().cast(), names.len()) };
    if size < 0 {
        return Err(io::Error::last_os_error());
    }
    names.truncate(size as usize);
    let mut out = Vec::new();
    for name in names.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let cname = CString::new(name).map_err(|_| io::ErrorKind::InvalidInput)?;
        // SAFETY: a null buffer asks for the size.
        let len = unsafe { libc::lgetxattr(cpath.as_ptr(), cname.as_ptr(), std::ptr::null_mut(), 0) };
        if len < 0 {
            continue;
        }
        let mut value = vec![0u8; len as usize];
        // SAFETY: `value` has `len` bytes.
        let len = unsafe { libc::lgetxattr(cpath.as_ptr(), cname.as_ptr(), value.as_mut_ptr().cast(), value.len()) };
        if len < 0 {
            continue;
        }
        value.truncate(len as usize);
        out.push((String::from_utf8_lossy(name).into_owned(), value));
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xattrs_travel_in_a_pax_header_readers_understand() {
        let mut tar = tar::Builder::new(Vec::new());
        append_pax_xattrs(&mut tar, "bin/ping", &[("security.capability".into(), vec![1, 2, 3])]).unwrap();
        let mut header = tar::Header::new_gnu();
        header.set_size(0);
        header.set_mode(0o755);
        tar.append_data(&mut header, "bin/ping", io::empty()).unwrap();
        let bytes = tar.into_inner().unwrap();
        let mut archive = tar::Archive::new(&bytes[..]);
        let mut entries = archive.entries().unwrap();
        let mut entry = entries.next().unwrap().unwrap();
        assert_eq!(entry.path().unwrap().to_str(), Some("bin/ping"));
        let ext: Vec<(String, Vec<u8>)> = entry
            .pax_extensions()
            .unwrap()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (e.key().unwrap().to_string(), e.value_bytes().to_vec())
            })
            .collect();
        assert_eq!(
            ext,
            vec![("SCHILY.xattr.security.capability".to_string(), vec![1, 2, 3])]
        );
    }
}
