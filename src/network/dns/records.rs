//! The record table, pure: built from what running containers publish and
//! asked by name or address on behalf of a container, answering only from
//! the networks that container is on (as aardvark-dns does).

use std::collections::HashMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// What one running container answers to, as written by `source::publish`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsEndpoint {
    /// Container name (resolvable on all its networks).
    pub container: String,
    /// Service name: every replica of a service answers to it.
    #[serde(default)]
    pub service: Option<String>,
    /// `hostname:` of the container.
    #[serde(default)]
    pub hostname: Option<String>,
    pub networks: Vec<DnsNetworkEntry>,
}

/// The container's addresses and aliases on one network.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsNetworkEntry {
    pub network: String,
    pub addresses: Vec<IpAddr>,
    #[serde(default)]
    pub aliases: Vec<String>,
}

/// Lower-case, no trailing dot: how names are compared.
pub fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Names and addresses per network.
#[derive(Debug, Clone, Default)]
pub struct RecordTable {
    /// network → name → addresses (in publication order).
    names: HashMap<String, HashMap<String, Vec<IpAddr>>>,
    /// network → address → container name.
    reverse: HashMap<String, HashMap<IpAddr, String>>,
}

/// What the table says about a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The name is ours: these addresses (maybe none of the asked family).
    Local(Vec<IpAddr>),
    /// Not a name of the asker's networks: forward it.
    Forward,
}

impl RecordTable {
    pub fn build(endpoints: &[DnsEndpoint]) -> RecordTable {
        let mut t = RecordTable::default();
        let mut sorted: Vec<&DnsEndpoint> = endpoints.iter().collect();
        sorted.sort_by(|a, b| a.container.cmp(&b.container));
        for ep in sorted {
            for n in &ep.networks {
                let names = t.names.entry(n.network.clone()).or_default();
                let mut own: Vec<&str> = vec![ep.container.as_str()];
                own.extend(ep.service.as_deref());
                own.extend(ep.hostname.as_deref());
                own.extend(n.aliases.iter().map(String::as_str));
                let mut seen = Vec::new();
                for name in own {
                    let key = normalize(name);
                    if key.is_empty() || seen.contains(&key) {
                        continue;
                    }
                    let entry = names.entry(key.clone()).or_default();
                    for a in &n.addresses {
                        if !entry.contains(a) {
                            entry.push(*a);
                        }
                    }
                    seen.push(key);
                }
                let rev = t.reverse.entry(n.network.clone()).or_default();
                for a in &n.addresses {
                    rev.entry(*a).or_insert_with(|| ep.container.clone());
                }
            }
        }
        t
    }

    /// Addresses of `name` on the networks `asker_networks`, rotated by
    /// `rotate` so that replicas share the load.
    pub fn lookup(&self, asker_networks: &[String], name: &str, rotate: usize) -> Answer {
        let key = normalize(name);
        let mut found = false;
        let mut out: Vec<IpAddr> = Vec::new();
        for net in asker_networks {
            if let Some(addrs) = self.names.get(net).and_then(|m| m.get(&key)) {
                found = true;
                for a in addrs {
                    if !out.contains(a) {
                        out.push(*a);
                    }
                }
            }
        }
        if !found {
            return Answer::Forward;
        }
        if !out.is_empty() {
            let k = rotate % out.len();
            out.rotate_left(k);
        }
        Answer::Local(out)
    }

    /// The container name of `addr`, if it is on one of the asker's networks.
    pub fn reverse(&self, asker_networks: &[String], addr: IpAddr) -> Option<&str> {
        asker_networks
            .iter()
            .find_map(|n| self.reverse.get(n).and_then(|m| m.get(&addr)).map(String::as_str))
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(container: &str, service: &str, net: &str, ip: &str, aliases: &[&str]) -> DnsEndpoint {
        DnsEndpoint {
            container: container.into(),
            service: Some(service.into()),
            hostname: None,
            networks: vec![DnsNetworkEntry {
                network: net.into(),
                addresses: vec![ip.parse().unwrap()],
                aliases: aliases.iter().map(|s| s.to_string()).collect(),
            }],
        }
    }
    fn ips(v: &[&str]) -> Vec<IpAddr> {
        v.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn service_names_cover_every_replica_and_rotate() {
        let t = RecordTable::build(&[
            ep("p-web-1", "web", "p_default", "10.0.0.2", &[]),
            ep("p-web-2", "web", "p_default", "10.0.0.3", &[]),
        ]);
        let nets = vec!["p_default".to_string()];
        assert_eq!(t.lookup(&nets, "web", 0), Answer::Local(ips(&["10.0.0.2", "10.0.0.3"])));
        assert_eq!(
            t.lookup(&nets, "WEB.", 1),
            Answer::Local(ips(&["10.0.0.3", "10.0.0.2"]))
        );
        assert_eq!(t.lookup(&nets, "p-web-2", 0), Answer::Local(ips(&["10.0.0.3"])));
        assert_eq!(t.lookup(&nets, "example.com", 0), Answer::Forward);
    }

    #[test]
    fn only_shared_networks_answer() {
        let t = RecordTable::build(&[
            ep("p-db-1", "db", "p_back", "10.1.0.2", &["database"]),
            ep("p-web-1", "web", "p_front", "10.2.0.2", &[]),
        ]);
        let front = vec!["p_front".to_string()];
        let back = vec!["p_back".to_string()];
        assert_eq!(t.lookup(&front, "db", 0), Answer::Forward);
        assert_eq!(t.lookup(&back, "database", 0), Answer::Local(ips(&["10.1.0.2"])));
        assert_eq!(t.reverse(&back, "10.1.0.2".parse().unwrap()), Some("p-db-1"));
        assert_eq!(t.reverse(&front, "10.1.0.2".parse().unwrap()), None);
    }

    #[test]
    fn aliases_are_per_network_and_hostname_counts() {
        let mut e = ep("p-api-1", "api", "n1", "10.3.0.2", &["alias1"]);
        e.hostname = Some("apihost".into());
        e.networks.push(DnsNetworkEntry {
            network: "n2".into(),
            addresses: ips(&["10.4.0.2", "fd00::2"]),
            aliases: vec![],
        });
        let t = RecordTable::build(&[e]);
        assert_eq!(t.lookup(&["n2".into()], "alias1", 0), Answer::Forward);
        assert_eq!(
            t.lookup(&["n2".into()], "apihost", 0),
            Answer::Local(ips(&["10.4.0.2", "fd00::2"]))
        );
        assert_eq!(
            t.lookup(&["n1".into(), "n2".into()], "api", 0),
            Answer::Local(ips(&["10.3.0.2", "10.4.0.2", "fd00::2"]))
        );
    }
}
