//! DESIGN.md §1: dependencies point downward only. This scans every
//! `crate::<module>` reference in `src/` and fails on one that points the
//! wrong way, so the map stays true as the code grows.

use std::path::Path;

/// For each module, the modules it may use (besides itself).
const ALLOWED: &[(&str, &[&str])] = &[
    (
        "cli",
        &[
            "project",
            "compose",
            "image",
            "build",
            "volume",
            "supervisor",
            "runtime",
            "network",
            "store",
        ],
    ),
    (
        "project",
        &[
            "compose",
            "image",
            "build",
            "volume",
            "supervisor",
            "runtime",
            "network",
            "store",
        ],
    ),
    ("compose", &[]),
    ("image", &["store"]),
    ("build", &["image", "runtime", "store"]),
    ("volume", &["store"]),
    ("supervisor", &["runtime", "network", "store"]),
    ("runtime", &["store"]),
    ("network", &["store"]),
    ("store", &[]),
];

fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read src").flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn modules_depend_only_downward() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    let mut violations = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(&src).expect("under src");
        let Some(top) = rel.iter().next().and_then(|c| c.to_str()) else {
            continue;
        };
        let module = top.trim_end_matches(".rs");
        let Some((_, allowed)) = ALLOWED.iter().find(|(m, _)| *m == module) else {
            continue;
        };
        let text = std::fs::read_to_string(f).expect("read file");
        for (n, line) in text.lines().enumerate() {
            let mut rest = line;
            while let Some(i) = rest.find("crate::") {
                rest = &rest[i + 7..];
                let used: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                let known = ALLOWED.iter().any(|(m, _)| *m == used);
                if known && used != module && !allowed.contains(&used.as_str()) {
                    violations.push(format!("{}:{}: `{module}` uses `{used}`", rel.display(), n + 1));
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "dependencies that point the wrong way:\n{}",
        violations.join("\n")
    );
}
