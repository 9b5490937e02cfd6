//! The runtime's error type: every variant says what failed, on what, and
//! (where there is one) what the user can do about it.

use std::path::PathBuf;

/// Errors of the container runtime.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("invalid container id {id:?}: {reason}")]
    InvalidId { id: String, reason: &'static str },

    #[error("invalid container spec for {id:?}: {what}")]
    InvalidSpec { id: String, what: String },

    #[error("no command to run in container {id:?}: the image has no ENTRYPOINT or CMD and none was given; set `command` or `entrypoint`")]
    NoCommand { id: String },

    #[error("unable to find user {user:?}: no matching entry in the image's /etc/passwd; use a numeric uid or a user the image defines")]
    UnknownUser { user: String },

    #[error("unable to find group {group:?}: no matching entry in the image's /etc/group; use a numeric gid or a group the image defines")]
    UnknownGroup { group: String },

    #[error(transparent)]
    Store(#[from] crate::store::StoreError),

    #[error("cannot look up the container's user: {0}")]
    UserFile(#[source] crate::store::StoreError),

    #[error("unknown capability {name:?}: use a Linux capability name such as NET_ADMIN or CAP_NET_ADMIN, or ALL")]
    UnknownCapability { name: String },

    #[error("invalid security option {opt:?}: {reason}")]
    SecurityOpt { opt: String, reason: String },

    #[error("invalid seccomp profile {source_name}: {reason}")]
    Seccomp { source_name: String, reason: String },

    #[error("sysctl {name:?} is not allowed: {reason}")]
    Sysctl { name: String, reason: String },

    #[error("invalid ulimit {name:?}: {reason}")]
    Ulimit { name: String, reason: String },

    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{action} {path}: {source}")]
    Sys {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: nix::Error,
    },

    /// A path the container needs (working directory, mount target) that
    /// the image does not allow.
    #[error("container {id}: {what}")]
    Setup { id: String, what: String },

    /// The command cannot be run (Docker's `exec: "x": …` words); `code`
    /// is Docker's: 127 not found, 126 not executable. Callers name the
    /// container (`container "x" failed to start: …`).
    #[error("{message}")]
    CannotRun { id: String, code: i32, message: String },

    #[error("container {id:?} already exists; remove it first or choose another id")]
    Exists { id: String },

    #[error("container {id:?} not found under {root}")]
    NotFound { id: String, root: PathBuf },

    #[error("container {id:?} is {status}, cannot {action}")]
    WrongState {
        id: String,
        status: String,
        action: &'static str,
    },

    #[error("container engine failed to {action} container {id:?}: {detail}")]
    Engine {
        id: String,
        action: &'static str,
        detail: String,
    },

    #[error("corrupt state file {path}: {reason}; remove the container with `rm -f` to clean it up")]
    CorruptState { path: PathBuf, reason: String },
}

/// An error and its sources, `: `-separated (libcontainer's top-level
/// messages alone rarely say what went wrong).
pub(crate) fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        let msg = e.to_string();
        if !out.contains(&msg) {
            out.push_str(": ");
            out.push_str(&msg);
        }
        cur = e.source();
    }
    out
}

pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;

impl RuntimeError {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        RuntimeError::Io {
            action,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn sys(action: &'static str, path: impl Into<PathBuf>, source: nix::Error) -> Self {
        RuntimeError::Sys {
            action,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn engine(id: &str, action: &'static str, err: impl std::fmt::Display) -> Self {
        RuntimeError::Engine {
            id: id.to_string(),
            action,
            detail: err.to_string(),
        }
    }
}
