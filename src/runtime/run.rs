//! Create + start + wait + remove in one call: a container run to completion
//! (what `build` steps and the benchmark need).

use super::config::ContainerSpec;
use super::create::{create, prepare, Stdio};
use super::delete::remove;
use super::error::Result;
use super::start::start;
use super::state::Roots;
use super::wait::{wait, ExitStatus};

/// Runs `spec` to completion and removes it, whatever happened.
pub fn run_to_completion(roots: &Roots, spec: &ContainerSpec, stdio: Stdio) -> Result<ExitStatus> {
    prepare(roots, spec)?;
    let result = (|| {
        let pid = create(roots, &spec.id, stdio)?;
        start(roots, &spec.id)?;
        wait(&spec.id, pid)
    })();
    let removed = remove(roots, &spec.id);
    let status = result?;
    removed?;
    Ok(status)
}
