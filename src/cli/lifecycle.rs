//! `start`, `stop`, `restart`, `kill` and `rm`.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use crate::project::lifecycle;

use super::load;
use super::progress::Progress;
use super::report::{Failure, Output};
use super::GlobalArgs;

#[derive(clap::Args, Debug)]
pub struct ServicesArgs {
    services: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct StopArgs {
    /// Specify a shutdown timeout in seconds
    #[arg(short, long, value_name = "SECONDS")]
    timeout: Option<u64>,
    services: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct KillArgs {
    /// SIGNAL to send to the container
    #[arg(short, long, default_value = "SIGKILL")]
    signal: String,
    /// Remove containers for services not defined in the Compose file
    #[arg(long)]
    remove_orphans: bool,
    services: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct RmArgs {
    /// Don't ask to confirm removal
    #[arg(short, long)]
    force: bool,
    /// Stop the containers, if required, before removing
    #[arg(short, long)]
    stop: bool,
    /// Remove any anonymous volumes attached to containers
    #[arg(short, long)]
    volumes: bool,
    services: Vec<String>,
}

pub fn start(global: &GlobalArgs, args: ServicesArgs, out: &Output) -> Result<ExitCode, Failure> {
    let target = load::target(global, &args.services, false, out)?;
    let engine = load::engine(out)?;
    let progress = Progress::new(global, out.color());
    lifecycle::start(&engine, &target, &args.services, &progress).map_err(|e| load::fail(out, e))?;
    Ok(ExitCode::SUCCESS)
}

pub fn stop(global: &GlobalArgs, args: StopArgs, out: &Output) -> Result<ExitCode, Failure> {
    let target = load::target(global, &args.services, true, out)?;
    let engine = load::engine(out)?;
    let progress = Progress::new(global, out.color());
    lifecycle::stop(
        &engine,
        &target,
        &args.services,
        args.timeout.map(Duration::from_secs),
        &progress,
    )
    .map_err(|e| load::fail(out, e))?;
    Ok(ExitCode::SUCCESS)
}

pub fn restart(global: &GlobalArgs, args: StopArgs, out: &Output) -> Result<ExitCode, Failure> {
    let target = load::target(global, &args.services, false, out)?;
    let engine = load::engine(out)?;
    let progress = Progress::new(global, out.color());
    lifecycle::restart(
        &engine,
        &target,
        &args.services,
        args.timeout.map(Duration::from_secs),
        &progress,
    )
    .map_err(|e| load::fail(out, e))?;
    Ok(ExitCode::SUCCESS)
}

pub fn kill(global: &GlobalArgs, args: KillArgs, out: &Output) -> Result<ExitCode, Failure> {
    let target = load::target(global, &args.services, true, out)?;
    let engine = load::engine(out)?;
    let progress = Progress::new(global, out.color());
    lifecycle::kill(&engine, &target, &args.services, &args.signal, &progress).map_err(|e| load::fail(out, e))?;
    Ok(ExitCode::SUCCESS)
}

pub fn rm(global: &GlobalArgs, args: RmArgs, out: &Output) -> Result<ExitCode, Failure> {
    let target = load::target(global, &args.services, true, out)?;
    let engine = load::engine(out)?;
    let progress = Progress::new(global, out.color());
    let force = args.force;
    let confirm = |names: &[String]| {
        if force || !std::io::stdin().is_terminal() {
            return true;
        }
        eprint!("Going to remove {}\n? Are you sure? [y/N] ", names.join(", "));
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        matches!(answer.trim(), "y" | "Y" | "yes")
    };
    let removed = lifecycle::rm(
        &engine,
        &target,
        &args.services,
        args.stop,
        args.volumes,
        &confirm,
        &progress,
    )
    .map_err(|e| load::fail(out, e))?;
    if removed.is_empty() {
        eprintln!("No stopped containers");
    }
    Ok(ExitCode::SUCCESS)
}

pub fn pause(global: &GlobalArgs, args: ServicesArgs, out: &Output, frozen: bool) -> Result<ExitCode, Failure> {
    let target = load::target(global, &args.services, false, out)?;
    let engine = load::engine(out)?;
    let progress = Progress::new(global, out.color());
    lifecycle::pause(&engine, &target, &args.services, frozen, &progress).map_err(|e| load::fail(out, e))?;
    Ok(ExitCode::SUCCESS)
}
