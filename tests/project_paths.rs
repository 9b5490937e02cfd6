//! Root tests, through the CLI, of the paths a container needs: a missing
//! working directory is made as Docker makes it (for a service and for
//! `run -w`), and a working directory that cannot be made, a mount target
//! that does not fit, or a command that is not there fail with a message
//! that names the path (and, for `run`, Docker's exit code).
//! Harness: `project_support`.

mod project_support;

use project_support::project;

#[test]
fn missing_working_directories_are_made() {
    let Some(p) = project("bld_workdir", 121) else { return };
    p.compose(
        r#"
services:
  wd:
    image: busybox:test
    user: app
    working_dir: /srv/new/deep
    command: ["sh", "-c", "pwd; stat -c '%u %a' /srv/new /srv/new/deep"]
  invol:
    image: busybox:test
    working_dir: /data/work
    volumes: [data:/data]
    command: ["sh", "-c", "pwd; ls /data"]
networks:
  default:
    ipam: {config: [{subnet: SUBNET}]}
volumes:
  data: {}
"#,
    );
    let (out, _) = p.ok(&["run", "--rm", "-T", "wd"]);
    assert_eq!(out, "/srv/new/deep\n0 755\n0 755\n");
    let (out, _) = p.ok(&["run", "--rm", "-T", "-w", "/made/by/run", "wd", "pwd"]);
    assert_eq!(out, "/made/by/run\n");
    let (out, _) = p.ok(&["run", "--rm", "-T", "invol"]);
    assert_eq!(
        out, "/data/work\nwork\n",
        "made in the volume, where the process meets it"
    );
    // A service started by `up` gets it too.
    p.ok(&["up", "-d", "wd"]);
    p.eventually(10, "wd to exit", || {
        p.state("rct-bld-workdir-wd-1")["status"] == "exited"
    });
    assert_eq!(p.state("rct-bld-workdir-wd-1")["exit_code"], 0);
    assert!(p.logs(&["wd"]).contains("/srv/new/deep"), "{}", p.logs(&["wd"]));
}

#[test]
fn paths_that_cannot_be_used_are_named() {
    let Some(p) = project("bld_paths", 122) else { return };
    std::fs::create_dir_all(p.project_dir.join("data")).unwrap();
    p.compose(
        r#"
services:
  underfile:
    image: busybox:test
    working_dir: /etc/passwd/x
    command: ["true"]
  onfile:
    image: busybox:test
    volumes: ["./data:/etc/passwd"]
    command: ["true"]
  nocmd:
    image: busybox:test
    command: ["flask", "run"]
  noscript:
    image: busybox:test
    command: ["/app/run.sh"]
networks:
  default:
    ipam: {config: [{subnet: SUBNET}]}
"#,
    );
    let fails = |args: &[&str]| {
        let out = p.rc(args);
        assert!(!out.status.success(), "{args:?} should fail");
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (_, e) = fails(&["up", "-d", "underfile"]);
    assert!(
        e.contains("working directory /etc/passwd/x cannot be created: /etc/passwd is a file in the image"),
        "{e}"
    );
    let (_, e) = fails(&["run", "--rm", "-w", "/etc/passwd", "underfile"]);
    assert!(
        e.contains("working directory /etc/passwd is a file in the image"),
        "{e}"
    );
    let (_, e) = fails(&["up", "-d", "onfile"]);
    assert!(
        e.contains("mount target /etc/passwd is not a directory in the image"),
        "{e}"
    );
    assert!(
        !e.contains("failed to prepare rootfs") && !e.contains("unix syscall"),
        "{e}"
    );
    let (_, e) = fails(&["up", "-d", "nocmd"]);
    assert!(
        e.contains(r#"exec: "flask": executable file not found in $PATH (/usr/sbin:/usr/bin:/sbin:/bin)"#),
        "{e}"
    );
    let (code, e) = fails(&["run", "--rm", "nocmd"]);
    assert_eq!(code, Some(127), "{e}");
    assert!(
        e.contains(r#"exec: "flask": executable file not found in $PATH"#),
        "{e}"
    );
    let (code, e) = fails(&["run", "--rm", "noscript"]);
    assert_eq!(code, Some(127), "{e}");
    assert!(
        e.contains(r#"exec: "/app/run.sh": stat /app/run.sh: no such file or directory"#),
        "{e}"
    );
    let (code, e) = fails(&["run", "--rm", "noscript", "/etc/passwd"]);
    assert_eq!(code, Some(126), "{e}");
    assert!(e.contains(r#"exec: "/etc/passwd": permission denied"#), "{e}");
}
