//! The TCP proxy: a blocking accept loop on its own thread; per connection
//! two threads, one per direction, each splicing through its own pipe.

use std::collections::HashMap;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::splice::pump;
use super::{bind_error, PortBinding, Protocol, Published};
use crate::network::error::Result;

type Conns = Arc<Mutex<HashMap<u64, TcpStream>>>;

pub struct TcpProxy {
    published: Published,
    listener: Arc<TcpListener>,
    stopping: Arc<AtomicBool>,
    conns: Conns,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TcpProxy {
    pub fn start(b: &PortBinding) -> Result<TcpProxy> {
        let listener = TcpListener::bind(b.host).map_err(|e| bind_error(b, e))?;
        let host = listener.local_addr().map_err(|e| bind_error(b, e))?;
        let listener = Arc::new(listener);
        let stopping = Arc::new(AtomicBool::new(false));
        let conns: Conns = Arc::new(Mutex::new(HashMap::new()));
        let (l, s, c, target) = (listener.clone(), stopping.clone(), conns.clone(), b.target);
        let thread = std::thread::Builder::new()
            .name(format!("rcompose-tcp-{}", host.port()))
            .spawn(move || accept_loop(&l, &s, &c, target))
            .map_err(|e| bind_error(b, e))?;
        Ok(TcpProxy {
            published: Published {
                host,
                target: b.target,
                protocol: Protocol::Tcp,
            },
            listener,
            stopping,
            conns,
            thread: Some(thread),
        })
    }

    pub fn published(&self) -> Published {
        self.published
    }

    /// Stops listening and closes every open connection.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Wakes the blocked accept() (Linux returns EINVAL afterwards).
        // SAFETY: shutdown on the listener's fd, which stays open until drop.
        unsafe { libc::shutdown(self.listener.as_raw_fd(), libc::SHUT_RDWR) };
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let conns = match self.conns.lock() {
            Ok(mut g) => std::mem::take(&mut *g),
            Err(p) => std::mem::take(&mut *p.into_inner()),
        };
        for s in conns.values() {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn accept_loop(listener: &TcpListener, stopping: &AtomicBool, conns: &Conns, target: SocketAddr) {
    let next = AtomicU64::new(0);
    loop {
        let client = match listener.accept() {
            Ok((c, _)) => c,
            Err(_) if stopping.load(Ordering::SeqCst) => return,
            Err(e) if e.raw_os_error() == Some(libc::EMFILE) || e.raw_os_error() == Some(libc::ENFILE) => {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
            Err(_) => continue,
        };
        if stopping.load(Ordering::SeqCst) {
            return;
        }
        let id = next.fetch_add(1, Ordering::Relaxed);
        let conns = conns.clone();
        let _ = std::thread::Builder::new()
            .name("rcompose-tcp-conn".into())
            .spawn(move || handle(client, target, id, &conns));
    }
}

fn handle(client: TcpStream, target: SocketAddr, id: u64, conns: &Conns) {
    let Ok(upstream) = TcpStream::connect_timeout(&target, Duration::from_secs(5)) else {
        return; // dropping the client closes it: the container did not answer
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    if let (Ok(mut g), Ok(c)) = (conns.lock(), client.try_clone()) {
        g.insert(id, c);
    }
    let (Ok(c2), Ok(u2)) = (client.try_clone(), upstream.try_clone()) else {
        return;
    };
    let back = std::thread::Builder::new()
        .name("rcompose-tcp-back".into())
        .spawn(move || pump(&u2, &c2));
    pump(&client, &upstream);
    if let Ok(t) = back {
        let _ = t.join();
    }
    if let Ok(mut g) = conns.lock() {
        g.remove(&id);
    }
}
