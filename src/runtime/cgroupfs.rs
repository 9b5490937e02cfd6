//! `/sys/fs/cgroup` read-only inside the container, as Docker has it
//! (DESIGN.md §5b): otherwise the container raises its own `pids_limit`,
//! `mem_limit` or `cpus`.
//!
//! libcontainer 0.7 mounts the cgroup v1 hierarchies, and the tmpfs that
//! holds them, read-write whatever the spec's `ro` says (v2 it honours).
//! So once libcontainer's `build` returns — the init has its mounts and
//! waits for `start` — the caller makes the mount at the container's
//! `/sys/fs/cgroup` and every mount below it read-only: a short-lived
//! thread unshares its file-system context (the rest of the process stays
//! where it is), joins the container's mount namespace and sets
//! `MOUNT_ATTR_RDONLY` recursively, v1 and v2 alike.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;

use oci_spec::runtime::Spec;

/// Where the cgroup file system is mounted in a container.
const MOUNT_POINT: &str = "/sys/fs/cgroup";

/// Whether `spec` mounts the cgroup file system read-only (every container
/// but a privileged one, and none whose user mount replaces it).
pub(crate) fn wants_read_only(spec: &Spec) -> bool {
    spec.mounts().iter().flatten().any(|m| {
        m.destination().as_os_str() == MOUNT_POINT
            && m.typ().as_deref() == Some("cgroup")
            && m.options().iter().flatten().any(|o| o == "ro")
    })
}

/// Makes `/sys/fs/cgroup` of the container whose init is `pid` (created,
/// not yet started) read-only, with every mount below it.
pub(crate) fn make_read_only(pid: i32) -> io::Result<()> {
    let open = |path: String, flags: i32| {
        File::options()
            .read(true)
            .custom_flags(flags | libc::O_CLOEXEC)
            .open(&path)
            .map_err(|e| io::Error::new(e.kind(), format!("opening {path}: {e}")))
    };
    let root = open(format!("/proc/{pid}/root"), libc::O_PATH | libc::O_DIRECTORY)?;
    let mount_ns = open(format!("/proc/{pid}/ns/mnt"), 0)?;
    // Resolved inside the container's root, following no symbolic link:
    // the mount libcontainer made, not whatever the image has there.
    let target = open_in_root(&root, "sys/fs/cgroup")?;
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                // SAFETY: unshare and setns change only this thread, which
                // ends right after; the descriptors are valid.
                unsafe {
                    if libc::unshare(libc::CLONE_FS) < 0 {
                        return Err(os_error("unsharing the thread's file-system context"));
                    }
                    if libc::setns(mount_ns.as_raw_fd(), libc::CLONE_NEWNS) < 0 {
                        return Err(os_error("joining the container's mount namespace"));
                    }
                }
                set_read_only_recursively(&target)
            })
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the thread making cgroupfs read-only panicked")))
    })
}

fn os_error(what: &str) -> io::Error {
    let e = io::Error::last_os_error();
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

fn open_in_root(root: &File, path: &str) -> io::Result<OwnedFd> {
    // SAFETY: a zeroed open_how is valid; the fields are set below.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS;
    let c_path = std::ffi::CString::new(path).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: openat2 with a valid directory descriptor, C string and
    // open_how of the size given.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root.as_raw_fd(),
            c_path.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        return Err(os_error(&format!("opening {MOUNT_POINT} in the container")));
    }
    // SAFETY: a fresh descriptor from the kernel, owned from here on.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

fn set_read_only_recursively(target: &OwnedFd) -> io::Result<()> {
    let attr = libc::mount_attr {
        attr_set: libc::MOUNT_ATTR_RDONLY,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: mount_setattr on a valid descriptor with an attribute struct
    // of the size given.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            target.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH | libc::AT_RECURSIVE,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    if r < 0 {
        return Err(os_error(&format!("making {MOUNT_POINT} read-only")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_with(mount: serde_json::Value) -> Spec {
        serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "root": { "path": "rootfs" },
            "mounts": [
                { "destination": "/proc", "type": "proc", "source": "proc", "options": ["ro"] },
                mount,
            ],
        }))
        .unwrap()
    }

    #[test]
    fn only_a_read_only_cgroup_mount_is_made_read_only() {
        let ro = spec_with(serde_json::json!({
            "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
            "options": ["nosuid", "noexec", "nodev", "relatime", "ro"],
        }));
        assert!(wants_read_only(&ro));
        let privileged = spec_with(serde_json::json!({
            "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
            "options": ["nosuid", "rw"],
        }));
        assert!(!wants_read_only(&privileged));
        let user_bind = spec_with(serde_json::json!({
            "destination": "/sys/fs/cgroup", "type": "bind", "source": "/x", "options": ["rbind", "ro"],
        }));
        assert!(!wants_read_only(&user_bind));
    }
}
