//! `ports:` short syntax (`[HOST_IP:][PUBLISHED:]TARGET[/PROTOCOL]`, with
//! ranges and bracketed IPv6) to the long form.

use std::net::IpAddr;

/// One port mapping in the long form.
#[derive(Debug, Clone, PartialEq)]
pub struct PortLong {
    pub host_ip: Option<String>,
    pub target: u16,
    pub published: Option<String>,
    pub protocol: String,
}

fn parse_range(s: &str, what: &str, spec: &str) -> Result<(u16, u16), String> {
    let bad = |why: &str| format!("invalid port \"{spec}\": {what} {why}");
    let (a, b) = match s.split_once('-') {
        Some((a, b)) => (a, b),
        None => (s, s),
    };
    let p = |x: &str| -> Result<u16, String> {
        match x.parse::<u32>() {
            Ok(0) if what == "target" => Err(bad("must be between 1 and 65535")),
            Ok(n) if n <= 65535 => Ok(n as u16),
            Ok(_) => Err(bad("must be between 1 and 65535")),
            Err(_) => Err(bad(&format!("`{x}` is not a number"))),
        }
    };
    let (lo, hi) = (p(a)?, p(b)?);
    if hi < lo {
        return Err(bad(&format!("range {lo}-{hi} ends before it starts")));
    }
    Ok((lo, hi))
}

pub fn parse_port(spec: &str) -> Result<Vec<PortLong>, String> {
    let (addr, protocol) = match spec.rsplit_once('/') {
        Some((a, p)) => (a, p.to_ascii_lowercase()),
        None => (spec, "tcp".to_string()),
    };
    if !matches!(protocol.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!(
            "invalid port \"{spec}\": unknown protocol `{protocol}` (use tcp, udp or sctp)"
        ));
    }
    let parts: Vec<&str> = addr.split(':').collect();
    let n = parts.len();
    let target = parts[n - 1];
    let (ip, published) = match n {
        1 => ("", ""),
        2 => ("", parts[0]),
        _ => (
            &addr[..addr.len() - target.len() - parts[n - 2].len() - 2],
            parts[n - 2],
        ),
    };
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    if !ip.is_empty() && ip.parse::<IpAddr>().is_err() {
        return Err(format!("invalid port \"{spec}\": `{ip}` is not an IP address"));
    }
    let host_ip = (!ip.is_empty()).then(|| ip.to_string());
    let (tlo, thi) = parse_range(target, "target", spec)?;
    let make = |target: u16, published: Option<String>| PortLong {
        host_ip: host_ip.clone(),
        target,
        published,
        protocol: protocol.clone(),
    };
    if published.is_empty() {
        return Ok((tlo..=thi).map(|t| make(t, None)).collect());
    }
    let (plo, phi) = parse_range(published, "published port", spec)?;
    if tlo == thi {
        // One target behind a host range: the engine picks a free host port in it.
        let p = if plo == phi {
            plo.to_string()
        } else {
            format!("{plo}-{phi}")
        };
        return Ok(vec![make(tlo, Some(p))]);
    }
    if phi - plo != thi - tlo {
        return Err(format!(
            "invalid port \"{spec}\": the published range {plo}-{phi} and the target range {tlo}-{thi} have different lengths"
        ));
    }
    Ok((tlo..=thi)
        .zip(plo..=phi)
        .map(|(t, p)| make(t, Some(p.to_string())))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(s: &str) -> (Option<String>, u16, Option<String>, String) {
        let v = parse_port(s).unwrap();
        assert_eq!(v.len(), 1, "{s}");
        let p = &v[0];
        (p.host_ip.clone(), p.target, p.published.clone(), p.protocol.clone())
    }

    #[test]
    fn short_forms() {
        let s = |x: &str| Some(x.to_string());
        assert_eq!(one("80"), (None, 80, None, "tcp".into()));
        assert_eq!(one("8080:80"), (None, 80, s("8080"), "tcp".into()));
        assert_eq!(
            one("127.0.0.1:5432:5432/tcp"),
            (s("127.0.0.1"), 5432, s("5432"), "tcp".into())
        );
        assert_eq!(one("127.0.0.1::6379"), (s("127.0.0.1"), 6379, None, "tcp".into()));
        assert_eq!(one("[::1]:9090:9090"), (s("::1"), 9090, s("9090"), "tcp".into()));
        assert_eq!(one("::1:6000:6000"), (s("::1"), 6000, s("6000"), "tcp".into()));
        assert_eq!(one("53:53/udp"), (None, 53, s("53"), "udp".into()));
        assert_eq!(one("8000-8010:80"), (None, 80, s("8000-8010"), "tcp".into()));
        let r = parse_port("7000-7001:8000-8001").unwrap();
        assert_eq!(
            (
                r[0].target,
                r[0].published.as_deref(),
                r[1].target,
                r[1].published.as_deref()
            ),
            (8000, Some("7000"), 8001, Some("7001"))
        );
        assert_eq!(parse_port("3000-3002").unwrap().len(), 3);
    }

    #[test]
    fn errors() {
        assert!(parse_port("80:abc")
            .unwrap_err()
            .contains("target `abc` is not a number"));
        assert!(parse_port("70000:80")
            .unwrap_err()
            .contains("must be between 1 and 65535"));
        assert!(parse_port("8000-8002:80-81").unwrap_err().contains("different lengths"));
        assert!(parse_port("80/icmp").unwrap_err().contains("unknown protocol"));
        assert!(parse_port("nothost:80:80").unwrap_err().contains("not an IP address"));
        assert!(parse_port("90-80").is_err());
    }
}
