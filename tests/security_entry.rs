//! What crosses into a container (DESIGN.md §5b), attacked from inside one
//! (root): no handle on the rcompose binary (CVE-2019-5736), no descriptor
//! but 0, 1 and 2, default signal handling, a read-only `/sys/fs/cgroup`,
//! and Docker's `ping_group_range`. Harness: `project_support`.
//!
//! The binary tests run a COPY of the built binary, so an attack that
//! worked would damage only the copy.

mod project_support;

use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use project_support::{bin, project, Project};

/// A shell script as a Compose string: `$` escaped from interpolation,
/// quoted as a YAML (JSON) scalar.
fn yaml_script(script: &str) -> String {
    serde_json::to_string(&script.replace('$', "$$")).unwrap()
}

fn networks() -> &'static str {
    "networks:\n  default:\n    ipam: {config: [{subnet: SUBNET}]}\n"
}

/// rcompose at `exe` run on the project, like `Project::command`.
fn command_with(p: &Project, exe: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(exe);
    c.args(["-p", &p.name])
        .args(args)
        .current_dir(&p.project_dir)
        .env("RCOMPOSE_ROOT", &p.root)
        .env("RCOMPOSE_RUN", &p.run)
        .env("NO_COLOR", "1")
        .env_remove("COMPOSE_FILE")
        .env_remove("COMPOSE_PROJECT_NAME")
        .stdin(Stdio::null());
    c
}

fn ok_with(p: &Project, exe: &Path, args: &[&str]) -> String {
    let out = command_with(p, exe, args).output().unwrap();
    let so = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "rcompose {args:?} failed:\n{}\n{so}",
        String::from_utf8_lossy(&out.stderr)
    );
    so
}

/// A file inside container `name`'s root, reached from the host.
fn in_container(p: &Project, name: &str, path: &str) -> PathBuf {
    let pid = p.state(name)["pid"].as_i64().expect("the container runs");
    PathBuf::from(format!("/proc/{pid}/root{path}"))
}

fn wait_for(path: &Path, secs: u64, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what} ({})",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Supervisors of this test's state root, by the root in their environment.
fn supervisors(p: &Project) -> Vec<i32> {
    let want = format!("RCOMPOSE_ROOT={}", p.root.display());
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        if String::from_utf8_lossy(&cmd).contains("__supervise") && env.split(|b| *b == 0).any(|v| v == want.as_bytes())
        {
            out.push(pid);
        }
    }
    out
}

/// A copy of the built binary in the test's directory, and the compose
/// volumes that give a busybox container the host's C library and the
/// other libraries the binary loads (as an attacker's image would ship).
fn binary_copy(p: &Project) -> (PathBuf, String) {
    let copy = p.dir.path().join("bin/rcompose");
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    std::fs::copy(bin(), &copy).unwrap();
    // A process another test thread forks while the copy is written holds
    // it open for writing until it execs: running the copy fails with
    // ETXTBSY until then.
    for _ in 0..100 {
        match Command::new(&copy).arg("version").output() {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) => std::thread::sleep(Duration::from_millis(50)),
            _ => break,
        }
    }
    let ldd = Command::new("ldd").arg(&copy).output().expect("ldd (libc-bin)");
    let mut volumes = String::new();
    for lib in String::from_utf8_lossy(&ldd.stdout)
        .split_whitespace()
        .filter(|w| w.starts_with('/'))
    {
        volumes.push_str(&format!("      - {lib}:{lib}:ro\n"));
    }
    (copy, volumes)
}

/// Length and modification time: any write changes one of them.
fn fingerprint(path: &Path) -> (u64, std::time::SystemTime) {
    let m = std::fs::metadata(path).unwrap();
    (m.len(), m.modified().unwrap())
}

/// Holds `$1` (a `/proc/N/exe`) open, reports it, and once told to, tries
/// to write into the file through its own descriptor.
const HOLD: &str = r#"exec 3<"$1" || exit 1
readlink "$1" > /tmp/got.$$; mv /tmp/got.$$ /tmp/got
while [ ! -e /tmp/write ]; do sleep 0.05; done
{ echo pwned >/proc/self/fd/3; } 2>/tmp/err.$$
echo "rc=$?" >>/tmp/err.$$; mv /tmp/err.$$ /tmp/result
"#;

/// The container's init: once told to, holds every process of the
/// container whose executable is not busybox.
const SCAN: &str = r#"trap 'exit 0' TERM
while [ ! -e /tmp/go ]; do sleep 0.05; done
until [ -e /tmp/got ]; do
  for d in /proc/[0-9]*; do
    t=$(readlink $d/exe 2>/dev/null)
    case "$t" in ""|/bin/busybox) ;; *) sh -c "$HOLD" hold $d/exe & ;; esac
  done
  sleep 0.05
done
while true; do sleep 0.2; done
"#;

/// CVE-2019-5736 through `exec`: the exec'd command is `/proc/self/exe`,
/// i.e. whatever the process that entered the container runs. A process
/// of the container holds it open until no rcompose process is left, then
/// writes into it.
#[test]
fn exec_gives_the_container_no_writable_handle_on_the_binary() {
    let Some(p) = project("sec_exec_exe", 40) else { return };
    let (copy, libs) = binary_copy(&p);
    p.compose(&format!(
        "services:\n  victim:\n    image: busybox:test\n    command: [\"sh\", \"-c\", {}]\n    environment:\n      HOLD: {}\n    volumes:\n{libs}{}",
        yaml_script(SCAN),
        yaml_script(HOLD),
        networks()
    ));
    let before = fingerprint(&copy);
    ok_with(&p, &copy, &["up", "-d"]);
    let victim = format!("{}-victim-1", p.name);

    // A long-running exec of the binary (it waits for its stdin).
    let mut exec = command_with(
        &p,
        &copy,
        &[
            "exec",
            "-T",
            "victim",
            "/proc/self/exe",
            "login",
            "-u",
            "x",
            "--password-stdin",
            "127.0.0.1:9",
        ],
    )
    .stdin(Stdio::piped())
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    std::fs::write(in_container(&p, &victim, "/tmp/go"), "").unwrap();
    let got = in_container(&p, &victim, "/tmp/got");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !got.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(exec.stdin.take());
    let _ = exec.wait();
    assert!(got.exists(), "the container never got hold of the exec'd binary");

    // No rcompose process is left: the supervisor is killed.
    for pid in supervisors(&p) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
    }
    p.eventually(10, "the supervisors to end", || {
        supervisors(&p)
            .iter()
            .all(|pid| std::fs::read_link(format!("/proc/{pid}/exe")).is_err())
    });
    std::fs::write(in_container(&p, &victim, "/tmp/write"), "").unwrap();
    let result = in_container(&p, &victim, "/tmp/result");
    wait_for(&result, 30, "the write attempt");
    let result = std::fs::read_to_string(result).unwrap();

    assert_eq!(
        fingerprint(&copy),
        before,
        "the binary was written from the container: {result}"
    );
    assert!(result.contains("Read-only file system"), "{result}");
}

/// A container whose command is `/proc/self/exe` runs the binary its init
/// was cloned from (the supervisor's) as PID 1; another process of the
/// container opens it for writing. While PID 1 runs it the kernel refuses
/// that anyway (`ETXTBSY`), but a truncating open asks the mount first:
/// `EROFS` says the handle stays unwritable once nothing runs the file.
#[test]
fn a_container_running_proc_self_exe_gets_a_read_only_binary() {
    let Some(p) = project("sec_init_exe", 41) else { return };
    let (copy, libs) = binary_copy(&p);
    p.compose(&format!(
        "services:\n  self:\n    image: busybox:test\n    entrypoint: [\"/proc/self/exe\"]\n    command: [\"login\", \"-u\", \"x\", \"--password-stdin\", \"127.0.0.1:9\"]\n    stdin_open: true\n    volumes:\n{libs}{}",
        networks()
    ));
    let before = fingerprint(&copy);
    ok_with(&p, &copy, &["up", "-d"]);
    let out = command_with(
        &p,
        &copy,
        &[
            "exec",
            "-T",
            "self",
            "sh",
            "-c",
            "readlink /proc/1/exe; exec 3</proc/1/exe || exit 9; echo pwned >/proc/self/fd/3",
        ],
    )
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(
        out.status.code(),
        Some(9),
        "PID 1's binary could not be opened: {stderr}"
    );
    assert_ne!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "/bin/busybox",
        "PID 1 does not run the binary"
    );
    assert_eq!(fingerprint(&copy), before, "the binary was written from the container");
    assert!(stderr.contains("Read-only file system"), "{stderr}");
}

/// The command that starts rcompose holds a directory of the host as fd
/// 9; neither the supervisor nor any process in the container gets it
/// (it would open the host's tree through `/proc/self/fd/9/..`).
#[test]
fn only_stdio_descriptors_cross_into_containers() {
    let Some(p) = project("sec_fds", 42) else { return };
    let secret_dir = p.dir.path().join("secret");
    std::fs::create_dir_all(&secret_dir).unwrap();
    std::fs::write(secret_dir.join("host-secret"), "TOP-SECRET\n").unwrap();
    // `true` last: the shell forks `ls` instead of becoming it.
    let check = "cat /proc/self/fd/9/host-secret; ls /proc/$$/fd; true";
    p.compose(&format!(
        r#"services:
  probe:
    image: busybox:test
    command: ["sh", "-c", {}]
    healthcheck:
      test: ["CMD-SHELL", {}]
      interval: 200ms
      retries: 100
{}"#,
        yaml_script(&format!(
            "({check}) >/tmp/init-fds.tmp 2>&1; mv /tmp/init-fds.tmp /tmp/init-fds; trap 'exit 0' TERM; while true; do sleep 0.1; done"
        )),
        yaml_script(&format!("({check}) >/tmp/hc-fds.tmp 2>&1; mv /tmp/hc-fds.tmp /tmp/hc-fds; true")),
        networks()
    ));
    let secret = std::fs::File::open(&secret_dir).unwrap();
    let with_fd9 = |c: &mut Command| {
        let fd = secret.as_raw_fd();
        // SAFETY: dup2 between fork and exec, on a descriptor the test owns.
        unsafe {
            c.pre_exec(move || match libc::dup2(fd, 9) {
                -1 => Err(std::io::Error::last_os_error()),
                _ => Ok(()),
            })
        };
    };
    let mut up = p.command(&["up", "-d"]);
    with_fd9(&mut up);
    let out = up.stdout(Stdio::null()).stderr(Stdio::piped()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let probe = format!("{}-probe-1", p.name);

    let mut exec = p.command(&["exec", "-T", "probe", "sh", "-c", check]);
    with_fd9(&mut exec);
    let out = exec.output().unwrap();
    let exec_out = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let hc = in_container(&p, &probe, "/tmp/hc-fds");
    wait_for(&hc, 20, "a healthcheck");
    let hc_out = std::fs::read_to_string(hc).unwrap();
    let init = in_container(&p, &probe, "/tmp/init-fds");
    wait_for(&init, 20, "the init's report");
    let init_out = std::fs::read_to_string(init).unwrap();

    for (who, out) in [("exec", &exec_out), ("healthcheck", &hc_out), ("init", &init_out)] {
        assert!(
            !out.contains("TOP-SECRET"),
            "{who} read the host's file through fd 9:\n{out}"
        );
        let fds: Vec<&str> = out.lines().filter(|l| l.parse::<u32>().is_ok()).collect();
        assert_eq!(fds, ["0", "1", "2"], "{who} holds other descriptors:\n{out}");
    }
    for pid in supervisors(&p) {
        for fd in std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().flatten() {
            let target = std::fs::read_link(fd.path()).unwrap_or_default();
            assert_ne!(
                target,
                secret_dir,
                "supervisor {pid} inherited the caller's fd {:?}",
                fd.file_name()
            );
        }
    }
}

/// Signals: what a Rust program ignores (SIGPIPE) or a parent blocks must
/// not reach the container's processes — `yes | head -1` ends with `yes`
/// killed by SIGPIPE, in the init, in `exec` and in a healthcheck.
#[test]
fn container_processes_start_with_default_signal_handling() {
    let Some(p) = project("sec_signals", 43) else { return };
    let check = "grep -E '^Sig(Ign|Blk)' /proc/self/status; (yes; echo \"yes-exit=$?\" >&2) | head -n 1 >/dev/null";
    p.compose(&format!(
        r#"services:
  probe:
    image: busybox:test
    command: ["sh", "-c", {}]
    healthcheck:
      test: ["CMD-SHELL", {}]
      interval: 200ms
      retries: 100
{}"#,
        yaml_script(&format!(
            "({check}) >/tmp/init-sig.tmp 2>&1; mv /tmp/init-sig.tmp /tmp/init-sig; trap 'exit 0' TERM; while true; do sleep 0.1; done"
        )),
        yaml_script(&format!("({check}) >/tmp/hc-sig.tmp 2>&1; mv /tmp/hc-sig.tmp /tmp/hc-sig; true")),
        networks()
    ));
    p.ok(&["up", "-d"]);
    let probe = format!("{}-probe-1", p.name);
    let out = p.rc(&["exec", "-T", "probe", "sh", "-c", check]);
    let exec_out = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let hc = in_container(&p, &probe, "/tmp/hc-sig");
    wait_for(&hc, 20, "a healthcheck");
    let hc_out = std::fs::read_to_string(hc).unwrap();
    let init = in_container(&p, &probe, "/tmp/init-sig");
    wait_for(&init, 20, "the init's report");
    let init_out = std::fs::read_to_string(init).unwrap();
    for (who, out) in [("exec", &exec_out), ("healthcheck", &hc_out), ("init", &init_out)] {
        assert!(
            out.contains("SigIgn:\t0000000000000000"),
            "{who} ignores signals:\n{out}"
        );
        assert!(
            out.contains("SigBlk:\t0000000000000000"),
            "{who} blocks signals:\n{out}"
        );
        // 128 + SIGPIPE: killed by the signal, not ending on EPIPE.
        assert!(
            out.contains("yes-exit=141"),
            "{who}: yes was not killed by SIGPIPE:\n{out}"
        );
    }
}

/// The container cannot lift its own limits: `/sys/fs/cgroup` and every
/// hierarchy below it are read-only (libcontainer mounts v1 read-write).
#[test]
fn cgroupfs_is_read_only_inside_the_container() {
    let Some(p) = project("sec_cgroupfs", 44) else { return };
    p.compose(&format!(
        "services:\n  limited:\n    image: busybox:test\n    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; while true; do sleep 0.1; done\"]\n    pids_limit: 50\n{}",
        networks()
    ));
    p.ok(&["up", "-d"]);
    let script = r#"for f in /sys/fs/cgroup/pids.max /sys/fs/cgroup/pids/pids.max; do
  [ -e $f ] || continue
  echo max > $f && echo "LIFTED $f"
  echo "limit $(cat $f)"
done
mkdir /sys/fs/cgroup/escape && echo "MKDIR"
grep ' /sys/fs/cgroup' /proc/self/mounts"#;
    let out = p.rc(&["exec", "-T", "limited", "sh", "-c", script]);
    let so = String::from_utf8_lossy(&out.stdout).into_owned();
    let se = String::from_utf8_lossy(&out.stderr);
    assert!(!so.contains("LIFTED") && !so.contains("MKDIR"), "{so}\n{se}");
    assert!(so.contains("limit 50"), "{so}\n{se}");
    let mounts: Vec<&str> = so.lines().filter(|l| l.contains(" /sys/fs/cgroup")).collect();
    assert!(!mounts.is_empty(), "{so}");
    for m in mounts {
        let options = m.split(' ').nth(3).unwrap_or_default();
        assert!(options.split(',').any(|o| o == "ro"), "writable in the container: {m}");
    }
}

/// Docker's `net.ipv4.ping_group_range` in the container's own network
/// namespace (a new one has `1 0`: nobody): any group may open ICMP echo
/// sockets. (busybox's `ping` uses raw sockets only, so the value is read.)
#[test]
fn a_container_with_its_own_network_allows_unprivileged_ping_sockets() {
    let Some(p) = project("sec_ping", 45) else { return };
    p.compose(&format!(
        "services:\n  pinger:\n    image: busybox:test\n    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; while true; do sleep 0.1; done\"]\n{}",
        networks()
    ));
    p.ok(&["up", "-d"]);
    let (so, _) = p.ok(&["exec", "-T", "pinger", "cat", "/proc/sys/net/ipv4/ping_group_range"]);
    assert_eq!(so.split_whitespace().collect::<Vec<_>>(), ["0", "2147483647"]);
}
