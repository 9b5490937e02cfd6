//! Project-wide defaults, once the files are merged and the name is known:
//! the implicit `default` network and the engine names of resources.

use crate::compose::diag::{Diag, Span};
use crate::compose::yaml::{Key, Map, Node, Value};

pub fn finalize(root: &mut Node, project_name: &str) -> Vec<Diag> {
    let mut diags = Vec::new();
    let Some(top) = root.as_map_mut() else {
        return diags;
    };
    if let Some((k, _)) = top.shift_remove_entry("version") {
        let _ = k; // warned about when the file was read
    }
    let name_span = top.get("name").map(|n| n.span).unwrap_or(Span::NONE);
    top.shift_remove("name");
    top.shift_insert(0, Key::new("name", name_span), Node::string(project_name, name_span));

    let uses_default = default_network_users(top);
    if uses_default {
        let networks = top
            .entry(Key::new("networks", Span::NONE))
            .or_insert_with(|| Node::map(Map::default(), Span::NONE));
        if networks.is_null() {
            networks.value = Value::Map(Map::default());
        }
        if let Some(n) = networks.as_map_mut() {
            n.entry(Key::new("default", Span::NONE))
                .or_insert_with(|| Node::map(Map::default(), Span::NONE));
        }
    }
    for section in ["networks", "volumes", "configs", "secrets"] {
        let Some(m) = top.get_mut(section).and_then(Node::as_map_mut) else {
            continue;
        };
        for (key, res) in m.iter_mut() {
            if res.is_null() {
                res.value = Value::Map(Map::default());
            }
            let span = res.span;
            let Some(r) = res.as_map_mut() else { continue };
            if r.contains_key("name") {
                continue;
            }
            let external = r.get("external").and_then(Node::as_bool).unwrap_or(false);
            let name = if external {
                key.name.clone()
            } else {
                format!("{project_name}_{}", key.name)
            };
            r.insert(Key::new("name", span), Node::string(name, span));
        }
    }
    let _ = &mut diags;
    diags
}

/// Give services without networks the `default` one; say whether any uses it.
fn default_network_users(top: &mut Map) -> bool {
    let mut used = false;
    let Some(services) = top.get_mut("services").and_then(Node::as_map_mut) else {
        return false;
    };
    for svc in services.values_mut() {
        let span = svc.span;
        let Some(s) = svc.as_map_mut() else { continue };
        if s.contains_key("network_mode") {
            continue;
        }
        match s.get("networks") {
            Some(n) if n.as_map().is_some_and(|m| !m.is_empty()) => {
                used |= n.get("default").is_some();
            }
            _ => {
                let mut m = Map::default();
                m.insert(Key::new("default", span), Node::null(span));
                s.insert(Key::new("networks", span), Node::map(m, span));
                used = true;
            }
        }
    }
    used
}
