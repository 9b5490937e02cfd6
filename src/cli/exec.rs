//! `rcompose exec`: a command in a running service container, with the
//! caller's streams (`-T`, or when stdin is not a terminal) or through a
//! pseudo-terminal in raw mode, resized with the caller's window.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::process::ExitCode;
use std::sync::atomic::{AtomicI32, Ordering};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::sys::termios::{self, SetArg};
use nix::sys::wait::waitpid;
use nix::unistd::{isatty, pipe2, Pid};

use crate::project;
use crate::runtime::exec::{self, ExecFailure, ExecStdio};
use crate::runtime::Roots;

use super::load;
use super::report::{Failure, Output};
use super::GlobalArgs;

#[derive(clap::Args, Debug)]
pub struct ExecArgs {
    /// Detached mode: Run command in the background
    #[arg(short, long)]
    detach: bool,
    /// Set environment variables
    #[arg(short, long)]
    env: Vec<String>,
    /// Index of the container if service has multiple replicas
    #[arg(long, default_value_t = 1)]
    index: u32,
    /// Disable pseudo-TTY allocation. By default `exec` allocates a TTY when stdin is a terminal
    #[arg(short = 'T', long = "no-TTY")]
    no_tty: bool,
    /// Keep STDIN open (the default; accepted for compatibility)
    #[arg(short, long)]
    interactive: bool,
    /// Allocate a pseudo-TTY (the default on a terminal; accepted for compatibility)
    #[arg(short = 't', long = "tty")]
    tty: bool,
    /// Run the command as this user
    #[arg(short, long)]
    user: Option<String>,
    /// Path to workdir directory for this command
    #[arg(short, long)]
    workdir: Option<String>,
    service: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    command: Vec<String>,
}

pub fn run(global: &GlobalArgs, args: ExecArgs, out: &Output) -> Result<ExitCode, Failure> {
    let target = load::target(global, std::slice::from_ref(&args.service), false, out)?;
    let engine = load::engine(out)?;
    let id =
        project::exec::container_for(&engine, &target, &args.service, args.index).map_err(|e| load::fail(out, e))?;
    let request = project::exec::request(&args.command, &args.env, args.user.clone(), args.workdir.clone());
    let stdin = std::io::stdin();
    let use_tty = !args.no_tty && !args.detach && isatty(stdin.as_fd()).unwrap_or(false);

    let spawned = if args.detach {
        let null = exec::dev_null().map_err(|e| out.error(&format!("/dev/null: {e}")))?;
        let fd = null.as_raw_fd();
        spawn(&engine.roots, &id, &request, [fd, fd, fd], false, out)?
    } else if use_tty {
        return with_pty(&engine.roots, &id, &request, out);
    } else {
        spawn(&engine.roots, &id, &request, [0, 1, 2], false, out)?
    };
    match spawned {
        Err(code) => Ok(code),
        Ok(_) if args.detach => Ok(ExitCode::SUCCESS),
        Ok(pid) => Ok(wait_forwarding_signals(pid)),
    }
}

/// Starts the process; `Err(code)` when it could not start (reported).
fn spawn(
    roots: &Roots,
    id: &str,
    request: &exec::ExecRequest,
    fds: [RawFd; 3],
    tty: bool,
    out: &Output,
) -> Result<Result<i32, ExitCode>, Failure> {
    let stdio = ExecStdio {
        stdin: fds[0],
        stdout: fds[1],
        stderr: fds[2],
        controlling_tty: tty,
    };
    match exec::spawn(roots, id, request, &stdio) {
        Ok(Ok(pid)) => Ok(Ok(pid)),
        Ok(Err(ExecFailure { message, code })) => {
            let _ = out.error(&format!("exec failed in container {id}: {message}"));
            Ok(Err(ExitCode::from(u8::try_from(code).unwrap_or(1))))
        }
        Err(e) => Err(out.error(&e.to_string())),
    }
}

static CHILD: AtomicI32 = AtomicI32::new(0);
static WINCH_PIPE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn forward(sig: libc::c_int) {
    let pid = CHILD.load(Ordering::Relaxed);
    if pid > 0 {
        // SAFETY: kill(2) is async-signal-safe.
        unsafe { libc::kill(pid, sig) };
    }
}

extern "C" fn on_winch(_: libc::c_int) {
    let fd = WINCH_PIPE.load(Ordering::Relaxed);
    if fd >= 0 {
        let b = 0u8;
        // SAFETY: write(2) is async-signal-safe.
        unsafe { libc::write(fd, &b as *const u8 as *const libc::c_void, 1) };
    }
}

/// Without a terminal the process is in its own session: signals the user
/// sends to `rcompose` (Ctrl-C, `kill`) are passed on, as Docker does.
fn wait_forwarding_signals(pid: i32) -> ExitCode {
    CHILD.store(pid, Ordering::Relaxed);
    let action = SigAction::new(SigHandler::Handler(forward), SaFlags::SA_RESTART, SigSet::empty());
    for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP, Signal::SIGQUIT] {
        // SAFETY: the handler only calls kill(2).
        let _ = unsafe { sigaction(sig, &action) };
    }
    wait_code(pid)
}

fn wait_code(pid: i32) -> ExitCode {
    loop {
        match waitpid(Pid::from_raw(pid), None) {
            Err(Errno::EINTR) => continue,
            Ok(status) => {
                if let Some(code) = crate::runtime::wait::exit_code(status) {
                    return ExitCode::from(u8::try_from(code).unwrap_or(1));
                }
            }
            Err(_) => return ExitCode::from(1),
        }
    }
}

fn window_size(fd: BorrowedFd<'_>) -> Option<libc::winsize> {
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ fills a winsize.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) };
    (r == 0).then_some(ws)
}

fn set_window_size(fd: BorrowedFd<'_>, ws: &libc::winsize) {
    // SAFETY: TIOCSWINSZ reads a winsize.
    unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, ws) };
}

/// Puts the caller's terminal back as it was, however `with_pty` ends.
struct RawMode {
    saved: termios::Termios,
}

impl RawMode {
    fn enter() -> Option<RawMode> {
        let stdin = std::io::stdin();
        let saved = termios::tcgetattr(stdin.as_fd()).ok()?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &self.saved);
    }
}

fn with_pty(roots: &Roots, id: &str, request: &exec::ExecRequest, out: &Output) -> Result<ExitCode, Failure> {
    let stdin = std::io::stdin();
    let size = window_size(stdin.as_fd());
    let (master, slave) = exec::open_pty(roots, id).map_err(|e| out.error(&e.to_string()))?;
    if let Some(ws) = &size {
        set_window_size(master.as_fd(), ws);
    }
    let mut request = request.clone();
    if !request.env.iter().any(|e| e.starts_with("TERM=")) {
        let term = std::env::var("TERM").unwrap_or_else(|_| "xterm".into());
        request.env.push(format!("TERM={term}"));
    }
    let s = slave.as_raw_fd();
    let pid = match spawn(roots, id, &request, [s, s, s], true, out)? {
        Ok(pid) => pid,
        Err(code) => return Ok(code),
    };
    drop(slave);

    let (winch_r, winch_w) =
        pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK).map_err(|e| out.error(&format!("pipe: {e}")))?;
    WINCH_PIPE.store(winch_w.as_raw_fd(), Ordering::Relaxed);
    let action = SigAction::new(SigHandler::Handler(on_winch), SaFlags::SA_RESTART, SigSet::empty());
    // SAFETY: the handler only calls write(2).
    let _ = unsafe { sigaction(Signal::SIGWINCH, &action) };

    let raw = RawMode::enter();
    let mut stdin_open = true;
    let mut buf = [0u8; 16384];
    loop {
        let mut fds = vec![
            PollFd::new(master.as_fd(), PollFlags::POLLIN),
            PollFd::new(winch_r.as_fd(), PollFlags::POLLIN),
        ];
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Err(Errno::EINTR) => continue,
            Err(_) => break,
            Ok(_) => {}
        }
        let ev: Vec<PollFlags> = fds.iter().map(|f| f.revents().unwrap_or(PollFlags::empty())).collect();
        drop(fds);
        let ready = |r: PollFlags| r.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR);
        if ready(ev[1]) {
            let _ = nix::unistd::read(winch_r.as_fd(), &mut buf);
            if let Some(ws) = window_size(stdin.as_fd()) {
                set_window_size(master.as_fd(), &ws);
            }
        }
        if stdin_open && ready(ev[2]) {
            match nix::unistd::read(stdin.as_fd(), &mut buf) {
                Ok(0) | Err(Errno::EIO) => stdin_open = false,
                Ok(n) => {
                    if write_all(master.as_fd(), &buf[..n]).is_err() {
                        stdin_open = false;
                    }
                }
                Err(_) => {}
            }
        }
        if ready(ev[0]) {
            match nix::unistd::read(master.as_fd(), &mut buf) {
                // EIO: every slave end is closed, the process is gone.
                Ok(0) | Err(Errno::EIO) => break,
                Ok(n) => {
                    if write_all(std::io::stdout().as_fd(), &buf[..n]).is_err() {
                        break;
                    }
                }
                Err(Errno::EINTR) | Err(Errno::EAGAIN) => {}
                Err(_) => break,
            }
        }
    }
    drop(raw);
    Ok(wait_code(pid))
}

fn write_all(fd: BorrowedFd<'_>, mut bytes: &[u8]) -> Result<(), Errno> {
    while !bytes.is_empty() {
        match nix::unistd::write(fd, bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(Errno::EINTR) | Err(Errno::EAGAIN) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
