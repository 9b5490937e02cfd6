//! Compose networks and ports in engine terms: which networks to create,
//! how each container joins them, and the services (DNS responder, port
//! proxies) its supervisor runs.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use ipnet::IpNet;

use crate::compose::model::{Project, Service};
use crate::network::dns::records::{DnsEndpoint, DnsNetworkEntry};
use crate::network::ipam::IpamRequest;
use crate::network::{order_networks, Attachment, Connection, NetworkSpec};
use crate::supervisor::services::{DnsService, NetworkServices, PortService};

use super::engine::Engine;
use super::error::{ProjectError, Result};
use super::events::{Kind, Sink, Step};

/// The engine name of a project network (`<project>_<key>` unless `name:`).
pub fn engine_name(project: &Project, project_name: &str, key: &str) -> String {
    project
        .networks
        .get(key)
        .and_then(|n| n.name.clone())
        .unwrap_or_else(|| format!("{project_name}_{key}"))
}

fn parse_net<T: std::str::FromStr>(what: &str, net: &str, v: &Option<String>) -> Result<Option<T>> {
    v.as_deref()
        .map(|s| {
            s.parse::<T>()
                .map_err(|_| ProjectError::Other(format!("network {net}: invalid {what} {s:?}")))
        })
        .transpose()
}

/// The networks the services use, as the engine creates them. Networks no
/// service uses are left out, as Docker Compose does, unless `all`
/// (`--all-resources`, and `down`, which removes what that made).
pub fn specs(project: &Project, project_name: &str, all: bool) -> Result<Vec<(String, NetworkSpec)>> {
    let mut used: Vec<&str> = project
        .services
        .values()
        .filter(|s| s.network_mode.is_none())
        .flat_map(|s| s.networks.keys().map(String::as_str))
        .collect();
    if all {
        used.extend(project.networks.keys().map(String::as_str));
    }
    used.sort();
    used.dedup();
    let mut out = Vec::new();
    for key in used {
        let Some(n) = project.networks.get(key) else {
            continue;
        };
        let name = engine_name(project, project_name, key);
        if let Some(driver) = n.driver.as_deref().filter(|d| *d != "bridge") {
            return Err(ProjectError::Other(format!(
                "network {key}: driver {driver:?} is not supported; rcompose creates bridge networks"
            )));
        }
        let mut ipam = Vec::new();
        for c in n.ipam.iter().flat_map(|i| i.config.iter()) {
            ipam.push(IpamRequest {
                subnet: parse_net::<IpNet>("subnet", key, &c.subnet)?,
                ip_range: parse_net::<IpNet>("ip_range", key, &c.ip_range)?,
                gateway: parse_net::<IpAddr>("gateway", key, &c.gateway)?,
            });
        }
        out.push((
            key.to_string(),
            NetworkSpec {
                name,
                bridge: None,
                ipam,
                enable_ipv6: n.enable_ipv6.unwrap_or(false),
                internal: n.internal.unwrap_or(false),
                external: n.external.unwrap_or(false),
                mtu: n
                    .driver_opts
                    .get("com.docker.network.driver.mtu")
                    .and_then(|v| v.as_deref())
                    .and_then(|v| v.parse().ok()),
            },
        ));
    }
    Ok(out)
}

/// Creates the project's networks (idempotent); an external network must
/// exist already.
pub fn create_all(engine: &Engine, specs: &[(String, NetworkSpec)], sink: &dyn Sink) -> Result<()> {
    for (key, spec) in specs {
        if spec.external {
            if engine.networking.network(&spec.name)?.is_none() {
                return Err(ProjectError::Other(format!(
                    "network {} declared as external, but could not be found; create it with `rcompose network create {}`",
                    spec.name, spec.name
                )));
            }
            continue;
        }
        if engine.networking.network(&spec.name)?.is_some() {
            continue;
        }
        let step = Step::begin(sink, Kind::Network, &spec.name, "Creating");
        match engine.networking.create_network(spec) {
            Ok(_) => step.end("Created"),
            Err(e) => {
                step.fail("Error");
                return Err(ProjectError::Other(format!("network {key}: {e}")));
            }
        }
    }
    Ok(())
}

/// Removes the project's networks that exist (not external ones).
pub fn remove_all(engine: &Engine, names: &[String], sink: &dyn Sink) -> Vec<ProjectError> {
    let mut problems = Vec::new();
    for name in names {
        match engine.networking.network(name) {
            Ok(Some(r)) if !r.external => {
                let step = Step::begin(sink, Kind::Network, name, "Removing");
                match engine.networking.remove_network(name) {
                    Ok(()) => step.end("Removed"),
                    Err(e) => {
                        step.fail("Error");
                        problems.push(e.into());
                    }
                }
            }
            Ok(_) => {}
            Err(e) => problems.push(e.into()),
        }
    }
    problems
}

/// How one container is networked.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    /// Its own namespace, joined to these networks (first = default route).
    Networks(Vec<(String, Connection, Vec<String>)>),
    /// `network_mode: none`: a namespace with only `lo`.
    None,
    /// `network_mode: host`.
    Host,
    /// `network_mode: service:X` / `container:X`: another container's namespace.
    Shared(String),
}

/// The networking of one container of `service`. `service:NAME` is
/// resolved to that service's first container by the caller's `lookup`.
pub fn mode(
    project: &Project,
    project_name: &str,
    service_name: &str,
    service: &Service,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Mode> {
    match service.network_mode.as_deref() {
        Some("none") => return Ok(Mode::None),
        Some("host") => return Ok(Mode::Host),
        Some(m) if m.starts_with("service:") || m.starts_with("container:") => {
            let (kind, target) = m.split_once(':').unwrap_or((m, ""));
            let container = if kind == "service" {
                lookup(target).ok_or_else(|| {
                    ProjectError::service(
                        service_name,
                        format!("network_mode {m}: service {target} has no container; start it first"),
                    )
                })?
            } else {
                target.to_string()
            };
            return Ok(Mode::Shared(container));
        }
        Some("bridge") | Some("default") | None => {}
        Some(other) => {
            return Err(ProjectError::service(
                service_name,
                format!("network_mode {other:?} is not supported; use none, host, service:NAME or container:NAME"),
            ))
        }
    }
    let mut items = Vec::new();
    for (key, sn) in &service.networks {
        let name = engine_name(project, project_name, key);
        let mut addresses = Vec::new();
        let mut aliases = Vec::new();
        let mut priority = 0;
        let mut mac = service.mac_address.clone();
        if let Some(sn) = sn {
            for (k, v, a) in [
                ("ipv4_address", "IPv4", &sn.ipv4_address),
                ("ipv6_address", "IPv6", &sn.ipv6_address),
            ] {
                if let Some(a) = a {
                    addresses.push(a.parse::<IpAddr>().map_err(|_| {
                        ProjectError::service(service_name, format!("networks.{key}.{k}: {a:?} is not an {v} address"))
                    })?);
                }
            }
            aliases = sn.aliases.clone();
            priority = sn.priority.unwrap_or(0) as i32;
            if sn.mac_address.is_some() {
                mac = sn.mac_address.clone();
            }
        }
        let mac = mac.as_deref().map(|m| parse_mac(service_name, m)).transpose()?;
        items.push((
            name.clone(),
            priority,
            (
                name.clone(),
                Connection {
                    network: name,
                    addresses,
                    mac,
                },
                aliases,
            ),
        ));
    }
    Ok(Mode::Networks(order_networks(items)))
}

fn parse_mac(service: &str, s: &str) -> Result<[u8; 6]> {
    let parts: Vec<u8> = s
        .split(':')
        .map(|p| u8::from_str_radix(p, 16))
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| ProjectError::service(service, format!("mac_address {s:?} is not like 02:42:ac:11:00:02")))?;
    parts
        .try_into()
        .map_err(|_| ProjectError::service(service, format!("mac_address {s:?} is not like 02:42:ac:11:00:02")))
}

/// The namespace file of a container in mode `mode`.
pub fn netns_for(engine: &Engine, container: &str, mode: &Mode) -> Option<PathBuf> {
    match mode {
        Mode::Networks(_) | Mode::None => Some(engine.networking.netns_path(container)),
        Mode::Shared(other) => Some(engine.networking.netns_path(other)),
        Mode::Host => None,
    }
}

/// Port bindings of one replica: `published` ranges give replica `n` the
/// n-th port of the range; no `published` means an ephemeral port.
pub fn port_services(
    service_name: &str,
    service: &Service,
    number: u32,
    target_ip: IpAddr,
) -> Result<Vec<PortService>> {
    let mut out = Vec::new();
    for p in &service.ports {
        let host_ip: IpAddr = match p.host_ip.as_deref() {
            None | Some("") => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            Some(h) => h.trim_matches(|c| c == '[' || c == ']').parse().map_err(|_| {
                ProjectError::service(service_name, format!("ports: host_ip {h:?} is not an IP address"))
            })?,
        };
        let host_port: u16 = match p.published.as_deref() {
            None | Some("") => 0,
            Some(pubs) => {
                let (lo, hi) = pubs.split_once('-').unwrap_or((pubs, pubs));
                let parse = |s: &str| {
                    s.parse::<u16>().map_err(|_| {
                        ProjectError::service(
                            service_name,
                            format!("ports: published {pubs:?} is not a port or range"),
                        )
                    })
                };
                let (lo, hi) = (parse(lo)?, parse(hi)?);
                let port = lo as u32 + number.saturating_sub(1);
                if port > hi as u32 {
                    return Err(ProjectError::service(
                        service_name,
                        format!("ports: range {pubs} has no port left for replica {number}"),
                    ));
                }
                port as u16
            }
        };
        let protocol = p.protocol.clone().unwrap_or_else(|| "tcp".into());
        if protocol != "tcp" && protocol != "udp" {
            return Err(ProjectError::service(
                service_name,
                format!("ports: protocol {protocol:?} is not supported; use tcp or udp"),
            ));
        }
        out.push(PortService {
            host: SocketAddr::new(host_ip, host_port),
            target: SocketAddr::new(target_ip, p.target),
            protocol,
            service: service_name.to_string(),
        });
    }
    Ok(out)
}

/// What the supervisor of a networked container runs: its DNS responder,
/// its record for others, and its published ports.
pub fn network_services(
    engine: &Engine,
    netns: PathBuf,
    container: &str,
    service_name: &str,
    service: &Service,
    joined: &[(String, Vec<String>)],
    attachments: &[Attachment],
    ports: Vec<PortService>,
) -> NetworkServices {
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let dns_ips: Vec<IpAddr> = service.dns.iter().filter_map(|d| d.parse().ok()).collect();
    let networks: Vec<String> = attachments.iter().map(|a| a.network.clone()).collect();
    let entries = attachments
        .iter()
        .map(|a| DnsNetworkEntry {
            network: a.network.clone(),
            addresses: a.addresses.iter().map(|n| n.addr()).collect(),
            aliases: joined
                .iter()
                .find(|(n, _)| n == &a.network)
                .map(|(_, al)| al.clone())
                .unwrap_or_default(),
        })
        .collect();
    NetworkServices {
        netns,
        dns: Some(DnsService {
            networks,
            upstreams: crate::network::dns::resolv::upstreams(&dns_ips, &host_resolv),
            records_dir: engine.networking.paths.dns_dir(),
        }),
        endpoint: Some(DnsEndpoint {
            container: container.to_string(),
            service: Some(service_name.to_string()),
            hostname: service.hostname.clone(),
            networks: entries,
        }),
        ports,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::model::Port;

    #[test]
    fn ports_without_host_ip_listen_everywhere_and_ranges_spread_over_replicas() {
        let s = Service {
            ports: vec![
                Port {
                    target: 80,
                    published: Some("8000-8001".into()),
                    ..Port::default()
                },
                Port {
                    target: 53,
                    protocol: Some("udp".into()),
                    host_ip: Some("127.0.0.1".into()),
                    ..Port::default()
                },
            ],
            ..Service::default()
        };
        let ip: IpAddr = "10.1.0.2".parse().unwrap();
        let p1 = port_services("web", &s, 1, ip).unwrap();
        assert_eq!(p1[0].host, "0.0.0.0:8000".parse().unwrap());
        assert_eq!(p1[0].target, "10.1.0.2:80".parse().unwrap());
        assert_eq!(p1[1].host, "127.0.0.1:0".parse().unwrap());
        assert_eq!(p1[1].protocol, "udp");
        assert_eq!(port_services("web", &s, 2, ip).unwrap()[0].host.port(), 8001);
        let err = port_services("web", &s, 3, ip).unwrap_err().to_string();
        assert!(err.contains("no port left for replica 3"), "{err}");
    }
}
