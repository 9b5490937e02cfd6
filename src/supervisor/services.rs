//! The network services a container's supervisor runs for it (DESIGN.md
//! §3, §4): the DNS responder in its namespace and its published ports.
//! The caller describes them in `services.json` before starting the
//! supervisor.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::network::dns::records::DnsEndpoint;
use crate::runtime::state::ContainerPaths;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkServices {
    /// The container's network namespace file (same path as ContainerSpec.netns).
    pub netns: PathBuf,
    /// The DNS responder at 127.0.0.11:53 in `netns`; None: no responder.
    pub dns: Option<DnsService>,
    /// What this container answers to in others' lookups while it runs.
    pub endpoint: Option<DnsEndpoint>,
    /// Published ports (host side listens in the host namespace).
    pub ports: Vec<PortService>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DnsService {
    pub networks: Vec<String>,
    pub upstreams: Vec<SocketAddr>,
    pub records_dir: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PortService {
    pub host: SocketAddr,
    pub target: SocketAddr,
    pub protocol: String,
    pub service: String,
}

/// A port as it actually listens (ephemeral ports resolved).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedPort {
    pub host: SocketAddr,
    pub target: u16,
    pub protocol: String,
}

fn services_file(paths: &ContainerPaths) -> PathBuf {
    paths.dir.join("services.json")
}

fn ports_file(paths: &ContainerPaths) -> PathBuf {
    paths.dir.join("ports.json")
}

pub fn write(paths: &ContainerPaths, services: &NetworkServices) -> crate::runtime::Result<()> {
    crate::runtime::state::write_json(&services_file(paths), services)
}

pub fn read(paths: &ContainerPaths) -> crate::runtime::Result<Option<NetworkServices>> {
    let p = services_file(paths);
    if !p.exists() {
        return Ok(None);
    }
    crate::runtime::state::read_json(&p).map(Some)
}

pub fn published(paths: &ContainerPaths) -> Vec<PublishedPort> {
    std::fs::read(ports_file(paths))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}
