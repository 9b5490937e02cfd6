//! `extends`: a service built on another one, in the same file or another,
//! resolved through chains (each base in the context of its own file) with
//! cycles reported as the chain that loops.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::diag::{did_you_mean, Diag, Span};
use super::merge::merge_service;
use super::yaml::{Node, Value};

type LoadOther<'a> = dyn FnMut(&Path, Span) -> Result<Node, Vec<Diag>> + 'a;

/// Where a service lives: this file (`None`) or another one.
type Origin = Option<PathBuf>;

struct Resolver<'l, 'a> {
    load_other: &'l mut LoadOther<'a>,
    /// Other files, as loaded (their services not yet resolved).
    files: HashMap<PathBuf, Node>,
    /// Resolved services by (file, name).
    done: HashMap<(Origin, String), Node>,
    /// Services already reported as part of a cycle: one error per cycle.
    failed: std::collections::HashSet<(Origin, String)>,
    diags: Vec<Diag>,
}

pub fn apply(root: &mut Node, load_other: &mut LoadOther<'_>) -> Vec<Diag> {
    let Some(services) = root.get("services").and_then(Node::as_map) else {
        return Vec::new();
    };
    let names: Vec<String> = services
        .iter()
        .filter(|(_, s)| s.get("extends").is_some())
        .map(|(k, _)| k.name.clone())
        .collect();
    if names.is_empty() {
        return Vec::new();
    }
    let local = root.clone();
    let mut r = Resolver {
        load_other,
        files: HashMap::new(),
        done: HashMap::new(),
        failed: Default::default(),
        diags: Vec::new(),
    };
    let mut resolved = Vec::new();
    for name in names {
        let mut chain = Vec::new();
        if let Some(svc) = r.resolve(&local, None, &name, &mut chain) {
            resolved.push((name, svc));
        }
    }
    if let Some(services) = root.get_mut("services").and_then(Node::as_map_mut) {
        for (name, svc) in resolved {
            if let Some(slot) = services.get_mut(name.as_str()) {
                *slot = svc;
            }
        }
    }
    r.diags
}

impl Resolver<'_, '_> {
    fn resolve(&mut self, tree: &Node, origin: Origin, name: &str, chain: &mut Vec<(Origin, String)>) -> Option<Node> {
        let id = (origin.clone(), name.to_string());
        if let Some(done) = self.done.get(&id) {
            return Some(done.clone());
        }
        if self.failed.contains(&id) {
            return None;
        }
        let services = tree.get("services").and_then(Node::as_map);
        let svc = services.and_then(|s| s.get(name))?.clone();
        if chain.contains(&id) {
            let mut names: Vec<String> = chain.iter().skip_while(|c| **c != id).map(|(_, n)| n.clone()).collect();
            names.push(name.to_string());
            self.failed.extend(chain.iter().skip_while(|c| **c != id).cloned());
            self.diags.push(
                Diag::error(
                    svc.get("extends").map(|e| e.span).unwrap_or(svc.span),
                    format!("circular extends: {}", names.join(" -> ")),
                )
                .with_label("this extends closes the loop")
                .with_help("break the loop: a service cannot extend itself, directly or through others"),
            );
            return None;
        }
        let Some(ext) = svc.get("extends") else {
            return Some(svc);
        };
        let ext_span = ext.span;
        let (base_name, file, name_span) = match &ext.value {
            Value::String(s) => (s.clone(), None, ext.span),
            Value::Map(m) => (
                m.get("service").and_then(Node::scalar_text).unwrap_or_default(),
                m.get("file").and_then(Node::as_str).map(PathBuf::from),
                m.get("service").map(|n| n.span).unwrap_or(ext.span),
            ),
            _ => return Some(svc),
        };
        chain.push(id.clone());
        let base = match file {
            Some(path) if Some(&path) != origin.as_ref() => {
                let other = match self.files.get(&path) {
                    Some(t) => t.clone(),
                    None => match (self.load_other)(&path, ext_span) {
                        Ok(t) => {
                            self.files.insert(path.clone(), t.clone());
                            t
                        }
                        Err(d) => {
                            self.diags.extend(d);
                            chain.pop();
                            return None;
                        }
                    },
                };
                self.lookup(&other, Some(path), &base_name, name_span, chain)
            }
            _ => self.lookup(tree, origin.clone(), &base_name, name_span, chain),
        };
        chain.pop();
        let mut base = base?;
        if let Some(m) = base.as_map_mut() {
            m.shift_remove("extends");
        }
        let mut main = svc;
        if let Some(m) = main.as_map_mut() {
            m.shift_remove("extends");
        }
        let merged = merge_service(base, main);
        self.done.insert(id, merged.clone());
        Some(merged)
    }

    fn lookup(
        &mut self,
        tree: &Node,
        origin: Origin,
        name: &str,
        span: Span,
        chain: &mut Vec<(Origin, String)>,
    ) -> Option<Node> {
        let services = tree.get("services").and_then(Node::as_map);
        if services.is_none_or(|s| !s.contains_key(name)) {
            let known: Vec<&str> = services.into_iter().flatten().map(|(k, _)| k.name.as_str()).collect();
            let where_ = match &origin {
                Some(p) => format!(" in {}", p.display()),
                None => String::new(),
            };
            let mut d = Diag::error(span, format!("cannot extend service `{name}`: no such service{where_}"))
                .with_label("unknown service");
            d = match did_you_mean(name, known) {
                Some(h) => d.with_help(h),
                None => d.with_help("name a service defined in that file"),
            };
            self.diags.push(d);
            return None;
        }
        self.resolve(tree, origin, name, chain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::diag::FileId;
    use crate::compose::yaml::parse;
    use serde_json::json;

    fn run(main: &str, other: &str) -> (serde_json::Value, Vec<Diag>) {
        let mut root = parse(main, FileId(0)).unwrap();
        let other = parse(other, FileId(1)).unwrap();
        let mut loads = 0;
        let diags = apply(&mut root, &mut |p, s| {
            loads += 1;
            if p == Path::new("/other.yaml") {
                Ok(other.clone())
            } else {
                Err(vec![Diag::error(s, format!("cannot read {}", p.display()))])
            }
        });
        assert!(loads <= 1, "other files are loaded once");
        (root.to_json(), diags)
    }

    #[test]
    fn same_file_chain_and_other_file() {
        let (r, d) = run(
            "services:\n  base: {image: b, user: root, environment: {A: '1', B: '1'}}\n  common: {extends: base, image: c}\n  cli: {extends: {service: common}, environment: {B: '2'}}\n  far: {extends: {file: /other.yaml, service: mid}}\n",
            "services:\n  root: {image: r, cap_add: [A]}\n  mid: {extends: root, cap_add: [B]}\n",
        );
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(
            r["services"]["cli"],
            json!({"image": "c", "user": "root", "environment": {"A": "1", "B": "2"}})
        );
        assert_eq!(r["services"]["far"], json!({"image": "r", "cap_add": ["A", "B"]}));
    }

    #[test]
    fn cycles_name_the_chain() {
        let (_, d) = run(
            "services:\n  a: {image: x, extends: b}\n  b: {extends: c}\n  c: {extends: a}\n",
            "",
        );
        assert_eq!(d.len(), 1, "one error per cycle: {d:?}");
        assert_eq!(d[0].message, "circular extends: a -> b -> c -> a");
    }

    #[test]
    fn unknown_services_and_files() {
        let (_, d) = run("services:\n  webapp: {image: x}\n  w: {extends: web-app}\n  z: {extends: {file: /nope.yaml, service: a}}\n", "");
        assert_eq!(d.len(), 2, "{d:?}");
        assert_eq!(d[0].message, "cannot extend service `web-app`: no such service");
        assert_eq!(d[0].help.as_deref(), Some("did you mean `webapp`?"));
        assert!(d[1].message.contains("cannot read /nope.yaml"));
    }
}
