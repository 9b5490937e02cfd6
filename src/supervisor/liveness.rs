//! Whether a recorded process is still the one that was recorded, and how
//! to stop a container's init that lost its supervisor (an orphan).
//!
//! A PID alone is not an identity: after a `kill -9` of a supervisor its
//! PID, or its container's, may belong to another process by the time the
//! next command looks. The state file keeps each PID with its start time
//! (field 22 of `/proc/<pid>/stat`, clock ticks since boot), and a process
//! is "the same" only when both match and it is not a zombie.
//!
//! An orphaned init is not our child, so `waitpid` cannot give its exit
//! code; it is adopted through `ptrace` instead (PTRACE_SEIZE): a tracer is
//! told how its tracee ended, so the code recorded is the real one (137
//! after SIGKILL, 143 for a death by SIGTERM, or what the process chose to
//! exit with). Signals the tracee receives meanwhile are passed on
//! unchanged. When tracing is refused, a process that died after our
//! SIGKILL is recorded as 137 and any other end as unknown (255, as Docker
//! shows a container whose exit it could not see).

use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// PTRACE_SEIZE, PTRACE_CONT, PTRACE_DETACH through libc (nix's `ptrace`
/// feature is not built in).
mod trace {
    use nix::errno::Errno;
    use nix::sys::signal::Signal;
    use nix::unistd::Pid;

    fn call(request: libc::c_uint, pid: Pid, data: usize) -> Result<(), Errno> {
        // SAFETY: these requests take no pointer (addr is 0, data a number).
        let rc = unsafe { libc::ptrace(request, pid.as_raw(), std::ptr::null_mut::<libc::c_void>(), data) };
        Errno::result(rc).map(drop)
    }

    pub fn seize(pid: Pid) -> Result<(), Errno> {
        call(libc::PTRACE_SEIZE, pid, 0)
    }

    pub fn cont(pid: Pid, sig: Option<Signal>) -> Result<(), Errno> {
        call(libc::PTRACE_CONT, pid, sig.map_or(0, |s| s as usize))
    }

    pub fn detach(pid: Pid) -> Result<(), Errno> {
        call(libc::PTRACE_DETACH, pid, 0)
    }
}

/// The exit code shown when how a container ended could not be seen.
pub const UNKNOWN_EXIT: i32 = 255;

/// The start time of process `pid` (clock ticks since boot), if it exists
/// and is not a zombie.
pub fn start_time(pid: i32) -> Option<u64> {
    if pid <= 0 {
        return None;
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&stat)
}

/// Field 22 of a `/proc/<pid>/stat` line, unless the state (field 3) is a
/// zombie or dead. The command name (field 2) may hold spaces and
/// parentheses: fields are counted after its last `)`.
fn parse_stat(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(") ")?;
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?;
    if state.starts_with('Z') || state.starts_with('X') {
        return None;
    }
    // `rest` starts at field 3; field 22 is 19 further.
    fields.nth(18)?.parse().ok()
}

/// Whether `pid` runs and, when a start time was recorded, is the process
/// that had it.
pub fn is_alive(pid: i32, start: Option<u64>) -> bool {
    match (start_time(pid), start) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(now), Some(then)) => now == then,
    }
}

/// Stops an orphaned init: `stop_signal`, SIGKILL after `grace`. Returns
/// its exit code when it could be seen (`None`: it was already gone, or
/// ended unseen), and whether it is gone.
pub fn stop_orphan(pid: i32, start: Option<u64>, stop_signal: Signal, grace: Duration) -> (Option<i32>, bool) {
    if !is_alive(pid, start) {
        return (None, true);
    }
    let p = Pid::from_raw(pid);
    let mut traced = trace::seize(p).is_ok();
    // The PID may have been reused between the check and the seize.
    if traced && !is_alive(pid, start) {
        let _ = trace::detach(p);
        return (None, true);
    }
    let _ = kill(p, stop_signal);
    let mut kill_at = Some(Instant::now() + grace);
    let give_up = Instant::now() + grace + Duration::from_secs(10);
    loop {
        if traced {
            match waitpid(p, Some(WaitPidFlag::WNOHANG | WaitPidFlag::__WALL)) {
                Ok(WaitStatus::Exited(_, code)) => return (Some(code), true),
                Ok(WaitStatus::Signaled(_, sig, _)) => return (Some(128 + sig as i32), true),
                // A signal on its way to the tracee: deliver it.
                Ok(WaitStatus::Stopped(_, sig)) => {
                    let _ = trace::cont(p, Some(sig));
                    continue;
                }
                // A group stop (SIGSTOP): let it run on, it is being stopped.
                Ok(WaitStatus::PtraceEvent(..)) | Ok(WaitStatus::PtraceSyscall(_)) => {
                    let _ = trace::cont(p, None);
                    continue;
                }
                Ok(_) => {}
                Err(Errno::EINTR) => continue,
                // No longer ours to wait for: watch /proc instead.
                Err(_) => traced = false,
            }
        }
        if !traced && !is_alive(pid, start) {
            // Unseen: after our SIGKILL nothing else can have ended it.
            let code = kill_at.is_none().then_some(128 + Signal::SIGKILL as i32);
            return (code, true);
        }
        let now = Instant::now();
        if kill_at.is_some_and(|t| now >= t) {
            kill_at = None;
            let _ = kill(p, Signal::SIGKILL);
        }
        if now >= give_up {
            if traced {
                let _ = trace::detach(p);
            }
            return (None, !is_alive(pid, start));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_times_come_from_field_22_and_zombies_are_dead() {
        let line = |state: &str| {
            format!("4242 (we ird) name) {state} 1 4242 4242 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 1 0 987654 1000 10")
        };
        assert_eq!(parse_stat(&line("S")), Some(987654));
        assert_eq!(parse_stat(&line("R")), Some(987654));
        assert_eq!(parse_stat(&line("Z")), None);
        assert_eq!(parse_stat("garbage"), None);
        let me = std::process::id() as i32;
        let t = start_time(me).unwrap();
        assert!(is_alive(me, Some(t)));
        assert!(is_alive(me, None));
        assert!(!is_alive(me, Some(t + 1)), "another process with the same PID");
    }

    #[test]
    fn a_stopped_child_of_another_process_gives_its_real_exit_code() {
        if !nix::unistd::Uid::effective().is_root() {
            eprintln!("SKIP: tracing needs root here");
            return;
        }
        // A grandchild (reparented away from us once its parent exits) that
        // exits 3 on SIGTERM: not ours to wait for, yet its code is seen.
        // It says when its trap is set: a SIGTERM before that ends it with
        // 143 (seen under load).
        let dir = tempfile::tempdir().unwrap();
        let ready = dir.path().join("ready");
        let script = format!(
            "sh -c 'trap \"exit 3\" TERM; : > {}; while :; do sleep 0.05; done' >/dev/null 2>&1 & echo $!",
            ready.display()
        );
        let out = std::process::Command::new("sh").args(["-c", &script]).output().unwrap();
        let pid: i32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !ready.exists() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let start = start_time(pid);
        assert!(start.is_some());
        let (code, gone) = stop_orphan(pid, start, Signal::SIGTERM, Duration::from_secs(5));
        assert_eq!((code, gone), (Some(3), true));
    }
}
