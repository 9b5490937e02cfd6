//! Files the runtime writes into a container's directory and bind-mounts
//! read-only: content that is not a host path the caller may mount (a
//! secret taken from a variable, a config's inline text, a copy given its
//! own owner and mode).
//!
//! They live in `containers/<id>/files/` (0700, root's): only the container
//! sees them, through its mount, with the owner and mode asked for; they go
//! with the container's directory.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};

use super::config::{MountSpec, Propagation};
use super::error::{Result, RuntimeError};
use super::state::ContainerPaths;

/// One file to write and mount read-only at `target` (absolute).
#[derive(Clone, PartialEq, Eq)]
pub struct InjectedFile {
    pub target: String,
    pub content: Vec<u8>,
    pub uid: u32,
    pub gid: u32,
    /// Permission bits (at most 0o777).
    pub mode: u32,
}

// The content is a secret: debug output names the file, not what it holds.
impl std::fmt::Debug for InjectedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InjectedFile")
            .field("target", &self.target)
            .field("len", &self.content.len())
            .field("uid", &self.uid)
            .field("gid", &self.gid)
            .field("mode", &format_args!("{:#o}", self.mode))
            .finish()
    }
}

/// Writes `files` under the container's directory and returns the mounts
/// that put them in place.
pub fn write(paths: &ContainerPaths, files: &[InjectedFile]) -> Result<Vec<MountSpec>> {
    if files.is_empty() {
        return Ok(Vec::new());
    }
    let dir = paths.files();
    fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(|e| RuntimeError::io("failed to create", &dir, e))?;
    let mut mounts = Vec::with_capacity(files.len());
    for (i, f) in files.iter().enumerate() {
        if f.mode & !0o777 != 0 {
            return Err(RuntimeError::InvalidSpec {
                id: paths.id.clone(),
                what: format!(
                    "file for {} has mode {:#o}: only permission bits (0-0777) are allowed",
                    f.target, f.mode
                ),
            });
        }
        let path = dir.join(i.to_string());
        // Root-only until it has its owner and mode; never through a link.
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(nix::libc::O_NOFOLLOW)
            .open(&path)
            .map_err(|e| RuntimeError::io("failed to create", &path, e))?;
        file.write_all(&f.content)
            .map_err(|e| RuntimeError::io("failed to write", &path, e))?;
        std::os::unix::fs::fchown(&file, Some(f.uid), Some(f.gid))
            .map_err(|e| RuntimeError::io("failed to set the owner of", &path, e))?;
        file.set_permissions(fs::Permissions::from_mode(f.mode))
            .map_err(|e| RuntimeError::io("failed to set the mode of", &path, e))?;
        mounts.push(MountSpec::Bind {
            source: path,
            target: f.target.clone(),
            read_only: true,
            propagation: Propagation::Rprivate,
        });
    }
    Ok(mounts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn files_get_their_content_mode_and_a_read_only_mount() {
        let t = tempfile::tempdir().unwrap();
        let paths = ContainerPaths {
            id: "c".into(),
            dir: t.path().to_path_buf(),
        };
        let uid = nix::unistd::geteuid().as_raw();
        let gid = nix::unistd::getegid().as_raw();
        let files = [InjectedFile {
            target: "/run/secrets/a".into(),
            content: b"s3cret".to_vec(),
            uid,
            gid,
            mode: 0o440,
        }];
        let mounts = write(&paths, &files).unwrap();
        let src = paths.files().join("0");
        assert_eq!(fs::read(&src).unwrap(), b"s3cret");
        let meta = fs::metadata(&src).unwrap();
        assert_eq!(meta.mode() & 0o7777, 0o440);
        assert_eq!(fs::metadata(paths.files()).unwrap().mode() & 0o7777, 0o700);
        assert_eq!(
            mounts,
            vec![MountSpec::Bind {
                source: src,
                target: "/run/secrets/a".into(),
                read_only: true,
                propagation: Propagation::Rprivate,
            }]
        );
        assert!(!format!("{files:?}").contains("s3cret"));
    }

    #[test]
    fn special_bits_are_refused() {
        let t = tempfile::tempdir().unwrap();
        let paths = ContainerPaths {
            id: "c".into(),
            dir: t.path().to_path_buf(),
        };
        let f = InjectedFile {
            target: "/x".into(),
            content: Vec::new(),
            uid: 0,
            gid: 0,
            mode: 0o4755,
        };
        let err = write(&paths, &[f]).unwrap_err().to_string();
        assert!(err.contains("0o4755") && err.contains("permission bits"), "{err}");
    }
}
