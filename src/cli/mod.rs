//! The command line: clap definitions and output, nothing else. Every
//! command turns its arguments into a call below and prints what comes back.

mod build;
mod config;
mod exec;
mod global;
pub mod image;
mod images;
mod lifecycle;
mod load;
mod logs;
mod objects;
mod progress;
mod ps;
mod report;
mod run;
mod up;
mod yaml_out;

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use global::GlobalArgs;

#[derive(Parser, Debug)]
#[command(
    name = "rcompose",
    version,
    about = "Define and run multi-container applications, with no daemon",
    disable_help_subcommand = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create and start containers
    Up(up::UpArgs),
    /// Stop and remove containers, networks
    Down(up::DownArgs),
    /// Creates containers for a service
    Create(up::CreateArgs),
    /// Scale services
    Scale(up::ScaleArgs),
    /// List containers
    Ps(ps::PsArgs),
    /// View output from containers
    Logs(logs::LogsArgs),
    /// Start services
    Start(lifecycle::ServicesArgs),
    /// Stop services
    Stop(lifecycle::StopArgs),
    /// Restart service containers
    Restart(lifecycle::StopArgs),
    /// Force stop service containers
    Kill(lifecycle::KillArgs),
    /// Removes stopped service containers
    Rm(lifecycle::RmArgs),
    /// Pause services
    Pause(lifecycle::ServicesArgs),
    /// Unpause services
    Unpause(lifecycle::ServicesArgs),
    /// List running compose projects
    Ls(ps::LsArgs),
    /// Print the public port for a port binding
    Port(ps::PortArgs),
    /// Display the running processes
    Top(ps::TopArgs),
    /// Block until containers of all (or specified) services stop
    Wait(ps::WaitArgs),
    /// Receive real time events from containers
    Events(ps::EventsArgs),
    /// Run a one-off command on a service
    Run(run::RunArgs),
    /// Execute a command in a running container
    Exec(exec::ExecArgs),
    /// Build or rebuild services
    Build(build::BuildArgs),
    /// Pull service images
    Pull(images::PullArgs),
    /// Push service images
    Push(images::PushArgs),
    /// List images used by the created containers
    Images(images::ImagesArgs),
    /// Manage volumes
    #[command(subcommand)]
    Volume(objects::VolumeCommand),
    /// Manage networks
    #[command(subcommand)]
    Network(objects::NetworkCommand),
    /// Parse, resolve and render the Compose file in canonical format
    #[command(alias = "convert")]
    Config(config::ConfigArgs),
    /// Manage images
    #[command(subcommand)]
    Image(image::ImageCommand),
    /// Log in to a registry
    Login(image::LoginArgs),
    /// Log out from a registry
    Logout(image::LogoutArgs),
    /// Show the rcompose version information
    Version(VersionArgs),
}

#[derive(clap::Args, Debug)]
pub struct VersionArgs {
    /// Format the output: pretty or json
    #[arg(short = 'f', long, default_value = "pretty", value_parser = ["pretty", "json"])]
    format: String,
    /// Show only the version number
    #[arg(long)]
    short: bool,
}

impl Command {
    /// Whether the command runs processes in containers from this very
    /// process: `exec`, and the builder's steps of `build` and of the
    /// commands that may build. (Containers started through supervisors
    /// are covered by the supervisors.)
    fn enters_containers(&self) -> bool {
        matches!(
            self,
            Command::Exec(_)
                | Command::Build(_)
                | Command::Up(_)
                | Command::Create(_)
                | Command::Run(_)
                | Command::Scale(_)
        )
    }
}

/// Exit codes, as Docker Compose uses them: 0 success, 1 failure; clap's
/// own usage errors exit 2 (its default) and `--help` exits 0.
pub fn main() -> ExitCode {
    // Before anything allocates much: see runtime::thp.
    crate::runtime::thp::disable_for_this_process();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 1 } else { 0 });
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(report::Failure::Reported) => ExitCode::from(1),
        // A closed pipe (`rcompose config | head`) is not an error.
        Err(report::Failure::BrokenPipe) => ExitCode::SUCCESS,
    }
}

fn run(cli: Cli) -> Result<ExitCode, report::Failure> {
    let out = report::Output::new(&cli.global);
    if cli.command.enters_containers() {
        // This process (an `exec`, a build step's init) may be seen from
        // inside a container: it must not run the host's binary file.
        if let Err(e) = crate::runtime::sealed::reexec() {
            return Err(out.error(&format!(
                "cannot re-execute rcompose from a read-only view of its binary (needed to enter containers safely): {e}"
            )));
        }
    }
    match cli.command {
        Command::Up(args) => up::up(&cli.global, args, &out),
        Command::Down(args) => up::down(&cli.global, args, &out),
        Command::Create(args) => up::create(&cli.global, args, &out),
        Command::Ps(args) => ps::run_ps(&cli.global, args, &out),
        Command::Logs(args) => logs::run(&cli.global, args, &out),
        Command::Start(args) => lifecycle::start(&cli.global, args, &out),
        Command::Scale(args) => up::scale(&cli.global, args, &out),
        Command::Stop(args) => lifecycle::stop(&cli.global, args, &out),
        Command::Restart(args) => lifecycle::restart(&cli.global, args, &out),
        Command::Kill(args) => lifecycle::kill(&cli.global, args, &out),
        Command::Rm(args) => lifecycle::rm(&cli.global, args, &out),
        Command::Pause(args) => lifecycle::pause(&cli.global, args, &out, true),
        Command::Unpause(args) => lifecycle::pause(&cli.global, args, &out, false),
        Command::Ls(args) => ps::run_ls(&cli.global, args, &out),
        Command::Port(args) => ps::run_port(&cli.global, args, &out),
        Command::Top(args) => ps::run_top(&cli.global, args, &out),
        Command::Wait(args) => ps::run_wait(&cli.global, args, &out),
        Command::Events(args) => ps::run_events(&cli.global, args, &out),
        Command::Run(args) => run::run(&cli.global, args, &out),
        Command::Exec(args) => exec::run(&cli.global, args, &out),
        Command::Build(args) => build::build(&cli.global, args, &out),
        Command::Pull(args) => images::pull(&cli.global, args, &out),
        Command::Push(args) => images::push(&cli.global, args, &out),
        Command::Images(args) => images::images(&cli.global, args, &out),
        Command::Volume(cmd) => objects::volume(cmd, &out),
        Command::Network(cmd) => objects::network(cmd, &out),
        Command::Config(args) => config::run(&cli.global, args, &out),
        Command::Image(cmd) => engine_result(&out, image::run(cmd, &crate::store::Root::from_env())),
        Command::Login(args) => engine_result(&out, image::login(&args)),
        Command::Logout(args) => engine_result(&out, image::logout(&args)),
        Command::Version(args) => {
            let v = env!("CARGO_PKG_VERSION");
            let text = if args.short {
                format!("{v}\n")
            } else if args.format == "json" {
                format!("{}\n", serde_json::json!({ "version": v }))
            } else {
                format!("rcompose version v{v}\n")
            };
            out.stdout(text.as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// An engine command's exit code, or its error printed once.
fn engine_result<E: std::fmt::Display>(out: &report::Output, r: Result<i32, E>) -> Result<ExitCode, report::Failure> {
    match r {
        Ok(code) => Ok(ExitCode::from(u8::try_from(code).unwrap_or(1))),
        Err(e) => Err(out.error(&e.to_string())),
    }
}

/// Write to stdout, mapping a closed pipe to [`report::Failure::BrokenPipe`].
pub(crate) fn write_stdout(bytes: &[u8]) -> Result<(), report::Failure> {
    let mut lock = std::io::stdout().lock();
    match lock.write_all(bytes).and_then(|_| lock.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(report::Failure::BrokenPipe),
        Err(e) => {
            eprintln!("rcompose: cannot write output: {e}");
            Err(report::Failure::Reported)
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// clap checks flag clashes only when a command is parsed: check them all.
    #[test]
    fn the_command_line_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
