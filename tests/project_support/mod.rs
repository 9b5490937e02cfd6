//! Shared helpers of the project (orchestrator) tests: a private state root
//! with a busybox image imported offline, a project directory, the built
//! `rcompose` binary run against them, and a guard that tears everything
//! down (`down -v`, then any supervisor or container process left, by PID)
//! even when the test fails.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

#[path = "../teardown_support/mod.rs"]
mod teardown_support;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use teardown_support::supervisor_pids;

pub struct Project {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub run: PathBuf,
    pub project_dir: PathBuf,
    pub name: String,
    /// Third octet of this test's 10.232.X.0/24 subnet.
    pub subnet: u8,
}

fn missing(reason: &str) -> Option<Project> {
    if std::env::var("CI").map(|v| v == "true").unwrap_or(false) {
        panic!("prerequisite missing in CI: {reason}");
    }
    eprintln!("SKIP: {reason}");
    None
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_rcompose")
}

/// A fresh project named `rct-<test>` using subnet 10.232.`subnet`.0/24,
/// or `None` (after printing why) when this machine cannot run containers.
pub fn project(test: &str, subnet: u8) -> Option<Project> {
    if !nix::unistd::Uid::effective().is_root() {
        return missing("project tests need root (CI runs as root)");
    }
    let dir = tempfile::Builder::new()
        .prefix(&format!("rcp-{test}-"))
        .tempdir()
        .expect("temp dir");
    let rootfs = dir.path().join("rootfs");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/make-busybox-rootfs.sh");
    let out = Command::new("sh")
        .arg(&script)
        .arg(&rootfs)
        .output()
        .expect("run script");
    if !out.status.success() {
        return missing(&format!(
            "cannot make the busybox rootfs: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    std::fs::create_dir_all(rootfs.join("var/www")).unwrap();
    std::fs::write(rootfs.join("var/www/index.html"), "hello from web\n").unwrap();
    let tar = dir.path().join("busybox.tar");
    let st = Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success());
    let p = Project {
        root: dir.path().join("root"),
        run: dir.path().join("run"),
        project_dir: dir.path().join(test),
        name: format!("rct-{}", test.replace('_', "-")),
        subnet,
        dir,
    };
    std::fs::create_dir_all(&p.project_dir).unwrap();
    let out = p.rc(&[
        "image",
        "import",
        "--change",
        r#"CMD ["sh"]"#,
        "--change",
        "ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin",
        tar.to_str().unwrap(),
        "busybox:test",
    ]);
    assert!(out.status.success(), "import: {}", String::from_utf8_lossy(&out.stderr));
    Some(p)
}

impl Project {
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.args(["-p", &self.name])
            .args(args)
            .current_dir(&self.project_dir)
            .env("RCOMPOSE_ROOT", &self.root)
            .env("RCOMPOSE_RUN", &self.run)
            .env("NO_COLOR", "1")
            .env_remove("COMPOSE_FILE")
            .env_remove("COMPOSE_PROJECT_NAME")
            .stdin(Stdio::null());
        c
    }

    /// Runs rcompose with `args` (project flags first) and waits.
    pub fn rc(&self, args: &[&str]) -> Output {
        let mut c = Command::new(bin());
        let project_cmd = !matches!(args.first(), Some(&"image") | Some(&"volume") | Some(&"network"));
        if project_cmd {
            c.args(["-p", &self.name]);
        }
        c.args(args)
            .current_dir(&self.project_dir)
            .env("RCOMPOSE_ROOT", &self.root)
            .env("RCOMPOSE_RUN", &self.run)
            .env("NO_COLOR", "1")
            .env_remove("COMPOSE_FILE")
            .env_remove("COMPOSE_PROJECT_NAME")
            .stdin(Stdio::null())
            .output()
            .expect("run rcompose")
    }

    /// Runs and asserts success; returns (stdout, stderr).
    pub fn ok(&self, args: &[&str]) -> (String, String) {
        let out = self.rc(args);
        let so = String::from_utf8_lossy(&out.stdout).into_owned();
        let se = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "rcompose {args:?} failed:\n{se}\n{so}");
        (so, se)
    }

    /// Writes compose.yaml; `SUBNET` in the text becomes this test's subnet.
    pub fn compose(&self, yaml: &str) {
        let text = yaml.replace("SUBNET", &format!("10.232.{}.0/24", self.subnet));
        std::fs::write(self.project_dir.join("compose.yaml"), text).unwrap();
    }

    /// `ps -a --format json`, one object per container.
    pub fn ps(&self) -> Vec<serde_json::Value> {
        let (so, _) = self.ok(&["ps", "-a", "--format", "json"]);
        so.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .ps()
            .iter()
            .map(|c| c["Name"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    }

    pub fn state(&self, container: &str) -> serde_json::Value {
        let p = self.root.join("containers").join(container).join("state.json");
        serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
    }

    /// Polls `f` until it holds (panics after `secs`).
    pub fn eventually(&self, secs: u64, what: &str, mut f: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < deadline {
            if f() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("timed out waiting for {what}");
    }

    pub fn logs(&self, args: &[&str]) -> String {
        let mut a = vec!["logs"];
        a.extend_from_slice(args);
        self.ok(&a).0
    }

    /// Everything this test's state root still holds in the kernel.
    pub fn leftovers(&self) -> Vec<String> {
        let mut left = Vec::new();
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let root = self.dir.path().to_string_lossy().to_string();
        for l in mounts.lines().filter(|l| l.contains(&root)) {
            left.push(format!("mount: {l}"));
        }
        if let Ok(entries) = std::fs::read_dir(self.root.join("containers")) {
            for e in entries.flatten() {
                left.push(format!("container dir: {}", e.file_name().to_string_lossy()));
            }
        }
        if let Ok(entries) = std::fs::read_dir(self.run.join("netns")) {
            for e in entries.flatten() {
                left.push(format!("netns: {}", e.file_name().to_string_lossy()));
            }
        }
        for p in supervisor_pids(&self.root) {
            left.push(format!("supervisor process {p}"));
        }
        left
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = self.rc(&["down", "-v", "-t", "0", "--remove-orphans"]);
        teardown_support::kill_supervisors(&self.root);
        teardown_support::unmount_below(self.dir.path());
    }
}
