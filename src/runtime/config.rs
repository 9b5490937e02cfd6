//! The engine-level description of one container: plain data, no Compose.
//!
//! `project` fills a [`ContainerSpec`] from a service; `runtime` turns it into
//! a rootfs and an OCI runtime spec (`spec.rs`); the supervisor reads the
//! same file to know the restart policy, stop signal, healthcheck and logs.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// What the image says about how to run it (the OCI image config's `config`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// `KEY=VALUE` entries, in the image's order.
    #[serde(default)]
    pub env: Vec<String>,
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default)]
    pub cmd: Option<Vec<String>>,
    #[serde(default)]
    pub working_dir: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub stop_signal: Option<String>,
    /// The image's `SHELL`, used for shell-form commands (default `/bin/sh -c`).
    #[serde(default)]
    pub shell: Option<Vec<String>>,
    #[serde(default)]
    pub healthcheck: Option<Healthcheck>,
    /// `VOLUME` paths: each gets an anonymous volume unless a mount covers it.
    #[serde(default)]
    pub volumes: Vec<String>,
    /// `EXPOSE`d ports as `PORT/PROTO`, shown by `ps` when not published.
    #[serde(default)]
    pub exposed_ports: Vec<String>,
}

/// One container, as the engine runs it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerSpec {
    /// Engine id: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, at most 128 characters.
    pub id: String,
    pub image: ImageConfig,
    /// Image snapshot directories, top-most layer first.
    pub lower_dirs: Vec<PathBuf>,
    /// `Some(vec![])` resets the image's ENTRYPOINT (Docker's `--entrypoint ""`).
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
    /// An empty command means "the image's CMD", as in Docker.
    #[serde(default)]
    pub command: Option<Vec<String>>,
    /// Overrides, `KEY=VALUE`, applied over the image's environment in order
    /// (env files first, then `environment`, already flattened by the caller).
    #[serde(default)]
    pub env: Vec<String>,
    #[serde(default)]
    pub working_dir: Option<String>,
    /// `user[:group]`, names or numbers; `None` means the image's USER.
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub group_add: Vec<String>,
    #[serde(default)]
    pub hostname: Option<String>,
    #[serde(default)]
    pub domainname: Option<String>,
    #[serde(default)]
    pub extra_hosts: Vec<HostEntry>,
    #[serde(default)]
    pub dns: DnsConfig,
    #[serde(default)]
    pub mounts: Vec<MountSpec>,
    #[serde(default)]
    pub read_only: bool,
    #[serde(default)]
    pub tty: bool,
    /// Standard input from a FIFO in the container's directory
    /// (`ContainerPaths::stdin_fifo`) instead of `/dev/null`.
    #[serde(default)]
    pub stdin_open: bool,
    /// With `stdin_open`: input ends when the one client that attached
    /// closes its end (Docker's StdinOnce, `run -i`). Without it the
    /// supervisor keeps a writer, so reads wait, as with Docker's
    /// `stdin_open`.
    #[serde(default)]
    pub stdin_once: bool,
    #[serde(default)]
    pub security: SecurityOptions,
    #[serde(default)]
    pub sysctls: BTreeMap<String, String>,
    #[serde(default)]
    pub ulimits: Vec<Ulimit>,
    #[serde(default)]
    pub resources: Resources,
    /// Size of `/dev/shm` in bytes (Docker's default: 64 MiB).
    #[serde(default)]
    pub shm_size: Option<u64>,
    /// Network namespace to join; `None` means a new one with only `lo`.
    #[serde(default)]
    pub netns: Option<PathBuf>,
    /// Run a minimal reaping init as PID 1 (Docker's `--init`).
    #[serde(default)]
    pub init: bool,
    #[serde(default)]
    pub restart: RestartPolicy,
    /// Signal name or number; `None` means the image's STOPSIGNAL, else SIGTERM.
    #[serde(default)]
    pub stop_signal: Option<String>,
    /// Milliseconds between the stop signal and SIGKILL (Docker's default: 10 s).
    #[serde(default)]
    pub stop_grace_period_ms: Option<u64>,
    /// Overrides the image's HEALTHCHECK.
    #[serde(default)]
    pub healthcheck: Option<Healthcheck>,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// A line of `/etc/hosts` added by `extra_hosts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostEntry {
    pub name: String,
    pub ip: String,
}

/// `/etc/resolv.conf` content. Empty nameservers: the host's, minus loopback
/// addresses (which mean nothing inside the container), as Docker does.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsConfig {
    #[serde(default)]
    pub nameservers: Vec<String>,
    #[serde(default)]
    pub search: Vec<String>,
    #[serde(default)]
    pub options: Vec<String>,
}

/// Mount propagation of a bind mount.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Propagation {
    Private,
    #[default]
    Rprivate,
    Shared,
    Rshared,
    Slave,
    Rslave,
}

impl Propagation {
    pub fn as_str(self) -> &'static str {
        match self {
            Propagation::Private => "private",
            Propagation::Rprivate => "rprivate",
            Propagation::Shared => "shared",
            Propagation::Rshared => "rshared",
            Propagation::Slave => "slave",
            Propagation::Rslave => "rslave",
        }
    }
}

/// A mount into the container, already resolved to host paths by the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum MountSpec {
    Bind {
        source: PathBuf,
        target: String,
        #[serde(default)]
        read_only: bool,
        #[serde(default)]
        propagation: Propagation,
    },
    /// A named volume's directory. If it is empty when first mounted, it is
    /// filled with the image's content at `target` (unless `nocopy`).
    Volume {
        source: PathBuf,
        target: String,
        #[serde(default)]
        read_only: bool,
        #[serde(default)]
        nocopy: bool,
    },
    Tmpfs {
        target: String,
        #[serde(default)]
        size: Option<u64>,
        #[serde(default)]
        mode: Option<u32>,
    },
}

impl MountSpec {
    pub fn target(&self) -> &str {
        match self {
            MountSpec::Bind { target, .. } | MountSpec::Volume { target, .. } | MountSpec::Tmpfs { target, .. } => {
                target
            }
        }
    }
}

/// Docker's seccomp choices.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SeccompChoice {
    #[default]
    Default,
    Unconfined,
    /// A profile in Docker's JSON format (the content, not a path).
    Custom(String),
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityOptions {
    #[serde(default)]
    pub privileged: bool,
    #[serde(default)]
    pub cap_add: Vec<String>,
    #[serde(default)]
    pub cap_drop: Vec<String>,
    #[serde(default)]
    pub seccomp: SeccompChoice,
    #[serde(default)]
    pub no_new_privileges: bool,
    /// Accepted as Docker accepts it; applied only where AppArmor is enabled.
    #[serde(default)]
    pub apparmor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ulimit {
    /// Docker's name: `nofile`, `nproc`, `core`, `memlock`, …
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

/// Cgroup limits. Byte sizes in bytes; `-1` for swap means unlimited.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    #[serde(default)]
    pub memory: Option<i64>,
    /// Memory plus swap (Docker's `memswap_limit`).
    #[serde(default)]
    pub memory_swap: Option<i64>,
    #[serde(default)]
    pub memory_reservation: Option<i64>,
    /// Number of CPUs, fractional (`cpus: 0.5`).
    #[serde(default)]
    pub cpus: Option<f64>,
    #[serde(default)]
    pub cpu_shares: Option<u64>,
    #[serde(default)]
    pub cpuset_cpus: Option<String>,
    #[serde(default)]
    pub cpuset_mems: Option<String>,
    #[serde(default)]
    pub pids_limit: Option<i64>,
    #[serde(default)]
    pub blkio_weight: Option<u16>,
    #[serde(default)]
    pub oom_score_adj: Option<i32>,
}

/// Docker's restart policies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "kebab-case")]
pub enum RestartPolicy {
    #[default]
    No,
    Always,
    OnFailure {
        #[serde(default)]
        max_retries: Option<u32>,
    },
    UnlessStopped,
}

impl std::str::FromStr for RestartPolicy {
    type Err = String;

    /// Docker's syntax: `no`, `always`, `unless-stopped`, `on-failure[:N]`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (name, max) = match s.split_once(':') {
            Some((n, m)) => (n, Some(m)),
            None => (s, None),
        };
        let policy = match (name, max) {
            ("no" | "", None) => RestartPolicy::No,
            ("always", None) => RestartPolicy::Always,
            ("unless-stopped", None) => RestartPolicy::UnlessStopped,
            ("on-failure", None) => RestartPolicy::OnFailure { max_retries: None },
            ("on-failure", Some(m)) => {
                let n: u32 = m.parse().map_err(|_| {
                    format!("invalid restart policy {s:?}: the retry count must be a non-negative integer")
                })?;
                RestartPolicy::OnFailure {
                    max_retries: if n == 0 { None } else { Some(n) },
                }
            }
            (_, Some(_)) => {
                return Err(format!(
                    "invalid restart policy {s:?}: only on-failure takes a retry count"
                ))
            }
            _ => {
                return Err(format!(
                    "invalid restart policy {s:?}: use no, always, unless-stopped or on-failure[:N]"
                ))
            }
        };
        Ok(policy)
    }
}

/// The command a healthcheck runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "args", rename_all = "kebab-case")]
pub enum HealthTest {
    /// `NONE`: healthchecks disabled (also the image's).
    None,
    /// `CMD`: exec form.
    Cmd(Vec<String>),
    /// `CMD-SHELL`: run through the image's shell.
    CmdShell(String),
    /// No test given, only timings: the image's test with these timings.
    Inherit,
}

/// A healthcheck; durations in milliseconds, `None` for Docker's defaults
/// (interval 30 s, timeout 30 s, retries 3, start period 0, start interval 5 s).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Healthcheck {
    pub test: HealthTest,
    #[serde(default)]
    pub interval_ms: Option<u64>,
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    #[serde(default)]
    pub retries: Option<u32>,
    #[serde(default)]
    pub start_period_ms: Option<u64>,
    #[serde(default)]
    pub start_interval_ms: Option<u64>,
}

/// json-file log options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogConfig {
    /// Rotate when the file reaches this many bytes; `None`: never.
    #[serde(default)]
    pub max_size: Option<u64>,
    /// Files kept, including the current one (Docker's default: 1).
    #[serde(default)]
    pub max_file: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_policies_parse_as_docker_spells_them() {
        assert_eq!("no".parse(), Ok(RestartPolicy::No));
        assert_eq!("always".parse(), Ok(RestartPolicy::Always));
        assert_eq!("unless-stopped".parse(), Ok(RestartPolicy::UnlessStopped));
        assert_eq!("on-failure".parse(), Ok(RestartPolicy::OnFailure { max_retries: None }));
        assert_eq!(
            "on-failure:3".parse(),
            Ok(RestartPolicy::OnFailure { max_retries: Some(3) })
        );
        assert!("on-failure:x".parse::<RestartPolicy>().is_err());
        assert!("always:3".parse::<RestartPolicy>().is_err());
        assert!("sometimes".parse::<RestartPolicy>().is_err());
    }

    #[test]
    fn spec_round_trips_through_json() {
        let spec = ContainerSpec {
            id: "c1".into(),
            mounts: vec![MountSpec::Tmpfs {
                target: "/tmp".into(),
                size: Some(1 << 20),
                mode: Some(0o1777),
            }],
            restart: RestartPolicy::OnFailure { max_retries: Some(2) },
            ..Default::default()
        };
        let json = serde_json::to_string(&spec).expect("serialize");
        let back: ContainerSpec = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, spec);
    }
}
