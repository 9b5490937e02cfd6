//! The network lifecycle as the `project` module drives it: create and
//! remove networks, connect and disconnect containers. Each operation
//! validates first, then applies, and undoes its own partial work on
//! failure; removal keeps going past errors and reports them all.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ipnet::IpNet;

use super::bridge::{self, BridgeSpec};
use super::error::{NetworkError, Result};
use super::ipam::{self, AddressPool, IpamRequest, NetworkIpam, SubnetPlan};
use super::nat::{self, NatConfig, NatNetwork};
use super::state::{self, FileLock, NetworkPaths, NetworkRecord};
use super::veth::{self, Endpoint};
use super::{netlink, netns};

/// A network as the caller wants it (engine terms, not Compose's).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkSpec {
    /// Full name (`<project>_<network>`, or the external network's name).
    pub name: String,
    /// Bridge name; defaults to [`bridge::bridge_name`] of `name`.
    pub bridge: Option<String>,
    /// `ipam.config` entries; empty means one IPv4 subnet from the pool.
    pub ipam: Vec<IpamRequest>,
    pub enable_ipv6: bool,
    pub internal: bool,
    /// The bridge must already exist and is left alone by `remove_network`.
    pub external: bool,
    pub mtu: Option<u32>,
}

/// One network a container joins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Connection {
    pub network: String,
    /// `ipv4_address` / `ipv6_address`.
    pub addresses: Vec<IpAddr>,
    pub mac: Option<[u8; 6]>,
}

/// What a container got on one network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub network: String,
    pub interface: String,
    pub host_veth: String,
    pub addresses: Vec<IpNet>,
    pub gateways: Vec<IpAddr>,
}

/// Entry point to the network module: where state lives, which pools to
/// draw from, and how to do NAT.
#[derive(Debug, Clone)]
pub struct Networking {
    pub paths: NetworkPaths,
    pub pools_v4: Vec<AddressPool>,
    pub pools_v6: Vec<AddressPool>,
    /// `None` leaves nftables alone (no masquerading, no isolation rules).
    pub nat: Option<NatConfig>,
}

impl Networking {
    pub fn new(paths: NetworkPaths) -> Self {
        Networking {
            paths,
            pools_v4: AddressPool::defaults_v4(),
            pools_v6: AddressPool::defaults_v6(),
            nat: Some(NatConfig::default()),
        }
    }

    fn global_lock(&self) -> Result<FileLock> {
        FileLock::acquire(&self.paths.networks_dir().join(".all"))
    }

    /// The namespace file of `container` (whether or not it exists yet).
    pub fn netns_path(&self, container: &str) -> PathBuf {
        self.paths.netns_file(container)
    }

    /// Creates the namespace file for `container` if needed.
    pub fn create_netns(&self, container: &str) -> Result<PathBuf> {
        let p = self.netns_path(container);
        netns::create(&p)?;
        Ok(p)
    }

    pub fn remove_netns(&self, container: &str) -> Result<()> {
        netns::remove(&self.netns_path(container))
    }

    /// Creates a network (idempotent: an existing record is reused and its
    /// bridge re-created if it vanished, e.g. after a reboot).
    pub fn create_network(&self, spec: &NetworkSpec) -> Result<NetworkRecord> {
        let _all = self.global_lock()?;
        let path = self.paths.network_file(&spec.name);
        let existing: Option<NetworkRecord> = state::read_json(&path)?;
        let record = match existing {
            Some(r) => r,
            None => self.plan_network(spec)?,
        };
        let validated = BridgeSpec {
            name: record.bridge.clone(),
            addresses: record.ipam.subnets.iter().map(SubnetPlan::gateway_net).collect(),
            mtu: spec.mtu,
            external: record.external,
        }
        .validate()?;
        let created = validated.setup()?;
        let undo = |e: NetworkError| {
            if created {
                let _ = bridge::remove(&record.bridge);
            }
            e
        };
        state::write_json_atomic(&path, &record).map_err(undo)?;
        if let Err(e) = self.sync_nat() {
            let _ = state::remove_file(&path);
            return Err(undo(e));
        }
        Ok(record)
    }

    fn plan_network(&self, spec: &NetworkSpec) -> Result<NetworkRecord> {
        let others = state::list_networks(&self.paths)?;
        let in_use: Vec<(String, IpNet)> = others
            .iter()
            .flat_map(|r| r.ipam.subnets.iter().map(|s| (r.name.clone(), s.subnet)))
            .collect();
        let routes = netlink::host_routes()?;
        let mut plans = Vec::new();
        let mut taken: Vec<IpNet> = in_use.iter().map(|(_, n)| *n).collect();
        // (request, is IPv6): at least one IPv4 subnet, and one IPv6 subnet
        // when `enable_ipv6` is set and none was configured.
        let mut requests: Vec<(IpamRequest, bool)> = spec
            .ipam
            .iter()
            .map(|r| {
                (
                    r.clone(),
                    r.subnet.is_some_and(|s| s.addr().is_ipv6()) || r.gateway.is_some_and(|g| g.is_ipv6()),
                )
            })
            .collect();
        if !requests.iter().any(|(_, v6)| !v6) {
            requests.insert(0, (IpamRequest::default(), false));
        }
        if spec.enable_ipv6 && !requests.iter().any(|(_, v6)| *v6) {
            requests.push((IpamRequest::default(), true));
        }
        for (req, v6) in &requests {
            let subnet = match req.subnet {
                Some(s) => {
                    ipam::check_subnet(&spec.name, &s, &in_use, &routes)?;
                    s
                }
                None => {
                    let pools = if *v6 { &self.pools_v6 } else { &self.pools_v4 };
                    ipam::choose_subnet(&spec.name, pools, &taken, &routes)?
                }
            };
            taken.push(subnet);
            plans.push(SubnetPlan::new(&spec.name, subnet, req)?);
        }
        Ok(NetworkRecord {
            name: spec.name.clone(),
            bridge: spec.bridge.clone().unwrap_or_else(|| bridge::bridge_name(&spec.name)),
            ipam: NetworkIpam::new(&spec.name, plans),
            internal: spec.internal,
            external: spec.external,
            enable_ipv6: spec.enable_ipv6,
        })
    }

    fn sync_nat(&self) -> Result<()> {
        let Some(cfg) = &self.nat else { return Ok(()) };
        let nets: Vec<NatNetwork> = state::list_networks(&self.paths)?
            .into_iter()
            .map(|r| NatNetwork {
                bridge: r.bridge,
                internal: r.internal,
            })
            .collect();
        nat::sync(cfg, &nets)
    }

    /// Removes a network: NAT rules, the bridge (unless external) and its
    /// record. Keeps going past errors; an unknown network is success.
    pub fn remove_network(&self, name: &str) -> Result<()> {
        let _all = self.global_lock()?;
        let path = self.paths.network_file(name);
        let Some(record) = state::read_json::<NetworkRecord>(&path)? else {
            return Ok(());
        };
        let mut problems = Vec::new();
        if let Err(e) = state::remove_file(&path) {
            problems.push(e);
        }
        if let Err(e) = self.sync_nat() {
            problems.push(e);
        }
        if !record.external {
            if let Err(e) = bridge::remove(&record.bridge) {
                problems.push(e);
            }
        }
        let _ = std::fs::remove_file(path.with_extension("lock"));
        NetworkError::from_teardown(problems)
    }

    pub fn network(&self, name: &str) -> Result<Option<NetworkRecord>> {
        state::read_json(&self.paths.network_file(name))
    }

    /// Connects `container` (its namespace at `netns`) to `connections`, in
    /// order: `eth0` is the first, and the first non-internal network gives
    /// the default route. Addresses are leased under the container's name,
    /// so a container that is re-created keeps them.
    pub fn connect(&self, container: &str, netns: &Path, connections: &[Connection]) -> Result<Vec<Attachment>> {
        let mut attachments = Vec::new();
        let mut endpoints = Vec::new();
        let mut new_leases = Vec::new();
        let mut default_route_set = false;
        let result = (|| -> Result<()> {
            for (i, c) in connections.iter().enumerate() {
                let path = self.paths.network_file(&c.network);
                let (record, addrs, fresh) = state::update_json::<NetworkRecord, _>(&path, |r| {
                    let r = r.as_mut().ok_or_else(|| NetworkError::State {
                        path: path.clone(),
                        action: "read",
                        reason: format!(
                            "network \"{}\" does not exist; create it before connecting \"{container}\"",
                            c.network
                        ),
                    })?;
                    let fresh = r.ipam.lease(container).is_none();
                    let addrs = r.ipam.allocate(container, &c.addresses)?;
                    Ok((r.clone(), addrs, fresh))
                })?;
                if fresh {
                    new_leases.push(c.network.clone());
                }
                let addresses: Vec<IpNet> = addrs
                    .iter()
                    .filter_map(|a| {
                        record
                            .ipam
                            .subnets
                            .iter()
                            .find(|s| s.subnet.contains(a))
                            .map(|s| s.with_prefix(*a))
                    })
                    .collect();
                let gateways: Vec<IpAddr> = if record.internal || default_route_set {
                    Vec::new()
                } else {
                    default_route_set = true;
                    record.ipam.subnets.iter().map(|s| s.gateway).collect()
                };
                let ep = Endpoint {
                    bridge: record.bridge.clone(),
                    host_veth: veth::host_veth_name(container, &c.network),
                    interface: format!("eth{i}"),
                    addresses: addresses.clone(),
                    mac: c.mac,
                    mtu: None,
                    gateways: gateways.clone(),
                };
                attachments.push(Attachment {
                    network: c.network.clone(),
                    interface: ep.interface.clone(),
                    host_veth: ep.host_veth.clone(),
                    addresses,
                    gateways,
                });
                endpoints.push(ep);
            }
            if endpoints.is_empty() {
                veth::setup_loopback(netns)
            } else {
                veth::attach(netns, &endpoints)
            }
        })();
        if let Err(e) = result {
            for n in &new_leases {
                let _ = self.release(container, n);
            }
            return Err(e);
        }
        Ok(attachments)
    }

    fn release(&self, container: &str, network: &str) -> Result<()> {
        state::update_json::<NetworkRecord, _>(&self.paths.network_file(network), |r| {
            if let Some(r) = r.as_mut() {
                r.ipam.release(container);
            }
            Ok(())
        })
    }

    /// Disconnects `container` from `networks` (removes its veths). With
    /// `release`, its addresses are given back (the container is removed,
    /// not just stopped). Keeps going past errors.
    pub fn disconnect(&self, container: &str, networks: &[String], release: bool) -> Result<()> {
        let veths: Vec<String> = networks.iter().map(|n| veth::host_veth_name(container, n)).collect();
        let mut problems = Vec::new();
        if let Err(e) = veth::detach(&veths) {
            problems.push(e);
        }
        if release {
            for n in networks {
                if let Err(e) = self.release(container, n) {
                    problems.push(e);
                }
            }
        }
        NetworkError::from_teardown(problems)
    }

    /// Removes a container from the network for good: gives back its
    /// addresses and removes its namespace file. Its veth pairs are not
    /// deleted one by one (each deletion waits for an RCU grace period,
    /// ~20 ms): they die with the namespace, which the kernel tears down in
    /// the background, batched, once no process is left in it. Keeps going
    /// past errors.
    pub fn remove_container(&self, container: &str, networks: &[String]) -> Result<()> {
        let mut problems = Vec::new();
        for n in networks {
            if let Err(e) = self.release(container, n) {
                problems.push(e);
            }
        }
        if let Err(e) = self.remove_netns(container) {
            problems.push(e);
        }
        NetworkError::from_teardown(problems)
    }
}
