//! `volume` and `network`: the engine's own objects, as `docker volume`
//! and `docker network` manage them.

use std::collections::BTreeMap;
use std::process::ExitCode;

use crate::network::ipam::IpamRequest;
use crate::network::NetworkSpec;
use crate::project::objects;

use super::load;
use super::ps::table;
use super::report::{Failure, Output};

#[derive(clap::Subcommand, Debug)]
pub enum VolumeCommand {
    /// List volumes
    #[command(alias = "list")]
    Ls {
        #[arg(short, long)]
        quiet: bool,
        /// Format the output. Values: [table | json]
        #[arg(long, default_value = "table")]
        format: String,
    },
    /// Create a volume
    Create {
        /// Set metadata for a volume (KEY=VALUE)
        #[arg(short, long)]
        label: Vec<String>,
        name: String,
    },
    /// Display detailed information on one or more volumes
    Inspect { names: Vec<String> },
    /// Remove one or more volumes
    #[command(alias = "remove")]
    Rm {
        /// A volume that does not exist is not an error
        #[arg(short, long)]
        force: bool,
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove unused volumes
    Prune {
        /// Do not prompt for confirmation
        #[arg(short, long)]
        force: bool,
        /// Remove all unused volumes, not just anonymous ones
        #[arg(short, long)]
        all: bool,
    },
}

#[derive(clap::Subcommand, Debug)]
pub enum NetworkCommand {
    /// List networks
    #[command(alias = "list")]
    Ls {
        #[arg(short, long)]
        quiet: bool,
        /// Format the output. Values: [table | json]
        #[arg(long, default_value = "table")]
        format: String,
    },
    /// Create a network
    Create {
        /// Subnet in CIDR format
        #[arg(long)]
        subnet: Option<String>,
        /// Gateway for the subnet
        #[arg(long)]
        gateway: Option<String>,
        /// Allocate container addresses from a sub-range
        #[arg(long)]
        ip_range: Option<String>,
        /// Restrict external access to the network
        #[arg(long)]
        internal: bool,
        /// Enable IPv6 networking
        #[arg(long)]
        ipv6: bool,
        name: String,
    },
    /// Display detailed information on one or more networks
    Inspect { names: Vec<String> },
    /// Remove one or more networks
    #[command(alias = "remove")]
    Rm {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove all unused networks
    Prune {
        /// Do not prompt for confirmation
        #[arg(short, long)]
        force: bool,
    },
}

fn json_out(out: &Output, v: &impl serde::Serialize) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(v).map_err(|e| out.error(&e.to_string()))?;
    out.stdout(format!("{text}\n").as_bytes())
}

pub fn volume(cmd: VolumeCommand, out: &Output) -> Result<ExitCode, Failure> {
    let engine = load::engine(out)?;
    let store = &engine.volumes;
    let err = |e: crate::volume::VolumeError| out.error(&e.to_string());
    match cmd {
        VolumeCommand::Ls { quiet, format } => {
            let list = store.list().map_err(err)?;
            let text = if quiet {
                list.iter().map(|v| format!("{}\n", v.name)).collect()
            } else if format == "json" {
                list.iter()
                    .map(|v| format!("{}\n", serde_json::json!({"Driver": v.driver, "Name": v.name, "Mountpoint": v.mountpoint, "Labels": v.labels})))
                    .collect()
            } else {
                let rows: Vec<Vec<String>> = list.iter().map(|v| vec![v.driver.clone(), v.name.clone()]).collect();
                table(&["DRIVER", "VOLUME NAME"], &rows)
            };
            out.stdout(text.as_bytes())?;
        }
        VolumeCommand::Create { label, name } => {
            let labels: BTreeMap<String, String> = label
                .iter()
                .map(|l| {
                    let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
                    (k.to_string(), v.to_string())
                })
                .collect();
            let v = store.create(&name, labels).map_err(err)?;
            out.stdout(format!("{}\n", v.name).as_bytes())?;
        }
        VolumeCommand::Inspect { names } => {
            let mut found = Vec::new();
            for n in &names {
                match store.get(n).map_err(err)? {
                    Some(v) => found.push(v),
                    None => return Err(out.error(&format!("no such volume: {n}"))),
                }
            }
            json_out(out, &found)?;
        }
        VolumeCommand::Rm { names, force } => {
            let mut code = 0;
            for n in &names {
                let users = objects::volume_users(&engine, n).map_err(|e| load::fail(out, e))?;
                match store.remove(n, &users) {
                    Ok(()) => out.stdout(format!("{n}\n").as_bytes())?,
                    // As Docker's daemon: forcing the removal of what is
                    // not there succeeds (and the name is printed).
                    Err(crate::volume::VolumeError::NotFound { .. }) if force => {
                        out.stdout(format!("{n}\n").as_bytes())?
                    }
                    Err(e) => {
                        eprintln!("Error: {e}");
                        code = 1;
                    }
                }
            }
            return Ok(ExitCode::from(code));
        }
        VolumeCommand::Prune { all, .. } => {
            let mut removed = Vec::new();
            for v in store.list().map_err(err)? {
                // Docker 23+ prunes only anonymous volumes unless --all.
                let anonymous = v.name.len() == 64 && v.name.bytes().all(|b| b.is_ascii_hexdigit());
                if !all && !anonymous {
                    continue;
                }
                let users = objects::volume_users(&engine, &v.name).map_err(|e| load::fail(out, e))?;
                if users.is_empty() && store.remove(&v.name, &[]).is_ok() {
                    removed.push(v.name);
                }
            }
            let mut text = String::new();
            if !removed.is_empty() {
                text.push_str("Deleted Volumes:\n");
                for r in &removed {
                    text.push_str(&format!("{r}\n"));
                }
                text.push('\n');
            }
            out.stdout(text.as_bytes())?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn network(cmd: NetworkCommand, out: &Output) -> Result<ExitCode, Failure> {
    let engine = load::engine(out)?;
    let net = &engine.networking;
    let err = |e: crate::network::NetworkError| out.error(&e.to_string());
    let records = || crate::network::state::list_networks(&net.paths).map_err(err);
    match cmd {
        NetworkCommand::Ls { quiet, format } => {
            let list = records()?;
            let text = if quiet {
                list.iter().map(|r| format!("{}\n", r.name)).collect()
            } else if format == "json" {
                list.iter()
                    .map(|r| {
                        format!(
                            "{}\n",
                            serde_json::json!({"Name": r.name, "Driver": "bridge", "Bridge": r.bridge, "Internal": r.internal, "IPv6": r.enable_ipv6})
                        )
                    })
                    .collect()
            } else {
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|r| vec![r.bridge.clone(), r.name.clone(), "bridge".into(), "local".into()])
                    .collect();
                table(&["NETWORK ID", "NAME", "DRIVER", "SCOPE"], &rows)
            };
            out.stdout(text.as_bytes())?;
        }
        NetworkCommand::Create {
            subnet,
            gateway,
            ip_range,
            internal,
            ipv6,
            name,
        } => {
            let parse_err = |what: &str, v: &str| out.error(&format!("invalid --{what} {v:?}"));
            let mut ipam = Vec::new();
            if subnet.is_some() || gateway.is_some() || ip_range.is_some() {
                ipam.push(IpamRequest {
                    subnet: subnet
                        .as_deref()
                        .map(|s| s.parse().map_err(|_| parse_err("subnet", s)))
                        .transpose()?,
                    ip_range: ip_range
                        .as_deref()
                        .map(|s| s.parse().map_err(|_| parse_err("ip-range", s)))
                        .transpose()?,
                    gateway: gateway
                        .as_deref()
                        .map(|s| s.parse().map_err(|_| parse_err("gateway", s)))
                        .transpose()?,
                });
            }
            if net.network(&name).map_err(err)?.is_some() {
                return Err(out.error(&format!("network with name {name} already exists")));
            }
            let r = net
                .create_network(&NetworkSpec {
                    name: name.clone(),
                    ipam,
                    internal,
                    enable_ipv6: ipv6,
                    ..NetworkSpec::default()
                })
                .map_err(err)?;
            out.stdout(format!("{}\n", r.bridge).as_bytes())?;
        }
        NetworkCommand::Inspect { names } => {
            let mut found = Vec::new();
            for n in &names {
                match net.network(n).map_err(err)? {
                    Some(r) => {
                        let users = objects::network_users(&engine, n).map_err(|e| load::fail(out, e))?;
                        found.push(serde_json::json!({
                            "Name": r.name, "Driver": "bridge", "Bridge": r.bridge, "Internal": r.internal,
                            "EnableIPv6": r.enable_ipv6, "External": r.external,
                            "IPAM": {"Config": r.ipam.subnets.iter().map(|s| serde_json::json!({
                                "Subnet": s.subnet.to_string(), "IPRange": s.range.to_string(), "Gateway": s.gateway.to_string(),
                            })).collect::<Vec<_>>()},
                            "Containers": users,
                        }));
                    }
                    None => return Err(out.error(&format!("network {n} not found"))),
                }
            }
            json_out(out, &found)?;
        }
        NetworkCommand::Rm { names } => {
            let mut code = 0;
            for n in &names {
                let users = objects::network_users(&engine, n).map_err(|e| load::fail(out, e))?;
                if let Some(c) = users.first() {
                    eprintln!("Error: network {n} has active endpoints (container {c})");
                    code = 1;
                    continue;
                }
                if net.network(n).map_err(err)?.is_none() {
                    eprintln!("Error: network {n} not found");
                    code = 1;
                    continue;
                }
                match net.remove_network(n) {
                    Ok(()) => out.stdout(format!("{n}\n").as_bytes())?,
                    Err(e) => {
                        eprintln!("Error: {e}");
                        code = 1;
                    }
                }
            }
            return Ok(ExitCode::from(code));
        }
        NetworkCommand::Prune { .. } => {
            let mut removed = Vec::new();
            for r in records()? {
                let users = objects::network_users(&engine, &r.name).map_err(|e| load::fail(out, e))?;
                if users.is_empty() && !r.external && net.remove_network(&r.name).is_ok() {
                    removed.push(r.name);
                }
            }
            let mut text = String::new();
            if !removed.is_empty() {
                text.push_str("Deleted Networks:\n");
                for r in &removed {
                    text.push_str(&format!("{r}\n"));
                }
            }
            out.stdout(text.as_bytes())?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
