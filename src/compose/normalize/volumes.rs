//! Service `volumes:` short syntax (`SRC:DST[:MODE]`) to the long form, and
//! host paths made absolute.

use std::path::{Component, Path, PathBuf};

use serde_json::{json, Map, Value};

/// Lexically clean a path (`a/./b/../c` → `a/c`) without touching the disk.
pub fn clean_path(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Make a host path absolute: `~` from `$HOME`, relative from `base`.
pub fn absolute_host_path(s: &str, base: &Path, home: Option<&Path>) -> String {
    let p = if s == "~" || s.starts_with("~/") {
        match home {
            Some(h) => h.join(s.trim_start_matches('~').trim_start_matches('/')),
            None => PathBuf::from(s),
        }
    } else {
        let p = Path::new(s);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            base.join(p)
        }
    };
    clean_path(&p).to_string_lossy().into_owned()
}

fn is_host_path(s: &str) -> bool {
    s.starts_with('.') || s.starts_with('/') || s.starts_with('~')
}

const MODES: &[&str] = &[
    "ro",
    "rw",
    "z",
    "Z",
    "nocopy",
    "shared",
    "rshared",
    "slave",
    "rslave",
    "private",
    "rprivate",
    "cached",
    "delegated",
    "consistent",
];

pub fn parse_volume(spec: &str, base: &Path, home: Option<&Path>) -> Result<Value, String> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (src, dst, mode) = match parts.as_slice() {
        [dst] => ("", *dst, ""),
        [src, dst] => (*src, *dst, ""),
        [src, dst, mode] => (*src, *dst, *mode),
        _ => {
            return Err(format!(
                "invalid volume \"{spec}\": too many `:` (use SOURCE:TARGET[:MODE])"
            ))
        }
    };
    if dst.is_empty() {
        return Err(format!("invalid volume \"{spec}\": the target path is empty"));
    }
    if !dst.starts_with('/') {
        return Err(format!(
            "invalid volume \"{spec}\": the target `{dst}` must be an absolute path in the container"
        ));
    }
    let mut v = Map::default();
    let bind = is_host_path(src);
    v.insert("type".into(), json!(if bind { "bind" } else { "volume" }));
    if !src.is_empty() {
        let source = if bind {
            absolute_host_path(src, base, home)
        } else {
            src.to_string()
        };
        v.insert("source".into(), json!(source));
    }
    v.insert("target".into(), json!(dst));
    let mut bind_opts = Map::default();
    let mut volume_opts = Map::default();
    for m in mode.split(',').filter(|m| !m.is_empty()) {
        if !MODES.contains(&m) {
            return Err(format!(
                "invalid volume \"{spec}\": unknown mode `{m}` (use ro, rw, z, Z, nocopy or a propagation mode)"
            ));
        }
        match m {
            "ro" => {
                v.insert("read_only".into(), json!(true));
            }
            "rw" => {}
            "z" | "Z" => {
                bind_opts.insert("selinux".into(), json!(m));
            }
            "nocopy" => {
                volume_opts.insert("nocopy".into(), json!(true));
            }
            "cached" | "delegated" | "consistent" => {
                v.insert("consistency".into(), json!(m));
            }
            propagation => {
                bind_opts.insert("propagation".into(), json!(propagation));
            }
        }
    }
    if bind {
        bind_opts.insert("create_host_path".into(), json!(true));
        v.insert("bind".into(), Value::Object(bind_opts));
    } else if !volume_opts.is_empty() {
        v.insert("volume".into(), Value::Object(volume_opts));
    }
    Ok(Value::Object(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_forms() {
        let base = Path::new("/proj");
        let home = Some(Path::new("/home/u"));
        let v = parse_volume("./src:/app/src:ro,z", base, home).unwrap();
        assert_eq!(
            v,
            json!({"type": "bind", "source": "/proj/src", "target": "/app/src", "read_only": true, "bind": {"selinux": "z", "create_host_path": true}})
        );
        assert_eq!(
            parse_volume("data:/var/lib", base, home).unwrap(),
            json!({"type": "volume", "source": "data", "target": "/var/lib"})
        );
        assert_eq!(
            parse_volume("/anon", base, home).unwrap(),
            json!({"type": "volume", "target": "/anon"})
        );
        assert_eq!(
            parse_volume("~/c:/c", base, home).unwrap()["source"],
            json!("/home/u/c")
        );
        assert_eq!(
            parse_volume("../x/./y:/y", base, home).unwrap()["source"],
            json!("/x/y")
        );
        assert_eq!(
            parse_volume("v:/v:nocopy", base, home).unwrap()["volume"],
            json!({"nocopy": true})
        );
    }

    #[test]
    fn errors() {
        let base = Path::new("/p");
        assert!(parse_volume("a:b", base, None)
            .unwrap_err()
            .contains("must be an absolute path"));
        assert!(parse_volume("a:/b:rx", base, None)
            .unwrap_err()
            .contains("unknown mode `rx`"));
        assert!(parse_volume("a:/b:ro:x", base, None).unwrap_err().contains("too many"));
    }
}
