//! Which containers use an engine object (a volume, a network): what `rm`
//! and `prune` of those objects must respect.

use crate::runtime::MountSpec;

use super::container::connected_networks;
use super::engine::Engine;
use super::error::Result;
use super::inventory;

/// Containers (of any project) that mount the volume `name`.
pub fn volume_users(engine: &Engine, name: &str) -> Result<Vec<String>> {
    let data = engine.volumes.data_path(name);
    Ok(inventory::all(engine)?
        .into_values()
        .flatten()
        .filter(|c| {
            c.spec
                .mounts
                .iter()
                .any(|m| matches!(m, MountSpec::Volume { source, .. } if *source == data))
        })
        .map(|c| c.id)
        .collect())
}

/// Containers (of any project) connected to the network `name`.
pub fn network_users(engine: &Engine, name: &str) -> Result<Vec<String>> {
    Ok(inventory::all(engine)?
        .into_values()
        .flatten()
        .filter(|c| connected_networks(engine, &c.id).iter().any(|n| n == name))
        .map(|c| c.id)
        .collect())
}
