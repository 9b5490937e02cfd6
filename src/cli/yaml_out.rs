//! YAML text in the layout `docker compose config` prints (go-yaml v3 with
//! a two-space indent: nested sequences indented under their key, strings
//! double-quoted only where a plain scalar would be read back as another
//! type). serde_yaml's emitter lays sequences out differently, and users
//! diff our output against Docker's.

use serde_json::Value;

pub fn to_yaml(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Object(m) if !m.is_empty() => write_map(&mut out, m, 0),
        Value::Array(a) if !a.is_empty() => write_seq(&mut out, a, 0),
        other => {
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
    out
}

fn indent(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

fn write_map(out: &mut String, m: &serde_json::Map<String, Value>, level: usize) {
    for (k, v) in m {
        indent(out, level);
        out.push_str(&quote_if_needed(k));
        out.push(':');
        write_value_after_key(out, v, level);
    }
}

fn write_value_after_key(out: &mut String, v: &Value, level: usize) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            write_map(out, m, level + 2);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            write_seq(out, a, level + 2);
        }
        other => {
            out.push(' ');
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

fn write_seq(out: &mut String, a: &[Value], level: usize) {
    for item in a {
        indent(out, level);
        out.push_str("- ");
        match item {
            Value::Object(m) if !m.is_empty() => {
                // The first key shares the dash's line, the rest align under it.
                let mut first = true;
                for (k, v) in m {
                    if !first {
                        indent(out, level + 2);
                    }
                    first = false;
                    out.push_str(&quote_if_needed(k));
                    out.push(':');
                    write_value_after_key(out, v, level + 2);
                }
            }
            Value::Array(inner) if !inner.is_empty() => {
                out.push('\n');
                write_seq(out, inner, level + 2);
            }
            other => {
                out.push_str(&scalar(other));
                out.push('\n');
            }
        }
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => quote_if_needed(s),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

/// Double-quote a string when a YAML reader would not read it back as the
/// same string (it looks like another type, or holds YAML syntax).
pub fn quote_if_needed(s: &str) -> String {
    if needs_quotes(s) {
        serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
    } else {
        s.to_string()
    }
}

fn needs_quotes(s: &str) -> bool {
    if s.is_empty() || s.trim() != s {
        return true;
    }
    let lower = s.to_ascii_lowercase();
    let typed = matches!(
        lower.as_str(),
        "~" | "null" | "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n" | ".inf" | "-.inf" | "+.inf" | ".nan"
    );
    if typed || looks_numeric(s) {
        return true;
    }
    let first = s.as_bytes()[0];
    if b"-?:,[]{}#&*!|>'\"%@`".contains(&first) && !(first == b'-' && s.len() > 1 && s.as_bytes()[1] != b' ') {
        return true;
    }
    s.contains(": ")
        || s.contains(" #")
        || s.ends_with(':')
        || s.chars().any(|c| c.is_control())
        || (first == b'-' && s.len() > 1 && s.as_bytes()[1] == b' ')
}

/// Would a YAML reader (1.2 core, or 1.1 as older tools are) read it as a number?
fn looks_numeric(s: &str) -> bool {
    let t = s.trim_start_matches(['-', '+']).replace('_', "");
    if t.is_empty() {
        return false;
    }
    if let Some(h) = t.strip_prefix("0x") {
        return !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit());
    }
    if let Some(o) = t.strip_prefix("0o") {
        return !o.is_empty() && o.chars().all(|c| c.is_digit(8));
    }
    if t.parse::<f64>().is_ok() && t.chars().next().is_some_and(|c| c.is_ascii_digit() || c == '.') {
        return true;
    }
    // YAML 1.1 sexagesimal integers (`190:20:30`, so also `80:80`).
    let parts: Vec<&str> = t.split(':').collect();
    parts.len() > 1
        && parts[0].chars().all(|c| c.is_ascii_digit())
        && !parts[0].is_empty()
        && parts[1..]
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 2 && p.chars().all(|c| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lays_out_like_docker_compose() {
        let v = json!({"name": "app", "services": {"web": {"ports": [{"mode": "ingress", "target": 80, "published": "8080"}], "command": ["sh", "-c", "echo hi"]}}, "volumes": {"data": {}}});
        assert_eq!(
            to_yaml(&v),
            "name: app\nservices:\n  web:\n    ports:\n      - mode: ingress\n        target: 80\n        published: \"8080\"\n    command:\n      - sh\n      - -c\n      - echo hi\nvolumes:\n  data: {}\n"
        );
    }

    #[test]
    fn quotes_only_ambiguous_strings() {
        for (s, q) in [
            ("8080", true),
            ("yes", true),
            ("", true),
            ("1.5", true),
            ("80:80", true),
            ("redis:alpine", false),
            ("-c", false),
            ("a: b", true),
            ("#x", true),
            ("hello world", false),
            ("- x", true),
            (" x", true),
            ("127.0.0.1", false),
            ("1.1.1.1", false),
            ("1e3", true),
            ("0x1F", true),
            ("1.2.3", false),
        ] {
            assert_eq!(needs_quotes(s), q, "{s:?}");
        }
    }
}
