//! Services' `build:` sections into images: what the builder is asked for,
//! and when (`rcompose build`, `up --build`, an image that is missing).

use std::collections::BTreeMap;
use std::fs::File;
use std::os::fd::AsFd;

use crate::build::{BuildNetwork, BuildRequest, Builder};
use crate::compose::model::Service;
use crate::image::pull::PullOptions;
use crate::image::Reference;

use super::engine::Engine;
use super::error::{ProjectError, Result};
use super::events::{Kind, Sink, Step};
use super::images;
use super::Target;

/// When `up`, `create` and `run` build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BuildMode {
    /// When the image is missing, or `pull_policy: build` says always.
    #[default]
    Missing,
    /// `--build`: every service with a `build:` section.
    Always,
    /// `--no-build`: never; a missing image is an error.
    Never,
}

#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    pub no_cache: bool,
    /// Pull base images even when present.
    pub pull: bool,
    /// No step lines and no RUN output.
    pub quiet: bool,
    /// `--build-arg`: over the services' `args`.
    pub args: BTreeMap<String, String>,
    pub pull_options: PullOptions,
}

/// `rcompose build`: the named services (all with `build:` when none).
pub fn build_services(
    engine: &Engine,
    target: &Target,
    services: &[String],
    opts: &BuildOptions,
    sink: &dyn Sink,
) -> Result<()> {
    target.check_services(services)?;
    for (name, s) in &target.project.services {
        if s.build.is_some() && (services.is_empty() || services.contains(name)) {
            build_service(engine, target, name, opts, sink)?;
        }
    }
    Ok(())
}

/// Builds the service's image when `mode` says so; returns whether it did.
pub fn ensure_built(
    engine: &Engine,
    target: &Target,
    name: &str,
    mode: BuildMode,
    opts: &BuildOptions,
    sink: &dyn Sink,
) -> Result<bool> {
    let service = &target.project.services[name];
    if service.build.is_none() {
        return Ok(false);
    }
    let image = images::image_name(&target.name, name, service);
    let present = !engine.images.find(&image)?.is_empty();
    let always = service.pull_policy.as_deref() == Some("build");
    let wanted = match mode {
        BuildMode::Always => true,
        BuildMode::Missing => always || !present,
        BuildMode::Never if present => false,
        BuildMode::Never => {
            return Err(ProjectError::service(
                name,
                format!("image {image} is not built; run `rcompose build {name}`, or drop --no-build"),
            ))
        }
    };
    if wanted {
        build_service(engine, target, name, opts, sink)?;
    }
    Ok(wanted)
}

fn build_service(engine: &Engine, target: &Target, name: &str, opts: &BuildOptions, sink: &dyn Sink) -> Result<()> {
    let service = &target.project.services[name];
    let req = request(target, name, service, opts)?;
    let image = images::image_name(&target.name, name, service);
    let step = Step::begin(sink, Kind::Image, &image, "Building");
    let stderr = if opts.quiet {
        None
    } else {
        std::io::stderr().as_fd().try_clone_to_owned().ok().map(File::from)
    };
    let quiet = opts.quiet;
    let progress = |line: &str| {
        if !quiet {
            eprintln!("[{name}] {line}");
        }
    };
    let builder = Builder {
        store: &engine.images,
        roots: &engine.roots,
        cache_dir: engine.build_cache(),
        pull_options: opts.pull_options.clone(),
        progress: &progress,
        run_output: stderr.as_ref(),
    };
    match builder.build(&req) {
        Ok(_) => {
            step.end("Built");
            Ok(())
        }
        Err(e) => {
            step.fail("Error");
            Err(ProjectError::service(name, format!("building {image}: {e}")))
        }
    }
}

/// The builder's request for a service: Compose's `build:` fields, the
/// image's names, `--build-arg` over `args` (an argument without a value
/// takes it from the environment, or is left out).
pub fn request(target: &Target, name: &str, service: &Service, opts: &BuildOptions) -> Result<BuildRequest> {
    let b = service.build.as_ref().expect("a service with build:");
    let bad = |what: &str| {
        ProjectError::service(
            name,
            format!("build.{what} is not supported by rcompose's builder yet; remove it from the service"),
        )
    };
    if !b.ssh.is_empty() {
        return Err(bad("ssh"));
    }
    if !b.secrets.is_empty() {
        return Err(bad("secrets"));
    }
    if !b.additional_contexts.is_empty() {
        return Err(bad("additional_contexts"));
    }
    if !b.entitlements.is_empty() || b.privileged == Some(true) {
        return Err(bad("privileged/entitlements"));
    }
    if !b.extra_hosts.is_empty() {
        return Err(bad("extra_hosts"));
    }
    if !b.ulimits.is_empty() || b.shm_size.is_some() {
        return Err(bad("ulimits/shm_size"));
    }
    let host = crate::image::manifest::Platform::host();
    if b.platforms.iter().any(|p| {
        crate::image::manifest::Platform::parse(p)
            .map(|p| !p.matches(&host))
            .unwrap_or(true)
    }) {
        return Err(bad("platforms (other than this host's)"));
    }
    let context = std::path::PathBuf::from(b.context.as_deref().unwrap_or("."));
    if b.context.as_deref().is_some_and(|c| c.contains("://")) {
        return Err(ProjectError::service(
            name,
            "a build context from a URL is not supported; clone it and give its directory",
        ));
    }
    let context = if context.is_absolute() {
        context
    } else {
        target.working_dir.join(context)
    };
    let dockerfile = context.join(b.dockerfile.as_deref().unwrap_or("Dockerfile"));
    let mut args = BTreeMap::new();
    for (k, v) in &b.args {
        if let Some(v) = v.clone().or_else(|| std::env::var(k).ok()) {
            args.insert(k.clone(), v);
        }
    }
    args.extend(opts.args.clone());
    let network = match b.network.as_deref() {
        None | Some("default") | Some("host") => BuildNetwork::Host,
        Some("none") => BuildNetwork::None,
        Some(other) => {
            return Err(ProjectError::service(
                name,
                format!("build.network {other:?} is not supported: use host or none"),
            ))
        }
    };
    let mut tags = Vec::new();
    for t in std::iter::once(images::image_name(&target.name, name, service)).chain(b.tags.iter().cloned()) {
        tags.push(Reference::parse(&t).map_err(|e| ProjectError::service(name, format!("image name {t:?}: {e}")))?);
    }
    Ok(BuildRequest {
        context,
        dockerfile,
        dockerfile_inline: b.dockerfile_inline.clone(),
        args,
        target: b.target.clone(),
        labels: b.labels.clone(),
        tags,
        no_cache: opts.no_cache || b.no_cache == Some(true),
        pull: opts.pull || b.pull == Some(true),
        network,
    })
}
