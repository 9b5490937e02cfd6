//! Shared helpers for the root network tests. Every test runs in a
//! throwaway network namespace of its own that plays the host: bridges,
//! nftables tables and sysctls live and die with it, so nothing touches the
//! machine's real interfaces, routes or firewall. "Containers" are
//! namespace files with busybox processes started inside (`nsenter`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use ipnet::IpNet;
use rcompose::network::ipam::AddressPool;
use rcompose::network::nat::NatConfig;
use rcompose::network::state::NetworkPaths;
use rcompose::network::Networking;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Checks root and the commands a test needs. In CI a missing prerequisite
/// fails the test; elsewhere the test is skipped with the reason printed.
pub fn prerequisites(test: &str, commands: &[&str]) -> bool {
    let mut missing = Vec::new();
    if unsafe { libc::geteuid() } != 0 {
        missing.push("root privileges".to_string());
    }
    for c in commands {
        let found = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(c).is_file()))
            .unwrap_or(false);
        if !found {
            missing.push(format!("the `{c}` command (see scripts/test-packages.txt)"));
        }
    }
    if missing.is_empty() {
        return true;
    }
    let msg = format!("{test}: missing {}", missing.join(", "));
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{msg}");
    }
    eprintln!("SKIPPED {msg}");
    false
}

/// A test's private host: its own network namespace (entered by the test
/// thread), state root, run dir and nftables table.
pub struct TestHost {
    pub dir: tempfile::TempDir,
    pub net: Networking,
    pub tag: String,
    children: Vec<Child>,
    netns_files: Vec<PathBuf>,
}

impl TestHost {
    /// `subnet_base`: a /16 for this test's pool (e.g. "10.213.0.0/16").
    pub fn new(subnet_base: &str) -> TestHost {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare a throwaway host network namespace");
        let status = Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .status()
            .expect("run ip");
        assert!(status.success(), "bringing lo up in the test namespace failed");
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let tag = format!("t{}x{n}", std::process::id());
        let dir = tempfile::Builder::new().prefix("rc-net-").tempdir().expect("tempdir");
        let paths = NetworkPaths::new(dir.path().join("root"), dir.path().join("run"));
        let mut net = Networking::new(paths);
        net.pools_v4 = vec![AddressPool::new(subnet_base.parse::<IpNet>().expect("subnet"), 24)];
        net.nat = Some(NatConfig {
            table: format!("rc{tag}"),
            enable_forwarding: true,
        });
        TestHost {
            dir,
            net,
            tag,
            children: Vec::new(),
            netns_files: Vec::new(),
        }
    }

    /// A "container": a namespace file named `name`.
    pub fn container(&mut self, name: &str) -> PathBuf {
        let p = self.net.create_netns(name).expect("create netns");
        self.netns_files.push(p.clone());
        p
    }

    /// Starts `busybox ARGS` inside `netns`, killed (by PID) when the test ends.
    pub fn spawn(&mut self, netns: &Path, args: &[&str]) -> u32 {
        let child = Command::new("nsenter")
            .arg(format!("--net={}", netns.display()))
            .arg("busybox")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn busybox in the namespace");
        let pid = child.id();
        self.children.push(child);
        pid
    }

    /// Kills one process this test started.
    pub fn kill(&mut self, pid: u32) {
        if let Some(i) = self.children.iter().position(|c| c.id() == pid) {
            let mut c = self.children.remove(i);
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Runs `busybox ARGS` inside `netns` and waits for it (at most 5 s).
    pub fn run(&self, netns: &Path, args: &[&str]) -> Output {
        self.run_for(5, netns, args)
    }

    /// Runs `busybox ARGS` inside `netns`, killed after `secs` seconds
    /// (busybox 1.35's `wget -T` crashes, so coreutils' `timeout` bounds it).
    pub fn run_for(&self, secs: u32, netns: &Path, args: &[&str]) -> Output {
        Command::new("nsenter")
            .arg(format!("--net={}", netns.display()))
            .args(["timeout", &secs.to_string(), "busybox"])
            .args(args)
            .output()
            .expect("run busybox in the namespace")
    }

    /// Serves `body` over HTTP on port 80 in `netns` (busybox httpd).
    pub fn http_server(&mut self, netns: &Path, name: &str, body: &str) -> u32 {
        let www = self.dir.path().join(format!("www-{name}"));
        std::fs::create_dir_all(&www).expect("www dir");
        std::fs::write(www.join("index.html"), body).expect("index.html");
        let www = www.display().to_string();
        let pid = self.spawn(netns, &["httpd", "-f", "-p", "80", "-h", &www]);
        std::thread::sleep(std::time::Duration::from_millis(150));
        pid
    }

    /// `ip -br link` in the test's host namespace.
    pub fn links(&self) -> String {
        let out = Command::new("ip").args(["-br", "link"]).output().expect("ip link");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn nft_tables(&self) -> String {
        let out = Command::new("nft").args(["list", "tables"]).output().expect("nft");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for p in &self.netns_files {
            let _ = rcompose::network::netns::remove(p);
        }
        if let Some(nat) = &self.net.nat {
            let _ = rcompose::network::nat::apply(&nat.table, &rcompose::network::nat::render(&nat.table, &[]));
        }
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn describe(o: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
