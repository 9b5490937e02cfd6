//! Golden tests for `rcompose config`: one directory per feature under
//! `tests/fixtures/config/`, each holding the Compose files, an optional
//! `args` file (one argument per line, default `config`), an optional `env`
//! file (`KEY=VALUE` lines: the whole process environment the command sees)
//! an optional `cwd` file (a sub-directory to run in) and the expected
//! `stdout`, `stderr` and `code`. The fixture's absolute path is written
//! `$DIR` in the expectations, the repository's `$ROOT` (also in `args`).
//!
//! `UPDATE_GOLDEN=1 cargo test --test config_golden` rewrites the
//! expectations; review the diff before committing it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/config")
}

struct Outcome {
    stdout: String,
    stderr: String,
    code: i32,
}

fn run_case(dir: &Path) -> Outcome {
    let args: Vec<String> = match fs::read_to_string(dir.join("args")) {
        Ok(t) => t
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| l.replace("$ROOT", env!("CARGO_MANIFEST_DIR")))
            .collect(),
        Err(_) => vec!["config".into()],
    };
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rcompose"));
    let cwd = match fs::read_to_string(dir.join("cwd")) {
        Ok(sub) => dir.join(sub.trim()),
        Err(_) => dir.to_path_buf(),
    };
    cmd.args(&args)
        .current_dir(cwd)
        .env_clear()
        .env("HOME", "/home/user")
        .env("NO_COLOR", "1");
    if let Ok(env) = fs::read_to_string(dir.join("env")) {
        for line in env.lines().filter(|l| !l.is_empty()) {
            let (k, v) = line.split_once('=').unwrap_or((line, ""));
            cmd.env(k, v);
        }
    }
    let stdin = fs::read(dir.join("stdin")).ok();
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run rcompose");
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        std::io::Write::write_all(&mut pipe, &input).expect("write stdin");
    }
    let out = child.wait_with_output().expect("wait for rcompose");
    let here = dir.to_string_lossy().to_string();
    let root = env!("CARGO_MANIFEST_DIR");
    let clean = |b: &[u8]| String::from_utf8_lossy(b).replace(&here, "$DIR").replace(root, "$ROOT");
    Outcome {
        stdout: clean(&out.stdout),
        stderr: clean(&out.stderr),
        code: out.status.code().unwrap_or(-1),
    }
}

#[test]
fn config_golden() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut cases: Vec<PathBuf> = fs::read_dir(fixtures())
        .expect("fixtures dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 20,
        "expected the golden corpus, found {} cases",
        cases.len()
    );
    let mut failures = Vec::new();
    for dir in &cases {
        let got = run_case(dir);
        let files = [
            ("stdout", got.stdout.clone()),
            ("stderr", got.stderr.clone()),
            ("code", format!("{}\n", got.code)),
        ];
        for (name, actual) in files {
            let path = dir.join(name);
            if update {
                if actual.is_empty() {
                    let _ = fs::remove_file(&path);
                } else {
                    fs::write(&path, &actual).expect("write expectation");
                }
                continue;
            }
            let expected = fs::read_to_string(&path).unwrap_or_default();
            if expected != actual {
                failures.push(format!(
                    "--- {}/{name}\n--- expected:\n{expected}\n--- actual:\n{actual}",
                    dir.file_name().unwrap_or_default().to_string_lossy()
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} golden mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
