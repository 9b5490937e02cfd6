//! `${VAR}` interpolation (12-interpolation.md) over every string value of a
//! file, and the type casts compose-go applies afterwards so that
//! `privileged: ${PRIV}` becomes a boolean before the schema check.

use super::diag::Diag;
use super::yaml::{Node, Value};

#[derive(Debug, Clone, PartialEq)]
pub enum InterpError {
    /// `${VAR:?msg}` / `${VAR?msg}` with VAR unset (or empty for `:?`).
    Required { name: String, message: String },
    /// Malformed `${...}`: what is wrong, in words.
    Syntax(String),
}

impl std::fmt::Display for InterpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InterpError::Required { name, message } if message.is_empty() => {
                write!(f, "required variable {name} is missing a value")
            }
            InterpError::Required { name, message } => {
                write!(f, "required variable {name} is missing a value: {message}")
            }
            InterpError::Syntax(s) => f.write_str(s),
        }
    }
}

/// Substitute variables in `s`. Returns the text and the names that were
/// unset and had no default (Docker Compose warns about those).
pub fn interpolate_str(s: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<(String, Vec<String>), InterpError> {
    let mut p = Interp {
        src: s.as_bytes(),
        pos: 0,
        lookup,
        unset: Vec::new(),
        depth: 0,
    };
    let out = p.text(None)?;
    Ok((out, p.unset))
}

struct Interp<'a> {
    src: &'a [u8],
    pos: usize,
    lookup: &'a dyn Fn(&str) -> Option<String>,
    unset: Vec<String>,
    depth: usize,
}

fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

impl Interp<'_> {
    /// Read text until `stop` (a `}` closing a default) or the end.
    fn text(&mut self, stop: Option<u8>) -> Result<String, InterpError> {
        let mut out: Vec<u8> = Vec::new();
        while self.pos < self.src.len() {
            let b = self.src[self.pos];
            if Some(b) == stop {
                return Ok(String::from_utf8_lossy(&out).into_owned());
            }
            if b != b'$' {
                out.push(b);
                self.pos += 1;
                continue;
            }
            match self.src.get(self.pos + 1).copied() {
                Some(b'$') => {
                    out.push(b'$');
                    self.pos += 2;
                }
                Some(b'{') => {
                    self.pos += 2;
                    let v = self.braced()?;
                    out.extend_from_slice(v.as_bytes());
                }
                Some(c) if is_name_start(c) => {
                    self.pos += 1;
                    let start = self.pos;
                    while self.pos < self.src.len() && is_name_char(self.src[self.pos]) {
                        self.pos += 1;
                    }
                    let name = String::from_utf8_lossy(&self.src[start..self.pos]).into_owned();
                    out.extend_from_slice(self.value_or_warn(&name).as_bytes());
                }
                // A lone `$` (end of text, `$1`, `$ `) stays as written, like compose-go.
                _ => {
                    out.push(b'$');
                    self.pos += 1;
                }
            }
        }
        if stop.is_some() {
            return Err(InterpError::Syntax("missing closing brace `}`".into()));
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    fn value_or_warn(&mut self, name: &str) -> String {
        match (self.lookup)(name) {
            Some(v) => v,
            None => {
                if !self.unset.iter().any(|n| n == name) {
                    self.unset.push(name.to_string());
                }
                String::new()
            }
        }
    }

    /// After `${`: NAME, then `}` or an operator with its argument.
    fn braced(&mut self) -> Result<String, InterpError> {
        self.depth += 1;
        if self.depth > 64 {
            return Err(InterpError::Syntax("variables nest more than 64 deep".into()));
        }
        let start = self.pos;
        while self.pos < self.src.len() && is_name_char(self.src[self.pos]) {
            self.pos += 1;
        }
        let name = String::from_utf8_lossy(&self.src[start..self.pos]).into_owned();
        let valid_name = !name.is_empty() && is_name_start(name.as_bytes()[0]);
        let rest = &self.src[self.pos..];
        let op: &[u8] = if rest.starts_with(b":-") || rest.starts_with(b":?") || rest.starts_with(b":+") {
            &rest[..2]
        } else if rest.starts_with(b"-") || rest.starts_with(b"?") || rest.starts_with(b"+") {
            &rest[..1]
        } else if rest.starts_with(b"}") {
            b""
        } else if rest.is_empty() {
            return Err(InterpError::Syntax("missing closing brace `}`".into()));
        } else {
            let shown = String::from_utf8_lossy(&self.src[start.saturating_sub(2)..]).into_owned();
            return Err(InterpError::Syntax(format!(
                "invalid interpolation format for `{shown}`"
            )));
        };
        if !valid_name {
            let shown = String::from_utf8_lossy(&self.src[start.saturating_sub(2)..]).into_owned();
            return Err(InterpError::Syntax(format!(
                "invalid interpolation format for `{shown}`: `${{` must be followed by a variable name"
            )));
        }
        self.pos += op.len();
        let result = if op.is_empty() {
            self.pos += 1; // the `}`
            self.value_or_warn(&name)
        } else {
            // The argument is itself interpolated, but only used when needed;
            // evaluate it lazily so `${SET:-${MISSING?}}` does not fail.
            let value = (self.lookup)(&name);
            let colon = op[0] == b':';
            let set = match &value {
                Some(v) => !(colon && v.is_empty()),
                None => false,
            };
            let kind = op[op.len() - 1];
            let arg_needed = match kind {
                b'-' | b'?' => !set,
                _ => set,
            };
            let arg = if arg_needed {
                self.text(Some(b'}'))?
            } else {
                // Parse to find the end, but discard warnings from unused arms.
                // Every name "set" and non-empty: nothing in the unused arm can fail.
                let mut skip = Interp {
                    src: self.src,
                    pos: self.pos,
                    lookup: &|_| Some("x".into()),
                    unset: Vec::new(),
                    depth: self.depth,
                };
                let r = skip.text(Some(b'}'));
                self.pos = skip.pos;
                r?;
                String::new()
            };
            self.pos += 1; // the `}`
            match kind {
                b'-' => {
                    if set {
                        value.unwrap_or_default()
                    } else {
                        arg
                    }
                }
                b'+' => {
                    if set {
                        arg
                    } else {
                        String::new()
                    }
                }
                _ => {
                    if set {
                        value.unwrap_or_default()
                    } else {
                        self.depth -= 1;
                        return Err(InterpError::Required { name, message: arg });
                    }
                }
            }
        };
        self.depth -= 1;
        Ok(result)
    }
}

/// A variable a file uses, as `config --variables` lists it (compose-go's
/// `ExtractVariables`): `${NAME:?err}` is required, `${NAME:-x}` has a
/// default, `${NAME:+x}` an alternate value; the arguments as written.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Variable {
    pub name: String,
    pub required: bool,
    pub default: Option<String>,
    pub alternate: Option<String>,
}

/// The variables `s` refers to, in order (nested arguments included).
pub fn variables(s: &str) -> Vec<Variable> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'$' {
            i += 1;
            continue;
        }
        match b.get(i + 1).copied() {
            Some(b'$') => i += 2,
            Some(b'{') => {
                let start = i + 2;
                let mut j = start;
                while j < b.len() && is_name_char(b[j]) {
                    j += 1;
                }
                // The argument runs to the `}` that closes this `${`.
                let mut depth = 1;
                let mut k = j;
                while k < b.len() {
                    if b[k] == b'$' && b.get(k + 1) == Some(&b'{') {
                        depth += 1;
                        k += 2;
                        continue;
                    }
                    if b[k] == b'}' {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    k += 1;
                }
                let name = &s[start..j];
                if name.is_empty() || !is_name_start(name.as_bytes()[0]) || k >= b.len() {
                    i = start;
                    continue;
                }
                let rest = &s[j..k];
                let op_len = if rest.starts_with(':') { 2 } else { 1 }.min(rest.len());
                let (op, arg) = rest.split_at(op_len);
                let mut v = Variable {
                    name: name.to_string(),
                    ..Variable::default()
                };
                match op.trim_start_matches(':') {
                    "?" => v.required = true,
                    "-" => v.default = Some(arg.to_string()),
                    "+" => v.alternate = Some(arg.to_string()),
                    _ => {}
                }
                out.push(v);
                out.extend(variables(arg));
                i = k + 1;
            }
            Some(c) if is_name_start(c) => {
                let mut j = i + 1;
                while j < b.len() && is_name_char(b[j]) {
                    j += 1;
                }
                out.push(Variable {
                    name: s[i + 1..j].to_string(),
                    ..Variable::default()
                });
                i = j;
            }
            _ => i += 1,
        }
    }
    out
}

/// Every variable the string values of `root` refer to.
pub fn tree_variables(root: &Node) -> Vec<Variable> {
    let mut out = Vec::new();
    fn walk(n: &Node, out: &mut Vec<Variable>) {
        match &n.value {
            Value::String(s) if s.contains('$') => out.extend(variables(s)),
            Value::Seq(items) => items.iter().for_each(|i| walk(i, out)),
            Value::Map(m) => m.values().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    walk(root, &mut out);
    out
}

/// Interpolate every string value in `root` (never keys), then cast values
/// that came out of interpolation where the spec wants another type.
pub fn interpolate_tree(root: &mut Node, lookup: &dyn Fn(&str) -> Option<String>) -> Vec<Diag> {
    let mut diags = Vec::new();
    let mut warned = Vec::new();
    let mut path = Vec::new();
    walk(root, lookup, &mut path, &mut diags, &mut warned);
    diags
}

fn walk<'a>(
    node: &'a mut Node,
    lookup: &dyn Fn(&str) -> Option<String>,
    path: &mut Vec<&'a str>,
    diags: &mut Vec<Diag>,
    warned: &mut Vec<String>,
) {
    if let Value::String(s) = &node.value {
        if !s.contains('$') {
            return;
        }
        match interpolate_str(s, lookup) {
            Ok((out, unset)) => {
                for name in unset {
                    if !warned.contains(&name) {
                        diags.push(
                            Diag::warning(
                                node.span,
                                format!("the \"{name}\" variable is not set, defaulting to a blank string"),
                            )
                            .with_label("used here")
                            .with_help(format!(
                                "set {name} in the environment or in .env, or give a default: ${{{name}:-value}}"
                            )),
                        );
                        warned.push(name);
                    }
                }
                node.value = cast(path, out);
            }
            Err(e) => {
                let help = match &e {
                    InterpError::Required { name, .. } => format!("set {name} in the environment or in .env"),
                    InterpError::Syntax(_) => {
                        "write `${NAME}`, `${NAME:-default}`, ... or `$$` for a literal `$`".into()
                    }
                };
                diags.push(Diag::error(node.span, e.to_string()).with_help(help));
            }
        }
        return;
    }
    match &mut node.value {
        Value::Seq(items) => {
            // Indexes only ever match a `*` in the cast table.
            for item in items.iter_mut() {
                path.push("*");
                walk(item, lookup, path, diags, warned);
                path.pop();
            }
        }
        Value::Map(m) => {
            for (k, v) in m.iter_mut() {
                path.push(k.name.as_str());
                walk(v, lookup, path, diags, warned);
                path.pop();
            }
        }
        _ => {}
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Cast {
    Bool,
    Int,
    Float,
}

/// Paths (with `*` for any key or index) whose interpolated values are cast,
/// the table compose-go keeps for the same reason.
const CASTS: &[(&str, Cast)] = &[
    ("services.*.build.privileged", Cast::Bool),
    ("services.*.cpu_count", Cast::Int),
    ("services.*.cpu_percent", Cast::Float),
    ("services.*.cpu_period", Cast::Int),
    ("services.*.cpu_quota", Cast::Int),
    ("services.*.cpu_rt_period", Cast::Int),
    ("services.*.cpu_rt_runtime", Cast::Int),
    ("services.*.cpus", Cast::Float),
    ("services.*.cpu_shares", Cast::Int),
    ("services.*.init", Cast::Bool),
    ("services.*.deploy.replicas", Cast::Int),
    ("services.*.deploy.update_config.parallelism", Cast::Int),
    ("services.*.deploy.update_config.max_failure_ratio", Cast::Float),
    ("services.*.deploy.rollback_config.parallelism", Cast::Int),
    ("services.*.deploy.rollback_config.max_failure_ratio", Cast::Float),
    ("services.*.deploy.restart_policy.max_attempts", Cast::Int),
    ("services.*.deploy.resources.limits.cpus", Cast::Float),
    ("services.*.deploy.resources.limits.pids", Cast::Int),
    ("services.*.deploy.resources.reservations.cpus", Cast::Float),
    ("services.*.deploy.resources.reservations.devices.*.count", Cast::Int),
    ("services.*.depends_on.*.required", Cast::Bool),
    ("services.*.depends_on.*.restart", Cast::Bool),
    ("services.*.healthcheck.retries", Cast::Int),
    ("services.*.healthcheck.disable", Cast::Bool),
    ("services.*.mem_swappiness", Cast::Int),
    ("services.*.oom_kill_disable", Cast::Bool),
    ("services.*.oom_score_adj", Cast::Int),
    ("services.*.pids_limit", Cast::Int),
    ("services.*.ports.*.target", Cast::Int),
    ("services.*.privileged", Cast::Bool),
    ("services.*.read_only", Cast::Bool),
    ("services.*.scale", Cast::Int),
    ("services.*.stdin_open", Cast::Bool),
    ("services.*.tty", Cast::Bool),
    ("services.*.ulimits.*", Cast::Int),
    ("services.*.ulimits.*.hard", Cast::Int),
    ("services.*.ulimits.*.soft", Cast::Int),
    ("services.*.volumes.*.read_only", Cast::Bool),
    ("services.*.volumes.*.bind.create_host_path", Cast::Bool),
    ("services.*.volumes.*.volume.nocopy", Cast::Bool),
    ("services.*.volumes.*.tmpfs.mode", Cast::Int),
    ("services.*.blkio_config.weight", Cast::Int),
    ("services.*.blkio_config.weight_device.*.weight", Cast::Int),
    // `services.*.secrets.*.mode` / `configs.*.mode` are not cast: a string
    // there is octal (normalize's `file_refs`), as compose-go reads it.
    ("services.*.develop.watch.*.initial_sync", Cast::Bool),
    ("networks.*.external", Cast::Bool),
    ("networks.*.internal", Cast::Bool),
    ("networks.*.attachable", Cast::Bool),
    ("networks.*.enable_ipv4", Cast::Bool),
    ("networks.*.enable_ipv6", Cast::Bool),
    ("volumes.*.external", Cast::Bool),
    ("secrets.*.external", Cast::Bool),
    ("configs.*.external", Cast::Bool),
];

/// The table split into segments once: this runs for every string value.
fn cast_table() -> &'static [(Vec<&'static str>, Cast)] {
    static TABLE: std::sync::OnceLock<Vec<(Vec<&'static str>, Cast)>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| CASTS.iter().map(|(p, c)| (p.split('.').collect(), *c)).collect())
}

/// The type the spec wants at `path`, where a file may hold a string.
pub(crate) fn cast_at(path: &[&str]) -> Option<Cast> {
    // Every pattern is at least three deep and starts with a section name.
    if path.len() < 3 || !matches!(path[0], "services" | "networks" | "volumes" | "secrets" | "configs") {
        return None;
    }
    cast_table()
        .iter()
        .find(|(parts, _)| parts.len() == path.len() && parts.iter().zip(path).all(|(p, s)| *p == "*" || p == s))
        .map(|(_, k)| *k)
}

fn cast(path: &[&str], s: String) -> Value {
    match cast_at(path) {
        Some(kind) => cast_to(kind, s),
        None => Value::String(s),
    }
}

/// Convert if the text reads as `kind`, else leave the string (the caller
/// decides whether that is an error).
pub(crate) fn cast_to(kind: Cast, s: String) -> Value {
    match kind {
        Cast::Bool => match s.to_ascii_lowercase().as_str() {
            "true" | "yes" | "y" | "on" => Value::Bool(true),
            "false" | "no" | "n" | "off" => Value::Bool(false),
            _ => Value::String(s),
        },
        Cast::Int => s.trim().parse::<i64>().map(Value::Int).unwrap_or(Value::String(s)),
        Cast::Float => s.trim().parse::<f64>().map(Value::Float).unwrap_or(Value::String(s)),
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn variables_are_listed_with_their_operators() {
        let v = variables("${PORT:-8080}:80 $USER ${TAG:?set TAG} ${DEBUG:+--debug} $$NOT ${A-${B}}");
        let names: Vec<&str> = v.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["PORT", "USER", "TAG", "DEBUG", "A", "B"]);
        assert_eq!(v[0].default.as_deref(), Some("8080"));
        assert!(v[2].required && v[2].default.is_none());
        assert_eq!(v[3].alternate.as_deref(), Some("--debug"));
        assert_eq!(v[4].default.as_deref(), Some("${B}"));
        assert!(!v[1].required && v[1].default.is_none());
    }
    use super::*;
    use crate::compose::diag::FileId;
    use std::collections::HashMap;

    fn env() -> HashMap<&'static str, &'static str> {
        HashMap::from([("SET", "value"), ("EMPTY", ""), ("N", "3")])
    }

    fn run(s: &str) -> Result<(String, Vec<String>), InterpError> {
        let e = env();
        interpolate_str(s, &|k| e.get(k).map(|v| v.to_string()))
    }

    fn ok(s: &str) -> String {
        run(s).expect("interpolates").0
    }

    #[test]
    fn every_form_of_the_spec() {
        let cases = [
            ("$SET", "value"),
            ("${SET}", "value"),
            ("a${SET}b", "avalueb"),
            ("$SET-x", "value-x"),
            ("${UNSET:-def}", "def"),
            ("${EMPTY:-def}", "def"),
            ("${UNSET-def}", "def"),
            ("${EMPTY-def}", ""),
            ("${SET:-def}", "value"),
            ("${SET:+alt}", "alt"),
            ("${EMPTY:+alt}", ""),
            ("${EMPTY+alt}", "alt"),
            ("${UNSET+alt}", ""),
            ("${UNSET:-${SET}}", "value"),
            ("${UNSET:-${ALSO_UNSET:-deep}}", "deep"),
            ("${SET:+${N}x}", "3x"),
            ("$$SET", "$SET"),
            ("$${SET}", "${SET}"),
            ("cost: 5$", "cost: 5$"),
            ("${UNSET:-a b c}", "a b c"),
            ("${SET:?must be set}", "value"),
            ("${UNSET:-${SET:?never}}", "value"),
            ("${SET:-${MISSING?unused}}", "value"),
        ];
        for (input, want) in cases {
            assert_eq!(ok(input), want, "{input}");
        }
    }

    #[test]
    fn unset_variables_are_reported_once() {
        let (out, unset) = run("${A} $A ${B:-x} ${C}").unwrap();
        assert_eq!(out, "  x ");
        assert_eq!(unset, vec!["A".to_string(), "C".to_string()]);
    }

    #[test]
    fn required_and_syntax_errors() {
        assert_eq!(
            run("${UNSET:?set it in .env}").unwrap_err().to_string(),
            "required variable UNSET is missing a value: set it in .env"
        );
        assert_eq!(
            run("${EMPTY:?}").unwrap_err().to_string(),
            "required variable EMPTY is missing a value"
        );
        assert!(run("${EMPTY?}").is_ok());
        assert_eq!(run("${SET").unwrap_err().to_string(), "missing closing brace `}`");
        assert!(run("${}")
            .unwrap_err()
            .to_string()
            .contains("must be followed by a variable name"));
        assert!(run("${A B}")
            .unwrap_err()
            .to_string()
            .starts_with("invalid interpolation format"));
        assert!(run("${UNSET:-${X").is_err());
    }

    #[test]
    fn tree_values_not_keys_and_casts() {
        let mut root = crate::compose::yaml::parse(
            "services:\n  $SET:\n    image: app:${N}\n    privileged: ${T}\n    scale: ${N}\n    command: ${N}\n",
            FileId(0),
        )
        .unwrap();
        let vars = HashMap::from([("N", "3"), ("T", "yes"), ("SET", "v")]);
        let diags = interpolate_tree(&mut root, &|k| vars.get(k).map(|v| v.to_string()));
        assert!(diags.is_empty(), "{diags:?}");
        let svc = root.at_pointer("/services/$SET").expect("key untouched");
        assert_eq!(svc.get("image").unwrap().as_str(), Some("app:3"));
        assert_eq!(svc.get("privileged").unwrap().as_bool(), Some(true));
        assert!(matches!(svc.get("scale").unwrap().value, Value::Int(3)));
        assert_eq!(svc.get("command").unwrap().as_str(), Some("3"));
    }

    #[test]
    fn tree_errors_and_warnings_have_spans() {
        let mut root = crate::compose::yaml::parse(
            "services:\n  a:\n    image: ${X:?need X}\n    command: $Y $Y\n",
            FileId(0),
        )
        .unwrap();
        let diags = interpolate_tree(&mut root, &|_| None);
        assert_eq!(diags.len(), 2);
        assert!(diags[0].is_error() && diags[0].span.line == 3);
        assert!(!diags[1].is_error() && diags[1].message.contains("\"Y\" variable is not set"));
    }
}
