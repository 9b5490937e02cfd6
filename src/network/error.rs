//! The one error type of the network module. Every message says what
//! happened, to what, and what the user can do about it.

use std::net::IpAddr;
use std::path::PathBuf;

use ipnet::IpNet;

/// Everything that can go wrong while setting up or tearing down networks.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("no free subnet left in the address pools {pools} (every candidate overlaps a host route or another network): configure `ipam.config.subnet` for network \"{network}\" or remove unused networks")]
    PoolExhausted { network: String, pools: String },

    #[error("subnet {subnet} of network \"{network}\" overlaps {other}: choose a subnet that does not overlap it")]
    SubnetOverlap {
        network: String,
        subnet: IpNet,
        other: String,
    },

    #[error("invalid IPAM configuration for network \"{network}\": {reason}")]
    InvalidIpam { network: String, reason: String },

    #[error(
        "address {address} requested for \"{owner}\" is outside every subnet of network \"{network}\": pick an address inside {subnets}"
    )]
    AddressOutsideSubnet {
        network: String,
        owner: String,
        address: IpAddr,
        subnets: String,
    },

    #[error("address {address} on network \"{network}\" is reserved ({what}): pick another address for \"{owner}\"")]
    AddressReserved {
        network: String,
        owner: String,
        address: IpAddr,
        what: &'static str,
    },

    #[error("address {address} on network \"{network}\" is already used by \"{holder}\": pick another address for \"{owner}\"")]
    AddressInUse {
        network: String,
        owner: String,
        address: IpAddr,
        holder: String,
    },

    #[error(
        "no free address left in {range} of network \"{network}\" for \"{owner}\": use a larger subnet or ip_range"
    )]
    AddressesExhausted {
        network: String,
        owner: String,
        range: IpNet,
    },

    #[error("interface name \"{name}\" is invalid: {reason}")]
    InvalidInterfaceName { name: String, reason: &'static str },

    #[error(
        "network namespace file {path}: {action} failed: {source}; check that rcompose runs as root and that the run directory is writable"
    )]
    Netns {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "container \"{container}\" wants the network namespace of \"{other}\", which has none: start \"{other}\" first"
    )]
    NoNamespace { container: String, other: String },

    #[error("netlink {action} for {object} failed: {message}")]
    Netlink {
        action: &'static str,
        object: String,
        message: String,
    },

    #[error("interface \"{name}\" was not found{context}")]
    LinkNotFound { name: String, context: String },

    #[error(
        "state file {path}: {action} failed: {reason}; check permissions of the state root (RCOMPOSE_ROOT) or remove the damaged file"
    )]
    State {
        path: PathBuf,
        action: &'static str,
        reason: String,
    },

    #[error("port {port}/{protocol} is already in use on {host_ip} (service \"{service}\"): choose another published port or stop the process holding it")]
    PortInUse {
        port: u16,
        protocol: &'static str,
        host_ip: IpAddr,
        service: String,
    },

    #[error("cannot publish {host_ip}:{port}/{protocol} for service \"{service}\": {source}")]
    Publish {
        port: u16,
        protocol: &'static str,
        host_ip: IpAddr,
        service: String,
        #[source]
        source: std::io::Error,
    },

    #[error("invalid port specification \"{spec}\": {reason}")]
    InvalidPort { spec: String, reason: String },

    #[error("DNS responder in {netns}: {action} failed: {source}")]
    Dns {
        netns: PathBuf,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },

    #[error("nftables: `nft` {action} failed for table \"{table}\": {message}; check that the nftables package is installed and the kernel has nf_tables")]
    Nft {
        table: String,
        action: &'static str,
        message: String,
    },

    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },

    #[error("teardown left {count} problem(s): {details}")]
    Teardown { count: usize, details: String },
}

pub type Result<T, E = NetworkError> = std::result::Result<T, E>;

impl NetworkError {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        NetworkError::Io {
            what: what.into(),
            source,
        }
    }

    /// Teardown collects problems and keeps going; this folds them into one.
    pub(crate) fn from_teardown(problems: Vec<NetworkError>) -> Result<()> {
        if problems.is_empty() {
            return Ok(());
        }
        let details = problems.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; ");
        Err(NetworkError::Teardown {
            count: problems.len(),
            details,
        })
    }
}
