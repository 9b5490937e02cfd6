//! Registry settings: credentials from Docker's `config.json` (`auths`,
//! shared with `docker login`), and mirrors / insecure registries from a
//! JSON file with the keys of Docker's `daemon.json`:
//!
//! ```json
//! { "registry-mirrors": ["https://mirror.example"],
//!   "insecure-registries": ["registry.lan:5000"] }
//! ```

use crate::image::error::{ImageError, Result};
use crate::image::reference::DOCKER_HUB;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where Docker Hub's credentials are keyed in config.json (Docker's legacy key).
pub const DOCKER_HUB_AUTH_KEY: &str = "https://index.docker.io/v1/";
/// Docker Hub's registry API host.
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// A user name and password (or token) for a registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // never print the secret
        write!(f, "Credentials({:?}, ***)", self.username)
    }
}

impl Credentials {
    pub fn basic_header(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw))
    }
}

/// Registry settings for pulls and pushes.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// Mirrors tried, in order, before Docker Hub for `docker.io` images
    /// (base URLs such as `https://mirror.example` or `http://127.0.0.1:5001`).
    pub mirrors: Vec<String>,
    /// Registries (host[:port]) spoken to over plain HTTP. Loopback
    /// registries always are.
    pub insecure: Vec<String>,
    /// Docker's config.json for credentials; None: no stored credentials.
    pub docker_config: Option<PathBuf>,
    /// Never fall back from the mirrors to Docker Hub (air-gapped hosts,
    /// and tests that must not reach beyond the machine).
    pub mirror_only: bool,
}

#[derive(Debug, Default, Deserialize)]
struct RegistriesFile {
    #[serde(rename = "registry-mirrors", default)]
    mirrors: Vec<String>,
    #[serde(rename = "insecure-registries", default)]
    insecure: Vec<String>,
    #[serde(rename = "mirror-only", default)]
    mirror_only: bool,
}

impl RegistryOptions {
    /// Settings from the registries file at `path` (missing file: defaults)
    /// and credentials from Docker's config location.
    pub fn load(path: Option<&Path>) -> Result<RegistryOptions> {
        let mut opts = RegistryOptions {
            docker_config: default_docker_config(),
            ..RegistryOptions::default()
        };
        if let Some(path) = path {
            match std::fs::read(path) {
                Ok(data) => {
                    let f: RegistriesFile = serde_json::from_slice(&data).map_err(|e| ImageError::Config {
                        path: path.to_path_buf(),
                        reason: format!(
                            "{e}; expected {{\"registry-mirrors\": [...], \"insecure-registries\": [...]}}"
                        ),
                    })?;
                    opts.mirrors = f
                        .mirrors
                        .into_iter()
                        .map(|m| m.trim_end_matches('/').to_string())
                        .collect();
                    opts.insecure = f.insecure;
                    opts.mirror_only = f.mirror_only;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(ImageError::Config {
                        path: path.to_path_buf(),
                        reason: e.to_string(),
                    })
                }
            }
        }
        Ok(opts)
    }

    /// Whether `domain` is spoken to over HTTP.
    pub fn is_insecure(&self, domain: &str) -> bool {
        let host = host_of(domain);
        host == "localhost"
            || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
            || self.insecure.iter().any(|i| {
                let i = i
                    .trim_start_matches("http://")
                    .trim_start_matches("https://")
                    .trim_end_matches('/');
                i == domain || i == host
            })
    }

    /// The base URLs to try for a registry, in order.
    pub fn endpoints(&self, domain: &str) -> Vec<String> {
        let mut out = Vec::new();
        if domain == DOCKER_HUB {
            out.extend(self.mirrors.iter().cloned());
            if !self.mirror_only || self.mirrors.is_empty() {
                out.push(format!("https://{DOCKER_HUB_API}"));
            }
        } else {
            let scheme = if self.is_insecure(domain) { "http" } else { "https" };
            out.push(format!("{scheme}://{domain}"));
        }
        out
    }

    /// Stored credentials for `domain`, if any.
    pub fn credentials(&self, domain: &str) -> Result<Option<Credentials>> {
        let Some(path) = &self.docker_config else {
            return Ok(None);
        };
        let cfg = DockerConfig::read(path)?;
        Ok(cfg.credentials(domain))
    }
}

/// The host part of `host[:port]` (brackets kept off IPv6).
fn host_of(domain: &str) -> &str {
    if let Some(rest) = domain.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    domain.rsplit_once(':').map(|(h, _)| h).unwrap_or(domain)
}

/// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub fn default_docker_config() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .map(|h| PathBuf::from(h).join(".docker/config.json"))
}

/// Docker's client config file; only `auths` is interpreted, every other
/// key is kept as is when the file is rewritten.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct DockerConfig {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub auths: BTreeMap<String, AuthEntry>,
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct AuthEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identitytoken: Option<String>,
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// The config.json key for a registry (Docker Hub's is its legacy URL).
pub fn auth_key(domain: &str) -> String {
    if domain == DOCKER_HUB || domain == DOCKER_HUB_API || domain == "index.docker.io" {
        DOCKER_HUB_AUTH_KEY.to_string()
    } else {
        domain.to_string()
    }
}

impl DockerConfig {
    /// Reads the file; a missing file is an empty config.
    pub fn read(path: &Path) -> Result<DockerConfig> {
        match std::fs::read(path) {
            Ok(data) if data.iter().all(u8::is_ascii_whitespace) => Ok(DockerConfig::default()),
            Ok(data) => serde_json::from_slice(&data).map_err(|e| ImageError::Config {
                path: path.to_path_buf(),
                reason: format!("{e}; fix the JSON or move the file away"),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(DockerConfig::default()),
            Err(e) => Err(ImageError::Config {
                path: path.to_path_buf(),
                reason: e.to_string(),
            }),
        }
    }

    /// Writes the file atomically, readable by its owner only (it holds secrets).
    pub fn write(&self, path: &Path) -> Result<()> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let err = |e: std::io::Error| ImageError::Config {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(err)?;
        let data = serde_json::to_vec_pretty(self).map_err(|e| ImageError::Config {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let tmp = dir.join(crate::store::temp_name(".config.json-"));
        let res = (|| {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&data)?;
            f.write_all(b"\n")?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)
        })();
        if res.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        res.map_err(err)
    }

    /// Credentials for `domain`: the exact key, the key with a scheme, or
    /// Docker Hub's legacy key.
    pub fn credentials(&self, domain: &str) -> Option<Credentials> {
        let key = auth_key(domain);
        let entry = self.auths.get(&key).or_else(|| {
            self.auths.iter().find_map(|(k, v)| {
                let bare = k.trim_start_matches("https://").trim_start_matches("http://");
                let bare = bare.split('/').next().unwrap_or(bare);
                (bare == domain).then_some(v)
            })
        })?;
        if let Some(auth) = &entry.auth {
            let decoded = base64::engine::general_purpose::STANDARD.decode(auth.trim()).ok()?;
            let decoded = String::from_utf8(decoded).ok()?;
            let (u, p) = decoded.split_once(':')?;
            return Some(Credentials {
                username: u.to_string(),
                password: p.to_string(),
            });
        }
        match (&entry.username, &entry.password) {
            (Some(u), Some(p)) => Some(Credentials {
                username: u.clone(),
                password: p.clone(),
            }),
            _ => None,
        }
    }

    pub fn set(&mut self, domain: &str, creds: &Credentials) {
        let raw = format!("{}:{}", creds.username, creds.password);
        let entry = self.auths.entry(auth_key(domain)).or_default();
        entry.auth = Some(base64::engine::general_purpose::STANDARD.encode(raw));
        entry.username = None;
        entry.password = None;
    }

    /// Removes stored credentials; returns whether there were any.
    pub fn remove(&mut self, domain: &str) -> bool {
        self.auths.remove(&auth_key(domain)).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_registries_are_http() {
        let o = RegistryOptions::default();
        assert_eq!(o.endpoints("127.0.0.1:5000"), vec!["http://127.0.0.1:5000"]);
        assert_eq!(o.endpoints("localhost:5000"), vec!["http://localhost:5000"]);
        assert_eq!(o.endpoints("[::1]:5000"), vec!["http://[::1]:5000"]);
        assert_eq!(o.endpoints("quay.io"), vec!["https://quay.io"]);
        assert_eq!(o.endpoints("docker.io"), vec!["https://registry-1.docker.io"]);
        let o = RegistryOptions {
            mirrors: vec!["http://127.0.0.1:5001".into()],
            insecure: vec!["reg.lan:5000".into()],
            docker_config: None,
            mirror_only: false,
        };
        assert_eq!(
            o.endpoints("docker.io"),
            vec!["http://127.0.0.1:5001", "https://registry-1.docker.io"]
        );
        assert_eq!(o.endpoints("reg.lan:5000"), vec!["http://reg.lan:5000"]);
        let o = RegistryOptions { mirror_only: true, ..o };
        assert_eq!(o.endpoints("docker.io"), vec!["http://127.0.0.1:5001"]);
    }

    #[test]
    fn reads_the_registries_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("registries.json");
        std::fs::write(
            &p,
            r#"{"registry-mirrors":["http://127.0.0.1:1/"],"insecure-registries":["a:1"],"mirror-only":true}"#,
        )
        .unwrap();
        let o = RegistryOptions::load(Some(&p)).unwrap();
        assert_eq!(o.mirrors, vec!["http://127.0.0.1:1"]);
        assert!(o.is_insecure("a:1") && o.mirror_only);
        std::fs::write(&p, "{nope").unwrap();
        let e = RegistryOptions::load(Some(&p)).unwrap_err().to_string();
        assert!(e.contains("registries.json"), "{e}");
        assert!(RegistryOptions::load(Some(&dir.path().join("missing"))).is_ok());
    }

    #[test]
    fn credentials_round_trip_and_keep_other_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(
            &path,
            r#"{"auths":{"old.io":{"auth":"dTpw"}},"credsStore":"x","proxies":{"a":1}}"#,
        )
        .unwrap();
        let mut cfg = DockerConfig::read(&path).unwrap();
        assert_eq!(cfg.credentials("old.io").unwrap().password, "p");
        cfg.set(
            "docker.io",
            &Credentials {
                username: "me".into(),
                password: "s:ecret".into(),
            },
        );
        cfg.write(&path).unwrap();
        let back = DockerConfig::read(&path).unwrap();
        let c = back.credentials("docker.io").unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("me", "s:ecret"));
        assert!(back.other.contains_key("credsStore") && back.other.contains_key("proxies"));
        let mut back = back;
        assert!(back.remove("docker.io"));
        assert!(!back.remove("docker.io"));
        assert!(format!("{c:?}").contains("***"));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
}
