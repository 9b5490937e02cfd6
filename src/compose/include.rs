//! `include` (14-include.md): other Compose projects loaded on their own
//! (paths relative to them, their own env files) and added to this one.
//! A resource both define is an error: include does not merge.

use std::path::PathBuf;

use super::diag::{Diag, Span};
use super::yaml::{Key, Map, Node};

#[derive(Clone, Debug, PartialEq)]
pub struct IncludeEntry {
    pub paths: Vec<PathBuf>,
    pub project_directory: Option<PathBuf>,
    pub env_files: Vec<PathBuf>,
    pub span: Span,
}

/// The `include` entries of a canonical tree (paths already absolute).
pub fn entries(root: &Node) -> (Vec<IncludeEntry>, Vec<Diag>) {
    let mut out = Vec::new();
    let mut diags = Vec::new();
    let strings = |n: Option<&Node>| -> Vec<PathBuf> {
        match n {
            Some(n) => match n.as_seq() {
                Some(items) => items.iter().filter_map(Node::as_str).map(PathBuf::from).collect(),
                None => n.as_str().map(PathBuf::from).into_iter().collect(),
            },
            None => Vec::new(),
        }
    };
    for item in root.get("include").and_then(Node::as_seq).into_iter().flatten() {
        let paths = match item.as_str() {
            Some(p) => vec![PathBuf::from(p)],
            None => strings(item.get("path")),
        };
        if paths.is_empty() {
            diags.push(
                Diag::error(item.span, "an include entry needs a `path`")
                    .with_help("write `- path: other/compose.yaml`"),
            );
            continue;
        }
        out.push(IncludeEntry {
            paths,
            project_directory: item.get("project_directory").and_then(Node::as_str).map(PathBuf::from),
            env_files: strings(item.get("env_file")),
            span: item.span,
        });
    }
    (out, diags)
}

pub fn apply(root: &mut Node, load: &mut dyn FnMut(&IncludeEntry) -> Result<Node, Vec<Diag>>) -> Vec<Diag> {
    let (list, mut diags) = entries(root);
    if let Some(m) = root.as_map_mut() {
        m.shift_remove("include");
    }
    for entry in list {
        let included = match load(&entry) {
            Ok(t) => t,
            Err(d) => {
                diags.extend(d);
                continue;
            }
        };
        let Some(top) = root.as_map_mut() else { break };
        for section in ["services", "networks", "volumes", "configs", "secrets"] {
            let Some(theirs) = included.get(section).and_then(Node::as_map) else {
                continue;
            };
            let ours = top
                .entry(Key::new(section, entry.span))
                .or_insert_with(|| Node::map(Map::default(), entry.span));
            if ours.is_null() {
                *ours = Node::map(Map::default(), entry.span);
            }
            let Some(ours) = ours.as_map_mut() else {
                continue;
            };
            for (k, v) in theirs {
                if let Some((mine, existing)) = ours.get_key_value(k.name.as_str()) {
                    // The same definition twice (a shared file included by two) is fine.
                    if existing.to_json() == v.to_json() {
                        continue;
                    }
                    diags.push(
                        Diag::error(
                            mine.span,
                            format!("{section}.{} conflicts with the one imported by include", k.name),
                        )
                        .with_label("defined here")
                        .with_related(k.span, "and in the included project")
                        .with_help("rename one of them: include adds resources, it does not merge them"),
                    );
                    continue;
                }
                ours.insert(k.clone(), v.clone());
            }
        }
    }
    diags
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::diag::FileId;
    use crate::compose::yaml::parse;

    #[test]
    fn adds_resources_and_reports_conflicts() {
        let mut root = parse(
            "include:\n  - path: [/a/compose.yaml]\n    env_file: /a/.env\nservices:\n  web: {image: w}\n",
            FileId(0),
        )
        .unwrap();
        let (e, _) = entries(&root);
        assert_eq!(e[0].paths, vec![PathBuf::from("/a/compose.yaml")]);
        assert_eq!(e[0].env_files, vec![PathBuf::from("/a/.env")]);
        let inc = parse(
            "services:\n  db: {image: pg}\n  web: {image: other}\nvolumes:\n  data: {}\n",
            FileId(1),
        )
        .unwrap();
        let d = apply(&mut root, &mut |_| Ok(inc.clone()));
        let j = root.to_json();
        assert!(j.get("include").is_none());
        assert_eq!(j["services"]["db"]["image"], "pg");
        assert_eq!(j["services"]["web"]["image"], "w");
        assert!(j["volumes"]["data"].is_object());
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].message, "services.web conflicts with the one imported by include");
    }
}
