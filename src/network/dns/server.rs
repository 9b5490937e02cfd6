//! The responder a container's supervisor runs: UDP and TCP on
//! 127.0.0.11:53 inside the container's namespace, answering names of the
//! networks the container is on from the record table, and forwarding every
//! other query, byte for byte, to the upstream resolvers from the
//! supervisor's (host) namespace, passing their answer back unchanged.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, PTR};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

use super::records::Answer;
use super::resolv::RESPONDER;
use super::source::RecordsSource;
use crate::network::error::{NetworkError, Result};
use crate::network::netns;

/// How one container's responder behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsConfig {
    /// The networks of the asking container: only their names are answered.
    pub networks: Vec<String>,
    /// Where other names go (see `resolv::upstreams`), tried in order.
    pub upstreams: Vec<SocketAddr>,
    /// 127.0.0.11:53 unless a test says otherwise.
    pub listen: SocketAddr,
    /// How long to wait for one upstream before trying the next.
    pub upstream_timeout: Duration,
}

impl DnsConfig {
    pub fn new(networks: Vec<String>, upstreams: Vec<SocketAddr>) -> Self {
        DnsConfig {
            networks,
            upstreams,
            listen: SocketAddr::new(RESPONDER, 53),
            upstream_timeout: Duration::from_secs(2),
        }
    }
}

/// Answers for our own names carry TTL 0: a container that stops or moves
/// is never served from a client's cache.
const LOCAL_TTL: u32 = 0;

struct Ctx {
    source: Arc<dyn RecordsSource>,
    config: DnsConfig,
    rotate: AtomicUsize,
}

enum Reply {
    Local(Vec<u8>),
    Forward,
    Drop,
}

/// A responder running on its own thread ([`DnsServer::spawn`]).
pub struct DnsServer {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    netns: PathBuf,
}

impl DnsServer {
    /// Binds UDP and TCP at `config.listen` inside `netns`, then serves until
    /// `shutdown` completes. Call it on the supervisor's tokio runtime; the
    /// upstream sockets are made in the namespace of the thread running it.
    pub async fn run(
        netns: &Path,
        source: Arc<dyn RecordsSource>,
        config: DnsConfig,
        shutdown: impl Future<Output = ()>,
    ) -> Result<()> {
        let (udp, tcp) = bind(netns, config.listen)?;
        serve(netns, udp, tcp, source, config, shutdown).await
    }

    /// Binds (errors are returned here), then serves on a dedicated thread
    /// with its own event loop until [`DnsServer::stop`] or drop.
    pub fn spawn(netns: &Path, source: Arc<dyn RecordsSource>, config: DnsConfig) -> Result<DnsServer> {
        let (udp, tcp) = bind(netns, config.listen)?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let path = netns.to_path_buf();
        let p2 = path.clone();
        let thread = std::thread::Builder::new()
            .name("rcompose-dns".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(rt) => rt,
                    Err(_) => return,
                };
                // Errors after binding are per-query and answered as SERVFAIL.
                let _ = rt.block_on(serve(&p2, udp, tcp, source, config, async {
                    let _ = rx.await;
                }));
            })
            .map_err(|e| NetworkError::Dns {
                netns: path.clone(),
                action: "start thread",
                source: e,
            })?;
        Ok(DnsServer {
            stop: Some(tx),
            thread: Some(thread),
            netns: path,
        })
    }

    pub fn netns(&self) -> &Path {
        &self.netns
    }

    /// Stops serving and waits for the thread to finish.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn bind(netns: &Path, listen: SocketAddr) -> Result<(std::net::UdpSocket, std::net::TcpListener)> {
    let err = |action, source| NetworkError::Dns {
        netns: netns.to_path_buf(),
        action,
        source,
    };
    let (udp, tcp) = netns::run_in(Some(netns), move || -> std::io::Result<_> {
        let udp = std::net::UdpSocket::bind(listen)?;
        let tcp = std::net::TcpListener::bind(listen)?;
        udp.set_nonblocking(true)?;
        tcp.set_nonblocking(true)?;
        Ok((udp, tcp))
    })?
    .map_err(|e| err("bind", e))?;
    Ok((udp, tcp))
}

async fn serve(
    netns: &Path,
    udp: std::net::UdpSocket,
    tcp: std::net::TcpListener,
    source: Arc<dyn RecordsSource>,
    config: DnsConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let err = |action, source| NetworkError::Dns {
        netns: netns.to_path_buf(),
        action,
        source,
    };
    let udp = Arc::new(UdpSocket::from_std(udp).map_err(|e| err("register UDP socket", e))?);
    let tcp = TcpListener::from_std(tcp).map_err(|e| err("register TCP socket", e))?;
    let ctx = Arc::new(Ctx {
        source,
        config,
        rotate: AtomicUsize::new(0),
    });
    let mut buf = vec![0u8; 65535];
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return Ok(()),
            r = udp.recv_from(&mut buf) => {
                let Ok((n, peer)) = r else { continue };
                let query = &buf[..n];
                match ctx.answer(query, true) {
                    Reply::Local(bytes) => { let _ = udp.send_to(&bytes, peer).await; }
                    Reply::Forward => {
                        let (ctx, udp, query) = (ctx.clone(), udp.clone(), query.to_vec());
                        tokio::spawn(async move {
                            let bytes = ctx.forward_udp(&query).await;
                            let _ = udp.send_to(&bytes, peer).await;
                        });
                    }
                    Reply::Drop => {}
                }
            }
            r = tcp.accept() => {
                if let Ok((stream, _)) = r {
                    let ctx = ctx.clone();
                    tokio::spawn(async move { let _ = serve_tcp(ctx, stream).await; });
                }
            }
        }
    }
}

async fn serve_tcp(ctx: Arc<Ctx>, mut stream: TcpStream) -> std::io::Result<()> {
    loop {
        let len = match tokio::time::timeout(Duration::from_secs(10), stream.read_u16()).await {
            Ok(Ok(l)) => l as usize,
            _ => return Ok(()),
        };
        let mut q = vec![0u8; len];
        stream.read_exact(&mut q).await?;
        let bytes = match ctx.answer(&q, false) {
            Reply::Local(b) => b,
            Reply::Forward => ctx.forward_tcp(&q).await,
            Reply::Drop => return Ok(()),
        };
        let mut out = Vec::with_capacity(bytes.len() + 2);
        out.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
        out.extend_from_slice(&bytes);
        stream.write_all(&out).await?;
    }
}

impl Ctx {
    fn answer(&self, query: &[u8], udp: bool) -> Reply {
        let req = match Message::from_vec(query) {
            Ok(m) => m,
            Err(_) if query.len() >= 2 => {
                let id = u16::from_be_bytes([query[0], query[1]]);
                return encode(&Message::error_msg(id, OpCode::Query, ResponseCode::FormErr))
                    .map_or(Reply::Drop, Reply::Local);
            }
            Err(_) => return Reply::Drop,
        };
        if req.message_type() != MessageType::Query {
            return Reply::Drop;
        }
        let Some(q) = req.queries().first() else {
            return encode(&Message::error_msg(req.id(), req.op_code(), ResponseCode::FormErr))
                .map_or(Reply::Drop, Reply::Local);
        };
        if req.op_code() != OpCode::Query {
            return Reply::Forward;
        }
        let table = self.source.table();
        let nets = &self.config.networks;
        let name = q.name().to_ascii();
        let records: Vec<Record> = match q.query_type() {
            RecordType::PTR => match ptr_address(&name).and_then(|a| table.reverse(nets, a)) {
                Some(container) => match Name::from_ascii(format!("{container}.")) {
                    Ok(target) => vec![Record::from_rdata(q.name().clone(), LOCAL_TTL, RData::PTR(PTR(target)))],
                    Err(_) => return Reply::Forward,
                },
                None => return Reply::Forward,
            },
            qtype => match table.lookup(nets, &name, self.rotate.fetch_add(1, Ordering::Relaxed)) {
                Answer::Forward => return Reply::Forward,
                Answer::Local(addrs) => addrs
                    .into_iter()
                    .filter_map(|a| match (a, qtype) {
                        (IpAddr::V4(v4), RecordType::A | RecordType::ANY) => Some(RData::A(A(v4))),
                        (IpAddr::V6(v6), RecordType::AAAA | RecordType::ANY) => Some(RData::AAAA(AAAA(v6))),
                        _ => None,
                    })
                    .map(|rd| Record::from_rdata(q.name().clone(), LOCAL_TTL, rd))
                    .collect(),
            },
        };
        let mut resp = response_to(&req, q, ResponseCode::NoError);
        resp.set_authoritative(true);
        let max = if udp {
            req.extensions().as_ref().map_or(512, |e| e.max_payload().max(512)) as usize
        } else {
            65535
        };
        let mut full = resp.clone();
        full.add_answers(records);
        match encode(&full) {
            Some(b) if b.len() <= max => Reply::Local(b),
            Some(_) => {
                resp.set_truncated(true);
                encode(&resp).map_or(Reply::Drop, Reply::Local)
            }
            None => Reply::Drop,
        }
    }

    fn servfail(&self, query: &[u8]) -> Vec<u8> {
        let msg = match Message::from_vec(query) {
            Ok(req) => match req.queries().first() {
                Some(q) => response_to(&req, q, ResponseCode::ServFail),
                None => Message::error_msg(req.id(), req.op_code(), ResponseCode::ServFail),
            },
            Err(_) => Message::error_msg(0, OpCode::Query, ResponseCode::ServFail),
        };
        encode(&msg).unwrap_or_default()
    }

    async fn forward_udp(&self, query: &[u8]) -> Vec<u8> {
        let id = &query[..2.min(query.len())];
        for up in &self.config.upstreams {
            let bind: SocketAddr = if up.is_ipv4() {
                (Ipv4Addr::UNSPECIFIED, 0).into()
            } else {
                (Ipv6Addr::UNSPECIFIED, 0).into()
            };
            let Ok(sock) = UdpSocket::bind(bind).await else {
                continue;
            };
            if sock.connect(up).await.is_err() || sock.send(query).await.is_err() {
                continue;
            }
            let mut buf = vec![0u8; 65535];
            let deadline = tokio::time::Instant::now() + self.config.upstream_timeout;
            loop {
                match tokio::time::timeout_at(deadline, sock.recv(&mut buf)).await {
                    Ok(Ok(n)) if n >= 2 && &buf[..2] == id => {
                        buf.truncate(n);
                        return buf;
                    }
                    Ok(Ok(_)) => continue,
                    _ => break,
                }
            }
        }
        self.servfail(query)
    }

    async fn forward_tcp(&self, query: &[u8]) -> Vec<u8> {
        for up in &self.config.upstreams {
            let exchange = async {
                let mut s = TcpStream::connect(up).await?;
                let mut out = Vec::with_capacity(query.len() + 2);
                out.extend_from_slice(&(query.len() as u16).to_be_bytes());
                out.extend_from_slice(query);
                s.write_all(&out).await?;
                let len = s.read_u16().await? as usize;
                let mut buf = vec![0u8; len];
                s.read_exact(&mut buf).await?;
                Ok::<_, std::io::Error>(buf)
            };
            if let Ok(Ok(buf)) = tokio::time::timeout(self.config.upstream_timeout, exchange).await {
                return buf;
            }
        }
        self.servfail(query)
    }
}

fn response_to(req: &Message, q: &Query, code: ResponseCode) -> Message {
    let mut m = Message::new();
    m.set_id(req.id())
        .set_message_type(MessageType::Response)
        .set_op_code(req.op_code())
        .set_recursion_desired(req.recursion_desired())
        .set_recursion_available(true)
        .set_response_code(code)
        .add_query(q.clone());
    m
}

fn encode(m: &Message) -> Option<Vec<u8>> {
    m.to_vec().ok()
}

/// The address a PTR name stands for (`4.3.2.1.in-addr.arpa`, `…ip6.arpa`).
pub fn ptr_address(name: &str) -> Option<IpAddr> {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    if let Some(rest) = name.strip_suffix(".in-addr.arpa") {
        let parts: Vec<u8> = rest.split('.').map(|p| p.parse::<u8>().ok()).collect::<Option<_>>()?;
        if parts.len() != 4 {
            return None;
        }
        return Some(IpAddr::V4(Ipv4Addr::new(parts[3], parts[2], parts[1], parts[0])));
    }
    if let Some(rest) = name.strip_suffix(".ip6.arpa") {
        let nibbles: Vec<u8> = rest
            .split('.')
            .map(|p| u8::from_str_radix(p, 16).ok().filter(|_| p.len() == 1))
            .collect::<Option<_>>()?;
        if nibbles.len() != 32 {
            return None;
        }
        let v = nibbles.iter().rev().fold(0u128, |acc, n| (acc << 4) | *n as u128);
        return Some(IpAddr::V6(Ipv6Addr::from(v)));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::dns::records::{DnsEndpoint, DnsNetworkEntry};
    use crate::network::dns::source::StaticRecords;

    fn ctx() -> Ctx {
        let ep = DnsEndpoint {
            container: "p-web-1".into(),
            service: Some("web".into()),
            hostname: None,
            networks: vec![DnsNetworkEntry {
                network: "n".into(),
                addresses: vec!["10.0.0.2".parse().unwrap()],
                aliases: vec![],
            }],
        };
        Ctx {
            source: Arc::new(StaticRecords::new(&[ep])),
            config: DnsConfig::new(vec!["n".into()], vec![]),
            rotate: AtomicUsize::new(0),
        }
    }

    fn query(name: &str, t: RecordType) -> Vec<u8> {
        let mut m = Message::new();
        m.set_id(4242)
            .set_recursion_desired(true)
            .add_query(Query::query(Name::from_ascii(name).unwrap(), t));
        m.to_vec().unwrap()
    }

    #[test]
    fn answers_own_names_and_forwards_others() {
        let c = ctx();
        let Reply::Local(b) = c.answer(&query("web.", RecordType::A), true) else {
            panic!("expected a local answer")
        };
        let m = Message::from_vec(&b).unwrap();
        assert_eq!(m.id(), 4242);
        assert_eq!(m.answers().len(), 1);
        assert_eq!(m.answers()[0].data(), &RData::A(A("10.0.0.2".parse().unwrap())));
        // known name, no IPv6 address: empty NOERROR, not forwarded
        let Reply::Local(b) = c.answer(&query("web.", RecordType::AAAA), true) else {
            panic!("expected a local answer")
        };
        let m = Message::from_vec(&b).unwrap();
        assert_eq!((m.response_code(), m.answers().len()), (ResponseCode::NoError, 0));
        assert!(matches!(
            c.answer(&query("example.com.", RecordType::A), true),
            Reply::Forward
        ));
        let Reply::Local(b) = c.answer(&query("2.0.0.10.in-addr.arpa.", RecordType::PTR), true) else {
            panic!("expected PTR")
        };
        assert_eq!(Message::from_vec(&b).unwrap().answers().len(), 1);
        assert!(matches!(c.answer(&[1, 2, 3], true), Reply::Local(_)));
        assert!(matches!(c.answer(&[1], true), Reply::Drop));
    }

    #[test]
    fn ptr_names_parse() {
        assert_eq!(
            ptr_address("2.0.213.10.in-addr.arpa."),
            Some("10.213.0.2".parse().unwrap())
        );
        let v6 = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa";
        assert_eq!(ptr_address(v6), Some("fd00::1".parse().unwrap()));
        assert_eq!(ptr_address("x.in-addr.arpa"), None);
    }
}
