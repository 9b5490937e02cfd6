//! One operation at a time per project: two `up`s at once would both see
//! a container missing and both create it.

use crate::store::Lock;

use super::engine::Engine;
use super::error::Result;

/// Holds the project's lock until dropped. Blocks while another process
/// holds it (the lock dies with its process, so a killed `up` never leaves
/// the project locked).
pub fn project_lock(engine: &Engine, project: &str) -> Result<Lock> {
    let dir = engine.roots.root.join("projects");
    std::fs::create_dir_all(&dir).map_err(|source| super::ProjectError::Io {
        action: "cannot create",
        path: dir.clone(),
        source,
    })?;
    Ok(Lock::exclusive(&dir.join(format!("{project}.lock")))?)
}
