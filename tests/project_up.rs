//! The orchestrator end to end (root): the built binary on busybox
//! projects in private state roots. See `project_support` for the harness.

mod project_support;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use project_support::project;

/// A service that exits promptly on SIGTERM (busybox sh as PID 1 ignores
/// signals without a trap).
const LOOP: &str = r#"["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"]"#;

fn started_at(p: &project_support::Project, c: &str) -> chrono::DateTime<chrono::Utc> {
    p.state(c)["started_at"].as_str().unwrap().parse().unwrap()
}

#[test]
fn up_honours_depends_on_and_is_idempotent() {
    let Some(p) = project("deps", 11) else { return };
    p.compose(&format!(
        r#"
services:
  init:
    image: busybox:test
    command: ["sh", "-c", "sleep 0.5; echo init done"]
  web:
    image: busybox:test
    command: {LOOP}
  other:
    image: busybox:test
    command: {LOOP}
  app:
    image: busybox:test
    command: {LOOP}
    depends_on:
      init: {{condition: service_completed_successfully}}
      web: {{condition: service_started}}
networks:
  default:
    ipam: {{config: [{{subnet: SUBNET}}]}}
"#
    ));
    let (_, err) = p.ok(&["up", "-d"]);
    assert!(err.contains("Network rct-deps_default Created"), "{err}");
    let app = format!("{}-app-1", p.name);
    let init = format!("{}-init-1", p.name);
    let web = format!("{}-web-1", p.name);
    let init_state = p.state(&init);
    assert_eq!(init_state["status"], "exited");
    assert_eq!(init_state["exit_code"], 0);
    let init_finished: chrono::DateTime<chrono::Utc> = init_state["finished_at"].as_str().unwrap().parse().unwrap();
    assert!(
        started_at(&p, &app) >= init_finished,
        "app started before init completed"
    );
    assert!(started_at(&p, &app) >= started_at(&p, &web));
    // Independent services do not wait for the slow one.
    assert!(started_at(&p, &format!("{}-other-1", p.name)) < init_finished);
    assert_eq!(p.names().len(), 4);

    let created = p.state(&app)["created_at"].clone();
    let (_, err) = p.ok(&["up", "-d"]);
    assert!(err.contains(&format!("Container {app} Running")), "{err}");
    assert!(!err.contains("Created") && !err.contains("Recreate"), "{err}");
    assert_eq!(p.state(&app)["created_at"], created, "an unchanged container is kept");
}

#[test]
fn a_failed_dependency_is_named_and_its_dependents_not_started() {
    let Some(p) = project("depfail", 12) else { return };
    p.compose(&format!(
        r#"
services:
  migrate:
    image: busybox:test
    command: ["sh", "-c", "exit 3"]
  app:
    image: busybox:test
    command: {LOOP}
    depends_on:
      migrate: {{condition: service_completed_successfully}}
networks:
  default:
    ipam: {{config: [{{subnet: SUBNET}}]}}
"#
    ));
    let out = p.rc(&["up", "-d"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("dependency failed to start") && err.contains("rct-depfail-migrate-1") && err.contains("exit 3"),
        "{err}"
    );
    // As with Docker Compose: the dependent is created, never started.
    let app = p.state(&format!("{}-app-1", p.name));
    assert_eq!(app["status"], "created", "{app}");
    assert!(app["started_at"].is_null(), "{app}");
}

#[test]
fn a_crash_looping_dependency_fails_the_wait_with_its_last_lines() {
    let Some(p) = project("crashloop", 32) else { return };
    p.compose(&format!(
        r#"
services:
  db:
    image: busybox:test
    command: ["sh", "-c", "echo cannot open /run/secrets/db-password; exit 3"]
    restart: always
    healthcheck:
      test: ["CMD", "true"]
      interval: 1s
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
    // Waited on forever before; Docker Compose also waits forever.
    let out = p.rc(&["up", "-d"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let db = format!("{}-db-1", p.name);
    assert!(err.contains(&format!("Container {db} Waiting")), "{err}");
    assert!(
        err.contains("keeps restarting") && err.contains("last exit code 3"),
        "{err}"
    );
    assert!(err.contains("cannot open /run/secrets/db-password"), "{err}");
    let app = p.state(&format!("{}-app-1", p.name));
    assert!(app["started_at"].is_null(), "{app}");
}

#[test]
fn waiting_on_a_healthy_dependency_is_shown() {
    let Some(p) = project("waitshow", 33) else { return };
    p.compose(&format!(
        r#"
services:
  db:
    image: busybox:test
    command: {LOOP}
    healthcheck:
      test: ["CMD", "true"]
      interval: 1s
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
    let (_, err) = p.ok(&["up", "-d"]);
    let db = format!("{}-db-1", p.name);
    let waiting = err.find(&format!("Container {db} Waiting")).expect(&err);
    let healthy = err.find(&format!("Container {db} Healthy")).expect(&err);
    let started = err.find(&format!("Container {}-app-1 Started", p.name)).expect(&err);
    assert!(waiting < healthy && healthy < started, "{err}");
}

#[test]
fn a_command_that_is_not_there_is_not_restarted() {
    let Some(p) = project("norestart", 35) else { return };
    p.compose(
        r#"
services:
  app:
    image: busybox:test
    command: ["flask", "run"]
    restart: always
networks:
  default:
    ipam: {config: [{subnet: SUBNET}]}
"#,
    );
    let out = p.rc(&["up", "-d"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("exec: \"flask\": executable file not found"), "{err}");
    // It showed `Restarting (127)` forever; Docker leaves it `Created`
    // with exit code 127: a restart policy is for processes that ran.
    let app = format!("{}-app-1", p.name);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let state = p.state(&app);
    assert_eq!(state["status"], "created", "{state}");
    assert_eq!(state["exit_code"], 127, "{state}");
    assert_eq!(state["restart_count"], 0, "{state}");
    let (table, _) = p.ok(&["ps", "-a"]);
    assert!(table.contains("Created"), "{table}");
}

#[test]
fn a_config_change_recreates_only_that_service() {
    let Some(p) = project("recreate", 13) else { return };
    let file = |cmd: &str| {
        format!(
            r#"
services:
  web:
    image: busybox:test
    command: {LOOP}
  app:
    image: busybox:test
    command: ["sh", "-c", "trap 'exit 0' TERM; echo {cmd}; while true; do sleep 0.1; done"]
networks:
  default:
    ipam: {{config: [{{subnet: SUBNET}}]}}
"#
        )
    };
    p.compose(&file("one"));
    p.ok(&["up", "-d"]);
    let web = format!("{}-web-1", p.name);
    let app = format!("{}-app-1", p.name);
    let web_created = p.state(&web)["created_at"].clone();
    let app_created = p.state(&app)["created_at"].clone();
    p.compose(&file("two"));
    let (_, err) = p.ok(&["up", "-d"]);
    assert!(err.contains(&format!("Container {app} Recreated")), "{err}");
    assert!(err.contains(&format!("Container {web} Running")), "{err}");
    assert_ne!(p.state(&app)["created_at"], app_created);
    assert_eq!(p.state(&web)["created_at"], web_created);
    p.eventually(10, "the new app's output", || p.logs(&["app"]).contains("two"));
    // --force-recreate recreates even when nothing changed.
    let (_, err) = p.ok(&["up", "-d", "--force-recreate", "web"]);
    assert!(err.contains(&format!("Container {web} Recreated")), "{err}");
}

#[test]
fn orphans_are_reported_then_removed_on_request() {
    let Some(p) = project("orphans", 14) else { return };
    let two = format!(
        "services:\n  a: {{image: busybox:test, command: {LOOP}}}\n  b: {{image: busybox:test, command: {LOOP}}}\nnetworks:\n  default:\n    ipam: {{config: [{{subnet: SUBNET}}]}}\n"
    );
    p.compose(&two);
    p.ok(&["up", "-d"]);
    p.compose(&two.replace(&format!("  b: {{image: busybox:test, command: {LOOP}}}\n"), ""));
    let (_, err) = p.ok(&["up", "-d"]);
    assert!(err.contains("Found orphan containers (rct-orphans-b-1)"), "{err}");
    assert!(p.names().contains(&"rct-orphans-b-1".to_string()));
    // COMPOSE_IGNORE_ORPHANS (here from .env) silences the warning.
    std::fs::write(p.project_dir.join(".env"), "COMPOSE_IGNORE_ORPHANS=true\n").unwrap();
    let (_, err) = p.ok(&["up", "-d"]);
    assert!(!err.contains("Found orphan"), "{err}");
    // COMPOSE_REMOVE_ORPHANS from the process's environment acts as
    // --remove-orphans; COMPOSE_STATUS_STDOUT moves progress to stdout.
    let out = p
        .command(&["up", "-d"])
        .env("COMPOSE_REMOVE_ORPHANS", "1")
        .env("COMPOSE_STATUS_STDOUT", "true")
        .output()
        .unwrap();
    assert!(out.status.success());
    let so = String::from_utf8_lossy(&out.stdout);
    assert!(so.contains("Container rct-orphans-b-1 Removed"), "{so}");
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(p.names(), vec!["rct-orphans-a-1"]);
    std::fs::remove_file(p.project_dir.join(".env")).unwrap();

    p.compose(&two);
    p.ok(&["up", "-d"]);
    p.compose(&two.replace(&format!("  b: {{image: busybox:test, command: {LOOP}}}\n"), ""));
    let (_, err) = p.ok(&["up", "-d", "--remove-orphans"]);
    assert!(err.contains("Container rct-orphans-b-1 Removed"), "{err}");
    assert_eq!(p.names(), vec!["rct-orphans-a-1"]);
}

#[test]
fn scale_up_and_down() {
    let Some(p) = project("scale", 15) else { return };
    p.compose(&format!(
        "services:\n  web: {{image: busybox:test, command: {LOOP}}}\nnetworks:\n  default:\n    ipam: {{config: [{{subnet: SUBNET}}]}}\n"
    ));
    p.ok(&["up", "-d", "--scale", "web=3"]);
    assert_eq!(p.names(), vec!["rct-scale-web-1", "rct-scale-web-2", "rct-scale-web-3"]);
    for c in p.ps() {
        assert_eq!(c["State"], "running", "{c}");
    }
    let (_, err) = p.ok(&["up", "-d", "--scale", "web=1"]);
    assert!(err.contains("Container rct-scale-web-3 Removed"), "{err}");
    assert_eq!(p.names(), vec!["rct-scale-web-1"]);
}

#[test]
fn down_v_removes_exactly_the_projects_resources() {
    let Some(p) = project("downv", 16) else { return };
    p.compose(&format!(
        r#"
services:
  db:
    image: busybox:test
    command: ["sh", "-c", "trap 'exit 0' TERM; echo kept > /data/f; while true; do sleep 0.1; done"]
    volumes: ["data:/data", "/anon"]
volumes:
  data: {{}}
networks:
  default:
    ipam: {{config: [{{subnet: SUBNET}}]}}
"#
    ));
    let other = rcompose::volume::VolumeStore::new(&p.root);
    other.create("someone-elses", Default::default()).unwrap();
    p.ok(&["up", "-d"]);
    let data = p.root.join("volumes/rct-downv_data/_data/f");
    p.eventually(10, "the volume to be written", || data.exists());
    // Data in a named volume survives `down` without -v, and a new `up`.
    p.ok(&["down", "-t", "1"]);
    assert!(data.exists());
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
    p.ok(&["up", "-d"]);
    let (_, err) = p.ok(&["down", "-v", "-t", "1"]);
    assert!(err.contains("Volume rct-downv_data Removed"), "{err}");
    assert!(err.contains("Network rct-downv_default Removed"), "{err}");
    let left: Vec<String> = other.list().unwrap().into_iter().map(|v| v.name).collect();
    assert_eq!(
        left,
        vec!["someone-elses"],
        "only the project's volumes (named and anonymous) go"
    );
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
    let links = std::process::Command::new("ip").args(["-br", "link"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&links.stdout).contains("rc-rct-downv"));
}

#[test]
fn logs_follow_tail_two_services_while_one_restarts() {
    let Some(p) = project("logs", 17) else { return };
    p.compose(
        r#"
services:
  ticker:
    image: busybox:test
    command: ["sh", "-c", "trap 'exit 0' TERM; i=0; while true; do i=$$((i+1)); echo tick $$i; sleep 0.2; done"]
  crasher:
    image: busybox:test
    restart: on-failure:2
    command: ["sh", "-c", "echo crasher up; sleep 0.5; exit 1"]
networks:
  default:
    ipam: {config: [{subnet: SUBNET}]}
"#,
    );
    p.ok(&["up", "-d"]);
    std::thread::sleep(Duration::from_millis(1500));
    let tail = p.logs(&["--tail=4", "ticker"]);
    assert_eq!(tail.lines().count(), 4, "{tail}");
    assert!(tail.lines().all(|l| l.starts_with("ticker-1  | tick ")), "{tail}");

    let mut child = p
        .command(&["logs", "-f", "--tail=4"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sink = lines.clone();
    std::thread::spawn(move || {
        for l in BufReader::new(stdout).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(l);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(15);
    let done = || {
        let l = lines.lock().unwrap();
        let ups = l.iter().filter(|x| x.contains("crasher-1  | crasher up")).count();
        let ticks = l.iter().filter(|x| x.starts_with("ticker-1   | tick")).count();
        ups >= 3 && ticks >= 10
    };
    while Instant::now() < deadline && !done() {
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    let finished = done();
    let l = lines.lock().unwrap();
    assert!(finished, "followed output: {l:#?}");
    // In time order: tick numbers only grow.
    let ticks: Vec<u32> = l
        .iter()
        .filter_map(|x| x.strip_prefix("ticker-1   | tick "))
        .map(|n| n.trim().parse().unwrap())
        .collect();
    assert!(ticks.windows(2).all(|w| w[1] == w[0] + 1), "{ticks:?}");
    assert_eq!(p.state("rct-logs-crasher-1")["restart_count"], 2);
}

#[test]
fn attached_up_streams_logs_and_stops_on_ctrl_c() {
    let Some(p) = project("attached", 18) else { return };
    p.compose(
        r#"
services:
  web:
    image: busybox:test
    command: ["sh", "-c", "trap 'echo got TERM; exit 0' TERM; echo ready; while true; do sleep 0.1; done"]
networks:
  default:
    ipam: {config: [{subnet: SUBNET}]}
"#,
    );
    let mut child = p
        .command(&["up"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "Attaching to web-1\n");
    line.clear();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "web-1  | ready\n");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(err.contains("Gracefully stopping..."), "{err}");
    assert!(err.contains("Container rct-attached-web-1 Stopped"), "{err}");
    assert_eq!(p.state("rct-attached-web-1")["status"], "exited");
    assert_eq!(p.state("rct-attached-web-1")["exit_code"], 0);
    assert!(p.logs(&[]).contains("got TERM"));
}

#[test]
fn concurrent_ups_are_serialized_by_the_project_lock() {
    let Some(p) = project("lock", 19) else { return };
    p.compose(&format!(
        "services:\n  web: {{image: busybox:test, command: {LOOP}, scale: 3}}\nnetworks:\n  default:\n    ipam: {{config: [{{subnet: SUBNET}}]}}\n"
    ));
    let a = p.command(&["up", "-d"]).stderr(Stdio::piped()).spawn().unwrap();
    let b = p.command(&["up", "-d"]).stderr(Stdio::piped()).spawn().unwrap();
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
    assert_eq!(p.names(), vec!["rct-lock-web-1", "rct-lock-web-2", "rct-lock-web-3"]);
    let created = |o: &std::process::Output| String::from_utf8_lossy(&o.stderr).matches("Created").count();
    // One of them created the network and the three containers; the other found them.
    assert_eq!(created(&a) + created(&b), 4);
}

#[test]
fn a_killed_up_is_cleaned_up_by_down() {
    let Some(p) = project("killed", 20) else { return };
    let mut yaml = String::from("services:\n");
    for i in 0..6 {
        yaml.push_str(&format!("  s{i}: {{image: busybox:test, command: {LOOP}}}\n"));
    }
    yaml.push_str("networks:\n  default:\n    ipam: {config: [{subnet: SUBNET}]}\n");
    p.compose(&yaml);
    for delay_ms in [60u64, 150, 300] {
        let mut child = p.command(&["up", "-d"]).stderr(Stdio::null()).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        p.ok(&["down", "-t", "1"]);
        assert!(
            p.leftovers().is_empty(),
            "after a kill at {delay_ms} ms: {:?}",
            p.leftovers()
        );
        let links = std::process::Command::new("ip").args(["-br", "link"]).output().unwrap();
        assert!(!String::from_utf8_lossy(&links.stdout).contains("rc-rct-killed"));
    }
}

#[test]
fn run_rm_returns_the_exit_code_and_leaves_nothing() {
    let Some(p) = project("run", 21) else { return };
    p.compose(&format!(
        r#"
services:
  db:
    image: busybox:test
    command: {LOOP}
  tool:
    image: busybox:test
    depends_on: [db]
    environment: [FROM_FILE=1]
    volumes: [data:/data]
  keep:
    image: busybox:test
    stdin_open: true
    command: ["sh", "-c", "read line; echo input-ended"]
networks:
  default:
    ipam: {{config: [{{subnet: SUBNET}}]}}
volumes:
  data: {{}}
"#
    ));
    // Nothing is up and --no-deps: run makes the network and the volume.
    let (out, _) = p.ok(&[
        "run",
        "--rm",
        "--no-deps",
        "tool",
        "sh",
        "-c",
        "echo kept > /data/f; cat /data/f",
    ]);
    assert_eq!(out, "kept\n");
    assert!(p.names().is_empty());
    assert_eq!(p.ok(&["volume", "ls", "-q"]).0, "rct-run_data\n");
    // An attached run reads the caller's input until it ends.
    let mut child = p
        .command(&[
            "run",
            "--rm",
            "--no-deps",
            "-T",
            "tool",
            "sh",
            "-c",
            "tr a-z A-Z; echo done",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut input = child.stdin.take().unwrap();
        input.write_all(b"piped in\nsecond line\n").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "PIPED IN\nSECOND LINE\ndone\n");
    // stdin_open in a detached service: its input stays open, reads wait.
    p.ok(&["up", "-d", "keep"]);
    std::thread::sleep(std::time::Duration::from_millis(800));
    assert_eq!(p.state("rct-run-keep-1")["status"], "running");
    assert!(!p.logs(&["keep"]).contains("input-ended"));
    p.ok(&["kill", "keep"]);
    p.ok(&["rm", "-f", "keep"]);

    let out = p.rc(&[
        "run",
        "--rm",
        "-e",
        "EXTRA=2",
        "tool",
        "sh",
        "-c",
        "echo $FROM_FILE$EXTRA; exit 7",
    ]);
    assert_eq!(out.status.code(), Some(7), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "12\n");
    // The dependency was started; the one-off is gone.
    assert_eq!(p.names(), vec!["rct-run-db-1"]);
    let (id, _) = p.ok(&[
        "run",
        "-d",
        "--name",
        "rct-run-once",
        "tool",
        "sh",
        "-c",
        "echo detached",
    ]);
    assert_eq!(id.trim(), "rct-run-once");
    p.eventually(10, "the detached one-off to exit", || {
        p.state("rct-run-once")["status"] == "exited"
    });
    assert!(p.names().contains(&"rct-run-once".to_string()));
}

#[test]
fn volumes_networks_and_images_of_the_engine() {
    let Some(p) = project("objects", 22) else { return };
    p.compose(&format!(
        "services:\n  a: {{image: busybox:test, command: {LOOP}, volumes: [\"v:/v\"], networks: [n]}}\nvolumes:\n  v: {{}}\nnetworks:\n  n:\n    ipam: {{config: [{{subnet: SUBNET}}]}}\n"
    ));
    p.ok(&["up", "-d"]);
    let (ls, _) = p.ok(&["volume", "ls", "-q"]);
    assert_eq!(ls, "rct-objects_v\n");
    let out = p.rc(&["volume", "rm", "rct-objects_v"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("in use by container rct-objects-a-1"));
    let (ls, _) = p.ok(&["network", "ls", "-q"]);
    assert_eq!(ls, "rct-objects_n\n");
    let (inspect, _) = p.ok(&["network", "inspect", "rct-objects_n"]);
    let v: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    assert_eq!(v[0]["Containers"][0], "rct-objects-a-1");
    assert_eq!(v[0]["IPAM"]["Config"][0]["Subnet"], format!("10.232.{}.0/24", p.subnet));
    let (images, _) = p.ok(&["images"]);
    assert!(images.contains("rct-objects-a-1   busybox      test"), "{images}");
    // An image in use survives `image prune -a`.
    p.ok(&["image", "prune", "-a", "-f"]);
    let (ls, _) = p.ok(&["image", "ls", "-q"]);
    assert_eq!(ls.lines().count(), 1);
    p.ok(&["down", "-t", "0"]);
    p.ok(&["volume", "create", "extra"]);
    let (pruned, _) = p.ok(&["volume", "prune", "-a", "-f"]);
    assert!(pruned.contains("extra") && pruned.contains("rct-objects_v"), "{pruned}");
}

#[test]
fn up_wait_takes_a_one_shot_dependency_as_done_once_it_exited_0() {
    // Docker Compose waits for a service others depend on with
    // service_completed_successfully as completed, not as running.
    let Some(p) = project("wait_oneshot", 47) else { return };
    p.compose(&format!(
        r#"
services:
  migrate:
    image: busybox:test
    command: ["sh", "-c", "sleep 0.3; echo migrated"]
  web:
    image: busybox:test
    command: {LOOP}
    depends_on:
      migrate: {{condition: service_completed_successfully}}
networks:
  default:
    ipam: {{config: [{{subnet: SUBNET}}]}}
"#
    ));
    let (_, err) = p.ok(&["up", "-d", "--wait", "--wait-timeout", "30"]);
    let migrate = format!("{}-migrate-1", p.name);
    let web = format!("{}-web-1", p.name);
    assert!(err.contains(&format!("Container {migrate} Exited")), "{err}");
    assert!(err.contains(&format!("Container {web} Healthy")), "{err}");
    let ps = p.ps();
    let state = |name: &str| ps.iter().find(|c| c["Name"] == name).unwrap()["State"].clone();
    assert_eq!(state(&migrate), "exited");
    assert_eq!(state(&web), "running");

    // A one-shot that fails is a failure of --wait.
    p.compose(&format!(
        r#"
services:
  migrate:
    image: busybox:test
    command: ["sh", "-c", "exit 3"]
  web:
    image: busybox:test
    command: {LOOP}
    depends_on:
      migrate: {{condition: service_completed_successfully}}
networks:
  default:
    ipam: {{config: [{{subnet: SUBNET}}]}}
"#
    ));
    let out = p.rc(&["up", "-d", "--wait", "--wait-timeout", "30"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&migrate) && err.contains('3'), "{err}");
}

#[test]
fn volume_rm_force_of_a_missing_volume_succeeds() {
    let Some(p) = project("volrm", 48) else { return };
    let out = p.rc(&["volume", "rm", "rct-volrm-nothing"]);
    assert!(!out.status.success(), "without -f a missing volume is an error");
    let (so, _) = p.ok(&["volume", "rm", "-f", "rct-volrm-nothing"]);
    assert_eq!(so, "rct-volrm-nothing\n");
    p.ok(&["volume", "create", "rct-volrm-real"]);
    let (so, _) = p.ok(&["volume", "rm", "-f", "rct-volrm-real", "rct-volrm-nothing"]);
    assert_eq!(so, "rct-volrm-real\nrct-volrm-nothing\n");
    let (so, _) = p.ok(&["volume", "ls", "-q"]);
    assert!(!so.contains("rct-volrm-real"), "{so}");
}

#[test]
fn attached_up_says_what_it_attaches_to_and_how_each_container_exited() {
    let Some(p) = project("attach_exit", 49) else { return };
    p.compose(
        r#"
services:
  a:
    image: busybox:test
    command: ["sh", "-c", "echo a1; sleep 1; echo a2; exit 3"]
  b:
    image: busybox:test
    command: ["sh", "-c", "echo b1"]
networks:
  default:
    ipam: {config: [{subnet: SUBNET}]}
"#,
    );
    let (so, _) = p.ok(&["up"]);
    let lines: Vec<&str> = so.lines().collect();
    assert_eq!(lines.first(), Some(&"Attaching to a-1, b-1"), "{so}");
    let pos = |l: &str| {
        lines
            .iter()
            .position(|x| *x == l)
            .unwrap_or_else(|| panic!("no {l:?} in:\n{so}"))
    };
    // each container's exit comes after its last line
    assert!(pos("a-1  | a2") < pos("a-1 exited with code 3"), "{so}");
    assert!(pos("b-1  | b1") < pos("b-1 exited with code 0"), "{so}");
    assert_eq!(so.matches("exited with code").count(), 2, "{so}");
}

#[test]
fn attached_up_follows_the_named_services_and_aborts_on_a_failure() {
    let Some(p) = project("attach_deps", 50) else { return };
    p.compose(
        r#"
services:
  db:
    image: busybox:test
    command: ["sh", "-c", "echo d; sleep 1"]
  web:
    image: busybox:test
    command: ["sh", "-c", "echo w"]
    depends_on: [db]
networks:
  default:
    ipam: {config: [{subnet: SUBNET}]}
"#,
    );
    // `up web` attaches to web alone; its dependency still starts.
    let (so, _) = p.ok(&["up", "web"]);
    assert!(so.starts_with("Attaching to web-1\n"), "{so}");
    assert!(so.contains("web-1  | w"), "{so}");
    assert!(!so.contains("db-1  |"), "{so}");
    p.ok(&["down", "-t", "0"]);
    let (so, _) = p.ok(&["up", "--attach-dependencies", "web"]);
    assert!(so.starts_with("Attaching to db-1, web-1\n"), "{so}");
    // (db-1 is padded to web-1's width)
    assert!(so.contains("db-1   | d") && so.contains("web-1  | w"), "{so}");
    assert!(so.contains("db-1 exited with code 0"), "{so}");
    p.ok(&["down", "-t", "0"]);

    // A failing container stops the others.
    p.compose(&format!(
        r#"
services:
  job:
    image: busybox:test
    command: ["sh", "-c", "sleep 0.5; exit 5"]
  web:
    image: busybox:test
    command: {LOOP}
networks:
  default:
    ipam: {{config: [{{subnet: SUBNET}}]}}
"#
    ));
    let out = p.rc(&["up", "--abort-on-container-failure"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Aborting on container exit..."), "{err}");
    let ps = p.ps();
    assert!(ps.iter().all(|c| c["State"] == "exited"), "{ps:?}");
}

#[test]
fn run_detached_keeps_input_open_and_publish_replaces_the_ports() {
    let Some(p) = project("run_detached", 51) else { return };
    p.compose(
        r#"
services:
  web:
    image: busybox:test
    ports: ["127.0.0.1:18251:80"]
networks:
  default:
    ipam: {config: [{subnet: SUBNET}]}
"#,
    );
    // `cat` reads an input that stays open: it keeps running.
    let (so, _) = p.ok(&["run", "-d", "--publish", "127.0.0.1:18252:80", "web", "cat"]);
    let name = so.trim().to_string();
    std::thread::sleep(Duration::from_millis(800));
    let ps = p.ps();
    let c = ps
        .iter()
        .find(|c| c["Name"] == name.as_str())
        .unwrap_or_else(|| panic!("{name} in {ps:?}"));
    assert_eq!(c["State"], "running", "{c}");
    let published: Vec<u64> = c["Publishers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["PublishedPort"].as_u64())
        .filter(|p| *p != 0)
        .collect();
    assert_eq!(published, vec![18252], "{c}");
    p.ok(&["down", "-t", "0"]);
}

#[test]
fn start_brings_dependencies_and_f_scopes_stop_and_exec_finds_a_one_off() {
    let Some(p) = project("start_deps", 53) else { return };
    p.compose(&format!(
        r#"
services:
  db:
    image: busybox:test
    command: {LOOP}
  web:
    image: busybox:test
    command: {LOOP}
    depends_on: [db]
  tool:
    image: busybox:test
    profiles: [tools]
networks:
  default:
    ipam: {{config: [{{subnet: SUBNET}}]}}
"#
    ));
    p.ok(&["up", "-d"]);
    p.ok(&["stop"]);
    let (_, err) = p.ok(&["start", "web"]);
    let db = format!("{}-db-1", p.name);
    let web = format!("{}-web-1", p.name);
    assert!(err.contains(&format!("Container {db} Started")), "{err}");
    let state = |name: &str| p.state(name)["status"].as_str().unwrap().to_string();
    assert_eq!((state(&db), state(&web)), ("running".into(), "running".into()));

    // -f with a file that names only db: stop leaves web alone.
    std::fs::write(
        p.project_dir.join("only-db.yaml"),
        format!("services:\n  db:\n    image: busybox:test\n    command: {LOOP}\nnetworks:\n  default:\n    ipam: {{config: [{{subnet: 10.232.{}.0/24}}]}}\n", p.subnet),
    )
    .unwrap();
    p.ok(&["-f", "only-db.yaml", "stop"]);
    assert_eq!((state(&db), state(&web)), ("exited".into(), "running".into()));

    // exec reaches a service's only one-off when it has no container of its own.
    let (so, _) = p.ok(&["--profile", "tools", "run", "-d", "tool", "cat"]);
    let (out, _) = p.ok(&["--profile", "tools", "exec", "-T", "tool", "echo", "in the one-off"]);
    assert_eq!(out, "in the one-off\n", "one-off {so}");
    p.ok(&["--profile", "tools", "down", "-t", "0"]);
}

#[test]
fn run_pull_policy_flags() {
    let Some(p) = project("run_pull", 54) else { return };
    p.compose(
        r#"
services:
  web:
    image: busybox:test
  gone:
    image: busybox:not-here
networks:
  default:
    ipam: {config: [{subnet: SUBNET}]}
"#,
    );
    let (so, _) = p.ok(&["run", "--rm", "--quiet-pull", "--pull", "missing", "web", "echo", "ran"]);
    assert_eq!(so, "ran\n");
    // never: a missing image is an error, and nothing is asked of a registry.
    let out = p.rc(&["run", "--rm", "--pull", "never", "gone", "true"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("busybox:not-here"), "{err}");
    assert!(!err.contains("Pulling"), "{err}");
}

#[test]
fn down_service_takes_down_it_and_its_dependents_only() {
    let Some(p) = project("down_svc", 55) else { return };
    p.compose(&format!(
        r#"
services:
  db:
    image: busybox:test
    command: {LOOP}
  web:
    image: busybox:test
    command: {LOOP}
    depends_on: [db]
  cache:
    image: busybox:test
    command: {LOOP}
networks:
  default:
    ipam: {{config: [{{subnet: SUBNET}}]}}
"#
    ));
    p.ok(&["up", "-d"]);
    let (_, err) = p.ok(&["down", "db"]);
    // db and web (which depends on it) are gone; cache and the network stay.
    assert_eq!(p.names(), vec![format!("{}-cache-1", p.name)], "{err}");
    assert!(!err.contains("Network"), "{err}");
    let (so, _) = p.ok(&["exec", "-T", "cache", "true"]);
    assert_eq!(so, "");
    // The last service down takes the network with it.
    let (_, err) = p.ok(&["down", "cache"]);
    assert!(err.contains(&format!("Network {}_default Removed", p.name)), "{err}");
    assert!(p.names().is_empty());
    assert!(!p.rc(&["down", "nope"]).status.success());
}

#[test]
fn post_start_and_pre_stop_hooks_run_in_the_container() {
    let Some(p) = project("hooks", 56) else { return };
    p.compose(&format!(
        r#"
services:
  web:
    image: busybox:test
    command: {LOOP}
    volumes: [data:/data]
    post_start:
      - command: ["sh", "-c", "echo started as $$(id -u) with $$GREETING >> /data/log"]
        user: "65534"
        environment: {{GREETING: hello}}
      # What a hook gets, seen from inside: its fds, signal dispositions
      # and mask, and the program it runs.
      # (busybox sh ignores SIGQUIT itself: the signals are cp's own)
      - command: ["cp", "/proc/self/status", "/data/hook-status"]
      - command: ["sh", "-c", "ls /proc/$$$$/fd | tr '\\n' ' ' > /data/hook; echo >> /data/hook; readlink /proc/$$$$/exe >> /data/hook"]
    pre_stop:
      - command: sh -c 'echo stopping >> /data/log'
volumes:
  data: {{}}
networks:
  default:
    ipam: {{config: [{{subnet: SUBNET}}]}}
"#
    ));
    // (the volume is root's; the hook running as 65534 needs to write it)
    p.ok(&["up", "-d", "--no-start"]);
    p.ok(&["run", "--rm", "--no-deps", "web", "chmod", "777", "/data"]);
    p.ok(&["up", "-d"]);
    p.ok(&["stop"]);
    p.ok(&["start"]);
    let (so, _) = p.ok(&["exec", "-T", "web", "cat", "/data/log"]);
    assert_eq!(
        so, "started as 65534 with hello\nstopping\nstarted as 65534 with hello\n",
        "post_start on each start, pre_stop before the stop"
    );
    // A hook enters as exec does: fds 0-2 only, default signals, an empty
    // mask, and the container's program, never the rcompose binary.
    let (seen, _) = p.ok(&["exec", "-T", "web", "cat", "/data/hook"]);
    let mut lines = seen.lines();
    assert_eq!(lines.next(), Some("0 1 2 "), "{seen}");
    let exe = lines.next().unwrap_or_default();
    assert!(exe.contains("busybox") && !exe.contains("rcompose"), "{seen}");
    let (status, _) = p.ok(&["exec", "-T", "web", "cat", "/data/hook-status"]);
    assert!(status.contains("SigBlk:\t0000000000000000"), "{status}");
    assert!(status.contains("SigIgn:\t0000000000000000"), "{status}");

    // A failing post_start fails up and names the hook.
    p.compose(&format!(
        r#"
services:
  web:
    image: busybox:test
    command: {LOOP}
    post_start:
      - command: ["sh", "-c", "echo no good >&2; exit 3"]
networks:
  default:
    ipam: {{config: [{{subnet: SUBNET}}]}}
"#
    ));
    let out = p.rc(&["up", "-d"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("post_start hook") && err.contains("exited with code 3") && err.contains("no good"),
        "{err}"
    );
    p.ok(&["down", "-v", "-t", "0"]);
}

#[test]
fn scale_sets_replicas_keeping_the_existing_ones() {
    let Some(p) = project("scale_cmd", 57) else { return };
    p.compose(&format!(
        r#"
services:
  web:
    image: busybox:test
    command: {LOOP}
  other:
    image: busybox:test
    command: {LOOP}
networks:
  default:
    ipam: {{config: [{{subnet: SUBNET}}]}}
"#
    ));
    p.ok(&["up", "-d"]);
    let first = started_at(&p, &format!("{}-web-1", p.name));
    p.ok(&["scale", "web=3"]);
    let n = &p.name;
    assert_eq!(
        p.names(),
        vec![
            format!("{n}-other-1"),
            format!("{n}-web-1"),
            format!("{n}-web-2"),
            format!("{n}-web-3")
        ]
    );
    assert_eq!(
        started_at(&p, &format!("{n}-web-1")),
        first,
        "the first replica was kept"
    );
    p.ok(&["scale", "web=1"]);
    assert_eq!(p.names(), vec![format!("{n}-other-1"), format!("{n}-web-1")]);
    assert!(!p.rc(&["scale", "web"]).status.success());
}

#[test]
fn all_resources_creates_what_no_service_uses() {
    let Some(p) = project("all_res", 58) else { return };
    p.compose(&format!(
        r#"
services:
  web:
    image: busybox:test
    command: {LOOP}
networks:
  default:
    ipam: {{config: [{{subnet: SUBNET}}]}}
  spare:
    ipam: {{config: [{{subnet: 10.232.59.0/24}}]}}
volumes:
  spare-data: {{}}
"#
    ));
    let (_, err) = p.ok(&["up", "-d"]);
    assert!(!err.contains("spare"), "{err}");
    let (_, err) = p.ok(&["--all-resources", "up", "-d"]);
    assert!(err.contains("Network rct-all-res_spare Created"), "{err}");
    assert!(err.contains("Volume rct-all-res_spare-data Created"), "{err}");
    p.ok(&["down", "-v", "-t", "0"]);
    let (so, _) = p.ok(&["network", "ls", "-q"]);
    assert!(!so.contains("rct-all-res"), "{so}");
}
