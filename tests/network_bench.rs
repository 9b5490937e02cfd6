//! Measurements behind `bench/network.sh` (ignored by default; run with
//! `--release -- --ignored --nocapture`). Like the tests, everything runs in
//! a throwaway network namespace playing the host.

mod network_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{Name, RecordType};
use network_support::{prerequisites, TestHost};
use rcompose::network::dns::source::publish;
use rcompose::network::dns::{DirRecords, DnsConfig, DnsEndpoint, DnsNetworkEntry, DnsServer};
use rcompose::network::proxy::{PortBinding, PortProxy, Protocol};
use rcompose::network::{Connection, NetworkSpec};

fn median(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    (v[v.len() / 2], v[(v.len() * 9) / 10])
}

#[test]
#[ignore = "benchmark: run through bench/network.sh"]
fn bench_network() {
    if !prerequisites("bench_network", &["ip", "nft", "busybox", "nsenter", "socat"]) {
        return;
    }
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let mut host = TestHost::new("10.213.0.0/16");
    let net = format!("{}_bench", host.tag);
    host.net
        .create_network(&NetworkSpec {
            name: net.clone(),
            ..Default::default()
        })
        .unwrap();
    let conn = Connection {
        network: net.clone(),
        ..Default::default()
    };

    // 1. network setup + teardown per container
    let mut times = Vec::new();
    for i in 0..rounds {
        let name = format!("c{i}");
        let t = Instant::now();
        let ns = host.net.create_netns(&name).unwrap();
        let t1 = t.elapsed();
        host.net.connect(&name, &ns, std::slice::from_ref(&conn)).unwrap();
        let t2 = t.elapsed();
        let t3 = t.elapsed();
        host.net.remove_container(&name, std::slice::from_ref(&net)).unwrap();
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        if std::env::var_os("BENCH_STEPS").is_some() {
            println!(
                "steps: netns {:?} connect {:?} remove {:?}",
                t1,
                t2 - t1,
                t.elapsed() - t3
            );
        }
    }
    let (m, p90) = median(times);
    println!("BENCH setup+teardown per container: median {m:.2} ms, p90 {p90:.2} ms ({rounds} containers)");
    // the kernel removes the namespaces' veths in the background: wait for it
    let t = Instant::now();
    while host.links().contains("rcv") && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(5));
    }
    println!(
        "BENCH background veth cleanup of all {rounds} containers finished {:.0} ms after the last teardown",
        t.elapsed().as_secs_f64() * 1000.0
    );

    // 2. DNS latency from inside a container, for a service name
    let client = host.container("client");
    let server_ns = host.container("server");
    let att_c = host
        .net
        .connect("client", &client, std::slice::from_ref(&conn))
        .unwrap();
    let att_s = host
        .net
        .connect("server", &server_ns, std::slice::from_ref(&conn))
        .unwrap();
    let dns_dir = host.net.paths.dns_dir();
    for (c, att) in [("client", &att_c), ("server", &att_s)] {
        let ep = DnsEndpoint {
            container: c.into(),
            service: Some(format!("svc-{c}")),
            hostname: None,
            networks: vec![DnsNetworkEntry {
                network: net.clone(),
                addresses: att[0].addresses.iter().map(|a| a.addr()).collect(),
                aliases: vec![],
            }],
        };
        publish(&dns_dir, &ep).unwrap();
    }
    let dns = DnsServer::spawn(
        &client,
        Arc::new(DirRecords::new(&dns_dir)),
        DnsConfig::new(vec![net.clone()], vec![]),
    )
    .unwrap();
    let sock = rcompose::network::netns::run_in(Some(&client), || UdpSocket::bind("127.0.0.1:0"))
        .unwrap()
        .unwrap();
    sock.connect("127.0.0.11:53").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut q = Message::new();
    q.set_id(7)
        .set_recursion_desired(true)
        .add_query(Query::query(Name::from_ascii("svc-server.").unwrap(), RecordType::A));
    let query = q.to_vec().unwrap();
    let mut buf = [0u8; 512];
    let mut lat = Vec::new();
    for i in 0..2000 {
        let t = Instant::now();
        sock.send(&query).unwrap();
        let n = sock.recv(&mut buf).unwrap();
        let us = t.elapsed().as_secs_f64() * 1e6;
        assert!(Message::from_vec(&buf[..n]).unwrap().answers().len() == 1);
        if i >= 100 {
            lat.push(us);
        }
    }
    let (m, p90) = median(lat);
    println!("BENCH DNS service-name query from inside a container: median {m:.0} us, p90 {p90:.0} us (1900 queries)");
    dns.stop();

    // 3. TCP throughput through a published port: rcompose proxy vs socat
    let ip = att_s[0].addresses[0].addr();
    let total: usize = std::env::var("BENCH_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2 << 30);
    let listener = rcompose::network::netns::run_in(Some(&server_ns), || TcpListener::bind("0.0.0.0:9000"))
        .unwrap()
        .unwrap();
    std::thread::spawn(move || {
        let chunk = Arc::new(vec![0x5au8; 1 << 20]);
        for s in listener.incoming() {
            let Ok(mut s) = s else { continue };
            let chunk = chunk.clone();
            std::thread::spawn(move || {
                let mut left = total;
                while left > 0 {
                    let n = left.min(chunk.len());
                    if s.write_all(&chunk[..n]).is_err() {
                        return;
                    }
                    left -= n;
                }
            });
        }
    });
    let target = SocketAddr::new(ip, 9000);
    let proxy = PortProxy::start(&PortBinding {
        host: "127.0.0.1:0".parse().unwrap(),
        target,
        protocol: Protocol::Tcp,
        service: "bench".into(),
    })
    .unwrap();
    let socat_port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut socat = Command::new("socat")
        .args([
            format!("TCP-LISTEN:{socat_port},bind=127.0.0.1,reuseaddr,fork"),
            format!("TCP:{target}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let pull = |addr: SocketAddr| -> f64 {
        let mut s = TcpStream::connect(addr).unwrap();
        let mut buf = vec![0u8; 1 << 20];
        let mut got = 0usize;
        let t = Instant::now();
        loop {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(_) => break,
            }
        }
        assert_eq!(got, total, "short transfer from {addr}");
        got as f64 * 8.0 / t.elapsed().as_secs_f64() / 1e9
    };
    let direct = pull(target);
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        ours.push(pull(proxy.published().host));
        theirs.push(pull(SocketAddr::from(([127, 0, 0, 1], socat_port))));
    }
    let (o, _) = median(ours);
    let (s, _) = median(theirs);
    println!("BENCH TCP throughput, {} MiB per run, median of 3: rcompose proxy (splice) {o:.2} Gbit/s, socat {s:.2} Gbit/s, direct (no proxy) {direct:.2} Gbit/s", total >> 20);
    let _ = socat.kill();
    let _ = socat.wait();
    proxy.stop();

    for c in ["client", "server"] {
        host.net.disconnect(c, std::slice::from_ref(&net), true).unwrap();
    }
    host.net.remove_network(&net).unwrap();
}
