//! `start`, `stop`, `restart`, `kill` and `rm` on existing containers.

use std::time::Duration;

use crate::compose::graph;
use crate::runtime::{MountSpec, Status};
use crate::supervisor::client;

use super::container;
use super::down::{remove_all, stop_in_order};
use super::engine::Engine;
use super::error::{ProjectError, Result};
use super::events::{Kind, Sink, Step};
use super::inventory::{self, Existing};
use super::lock::project_lock;
use super::Target;

/// The project's non-one-off containers of the named services; when none
/// are named, of the services the loaded files define (`-f one.yaml stop`
/// leaves the other files' services alone, as Docker Compose), or all of
/// them when the project is known by name only.
pub fn containers_of(engine: &Engine, target: &Target, services: &[String]) -> Result<Vec<Existing>> {
    target.check_services(services)?;
    let by_name = target.project.services.is_empty();
    Ok(inventory::list(engine, &target.name)?
        .into_iter()
        .filter(|c| !c.oneoff)
        .filter(|c| {
            if services.is_empty() {
                by_name || target.project.services.contains_key(&c.service)
            } else {
                services.contains(&c.service)
            }
        })
        .collect())
}

pub fn start(engine: &Engine, target: &Target, services: &[String], sink: &dyn Sink) -> Result<()> {
    let _lock = project_lock(engine, &target.name)?;
    target.check_services(services)?;
    // As Docker Compose: a named service's dependencies start too (first).
    let services = if services.is_empty() {
        Vec::new()
    } else {
        let mut all = graph::with_dependencies(&target.project, services);
        // (a dependency left out by its profile is not this project's)
        all.retain(|s| target.project.services.contains_key(s));
        all
    };
    let found = containers_of(engine, target, &services)?;
    if found.is_empty() {
        return Err(ProjectError::Other(
            "no containers to start; create them with `rcompose up` or `rcompose create`".into(),
        ));
    }
    let levels = graph::start_levels(&target.project).unwrap_or_default();
    for level in levels {
        let group: Vec<&Existing> = found
            .iter()
            .filter(|c| level.contains(&c.service) && !c.supervised_running())
            .collect();
        let errors: Vec<ProjectError> = std::thread::scope(|scope| {
            let hs: Vec<_> = group
                .iter()
                .map(|c| {
                    scope.spawn(move || {
                        let step = Step::begin(sink, Kind::Container, &c.id, "Starting");
                        let r = container::start(engine, &c.id);
                        match &r {
                            Ok(()) => step.end("Started"),
                            Err(_) => step.fail("Error"),
                        }
                        r?;
                        match target.project.services.get(&c.service) {
                            Some(s) if !s.post_start.is_empty() => {
                                super::hooks::run(target, &c.service, c.number, &s.post_start, "post_start")
                            }
                            _ => Ok(()),
                        }
                    })
                })
                .collect();
            hs.into_iter()
                .filter_map(|h| h.join().ok().and_then(|r| r.err()))
                .collect()
        });
        if let Some(e) = errors.into_iter().next() {
            return Err(e);
        }
    }
    Ok(())
}

pub fn stop(
    engine: &Engine,
    target: &Target,
    services: &[String],
    grace: Option<Duration>,
    sink: &dyn Sink,
) -> Result<()> {
    let _lock = project_lock(engine, &target.name)?;
    let found = containers_of(engine, target, services)?;
    let refs: Vec<&Existing> = found.iter().collect();
    stop_in_order(engine, target, &refs, grace, sink);
    Ok(())
}

pub fn restart(
    engine: &Engine,
    target: &Target,
    services: &[String],
    grace: Option<Duration>,
    sink: &dyn Sink,
) -> Result<()> {
    {
        let _lock = project_lock(engine, &target.name)?;
        let found = containers_of(engine, target, services)?;
        let refs: Vec<&Existing> = found.iter().collect();
        stop_in_order(engine, target, &refs, grace, sink);
    }
    start(engine, target, services, sink)
}

pub fn kill(engine: &Engine, target: &Target, services: &[String], signal: &str, sink: &dyn Sink) -> Result<()> {
    let found = containers_of(engine, target, services)?;
    let mut first = None;
    for c in found.iter().filter(|c| c.running()) {
        let step = Step::begin(sink, Kind::Container, &c.id, "Killing");
        match client::signal(&engine.roots, &c.id, signal) {
            Ok(()) => step.end("Killed"),
            Err(e) => {
                step.fail("Error");
                first.get_or_insert(ProjectError::from(e));
            }
        }
    }
    match first {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// `pause` (`frozen`) and `unpause` of the services' running containers.
pub fn pause(engine: &Engine, target: &Target, services: &[String], frozen: bool, sink: &dyn Sink) -> Result<()> {
    let found = containers_of(engine, target, services)?;
    let (doing, done) = if frozen {
        ("Pausing", "Paused")
    } else {
        ("Unpausing", "Unpaused")
    };
    let mut first = None;
    for c in found.iter().filter(|c| c.running()) {
        let step = Step::begin(sink, Kind::Container, &c.id, doing);
        if c.state.paused == frozen {
            // Docker's daemon refuses these, and Docker Compose fails with it.
            step.fail("Error");
            let already = if frozen { "is already paused" } else { "is not paused" };
            first.get_or_insert(ProjectError::Other(format!("Container {} {already}", c.id)));
            continue;
        }
        match client::pause(&engine.roots, &c.id, frozen) {
            Ok(()) => step.end(done),
            Err(e) => {
                step.fail("Error");
                first.get_or_insert(ProjectError::from(e));
            }
        }
    }
    match first {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// `rm`: removes stopped containers (running ones too with `stop_first`);
/// `volumes` also removes their anonymous volumes. Returns what was removed.
pub fn rm(
    engine: &Engine,
    target: &Target,
    services: &[String],
    stop_first: bool,
    volumes: bool,
    confirm: &dyn Fn(&[String]) -> bool,
    sink: &dyn Sink,
) -> Result<Vec<String>> {
    let _lock = project_lock(engine, &target.name)?;
    let mut found: Vec<Existing> = inventory::list(engine, &target.name)?
        .into_iter()
        .filter(|c| services.is_empty() || services.contains(&c.service))
        .collect();
    target.check_services(services)?;
    if stop_first {
        let refs: Vec<&Existing> = found.iter().filter(|c| c.running()).collect();
        stop_in_order(engine, target, &refs, None, sink);
        found = inventory::list(engine, &target.name)?
            .into_iter()
            .filter(|c| services.is_empty() || services.contains(&c.service))
            .collect();
    }
    let stopped: Vec<&Existing> = found.iter().filter(|c| !c.running()).collect();
    let names: Vec<String> = stopped.iter().map(|c| c.id.clone()).collect();
    if names.is_empty() || !confirm(&names) {
        return Ok(Vec::new());
    }
    let anonymous: Vec<String> = stopped.iter().flat_map(|c| anonymous_volumes(c)).collect();
    let problems = remove_all(engine, &stopped, sink);
    if volumes {
        for v in anonymous {
            let _ = engine.volumes.remove(&v, &[]);
        }
    }
    match problems.into_iter().next() {
        Some(e) => Err(e),
        None => Ok(names),
    }
}

/// Blocks until every container of the services has stopped, or, with
/// `first`, until one has. Returns (container, exit code) in the order they
/// stopped.
pub fn wait_stopped(engine: &Engine, target: &Target, services: &[String], first: bool) -> Result<Vec<(String, i32)>> {
    let mut pending: Vec<String> = containers_of(engine, target, services)?
        .into_iter()
        .map(|c| c.id)
        .collect();
    let mut done = Vec::new();
    while !pending.is_empty() {
        let mut still = Vec::new();
        for id in pending {
            let st = client::status(&engine.roots, &id)?;
            match st.status {
                Status::Exited | Status::Created => done.push((id, st.exit_code.unwrap_or(0))),
                _ => still.push(id),
            }
        }
        pending = still;
        if first && !done.is_empty() {
            break;
        }
        if !pending.is_empty() {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    Ok(done)
}

/// The anonymous volumes a container mounts (named by 64 hex digits).
pub fn anonymous_volumes(c: &Existing) -> Vec<String> {
    c.spec
        .mounts
        .iter()
        .filter_map(|m| match m {
            MountSpec::Volume { source, .. } => source.parent()?.file_name().map(|n| n.to_string_lossy().into_owned()),
            _ => None,
        })
        .filter(|n| n.len() == 64 && n.bytes().all(|b| b.is_ascii_hexdigit()))
        .collect()
}
