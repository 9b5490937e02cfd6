//! Lifecycle hooks: `post_start` commands run in a container once it has
//! started (a failing one fails `up`, as in Docker Compose), `pre_stop`
//! commands before its stop signal (on `stop`, `restart` and `down`; a
//! failing one is reported and the stop goes on).
//!
//! A hook enters the container exactly as `rcompose exec -T` does, and is
//! run as that command in a child process: the runtime's exec forks from a
//! single-threaded caller (runtime::exec), and `up` and `down` work on
//! many threads. The child is given the project's files and directory so
//! it finds the same container.

use std::process::{Command, Stdio};

use crate::compose::model::Hook;

use super::error::{ProjectError, Result};
use super::Target;

/// Runs `hooks` (named `which` in messages) in container `index` of
/// `service`, in order; the first that fails ends the run.
pub fn run(target: &Target, service: &str, index: u32, hooks: &[Hook], which: &str) -> Result<()> {
    for hook in hooks {
        run_one(target, service, index, hook, which)?;
    }
    Ok(())
}

fn run_one(target: &Target, service: &str, index: u32, hook: &Hook, which: &str) -> Result<()> {
    let fail = |msg: String| ProjectError::service(service, format!("{which} hook: {msg}"));
    let Some(command) = hook.command.as_ref().filter(|c| !c.is_empty()) else {
        return Err(fail("it has no command".into()));
    };
    if hook.privileged == Some(true) {
        // Never quietly run with less than was asked for.
        return Err(fail(
            "privileged hooks are not supported yet; remove `privileged: true`".into(),
        ));
    }
    // (this process may run from a sealed view of the binary, which has
    // no path of its own: runtime::sealed)
    let exe =
        crate::runtime::sealed::current_exe().map_err(|e| fail(format!("cannot find the rcompose program: {e}")))?;
    let mut c = Command::new(exe);
    // The environment the project was interpolated with (the process's
    // over `.env` or `--env-file`), so the child reads the same project.
    c.envs(&target.environment);
    c.arg("--project-directory").arg(&target.working_dir);
    for f in &target.config_files {
        c.arg("-f").arg(f);
    }
    c.args(["-p", &target.name, "--progress", "quiet", "exec", "-T"]);
    c.args(["--index", &index.to_string()]);
    if let Some(u) = &hook.user {
        c.args(["-u", u]);
    }
    if let Some(w) = &hook.working_dir {
        c.args(["-w", w]);
    }
    for (k, v) in &hook.environment {
        match v {
            Some(v) => c.arg("-e").arg(format!("{k}={v}")),
            // `KEY` alone: from the environment, as `exec -e KEY` takes it.
            None => c.arg("-e").arg(k),
        };
    }
    c.arg(service).args(command);
    let out = c
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| fail(format!("cannot run {}: {e}", c.get_program().to_string_lossy())))?;
    if out.status.success() {
        return Ok(());
    }
    let code = out.status.code().unwrap_or(-1);
    let mut said = String::from_utf8_lossy(&out.stderr).into_owned();
    said.push_str(&String::from_utf8_lossy(&out.stdout));
    let said = said.trim();
    Err(fail(if said.is_empty() {
        format!("{} exited with code {code}", command.join(" "))
    } else {
        format!("{} exited with code {code}: {said}", command.join(" "))
    }))
}
