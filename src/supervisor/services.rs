//! The network services a container's supervisor runs for it (DESIGN.md
//! §3, §4): the DNS responder in its namespace and its published ports.
//! The caller describes them in `services.json` before starting the
//! supervisor.

use std::fs::File;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::path::PathBuf;
use std::sync::Arc;

use nix::fcntl::OFlag;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::{fork, pipe2, ForkResult, Pid};
use serde::{Deserialize, Serialize};

use crate::network::dns::records::DnsEndpoint;
use crate::network::dns::server::{DnsConfig, DnsServer};
use crate::network::dns::source::{self, DirRecords};
use crate::network::proxy::{PortBinding, PortProxy, Protocol};
use crate::runtime::state::ContainerPaths;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkServices {
    /// The container's network namespace file (same path as ContainerSpec.netns).
    pub netns: PathBuf,
    /// The DNS responder at 127.0.0.11:53 in `netns`; None: no responder.
    pub dns: Option<DnsService>,
    /// What this container answers to in others' lookups while it runs.
    pub endpoint: Option<DnsEndpoint>,
    /// Published ports (host side listens in the host namespace).
    pub ports: Vec<PortService>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DnsService {
    pub networks: Vec<String>,
    pub upstreams: Vec<SocketAddr>,
    pub records_dir: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PortService {
    pub host: SocketAddr,
    pub target: SocketAddr,
    pub protocol: String,
    pub service: String,
}

/// A port as it actually listens (ephemeral ports resolved).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedPort {
    pub host: SocketAddr,
    pub target: u16,
    pub protocol: String,
}

fn services_file(paths: &ContainerPaths) -> PathBuf {
    paths.dir.join("services.json")
}

fn ports_file(paths: &ContainerPaths) -> PathBuf {
    paths.dir.join("ports.json")
}

pub fn write(paths: &ContainerPaths, services: &NetworkServices) -> crate::runtime::Result<()> {
    crate::runtime::state::write_json(&services_file(paths), services)
}

pub fn read(paths: &ContainerPaths) -> crate::runtime::Result<Option<NetworkServices>> {
    let p = services_file(paths);
    if !p.exists() {
        return Ok(None);
    }
    crate::runtime::state::read_json(&p).map(Some)
}

pub fn published(paths: &ContainerPaths) -> Vec<PublishedPort> {
    std::fs::read(ports_file(paths))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Forgets what a dead supervisor left published: its DNS record and its
/// ports file. Called on stop when no supervisor answers, so lookups stop
/// returning a container that is gone.
pub fn teardown(paths: &ContainerPaths) {
    if let Ok(Some(services)) = read(paths) {
        withdraw_record(&services);
    }
    let _ = std::fs::remove_file(ports_file(paths));
}

/// Makes this container visible to the others' lookups (it is running).
pub fn publish_record(services: &NetworkServices) {
    if let (Some(dns), Some(ep)) = (&services.dns, &services.endpoint) {
        if let Err(e) = source::publish(&dns.records_dir, ep) {
            note!("publishing the DNS record of {}: {e}", ep.container);
        }
    }
}

/// Hides this container from the others' lookups (it stopped).
pub fn withdraw_record(services: &NetworkServices) {
    if let (Some(dns), Some(ep)) = (&services.dns, &services.endpoint) {
        let _ = source::withdraw(&dns.records_dir, &ep.container);
    }
}

/// The process that serves a container's DNS responder and published ports.
///
/// The supervisor is single-threaded because libcontainer forks; the
/// responder and the proxies want threads. So they run in a child forked
/// before any container process exists, which dies with the supervisor
/// (PR_SET_PDEATHSIG), so a `kill -9` of the supervisor frees the ports.
pub struct ServicesProcess {
    pid: Pid,
}

impl ServicesProcess {
    /// Forks the services child and waits until it listens everywhere it
    /// should (or returns its error, e.g. a port that is taken). `Ok(None)`
    /// when there is nothing to serve.
    pub fn start(paths: &ContainerPaths, services: &NetworkServices) -> Result<Option<ServicesProcess>, String> {
        if services.dns.is_none() && services.ports.is_empty() {
            return Ok(None);
        }
        let (r, w) = pipe2(OFlag::O_CLOEXEC).map_err(|e| format!("services pipe: {e}"))?;
        // SAFETY: the supervisor is single-threaded when it calls this.
        match unsafe { fork() }.map_err(|e| format!("cannot fork the services process: {e}"))? {
            ForkResult::Child => {
                drop(r);
                // Inherited descriptors (the CLI's readiness pipe, the control
                // socket) would keep the supervisor's peers waiting on us.
                close_inherited_fds(w.as_raw_fd());
                // SAFETY: prctl with constant arguments.
                unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
                let code = serve(paths, services, File::from(w));
                // Never return into the supervisor's code in the child.
                std::process::exit(code);
            }
            ForkResult::Parent { child } => {
                drop(w);
                let mut answer = String::new();
                let _ = File::from(r).read_to_string(&mut answer);
                if answer.starts_with("ok") {
                    Ok(Some(ServicesProcess { pid: child }))
                } else {
                    let _ = kill(child, Signal::SIGKILL);
                    let _ = waitpid(child, None);
                    let msg = answer.trim();
                    Err(if msg.is_empty() {
                        "the DNS and port services exited before they were ready".to_string()
                    } else {
                        msg.to_string()
                    })
                }
            }
        }
    }

    pub fn stop(self) {
        let _ = kill(self.pid, Signal::SIGKILL);
        // The supervisor's reaper may have collected it already.
        let _ = waitpid(self.pid, None);
    }
}

fn close_inherited_fds(keep: RawFd) {
    let fds: Vec<RawFd> = match std::fs::read_dir("/proc/self/fd") {
        Ok(dir) => dir
            .flatten()
            .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
            .collect(),
        Err(_) => return,
    };
    for fd in fds {
        if fd > 2 && fd != keep {
            // SAFETY: the child owns no Rust object over these; it exits
            // without returning to the code that does.
            unsafe { libc::close(fd) };
        }
    }
}

/// Body of the services child: bind everything, say so, then serve until
/// killed.
fn serve(paths: &ContainerPaths, services: &NetworkServices, mut ready: File) -> i32 {
    // The supervisor catches these; the child must die on them instead.
    for sig in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP, Signal::SIGCHLD] {
        // SAFETY: restoring the default disposition.
        let _ = unsafe { nix::sys::signal::signal(sig, nix::sys::signal::SigHandler::SigDfl) };
    }
    let _dns = match &services.dns {
        None => None,
        Some(dns) => {
            let source = Arc::new(DirRecords::new(&dns.records_dir));
            let config = DnsConfig::new(dns.networks.clone(), dns.upstreams.clone());
            match DnsServer::spawn(&services.netns, source, config) {
                Ok(s) => Some(s),
                Err(e) => {
                    let _ = ready.write_all(format!("DNS responder: {e}").as_bytes());
                    return 1;
                }
            }
        }
    };
    let bindings: Vec<PortBinding> = services
        .ports
        .iter()
        .map(|p| PortBinding {
            host: p.host,
            target: p.target,
            protocol: if p.protocol == "udp" {
                Protocol::Udp
            } else {
                Protocol::Tcp
            },
            service: p.service.clone(),
        })
        .collect();
    let proxies = match PortProxy::start_all(&bindings) {
        Ok(p) => p,
        Err(e) => {
            let _ = ready.write_all(e.to_string().as_bytes());
            return 1;
        }
    };
    let published: Vec<PublishedPort> = proxies
        .iter()
        .map(|p| {
            let p = p.published();
            PublishedPort {
                host: p.host,
                target: p.target.port(),
                protocol: p.protocol.as_str().to_string(),
            }
        })
        .collect();
    if let Err(e) = crate::runtime::state::write_json(&ports_file(paths), &published) {
        let _ = ready.write_all(format!("recording the published ports: {e}").as_bytes());
        return 1;
    }
    let _ = ready.write_all(b"ok");
    drop(ready);
    loop {
        // Serving happens on the responder's and proxies' threads.
        std::thread::park();
    }
}
