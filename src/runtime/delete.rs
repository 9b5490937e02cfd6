//! Deleting a container: its process state (between restarts) or all of it.
//! Removing what is already gone is success; removal goes on past errors and
//! reports them all.

use std::fs;

use libcontainer::container::Container;

use super::cgroups;
use super::error::{chain, Result, RuntimeError};
use super::rootfs;
use super::state::Roots;

/// Removes libcontainer's record of the container's current process, killing
/// what is left of it and removing its cgroup. The rootfs stays (restarts
/// reuse it).
pub fn delete_engine_state(roots: &Roots, id: &str) -> Result<()> {
    let dir = roots.engine_root().join(id);
    if !dir.exists() {
        return Ok(());
    }
    let deleted = Container::load(dir.clone())
        .and_then(|mut c| c.delete(true))
        .map_err(|e| RuntimeError::engine(id, "delete", chain(&e)));
    if deleted.is_err() {
        // The record is unreadable: clean up by hand.
        kill_cgroup_processes(id);
        for dir in cgroups::cgroup_dirs(id) {
            let _ = fs::remove_dir(dir);
        }
        let _ = fs::remove_dir_all(&dir);
    }
    if dir.exists() {
        return deleted;
    }
    Ok(())
}

/// SIGKILLs every process listed in the container's cgroups.
fn kill_cgroup_processes(id: &str) {
    for dir in cgroups::cgroup_dirs(id) {
        let Ok(procs) = fs::read_to_string(dir.join("cgroup.procs")) else {
            continue;
        };
        for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
    }
}

/// Removes the container entirely: its processes, cgroup, rootfs mount and
/// directory. Every step runs; the first error is returned.
pub fn remove(roots: &Roots, id: &str) -> Result<()> {
    super::state::validate_id(id)?;
    let paths = roots.container(id);
    let mut first_err: Option<RuntimeError> = None;
    let mut note = |r: Result<()>| {
        if let Err(e) = r {
            first_err.get_or_insert(e);
        }
    };
    note(delete_engine_state(roots, id));
    note(rootfs::unmount_rootfs(&paths));
    if paths.dir.exists() {
        note(fs::remove_dir_all(&paths.dir).map_err(|e| RuntimeError::io("failed to remove", &paths.dir, e)));
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
