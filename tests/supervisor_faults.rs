//! What a supervisor survives and what is left when it does not (issue 12,
//! items 4 and 10): a container that fills the state filesystem, and a
//! supervisor killed with SIGKILL.

mod project_support;

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use project_support::{project, Project};

/// A project whose state root is a small tmpfs of its own, unmounted (after
/// the project's own cleanup) even when the test fails.
struct SmallRoot {
    project: Option<Project>,
    mount: PathBuf,
}

impl SmallRoot {
    fn new(p: Project, size: &str) -> SmallRoot {
        // The image is imported already: move the root onto the tmpfs.
        let saved = p.dir.path().join("root-saved");
        std::fs::rename(&p.root, &saved).unwrap();
        std::fs::create_dir(&p.root).unwrap();
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700"), "tmpfs"])
            .arg(&p.root)
            .status()
            .unwrap();
        assert!(st.success(), "mounting a tmpfs on {}", p.root.display());
        let mount = p.root.clone();
        let guard = SmallRoot {
            project: Some(p),
            mount,
        };
        let st = Command::new("cp")
            .arg("-a")
            .arg(format!("{}/.", saved.display()))
            .arg(&guard.mount)
            .status()
            .unwrap();
        assert!(st.success(), "copying the state root onto the tmpfs");
        guard
    }

    fn p(&self) -> &Project {
        self.project.as_ref().unwrap()
    }
}

impl Drop for SmallRoot {
    fn drop(&mut self) {
        // `down`, leftover processes and mounts below first, then the tmpfs.
        drop(self.project.take());
        let _ = nix::mount::umount2(&self.mount, nix::mount::MntFlags::MNT_DETACH);
    }
}

fn pid_alive(pid: i64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.rsplit_once(") ").is_some_and(|(_, r)| !r.starts_with('Z')))
        .unwrap_or(false)
}

fn one(p: &Project) -> serde_json::Value {
    let ps = p.ps();
    assert_eq!(ps.len(), 1, "{ps:?}");
    ps.into_iter().next().unwrap()
}

fn supervisor_log(p: &Project, c: &str) -> String {
    std::fs::read_to_string(p.root.join("containers").join(c).join("supervisor.log")).unwrap_or_default()
}

/// Item 4: the container fills the state filesystem through its writable
/// layer while it writes lines; its supervisor drops those lines (and says
/// so once there is space again) instead of dying on a failed write.
#[test]
fn a_full_state_disk_drops_log_lines_but_keeps_the_container_supervised() {
    let Some(p) = project("sup_disk", 60) else { return };
    let root = SmallRoot::new(p, "24m");
    let p = root.p();
    p.compose(
        r#"
services:
  filler:
    image: busybox:test
    network_mode: none
    command:
      - sh
      - -c
      - |
        # $$ escapes Compose's interpolation.
        echo before
        dd if=/dev/zero of=/big bs=64k 2>/dev/null
        i=0
        while [ $$i -lt 400 ]; do echo "while full $$i: some text to fill the log quickly"; i=$$((i+1)); done
        while [ -e /big ]; do sleep 0.1; done
        i=0
        while :; do echo "after $$i"; i=$$((i+1)); sleep 0.1; done
"#,
    );
    p.ok(&["up", "-d"]);
    let c = "rct-sup-disk-filler-1";
    let sup = p.state(c)["supervisor_pid"].as_i64().unwrap();
    // Full: not even 8 KiB can be written.
    let probe = p.root.join("probe");
    p.eventually(60, "the state filesystem to fill up", || {
        let full = std::fs::write(&probe, [0u8; 8192]).is_err();
        let _ = std::fs::remove_file(&probe);
        full
    });
    // State changes while full are not lost: written once there is space.
    let state_file = p.root.join("containers").join(c).join("state.json");
    let written = || std::fs::metadata(&state_file).unwrap().modified().unwrap();
    let before = written();
    p.ok(&["pause"]);
    assert_eq!(one(p)["State"], "paused");
    p.ok(&["unpause"]);
    assert!(pid_alive(sup), "the supervisor died:\n{}", supervisor_log(p, c));
    assert_eq!(written(), before, "the disk is not full?");
    p.ok(&["exec", "-T", "filler", "rm", "/big"]);
    p.eventually(20, "the state file written again", || written() != before);
    assert_eq!(p.state(c)["paused"], false);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !p.logs(&["--no-log-prefix"]).contains("after 3\n") {
        if std::time::Instant::now() > deadline {
            let df = Command::new("df").arg(&p.root).output().unwrap();
            panic!(
                "no lines written after the space was freed\nlogs:\n{}\nsupervisor log:\n{}\nps: {:?}\n{}",
                p.logs(&["--no-log-prefix"]),
                supervisor_log(p, c),
                p.ps(),
                String::from_utf8_lossy(&df.stdout)
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(pid_alive(sup), "the supervisor died:\n{}", supervisor_log(p, c));
    let logs = p.logs(&["--no-log-prefix"]);
    assert!(logs.starts_with("before\n"), "{logs}");
    assert!(
        logs.contains("rcompose: ") && logs.contains("log line(s) dropped: No space left on device"),
        "no note of the dropped lines:\n{logs}"
    );
    assert!(
        !logs.contains("while full 399\n"),
        "the last line written while full was not dropped?\n{logs}"
    );
    // Every record is whole: one JSON object per line.
    let raw = std::fs::read_to_string(p.root.join("containers").join(c).join(format!("{c}-json.log"))).unwrap();
    for line in raw.lines() {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "broken record {line:?}"
        );
    }
    // Still supervised: stop goes through it (the shell, PID 1, ignores
    // SIGTERM, so it is killed after the grace period).
    let st = one(p);
    assert_eq!(st["State"], "running", "{st}");
    p.ok(&["stop", "-t", "1"]);
    let st = one(p);
    assert_eq!(st["State"], "exited", "{st}");
    assert_eq!(st["ExitCode"], 137, "{st}");
    assert!(!pid_alive(sup));
    // (Its note that dropping began was itself written to the full disk.)
    assert!(
        supervisor_log(p, c).contains("line(s) were dropped"),
        "{}",
        supervisor_log(p, c)
    );
}

fn published_port(c: &serde_json::Value) -> Option<u16> {
    c["Publishers"]
        .as_array()?
        .iter()
        .find_map(|pb| pb["PublishedPort"].as_u64().filter(|p| *p > 0))
        .map(|p| p as u16)
}

fn connects(port: u16) -> bool {
    TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(2)).is_ok()
}

fn kill9(pid: i64) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while pid_alive(pid) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn rootfs_mounted(p: &Project, c: &str) -> bool {
    let rootfs = p.root.join("containers").join(c).join("rootfs");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let want = rootfs.to_string_lossy().to_string();
    mounts.lines().any(|l| l.split(' ').nth(4) == Some(want.as_str()))
}

fn cgroup_exists(c: &str) -> bool {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "find /sys/fs/cgroup -maxdepth 4 -type d -name '*{c}*' | head -1"
        ))
        .output()
        .unwrap();
    !out.stdout.is_empty()
}

/// Item 10: after `kill -9` of a supervisor, `ps` shows what is true (the
/// container still runs, unsupervised, without ports); `stop` stops it by
/// PID and records the real exit code; `up` starts it again supervised.
#[test]
fn a_killed_supervisor_leaves_the_truth_and_an_orphan_the_next_command_handles() {
    let Some(p) = project("sup_orphan", 61) else { return };
    p.compose(
        r#"
services:
  web:
    image: busybox:test
    command: ["httpd", "-f", "-p", "80", "-h", "/var/www"]
    ports: ["127.0.0.1::80"]
    stop_grace_period: 1s
networks:
  default:
    ipam:
      config: [{subnet: SUBNET}]
"#,
    );
    let c = "rct-sup-orphan-web-1";
    p.ok(&["up", "-d"]);
    let port = published_port(&one(&p)).expect("a published port");
    assert!(connects(port));

    // 1. The supervisor dies; the container's process goes on.
    let state = p.state(c);
    let (sup, init) = (
        state["supervisor_pid"].as_i64().unwrap(),
        state["pid"].as_i64().unwrap(),
    );
    kill9(sup);
    assert!(pid_alive(init));
    let st = one(&p);
    assert_eq!(st["State"], "running", "{st}");
    assert!(st["Status"].as_str().unwrap().contains("unsupervised"), "{st}");
    assert_eq!(published_port(&st), None, "ports nothing serves are shown: {st}");
    assert!(!connects(port));
    // `ps` without -a lists it: it runs.
    let (running, _) = p.ok(&["ps", "-q"]);
    assert_eq!(running.trim(), c);

    // 2. `stop` stops it by PID: httpd as PID 1 ignores SIGTERM, so it is
    // killed after the grace period: 137, as Docker shows.
    p.ok(&["stop"]);
    assert!(!pid_alive(init), "the orphan still runs");
    let st = one(&p);
    assert_eq!(st["State"], "exited", "{st}");
    assert_eq!(st["ExitCode"], 137, "{st}");
    assert!(st["Status"].as_str().unwrap().starts_with("Exited (137)"), "{st}");
    assert!(!cgroup_exists(c), "its cgroup is left");

    // 3. `up` starts it again, supervised, its port served.
    p.ok(&["up", "-d"]);
    let st = one(&p);
    assert!(!st["Status"].as_str().unwrap().contains("unsupervised"), "{st}");
    let port = published_port(&st).expect("a published port");
    assert!(connects(port));

    // 4. Another orphan: `up` replaces it with a supervised container.
    let state = p.state(c);
    let (sup, init) = (
        state["supervisor_pid"].as_i64().unwrap(),
        state["pid"].as_i64().unwrap(),
    );
    kill9(sup);
    p.ok(&["up", "-d"]);
    assert!(!pid_alive(init), "the orphan was not stopped");
    let state = p.state(c);
    assert!(pid_alive(state["supervisor_pid"].as_i64().unwrap()));
    let st = one(&p);
    assert_eq!(st["State"], "running", "{st}");
    let port = published_port(&st).expect("a published port");
    assert!(connects(port));

    // 5. Supervisor and process both gone: exited, code unknown (255, as
    // Docker shows a container whose end it did not see), not 0.
    let state = p.state(c);
    let (sup, init) = (
        state["supervisor_pid"].as_i64().unwrap(),
        state["pid"].as_i64().unwrap(),
    );
    kill9(sup);
    kill9(init);
    let st = one(&p);
    assert_eq!(st["State"], "exited", "{st}");
    assert_eq!(st["ExitCode"], 255, "{st}");
    p.ok(&["down"]);
    assert!(!rootfs_mounted(&p, c));
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

/// Item 10: the exit code of an orphan stopped by PID is its own (here 3,
/// from its SIGTERM trap), not a guess.
#[test]
fn an_orphan_stopped_by_pid_keeps_its_own_exit_code() {
    let Some(p) = project("sup_code", 62) else { return };
    p.compose(
        r#"
services:
  trap:
    image: busybox:test
    network_mode: none
    command: ["sh", "-c", "trap 'exit 3' TERM; while :; do sleep 0.05; done"]
"#,
    );
    let c = "rct-sup-code-trap-1";
    p.ok(&["up", "-d"]);
    let state = p.state(c);
    kill9(state["supervisor_pid"].as_i64().unwrap());
    p.ok(&["stop", "-t", "5"]);
    let st = one(&p);
    assert_eq!(st["ExitCode"], 3, "{st}");
    assert_eq!(p.state(c)["exit_code"], 3);
    // And a supervised one killed by SIGTERM-then-SIGKILL shows 137.
    p.ok(&["up", "-d"]);
    p.ok(&["kill", "-s", "SIGKILL"]);
    p.eventually(10, "the container to exit", || one(&p)["State"] == "exited");
    assert_eq!(one(&p)["ExitCode"], 137);
}

/// Item 4: a supervisor whose stderr is a closed pipe (whoever started it
/// went away) goes on: here the usage error of a bare `__supervise` exits
/// 2, where a failed `eprintln!` used to panic (exit 101).
#[test]
fn a_supervisor_writing_to_a_closed_pipe_does_not_panic() {
    let (r, w) = nix::unistd::pipe().unwrap();
    drop(r);
    let out = Command::new(project_support::bin())
        .arg("__supervise")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::from(w))
        .status()
        .unwrap();
    assert_eq!(out.code(), Some(2), "{out:?}");
}
