//! One supervisor process per container (DESIGN.md §3): it owns the
//! container's init process, its log, state file, restart policy and stop
//! sequence, and answers on a control socket. The CLI talks to it through
//! `client`; the wire types are in `protocol`.

pub mod client;
pub mod health;
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
        eprintln!("usage: rcompose {SUPERVISE_ARG} <container-id> [{HOLD_ARG}]");
        return Some(2);
    };
    let hold = args.next().is_some_and(|a| a == HOLD_ARG);
    Some(process::main(Roots::from_env(), &id, hold))
}
