//! The engine's state is root-only, as Docker's (DESIGN.md §5): a local
//! user who is not root reads no container's config (its environment),
//! state, log, root filesystem or volume data, and connects to no socket;
//! while inside the container a non-root user still reads `/etc/hosts`,
//! resolves names and uses its volume.

mod project_support;

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use project_support::project;

const NOBODY: &str = "65534";

/// Runs `argv` as uid/gid 65534 with no supplementary groups.
fn as_nobody(argv: &[&str]) -> (bool, String) {
    let out = Command::new("setpriv")
        .args([
            &format!("--reuid={NOBODY}"),
            &format!("--regid={NOBODY}"),
            "--clear-groups",
            "--",
        ])
        .args(argv)
        .output()
        .expect("setpriv (util-linux) is needed");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

/// Engine files (not image or volume content) that others could read.
fn open_to_others(dir: &Path, out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        let t = e.file_type().unwrap();
        let m = mode(&p);
        if t.is_symlink() {
            continue;
        }
        if t.is_dir() {
            // Content with the image's or the volume's own modes (the mode
            // of `/` or of the mount point inside), behind private parents.
            if matches!(
                name.as_str(),
                "rootfs" | "upper" | "work" | "_data" | "snapshots" | "content"
            ) {
                continue;
            }
            if m & 0o077 != 0 {
                out.push(format!("directory {} is {m:o}", p.display()));
            }
            // libcontainer's own files, rewritten by it: its directory is
            // private (checked above), what it puts there is its business;
            // network namespace files are nsfs mounts the kernel shows 0444.
            if !matches!(name.as_str(), "netns") && dir.file_name().is_none_or(|n| n != "runtime") {
                open_to_others(&p, out);
            }
            continue;
        }
        // Bind-mounted into the container, read by its users.
        let shared = matches!(name.as_str(), "hosts" | "hostname" | "resolv.conf");
        let allowed = if shared { 0o644 } else { 0o600 };
        if m & !allowed & 0o077 != 0 || (t.is_socket() && m & 0o077 != 0) {
            out.push(format!("file {} is {m:o}", p.display()));
        }
    }
}

#[test]
fn state_is_root_only_and_containers_still_work_as_non_root() {
    let Some(p) = project("prm_state_modes", 101) else {
        return;
    };
    // The attack: the temp dir stands for /var/lib and /run, which every
    // user may enter.
    std::fs::set_permissions(p.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let control = p.dir.path().join("control.txt");
    std::fs::write(&control, "readable\n").unwrap();
    std::fs::set_permissions(&control, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (ok, out) = as_nobody(&["cat", control.to_str().unwrap()]);
    assert!(
        ok && out.contains("readable"),
        "uid 65534 cannot read a world-readable file: {out}"
    );

    p.compose(
        r#"
services:
  app:
    image: busybox:test
    user: "65534"
    environment:
      SECRET: prm-password-4711
    command: ["sh", "-c", "echo prm-logged-secret; exec sleep 1000"]
    volumes:
      - data:/data
  peer:
    image: busybox:test
    command: ["sleep", "1000"]
volumes:
  data: {}
networks:
  default:
    ipam:
      config:
        - subnet: SUBNET
"#,
    );
    p.ok(&["up", "-d"]);
    let app = "rct-prm-state-modes-app-1";
    let c = p.root.join("containers").join(app);
    p.eventually(20, "the app's log line", || {
        std::fs::read_to_string(c.join(format!("{app}-json.log"))).is_ok_and(|l| l.contains("prm-logged-secret"))
    });

    // Inside, as uid 65534: its own files, names and volume still work.
    p.ok(&[
        "exec",
        "-T",
        "-u",
        "0",
        "app",
        "sh",
        "-c",
        "echo prm-volume-secret > /data/f",
    ]);
    let (out, _) = p.ok(&[
        "exec",
        "-T",
        "app",
        "sh",
        "-c",
        "id -u; cat /etc/hosts /etc/hostname /etc/resolv.conf; ls / >/dev/null && echo root-listed; cat /data/f",
    ]);
    assert!(out.starts_with("65534"), "{out}");
    assert!(
        out.contains("localhost") && out.contains("nameserver") && out.contains("root-listed"),
        "{out}"
    );
    assert!(out.contains("prm-volume-secret"), "{out}");
    let (out, _) = p.ok(&["exec", "-T", "app", "nslookup", "peer"]);
    assert!(
        out.contains(&format!("10.232.{}.", p.subnet)),
        "uid 65534 cannot resolve a service name: {out}"
    );

    // Outside, as uid 65534: nothing of the state can be read.
    let volume = std::fs::read_dir(p.root.join("volumes"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|v| v.join("_data/f").exists())
        .expect("the volume's data");
    let targets: Vec<PathBuf> = vec![
        c.join("config.json"),
        c.join("spec.json"),
        c.join("state.json"),
        c.join(format!("{app}-json.log")),
        c.join("rootfs/etc/passwd"),
        volume.join("_data/f"),
    ];
    for t in &targets {
        assert!(t.exists(), "{} does not exist", t.display());
        let (ok, out) = as_nobody(&["cat", t.to_str().unwrap()]);
        assert!(!ok, "uid 65534 read {}: {out}", t.display());
    }
    for d in [
        p.root.clone(),
        p.root.join("containers"),
        c.clone(),
        c.join("rootfs"),
        p.root.join("snapshots"),
        p.root.join("volumes"),
        p.run.clone(),
    ] {
        let (ok, out) = as_nobody(&["ls", d.to_str().unwrap()]);
        assert!(!ok, "uid 65534 listed {}: {out}", d.display());
    }
    let sock = c.join("control.sock");
    assert!(sock.exists(), "no control socket at {}", sock.display());
    let (ok, out) = as_nobody(&[
        "socat",
        "-u",
        "OPEN:/dev/null",
        &format!("UNIX-CONNECT:{}", sock.display()),
    ]);
    assert!(!ok, "uid 65534 connected to {}: {out}", sock.display());

    // Each file is private itself, not only behind a closed directory.
    assert_eq!(mode(&p.root), 0o710);
    let mut open = Vec::new();
    open_to_others(&p.root, &mut open);
    open_to_others(&p.run, &mut open);
    assert!(open.is_empty(), "state open to other users:\n{}", open.join("\n"));

    // A root an older version left open is closed by the next command.
    for d in [p.root.clone(), p.root.join("containers"), p.run.clone()] {
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    p.ok(&["ps"]);
    assert_eq!(mode(&p.root), 0o710);
    assert_eq!(mode(&p.root.join("containers")), 0o700);
    assert_eq!(mode(&p.run), 0o700);
}
