//! Docker's defaults that a service gets without asking, attacked from
//! inside a container (root in it, Docker's capabilities and seccomp
//! profile): no mounts, no new namespaces, read-only `/proc/sys` and
//! `/sys`, no raw device access even with CAP_MKNOD, masked `/proc` files,
//! no host processes, and a mount target that is a symlink in the image
//! resolved inside the container, never on the host. These held before
//! this test was written; it keeps them. Harness: `project_support`.

mod project_support;

use project_support::project;

/// One attack per line: `NAME` then a command that must FAIL inside the
/// container; the script prints `NAME=escaped` when it succeeds.
const ATTACKS: &[(&str, &str)] = &[
    ("mount", "mount -t tmpfs none /mnt"),
    ("remount-proc", "mount -o remount,rw /proc/sys"),
    ("unshare-mount", "unshare -m true"),
    ("unshare-user", "unshare -U true"),
    ("proc-sys", "echo 1 > /proc/sys/kernel/sysrq"),
    ("sysfs", "echo x > /sys/kernel/uevent_helper"),
    (
        "block-device",
        "mknod /tmp/disk b 8 0 && head -c 1 /tmp/disk > /dev/null",
    ),
    ("mem-device", "mknod /tmp/mem c 1 1 && head -c 1 /tmp/mem > /dev/null"),
    ("kcore", "test -s /proc/kcore || head -c 1 /proc/kcore | grep -q ."),
    ("keys", "head -c 1 /proc/keys | grep -q ."),
    ("hostname", "hostname escaped-host"),
];

fn script() -> String {
    let mut s = String::new();
    for (name, cmd) in ATTACKS {
        s.push_str(&format!(
            "if ( {cmd} ) 2>/dev/null; then echo {name}=escaped; else echo {name}=refused; fi; "
        ));
    }
    // Host processes: the container's PID namespace holds its own only.
    s.push_str("echo procs=$(ls -d /proc/[0-9]* | wc -l); ");
    s.push_str("trap 'exit 0' TERM; while true; do sleep 0.2; done");
    s
}

#[test]
fn a_default_container_cannot_reach_the_host() {
    let Some(p) = project("sec-defaults", 36) else { return };
    // A mount target that is an absolute symlink in the image, pointing to
    // a host path: the bind must land inside the container's root.
    let decoy = p.dir.path().join("decoy");
    let app = p.project_dir.join("app");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(
        app.join("Dockerfile"),
        format!("FROM busybox:test\nRUN ln -s {} /link\n", decoy.display()),
    )
    .unwrap();
    std::fs::create_dir_all(p.project_dir.join("data")).unwrap();
    std::fs::write(p.project_dir.join("data/marker"), "bound\n").unwrap();
    let script = serde_json::to_string(&script().replace('$', "$$")).unwrap();
    p.compose(&format!(
        r#"
services:
  probe:
    build: ./app
    command: ["sh", "-c", {script}]
    volumes:
      - ./data:/link
networks:
  default:
    ipam: {{config: [{{subnet: SUBNET}}]}}
"#
    ));
    p.ok(&["up", "-d"]);
    let name = format!("{}-probe-1", p.name);
    p.eventually(20, "the probe's report", || p.logs(&["probe"]).contains("procs="));
    let out = p.logs(&["--no-log-prefix", "probe"]);
    for (attack, _) in ATTACKS {
        assert!(
            out.contains(&format!("{attack}=refused")),
            "{attack} from inside:\n{out}"
        );
    }
    let procs: u32 = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("procs="))
        .and_then(|n| n.trim().parse().ok())
        .expect(&out);
    // sh, sleep and ls at most: no host process is visible.
    assert!(procs <= 4, "{procs} processes visible:\n{out}");

    // The bind went to the container's /link, not to the host's decoy.
    assert!(!decoy.exists(), "the host path behind the symlink was created");
    let (marker, _) = p.ok(&["exec", "-T", "probe", "cat", "/link/marker"]);
    assert_eq!(marker.trim(), "bound");
    let state = p.state(&name);
    assert_eq!(state["status"], "running", "{state}");
}
