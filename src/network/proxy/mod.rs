//! Published ports: userland proxies in the host namespace, run by the
//! supervisor of the publishing container. TCP is copied with `splice`
//! (zero-copy, through a pipe), UDP per client flow. A port that is taken
//! fails with the port and the service named.

pub mod spec;
mod splice;
pub mod tcp;
pub mod udp;

use std::fmt;
use std::net::SocketAddr;

pub use spec::{parse_port, PortMapping, PortRequest, Protocol};
pub use tcp::TcpProxy;
pub use udp::UdpProxy;

use crate::network::error::{NetworkError, Result};

/// One port to publish for a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortBinding {
    /// Listen here (port 0: an ephemeral port is chosen).
    pub host: SocketAddr,
    /// The container's address and port.
    pub target: SocketAddr,
    pub protocol: Protocol,
    /// For error messages.
    pub service: String,
}

/// What is actually listening, as `rcompose port` prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    pub host: SocketAddr,
    pub target: SocketAddr,
    pub protocol: Protocol,
}

impl fmt::Display for Published {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.host)
    }
}

/// A running proxy for one port.
pub enum PortProxy {
    Tcp(TcpProxy),
    Udp(UdpProxy),
}

impl PortProxy {
    pub fn start(binding: &PortBinding) -> Result<PortProxy> {
        match binding.protocol {
            Protocol::Tcp => TcpProxy::start(binding).map(PortProxy::Tcp),
            Protocol::Udp => UdpProxy::start(binding).map(PortProxy::Udp),
        }
    }

    pub fn published(&self) -> Published {
        match self {
            PortProxy::Tcp(p) => p.published(),
            PortProxy::Udp(p) => p.published(),
        }
    }

    pub fn stop(self) {
        match self {
            PortProxy::Tcp(p) => p.stop(),
            PortProxy::Udp(p) => p.stop(),
        }
    }

    /// Starts every binding, or none: if one fails, those already started
    /// are stopped and the first error is returned.
    pub fn start_all(bindings: &[PortBinding]) -> Result<Vec<PortProxy>> {
        let mut started = Vec::with_capacity(bindings.len());
        for b in bindings {
            match PortProxy::start(b) {
                Ok(p) => started.push(p),
                Err(e) => {
                    for p in started {
                        p.stop();
                    }
                    return Err(e);
                }
            }
        }
        Ok(started)
    }
}

pub(crate) fn bind_error(b: &PortBinding, e: std::io::Error) -> NetworkError {
    if e.kind() == std::io::ErrorKind::AddrInUse {
        NetworkError::PortInUse {
            port: b.host.port(),
            protocol: b.protocol.as_str(),
            host_ip: b.host.ip(),
            service: b.service.clone(),
        }
    } else {
        NetworkError::Publish {
            port: b.host.port(),
            protocol: b.protocol.as_str(),
            host_ip: b.host.ip(),
            service: b.service.clone(),
            source: e,
        }
    }
}
