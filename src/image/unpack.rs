//! Unpacks one layer (an uncompressed tar stream) into an empty directory
//! that overlayfs can use as a lower dir.
//!
//! Safety: `tar::Entry::unpack_in` is not a security boundary (DESIGN.md §6),
//! so every path is resolved here, one component at a time, relative to a
//! directory descriptor opened with `O_NOFOLLOW`: no step can leave the
//! target directory. Entries with `..`, absolute paths, or paths through a
//! symlink are refused, naming the entry, and so are layers that try to
//! smuggle overlayfs xattrs in.
//!
//! Layer semantics (OCI image spec, "Representing Changes"):
//! - `.wh.NAME` becomes an overlay whiteout: a 0/0 character device NAME;
//! - `.wh..wh..opq` marks its directory opaque (`trusted.overlay.opaque=y`);
//! - other `.wh..wh.*` names are AUFS bookkeeping and are skipped;
//! - a later entry replaces an earlier one of the same name, except that a
//!   directory over a directory merges.

use super::error::{ImageError, Result};
use super::sys;
use std::ffi::{CStr, CString};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

const WHITEOUT_PREFIX: &[u8] = b".wh.";
const WHITEOUT_META_PREFIX: &[u8] = b".wh..wh.";
const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";
const OPAQUE_XATTR: &CStr = c"trusted.overlay.opaque";

/// What an unpack did, for progress and diagnostics.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct UnpackStats {
    pub entries: u64,
    pub bytes: u64,
    /// Extended attributes the target file system does not support.
    pub xattrs_skipped: u64,
}

/// How to unpack.
#[derive(Debug, Clone)]
pub struct UnpackOptions {
    /// Apply the owners recorded in the layer (needs root).
    pub chown: bool,
}

impl Default for UnpackOptions {
    fn default() -> Self {
        UnpackOptions {
            chown: nix::unistd::geteuid().is_root(),
        }
    }
}

/// Unpacks the tar stream `reader` into `dest` (an existing, empty
/// directory). `layer` names the layer in errors (its digest).
pub fn unpack_layer(reader: impl Read, dest: &Path, layer: &str, opts: &UnpackOptions) -> Result<UnpackStats> {
    let root = sys::open_dir(dest).map_err(|source| ImageError::Io {
        action: "cannot open the snapshot directory",
        path: dest.to_path_buf(),
        source,
    })?;
    let mut u = Unpacker {
        root,
        layer,
        chown: opts.chown,
        chain: Vec::new(),
        deferred_dirs: Vec::new(),
        stats: UnpackStats::default(),
        buf: vec![0u8; 256 * 1024],
    };
    let mut archive = tar::Archive::new(reader);
    let entries = archive.entries().map_err(|source| ImageError::LayerFormat {
        layer: layer.to_string(),
        source,
    })?;
    for entry in entries {
        let entry = entry.map_err(|source| ImageError::LayerFormat {
            layer: layer.to_string(),
            source,
        })?;
        u.entry(entry)?;
    }
    u.finish_dirs()?;
    Ok(u.stats)
}

/// Metadata of one entry, with PAX overrides applied.
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
    mtime_nanos: u32,
    xattrs: Vec<(CString, Vec<u8>)>,
}

struct Unpacker<'a> {
    root: OwnedFd,
    layer: &'a str,
    chown: bool,
    /// Open directories from the root down to the parent of the previous
    /// entry. Tar streams list a directory's entries together, so most
    /// entries reuse the whole chain and cost no path walk at all.
    chain: Vec<(Vec<u8>, OwnedFd)>,
    /// Directories whose mode and mtime are set at the end: creating their
    /// children would change the mtime, and a read-only mode could stop the
    /// children from being created.
    deferred_dirs: Vec<(Vec<Vec<u8>>, u32, i64, u32)>,
    stats: UnpackStats,
    buf: Vec<u8>,
}

/// Splits an entry path into its components, refusing absolute paths and
/// `..`. An empty result is the layer root.
fn split_path(raw: &[u8]) -> std::result::Result<Vec<&[u8]>, &'static str> {
    if raw.first() == Some(&b'/') {
        return Err("is an absolute path");
    }
    let mut comps = Vec::new();
    for c in raw.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return Err("contains a '..' component, which would write outside the layer"),
            c if c.contains(&0) => return Err("contains a NUL byte"),
            c => comps.push(c),
        }
    }
    Ok(comps)
}

fn cstr(b: &[u8]) -> CString {
    // split_path refused NUL bytes, so this cannot fail; fall back to an
    // empty name (which every syscall rejects) rather than panic.
    CString::new(b).unwrap_or_default()
}

impl<'a> Unpacker<'a> {
    fn unsafe_entry(&self, entry: &str, reason: impl Into<String>) -> ImageError {
        ImageError::UnsafeEntry {
            layer: self.layer.to_string(),
            entry: entry.to_string(),
            reason: reason.into(),
        }
    }

    fn fail(&self, entry: &str, action: &'static str) -> impl FnOnce(io::Error) -> ImageError {
        let layer = self.layer.to_string();
        let entry = entry.to_string();
        move |source| ImageError::Unpack {
            layer,
            entry,
            action,
            source,
        }
    }

    /// The descriptor of the directory at the end of the chain (the root
    /// when the chain is empty).
    fn cur(&self) -> BorrowedFd<'_> {
        match self.chain.last() {
            Some((_, fd)) => fd.as_fd(),
            None => self.root.as_fd(),
        }
    }

    /// Makes the chain end at the directory `comps`, creating missing
    /// directories (as Docker does for layers that omit parents) when
    /// `create` is set. Refuses to pass through a symlink or a non-directory.
    fn walk(&mut self, comps: &[&[u8]], entry: &str, create: bool) -> Result<()> {
        let keep = self
            .chain
            .iter()
            .zip(comps)
            .take_while(|((name, _), c)| name.as_slice() == **c)
            .count();
        self.chain.truncate(keep);
        for i in keep..comps.len() {
            let name = cstr(comps[i]);
            let fd = match sys::open_subdir(self.cur(), &name) {
                Ok(fd) => fd,
                Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
                    match sys::mkdirat(self.cur(), &name, 0o755) {
                        Ok(()) => {}
                        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                        Err(e) => return Err(self.fail(entry, "cannot create a parent directory")(e)),
                    }
                    sys::open_subdir(self.cur(), &name).map_err(self.fail(entry, "cannot open a parent directory"))?
                }
                Err(e) => {
                    let prefix = String::from_utf8_lossy(&comps[..=i].join(&b'/')).into_owned();
                    let st = sys::lstatat(self.cur(), &name);
                    return Err(match st {
                        Ok(st) if sys::is_symlink(&st) => self.unsafe_entry(
                            entry,
                            format!("goes through the symlink {prefix:?}, which could point outside the layer"),
                        ),
                        Ok(_) => self.unsafe_entry(entry, format!("goes through {prefix:?}, which is not a directory")),
                        Err(_) if e.kind() == io::ErrorKind::NotFound => self.unsafe_entry(
                            entry,
                            format!("refers to {prefix:?}, which does not exist in this layer"),
                        ),
                        Err(_) => self.fail(entry, "cannot open a parent directory")(e),
                    });
                }
            };
            self.chain.push((comps[i].to_vec(), fd));
        }
        Ok(())
    }

    fn meta(&self, entry: &mut tar::Entry<'_, impl Read>, name: &str) -> Result<Meta> {
        let bad = |e: io::Error| ImageError::LayerFormat {
            layer: self.layer.to_string(),
            source: io::Error::new(e.kind(), format!("entry {name:?}: {e}")),
        };
        let h = entry.header();
        let mode = h.mode().map_err(bad)? & 0o7777;
        let mut uid = h.uid().map_err(bad)?;
        let mut gid = h.gid().map_err(bad)?;
        let mut mtime = h.mtime().map_err(bad)? as i64;
        let mut mtime_nanos = 0u32;
        let mut xattrs = Vec::new();
        if let Some(pax) = entry.pax_extensions().map_err(bad)? {
            for ext in pax {
                let ext = ext.map_err(bad)?;
                let key = ext.key_bytes();
                let value = ext.value_bytes();
                let num = || {
                    std::str::from_utf8(value)
                        .ok()
                        .and_then(|v| v.trim().parse::<u64>().ok())
                };
                match key {
                    b"uid" => uid = num().unwrap_or(uid),
                    b"gid" => gid = num().unwrap_or(gid),
                    b"mtime" => {
                        if let Some((s, n)) = parse_pax_time(value) {
                            mtime = s;
                            mtime_nanos = n;
                        }
                    }
                    _ => {
                        if let Some(xname) = key.strip_prefix(b"SCHILY.xattr.") {
                            if xname.starts_with(b"trusted.overlay.") || xname.starts_with(b"user.overlay.") {
                                return Err(self.unsafe_entry(
                                    name,
                                    format!(
                                        "carries the overlayfs attribute {:?}, which would change how layers stack",
                                        String::from_utf8_lossy(xname)
                                    ),
                                ));
                            }
                            if xname.is_empty() || xname.contains(&0) {
                                return Err(
                                    self.unsafe_entry(name, "carries an extended attribute with an invalid name")
                                );
                            }
                            xattrs.push((cstr(xname), value.to_vec()));
                        }
                    }
                }
            }
        }
        let uid =
            u32::try_from(uid).map_err(|_| self.unsafe_entry(name, format!("has owner uid {uid}, beyond 32 bits")))?;
        let gid =
            u32::try_from(gid).map_err(|_| self.unsafe_entry(name, format!("has group gid {gid}, beyond 32 bits")))?;
        Ok(Meta {
            mode,
            uid,
            gid,
            mtime,
            mtime_nanos,
            xattrs,
        })
    }

    fn entry(&mut self, mut entry: tar::Entry<'_, impl Read>) -> Result<()> {
        use tar::EntryType as T;
        let raw = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw).into_owned();
        let kind = entry.header().entry_type();
        if matches!(kind, T::XGlobalHeader | T::XHeader | T::GNULongName | T::GNULongLink) {
            // Headers that describe other entries; the tar reader applies them.
            return Ok(());
        }
        let comps = split_path(&raw).map_err(|reason| self.unsafe_entry(&name, reason))?;
        self.stats.entries += 1;
        let meta = self.meta(&mut entry, &name)?;

        let Some((base, parent)) = comps.split_last() else {
            // The layer root itself ("./"): only a directory makes sense.
            if !kind.is_dir() {
                return Err(self.unsafe_entry(&name, "names the layer root but is not a directory"));
            }
            self.chain.clear();
            let root = self
                .root
                .try_clone()
                .map_err(self.fail(&name, "cannot use the snapshot directory"))?;
            self.apply_owner_xattrs(root.as_fd(), &meta, &name)?;
            self.deferred_dirs
                .push((Vec::new(), meta.mode, meta.mtime, meta.mtime_nanos));
            return Ok(());
        };
        let base: &[u8] = base;

        if base.starts_with(WHITEOUT_PREFIX) {
            self.walk(parent, &name, true)?;
            if base == OPAQUE_MARKER {
                let fd = self.cur();
                return sys::fsetxattr(fd, OPAQUE_XATTR, b"y").map_err(self.fail(
                    &name,
                    "cannot mark the directory opaque (needs root and a file system with trusted xattrs)",
                ));
            }
            if base.starts_with(WHITEOUT_META_PREFIX) {
                return Ok(());
            }
            let target = &base[WHITEOUT_PREFIX.len()..];
            if target.is_empty() || target == b"." || target == b".." {
                return Err(self.unsafe_entry(&name, "is a whiteout of an invalid name"));
            }
            let target = cstr(target);
            sys::remove_all_at(self.cur(), &target).map_err(self.fail(&name, "cannot replace an existing entry"))?;
            return sys::mknodat(self.cur(), &target, libc::S_IFCHR, 0, 0).map_err(self.fail(
                &name,
                "cannot create the overlay whiteout (a 0/0 character device; needs root)",
            ));
        }

        let cname = cstr(base);
        match kind {
            T::Regular | T::Continuous | T::GNUSparse => {
                self.walk(parent, &name, true)?;
                let file = self.create(&cname, &name, |dir, n| {
                    sys::openat(dir, n, libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL, 0o600)
                })?;
                let mut file = std::fs::File::from(file);
                loop {
                    let n = match entry.read(&mut self.buf) {
                        Ok(0) => break,
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(source) => {
                            return Err(ImageError::LayerFormat {
                                layer: self.layer.to_string(),
                                source,
                            })
                        }
                    };
                    file.write_all(&self.buf[..n])
                        .map_err(self.fail(&name, "cannot write the file"))?;
                    self.stats.bytes += n as u64;
                }
                let fd = file.as_fd();
                self.apply_owner_xattrs(fd, &meta, &name)?;
                // After chown: chown clears the set-id bits.
                sys::fchmod(fd, meta.mode).map_err(self.fail(&name, "cannot set the mode"))?;
                sys::futimes(fd, meta.mtime, meta.mtime_nanos).map_err(self.fail(&name, "cannot set the mtime"))?;
            }
            T::Directory => {
                self.walk(parent, &name, true)?;
                match sys::mkdirat(self.cur(), &cname, 0o755) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                        let st = sys::lstatat(self.cur(), &cname)
                            .map_err(self.fail(&name, "cannot inspect an existing entry"))?;
                        if !sys::is_dir(&st) {
                            sys::remove_all_at(self.cur(), &cname)
                                .map_err(self.fail(&name, "cannot replace an existing entry"))?;
                            sys::mkdirat(self.cur(), &cname, 0o755)
                                .map_err(self.fail(&name, "cannot create the directory"))?;
                        }
                    }
                    Err(e) => return Err(self.fail(&name, "cannot create the directory")(e)),
                }
                let dir =
                    sys::open_subdir(self.cur(), &cname).map_err(self.fail(&name, "cannot open the directory"))?;
                self.apply_owner_xattrs(dir.as_fd(), &meta, &name)?;
                let path: Vec<Vec<u8>> = comps.iter().map(|c| c.to_vec()).collect();
                self.deferred_dirs.push((path, meta.mode, meta.mtime, meta.mtime_nanos));
            }
            T::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| self.unsafe_entry(&name, "is a symlink without a target"))?
                    .into_owned();
                if target.is_empty() || target.contains(&0) {
                    return Err(self.unsafe_entry(&name, "is a symlink with an empty or invalid target"));
                }
                // The target is stored as is: it is resolved later inside the
                // container's root, never by us.
                let target = cstr(&target);
                self.walk(parent, &name, true)?;
                self.create(&cname, &name, |dir, n| sys::symlinkat(&target, dir, n))?;
                if self.chown {
                    sys::lchownat(self.cur(), &cname, meta.uid, meta.gid)
                        .map_err(self.fail(&name, "cannot set the owner"))?;
                }
                sys::lutimesat(self.cur(), &cname, meta.mtime, meta.mtime_nanos)
                    .map_err(self.fail(&name, "cannot set the mtime"))?;
            }
            T::Link => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| self.unsafe_entry(&name, "is a hard link without a target"))?
                    .into_owned();
                let tcomps = split_path(&target).map_err(|reason| {
                    self.unsafe_entry(
                        &name,
                        format!(
                            "is a hard link whose target {:?} {reason}",
                            String::from_utf8_lossy(&target)
                        ),
                    )
                })?;
                let Some((tbase, tparent)) = tcomps.split_last() else {
                    return Err(self.unsafe_entry(&name, "is a hard link to the layer root"));
                };
                // Resolve the target's directory on the chain, keep a
                // descriptor of it, then resolve the link's own directory.
                self.walk(tparent, &name, false)?;
                let tdir = self
                    .cur()
                    .try_clone_to_owned()
                    .map_err(self.fail(&name, "cannot open the link target"))?;
                let tname = cstr(tbase);
                match sys::lstatat(tdir.as_fd(), &tname) {
                    Ok(st) if sys::is_dir(&st) => {
                        return Err(self.unsafe_entry(&name, "is a hard link to a directory"));
                    }
                    Ok(_) => {}
                    Err(_) => {
                        return Err(self.unsafe_entry(
                            &name,
                            format!(
                                "is a hard link to {:?}, which is not in this layer",
                                String::from_utf8_lossy(&target)
                            ),
                        ))
                    }
                }
                self.walk(parent, &name, true)?;
                if tdir.as_fd().as_raw_fd_eq(self.cur()) && tname == cname {
                    return Ok(()); // a link to itself: nothing to do
                }
                self.create(&cname, &name, |dir, n| sys::linkat(tdir.as_fd(), &tname, dir, n))?;
            }
            T::Char | T::Block | T::Fifo => {
                let ftype = match kind {
                    T::Char => libc::S_IFCHR,
                    T::Block => libc::S_IFBLK,
                    _ => libc::S_IFIFO,
                };
                let h = entry.header();
                let major = h.device_major().ok().flatten().unwrap_or(0);
                let minor = h.device_minor().ok().flatten().unwrap_or(0);
                self.walk(parent, &name, true)?;
                self.create(&cname, &name, |dir, n| {
                    sys::mknodat(dir, n, ftype | 0o600, major, minor)
                })?;
                if self.chown {
                    sys::lchownat(self.cur(), &cname, meta.uid, meta.gid)
                        .map_err(self.fail(&name, "cannot set the owner"))?;
                }
                sys::fchmodat(self.cur(), &cname, meta.mode).map_err(self.fail(&name, "cannot set the mode"))?;
                sys::lutimesat(self.cur(), &cname, meta.mtime, meta.mtime_nanos)
                    .map_err(self.fail(&name, "cannot set the mtime"))?;
            }
            other => {
                return Err(self.unsafe_entry(
                    &name,
                    format!("has the unsupported tar entry type {:?}", other.as_byte() as char),
                ));
            }
        }
        Ok(())
    }

    /// Creates `cname` in the current directory with `make`; an existing
    /// entry of that name (from earlier in the same layer) is replaced.
    fn create<T>(&self, cname: &CStr, entry: &str, make: impl Fn(BorrowedFd<'_>, &CStr) -> io::Result<T>) -> Result<T> {
        match make(self.cur(), cname) {
            Ok(v) => Ok(v),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                sys::remove_all_at(self.cur(), cname).map_err(self.fail(entry, "cannot replace an existing entry"))?;
                make(self.cur(), cname).map_err(self.fail(entry, "cannot create the entry"))
            }
            Err(e) => Err(self.fail(entry, "cannot create the entry")(e)),
        }
    }

    fn apply_owner_xattrs(&mut self, fd: BorrowedFd<'_>, meta: &Meta, entry: &str) -> Result<()> {
        if self.chown {
            sys::fchown(fd, meta.uid, meta.gid).map_err(self.fail(entry, "cannot set the owner"))?;
        }
        for (xname, value) in &meta.xattrs {
            match sys::fsetxattr(fd, xname, value) {
                Ok(()) => {}
                // A file system without (this kind of) xattrs can still run
                // the image; the count is reported.
                Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => self.stats.xattrs_skipped += 1,
                Err(e) => return Err(self.fail(entry, "cannot set an extended attribute")(e)),
            }
        }
        Ok(())
    }

    fn finish_dirs(&mut self) -> Result<()> {
        let dirs = std::mem::take(&mut self.deferred_dirs);
        for (path, mode, mtime, nanos) in dirs.iter().rev() {
            let shown = String::from_utf8_lossy(&path.join(&b'/')).into_owned();
            let Some((base, parent)) = path.split_last() else {
                let root = self.root.as_fd();
                sys::fchmod(root, *mode).map_err(self.fail("./", "cannot set the mode"))?;
                sys::futimes(root, *mtime, *nanos).map_err(self.fail("./", "cannot set the mtime"))?;
                continue;
            };
            let parent: Vec<&[u8]> = parent.iter().map(|c| c.as_slice()).collect();
            // A later entry may have replaced the directory or a parent;
            // then its metadata no longer applies.
            if self.walk(&parent, &shown, false).is_err() {
                continue;
            }
            let cname = cstr(base);
            match sys::lstatat(self.cur(), &cname) {
                Ok(st) if sys::is_dir(&st) => {}
                _ => continue,
            }
            sys::fchmodat(self.cur(), &cname, *mode).map_err(self.fail(&shown, "cannot set the mode"))?;
            sys::lutimesat(self.cur(), &cname, *mtime, *nanos).map_err(self.fail(&shown, "cannot set the mtime"))?;
        }
        Ok(())
    }
}

trait FdEq {
    fn as_raw_fd_eq(&self, other: BorrowedFd<'_>) -> bool;
}

impl FdEq for BorrowedFd<'_> {
    /// Whether two descriptors refer to the same directory.
    fn as_raw_fd_eq(&self, other: BorrowedFd<'_>) -> bool {
        let (Ok(a), Ok(b)) = (nix::sys::stat::fstat(*self), nix::sys::stat::fstat(other)) else {
            return false;
        };
        a.st_dev == b.st_dev && a.st_ino == b.st_ino
    }
}

/// Parses a PAX time (`1700000000.123456789`, possibly negative).
fn parse_pax_time(v: &[u8]) -> Option<(i64, u32)> {
    let s = std::str::from_utf8(v).ok()?.trim();
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: i64 = secs.parse().ok()?;
    let digits: String = frac.chars().take(9).collect();
    if !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let nanos = if digits.is_empty() {
        0
    } else {
        format!("{digits:0<9}").parse().ok()?
    };
    Some((secs, nanos))
}

#[cfg(test)]
#[path = "unpack_tests.rs"]
mod tests;
