//! The project's containers as they are on disk, found through their
//! labels (the state files are the truth; supervisors are asked for the
//! live state when they run).

use std::collections::BTreeMap;

use crate::runtime::{ContainerSpec, ContainerState, Status};
use crate::supervisor::client;

use super::engine::Engine;
use super::error::Result;
use super::labels;

/// One container of a project.
#[derive(Debug, Clone)]
pub struct Existing {
    /// Engine id, which is also the container name.
    pub id: String,
    pub project: String,
    pub service: String,
    pub number: u32,
    pub oneoff: bool,
    pub config_hash: String,
    pub spec: ContainerSpec,
    pub state: ContainerState,
}

impl Existing {
    pub fn running(&self) -> bool {
        matches!(self.state.status, Status::Running | Status::Restarting)
    }

    /// Running under a live supervisor: an orphan of a dead one runs but
    /// needs starting again (see `supervisor::client`).
    pub fn supervised_running(&self) -> bool {
        self.running() && !self.state.unsupervised
    }

    pub fn label(&self, key: &str) -> Option<&str> {
        self.spec.labels.get(key).map(String::as_str)
    }
}

/// Every container of every project, by project name.
pub fn all(engine: &Engine) -> Result<BTreeMap<String, Vec<Existing>>> {
    let mut out: BTreeMap<String, Vec<Existing>> = BTreeMap::new();
    for id in container_ids(engine) {
        if let Some(e) = read(engine, &id) {
            out.entry(e.project.clone()).or_default().push(e);
        }
    }
    for list in out.values_mut() {
        sort(list);
    }
    Ok(out)
}

/// The containers of `project`, by service then number.
pub fn list(engine: &Engine, project: &str) -> Result<Vec<Existing>> {
    let mut found: Vec<Existing> = container_ids(engine)
        .into_iter()
        .filter_map(|id| read(engine, &id))
        .filter(|e| e.project == project)
        .collect();
    sort(&mut found);
    Ok(found)
}

/// Container directories with no readable spec: left by a process killed
/// in the middle of creating them. Their names are all we know.
pub fn incomplete(engine: &Engine) -> Vec<String> {
    container_ids(engine)
        .into_iter()
        .filter(|id| engine.roots.container(id).read_spec().is_err())
        .collect()
}

fn sort(list: &mut [Existing]) {
    list.sort_by(|a, b| (&a.service, a.oneoff, a.number, &a.id).cmp(&(&b.service, b.oneoff, b.number, &b.id)));
}

fn container_ids(engine: &Engine) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(engine.roots.containers()) else {
        return Vec::new();
    };
    let mut ids: Vec<String> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    ids.sort();
    ids
}

fn read(engine: &Engine, id: &str) -> Option<Existing> {
    let paths = engine.roots.container(id);
    let spec = paths.read_spec().ok()?;
    let project = spec.labels.get(labels::PROJECT)?.clone();
    let state = client::status(&engine.roots, id)
        .ok()
        .or_else(|| paths.read_state().ok())
        .unwrap_or_else(|| ContainerState::new(id));
    Some(Existing {
        id: id.to_string(),
        project,
        service: spec.labels.get(labels::SERVICE).cloned().unwrap_or_default(),
        number: spec
            .labels
            .get(labels::NUMBER)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0),
        oneoff: spec.labels.get(labels::ONEOFF).is_some_and(|v| v == "True"),
        config_hash: spec.labels.get(labels::CONFIG_HASH).cloned().unwrap_or_default(),
        spec,
        state,
    })
}
