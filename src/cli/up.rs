//! `up`, `create` and `down`.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use crate::image::pull::PullPolicy;
use crate::project::build::{BuildMode, BuildOptions};
use crate::project::down::{DownOptions, RemoveImages};
use crate::project::events::Sink;
use crate::project::logs::{Line, LogOptions};
use crate::project::up::{UpOptions, UpReport};
use crate::project::{self, Engine, Target};

use super::load;
use super::logs::Printer;
use super::progress::Progress;
use super::report::{Failure, Output};
use super::GlobalArgs;

#[derive(clap::Args, Debug)]
pub struct UpArgs {
    /// Detached mode: Run containers in the background
    #[arg(short, long)]
    detach: bool,
    /// Build images before starting containers
    #[arg(long, conflicts_with = "no_build")]
    build: bool,
    /// Don't build an image, even if it's policy
    #[arg(long)]
    no_build: bool,
    /// Pull image before running ("always"|"missing"|"never")
    #[arg(long, value_parser = ["always", "missing", "never", "build"])]
    pull: Option<String>,
    /// Pull without printing progress information
    #[arg(long)]
    quiet_pull: bool,
    /// Recreate containers even if their configuration and image haven't changed
    #[arg(long, conflicts_with = "no_recreate")]
    force_recreate: bool,
    /// If containers already exist, don't recreate them
    #[arg(long)]
    no_recreate: bool,
    /// Don't start linked services
    #[arg(long)]
    no_deps: bool,
    /// Don't start the services after creating them
    #[arg(long)]
    no_start: bool,
    /// Wait for services to be running|healthy. Implies detached mode
    #[arg(long)]
    wait: bool,
    /// Maximum duration in seconds to wait for the project to be running|healthy
    #[arg(long, value_name = "SECONDS")]
    wait_timeout: Option<u64>,
    /// Stops all containers if any container was stopped. Incompatible with -d
    #[arg(long, conflicts_with = "detach")]
    abort_on_container_exit: bool,
    /// Stops all containers if any container exited with failure. Incompatible with -d
    #[arg(long, conflicts_with_all = ["detach", "abort_on_container_exit"])]
    abort_on_container_failure: bool,
    /// Return the exit code of the selected service container. Implies --abort-on-container-exit
    #[arg(long, value_name = "SERVICE", conflicts_with = "detach")]
    exit_code_from: Option<String>,
    /// Automatically attach to log output of dependent services
    #[arg(long)]
    attach_dependencies: bool,
    /// Assume "yes" as answer to all prompts and run non-interactively (rcompose asks nothing)
    #[arg(short = 'y', long)]
    yes: bool,
    /// Restrict attaching to the specified services
    #[arg(long, value_name = "SERVICE")]
    attach: Vec<String>,
    /// Do not attach (stream logs) to the specified services
    #[arg(long, value_name = "SERVICE")]
    no_attach: Vec<String>,
    /// Remove containers for services not defined in the Compose file
    #[arg(long)]
    remove_orphans: bool,
    /// Scale SERVICE to NUM instances. Overrides the `scale` setting in the Compose file if present
    #[arg(long, value_name = "SERVICE=NUM")]
    scale: Vec<String>,
    /// Use this timeout in seconds for container shutdown when attached or when containers are already running
    #[arg(short, long, value_name = "SECONDS")]
    timeout: Option<u64>,
    /// Show timestamps
    #[arg(long)]
    timestamps: bool,
    /// Don't print prefix in logs
    #[arg(long)]
    no_log_prefix: bool,
    /// Produce monochrome output
    #[arg(long)]
    no_color: bool,
    services: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct CreateArgs {
    /// Build images before starting containers
    #[arg(long)]
    build: bool,
    /// Don't build an image, even if it's policy
    #[arg(long)]
    no_build: bool,
    /// Pull image before running ("always"|"missing"|"never")
    #[arg(long, value_parser = ["always", "missing", "never", "build"])]
    pull: Option<String>,
    /// Recreate containers even if their configuration and image haven't changed
    #[arg(long, conflicts_with = "no_recreate")]
    force_recreate: bool,
    /// If containers already exist, don't recreate them
    #[arg(long)]
    no_recreate: bool,
    /// Remove containers for services not defined in the Compose file
    #[arg(long)]
    remove_orphans: bool,
    /// Scale SERVICE to NUM instances
    #[arg(long, value_name = "SERVICE=NUM")]
    scale: Vec<String>,
    services: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct DownArgs {
    /// Remove named volumes declared in the "volumes" section of the Compose file and anonymous volumes attached to containers
    #[arg(short, long)]
    volumes: bool,
    /// Remove images used by services. "local" remove only images that don't have a custom tag ("local"|"all")
    #[arg(long, value_parser = ["local", "all"])]
    rmi: Option<String>,
    /// Remove containers for services not defined in the Compose file
    #[arg(long)]
    remove_orphans: bool,
    /// Specify a shutdown timeout in seconds
    #[arg(short, long, value_name = "SECONDS")]
    timeout: Option<u64>,
    /// Services to take down, with those depending on them (default: the whole project)
    services: Vec<String>,
}

fn parse_scale(items: &[String], out: &Output) -> Result<BTreeMap<String, u32>, Failure> {
    items
        .iter()
        .map(|s| {
            let (k, v) = s
                .split_once('=')
                .ok_or_else(|| out.error(&format!("invalid --scale {s:?}: use SERVICE=NUM")))?;
            let n = v
                .parse::<u32>()
                .map_err(|_| out.error(&format!("invalid --scale {s:?}: NUM must be a non-negative integer")))?;
            Ok((k.to_string(), n))
        })
        .collect()
}

pub(super) fn pull_policy(p: &Option<String>, out: &Output) -> Result<Option<PullPolicy>, Failure> {
    match p.as_deref() {
        None | Some("build") => Ok(None),
        Some(p) => p
            .parse()
            .map(Some)
            .map_err(|e: crate::image::ImageError| out.error(&e.to_string())),
    }
}

pub(super) fn pull_options(out: &Output) -> Result<crate::image::pull::PullOptions, Failure> {
    let registry = super::image::registry_options().map_err(|e| out.error(&e.to_string()))?;
    Ok(crate::image::pull::PullOptions {
        registry,
        ..Default::default()
    })
}

fn build_mode(build: bool, no_build: bool) -> BuildMode {
    match (build, no_build) {
        (true, _) => BuildMode::Always,
        (_, true) => BuildMode::Never,
        _ => BuildMode::Missing,
    }
}

fn build_options(quiet: bool, out: &Output) -> Result<BuildOptions, Failure> {
    Ok(BuildOptions {
        quiet,
        pull_options: pull_options(out)?,
        ..BuildOptions::default()
    })
}

#[derive(clap::Args, Debug)]
pub struct ScaleArgs {
    /// Don't start linked services
    #[arg(long)]
    no_deps: bool,
    /// SERVICE=REPLICAS pairs
    #[arg(required = true, value_name = "SERVICE=REPLICAS")]
    scale: Vec<String>,
}

/// `scale`: `up -d --no-recreate --scale` of the named services, as Docker
/// Compose's scale converges them (existing replicas are kept).
pub fn scale(global: &GlobalArgs, args: ScaleArgs, out: &Output) -> Result<ExitCode, Failure> {
    let scale = parse_scale(&args.scale, out)?;
    let services: Vec<String> = scale.keys().cloned().collect();
    let target = load::target(global, &services, false, out)?;
    let engine = load::engine(out)?;
    let progress = Progress::new(global, out.color());
    let opts = UpOptions {
        build_options: build_options(false, out)?,
        services,
        no_deps: args.no_deps,
        no_recreate: true,
        scale,
        pull_options: pull_options(out)?,
        ..UpOptions::default()
    };
    project::up::up(&engine, &target, &opts, &progress).map_err(|e| load::fail(out, e))?;
    Ok(ExitCode::SUCCESS)
}

pub fn create(global: &GlobalArgs, args: CreateArgs, out: &Output) -> Result<ExitCode, Failure> {
    let target = load::target(global, &args.services, false, out)?;
    let engine = load::engine(out)?;
    let progress = Progress::new(global, out.color());
    let opts = UpOptions {
        build: build_mode(args.build, args.no_build),
        build_options: build_options(false, out)?,
        services: args.services,
        force_recreate: args.force_recreate,
        no_recreate: args.no_recreate,
        no_start: true,
        remove_orphans: args.remove_orphans,
        scale: parse_scale(&args.scale, out)?,
        pull: pull_policy(&args.pull, out)?,
        pull_options: pull_options(out)?,
        ..UpOptions::default()
    };
    project::up::up(&engine, &target, &opts, &progress).map_err(|e| load::fail(out, e))?;
    Ok(ExitCode::SUCCESS)
}

pub fn up(global: &GlobalArgs, args: UpArgs, out: &Output) -> Result<ExitCode, Failure> {
    let target = load::target(global, &args.services, false, out)?;
    let engine = load::engine(out)?;
    let progress = Progress::new(global, out.color());
    let detach = args.detach || args.wait;
    let opts = UpOptions {
        build: build_mode(args.build, args.no_build),
        build_options: build_options(args.quiet_pull, out)?,
        services: args.services.clone(),
        no_deps: args.no_deps,
        force_recreate: args.force_recreate,
        no_recreate: args.no_recreate,
        no_start: args.no_start,
        remove_orphans: args.remove_orphans,
        scale: parse_scale(&args.scale, out)?,
        pull: pull_policy(&args.pull, out)?,
        pull_options: pull_options(out)?,
        wait: args.wait,
        wait_timeout: args.wait_timeout.map(Duration::from_secs),
        timeout: args.timeout.map(Duration::from_secs),
    };
    if !detach && !args.no_start {
        install_interrupt_handler();
    }
    let quiet_pulls = super::progress::WithoutPulls(&progress);
    let sink: &dyn crate::project::events::Sink = if args.quiet_pull { &quiet_pulls } else { &progress };
    let report = project::up::up(&engine, &target, &opts, sink).map_err(|e| load::fail(out, e))?;
    if detach || args.no_start {
        return Ok(ExitCode::SUCCESS);
    }
    attached(&engine, &target, &args, &report, &progress, out)
}

static INTERRUPTS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_interrupt(_: libc::c_int) {
    INTERRUPTS.fetch_add(1, Ordering::SeqCst);
}

fn install_interrupt_handler() {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let action = SigAction::new(SigHandler::Handler(on_interrupt), SaFlags::SA_RESTART, SigSet::empty());
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only touches an atomic.
        let _ = unsafe { sigaction(sig, &action) };
    }
}

/// Attached `up`: streams the attached services' logs until every
/// container has exited, or until Ctrl-C (then stops the project
/// gracefully; a second Ctrl-C kills).
fn attached(
    engine: &Engine,
    target: &Target,
    args: &UpArgs,
    report: &UpReport,
    progress: &Progress,
    out: &Output,
) -> Result<ExitCode, Failure> {
    // As Docker Compose: --attach names them; else the services named on
    // the command line (their dependencies too with
    // --attach-dependencies), else all, less those with `attach: false`.
    let mut services: Vec<String> = if !args.attach.is_empty() {
        args.attach.clone()
    } else {
        report
            .containers
            .keys()
            .filter(|s| args.services.is_empty() || args.attach_dependencies || args.services.contains(*s))
            .filter(|s| target.project.services.get(*s).and_then(|s| s.attach) != Some(false))
            .cloned()
            .collect()
    };
    services.retain(|s| !args.no_attach.contains(s));
    let abort_on_exit = args.abort_on_container_exit || args.exit_code_from.is_some();
    let stop = AtomicBool::new(false);
    let opts = LogOptions {
        services: services.clone(),
        follow: true,
        until_exited: true,
        ..LogOptions::default()
    };
    let mut printer = Printer::new(
        &target.name,
        out.color() && !args.no_color,
        args.timestamps,
        !args.no_log_prefix,
    );
    for ids in report.containers.values() {
        for id in ids {
            printer.widen(id);
        }
    }
    let watched: Vec<String> = report.containers.values().flatten().cloned().collect();
    let mut attached_names: Vec<String> = services
        .iter()
        .filter_map(|s| report.containers.get(s))
        .flatten()
        .map(|id| printer.short(id).to_string())
        .collect();
    attached_names.sort();
    out.stdout(format!("Attaching to {}\n", attached_names.join(", ")).as_bytes())?;
    let exited_first: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            // Watches for Ctrl-C and, with --abort-on-container-exit, for
            // the first container to exit.
            while !stop.load(Ordering::Relaxed) {
                if INTERRUPTS.load(Ordering::SeqCst) > 0 {
                    stop.store(true, Ordering::Relaxed);
                    break;
                }
                if abort_on_exit || args.abort_on_container_failure {
                    for id in &watched {
                        let st = crate::supervisor::client::status(&engine.roots, id);
                        let ends = st.is_ok_and(|s| {
                            s.status == crate::runtime::Status::Exited
                                && (abort_on_exit || s.exit_code.is_some_and(|c| c != 0))
                        });
                        if ends {
                            *exited_first.lock().unwrap_or_else(|p| p.into_inner()) = Some(id.clone());
                            stop.store(true, Ordering::Relaxed);
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let mut stdout = std::io::stdout().lock();
        let mut emit = |l: &Line| {
            let text = printer.format(l);
            let _ = stdout.write_all(text.as_bytes()).and_then(|_| stdout.flush());
            true
        };
        let r = project::logs::logs(engine, target, &opts, &stop, &mut emit);
        stop.store(true, Ordering::Relaxed);
        r
    })
    .map_err(|e| load::fail(out, e))?;

    let interrupted = INTERRUPTS.load(Ordering::SeqCst) > 0;
    let aborted = exited_first.lock().unwrap_or_else(|p| p.into_inner()).is_some();
    if interrupted || abort_on_exit || aborted {
        if interrupted {
            eprintln!("Gracefully stopping... (press Ctrl+C again to force)");
        } else if let Some(id) = exited_first.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            eprintln!("{id} exited");
            eprintln!("Aborting on container exit...");
        }
        stop_attached(engine, target, args, &watched, progress, out)?;
    }
    if let Some(service) = &args.exit_code_from {
        let code = report
            .containers
            .get(service)
            .and_then(|ids| ids.first())
            .and_then(|id| crate::supervisor::client::status(&engine.roots, id).ok())
            .and_then(|s| s.exit_code)
            .unwrap_or(0);
        return Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)));
    }
    Ok(if interrupted {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    })
}

fn stop_attached(
    engine: &Engine,
    target: &Target,
    args: &UpArgs,
    watched: &[String],
    progress: &Progress,
    out: &Output,
) -> Result<(), Failure> {
    let done = AtomicBool::new(false);
    let before = INTERRUPTS.load(Ordering::SeqCst);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            // A second Ctrl-C while stopping: kill everything now.
            while !done.load(Ordering::Relaxed) {
                if INTERRUPTS.load(Ordering::SeqCst) > before {
                    for id in watched {
                        let _ = crate::supervisor::client::signal(&engine.roots, id, "SIGKILL");
                    }
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let r = project::lifecycle::stop(engine, target, &[], args.timeout.map(Duration::from_secs), progress);
        done.store(true, Ordering::Relaxed);
        r
    })
    .map_err(|e| load::fail(out, e))
}

pub fn down(global: &GlobalArgs, args: DownArgs, out: &Output) -> Result<ExitCode, Failure> {
    let target = load::target(global, &args.services, true, out)?;
    let engine = load::engine(out)?;
    let progress = Progress::new(global, out.color());
    let opts = DownOptions {
        services: args.services.clone(),
        volumes: args.volumes,
        remove_orphans: args.remove_orphans,
        timeout: args.timeout.map(Duration::from_secs),
        rmi: match args.rmi.as_deref() {
            Some("local") => Some(RemoveImages::Local),
            Some("all") => Some(RemoveImages::All),
            _ => None,
        },
    };
    project::down::down(&engine, &target, &opts, &progress).map_err(|e| load::fail(out, e))?;
    let _: &dyn Sink = &progress;
    Ok(ExitCode::SUCCESS)
}
