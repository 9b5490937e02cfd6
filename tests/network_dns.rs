//! The DNS responder for real (root): inside a container's namespace it
//! resolves service names (every replica), container names and aliases of
//! shared networks, forwards everything else to an upstream resolver (our
//! own, on the test host's loopback), over UDP and TCP, and sees containers
//! come and go at once.

mod network_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record, RecordType};
use network_support::{describe, prerequisites, stdout, TestHost};
use rcompose::network::dns::source::{publish, withdraw};
use rcompose::network::dns::{DirRecords, DnsConfig, DnsEndpoint, DnsNetworkEntry, DnsServer};
use rcompose::network::{Attachment, Connection, NetworkSpec};

/// A tiny upstream resolver on the test host's loopback: `example.test`
/// is 10.213.250.1, everything else NXDOMAIN. Counts the queries it saw.
struct FakeUpstream {
    addr: SocketAddr,
    seen: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

fn fake_answer(query: &[u8], seen: &AtomicUsize) -> Option<Vec<u8>> {
    let req = Message::from_vec(query).ok()?;
    seen.fetch_add(1, Ordering::SeqCst);
    let q = req.queries().first()?.clone();
    let mut resp = Message::new();
    resp.set_id(req.id())
        .set_message_type(MessageType::Response)
        .set_recursion_available(true)
        .add_query(q.clone());
    if q.name().to_ascii() == "example.test." {
        if q.query_type() == RecordType::A {
            resp.add_answer(Record::from_rdata(
                q.name().clone(),
                77,
                RData::A(A("10.213.250.1".parse().unwrap())),
            ));
        }
    } else {
        resp.set_response_code(ResponseCode::NXDomain);
    }
    resp.to_vec().ok()
}

impl FakeUpstream {
    fn start() -> FakeUpstream {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        let addr = sock.local_addr().unwrap();
        let tcp = TcpListener::bind(addr).unwrap();
        tcp.set_nonblocking(true).unwrap();
        let seen = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (s2, st2) = (seen.clone(), stop.clone());
        let udp_thread = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while !st2.load(Ordering::SeqCst) {
                let Ok((n, peer)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                if let Some(resp) = fake_answer(&buf[..n], &s2) {
                    let _ = sock.send_to(&resp, peer);
                }
            }
        });
        let (s3, st3) = (seen.clone(), stop.clone());
        let tcp_thread = std::thread::spawn(move || {
            while !st3.load(Ordering::SeqCst) {
                let Ok((mut conn, _)) = tcp.accept() else {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                };
                let _ = conn.set_nonblocking(false);
                let mut len = [0u8; 2];
                if conn.read_exact(&mut len).is_err() {
                    continue;
                }
                let mut q = vec![0u8; u16::from_be_bytes(len) as usize];
                if conn.read_exact(&mut q).is_err() {
                    continue;
                }
                if let Some(resp) = fake_answer(&q, &s3) {
                    let mut out = (resp.len() as u16).to_be_bytes().to_vec();
                    out.extend_from_slice(&resp);
                    let _ = conn.write_all(&out);
                }
            }
        });
        FakeUpstream {
            addr,
            seen,
            stop,
            threads: vec![udp_thread, tcp_thread],
        }
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn endpoint(container: &str, service: &str, att: &Attachment, aliases: &[&str]) -> DnsEndpoint {
    DnsEndpoint {
        container: container.into(),
        service: Some(service.into()),
        hostname: None,
        networks: vec![DnsNetworkEntry {
            network: att.network.clone(),
            addresses: att.addresses.iter().map(|a| a.addr()).collect(),
            aliases: aliases.iter().map(|s| s.to_string()).collect(),
        }],
    }
}

#[test]
fn services_resolve_by_name_and_other_names_are_forwarded() {
    if !prerequisites(
        "services_resolve_by_name_and_other_names_are_forwarded",
        &["ip", "nft", "busybox", "nsenter", "timeout", "unshare", "mount"],
    ) {
        return;
    }
    let mut host = TestHost::new("10.213.0.0/16");
    let app = format!("{}_app", host.tag);
    let other = format!("{}_other", host.tag);
    host.net
        .create_network(&NetworkSpec {
            name: app.clone(),
            ..Default::default()
        })
        .unwrap();
    host.net
        .create_network(&NetworkSpec {
            name: other.clone(),
            ..Default::default()
        })
        .unwrap();
    let conn = |n: &str| Connection {
        network: n.to_string(),
        ..Default::default()
    };
    let (client, web1, web2, db) = (
        host.container("client"),
        host.container("web1"),
        host.container("web2"),
        host.container("db"),
    );
    let att_client = host.net.connect("client", &client, &[conn(&app)]).unwrap();
    let att_w1 = host.net.connect("p-web-1", &web1, &[conn(&app)]).unwrap();
    let att_w2 = host.net.connect("p-web-2", &web2, &[conn(&app)]).unwrap();
    let att_db = host.net.connect("p-db-1", &db, &[conn(&other)]).unwrap();
    let (ip1, ip2) = (
        att_w1[0].addresses[0].addr().to_string(),
        att_w2[0].addresses[0].addr().to_string(),
    );

    let dns_dir = host.net.paths.dns_dir();
    publish(&dns_dir, &endpoint("client", "client", &att_client[0], &[])).unwrap();
    publish(&dns_dir, &endpoint("p-web-1", "web", &att_w1[0], &["frontend"])).unwrap();
    publish(&dns_dir, &endpoint("p-web-2", "web", &att_w2[0], &[])).unwrap();
    publish(&dns_dir, &endpoint("p-db-1", "db", &att_db[0], &[])).unwrap();

    let upstream = FakeUpstream::start();
    let config = DnsConfig::new(vec![app.clone()], vec![upstream.addr]);
    let server = DnsServer::spawn(&client, Arc::new(DirRecords::new(&dns_dir)), config).expect("start responder");

    // every replica of the service
    let out = host.run(&client, &["nslookup", "web", "127.0.0.11"]);
    let text = stdout(&out);
    assert!(
        out.status.success() && text.contains(&ip1) && text.contains(&ip2),
        "{}",
        describe(&out)
    );
    // container name and alias
    let out = host.run(&client, &["nslookup", "p-web-2", "127.0.0.11"]);
    assert!(stdout(&out).contains(&ip2), "{}", describe(&out));
    let out = host.run(&client, &["nslookup", "frontend", "127.0.0.11"]);
    assert!(
        stdout(&out).contains(&ip1) && !stdout(&out).contains(&ip2),
        "{}",
        describe(&out)
    );
    assert_eq!(
        upstream.seen.load(Ordering::SeqCst),
        0,
        "own names must not be forwarded"
    );

    // a service on another network is not ours: forwarded, NXDOMAIN upstream
    let out = host.run(&client, &["nslookup", "db", "127.0.0.11"]);
    assert!(
        !stdout(&out).contains(&att_db[0].addresses[0].addr().to_string()),
        "{}",
        describe(&out)
    );
    assert!(
        upstream.seen.load(Ordering::SeqCst) > 0,
        "db should have been forwarded"
    );
    // other names: forwarded, the upstream's answer passed back
    let out = host.run(&client, &["nslookup", "example.test", "127.0.0.11"]);
    assert!(stdout(&out).contains("10.213.250.1"), "{}", describe(&out));

    // TCP, with dig when it is installed
    if Command::new("dig").arg("-v").output().is_ok() {
        let out = Command::new("nsenter")
            .arg(format!("--net={}", client.display()))
            .args(["timeout", "5", "dig", "+tcp", "+short", "@127.0.0.11", "web"])
            .output()
            .unwrap();
        assert!(stdout(&out).contains(&ip1), "{}", describe(&out));
        let out = Command::new("nsenter")
            .arg(format!("--net={}", client.display()))
            .args(["timeout", "5", "dig", "+tcp", "+short", "@127.0.0.11", "example.test"])
            .output()
            .unwrap();
        assert!(stdout(&out).contains("10.213.250.1"), "{}", describe(&out));
    }

    // a container stops: gone at once; starts again: back at once
    withdraw(&dns_dir, "p-web-2").unwrap();
    let out = host.run(&client, &["nslookup", "web", "127.0.0.11"]);
    assert!(
        stdout(&out).contains(&ip1) && !stdout(&out).contains(&ip2),
        "{}",
        describe(&out)
    );
    publish(&dns_dir, &endpoint("p-web-2", "web", &att_w2[0], &[])).unwrap();
    let out = host.run(&client, &["nslookup", "web", "127.0.0.11"]);
    assert!(stdout(&out).contains(&ip2), "{}", describe(&out));

    // reach by name, through the container's resolv.conf
    host.http_server(&web1, "web1", "web by name");
    let resolv = host.dir.path().join("resolv.conf");
    std::fs::write(
        &resolv,
        rcompose::network::dns::resolv::container_resolv_conf(&[], &[], ""),
    )
    .unwrap();
    let script = format!(
        "mount --bind {} /etc/resolv.conf && exec nsenter --net={} timeout 5 busybox wget -q -O - http://p-web-1/",
        resolv.display(),
        client.display()
    );
    let out = Command::new("unshare")
        .args(["-m", "sh", "-c", &script])
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "web by name", "{}", describe(&out));

    server.stop();
    for (c, n) in [
        ("client", &app),
        ("p-web-1", &app),
        ("p-web-2", &app),
        ("p-db-1", &other),
    ] {
        withdraw(&dns_dir, c).unwrap();
        host.net.disconnect(c, std::slice::from_ref(n), true).unwrap();
    }
    host.net.remove_network(&app).unwrap();
    host.net.remove_network(&other).unwrap();
}
