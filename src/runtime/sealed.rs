//! The rcompose binary as the processes that enter containers run it
//! (DESIGN.md §5b; CVE-2019-5736 in runc).
//!
//! A container's init is a clone of the process that creates it (a
//! supervisor, or the CLI for a build step), and an `exec`'d process or a
//! healthcheck is a fork of the CLI or the supervisor: until they `execve`
//! the container's program, `/proc/<pid>/exe` is the rcompose binary — and
//! so is the process of a container whose command is `/proc/self/exe`.
//! Were that the host's file, a process in the container could open it
//! and, once no rcompose process runs it any more, write into it.
//!
//! So those processes never run the host's file: the CLI commands that
//! enter containers re-execute themselves ([`reexec`]) and supervisors are
//! started ([`SealedBinary`]) from a read-only bind mount of the binary
//! that is in no mount namespace. Opening the file through it for writing
//! fails with `EROFS`; once the handle that made the mount is closed, the
//! mount is gone from everywhere (nobody can make it writable again), yet
//! stays alive for the processes that run from it. It shares the host
//! file's pages, so it costs no memory, unlike runc's memfd copy (runc 1.2
//! also moved to a read-only mount). The processes that join a container's
//! namespaces are, besides, not dumpable (`exec`, libcontainer's `build`),
//! so a container without `CAP_SYS_PTRACE` cannot open their `exe` at all.

use std::ffi::{CString, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// A read-only, detached view of an executable: exec it with
/// [`SealedBinary::exec_path`].
#[derive(Debug)]
pub struct SealedBinary {
    fd: OwnedFd,
}

impl SealedBinary {
    /// The executable at `path` (symbolic and `/proc` links followed) on a
    /// read-only mount of its own; when `path` is already such a view (the
    /// calling process runs from one), that view.
    pub fn open(path: &Path) -> io::Result<SealedBinary> {
        let file = File::options()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_CLOEXEC)
            .open(path)?;
        if is_detached_read_only(&file)? {
            return Ok(SealedBinary { fd: file.into() });
        }
        let tree = open_tree(&file)?;
        set_read_only(&tree)?;
        Ok(SealedBinary { fd: tree })
    }

    /// `/proc/self/fd/N`: `execve` of this path runs the view, in this
    /// process and in a child forked from it (the descriptor is
    /// close-on-exec, so the program it runs does not inherit it).
    pub fn exec_path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", self.fd.as_raw_fd()))
    }
}

/// Whether this process runs from a sealed view of its binary.
pub fn is_sealed() -> io::Result<bool> {
    let exe = File::options()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_CLOEXEC)
        .open("/proc/self/exe")?;
    is_detached_read_only(&exe)
}

/// The binary this process runs, as a path that `execve` and
/// [`SealedBinary::open`] accept: its file name, or `/proc/self/exe` when
/// it runs from a sealed view (whose name is no path on the host).
pub fn current_exe() -> io::Result<PathBuf> {
    if is_sealed()? {
        return Ok(PathBuf::from("/proc/self/exe"));
    }
    std::env::current_exe()
}

/// Re-executes this process, with the same arguments and environment,
/// from a sealed view of its binary, unless it already runs from one.
/// Call it while the process is single-threaded and before it does any
/// work. Returns only on failure; not being root (no container can be
/// made then anyway) is no failure.
pub fn reexec() -> io::Result<()> {
    if is_sealed()? {
        return Ok(());
    }
    let sealed = match SealedBinary::open(Path::new("/proc/self/exe")) {
        Ok(s) => s,
        Err(e) if e.raw_os_error() == Some(libc::EPERM) && !nix::unistd::Uid::effective().is_root() => return Ok(()),
        Err(e) => return Err(e),
    };
    let cstring = |s: OsString| CString::new(s.as_bytes()).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e));
    let args = std::env::args_os().map(cstring).collect::<io::Result<Vec<_>>>()?;
    let env = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k;
            kv.push("=");
            kv.push(v);
            cstring(kv)
        })
        .collect::<io::Result<Vec<_>>>()?;
    let argv: Vec<*const libc::c_char> = args
        .iter()
        .map(|a| a.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    let envp: Vec<*const libc::c_char> = env
        .iter()
        .map(|e| e.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    // SAFETY: execveat with NUL-terminated arrays of C strings that outlive
    // the call; it returns only on failure.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            sealed.fd.as_raw_fd(),
            c"".as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    Err(io::Error::last_os_error())
}

/// Read-only, and on a mount that no mount namespace holds: a view made
/// by [`SealedBinary::open`] (a host file system mounted read-only could
/// still be remounted writable).
fn is_detached_read_only(file: &File) -> io::Result<bool> {
    let stat = nix::sys::statvfs::fstatvfs(file).map_err(io::Error::from)?;
    if !stat.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY) {
        return Ok(false);
    }
    let id = mount_id(file)?;
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")?;
    let id = id.to_string();
    Ok(!mountinfo.lines().any(|l| l.split(' ').next() == Some(id.as_str())))
}

fn mount_id(file: &File) -> io::Result<u64> {
    // SAFETY: statx fills the zeroed buffer it is given.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    let r = unsafe {
        libc::statx(
            file.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            libc::STATX_MNT_ID,
            &mut stx,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    if stx.stx_mask & libc::STATX_MNT_ID == 0 {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "the kernel reports no mount id (Linux 5.8 or later is needed)",
        ));
    }
    Ok(stx.stx_mnt_id)
}

/// A detached bind mount of just `file`.
fn open_tree(file: &File) -> io::Result<OwnedFd> {
    // SAFETY: open_tree on a valid descriptor with an empty path.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            file.as_raw_fd(),
            c"".as_ptr(),
            libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC | libc::AT_EMPTY_PATH as libc::c_uint,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor from the kernel, owned from here on.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

fn set_read_only(tree: &OwnedFd) -> io::Result<()> {
    let attr = libc::mount_attr {
        attr_set: libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODEV,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: mount_setattr on a mount descriptor with a valid attribute
    // struct of the size given.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Needs root (open_tree); skipped with a reason otherwise.
    #[test]
    fn a_sealed_binary_refuses_writes_and_is_recognised() {
        if !nix::unistd::Uid::effective().is_root() {
            eprintln!("SKIP: sealing a binary needs root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("tool");
        std::fs::write(&bin, b"#!/bin/sh\n").unwrap();
        let sealed = SealedBinary::open(&bin).unwrap();
        let err = File::options().write(true).open(sealed.exec_path()).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EROFS), "{err}");
        let reopened = File::options()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_CLOEXEC)
            .open(sealed.exec_path())
            .unwrap();
        assert!(is_detached_read_only(&reopened).unwrap());
        let host = File::open(&bin).unwrap();
        assert!(!is_detached_read_only(&host).unwrap());
        // Sealing the view again gives the view.
        let again = SealedBinary::open(&sealed.exec_path()).unwrap();
        let err = File::options().write(true).open(again.exec_path()).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EROFS));
    }
}
