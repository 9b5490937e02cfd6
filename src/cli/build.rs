//! `build`: the services' images from their `build:` sections.

use std::collections::BTreeMap;
use std::process::ExitCode;

use crate::project::build::{self, BuildOptions};

use super::load;
use super::progress::Progress;
use super::report::{Failure, Output};
use super::GlobalArgs;

#[derive(clap::Args, Debug)]
pub struct BuildArgs {
    /// Do not use cache when building the image
    #[arg(long)]
    no_cache: bool,
    /// Always attempt to pull a newer version of the image
    #[arg(long)]
    pull: bool,
    /// Don't print anything to STDOUT
    #[arg(short, long)]
    quiet: bool,
    /// Set build-time variables for services (KEY=VALUE, or KEY to take it from the environment)
    #[arg(long, value_name = "KEY=VALUE")]
    build_arg: Vec<String>,
    /// Also build dependencies (transitively)
    #[arg(long)]
    with_dependencies: bool,
    /// Set type of progress output (as the global --progress; Docker Compose accepts it here too)
    #[arg(long, value_parser = ["auto", "tty", "plain", "json", "quiet"])]
    progress: Option<String>,
    services: Vec<String>,
}

/// `--build-arg` values; a bare `KEY` takes the caller's environment and is
/// left out when unset, as Docker Compose does.
pub fn build_args(items: &[String]) -> BTreeMap<String, String> {
    items
        .iter()
        .filter_map(|item| match item.split_once('=') {
            Some((k, v)) => Some((k.to_string(), v.to_string())),
            None => std::env::var(item).ok().map(|v| (item.clone(), v)),
        })
        .collect()
}

pub fn build(global: &GlobalArgs, args: BuildArgs, out: &Output) -> Result<ExitCode, Failure> {
    let target = load::target(global, &args.services, false, out)?;
    let engine = load::engine(out)?;
    let mut global = global.clone();
    if let Some(p) = &args.progress {
        global.progress = p.clone();
    }
    let progress = Progress::new(&global, out.color());
    let mut services = args.services.clone();
    if args.with_dependencies && !services.is_empty() {
        target.check_services(&services).map_err(|e| load::fail(out, e))?;
        services = crate::compose::graph::with_dependencies(&target.project, &services);
    }
    let opts = BuildOptions {
        no_cache: args.no_cache,
        pull: args.pull,
        quiet: args.quiet,
        args: build_args(&args.build_arg),
        pull_options: super::up::pull_options(out)?,
    };
    build::build_services(&engine, &target, &services, &opts, &progress).map_err(|e| load::fail(out, e))?;
    Ok(ExitCode::SUCCESS)
}
