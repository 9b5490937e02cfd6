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

/// Waits until every container in `ids` meets `cond`; fails as soon as one
/// never can (unhealthy, exited, no healthcheck) or at `deadline`.
pub fn until(engine: &Engine, ids: &[String], cond: Condition, deadline: Option<Instant>) -> Result<()> {
    if cond == Condition::Started {
        return Ok(());
    }
    let mut pending: Vec<&String> = ids.iter().collect();
    loop {
        let mut still = Vec::new();
        for id in pending {
            let st = client::status(&engine.roots, id)?;
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
                            message: format!("container {id} exited ({})", st.exit_code.unwrap_or(-1)),
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
                                "container {id} didn't complete successfully: exit {}",
                                code.unwrap_or(-1)
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

/// `up --wait`: running, and healthy where a healthcheck exists.
pub fn ready(engine: &Engine, ids: &[String], deadline: Option<Instant>) -> Result<()> {
    loop {
        let mut waiting = Vec::new();
        for id in ids {
            let st = client::status(&engine.roots, id)?;
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
