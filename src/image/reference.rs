//! Image references, parsed and normalized the way Docker does
//! (distribution/reference): `redis` is `docker.io/library/redis:latest`.
//!
//! Grammar (from the distribution reference spec):
//! ```text
//! reference  := name [ ":" tag ] [ "@" digest ]
//! name       := [domain "/"] path-component ["/" path-component]*
//! domain     := host [":" port]        host: DNS labels or [IPv6]
//! path-comp  := [a-z0-9]+ ((\.|_|__|-+)[a-z0-9]+)*
//! tag        := [\w][\w.-]{0,127}
//! ```
//! The first component is a domain when it contains `.` or `:`, is
//! `localhost`, or has an uppercase letter; otherwise the reference is on
//! Docker Hub.

use super::digest::Digest;
use std::fmt;
use std::str::FromStr;

pub const DOCKER_HUB: &str = "docker.io";
const LEGACY_HUB: &str = "index.docker.io";
const NAME_MAX: usize = 255;

/// A normalized image reference: the domain is always set, and so is the
/// tag unless the reference is by digest only.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

/// Why a string is not an image reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid image reference {input:?}: {reason}")]
pub struct ReferenceError {
    pub input: String,
    pub reason: String,
}

impl Reference {
    /// Parses and normalizes `s`; a reference with neither tag nor digest
    /// gets the tag `latest`.
    pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
        let mut r = Self::parse_unnormalized(s)?;
        if r.tag.is_none() && r.digest.is_none() {
            r.tag = Some("latest".to_string());
        }
        Ok(r)
    }

    /// Parses without adding the default tag (for commands such as `image rm
    /// NAME` that must tell "no tag" from "latest", or a repository filter).
    pub fn parse_unnormalized(s: &str) -> Result<Reference, ReferenceError> {
        let err = |reason: &str| ReferenceError {
            input: s.to_string(),
            reason: reason.to_string(),
        };
        if s.is_empty() {
            return Err(err("it is empty"));
        }
        if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(err(
                "a 64-digit hexadecimal string is an image ID, not a name; use sha256:<id> to mean the ID",
            ));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((rest, d)) => (
                rest,
                Some(
                    d.parse::<Digest>()
                        .map_err(|e| err(&format!("bad digest: {}", e.reason)))?,
                ),
            ),
            None => (s, None),
        };
        // The tag is after the last ':' that follows the last '/' (a ':'
        // before it belongs to a registry port).
        let last_slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let i = last_slash + i;
                (&rest[..i], Some(&rest[i + 1..]))
            }
            None => (rest, None),
        };
        if let Some(tag) = tag {
            if !valid_tag(tag) {
                return Err(err(
                    "the tag must be 1-128 characters of letters, digits, '_', '.', '-', not starting with '.' or '-'",
                ));
            }
        }
        if name.len() > NAME_MAX {
            return Err(err("the repository name is longer than 255 characters"));
        }
        let (domain, path) = split_domain(name);
        if !domain.is_empty() && !valid_domain(domain) {
            return Err(err(
                "the registry host is not a valid host name, IP address or host:port",
            ));
        }
        if path.is_empty() {
            return Err(err("the repository name is missing"));
        }
        if path.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(err("repository name must be lowercase"));
        }
        for comp in path.split('/') {
            if !valid_path_component(comp) {
                return Err(err(&format!(
                    "the name component {comp:?} must be lowercase letters and digits, separated by '.', '_', '__' or dashes"
                )));
            }
        }
        let (domain, path) = if domain.is_empty() || domain == LEGACY_HUB || domain == DOCKER_HUB {
            let path = if path.contains('/') {
                path.to_string()
            } else {
                format!("library/{path}")
            };
            (DOCKER_HUB.to_string(), path)
        } else {
            (domain.to_string(), path.to_string())
        };
        Ok(Reference {
            domain,
            path,
            tag: tag.map(str::to_string),
            digest,
        })
    }

    /// The registry host (`docker.io`, `127.0.0.1:5000`).
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path in the registry (`library/redis`).
    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// `domain/path`, the repository name without tag or digest.
    pub fn repository(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The repository as Docker shows it (`redis`, `user/app`,
    /// `127.0.0.1:5000/app`).
    pub fn familiar_repository(&self) -> String {
        if self.domain == DOCKER_HUB {
            self.path
                .strip_prefix("library/")
                .filter(|p| !p.contains('/'))
                .unwrap_or(&self.path)
                .to_string()
        } else {
            self.repository()
        }
    }

    /// The whole reference as Docker shows it (`redis:latest`).
    pub fn familiar(&self) -> String {
        let mut s = self.familiar_repository();
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(&d.to_string());
        }
        s
    }

    /// The same repository with another tag and no digest.
    pub fn with_tag(&self, tag: &str) -> Reference {
        Reference {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: Some(tag.to_string()),
            digest: None,
        }
    }

    /// The same repository pinned to `digest` (no tag), as in RepoDigests.
    pub fn with_digest(&self, digest: Digest) -> Reference {
        Reference {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: None,
            digest: Some(digest),
        }
    }

    /// What to ask the registry for: the digest when pinned, else the tag.
    pub fn registry_reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".to_string(),
        }
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Reference, ReferenceError> {
        Reference::parse(s)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.domain, self.path)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

fn split_domain(name: &str) -> (&str, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains('.')
                || first.contains(':')
                || first == "localhost"
                || first.bytes().any(|b| b.is_ascii_uppercase()) =>
        {
            (first, rest)
        }
        _ => ("", name),
    }
}

fn valid_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

fn valid_path_component(comp: &str) -> bool {
    let b = comp.as_bytes();
    if b.is_empty() || !is_alnum_lower(b[0]) || !is_alnum_lower(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_alnum_lower(b[i]) {
            i += 1;
            continue;
        }
        // A separator: '.', '_', '__' or one or more '-', always between
        // alphanumerics (the ends were checked above).
        let start = i;
        match b[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < b.len() && b[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < b.len() && b[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
        if i == start || i >= b.len() || !is_alnum_lower(b[i]) {
            return false;
        }
    }
    true
}

fn is_alnum_lower(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

fn valid_domain(domain: &str) -> bool {
    let (host, port) = if let Some(rest) = domain.strip_prefix('[') {
        // [IPv6]:port
        let Some((addr, after)) = rest.split_once(']') else {
            return false;
        };
        if addr.parse::<std::net::Ipv6Addr>().is_err() {
            return false;
        }
        match after {
            "" => return true,
            p => match p.strip_prefix(':') {
                Some(port) => ("", Some(port)),
                None => return false,
            },
        }
    } else {
        match domain.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (domain, None),
        }
    };
    if let Some(p) = port {
        if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    if host.is_empty() {
        return domain.starts_with('[');
    }
    host.split('.').all(|label| {
        let b = label.as_bytes();
        !b.is_empty()
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        Reference::parse(s).unwrap().to_string()
    }

    #[test]
    fn normalizes_like_docker() {
        assert_eq!(norm("redis"), "docker.io/library/redis:latest");
        assert_eq!(norm("redis:7"), "docker.io/library/redis:7");
        assert_eq!(norm("user/app"), "docker.io/user/app:latest");
        assert_eq!(norm("docker.io/redis"), "docker.io/library/redis:latest");
        assert_eq!(norm("index.docker.io/library/redis"), "docker.io/library/redis:latest");
        assert_eq!(norm("localhost/app"), "localhost/app:latest");
        assert_eq!(norm("localhost:5000/ns/app:v1"), "localhost:5000/ns/app:v1");
        assert_eq!(norm("127.0.0.1:5000/busybox"), "127.0.0.1:5000/busybox:latest");
        assert_eq!(norm("[::1]:5000/busybox:1"), "[::1]:5000/busybox:1");
        assert_eq!(norm("Example.com/a"), "Example.com/a:latest");
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            norm(&format!("host:5000/ns/name:tag@{d}")),
            format!("host:5000/ns/name:tag@{d}")
        );
        // by digest only: no default tag
        assert_eq!(norm(&format!("busybox@{d}")), format!("docker.io/library/busybox@{d}"));
    }

    #[test]
    fn familiar_names() {
        let r = Reference::parse("redis").unwrap();
        assert_eq!(r.familiar(), "redis:latest");
        assert_eq!(Reference::parse("user/app:1").unwrap().familiar(), "user/app:1");
        assert_eq!(
            Reference::parse("127.0.0.1:5000/app").unwrap().familiar(),
            "127.0.0.1:5000/app:latest"
        );
        assert_eq!(r.repository(), "docker.io/library/redis");
        assert_eq!(r.registry_reference(), "latest");
    }

    #[test]
    fn rejects_invalid_references() {
        for s in [
            "",
            "Redis",
            "redis:",
            "redis:-x",
            "redis:a/b",
            "a//b",
            "/redis",
            "redis/",
            "re__-dis",
            "-redis",
            "redis@sha256:abc",
            "host:port/x",
            "host:123456/x",
            "a b",
            &"a".repeat(256),
            &"b".repeat(64),
            &format!("redis:{}", "t".repeat(129)),
        ] {
            let e = Reference::parse(s);
            assert!(e.is_err(), "{s:?} was accepted as {:?}", e);
        }
        let e = Reference::parse("Redis").unwrap_err();
        assert!(e.to_string().contains("must be lowercase"), "{e}");
    }

    proptest::proptest! {
        /// Any input: no panic, and what parses prints back to itself.
        #[test]
        fn never_panics_and_round_trips(s in "\\PC{0,80}|[a-z0-9._:/@-]{0,60}") {
            if let Ok(r) = Reference::parse(&s) {
                let again = Reference::parse(&r.to_string()).unwrap();
                proptest::prop_assert_eq!(again, r.clone());
                let _ = r.familiar();
            }
        }
    }

    #[test]
    fn separators() {
        for ok in ["a.b", "a_b", "a__b", "a---b", "a1-2.3_4"] {
            assert!(valid_path_component(ok), "{ok}");
        }
        for bad in ["a..b", "a___b", "a.-b", "a_", ".a", "A"] {
            assert!(!valid_path_component(bad), "{bad}");
        }
    }
}
