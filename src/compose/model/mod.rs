//! The Compose model in its normalized long form: what the loader returns,
//! what `rcompose config` prints, and what the JSON schema is generated from.
//!
//! Field names are the spec's. Maps that Docker Compose prints sorted are
//! `BTreeMap`s. Fields that also accept a short syntax in a file carry a
//! `schema_with` naming the input schema (see `input.rs`): the loader has
//! already rewritten the short forms before deserializing into these types.

mod de;
mod deploy;
mod input;
mod parts;
mod resources;
mod service;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use deploy::*;
pub use parts::*;
pub use resources::*;
pub use service::Service;

use super::diag::{Diag, Span};
use super::yaml::Node;

/// `x-*` keys, kept wherever the spec allows them.
pub type Extensions = BTreeMap<String, serde_json::Value>;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
#[schemars(
    title = "Compose Specification",
    description = "The Compose file is a YAML file defining a multi-containers based application."
)]
pub struct Project {
    /// Project name (the loader always sets it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Obsolete, accepted and ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "input::include")]
    pub include: Vec<serde_json::Value>,
    #[serde(default)]
    #[schemars(schema_with = "input::services")]
    pub services: BTreeMap<String, Service>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "input::networks")]
    pub networks: BTreeMap<String, Network>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "input::volumes")]
    pub volumes: BTreeMap<String, Volume>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "input::secrets")]
    pub secrets: BTreeMap<String, Secret>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "input::configs")]
    pub configs: BTreeMap<String, Config>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "input::models")]
    pub models: BTreeMap<String, Model>,
    #[serde(flatten)]
    #[schemars(skip)]
    pub extensions: Extensions,
}

impl Project {
    /// Typed deserialization of the canonical tree. Each service, network,
    /// volume, … is read on its own so errors in several are all reported,
    /// each at the node serde complained about.
    pub fn from_tree(root: &Node) -> Result<Project, Vec<Diag>> {
        let mut diags = Vec::new();
        let mut project = Project::default();
        let Some(top) = root.as_map() else {
            return Err(vec![Diag::error(
                root.span,
                format!("a Compose file is a mapping, found a {}", root.kind()),
            )]);
        };
        for (k, v) in top {
            let base = format!("/{}", k.name);
            match k.name.as_str() {
                "name" => project.name = read(v, &base, root, &mut diags),
                "version" => project.version = v.scalar_text(),
                "include" => {}
                "services" => project.services = read_entries(v, &base, root, &mut diags),
                "networks" => project.networks = read_entries(v, &base, root, &mut diags),
                "volumes" => project.volumes = read_entries(v, &base, root, &mut diags),
                "secrets" => project.secrets = read_entries(v, &base, root, &mut diags),
                "configs" => project.configs = read_entries(v, &base, root, &mut diags),
                "models" => project.models = read_entries(v, &base, root, &mut diags),
                x if x.starts_with("x-") => {
                    project.extensions.insert(k.name.clone(), v.to_json());
                }
                other => diags.push(
                    Diag::error(k.span, format!("unknown top-level key `{other}`"))
                        .with_help("top-level keys are name, services, networks, volumes, configs, secrets, models, include and x-*"),
                ),
            }
        }
        if diags.is_empty() {
            Ok(project)
        } else {
            Err(diags)
        }
    }
}

fn read_entries<T: for<'de> Deserialize<'de>>(
    node: &Node,
    base: &str,
    root: &Node,
    diags: &mut Vec<Diag>,
) -> BTreeMap<String, T> {
    let mut out = BTreeMap::new();
    let Some(m) = node.as_map() else {
        if !node.is_null() {
            diags.push(Diag::error(
                node.span,
                format!("expected a mapping of names, found a {}", node.kind()),
            ));
        }
        return out;
    };
    for (k, v) in m {
        let path = format!("{base}/{}", k.name.replace('~', "~0").replace('/', "~1"));
        let empty = Node::map(Default::default(), v.span);
        let source = if v.is_null() { &empty } else { v };
        match deserialize::<T>(source, &path, root) {
            Ok(t) => {
                out.insert(k.name.clone(), t);
            }
            Err(d) => diags.push(d),
        }
    }
    out
}

fn read<T: for<'de> Deserialize<'de>>(node: &Node, path: &str, root: &Node, diags: &mut Vec<Diag>) -> Option<T> {
    match deserialize::<T>(node, path, root) {
        Ok(t) => Some(t),
        Err(d) => {
            diags.push(d);
            None
        }
    }
}

/// Deserialize, mapping serde's complaint to the span of the node it is about.
fn deserialize<T: for<'de> Deserialize<'de>>(node: &Node, base: &str, root: &Node) -> Result<T, Diag> {
    // Straight from the tree; the JSON route with path tracking is only
    // taken to explain a failure.
    if let Ok(t) = T::deserialize(de::NodeDe(node)) {
        return Ok(t);
    }
    serde_path_to_error::deserialize::<_, T>(node.to_json()).map_err(|e| {
        let mut pointer = base.to_string();
        let mut dotted = base.trim_start_matches('/').replace('/', ".");
        for seg in e.path().iter() {
            use serde_path_to_error::Segment;
            match seg {
                Segment::Seq { index } => {
                    pointer.push_str(&format!("/{index}"));
                    dotted.push_str(&format!("[{index}]"));
                }
                Segment::Map { key } | Segment::Enum { variant: key } => {
                    pointer.push_str(&format!("/{}", key.replace('~', "~0").replace('/', "~1")));
                    dotted.push_str(&format!(".{key}"));
                }
                Segment::Unknown => {}
            }
        }
        let span = root.at_pointer(&pointer).map(|n| n.span).unwrap_or(Span::NONE);
        let msg = e.inner().to_string();
        let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
        Diag::error(span, format!("{dotted}: {msg}"))
            .with_help("see the Compose Specification for this attribute's format")
    })
}
