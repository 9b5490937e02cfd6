//! Waiting for `depends_on` conditions and for `--wait`: polling the
//! containers' state files (kept current by their supervisors).

use std::time::{Duration, Instant};

use crate::runtime::state::Health;
use crate::runtime::Status;
use crate::supervisor::client;

use super::engine::Engine;
use super::error::{ProjectError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    Started,
    Healthy,
    CompletedSuccessfully,
}

impl Condition {
    pub fn parse(s: &str) -> Option<Condition> {
        match s {
            "service_started" => Some(Condition::Started),
            "service_healthy" => Some(Condition::Healthy),
            "service_completed_successfully" => Some(Condition::CompletedSuccessfully),
            _ => None,
        }
    }
}

const POLL: Duration = Duration::from_millis(50);

/// Restarts seen during one wait after which a dependency is taken to be
/// crash-looping: with Docker's backoff (100 ms, doubling) three take
/// about a second, and waiting longer only hides the reason.
const RESTARTS_BEFORE_GIVING_UP: u32 = 3;

/// Log lines quoted when a dependency fails.
const LAST_LINES: usize = 10;

/// Waits until every container in `ids` meets `cond`; fails as soon as one
/// never can (unhealthy, exited, no healthcheck) or at `deadline`.
pub fn until(engine: &Engine, ids: &[String], cond: Condition, deadline: Option<Instant>) -> Result<()> {
    if cond == Condition::Started {
        return Ok(());
    }
    let mut pending: Vec<&String> = ids.iter().collect();
    let mut first_count: std::collections::HashMap<&str, u32> = std::collections::HashMap::new();
    loop {
        let mut still = Vec::new();
        for id in pending {
            let st = client::status(&engine.roots, id)?;
            let first = *first_count.entry(id.as_str()).or_insert(st.restart_count);
            let restarts = st.restart_count.saturating_sub(first);
            if restarts >= RESTARTS_BEFORE_GIVING_UP {
                return Err(ProjectError::Dependency {
                    message: format!(
                        "container {id} keeps restarting ({restarts} restarts while waiting, last exit code {}){}",
                        st.exit_code.unwrap_or(-1),
                        last_lines(engine, id)
                    ),
                });
            }
            let done = match cond {
                Condition::Started => true,
                Condition::Healthy => match (st.status, st.health) {
                    (_, Some(Health::Healthy)) => true,
                    (_, Some(Health::Unhealthy)) => {
                        return Err(ProjectError::Dependency {
                            message: format!("container {id} is unhealthy"),
                        })
                    }
                    (Status::Exited, _) => {
                        return Err(ProjectError::Dependency {
                            message: format!(
                                "container {id} exited ({}){}",
                                st.exit_code.unwrap_or(-1),
                                last_lines(engine, id)
                            ),
                        })
                    }
                    (_, Some(Health::Starting)) => false,
                    (_, None) => {
                        let spec = engine.roots.container(id).read_spec()?;
                        if crate::supervisor::health::effective(&spec).is_none() {
                            return Err(ProjectError::Dependency {
                                message: format!("container {id} has no healthcheck configured"),
                            });
                        }
                        false
                    }
                },
                Condition::CompletedSuccessfully => match (st.status, st.exit_code) {
                    (Status::Exited, Some(0)) => true,
                    (Status::Exited, code) => {
                        return Err(ProjectError::Dependency {
                            message: format!(
                                "container {id} didn't complete successfully: exit {}{}",
                                code.unwrap_or(-1),
                                last_lines(engine, id)
                            ),
                        })
                    }
                    _ => false,
                },
            };
            if !done {
                still.push(id);
            }
        }
        if still.is_empty() {
            return Ok(());
        }
        if deadline.is_some_and(|d| Instant::now() > d) {
            return Err(ProjectError::Other(format!(
                "timed out waiting for {}",
                still.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            )));
        }
        pending = still;
        std::thread::sleep(POLL);
    }
}

/// The end of a container's log, for the message of a dependency that
/// failed: what the user would otherwise look up with `logs` next.
fn last_lines(engine: &Engine, id: &str) -> String {
    let records = crate::supervisor::logs::read_log(&engine.roots.container(id).log()).unwrap_or_default();
    let tail: String = records[records.len().saturating_sub(LAST_LINES)..]
        .iter()
        .map(|r| format!("\n  {id}  | {}", r.log.trim_end_matches('\n')))
        .collect();
    if tail.is_empty() {
        String::new()
    } else {
        format!("; its last log lines:{tail}")
    }
}

/// `up --wait`: running, and healthy where a healthcheck exists; a
/// container in `one_shots` (a service another waits for with
/// `service_completed_successfully`) is ready once it has exited 0, as
/// Docker Compose waits for it.
pub fn ready(
    engine: &Engine,
    ids: &[String],
    one_shots: &std::collections::BTreeSet<String>,
    deadline: Option<Instant>,
) -> Result<()> {
    loop {
        let mut waiting = Vec::new();
        for id in ids {
            let st = client::status(&engine.roots, id)?;
            if one_shots.contains(id) {
                match (st.status, st.exit_code) {
                    (Status::Exited, Some(0)) => {}
                    (Status::Exited, code) => {
                        return Err(ProjectError::Other(format!(
                            "container {id} exited ({})",
                            code.unwrap_or(-1)
                        )));
                    }
                    _ => waiting.push(id.clone()),
                }
                continue;
            }
            match (st.status, st.health) {
                (_, Some(Health::Unhealthy)) => {
                    return Err(ProjectError::Other(format!("container {id} is unhealthy")));
                }
                (Status::Exited, _) => {
                    return Err(ProjectError::Other(format!(
                        "container {id} exited ({})",
                        st.exit_code.unwrap_or(-1)
                    )));
                }
                (Status::Running, None | Some(Health::Healthy)) => {}
                _ => waiting.push(id.clone()),
            }
        }
        if waiting.is_empty() {
            return Ok(());
        }
        if deadline.is_some_and(|d| Instant::now() > d) {
            return Err(ProjectError::Other(format!(
                "timed out waiting for {} to be ready",
                waiting.join(", ")
            )));
        }
        std::thread::sleep(POLL);
    }
}
