//! Transparent huge pages: off for rcompose's own busy processes, the
//! host's policy for containers.
//!
//! mimalloc asks for huge pages on its arenas (`MADV_HUGEPAGE`). In `up`,
//! where each service has its own thread touching fresh arena memory,
//! zeroing 2 MB pages came to about a quarter of the CPU. `up` turns them
//! off for its process once the project is loaded (the loader gains from
//! them). The setting is inherited across fork and execve, so supervisors
//! keep it too (less resident memory), and every container process clears
//! it right before `execve`: a container gets the host's policy, as under
//! Docker.

/// Stops new huge pages for this process and the children it makes.
pub fn disable_for_this_process() {
    // SAFETY: prctl with constant arguments; failure only means huge
    // pages stay on (kernels before 3.15).
    unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
}

/// Gives the calling process the host's policy back. Async-signal-safe:
/// for a child between fork and execve.
pub fn restore_before_exec() {
    // SAFETY: as above.
    unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 0, 0, 0, 0) };
}
