//! Reading a small configuration file of an image or a container (its
//! `/etc/passwd`, `/etc/group`) from the host, as the container itself
//! would see it (DESIGN.md §5b).
//!
//! The file belongs to whoever made the image, so nothing about it is
//! trusted: every path component — `..` and absolute symlinks included —
//! resolves inside the given root (`openat2` with `RESOLVE_IN_ROOT`; a
//! symlink to `/etc/shadow` is the container's `/etc/shadow`, never the
//! host's), magic links (`/proc/<pid>/root`) are refused, a FIFO or device
//! is never opened for reading (it could block forever or act on open), and
//! the read stops at a size cap.

use std::ffi::CString;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::StoreError;

/// The largest file [`read_in_root`] reads: passwd and group files are a few
/// KiB even on large systems.
pub const MAX_IN_ROOT_FILE: u64 = 1 << 20;

fn c_string(s: &[u8]) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

/// openat2(2), retried on EINTR/EAGAIN (the kernel returns EAGAIN when a
/// concurrent rename raced a RESOLVE_IN_ROOT lookup).
fn openat2(dir: libc::c_int, path: &CString, flags: libc::c_int, resolve: u64) -> io::Result<OwnedFd> {
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_CLOEXEC) as u64;
    how.resolve = resolve;
    loop {
        // SAFETY: `how` is a valid open_how of the size passed; `path` is a
        // NUL-terminated string; the returned descriptor is owned by us.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir,
                path.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        };
        if rc >= 0 {
            // SAFETY: a fresh descriptor nobody else owns.
            return Ok(unsafe { OwnedFd::from_raw_fd(rc as libc::c_int) });
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) | Some(libc::EAGAIN) => continue,
            _ => return Err(e),
        }
    }
}

/// The `kind` of a [`StoreError::NotRegular`] that is a character device
/// (in an unpacked layer: an overlay whiteout).
pub const CHAR_DEVICE: &str = "a character device";

fn file_kind(mode: libc::mode_t) -> &'static str {
    match mode & libc::S_IFMT {
        libc::S_IFDIR => "a directory",
        libc::S_IFIFO => "a FIFO",
        libc::S_IFCHR => CHAR_DEVICE,
        libc::S_IFBLK => "a block device",
        libc::S_IFSOCK => "a socket",
        _ => "not a regular file",
    }
}

/// Reads `name` (a path such as `etc/passwd`, taken as absolute inside the
/// root) under the directory `root`, resolving every component inside it.
/// `Ok(None)` when the file (or a directory on its way) does not exist.
/// `shown` names the root in errors.
pub fn read_in_root(root: BorrowedFd<'_>, shown: &Path, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
    let rel = name.trim_start_matches('/');
    let err = |source: io::Error| StoreError::ReadInRoot {
        name: format!("/{rel}"),
        root: shown.to_path_buf(),
        source,
    };
    let path = c_string(rel.as_bytes()).map_err(err)?;
    // O_PATH first: opening a device or FIFO for reading can block or act;
    // an O_PATH descriptor does neither, and fstat tells what it is.
    let located = match openat2(
        root.as_raw_fd(),
        &path,
        libc::O_PATH,
        libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS,
    ) {
        Ok(fd) => fd,
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => return Err(err(io::Error::other(
            "openat2 is not available (Linux 5.6 or newer is needed to read files inside a container's root safely)",
        ))),
        Err(e) => return Err(err(e)),
    };
    let mut st = std::mem::MaybeUninit::<libc::stat>::zeroed();
    // SAFETY: st is writable memory of the right size; the fd is valid.
    if unsafe { libc::fstat(located.as_raw_fd(), st.as_mut_ptr()) } != 0 {
        return Err(err(io::Error::last_os_error()));
    }
    // SAFETY: fstat succeeded, so it filled the struct.
    let st = unsafe { st.assume_init() };
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(StoreError::NotRegular {
            name: format!("/{rel}"),
            root: shown.to_path_buf(),
            kind: file_kind(st.st_mode),
        });
    }
    if st.st_size as u64 > MAX_IN_ROOT_FILE {
        return Err(too_large(rel, shown));
    }
    // Reopen the very inode that was checked, for reading. O_NONBLOCK is
    // harmless on a regular file and keeps a swapped-in FIFO from blocking.
    let proc_path = c_string(format!("/proc/self/fd/{}", located.as_raw_fd()).as_bytes()).map_err(err)?;
    let fd = openat2(
        libc::AT_FDCWD,
        &proc_path,
        libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY,
        0,
    )
    .map_err(err)?;
    let mut data = Vec::new();
    std::fs::File::from(fd)
        .take(MAX_IN_ROOT_FILE + 1)
        .read_to_end(&mut data)
        .map_err(err)?;
    if data.len() as u64 > MAX_IN_ROOT_FILE {
        return Err(too_large(rel, shown));
    }
    Ok(Some(data))
}

fn too_large(rel: &str, shown: &Path) -> StoreError {
    StoreError::TooLarge {
        name: format!("/{rel}"),
        root: shown.to_path_buf(),
        limit: MAX_IN_ROOT_FILE,
    }
}

/// [`read_in_root`] under the directory at `root`.
pub fn read_in_root_path(root: &Path, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
    let err = |source| StoreError::ReadInRoot {
        name: format!("/{}", name.trim_start_matches('/')),
        root: root.to_path_buf(),
        source,
    };
    let c = c_string(root.as_os_str().as_bytes()).map_err(err)?;
    let dir = openat2(libc::AT_FDCWD, &c, libc::O_PATH | libc::O_DIRECTORY, 0).map_err(err)?;
    read_in_root(std::os::fd::AsFd::as_fd(&dir), root, name)
}

/// [`read_in_root_path`] as text (lossy: a passwd file with a stray
/// non-UTF-8 byte still names its other users).
pub fn read_text_in_root(root: &Path, name: &str) -> Result<Option<String>, StoreError> {
    Ok(read_in_root_path(root, name)?.map(|b| String::from_utf8_lossy(&b).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn absolute_symlinks_and_dotdot_stay_inside_the_root() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "host\n").unwrap();
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        std::fs::create_dir_all(r.join("etc")).unwrap();
        // The same absolute path inside the root holds the container's file.
        let inside = r.join(outside.path().strip_prefix("/").unwrap());
        std::fs::create_dir_all(&inside).unwrap();
        std::fs::write(inside.join("secret"), "container\n").unwrap();
        symlink(outside.path().join("secret"), r.join("etc/passwd")).unwrap();
        assert_eq!(read_in_root_path(r, "/etc/passwd").unwrap().unwrap(), b"container\n");
        symlink("../../../../../../../..", r.join("up")).unwrap();
        let via_dotdot = format!("up{}", outside.path().join("secret").display());
        assert_eq!(read_in_root_path(r, &via_dotdot).unwrap().unwrap(), b"container\n");
        // A directory symlinked out of the root is the root's directory too.
        symlink(outside.path(), r.join("etc2")).unwrap();
        assert_eq!(read_in_root_path(r, "etc2/secret").unwrap().unwrap(), b"container\n");
    }

    #[test]
    fn missing_files_are_none() {
        let root = tempfile::tempdir().unwrap();
        assert!(read_in_root_path(root.path(), "etc/passwd").unwrap().is_none());
        std::fs::write(root.path().join("etc"), "a file, not a directory").unwrap();
        assert!(read_in_root_path(root.path(), "etc/passwd").unwrap().is_none());
    }

    #[test]
    fn fifos_do_not_block_and_are_refused() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("etc")).unwrap();
        let fifo = root.path().join("etc/passwd");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
        let e = read_in_root_path(root.path(), "etc/passwd").unwrap_err().to_string();
        assert!(e.contains("/etc/passwd") && e.contains("FIFO"), "{e}");
        std::fs::create_dir(root.path().join("etc/group")).unwrap();
        let e = read_in_root_path(root.path(), "etc/group").unwrap_err().to_string();
        assert!(e.contains("directory"), "{e}");
    }

    #[test]
    fn files_over_the_cap_are_refused() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("etc")).unwrap();
        let f = std::fs::File::create(root.path().join("etc/passwd")).unwrap();
        f.set_len(MAX_IN_ROOT_FILE + 1).unwrap();
        let e = read_in_root_path(root.path(), "etc/passwd").unwrap_err().to_string();
        assert!(e.contains("/etc/passwd") && e.contains("1 MiB"), "{e}");
        f.set_len(MAX_IN_ROOT_FILE).unwrap();
        assert_eq!(
            read_in_root_path(root.path(), "etc/passwd").unwrap().unwrap().len() as u64,
            MAX_IN_ROOT_FILE
        );
    }
}
