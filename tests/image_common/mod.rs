//! Shared helpers of the image integration tests: prerequisites, a
//! `docker-registry` on a free loopback port (stopped by PID on drop), the
//! offline test images, and skopeo.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Checks a prerequisite: in CI (`CI=true`) a missing one fails the test,
/// elsewhere the test is skipped with the reason printed.
pub fn require(test: &str, ok: bool, what: &str) -> bool {
    if ok {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test}: prerequisite missing: {what} (scripts/test-packages.txt lists the packages)");
    }
    eprintln!("SKIP {test}: prerequisite missing: {what}");
    false
}

pub fn have(tool: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false)
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// All prerequisites of registry tests.
pub fn registry_prereqs(test: &str) -> bool {
    require(test, is_root(), "root (layers carry owners, devices and whiteouts)")
        && require(
            test,
            have("docker-registry"),
            "docker-registry (apt package docker-registry)",
        )
        && require(test, have("skopeo"), "skopeo")
        && require(test, have("umoci"), "umoci")
        && require(test, Path::new("/bin/busybox").exists(), "busybox-static")
        && require(test, have("jq"), "jq")
        && require(test, have("python3"), "python3")
}

/// A registry process on 127.0.0.1, killed by its PID when dropped.
pub struct Registry {
    child: Child,
    pub addr: String,
    pub dir: tempfile::TempDir,
}

impl Registry {
    /// Starts `docker-registry` with filesystem storage in a temp dir;
    /// `extra` is appended to its config (e.g. an `auth:` section).
    pub fn start(extra: &str) -> Registry {
        for _ in 0..5 {
            let dir = tempfile::tempdir().expect("temp dir");
            let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let addr = format!("127.0.0.1:{port}");
            let config = dir.path().join("config.yml");
            std::fs::write(
                &config,
                format!(
                    "version: 0.1\nlog: {{level: warn}}\nstorage:\n  filesystem: {{rootdirectory: {}}}\n  delete: {{enabled: true}}\nhttp:\n  addr: {addr}\n{extra}",
                    dir.path().join("data").display()
                ),
            )
            .unwrap();
            let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
            let child = Command::new("docker-registry")
                .arg("serve")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("start docker-registry");
            let mut reg = Registry { child, addr, dir };
            if reg.wait_ready() {
                return reg;
            }
            // port taken between our probe and its bind: try another one
        }
        panic!("docker-registry did not start");
    }

    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if let Ok(mut s) = TcpStream::connect(&self.addr) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let req = format!("GET /v2/ HTTP/1.0\r\nHost: {}\r\n\r\n", self.addr);
                if s.write_all(req.as_bytes()).is_ok() {
                    let mut buf = [0u8; 12];
                    if s.read_exact(&mut buf).is_ok() && buf.starts_with(b"HTTP/1.") {
                        return true;
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// `skopeo copy` from `src` to `docker://ADDR/dest` with extra flags.
    pub fn seed(&self, src: &str, dest: &str, flags: &[&str]) {
        skopeo(
            &[
                &["copy", "--quiet", "--dest-tls-verify=false"],
                flags,
                &[src, &format!("docker://{}/{dest}", self.addr)],
            ]
            .concat(),
        );
    }

    /// Path of a blob in the registry's storage (to corrupt it).
    pub fn blob_data(&self, hex: &str) -> PathBuf {
        self.dir
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs skopeo, panicking with its output on failure.
pub fn skopeo(args: &[&str]) -> String {
    let out = Command::new("skopeo").args(args).output().expect("run skopeo");
    assert!(
        out.status.success(),
        "skopeo {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The OCI layout made by scripts/make-test-images.sh, built once per test binary.
pub fn test_images() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        // Images of earlier runs whose process is gone are removed.
        if let Ok(rd) = std::fs::read_dir(&tmp) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if let Some(pid) = name
                    .strip_prefix("image-test-images-")
                    .and_then(|p| p.parse::<i32>().ok())
                {
                    if nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_err() {
                        let _ = std::fs::remove_dir_all(e.path());
                    }
                }
            }
        }
        let dir = tmp.join(format!("image-test-images-{}", std::process::id()));
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/make-test-images.sh");
        let out = Command::new("bash")
            .arg(&script)
            .arg(&dir)
            .output()
            .expect("run make-test-images.sh");
        assert!(
            out.status.success(),
            "make-test-images.sh failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        dir.join("oci")
    })
}

/// `oci:<layout>:<tag>` for skopeo.
pub fn oci(tag: &str) -> String {
    format!("oci:{}:{tag}", test_images().display())
}
