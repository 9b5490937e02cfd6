//! What libcontainer is handed to start a container's init: the engine's
//! bundle, and the executor that takes the init's last steps.
//!
//! `config.json` stays the complete OCI bundle; crun or runc run it as it
//! is. libcontainer gets `engine/config.json`, the same spec without
//! `linux.seccomp`: the profile is compiled once (`seccomp_filter`, kept
//! under the engine root by digest, which an annotation names) and
//! [`ContainerExecutor`] loads the program in the init right before
//! `execve`, where libcontainer would compile the whole profile again in
//! every init. Containers without a profile (unconfined, privileged) get
//! the same executor without a filter: it also gives the process the
//! host's transparent-huge-page policy back (`thp`).
//!
//! Loading a filter needs no_new_privs or CAP_SYS_ADMIN. Without
//! no_new_privs, the engine's spec keeps CAP_SYS_ADMIN and CAP_SETPCAP
//! until the filter is in; then the executor cuts the capabilities to the
//! spec's (another annotation), before `execve`.

use std::path::{Path, PathBuf};

use libcontainer::workload::default::DefaultExecutor;
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};
use oci_spec::runtime::{Capability, LinuxCapabilities, Spec};

use super::capabilities::{self, OciCaps};
use super::error::{Result, RuntimeError};
use super::pre_exec;
use super::seccomp_filter::{self, Filter};
use super::state::{write_json, ContainerPaths};
use super::thp;

/// The engine's bundle, inside the container's directory.
const DIR: &str = "engine";
/// Annotation: the digest naming the compiled program in the cache.
const PROGRAM: &str = "org.rcompose.seccomp.program";
/// Annotation: the capabilities to cut to once the filter is loaded.
const CAPABILITIES: &str = "org.rcompose.capabilities";

/// Capabilities the init needs until the filter is loaded.
const HELD: [Capability; 2] = [Capability::SysAdmin, Capability::Setpcap];

fn bad_profile(reason: String) -> RuntimeError {
    RuntimeError::Seccomp {
        source_name: "of the container".into(),
        reason,
    }
}

fn load_spec(path: &Path) -> Result<Spec> {
    Spec::load(path).map_err(|e| RuntimeError::CorruptState {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Writes the engine's bundle for `oci` when it has a seccomp profile,
/// compiling the profile unless `cache_dir` has it already.
pub(crate) fn write_engine_bundle(paths: &ContainerPaths, cache_dir: &Path, oci: &Spec) -> Result<()> {
    let Some(seccomp) = oci.linux().as_ref().and_then(|l| l.seccomp().as_ref()) else {
        return Ok(());
    };
    let (digest, _) = seccomp_filter::cached(cache_dir, seccomp).map_err(bad_profile)?;
    let mut engine = oci.clone();
    let mut annotations = oci.annotations().clone().unwrap_or_default();
    annotations.insert(PROGRAM.into(), digest);
    if let Some(linux) = engine.linux_mut().as_mut() {
        linux.set_seccomp(None);
    }
    let nnp = oci
        .process()
        .as_ref()
        .and_then(|p| p.no_new_privileges())
        .unwrap_or(false);
    let caps = oci.process().as_ref().and_then(|p| p.capabilities().clone());
    if let (false, Some(wanted), Some(process)) = (nnp, caps, engine.process_mut().as_mut()) {
        let with_held = |set: &Option<OciCaps>| {
            let mut set = set.clone().unwrap_or_default();
            set.extend(HELD);
            Some(set)
        };
        let mut held = wanted.clone();
        held.set_bounding(with_held(wanted.bounding()))
            .set_effective(with_held(wanted.effective()))
            .set_permitted(with_held(wanted.permitted()));
        if held != wanted {
            let json = serde_json::to_string(&wanted).map_err(|e| bad_profile(e.to_string()))?;
            annotations.insert(CAPABILITIES.into(), json);
            process.set_capabilities(Some(held));
        }
    }
    engine.set_annotations(Some(annotations));
    let dir = paths.dir.join(DIR);
    crate::store::private_dir(&dir).map_err(RuntimeError::Store)?;
    write_json(&dir.join("config.json"), &engine)
}

/// The bundle libcontainer builds from (the engine's when the container
/// has one, else the plain bundle: no seccomp profile, or a container
/// prepared by an earlier version) and the executor for it.
pub(crate) fn launch(paths: &ContainerPaths, cache_dir: &Path) -> Result<(PathBuf, ContainerExecutor)> {
    let dir = paths.dir.join(DIR);
    let config = dir.join("config.json");
    if !config.is_file() {
        let plain = ContainerExecutor {
            filter: None,
            restore: None,
        };
        return Ok((paths.dir.clone(), plain));
    }
    let engine = load_spec(&config)?;
    let annotations = engine.annotations().clone().unwrap_or_default();
    let stored = annotations
        .get(PROGRAM)
        .and_then(|digest| Filter::read(&seccomp_filter::program_path(cache_dir, digest)).ok());
    let filter = match stored {
        Some(filter) => filter,
        // The cache was cleared: compile again from the complete bundle.
        None => match filter_of(cache_dir, &load_spec(&paths.oci_config())?).map_err(bad_profile)? {
            Some(filter) => filter,
            None => {
                return Err(bad_profile(format!(
                    "{} has no seccomp profile",
                    paths.oci_config().display()
                )))
            }
        },
    };
    let restore = match annotations.get(CAPABILITIES) {
        Some(json) => Some(serde_json::from_str(json).map_err(|e| RuntimeError::CorruptState {
            path: config.clone(),
            reason: format!("annotation {CAPABILITIES}: {e}"),
        })?),
        None => None,
    };
    let filtered = ContainerExecutor {
        filter: Some(filter),
        restore,
    };
    Ok((dir, filtered))
}

/// The compiled filter of `spec`'s profile (for `exec`), from the cache
/// or compiled now.
pub(crate) fn filter_of(cache_dir: &Path, spec: &Spec) -> std::result::Result<Option<Filter>, String> {
    match spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
        Some(seccomp) => seccomp_filter::cached(cache_dir, seccomp).map(|(_, filter)| Some(filter)),
        None => Ok(None),
    }
}

/// libcontainer's default executor (PATH lookup, `execvp`), preceded by
/// the host's huge-page policy, the filter, when capabilities were held
/// for it, cutting them, and what every process entering a container gets
/// (`pre_exec`: descriptors 0–2 only, default signal handling).
#[derive(Clone)]
pub(crate) struct ContainerExecutor {
    filter: Option<Filter>,
    restore: Option<LinuxCapabilities>,
}

impl Executor for ContainerExecutor {
    fn exec(&self, spec: &Spec) -> std::result::Result<(), ExecutorError> {
        thp::restore_before_exec();
        if let Some(filter) = &self.filter {
            filter
                .load()
                .map_err(|e| ExecutorError::Other(format!("loading the seccomp filter: {e}")))?;
        }
        if let Some(wanted) = &self.restore {
            capabilities::cut_bounding(wanted)
                .and_then(|()| capabilities::set_sets(wanted))
                .map_err(ExecutorError::Other)?;
        }
        // libcontainer marks descriptors close-on-exec early in the init;
        // what it opens or dups later, and the dispositions and mask the
        // supervisor had, would reach the container's program.
        pre_exec::close_other_fds().map_err(|e| ExecutorError::Other(format!("closing inherited descriptors: {e}")))?;
        pre_exec::reset_signals().map_err(|e| ExecutorError::Other(format!("resetting signal dispositions: {e}")))?;
        DefaultExecutor {}.exec(spec)
    }

    /// Runs in the init, inside the container, right before it waits for
    /// `start`: a command that cannot run fails `create` with Docker's
    /// words, which reach the caller whole (libcontainer passes this
    /// message on, where its own checks lose theirs).
    fn validate(&self, spec: &Spec) -> std::result::Result<(), ExecutorValidationError> {
        let process = spec.process().as_ref();
        let args = process.and_then(|p| p.args().as_ref()).filter(|a| !a.is_empty());
        let Some(program) = args.map(|a| a[0].as_str()) else {
            return Err(ExecutorValidationError::ArgValidationError("no command to run".into()));
        };
        let env = process.and_then(|p| p.env().clone()).unwrap_or_default();
        super::exec::find_program(program, &env)
            .map(|_| ())
            .map_err(|(_, message)| ExecutorValidationError::ArgValidationError(message))
    }
}
