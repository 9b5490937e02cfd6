//! The project's named volumes: created before the containers that mount
//! them, removed by `down -v` (never external ones).

use std::collections::BTreeMap;

use crate::compose::model::Project;

use super::engine::Engine;
use super::error::{ProjectError, Result};
use super::events::{Kind, Sink, Step};
use super::labels;

/// A declared volume in engine terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declared {
    pub key: String,
    pub name: String,
    pub external: bool,
    pub labels: BTreeMap<String, String>,
}

/// The top-level volumes, with their engine names and labels.
pub fn declared(project: &Project, project_name: &str) -> Vec<Declared> {
    project
        .volumes
        .iter()
        .map(|(key, v)| {
            let external = v.external == Some(true);
            let mut l = v.labels.clone();
            if !external {
                l.insert(labels::PROJECT.into(), project_name.into());
                l.insert(labels::VOLUME.into(), key.clone());
            }
            Declared {
                key: key.clone(),
                name: v.name.clone().unwrap_or_else(|| format!("{project_name}_{key}")),
                external,
                labels: l,
            }
        })
        .collect()
}

/// Creates the declared volumes that `used` (keys) names; external ones
/// must exist.
pub fn create_used(engine: &Engine, declared: &[Declared], used: &[String], sink: &dyn Sink) -> Result<()> {
    for d in declared.iter().filter(|d| used.contains(&d.key)) {
        let exists = engine.volumes.get(&d.name)?.is_some();
        if d.external {
            if !exists {
                return Err(ProjectError::Other(format!(
                    "external volume {:?} not found; create it with `rcompose volume create {}`",
                    d.name, d.name
                )));
            }
            continue;
        }
        if exists {
            continue;
        }
        let step = Step::begin(sink, Kind::Volume, &d.name, "Creating");
        match engine.volumes.create(&d.name, d.labels.clone()) {
            Ok(_) => step.end("Created"),
            Err(e) => {
                step.fail("Error");
                return Err(e.into());
            }
        }
    }
    Ok(())
}

/// Removes the project's volumes: declared non-external ones, and the
/// anonymous ones its containers had (labelled with the project, no key).
pub fn remove_project_volumes(
    engine: &Engine,
    project_name: &str,
    declared: &[Declared],
    sink: &dyn Sink,
) -> Vec<ProjectError> {
    let mut problems = Vec::new();
    let mut names: Vec<String> = declared
        .iter()
        .filter(|d| !d.external)
        .map(|d| d.name.clone())
        .collect();
    match engine.volumes.list() {
        Ok(all) => {
            for v in all {
                let ours = v.labels.get(labels::PROJECT).map(String::as_str) == Some(project_name);
                if ours && !v.labels.contains_key(labels::VOLUME) {
                    names.push(v.name);
                }
            }
        }
        Err(e) => problems.push(e.into()),
    }
    for name in names {
        match engine.volumes.get(&name) {
            Ok(Some(_)) => {
                let step = Step::begin(sink, Kind::Volume, &name, "Removing");
                match engine.volumes.remove(&name, &[]) {
                    Ok(()) => step.end("Removed"),
                    Err(e) => {
                        step.fail("Error");
                        problems.push(e.into());
                    }
                }
            }
            Ok(None) => {}
            Err(e) => problems.push(e.into()),
        }
    }
    problems
}
