//! One supervisor process per container (DESIGN.md §3): it owns the
//! container's init process, its log, state file, restart policy and stop
//! sequence, and answers on a control socket. The CLI talks to it through
//! `client`; the wire types are in `protocol`.
//!
//! A supervisor must outlive whatever happens to its files and its caller:
//! it never writes with `eprintln!`/`println!` (they panic when the write
//! fails: a full disk, a closed pipe), but with [`note!`], which drops the
//! line instead.

/// Writes a line to the supervisor's own stderr (its `supervisor.log`, or
/// whatever its caller gave it). Never panics: when the disk is full or the
/// pipe is closed the line is lost and the supervisor goes on.
macro_rules! note {
    ($($arg:tt)*) => {
        $crate::supervisor::write_note(format_args!($($arg)*))
    };
}

/// What [`note!`] calls.
pub(crate) fn write_note(args: std::fmt::Arguments) {
    use std::io::Write;
    let mut line = args.to_string();
    line.push('\n');
    // One write(2): lines of several processes sharing the file stay whole.
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

pub mod client;
pub mod control_socket;
pub mod health;
pub mod liveness;
pub mod log_reader;
pub mod logs;
pub mod process;
pub mod protocol;
pub mod restart;
pub mod services;

use crate::runtime::Roots;

/// The hidden argument that makes the `rcompose` binary a supervisor.
pub const SUPERVISE_ARG: &str = "__supervise";
/// Its option: create the container's process, then wait for a `Start`.
pub const HOLD_ARG: &str = "--hold";

/// Call first in `main`: when the process was started as a supervisor
/// (`rcompose __supervise <id>`), runs it and returns its exit code.
pub fn run_if_requested() -> Option<i32> {
    let mut args = std::env::args_os().skip(1);
    if args.next()?.to_str()? != SUPERVISE_ARG {
        return None;
    }
    let Some(id) = args.next().and_then(|a| a.into_string().ok()) else {
        note!("usage: rcompose {SUPERVISE_ARG} <container-id> [{HOLD_ARG}]");
        return Some(2);
    };
    let hold = args.next().is_some_and(|a| a == HOLD_ARG);
    Some(process::main(Roots::from_env(), &id, hold))
}

#[cfg(test)]
mod tests {
    /// Every line a supervisor writes goes through `note!`: a failed
    /// `eprintln!` panics (exit 101) and leaves the container unsupervised.
    #[test]
    fn supervisor_code_never_prints_with_panicking_macros() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/supervisor");
        let mut offenders = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            for (n, line) in code.lines().enumerate() {
                let banned = ["eprintln!", "println!", "eprint!(", "print!(", "dbg!"];
                if banned.iter().any(|b| line.contains(b)) && !line.trim_start().starts_with("//") {
                    offenders.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                }
            }
        }
        assert!(offenders.is_empty(), "use note! instead:\n{}", offenders.join("\n"));
    }
}
