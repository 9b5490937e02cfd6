//! What a test's private state root leaves in the kernel, found and
//! removed by the test's own guard: supervisor processes (matched by the
//! RCOMPOSE_ROOT in their environment, ended by PID) and mounts below the
//! test's temp dir.

#![allow(dead_code)]

use std::path::Path;

/// PIDs of supervisors running for the state root `root`.
pub fn supervisor_pids(root: &Path) -> Vec<i32> {
    let want = format!("RCOMPOSE_ROOT={}", root.display());
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if !String::from_utf8_lossy(&cmd).contains("__supervise") {
            continue;
        }
        let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        if env.split(|b| *b == 0).any(|v| v == want.as_bytes()) {
            out.push(pid);
        }
    }
    out
}

/// SIGKILLs every supervisor of `root`.
pub fn kill_supervisors(root: &Path) {
    for pid in supervisor_pids(root) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
    }
}

/// Detaches every mount below `dir` (rootfs overlays, netns files), deepest first.
pub fn unmount_below(dir: &Path) {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let dir = dir.to_string_lossy().into_owned();
    let mut points: Vec<&str> = mounts
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| m.starts_with(&dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for m in points {
        let _ = nix::mount::umount2(m, nix::mount::MntFlags::MNT_DETACH);
    }
}
