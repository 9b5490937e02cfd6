//! Transparent huge pages: off for rcompose's own processes, except while
//! a large project loads; the host's policy for containers.
//!
//! mimalloc asks for huge pages on its arenas (`MADV_HUGEPAGE`), so each
//! 2 MB of heap touched becomes resident at once. A command starts with
//! them off (`logs --tail 5` used 20 MB, 6 of them three huge pages of a
//! small heap); the loader turns them back on for a large project, where
//! they make it about 1.5x faster (`bench/config.sh`); `up` turns them off
//! again once the project is loaded, as each service's thread zeroing
//! fresh 2 MB pages came to about a quarter of its CPU. The setting is
//! inherited across fork and execve, so supervisors keep it too (less
//! resident memory), and every container process clears it right before
//! `execve`: a container gets the host's policy, as under Docker.

/// Stops new huge pages for this process and the children it makes.
pub fn disable_for_this_process() {
    // SAFETY: prctl with constant arguments; failure only means huge
    // pages stay on (kernels before 3.15).
    unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
}

/// Lets this process use huge pages again (the host's policy).
pub fn allow_for_this_process() {
    restore_before_exec();
}

/// Gives the calling process the host's policy back. Async-signal-safe:
/// for a child between fork and execve.
pub fn restore_before_exec() {
    // SAFETY: as above.
    unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 0, 0, 0, 0) };
}
