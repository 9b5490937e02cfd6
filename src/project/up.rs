//! `up` (and `create`): converge the project to its file. Images and
//! networks first, then every service on its own thread, each starting as
//! soon as its `depends_on` conditions hold, so independent services start
//! in parallel.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::compose::graph;
use crate::image::pull::{PullOptions, PullPolicy};

use super::build::{self, BuildMode, BuildOptions};
use super::container;
use super::engine::Engine;
use super::error::{ProjectError, Result};
use super::events::{self, Kind, Sink, Step};
use super::hash::config_hash;
use super::images::{self, Resolved};
use super::inventory::{self, Existing};
use super::lock::project_lock;
use super::networks::{self, Mode};
use super::plan::{self, Action, Flags, Found, Wanted};
use super::translate::{self, Instance};
use super::volumes;
use super::wait::{self, Condition};
use super::Target;

#[derive(Debug, Clone, Default)]
pub struct UpOptions {
    /// Services named on the command line (empty: all).
    pub services: Vec<String>,
    pub no_deps: bool,
    pub force_recreate: bool,
    pub no_recreate: bool,
    /// `create`, `up --no-start`: create but don't start.
    pub no_start: bool,
    pub remove_orphans: bool,
    /// `--scale SERVICE=N`.
    pub scale: BTreeMap<String, u32>,
    /// `--pull`: overrides every service's `pull_policy`.
    pub pull: Option<PullPolicy>,
    pub pull_options: PullOptions,
    /// `--wait`: return once running and healthy.
    pub wait: bool,
    pub wait_timeout: Option<Duration>,
    /// Grace period for containers stopped to be recreated or removed.
    pub timeout: Option<Duration>,
    /// `--build` / `--no-build`.
    pub build: BuildMode,
    pub build_options: BuildOptions,
}

/// What `up` left running, for attached mode.
#[derive(Debug, Clone, Default)]
pub struct UpReport {
    /// service → its containers, in number order.
    pub containers: BTreeMap<String, Vec<String>>,
}

/// The services to act on: those named (plus their dependencies unless
/// `no_deps`), or all.
pub fn selection(target: &Target, names: &[String], no_deps: bool) -> Result<BTreeSet<String>> {
    target.check_services(names)?;
    if names.is_empty() {
        return Ok(target.project.services.keys().cloned().collect());
    }
    let mut set: BTreeSet<String> = BTreeSet::new();
    let mut todo: Vec<String> = names.to_vec();
    while let Some(n) = todo.pop() {
        if !set.insert(n.clone()) || no_deps {
            continue;
        }
        if let Some(s) = target.project.services.get(&n) {
            for d in graph::dependencies(s) {
                if target.project.services.contains_key(d) {
                    todo.push(d.to_string());
                }
            }
        }
    }
    Ok(set)
}

#[derive(Debug, Clone)]
enum Outcome {
    Pending,
    Done { ids: Vec<String>, changed: bool },
    Failed(String),
}

/// Where service threads publish how they ended, for their dependents.
struct Board {
    outcomes: Mutex<HashMap<String, Outcome>>,
    changed: Condvar,
}

impl Board {
    fn set(&self, service: &str, o: Outcome) {
        let mut g = self.outcomes.lock().unwrap_or_else(|p| p.into_inner());
        g.insert(service.to_string(), o);
        self.changed.notify_all();
    }

    fn wait(&self, service: &str) -> Outcome {
        let mut g = self.outcomes.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            match g.get(service) {
                Some(Outcome::Pending) => {}
                Some(o) => return o.clone(),
                None => {
                    return Outcome::Done {
                        ids: vec![],
                        changed: false,
                    }
                }
            }
            g = self.changed.wait(g).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// Creates the networks and volumes `services` use, when missing.
pub(crate) fn create_networks_and_volumes(
    engine: &Engine,
    target: &Target,
    services: &BTreeSet<String>,
    sink: &dyn Sink,
) -> Result<()> {
    let project = &target.project;
    let specs: Vec<_> = networks::specs(project, &target.name, target.all_resources)?
        .into_iter()
        .filter(|(key, _)| {
            target.all_resources
                || services.iter().any(|s| {
                    project.services[s].network_mode.is_none() && project.services[s].networks.contains_key(key)
                })
        })
        .collect();
    networks::create_all(engine, &specs, sink)?;
    let declared = volumes::declared(project, &target.name);
    let mut used_volumes: Vec<String> = services
        .iter()
        .flat_map(|s| project.services[s].volumes.iter())
        .filter(|v| v.kind == "volume")
        .filter_map(|v| v.source.clone())
        .collect();
    if target.all_resources {
        used_volumes.extend(declared.iter().map(|d| d.key.clone()));
    }
    volumes::create_used(engine, &declared, &used_volumes, sink)
}

pub fn up(engine: &Engine, target: &Target, opts: &UpOptions, sink: &dyn Sink) -> Result<UpReport> {
    let _lock = project_lock(engine, &target.name)?;
    let project = &target.project;
    let selected = selection(target, &opts.services, opts.no_deps)?;
    for s in opts.scale.keys() {
        target.check_services(std::slice::from_ref(s))?;
    }

    // Images: build what must be (one at a time: a build step forks the
    // process), then pull what is missing, a few at a time, before anything
    // is created.
    for name in &selected {
        build::ensure_built(engine, target, name, opts.build, &opts.build_options, sink)?;
    }
    let mut by_image: BTreeMap<String, (String, PullPolicy, bool)> = BTreeMap::new();
    for name in &selected {
        let s = &project.services[name];
        if s.build.is_some() {
            // Built above, or already there.
            continue;
        }
        let image = images::image_name(&target.name, name, s);
        let policy = images::policy(name, s, opts.pull)?;
        let entry = by_image
            .entry(image)
            .or_insert((name.clone(), policy, s.build.is_some()));
        if policy == PullPolicy::Always {
            entry.1 = PullPolicy::Always;
        }
    }
    let pulls: Vec<Result<()>> = std::thread::scope(|scope| {
        let handles: Vec<_> = by_image
            .iter()
            .map(|(image, (service, policy, build))| {
                scope.spawn(move || images::ensure(engine, service, image, *policy, *build, &opts.pull_options, sink))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(ProjectError::Other("an image pull panicked".into())))
            })
            .collect()
    });
    for r in pulls {
        r?;
    }
    let mut resolved: HashMap<String, Resolved> = HashMap::new();
    for name in &selected {
        let image = images::image_name(&target.name, name, &project.services[name]);
        if let std::collections::hash_map::Entry::Vacant(slot) = resolved.entry(image) {
            let r = images::resolve(engine, slot.key())?;
            slot.insert(r);
        }
    }

    // What exists, and what to do about it.
    let existing: Vec<Existing> = inventory::list(engine, &target.name)?
        .into_iter()
        .filter(|e| !e.oneoff)
        .collect();
    let found: Vec<Found> = existing
        .iter()
        .map(|e| Found {
            id: e.id.clone(),
            service: e.service.clone(),
            number: e.number,
            config_hash: e.config_hash.clone(),
            image_id: e.label(super::labels::IMAGE).unwrap_or_default().to_string(),
            running: e.supervised_running(),
        })
        .collect();
    let all_services: BTreeSet<String> = project.services.keys().cloned().collect();
    let orphans = plan::orphans(&all_services, &found);
    let remove_orphans = opts.remove_orphans || target.env_flag("COMPOSE_REMOVE_ORPHANS");
    if !orphans.is_empty() && !remove_orphans && !target.env_flag("COMPOSE_IGNORE_ORPHANS") {
        let names: Vec<&str> = orphans.iter().map(|o| o.id.as_str()).collect();
        sink.warning(&format!(
            "Found orphan containers ({}) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.",
            names.join(", ")
        ));
    }
    let mut wanted: BTreeMap<String, Wanted> = BTreeMap::new();
    let mut hashes: HashMap<String, String> = HashMap::new();
    for name in &selected {
        let s = &project.services[name];
        let h = config_hash(s);
        let image = images::image_name(&target.name, name, s);
        wanted.insert(
            name.clone(),
            Wanted {
                replicas: opts.scale.get(name).copied().unwrap_or_else(|| translate::replicas(s)),
                config_hash: h.clone(),
                image_id: resolved[&image].id.clone(),
            },
        );
        hashes.insert(name.clone(), h);
    }
    let actions = plan::plan(
        &wanted,
        &found,
        Flags {
            force_recreate: opts.force_recreate,
            no_recreate: opts.no_recreate,
        },
    );

    create_networks_and_volumes(engine, target, &selected, sink)?;

    if remove_orphans {
        for o in &orphans {
            let step = Step::begin(sink, Kind::Container, &o.id, "Removing");
            match container::remove(engine, &o.id) {
                Ok(()) => step.end("Removed"),
                Err(e) => {
                    step.fail("Error");
                    return Err(e);
                }
            }
        }
    }

    // Services, each on its own thread, gated by its dependencies. Fresh
    // huge pages for each thread's allocations cost more than they give.
    crate::runtime::thp::disable_for_this_process();
    let board = Board {
        outcomes: Mutex::new(selected.iter().map(|s| (s.clone(), Outcome::Pending)).collect()),
        changed: Condvar::new(),
    };
    let cx = target.context();
    let results: Vec<(String, Result<()>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = selected
            .iter()
            .map(|name| {
                let board = &board;
                let actions = &actions[name];
                let resolved = &resolved;
                let hashes = &hashes;
                let cx = &cx;
                let existing = &existing;
                scope.spawn(move || {
                    let r = converge_service(
                        engine,
                        target,
                        cx,
                        name,
                        actions,
                        resolved,
                        &hashes[name],
                        existing,
                        board,
                        opts,
                        sink,
                    );
                    match &r {
                        Ok(o) => board.set(name, o.clone()),
                        Err(e) => board.set(name, Outcome::Failed(e.to_string())),
                    }
                    (name.clone(), r.map(|_| ()))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    (
                        String::new(),
                        Err(ProjectError::Other("a service thread panicked".into())),
                    )
                })
            })
            .collect()
    });
    let mut report = UpReport::default();
    let mut first_err = None;
    for (name, r) in results {
        if let Err(e) = r {
            first_err.get_or_insert(e);
            continue;
        }
        if let Some(Outcome::Done { ids, .. }) = board.outcomes.lock().unwrap_or_else(|p| p.into_inner()).get(&name) {
            report.containers.insert(name.clone(), ids.clone());
        }
    }
    if let Some(e) = first_err {
        return Err(e);
    }
    if opts.wait && !opts.no_start {
        let ids: Vec<String> = report.containers.values().flatten().cloned().collect();
        // Services others wait for as completed are one-shots: waiting for
        // them to run would never end.
        let one_shots: BTreeSet<String> = report
            .containers
            .iter()
            .filter(|(name, _)| {
                project.services.values().any(|s| {
                    s.depends_on
                        .get(name.as_str())
                        .is_some_and(|d| d.condition == "service_completed_successfully")
                })
            })
            .flat_map(|(_, ids)| ids.iter().cloned())
            .collect();
        let deadline = opts.wait_timeout.map(|t| Instant::now() + t);
        wait::ready(engine, &ids, &one_shots, deadline)?;
        for id in &ids {
            let status = if one_shots.contains(id) { "Exited" } else { "Healthy" };
            events::done(sink, Kind::Container, id, status);
        }
    }
    Ok(report)
}

/// Waits for the service's dependencies, then applies its actions.
#[allow(clippy::too_many_arguments)]
fn converge_service(
    engine: &Engine,
    target: &Target,
    cx: &translate::ProjectContext,
    name: &str,
    actions: &[Action],
    resolved: &HashMap<String, Resolved>,
    hash: &str,
    existing: &[Existing],
    board: &Board,
    opts: &UpOptions,
    sink: &dyn Sink,
) -> Result<Outcome> {
    let service = &target.project.services[name];
    let image_name = images::image_name(&target.name, name, service);
    let image = &resolved[&image_name];
    let lookup = |svc: &str| -> Option<String> {
        existing
            .iter()
            .find(|e| e.service == svc)
            .map(|e| e.id.clone())
            .or_else(|| {
                target
                    .project
                    .services
                    .get(svc)
                    .map(|s| translate::container_name(&target.name, svc, s, 1))
            })
    };
    let mode: Mode = networks::mode(&target.project, &target.name, name, service, &lookup)?;

    // New containers are created, their process included, before the
    // dependencies are waited for: only the final exec stays on the
    // dependency chain. Not when sharing another container's namespace,
    // which may not exist yet.
    let mut held: Vec<String> = Vec::new();
    if !opts.no_start && !matches!(mode, Mode::Shared(_)) {
        for action in actions {
            if let Action::Create { number } = action {
                let cname = translate::container_name(&target.name, name, service, *number);
                let created = in_step(sink, &cname, ("Creating", "Created"), || {
                    create_one(engine, cx, name, service, *number, &image_name, image, hash, &mode)?;
                    container::create_held(engine, &cname)
                });
                if let Err(e) = created {
                    cancel_held(engine, &held);
                    return Err(e);
                }
                held.push(cname);
            }
        }
    }

    let mut restart_for_dep = false;
    if !opts.no_start {
        for (dep, d) in &service.depends_on {
            let outcome = board.wait(dep);
            let cond = Condition::parse(&d.condition).unwrap_or(Condition::Started);
            let check = match outcome {
                Outcome::Failed(msg) => Err(ProjectError::Dependency {
                    message: format!("service {dep}: {msg}"),
                }),
                Outcome::Done { ids, changed } => {
                    restart_for_dep |= changed && d.restart;
                    wait_showing(engine, sink, &ids, cond)
                }
                Outcome::Pending => Ok(()),
            };
            match check {
                Ok(()) => {}
                Err(e) if !d.required => {
                    sink.warning(&format!("optional dependency {dep} of {name} is not ready: {e}"));
                }
                Err(e) => {
                    cancel_held(engine, &held);
                    return Err(e);
                }
            }
        }
    }

    let mut ids = Vec::new();
    let mut changed = false;
    // (container, number) started here: their post_start hooks run last.
    let mut started: Vec<(String, u32)> = Vec::new();
    for action in actions {
        match action {
            Action::Remove { id } => {
                let step = Step::begin(sink, Kind::Container, id, "Stopping");
                let _ = container::stop(engine, id, opts.timeout);
                step.end("Stopped");
                let step = Step::begin(sink, Kind::Container, id, "Removing");
                container::remove(engine, id)?;
                step.end("Removed");
            }
            Action::Keep { id, running, number } => {
                ids.push(id.clone());
                if opts.no_start {
                    continue;
                }
                if *running && restart_for_dep {
                    let step = Step::begin(sink, Kind::Container, id, "Restarting");
                    container::stop(engine, id, opts.timeout)?;
                    container::start(engine, id)?;
                    step.end("Started");
                    started.push((id.clone(), *number));
                } else if *running {
                    events::done(sink, Kind::Container, id, "Running");
                } else {
                    let step = Step::begin(sink, Kind::Container, id, "Starting");
                    container::start(engine, id)?;
                    step.end("Started");
                    started.push((id.clone(), *number));
                }
            }
            Action::Recreate { id, number } => {
                let step = Step::begin(sink, Kind::Container, id, "Recreate");
                let _ = container::stop(engine, id, opts.timeout);
                container::remove(engine, id)?;
                let new_id = create_one(engine, cx, name, service, *number, &image_name, image, hash, &mode)?;
                step.end("Recreated");
                changed = true;
                if !opts.no_start {
                    let step = Step::begin(sink, Kind::Container, &new_id, "Starting");
                    container::start(engine, &new_id)?;
                    step.end("Started");
                    started.push((new_id.clone(), *number));
                }
                ids.push(new_id);
            }
            Action::Create { number } => {
                let cname = translate::container_name(&target.name, name, service, *number);
                if held.contains(&cname) {
                    held.retain(|h| h != &cname);
                    let released = in_step(sink, &cname, ("Starting", "Started"), || {
                        container::release(engine, &cname)
                    });
                    if let Err(e) = released {
                        cancel_held(engine, &held);
                        return Err(e);
                    }
                    changed = true;
                    started.push((cname.clone(), *number));
                    ids.push(cname);
                    continue;
                }
                in_step(sink, &cname, ("Creating", "Created"), || {
                    create_one(engine, cx, name, service, *number, &image_name, image, hash, &mode)
                })?;
                changed = true;
                if !opts.no_start {
                    in_step(sink, &cname, ("Starting", "Started"), || {
                        container::start(engine, &cname)
                    })?;
                    started.push((cname.clone(), *number));
                }
                ids.push(cname);
            }
        }
    }
    if !service.post_start.is_empty() {
        for (_, number) in &started {
            super::hooks::run(target, name, *number, &service.post_start, "post_start")?;
        }
    }
    Ok(Outcome::Done { ids, changed })
}

/// Runs `f` as one progress step of container `id`: `doing`, then `done`
/// or `Error`.
/// Waits for a dependency's containers as Docker Compose shows it: each
/// one `Waiting`, then `Healthy` or `Exited` (or `Error`). A plain
/// `service_started` has nothing to wait for and shows nothing.
fn wait_showing(engine: &Engine, sink: &dyn Sink, ids: &[String], cond: Condition) -> Result<()> {
    let reached = match cond {
        Condition::Started => return Ok(()),
        Condition::Healthy => "Healthy",
        Condition::CompletedSuccessfully => "Exited",
    };
    let steps: Vec<Step> = ids
        .iter()
        .map(|id| Step::begin(sink, Kind::Container, id, "Waiting"))
        .collect();
    let r = wait::until(engine, ids, cond, None);
    for step in steps {
        match r {
            Ok(()) => step.end(reached),
            Err(_) => step.fail("Error"),
        }
    }
    r
}

fn in_step<T>(sink: &dyn Sink, id: &str, (doing, done): (&str, &str), f: impl FnOnce() -> Result<T>) -> Result<T> {
    let step = Step::begin(sink, Kind::Container, id, doing);
    match f() {
        Ok(v) => {
            step.end(done);
            Ok(v)
        }
        Err(e) => {
            step.fail("Error");
            Err(e)
        }
    }
}

/// Gives up containers still held (a dependency or a sibling failed): they
/// stay `created`.
fn cancel_held(engine: &Engine, held: &[String]) {
    for id in held {
        let _ = container::stop(engine, id, Some(Duration::ZERO));
    }
}

#[allow(clippy::too_many_arguments)]
fn create_one(
    engine: &Engine,
    cx: &translate::ProjectContext,
    name: &str,
    service: &crate::compose::model::Service,
    number: u32,
    image_name: &str,
    image: &Resolved,
    hash: &str,
    mode: &Mode,
) -> Result<String> {
    let container_name = translate::container_name(cx.name, name, service, number);
    let inst = Instance {
        service_name: name,
        service,
        number,
        container_name: container_name.clone(),
        oneoff: false,
        image_name,
        image,
        config_hash: hash,
        netns: networks::netns_for(engine, &container_name, mode),
        on_networks: matches!(mode, Mode::Networks(l) if !l.is_empty()),
        attach_stdin: false,
    };
    container::create(engine, cx, &inst, mode)?;
    Ok(container_name)
}
