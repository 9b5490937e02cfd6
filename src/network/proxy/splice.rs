//! Zero-copy byte pumping between two sockets through a pipe.

use std::net::{Shutdown, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const CHUNK: usize = 1 << 20;

struct Pipe {
    r: OwnedFd,
    w: OwnedFd,
}

fn pipe() -> std::io::Result<Pipe> {
    let mut fds = [0i32; 2];
    // SAFETY: pipe2 writes two fds into the array we own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both fds were just returned by the kernel and are owned by nobody else.
    let p = unsafe {
        Pipe {
            r: OwnedFd::from_raw_fd(fds[0]),
            w: OwnedFd::from_raw_fd(fds[1]),
        }
    };
    // Best effort: a larger pipe moves more per call.
    // SAFETY: fcntl on an fd we own.
    unsafe { libc::fcntl(p.w.as_raw_fd(), libc::F_SETPIPE_SZ, CHUNK as libc::c_int) };
    Ok(p)
}

fn splice(from: i32, to: i32, len: usize) -> std::io::Result<usize> {
    loop {
        // SAFETY: splice between fds we hold; null offsets (sockets and pipes).
        let n = unsafe {
            libc::splice(
                from,
                std::ptr::null_mut(),
                to,
                std::ptr::null_mut(),
                len,
                libc::SPLICE_F_MOVE | libc::SPLICE_F_MORE,
            )
        };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Copies `from` → `to` until EOF, then half-closes `to`. On an error both
/// sides are shut down so the other direction ends too.
pub fn pump(from: &TcpStream, to: &TcpStream) {
    let p = match pipe() {
        Ok(p) => p,
        Err(_) => {
            let _ = from.shutdown(Shutdown::Both);
            let _ = to.shutdown(Shutdown::Both);
            return;
        }
    };
    let (src, dst) = (from.as_raw_fd(), to.as_raw_fd());
    loop {
        let n = match splice(src, p.w.as_raw_fd(), CHUNK) {
            Ok(0) => {
                let _ = to.shutdown(Shutdown::Write);
                return;
            }
            Ok(n) => n,
            Err(_) => break,
        };
        let mut left = n;
        while left > 0 {
            match splice(p.r.as_raw_fd(), dst, left) {
                Ok(0) | Err(_) => {
                    let _ = from.shutdown(Shutdown::Both);
                    let _ = to.shutdown(Shutdown::Both);
                    return;
                }
                Ok(m) => left -= m,
            }
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}
