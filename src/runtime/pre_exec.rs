//! The last steps of every process that enters a container, right before
//! its `execve` (DESIGN.md §5b): the container's program starts with
//! descriptors 0, 1 and 2 only, default signal dispositions and an empty
//! signal mask — whatever the process that made it held.
//!
//! Without them a container inherits the descriptors of whoever started
//! rcompose (a directory fd opens the host's tree through
//! `/proc/self/fd/N/..`) and the Rust runtime's ignored `SIGPIPE` (`yes |
//! head -1` never ends). Both functions are plain system calls, safe
//! between `fork` and `execve`.

use std::io;

/// Marks every descriptor from 3 up close-on-exec: the next `execve`
/// closes them, while the ones this process still needs until then (the
/// pipe that reports a failed `execve`) stay usable.
pub fn close_other_fds() -> io::Result<()> {
    // SAFETY: close_range with constant arguments touches only this
    // process' descriptor table.
    let r = unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, libc::CLOSE_RANGE_CLOEXEC) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The kernel's `struct sigaction` on architectures with `sa_restorer`.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[repr(C)]
struct KernelSigaction {
    handler: libc::sighandler_t,
    flags: libc::c_ulong,
    restorer: usize,
    mask: u64,
}

/// The highest signal number the kernel knows (`_NSIG`).
const NSIG: libc::c_int = 64;

/// Gives every signal its default disposition and empties the signal mask.
/// An ignored signal stays ignored across `execve`; a handled one does not,
/// so this matters for what the process ignores (`SIGPIPE` in any Rust
/// program) and blocks.
pub fn reset_signals() -> io::Result<()> {
    for sig in 1..=NSIG {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        set_default(sig)?;
    }
    let empty: u64 = 0;
    // SAFETY: rt_sigprocmask with a valid set of the kernel's size.
    let r = unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &empty as *const u64,
            std::ptr::null_mut::<u64>(),
            std::mem::size_of::<u64>(),
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The raw system call: the C library refuses the signals it reserves for
/// itself (32 and 33 in glibc), which a parent may still have ignored.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn set_default(sig: libc::c_int) -> io::Result<()> {
    let action = KernelSigaction {
        handler: libc::SIG_DFL,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    // SAFETY: rt_sigaction with a valid kernel sigaction of the kernel's
    // signal set size; no old action is asked for.
    let r = unsafe {
        libc::syscall(
            libc::SYS_rt_sigaction,
            sig,
            &action as *const KernelSigaction,
            std::ptr::null_mut::<KernelSigaction>(),
            std::mem::size_of::<u64>(),
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn set_default(sig: libc::c_int) -> io::Result<()> {
    // SAFETY: installing the default disposition; the C library's reserved
    // signals fail with EINVAL, which is not an error here.
    let r = unsafe { libc::signal(sig, libc::SIG_DFL) };
    if r == libc::SIG_ERR && io::Error::last_os_error().raw_os_error() != Some(libc::EINVAL) {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `f` in a forked child and returns what it wrote to a pipe.
    fn in_child(f: impl FnOnce() -> String) -> String {
        use std::io::{Read, Write};
        let (r, w) = nix::unistd::pipe().unwrap();
        // SAFETY: the child only runs `f`, writes and exits.
        match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => {
                drop(r);
                let out = f();
                let _ = std::fs::File::from(w).write_all(out.as_bytes());
                // SAFETY: ends the forked child at once.
                unsafe { libc::_exit(0) }
            }
            nix::unistd::ForkResult::Parent { child } => {
                drop(w);
                let mut s = String::new();
                std::fs::File::from(r).read_to_string(&mut s).unwrap();
                nix::sys::wait::waitpid(child, None).unwrap();
                s
            }
        }
    }

    fn status_field(key: &str) -> String {
        std::fs::read_to_string("/proc/self/status")
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_string()))
            .unwrap()
    }

    #[test]
    fn ignored_and_blocked_signals_are_reset() {
        let out = in_child(|| {
            // SAFETY: plain signal calls in a single-threaded child.
            unsafe {
                libc::signal(libc::SIGPIPE, libc::SIG_IGN);
                libc::signal(libc::SIGQUIT, libc::SIG_IGN);
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                libc::sigaddset(&mut set, libc::SIGUSR1);
                libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            }
            let before = format!("{} {}", status_field("SigIgn:"), status_field("SigBlk:"));
            reset_signals().unwrap();
            format!("{before}|{} {}", status_field("SigIgn:"), status_field("SigBlk:"))
        });
        let (before, after) = out.split_once('|').unwrap();
        assert_ne!(before, "0000000000000000 0000000000000000");
        assert_eq!(after, "0000000000000000 0000000000000000");
    }

    #[test]
    fn descriptors_above_stderr_are_closed_by_exec() {
        let out = in_child(|| {
            let dir = std::fs::File::open("/").unwrap();
            let fd = std::os::fd::IntoRawFd::into_raw_fd(dir);
            // SAFETY: clears close-on-exec on a descriptor this child owns.
            unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
            close_other_fds().unwrap();
            // SAFETY: reads the flags of a descriptor this child owns.
            let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
            format!("{}", flags & libc::FD_CLOEXEC)
        });
        assert_eq!(out, "1");
    }
}
