//! Merging Compose files (13-merge.md): mappings merge key by key, scalars
//! are replaced, sequences append — except the attributes the table below
//! names. `!reset` removes an inherited value, `!override` replaces it.
//! Both trees are already in the long form, so keyed rules read one shape.

use super::yaml::{Map, Node, Tag, Value};

#[derive(Clone, Copy)]
enum Rule {
    /// The later value wins whole (shell commands).
    Replace,
    /// Entries with the same key merge; others append (ports, volumes…).
    ByKey(fn(&Node) -> Option<String>),
    /// Append, dropping entries equal to one already there.
    Unique,
    /// `logging`: options only merge when the driver is the same.
    Logging,
}

const RULES: &[(&str, Rule)] = &[
    ("services.*.command", Rule::Replace),
    ("services.*.entrypoint", Rule::Replace),
    ("services.*.healthcheck.test", Rule::Replace),
    ("services.*.ports", Rule::ByKey(port_key)),
    ("services.*.volumes", Rule::ByKey(target_key)),
    ("services.*.secrets", Rule::ByKey(file_ref_key)),
    ("services.*.configs", Rule::ByKey(file_ref_key)),
    ("services.*.devices", Rule::ByKey(target_key)),
    ("services.*.env_file", Rule::ByKey(path_key)),
    ("services.*.blkio_config.device_read_bps", Rule::ByKey(path_key)),
    ("services.*.blkio_config.device_read_iops", Rule::ByKey(path_key)),
    ("services.*.blkio_config.device_write_bps", Rule::ByKey(path_key)),
    ("services.*.blkio_config.device_write_iops", Rule::ByKey(path_key)),
    ("services.*.blkio_config.weight_device", Rule::ByKey(path_key)),
    ("services.*.dns", Rule::Unique),
    ("services.*.dns_search", Rule::Unique),
    ("services.*.dns_opt", Rule::Unique),
    ("services.*.tmpfs", Rule::Unique),
    ("services.*.expose", Rule::Unique),
    ("services.*.cap_add", Rule::Unique),
    ("services.*.cap_drop", Rule::Unique),
    ("services.*.security_opt", Rule::Unique),
    ("services.*.extra_hosts", Rule::Unique),
    ("services.*.external_links", Rule::Unique),
    ("services.*.links", Rule::Unique),
    ("services.*.volumes_from", Rule::Unique),
    ("services.*.group_add", Rule::Unique),
    ("services.*.device_cgroup_rules", Rule::Unique),
    ("services.*.profiles", Rule::Unique),
    ("services.*.networks.*.aliases", Rule::Unique),
    ("services.*.deploy.placement.constraints", Rule::Unique),
    ("services.*.deploy.placement.preferences", Rule::Unique),
    ("services.*.build.cache_from", Rule::Unique),
    ("services.*.build.tags", Rule::Unique),
    ("services.*.logging", Rule::Logging),
    ("networks.*.ipam.config", Rule::ByKey(subnet_key)),
];

fn text(n: Option<&Node>) -> String {
    n.and_then(Node::scalar_text).unwrap_or_default()
}

fn port_key(n: &Node) -> Option<String> {
    Some(format!(
        "{}:{}:{}/{}",
        text(n.get("host_ip")),
        text(n.get("published")),
        text(n.get("target")),
        text(n.get("protocol"))
    ))
}

fn target_key(n: &Node) -> Option<String> {
    n.get("target").and_then(Node::scalar_text)
}

fn subnet_key(n: &Node) -> Option<String> {
    n.get("subnet").and_then(Node::scalar_text)
}

fn path_key(n: &Node) -> Option<String> {
    n.get("path").and_then(Node::scalar_text)
}

/// Secrets and configs land at `target`, which defaults to the source's name.
fn file_ref_key(n: &Node) -> Option<String> {
    n.get("target").or_else(|| n.get("source")).and_then(Node::scalar_text)
}

fn rule_for(path: &[String]) -> Option<Rule> {
    RULES
        .iter()
        .find(|(p, _)| {
            let parts: Vec<&str> = p.split('.').collect();
            parts.len() == path.len() && parts.iter().zip(path).all(|(a, b)| *a == "*" || a == b)
        })
        .map(|(_, r)| *r)
}

/// Merge `over` onto `base` (files in order, or a service onto the one it extends).
pub fn merge(base: Node, over: Node) -> Node {
    let mut path = Vec::new();
    merge_at(Some(base), over, &mut path).unwrap_or_else(|| Node::null(super::diag::Span::NONE))
}

/// Like [`merge`] for one service, so that the rules keyed `services.*.…` apply.
pub fn merge_service(base: Node, over: Node) -> Node {
    let mut path = vec!["services".to_string(), "_".to_string()];
    let span = over.span;
    merge_at(Some(base), over, &mut path).unwrap_or_else(|| Node::map(Map::default(), span))
}

/// Remove `!reset` entries and clear tags in a tree that merges onto
/// nothing (the first file). In place: this runs on the whole largest tree.
pub fn resolve_tags(mut node: Node) -> Option<Node> {
    if node.tag == Some(Tag::Reset) {
        return None;
    }
    node.tag = None;
    resolve_in_place(&mut node);
    Some(node)
}

fn resolve_in_place(node: &mut Node) {
    match &mut node.value {
        Value::Map(m) => {
            m.retain(|_, v| v.tag != Some(Tag::Reset));
            for v in m.values_mut() {
                v.tag = None;
                resolve_in_place(v);
            }
        }
        Value::Seq(items) => {
            items.retain(|v| v.tag != Some(Tag::Reset));
            for v in items.iter_mut() {
                v.tag = None;
                resolve_in_place(v);
            }
        }
        _ => {}
    }
}

/// `None`: the key is to be removed (`!reset`).
fn merge_at(base: Option<Node>, mut over: Node, path: &mut Vec<String>) -> Option<Node> {
    match over.tag.take() {
        Some(Tag::Reset) => return None,
        Some(Tag::Override) => return resolve_tags(over),
        None => {}
    }
    let Some(mut base) = base else {
        // Nothing to merge onto: still walk to resolve tags deeper down.
        return Some(match over.value {
            Value::Map(m) => {
                let mut out = Map::default();
                for (k, v) in m {
                    path.push(k.name.clone());
                    if let Some(v) = merge_at(None, v, path) {
                        out.insert(k, v);
                    }
                    path.pop();
                }
                Node {
                    value: Value::Map(out),
                    ..over
                }
            }
            Value::Seq(items) => {
                let out = items.into_iter().filter_map(|i| merge_at(None, i, path)).collect();
                Node {
                    value: Value::Seq(out),
                    ..over
                }
            }
            _ => over,
        });
    };
    // An empty value in a later file keeps what was inherited (compose-go
    // merges that way); `!reset` is how a file removes a value.
    if over.is_null() {
        return Some(base);
    }
    let rule = rule_for(path);
    if let Some(Rule::Replace) = rule {
        return merge_at(None, over, path);
    }
    if let Some(Rule::Logging) = rule {
        let driver = |n: &Node| n.get("driver").and_then(Node::scalar_text);
        if let (Some(a), Some(b)) = (driver(&base), driver(&over)) {
            if a != b {
                return merge_at(None, over, path);
            }
        }
    }
    match (&mut base.value, over.value) {
        (Value::Map(bm), Value::Map(om)) => {
            for (k, v) in om {
                path.push(k.name.clone());
                // Merge in place so keys keep the order of the first file.
                match bm.get_index_of(k.name.as_str()) {
                    Some(i) => {
                        let old = std::mem::replace(&mut bm[i], Node::null(super::diag::Span::NONE));
                        match merge_at(Some(old), v, path) {
                            Some(merged) => bm[i] = merged,
                            None => {
                                bm.shift_remove_index(i);
                            }
                        }
                    }
                    None => {
                        if let Some(merged) = merge_at(None, v, path) {
                            bm.insert(k, merged);
                        }
                    }
                }
                path.pop();
            }
            Some(base)
        }
        (Value::Seq(bs), Value::Seq(os)) => {
            match rule {
                Some(Rule::ByKey(key)) => {
                    for item in os {
                        let Some(item) = merge_at(None, item, path) else {
                            continue;
                        };
                        let k = key(&item);
                        match bs.iter().position(|b| k.is_some() && key(b) == k) {
                            Some(i) => {
                                let old = bs.remove(i);
                                path.push("*".into());
                                if let Some(m) = merge_at(Some(old), item, path) {
                                    bs.insert(i, m);
                                }
                                path.pop();
                            }
                            None => bs.push(item),
                        }
                    }
                }
                Some(Rule::Unique) => {
                    for item in os {
                        let Some(item) = merge_at(None, item, path) else {
                            continue;
                        };
                        let j = item.to_json();
                        if !bs.iter().any(|b| b.to_json() == j) {
                            bs.push(item);
                        }
                    }
                }
                _ => bs.extend(os.into_iter().filter_map(|i| merge_at(None, i, path))),
            }
            Some(base)
        }
        (_, value) => merge_at(None, Node { value, ..over }, path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::diag::FileId;
    use crate::compose::yaml::parse;
    use serde_json::json;

    fn m(a: &str, b: &str) -> serde_json::Value {
        merge(parse(a, FileId(0)).unwrap(), parse(b, FileId(1)).unwrap()).to_json()
    }

    #[test]
    fn mappings_scalars_sequences() {
        let r = m("a: {x: 1, y: 2}\nl: [1]\ns: a\n", "a: {y: 3, z: 4}\nl: [2]\ns: b\n");
        assert_eq!(r, json!({"a": {"x": 1, "y": 3, "z": 4}, "l": [1, 2], "s": "b"}));
    }

    #[test]
    fn shell_commands_are_replaced() {
        let r = m(
            "services: {f: {command: [echo, foo], healthcheck: {test: [CMD, a], interval: 1s}}}",
            "services: {f: {command: [echo, bar], healthcheck: {test: [CMD, b]}}}",
        );
        assert_eq!(r["services"]["f"]["command"], json!(["echo", "bar"]));
        assert_eq!(
            r["services"]["f"]["healthcheck"],
            json!({"test": ["CMD", "b"], "interval": "1s"})
        );
    }

    #[test]
    fn unique_resources_merge_by_key() {
        let r = m(
            "services: {f: {volumes: [{type: volume, source: foo, target: /work}, {type: volume, source: x, target: /x}], ports: [{target: 80, published: '8080', protocol: tcp}], secrets: [{source: s}]}}",
            "services: {f: {volumes: [{type: volume, source: bar, target: /work}], ports: [{target: 80, published: '8080', protocol: tcp}, {target: 81, protocol: tcp}], secrets: [{source: s, mode: 0400}]}}",
        );
        let f = &r["services"]["f"];
        assert_eq!(
            f["volumes"],
            json!([{"type": "volume", "source": "bar", "target": "/work"}, {"type": "volume", "source": "x", "target": "/x"}])
        );
        assert_eq!(f["ports"].as_array().unwrap().len(), 2);
        assert_eq!(f["secrets"], json!([{"source": "s", "mode": 256}]));
    }

    #[test]
    fn unique_sequences_drop_duplicates() {
        let r = m(
            "services: {f: {dns: [1.1.1.1], cap_add: [A]}}",
            "services: {f: {dns: [8.8.8.8, 1.1.1.1], cap_add: [A, B]}}",
        );
        assert_eq!(r["services"]["f"]["dns"], json!(["1.1.1.1", "8.8.8.8"]));
        assert_eq!(r["services"]["f"]["cap_add"], json!(["A", "B"]));
    }

    #[test]
    fn reset_and_override() {
        let r = m(
            "services: {app: {image: a, ports: [{target: 80}], environment: {FOO: BAR, K: v}, cap_add: [A]}}",
            "services: {app: {ports: !reset [], environment: {FOO: !reset null}, cap_add: !override [B]}}",
        );
        assert_eq!(
            r,
            json!({"services": {"app": {"image": "a", "environment": {"K": "v"}, "cap_add": ["B"]}}})
        );
    }

    #[test]
    fn null_keeps_the_inherited_value_and_subnets_merge() {
        let r = m("services: {a: {image: x, environment: {K: v}}}\nnetworks: {n: {ipam: {config: [{subnet: 10.1.0.0/24, gateway: 10.1.0.1}]}}}", "services: {a: {image: , environment: {K: }}}\nnetworks: {n: {ipam: {config: [{subnet: 10.1.0.0/24, ip_range: 10.1.0.0/25}]}}}");
        assert_eq!(r["services"]["a"], json!({"image": "x", "environment": {"K": "v"}}));
        assert_eq!(
            r["networks"]["n"]["ipam"]["config"],
            json!([{"subnet": "10.1.0.0/24", "gateway": "10.1.0.1", "ip_range": "10.1.0.0/25"}])
        );
    }

    #[test]
    fn logging_with_another_driver_is_replaced() {
        let r = m(
            "services: {a: {logging: {driver: json-file, options: {max-size: 1m}}}}",
            "services: {a: {logging: {driver: syslog, options: {tag: x}}}}",
        );
        assert_eq!(
            r["services"]["a"]["logging"],
            json!({"driver": "syslog", "options": {"tag": "x"}})
        );
        let r = m(
            "services: {a: {logging: {driver: json-file, options: {max-size: 1m}}}}",
            "services: {a: {logging: {options: {max-file: '3'}}}}",
        );
        assert_eq!(
            r["services"]["a"]["logging"]["options"],
            json!({"max-size": "1m", "max-file": "3"})
        );
    }

    #[test]
    fn tags_in_a_single_file_are_resolved() {
        let t = parse(
            "services: {a: {image: x, ports: !reset [], cap_add: !override [B]}}",
            FileId(0),
        )
        .unwrap();
        let r = resolve_tags(t).unwrap();
        assert_eq!(
            r.to_json(),
            json!({"services": {"a": {"image": "x", "cap_add": ["B"]}}})
        );
        assert!(r.at_pointer("/services/a/cap_add").unwrap().tag.is_none());
    }

    #[test]
    fn spans_survive() {
        let a = parse("services:\n  a:\n    image: x\n", FileId(0)).unwrap();
        let b = parse("services:\n  a:\n    command: [y]\n", FileId(1)).unwrap();
        let r = merge(a, b);
        assert_eq!(r.at_pointer("/services/a/image").unwrap().span.file, FileId(0));
        assert_eq!(r.at_pointer("/services/a/command").unwrap().span.file, FileId(1));
    }
}
