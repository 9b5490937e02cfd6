//! The orchestrator end to end (root), part 2: `exec`, healthchecks with
//! `service_healthy`, and services reaching each other by name and from the
//! host through a published port. Harness: `project_support`.

mod project_support;

use std::io::Write;
use std::process::Stdio;

use project_support::project;

const LOOP: &str = r#"["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"]"#;

fn field<'a>(status: &'a str, key: &str) -> Option<&'a str> {
    status.lines().find_map(|l| l.strip_prefix(key).map(|v| v.trim()))
}

#[test]
fn exec_runs_in_the_container_with_its_environment_user_and_confinement() {
    let Some(p) = project("exec", 23) else { return };
    p.compose(&format!(
        r#"
services:
  web:
    image: busybox:test
    command: {LOOP}
    environment: {{FROM_SERVICE: "svc"}}
networks:
  default:
    ipam: {{config: [{{subnet: SUBNET}}]}}
"#
    ));
    p.ok(&["up", "-d"]);
    let container = format!("{}-web-1", p.name);

    // Environment of the service plus -e, exit code passed through.
    let out = p.rc(&[
        "exec",
        "-T",
        "-e",
        "EXTRA=x y",
        "web",
        "sh",
        "-c",
        "echo $FROM_SERVICE/$EXTRA; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "svc/x y\n");

    // Same PID namespace, hostname, capabilities and seccomp as the init.
    let (so, _) = p.ok(&[
        "exec",
        "-T",
        "web",
        "sh",
        "-c",
        "hostname; cat /proc/self/status; echo INIT; cat /proc/1/status",
    ]);
    let (mine, init) = so.split_once("INIT\n").unwrap();
    assert_eq!(mine.lines().next(), Some(container.as_str()));
    for key in ["CapEff:", "CapBnd:", "Seccomp:"] {
        assert_eq!(field(mine, key), field(init, key), "{key} differs:\n{mine}");
    }
    assert_eq!(field(mine, "Seccomp:"), Some("2"), "seccomp filter not in force");
    // Its PID is small: it lives in the container's PID namespace.
    let pid: u32 = field(mine, "Pid:").unwrap().parse().unwrap();
    assert!(pid < 100, "exec'd process has host PID {pid}");

    // -u and -w; a non-root user has no effective capabilities.
    let (so, _) = p.ok(&[
        "exec",
        "-T",
        "-u",
        "nobody",
        "-w",
        "/tmp",
        "web",
        "sh",
        "-c",
        "id -u; pwd; grep CapEff /proc/self/status",
    ]);
    assert_eq!(so, "65534\n/tmp\nCapEff:\t0000000000000000\n");

    // stdin is passed through.
    let mut child = p
        .command(&["exec", "-T", "web", "sh", "-c", "tr a-z A-Z"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"piped in\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "PIPED IN\n");

    // A missing command: Docker's 127 and a message naming it.
    let out = p.rc(&["exec", "-T", "web", "no-such-tool"]);
    assert_eq!(out.status.code(), Some(127));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-tool"));

    // -d returns at once; the process runs on in the container.
    p.ok(&["exec", "-d", "web", "sh", "-c", "sleep 0.3; echo later > /tmp/detached"]);
    p.eventually(5, "the detached exec", || {
        p.rc(&["exec", "-T", "web", "cat", "/tmp/detached"]).stdout == b"later\n"
    });

    // Not running: a clear error.
    p.ok(&["stop", "-t", "0", "web"]);
    let out = p.rc(&["exec", "-T", "web", "true"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not running"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn service_healthy_waits_for_the_healthcheck_and_health_follows_the_test() {
    let Some(p) = project("health", 24) else { return };
    p.compose(&format!(
        r#"
services:
  db:
    image: busybox:test
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 1; touch /tmp/ready; while true; do sleep 0.1; done"]
    healthcheck:
      test: ["CMD-SHELL", "test -f /tmp/ready"]
      interval: 200ms
      timeout: 1s
      retries: 3
      start_period: 30s
  app:
    image: busybox:test
    command: {LOOP}
    depends_on:
      db: {{condition: service_healthy}}
networks:
  default:
    ipam: {{config: [{{subnet: SUBNET}}]}}
"#
    ));
    p.ok(&["up", "-d"]);
    let db = format!("{}-db-1", p.name);
    let app = format!("{}-app-1", p.name);
    let st = p.state(&db);
    assert_eq!(st["health"], "healthy");
    let log = st["health_log"].as_array().unwrap();
    let healthy_at: chrono::DateTime<chrono::Utc> = log
        .iter()
        .find(|r| r["exit_code"] == 0)
        .map(|r| r["end"].as_str().unwrap().parse().unwrap())
        .unwrap();
    assert!(
        log.iter().any(|r| r["exit_code"] == 1),
        "the first checks should fail: {log:?}"
    );
    let app_started: chrono::DateTime<chrono::Utc> = p.state(&app)["started_at"].as_str().unwrap().parse().unwrap();
    assert!(app_started >= healthy_at, "app started before db was healthy");
    let (so, _) = p.ok(&["ps", "db"]);
    assert!(so.contains("(healthy)"), "{so}");

    // The test starts failing: unhealthy after `retries` failures.
    p.ok(&["exec", "-T", "db", "rm", "/tmp/ready"]);
    p.eventually(10, "db to become unhealthy", || p.state(&db)["health"] == "unhealthy");
    let (so, _) = p.ok(&["ps", "db"]);
    assert!(so.contains("(unhealthy)"), "{so}");
}

#[test]
fn a_dependency_that_never_gets_healthy_is_named() {
    let Some(p) = project("unhealthy", 25) else { return };
    p.compose(&format!(
        r#"
services:
  db:
    image: busybox:test
    command: {LOOP}
    healthcheck:
      test: ["CMD", "false"]
      interval: 100ms
      retries: 2
  app:
    image: busybox:test
    command: {LOOP}
    depends_on:
      db: {{condition: service_healthy}}
networks:
  default:
    ipam: {{config: [{{subnet: SUBNET}}]}}
"#
    ));
    let out = p.rc(&["up", "-d"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{}-db-1", p.name)) && err.contains("unhealthy"),
        "{err}"
    );
    // As with Docker Compose: the dependent is created, never started.
    let app = p.state(&format!("{}-app-1", p.name));
    assert_eq!(app["status"], "created", "{app}");
    assert!(app["started_at"].is_null(), "{app}");
}

#[test]
fn services_reach_each_other_by_name_and_the_host_reaches_published_ports() {
    let Some(p) = project("names", 26) else { return };
    // An ephemeral host port: no clash with anything on this machine.
    p.compose(
        r#"
services:
  web:
    image: busybox:test
    command: ["sh", "-c", "trap 'exit 0' TERM; httpd -f -p 8080 -h /var/www & wait"]
    ports: ["127.0.0.1::8080"]
  client:
    image: busybox:test
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"]
networks:
  default:
    ipam: {config: [{subnet: SUBNET}]}
"#,
    );
    p.ok(&["up", "-d"]);
    let (before, _) = p.ok(&["exec", "-T", "client", "nslookup", "web"]);
    assert!(before.contains(&format!("10.232.{}.", p.subnet)), "{before}");
    let (so, _) = p.ok(&["exec", "-T", "client", "wget", "-q", "-O-", "http://web:8080/"]);
    assert_eq!(so, "hello from web\n");

    let (port, _) = p.ok(&["port", "web", "8080"]);
    let port = port.trim().to_string();
    assert!(port.starts_with("127.0.0.1:"), "{port}");
    let body = std::process::Command::new("curl")
        .args(["-fsS", &format!("http://{port}/")])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&body.stdout), "hello from web\n");

    // A stopped container is gone from the others' lookups at once.
    p.ok(&["stop", "-t", "0", "web"]);
    let out = p.rc(&["exec", "-T", "client", "nslookup", "web"]);
    assert!(!out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    p.ok(&["start", "web"]);
    // Back under its name, at the same address.
    let (after, _) = p.ok(&["exec", "-T", "client", "nslookup", "web"]);
    let addresses = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.contains(&format!("10.232.{}.", p.subnet)))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(addresses(&before), addresses(&after));
}

#[test]
fn top_lists_the_processes_and_wait_returns_exit_codes() {
    let Some(p) = project("top", 27) else { return };
    p.compose(&format!(
        r#"
services:
  web:
    image: busybox:test
    command: {LOOP}
  job:
    image: busybox:test
    command: ["sh", "-c", "sleep 1; exit 4"]
networks:
  default:
    ipam: {{config: [{{subnet: SUBNET}}]}}
"#
    ));
    p.ok(&["up", "-d"]);
    let (so, _) = p.ok(&["top", "web"]);
    let mut lines = so.lines();
    assert_eq!(lines.next(), Some(format!("{}-web-1", p.name).as_str()), "{so}");
    assert!(lines.next().unwrap().starts_with("UID"), "{so}");
    let init_pid = p.state(&format!("{}-web-1", p.name))["pid"].as_i64().unwrap();
    assert!(
        so.lines()
            .any(|l| l.split_whitespace().nth(1) == Some(&init_pid.to_string()) && l.contains("sh -c trap")),
        "the init (PID {init_pid}) is not listed:\n{so}"
    );

    let (so, _) = p.ok(&["wait", "job"]);
    assert_eq!(so, "4\n");
    assert_eq!(p.state(&format!("{}-job-1", p.name))["status"], "exited");
}

#[test]
fn pause_freezes_the_processes_and_unpause_lets_them_go_on() {
    let Some(p) = project("pause", 28) else { return };
    p.compose(
        r#"
services:
  ticker:
    image: busybox:test
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do echo x >> /tmp/ticks; sleep 0.05; done"]
networks:
  default:
    ipam: {config: [{subnet: SUBNET}]}
"#,
    );
    let events = p.command(&["events", "--json"]).stdout(Stdio::piped()).spawn().unwrap();
    // Let it take its first look before anything happens.
    std::thread::sleep(std::time::Duration::from_millis(500));
    p.ok(&["up", "-d"]);
    let c = format!("{}-ticker-1", p.name);
    let pid = p.state(&c)["pid"].as_i64().unwrap();
    let ticks = || {
        std::fs::read(format!("/proc/{pid}/root/tmp/ticks"))
            .map(|b| b.len())
            .unwrap_or(0)
    };
    p.eventually(5, "the first ticks", || ticks() > 0);

    let (_, err) = p.ok(&["pause", "ticker"]);
    assert!(err.contains(&format!("Container {c} Paused")), "{err}");
    let ps = p.ps();
    assert_eq!(ps[0]["State"], "paused", "{ps:?}");
    assert!(ps[0]["Status"].as_str().unwrap().ends_with("(Paused)"), "{ps:?}");
    let frozen_at = ticks();
    std::thread::sleep(std::time::Duration::from_millis(400));
    assert_eq!(ticks(), frozen_at, "a paused container went on running");
    let out = p.rc(&["exec", "-T", "ticker", "true"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("paused"));

    // Pausing what is paused fails as Docker's daemon refuses it.
    let out = p.rc(&["pause", "ticker"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!("Container {c} is already paused")),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    p.ok(&["unpause", "ticker"]);
    p.eventually(5, "ticks after unpause", || ticks() > frozen_at);
    let out = p.rc(&["unpause", "ticker"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("Container {c} is not paused")));

    // A paused container stops at once (it is thawed to get the signal).
    p.ok(&["pause", "ticker"]);
    let t = std::time::Instant::now();
    p.ok(&["stop", "-t", "5", "ticker"]);
    assert!(
        t.elapsed() < std::time::Duration::from_secs(4),
        "stop waited for the grace period"
    );
    assert_eq!(p.state(&c)["exit_code"], 0);
    // Stopping what is stopped reports it stopped, as Docker Compose does.
    let (_, err) = p.ok(&["stop", "ticker"]);
    assert!(err.contains(&format!("Container {c} Stopped")), "{err}");

    // What `events` saw, in order.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(events.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let out = events.wait_with_output().unwrap();
    let actions: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["id"] == c.as_str() && e["service"] == "ticker")
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    // Stopping a paused container thaws it first, as Docker does.
    assert_eq!(
        actions,
        ["create", "start", "pause", "unpause", "pause", "unpause", "die"],
        "{actions:?}"
    );
}

#[test]
fn a_long_container_name_starts_and_stops_like_any_other() {
    // <root>/containers/<name>/control.sock is far beyond the 107 bytes a
    // socket address holds: the container must not care.
    let Some(p) = project("long_names", 46) else { return };
    let service = "s".repeat(90);
    p.compose(&format!(
        r#"
services:
  {service}:
    image: busybox:test
    command: {LOOP}
networks:
  default:
    ipam: {{config: [{{subnet: SUBNET}}]}}
"#
    ));
    p.ok(&["up", "-d"]);
    let container = format!("{}-{service}-1", p.name);
    let sock = p.root.join("containers").join(&container).join("control.sock");
    assert!(sock.as_os_str().len() > 107, "{}", sock.display());
    let ps = p.ps();
    assert_eq!(ps.len(), 1);
    assert_eq!(ps[0]["State"], "running", "{ps:?}");
    let (so, _) = p.ok(&["exec", "-T", &service, "echo", "inside"]);
    assert_eq!(so, "inside\n");
    p.ok(&["stop", &service]);
    let ps = p.ps();
    assert_eq!(ps[0]["State"], "exited", "{ps:?}");
    assert_eq!(ps[0]["ExitCode"], 0, "{ps:?}");
    p.ok(&["down"]);
    assert!(p.names().is_empty());
}
