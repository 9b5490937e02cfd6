//! Profiles (15-profiles.md): which services take part in this run.

use std::collections::BTreeSet;

use super::diag::{did_you_mean, Diag, Span};
use super::yaml::Node;

fn service_profiles(svc: &Node) -> Vec<String> {
    svc.get("profiles")
        .and_then(Node::as_seq)
        .into_iter()
        .flatten()
        .filter_map(Node::scalar_text)
        .collect()
}

/// Every profile named in the project, sorted (`config --profiles`).
pub fn all_profiles(root: &Node) -> Vec<String> {
    let mut set = BTreeSet::new();
    for svc in root
        .get("services")
        .and_then(Node::as_map)
        .into_iter()
        .flatten()
        .map(|(_, s)| s)
    {
        set.extend(service_profiles(svc));
    }
    set.into_iter().collect()
}

/// Drop services whose profiles are all inactive, keeping those named on
/// the command line and everything enabled services depend on.
pub fn apply(root: &mut Node, active: &[String], requested: &[String]) -> Vec<Diag> {
    let mut diags = Vec::new();
    let Some(services) = root.get("services").and_then(Node::as_map) else {
        for r in requested {
            diags.push(
                Diag::error(Span::NONE, format!("no such service: {r}")).with_help("the project defines no services"),
            );
        }
        return diags;
    };
    let all = active.iter().any(|p| p == "*");
    let mut enabled: BTreeSet<String> = BTreeSet::new();
    for (name, svc) in services {
        let profiles = service_profiles(svc);
        if profiles.is_empty() || all || profiles.iter().any(|p| active.contains(p)) {
            enabled.insert(name.name.clone());
        }
    }
    for r in requested {
        if services.contains_key(r.as_str()) {
            enabled.insert(r.clone());
        } else {
            let d = Diag::error(Span::NONE, format!("no such service: {r}"));
            diags.push(match did_you_mean(r, services.keys().map(|k| k.name.as_str())) {
                Some(h) => d.with_help(h),
                None => d.with_help("run `rcompose config --services` to list the services"),
            });
        }
    }
    // Dependencies of enabled services come along, transitively.
    let mut queue: Vec<String> = enabled.iter().cloned().collect();
    while let Some(name) = queue.pop() {
        let Some(deps) = services
            .get(name.as_str())
            .and_then(|s| s.get("depends_on"))
            .and_then(Node::as_map)
        else {
            continue;
        };
        for dep in deps.keys() {
            if services.contains_key(dep.name.as_str()) && enabled.insert(dep.name.clone()) {
                queue.push(dep.name.clone());
            }
        }
    }
    if let Some(m) = root.get_mut("services").and_then(Node::as_map_mut) {
        m.retain(|k, _| enabled.contains(&k.name));
    }
    diags
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::diag::FileId;
    use crate::compose::yaml::parse;

    const FILE: &str = "services:\n  web: {image: w, depends_on: {db: {}}}\n  db: {image: d}\n  debug: {image: b, profiles: [debug]}\n  metrics: {image: m, profiles: [monitoring], depends_on: {exporter: {}}}\n  exporter: {image: e, profiles: [exp]}\n";

    fn names(active: &[&str], requested: &[&str]) -> (Vec<String>, Vec<Diag>) {
        let mut root = parse(FILE, FileId(0)).unwrap();
        let a: Vec<String> = active.iter().map(|s| s.to_string()).collect();
        let r: Vec<String> = requested.iter().map(|s| s.to_string()).collect();
        let d = apply(&mut root, &a, &r);
        (
            root.get("services")
                .unwrap()
                .as_map()
                .unwrap()
                .keys()
                .map(|k| k.name.clone())
                .collect(),
            d,
        )
    }

    #[test]
    fn selection() {
        assert_eq!(names(&[], &[]).0, ["web", "db"]);
        assert_eq!(names(&["monitoring"], &[]).0, ["web", "db", "metrics", "exporter"]);
        assert_eq!(names(&["*"], &[]).0.len(), 5);
        assert_eq!(names(&[], &["debug"]).0, ["web", "db", "debug"]);
        let (_, d) = names(&[], &["debgu"]);
        assert_eq!(d[0].message, "no such service: debgu");
        assert_eq!(d[0].help.as_deref(), Some("did you mean `debug`?"));
    }

    #[test]
    fn lists_profiles() {
        let root = parse(FILE, FileId(0)).unwrap();
        assert_eq!(all_profiles(&root), ["debug", "exp", "monitoring"]);
    }
}
