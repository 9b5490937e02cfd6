//! Who may read the state (DESIGN.md §5). It holds every container's
//! environment (passwords), logs and root filesystem, so it is root-only,
//! as Docker's is: the state root 0710, every directory the engine makes
//! 0700, every file 0600, sockets 0600.
//!
//! The exceptions are what a container itself shows to its own non-root
//! users, whose modes are part of the container's view: the files
//! bind-mounted over `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf`
//! (0644), a volume's `_data` and an overlay's upper directory (0755, the
//! mode of the mount point or `/` inside). They stay reachable for the
//! container (mounts do not walk the host path) and unreachable for other
//! host users (their parents are private).
//!
//! Modes are set explicitly rather than through the umask, so a caller's
//! umask can neither open nor break them.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use super::StoreError;

/// The state root (`/var/lib/rcompose`), as Docker's `/var/lib/docker`.
pub const ROOT_DIR_MODE: u32 = 0o710;
/// Every directory of the state the engine makes.
pub const DIR_MODE: u32 = 0o700;
/// Every state file, log and socket.
pub const FILE_MODE: u32 = 0o600;
/// Files bind-mounted into a container that its non-root users read.
pub const SHARED_FILE_MODE: u32 = 0o644;
/// Directories whose mode a container shows as a mount point or its `/`.
pub const SHARED_DIR_MODE: u32 = 0o755;

fn create_dir_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::CreateDir {
        path: path.to_path_buf(),
        source,
    }
}

/// Removes the bits of `path`'s mode that `mode` does not allow (an older
/// version made it with looser ones). A symlink is left alone.
fn tighten(path: &Path, mode: u32) -> io::Result<()> {
    let meta = std::fs::symlink_metadata(path)?;
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    let current = meta.permissions().mode() & 0o7777;
    if current & !mode & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(current & !(!mode & 0o077)))?;
    }
    Ok(())
}

/// Creates `path` and its missing parents as private directories (0700);
/// an existing `path` that others could enter is made private.
pub fn private_dir(path: &Path) -> Result<(), StoreError> {
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(path)
        .and_then(|()| tighten(path, DIR_MODE))
        .map_err(create_dir_err(path))
}

/// Creates the directory `path` with exactly `mode` (parents private) if it
/// is missing; an existing one keeps its mode (a volume's owner may have
/// changed it from inside a container).
pub fn dir_with_mode(path: &Path, mode: u32) -> Result<(), StoreError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        private_dir(parent)?;
    }
    match DirBuilder::new().mode(mode).create(path) {
        Ok(()) => std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(create_dir_err(path)),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => Ok(()),
        Err(e) => Err(create_dir_err(path)(e)),
    }
}

/// Creates (0710) or tightens the state root, and tightens its top
/// directories: a root made by an older version had them world-readable,
/// and closing the top of each tree closes everything below.
pub fn secure_state_root(path: &Path) -> Result<(), StoreError> {
    secure_top(path, ROOT_DIR_MODE)
}

/// Creates (0700) or tightens the run directory (`/run/rcompose`) and its
/// top directories.
pub fn secure_run_root(path: &Path) -> Result<(), StoreError> {
    secure_top(path, DIR_MODE)
}

fn secure_top(path: &Path, mode: u32) -> Result<(), StoreError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        // Parents the engine creates (a fresh RCOMPOSE_ROOT's) need to be
        // enterable only by root too; existing ones are not the engine's.
        DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(parent)
            .map_err(create_dir_err(parent))?;
    }
    match DirBuilder::new().mode(mode).create(path) {
        Ok(()) => {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(create_dir_err(path))?
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => tighten(path, mode).map_err(create_dir_err(path))?,
        Err(e) => return Err(create_dir_err(path)(e)),
    }
    let entries = std::fs::read_dir(path).map_err(create_dir_err(path))?;
    for e in entries.flatten() {
        let p = e.path();
        let result = match e.file_type() {
            Ok(t) if t.is_symlink() => Ok(()),
            Ok(t) if t.is_dir() => tighten(&p, DIR_MODE),
            Ok(_) => tighten(&p, FILE_MODE),
            Err(e) => Err(e),
        };
        result.map_err(create_dir_err(&p))?;
    }
    Ok(())
}

/// Opens `path` for appending (a log), creating it 0600; an existing file
/// others could read is made private.
pub fn open_private_append(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(FILE_MODE)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)?;
    let mode = file.metadata()?.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        file.set_permissions(std::fs::Permissions::from_mode(mode & !0o077))?;
    }
    Ok(file)
}

/// Makes the socket (or other file) at `path` private after `bind` made it
/// with the process's umask.
pub fn make_private(path: &Path) -> io::Result<()> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(FILE_MODE))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn private_dirs_ignore_the_umask_and_tighten_old_ones() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a/b/c");
        private_dir(&p).unwrap();
        assert_eq!(mode(&d.path().join("a")), 0o700);
        assert_eq!(mode(&p), 0o700);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        private_dir(&p).unwrap();
        assert_eq!(mode(&p), 0o700);
    }

    #[test]
    fn shared_dirs_get_exactly_their_mode_once() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("v/_data");
        dir_with_mode(&p, SHARED_DIR_MODE).unwrap();
        assert_eq!(mode(&d.path().join("v")), 0o700);
        assert_eq!(mode(&p), 0o755);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o1777)).unwrap();
        dir_with_mode(&p, SHARED_DIR_MODE).unwrap();
        assert_eq!(mode(&p), 0o1777, "a mode set later is kept");
    }

    #[test]
    fn an_old_root_is_tightened_with_its_top_entries() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("root");
        std::fs::create_dir_all(root.join("containers/c1")).unwrap();
        std::fs::write(root.join("refs"), "x").unwrap();
        for p in [&root, &root.join("containers"), &root.join("containers/c1")] {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::fs::set_permissions(root.join("refs"), std::fs::Permissions::from_mode(0o644)).unwrap();
        secure_state_root(&root).unwrap();
        assert_eq!(mode(&root), 0o710);
        assert_eq!(mode(&root.join("containers")), 0o700);
        assert_eq!(mode(&root.join("refs")), 0o600);
        // Below the top, the closed parents are enough.
        assert_eq!(mode(&root.join("containers/c1")), 0o755);
        let fresh = d.path().join("new/run");
        secure_run_root(&fresh).unwrap();
        assert_eq!(mode(&fresh), 0o700);
    }

    #[test]
    fn appended_files_are_private() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("c-json.log");
        drop(open_private_append(&p).unwrap());
        assert_eq!(mode(&p), 0o600);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        drop(open_private_append(&p).unwrap());
        assert_eq!(mode(&p), 0o600);
    }
}
