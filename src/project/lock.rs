//! One operation at a time per project: two `up`s at once would both see
//! a container missing and both create it.

use crate::store::Lock;

use super::engine::Engine;
use super::error::{ProjectError, Result};

/// Holds the project's lock until dropped. Blocks while another process
/// holds it (the lock dies with its process, so a killed `up` never leaves
/// the project locked).
pub fn project_lock(engine: &Engine, project: &str) -> Result<Lock> {
    // The name becomes a file name here: whatever path it came by (a file,
    // `-p`, `COMPOSE_PROJECT_NAME`), only a valid one is turned into a path.
    crate::compose::discover::check_project_name(project).map_err(ProjectError::InvalidProjectName)?;
    let dir = engine.roots.root.join("projects");
    crate::store::private_dir(&dir)?;
    Ok(Lock::exclusive(&dir.join(format!("{project}.lock")))?)
}
