//! `exec`: which container of a service runs the command, and the request
//! the runtime gets. Streams and terminals are the CLI's business.

use crate::runtime::exec::ExecRequest;
use crate::runtime::Status;
use crate::supervisor::client;

use super::engine::Engine;
use super::error::{ProjectError, Result};
use super::lifecycle::containers_of;
use super::Target;

/// The running container number `index` of `service`; when the service
/// has no container of its own, its only running one-off (`run -d`), as
/// Docker Compose finds it.
pub fn container_for(engine: &Engine, target: &Target, service: &str, index: u32) -> Result<String> {
    let found = containers_of(engine, target, &[service.to_string()])?;
    if found.is_empty() {
        let oneoffs: Vec<_> = super::inventory::list(engine, &target.name)?
            .into_iter()
            .filter(|c| c.oneoff && c.service == service && c.running())
            .collect();
        if let [only] = oneoffs.as_slice() {
            return Ok(only.id.clone());
        }
    }
    let Some(c) = found.iter().find(|c| c.number == index) else {
        return Err(ProjectError::Other(if found.is_empty() {
            format!("service {service:?} is not running")
        } else {
            format!("service {service:?} has no container with index {index}")
        }));
    };
    let state = client::status(&engine.roots, &c.id)?;
    if state.status != Status::Running {
        return Err(ProjectError::Other(format!(
            "container {} of service {service:?} is not running",
            c.id
        )));
    }
    Ok(c.id.clone())
}

/// `-e KEY=VALUE` as given; `-e KEY` takes the value from this environment
/// (and is left out when unset), as Docker does.
pub fn request(command: &[String], env: &[String], user: Option<String>, workdir: Option<String>) -> ExecRequest {
    let env = env
        .iter()
        .filter_map(|e| match e.split_once('=') {
            Some(_) => Some(e.clone()),
            None => std::env::var(e).ok().map(|v| format!("{e}={v}")),
        })
        .collect();
    ExecRequest {
        args: command.to_vec(),
        env,
        user,
        workdir,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_keys_take_their_value_from_the_environment() {
        std::env::set_var("RCOMPOSE_EXEC_TEST_VALUE", "x y");
        let r = request(
            &["sh".into()],
            &[
                "A=1".into(),
                "RCOMPOSE_EXEC_TEST_VALUE".into(),
                "RCOMPOSE_EXEC_TEST_UNSET".into(),
            ],
            None,
            None,
        );
        assert_eq!(
            r.env,
            vec!["A=1".to_string(), "RCOMPOSE_EXEC_TEST_VALUE=x y".to_string()]
        );
    }
}
