//! The container's root filesystem: overlayfs over the image's snapshot
//! directories with a per-container upper/work dir, the generated
//! `/etc/hosts`, `/etc/hostname`, `/etc/resolv.conf`, and named volumes
//! populated from the image on first use.
//!
//! The overlay's lower dirs are given as `/proc/self/fd/N` of directories
//! opened beforehand: the mount options stay short whatever the paths (they
//! are limited to one page) and no path needs escaping or a `chdir`.

use std::fs;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{open, OFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::Mode;

use super::config::{ContainerSpec, DnsConfig, MountSpec};
use super::error::{Result, RuntimeError};
use super::spec::hostname;
use super::state::{atomic_write_mode, ContainerPaths};

/// Mounts the overlay at `paths.rootfs()`.
pub fn mount_rootfs(paths: &ContainerPaths, lower_dirs: &[PathBuf]) -> Result<()> {
    if lower_dirs.is_empty() {
        return Err(RuntimeError::InvalidSpec {
            id: paths.id.clone(),
            what: "the image has no layers (no lower directories for the root filesystem)".into(),
        });
    }
    // The upper directory's mode is the mode of `/` inside: 0755, as the
    // image's root usually is, so that non-root users in it can enter `/`.
    for (dir, mode) in [
        (paths.rootfs(), crate::store::DIR_MODE),
        (paths.upper(), crate::store::SHARED_DIR_MODE),
        (paths.work(), crate::store::DIR_MODE),
    ] {
        crate::store::dir_with_mode(&dir, mode).map_err(RuntimeError::Store)?;
    }
    let mut fds: Vec<OwnedFd> = Vec::with_capacity(lower_dirs.len());
    for dir in lower_dirs {
        let fd = open(
            dir.as_path(),
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| RuntimeError::sys("failed to open image snapshot", dir, e))?;
        fds.push(fd);
    }
    let lower: Vec<String> = fds
        .iter()
        .map(|fd| format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .collect();
    let options = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        paths.upper().display(),
        paths.work().display()
    );
    if options.len() >= 4000 {
        return Err(RuntimeError::InvalidSpec {
            id: paths.id.clone(),
            what: format!(
                "overlay mount options are {} bytes, over the one-page limit; use a shorter state root",
                options.len()
            ),
        });
    }
    let target = paths.rootfs();
    mount(
        Some("overlay"),
        &target,
        Some("overlay"),
        MsFlags::empty(),
        Some(options.as_str()),
    )
    .map_err(|e| RuntimeError::sys("failed to mount the overlay root filesystem on", &target, e))?;
    drop(fds);
    Ok(())
}

/// Whether `path` is a mount point (its device differs from its parent's).
pub fn is_mounted(path: &Path) -> bool {
    let (Ok(me), Some(Ok(parent))) = (fs::metadata(path), path.parent().map(fs::metadata)) else {
        return false;
    };
    me.dev() != parent.dev()
}

/// Unmounts the rootfs; not mounted is success.
pub fn unmount_rootfs(paths: &ContainerPaths) -> Result<()> {
    let target = paths.rootfs();
    while is_mounted(&target) {
        umount2(&target, MntFlags::MNT_DETACH)
            .map_err(|e| RuntimeError::sys("failed to unmount the root filesystem", &target, e))?;
    }
    Ok(())
}

/// `/etc/hosts` as Docker writes it, plus `extra_hosts`.
pub fn hosts_file(spec: &ContainerSpec) -> String {
    let mut out = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    for h in &spec.extra_hosts {
        out.push_str(&format!("{}\t{}\n", h.ip, h.name));
    }
    out
}

/// `/etc/resolv.conf`: the given DNS settings; without nameservers, the
/// host's file with loopback nameservers removed (they mean nothing in the
/// container's network namespace), as Docker does.
pub fn resolv_conf(dns: &DnsConfig, host_resolv_conf: &str) -> String {
    let mut out = String::new();
    if dns.nameservers.is_empty() {
        let mut search_done = false;
        for line in host_resolv_conf.lines() {
            let mut words = line.split_whitespace();
            match words.next() {
                Some("nameserver") => {
                    let addr = words.next().unwrap_or("");
                    if addr.starts_with("127.") || addr == "::1" {
                        continue;
                    }
                    out.push_str(&format!("nameserver {addr}\n"));
                }
                Some("search") | Some("domain") if !dns.search.is_empty() => {
                    if !search_done {
                        out.push_str(&format!("search {}\n", dns.search.join(" ")));
                        search_done = true;
                    }
                }
                Some("options") if !dns.options.is_empty() => {}
                Some(w) if !w.starts_with('#') && !w.starts_with(';') => {
                    out.push_str(line.trim());
                    out.push('\n');
                }
                _ => {}
            }
        }
        if !search_done && !dns.search.is_empty() {
            out.push_str(&format!("search {}\n", dns.search.join(" ")));
        }
    } else {
        for ns in &dns.nameservers {
            out.push_str(&format!("nameserver {ns}\n"));
        }
        if !dns.search.is_empty() {
            out.push_str(&format!("search {}\n", dns.search.join(" ")));
        }
    }
    if !dns.options.is_empty() {
        out.push_str(&format!("options {}\n", dns.options.join(" ")));
    }
    out
}

/// Writes the three files that are bind-mounted into `/etc`.
pub fn write_etc_files(paths: &ContainerPaths, spec: &ContainerSpec) -> Result<()> {
    let host = fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    // Bind-mounted into the container: its non-root users read them.
    let shared = crate::store::SHARED_FILE_MODE;
    atomic_write_mode(&paths.hosts(), hosts_file(spec).as_bytes(), shared)?;
    atomic_write_mode(&paths.hostname(), format!("{}\n", hostname(spec)).as_bytes(), shared)?;
    atomic_write_mode(&paths.resolv_conf(), resolv_conf(&spec.dns, &host).as_bytes(), shared)?;
    Ok(())
}

/// Fills each empty named volume with the image's content at its target, as
/// Docker does on first mount (not with `nocopy`).
pub fn populate_volumes(paths: &ContainerPaths, spec: &ContainerSpec) -> Result<()> {
    for m in &spec.mounts {
        let MountSpec::Volume {
            source,
            target,
            nocopy: false,
            ..
        } = m
        else {
            continue;
        };
        let empty = fs::read_dir(source)
            .map_err(|e| RuntimeError::io("failed to read volume directory", source, e))?
            .next()
            .is_none();
        if !empty {
            continue;
        }
        let from = resolve_in_root(&paths.rootfs(), target);
        match fs::symlink_metadata(&from) {
            Ok(meta) if meta.is_dir() => {
                copy_tree(&from, source)?;
                copy_owner_and_mode(&meta, source)?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// `target` inside `root`, with symlinks resolved as if `root` were `/`.
fn resolve_in_root(root: &Path, target: &str) -> PathBuf {
    let mut cur = PathBuf::new();
    let mut parts: Vec<String> = target
        .split('/')
        .filter(|c| !c.is_empty())
        .rev()
        .map(str::to_string)
        .collect();
    let mut hops = 0;
    while let Some(part) = parts.pop() {
        match part.as_str() {
            "." => continue,
            ".." => {
                cur.pop();
                continue;
            }
            _ => {}
        }
        let next = cur.join(&part);
        match fs::read_link(root.join(&next)) {
            Ok(link) if hops < 40 => {
                hops += 1;
                let link = link.to_string_lossy().into_owned();
                if link.starts_with('/') {
                    cur = PathBuf::new();
                }
                parts.extend(link.split('/').filter(|c| !c.is_empty()).rev().map(str::to_string));
            }
            _ => cur = next,
        }
    }
    root.join(cur)
}

fn copy_owner_and_mode(meta: &fs::Metadata, to: &Path) -> Result<()> {
    std::os::unix::fs::lchown(to, Some(meta.uid()), Some(meta.gid()))
        .map_err(|e| RuntimeError::io("failed to set owner of", to, e))?;
    if !meta.file_type().is_symlink() {
        fs::set_permissions(to, fs::Permissions::from_mode(meta.mode() & 0o7777))
            .map_err(|e| RuntimeError::io("failed to set mode of", to, e))?;
    }
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    let entries = fs::read_dir(from).map_err(|e| RuntimeError::io("failed to read", from, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| RuntimeError::io("failed to read", from, e))?;
        let src = entry.path();
        let dst = to.join(entry.file_name());
        let meta = fs::symlink_metadata(&src).map_err(|e| RuntimeError::io("failed to stat", &src, e))?;
        let ft = meta.file_type();
        if ft.is_dir() {
            fs::create_dir(&dst).map_err(|e| RuntimeError::io("failed to create", &dst, e))?;
            copy_tree(&src, &dst)?;
        } else if ft.is_symlink() {
            let link = fs::read_link(&src).map_err(|e| RuntimeError::io("failed to read link", &src, e))?;
            std::os::unix::fs::symlink(&link, &dst)
                .map_err(|e| RuntimeError::io("failed to create symlink", &dst, e))?;
        } else if ft.is_file() {
            fs::copy(&src, &dst).map_err(|e| RuntimeError::io("failed to copy into volume", &dst, e))?;
        } else {
            // Devices, sockets and fifos are not carried into volumes.
            continue;
        }
        copy_owner_and_mode(&meta, &dst)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::config::HostEntry;
    use super::*;

    #[test]
    fn hosts_has_localhost_and_extra_hosts() {
        let spec = ContainerSpec {
            extra_hosts: vec![HostEntry {
                name: "db".into(),
                ip: "10.1.0.2".into(),
            }],
            ..Default::default()
        };
        let h = hosts_file(&spec);
        assert!(h.starts_with("127.0.0.1\tlocalhost\n"));
        assert!(h.ends_with("10.1.0.2\tdb\n"));
    }

    #[test]
    fn resolv_conf_drops_loopback_and_applies_overrides() {
        let host = "# generated\nnameserver 127.0.0.53\nnameserver 192.0.2.1\nsearch lan\noptions edns0\n";
        assert_eq!(
            resolv_conf(&DnsConfig::default(), host),
            "nameserver 192.0.2.1\nsearch lan\noptions edns0\n"
        );
        let dns = DnsConfig {
            nameservers: vec!["127.0.0.11".into()],
            search: vec!["svc".into()],
            options: vec!["ndots:0".into()],
        };
        assert_eq!(
            resolv_conf(&dns, host),
            "nameserver 127.0.0.11\nsearch svc\noptions ndots:0\n"
        );
    }

    #[test]
    fn resolve_in_root_keeps_symlinks_inside() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("real/data")).unwrap();
        std::os::unix::fs::symlink("/real", root.join("link")).unwrap();
        std::os::unix::fs::symlink("../../../../..", root.join("escape")).unwrap();
        assert_eq!(resolve_in_root(root, "/link/data"), root.join("real/data"));
        assert_eq!(resolve_in_root(root, "/escape/etc"), root.join("etc"));
    }

    #[test]
    fn copy_tree_keeps_content_links_and_modes() {
        let dir = tempfile::tempdir().unwrap();
        let from = dir.path().join("from");
        let to = dir.path().join("to");
        fs::create_dir_all(from.join("sub")).unwrap();
        fs::create_dir(&to).unwrap();
        fs::write(from.join("sub/f"), "x").unwrap();
        fs::set_permissions(from.join("sub/f"), fs::Permissions::from_mode(0o640)).unwrap();
        std::os::unix::fs::symlink("sub/f", from.join("l")).unwrap();
        copy_tree(&from, &to).unwrap();
        assert_eq!(fs::read_to_string(to.join("sub/f")).unwrap(), "x");
        assert_eq!(fs::metadata(to.join("sub/f")).unwrap().mode() & 0o777, 0o640);
        assert_eq!(fs::read_link(to.join("l")).unwrap(), PathBuf::from("sub/f"));
    }
}
