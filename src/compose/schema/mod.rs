//! The JSON schema of a Compose file, generated from the model, and the
//! structural check of each file against it.
//!
//! The model holds the long form with exact types; a file may also write
//! short forms (see `model/input.rs`) and, since values may come from
//! `${VARS}`, strings where numbers and booleans go. [`generate`] widens the
//! generated schema accordingly, so it accepts what the official
//! `compose-spec.json` accepts. `schema/compose-spec.schema.json` is its
//! committed output (a test fails when it is stale).

use std::sync::OnceLock;

use serde_json::{json, Value};

use super::diag::{did_you_mean, Diag};
use super::model::Project;
use super::yaml::Node;

pub fn generate() -> Value {
    let settings = schemars::generate::SchemaSettings::draft07();
    let schema = settings.into_generator().into_root_schema_for::<Project>();
    let mut v = serde_json::to_value(schema).unwrap_or(Value::Null);
    widen(&mut v);
    if let Some(o) = v.as_object_mut() {
        o.insert("$id".into(), json!("https://rcompose.dev/compose-spec.schema.json"));
    }
    v
}

/// Strings where scalars go (interpolation), `x-*` keys on every closed object.
fn widen(v: &mut Value) {
    match v {
        Value::Object(o) => {
            if let Some(t) = o.get_mut("type") {
                widen_type(t);
            }
            let closed = o.get("additionalProperties") == Some(&Value::Bool(false));
            if closed && o.contains_key("properties") {
                let pp = o.entry("patternProperties").or_insert_with(|| json!({}));
                if let Some(pp) = pp.as_object_mut() {
                    pp.entry("^x-").or_insert_with(|| json!({}));
                }
            }
            for (_, child) in o.iter_mut() {
                widen(child);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(widen),
        _ => {}
    }
}

fn widen_type(t: &mut Value) {
    let scalar = |s: &str| matches!(s, "boolean" | "integer" | "number");
    match t {
        Value::String(s) if scalar(s) => *t = json!([s.clone(), "string"]),
        Value::Array(list) => {
            let has_scalar = list.iter().any(|x| x.as_str().is_some_and(scalar));
            if has_scalar && !list.iter().any(|x| x == "string") {
                list.push(json!("string"));
            }
        }
        _ => {}
    }
}

/// The committed schema, as the binary carries it. Reading it is cheaper
/// than generating it at every start; `committed_schema_is_current` keeps
/// it equal to [`generate`]'s output.
fn committed() -> &'static Value {
    static S: OnceLock<Value> = OnceLock::new();
    S.get_or_init(|| {
        serde_json::from_str(include_str!("../../../schema/compose-spec.schema.json")).unwrap_or_else(|_| generate())
    })
}

fn validator() -> &'static jsonschema::Validator {
    static V: OnceLock<jsonschema::Validator> = OnceLock::new();
    V.get_or_init(|| {
        // The schema is ours and tested: failing to compile it is a bug
        // that every test would show at once.
        jsonschema::validator_for(committed()).expect("the generated Compose schema compiles")
    })
}

/// Check one file's tree (interpolated, not yet normalized). Every error
/// found is returned, in document order.
pub fn validate_file(root: &Node) -> Vec<Diag> {
    check(root).0
}

/// Check, then remove what failed (unknown keys, values of the wrong
/// shape), so the later phases can run and report their own problems in
/// the same pass instead of one error per run.
pub fn validate_and_prune(root: &mut Node) -> Vec<Diag> {
    let (diags, mut prune) = check(root);
    // A misspelt key with a clear suggestion is read as the suggestion for
    // the rest of this (already failing) load, so `imgae:` does not also
    // produce "no image" further on.
    prune.retain(|pointer| !rename_to_suggestion(root, pointer));
    // Deepest first, and higher indexes first, so earlier removals do not
    // shift the paths of later ones.
    prune.sort_by(|a, b| b.cmp(a));
    prune.dedup();
    for pointer in prune {
        remove_at(root, &pointer);
    }
    diags
}

fn rename_to_suggestion(root: &mut Node, pointer: &str) -> bool {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return false;
    };
    let known = allowed_keys(parent);
    let Some(best) = super::diag::closest(last, known.iter().map(String::as_str)) else {
        return false;
    };
    let best = best.to_string();
    let Some(map) = parent_map(root, parent) else {
        return false;
    };
    if map.contains_key(best.as_str()) {
        return false;
    }
    let Some(index) = map.get_index_of(last) else {
        return false;
    };
    let Some((key, value)) = map.shift_remove_index(index) else {
        return false;
    };
    map.shift_insert(index, super::yaml::Key::new(best, key.span), value);
    true
}

fn parent_map<'a>(root: &'a mut Node, pointer: &str) -> Option<&'a mut super::yaml::Map> {
    let mut cur = root;
    for raw in pointer.split('/').skip(1) {
        let part = raw.replace("~1", "/").replace("~0", "~");
        cur = match &mut cur.value {
            super::yaml::Value::Map(m) => m.get_mut(part.as_str())?,
            super::yaml::Value::Seq(v) => v.get_mut(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    cur.as_map_mut()
}

fn remove_at(root: &mut Node, pointer: &str) {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return;
    };
    let last = last.replace("~1", "/").replace("~0", "~");
    let mut cur = root;
    for raw in parent.split('/').skip(1) {
        let part = raw.replace("~1", "/").replace("~0", "~");
        let next = match &mut cur.value {
            super::yaml::Value::Map(m) => m.get_mut(part.as_str()),
            super::yaml::Value::Seq(v) => part.parse::<usize>().ok().and_then(|i| v.get_mut(i)),
            _ => None,
        };
        match next {
            Some(n) => cur = n,
            None => return,
        }
    }
    match &mut cur.value {
        super::yaml::Value::Map(m) => {
            m.shift_remove(last.as_str());
        }
        super::yaml::Value::Seq(v) => {
            if let Ok(i) = last.parse::<usize>() {
                if i < v.len() {
                    v.remove(i);
                }
            }
        }
        _ => {}
    }
}

fn check(root: &Node) -> (Vec<Diag>, Vec<String>) {
    let instance = root.to_json();
    let mut diags: Vec<(u32, Diag)> = Vec::new();
    let mut prune = Vec::new();
    for err in validator().iter_errors(&instance) {
        let pointer = err.instance_path().as_str().to_string();
        if let jsonschema::error::ValidationErrorKind::AdditionalProperties { unexpected } = err.kind() {
            prune.extend(
                unexpected
                    .iter()
                    .map(|k| format!("{pointer}/{}", k.replace('~', "~0").replace('/', "~1"))),
            );
        } else if !pointer.is_empty() {
            prune.push(pointer);
        }
        explain(&err, root, &mut diags);
    }
    diags.sort_by_key(|(pos, _)| *pos);
    diags.dedup_by(|a, b| a.1.message == b.1.message && a.1.span == b.1.span);
    (diags.into_iter().map(|(_, d)| d).collect(), prune)
}

/// For "none of the accepted forms matched", the form whose type fits the
/// value is the one the user meant: report why that one failed.
fn meant_branch<'e>(
    context: &'e [Vec<jsonschema::ValidationError<'static>>],
    pointer: &str,
) -> Option<&'e jsonschema::ValidationError<'static>> {
    context
        .iter()
        .filter(|branch| {
            !branch.iter().any(|e| {
                e.instance_path().as_str() == pointer
                    && matches!(e.kind(), jsonschema::error::ValidationErrorKind::Type { .. })
            })
        })
        .find_map(|branch| branch.first())
}

fn explain(err: &jsonschema::ValidationError<'_>, root: &Node, diags: &mut Vec<(u32, Diag)>) {
    use jsonschema::error::ValidationErrorKind as K;
    let pointer = err.instance_path().as_str().to_string();
    let node = root.at_pointer(&pointer);
    let span = node.map(|n| n.span).unwrap_or(root.span);
    let place = describe(&pointer);
    let d = match err.kind() {
        K::AnyOf { context } | K::OneOfNotValid { context } => {
            if let Some(inner) = meant_branch(context, &pointer) {
                return explain(inner, root, diags);
            }
            let found = node.map(|n| n.kind()).unwrap_or("value");
            // No form fits the value's type: list the types that would.
            let mut expected: Vec<String> = Vec::new();
            for e in context.iter().flatten() {
                if let (K::Type { kind }, true) = (e.kind(), e.instance_path().as_str() == pointer) {
                    let w = type_words(kind);
                    if !expected.contains(&w) && w != "a null" {
                        expected.push(w);
                    }
                }
            }
            if expected.is_empty() {
                Diag::error(span, format!("{place} has an invalid {found}"))
            } else {
                Diag::error(
                    span,
                    format!("{place} must be {}, found {}", expected.join(" or "), a(found)),
                )
                .with_label(format!("expected {}", expected.join(" or ")))
            }
            .with_help("see the Compose Specification for this attribute's accepted forms")
        }
        K::AdditionalProperties { unexpected } => {
            for key in unexpected {
                let key_pointer = format!("{pointer}/{}", key.replace('~', "~0").replace('/', "~1"));
                let span = root.key_span_at_pointer(&key_pointer).unwrap_or(span);
                let known = allowed_keys(&pointer);
                let mut d = Diag::error(span, format!("unknown key `{key}` {place}")).with_label("not allowed here");
                d = match did_you_mean(key, known.iter().map(String::as_str)) {
                    Some(h) => d.with_help(h),
                    None => d.with_help("remove it, or prefix it with x- to keep it as an extension"),
                };
                diags.push((span.start, d));
            }
            return;
        }
        K::Type { kind } => {
            let found = node.map(|n| n.kind()).unwrap_or("value");
            let expected = type_words(kind);
            Diag::error(span, format!("{place} must be {expected}, found {}", a(found)))
                .with_label(format!("expected {expected}"))
                .with_help("see the Compose Specification for this attribute's format")
        }
        K::Required { property } => {
            let p = property.as_str().unwrap_or_default();
            Diag::error(span, format!("{place} is missing the required key `{p}`")).with_help(format!("add `{p}:`"))
        }
        K::Enum { options } => Diag::error(span, format!("{place} must be one of {}", enum_words(options))),
        K::Pattern { .. } => {
            let shown = pointer.rsplit('/').next().unwrap_or_default();
            Diag::error(span, format!("invalid name `{shown}` {place}"))
                .with_help("names may contain letters, digits, `.`, `_` and `-`")
        }
        _ => {
            let found = node.map(|n| n.kind()).unwrap_or("value");
            Diag::error(span, format!("{place} has an invalid {found}"))
                .with_help("see the Compose Specification for this attribute's accepted forms")
        }
    };
    diags.push((span.start, d));
}

/// "a mapping", "an integer": the kind of a value with its article.
fn a(kind: &str) -> String {
    if kind.starts_with(['a', 'e', 'i', 'o', 'u']) {
        format!("an {kind}")
    } else {
        format!("a {kind}")
    }
}

/// "in service `web`", "`services.web.ports[0]`": where, in the user's words.
fn describe(pointer: &str) -> String {
    let parts: Vec<&str> = pointer.split('/').skip(1).collect();
    match parts.as_slice() {
        [] => "at the top level".into(),
        ["services", name] => format!("in service `{name}`"),
        [section @ ("networks" | "volumes" | "configs" | "secrets"), name] => {
            format!("in {} `{name}`", section.trim_end_matches('s'))
        }
        _ => {
            let mut s = String::new();
            for p in parts {
                if p.chars().all(|c| c.is_ascii_digit()) {
                    s.push_str(&format!("[{p}]"));
                } else {
                    if !s.is_empty() {
                        s.push('.');
                    }
                    s.push_str(p);
                }
            }
            format!("`{s}`")
        }
    }
}

fn type_words(kind: &jsonschema::error::TypeKind) -> String {
    let raw = match kind {
        jsonschema::error::TypeKind::Single(t) => vec![t.to_string()],
        jsonschema::error::TypeKind::Multiple(set) => set.iter().map(|t| t.to_string()).collect(),
    };
    // Interpolation widened every scalar with "string"; say what is meant.
    let meaningful: Vec<String> = if raw.len() > 1 {
        raw.iter().filter(|t| *t != "string").cloned().collect()
    } else {
        raw
    };
    let words: Vec<String> = meaningful
        .iter()
        .map(|t| match t.as_str() {
            "object" => "a mapping".to_string(),
            "array" => "a list".to_string(),
            "integer" => "an integer".to_string(),
            other => format!("a {other}"),
        })
        .collect();
    words.join(" or ")
}

fn enum_words(options: &Value) -> String {
    options
        .as_array()
        .map(|a| a.iter().map(|o| o.to_string()).collect::<Vec<_>>().join(", "))
        .unwrap_or_default()
}

/// Keys the schema allows at a place, for "did you mean".
fn allowed_keys(pointer: &str) -> Vec<String> {
    let schema = committed();
    let defs = schema.get("definitions").or_else(|| schema.get("$defs"));
    let def = |name: &str| defs.and_then(|d| d.get(name));
    let parts: Vec<&str> = pointer.split('/').skip(1).collect();
    let target = match parts.as_slice() {
        [] => Some(schema),
        ["services", _] => def("Service"),
        ["services", _, field, rest @ ..] => {
            let nested = match (*field, rest.len()) {
                ("build", 0) => "Build",
                ("deploy", 0) => "Deploy",
                ("healthcheck", 0) => "Healthcheck",
                ("logging", 0) => "Logging",
                ("ports", 1) => "Port",
                ("volumes", 1) => "ServiceVolume",
                ("develop", 0) => "Develop",
                ("networks", 1) => "ServiceNetwork",
                ("depends_on", 1) => "DependsOn",
                _ => "",
            };
            def(nested)
        }
        ["networks", _] => def("Network"),
        ["volumes", _] => def("Volume"),
        ["configs", _] => def("Config"),
        ["secrets", _] => def("Secret"),
        _ => None,
    };
    target
        .and_then(|t| t.get("properties"))
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

/// Span-less check for callers that only hold JSON (tests, tools).
pub fn is_valid(instance: &Value) -> bool {
    validator().is_valid(instance)
}

#[cfg(test)]
mod tests;
