//! `rcompose logs`, and the log printer attached `up` shares.

use std::collections::HashMap;
use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use chrono::Utc;

use crate::project::logs::{self, Line, LogOptions};

use super::load;
use super::report::{Failure, Output};
use super::GlobalArgs;

#[derive(clap::Args, Debug)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short, long)]
    follow: bool,
    /// Number of lines to show from the end of the logs for each container (or "all")
    #[arg(short = 'n', long, default_value = "all")]
    tail: String,
    /// Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)
    #[arg(long)]
    since: Option<String>,
    /// Show logs before a timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)
    #[arg(long)]
    until: Option<String>,
    /// Show timestamps
    #[arg(short, long)]
    timestamps: bool,
    /// Produce monochrome output
    #[arg(long)]
    no_color: bool,
    /// Don't print prefix in logs
    #[arg(long)]
    no_log_prefix: bool,
    /// Index of the container if service has multiple replicas
    #[arg(long)]
    index: Option<u32>,
    services: Vec<String>,
}

const COLORS: [&str; 6] = ["36", "33", "32", "35", "34", "31"];

/// Prints lines as `docker compose logs` does: `web-1  | text`, the prefix
/// padded to the widest name and coloured per container.
pub struct Printer {
    pub color: bool,
    pub timestamps: bool,
    pub prefix: bool,
    project: String,
    width: usize,
    colors: HashMap<String, &'static str>,
}

impl Printer {
    pub fn new(project: &str, color: bool, timestamps: bool, prefix: bool) -> Printer {
        Printer {
            color,
            timestamps,
            prefix,
            project: project.to_string(),
            width: 0,
            colors: HashMap::new(),
        }
    }

    /// Docker Compose shows container names without the project prefix.
    pub fn short<'a>(&self, container: &'a str) -> &'a str {
        container
            .strip_prefix(&self.project)
            .and_then(|r| r.strip_prefix('-'))
            .unwrap_or(container)
    }

    pub fn widen(&mut self, container: &str) {
        self.width = self.width.max(self.short(container).len());
    }

    /// Formats one line (with its newline).
    pub fn format(&mut self, l: &Line) -> String {
        let name = self.short(&l.container).to_string();
        self.width = self.width.max(name.len());
        let n = self.colors.len();
        let color = *self
            .colors
            .entry(l.container.clone())
            .or_insert(COLORS[n % COLORS.len()]);
        let mut s = String::new();
        if let Some(code) = l.exited {
            // Docker Compose's status line: no `|`, no padding.
            let text = format!("{name} exited with code {code}");
            return if self.color {
                format!("\x1b[{color}m{text}\x1b[0m\n")
            } else {
                text + "\n"
            };
        }
        if self.prefix {
            let p = format!("{name:<w$}  | ", w = self.width);
            if self.color {
                s.push_str(&format!("\x1b[{color}m{p}\x1b[0m"));
            } else {
                s.push_str(&p);
            }
        }
        if self.timestamps {
            s.push_str(&l.time.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true));
            s.push(' ');
        }
        s.push_str(&l.text);
        if !l.text.ends_with('\n') {
            s.push('\n');
        }
        s
    }
}

pub fn run(global: &GlobalArgs, args: LogsArgs, out: &Output) -> Result<ExitCode, Failure> {
    let target = load::target(global, &args.services, true, out)?;
    let engine = load::engine(out)?;
    let now = Utc::now();
    let time = |s: &Option<String>, what: &str| -> Result<_, Failure> {
        s.as_deref()
            .map(|v| logs::parse_time(v, now).map_err(|e| out.error(&format!("invalid --{what}: {e}"))))
            .transpose()
    };
    let tail = match args.tail.as_str() {
        "all" | "-1" => None,
        n => Some(
            n.parse::<usize>()
                .map_err(|_| out.error(&format!("invalid --tail {n:?}: use a number of lines or \"all\"")))?,
        ),
    };
    let opts = LogOptions {
        services: args.services.clone(),
        follow: args.follow,
        tail,
        since: time(&args.since, "since")?,
        until: time(&args.until, "until")?,
        index: args.index,
        oneoff: false,
        until_exited: false,
        container: None,
    };
    let mut printer = Printer::new(
        &target.name,
        out.color() && !args.no_color,
        args.timestamps,
        !args.no_log_prefix,
    );
    for c in crate::project::inventory::list(&engine, &target.name).map_err(|e| load::fail(out, e))? {
        if args.services.is_empty() || args.services.contains(&c.service) {
            printer.widen(&c.id);
        }
    }
    let stop = AtomicBool::new(false);
    let mut broken = false;
    let mut stdout = std::io::stdout().lock();
    let mut emit = |l: &Line| {
        let text = printer.format(l);
        if stdout.write_all(text.as_bytes()).and_then(|_| stdout.flush()).is_err() {
            broken = true;
            return false;
        }
        true
    };
    logs::logs(&engine, &target, &opts, &stop, &mut emit).map_err(|e| load::fail(out, e))?;
    if broken {
        return Err(Failure::BrokenPipe);
    }
    Ok(ExitCode::SUCCESS)
}
