//! Shared helpers of the runtime's root integration tests: prerequisites
//! (failure in CI, printed skip elsewhere), a busybox image made offline, a
//! private state root per test and a guard that removes everything the test
//! made — containers, mounts, cgroups, processes (by PID) — even on panic.

#![allow(dead_code)]

use std::fs;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::Command;

use rcompose::runtime::{self, cgroups, ContainerSpec, ImageConfig, Roots, Stdio};

pub struct TestEnv {
    pub dir: tempfile::TempDir,
    pub roots: Roots,
    /// The busybox snapshot (a lower dir).
    pub busybox: PathBuf,
    ids: Vec<String>,
    pub pids: Vec<i32>,
}

fn missing(reason: &str) -> Option<TestEnv> {
    if std::env::var("CI").map(|v| v == "true").unwrap_or(false) {
        panic!("prerequisite missing in CI: {reason}");
    }
    eprintln!("SKIP: {reason}");
    None
}

/// A fresh environment, or `None` (after printing why) when this machine
/// cannot run containers.
pub fn env(test: &str) -> Option<TestEnv> {
    if !nix::unistd::Uid::effective().is_root() {
        return missing("runtime tests need root (CI runs as root)");
    }
    let filesystems = fs::read_to_string("/proc/filesystems").unwrap_or_default();
    if !filesystems.contains("overlay") {
        return missing("the kernel has no overlayfs (modprobe overlay)");
    }
    if !Path::new("/sys/fs/cgroup").exists() {
        return missing("no cgroup filesystem at /sys/fs/cgroup");
    }
    let dir = tempfile::Builder::new()
        .prefix(&format!("rc-{test}-"))
        .tempdir()
        .expect("create temp dir");
    let busybox = dir.path().join("snap/1");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/make-busybox-rootfs.sh");
    let out = Command::new("sh")
        .arg(&script)
        .arg(&busybox)
        .output()
        .expect("run make-busybox-rootfs.sh");
    if !out.status.success() {
        return missing(&format!(
            "cannot make the busybox rootfs (apt-get install busybox-static): {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let roots = Roots {
        root: dir.path().join("root"),
        run: dir.path().join("run"),
    };
    Some(TestEnv {
        dir,
        roots,
        busybox,
        ids: Vec::new(),
        pids: Vec::new(),
    })
}

impl TestEnv {
    /// A unique container id, registered for cleanup.
    pub fn id(&mut self, name: &str) -> String {
        let id = format!("rt{}-{name}", std::process::id());
        self.ids.push(id.clone());
        id
    }

    /// A spec running `sh -c script` in busybox, in a fresh network namespace.
    pub fn spec(&mut self, name: &str, script: &str) -> ContainerSpec {
        ContainerSpec {
            id: self.id(name),
            image: ImageConfig {
                cmd: Some(vec!["sh".into(), "-c".into(), script.into()]),
                ..Default::default()
            },
            lower_dirs: vec![self.busybox.clone()],
            hostname: Some("testhost".into()),
            ..Default::default()
        }
    }

    /// Stdout and stderr into one file.
    pub fn output_file(&self, name: &str) -> (PathBuf, Stdio) {
        let path = self.dir.path().join(format!("{name}.out"));
        let f = fs::File::create(&path).expect("create output file");
        let f2 = f.try_clone().expect("dup output file");
        let stdio = Stdio {
            stdin: None,
            stdout: Some(OwnedFd::from(f)),
            stderr: Some(OwnedFd::from(f2)),
        };
        (path, stdio)
    }

    /// Runs to completion; returns (exit status, output).
    pub fn run(&mut self, spec: &ContainerSpec) -> (runtime::ExitStatus, String) {
        let (path, stdio) = self.output_file(&spec.id);
        let status =
            runtime::run_to_completion(&self.roots, spec, stdio).unwrap_or_else(|e| panic!("running {}: {e}", spec.id));
        let out = fs::read_to_string(&path).unwrap_or_default();
        (status, out)
    }

    /// Mount points under this test's directory.
    pub fn mounts_left(&self) -> Vec<String> {
        let prefix = self.dir.path().to_string_lossy().into_owned();
        fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
            .filter(|m| m.starts_with(&prefix))
            .collect()
    }

    /// Cgroup directories of this test's containers that still exist.
    pub fn cgroups_left(&self) -> Vec<PathBuf> {
        self.ids
            .iter()
            .flat_map(|id| cgroups::cgroup_dirs(id))
            .filter(|d| d.exists())
            .collect()
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        for id in &self.ids {
            let _ = runtime::remove(&self.roots, id);
        }
        for pid in &self.pids {
            let pid = nix::unistd::Pid::from_raw(*pid);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(pid, None);
        }
        for id in &self.ids {
            for d in cgroups::cgroup_dirs(id) {
                let _ = fs::remove_dir(d);
            }
        }
        let mut mounts = self.mounts_left();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in mounts {
            let _ = nix::mount::umount2(m.as_str(), nix::mount::MntFlags::MNT_DETACH);
        }
    }
}
