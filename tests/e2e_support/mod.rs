//! Helpers of the end-to-end tests: the examples of `examples/compose/`
//! copied unchanged into a temp dir of the same name (so the project name
//! is the one a user gets), the built `rcompose` run there as a user types
//! it (no `-p`), a private state root, and the stand-in Docker Hub images
//! (scripts/make-example-images.sh) served by `docker-registry` on loopback
//! as rcompose's `docker.io` mirror. Everything is torn down on drop, even
//! when the test fails.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

#[path = "../image_common/mod.rs"]
mod image_common;
pub use image_common::{have, is_root, require, Registry};
#[path = "../teardown_support/mod.rs"]
mod teardown_support;
use teardown_support::supervisor_pids;

/// The examples publish fixed host ports (8000, 8080, ...): one at a time.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// The OCI layout of the stand-in images, built (or taken from the cache)
/// once per test binary.
pub fn example_images() -> &'static (PathBuf, Vec<(String, String)>) {
    static IMAGES: OnceLock<(PathBuf, Vec<(String, String)>)> = OnceLock::new();
    IMAGES.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/make-example-images.sh");
        let out = Command::new("bash")
            .arg(&script)
            .stdin(Stdio::null())
            .output()
            .expect("run make-example-images.sh");
        assert!(
            out.status.success(),
            "make-example-images.sh failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let oci = PathBuf::from(stdout.lines().last().expect("the script prints the layout").trim());
        let names = std::fs::read_to_string(oci.parent().unwrap().join("names")).expect("names file");
        let names = names
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(tag, name)| (tag.to_string(), name.to_string()))
            .collect();
        (oci, names)
    })
}

/// A registry holding every stand-in under its Docker Hub name.
pub fn mirror() -> Registry {
    let (oci, names) = example_images();
    let reg = Registry::start("");
    for (tag, name) in names {
        reg.seed(&format!("oci:{}:{tag}", oci.display()), name, &[]);
    }
    reg
}

/// Prerequisites; `None` (after printing why) outside CI when one is missing.
pub fn prereqs(test: &str) -> bool {
    require(test, is_root(), "root (containers, bridges, chroot)")
        && require(test, have("docker-registry"), "docker-registry")
        && require(test, have("skopeo"), "skopeo")
        && require(test, have("umoci"), "umoci")
        && require(
            test,
            have("debootstrap") || Path::new("/usr/sbin/debootstrap").exists(),
            "debootstrap",
        )
        && require(test, have("curl"), "curl")
}

pub struct Example {
    pub dir: tempfile::TempDir,
    /// The copy of examples/compose/<name>, where commands run.
    pub project_dir: PathBuf,
    pub root: PathBuf,
    pub run: PathBuf,
    registries: PathBuf,
}

impl Example {
    /// examples/compose/`name`, copied, with `mirror` as docker.io.
    pub fn new(name: &str, mirror: Option<&Registry>) -> Example {
        let dir = tempfile::Builder::new().prefix("rce2e-").tempdir().expect("temp dir");
        let src = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples/compose")
            .join(name);
        let project_dir = dir.path().join(name);
        let st = Command::new("cp")
            .arg("-a")
            .arg(&src)
            .arg(&project_dir)
            .status()
            .unwrap();
        assert!(st.success(), "copy {}", src.display());
        let registries = dir.path().join("registries.json");
        let mirrors = match mirror {
            Some(r) => format!(r#"["http://{}"]"#, r.addr),
            None => "[]".into(),
        };
        // mirror-only: a test never reaches beyond the machine
        std::fs::write(
            &registries,
            format!(r#"{{"registry-mirrors": {mirrors}, "mirror-only": true}}"#),
        )
        .unwrap();
        Example {
            root: dir.path().join("root"),
            run: dir.path().join("run"),
            project_dir,
            registries,
            dir,
        }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_rcompose"));
        c.args(args)
            .current_dir(&self.project_dir)
            .env("RCOMPOSE_ROOT", &self.root)
            .env("RCOMPOSE_RUN", &self.run)
            .env("RCOMPOSE_REGISTRIES", &self.registries)
            .env("NO_COLOR", "1")
            .env_remove("COMPOSE_FILE")
            .env_remove("COMPOSE_PROJECT_NAME")
            .env_remove("COMPOSE_PROFILES")
            .stdin(Stdio::null());
        c
    }

    pub fn rc(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run rcompose")
    }

    /// Runs `rcompose args` and asserts success; returns stdout and stderr.
    pub fn ok(&self, args: &[&str]) -> (String, String) {
        let out = self.rc(args);
        let so = String::from_utf8_lossy(&out.stdout).into_owned();
        let se = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            out.status.success(),
            "rcompose {} failed ({}):\n{se}\n{so}\n--- logs ---\n{}",
            args.join(" "),
            out.status,
            self.logs_for_failure()
        );
        (so, se)
    }

    fn logs_for_failure(&self) -> String {
        let out = self.rc(&["logs", "--no-color", "--tail", "30"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `ps -a --format json`, one object per container.
    pub fn ps(&self) -> Vec<serde_json::Value> {
        let (so, _) = self.ok(&["ps", "-a", "--format", "json"]);
        so.lines()
            .map(|l| serde_json::from_str(l).expect("ps json line"))
            .collect()
    }

    pub fn service(&self, service: &str) -> serde_json::Value {
        self.ps()
            .into_iter()
            .find(|c| c["Service"] == service)
            .unwrap_or_else(|| panic!("no container of service {service}"))
    }

    /// Writes `file` of the project copy (a user's edit).
    pub fn edit(&self, file: &str, f: impl FnOnce(String) -> String) {
        let p = self.project_dir.join(file);
        let text = std::fs::read_to_string(&p).unwrap();
        std::fs::write(&p, f(text)).unwrap();
    }

    /// Polls `f` until it gives Some (panics with the logs after `secs`).
    pub fn eventually<T>(&self, secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(v) = f() {
                return v;
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out after {secs} s waiting for {what}\n--- ps ---\n{}\n--- logs ---\n{}",
                    String::from_utf8_lossy(&self.rc(&["ps", "-a"]).stdout),
                    self.logs_for_failure()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// GET (or POST with a body) through the published port: status and body.
    pub fn http(&self, port: u16, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
        http(port, method, path, body)
    }

    /// Waits for a 200 answer of GET `path` on `port`.
    pub fn get_ok(&self, port: u16, path: &str, secs: u64) -> String {
        self.eventually(secs, &format!("HTTP 200 from 127.0.0.1:{port}{path}"), || {
            match http(port, "GET", path, "") {
                Some((200, body)) => Some(body),
                _ => None,
            }
        })
    }

    /// What this state root still holds: containers, volumes, networks,
    /// mounts, network namespaces, supervisor processes.
    pub fn leftovers(&self) -> Vec<String> {
        let mut left = Vec::new();
        for (what, args) in [
            ("container", &["ps", "-a", "-q"][..]),
            ("volume", &["volume", "ls", "-q"][..]),
            ("network", &["network", "ls", "-q"][..]),
        ] {
            let (so, _) = self.ok(args);
            left.extend(so.lines().filter(|l| !l.is_empty()).map(|l| format!("{what} {l}")));
        }
        let root = self.dir.path().to_string_lossy().into_owned();
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        left.extend(
            mounts
                .lines()
                .filter(|l| l.contains(&root))
                .map(|l| format!("mount {l}")),
        );
        if let Ok(rd) = std::fs::read_dir(self.run.join("netns")) {
            left.extend(
                rd.flatten()
                    .map(|e| format!("netns {}", e.file_name().to_string_lossy())),
            );
        }
        left.extend(
            supervisor_pids(&self.root)
                .into_iter()
                .map(|p| format!("supervisor {p}")),
        );
        left
    }
}

/// A minimal HTTP/1.0 client (the examples answer plain HTTP on loopback).
pub fn http(port: u16, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let req = format!(
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.rc(&["down", "-v", "-t", "1", "--remove-orphans"]);
        teardown_support::kill_supervisors(&self.root);
        teardown_support::unmount_below(self.dir.path());
    }
}
