//! What the CLI uses: start a container under a new supervisor, ask it for
//! the state, stop or signal it — and cope when the supervisor is gone (the
//! container is still found, shown and stoppable).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

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
    let mut command = Command::new(exe);
    command.arg(SUPERVISE_ARG).arg(id);
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

fn alive(pid: i32) -> bool {
    // A zombie is not alive: look at the state letter in /proc/<pid>/stat.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .map(|(_, rest)| !rest.starts_with('Z') && !rest.starts_with('X'))
            .unwrap_or(false),
        Err(_) => false,
    }
}

fn request(roots: &Roots, id: &str, req: &Request) -> Result<Option<Response>> {
    let sock = roots.container(id).control_socket();
    let Ok(mut conn) = UnixStream::connect(&sock) else {
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
/// state file, corrected when the supervisor died without recording it.
pub fn status(roots: &Roots, id: &str) -> Result<ContainerState> {
    if let Some(Response::State(state)) = request(roots, id, &Request::Status)? {
        return Ok(*state);
    }
    let paths = roots.container(id);
    let mut state = paths.read_state()?;
    let supervised = state.supervisor_pid.is_some_and(alive);
    if !supervised && matches!(state.status, Status::Running | Status::Restarting) {
        let running = state.pid.is_some_and(alive);
        if !running {
            state.status = Status::Exited;
            state.pid = None;
            state.finished_at.get_or_insert_with(Utc::now);
            if state.error.is_none() {
                state.error = Some("its supervisor died; the exit code was not recorded".into());
            }
        }
        state.supervisor_pid = None;
    }
    Ok(state)
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
            while before.supervisor_pid.is_some_and(alive) || roots.container(id).control_socket().exists() {
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

/// Stops a container whose supervisor is gone: signals its init by PID,
/// waits, kills, then removes the process' engine state.
fn stop_unsupervised(
    roots: &Roots,
    id: &str,
    spec: &runtime::ContainerSpec,
    grace: Duration,
) -> Result<ContainerState> {
    let paths = roots.container(id);
    let mut state = paths.read_state()?;
    if let Some(pid) = state.pid.filter(|p| alive(*p)) {
        let sig = spec
            .stop_signal
            .as_deref()
            .or(spec.image.stop_signal.as_deref())
            .and_then(parse_signal)
            .unwrap_or(Signal::SIGTERM);
        let _ = kill(Pid::from_raw(pid), sig);
        let deadline = Instant::now() + grace;
        while alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        if alive(pid) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            let deadline = Instant::now() + Duration::from_secs(10);
            while alive(pid) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
    runtime::delete::delete_engine_state(roots, id)?;
    super::services::teardown(&paths);
    state.status = Status::Exited;
    state.pid = None;
    state.supervisor_pid = None;
    state.stopped_by_user = true;
    state.finished_at = Some(Utc::now());
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
            match state.pid.filter(|p| alive(*p)) {
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
