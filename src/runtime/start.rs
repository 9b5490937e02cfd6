//! Starting a created container: its init process `exec`s the command.

use libcontainer::container::Container;

use super::error::{chain, Result, RuntimeError};
use super::state::Roots;

/// Loads libcontainer's record of container `id`.
pub(crate) fn load(roots: &Roots, id: &str) -> Result<Container> {
    let dir = roots.engine_root().join(id);
    if !dir.exists() {
        return Err(RuntimeError::NotFound {
            id: id.to_string(),
            root: roots.engine_root(),
        });
    }
    Container::load(dir).map_err(|e| RuntimeError::engine(id, "load", chain(&e)))
}

/// Lets the created init process run the container's command.
pub fn start(roots: &Roots, id: &str) -> Result<()> {
    let mut container = load(roots, id)?;
    if !container.can_start() {
        return Err(RuntimeError::WrongState {
            id: id.to_string(),
            status: format!("{:?}", container.status()).to_lowercase(),
            action: "start",
        });
    }
    // libcontainer chdirs the whole process into its directory to reach the
    // notify socket: a create on another thread must not take that
    // directory for the process's working directory (it is removed with
    // the container, and every later create then fails "failed to get cwd").
    let _guard = super::create::engine_lock();
    container
        .start()
        .map_err(|e| RuntimeError::engine(id, "start", chain(&e)))
}
