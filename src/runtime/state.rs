//! Where a container lives on disk, and its state file.
//!
//! `$RCOMPOSE_ROOT/containers/<id>/`: `spec.json` (the [`ContainerSpec`]),
//! `config.json` (the OCI spec; the directory is the OCI bundle),
//! `state.json`, `rootfs/` (the overlay mount point), `upper/`, `work/`,
//! `hosts`, `hostname`, `resolv.conf`, `<id>-json.log`.
//! `$RCOMPOSE_RUN/runtime/<id>/`: libcontainer's own state (tmpfs).
//!
//! Writes are atomic (temp file + rename, through `store`) and private
//! (0600 in 0700 directories), except the three files bind-mounted into
//! the container.

use std::fs;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::config::ContainerSpec;
use super::error::{Result, RuntimeError};

/// The two roots of the engine's state.
#[derive(Debug, Clone)]
pub struct Roots {
    /// Persistent state (`RCOMPOSE_ROOT`, default `/var/lib/rcompose`).
    pub root: PathBuf,
    /// Runtime state that dies with the machine (`RCOMPOSE_RUN`, default `/run/rcompose`).
    pub run: PathBuf,
}

impl Roots {
    /// From `RCOMPOSE_ROOT` / `RCOMPOSE_RUN`, with the defaults of DESIGN.md §5.
    pub fn from_env() -> Roots {
        let var = |name: &str, default: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(default))
        };
        Roots {
            root: var("RCOMPOSE_ROOT", "/var/lib/rcompose"),
            run: var("RCOMPOSE_RUN", "/run/rcompose"),
        }
    }

    pub fn containers(&self) -> PathBuf {
        self.root.join("containers")
    }

    /// Compiled seccomp programs, by the profile's digest.
    pub fn seccomp_cache(&self) -> PathBuf {
        self.root.join("seccomp")
    }

    /// libcontainer's state root.
    pub fn engine_root(&self) -> PathBuf {
        self.run.join("runtime")
    }

    pub fn container(&self, id: &str) -> ContainerPaths {
        ContainerPaths {
            id: id.to_string(),
            dir: self.containers().join(id),
        }
    }
}

/// The files of one container.
#[derive(Debug, Clone)]
pub struct ContainerPaths {
    pub id: String,
    pub dir: PathBuf,
}

impl ContainerPaths {
    pub fn spec(&self) -> PathBuf {
        self.dir.join("spec.json")
    }
    pub fn oci_config(&self) -> PathBuf {
        self.dir.join("config.json")
    }
    pub fn state(&self) -> PathBuf {
        self.dir.join("state.json")
    }
    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }
    /// The FIFO a container with `stdin_open` reads as standard input.
    pub fn stdin_fifo(&self) -> PathBuf {
        self.dir.join("stdin")
    }
    pub fn upper(&self) -> PathBuf {
        self.dir.join("upper")
    }
    pub fn work(&self) -> PathBuf {
        self.dir.join("work")
    }
    pub fn hosts(&self) -> PathBuf {
        self.dir.join("hosts")
    }
    pub fn hostname(&self) -> PathBuf {
        self.dir.join("hostname")
    }
    pub fn resolv_conf(&self) -> PathBuf {
        self.dir.join("resolv.conf")
    }
    pub fn log(&self) -> PathBuf {
        self.dir.join(format!("{}-json.log", self.id))
    }
    /// Files written for the container and bind-mounted into it (`files.rs`).
    pub fn files(&self) -> PathBuf {
        self.dir.join("files")
    }
    pub fn control_socket(&self) -> PathBuf {
        self.dir.join("control.sock")
    }
}

/// Checks an engine id: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, at most 128 bytes
/// (it names a directory and a cgroup).
pub fn validate_id(id: &str) -> Result<()> {
    let bad = |reason| RuntimeError::InvalidId {
        id: id.to_string(),
        reason,
    };
    let mut chars = id.chars();
    match chars.next() {
        None => return Err(bad("it is empty")),
        Some(c) if !c.is_ascii_alphanumeric() => return Err(bad("it must start with a letter or digit")),
        _ => {}
    }
    if id.len() > 128 {
        return Err(bad("it is longer than 128 characters"));
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')) {
        return Err(bad("only letters, digits, '_', '.' and '-' are allowed"));
    }
    Ok(())
}

/// What a container is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Created,
    Running,
    Restarting,
    Exited,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Restarting => "restarting",
            Status::Exited => "exited",
        })
    }
}

/// Health as the supervisor last recorded it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    Starting,
    Healthy,
    Unhealthy,
}

/// One healthcheck run, as Docker keeps the last few.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthLog {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub exit_code: i32,
    pub output: String,
}

/// `state.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerState {
    pub id: String,
    pub status: Status,
    /// PID of the container's init, in the host's PID namespace.
    #[serde(default)]
    pub pid: Option<i32>,
    /// Start time of `pid` (clock ticks since boot, field 22 of
    /// `/proc/<pid>/stat`): a PID reused by another process is not ours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid_start: Option<u64>,
    /// PID of the supervisor, if one runs the container.
    #[serde(default)]
    pub supervisor_pid: Option<i32>,
    /// Start time of `supervisor_pid`, as for `pid_start`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supervisor_start: Option<u64>,
    /// Never written by a supervisor: set when the state is read and the
    /// container's process runs but its supervisor is dead (no logs,
    /// ports, restarts or healthchecks). The next `up`, `start`, `stop` or
    /// `down` stops it cleanly.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unsupervised: bool,
    #[serde(default)]
    pub exit_code: Option<i32>,
    #[serde(default)]
    pub oom_killed: bool,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub finished_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub restart_count: u32,
    /// Set by an explicit stop: `unless-stopped` and `always` then stay down
    /// until started again.
    #[serde(default)]
    pub stopped_by_user: bool,
    /// Frozen by `pause` (the status stays `running`, as with Docker).
    #[serde(default)]
    pub paused: bool,
    #[serde(default)]
    pub health: Option<Health>,
    #[serde(default)]
    pub failing_streak: u32,
    #[serde(default)]
    pub health_log: Vec<HealthLog>,
    #[serde(default)]
    pub error: Option<String>,
}

impl ContainerState {
    pub fn new(id: &str) -> ContainerState {
        ContainerState {
            id: id.to_string(),
            status: Status::Created,
            pid: None,
            pid_start: None,
            supervisor_pid: None,
            supervisor_start: None,
            unsupervised: false,
            exit_code: None,
            oom_killed: false,
            created_at: Utc::now(),
            started_at: None,
            finished_at: None,
            restart_count: 0,
            stopped_by_user: false,
            paused: false,
            health: None,
            failing_streak: 0,
            health_log: Vec::new(),
            error: None,
        }
    }
}

/// Writes `data` to `path` atomically, private to root (0600).
pub(crate) fn atomic_write(path: &Path, data: &[u8]) -> Result<()> {
    atomic_write_mode(path, data, crate::store::FILE_MODE)
}

/// [`atomic_write`] with exactly `mode` (files a container shows its users).
pub(crate) fn atomic_write_mode(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    crate::store::atomic_write_mode(path, data, mode).map_err(RuntimeError::Store)
}

pub(crate) fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let data = serde_json::to_vec_pretty(value).map_err(|e| RuntimeError::CorruptState {
        path: path.to_path_buf(),
        reason: format!("cannot serialize: {e}"),
    })?;
    atomic_write(path, &data)
}

pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let data = fs::read(path).map_err(|e| RuntimeError::io("failed to read", path, e))?;
    serde_json::from_slice(&data).map_err(|e| RuntimeError::CorruptState {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

impl ContainerPaths {
    pub fn read_state(&self) -> Result<ContainerState> {
        read_json(&self.state())
    }
    pub fn write_state(&self, state: &ContainerState) -> Result<()> {
        write_json(&self.state(), state)
    }
    pub fn read_spec(&self) -> Result<ContainerSpec> {
        read_json(&self.spec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked() {
        assert!(validate_id("web-1_x.y").is_ok());
        assert!(validate_id("").is_err());
        assert!(validate_id("-x").is_err());
        assert!(validate_id("a/b").is_err());
        assert!(validate_id("../x").is_err());
        assert!(validate_id(&"a".repeat(129)).is_err());
    }

    #[test]
    fn state_round_trips_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let roots = Roots {
            root: dir.path().into(),
            run: dir.path().join("run"),
        };
        let paths = roots.container("c1");
        fs::create_dir_all(&paths.dir).unwrap();
        let mut st = ContainerState::new("c1");
        st.status = Status::Exited;
        st.exit_code = Some(137);
        st.oom_killed = true;
        paths.write_state(&st).unwrap();
        assert_eq!(paths.read_state().unwrap(), st);
        let leftovers: Vec<_> = fs::read_dir(&paths.dir).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temp file left behind");
        fs::write(paths.state(), "{").unwrap();
        assert!(matches!(paths.read_state(), Err(RuntimeError::CorruptState { .. })));
    }
}
