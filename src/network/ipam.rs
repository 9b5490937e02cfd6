//! IP address management, pure: no sockets, no files. The caller passes in
//! what the kernel and the state files know (host routes, subnets of other
//! networks, existing leases) and persists what comes out (`state.rs`).
//!
//! - [`choose_subnet`] picks the first subnet of a pool that overlaps neither
//!   a host route nor another network.
//! - [`SubnetPlan::new`] validates one `ipam.config` entry (subnet, ip_range,
//!   gateway).
//! - [`NetworkIpam`] holds a network's subnets and its leases; a lease is
//!   keyed by a stable owner name (the container name), so a container that
//!   restarts gets its address back.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};

use super::error::{NetworkError, Result};

/// A base range cut into subnets of one size (Docker's `default-address-pools`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressPool {
    pub base: IpNet,
    pub size: u8,
}

impl AddressPool {
    pub fn new(base: IpNet, size: u8) -> Self {
        AddressPool { base, size }
    }

    /// Docker's IPv4 defaults: 172.17–31.0.0/16, then 192.168.0.0/16 in /20s.
    pub fn defaults_v4() -> Vec<AddressPool> {
        let mut pools: Vec<AddressPool> = (17..=31u8)
            .map(|b| AddressPool::new(IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::new(172, b, 0, 0), 16)), 16))
            .collect();
        pools.push(AddressPool::new(
            IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::new(192, 168, 0, 0), 16)),
            20,
        ));
        pools
    }

    /// A unique-local /48 cut into /64s, for networks with `enable_ipv6`.
    pub fn defaults_v6() -> Vec<AddressPool> {
        let base = Ipv6Net::new_assert(Ipv6Addr::new(0xfd52, 0x636f, 0x6d70, 0, 0, 0, 0, 0), 48);
        vec![AddressPool::new(IpNet::V6(base), 64)]
    }

    fn candidates(&self) -> Box<dyn Iterator<Item = IpNet> + '_> {
        match self.base.subnets(self.size) {
            Ok(it) => Box::new(it),
            Err(_) => Box::new(std::iter::empty()),
        }
    }
}

/// Whether two prefixes share at least one address.
pub fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The first subnet of `pools` (in order) that overlaps none of `in_use`
/// (other networks) and none of `host_routes`. Default routes (prefix 0) are
/// ignored: everything overlaps them.
pub fn choose_subnet(network: &str, pools: &[AddressPool], in_use: &[IpNet], host_routes: &[IpNet]) -> Result<IpNet> {
    let blocked: Vec<&IpNet> = in_use
        .iter()
        .chain(host_routes.iter().filter(|r| r.prefix_len() > 0))
        .collect();
    for pool in pools {
        if pool.size < pool.base.prefix_len() {
            continue;
        }
        if let Some(net) = pool.candidates().find(|c| !blocked.iter().any(|b| overlaps(c, b))) {
            return Ok(net);
        }
    }
    Err(NetworkError::PoolExhausted {
        network: network.to_string(),
        pools: pools
            .iter()
            .map(|p| format!("{}/{}", p.base, p.size))
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// Checks a user-given subnet against host routes and other networks.
pub fn check_subnet(network: &str, subnet: &IpNet, in_use: &[(String, IpNet)], host_routes: &[IpNet]) -> Result<()> {
    if let Some((name, other)) = in_use.iter().find(|(_, n)| overlaps(n, subnet)) {
        return Err(NetworkError::SubnetOverlap {
            network: network.to_string(),
            subnet: *subnet,
            other: format!("subnet {other} of network \"{name}\""),
        });
    }
    if let Some(route) = host_routes.iter().find(|r| r.prefix_len() > 0 && overlaps(r, subnet)) {
        return Err(NetworkError::SubnetOverlap {
            network: network.to_string(),
            subnet: *subnet,
            other: format!("the host route {route}"),
        });
    }
    Ok(())
}

/// One `ipam.config` entry as the user wrote it (all optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpamRequest {
    pub subnet: Option<IpNet>,
    pub ip_range: Option<IpNet>,
    pub gateway: Option<IpAddr>,
}

/// A validated subnet: where addresses come from and which one the bridge has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubnetPlan {
    pub subnet: IpNet,
    /// Addresses handed out automatically come from here (defaults to `subnet`).
    pub range: IpNet,
    pub gateway: IpAddr,
}

impl SubnetPlan {
    /// Validates `req` for `subnet` (the request's own subnet, or one chosen
    /// from a pool). The gateway defaults to the first host address.
    pub fn new(network: &str, subnet: IpNet, req: &IpamRequest) -> Result<SubnetPlan> {
        let invalid = |reason: String| NetworkError::InvalidIpam {
            network: network.to_string(),
            reason,
        };
        let subnet = subnet.trunc();
        let max_prefix = if subnet.addr().is_ipv4() { 30 } else { 126 };
        if subnet.prefix_len() > max_prefix {
            return Err(invalid(format!(
                "subnet {subnet} is too small: it needs room for a gateway and at least one container (use /{max_prefix} or larger)"
            )));
        }
        let range = match req.ip_range {
            Some(r) if !subnet.contains(&r) => {
                return Err(invalid(format!(
                    "ip_range {r} is not inside subnet {subnet}: use a range within the subnet"
                )));
            }
            Some(r) => r.trunc(),
            None => subnet,
        };
        let gateway = match req.gateway {
            Some(g) => {
                if !subnet.contains(&g) {
                    return Err(invalid(format!(
                        "gateway {g} is not inside subnet {subnet}: use an address within the subnet"
                    )));
                }
                if let Some(what) = reserved(&subnet, g) {
                    return Err(invalid(format!(
                        "gateway {g} is the {what} of subnet {subnet}: use a host address"
                    )));
                }
                g
            }
            None => nth(&subnet, 1),
        };
        Ok(SubnetPlan { subnet, range, gateway })
    }

    /// The address with its prefix length, as configured on an interface.
    pub fn with_prefix(&self, addr: IpAddr) -> IpNet {
        IpNet::new_assert(addr, self.subnet.prefix_len())
    }

    pub fn gateway_net(&self) -> IpNet {
        self.with_prefix(self.gateway)
    }
}

fn to_u128(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(v) => u32::from(v) as u128,
        IpAddr::V6(v) => u128::from(v),
    }
}

fn from_u128(like: IpAddr, n: u128) -> IpAddr {
    match like {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(n as u32)),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(n)),
    }
}

fn nth(net: &IpNet, n: u128) -> IpAddr {
    from_u128(net.network(), to_u128(net.network()).wrapping_add(n))
}

fn size(net: &IpNet) -> u128 {
    let bits = if net.addr().is_ipv4() { 32 } else { 128 } - net.prefix_len() as u32;
    if bits >= 128 {
        u128::MAX
    } else {
        1u128 << bits
    }
}

/// Why an address of `subnet` cannot be given to a container, if it cannot.
fn reserved(subnet: &IpNet, a: IpAddr) -> Option<&'static str> {
    if a == subnet.network() {
        return Some("network address");
    }
    if a.is_ipv4() && a == subnet.broadcast() {
        return Some("broadcast address");
    }
    None
}

/// A network's address state: its subnets and who holds which address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkIpam {
    pub network: String,
    pub subnets: Vec<SubnetPlan>,
    /// owner (container name) → its addresses, one per subnet at most.
    pub leases: BTreeMap<String, Vec<IpAddr>>,
    /// Where the next automatic allocation starts, per subnet (Docker-like
    /// round robin, so a freed address is not handed out again at once).
    #[serde(default)]
    pub cursors: BTreeMap<String, IpAddr>,
}

impl NetworkIpam {
    pub fn new(network: &str, subnets: Vec<SubnetPlan>) -> Self {
        NetworkIpam {
            network: network.to_string(),
            subnets,
            ..Default::default()
        }
    }

    fn holder_of(&self, a: IpAddr) -> Option<&str> {
        self.leases
            .iter()
            .find(|(_, v)| v.contains(&a))
            .map(|(k, _)| k.as_str())
    }

    /// Addresses for `owner`: one per subnet of the network. `requested`
    /// (`ipv4_address` / `ipv6_address`) pins the address in its subnet;
    /// otherwise an owner keeps the address it already holds; otherwise the
    /// next free address of the range is taken. Nothing changes on error.
    pub fn allocate(&mut self, owner: &str, requested: &[IpAddr]) -> Result<Vec<IpAddr>> {
        for r in requested {
            if !self.subnets.iter().any(|s| s.subnet.contains(r)) {
                return Err(NetworkError::AddressOutsideSubnet {
                    network: self.network.clone(),
                    owner: owner.to_string(),
                    address: *r,
                    subnets: self
                        .subnets
                        .iter()
                        .map(|s| s.subnet.to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
        }
        let held = self.leases.get(owner).cloned().unwrap_or_default();
        let mut out = Vec::with_capacity(self.subnets.len());
        let mut new_cursors = Vec::new();
        for plan in &self.subnets {
            if let Some(r) = requested.iter().find(|r| plan.subnet.contains(*r)) {
                self.check_requested(owner, plan, *r)?;
                out.push(*r);
            } else if let Some(h) = held.iter().find(|h| plan.subnet.contains(*h)) {
                out.push(*h);
            } else {
                let a = self.next_free(owner, plan)?;
                new_cursors.push((plan.subnet.to_string(), a));
                out.push(a);
            }
        }
        self.cursors.extend(new_cursors);
        self.leases.insert(owner.to_string(), out.clone());
        Ok(out)
    }

    fn check_requested(&self, owner: &str, plan: &SubnetPlan, r: IpAddr) -> Result<()> {
        let what = if r == plan.gateway {
            Some("gateway")
        } else {
            reserved(&plan.subnet, r)
        };
        if let Some(what) = what {
            return Err(NetworkError::AddressReserved {
                network: self.network.clone(),
                owner: owner.to_string(),
                address: r,
                what,
            });
        }
        match self.holder_of(r) {
            Some(h) if h != owner => Err(NetworkError::AddressInUse {
                network: self.network.clone(),
                owner: owner.to_string(),
                address: r,
                holder: h.to_string(),
            }),
            _ => Ok(()),
        }
    }

    fn next_free(&self, owner: &str, plan: &SubnetPlan) -> Result<IpAddr> {
        let range = plan.range;
        let n = size(&range);
        let base = to_u128(range.network());
        let start = match self.cursors.get(&plan.subnet.to_string()) {
            Some(c) if range.contains(c) => to_u128(*c) - base + 1,
            _ => 0,
        };
        let taken: std::collections::HashSet<IpAddr> = self.leases.values().flatten().copied().collect();
        // Among any `taken + 4` consecutive addresses at most `taken + 3` are
        // unavailable (leases, gateway, network, broadcast): a huge IPv6
        // range is never scanned further than that.
        let limit = n.min(taken.len() as u128 + 4);
        for i in 0..limit {
            let off = (start + i) % n;
            let a = from_u128(range.network(), base + off);
            if a == plan.gateway || reserved(&plan.subnet, a).is_some() || taken.contains(&a) {
                continue;
            }
            return Ok(a);
        }
        Err(NetworkError::AddressesExhausted {
            network: self.network.clone(),
            owner: owner.to_string(),
            range,
        })
    }

    /// Gives back `owner`'s addresses (the container was removed, not just
    /// restarted). Releasing an unknown owner is not an error.
    pub fn release(&mut self, owner: &str) -> Option<Vec<IpAddr>> {
        self.leases.remove(owner)
    }

    pub fn lease(&self, owner: &str) -> Option<&[IpAddr]> {
        self.leases.get(owner).map(|v| v.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }
    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }
    fn plan(s: &str) -> SubnetPlan {
        SubnetPlan::new("n", net(s), &IpamRequest::default()).unwrap()
    }

    #[test]
    fn pool_skips_host_routes_and_other_networks_but_not_default_route() {
        let pools = AddressPool::defaults_v4();
        let routes = [net("0.0.0.0/0"), net("172.17.5.0/24"), net("10.0.0.0/8")];
        let in_use = [net("172.18.0.0/16")];
        assert_eq!(
            choose_subnet("n", &pools, &in_use, &routes).unwrap(),
            net("172.19.0.0/16")
        );
    }

    #[test]
    fn pool_skips_a_route_that_contains_candidates() {
        let pools = [AddressPool::new(net("10.213.0.0/16"), 24)];
        let routes = [net("10.213.0.0/23")];
        assert_eq!(choose_subnet("n", &pools, &[], &routes).unwrap(), net("10.213.2.0/24"));
    }

    #[test]
    fn exhausted_pool_names_the_network_and_pool() {
        let pools = [AddressPool::new(net("10.213.0.0/23"), 24)];
        let err = choose_subnet("web_front", &pools, &[net("10.213.0.0/24"), net("10.213.1.0/24")], &[]).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("web_front") && msg.contains("10.213.0.0/23/24"), "{msg}");
    }

    #[test]
    fn ipv6_pool_gives_64s() {
        let s = choose_subnet("n", &AddressPool::defaults_v6(), &[], &[]).unwrap();
        assert_eq!(s.prefix_len(), 64);
        assert_eq!(plan(&s.to_string()).gateway, ip("fd52:636f:6d70::1"));
    }

    #[test]
    fn user_subnet_overlapping_host_route_is_rejected() {
        let err = check_subnet("n", &net("192.0.2.0/25"), &[], &[net("192.0.2.0/24")]).unwrap_err();
        assert!(err.to_string().contains("host route 192.0.2.0/24"), "{err}");
        let err = check_subnet("n", &net("10.1.0.0/16"), &[("other".into(), net("10.1.2.0/24"))], &[]).unwrap_err();
        assert!(err.to_string().contains("network \"other\""), "{err}");
        check_subnet(
            "n",
            &net("10.2.0.0/16"),
            &[("o".into(), net("10.1.0.0/16"))],
            &[net("0.0.0.0/0")],
        )
        .unwrap();
    }

    #[test]
    fn config_subnet_range_gateway_validated() {
        let req = IpamRequest {
            subnet: Some(net("10.5.0.0/16")),
            ip_range: Some(net("10.5.1.0/24")),
            gateway: Some(ip("10.5.0.254")),
        };
        let p = SubnetPlan::new("n", net("10.5.0.0/16"), &req).unwrap();
        assert_eq!((p.range, p.gateway), (net("10.5.1.0/24"), ip("10.5.0.254")));
        for bad in [
            IpamRequest {
                ip_range: Some(net("10.6.0.0/24")),
                ..Default::default()
            },
            IpamRequest {
                gateway: Some(ip("10.6.0.1")),
                ..Default::default()
            },
            IpamRequest {
                gateway: Some(ip("10.5.0.0")),
                ..Default::default()
            },
            IpamRequest {
                gateway: Some(ip("10.5.255.255")),
                ..Default::default()
            },
        ] {
            let err = SubnetPlan::new("n", net("10.5.0.0/16"), &bad).unwrap_err();
            assert!(matches!(err, NetworkError::InvalidIpam { .. }), "{err}");
        }
        assert!(SubnetPlan::new("n", net("10.5.0.0/31"), &IpamRequest::default()).is_err());
    }

    #[test]
    fn allocation_is_sequential_skips_gateway_and_is_stable() {
        let mut ipam = NetworkIpam::new("n", vec![plan("10.213.7.0/24")]);
        assert_eq!(ipam.allocate("a", &[]).unwrap(), vec![ip("10.213.7.2")]);
        assert_eq!(ipam.allocate("b", &[]).unwrap(), vec![ip("10.213.7.3")]);
        // restart: same owner, same address
        assert_eq!(ipam.allocate("a", &[]).unwrap(), vec![ip("10.213.7.2")]);
        // a freed address is not reused at once
        ipam.release("a");
        assert_eq!(ipam.allocate("c", &[]).unwrap(), vec![ip("10.213.7.4")]);
    }

    #[test]
    fn allocation_uses_ip_range_and_wraps() {
        let req = IpamRequest {
            ip_range: Some(net("10.9.0.4/30")),
            ..Default::default()
        };
        let mut ipam = NetworkIpam::new("n", vec![SubnetPlan::new("n", net("10.9.0.0/24"), &req).unwrap()]);
        let got: Vec<_> = ["a", "b", "c", "d"]
            .iter()
            .map(|o| ipam.allocate(o, &[]).unwrap()[0])
            .collect();
        assert_eq!(
            got,
            vec![ip("10.9.0.4"), ip("10.9.0.5"), ip("10.9.0.6"), ip("10.9.0.7")]
        );
        let err = ipam.allocate("e", &[]).unwrap_err();
        assert!(matches!(err, NetworkError::AddressesExhausted { .. }), "{err}");
        ipam.release("b");
        assert_eq!(ipam.allocate("e", &[]).unwrap(), vec![ip("10.9.0.5")]);
    }

    #[test]
    fn static_addresses_checked() {
        let mut ipam = NetworkIpam::new("n", vec![plan("10.213.7.0/24")]);
        assert_eq!(
            ipam.allocate("a", &[ip("10.213.7.50")]).unwrap(),
            vec![ip("10.213.7.50")]
        );
        let err = ipam.allocate("b", &[ip("10.213.7.50")]).unwrap_err();
        assert!(err.to_string().contains("already used by \"a\""), "{err}");
        let err = ipam.allocate("b", &[ip("10.213.7.1")]).unwrap_err();
        assert!(err.to_string().contains("gateway"), "{err}");
        let err = ipam.allocate("b", &[ip("10.1.1.1")]).unwrap_err();
        assert!(matches!(err, NetworkError::AddressOutsideSubnet { .. }), "{err}");
        // nothing leaked from the failed attempts
        assert_eq!(ipam.lease("b"), None);
        // automatic allocation steps around the static one
        let mut ipam = NetworkIpam::new("n", vec![plan("10.213.7.0/29")]);
        ipam.allocate("s", &[ip("10.213.7.2")]).unwrap();
        assert_eq!(ipam.allocate("x", &[]).unwrap(), vec![ip("10.213.7.3")]);
    }

    #[test]
    fn dual_stack_gets_one_address_per_subnet() {
        let mut ipam = NetworkIpam::new("n", vec![plan("10.213.8.0/24"), plan("fd52:636f:6d70:8::/64")]);
        let got = ipam.allocate("a", &[ip("fd52:636f:6d70:8::99")]).unwrap();
        assert_eq!(got, vec![ip("10.213.8.2"), ip("fd52:636f:6d70:8::99")]);
        let got = ipam.allocate("b", &[]).unwrap();
        assert_eq!(got, vec![ip("10.213.8.3"), ip("fd52:636f:6d70:8::2")]);
    }

    #[test]
    fn serde_roundtrip() {
        let mut ipam = NetworkIpam::new("n", vec![plan("10.213.7.0/24")]);
        ipam.allocate("a", &[]).unwrap();
        let json = serde_json::to_string(&ipam).unwrap();
        let back: NetworkIpam = serde_json::from_str(&json).unwrap();
        assert_eq!(back, ipam);
    }
}
