//! Waiting for a container's init process (a child of the caller) to end.

use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;

use super::cgroups;
use super::error::{Result, RuntimeError};

/// How a container's process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitStatus {
    /// The exit code, or 128 + the signal number, as Docker reports it.
    pub code: i32,
    /// Killed by the OOM killer of the container's cgroup.
    pub oom_killed: bool,
}

/// Exit code of a wait status in Docker's convention.
pub fn exit_code(status: WaitStatus) -> Option<i32> {
    match status {
        WaitStatus::Exited(_, code) => Some(code),
        WaitStatus::Signaled(_, sig, _) => Some(128 + sig as i32),
        _ => None,
    }
}

/// Blocks until the init process `pid` of container `id` exits, then reads
/// whether the OOM killer was involved (before the cgroup is removed).
pub fn wait(id: &str, pid: i32) -> Result<ExitStatus> {
    loop {
        match waitpid(Pid::from_raw(pid), None) {
            Ok(status) => {
                if let Some(code) = exit_code(status) {
                    return Ok(ExitStatus {
                        code,
                        oom_killed: cgroups::oom_killed(id),
                    });
                }
            }
            Err(Errno::EINTR) => continue,
            Err(e) => {
                return Err(RuntimeError::Engine {
                    id: id.to_string(),
                    action: "wait for",
                    detail: format!("waitpid({pid}) failed: {e} (is the caller the parent of the container's init?)"),
                })
            }
        }
    }
}
