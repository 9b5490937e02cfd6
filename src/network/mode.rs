//! `network_mode` and the order of a container's networks, in engine terms:
//! the `project` module resolves `service:NAME` to a container name first.

use std::path::PathBuf;

use super::error::{NetworkError, Result};
use super::manage::Networking;
use super::netns;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkMode {
    /// Own namespace, connected to the container's networks.
    Bridge,
    /// Own namespace with only `lo`.
    None,
    /// The host's namespace: no namespace file, no DNS responder.
    Host,
    /// Another container's namespace (`container:NAME`, `service:NAME`).
    Container(String),
}

/// Which namespace the runtime should join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamespacePlan {
    /// Join none (stay in the host's).
    Host,
    /// A namespace of this container's own, created now (or kept from a
    /// previous run); connect it with `Networking::connect`.
    Own(PathBuf),
    /// Join another container's namespace; nothing to connect.
    Shared(PathBuf),
}

impl Networking {
    pub fn namespace_for(&self, container: &str, mode: &NetworkMode) -> Result<NamespacePlan> {
        match mode {
            NetworkMode::Host => Ok(NamespacePlan::Host),
            NetworkMode::Bridge | NetworkMode::None => self.create_netns(container).map(NamespacePlan::Own),
            NetworkMode::Container(other) => {
                let p = self.netns_path(other);
                if netns::is_netns(&p) {
                    Ok(NamespacePlan::Shared(p))
                } else {
                    Err(NetworkError::NoNamespace {
                        container: container.to_string(),
                        other: other.clone(),
                    })
                }
            }
        }
    }
}

/// Orders a container's networks the way Compose does: higher `priority`
/// first, then by name. The first becomes `eth0` and carries the default route.
pub fn order_networks<T>(mut items: Vec<(String, i32, T)>) -> Vec<T> {
    items.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    items.into_iter().map(|(_, _, t)| t).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::state::NetworkPaths;

    #[test]
    fn priority_then_name() {
        let v = vec![
            ("b".to_string(), 0, "b"),
            ("a".to_string(), 0, "a"),
            ("z".to_string(), 10, "z"),
        ];
        assert_eq!(order_networks(v), vec!["z", "a", "b"]);
    }

    #[test]
    fn host_and_missing_shared_namespace() {
        let dir = tempfile::tempdir().unwrap();
        let n = Networking::new(NetworkPaths::new(dir.path().join("r"), dir.path().join("run")));
        assert_eq!(n.namespace_for("x", &NetworkMode::Host).unwrap(), NamespacePlan::Host);
        let err = n
            .namespace_for("x", &NetworkMode::Container("db".into()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"db\"") && err.contains("start"), "{err}");
    }
}
