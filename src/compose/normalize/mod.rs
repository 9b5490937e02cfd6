//! Short syntax → the long form the spec defines, per file
//! ([`canonicalize`]), and the project-wide defaults that need the project
//! name ([`finalize`]). The long form is what the model reads and what
//! `rcompose config` prints.

mod bytes;
mod duration;
mod finalize;
mod ports;
mod service;
mod shell_words;
mod volumes;

use std::path::Path;

pub use bytes::parse_bytes;
pub use duration::{format_duration, parse_duration};
pub use finalize::finalize;
pub use ports::{parse_port, PortLong};
pub use shell_words::split_shell_words;
pub use volumes::{absolute_host_path, clean_path, parse_volume};

use super::diag::{Diag, Span};
use super::yaml::{Key, Map, Node, Value};

/// What every rule needs to know about the file being canonicalized.
pub(crate) struct Ctx<'a> {
    pub base: &'a Path,
    pub home: Option<&'a Path>,
    pub diags: Vec<Diag>,
}

impl Ctx<'_> {
    pub fn error(&mut self, span: Span, message: String, help: &str) {
        self.diags.push(Diag::error(span, message).with_help(help));
    }

    pub fn path(&self, s: &str) -> String {
        absolute_host_path(s, self.base, self.home)
    }
}

pub fn canonicalize(root: &mut Node, working_dir: &Path, home: Option<&Path>) -> Vec<Diag> {
    let mut cx = Ctx {
        base: working_dir,
        home,
        diags: Vec::new(),
    };
    coerce_scalars(root, &mut Vec::new(), &mut cx);
    let Some(top) = root.as_map_mut() else {
        return cx.diags;
    };
    if let Some(services) = top.get_mut("services").and_then(Node::as_map_mut) {
        for svc in services.values_mut() {
            service::canonicalize_service(svc, &mut cx);
        }
    }
    for section in ["networks", "volumes", "configs", "secrets"] {
        if let Some(m) = top.get_mut(section).and_then(Node::as_map_mut) {
            for res in m.values_mut() {
                resource(section, res, &mut cx);
            }
        }
    }
    if let Some(inc) = top.get_mut("include") {
        include_paths(inc, &mut cx);
    }
    cx.diags
}

/// `privileged: "true"` is a boolean, as compose-go casts it; a string that
/// does not read as the type the spec wants there is an error.
fn coerce_scalars<'a>(node: &'a mut Node, path: &mut Vec<&'a str>, cx: &mut Ctx) {
    use crate::compose::interpolate::{cast_at, cast_to, Cast};
    if let Value::String(s) = &node.value {
        let Some(kind) = cast_at(path) else { return };
        let v = cast_to(kind, s.clone());
        if matches!(v, Value::String(_)) {
            let (want, help) = match kind {
                Cast::Bool => ("a boolean", "write true or false"),
                Cast::Int => ("an integer", "write a whole number, e.g. 3"),
                Cast::Float => ("a number", "write a number, e.g. 0.5"),
            };
            let msg = format!("`{}` must be {want}, found \"{s}\"", path.join("."));
            cx.error(node.span, msg, help);
            node.value = Value::Null;
        } else {
            node.value = v;
        }
        return;
    }
    match &mut node.value {
        Value::Map(m) => {
            for (k, v) in m.iter_mut() {
                path.push(k.name.as_str());
                coerce_scalars(v, path, cx);
                path.pop();
            }
        }
        Value::Seq(items) => {
            for v in items.iter_mut() {
                path.push("*");
                coerce_scalars(v, path, cx);
                path.pop();
            }
        }
        _ => {}
    }
}

/// Top-level networks / volumes / configs / secrets entries.
fn resource(section: &str, node: &mut Node, cx: &mut Ctx) {
    if node.is_null() {
        node.value = Value::Map(Map::default());
        return;
    }
    let span = node.span;
    let Some(m) = node.as_map_mut() else { return };
    // Deprecated `external: {name: x}` → `external: true` + `name: x`.
    if let Some(ext) = m.get_mut("external") {
        if let Some(name) = ext.get("name").and_then(Node::scalar_text) {
            let ext_span = ext.span;
            ext.value = Value::Bool(true);
            cx.diags.push(
                Diag::warning(ext_span, format!("`external.name` is deprecated in {section}"))
                    .with_help(format!("write `external: true` and `name: {name}`")),
            );
            m.entry(Key::new("name", ext_span))
                .or_insert_with(|| Node::string(name, ext_span));
        } else if ext.is_null() || ext.as_map().is_some_and(|x| x.is_empty()) {
            ext.value = Value::Bool(true);
        }
    }
    for key in ["driver_opts", "labels"] {
        if let Some(n) = m.get_mut(key) {
            service::to_string_map(n, '=');
        }
    }
    if matches!(section, "configs" | "secrets") {
        if let Some(f) = m.get_mut("file") {
            if let Some(s) = f.as_str() {
                let abs = cx.path(s);
                f.value = Value::String(abs);
            }
        }
    }
    let _ = span;
}

/// `include` entries: short string → `{path: [abs]}`; paths made absolute.
fn include_paths(node: &mut Node, cx: &mut Ctx) {
    let Some(items) = node.as_seq_mut() else {
        return;
    };
    for item in items.iter_mut() {
        let span = item.span;
        if let Some(s) = item.as_str() {
            let mut m = Map::default();
            m.insert(
                Key::new("path", span),
                Node::seq(vec![Node::string(cx.path(s), span)], span),
            );
            *item = Node::map(m, span);
            continue;
        }
        let Some(m) = item.as_map_mut() else { continue };
        for key in ["path", "env_file"] {
            if let Some(p) = m.get_mut(key) {
                service::to_list(p);
                for e in p.as_seq_mut().into_iter().flatten() {
                    if let Some(s) = e.as_str() {
                        e.value = Value::String(cx.path(s));
                    }
                }
            }
        }
        if let Some(d) = m.get_mut("project_directory") {
            if let Some(s) = d.as_str() {
                d.value = Value::String(cx.path(s));
            }
        }
    }
}

#[cfg(test)]
mod tests;
