//! Turning a Compose [`Project`](crate::compose::model::Project) into engine
//! actions, and the project-level commands built on them. The only module
//! that knows both Compose and the engine (DESIGN.md §1).
//!
//! An `up`, in order:
//! 1. **lock** the project (`lock`): one operation at a time per project;
//! 2. **inventory** (`inventory`): the project's containers as they are,
//!    found through their labels;
//! 3. **plan** (`plan`, pure): per service, which containers to keep,
//!    create, recreate (config hash changed), start or remove, and orphans;
//! 4. **resources**: networks (`networks`) and named volumes (`volumes`),
//!    images pulled as `pull_policy` says (`images`);
//! 5. **converge** (`up`): services in parallel, each as soon as its
//!    `depends_on` conditions hold (`wait`); a container is translated to an
//!    engine spec (`translate`), prepared, connected and handed to its
//!    supervisor (`container`).
//!
//! `down`, `ps`, `logs` and the lifecycle commands read the same inventory.

pub mod build;
pub mod container;
pub mod down;
pub mod engine;
pub mod error;
pub mod events;
pub mod exec;
pub mod hash;
pub mod hooks;
pub mod images;
pub mod inventory;
pub mod labels;
pub mod lifecycle;
pub mod lock;
pub mod logs;
pub mod monitor;
pub mod networks;
pub mod objects;
pub mod plan;
pub mod ps;
pub mod run;
pub mod secrets;
pub mod top;
pub mod translate;
pub mod up;
pub mod volumes;
pub mod wait;

pub use engine::Engine;
pub use error::{ProjectError, Result};

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::compose::model::Project;

/// A loaded project and where it came from: what every project operation
/// takes.
#[derive(Debug, Clone)]
pub struct Target {
    pub project: Project,
    pub name: String,
    pub working_dir: PathBuf,
    pub config_files: Vec<PathBuf>,
    /// The project's environment (the process's over `.env`): where
    /// `environment:` secrets and configs take their content from.
    pub environment: BTreeMap<String, String>,
    /// `--all-resources`: create every declared network and volume, not
    /// only those a service uses.
    pub all_resources: bool,
}

impl Target {
    pub fn context(&self) -> translate::ProjectContext<'_> {
        translate::ProjectContext {
            project: &self.project,
            name: &self.name,
            working_dir: &self.working_dir,
            config_files: &self.config_files,
            environment: &self.environment,
        }
    }

    /// A Docker Compose switch such as `COMPOSE_REMOVE_ORPHANS`, from the
    /// project's environment (the process's over `.env`), read as Go's
    /// `strconv.ParseBool` reads it (`1`, `t`, `true`, `TRUE`, …).
    pub fn env_flag(&self, name: &str) -> bool {
        let value = self.environment.get(name).cloned().or_else(|| std::env::var(name).ok());
        matches!(value.as_deref(), Some("1" | "t" | "T" | "true" | "TRUE" | "True"))
    }

    /// Checks service names given on the command line.
    pub fn check_services(&self, names: &[String]) -> Result<()> {
        for n in names {
            if !self.project.services.contains_key(n) {
                let known: Vec<&str> = self.project.services.keys().map(String::as_str).collect();
                let hint = crate::compose::diag::closest(n, known.iter().copied())
                    .map(|c| format!(" (did you mean {c:?}?)"))
                    .unwrap_or_default();
                return Err(ProjectError::NoSuchService { name: n.clone(), hint });
            }
        }
        Ok(())
    }
}
