//! What the CLI uses: start a container under a new supervisor, ask it for
//! the state, stop or signal it — and cope when the supervisor is gone (the
//! container is still found, shown and stoppable).
//!
//! A supervisor that died (`kill -9`, the OOM killer) leaves its container
//! as one of two things, told apart by PID *and* start time (see
//! [`liveness`]):
//! - its process still runs: an orphan. [`status`] shows it running with
//!   `unsupervised` set (nothing serves its ports, logs, restarts or
//!   healthchecks any more, so `ps` shows no ports). It is not adopted
//!   again: its output pipes died with the supervisor and a new supervisor
//!   could not be its parent. The next `stop`/`down` stops it by PID with
//!   its stop signal and grace period (tracing it to see its real exit
//!   code) and cleans its engine state; the next `start`/`up` does the same
//!   and starts it again under a new supervisor.
//! - its process is gone too: exited, with exit code 255 (unknown, as
//!   Docker shows a container whose end it did not see).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::liveness::{self, UNKNOWN_EXIT};
use super::protocol::{Request, Response};
use super::{HOLD_ARG, SUPERVISE_ARG};
use crate::runtime::{self, defaults, parse_signal, ContainerState, Roots, Status};

/// Errors of the supervisor client.
#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error(transparent)]
    Runtime(#[from] runtime::RuntimeError),
    #[error("cannot start the supervisor {exe} for container {id:?}: {source}")]
    Spawn {
        exe: String,
        id: String,
        #[source]
        source: std::io::Error,
    },
    #[error("container {id:?} failed to start: {message}")]
    StartFailed { id: String, message: String },
    #[error("supervisor of container {id:?} answered unexpectedly: {detail}")]
    Protocol { id: String, detail: String },
    #[error("container {id:?} did not stop within {waited:?}; its processes may need `kill -9` (PID {pid:?})")]
    StopTimeout {
        id: String,
        waited: Duration,
        pid: Option<i32>,
    },
    #[error("{message}")]
    Refused { id: String, message: String },
    #[error("unknown signal {0:?}: use a name such as SIGTERM or a number")]
    UnknownSignal(String),
}

type Result<T> = std::result::Result<T, SupervisorError>;

/// Starts container `id` (already [`runtime::prepare`]d) under a detached
/// supervisor: `exe __supervise <id>`. Returns once the container runs, or
/// with the reason it could not start.
pub fn start(exe: &Path, roots: &Roots, id: &str) -> Result<ContainerState> {
    spawn_supervisor(exe, roots, id, false)
}

/// Like [`start`], but returns once the container's process is created
/// (namespaces, mounts, cgroups, network services: the slow part) and
/// holds it there; [`release`] runs it. A held container shows as
/// `created`; stopping it (or `down`) cancels the hold.
pub fn create_held(exe: &Path, roots: &Roots, id: &str) -> Result<ContainerState> {
    spawn_supervisor(exe, roots, id, true)
}

/// Runs a container held by [`create_held`]; returns once it runs.
pub fn release(roots: &Roots, id: &str) -> Result<ContainerState> {
    match request(roots, id, &Request::Start)? {
        Some(Response::State(state)) => Ok(*state),
        Some(Response::Error(message)) => Err(SupervisorError::StartFailed {
            id: id.to_string(),
            message,
        }),
        Some(other) => Err(SupervisorError::Protocol {
            id: id.to_string(),
            detail: format!("expected a state, got {other:?}"),
        }),
        None => Err(SupervisorError::StartFailed {
            id: id.to_string(),
            message: "its supervisor is gone".into(),
        }),
    }
}

const SUPERVISOR_ALLOCATOR: [(&str, &str); 2] = [
    ("MIMALLOC_ARENA_EAGER_COMMIT", "0"),
    ("MIMALLOC_ALLOW_LARGE_OS_PAGES", "0"),
];

fn spawn_supervisor(exe: &Path, roots: &Roots, id: &str, hold: bool) -> Result<ContainerState> {
    let paths = roots.container(id);
    // An orphan of a dead supervisor still holds the container: stop it
    // first, so the new supervisor starts from a clean engine state.
    if let Ok(state) = status(roots, id) {
        if state.unsupervised {
            stop(roots, id, None)?;
        }
    }
    let log_path = paths.dir.join("supervisor.log");
    let open_log = || {
        crate::store::open_private_append(&log_path)
            .map_err(|e| runtime::RuntimeError::io("failed to open", &log_path, e))
    };
    let supervisor_log = open_log()?;
    let offset = supervisor_log.metadata().map(|m| m.len()).unwrap_or(0);
    // The supervisor's stderr is its log file, not a pipe: the daemonized
    // half keeps it open for its whole life, and a pipe would make us wait
    // for that.
    // Run from a sealed view of the binary (its containers' inits are
    // clones of it), with no descriptor of ours but the three below: the
    // caller's (a lock, a directory) would live as long as the container.
    let sealed = runtime::sealed::SealedBinary::open(exe).map_err(|source| SupervisorError::Spawn {
        exe: exe.display().to_string(),
        id: id.to_string(),
        source,
    })?;
    let mut command = Command::new(sealed.exec_path());
    command.arg0(exe).arg(SUPERVISE_ARG).arg(id);
    // SAFETY: close_range is a single system call, safe between fork and
    // exec; the sealed descriptor stays open until the exec resolves it.
    unsafe { command.pre_exec(runtime::pre_exec::close_other_fds) };
    // A supervisor lives as long as its container and allocates little:
    // commit allocator memory only when used and give it back at once
    // (mimalloc's defaults favour throughput and keep megabytes resident).
    // Settings already in the environment win.
    for (key, value) in SUPERVISOR_ALLOCATOR {
        if std::env::var_os(key).is_none() {
            command.env(key, value);
        }
    }
    if hold {
        command.arg(HOLD_ARG);
    }
    let exit = command
        .env("RCOMPOSE_ROOT", &roots.root)
        .env("RCOMPOSE_RUN", &roots.run)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(supervisor_log)
        .status()
        .map_err(|source| SupervisorError::Spawn {
            exe: exe.display().to_string(),
            id: id.to_string(),
            source,
        })?;
    if !exit.success() {
        let text = std::fs::read(&log_path).unwrap_or_default();
        let start = (offset as usize).min(text.len());
        return Err(SupervisorError::StartFailed {
            id: id.to_string(),
            message: String::from_utf8_lossy(&text[start..]).trim().to_string(),
        });
    }
    Ok(status(roots, id)?)
}

fn request(roots: &Roots, id: &str, req: &Request) -> Result<Option<Response>> {
    let sock = roots.container(id).control_socket();
    let Ok(mut conn) = super::control_socket::connect(&sock) else {
        return Ok(None);
    };
    let protocol = |detail: String| SupervisorError::Protocol {
        id: id.to_string(),
        detail,
    };
    conn.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| protocol(e.to_string()))?;
    let mut bytes = serde_json::to_vec(req).map_err(|e| protocol(e.to_string()))?;
    bytes.push(b'\n');
    // A supervisor that is exiting closes its socket under us: that is
    // the same as no supervisor, and the state file has the answer.
    let gone = |e: &std::io::Error| {
        matches!(
            e.kind(),
            std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::BrokenPipe
                | std::io::ErrorKind::ConnectionRefused
        )
    };
    match conn.write_all(&bytes) {
        Ok(()) => {}
        Err(e) if gone(&e) => return Ok(None),
        Err(e) => return Err(protocol(e.to_string())),
    }
    let mut line = String::new();
    match BufReader::new(&conn).read_line(&mut line) {
        Ok(_) => {}
        Err(e) if gone(&e) => return Ok(None),
        Err(e) => return Err(protocol(format!("reading the answer: {e}"))),
    }
    if line.is_empty() {
        return Ok(None);
    }
    serde_json::from_str(&line)
        .map(Some)
        .map_err(|e| protocol(format!("{line:?}: {e}")))
}

/// The container's state: from its supervisor when one runs, else from the
/// state file, corrected when the supervisor died without recording it:
/// a process still running is shown `unsupervised`, one gone as exited
/// with an unknown code (255).
pub fn status(roots: &Roots, id: &str) -> Result<ContainerState> {
    if let Some(Response::State(state)) = request(roots, id, &Request::Status)? {
        return Ok(*state);
    }
    let paths = roots.container(id);
    let mut state = paths.read_state()?;
    Ok(correct(&mut state, Utc::now()).clone())
}

/// What [`status`] makes of a state file whose supervisor does not answer.
fn correct(state: &mut ContainerState, now: chrono::DateTime<Utc>) -> &mut ContainerState {
    let supervised = state
        .supervisor_pid
        .is_some_and(|p| liveness::is_alive(p, state.supervisor_start));
    if supervised {
        return state;
    }
    state.supervisor_pid = None;
    state.supervisor_start = None;
    let process = state.pid.filter(|p| liveness::is_alive(*p, state.pid_start));
    match state.status {
        Status::Running | Status::Restarting if process.is_some() => {
            state.status = Status::Running;
            state.unsupervised = true;
        }
        Status::Running | Status::Restarting => {
            state.status = Status::Exited;
            state.pid = None;
            state.pid_start = None;
            state.paused = false;
            state.exit_code = Some(UNKNOWN_EXIT);
            state.finished_at.get_or_insert(now);
            if state.error.is_none() {
                state.error = Some("its supervisor died; the exit code was not recorded".into());
            }
        }
        // A held process (created, waiting for `Start`) whose supervisor
        // died: nothing runs it any more; `start` clears it.
        Status::Created if process.is_some() => state.unsupervised = true,
        Status::Created | Status::Exited => {}
    }
    state
}

/// Stops the container: stop signal, SIGKILL after the grace period; no
/// restart follows. Works without a supervisor too.
pub fn stop(roots: &Roots, id: &str, grace: Option<Duration>) -> Result<ContainerState> {
    let grace_ms = grace.map(|g| g.as_millis() as u64);
    let spec = roots.container(id).read_spec()?;
    let grace_total = Duration::from_millis(
        grace_ms
            .or(spec.stop_grace_period_ms)
            .unwrap_or(defaults::DEFAULT_STOP_GRACE_MS),
    );
    let before = runtime::state::ContainerPaths::read_state(&roots.container(id))?;
    match request(roots, id, &Request::Stop { grace_ms })? {
        Some(Response::Stopping) => {
            let deadline = Instant::now() + grace_total + Duration::from_secs(10);
            let supervisor_alive = || {
                before
                    .supervisor_pid
                    .is_some_and(|p| liveness::is_alive(p, before.supervisor_start))
            };
            while supervisor_alive() || roots.container(id).control_socket().exists() {
                if Instant::now() > deadline {
                    return Err(SupervisorError::StopTimeout {
                        id: id.to_string(),
                        waited: grace_total + Duration::from_secs(10),
                        pid: before.pid,
                    });
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            status(roots, id)
        }
        Some(other) => Err(SupervisorError::Protocol {
            id: id.to_string(),
            detail: format!("expected Stopping, got {other:?}"),
        }),
        None => stop_unsupervised(roots, id, &spec, grace_total),
    }
}

/// Stops a container whose supervisor is gone: signals its init by PID
/// (thawed first if it was paused), waits its grace period, kills, records
/// the exit code it saw (see [`liveness::stop_orphan`]), then removes the
/// process' engine state (cgroups, libcontainer's record) and what the
/// supervisor published.
fn stop_unsupervised(
    roots: &Roots,
    id: &str,
    spec: &runtime::ContainerSpec,
    grace: Duration,
) -> Result<ContainerState> {
    let paths = roots.container(id);
    let mut state = paths.read_state()?;
    correct(&mut state, Utc::now());
    if let Some(pid) = state.pid.filter(|p| liveness::is_alive(*p, state.pid_start)) {
        if state.paused {
            let _ = runtime::cgroups::set_frozen(id, false);
        }
        let sig = spec
            .stop_signal
            .as_deref()
            .or(spec.image.stop_signal.as_deref())
            .and_then(parse_signal)
            .unwrap_or(Signal::SIGTERM);
        let (code, gone) = liveness::stop_orphan(pid, state.pid_start, sig, grace);
        if !gone {
            return Err(SupervisorError::StopTimeout {
                id: id.to_string(),
                waited: grace + Duration::from_secs(10),
                pid: Some(pid),
            });
        }
        let was_running = state.status == Status::Running;
        state.exit_code = if was_running {
            Some(code.unwrap_or(UNKNOWN_EXIT))
        } else {
            state.exit_code
        };
        if was_running {
            state.status = Status::Exited;
            state.finished_at = Some(Utc::now());
            state.oom_killed = runtime::cgroups::oom_killed(id);
            let code = state.exit_code.unwrap_or(UNKNOWN_EXIT).to_string();
            let _ = runtime::events::record(roots, id, "die", &spec.labels, &[("exitCode", code)]);
        }
    }
    runtime::delete::delete_engine_state(roots, id)?;
    super::services::teardown(&paths);
    if state.status != Status::Created {
        state.status = Status::Exited;
        state.finished_at.get_or_insert_with(Utc::now);
    }
    state.pid = None;
    state.pid_start = None;
    state.paused = false;
    state.unsupervised = false;
    state.supervisor_pid = None;
    state.supervisor_start = None;
    state.stopped_by_user = true;
    paths.write_state(&state)?;
    Ok(state)
}

/// Freezes (`true`) or thaws the container's processes.
pub fn pause(roots: &Roots, id: &str, frozen: bool) -> Result<()> {
    match request(roots, id, &Request::Pause(frozen))? {
        Some(Response::Done) => Ok(()),
        Some(Response::Error(message)) => Err(SupervisorError::Refused {
            id: id.to_string(),
            message,
        }),
        Some(other) => Err(SupervisorError::Protocol {
            id: id.to_string(),
            detail: format!("expected Done, got {other:?}"),
        }),
        None => Err(SupervisorError::Refused {
            id: id.to_string(),
            message: format!("container {id} is not running"),
        }),
    }
}

/// Sends a signal to the container's init.
pub fn signal(roots: &Roots, id: &str, signal: &str) -> Result<()> {
    let sig = parse_signal(signal).ok_or_else(|| SupervisorError::UnknownSignal(signal.to_string()))?;
    match request(
        roots,
        id,
        &Request::Kill {
            signal: signal.to_string(),
        },
    )? {
        Some(Response::Done) => Ok(()),
        Some(Response::Error(msg)) => Err(SupervisorError::Protocol {
            id: id.to_string(),
            detail: msg,
        }),
        Some(other) => Err(SupervisorError::Protocol {
            id: id.to_string(),
            detail: format!("expected Done, got {other:?}"),
        }),
        None => {
            let state = status(roots, id)?;
            match state.pid.filter(|p| liveness::is_alive(*p, state.pid_start)) {
                Some(pid) => kill(Pid::from_raw(pid), sig).map_err(|e| SupervisorError::Protocol {
                    id: id.to_string(),
                    detail: format!("signal {sig} to PID {pid}: {e}"),
                }),
                None => Err(runtime::RuntimeError::WrongState {
                    id: id.to_string(),
                    status: state.status.to_string(),
                    action: "signal",
                }
                .into()),
            }
        }
    }
}

/// Stops (without grace) and removes everything of the container.
pub fn remove(roots: &Roots, id: &str) -> Result<()> {
    if roots.container(id).spec().exists() {
        let _ = stop(roots, id, Some(Duration::ZERO));
    }
    runtime::remove(roots, id)?;
    Ok(())
}
