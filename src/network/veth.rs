//! A container's side of networking: `lo` up, and per network a veth pair
//! with one end in the network's bridge and the other (`eth0`, `eth1`, …) in
//! the container's namespace, with its addresses, MAC and default route.

use std::fs::File;
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::path::Path;

use ipnet::IpNet;

use super::bridge::{check_ifname, fnv1a};
use super::error::{NetworkError, Result};
use super::netlink;

/// The host-side veth name for a container on a network: `rcv` and 12 hex
/// digits of a hash of both names (stable, unique, 15 bytes).
pub fn host_veth_name(container: &str, network: &str) -> String {
    let h = fnv1a(format!("{container}\0{network}").as_bytes());
    format!("rcv{:012x}", h & 0xffff_ffff_ffff)
}

/// Parses `mac_address` (`02:42:ac:11:00:02`).
pub fn parse_mac(s: &str) -> Result<[u8; 6]> {
    let bad = || NetworkError::InvalidInterfaceName {
        name: s.to_string(),
        reason: "a MAC address is six hex bytes like 02:42:ac:11:00:02",
    };
    let parts: Vec<&str> = s.split([':', '-']).collect();
    if parts.len() != 6 {
        return Err(bad());
    }
    let mut mac = [0u8; 6];
    for (i, p) in parts.iter().enumerate() {
        if p.len() != 2 {
            return Err(bad());
        }
        mac[i] = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    if mac[0] & 1 == 1 {
        return Err(NetworkError::InvalidInterfaceName {
            name: s.to_string(),
            reason: "a multicast MAC address cannot be used for an interface",
        });
    }
    Ok(mac)
}

/// One network connection of a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Bridge to attach to (must exist).
    pub bridge: String,
    /// Host-side veth name ([`host_veth_name`]).
    pub host_veth: String,
    /// Name inside the container (`eth0`, …).
    pub interface: String,
    /// Addresses with their subnet prefix.
    pub addresses: Vec<IpNet>,
    pub mac: Option<[u8; 6]>,
    pub mtu: Option<u32>,
    /// Default route(s) via these gateways; set on the first non-internal
    /// network only.
    pub gateways: Vec<IpAddr>,
}

/// Brings `lo` up inside the namespace (all a `network_mode: none` container gets).
pub fn setup_loopback(netns: &Path) -> Result<()> {
    netlink::with_handle(Some(netns), |h| async move {
        let lo = netlink::link_index(&h, "lo")
            .await?
            .ok_or_else(|| NetworkError::LinkNotFound {
                name: "lo".into(),
                context: " in the namespace".into(),
            })?;
        netlink::set_up(&h, lo, "lo").await
    })
}

/// Connects the container whose namespace is at `netns` to every endpoint:
/// one pass in the host namespace creates the veth pairs, one pass inside
/// the container configures them. On failure every veth made here is removed.
pub fn attach(netns: &Path, endpoints: &[Endpoint]) -> Result<()> {
    for ep in endpoints {
        check_ifname(&ep.host_veth)?;
        check_ifname(&ep.interface)?;
    }
    let ns_file = File::open(netns).map_err(|e| NetworkError::Netns {
        path: netns.to_path_buf(),
        action: "open",
        source: e,
    })?;
    let fd = ns_file.as_raw_fd();
    let eps = endpoints.to_vec();
    let created = netlink::with_handle(None, move |h| async move {
        let mut created: Vec<String> = Vec::new();
        for ep in &eps {
            let step = async {
                let br = netlink::link_index(&h, &ep.bridge)
                    .await?
                    .ok_or_else(|| NetworkError::LinkNotFound {
                        name: ep.bridge.clone(),
                        context: format!(" while connecting {}: create the network first", ep.interface),
                    })?;
                // A veth left by a crashed run would make the add fail: replace it.
                netlink::del_link(&h, &ep.host_veth).await?;
                netlink::add_veth(&h, &ep.host_veth, &ep.interface, fd, br, ep.mac, ep.mtu).await
            };
            if let Err(e) = step.await {
                for name in &created {
                    let _ = netlink::del_link(&h, name).await;
                }
                return Err(e);
            }
            created.push(ep.host_veth.clone());
        }
        Ok(created)
    })?;
    drop(ns_file);
    let eps = endpoints.to_vec();
    let inside = netlink::with_handle(Some(netns), move |h| async move {
        let lo = netlink::link_index(&h, "lo")
            .await?
            .ok_or_else(|| NetworkError::LinkNotFound {
                name: "lo".into(),
                context: " in the namespace".into(),
            })?;
        netlink::set_up(&h, lo, "lo").await?;
        for ep in &eps {
            let idx = netlink::link_index(&h, &ep.interface)
                .await?
                .ok_or_else(|| NetworkError::LinkNotFound {
                    name: ep.interface.clone(),
                    context: " in the container namespace after creating it".into(),
                })?;
            for a in &ep.addresses {
                netlink::add_address(&h, idx, &ep.interface, *a).await?;
            }
            netlink::set_up(&h, idx, &ep.interface).await?;
        }
        for gw in eps.iter().flat_map(|e| e.gateways.iter()).copied() {
            netlink::add_default_route(&h, gw).await?;
        }
        Ok(())
    });
    if let Err(e) = inside {
        let _ = detach(&created);
        return Err(e);
    }
    Ok(())
}

/// Removes host-side veths (their peers go with them). Keeps going on
/// errors; a veth already gone is success.
pub fn detach(host_veths: &[String]) -> Result<()> {
    let names = host_veths.to_vec();
    netlink::with_handle(None, move |h| async move {
        let mut problems = Vec::new();
        for n in &names {
            if let Err(e) = netlink::del_link(&h, n).await {
                problems.push(e);
            }
        }
        NetworkError::from_teardown(problems)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn veth_names_are_short_and_distinct() {
        let a = host_veth_name("proj-web-1", "proj_default");
        assert_eq!(a.len(), 15);
        assert_ne!(a, host_veth_name("proj-web-2", "proj_default"));
        assert_ne!(a, host_veth_name("proj-web-1", "proj_back"));
        check_ifname(&a).unwrap();
    }

    #[test]
    fn macs_parse() {
        assert_eq!(parse_mac("02:42:ac:11:00:02").unwrap(), [2, 0x42, 0xac, 0x11, 0, 2]);
        for bad in [
            "02:42:ac:11:00",
            "zz:42:ac:11:00:02",
            "01:00:5e:00:00:01",
            "2:42:ac:11:00:02",
        ] {
            assert!(parse_mac(bad).is_err(), "{bad}");
        }
    }
}
