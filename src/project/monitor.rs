//! `events`: the project's container events from the engine's event log
//! (`runtime::events`), which the supervisors and the orchestrator append
//! to as they make each change.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::runtime::events::Tail;

use super::engine::Engine;
use super::error::Result;
use super::labels;
use super::Target;

/// How often the log is read for new lines.
const POLL: Duration = Duration::from_millis(50);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerEvent {
    pub time: DateTime<Utc>,
    pub action: String,
    pub container: String,
    pub service: String,
    pub image: String,
    pub attributes: std::collections::BTreeMap<String, String>,
}

/// Emits the project's events from now on, until `stop` is set or `emit`
/// returns false.
pub fn follow(
    engine: &Engine,
    target: &Target,
    services: &[String],
    stop: &AtomicBool,
    emit: &mut dyn FnMut(&ContainerEvent) -> bool,
) -> Result<()> {
    target.check_services(services)?;
    let mut tail = Tail::from_now(&engine.roots);
    while !stop.load(Ordering::Relaxed) {
        for e in tail.read_new() {
            if e.attributes.get(labels::PROJECT) != Some(&target.name) {
                continue;
            }
            let service = e.attributes.get(labels::SERVICE).cloned().unwrap_or_default();
            if !services.is_empty() && !services.contains(&service) {
                continue;
            }
            let ev = ContainerEvent {
                time: e.time,
                action: e.action,
                container: e.id,
                service,
                image: e.attributes.get(labels::IMAGE_NAME).cloned().unwrap_or_default(),
                attributes: e.attributes,
            };
            if !emit(&ev) {
                return Ok(());
            }
        }
        std::thread::sleep(POLL);
    }
    Ok(())
}
