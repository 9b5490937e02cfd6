//! Bridges, veths and namespaces for real (root): containers on one network
//! reach each other, a container on another network cannot, addresses are
//! stable across restarts, and teardown leaves nothing behind.

mod network_support;

use network_support::{describe, prerequisites, stdout, TestHost};
use rcompose::network::{Connection, NetworkSpec};

const TOOLS: &[&str] = &["ip", "nft", "busybox", "nsenter"];

#[test]
fn containers_on_one_bridge_reach_each_other_and_other_networks_do_not() {
    if !prerequisites(
        "containers_on_one_bridge_reach_each_other_and_other_networks_do_not",
        TOOLS,
    ) {
        return;
    }
    let mut host = TestHost::new("10.213.0.0/16");
    let front = format!("{}_front", host.tag);
    let back = format!("{}_back", host.tag);
    let rec_front = host
        .net
        .create_network(&NetworkSpec {
            name: front.clone(),
            ..Default::default()
        })
        .expect("create front");
    let rec_back = host
        .net
        .create_network(&NetworkSpec {
            name: back.clone(),
            ..Default::default()
        })
        .expect("create back");
    assert_eq!(rec_front.ipam.subnets[0].subnet.to_string(), "10.213.0.0/24");
    assert_eq!(rec_back.ipam.subnets[0].subnet.to_string(), "10.213.1.0/24");
    assert!(host.links().contains(&rec_front.bridge), "{}", host.links());

    let a = host.container("a");
    let b = host.container("b");
    let c = host.container("c");
    let conn = |n: &str| Connection {
        network: n.to_string(),
        ..Default::default()
    };
    let att_a = host.net.connect("a", &a, &[conn(&front)]).expect("connect a");
    let static_b = Connection {
        network: front.clone(),
        addresses: vec!["10.213.0.77".parse().unwrap()],
        mac: Some([2, 0x42, 1, 2, 3, 4]),
    };
    host.net.connect("b", &b, &[static_b]).expect("connect b");
    host.net.connect("c", &c, &[conn(&back)]).expect("connect c");
    assert_eq!(att_a[0].addresses[0].to_string(), "10.213.0.2/24");
    assert_eq!(att_a[0].interface, "eth0");

    let out = host.run(&b, &["ip", "link", "show", "eth0"]);
    assert!(stdout(&out).contains("02:42:01:02:03:04"), "{}", describe(&out));

    let httpd_b = host.http_server(&b, "b", "hello from b");
    let httpd_c = host.http_server(&c, "c", "hello from c");
    let out = host.run(&a, &["wget", "-q", "-O", "-", "http://10.213.0.77/"]);
    assert_eq!(stdout(&out), "hello from b", "{}", describe(&out));
    let out = host.run(&a, &["ping", "-c", "1", "-W", "2", "10.213.0.77"]);
    assert!(out.status.success(), "{}", describe(&out));
    // another network: routed by the host, but dropped by the isolation rules
    let c_ip = "10.213.1.2";
    let out = host.run_for(2, &a, &["wget", "-q", "-O", "-", &format!("http://{c_ip}/")]);
    assert!(!out.status.success(), "a reached c across networks: {}", describe(&out));
    // the host itself reaches c (it is the gateway)
    let curl = std::process::Command::new("timeout")
        .args(["5", "busybox", "wget", "-q", "-O", "-", &format!("http://{c_ip}/")])
        .output()
        .unwrap();
    assert_eq!(stdout(&curl), "hello from c", "{}", describe(&curl));

    // restart of a's process: namespace file stays, so does the address
    host.net
        .disconnect("a", std::slice::from_ref(&front), false)
        .expect("disconnect a");
    assert!(host.net.create_netns("a").is_ok());
    let again = host.net.connect("a", &a, &[conn(&front)]).expect("reconnect a");
    assert_eq!(again[0].addresses, att_a[0].addresses);
    let out = host.run(&a, &["wget", "-q", "-O", "-", "http://10.213.0.77/"]);
    assert_eq!(stdout(&out), "hello from b", "{}", describe(&out));

    // teardown: nothing left
    // the containers' processes end first, as they do on `down`
    host.kill(httpd_b);
    host.kill(httpd_c);
    // b is disconnected explicitly (veth deleted at once); a and c are
    // removed whole (their veths die with the namespace, in the background)
    host.net
        .disconnect("b", std::slice::from_ref(&front), true)
        .expect("disconnect b");
    host.net.remove_netns("b").expect("remove netns b");
    host.net
        .remove_container("a", std::slice::from_ref(&front))
        .expect("remove a");
    host.net
        .remove_container("c", std::slice::from_ref(&back))
        .expect("remove c");
    for ns in [&a, &b, &c] {
        assert!(!ns.exists(), "{} still exists", ns.display());
    }
    let t = std::time::Instant::now();
    while host.links().contains("rcv") && t.elapsed() < std::time::Duration::from_secs(5) {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    host.net.remove_network(&front).expect("remove front");
    host.net.remove_network(&back).expect("remove back");
    let links = host.links();
    assert!(!links.contains("rc-") && !links.contains("rcv"), "left over: {links}");
    let tables = host.nft_tables();
    assert!(!tables.contains(&host.tag), "left over: {tables}");
    assert!(rcompose::network::state::list_networks(&host.net.paths)
        .unwrap()
        .is_empty());
    // removing again is fine
    host.net.remove_network(&front).expect("remove twice");
    host.net
        .disconnect("a", std::slice::from_ref(&front), true)
        .expect("disconnect twice");
}

#[test]
fn internal_network_has_no_route_out_and_external_bridge_is_kept() {
    if !prerequisites("internal_network_has_no_route_out_and_external_bridge_is_kept", TOOLS) {
        return;
    }
    let mut host = TestHost::new("10.213.0.0/16");
    let internal = format!("{}_int", host.tag);
    host.net
        .create_network(&NetworkSpec {
            name: internal.clone(),
            internal: true,
            ..Default::default()
        })
        .expect("create internal");
    let a = host.container("a");
    let att = host
        .net
        .connect(
            "a",
            &a,
            &[Connection {
                network: internal.clone(),
                ..Default::default()
            }],
        )
        .expect("connect");
    assert!(att[0].gateways.is_empty());
    let routes = host.run(&a, &["ip", "route"]);
    assert!(!stdout(&routes).contains("default"), "{}", describe(&routes));

    // external: a bridge made by someone else is used, never removed
    let st = std::process::Command::new("ip")
        .args(["link", "add", "extbr0", "type", "bridge"])
        .status()
        .unwrap();
    assert!(st.success());
    let ext = NetworkSpec {
        name: "ext".into(),
        bridge: Some("extbr0".into()),
        external: true,
        ..Default::default()
    };
    host.net.create_network(&ext).expect("use external");
    host.net.remove_network("ext").expect("remove external");
    assert!(host.links().contains("extbr0"));
    let missing = NetworkSpec {
        name: "nope".into(),
        bridge: Some("nobr0".into()),
        external: true,
        ..Default::default()
    };
    let err = host.net.create_network(&missing).unwrap_err().to_string();
    assert!(err.contains("nobr0") && err.contains("external"), "{err}");

    host.net.disconnect("a", std::slice::from_ref(&internal), true).unwrap();
    host.net.remove_network(&internal).unwrap();
}

#[test]
fn outbound_traffic_is_masqueraded_and_internal_networks_stay_inside() {
    if !prerequisites(
        "outbound_traffic_is_masqueraded_and_internal_networks_stay_inside",
        TOOLS,
    ) {
        return;
    }
    let mut host = TestHost::new("10.213.0.0/16");
    // "the world beyond the host": one more namespace behind a veth of the
    // test host, 10.213.200.0/24 — still entirely inside this test.
    let outside = host.container("outside");
    let run = |args: &[&str]| {
        let st = std::process::Command::new("ip").args(args).status().unwrap();
        assert!(st.success(), "ip {args:?}");
    };
    let peer = format!("o{}", host.tag);
    run(&["link", "add", "uplink0", "type", "veth", "peer", "name", &peer]);
    run(&["link", "set", &peer, "netns", outside.to_str().unwrap()]);
    run(&["addr", "add", "10.213.200.1/24", "dev", "uplink0"]);
    run(&["link", "set", "uplink0", "up"]);
    let inside = |args: &[&str]| {
        let st = std::process::Command::new("nsenter")
            .arg(format!("--net={}", outside.display()))
            .arg("ip")
            .args(args)
            .status()
            .unwrap();
        assert!(st.success(), "ip {args:?} in outside");
    };
    inside(&["addr", "add", "10.213.200.2/24", "dev", &peer]);
    inside(&["link", "set", &peer, "up"]);
    inside(&["link", "set", "lo", "up"]);
    // no route back to the container subnets: only masquerading makes replies possible
    let server = rcompose::network::netns::run_in(Some(&outside), || std::net::TcpListener::bind("0.0.0.0:8000"))
        .unwrap()
        .unwrap();
    let seen = std::thread::spawn(move || {
        let (mut s, peer) = server.accept().unwrap();
        use std::io::Write;
        let _ = s.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nworld");
        peer.ip()
    });

    let public = format!("{}_pub", host.tag);
    let internal = format!("{}_int", host.tag);
    host.net
        .create_network(&NetworkSpec {
            name: public.clone(),
            ..Default::default()
        })
        .unwrap();
    host.net
        .create_network(&NetworkSpec {
            name: internal.clone(),
            internal: true,
            ..Default::default()
        })
        .unwrap();
    let a = host.container("a");
    let b = host.container("b");
    host.net
        .connect(
            "a",
            &a,
            &[Connection {
                network: public.clone(),
                ..Default::default()
            }],
        )
        .unwrap();
    host.net
        .connect(
            "b",
            &b,
            &[Connection {
                network: internal.clone(),
                ..Default::default()
            }],
        )
        .unwrap();

    let out = host.run(&b, &["wget", "-q", "-O", "-", "http://10.213.200.2:8000/"]);
    assert!(
        !out.status.success(),
        "internal network reached outside: {}",
        describe(&out)
    );
    let out = host.run(&a, &["wget", "-q", "-O", "-", "http://10.213.200.2:8000/"]);
    assert_eq!(stdout(&out), "world", "{}", describe(&out));
    assert_eq!(
        seen.join().unwrap().to_string(),
        "10.213.200.1",
        "the source must be masqueraded to the host's address"
    );

    host.net.disconnect("a", std::slice::from_ref(&public), true).unwrap();
    host.net.disconnect("b", std::slice::from_ref(&internal), true).unwrap();
    host.net.remove_network(&public).unwrap();
    host.net.remove_network(&internal).unwrap();
    assert!(!host.nft_tables().contains(&host.tag));
}

#[test]
fn ipv6_networks_give_dual_stack_addresses_that_work_at_once() {
    if !prerequisites("ipv6_networks_give_dual_stack_addresses_that_work_at_once", TOOLS) {
        return;
    }
    let mut host = TestHost::new("10.213.0.0/16");
    host.net.pools_v6 = vec![rcompose::network::ipam::AddressPool::new(
        "fd52:636f:6d70:d500::/56".parse().unwrap(),
        64,
    )];
    let v6 = format!("{}_v6", host.tag);
    let rec = host
        .net
        .create_network(&NetworkSpec {
            name: v6.clone(),
            enable_ipv6: true,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(rec.ipam.subnets.len(), 2);
    let a = host.container("a");
    let b = host.container("b");
    let conn = Connection {
        network: v6.clone(),
        ..Default::default()
    };
    host.net.connect("a", &a, std::slice::from_ref(&conn)).unwrap();
    let att_b = host.net.connect("b", &b, std::slice::from_ref(&conn)).unwrap();
    let b6 = att_b[0]
        .addresses
        .iter()
        .find(|n| n.addr().is_ipv6())
        .expect("an IPv6 address")
        .addr()
        .to_string();
    assert_eq!(b6, "fd52:636f:6d70:d500::3");
    let out = host.run(&a, &["ping", "-6", "-c", "1", "-W", "2", &b6]);
    assert!(out.status.success(), "{}", describe(&out));
    let routes = host.run(&a, &["ip", "-6", "route"]);
    assert!(
        stdout(&routes).contains("default via fd52:636f:6d70:d500::1"),
        "{}",
        describe(&routes)
    );
    host.net.remove_container("a", std::slice::from_ref(&v6)).unwrap();
    host.net.remove_container("b", std::slice::from_ref(&v6)).unwrap();
    host.net.remove_network(&v6).unwrap();
}
