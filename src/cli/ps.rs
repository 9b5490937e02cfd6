//! `ps`, `ls` and `port`: what is running, as tables or JSON.

use std::process::ExitCode;

use crate::project::ps::{self, Row};

use super::load;
use super::report::{Failure, Output};
use super::GlobalArgs;

#[derive(clap::Args, Debug)]
pub struct PsArgs {
    /// Show all stopped containers (including those created by the run command)
    #[arg(short, long)]
    all: bool,
    /// Only display IDs
    #[arg(short, long)]
    quiet: bool,
    /// Display services
    #[arg(long)]
    services: bool,
    /// Filter services by status. Values: [paused | restarting | removing | running | dead | created | exited]
    #[arg(long)]
    status: Vec<String>,
    /// Filter services by a property (supported filters: status)
    #[arg(long)]
    filter: Option<String>,
    /// Format the output. Values: [table | json]
    #[arg(long, default_value = "table")]
    format: String,
    #[arg(value_name = "SERVICE")]
    service_names: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct LsArgs {
    /// Show all stopped Compose projects
    #[arg(short, long)]
    all: bool,
    /// Only display project names
    #[arg(short, long)]
    quiet: bool,
    /// Format the output. Values: [table | json]
    #[arg(long, default_value = "table")]
    format: String,
}

#[derive(clap::Args, Debug)]
pub struct PortArgs {
    /// tcp or udp
    #[arg(long, default_value = "tcp")]
    protocol: String,
    /// Index of the container if service has multiple replicas
    #[arg(long, default_value_t = 1)]
    index: u32,
    service: String,
    private_port: u16,
}

/// Left-aligned columns separated by three spaces, as Docker prints them.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}   ", w = widths[i]));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(header.to_vec());
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

fn ports_text(r: &Row) -> String {
    r.ports
        .iter()
        .map(|p| format!("{}->{}/{}", p.host, p.target, p.protocol))
        .chain(r.exposed.iter().cloned())
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn run_ps(global: &GlobalArgs, args: PsArgs, out: &Output) -> Result<ExitCode, Failure> {
    let target = load::target(global, &[], true, out)?;
    let engine = load::engine(out)?;
    let mut statuses = args.status.clone();
    if let Some(f) = &args.filter {
        match f.split_once('=') {
            Some(("status", v)) => statuses.push(v.to_string()),
            _ => return Err(out.error(&format!("invalid --filter {f:?}: only status=<state> is supported"))),
        }
    }
    let all = args.all || !statuses.is_empty();
    let mut rows = ps::rows(&engine, &target, &args.service_names, all).map_err(|e| load::fail(out, e))?;
    if !statuses.is_empty() {
        rows.retain(|r| statuses.contains(&r.state));
    }
    let text = if args.services {
        let mut names: Vec<String> = rows.iter().map(|r| r.service.clone()).collect();
        names.dedup();
        names.into_iter().map(|n| n + "\n").collect()
    } else if args.quiet {
        rows.iter().map(|r| format!("{}\n", r.id)).collect()
    } else if args.format == "json" {
        rows.iter()
            .map(|r| {
                format!(
                    "{}\n",
                    serde_json::json!({
                        "ID": r.id, "Name": r.name, "Image": r.image, "Command": r.command.trim_matches('"'),
                        "Project": r.project, "Service": r.service, "Created": r.created.timestamp(),
                        "State": r.state, "Status": r.status, "Health": r.health, "ExitCode": r.exit_code,
                        "Publishers": r.ports.iter().map(|p| serde_json::json!({
                            "URL": p.host.ip().to_string(), "TargetPort": p.target,
                            "PublishedPort": p.host.port(), "Protocol": p.protocol,
                        })).chain(r.exposed.iter().map(|e| {
                            let (port, proto) = e.split_once('/').unwrap_or((e, "tcp"));
                            serde_json::json!({
                                "URL": "", "TargetPort": port.parse::<u16>().unwrap_or(0),
                                "PublishedPort": 0, "Protocol": proto,
                            })
                        })).collect::<Vec<_>>(),
                    })
                )
            })
            .collect()
    } else if args.format == "table" {
        let now = chrono::Utc::now();
        let body: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                vec![
                    r.name.clone(),
                    r.image.clone(),
                    r.command.clone(),
                    r.service.clone(),
                    format!("{} ago", ps::human_duration(now - r.created)),
                    r.status.clone(),
                    ports_text(r),
                ]
            })
            .collect();
        table(
            &["NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS"],
            &body,
        )
    } else {
        return Err(out.error(&format!("invalid --format {:?}: use table or json", args.format)));
    };
    out.stdout(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

pub fn run_ls(_global: &GlobalArgs, args: LsArgs, out: &Output) -> Result<ExitCode, Failure> {
    let engine = load::engine(out)?;
    let projects = ps::projects(&engine, args.all).map_err(|e| load::fail(out, e))?;
    let text = if args.quiet {
        projects.iter().map(|(n, _, _)| format!("{n}\n")).collect()
    } else if args.format == "json" {
        let list: Vec<_> = projects
            .iter()
            .map(|(n, s, f)| serde_json::json!({"Name": n, "Status": s, "ConfigFiles": f.join(",")}))
            .collect();
        format!("{}\n", serde_json::Value::Array(list))
    } else {
        let body: Vec<Vec<String>> = projects
            .iter()
            .map(|(n, s, f)| vec![n.clone(), s.clone(), f.join(",")])
            .collect();
        table(&["NAME", "STATUS", "CONFIG FILES"], &body)
    };
    out.stdout(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

pub fn run_port(global: &GlobalArgs, args: PortArgs, out: &Output) -> Result<ExitCode, Failure> {
    let target = load::target(global, &[], true, out)?;
    let engine = load::engine(out)?;
    let rows =
        ps::rows(&engine, &target, std::slice::from_ref(&args.service), false).map_err(|e| load::fail(out, e))?;
    let row = rows
        .iter()
        .find(|r| r.number == args.index)
        .ok_or_else(|| out.error(&format!("service \"{}\" is not running", args.service)))?;
    let p = row
        .ports
        .iter()
        .find(|p| p.target == args.private_port && p.protocol == args.protocol)
        .ok_or_else(|| {
            out.error(&format!(
                "no port {}/{} published for service \"{}\"",
                args.private_port, args.protocol, args.service
            ))
        })?;
    out.stdout(format!("{}\n", p.host).as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args, Debug)]
pub struct TopArgs {
    services: Vec<String>,
}

pub fn run_top(global: &GlobalArgs, args: TopArgs, out: &Output) -> Result<ExitCode, Failure> {
    let target = load::target(global, &args.services, false, out)?;
    let engine = load::engine(out)?;
    let found = crate::project::top::top(&engine, &target, &args.services).map_err(|e| load::fail(out, e))?;
    let mut text = String::new();
    for (name, procs) in found {
        let rows: Vec<Vec<String>> = procs
            .into_iter()
            .map(|p| {
                vec![
                    p.uid,
                    p.pid.to_string(),
                    p.ppid.to_string(),
                    p.cpu.to_string(),
                    p.stime,
                    p.tty,
                    p.time,
                    p.cmd,
                ]
            })
            .collect();
        text.push_str(&name);
        text.push('\n');
        text.push_str(&table(
            &["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"],
            &rows,
        ));
        text.push('\n');
    }
    out.stdout(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args, Debug)]
pub struct WaitArgs {
    /// Drops project when the first container stops
    #[arg(long)]
    down_project: bool,
    #[arg(required = true)]
    services: Vec<String>,
}

/// `wait`: prints the exit code of each container as it stops; with
/// `--down-project`, takes the project down when the first one does.
pub fn run_wait(global: &GlobalArgs, args: WaitArgs, out: &Output) -> Result<ExitCode, Failure> {
    let target = load::target(global, &args.services, false, out)?;
    let engine = load::engine(out)?;
    let stopped = crate::project::lifecycle::wait_stopped(&engine, &target, &args.services, args.down_project)
        .map_err(|e| load::fail(out, e))?;
    let mut text = String::new();
    for (_, code) in &stopped {
        text.push_str(&format!("{code}\n"));
    }
    out.stdout(text.as_bytes())?;
    if args.down_project {
        let progress = super::progress::Progress::new(global, out.color());
        let opts = crate::project::down::DownOptions::default();
        crate::project::down::down(&engine, &target, &opts, &progress).map_err(|e| load::fail(out, e))?;
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args, Debug)]
pub struct EventsArgs {
    /// Output events as a stream of json objects
    #[arg(long)]
    json: bool,
    services: Vec<String>,
}

/// `events`: one line per container event until interrupted.
pub fn run_events(global: &GlobalArgs, args: EventsArgs, out: &Output) -> Result<ExitCode, Failure> {
    let target = load::target(global, &args.services, false, out)?;
    let engine = load::engine(out)?;
    let stop = std::sync::atomic::AtomicBool::new(false);
    let mut emit = |e: &crate::project::monitor::ContainerEvent| {
        let line = if args.json {
            serde_json::json!({
                "time": e.time.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
                "type": "container",
                "action": e.action,
                "id": e.container,
                "service": e.service,
                "attributes": e.attributes,
            })
            .to_string()
        } else {
            format!(
                "{} container {} {} (image={}, name={})",
                e.time.format("%Y-%m-%d %H:%M:%S%.6f"),
                e.action,
                e.container,
                e.image,
                e.container
            )
        };
        super::write_stdout(format!("{line}\n").as_bytes()).is_ok()
    };
    crate::project::monitor::follow(&engine, &target, &args.services, &stop, &mut emit)
        .map_err(|e| load::fail(out, e))?;
    Ok(ExitCode::SUCCESS)
}
