//! `down`: stop and remove the project's containers (dependents first),
//! then its networks, and with `-v` its volumes. Keeps going past errors
//! and reports them all at the end, so that whatever a killed `up` left
//! behind is cleaned up in one go.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::compose::graph;

use super::container;
use super::engine::Engine;
use super::error::{ProjectError, Result};
use super::events::{Kind, Sink, Step};
use super::inventory::{self, Existing};
use super::lock::project_lock;
use super::networks;
use super::volumes;
use super::Target;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoveImages {
    /// Images with no custom tag (those Compose named `<project>-<service>`).
    Local,
    All,
}

#[derive(Debug, Clone, Default)]
pub struct DownOptions {
    /// `down SERVICE...`: those services and the ones depending on them;
    /// the project's networks and named volumes stay while any container
    /// is left. Empty: the whole project.
    pub services: Vec<String>,
    pub volumes: bool,
    pub remove_orphans: bool,
    pub timeout: Option<Duration>,
    pub rmi: Option<RemoveImages>,
}

/// Stops containers level by level (dependents first), in parallel within a level.
pub fn stop_in_order(
    engine: &Engine,
    target: &Target,
    containers: &[&Existing],
    grace: Option<Duration>,
    sink: &dyn Sink,
) {
    let levels = graph::stop_levels(&target.project).unwrap_or_default();
    let mut level_of: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, l) in levels.iter().enumerate() {
        for s in l {
            level_of.insert(s.as_str(), i);
        }
    }
    // Orphans and one-offs first: nothing in the file depends on them.
    let mut groups: BTreeMap<usize, Vec<&Existing>> = BTreeMap::new();
    for c in containers.iter() {
        let l = if c.oneoff {
            0
        } else {
            level_of.get(c.service.as_str()).map(|l| l + 1).unwrap_or(0)
        };
        groups.entry(l).or_default().push(c);
    }
    for (_, group) in groups {
        std::thread::scope(|scope| {
            for c in group {
                scope.spawn(move || {
                    let step = Step::begin(sink, Kind::Container, &c.id, "Stopping");
                    if !c.running() {
                        // Docker Compose reports a stopped container as
                        // stopped again (the daemon's stop is a no-op).
                        step.end("Stopped");
                        return;
                    }
                    let pre_stop = target.project.services.get(&c.service).map(|s| &s.pre_stop);
                    if let Some(hooks) = pre_stop.filter(|h| !h.is_empty() && !c.oneoff) {
                        if let Err(e) = super::hooks::run(target, &c.service, c.number, hooks, "pre_stop") {
                            sink.warning(&format!("{}: {e}", c.id));
                        }
                    }
                    match container::stop(engine, &c.id, grace) {
                        Ok(()) => step.end("Stopped"),
                        Err(e) => {
                            step.fail("Error");
                            sink.warning(&format!("{}: {e}", c.id));
                        }
                    }
                });
            }
        });
    }
}

/// Removes containers in parallel; returns the errors.
pub fn remove_all(engine: &Engine, containers: &[&Existing], sink: &dyn Sink) -> Vec<ProjectError> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = containers
            .iter()
            .map(|c| {
                scope.spawn(move || {
                    let step = Step::begin(sink, Kind::Container, &c.id, "Removing");
                    let r = container::remove(engine, &c.id);
                    match &r {
                        Ok(()) => step.end("Removed"),
                        Err(_) => step.fail("Error"),
                    }
                    r
                })
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().ok().and_then(|r| r.err()))
            .collect()
    })
}

pub fn down(engine: &Engine, target: &Target, opts: &DownOptions, sink: &dyn Sink) -> Result<()> {
    let _lock = project_lock(engine, &target.name)?;
    // A build killed halfway (`up --build`, `build`) leaves its step
    // container and scratch mounts; they are nobody's but a dead process's.
    crate::build::clean_stale(&engine.roots, &engine.build_cache());
    let all = inventory::list(engine, &target.name)?;
    // Without a Compose file (`down -p NAME`), every container of the
    // project is ours: there is nothing to call an orphan against.
    let by_name = target.project.services.is_empty();
    let (ours, orphans): (Vec<&Existing>, Vec<&Existing>) = all
        .iter()
        .partition(|c| by_name || c.oneoff || target.project.services.contains_key(&c.service));
    let remove_orphans = opts.remove_orphans || target.env_flag("COMPOSE_REMOVE_ORPHANS");
    if !orphans.is_empty() && !remove_orphans && !target.env_flag("COMPOSE_IGNORE_ORPHANS") {
        let names: Vec<&str> = orphans.iter().map(|o| o.id.as_str()).collect();
        sink.warning(&format!(
            "Found orphan containers ({}) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.",
            names.join(", ")
        ));
    }
    let selected: Option<Vec<String>> = if opts.services.is_empty() {
        None
    } else {
        target.check_services(&opts.services)?;
        Some(graph::with_dependents(&target.project, &opts.services))
    };
    let mut targets: Vec<&Existing> = match &selected {
        Some(sel) => ours
            .into_iter()
            .filter(|c| !c.oneoff && sel.contains(&c.service))
            .collect(),
        None => ours,
    };
    if remove_orphans {
        targets.extend(orphans);
    }
    // The networks the containers were on: with `-p NAME` alone, the only
    // record of which networks the project made.
    let mut joined: Vec<String> = targets
        .iter()
        .filter(|_| by_name)
        .flat_map(|c| container::connected_networks(engine, &c.id))
        .collect();
    stop_in_order(engine, target, &targets, opts.timeout, sink);
    let mut problems = remove_all(engine, &targets, sink);
    if selected.is_some() {
        if opts.volumes {
            // The removed containers' anonymous volumes; named ones belong
            // to the project, which still runs.
            for c in &targets {
                for v in super::lifecycle::anonymous_volumes(c) {
                    let _ = engine.volumes.remove(&v, &[]);
                }
            }
        }
        if !inventory::list(engine, &target.name)?.is_empty() {
            return match problems.into_iter().next() {
                Some(e) => Err(e),
                None => Ok(()),
            };
        }
    }

    // Directories a killed `up` left before writing the spec: only the
    // names of this project's containers are recognized.
    for id in inventory::incomplete(engine) {
        let ours = target.project.services.iter().any(|(name, s)| {
            s.container_name.as_deref() == Some(id.as_str())
                || id
                    .strip_prefix(&format!("{}-{name}-", target.name))
                    .is_some_and(|n| n.parse::<u32>().is_ok())
        });
        if ours {
            if let Err(e) = container::remove(engine, &id) {
                problems.push(e);
            }
        }
    }

    // Every declared network (`--all-resources` may have made unused
    // ones); one whose driver rcompose cannot make was never made.
    let mut names: Vec<String> = networks::specs(&target.project, &target.name, true)
        .or_else(|_| networks::specs(&target.project, &target.name, false))?
        .into_iter()
        .filter(|(_, s)| !s.external)
        .map(|(_, s)| s.name)
        .collect();
    joined.retain(|n| !names.contains(n));
    joined.sort();
    joined.dedup();
    names.extend(joined);
    problems.extend(networks::remove_all(engine, &names, sink));
    if opts.volumes {
        let declared = volumes::declared(&target.project, &target.name);
        problems.extend(volumes::remove_project_volumes(engine, &target.name, &declared, sink));
    }
    if let Some(which) = opts.rmi {
        for (name, s) in &target.project.services {
            let image = super::images::image_name(&target.name, name, s);
            if which == RemoveImages::Local && s.image.is_some() {
                continue;
            }
            if engine.images.find(&image).map(|f| f.is_empty()).unwrap_or(true) {
                continue;
            }
            let step = Step::begin(sink, Kind::Image, &image, "Removing");
            match crate::image::ops::remove(&engine.images, &image, false) {
                Ok(_) => step.end("Removed"),
                Err(e) => {
                    step.fail("Error");
                    problems.push(e.into());
                }
            }
        }
    }
    match problems.into_iter().next() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
