//! What the CLI and a supervisor say to each other on the control socket:
//! one JSON request per connection, one JSON response.

use serde::{Deserialize, Serialize};

use crate::runtime::ContainerState;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// The current state.
    Status,
    /// Stop with the stop signal, SIGKILL after `grace_ms` (the container's
    /// own grace period when `None`); no restart follows.
    Stop { grace_ms: Option<u64> },
    /// Send a signal (name or number) to the container's init.
    Kill { signal: String },
    /// Freeze (`true`) or thaw (`false`) the container's processes.
    Pause(bool),
    /// Run the held container's process (see `client::create_held`); the
    /// answer is the state once it runs.
    Start,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    State(Box<ContainerState>),
    /// A stop was accepted; the supervisor exits once the container is down.
    Stopping,
    Done,
    Error(String),
}
