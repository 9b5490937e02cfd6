//! `run`: a one-off container, attached (its output streamed, its exit
//! code returned) or detached.

use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use crate::project;
use crate::project::logs::{Line, LogOptions};
use crate::project::run::RunOptions;
use crate::project::up::UpOptions;

use super::load;
use super::progress::Progress;
use super::report::{Failure, Output};
use super::GlobalArgs;

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Build image before starting container
    #[arg(long)]
    build: bool,
    /// Pull image before running ("always"|"missing"|"never")
    #[arg(long, value_parser = ["always", "missing", "never"])]
    pull: Option<String>,
    /// Pull without printing progress information
    #[arg(long)]
    quiet_pull: bool,
    /// Run container in background and print container ID
    #[arg(short, long)]
    detach: bool,
    /// Automatically remove the container when it exits
    #[arg(long)]
    rm: bool,
    /// Set environment variables
    #[arg(short, long)]
    env: Vec<String>,
    /// Run as specified username or uid
    #[arg(short, long)]
    user: Option<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    workdir: Option<String>,
    /// Override the entrypoint of the image
    #[arg(long)]
    entrypoint: Option<String>,
    /// Publish a container's port(s) to the host
    #[arg(short, long)]
    publish: Vec<String>,
    /// Run command with all service's ports enabled and mapped to the host
    #[arg(long)]
    service_ports: bool,
    /// Don't start linked services
    #[arg(long)]
    no_deps: bool,
    /// Assign a name to the container
    #[arg(long)]
    name: Option<String>,
    /// Disable pseudo-TTY allocation (output is never a TTY yet)
    #[arg(short = 'T', long = "no-TTY")]
    no_tty: bool,
    /// Keep STDIN open (the default: an attached run reads the caller's standard input until it ends)
    #[arg(short, long)]
    interactive: bool,
    service: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

pub fn run(global: &GlobalArgs, args: RunArgs, out: &Output) -> Result<ExitCode, Failure> {
    let mut target = load::target(global, std::slice::from_ref(&args.service), false, out)?;
    let engine = load::engine(out)?;
    let progress = Progress::new(global, out.color());
    if !args.publish.is_empty() {
        let svc = target
            .project
            .services
            .get_mut(&args.service)
            .ok_or_else(|| out.error(&format!("no such service: {}", args.service)))?;
        // As Docker Compose: --publish replaces the service's ports.
        svc.ports.clear();
        for p in &args.publish {
            let long = crate::compose::normalize::parse_port(p)
                .map_err(|e| out.error(&format!("invalid --publish {p:?}: {e}")))?;
            for l in long {
                svc.ports.push(crate::compose::model::Port {
                    host_ip: l.host_ip,
                    target: l.target,
                    published: l.published,
                    protocol: Some(l.protocol),
                    ..Default::default()
                });
            }
        }
    }
    let opts = RunOptions {
        service: args.service.clone(),
        command: args.command.clone(),
        entrypoint: args
            .entrypoint
            .as_deref()
            .map(|e| crate::compose::normalize::split_shell_words(e).unwrap_or_else(|_| vec![e.to_string()])),
        env: args.env.clone(),
        user: args.user.clone(),
        workdir: args.workdir.clone(),
        name: args.name.clone(),
        no_deps: args.no_deps,
        service_ports: args.service_ports || !args.publish.is_empty(),
        // As Docker Compose: -i is the default; a detached run reads nothing
        // but its input stays open.
        interactive: !args.detach,
        keep_stdin_open: args.detach,
        up: UpOptions {
            build: if args.build {
                crate::project::build::BuildMode::Always
            } else {
                crate::project::build::BuildMode::Missing
            },
            build_options: crate::project::build::BuildOptions {
                quiet: args.quiet_pull,
                pull_options: super::up::pull_options(out)?,
                ..Default::default()
            },
            pull: super::up::pull_policy(&args.pull, out)?,
            pull_options: super::up::pull_options(out)?,
            ..UpOptions::default()
        },
    };
    let quiet_pulls = super::progress::WithoutPulls(&progress);
    let sink: &dyn crate::project::events::Sink = if args.quiet_pull { &quiet_pulls } else { &progress };
    let started = match project::run::run(&engine, &target, &opts, sink) {
        Ok(started) => started,
        Err(e) => {
            let message = e.to_string();
            let failure = out.error(&message);
            return match cannot_run_code(&message) {
                Some(code) => Ok(ExitCode::from(code)),
                None => Err(failure),
            };
        }
    };
    let name = started.name;
    if let Some(mut input) = started.stdin {
        // Ends with our input (the container then reads end-of-file), or
        // when the container is gone (the write fails): either way, quietly.
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut std::io::stdin().lock(), &mut input);
        });
    }
    if args.detach {
        out.stdout(format!("{name}\n").as_bytes())?;
        return Ok(ExitCode::SUCCESS);
    }
    let log_opts = LogOptions {
        follow: true,
        until_exited: true,
        oneoff: true,
        container: Some(name.clone()),
        services: vec![args.service.clone()],
        ..LogOptions::default()
    };
    let stop = AtomicBool::new(false);
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr();
    let mut emit = |l: &Line| {
        let r = if l.stderr {
            stderr.write_all(l.text.as_bytes())
        } else {
            stdout.write_all(l.text.as_bytes()).and_then(|_| stdout.flush())
        };
        r.is_ok()
    };
    project::logs::logs(&engine, &target, &log_opts, &stop, &mut emit).map_err(|e| load::fail(out, e))?;
    let code = crate::supervisor::client::status(&engine.roots, &name)
        .ok()
        .and_then(|s| s.exit_code)
        .unwrap_or(0);
    if args.rm {
        project::container::remove(&engine, &name).map_err(|e| load::fail(out, e))?;
    }
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
}

/// Docker's exit code for a one-off whose command could not be run (the
/// runtime's `exec: "x": …`): 127 when it is not found, 126 otherwise.
fn cannot_run_code(message: &str) -> Option<u8> {
    let at = message.find("exec: \"")?;
    let rest = &message[at..];
    Some(if rest.contains("not found") || rest.contains("no such file") {
        127
    } else {
        126
    })
}

#[cfg(test)]
mod tests {
    use super::cannot_run_code;

    #[test]
    fn commands_that_cannot_run_exit_as_in_docker() {
        let missing = r#"container x: exec: "flask": executable file not found in $PATH (/bin)"#;
        assert_eq!(cannot_run_code(missing), Some(127));
        assert_eq!(
            cannot_run_code(r#"container x: exec: "/a": permission denied"#),
            Some(126)
        );
        assert_eq!(cannot_run_code("port 80 is already in use"), None);
    }
}
