//! One container's life as the project drives it: create (spec, volumes,
//! rootfs, namespace, network connections, supervisor services), start,
//! stop and remove. Creation undoes itself on failure; removal keeps going
//! past errors so that `down` always gets as far as it can.

use std::net::IpAddr;
use std::time::Duration;

use crate::network::dns::source;
use crate::runtime;
use crate::supervisor::{client, services};

use super::engine::Engine;
use super::error::{ProjectError, Result};
use super::networks::{self, Mode};
use super::translate::{self, Instance, ProjectContext};

/// Creates the container `inst` describes, ready to start.
pub fn create(engine: &Engine, cx: &ProjectContext, inst: &Instance, mode: &Mode) -> Result<()> {
    let (spec, needs) = translate::container_spec(cx, inst, &engine.volumes)?;
    for (name, labels) in &needs.volumes {
        engine.volumes.create(name, labels.clone())?;
    }
    let id = spec.id.clone();
    // The container's directory is the first thing on disk, so that
    // whatever follows is found (and removed) by `down` if we are killed.
    runtime::prepare_with_files(&engine.roots, &spec, &needs.files)?;
    let connected = (|| -> Result<()> {
        match mode {
            Mode::Networks(list) => {
                let netns = engine.networking.create_netns(&id)?;
                let connections: Vec<_> = list.iter().map(|(_, c, _)| c.clone()).collect();
                let attachments = engine.networking.connect(&id, &netns, &connections)?;
                let target_ip = attachments
                    .iter()
                    .flat_map(|a| a.addresses.iter().map(|n| n.addr()))
                    .find(IpAddr::is_ipv4)
                    .or_else(|| {
                        attachments
                            .iter()
                            .flat_map(|a| a.addresses.iter().map(|n| n.addr()))
                            .next()
                    })
                    .ok_or_else(|| ProjectError::service(inst.service_name, "the container got no address"))?;
                let ports = networks::port_services(inst.service_name, inst.service, inst.number, target_ip)?;
                let joined: Vec<(String, Vec<String>)> = list
                    .iter()
                    .map(|(n, _, aliases)| (n.clone(), aliases.clone()))
                    .collect();
                let svc = networks::network_services(
                    engine,
                    netns,
                    &id,
                    inst.service_name,
                    inst.service,
                    &joined,
                    &attachments,
                    ports,
                );
                services::write(&engine.roots.container(&id), &svc)?;
            }
            Mode::None => {
                engine.networking.create_netns(&id)?;
            }
            Mode::Shared(_) | Mode::Host => {}
        }
        Ok(())
    })();
    if let Err(e) = connected {
        let _ = remove(engine, &id);
        return Err(e);
    }
    let _ = crate::runtime::events::record(&engine.roots, &id, "create", &spec.labels, &[]);
    Ok(())
}

/// Starts a created or stopped container under a new supervisor.
pub fn start(engine: &Engine, id: &str) -> Result<()> {
    client::start(&engine.exe, &engine.roots, id)?;
    Ok(())
}

/// Creates the container's process under a new supervisor and holds it
/// there until [`release`]: the slow part of a start, done while the
/// container's dependencies start.
pub fn create_held(engine: &Engine, id: &str) -> Result<()> {
    client::create_held(&engine.exe, &engine.roots, id)?;
    Ok(())
}

/// Runs a container held by [`create_held`].
pub fn release(engine: &Engine, id: &str) -> Result<()> {
    client::release(&engine.roots, id)?;
    Ok(())
}

/// Stops a container (stop signal, then SIGKILL after `grace` or its own
/// stop_grace_period).
pub fn stop(engine: &Engine, id: &str, grace: Option<Duration>) -> Result<()> {
    client::stop(&engine.roots, id, grace)?;
    Ok(())
}

/// The networks a container was connected to, from its services file.
pub fn connected_networks(engine: &Engine, id: &str) -> Vec<String> {
    services::read(&engine.roots.container(id))
        .ok()
        .flatten()
        .and_then(|s| s.endpoint)
        .map(|e| e.networks.into_iter().map(|n| n.network).collect())
        .unwrap_or_default()
}

/// Removes everything of a container: processes, rootfs, directory, DNS
/// record, addresses and namespace. Every step runs; the first error is
/// returned.
pub fn remove(engine: &Engine, id: &str) -> Result<()> {
    let networks = connected_networks(engine, id);
    let labels = engine
        .roots
        .container(id)
        .read_spec()
        .map(|s| s.labels)
        .unwrap_or_default();
    let mut first: Option<ProjectError> = None;
    if let Err(e) = client::remove(&engine.roots, id) {
        first.get_or_insert(e.into());
    }
    let _ = source::withdraw(&engine.networking.paths.dns_dir(), id);
    if let Err(e) = engine.networking.remove_container(id, &networks) {
        first.get_or_insert(e.into());
    }
    if first.is_none() {
        let _ = crate::runtime::events::record(&engine.roots, id, "destroy", &labels, &[]);
    }
    match first {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
