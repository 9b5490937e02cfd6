//! The container's cgroup, seen from outside: where it is (v1 and v2), what
//! the kernel supports, and whether the OOM killer struck. Creating and
//! limiting it is libcontainer's (`libcgroups`) job, from the OCI spec.

use std::fs;
use std::path::{Path, PathBuf};

/// The mount point of the cgroup hierarchies.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The cgroup path in the OCI spec (`linux.cgroupsPath`).
pub fn cgroups_path(id: &str) -> String {
    format!("/rcompose/{id}")
}

/// Whether the host uses the unified hierarchy (cgroup v2) only.
pub fn is_v2() -> bool {
    Path::new(CGROUP_ROOT).join("cgroup.controllers").exists()
}

/// Whether swap is accounted: v1 needs `memory.memsw.*` (swapaccount=1).
pub fn swap_accounting() -> bool {
    if is_v2() {
        return true;
    }
    Path::new(CGROUP_ROOT)
        .join("memory/memory.memsw.limit_in_bytes")
        .exists()
}

/// Every directory the container's cgroup occupies (one per v1 controller,
/// or one in v2), whether or not it exists now.
pub fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    let rel = cgroups_path(id);
    let rel = rel.trim_start_matches('/');
    if is_v2() {
        return vec![Path::new(CGROUP_ROOT).join(rel)];
    }
    let Ok(entries) = fs::read_dir(CGROUP_ROOT) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
        .map(|e| e.path().join(rel))
        .collect()
}

/// Whether the kernel OOM-killed a process of the container's cgroup. Read
/// before the cgroup is removed.
pub fn oom_killed(id: &str) -> bool {
    let rel = cgroups_path(id);
    let rel = rel.trim_start_matches('/');
    let (file, key) = if is_v2() {
        (Path::new(CGROUP_ROOT).join(rel).join("memory.events"), "oom_kill")
    } else {
        (
            Path::new(CGROUP_ROOT)
                .join("memory")
                .join(rel)
                .join("memory.oom_control"),
            "oom_kill",
        )
    };
    fs::read_to_string(file)
        .ok()
        .map(|text| counter(&text, key) > 0)
        .unwrap_or(false)
}

fn counter(text: &str, key: &str) -> u64 {
    text.lines()
        .filter_map(|l| l.split_once(' '))
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oom_counters_parse() {
        let v1 = "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n";
        assert_eq!(counter(v1, "oom_kill"), 2);
        let v2 = "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\noom_group_kill 0\n";
        assert_eq!(counter(v2, "oom_kill"), 1);
        assert_eq!(counter("", "oom_kill"), 0);
    }
}

/// Freezes (`pause`) or thaws every process of the container's cgroup,
/// and waits until the kernel reports it done. v1: the freezer controller's
/// `freezer.state`; v2: `cgroup.freeze` and `cgroup.events`.
pub fn set_frozen(id: &str, frozen: bool) -> std::io::Result<()> {
    let rel = cgroups_path(id);
    let rel = rel.trim_start_matches('/');
    let (file, value, done_file, done): (PathBuf, &str, PathBuf, &str) = if is_v2() {
        let dir = Path::new(CGROUP_ROOT).join(rel);
        (
            dir.join("cgroup.freeze"),
            if frozen { "1" } else { "0" },
            dir.join("cgroup.events"),
            if frozen { "frozen 1" } else { "frozen 0" },
        )
    } else {
        let f = Path::new(CGROUP_ROOT).join("freezer").join(rel).join("freezer.state");
        let v = if frozen { "FROZEN" } else { "THAWED" };
        (f.clone(), v, f, v)
    };
    fs::write(&file, value)?;
    // Freezing is asynchronous (FREEZING in v1); a task in an
    // uninterruptible sleep can hold it up, so ask again while waiting.
    for i in 0..200 {
        let text = fs::read_to_string(&done_file)?;
        if text.lines().any(|l| l.trim() == done) {
            return Ok(());
        }
        if i % 10 == 9 {
            fs::write(&file, value)?;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("{} did not become {value} within 1 s", file.display()),
    ))
}
