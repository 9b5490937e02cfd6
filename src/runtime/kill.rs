//! Sending a signal to a container.

use nix::sys::signal::Signal;

use super::error::{chain, Result, RuntimeError};
use super::start::load;
use super::state::Roots;

/// `SIGTERM`, `TERM`, `term` or `15` → the signal.
pub fn parse_signal(name: &str) -> Option<Signal> {
    let name = name.trim();
    if let Ok(n) = name.parse::<i32>() {
        return Signal::try_from(n).ok();
    }
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    full.parse().ok()
}

/// Sends `signal` to the container's init (`all`: to every process of it).
pub fn kill(roots: &Roots, id: &str, signal: Signal, all: bool) -> Result<()> {
    let mut container = load(roots, id)?;
    if !container.can_kill() {
        return Err(RuntimeError::WrongState {
            id: id.to_string(),
            status: format!("{:?}", container.status()).to_lowercase(),
            action: "signal",
        });
    }
    // libcontainer has its own nix version: hand the signal over by number.
    let signal = libcontainer::signal::Signal::try_from(signal as i32)
        .map_err(|e| RuntimeError::engine(id, "signal", chain(&e)))?;
    container
        .kill(signal, all)
        .map_err(|e| RuntimeError::engine(id, "signal", chain(&e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse_in_every_spelling() {
        assert_eq!(parse_signal("SIGTERM"), Some(Signal::SIGTERM));
        assert_eq!(parse_signal("term"), Some(Signal::SIGTERM));
        assert_eq!(parse_signal("9"), Some(Signal::SIGKILL));
        assert_eq!(parse_signal("SIGQUIT"), Some(Signal::SIGQUIT));
        assert_eq!(parse_signal("SIGNOPE"), None);
        assert_eq!(parse_signal("99"), None);
    }
}
