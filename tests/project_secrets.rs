//! `secrets:` and `configs:` end to end (root): file, environment and
//! content sources reach the container read-only at Docker Compose's paths
//! with the owner and mode asked for, and a source that cannot be honoured
//! stops `up` with an error naming it. Harness: `project_support`.

mod project_support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use project_support::project;

const LOOP: &str = r#"["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"]"#;

const TOKEN: &str = "t0ken-from-dotenv-4f1c";

#[test]
fn secrets_and_configs_are_mounted_read_only_with_their_owner_and_mode() {
    let Some(p) = project("sct-mounts", 80) else { return };
    let pw = p.project_dir.join("pw.txt");
    std::fs::write(&pw, "hunter2").unwrap();
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o640)).unwrap();
    std::fs::write(p.project_dir.join("app.conf"), "listen=8080\n").unwrap();
    // The project's environment comes from `.env` too.
    std::fs::write(p.project_dir.join(".env"), format!("SCT_TOKEN={TOKEN}\n")).unwrap();
    p.compose(&format!(
        r#"
services:
  app:
    image: busybox:test
    command: {LOOP}
    secrets:
      - pw
      - source: tok
        target: api/token
        uid: "1000"
        gid: "1001"
        mode: 0440
      - source: pw
        target: /etc/pw-copy
        uid: "1000"
        mode: "0400"
    configs:
      - conf
      - source: appconf
        target: etc/app.conf
      - source: tokconf
        target: /cfg/token
        mode: 0400
  ro:
    image: busybox:test
    command: {LOOP}
    read_only: true
    secrets: [tok]
    configs: [conf]
secrets:
  pw:
    file: ./pw.txt
  tok:
    environment: SCT_TOKEN
configs:
  conf:
    content: |
      a=1
  appconf:
    file: ./app.conf
  tokconf:
    environment: SCT_TOKEN
networks:
  default:
    ipam: {{config: [{{subnet: SUBNET}}]}}
"#
    ));
    p.ok(&["up", "-d"]);

    let sh = |service: &str, script: &str| p.ok(&["exec", "-T", service, "sh", "-c", script]).0;
    let look = |path: &str| sh("app", &format!("stat -c '%u %g %a' {path}; cat {path}"));
    // File source: the host file itself, its owner and mode.
    assert_eq!(look("/run/secrets/pw"), "0 0 640\nhunter2");
    // Environment source, relative target under /run/secrets, uid/gid/mode.
    assert_eq!(look("/run/secrets/api/token"), format!("1000 1001 440\n{TOKEN}"));
    // File source with its own owner and mode (a string mode is octal).
    assert_eq!(look("/etc/pw-copy"), "1000 0 400\nhunter2");
    // Configs: content at /<name> with the default 0444 root:root.
    assert_eq!(look("/conf"), "0 0 444\na=1\n");
    assert_eq!(look("/etc/app.conf").lines().nth(1), Some("listen=8080"));
    assert_eq!(look("/cfg/token"), format!("0 0 400\n{TOKEN}"));
    // The mode is what the kernel enforces: uid 1000 reads its 0400 copy,
    // not root's 0400 config.
    let as_app = |path: &str| p.rc(&["exec", "-T", "-u", "1000", "app", "cat", path]);
    assert!(as_app("/etc/pw-copy").status.success());
    assert!(
        !as_app("/cfg/token").status.success(),
        "a 0400 root file was readable by uid 1000"
    );

    // Read-only from inside, even for root: no write, no replacement.
    for path in [
        "/run/secrets/pw",
        "/run/secrets/api/token",
        "/etc/pw-copy",
        "/conf",
        "/etc/app.conf",
    ] {
        let script = format!("echo pwned > {path}; echo pwned >> {path}; rm -f {path}; mv /tmp {path}; true");
        p.ok(&["exec", "-T", "app", "sh", "-c", &script]);
        let content = sh("app", &format!("cat {path}"));
        assert!(
            !content.is_empty() && !content.contains("pwned"),
            "{path} was changed from inside: {content:?}"
        );
    }
    let out = p.rc(&["exec", "-T", "app", "sh", "-c", "echo pwned > /run/secrets/pw"]);
    assert!(!out.status.success(), "writing a secret succeeded");
    assert_eq!(
        std::fs::read_to_string(&pw).unwrap(),
        "hunter2",
        "the host file changed"
    );

    // A read-only service gets them too.
    assert_eq!(sh("ro", "cat /run/secrets/tok /conf"), format!("{TOKEN}a=1\n"));

    // Host side: written in the container's root-only directory, and the
    // value is in no other state file (spec.json, config.json).
    let app = format!("{}-app-1", p.name);
    let cdir = p.root.join("containers").join(&app);
    let files = cdir.join("files");
    let meta = std::fs::metadata(&files).unwrap();
    assert_eq!((meta.mode() & 0o7777, meta.uid()), (0o700, 0));
    let mut holding = 0;
    for e in std::fs::read_dir(&files).unwrap().flatten() {
        if std::fs::read(e.path()).unwrap() == TOKEN.as_bytes() {
            holding += 1;
        }
    }
    assert_eq!(
        holding,
        2,
        "the token secret and config are files under {}",
        files.display()
    );
    for f in ["spec.json", "config.json"] {
        let text = std::fs::read_to_string(cdir.join(f)).unwrap();
        assert!(!text.contains(TOKEN), "{f} holds the secret's value");
    }

    // `down` removes them with the container.
    p.ok(&["down", "-t", "0"]);
    assert!(!cdir.exists(), "{} is left after down", cdir.display());
}

#[test]
fn sources_that_cannot_be_honoured_stop_up() {
    let Some(p) = project("sct-errors", 81) else { return };
    let cases = [
        (
            "secrets: {s: {external: true}}",
            vec!["secret \"s\"", "external", "compose.yaml"],
        ),
        (
            "secrets: {s: {file: ./missing.txt}}",
            vec!["secret \"s\"", "missing.txt", "does not exist"],
        ),
        (
            "secrets: {s: {environment: SCT_UNSET_VARIABLE}}",
            vec!["secret \"s\"", "SCT_UNSET_VARIABLE", "not set"],
        ),
    ];
    for (decl, want) in cases {
        p.compose(&format!(
            r#"
services:
  app:
    image: busybox:test
    command: {LOOP}
    secrets: [s]
{decl}
networks:
  default:
    ipam: {{config: [{{subnet: SUBNET}}]}}
"#
        ));
        let out = p
            .command(&["up", "-d"])
            .env_remove("SCT_UNSET_VARIABLE")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "up succeeded with {decl}:\n{err}");
        for w in &want {
            assert!(err.contains(w), "{decl}: {w:?} not in:\n{err}");
        }
        assert!(err.contains("service \"app\""), "{err}");
        assert!(p.names().is_empty(), "{decl}: a container was left: {:?}", p.names());
    }

    // A config's relative target is under `/`: on a volume's path it is
    // refused, not silently hidden.
    p.compose(&format!(
        r#"
services:
  app:
    image: busybox:test
    command: {LOOP}
    volumes: [{{type: tmpfs, target: /etc/v}}]
    configs: [{{source: c, target: etc/v}}]
configs: {{c: {{content: x}}}}
networks:
  default:
    ipam: {{config: [{{subnet: SUBNET}}]}}
"#
    ));
    let out = p.rc(&["up", "-d"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("/etc/v"), "{err}");
}
