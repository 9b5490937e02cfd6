//! A project name becomes paths (the project's lock under the state root)
//! and label filters: every command checks it, whether it comes from a
//! Compose file, `-p` or `COMPOSE_PROJECT_NAME`, and whether or not there
//! is a Compose file. No container is made: no root needed.

use std::path::Path;
use std::process::{Command, Output, Stdio};

fn rcompose(cwd: &Path, args: &[&str], env_name: Option<&str>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rcompose"));
    c.args(args)
        .current_dir(cwd)
        .env("RCOMPOSE_ROOT", cwd.join("state/root"))
        .env("RCOMPOSE_RUN", cwd.join("state/run"))
        .env("NO_COLOR", "1")
        .env_remove("COMPOSE_FILE")
        .env_remove("COMPOSE_PROJECT_NAME")
        .stdin(Stdio::null());
    if let Some(n) = env_name {
        c.env("COMPOSE_PROJECT_NAME", n);
    }
    c.output().expect("run rcompose")
}

/// Every file under `dir`, for the message of a failed check.
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() && !p.is_symlink() {
                stack.push(p.clone());
            }
            out.push(p.display().to_string());
        }
    }
    out
}

#[test]
fn invalid_project_names_are_refused_with_or_without_a_compose_file() {
    let t = tempfile::tempdir().unwrap();
    // The state root is two levels down: `../../x` from its `projects/`
    // lands in the test directory.
    let cwd = t.path().join("work");
    std::fs::create_dir_all(&cwd).unwrap();
    let bad = ["../../x", "../x", "Upper", "_under", "a/b", "."];
    let commands: [&[&str]; 8] = [
        &["down"],
        &["down", "-v"],
        &["ps"],
        &["stop"],
        &["kill"],
        &["rm", "-f"],
        &["logs"],
        &["images"],
    ];
    for name in bad {
        for cmd in commands {
            for (args, env) in [([&["-p", name][..], cmd].concat(), None), (cmd.to_vec(), Some(name))] {
                let out = rcompose(&cwd, &args, env);
                let err = String::from_utf8_lossy(&out.stderr);
                assert!(
                    !out.status.success(),
                    "rcompose {args:?} (COMPOSE_PROJECT_NAME={env:?}) succeeded without a Compose file:\n{err}"
                );
                assert!(
                    err.contains("invalid project name"),
                    "{args:?} (COMPOSE_PROJECT_NAME={env:?}):\n{err}"
                );
            }
        }
    }
    // `-p ''` names nothing: without a file there is no project to act on.
    let out = rcompose(&cwd, &["-p", "", "down"], None);
    assert!(!out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // With a Compose file, -p and COMPOSE_PROJECT_NAME are checked too.
    std::fs::write(cwd.join("compose.yaml"), "services:\n  a: {image: busybox}\n").unwrap();
    for (args, env) in [(vec!["-p", "../../x", "down"], None), (vec!["down"], Some("../../x"))] {
        let out = rcompose(&cwd, &args, env);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains("invalid project name"), "{err}");
    }

    let lock_files: Vec<String> = files_under(t.path())
        .into_iter()
        .filter(|f| f.ends_with(".lock") && !f.contains("/state/root/projects/"))
        .collect();
    assert!(
        lock_files.is_empty(),
        "lock files outside the state root: {lock_files:?}"
    );
    let x = files_under(t.path())
        .into_iter()
        .filter(|f| f.ends_with("/x.lock"))
        .collect::<Vec<_>>();
    assert!(x.is_empty(), "{x:?}");

    // A valid name still works without a file (down from labels alone).
    std::fs::remove_file(cwd.join("compose.yaml")).unwrap();
    let out = rcompose(&cwd, &["-p", "sct-valid_name1", "down"], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = rcompose(&cwd, &["down"], Some("sct-valid-env"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
