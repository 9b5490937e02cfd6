//! Outbound traffic and isolation with nftables, declaratively: the whole
//! table is rendered from the list of networks (a pure function) and
//! replaced in one `nft -f` transaction. Adding or removing a network is
//! re-rendering; removing the last one deletes the table. Nothing outside
//! our own table is touched.
//!
//! Per bridge:
//! - from its containers (`in-<br>`): to the same bridge ok; to another
//!   rcompose bridge dropped (networks are isolated); elsewhere ok, unless
//!   the network is `internal`.
//! - to its containers (`out-<br>`): from the same bridge ok; replies ok;
//!   anything else dropped (published ports go through the userland proxy).
//! - masquerade whatever leaves through another interface, unless internal.
//!
//! Our table's `accept` cannot override a `drop` in another table on the
//! same hook (for example Docker's FORWARD policy); that host setup is the
//! administrator's.

use std::io::Write;
use std::process::{Command, Stdio};

use super::error::{NetworkError, Result};

/// The nftables side of one network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatNetwork {
    pub bridge: String,
    pub internal: bool,
}

/// Which table to own, and whether to switch on IP forwarding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatConfig {
    /// Name of our `inet` table (default `rcompose`; tests use their own).
    pub table: String,
    /// Write 1 to `net.ipv4.ip_forward` (and IPv6 forwarding) when a
    /// non-internal network exists, as Docker does.
    pub enable_forwarding: bool,
}

impl Default for NatConfig {
    fn default() -> Self {
        NatConfig {
            table: "rcompose".into(),
            enable_forwarding: true,
        }
    }
}

fn q(s: &str) -> String {
    format!("\"{}\"", s.replace('"', ""))
}

/// The nft script that makes our table exactly what `networks` need.
pub fn render(table: &str, networks: &[NatNetwork]) -> String {
    let mut s = format!("add table inet {table}\ndelete table inet {table}\n");
    if networks.is_empty() {
        return s;
    }
    s.push_str(&format!("table inet {table} {{\n"));
    let names: Vec<String> = networks.iter().map(|n| q(&n.bridge)).collect();
    s.push_str(&format!(
        "  set bridges {{ type ifname; elements = {{ {} }} }}\n",
        names.join(", ")
    ));
    for n in networks {
        let b = q(&n.bridge);
        if n.internal {
            s.push_str(&format!("  chain in-{0} {{ oifname {b} accept; drop; }}\n", n.bridge));
            s.push_str(&format!("  chain out-{0} {{ iifname {b} accept; drop; }}\n", n.bridge));
        } else {
            s.push_str(&format!(
                "  chain in-{0} {{ oifname {b} accept; oifname @bridges drop; accept; }}\n",
                n.bridge
            ));
            s.push_str(&format!(
                "  chain out-{0} {{ iifname {b} accept; iifname @bridges drop; ct state established,related accept; drop; }}\n",
                n.bridge
            ));
            s.push_str(&format!("  chain nat-{0} {{ oifname != {b} masquerade; }}\n", n.bridge));
        }
    }
    let vmap = |prefix: &str, only_external: bool| -> Vec<String> {
        networks
            .iter()
            .filter(|n| !(only_external && n.internal))
            .map(|n| format!("{} : jump {prefix}-{}", q(&n.bridge), n.bridge))
            .collect()
    };
    for (map, prefix, only_external) in [
        ("fwd_in", "in", false),
        ("fwd_out", "out", false),
        ("nat_in", "nat", true),
    ] {
        let elems = vmap(prefix, only_external);
        if elems.is_empty() {
            s.push_str(&format!("  map {map} {{ type ifname : verdict; }}\n"));
        } else {
            s.push_str(&format!(
                "  map {map} {{ type ifname : verdict; elements = {{ {} }} }}\n",
                elems.join(", ")
            ));
        }
    }
    s.push_str(
        "  chain forward { type filter hook forward priority filter; policy accept; iifname vmap @fwd_in; oifname vmap @fwd_out; }\n",
    );
    s.push_str(
        "  chain postrouting { type nat hook postrouting priority srcnat; policy accept; iifname vmap @nat_in; }\n",
    );
    s.push_str("}\n");
    s
}

/// Runs an nft script as one transaction (all or nothing).
pub fn apply(table: &str, script: &str) -> Result<()> {
    let err = |action, message: String| NetworkError::Nft {
        table: table.to_string(),
        action,
        message,
    };
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| err("start", e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .map_err(|e| err("write script", e.to_string()))?;
    }
    let out = child.wait_with_output().map_err(|e| err("wait", e.to_string()))?;
    if !out.status.success() {
        return Err(err("apply", String::from_utf8_lossy(&out.stderr).trim().to_string()));
    }
    Ok(())
}

/// Makes the table match `networks` and, if asked, enables forwarding.
pub fn sync(config: &NatConfig, networks: &[NatNetwork]) -> Result<()> {
    apply(&config.table, &render(&config.table, networks))?;
    if config.enable_forwarding && networks.iter().any(|n| !n.internal) {
        for path in [
            "/proc/sys/net/ipv4/ip_forward",
            "/proc/sys/net/ipv6/conf/all/forwarding",
        ] {
            let current = std::fs::read_to_string(path).unwrap_or_default();
            if current.trim() != "1" {
                std::fs::write(path, "1")
                    .map_err(|e| NetworkError::io(format!("enabling IP forwarding ({path})"), e))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_deletes_the_table_only() {
        assert_eq!(render("t", &[]), "add table inet t\ndelete table inet t\n");
    }

    #[test]
    fn renders_isolation_and_masquerade() {
        let s = render(
            "t",
            &[
                NatNetwork {
                    bridge: "rc-a".into(),
                    internal: false,
                },
                NatNetwork {
                    bridge: "rc-b".into(),
                    internal: true,
                },
            ],
        );
        assert!(
            s.contains("set bridges { type ifname; elements = { \"rc-a\", \"rc-b\" } }"),
            "{s}"
        );
        assert!(s.contains("chain nat-rc-a { oifname != \"rc-a\" masquerade; }"), "{s}");
        assert!(!s.contains("chain nat-rc-b"), "{s}");
        assert!(s.contains("chain in-rc-b { oifname \"rc-b\" accept; drop; }"), "{s}");
        assert!(
            s.contains("map nat_in { type ifname : verdict; elements = { \"rc-a\" : jump nat-rc-a } }"),
            "{s}"
        );
        // chains are declared before the maps that jump to them
        assert!(s.find("chain in-rc-a").unwrap() < s.find("map fwd_in").unwrap());
    }
}
