//! End to end: each example of `examples/compose/` run unchanged, as its
//! README tells a user to, with the built binary; checked by what a user
//! sees (HTTP answers through the published port, data that survives or
//! not, `ps`, `logs --tail=4`) and by nothing left after `down -v`.
//!
//! The Docker Hub images (python, redis, mysql, postgres) are stand-ins made
//! offline from Debian packages by scripts/make-example-images.sh (cached
//! between runs) and pulled from a loopback registry configured as
//! rcompose's `docker.io` mirror. The examples publish fixed ports, so the
//! tests run one at a time.

mod e2e_support;

use e2e_support::{http, mirror, prereqs, serial, Example};
use std::collections::BTreeMap;
use std::process::Command;

/// `logs --tail=4` shows the last four lines of each service: each
/// service's lines are the end of its whole log.
fn assert_tail4(ex: &Example) {
    let (tail, _) = ex.ok(&["logs", "--no-color", "--tail=4"]);
    let (all, _) = ex.ok(&["logs", "--no-color"]);
    let by_prefix = |text: &str| {
        let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for l in text.lines() {
            if let Some((p, rest)) = l.split_once(" | ") {
                m.entry(p.trim().to_string()).or_default().push(rest.to_string());
            }
        }
        m
    };
    let (tail, all) = (by_prefix(&tail), by_prefix(&all));
    assert!(!tail.is_empty(), "logs --tail=4 showed nothing");
    for (container, lines) in &all {
        let got = tail.get(container).cloned().unwrap_or_default();
        // a line written between the two reads may shift the window by one
        let want = &lines[lines.len().saturating_sub(4)..];
        assert!(
            got.len() <= 4,
            "{container}: {} lines with --tail=4: {got:?}",
            got.len()
        );
        assert_eq!(
            got.len(),
            want.len().min(4),
            "{container}: {got:?} vs the log's end {want:?}"
        );
        assert!(
            got.iter().all(|l| lines.contains(l)),
            "{container}: {got:?} not from its log {want:?}"
        );
    }
}

fn assert_nothing_left(ex: &Example) {
    let left = ex.leftovers();
    assert!(left.is_empty(), "left after down -v: {left:#?}");
}

fn make_local_images(ex: &Example) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/make-local-images.sh");
    let out = Command::new("sh")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_rcompose"))
        .env("RCOMPOSE_ROOT", &ex.root)
        .env("RCOMPOSE_RUN", &ex.run)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn hits(body: &str) -> u64 {
    // "... I have been seen N times."
    body.split_whitespace()
        .rev()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {body:?}"))
}

fn health(ex: &Example, service: &str) -> String {
    ex.service(service)["Health"].as_str().unwrap_or("").to_string()
}

/// hello: offline busybox web + client; the count is kept in a named volume.
fn run_hello(example: &str, port: u16) {
    let ex = Example::new(example, None);
    make_local_images(&ex);
    let (_, up) = ex.ok(&["up", "-d"]);
    assert!(up.contains("Started") || up.contains("Healthy"), "{up}");
    let first = hits(&ex.get_ok(port, "/cgi-bin/hits", 60));
    let second = hits(&ex.get_ok(port, "/cgi-bin/hits", 10));
    assert!(second > first, "{first} then {second}");
    // the client reaches web by its service name
    ex.eventually(30, "client's line from http://web/", || {
        let (so, _) = ex.ok(&["logs", "--no-color", "client"]);
        so.contains("Hello from rcompose!").then_some(())
    });
    ex.eventually(30, "web healthy", || (health(&ex, "web") == "healthy").then_some(()));
    let (ps, _) = ex.ok(&["ps"]);
    assert!(ps.contains("(healthy)"), "{ps}");
    assert!(ps.contains(&format!("127.0.0.1:{port}->80/tcp")), "{ps}");
    assert_tail4(&ex);

    ex.ok(&["down"]);
    assert!(
        http(port, "GET", "/", "").is_none(),
        "port {port} still answers after down"
    );
    ex.ok(&["up", "-d"]);
    let after = hits(&ex.get_ok(port, "/cgi-bin/hits", 60));
    assert!(
        after > second,
        "the named volume kept {second}, got {after} after down/up"
    );

    ex.ok(&["down", "-v"]);
    assert_nothing_left(&ex);
}

#[test]
fn hello() {
    let _g = serial();
    if !prereqs("hello") {
        return;
    }
    run_hello("hello", 8080);
}

#[test]
fn hello_build() {
    let _g = serial();
    if !prereqs("hello_build") {
        return;
    }
    run_hello("hello-build", 8081);
}

#[test]
fn flask_redis() {
    let _g = serial();
    if !prereqs("flask_redis") {
        return;
    }
    let reg = mirror();
    let ex = Example::new("flask-redis", Some(&reg));
    // pulls redis:alpine, builds web on python:3.11-alpine, starts both
    ex.ok(&["up", "-d"]);
    let body = ex.get_ok(8000, "/", 60);
    assert_eq!(body, "Hello World! I have been seen 1 times.\n");
    let body = ex.get_ok(8000, "/", 10);
    assert_eq!(body, "Hello World! I have been seen 2 times.\n");

    let (ps, _) = ex.ok(&["ps"]);
    assert!(ps.contains("0.0.0.0:8000->5000/tcp"), "{ps}");
    assert!(ps.contains("6379/tcp"), "redis's exposed port: {ps}");
    // redis's VOLUME /data is an anonymous volume
    let (vols, _) = ex.ok(&["volume", "ls", "-q"]);
    assert_eq!(vols.lines().count(), 1, "{vols}");

    // a recreated redis keeps its data (its anonymous volume goes with it)
    ex.ok(&["up", "-d", "--force-recreate"]);
    let body = ex.get_ok(8000, "/", 60);
    assert_eq!(body, "Hello World! I have been seen 3 times.\n");
    assert_tail4(&ex);

    ex.ok(&["down"]);
    ex.ok(&["up", "-d"]);
    let body = ex.get_ok(8000, "/", 60);
    assert!(body.starts_with("Hello World! I have been seen "), "{body}");

    ex.ok(&["down", "-v"]);
    assert_nothing_left(&ex);
}

#[test]
fn flask_volume() {
    let _g = serial();
    if !prereqs("flask_volume") {
        return;
    }
    let reg = mirror();
    let ex = Example::new("flask-volume", Some(&reg));
    ex.ok(&["up", "-d"]);
    assert_eq!(ex.get_ok(5000, "/", 60).trim(), r#"{"files":[]}"#);
    let (status, body) = http(5000, "POST", "/?name=hello.txt", "hi there").expect("POST");
    assert_eq!((status, body.trim()), (200, r#"{"files":["hello.txt"]}"#));

    // the named volume outlives the container: down/up, --force-recreate
    ex.ok(&["down"]);
    ex.ok(&["up", "-d"]);
    assert_eq!(ex.get_ok(5000, "/", 60).trim(), r#"{"files":["hello.txt"]}"#);
    ex.ok(&["up", "-d", "--force-recreate"]);
    assert_eq!(ex.get_ok(5000, "/", 60).trim(), r#"{"files":["hello.txt"]}"#);
    let (ps, _) = ex.ok(&["ps"]);
    assert!(ps.contains("127.0.0.1:5000->5000/tcp"), "{ps}");
    assert_tail4(&ex);

    // down -v takes the uploads with it
    ex.ok(&["down", "-v"]);
    ex.ok(&["up", "-d"]);
    assert_eq!(ex.get_ok(5000, "/", 60).trim(), r#"{"files":[]}"#);
    ex.ok(&["down", "-v"]);
    assert_nothing_left(&ex);
}

#[test]
fn flask_mysql() {
    let _g = serial();
    if !prereqs("flask_mysql") {
        return;
    }
    let reg = mirror();
    let ex = Example::new("flask-mysql", Some(&reg));
    // waits for the database's healthcheck before starting the backend
    let (_, up) = ex.ok(&["up", "-d"]);
    assert!(up.contains("Healthy"), "{up}");
    assert_eq!(health(&ex, "db"), "healthy");
    assert_eq!(ex.get_ok(8000, "/", 90).trim(), r#"{"blogs":[]}"#);

    let insert = |title: &str| {
        let sql = format!("INSERT INTO blog (title) VALUES ('{title}')");
        ex.ok(&[
            "exec",
            "-T",
            "db",
            "sh",
            "-c",
            &format!("mysql -uroot -p\"$(cat /run/secrets/db-password)\" example -e \"{sql}\""),
        ]);
    };
    insert("first post");
    assert_eq!(ex.get_ok(8000, "/", 10).trim(), r#"{"blogs":["first post"]}"#);

    // rows survive a restart of the database container...
    ex.ok(&["restart", "db"]);
    let rows = ex.eventually(90, "the backend answering after db's restart", || {
        http(8000, "GET", "/", "").filter(|(s, _)| *s == 200).map(|(_, b)| b)
    });
    assert_eq!(rows.trim(), r#"{"blogs":["first post"]}"#);
    // ...a down/up and a recreate (the named volume)
    ex.ok(&["down"]);
    ex.ok(&["up", "-d"]);
    assert_eq!(ex.get_ok(8000, "/", 90).trim(), r#"{"blogs":["first post"]}"#);
    ex.ok(&["up", "-d", "--force-recreate"]);
    assert_eq!(ex.get_ok(8000, "/", 90).trim(), r#"{"blogs":["first post"]}"#);
    ex.eventually(60, "db healthy", || (health(&ex, "db") == "healthy").then_some(()));
    let (ps, _) = ex.ok(&["ps"]);
    assert!(ps.contains("(healthy)"), "{ps}");
    assert!(ps.contains("0.0.0.0:8000->8000/tcp"), "{ps}");
    assert_tail4(&ex);

    // and are gone after down -v
    ex.ok(&["down", "-v"]);
    ex.ok(&["up", "-d"]);
    assert_eq!(ex.get_ok(8000, "/", 90).trim(), r#"{"blogs":[]}"#);
    ex.ok(&["down", "-v"]);
    assert_nothing_left(&ex);
}

#[test]
fn dev_env() {
    let _g = serial();
    if !prereqs("dev_env") {
        return;
    }
    let reg = mirror();
    let ex = Example::new("dev-env", Some(&reg));
    // db healthy -> migrate completes -> app starts
    let (_, up) = ex.ok(&["up", "-d"]);
    assert!(up.contains("Healthy") && up.contains("Exited"), "{up}");
    let migrate = ex.service("migrate");
    assert_eq!(migrate["ExitCode"], 0, "{migrate}");
    assert_eq!(health(&ex, "db"), "healthy");
    let body = ex.get_ok(8090, "/", 60);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v["notes"],
        serde_json::json!(["welcome to the dev environment"]),
        "{body}"
    );
    assert_eq!(v["greeting"], "Hello from the dev environment!");
    let (so, _) = ex.ok(&["logs", "--no-color", "migrate"]);
    assert!(so.contains("migrations applied"), "{so}");

    let (status, _) = http(8090, "POST", "/notes", "buy milk").expect("POST");
    assert_eq!(status, 201);

    // the source is bind-mounted: an edit on the host is what runs
    ex.edit("src/app.py", |t| {
        t.replace(
            r#"GREETING = "Hello from the dev environment!""#,
            r#"GREETING = "Edited on the host""#,
        )
    });
    let body = ex.eventually(60, "the edited greeting", || {
        http(8090, "GET", "/", "").filter(|(s, b)| *s == 200 && b.contains("Edited on the host"))
    });
    let v: serde_json::Value = serde_json::from_str(&body.1).unwrap();
    assert_eq!(
        v["notes"],
        serde_json::json!(["welcome to the dev environment", "buy milk"])
    );
    assert!(v["visits"].as_u64().unwrap() >= 2, "{v}");
    let (ps, _) = ex.ok(&["ps", "-a"]);
    assert!(ps.contains("Exited (0)"), "{ps}");
    assert!(ps.contains("(healthy)"), "{ps}");
    assert_tail4(&ex);

    // the database keeps the notes across down/up; the migration runs again
    ex.ok(&["down"]);
    ex.ok(&["up", "-d"]);
    let body = ex.get_ok(8090, "/", 60);
    assert!(body.contains("buy milk"), "{body}");

    ex.ok(&["down", "-v"]);
    assert_nothing_left(&ex);
}
