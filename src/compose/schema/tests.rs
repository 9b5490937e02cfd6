use std::path::{Path, PathBuf};

use super::*;
use crate::compose::diag::FileId;
use crate::compose::yaml::parse;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn committed_schema_is_current() {
    let path = repo().join("schema/compose-spec.schema.json");
    let fresh = serde_json::to_string_pretty(&generate()).unwrap() + "\n";
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &fresh).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "schema/compose-spec.schema.json is stale: run `UPDATE_SCHEMA=1 cargo test --lib schema` and commit it"
    );
}

fn official() -> jsonschema::Validator {
    let text = std::fs::read_to_string(repo().join("tests/fixtures/schema/compose-spec.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    // The official schema declares draft 2019-09 via $schema; the validator picks it up.
    if let Some(o) = v.as_object_mut() {
        o.remove("$id");
    }
    jsonschema::validator_for(&v).unwrap()
}

fn corpus(dir: &str) -> Vec<(PathBuf, String)> {
    let mut out: Vec<_> = std::fs::read_dir(repo().join(dir))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .map(|p| {
            let t = std::fs::read_to_string(&p).unwrap();
            (p, t)
        })
        .collect();
    out.sort();
    out
}

/// Everything the official schema accepts in the corpus, ours accepts too.
#[test]
fn accepts_what_the_official_schema_accepts() {
    let official = official();
    let files = corpus("tests/fixtures/schema/valid");
    assert!(files.len() >= 5);
    for (path, text) in files {
        let node = parse(&text, FileId(0)).unwrap_or_else(|e| panic!("{}: {}", path.display(), e.message));
        let json = node.to_json();
        let official_errors: Vec<String> = official.iter_errors(&json).map(|e| e.to_string()).collect();
        assert!(
            official_errors.is_empty(),
            "{}: the official schema rejects the fixture: {official_errors:?}",
            path.display()
        );
        let ours = validate_file(&node);
        assert!(
            ours.is_empty(),
            "{}: ours rejects what the official accepts: {:?}",
            path.display(),
            ours.iter().map(|d| &d.message).collect::<Vec<_>>()
        );
    }
}

/// Each invalid fixture names the message it expects in its first line.
#[test]
fn rejects_with_clear_messages() {
    let official = official();
    for (path, text) in corpus("tests/fixtures/schema/invalid") {
        let expected = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{}: no `# expect:` line", path.display()));
        let node = parse(&text, FileId(0)).unwrap();
        assert!(
            !official.is_valid(&node.to_json()),
            "{}: the official schema accepts it",
            path.display()
        );
        let got: Vec<String> = validate_file(&node).into_iter().map(|d| d.message).collect();
        assert!(
            got.iter().any(|m| m == expected),
            "{}: expected {expected:?}, got {got:?}",
            path.display()
        );
    }
}

#[test]
fn unknown_keys_point_at_the_key_with_a_suggestion() {
    let node = parse("services:\n  web:\n    imgae: nginx\n", FileId(0)).unwrap();
    let d = validate_file(&node);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].message, "unknown key `imgae` in service `web`");
    assert_eq!((d[0].span.line, d[0].span.col), (3, 5));
    assert_eq!(d[0].help.as_deref(), Some("did you mean `image`?"));
    let _ = Path::new("");
}
