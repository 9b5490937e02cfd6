//! Semantic checks on the loaded project: what the schema cannot see.
//! References to undefined services, networks, volumes, configs and secrets
//! (with "did you mean"), `depends_on` cycles, services that cannot start,
//! names that would collide. Every problem is reported, in file order.

use std::collections::{BTreeMap, HashMap};

use super::diag::{did_you_mean, Diag, Span};
use super::graph;
use super::model::{Project, Service};
use super::yaml::Node;

const RESTART: &[&str] = &["no", "always", "on-failure", "unless-stopped"];
const CONDITIONS: &[&str] = &["service_started", "service_healthy", "service_completed_successfully"];

struct Checker<'a> {
    project: &'a Project,
    root: &'a Node,
    diags: Vec<Diag>,
}

pub fn check(project: &Project, root: &Node) -> Vec<Diag> {
    let mut c = Checker {
        project,
        root,
        diags: Vec::new(),
    };
    for (name, svc) in &project.services {
        c.service(name, svc);
    }
    c.container_names();
    c.published_ports();
    c.cycles();
    let mut diags = c.diags;
    diags.sort_by_key(|d| (d.span.file, d.span.start));
    diags
}

impl Checker<'_> {
    fn span(&self, pointer: &str) -> Span {
        self.root.at_pointer(pointer).map(|n| n.span).unwrap_or(Span::NONE)
    }

    fn key_span(&self, pointer: &str) -> Span {
        self.root
            .key_span_at_pointer(pointer)
            .unwrap_or_else(|| self.span(pointer))
    }

    /// `what` `name` used at `span` is not among `known`.
    fn undefined<'k>(
        &mut self,
        span: Span,
        what: &str,
        name: &str,
        service: &str,
        known: impl IntoIterator<Item = &'k str>,
        hint: &str,
    ) {
        let d = Diag::error(span, format!("service `{service}` refers to undefined {what} `{name}`"))
            .with_label(format!("no such {what}"));
        let d = match did_you_mean(name, known) {
            Some(h) => d.with_help(h),
            None => d.with_help(hint.to_string()),
        };
        self.diags.push(d);
    }

    fn service(&mut self, name: &str, svc: &Service) {
        let base = format!("/services/{name}");
        let p = self.project;
        if svc.image.is_none() && svc.build.is_none() && svc.provider.is_none() {
            self.diags.push(
                Diag::error(
                    self.key_span(&base),
                    format!("service `{name}` has neither an image nor a build context specified"),
                )
                .with_label("cannot start without one")
                .with_help("add `image: NAME` or `build: DIR`"),
            );
        }
        if let Some(r) = &svc.restart {
            let policy = r.split(':').next().unwrap_or_default();
            let count_ok = match r.split_once(':') {
                Some(("on-failure", n)) => n.parse::<u32>().is_ok(),
                Some(_) => false,
                None => true,
            };
            if !RESTART.contains(&policy) || !count_ok {
                self.diags.push(
                    Diag::error(
                        self.span(&format!("{base}/restart")),
                        format!("invalid restart policy `{r}` in service `{name}`"),
                    )
                    .with_help("use no, always, on-failure[:max-retries] or unless-stopped"),
                );
            }
        }
        for (dep, cond) in &svc.depends_on {
            let ptr = format!("{base}/depends_on/{dep}");
            if !p.services.contains_key(dep) && cond.required {
                self.undefined(
                    self.key_span(&ptr),
                    "service",
                    dep,
                    name,
                    p.services.keys().map(String::as_str),
                    "define it under `services`, or mark the dependency `required: false`",
                );
            }
            if !CONDITIONS.contains(&cond.condition.as_str()) {
                self.diags.push(
                    Diag::error(
                        self.span(&format!("{ptr}/condition")),
                        format!("invalid depends_on condition `{}`", cond.condition),
                    )
                    .with_help("use service_started, service_healthy or service_completed_successfully"),
                );
            }
        }
        // Every other place that names a service: links, volumes_from and
        // the `service:NAME` namespace modes.
        let mut refs: Vec<(&str, &str)> = Vec::new();
        refs.extend(svc.links.iter().map(|l| (l.split(':').next().unwrap_or(l), "links")));
        refs.extend(
            svc.volumes_from
                .iter()
                .filter(|v| !v.starts_with("container:"))
                .map(|v| (v.split(':').next().unwrap_or(v), "volumes_from")),
        );
        for (field, value) in [
            ("network_mode", &svc.network_mode),
            ("ipc", &svc.ipc),
            ("pid", &svc.pid),
        ] {
            if let Some(target) = value.as_deref().and_then(|v| v.strip_prefix("service:")) {
                refs.push((target, field));
            }
        }
        for (target, field) in refs {
            if !p.services.contains_key(target) {
                let span = self.span(&format!("{base}/{field}"));
                let known = p.services.keys().map(String::as_str);
                self.undefined(span, "service", target, name, known, "define it under `services`");
            }
        }
        if svc.network_mode.is_some()
            && !svc.networks.is_empty()
            && self
                .root
                .at_pointer(&format!("{base}/networks"))
                .is_some_and(|n| !is_implicit_default(n))
        {
            self.diags.push(
                Diag::error(
                    self.key_span(&format!("{base}/network_mode")),
                    format!("service `{name}` declares both network_mode and networks"),
                )
                .with_help("network_mode replaces the service's networks: keep only one of the two"),
            );
        }
        for net in svc.networks.keys() {
            if !p.networks.contains_key(net) {
                let span = self.key_span(&format!("{base}/networks/{net}"));
                self.undefined(
                    span,
                    "network",
                    net,
                    name,
                    p.networks.keys().map(String::as_str),
                    "define it under the top-level `networks`",
                );
            }
        }
        for (i, v) in svc.volumes.iter().enumerate() {
            if v.kind != "volume" {
                continue;
            }
            if let Some(src) = &v.source {
                if !p.volumes.contains_key(src) {
                    let span = self.span(&format!("{base}/volumes/{i}"));
                    self.undefined(
                        span,
                        "volume",
                        src,
                        name,
                        p.volumes.keys().map(String::as_str),
                        "define it under the top-level `volumes`",
                    );
                }
            }
        }
        for (field, refs, known) in [
            (
                "secrets",
                &svc.secrets,
                p.secrets.keys().map(String::as_str).collect::<Vec<_>>(),
            ),
            (
                "configs",
                &svc.configs,
                p.configs.keys().map(String::as_str).collect::<Vec<_>>(),
            ),
        ] {
            for (i, r) in refs.iter().enumerate() {
                if !known.contains(&r.source.as_str()) {
                    let span = self.span(&format!("{base}/{field}/{i}"));
                    let what = field.trim_end_matches('s');
                    self.undefined(
                        span,
                        what,
                        &r.source,
                        name,
                        known.iter().copied(),
                        &format!("define it under the top-level `{field}`"),
                    );
                }
            }
        }
        let replicas = svc.scale.or(svc.deploy.as_ref().and_then(|d| d.replicas)).unwrap_or(1);
        if replicas > 1 {
            for (i, port) in svc.ports.iter().enumerate() {
                if port
                    .published
                    .as_deref()
                    .is_some_and(|p| !p.is_empty() && !p.contains('-'))
                {
                    let published = port.published.as_deref().unwrap_or_default();
                    self.diags.push(
                        Diag::error(self.span(&format!("{base}/ports/{i}")), format!("service `{name}` publishes host port {published} but runs {replicas} replicas"))
                            .with_help("a host port can be bound once: publish a range (\"8000-8009:80\") or only the container port"),
                    );
                }
            }
        }
        if let Some(cn) = &svc.container_name {
            if replicas > 1 {
                self.diags.push(
                    Diag::error(
                        self.span(&format!("{base}/container_name")),
                        format!("service `{name}` sets container_name `{cn}` but runs {replicas} replicas"),
                    )
                    .with_help("container names are unique: remove container_name to scale"),
                );
            }
        }
    }

    fn container_names(&mut self) {
        let mut seen: HashMap<&str, &str> = HashMap::new();
        for (name, svc) in &self.project.services {
            let Some(cn) = svc.container_name.as_deref() else {
                continue;
            };
            match seen.get(cn) {
                Some(first) => {
                    let span = self.span(&format!("/services/{name}/container_name"));
                    let first_span = self.span(&format!("/services/{first}/container_name"));
                    self.diags.push(
                        Diag::error(
                            span,
                            format!("services `{first}` and `{name}` both use container_name `{cn}`"),
                        )
                        .with_related(first_span, "first used here")
                        .with_help("container names are unique on the host: pick another one"),
                    );
                }
                None => {
                    seen.insert(cn, name);
                }
            }
        }
    }

    /// Two services publishing the same host port fail at start: say it now.
    fn published_ports(&mut self) {
        let mut seen: BTreeMap<(String, String, String), (String, usize)> = BTreeMap::new();
        for (name, svc) in &self.project.services {
            for (i, port) in svc.ports.iter().enumerate() {
                let Some(published) = &port.published else {
                    continue;
                };
                if published.contains('-') {
                    continue;
                }
                let ip = port.host_ip.clone().unwrap_or_else(|| "0.0.0.0".into());
                let proto = port.protocol.clone().unwrap_or_else(|| "tcp".into());
                let key = (ip.clone(), published.clone(), proto.clone());
                if let Some((first, fi)) = seen.get(&key) {
                    if first != name {
                        let span = self.span(&format!("/services/{name}/ports/{i}"));
                        let first_span = self.span(&format!("/services/{first}/ports/{fi}"));
                        self.diags.push(
                            Diag::error(
                                span,
                                format!("services `{first}` and `{name}` both publish {ip}:{published}/{proto}"),
                            )
                            .with_related(first_span, "first published here")
                            .with_help("a host port can be published once: choose another published port"),
                        );
                    }
                } else {
                    seen.insert(key, (name.clone(), i));
                }
            }
        }
    }

    fn cycles(&mut self) {
        for cycle in graph::dependency_cycles(self.project) {
            let first = cycle.first().cloned().unwrap_or_default();
            let second = cycle.get(1).cloned().unwrap_or_else(|| first.clone());
            let span = self.key_span(&format!("/services/{first}/depends_on/{second}"));
            self.diags.push(
                Diag::error(span, format!("dependency cycle detected: {}", cycle.join(" -> ")))
                    .with_label("this dependency closes the cycle")
                    .with_help("remove one of these depends_on entries"),
            );
        }
    }
}

/// `networks: {default: null}` added by finalize is not the user's choice.
fn is_implicit_default(n: &Node) -> bool {
    n.as_map()
        .is_some_and(|m| m.len() == 1 && m.get("default").is_some_and(Node::is_null))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::diag::FileId;
    use crate::compose::normalize::{canonicalize, finalize};
    use crate::compose::yaml::parse;

    fn run(text: &str) -> Vec<String> {
        let mut root = parse(text, FileId(0)).unwrap();
        assert!(canonicalize(&mut root, std::path::Path::new("/p"), None).is_empty());
        finalize(&mut root, "p");
        let project = Project::from_tree(&root).unwrap_or_else(|d| panic!("{d:?}"));
        check(&project, &root)
            .into_iter()
            .map(|d| d.message + &d.help.map(|h| format!(" ({h})")).unwrap_or_default())
            .collect()
    }

    #[test]
    fn undefined_references() {
        let m = run("services:\n  web:\n    image: w\n    depends_on: [databse]\n    networks: [frontend]\n    volumes: ['dbdata:/d']\n    secrets: [key]\n  database: {image: d}\nnetworks: {front: {}}\nvolumes: {db-data: {}}\n");
        assert_eq!(m.len(), 4, "{m:?}");
        assert_eq!(
            m[0],
            "service `web` refers to undefined service `databse` (did you mean `database`?)"
        );
        assert_eq!(
            m[1],
            "service `web` refers to undefined network `frontend` (did you mean `front`?)"
        );
        assert_eq!(
            m[2],
            "service `web` refers to undefined volume `dbdata` (did you mean `db-data`?)"
        );
        assert!(m[3].starts_with("service `web` refers to undefined secret `key`"));
    }

    #[test]
    fn cycles_and_names() {
        let m = run("services:\n  a: {image: x, depends_on: [b], container_name: c}\n  b: {image: x, depends_on: [a], container_name: c}\n  s: {image: x, depends_on: [s]}\n");
        assert!(
            m.iter()
                .any(|x| x.starts_with("dependency cycle detected: a -> b -> a")),
            "{m:?}"
        );
        assert!(
            m.iter().any(|x| x.starts_with("dependency cycle detected: s -> s")),
            "{m:?}"
        );
        assert!(
            m.iter()
                .any(|x| x.starts_with("services `a` and `b` both use container_name `c`")),
            "{m:?}"
        );
    }

    #[test]
    fn services_that_cannot_start() {
        let m = run("services:\n  a: {command: x, restart: sometimes}\n  b: {image: x, network_mode: host, networks: [n]}\nnetworks: {n: {}}\n");
        assert!(
            m[0].starts_with("service `a` has neither an image nor a build context specified"),
            "{m:?}"
        );
        assert!(m[1].starts_with("invalid restart policy `sometimes`"), "{m:?}");
        assert!(
            m[2].starts_with("service `b` declares both network_mode and networks"),
            "{m:?}"
        );
    }

    #[test]
    fn a_fixed_host_port_cannot_serve_replicas() {
        let m = run("services:\n  a: {image: x, scale: 2, ports: ['8080:80', '9000-9001:90', '100']}\n");
        assert_eq!(m.len(), 1, "{m:?}");
        assert!(
            m[0].starts_with("service `a` publishes host port 8080 but runs 2 replicas"),
            "{m:?}"
        );
    }

    #[test]
    fn optional_dependencies_may_be_missing() {
        let m = run("services:\n  a:\n    image: x\n    depends_on:\n      gone: {condition: service_started, required: false}\n");
        assert!(m.is_empty(), "{m:?}");
    }
}
