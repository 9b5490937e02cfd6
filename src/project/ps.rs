//! What `ps` and `ls` show: one row per container, with Docker's wording
//! for states and ages.

use chrono::{DateTime, Utc};

use crate::runtime::entrypoint::resolve_args;
use crate::runtime::state::Health;
use crate::runtime::{ContainerState, Status};
use crate::supervisor::services::{self, PublishedPort};

use super::engine::Engine;
use super::error::Result;
use super::inventory::{self, Existing};
use super::labels;
use super::Target;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub id: String,
    pub name: String,
    pub image: String,
    pub command: String,
    pub project: String,
    pub service: String,
    pub number: u32,
    pub created: DateTime<Utc>,
    /// `running`, `exited`, … (Docker's `State`).
    pub state: String,
    /// "Up 5 seconds (healthy)", "Exited (0) 3 seconds ago" (Docker's `Status`).
    pub status: String,
    pub health: String,
    pub exit_code: i32,
    pub ports: Vec<PublishedPort>,
    /// Exposed ports (`5000/tcp`) that none of `ports` publishes; shown
    /// while running, as Docker does.
    pub exposed: Vec<String>,
}

/// Docker's `units.HumanDuration`.
pub fn human_duration(d: chrono::Duration) -> String {
    let secs = d.num_seconds();
    let mins = d.num_minutes();
    let hours = d.num_hours();
    match () {
        _ if secs < 1 => "Less than a second".into(),
        _ if secs == 1 => "1 second".into(),
        _ if secs < 60 => format!("{secs} seconds"),
        _ if mins == 1 => "About a minute".into(),
        _ if mins < 60 => format!("{mins} minutes"),
        _ if hours.abs() == 1 => "About an hour".into(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if hours < 24 * 7 * 2 => format!("{} days", hours / 24),
        _ if hours < 24 * 30 * 2 => format!("{} weeks", hours / 24 / 7),
        _ if hours < 24 * 365 * 2 => format!("{} months", hours / 24 / 30),
        _ => format!("{} years", hours / 24 / 365),
    }
}

fn health_text(h: Option<Health>) -> &'static str {
    match h {
        Some(Health::Starting) => "health: starting",
        Some(Health::Healthy) => "healthy",
        Some(Health::Unhealthy) => "unhealthy",
        None => "",
    }
}

/// Docker's `Status` column.
pub fn status_text(st: &ContainerState, now: DateTime<Utc>) -> String {
    match st.status {
        Status::Created => "Created".into(),
        Status::Running => {
            let since = st.started_at.unwrap_or(st.created_at);
            let h = health_text(st.health);
            let up = format!("Up {}", human_duration(now - since));
            if st.unsupervised {
                // Its supervisor died: nothing serves its ports or logs.
                format!("{up} (unsupervised)")
            } else if st.paused {
                format!("{up} (Paused)")
            } else if h.is_empty() {
                up
            } else {
                format!("{up} ({h})")
            }
        }
        Status::Restarting => format!(
            "Restarting ({}) {} ago",
            st.exit_code.unwrap_or(0),
            human_duration(now - st.finished_at.unwrap_or(now))
        ),
        Status::Exited => format!(
            "Exited ({}) {} ago",
            st.exit_code.unwrap_or(0),
            human_duration(now - st.finished_at.unwrap_or(now))
        ),
    }
}

pub fn row(engine: &Engine, c: &Existing, now: DateTime<Utc>) -> Row {
    let argv = resolve_args(
        &c.id,
        &c.spec.image,
        c.spec.entrypoint.as_deref(),
        c.spec.command.as_deref(),
    )
    .unwrap_or_default();
    let mut command = argv.join(" ");
    if command.chars().count() > 20 {
        command = format!("{}…", command.chars().take(19).collect::<String>());
    }
    let running = c.running();
    // Only a supervisor serves published ports.
    let ports = if running && !c.state.unsupervised {
        services::published(&engine.roots.container(&c.id))
    } else {
        Vec::new()
    };
    let exposed = if running {
        unpublished(&c.spec.image.exposed_ports, &ports)
    } else {
        Vec::new()
    };
    Row {
        id: c.id.clone(),
        name: c.id.clone(),
        image: c.label(labels::IMAGE_NAME).unwrap_or_default().to_string(),
        command: format!("\"{command}\""),
        project: c.project.clone(),
        service: c.service.clone(),
        number: c.number,
        created: c.state.created_at,
        state: if c.state.paused {
            "paused".to_string()
        } else {
            c.state.status.to_string()
        },
        status: status_text(&c.state, now),
        health: health_text(c.state.health).trim_start_matches("health: ").to_string(),
        exit_code: c.state.exit_code.unwrap_or(0),
        ports,
        exposed,
    }
}

/// Exposed ports no published port targets, sorted by number.
fn unpublished(exposed: &[String], published: &[PublishedPort]) -> Vec<String> {
    let mut out: Vec<(u16, &str)> = exposed
        .iter()
        .filter_map(|e| {
            let (port, proto) = e.split_once('/').unwrap_or((e, "tcp"));
            Some((port.parse().ok()?, proto))
        })
        .filter(|(port, proto)| !published.iter().any(|p| p.target == *port && p.protocol == *proto))
        .collect();
    out.sort();
    out.dedup();
    out.into_iter().map(|(port, proto)| format!("{port}/{proto}")).collect()
}

/// `ps`: the project's containers (running only unless `all`).
pub fn rows(engine: &Engine, target: &Target, services: &[String], all: bool) -> Result<Vec<Row>> {
    target.check_services(services)?;
    let now = Utc::now();
    Ok(inventory::list(engine, &target.name)?
        .iter()
        .filter(|c| services.is_empty() || services.contains(&c.service))
        .filter(|c| all || c.running())
        .map(|c| row(engine, c, now))
        .collect())
}

/// `ls`: each project with a summary such as `running(2), exited(1)`.
pub fn projects(engine: &Engine, all: bool) -> Result<Vec<(String, String, Vec<String>)>> {
    let mut out = Vec::new();
    for (name, containers) in inventory::all(engine)? {
        let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
        for c in &containers {
            *counts.entry(c.state.status.to_string()).or_default() += 1;
        }
        if !all && !counts.contains_key("running") {
            continue;
        }
        let status = counts
            .iter()
            .map(|(s, n)| format!("{s}({n})"))
            .collect::<Vec<_>>()
            .join(", ");
        let files: Vec<String> = containers
            .first()
            .and_then(|c| c.label(super::labels::CONFIG_FILES))
            .map(|f| f.split(',').map(str::to_string).collect())
            .unwrap_or_default();
        out.push((name, status, files));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_states_read_like_dockers() {
        let s = chrono::Duration::seconds;
        assert_eq!(human_duration(s(0)), "Less than a second");
        assert_eq!(human_duration(s(5)), "5 seconds");
        assert_eq!(human_duration(s(70)), "About a minute");
        assert_eq!(human_duration(s(3600 * 5)), "5 hours");
        let now = Utc::now();
        let mut st = ContainerState::new("c");
        st.status = Status::Exited;
        st.exit_code = Some(137);
        st.finished_at = Some(now - s(3));
        assert_eq!(status_text(&st, now), "Exited (137) 3 seconds ago");
        st.status = Status::Running;
        st.started_at = Some(now - s(10));
        st.health = Some(Health::Healthy);
        assert_eq!(status_text(&st, now), "Up 10 seconds (healthy)");
        st.unsupervised = true;
        assert_eq!(status_text(&st, now), "Up 10 seconds (unsupervised)");
    }
}
