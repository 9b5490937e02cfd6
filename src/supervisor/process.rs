//! The supervisor process of one container (the `rcompose` binary run as
//! `rcompose __supervise <id>`). Single-threaded on purpose: libcontainer
//! forks, and a fork in a threaded process is only safe in narrow ways.
//!
//! 1. daemonize: fork; the parent waits for "started" (or the error) on a
//!    pipe and exits with it, so the CLI gets a synchronous answer; the child
//!    starts a new session;
//! 2. runs: create + start the container with its stdout/stderr on pipes;
//!    poll the pipes (→ json-file log), the control socket, the signal pipe
//!    (SIGCHLD, SIGTERM) and the stop deadline until the init exits;
//! 3. records the exit (code, OOM, time), removes the process' engine state
//!    and applies the restart policy with backoff, serving the control
//!    socket while it waits;
//! 4. when no restart follows: final state, socket removed, exit.

use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use nix::fcntl::OFlag;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, pipe2, setsid, ForkResult, Pid};

use super::health::{self, Monitor};
use super::liveness;
use super::logs::{LogWriter, Stream};
use super::protocol::{Request, Response};
use super::restart;
use super::services::{self, NetworkServices, ServicesProcess};
use crate::runtime::state::ContainerPaths;
use crate::runtime::{self, cgroups, defaults, parse_signal, ContainerSpec, ContainerState, Roots, Status, Stdio};

static SIGNAL_PIPE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(sig: libc::c_int) {
    let fd = SIGNAL_PIPE.load(Ordering::Relaxed);
    if fd >= 0 {
        let byte = sig as u8;
        // SAFETY: write(2) is async-signal-safe; the buffer is a local byte.
        unsafe {
            libc::write(fd, &byte as *const u8 as *const libc::c_void, 1);
        }
    }
}

/// Entry point of `rcompose __supervise <id>`; returns the exit code.
pub fn main(roots: Roots, id: &str, hold: bool) -> i32 {
    let (ready_r, ready_w) = match pipe2(OFlag::O_CLOEXEC) {
        Ok(p) => p,
        Err(e) => {
            note!("supervisor for {id}: cannot create a pipe: {e}");
            return 1;
        }
    };
    // SAFETY: called first thing in a freshly exec'd, single-threaded process.
    match unsafe { fork() } {
        Err(e) => {
            note!("supervisor for {id}: cannot fork: {e}");
            1
        }
        Ok(ForkResult::Parent { .. }) => {
            drop(ready_w);
            // "ok" ends the wait at once: a held container's process (not
            // yet exec'd) still has the pipe open, so EOF may be far off.
            let mut pipe = File::from(ready_r);
            let mut bytes = Vec::new();
            let mut buf = [0u8; 4096];
            while !bytes.starts_with(b"ok") {
                match pipe.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => bytes.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            let answer = String::from_utf8_lossy(&bytes);
            match answer.strip_prefix("ok") {
                Some(_) => 0,
                None => {
                    let msg = answer.trim();
                    if msg.is_empty() {
                        note!("supervisor for {id} exited before starting the container");
                    } else {
                        note!("{msg}");
                    }
                    1
                }
            }
        }
        Ok(ForkResult::Child) => {
            drop(ready_r);
            let _ = setsid();
            let mut ready = Some(File::from(ready_w));
            let code = match Supervisor::new(roots, id) {
                Ok(mut sup) => {
                    sup.hold = hold;
                    sup.run(&mut ready)
                }
                Err(msg) => {
                    report(&mut ready, &msg);
                    1
                }
            };
            code
        }
    }
}

fn report(ready: &mut Option<File>, msg: &str) {
    if let Some(mut f) = ready.take() {
        let _ = f.write_all(msg.as_bytes());
    }
}

/// Why a container process did not start, and the exit code it gets
/// (Docker's: 127 when its command is not found, 126 when it cannot run).
struct NotStarted {
    code: i32,
    message: String,
}

impl From<String> for NotStarted {
    fn from(message: String) -> NotStarted {
        NotStarted { code: 127, message }
    }
}

struct StopRequest {
    deadline: Instant,
    killed: bool,
}

struct Supervisor {
    roots: Roots,
    paths: ContainerPaths,
    spec: ContainerSpec,
    state: ContainerState,
    log: LogWriter,
    listener: UnixListener,
    signals: OwnedFd,
    stop: Option<StopRequest>,
    /// DNS record, responder and published ports (`services.json`).
    network: Option<NetworkServices>,
    /// First run only: after creating the process, report ready and wait
    /// for a `Start` request before running it. Lets the orchestrator do
    /// the slow part (namespaces, mounts, cgroups) while dependencies start.
    hold: bool,
    /// A writer on the stdin FIFO that keeps a `stdin_open` container's
    /// input open (not for `stdin_once`).
    stdin_keeper: Option<File>,
    /// The state could not be written (a full disk): when to try again.
    unsaved: Option<Retry>,
}

/// A state write to try again: the backoff doubles from 100 ms to 5 s.
struct Retry {
    at: Instant,
    delay: Duration,
}

const SAVE_RETRY_FIRST: Duration = Duration::from_millis(100);
const SAVE_RETRY_MAX: Duration = Duration::from_secs(5);
/// How long the last state write (the container's end) is tried before
/// the supervisor exits without it.
const FINAL_SAVE_PATIENCE: Duration = Duration::from_secs(10);

/// How a held container's wait ended.
enum Release {
    /// `Start` arrived on this connection; answer it once running.
    Start(UnixStream),
    /// Stopped (or its process died) before it ever ran.
    Cancelled,
}

impl Supervisor {
    fn new(roots: Roots, id: &str) -> Result<Supervisor, String> {
        let paths = roots.container(id);
        let spec = paths.read_spec().map_err(|e| e.to_string())?;
        let mut state = paths.read_state().map_err(|e| e.to_string())?;
        state.supervisor_pid = Some(std::process::id() as i32);
        state.supervisor_start = liveness::start_time(std::process::id() as i32);
        state.unsupervised = false;
        state.stopped_by_user = false;
        state.error = None;

        let (sig_r, sig_w) = pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK).map_err(|e| format!("signal pipe: {e}"))?;
        SIGNAL_PIPE.store(sig_w.as_raw_fd(), Ordering::Relaxed);
        std::mem::forget(sig_w);
        let action = SigAction::new(SigHandler::Handler(on_signal), SaFlags::SA_RESTART, SigSet::empty());
        for sig in [Signal::SIGCHLD, Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
            // SAFETY: the handler only calls write(2) on a pipe.
            unsafe { sigaction(sig, &action) }.map_err(|e| format!("installing a {sig} handler: {e}"))?;
        }

        let sock = paths.control_socket();
        let listener = super::control_socket::bind(&sock)
            .map_err(|e| format!("cannot listen on control socket {}: {e}", sock.display()))?;
        // Only root may stop, kill or query the container (its directory is
        // private too; this holds even if a caller's umask was 0).
        crate::store::make_private(&sock).map_err(|e| format!("control socket {}: {e}", sock.display()))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("control socket {}: {e}", sock.display()))?;
        let log = LogWriter::open(&paths.log(), spec.log.clone())
            .map_err(|e| format!("cannot open log {}: {e}", paths.log().display()))?;
        let network = services::read(&paths).map_err(|e| e.to_string())?;
        Ok(Supervisor {
            roots,
            paths,
            spec,
            state,
            log,
            listener,
            signals: sig_r,
            stop: None,
            network,
            hold: false,
            stdin_keeper: None,
            unsaved: None,
        })
    }

    /// `health_status: …` when a probe changed the health (as Docker, only
    /// on a change).
    fn health_event(&self, before: Option<runtime::state::Health>) {
        use runtime::state::Health;
        if self.state.health == before {
            return;
        }
        match self.state.health {
            Some(Health::Healthy) => self.event("health_status: healthy", &[]),
            Some(Health::Unhealthy) => self.event("health_status: unhealthy", &[]),
            _ => {}
        }
    }

    /// Appends to the engine's event log (`rcompose events`).
    fn event(&self, action: &str, extra: &[(&str, String)]) {
        if let Err(e) = runtime::events::record(&self.roots, &self.spec.id, action, &self.spec.labels, extra) {
            note!("supervisor for {}: recording event {action}: {e}", self.spec.id);
        }
    }

    /// Writes the state file. A failure is never fatal: the write is tried
    /// again with backoff (see [`Self::retry_save`]) while the container
    /// stays supervised.
    fn save(&mut self) {
        match self.paths.write_state(&self.state) {
            Ok(()) => {
                if self.unsaved.take().is_some() {
                    note!("supervisor for {}: the state file is written again", self.spec.id);
                }
            }
            Err(e) => {
                let delay = match &self.unsaved {
                    None => {
                        note!("supervisor for {}: {e}; trying again", self.spec.id);
                        SAVE_RETRY_FIRST
                    }
                    Some(r) => (r.delay * 2).min(SAVE_RETRY_MAX),
                };
                self.unsaved = Some(Retry {
                    at: Instant::now() + delay,
                    delay,
                });
            }
        }
    }

    /// Tries a failed state write again when its time has come.
    fn retry_save(&mut self) {
        if self.unsaved.as_ref().is_some_and(|r| Instant::now() >= r.at) {
            self.save();
        }
    }

    /// `timeout`, shortened to the next state write retry.
    fn with_retry(&self, timeout: PollTimeout) -> PollTimeout {
        let Some(r) = &self.unsaved else { return timeout };
        let ms = r.at.saturating_duration_since(Instant::now()).as_millis().min(60_000) as i32;
        let ms = PollTimeout::try_from(ms.max(1)).unwrap_or(PollTimeout::MAX);
        if timeout == PollTimeout::NONE || ms < timeout {
            ms
        } else {
            timeout
        }
    }

    /// The last write of the state (the container is down): tried for a
    /// while, since no supervisor will be left to write it.
    fn save_final(&mut self) {
        let deadline = Instant::now() + FINAL_SAVE_PATIENCE;
        self.save();
        while let Some(r) = &self.unsaved {
            if Instant::now() >= deadline {
                note!(
                    "supervisor for {}: giving up writing the state file; `rcompose ps` will show exit code 255",
                    self.spec.id
                );
                return;
            }
            std::thread::sleep(r.delay);
            self.save();
        }
    }

    /// Reports in the supervisor's own log when the container's log starts
    /// or stops dropping lines.
    fn log_news(&mut self) {
        if let Some(news) = self.log.take_news() {
            note!("supervisor for {}: {news}", self.spec.id);
        }
    }

    fn run(&mut self, ready: &mut Option<File>) -> i32 {
        // Before the first container process: the responder must answer its
        // first lookup, and a taken port must fail `start`, not a later one.
        let services_process = match &self.network {
            None => None,
            Some(net) => match ServicesProcess::start(&self.paths, net) {
                Ok(p) => p,
                Err(msg) => {
                    self.state.error = Some(msg.clone());
                    self.state.supervisor_pid = None;
                    self.state.supervisor_start = None;
                    self.save();
                    let _ = fs::remove_file(self.paths.control_socket());
                    report(ready, &msg);
                    return 1;
                }
            },
        };
        let mut delay: Option<Duration> = None;
        loop {
            let started = Instant::now();
            let code = self.run_once(ready);
            if let Some(net) = &self.network {
                services::withdraw_record(net);
            }
            let code = match code {
                Ok(None) => {
                    // Never ran: back to `created`, as before the hold.
                    self.state.status = Status::Created;
                    self.state.pid = None;
                    self.state.pid_start = None;
                    break;
                }
                Ok(Some(code)) => {
                    self.event("die", &[("exitCode", code.to_string())]);
                    code
                }
                // Never started: no `die`, as no `start` came before, and no
                // restart either: the same command would fail the same way
                // (Docker's restart policy applies to processes that ran).
                // A container that never ran stays `created`, as Docker's.
                Err(NotStarted { code, message }) => {
                    self.state.error = Some(message.clone());
                    report(ready, &message);
                    self.state.status = if self.state.started_at.is_some() {
                        self.state.finished_at = Some(Utc::now());
                        Status::Exited
                    } else {
                        Status::Created
                    };
                    self.state.pid = None;
                    self.state.pid_start = None;
                    self.state.exit_code = Some(code);
                    break;
                }
            };
            self.state.status = Status::Exited;
            self.state.pid = None;
            self.state.pid_start = None;
            self.state.paused = false;
            self.state.exit_code = Some(code);
            self.state.finished_at = Some(Utc::now());
            let restart = ready.is_none()
                && restart::should_restart(
                    self.spec.restart,
                    code,
                    self.state.restart_count,
                    self.state.stopped_by_user || self.stop.is_some(),
                );
            if !restart {
                break;
            }
            let wait = restart::next_delay(delay, started.elapsed());
            delay = Some(wait);
            self.state.status = Status::Restarting;
            self.state.restart_count += 1;
            self.save();
            if !self.serve_until(Instant::now() + wait) {
                self.state.status = Status::Exited;
                break;
            }
        }
        if let Some(p) = services_process {
            p.stop();
        }
        services::teardown(&self.paths);
        self.state.supervisor_pid = None;
        self.state.supervisor_start = None;
        self.save_final();
        let _ = fs::remove_file(self.paths.control_socket());
        0
    }

    /// Serves the control socket until `until`; false if asked to stop.
    fn serve_until(&mut self, until: Instant) -> bool {
        loop {
            let now = Instant::now();
            if now >= until {
                return true;
            }
            self.retry_save();
            let timeout = self.with_retry(
                PollTimeout::try_from((until - now).as_millis().min(60_000) as i32).unwrap_or(PollTimeout::MAX),
            );
            let mut fds = [
                PollFd::new(self.signals.as_fd(), PollFlags::POLLIN),
                PollFd::new(self.listener.as_fd(), PollFlags::POLLIN),
            ];
            let _ = poll(&mut fds, timeout);
            let readable = |f: &PollFd| f.revents().is_some_and(|r| r.intersects(PollFlags::POLLIN));
            let (sig, conn) = (readable(&fds[0]), readable(&fds[1]));
            if sig && self.drain_signals().1 {
                self.state.stopped_by_user = true;
                return false;
            }
            if conn {
                self.accept();
                if self.stop.is_some() {
                    self.state.stopped_by_user = true;
                    return false;
                }
            }
            crate::runtime::create::reap_zombies();
        }
    }

    /// The container's end of its stdin FIFO, made once in its directory.
    /// Opened without waiting for a writer: a `run -i` client opens the
    /// other end while the container is held.
    fn stdin_reader(&mut self) -> Result<OwnedFd, String> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = self.paths.stdin_fifo();
        match nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o600)) {
            Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
            Err(e) => return Err(format!("stdin FIFO {}: {e}", path.display())),
        }
        let reader = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(&path)
            .map_err(|e| format!("stdin FIFO {}: {e}", path.display()))?;
        // The container's reads wait for input, as on any pipe.
        nix::fcntl::fcntl(&reader, nix::fcntl::FcntlArg::F_SETFL(OFlag::empty()))
            .map_err(|e| format!("stdin FIFO {}: {e}", path.display()))?;
        if !self.spec.stdin_once && self.stdin_keeper.is_none() {
            let keeper = fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
                .open(&path)
                .map_err(|e| format!("stdin FIFO {}: {e}", path.display()))?;
            self.stdin_keeper = Some(keeper);
        }
        Ok(OwnedFd::from(reader))
    }

    /// One run of the container; returns its exit code (`None`: held and
    /// cancelled before it ran).
    fn run_once(&mut self, ready: &mut Option<File>) -> Result<Option<i32>, NotStarted> {
        let id = self.spec.id.clone();
        let (out_r, out_w) = pipe2(OFlag::O_CLOEXEC).map_err(|e| format!("stdout pipe: {e}"))?;
        let (err_r, err_w) = pipe2(OFlag::O_CLOEXEC).map_err(|e| format!("stderr pipe: {e}"))?;
        let stdin = if self.spec.stdin_open {
            self.stdin_reader()?
        } else {
            OwnedFd::from(File::open("/dev/null").map_err(|e| format!("/dev/null: {e}"))?)
        };
        let stdio = Stdio {
            stdin: Some(stdin),
            stdout: Some(out_w),
            stderr: Some(err_w),
        };
        let pid = match runtime::create(&self.roots, &id, stdio) {
            Ok(pid) => pid,
            Err(e) => {
                runtime::create::reap_zombies();
                let _ = runtime::delete::delete_engine_state(&self.roots, &id);
                let code = match &e {
                    runtime::RuntimeError::CannotRun { code, .. } => *code,
                    _ => 127,
                };
                return Err(NotStarted {
                    code,
                    message: e.to_string(),
                });
            }
        };
        let mut release_conn = None;
        if std::mem::take(&mut self.hold) {
            self.state.pid = Some(pid);
            self.state.pid_start = liveness::start_time(pid);
            self.save();
            report(ready, "ok");
            match self.hold_until_released(pid) {
                Release::Start(conn) => release_conn = Some(conn),
                Release::Cancelled => {
                    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                    let _ = waitpid(Pid::from_raw(pid), None);
                    let _ = runtime::delete::delete_engine_state(&self.roots, &id);
                    runtime::create::reap_zombies();
                    return Ok(None);
                }
            }
        }
        if let Err(e) = runtime::start(&self.roots, &id) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            let _ = waitpid(Pid::from_raw(pid), None);
            let _ = runtime::delete::delete_engine_state(&self.roots, &id);
            if let Some(conn) = release_conn {
                respond(conn, &Response::Error(e.to_string()));
            }
            return Err(e.to_string().into());
        }
        self.state.status = Status::Running;
        self.state.pid = Some(pid);
        self.state.pid_start = liveness::start_time(pid);
        self.state.started_at = Some(Utc::now());
        self.state.exit_code = None;
        self.state.oom_killed = false;
        self.state.health = None;
        let mut health = health::effective(&self.spec).map(|check| Monitor::new(check, &mut self.state));
        self.save();
        if let Some(net) = &self.network {
            services::publish_record(net);
        }
        self.event("start", &[]);
        report(ready, "ok");
        if let Some(conn) = release_conn {
            respond(conn, &Response::State(Box::new(self.state.clone())));
        }

        let mut outs: [Option<OwnedFd>; 2] = [Some(out_r), Some(err_r)];
        let mut exit: Option<i32> = None;
        let mut exited_at: Option<Instant> = None;
        loop {
            if exit.is_some()
                && (outs.iter().all(Option::is_none) || exited_at.is_some_and(|t| t.elapsed() > Duration::from_secs(2)))
            {
                break;
            }
            self.retry_save();
            let mut timeout = self.with_retry(self.poll_timeout(exit.is_some()));
            if let Some(h) = health.as_ref().filter(|_| exit.is_none()) {
                let ms = h
                    .deadline()
                    .saturating_duration_since(Instant::now())
                    .as_millis()
                    .min(60_000) as i32;
                let ms = PollTimeout::try_from(ms.max(1)).unwrap_or(PollTimeout::MAX);
                if ms < timeout {
                    timeout = ms;
                }
            }
            let mut fds: Vec<PollFd> = vec![
                PollFd::new(self.signals.as_fd(), PollFlags::POLLIN),
                PollFd::new(self.listener.as_fd(), PollFlags::POLLIN),
            ];
            let probe_idx = match health.as_ref().and_then(|h| h.output_fd()) {
                Some(fd) => {
                    fds.push(PollFd::new(fd, PollFlags::POLLIN));
                    Some(fds.len() - 1)
                }
                None => None,
            };
            let out_base = fds.len();
            let out_idx: Vec<usize> = (0..2).filter(|i| outs[*i].is_some()).collect();
            for i in &out_idx {
                if let Some(fd) = &outs[*i] {
                    fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
                }
            }
            let _ = poll(&mut fds, timeout);
            let revents: Vec<PollFlags> = fds.iter().map(|f| f.revents().unwrap_or(PollFlags::empty())).collect();
            drop(fds);
            let ready_in = |r: PollFlags| r.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR);

            if ready_in(revents[0]) {
                let (children, stop) = self.drain_signals();
                if stop {
                    self.begin_stop(None, pid);
                }
                if children {
                    if let Some(code) = self.reap(pid, &mut health) {
                        exit = Some(code);
                        exited_at = Some(Instant::now());
                    }
                }
            }
            if ready_in(revents[1]) {
                if let Some(req_stop) = self.accept_with_pid(pid) {
                    self.begin_stop(req_stop, pid);
                }
            }
            if let (Some(i), Some(h)) = (probe_idx, health.as_mut()) {
                if ready_in(revents[i]) {
                    h.read_output();
                }
            }
            for (n, i) in out_idx.iter().enumerate() {
                if ready_in(revents[out_base + n]) {
                    let stream = if *i == 0 { Stream::Stdout } else { Stream::Stderr };
                    if !self.pump(&mut outs[*i], stream) {
                        outs[*i] = None;
                        self.log.flush_partial(stream);
                    }
                }
            }
            if let Some(stop) = &mut self.stop {
                if !stop.killed && Instant::now() >= stop.deadline {
                    stop.killed = true;
                    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                }
            }
            if exit.is_none() {
                if let Some(code) = self.reap(pid, &mut health) {
                    exit = Some(code);
                    exited_at = Some(Instant::now());
                }
            }
            match (&mut health, exit) {
                (Some(_), None) if self.state.paused => {}
                (Some(h), None) => {
                    let before = self.state.health;
                    if h.tick(&self.roots, &id, &mut self.state) {
                        self.save();
                        self.health_event(before);
                    }
                }
                (Some(h), Some(_)) => h.abort(),
                _ => {}
            }
        }
        self.log.flush_partial(Stream::Stdout);
        self.log.flush_partial(Stream::Stderr);
        self.log_news();
        self.state.oom_killed = cgroups::oom_killed(&id);
        if let Err(e) = runtime::delete::delete_engine_state(&self.roots, &id) {
            note!("supervisor for {id}: {e}");
        }
        runtime::create::reap_zombies();
        Ok(Some(exit.unwrap_or(137)))
    }

    /// Serves the control socket while the created process waits to run.
    fn hold_until_released(&mut self, pid: i32) -> Release {
        loop {
            self.retry_save();
            let timeout = self.with_retry(PollTimeout::from(1000u16));
            let mut fds = [
                PollFd::new(self.signals.as_fd(), PollFlags::POLLIN),
                PollFd::new(self.listener.as_fd(), PollFlags::POLLIN),
            ];
            let _ = poll(&mut fds, timeout);
            let readable = |f: &PollFd| f.revents().is_some_and(|r| r.intersects(PollFlags::POLLIN));
            let (sig, conn) = (readable(&fds[0]), readable(&fds[1]));
            if sig {
                let (children, stop) = self.drain_signals();
                if stop || (children && reap_all(pid, |_, _| {}).is_some()) {
                    return Release::Cancelled;
                }
            }
            if !conn {
                continue;
            }
            while let Ok((conn, _)) = self.listener.accept() {
                let response = match read_request(&conn) {
                    Err(msg) => Response::Error(msg),
                    Ok(Request::Start) => return Release::Start(conn),
                    Ok(Request::Status) => Response::State(Box::new(self.state.clone())),
                    Ok(Request::Stop { .. }) => {
                        respond(conn, &Response::Stopping);
                        return Release::Cancelled;
                    }
                    Ok(Request::Kill { .. }) | Ok(Request::Pause(_)) => {
                        Response::Error(format!("container {} is not running", self.spec.id))
                    }
                };
                respond(conn, &response);
            }
        }
    }

    /// Reaps children: the container's init (its exit code) and health
    /// probes (their results are recorded).
    fn reap(&mut self, pid: i32, health: &mut Option<Monitor>) -> Option<i32> {
        let mut changed = false;
        let before = self.state.health;
        let state = &mut self.state;
        let code = reap_all(pid, |child, code| {
            if let Some(h) = health.as_mut() {
                changed |= h.finished(child, code, state);
            }
        });
        if changed {
            self.save();
            self.health_event(before);
        }
        code
    }

    fn poll_timeout(&self, exited: bool) -> PollTimeout {
        if exited {
            return PollTimeout::from(100u16);
        }
        match &self.stop {
            Some(s) if !s.killed => {
                let ms = s
                    .deadline
                    .saturating_duration_since(Instant::now())
                    .as_millis()
                    .min(60_000) as i32;
                PollTimeout::try_from(ms.max(1)).unwrap_or(PollTimeout::MAX)
            }
            _ => PollTimeout::from(1000u16),
        }
    }

    /// Reads what is available; false at end of stream.
    fn pump(&mut self, fd: &mut Option<OwnedFd>, stream: Stream) -> bool {
        let Some(f) = fd else { return false };
        let mut buf = [0u8; 16384];
        match nix::unistd::read(f.as_fd(), &mut buf) {
            Ok(0) => false,
            Ok(n) => {
                self.log.feed(stream, &buf[..n]);
                self.log_news();
                true
            }
            Err(nix::errno::Errno::EINTR) | Err(nix::errno::Errno::EAGAIN) => true,
            Err(_) => false,
        }
    }

    /// Empties the signal pipe: (a child changed state, a stop was asked).
    fn drain_signals(&mut self) -> (bool, bool) {
        let mut children = false;
        let mut stop = false;
        let mut buf = [0u8; 64];
        while let Ok(n) = nix::unistd::read(self.signals.as_fd(), &mut buf) {
            if n == 0 {
                break;
            }
            for &b in &buf[..n] {
                match b as i32 {
                    libc::SIGCHLD => children = true,
                    _ => stop = true,
                }
            }
        }
        (children, stop)
    }

    fn stop_signal(&self) -> Signal {
        self.spec
            .stop_signal
            .as_deref()
            .or(self.spec.image.stop_signal.as_deref())
            .and_then(parse_signal)
            .unwrap_or(Signal::SIGTERM)
    }

    /// `pause` / `unpause`.
    fn set_paused(&mut self, frozen: bool) -> Response {
        if self.state.paused == frozen {
            let what = if frozen { "already paused" } else { "not paused" };
            return Response::Error(format!("container {} is {what}", self.spec.id));
        }
        match cgroups::set_frozen(&self.spec.id, frozen) {
            Ok(()) => {
                self.state.paused = frozen;
                self.save();
                self.event(if frozen { "pause" } else { "unpause" }, &[]);
                Response::Done
            }
            Err(e) => Response::Error(format!(
                "cannot {} container {}: {e}",
                if frozen { "pause" } else { "unpause" },
                self.spec.id
            )),
        }
    }

    /// A frozen process cannot act on a signal: thaw it first.
    fn thaw(&mut self) {
        if self.state.paused {
            let _ = cgroups::set_frozen(&self.spec.id, false);
            self.state.paused = false;
            self.event("unpause", &[]);
        }
    }

    fn begin_stop(&mut self, grace_ms: Option<u64>, pid: i32) {
        self.state.stopped_by_user = true;
        if self.stop.is_some() {
            return;
        }
        self.thaw();
        let grace = grace_ms
            .or(self.spec.stop_grace_period_ms)
            .unwrap_or(defaults::DEFAULT_STOP_GRACE_MS);
        let sig = self.stop_signal();
        let _ = kill(Pid::from_raw(pid), sig);
        let killed = grace == 0;
        if killed {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        self.stop = Some(StopRequest {
            deadline: Instant::now() + Duration::from_millis(grace),
            killed,
        });
        self.save();
    }

    /// Accepts control connections while no container process runs.
    fn accept(&mut self) {
        if let Some(grace) = self.accept_with_pid(0) {
            self.stop = Some(StopRequest {
                deadline: Instant::now() + Duration::from_millis(grace.unwrap_or(0)),
                killed: true,
            });
        }
    }

    /// Answers pending requests; `Some(grace)` when a stop was asked.
    fn accept_with_pid(&mut self, pid: i32) -> Option<Option<u64>> {
        let mut stop = None;
        while let Ok((conn, _)) = self.listener.accept() {
            let request = read_request(&conn);
            let response = match request {
                Err(msg) => Response::Error(msg),
                Ok(Request::Status) => Response::State(Box::new(self.state.clone())),
                Ok(Request::Stop { grace_ms }) => {
                    stop = Some(grace_ms);
                    Response::Stopping
                }
                Ok(Request::Start) => Response::State(Box::new(self.state.clone())),
                Ok(Request::Pause(_)) if pid == 0 => {
                    Response::Error(format!("container {} is not running", self.spec.id))
                }
                Ok(Request::Pause(frozen)) => self.set_paused(frozen),
                Ok(Request::Kill { signal }) => match parse_signal(&signal) {
                    None => Response::Error(format!("unknown signal {signal:?}")),
                    Some(_) if pid == 0 => Response::Error(format!("container {} is not running", self.spec.id)),
                    Some(sig) => match kill(Pid::from_raw(pid), sig) {
                        Ok(()) => {
                            // Docker delivers a kill to a paused container too.
                            self.thaw();
                            Response::Done
                        }
                        Err(e) => Response::Error(format!("signal {sig} to PID {pid}: {e}")),
                    },
                },
            };
            respond(conn, &response);
        }
        stop
    }
}

fn respond(mut conn: UnixStream, response: &Response) {
    if let Ok(mut bytes) = serde_json::to_vec(response) {
        bytes.push(b'\n');
        let _ = conn.write_all(&bytes);
    }
}

fn read_request(conn: &UnixStream) -> Result<Request, String> {
    conn.set_nonblocking(false).map_err(|e| e.to_string())?;
    conn.set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(|e| e.to_string())?;
    let mut line = String::new();
    BufReader::new(conn)
        .read_line(&mut line)
        .map_err(|e| format!("reading the request: {e}"))?;
    serde_json::from_str(&line).map_err(|e| format!("malformed request {line:?}: {e}"))
}

/// Reaps exited children, handing every other child's exit to `other`.
fn reap_all(pid: i32, mut other: impl FnMut(i32, i32)) -> Option<i32> {
    let mut code = None;
    loop {
        match waitpid(None::<Pid>, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(_) => break,
            Ok(status) => {
                let (Some(p), Some(c)) = (status.pid(), runtime::wait::exit_code(status)) else {
                    continue;
                };
                if p == Pid::from_raw(pid) {
                    code = Some(c);
                } else {
                    other(p.as_raw(), c);
                }
            }
        }
    }
    code
}
