//! The control socket's address, whatever the length of its path.
//!
//! A Unix socket address holds at most 107 bytes of path, and the socket
//! lives in the container's directory, whose name is the container's: a
//! long project or service name (or a deep state root) would make the
//! container impossible to start. A path that does not fit is reached
//! through a descriptor of its directory instead
//! (`/proc/self/fd/N/control.sock`), which the kernel resolves as the same
//! file; the descriptor is closed once bound or connected.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// What fits in `sockaddr_un.sun_path` with its terminating NUL.
const SUN_PATH_MAX: usize = 107;

/// Runs `f` on an address of `path` that fits a socket address.
fn with_short_path<T>(path: &Path, f: impl FnOnce(&Path) -> io::Result<T>) -> io::Result<T> {
    if path.as_os_str().len() <= SUN_PATH_MAX {
        return f(path);
    }
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return f(path);
    };
    // O_PATH: the directory is only named, never read; CLOEXEC (std's
    // default) keeps it out of any child started meanwhile.
    let dir = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
        .open(dir)?;
    let short = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd())).join(name);
    let result = f(&short);
    drop::<File>(dir);
    result
}

/// Listens on `path` (a stale socket file there is replaced).
pub fn bind(path: &Path) -> io::Result<UnixListener> {
    let _ = std::fs::remove_file(path);
    with_short_path(path, |p| UnixListener::bind(p))
}

/// Connects to the socket at `path`.
pub fn connect(path: &Path) -> io::Result<UnixStream> {
    with_short_path(path, |p| UnixStream::connect(p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn a_socket_deeper_than_a_socket_address_holds() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("c".repeat(120));
        std::fs::create_dir(&dir).unwrap();
        let sock = dir.join("control.sock");
        assert!(sock.as_os_str().len() > SUN_PATH_MAX);
        assert!(UnixListener::bind(&sock).is_err(), "the plain path should not fit");

        let listener = bind(&sock).unwrap();
        assert!(sock.exists(), "the socket is made at its real path");
        let mut client = connect(&sock).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        client.write_all(b"ping").unwrap();
        let mut buf = [0u8; 4];
        server.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"ping");
    }
}
