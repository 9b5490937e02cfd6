//! The config hash that decides whether a container must be recreated:
//! a digest of the service's normalized configuration, minus what changes
//! how many containers run rather than how each one runs (Docker Compose
//! leaves out the same fields).

use sha2::{Digest, Sha256};

use crate::compose::model::Service;

pub fn config_hash(service: &Service) -> String {
    let mut s = service.clone();
    s.scale = None;
    if let Some(d) = s.deploy.as_mut() {
        d.replicas = None;
    }
    // `depends_on` changes the order of creation, not a container.
    s.depends_on.clear();
    let json = serde_json::to_vec(&s).unwrap_or_default();
    let digest = Sha256::digest(&json);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_does_not_change_the_hash_but_the_command_does() {
        let base = Service {
            image: Some("busybox".into()),
            ..Service::default()
        };
        let h = config_hash(&base);
        assert_eq!(h.len(), 64);
        let scaled = Service {
            scale: Some(3),
            ..base.clone()
        };
        assert_eq!(config_hash(&scaled), h);
        let changed = Service {
            command: Some(vec!["sleep".into(), "1".into()]),
            ..base
        };
        assert_ne!(config_hash(&changed), h);
    }
}
