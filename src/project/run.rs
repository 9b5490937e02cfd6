//! `run`: a one-off container of a service, with its command and
//! environment overridden, its dependencies started first.

use super::container;
use super::engine::Engine;
use super::error::{ProjectError, Result};
use super::events::Sink;
use super::hash::config_hash;
use super::images;
use super::lock::project_lock;
use super::networks;
use super::translate::Instance;
use super::up::{self, UpOptions};
use super::Target;

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub service: String,
    /// Replaces the service's command (empty: keep it).
    pub command: Vec<String>,
    pub entrypoint: Option<Vec<String>>,
    /// `KEY=VALUE` (or `KEY`, taken from our environment).
    pub env: Vec<String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub name: Option<String>,
    pub no_deps: bool,
    /// Publish the service's ports (off by default, as in Compose).
    pub service_ports: bool,
    /// `-i` (attached runs): the container reads what the caller writes to
    /// [`Started::stdin`], until it closes it.
    pub interactive: bool,
    /// `-d` with Docker Compose's default `-i`: the one-off's input stays
    /// open though nothing writes to it (`run -d svc cat` keeps running).
    pub keep_stdin_open: bool,
    pub up: UpOptions,
}

/// A started one-off.
#[derive(Debug)]
pub struct Started {
    pub name: String,
    /// With `interactive`: the container's standard input.
    pub stdin: Option<std::fs::File>,
}

/// Creates and starts the one-off container.
pub fn run(engine: &Engine, target: &Target, opts: &RunOptions, sink: &dyn Sink) -> Result<Started> {
    target.check_services(std::slice::from_ref(&opts.service))?;
    let base = &target.project.services[&opts.service];
    if !opts.no_deps {
        let deps: Vec<String> = crate::compose::graph::dependencies(base)
            .into_iter()
            .filter(|d| target.project.services.contains_key(*d))
            .map(str::to_string)
            .collect();
        if !deps.is_empty() {
            let up_opts = UpOptions {
                services: deps,
                ..opts.up.clone()
            };
            up::up(engine, target, &up_opts, sink)?;
        }
    }
    let _lock = project_lock(engine, &target.name)?;
    // As `docker compose run`: the service's networks and volumes are made
    // when missing, with or without its dependencies.
    up::create_networks_and_volumes(engine, target, &[opts.service.clone()].into(), sink)?;
    let mut service = base.clone();
    if opts.keep_stdin_open {
        service.stdin_open = Some(true);
    }
    if !opts.command.is_empty() {
        service.command = Some(opts.command.clone());
    }
    if opts.entrypoint.is_some() {
        service.entrypoint = opts.entrypoint.clone();
    }
    for e in &opts.env {
        let (k, v) = match e.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (e.clone(), std::env::var(e).ok()),
        };
        service.environment.insert(k, v);
    }
    if opts.user.is_some() {
        service.user = opts.user.clone();
    }
    if opts.workdir.is_some() {
        service.working_dir = opts.workdir.clone();
    }
    if !opts.service_ports {
        service.ports.clear();
    }
    // A one-off runs once: no restarts, no fixed name shared with the service.
    service.restart = None;
    service.container_name = None;
    if let Some(d) = service.deploy.as_mut() {
        d.restart_policy = None;
    }

    super::build::ensure_built(
        engine,
        target,
        &opts.service,
        opts.up.build,
        &opts.up.build_options,
        sink,
    )?;
    let image_name = images::image_name(&target.name, &opts.service, &service);
    let policy = images::policy(&opts.service, &service, opts.up.pull)?;
    if service.build.is_none() {
        images::ensure(
            engine,
            &opts.service,
            &image_name,
            policy,
            false,
            &opts.up.pull_options,
            sink,
        )?;
    }
    let image = images::resolve(engine, &image_name)?;
    let name = match &opts.name {
        Some(n) => n.clone(),
        None => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            let tag = format!("{:x}", nanos ^ ((std::process::id() as u128) << 64));
            let tag: String = tag.chars().rev().take(12).collect();
            format!("{}-{}-run-{tag}", target.name, opts.service)
        }
    };
    if engine.roots.container(&name).dir.exists() {
        return Err(ProjectError::Other(format!(
            "a container named {name} already exists; choose another --name or remove it"
        )));
    }
    let hash = config_hash(&service);
    let lookup = |_: &str| -> Option<String> { None };
    let mode = networks::mode(&target.project, &target.name, &opts.service, &service, &lookup)?;
    let cx = target.context();
    let inst = Instance {
        service_name: &opts.service,
        service: &service,
        number: 1,
        container_name: name.clone(),
        oneoff: true,
        image_name: &image_name,
        image: &image,
        config_hash: &hash,
        netns: networks::netns_for(engine, &name, &mode),
        on_networks: matches!(&mode, networks::Mode::Networks(l) if !l.is_empty()),
        attach_stdin: opts.interactive,
    };
    container::create(engine, &cx, &inst, &mode)?;
    let started = if opts.interactive {
        // Held until our end of its input is open: otherwise its first read
        // could find no writer yet and take that for the end of input.
        container::create_held(engine, &name)
            .and_then(|()| open_stdin(engine, &name))
            .and_then(|stdin| container::release(engine, &name).map(|()| Some(stdin)))
    } else {
        container::start(engine, &name).map(|()| None)
    };
    match started {
        Ok(stdin) => Ok(Started { name, stdin }),
        Err(e) => {
            let _ = container::remove(engine, &name);
            Err(e)
        }
    }
}

/// The writing end of a held one-off's stdin FIFO (its reader is open).
fn open_stdin(engine: &Engine, name: &str) -> Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = engine.roots.container(name).stdin_fifo();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(&path)
        .map_err(|e| ProjectError::Other(format!("opening the input of {name} ({}): {e}", path.display())))?;
    nix::fcntl::fcntl(&file, nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::empty()))
        .map_err(|e| ProjectError::Other(format!("input of {name}: {e}")))?;
    Ok(file)
}
