//! A mutation fuzzer for the loader: it starts from the golden fixtures and
//! the examples, mutates them (byte edits, line shuffles, YAML tokens spliced
//! in, deep nesting, aliases) and loads each result. Any panic fails the test
//! and prints the input that caused it. Errors are fine: they are the point.
//!
//! CI runs it for a few seconds; a longer run is
//! `FUZZ_SECONDS=600 cargo test --release --test loader_fuzz -- --nocapture`.
//! `FUZZ_SEED` repeats a run.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rcompose::compose::{load, LoadOptions};

/// xorshift64*: deterministic for a seed, no dependency needed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const TOKENS: &[&str] = &[
    ": ",
    "- ",
    "\n",
    "  ",
    "{",
    "}",
    "[",
    "]",
    "&a ",
    "*a",
    "<<: *a",
    "!reset ",
    "!override ",
    "${",
    "${X:-",
    "${X:?e}",
    "$$",
    "}",
    "\"",
    "'",
    "#",
    "|\n  ",
    ">-\n  ",
    "~",
    "null",
    "true",
    "0x1F",
    "-1",
    "99999999999999999999",
    "1e400",
    "8080:80",
    "127.0.0.1::80/udp",
    "8000-8010:80-81",
    "./data:/data:ro",
    "~/x:/x",
    "service:web",
    "services:\n  x:\n    image: a\n",
    "depends_on: [x]",
    "extends: x",
    "extends: {service: x, file: other.yaml}",
    "include: [x.yaml]",
    "profiles: [p]",
    "networks: [n]",
    "volumes: [v:/v]",
    "healthcheck: {test: x, interval: 1q}",
    "mem_limit: 1.5g",
    "\t",
    "\u{feff}",
    "é",
    "version: '3'",
    "x-ext: 1",
    "build: .",
    "env_file: .env",
    "ports: [\"80\"]",
    "cpus: ${C}",
];

fn seeds() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    let mut dirs = vec![root.join("tests/fixtures"), root.join("examples/compose")];
    while let Some(d) = dirs.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
                if let Ok(t) = std::fs::read_to_string(&p) {
                    out.push(t);
                }
            }
        }
    }
    out.sort();
    out.push("services:\n  a:\n    image: busybox\n".into());
    out
}

fn mutate(rng: &mut Rng, input: &str) -> String {
    let mut s: Vec<u8> = input.as_bytes().to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(s.len() + 1);
        match rng.below(7) {
            0 if !s.is_empty() => {
                let end = (at + rng.below(16)).min(s.len());
                s.drain(at.min(end)..end);
            }
            1 => {
                s.splice(at..at, TOKENS[rng.below(TOKENS.len())].bytes());
            }
            2 if !s.is_empty() => {
                let i = rng.below(s.len());
                s[i] = (rng.next() & 0x7f) as u8;
            }
            3 => {
                // Swap two lines: keys move between levels.
                let text = String::from_utf8_lossy(&s).to_string();
                let mut lines: Vec<&str> = text.lines().collect();
                if lines.len() > 1 {
                    let (a, b) = (rng.below(lines.len()), rng.below(lines.len()));
                    lines.swap(a, b);
                }
                s = lines.join("\n").into_bytes();
            }
            4 => {
                let depth = rng.below(300);
                let nest: String = "[".repeat(depth) + &"]".repeat(depth);
                s.splice(at..at, nest.into_bytes());
            }
            5 if !s.is_empty() => {
                // Duplicate a chunk: duplicate keys, repeated services.
                let end = (at + rng.below(64)).min(s.len());
                let chunk = s[at.min(end)..end].to_vec();
                s.splice(end..end, chunk);
            }
            _ => {
                // Re-indent a line.
                let pad = " ".repeat(rng.below(6));
                s.splice(at..at, pad.into_bytes());
            }
        }
    }
    String::from_utf8_lossy(&s).into_owned()
}

fn options(dir: &Path, text: String) -> LoadOptions {
    let mut env = HashMap::new();
    env.insert("C".to_string(), "0.5".to_string());
    LoadOptions {
        files: vec![PathBuf::from("-")],
        stdin: Some(text),
        cwd: dir.to_path_buf(),
        project_directory: Some(dir.to_path_buf()),
        env,
        home: Some(dir.to_path_buf()),
        ..LoadOptions::default()
    }
}

#[test]
fn loader_never_panics() {
    let secs: u64 = std::env::var("FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let seed: u64 = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x9E37_79B9_7F4A_7C15);
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("other.yaml"), "services:\n  x:\n    image: a\n").expect("write");
    std::fs::write(dir.path().join("x.yaml"), "services:\n  y:\n    image: b\n").expect("write");
    std::fs::write(dir.path().join(".env"), "X=1\n").expect("write");
    let corpus = seeds();
    let mut rng = Rng(seed | 1);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut runs = 0u64;
    let mut rejected = 0u64;
    // Silence the default hook's backtraces; we print the input ourselves.
    std::panic::set_hook(Box::new(|_| {}));
    while Instant::now() < deadline {
        let base = &corpus[rng.below(corpus.len())];
        let input = mutate(&mut rng, base);
        let opts = options(dir.path(), input.clone());
        match std::panic::catch_unwind(|| load(&opts)) {
            Ok(Ok(_)) => {}
            Ok(Err(_)) => rejected += 1,
            Err(p) => {
                let _ = std::panic::take_hook();
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
                panic!("the loader panicked ({msg:?}) after {runs} runs (seed {seed}) on input:\n{input}");
            }
        }
        runs += 1;
    }
    let _ = std::panic::take_hook();
    eprintln!("loader fuzz: {runs} inputs in {secs} s, {rejected} rejected with diagnostics, no panic (seed {seed})");
    assert!(runs > 0);
}
