//! Creating a container: [`prepare`] assembles its directory, root
//! filesystem and OCI bundle once; [`create`] makes its init process (stopped
//! before `exec`, waiting for `start`) — again on every restart.
//!
//! libcontainer's `build()` makes the calling process non-dumpable, sets its
//! `oom_score_adj` and briefly changes its working directory: call it from
//! the container's supervisor (or a test), never from a multi-threaded CLI.
//! A process-wide lock keeps two builds in one process from racing on the
//! working directory. A failed build can leave zombie children: a
//! supervisor, which has no other children, reaps them (`reap_zombies`).

use std::fs;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;
use oci_spec::runtime::Spec;

use super::cgroupfs;
use super::cgroups;
use super::config::ContainerSpec;
use super::error::{chain, Result, RuntimeError};
use super::files::{self, InjectedFile};
use super::launch;
use super::rootfs;
use super::seccomp::Host;
use super::spec::{self, SpecInputs};
use super::state::{validate_id, write_json, ContainerState, Roots};
use super::targets;
use super::user;

static ENGINE_LOCK: Mutex<()> = Mutex::new(());

/// Held while libcontainer changes process-wide state (working directory).
pub(crate) fn engine_lock() -> std::sync::MutexGuard<'static, ()> {
    ENGINE_LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The static init binary for `init: true`: `$RCOMPOSE_INIT`, else Debian's
/// `tini-static`, else Docker's `docker-init`.
pub fn find_init_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("RCOMPOSE_INIT").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    [
        "/usr/bin/tini-static",
        "/usr/bin/docker-init",
        "/usr/libexec/docker/docker-init",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.is_file())
}

/// Stdio of the container's init; `None` inherits the caller's.
#[derive(Debug, Default)]
pub struct Stdio {
    pub stdin: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
}

/// Sets up everything the container's processes will share: its directory,
/// `spec.json`, the overlay root, `/etc` files, populated volumes and the OCI
/// bundle (`config.json`). On error, what was done is undone.
pub fn prepare(roots: &Roots, spec: &ContainerSpec) -> Result<ContainerState> {
    prepare_with_files(roots, spec, &[])
}

/// [`prepare`], with `files` written into the container's directory and
/// mounted read-only (after the spec's own mounts, which `spec.json` then
/// lists too).
pub fn prepare_with_files(roots: &Roots, spec: &ContainerSpec, files: &[InjectedFile]) -> Result<ContainerState> {
    validate_id(&spec.id)?;
    let paths = roots.container(&spec.id);
    if paths.dir.exists() {
        return Err(RuntimeError::Exists { id: spec.id.clone() });
    }
    crate::store::private_dir(&paths.dir).map_err(RuntimeError::Store)?;
    let result = (|| {
        let mut spec = spec.clone();
        spec.mounts.extend(files::write(&paths, files)?);
        let spec = &spec;
        write_json(&paths.spec(), spec)?;
        rootfs::mount_rootfs(&paths, &spec.lower_dirs)?;
        rootfs::write_etc_files(&paths, spec)?;
        rootfs::populate_volumes(&paths, spec)?;
        targets::prepare_targets(&paths, spec)?;
        write_oci_config(roots, spec)?;
        let state = ContainerState::new(&spec.id);
        paths.write_state(&state)?;
        Ok(state)
    })();
    if result.is_err() {
        let _ = rootfs::unmount_rootfs(&paths);
        let _ = fs::remove_dir_all(&paths.dir);
    }
    result
}

/// Generates `config.json` from the spec and the image's files in the
/// mounted rootfs.
fn write_oci_config(roots: &Roots, spec: &ContainerSpec) -> Result<()> {
    let paths = roots.container(&spec.id);
    let rootfs_dir = paths.rootfs();
    let passwd = user::read_file(&rootfs_dir, "etc/passwd")?;
    let group = user::read_file(&rootfs_dir, "etc/group")?;
    let user_spec = spec.user.as_deref().or(spec.image.user.as_deref());
    let exec_user = user::resolve(user_spec, &spec.group_add, passwd.as_deref(), group.as_deref())?;
    let inputs = SpecInputs {
        rootfs: rootfs_dir,
        user: exec_user,
        hosts_file: paths.hosts(),
        hostname_file: paths.hostname(),
        resolv_conf: paths.resolv_conf(),
        init_binary: if spec.init { find_init_binary() } else { None },
        cgroups_path: cgroups::cgroups_path(&spec.id),
        swap_accounting: cgroups::swap_accounting(),
        host: Host::current(),
        host_network: spec.netns.as_deref().is_some_and(is_own_netns),
    };
    let oci = spec::build(spec, &inputs)?;
    write_json(&paths.oci_config(), &oci)?;
    launch::write_engine_bundle(&paths, &roots.seccomp_cache(), &oci)
}

/// Whether `path` names the network namespace this process runs in.
fn is_own_netns(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (fs::metadata(path), fs::metadata("/proc/self/ns/net")) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    }
}

/// Creates the container's init process from the prepared bundle and
/// returns its PID; it waits for [`super::start::start`]. Its
/// `/sys/fs/cgroup` is read-only by then (`cgroupfs`). The init is a clone
/// of the caller until it `execve`s: the caller runs from a sealed view of
/// the rcompose binary (`sealed`; supervisors and the CLI's build do).
pub fn create(roots: &Roots, id: &str, stdio: Stdio) -> Result<i32> {
    validate_id(id)?;
    let paths = roots.container(id);
    if !paths.oci_config().is_file() {
        return Err(RuntimeError::NotFound {
            id: id.to_string(),
            root: roots.containers(),
        });
    }
    let engine_root = roots.engine_root();
    crate::store::private_dir(&engine_root).map_err(RuntimeError::Store)?;
    // A previous process of this container (killed supervisor, crash) may
    // have left libcontainer's state behind.
    super::delete::delete_engine_state(roots, id)?;

    let (bundle, executor) = launch::launch(&paths, &roots.seccomp_cache())?;
    let mut builder = ContainerBuilder::new(id.to_string(), SyscallType::default())
        .with_executor(executor)
        .with_root_path(&engine_root)
        .map_err(|e| RuntimeError::engine(id, "create", chain(&e)))?;
    if let Some(fd) = stdio.stdin {
        builder = builder.with_stdin(fd);
    }
    if let Some(fd) = stdio.stdout {
        builder = builder.with_stdout(fd);
    }
    if let Some(fd) = stdio.stderr {
        builder = builder.with_stderr(fd);
    }
    let container = {
        let _guard = engine_lock();
        let cwd = std::env::current_dir().ok();
        let built = builder
            .validate_id()
            .map_err(|e| RuntimeError::engine(id, "create", chain(&e)))?
            .as_init(&bundle)
            .with_systemd(false)
            .with_detach(true)
            .build();
        if let Some(cwd) = cwd {
            let _ = std::env::set_current_dir(cwd);
        }
        built.map_err(|e| engine_failure(id, &chain(&e)))?
    };
    // libcontainer makes its directory (its copy of the config, the notify
    // socket) with the umask's modes: make it root-only like the rest.
    crate::store::private_dir(&engine_root.join(id)).map_err(RuntimeError::Store)?;
    let pid = container
        .pid()
        .map(|p| p.as_raw())
        .ok_or_else(|| RuntimeError::engine(id, "create", "libcontainer reported no init PID"))?;
    let spec = Spec::load(bundle.join("config.json")).map_err(|e| RuntimeError::CorruptState {
        path: bundle.join("config.json"),
        reason: e.to_string(),
    });
    let read_only = spec.and_then(|spec| match cgroupfs::wants_read_only(&spec) {
        true => cgroupfs::make_read_only(pid).map_err(|e| RuntimeError::engine(id, "create", e.to_string())),
        false => Ok(()),
    });
    if let Err(e) = read_only {
        // The init waits for a start that will not come: end it.
        let _ = super::delete::delete_engine_state(roots, id);
        return Err(e);
    }
    Ok(pid)
}

/// libcontainer's failure to create, or the executor's report that the
/// command cannot run (`exec: "x": …`), with Docker's exit code.
fn engine_failure(id: &str, detail: &str) -> RuntimeError {
    match detail.find("exec: \"") {
        Some(at) => {
            let message = detail[at..].trim_end().to_string();
            let not_found = message.contains("not found") || message.contains("no such file");
            RuntimeError::CannotRun {
                id: id.to_string(),
                code: if not_found {
                    super::exec::NOT_FOUND
                } else {
                    super::exec::CANNOT_RUN
                },
                message,
            }
        }
        None => RuntimeError::engine(id, "create", detail),
    }
}

/// Reaps every exited child without blocking. Only for a process whose
/// children are all its own containers' (the supervisor).
pub fn reap_zombies() {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    while let Ok(status) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
        if status == WaitStatus::StillAlive {
            break;
        }
    }
}

/// Whether `path` holds a prepared container.
pub fn exists(roots: &Roots, id: &str) -> bool {
    Path::new(&roots.container(id).oci_config()).is_file()
}
