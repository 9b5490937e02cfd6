//! One Linux bridge per network: validated, then created with its gateway
//! addresses and brought up; removed unless it is external.

use std::path::Path;

use ipnet::IpNet;

use super::error::{NetworkError, Result};
use super::netlink;

/// Linux limits interface names to 15 bytes (IFNAMSIZ - 1).
pub const IFNAMSIZ_MAX: usize = 15;

/// A stable, recognizable bridge name for a network's full name
/// (`<project>_<network>`): `rc-<name>` when it fits in 15 bytes, otherwise
/// `rc-<first 7 bytes>-<4 hex digits of a hash of the whole name>`.
pub fn bridge_name(network: &str) -> String {
    let clean: String = network
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let plain = format!("rc-{clean}");
    if plain.len() <= IFNAMSIZ_MAX && clean == network {
        return plain;
    }
    let head: String = clean.chars().take(7).collect();
    format!("rc-{head}-{:04x}", fnv1a(network.as_bytes()) as u16)
}

/// FNV-1a: stable across Rust versions, unlike `DefaultHasher`.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Checks a name the kernel will accept as an interface name.
pub fn check_ifname(name: &str) -> Result<()> {
    let bad = |reason| {
        Err(NetworkError::InvalidInterfaceName {
            name: name.to_string(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("it is empty");
    }
    if name.len() > IFNAMSIZ_MAX {
        return bad("it is longer than 15 bytes");
    }
    if name == "."
        || name == ".."
        || name
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control())
    {
        return bad("it contains '/', ':', whitespace or is '.'/'..'");
    }
    Ok(())
}

/// What a bridge should look like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeSpec {
    pub name: String,
    /// Gateway addresses with the subnet's prefix (one per subnet).
    pub addresses: Vec<IpNet>,
    pub mtu: Option<u32>,
    /// `external:` — the bridge must already exist and is never changed.
    pub external: bool,
}

/// A bridge spec that passed [`BridgeSpec::validate`]; the only way to set one up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedBridge(BridgeSpec);

impl BridgeSpec {
    pub fn validate(self) -> Result<ValidatedBridge> {
        check_ifname(&self.name)?;
        if let Some(m) = self.mtu {
            if !(68..=65535).contains(&m) {
                return Err(NetworkError::InvalidIpam {
                    network: self.name.clone(),
                    reason: format!("MTU {m} is outside 68..=65535"),
                });
            }
        }
        Ok(ValidatedBridge(self))
    }
}

impl ValidatedBridge {
    pub fn spec(&self) -> &BridgeSpec {
        &self.0
    }

    /// Creates the bridge (or adopts it if it already exists), adds the
    /// gateway addresses and brings it up, in the caller's namespace.
    /// Returns whether it was created now. A bridge created here is removed
    /// again if a later step fails.
    pub fn setup(&self) -> Result<bool> {
        self.setup_in(None)
    }

    pub fn setup_in(&self, netns: Option<&Path>) -> Result<bool> {
        let spec = self.0.clone();
        netlink::with_handle(netns, move |h| async move {
            let existing = netlink::link_index(&h, &spec.name).await?;
            if spec.external {
                return match existing {
                    Some(_) => Ok(false),
                    None => Err(NetworkError::LinkNotFound {
                        name: spec.name.clone(),
                        context: ": the network is marked external; create it first (or drop `external:`)".into(),
                    }),
                };
            }
            let created = existing.is_none();
            if created {
                netlink::add_bridge(&h, &spec.name, spec.mtu).await?;
            }
            let configure = async {
                let index = netlink::link_index(&h, &spec.name)
                    .await?
                    .ok_or_else(|| NetworkError::LinkNotFound {
                        name: spec.name.clone(),
                        context: " right after creating it".into(),
                    })?;
                for a in &spec.addresses {
                    netlink::add_address(&h, index, &spec.name, *a).await?;
                }
                netlink::set_up(&h, index, &spec.name).await
            };
            match configure.await {
                Ok(()) => Ok(created),
                Err(e) => {
                    if created {
                        let _ = netlink::del_link(&h, &spec.name).await;
                    }
                    Err(e)
                }
            }
        })
    }
}

/// Removes bridge `name` from the caller's namespace; a missing bridge is success.
pub fn remove(name: &str) -> Result<()> {
    let name = name.to_string();
    netlink::with_handle(None, move |h| async move { netlink::del_link(&h, &name).await })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_and_are_stable() {
        assert_eq!(bridge_name("app_default"), "rc-app_default");
        let long = bridge_name("myproject_backend");
        assert_eq!(long.len(), 15, "{long}");
        assert!(long.starts_with("rc-myproje-"));
        assert_eq!(long, bridge_name("myproject_backend"));
        assert_ne!(long, bridge_name("myproject_backenc"));
        assert!(bridge_name("a.b").starts_with("rc-a-b-"));
        for n in ["x", "app_default", "a_very_long_project_name_with_network"] {
            check_ifname(&bridge_name(n)).unwrap();
        }
    }

    #[test]
    fn invalid_names_rejected() {
        for n in ["", "0123456789abcdef", "a/b", "a b", ".."] {
            assert!(check_ifname(n).is_err(), "{n}");
        }
        let spec = BridgeSpec {
            name: "way-too-long-name".into(),
            addresses: vec![],
            mtu: None,
            external: false,
        };
        assert!(spec.validate().is_err());
    }
}
