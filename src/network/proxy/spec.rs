//! Published ports, pure: the short syntax
//! `[host_ip:][published[-end]:]target[-end][/protocol]`, expanded into one
//! binding per port.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::network::error::{NetworkError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `ports:` entry as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMapping {
    pub host_ip: Option<IpAddr>,
    /// Published range; `None`: an ephemeral port per target port.
    pub published: Option<(u16, u16)>,
    pub target: (u16, u16),
    pub protocol: Protocol,
}

/// One port to publish: listen on `host` (port 0: ephemeral), forward to
/// the container's `target` port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRequest {
    pub host: SocketAddr,
    pub target_port: u16,
    pub protocol: Protocol,
}

fn bad(spec: &str, reason: impl Into<String>) -> NetworkError {
    NetworkError::InvalidPort {
        spec: spec.to_string(),
        reason: reason.into(),
    }
}

fn range(spec: &str, s: &str) -> Result<(u16, u16)> {
    let num = |p: &str| -> Result<u16> {
        p.parse::<u16>()
            .map_err(|_| bad(spec, format!("\"{p}\" is not a port number (1-65535)")))
    };
    let (a, b) = match s.split_once('-') {
        Some((a, b)) => (num(a)?, num(b)?),
        None => {
            let a = num(s)?;
            (a, a)
        }
    };
    if a == 0 || b < a {
        return Err(bad(spec, format!("\"{s}\" is not a valid port or ascending range")));
    }
    Ok((a, b))
}

/// Parses the short syntax.
pub fn parse_port(spec: &str) -> Result<PortMapping> {
    let (body, protocol) = match spec.rsplit_once('/') {
        Some((b, "tcp")) => (b, Protocol::Tcp),
        Some((b, "udp")) => (b, Protocol::Udp),
        Some((_, p)) => return Err(bad(spec, format!("protocol \"{p}\" is not supported: use tcp or udp"))),
        None => (spec, Protocol::Tcp),
    };
    // An IPv6 host address is bracketed: [::1]:8080:80
    let (host_ip, rest) = if let Some(r) = body.strip_prefix('[') {
        let (ip, rest) = r
            .split_once("]:")
            .ok_or_else(|| bad(spec, "an IPv6 address must be written as [addr]:port"))?;
        (
            Some(
                ip.parse::<IpAddr>()
                    .map_err(|_| bad(spec, format!("\"{ip}\" is not an IP address")))?,
            ),
            rest,
        )
    } else {
        let parts: Vec<&str> = body.split(':').collect();
        match parts.len() {
            1 | 2 => (None, body),
            3 => {
                let ip = if parts[0].is_empty() {
                    None
                } else {
                    Some(
                        parts[0]
                            .parse::<IpAddr>()
                            .map_err(|_| bad(spec, format!("\"{}\" is not an IP address", parts[0])))?,
                    )
                };
                (ip, &body[parts[0].len() + 1..])
            }
            _ => return Err(bad(spec, "too many ':' (write IPv6 addresses in brackets)")),
        }
    };
    let (published, target) = match rest.split_once(':') {
        Some(("", t)) => (None, range(spec, t)?),
        Some((p, t)) => (Some(range(spec, p)?), range(spec, t)?),
        None => (None, range(spec, rest)?),
    };
    Ok(PortMapping {
        host_ip,
        published,
        target,
        protocol,
    })
}

impl PortMapping {
    /// One request per target port. A published range must match the
    /// target range in size, or be a range for a single target (Docker
    /// then picks one free port of the range; we take its first).
    pub fn expand(&self) -> Result<Vec<PortRequest>> {
        let ip = self.host_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let (t0, t1) = self.target;
        let n = (t1 - t0) as u32 + 1;
        let hosts: Vec<u16> = match self.published {
            None => vec![0; n as usize],
            Some((p0, p1)) if (p1 - p0) as u32 + 1 == n => (p0..=p1).collect(),
            Some((p0, _)) if n == 1 => vec![p0],
            Some((p0, p1)) => {
                return Err(NetworkError::InvalidPort {
                    spec: format!("{p0}-{p1}:{t0}-{t1}"),
                    reason: "the published range and the target range differ in size".into(),
                })
            }
        };
        Ok((t0..=t1)
            .zip(hosts)
            .map(|(t, h)| PortRequest {
                host: SocketAddr::new(ip, h),
                target_port: t,
                protocol: self.protocol,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_syntax() {
        let m = parse_port("127.0.0.1:8080:80/udp").unwrap();
        assert_eq!(
            m,
            PortMapping {
                host_ip: Some("127.0.0.1".parse().unwrap()),
                published: Some((8080, 8080)),
                target: (80, 80),
                protocol: Protocol::Udp
            }
        );
        assert_eq!(parse_port("80").unwrap().published, None);
        assert_eq!(
            parse_port("8000-8001:80-81")
                .unwrap()
                .expand()
                .unwrap()
                .iter()
                .map(|r| (r.host.port(), r.target_port))
                .collect::<Vec<_>>(),
            vec![(8000, 80), (8001, 81)]
        );
        let v6 = parse_port("[::1]:9000:90").unwrap();
        assert_eq!(v6.host_ip, Some("::1".parse().unwrap()));
        assert_eq!(
            parse_port("127.0.0.1::80").unwrap().expand().unwrap()[0].host,
            "127.0.0.1:0".parse().unwrap()
        );
        assert_eq!(parse_port("9000-9010:80").unwrap().expand().unwrap().len(), 1);
    }

    #[test]
    fn errors_name_the_spec() {
        for bad in ["80/sctp", "x:80", "1:2:3:4", "0", "90-80", "70000", "8000-8002:80-81"] {
            let e = parse_port(bad).and_then(|m| m.expand().map(|_| ()));
            assert!(e.is_err(), "{bad}");
        }
        assert!(parse_port("80/sctp").unwrap_err().to_string().contains("sctp"));
    }
}
