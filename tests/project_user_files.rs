//! `user:` and `exec -u` resolve names through the image's `/etc/passwd`
//! and `/etc/group`, which the image's author controls (DESIGN.md §5b):
//! an absolute symlink resolves inside the container's root, never to the
//! host's file; a FIFO does not block; a huge file is refused.

mod project_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use project_support::{project, Project};

const IN_IMAGE: &str = "trap:x:1111:1111::/inside:/bin/sh\n";
const ON_HOST: &str = "trap:x:4242:4242::/host:/bin/sh\n";

/// Imports a copy of the test's busybox rootfs, changed by `change`, as
/// `<tag>:test`.
fn trap_image(p: &Project, tag: &str, change: impl FnOnce(&Path)) {
    let rootfs = p.dir.path().join(format!("rootfs-{tag}"));
    let st = Command::new("cp")
        .arg("-a")
        .arg(p.dir.path().join("rootfs"))
        .arg(&rootfs)
        .status()
        .unwrap();
    assert!(st.success());
    change(&rootfs);
    let tar = p.dir.path().join(format!("{tag}.tar"));
    let st = Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success());
    p.ok(&[
        "image",
        "import",
        "--change",
        r#"CMD ["sh"]"#,
        "--change",
        "ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin",
        tar.to_str().unwrap(),
        &format!("{tag}:test"),
    ]);
}

fn append(path: &Path, text: &str) {
    let mut old = std::fs::read_to_string(path).unwrap_or_default();
    old.push_str(text);
    std::fs::write(path, old).unwrap();
}

/// A directory at the same absolute path on the host and in `rootfs`,
/// each with its own passwd naming `trap`.
fn twin_dir(p: &Project, rootfs: &Path) -> PathBuf {
    let host = p.dir.path().join("host-etc");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("passwd"), ON_HOST).unwrap();
    std::fs::write(host.join("group"), "trap:x:4242:\n").unwrap();
    let inside = rootfs.join(host.strip_prefix("/").unwrap());
    std::fs::create_dir_all(&inside).unwrap();
    host
}

/// Runs rcompose with `args`, killing it after `secs` (a read that blocks
/// on a FIFO must fail the test, not hang it). Returns (success, output).
fn rc_timeout(p: &Project, args: &[&str], secs: u64) -> (bool, String) {
    let mut child = p
        .command(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if child.try_wait().unwrap().is_some() {
            let out = child.wait_with_output().unwrap();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            return (out.status.success(), text);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("rcompose {args:?} still runs after {secs}s (blocked reading a file of the image?)");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn user_names_resolve_inside_the_image_never_through_the_host() {
    let Some(p) = project("prm_user_files", 100) else {
        return;
    };
    let mut host_dir = PathBuf::new();
    // exec -u: /etc/passwd and /etc/group are absolute symlinks to a path
    // that exists on the host too.
    trap_image(&p, "prm-link", |r| {
        host_dir = twin_dir(&p, r);
        let inside = r.join(host_dir.strip_prefix("/").unwrap());
        let mut passwd = std::fs::read_to_string(r.join("etc/passwd")).unwrap_or_default();
        passwd.push_str(IN_IMAGE);
        std::fs::write(inside.join("passwd"), passwd).unwrap();
        let mut group = std::fs::read_to_string(r.join("etc/group")).unwrap_or_default();
        group.push_str("trap:x:1111:\n");
        std::fs::write(inside.join("group"), group).unwrap();
        for f in ["passwd", "group"] {
            std::fs::remove_file(r.join("etc").join(f)).ok();
            std::os::unix::fs::symlink(host_dir.join(f), r.join("etc").join(f)).unwrap();
        }
    });
    // user:: /etc itself is an absolute symlink to that path.
    trap_image(&p, "prm-etc", |r| {
        let host = twin_dir(&p, r);
        let inside = r.join(host.strip_prefix("/").unwrap());
        std::fs::remove_dir(&inside).unwrap();
        std::fs::rename(r.join("etc"), &inside).unwrap();
        append(&inside.join("passwd"), IN_IMAGE);
        append(&inside.join("group"), "trap:x:1111:\n");
        std::os::unix::fs::symlink(&host, r.join("etc")).unwrap();
    });
    // A FIFO as /etc/group, a 2 MiB /etc/passwd.
    trap_image(&p, "prm-fifo", |r| {
        append(&r.join("etc/passwd"), IN_IMAGE);
        std::fs::remove_file(r.join("etc/group")).ok();
        nix::unistd::mkfifo(&r.join("etc/group"), nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    });
    trap_image(&p, "prm-huge", |r| {
        let mut passwd = std::fs::read_to_string(r.join("etc/passwd")).unwrap_or_default();
        passwd.push_str(IN_IMAGE);
        while passwd.len() < 2 << 20 {
            passwd.push_str("# filler filler filler filler filler filler filler filler filler\n");
        }
        std::fs::write(r.join("etc/passwd"), passwd).unwrap();
    });
    // COPY --chown looks the name up in the base image's layers.
    let ctx = p.project_dir.join("chown");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("f"), "owned\n").unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM prm-link:test\nCOPY --chown=trap:trap f /f\n",
    )
    .unwrap();
    p.compose(
        r#"
services:
  link:
    image: prm-link:test
    command: ["sleep", "1000"]
  chown:
    build: ./chown
    command: ["sleep", "1000"]
  etc:
    image: prm-etc:test
    user: trap
    command: ["sleep", "1000"]
  plain:
    image: busybox:test
    command: ["sleep", "1000"]
networks:
  default:
    ipam:
      config:
        - subnet: SUBNET
"#,
    );
    p.ok(&["up", "-d", "link", "etc", "plain", "chown"]);
    let (out, _) = p.ok(&["exec", "-T", "chown", "stat", "-c", "%u:%g", "/f"]);
    assert_eq!(
        out.trim(),
        "1111:1111",
        "COPY --chown resolved the name through the host's file"
    );

    let (ok, out) = rc_timeout(&p, &["exec", "-T", "-u", "trap", "link", "id"], 60);
    assert!(ok, "exec -u trap: {out}");
    assert!(
        out.contains("uid=1111") && out.contains("gid=1111"),
        "exec -u resolved the name through the host's {}: {out}",
        host_dir.join("passwd").display()
    );
    let (out, _) = p.ok(&["exec", "-T", "etc", "id", "-u"]);
    assert_eq!(out.trim(), "1111", "user: resolved the name through the host's file");

    // From inside a running container: its /etc/group becomes a FIFO.
    let trap = format!(
        "echo '{}' >> /etc/passwd && rm -f /etc/group && mkfifo /etc/group",
        IN_IMAGE.trim()
    );
    p.ok(&["exec", "-T", "plain", "sh", "-c", &trap]);
    let (ok, out) = rc_timeout(&p, &["exec", "-T", "-u", "trap", "plain", "id"], 60);
    assert!(!ok, "exec -u with a FIFO /etc/group succeeded: {out}");
    assert!(out.contains("/etc/group") && out.contains("FIFO"), "{out}");

    p.compose(
        r#"
services:
  fifo-user:
    image: prm-fifo:test
    user: trap
    command: ["sleep", "1000"]
  huge:
    image: prm-huge:test
    user: trap
    command: ["sleep", "1000"]
networks:
  default:
    ipam:
      config:
        - subnet: SUBNET
"#,
    );
    for svc in ["fifo-user", "huge"] {
        let (ok, out) = rc_timeout(&p, &["up", "-d", "--no-deps", svc], 120);
        assert!(!ok, "user: trap in {svc} started: {out}");
        let want = if svc == "huge" { "/etc/passwd" } else { "/etc/group" };
        assert!(out.contains(want), "{svc}: the error does not name {want}: {out}");
    }
}
