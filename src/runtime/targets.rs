//! The paths the init needs in the root filesystem, checked on the host
//! before libcontainer runs it: mount targets (a directory cannot be
//! mounted on a file of the image, nor anything under a file) and the
//! working directory, which is made when missing, as Docker makes it
//! (`mkdir -p`, owned by root, 0755), also for `run -w`. Inside the init
//! the same faults only say "failed to prepare rootfs" or "failed to unix
//! syscall"; here they name the path and what is in the way.
//!
//! Paths are resolved as the container will see them: symlinks of the
//! image are followed inside the root (an absolute target starts again at
//! the root, `..` stops there), never on the host.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::config::{ContainerSpec, MountSpec};
use super::error::{Result, RuntimeError};
use super::state::ContainerPaths;

/// How many symlinks a path may go through, as Linux's `MAXSYMLINKS`.
const MAX_LINKS: usize = 40;

/// Checks the mount targets and makes the working directory.
pub fn prepare_targets(paths: &ContainerPaths, spec: &ContainerSpec) -> Result<()> {
    let fail = |what: String| RuntimeError::Setup {
        id: spec.id.clone(),
        what,
    };
    let rootfs = paths.rootfs();
    check_mount_targets(&rootfs, &spec.mounts).map_err(fail)?;
    let cwd = spec
        .working_dir
        .as_deref()
        .or(spec.image.working_dir.as_deref())
        .filter(|w| !w.is_empty())
        .unwrap_or("/");
    make_working_dir(&rootfs, &spec.mounts, cwd).map_err(fail)
}

/// A path looked up in a root.
#[derive(Debug)]
enum Located {
    /// It exists (symlinks followed): its host path and metadata.
    Exists(fs::Metadata),
    /// The deepest existing directory on the way (a host path) and the
    /// names still to make under it.
    Missing { existing: PathBuf, tail: Vec<String> },
}

/// `path` in `root`, as the container sees it. Errs naming (inside the
/// root) a component that is not a directory but has more below it.
fn locate(root: &Path, path: &str) -> std::result::Result<Located, String> {
    let mut pending: Vec<String> = path
        .split('/')
        .rev()
        .filter(|c| !c.is_empty())
        .map(String::from)
        .collect();
    let mut cur = PathBuf::new();
    let mut links = 0;
    let mut meta = fs::symlink_metadata(root).map_err(|e| format!("{}: {e}", root.display()))?;
    while let Some(part) = pending.pop() {
        match part.as_str() {
            "." => continue,
            ".." => {
                cur.pop();
                meta = fs::symlink_metadata(root.join(&cur)).map_err(|e| format!("{}: {e}", cur.display()))?;
                continue;
            }
            _ => {}
        }
        if !meta.is_dir() {
            return Err(format!("/{} is a file", cur.display()));
        }
        let next = cur.join(&part);
        match fs::symlink_metadata(root.join(&next)) {
            Err(_) => {
                let mut tail = vec![part];
                while let Some(p) = pending.pop() {
                    match p.as_str() {
                        "." => {}
                        ".." => {
                            if tail.pop().is_none() {
                                cur.pop();
                            }
                        }
                        _ => tail.push(p),
                    }
                }
                return Ok(Located::Missing {
                    existing: root.join(cur),
                    tail,
                });
            }
            Ok(m) if m.file_type().is_symlink() => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(format!("/{}: too many levels of symbolic links", next.display()));
                }
                let target = fs::read_link(root.join(&next)).map_err(|e| format!("/{}: {e}", next.display()))?;
                let target = target.to_string_lossy().into_owned();
                if target.starts_with('/') {
                    cur = PathBuf::new();
                }
                pending.extend(target.split('/').rev().filter(|c| !c.is_empty()).map(String::from));
                meta = fs::symlink_metadata(root.join(&cur)).map_err(|e| format!("{}: {e}", cur.display()))?;
            }
            Ok(m) => {
                cur = next;
                meta = m;
            }
        }
    }
    Ok(Located::Exists(meta))
}

/// Whether `path` is `base` or under it (component-wise).
fn is_under(path: &str, base: &str) -> bool {
    let base = base.trim_end_matches('/');
    base.is_empty() || path == base || path.strip_prefix(base).is_some_and(|rest| rest.starts_with('/'))
}

fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

fn check_mount_targets(rootfs: &Path, mounts: &[MountSpec]) -> std::result::Result<(), String> {
    for (i, m) in mounts.iter().enumerate() {
        let target = clean(m.target());
        // Under an earlier mount the image's files are not what it meets.
        if mounts[..i]
            .iter()
            .any(|earlier| is_under(&target, &clean(earlier.target())))
        {
            continue;
        }
        let (what, source_is_dir) = match m {
            MountSpec::Bind { source, .. } => (
                format!("the bind source {}", source.display()),
                fs::metadata(source).map(|s| s.is_dir()).unwrap_or(true),
            ),
            MountSpec::Volume { source, .. } => (format!("the volume at {}", source.display()), true),
            MountSpec::Tmpfs { .. } => ("the tmpfs".to_string(), true),
        };
        match locate(rootfs, &target) {
            Err(why) => {
                return Err(format!(
                    "mount target {target} cannot be created: {why} in the image; choose another target"
                ))
            }
            Ok(Located::Exists(meta)) if source_is_dir && !meta.is_dir() => {
                return Err(format!(
                    "mount target {target} is not a directory in the image (it is a file), and {what} \
                     is a directory; mount it elsewhere"
                ))
            }
            Ok(Located::Exists(meta)) if !source_is_dir && meta.is_dir() => {
                return Err(format!(
                    "mount target {target} is a directory in the image, and {what} is a file; \
                     mount a file onto a file (or a directory onto a directory)"
                ))
            }
            // Made here, where the image's symlinks are followed inside the
            // root (a target behind an absolute link, as runc resolves it);
            // libcontainer's init fails on those with "failed to prepare
            // rootfs".
            Ok(Located::Missing { existing, tail }) if source_is_dir => {
                make_dirs(existing, &tail).map_err(|e| format!("mount target {target} cannot be created: {e}"))?
            }
            Ok(_) => {}
        }
    }
    Ok(())
}

/// `tail` made under `existing` as Docker makes missing directories:
/// root's, 0755.
fn make_dirs(existing: PathBuf, tail: &[String]) -> std::result::Result<(), String> {
    let mut dir = existing;
    for name in tail {
        dir.push(name);
        fs::create_dir(&dir)
            .and_then(|()| fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)))
            .and_then(|()| std::os::unix::fs::lchown(&dir, Some(0), Some(0)))
            .map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    Ok(())
}

fn make_working_dir(rootfs: &Path, mounts: &[MountSpec], cwd: &str) -> std::result::Result<(), String> {
    let cwd = clean(cwd);
    if cwd == "/" {
        return Ok(());
    }
    // The last mount covering it is what the process meets there.
    let covering = mounts.iter().rev().find(|m| is_under(&cwd, &clean(m.target())));
    let (base, rel, place) = match covering {
        None => (rootfs.to_path_buf(), cwd.clone(), "the image".to_string()),
        Some(m) => {
            let target = clean(m.target());
            let rel = cwd[target.len()..].to_string();
            match m {
                MountSpec::Volume {
                    source,
                    read_only: false,
                    ..
                }
                | MountSpec::Bind {
                    source,
                    read_only: false,
                    ..
                } => (source.clone(), rel, format!("the mount at {target}")),
                // A tmpfs is empty until the init mounts it, and a read-only
                // mount cannot take a directory: the engine says so there.
                _ => return Ok(()),
            }
        }
    };
    match locate(&base, &rel) {
        Err(why) => Err(format!("working directory {cwd} cannot be created: {why} in {place}")),
        Ok(Located::Exists(meta)) if !meta.is_dir() => Err(format!(
            "working directory {cwd} is a file in {place}, not a directory; set working_dir to a directory"
        )),
        Ok(Located::Exists(_)) => Ok(()),
        Ok(Located::Missing { existing, tail }) => {
            make_dirs(existing, &tail).map_err(|e| format!("working directory {cwd} cannot be created: {e}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn root() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        fs::create_dir_all(r.join("srv/data")).unwrap();
        fs::write(r.join("srv/file"), "f").unwrap();
        symlink("/srv", r.join("link")).unwrap();
        symlink("../../../..", r.join("srv/up")).unwrap();
        dir
    }

    #[test]
    fn the_working_directory_is_made_inside_the_root() {
        let dir = root();
        let r = dir.path();
        make_working_dir(r, &[], "/app/x/").unwrap();
        assert!(r.join("app/x").is_dir());
        assert_eq!(fs::metadata(r.join("app")).unwrap().permissions().mode() & 0o777, 0o755);
        make_working_dir(r, &[], "/link/new").unwrap();
        assert!(r.join("srv/new").is_dir(), "through the image's symlink");
        make_working_dir(r, &[], "/srv/up/escaped").unwrap();
        assert!(r.join("escaped").is_dir(), "`..` stops at the root");
        let e = make_working_dir(r, &[], "/srv/file/x").unwrap_err();
        assert_eq!(
            e,
            "working directory /srv/file/x cannot be created: /srv/file is a file in the image"
        );
        let e = make_working_dir(r, &[], "/srv/file").unwrap_err();
        assert!(e.contains("is a file in the image"), "{e}");
        // Under a volume: made in the volume.
        let vol = tempfile::tempdir().unwrap();
        let mounts = [MountSpec::Volume {
            source: vol.path().to_path_buf(),
            target: "/data".into(),
            read_only: false,
            nocopy: false,
        }];
        make_working_dir(r, &mounts, "/data/work").unwrap();
        assert!(vol.path().join("work").is_dir());
        assert!(!r.join("data").exists());
    }

    #[test]
    fn mount_targets_must_fit_their_sources() {
        let dir = root();
        let r = dir.path();
        let src = tempfile::tempdir().unwrap();
        let bind = |target: &str| MountSpec::Bind {
            source: src.path().to_path_buf(),
            target: target.into(),
            read_only: false,
            propagation: Default::default(),
        };
        check_mount_targets(r, &[bind("/srv/data"), bind("/new/dir"), bind("/link/data")]).unwrap();
        let e = check_mount_targets(r, &[bind("/srv/file")]).unwrap_err();
        assert!(
            e.starts_with("mount target /srv/file is not a directory in the image"),
            "{e}"
        );
        let e = check_mount_targets(r, &[bind("/srv/file/x")]).unwrap_err();
        assert!(
            e.starts_with("mount target /srv/file/x cannot be created: /srv/file is a file"),
            "{e}"
        );
        let file = src.path().join("f");
        fs::write(&file, "x").unwrap();
        let e = check_mount_targets(
            r,
            &[MountSpec::Bind {
                source: file,
                target: "/srv/data".into(),
                read_only: true,
                propagation: Default::default(),
            }],
        )
        .unwrap_err();
        assert!(e.contains("is a directory in the image"), "{e}");
        // Under an earlier mount, the image's file is not in the way.
        check_mount_targets(r, &[bind("/srv"), bind("/srv/file")]).unwrap();
    }
}
