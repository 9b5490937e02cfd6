//! RUN: the command in a container of the embedded runtime over the
//! stage's layers (with Docker's default capabilities and seccomp profile,
//! like any container), whose upper directory becomes the step's layer.
//!
//! libcontainer's create makes the calling process non-dumpable and changes
//! its working directory for a moment: the builder runs steps one at a
//! time, from a process with no other threads at work.

use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::PathBuf;

use crate::image::store::ImageStore;
use crate::runtime::{self, ContainerSpec, ImageConfig, Roots, Stdio};

use super::error::{BuildError, Result};
use super::layer::{self, Layer};
use super::stage::StageImage;

/// Files the runtime bind-mounts over; when the image lacks them, the
/// mount leaves an empty file behind that is no part of the step's work.
const MOUNT_STUBS: [&str; 3] = ["etc/hosts", "etc/hostname", "etc/resolv.conf"];

pub struct RunStep<'a> {
    pub store: &'a ImageStore,
    pub roots: &'a Roots,
    /// A network namespace to join (the host's for builds with network);
    /// `None`: a new one with only `lo`.
    pub netns: Option<PathBuf>,
    /// Where the command's output goes; `None`: discarded.
    pub output: Option<&'a File>,
}

impl RunStep<'_> {
    /// Runs `argv` on `stage` with `extra_env` (the build arguments in
    /// scope); returns the layer of its changes, or `None` when it changed
    /// nothing.
    pub fn run(&self, stage: &StageImage, argv: Vec<String>, extra_env: Vec<String>) -> Result<Option<Layer>> {
        let lower_dirs = stage.lower_dirs(self.store)?;
        if lower_dirs.is_empty() {
            return Err(BuildError::new(
                "RUN needs a base image with a shell; FROM scratch has none (COPY files in instead)",
            ));
        }
        let id = crate::store::temp_name("build-");
        let spec = ContainerSpec {
            id: id.clone(),
            image: ImageConfig {
                env: stage.env(),
                user: stage.user(),
                working_dir: Some(stage.working_dir()),
                ..Default::default()
            },
            lower_dirs,
            entrypoint: Some(Vec::new()),
            command: Some(argv.clone()),
            env: extra_env,
            netns: self.netns.clone(),
            ..Default::default()
        };
        runtime::prepare(self.roots, &spec).map_err(BuildError::runtime)?;
        let result = self.run_prepared(&id, &argv);
        let removed = runtime::remove(self.roots, &id).map_err(BuildError::runtime);
        let layer = result?;
        removed?;
        Ok(layer)
    }

    fn run_prepared(&self, id: &str, argv: &[String]) -> Result<Option<Layer>> {
        let out = |f: Option<&File>| -> Result<OwnedFd> {
            match f {
                Some(f) => f.try_clone().map(OwnedFd::from),
                None => runtime::exec::dev_null(),
            }
            .map_err(|e| BuildError::new(format!("RUN output: {e}")))
        };
        let stdio = Stdio {
            stdin: Some(runtime::exec::dev_null().map_err(|e| BuildError::new(format!("RUN input: {e}")))?),
            stdout: Some(out(self.output)?),
            stderr: Some(out(self.output)?),
        };
        let pid = runtime::create(self.roots, id, stdio).map_err(BuildError::runtime)?;
        runtime::start(self.roots, id).map_err(BuildError::runtime)?;
        let status = runtime::wait(id, pid).map_err(BuildError::runtime)?;
        if status.code != 0 {
            let how = if status.oom_killed {
                " (killed: out of memory)"
            } else {
                ""
            };
            return Err(BuildError::new(format!(
                "the command {argv:?} returned a non-zero code: {}{how}",
                status.code
            )));
        }
        // The upper directory is the layer once nothing writes to it.
        let paths = self.roots.container(id);
        runtime::delete::delete_engine_state(self.roots, id).map_err(BuildError::runtime)?;
        runtime::rootfs::unmount_rootfs(&paths).map_err(BuildError::runtime)?;
        let upper = paths.upper();
        for stub in MOUNT_STUBS {
            let p = upper.join(stub);
            if std::fs::symlink_metadata(&p).is_ok_and(|m| m.is_file() && m.len() == 0) {
                let _ = std::fs::remove_file(&p);
            }
        }
        // Directories the mounts needed, left empty, go too.
        let etc = upper.join("etc");
        if etc.is_dir() && layer::is_empty(&etc) {
            let _ = std::fs::remove_dir(&etc);
        }
        if layer::is_empty(&upper) {
            return Ok(None);
        }
        let what = format!("RUN {}", argv.join(" "));
        layer::commit_dir(self.store, &upper, &what).map(Some)
    }
}
