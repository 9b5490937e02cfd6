//! The UDP proxy: one socket in the host namespace; per client address a
//! connected socket to the container and a thread carrying the replies
//! back, ended after a minute without traffic.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{bind_error, PortBinding, Protocol, Published};
use crate::network::error::Result;

const IDLE: Duration = Duration::from_secs(60);
const TICK: Duration = Duration::from_millis(200);

type Flows = Arc<Mutex<HashMap<SocketAddr, Arc<Flow>>>>;

struct Flow {
    sock: UdpSocket,
    last: Mutex<Instant>,
}

pub struct UdpProxy {
    published: Published,
    stopping: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl UdpProxy {
    pub fn start(b: &PortBinding) -> Result<UdpProxy> {
        let sock = UdpSocket::bind(b.host).map_err(|e| bind_error(b, e))?;
        let host = sock.local_addr().map_err(|e| bind_error(b, e))?;
        sock.set_read_timeout(Some(TICK)).map_err(|e| bind_error(b, e))?;
        let stopping = Arc::new(AtomicBool::new(false));
        let (s, target) = (stopping.clone(), b.target);
        let thread = std::thread::Builder::new()
            .name(format!("rcompose-udp-{}", host.port()))
            .spawn(move || run(Arc::new(sock), target, s))
            .map_err(|e| bind_error(b, e))?;
        Ok(UdpProxy {
            published: Published {
                host,
                target: b.target,
                protocol: Protocol::Udp,
            },
            stopping,
            thread: Some(thread),
        })
    }

    pub fn published(&self) -> Published {
        self.published
    }

    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for UdpProxy {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn run(host: Arc<UdpSocket>, target: SocketAddr, stopping: Arc<AtomicBool>) {
    let flows: Flows = Arc::new(Mutex::new(HashMap::new()));
    let mut repliers = Vec::new();
    let mut buf = vec![0u8; 65535];
    while !stopping.load(Ordering::SeqCst) {
        let Ok((n, client)) = host.recv_from(&mut buf) else {
            continue;
        };
        let existing = flows.lock().ok().and_then(|g| g.get(&client).cloned());
        let flow = match existing {
            Some(f) => f,
            None => {
                let Some(f) = new_flow(target) else { continue };
                let f = Arc::new(f);
                if let Ok(mut g) = flows.lock() {
                    g.insert(client, f.clone());
                }
                let (h, fl, fs, st) = (host.clone(), f.clone(), flows.clone(), stopping.clone());
                if let Ok(t) = std::thread::Builder::new()
                    .name("rcompose-udp-flow".into())
                    .spawn(move || replies(&h, client, &fl, &fs, &st))
                {
                    repliers.push(t);
                }
                f
            }
        };
        if let Ok(mut l) = flow.last.lock() {
            *l = Instant::now();
        }
        let _ = flow.sock.send(&buf[..n]);
        repliers.retain(|t| !t.is_finished());
    }
    for t in repliers {
        let _ = t.join();
    }
}

fn new_flow(target: SocketAddr) -> Option<Flow> {
    let any = if target.is_ipv4() {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    } else {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    };
    let sock = UdpSocket::bind(SocketAddr::new(any, 0)).ok()?;
    sock.connect(target).ok()?;
    sock.set_read_timeout(Some(TICK)).ok()?;
    Some(Flow {
        sock,
        last: Mutex::new(Instant::now()),
    })
}

fn replies(host: &UdpSocket, client: SocketAddr, flow: &Flow, flows: &Flows, stopping: &AtomicBool) {
    let mut buf = vec![0u8; 65535];
    while !stopping.load(Ordering::SeqCst) {
        match flow.sock.recv(&mut buf) {
            Ok(n) => {
                if let Ok(mut l) = flow.last.lock() {
                    *l = Instant::now();
                }
                let _ = host.send_to(&buf[..n], client);
            }
            Err(_) => {
                let idle = flow.last.lock().map(|l| l.elapsed() > IDLE).unwrap_or(true);
                if idle {
                    break;
                }
            }
        }
    }
    if let Ok(mut g) = flows.lock() {
        g.remove(&client);
    }
}
