//! Published ports for real (root): the test host reaches a container's
//! HTTP server with curl on 127.0.0.1 through the TCP proxy, UDP datagrams
//! make the round trip, a taken port gives the clear error, and a proxy
//! listens only where it was asked to.

mod network_support;

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::process::Command;
use std::time::Duration;

use network_support::{describe, prerequisites, stdout, TestHost};
use rcompose::network::proxy::{parse_port, PortBinding, PortProxy, Protocol};
use rcompose::network::{Connection, NetworkError, NetworkSpec};

#[test]
fn published_tcp_and_udp_ports_reach_the_container() {
    if !prerequisites(
        "published_tcp_and_udp_ports_reach_the_container",
        &["ip", "nft", "busybox", "nsenter", "curl"],
    ) {
        return;
    }
    let mut host = TestHost::new("10.213.0.0/16");
    let net = format!("{}_ports", host.tag);
    host.net
        .create_network(&NetworkSpec {
            name: net.clone(),
            ..Default::default()
        })
        .unwrap();
    let web = host.container("web");
    let att = host
        .net
        .connect(
            "p-web-1",
            &web,
            &[Connection {
                network: net.clone(),
                ..Default::default()
            }],
        )
        .unwrap();
    let ip = att[0].addresses[0].addr();
    host.http_server(&web, "web", "published hello");
    let big = "x".repeat(8 << 20);
    std::fs::write(host.dir.path().join("www-web/big.txt"), &big).unwrap();

    // "127.0.0.1::80": an ephemeral host port on loopback
    let req = parse_port("127.0.0.1::80").unwrap().expand().unwrap()[0];
    let tcp = PortProxy::start(&PortBinding {
        host: req.host,
        target: SocketAddr::new(ip, 80),
        protocol: req.protocol,
        service: "web".into(),
    })
    .expect("publish tcp");
    let published = tcp.published();
    assert_ne!(published.host.port(), 0);
    assert_eq!(published.to_string(), format!("127.0.0.1:{}", published.host.port()));
    let url = format!("http://127.0.0.1:{}/", published.host.port());
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "5", &url])
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "published hello", "{}", describe(&out));
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", &format!("{url}big.txt")])
        .output()
        .unwrap();
    assert_eq!(out.stdout.len(), big.len(), "{}", String::from_utf8_lossy(&out.stderr));

    // listening only where asked: not on the bridge gateway address
    let gw = att[0].gateways[0];
    let out = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "3",
            &format!("http://{gw}:{}/", published.host.port()),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success(), "proxy answered on {gw}: {}", describe(&out));

    // a taken port: the clear error, naming port and service
    let holder = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = holder.local_addr().unwrap();
    let err = PortProxy::start(&PortBinding {
        host: taken,
        target: SocketAddr::new(ip, 80),
        protocol: Protocol::Tcp,
        service: "web".into(),
    })
    .err()
    .expect("a taken port must fail");
    assert!(matches!(err, NetworkError::PortInUse { .. }));
    assert_eq!(
        err.to_string(),
        format!(
            "port {}/tcp is already in use on 127.0.0.1 (service \"web\"): choose another published port or stop the process holding it",
            taken.port()
        )
    );
    // all or nothing
    let free = PortBinding {
        host: "127.0.0.1:0".parse().unwrap(),
        target: SocketAddr::new(ip, 80),
        protocol: Protocol::Tcp,
        service: "web".into(),
    };
    let busy = PortBinding {
        host: taken,
        ..free.clone()
    };
    assert!(PortProxy::start_all(&[free, busy]).is_err());

    // UDP: an echo server inside the container, reached through the proxy
    let echo = rcompose::network::netns::run_in(Some(&web), || UdpSocket::bind("0.0.0.0:5000"))
        .unwrap()
        .unwrap();
    echo.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let echo_thread = std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        for _ in 0..50 {
            if let Ok((n, peer)) = echo.recv_from(&mut buf) {
                let mut reply = b"echo:".to_vec();
                reply.extend_from_slice(&buf[..n]);
                let _ = echo.send_to(&reply, peer);
                return;
            }
        }
    });
    let udp = PortProxy::start(&PortBinding {
        host: "127.0.0.1:0".parse().unwrap(),
        target: SocketAddr::new(ip, 5000),
        protocol: Protocol::Udp,
        service: "web".into(),
    })
    .expect("publish udp");
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    client.send_to(b"ping", udp.published().host).unwrap();
    let mut buf = [0u8; 64];
    let (n, from) = client.recv_from(&mut buf).expect("UDP reply through the proxy");
    assert_eq!(&buf[..n], b"echo:ping");
    assert_eq!(from, udp.published().host);
    echo_thread.join().unwrap();

    tcp.stop();
    udp.stop();
    // the port is free again at once
    TcpListener::bind(published.host).expect("port released after stop");
    host.net
        .disconnect("p-web-1", std::slice::from_ref(&net), true)
        .unwrap();
    host.net.remove_network(&net).unwrap();
}
