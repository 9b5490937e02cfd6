//! Service order from `depends_on`: levels of services that may start in
//! parallel (each after every service it depends on), and the reverse to
//! stop. Only dependencies that exist count: `required: false` ones that are
//! absent are skipped, as `up` skips them.

use std::collections::BTreeMap;

use petgraph::algo::tarjan_scc;
use petgraph::graphmap::DiGraphMap;

use super::model::{Project, Service};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("dependency cycle detected: {}", .0.join(" -> "))]
pub struct CycleError(pub Vec<String>);

/// What a service needs started first: `depends_on`, and (as compose-go
/// orders them) `links`, `volumes_from` and `service:NAME` namespaces.
/// `names` and everything they depend on, transitively (sorted).
pub fn with_dependencies(project: &Project, names: &[String]) -> Vec<String> {
    let mut seen: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    let mut todo: Vec<String> = names.to_vec();
    while let Some(n) = todo.pop() {
        if !seen.insert(n.clone()) {
            continue;
        }
        if let Some(s) = project.services.get(&n) {
            todo.extend(dependencies(s).into_iter().map(str::to_string));
        }
    }
    seen.into_iter().collect()
}

/// `names` and every service that depends on them, transitively (sorted):
/// what `down SERVICE` takes down with it.
pub fn with_dependents(project: &Project, names: &[String]) -> Vec<String> {
    let mut seen: std::collections::BTreeSet<String> = names.iter().cloned().collect();
    loop {
        let more: Vec<String> = project
            .services
            .iter()
            .filter(|(n, s)| !seen.contains(*n) && dependencies(s).iter().any(|d| seen.contains(*d)))
            .map(|(n, _)| n.clone())
            .collect();
        if more.is_empty() {
            return seen.into_iter().collect();
        }
        seen.extend(more);
    }
}

pub fn dependencies(svc: &Service) -> Vec<&str> {
    let mut deps: Vec<&str> = svc.depends_on.keys().map(String::as_str).collect();
    deps.extend(svc.links.iter().map(|l| l.split(':').next().unwrap_or(l)));
    deps.extend(
        svc.volumes_from
            .iter()
            .filter(|v| !v.starts_with("container:"))
            .map(|v| v.split(':').next().unwrap_or(v)),
    );
    for mode in [&svc.network_mode, &svc.ipc, &svc.pid].into_iter().flatten() {
        if let Some(target) = mode.strip_prefix("service:") {
            deps.push(target);
        }
    }
    deps.sort_unstable();
    deps.dedup();
    deps
}

/// Edge `dependency → dependent`, over existing services.
fn graph(project: &Project) -> DiGraphMap<&str, ()> {
    let mut g = DiGraphMap::new();
    for name in project.services.keys() {
        g.add_node(name.as_str());
    }
    for (name, svc) in &project.services {
        for dep in dependencies(svc) {
            if let Some((dep, _)) = project.services.get_key_value(dep) {
                g.add_edge(dep.as_str(), name.as_str(), ());
            }
        }
    }
    g
}

/// Every cycle, each as `a -> b -> … -> a` following depends_on, starting
/// from its alphabetically first service so messages are stable.
pub fn dependency_cycles(project: &Project) -> Vec<Vec<String>> {
    let g = graph(project);
    let mut cycles = Vec::new();
    for scc in tarjan_scc(&g) {
        let self_loop = scc.len() == 1 && g.contains_edge(scc[0], scc[0]);
        if scc.len() < 2 && !self_loop {
            continue;
        }
        let start = scc.iter().min().copied().unwrap_or_default();
        // Walk depends_on inside the component until we are back at start.
        let mut path = vec![start.to_string()];
        let mut cur = start;
        for _ in 0..scc.len() {
            let next = dependencies(&project.services[cur])
                .into_iter()
                .filter(|d| scc.contains(d))
                .find(|d| *d == start || !path.iter().any(|p| p == d));
            match next {
                Some(n) => {
                    path.push(n.to_string());
                    if n == start {
                        break;
                    }
                    cur = n;
                }
                None => break,
            }
        }
        cycles.push(path);
    }
    cycles.sort();
    cycles
}

/// Start order: level 0 has no dependencies; names sorted within a level.
pub fn start_levels(project: &Project) -> Result<Vec<Vec<String>>, CycleError> {
    if let Some(c) = dependency_cycles(project).into_iter().next() {
        return Err(CycleError(c));
    }
    let g = graph(project);
    let mut level: BTreeMap<&str, usize> = BTreeMap::new();
    // Longest path from a root, by relaxation in topological order.
    let order = petgraph::algo::toposort(&g, None).map_err(|c| CycleError(vec![c.node_id().to_string()]))?;
    for n in order {
        let l = g
            .neighbors_directed(n, petgraph::Direction::Incoming)
            .map(|d| level[d] + 1)
            .max()
            .unwrap_or(0);
        level.insert(n, l);
    }
    let depth = level.values().max().map(|m| m + 1).unwrap_or(0);
    let mut levels = vec![Vec::new(); depth];
    for (name, l) in level {
        levels[l].push(name.to_string());
    }
    Ok(levels)
}

/// Stop order: dependents before what they depend on.
pub fn stop_levels(project: &Project) -> Result<Vec<Vec<String>>, CycleError> {
    let mut l = start_levels(project)?;
    l.reverse();
    Ok(l)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::model::{DependsOn, Service};

    fn project(edges: &[(&str, &[&str])]) -> Project {
        let mut p = Project::default();
        for (name, deps) in edges {
            let mut s = Service::default();
            for d in *deps {
                s.depends_on.insert(
                    d.to_string(),
                    DependsOn {
                        condition: "service_started".into(),
                        required: true,
                        ..Default::default()
                    },
                );
            }
            p.services.insert(name.to_string(), s);
        }
        p
    }

    #[test]
    fn levels_start_in_parallel() {
        let p = project(&[
            ("web", &["db", "cache"]),
            ("db", &[]),
            ("cache", &["db"]),
            ("worker", &["db"]),
            ("lonely", &[]),
        ]);
        assert_eq!(
            start_levels(&p).unwrap(),
            vec![vec!["db", "lonely"], vec!["cache", "worker"], vec!["web"]]
        );
        assert_eq!(stop_levels(&p).unwrap()[0], vec!["web"]);
    }

    #[test]
    fn links_volumes_from_and_namespaces_order_too() {
        let mut p = project(&[("app", &[]), ("vpn", &[]), ("data", &[]), ("db", &[])]);
        let app = p.services.get_mut("app").unwrap();
        app.network_mode = Some("service:vpn".into());
        app.volumes_from = vec!["data:ro".into()];
        app.links = vec!["db:database".into()];
        assert_eq!(start_levels(&p).unwrap(), vec![vec!["data", "db", "vpn"], vec!["app"]]);
    }

    #[test]
    fn missing_optional_dependencies_are_ignored() {
        let p = project(&[("a", &["gone"])]);
        assert_eq!(start_levels(&p).unwrap(), vec![vec!["a"]]);
    }

    #[test]
    fn cycles_are_named() {
        let p = project(&[("a", &["b"]), ("b", &["c"]), ("c", &["a"]), ("d", &["d"])]);
        assert_eq!(dependency_cycles(&p), vec![vec!["a", "b", "c", "a"], vec!["d", "d"]]);
        assert_eq!(
            start_levels(&p).unwrap_err().to_string(),
            "dependency cycle detected: a -> b -> c -> a"
        );
    }
}
