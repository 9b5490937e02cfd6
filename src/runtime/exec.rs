//! Running one more process in a running container (`exec`, healthchecks).
//!
//! Done here rather than with libcontainer's tenant builder because that one
//! rebuilds the spec's `linux` section from the namespaces alone, so an exec'd
//! process would run without the container's seccomp filter; Docker's does
//! not. The steps, as runc's `exec` takes them:
//!
//! 1. the caller reads the container's OCI spec and opens its namespaces;
//! 2. a forked intermediate joins the container's cgroups and namespaces,
//!    then clones the process with `CLONE_PARENT`, so it is the caller's own
//!    child (waitable, killable) inside the container's PID namespace;
//! 3. that process enters the container's root, applies rlimits, seccomp,
//!    user, groups and capabilities from the spec, keeps only descriptors
//!    0–2, restores default signal handling (`pre_exec`) and `execve`s; a
//!    failure before `execve` comes back to the caller as an error on a
//!    pipe.
//!
//! The intermediate makes itself non-dumpable before it joins anything.
//! The caller must be single-threaded (the CLI's `exec`, a supervisor):
//! the children allocate between `fork` and `execve`. It must also run
//! from a sealed view of the rcompose binary (`sealed`: the CLI's `exec`
//! and supervisors do), since the process in the container runs the
//! caller's executable until its `execve`.

use std::ffi::CString;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::sys::wait::waitpid;
use nix::unistd::{fork, pipe2, ForkResult, Pid};
use oci_spec::runtime::{LinuxCapabilities, PosixRlimit, Spec};

use super::capabilities::{self, OciCaps};
use super::cgroups;
use super::error::{Result, RuntimeError};
use super::launch;
use super::pre_exec;
use super::seccomp_filter::Filter;
use super::state::{Roots, Status};
use super::thp;
use super::user;

/// What to run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecRequest {
    pub args: Vec<String>,
    /// `KEY=VALUE` entries over the container's environment.
    pub env: Vec<String>,
    /// `user[:group]` as in Compose; `None`: the container's user.
    pub user: Option<String>,
    /// Absolute path; `None`: the container's working directory.
    pub workdir: Option<String>,
}

/// The new process' standard streams. `controlling_tty`: stdin is a pty's
/// slave that becomes the process' controlling terminal.
pub struct ExecStdio {
    pub stdin: RawFd,
    pub stdout: RawFd,
    pub stderr: RawFd,
    pub controlling_tty: bool,
}

/// Exit code for "found but cannot run", as Docker's `exec`.
pub const CANNOT_RUN: i32 = 126;
/// Exit code for "no such command".
pub const NOT_FOUND: i32 = 127;

/// Why an exec did not start: the message and the exit code Docker uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecFailure {
    pub message: String,
    pub code: i32,
}

/// Everything the children need, prepared before any fork.
struct Prepared {
    namespaces: Vec<OwnedFd>,
    mount_ns: OwnedFd,
    root: OwnedFd,
    cgroup_procs: Vec<PathBuf>,
    args: Vec<String>,
    env: Vec<String>,
    cwd: String,
    uid: u32,
    gid: u32,
    groups: Vec<u32>,
    rlimits: Vec<PosixRlimit>,
    capabilities: Option<LinuxCapabilities>,
    no_new_privileges: bool,
    seccomp: Option<Filter>,
}

/// Starts `request` in running container `id`; returns the PID of the new
/// process (a child of the caller) or, when it could not be started, the
/// reason as an [`ExecFailure`] inside `Ok(Err(..))`.
pub fn spawn(
    roots: &Roots,
    id: &str,
    request: &ExecRequest,
    stdio: &ExecStdio,
) -> Result<std::result::Result<i32, ExecFailure>> {
    let prepared = prepare(roots, id, request)?;
    let (err_r, err_w) = pipe2(OFlag::O_CLOEXEC).map_err(|e| engine(id, format!("pipe: {e}")))?;
    let (pid_r, pid_w) = pipe2(OFlag::O_CLOEXEC).map_err(|e| engine(id, format!("pipe: {e}")))?;
    // SAFETY: the caller is single-threaded (module docs).
    let intermediate = match unsafe { fork() }.map_err(|e| engine(id, format!("fork: {e}")))? {
        ForkResult::Child => {
            drop(err_r);
            drop(pid_r);
            intermediate(&prepared, stdio, err_w, pid_w)
        }
        ForkResult::Parent { child } => child,
    };
    drop(err_w);
    drop(pid_w);
    let mut pid_bytes = Vec::new();
    let _ = File::from(pid_r).read_to_end(&mut pid_bytes);
    let _ = waitpid(intermediate, None);
    let mut message = Vec::new();
    let _ = File::from(err_r).read_to_end(&mut message);
    let pid = <[u8; 4]>::try_from(pid_bytes.as_slice()).ok().map(i32::from_ne_bytes);
    if message.is_empty() {
        return match pid {
            Some(pid) => Ok(Ok(pid)),
            None => Err(engine(id, "the exec process did not start".into())),
        };
    }
    if let Some(pid) = pid {
        let _ = waitpid(Pid::from_raw(pid), None);
    }
    // First byte: the exit code; the rest: the message.
    Ok(Err(ExecFailure {
        code: message[0] as i32,
        message: String::from_utf8_lossy(&message[1..]).into_owned(),
    }))
}

fn engine(id: &str, detail: String) -> RuntimeError {
    RuntimeError::Engine {
        id: id.to_string(),
        action: "exec in",
        detail,
    }
}

fn prepare(roots: &Roots, id: &str, request: &ExecRequest) -> Result<Prepared> {
    if request.args.is_empty() {
        return Err(engine(id, "no command given".into()));
    }
    let paths = roots.container(id);
    let state = paths.read_state()?;
    if state.paused {
        return Err(RuntimeError::WrongState {
            id: id.to_string(),
            status: "paused".into(),
            action: "exec in it (unpause it first)",
        });
    }
    let pid = match (state.status, state.pid) {
        (Status::Running, Some(pid)) if Path::new(&format!("/proc/{pid}")).exists() => pid,
        _ => {
            return Err(RuntimeError::WrongState {
                id: id.to_string(),
                status: state.status.to_string(),
                action: "exec in it (it is not running)",
            })
        }
    };
    let spec = Spec::load(paths.oci_config()).map_err(|e| engine(id, format!("reading its OCI spec: {e}")))?;
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| engine(id, "its OCI spec has no process".into()))?;
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));

    let open = |p: PathBuf, flags: OFlag| -> Result<OwnedFd> {
        nix::fcntl::open(&p, flags | OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty())
            .map_err(|e| engine(id, format!("opening {}: {e}", p.display())))
    };
    // Mount last: after it, /proc is the container's.
    let mut namespaces = Vec::new();
    for ns in ["ipc", "uts", "net", "pid", "cgroup"] {
        let p = proc_dir.join("ns").join(ns);
        if p.exists() {
            namespaces.push(open(p, OFlag::O_RDONLY)?);
        }
    }
    let mount_ns = open(proc_dir.join("ns/mnt"), OFlag::O_RDONLY)?;
    let root = open(proc_dir.join("root"), OFlag::O_RDONLY | OFlag::O_DIRECTORY)?;

    let container_root = proc_dir.join("root");
    let (uid, gid, groups, home) = match &request.user {
        Some(u) if !u.is_empty() => {
            let passwd = user::read_file_at(root.as_fd(), &container_root, "etc/passwd")?;
            let group = user::read_file_at(root.as_fd(), &container_root, "etc/group")?;
            let eu = user::resolve(Some(u), &[], passwd.as_deref(), group.as_deref())?;
            (eu.uid, eu.gid, eu.additional_gids, Some(eu.home))
        }
        _ => {
            let u = process.user();
            (u.uid(), u.gid(), u.additional_gids().clone().unwrap_or_default(), None)
        }
    };

    let mut env: Vec<String> = process.env().clone().unwrap_or_default();
    let key = |e: &str| {
        e.split_once('=')
            .map(|(k, _)| k.to_string())
            .unwrap_or_else(|| e.to_string())
    };
    if let Some(home) = home {
        env.retain(|e| key(e) != "HOME");
        env.push(format!("HOME={home}"));
    }
    for e in &request.env {
        let k = key(e);
        env.retain(|x| key(x) != k);
        env.push(e.clone());
    }

    let mut capabilities = process.capabilities().clone();
    if uid != 0 {
        // As for a container's init: a non-root user keeps only the bounding set.
        if let Some(c) = capabilities.as_mut() {
            let none = OciCaps::default();
            c.set_effective(Some(none.clone()))
                .set_permitted(Some(none.clone()))
                .set_inheritable(Some(none.clone()))
                .set_ambient(Some(none));
        }
    }
    let cwd = match &request.workdir {
        Some(w) if !w.is_empty() => {
            if !w.starts_with('/') {
                return Err(engine(id, format!("working directory {w:?} must be an absolute path")));
            }
            w.clone()
        }
        _ => process.cwd().to_string_lossy().into_owned(),
    };
    Ok(Prepared {
        namespaces,
        mount_ns,
        root,
        cgroup_procs: cgroups::cgroup_dirs(id)
            .into_iter()
            .map(|dir| dir.join("cgroup.procs"))
            .filter(|f| f.exists())
            .collect(),
        args: request.args.clone(),
        env,
        cwd,
        uid,
        gid,
        groups,
        rlimits: process.rlimits().clone().unwrap_or_default(),
        capabilities,
        no_new_privileges: process.no_new_privileges().unwrap_or(false),
        seccomp: launch::filter_of(&roots.seccomp_cache(), &spec).map_err(|e| engine(id, e))?,
    })
}

/// Writes the failure (exit code byte + message) and ends this child.
fn fail(err: &mut File, code: i32, message: String) -> ! {
    let mut bytes = vec![code as u8];
    bytes.extend_from_slice(message.as_bytes());
    let _ = err.write_all(&bytes);
    // SAFETY: ends this forked child without running the parent's atexit
    // handlers or destructors.
    unsafe { libc::_exit(code) }
}

/// The forked intermediate: join, clone the real process, report its PID.
fn intermediate(p: &Prepared, stdio: &ExecStdio, err_w: OwnedFd, pid_w: OwnedFd) -> ! {
    let mut err = File::from(err_w);
    // Before joining anything: a process of the container must not open
    // this one's (or its clone's) memory, descriptors or `exe`
    // (`sealed`); `execve` makes the container's program dumpable again.
    // SAFETY: prctl with constant arguments.
    if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } < 0 {
        fail(
            &mut err,
            CANNOT_RUN,
            format!("making the process non-dumpable: {}", std::io::Error::last_os_error()),
        );
    }
    let me = std::process::id().to_string();
    for file in &p.cgroup_procs {
        if let Err(e) = fs::write(file, &me) {
            fail(&mut err, CANNOT_RUN, format!("joining cgroup {}: {e}", file.display()));
        }
    }
    for ns in p.namespaces.iter().chain(std::iter::once(&p.mount_ns)) {
        if let Err(e) = nix::sched::setns(ns, nix::sched::CloneFlags::empty()) {
            fail(
                &mut err,
                CANNOT_RUN,
                format!("joining a namespace of the container: {e}"),
            );
        }
    }
    // SAFETY: a fork-like clone (no new stack: the child continues on a copy
    // of this one); CLONE_PARENT makes the caller its parent.
    let child = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (libc::CLONE_PARENT | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    if child < 0 {
        fail(
            &mut err,
            CANNOT_RUN,
            format!("clone: {}", std::io::Error::last_os_error()),
        );
    }
    if child == 0 {
        drop(pid_w);
        run_process(p, stdio, err);
    }
    let mut pid_file = File::from(pid_w);
    let _ = pid_file.write_all(&(child as i32).to_ne_bytes());
    // SAFETY: see `fail`.
    unsafe { libc::_exit(0) }
}

/// Inside the container's namespaces: set the process up and `execve`.
fn run_process(p: &Prepared, stdio: &ExecStdio, mut err: File) -> ! {
    // SAFETY: plain descriptor and session syscalls on descriptors the
    // caller keeps open until spawn returns.
    unsafe {
        for (from, to) in [(stdio.stdin, 0), (stdio.stdout, 1), (stdio.stderr, 2)] {
            if from != to && libc::dup2(from, to) < 0 {
                fail(
                    &mut err,
                    CANNOT_RUN,
                    format!("dup2: {}", std::io::Error::last_os_error()),
                );
            }
        }
        libc::setsid();
        if stdio.controlling_tty && libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
            fail(
                &mut err,
                CANNOT_RUN,
                format!("setting the controlling terminal: {}", std::io::Error::last_os_error()),
            );
        }
        if libc::fchdir(p.root.as_raw_fd()) < 0 || libc::chroot(c".".as_ptr()) < 0 {
            fail(
                &mut err,
                CANNOT_RUN,
                format!("entering the container's root: {}", std::io::Error::last_os_error()),
            );
        }
    }
    if let Err(e) = std::env::set_current_dir(&p.cwd) {
        fail(&mut err, CANNOT_RUN, format!("chdir to {:?}: {e}", p.cwd));
    }
    for r in &p.rlimits {
        let lim = libc::rlimit {
            rlim_cur: r.soft(),
            rlim_max: r.hard(),
        };
        // SAFETY: setrlimit with a valid struct.
        if unsafe { libc::setrlimit(r.typ() as u32 as _, &lim) } < 0 {
            fail(
                &mut err,
                CANNOT_RUN,
                format!("setrlimit {:?}: {}", r.typ(), std::io::Error::last_os_error()),
            );
        }
    }
    // Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: do it while
    // the process still has it; otherwise as late as possible.
    if !p.no_new_privileges {
        load_seccomp(p, &mut err);
    }
    if let Err(e) = set_user(p) {
        fail(&mut err, CANNOT_RUN, e);
    }
    if p.no_new_privileges {
        // SAFETY: prctl with constant arguments.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } < 0 {
            fail(
                &mut err,
                CANNOT_RUN,
                format!("no_new_privs: {}", std::io::Error::last_os_error()),
            );
        }
        load_seccomp(p, &mut err);
    }
    let program = match find_program(&p.args[0], &p.env) {
        Ok(path) => path,
        Err((code, msg)) => fail(&mut err, code, msg),
    };
    let cstrings = |v: &[String]| -> Vec<CString> {
        v.iter()
            .map(|s| CString::new(s.as_bytes()).unwrap_or_default())
            .collect()
    };
    let argv = cstrings(&p.args);
    let envp = cstrings(&p.env);
    let prog = CString::new(program.as_os_str().as_encoded_bytes()).unwrap_or_default();
    thp::restore_before_exec();
    if let Err(e) = pre_exec::close_other_fds() {
        fail(&mut err, CANNOT_RUN, format!("closing inherited descriptors: {e}"));
    }
    if let Err(e) = pre_exec::reset_signals() {
        fail(&mut err, CANNOT_RUN, format!("resetting signal dispositions: {e}"));
    }
    let e = nix::unistd::execve(&prog, &argv, &envp).unwrap_err();
    let code = if e == nix::errno::Errno::ENOENT {
        NOT_FOUND
    } else {
        CANNOT_RUN
    };
    fail(&mut err, code, format!("exec {:?}: {e}", p.args[0]))
}

fn load_seccomp(p: &Prepared, err: &mut File) {
    if let Some(filter) = &p.seccomp {
        if let Err(e) = filter.load() {
            fail(err, CANNOT_RUN, format!("loading the seccomp filter: {e}"));
        }
    }
}

/// Groups, gid, uid, then capabilities: the bounding set is cut first
/// (that needs CAP_SETPCAP), the other sets after the uid change.
fn set_user(p: &Prepared) -> std::result::Result<(), String> {
    if let Some(c) = &p.capabilities {
        capabilities::cut_bounding(c)?;
    }
    // SAFETY: prctl with constant arguments.
    unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) };
    let groups: Vec<nix::unistd::Gid> = p.groups.iter().map(|g| nix::unistd::Gid::from_raw(*g)).collect();
    nix::unistd::setgroups(&groups).map_err(|e| format!("setgroups: {e}"))?;
    nix::unistd::setgid(nix::unistd::Gid::from_raw(p.gid)).map_err(|e| format!("setgid {}: {e}", p.gid))?;
    nix::unistd::setuid(nix::unistd::Uid::from_raw(p.uid)).map_err(|e| format!("setuid {}: {e}", p.uid))?;
    if let Some(c) = &p.capabilities {
        capabilities::set_sets(c)?;
    }
    Ok(())
}

/// `args[0]` as Docker finds it: a path when it has a `/`, else the first
/// executable in the environment's `PATH`; errors in Docker's words
/// (`exec: "x": …`, with the `PATH` searched) and with its exit codes.
/// Looks at the calling process's root: call it inside the container.
pub(crate) fn find_program(name: &str, env: &[String]) -> std::result::Result<PathBuf, (i32, String)> {
    if name.contains('/') {
        return match fs::metadata(name) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err((
                NOT_FOUND,
                format!("exec: {name:?}: stat {name}: no such file or directory"),
            )),
            Ok(meta) if meta.is_dir() => Err((CANNOT_RUN, format!("exec: {name:?}: is a directory"))),
            Ok(meta) if meta.permissions().mode() & 0o111 == 0 => {
                Err((CANNOT_RUN, format!("exec: {name:?}: permission denied")))
            }
            // Anything else execve itself reports.
            _ => Ok(PathBuf::from(name)),
        };
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        let candidate = Path::new(dir).join(name);
        if let Ok(meta) = fs::metadata(&candidate) {
            if meta.is_file() && meta.permissions().mode() & 0o111 != 0 {
                return Ok(candidate);
            }
        }
    }
    Err((
        NOT_FOUND,
        format!("exec: {name:?}: executable file not found in $PATH ({path})"),
    ))
}

/// A pseudo-terminal from the container's own `devpts` (master, slave), so
/// the process sees its terminal as `/dev/pts/N` inside the container.
pub fn open_pty(roots: &Roots, id: &str) -> Result<(OwnedFd, OwnedFd)> {
    let state = roots.container(id).read_state()?;
    let pid = state.pid.ok_or_else(|| RuntimeError::WrongState {
        id: id.to_string(),
        status: state.status.to_string(),
        action: "open a terminal in it",
    })?;
    let ptmx = PathBuf::from(format!("/proc/{pid}/root/dev/pts/ptmx"));
    let fail = |what: &str, e: std::io::Error| engine(id, format!("{what} {}: {e}", ptmx.display()));
    // The container's root owns these paths: refuse anything but the
    // devpts multiplexer (character device 5:2).
    let master = File::options()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&ptmx)
        .map_err(|e| fail("opening", e))?;
    let meta = master.metadata().map_err(|e| fail("stat", e))?;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    if !meta.file_type().is_char_device() || libc::major(meta.rdev()) != 5 || libc::minor(meta.rdev()) != 2 {
        return Err(engine(id, format!("{} is not the pty multiplexer", ptmx.display())));
    }
    let unlock: libc::c_int = 0;
    // SAFETY: ioctls on the master with the argument types they expect.
    let slave = unsafe {
        if libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) < 0 {
            return Err(fail("unlocking a pty from", std::io::Error::last_os_error()));
        }
        libc::ioctl(
            master.as_raw_fd(),
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    if slave < 0 {
        return Err(fail("opening the pty peer from", std::io::Error::last_os_error()));
    }
    // SAFETY: a fresh descriptor returned by the kernel, owned from here on.
    let slave = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(slave) };
    Ok((OwnedFd::from(master), slave))
}

/// Opens `/dev/null` for a stream the caller does not provide.
pub fn dev_null() -> std::io::Result<OwnedFd> {
    let f = File::options().read(true).write(true).open("/dev/null")?;
    Ok(OwnedFd::from(f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_are_found_on_the_environment_path() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("tool");
        fs::write(&bin, "#!/bin/sh\n").unwrap();
        fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();
        let plain = dir.path().join("plain");
        fs::write(&plain, "").unwrap();
        let env = vec![format!("PATH=/nonexistent:{}", dir.path().display())];
        assert_eq!(find_program("tool", &env).unwrap(), bin);
        assert_eq!(find_program("plain", &env).unwrap_err().0, NOT_FOUND);
        let (code, message) = find_program("flask", &env).unwrap_err();
        assert_eq!(code, NOT_FOUND);
        assert_eq!(
            message,
            format!(
                "exec: \"flask\": executable file not found in $PATH (/nonexistent:{})",
                dir.path().display()
            )
        );
        assert_eq!(find_program("/x/y", &env).unwrap_err().0, NOT_FOUND);
        assert_eq!(find_program(plain.to_str().unwrap(), &env).unwrap_err().0, CANNOT_RUN);
        assert_eq!(
            find_program(dir.path().to_str().unwrap(), &env).unwrap_err().0,
            CANNOT_RUN
        );
        assert_eq!(find_program(bin.to_str().unwrap(), &env).unwrap(), bin);
    }
}
