//! Named volumes: a directory per volume under the state root, with a small
//! record of its labels. Knows nothing about Compose; `project` names the
//! volumes and labels them.
//!
//! `$RCOMPOSE_ROOT/volumes/<name>/_data` is what containers mount (the
//! same layout as Docker's, so the path a user sees in `inspect` looks
//! familiar); `volume.json` beside it holds the record, written atomically.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::store::{atomic_write, Lock};

/// Errors of the volume store.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error("invalid volume name {name:?}: use letters, digits, '_', '.' and '-', starting with a letter or digit")]
    InvalidName { name: String },
    #[error("no such volume: {name}")]
    NotFound { name: String },
    #[error("volume {name} is in use by container {container}: remove the container first")]
    InUse { name: String, container: String },
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("volume record {path} is unreadable ({reason}); remove the directory to reset it")]
    Corrupt { path: PathBuf, reason: String },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

pub type Result<T> = std::result::Result<T, VolumeError>;

/// What `volume inspect` shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Driver")]
    pub driver: String,
    #[serde(rename = "Mountpoint")]
    pub mountpoint: PathBuf,
    #[serde(rename = "CreatedAt")]
    pub created_at: String,
    #[serde(rename = "Labels", default)]
    pub labels: BTreeMap<String, String>,
    #[serde(rename = "Scope")]
    pub scope: String,
}

/// The volumes of one state root.
#[derive(Debug, Clone)]
pub struct VolumeStore {
    dir: PathBuf,
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> VolumeError + 'a {
    move |source| VolumeError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// Docker's rule for volume names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn validate_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.len() >= 2
        && name.len() <= 255
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(VolumeError::InvalidName { name: name.to_string() })
    }
}

impl VolumeStore {
    /// The volumes under `root` (the state root).
    pub fn new(root: &Path) -> VolumeStore {
        VolumeStore {
            dir: root.join("volumes"),
        }
    }

    fn record_path(&self, name: &str) -> PathBuf {
        self.dir.join(name).join("volume.json")
    }

    /// Where a volume's content lives (whether or not it exists).
    pub fn data_path(&self, name: &str) -> PathBuf {
        self.dir.join(name).join("_data")
    }

    /// Creates the volume, or returns the existing one unchanged (Docker's
    /// `volume create` is idempotent too).
    pub fn create(&self, name: &str, labels: BTreeMap<String, String>) -> Result<Volume> {
        validate_name(name)?;
        crate::store::private_dir(&self.dir)?;
        let _lock = Lock::exclusive(&self.dir.join(".lock"))?;
        if let Some(v) = self.get(name)? {
            return Ok(v);
        }
        let data = self.data_path(name);
        // Private above, 0755 itself: the mode of the mount point inside.
        crate::store::dir_with_mode(&data, crate::store::SHARED_DIR_MODE)?;
        let volume = Volume {
            name: name.to_string(),
            driver: "local".into(),
            mountpoint: data,
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            labels,
            scope: "local".into(),
        };
        let path = self.record_path(name);
        let json = serde_json::to_vec_pretty(&volume).map_err(|e| VolumeError::Corrupt {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        // The record is written last: a volume without one was never created
        // and is completed by the next `create`.
        atomic_write(&path, &json)?;
        Ok(volume)
    }

    /// The volume named `name`, if it exists.
    pub fn get(&self, name: &str) -> Result<Option<Volume>> {
        let path = self.record_path(name);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| VolumeError::Corrupt {
                    path: path.clone(),
                    reason: e.to_string(),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io("cannot read", &path)(e)),
        }
    }

    /// Every volume, sorted by name.
    pub fn list(&self) -> Result<Vec<Volume>> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io("cannot read", &self.dir)(e)),
        };
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            if let Some(v) = self.get(&name)? {
                out.push(v);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Removes a volume and its content. `users` are the containers that
    /// mount it; a volume in use is refused.
    pub fn remove(&self, name: &str, users: &[String]) -> Result<()> {
        validate_name(name)?;
        if let Some(c) = users.first() {
            return Err(VolumeError::InUse {
                name: name.to_string(),
                container: c.clone(),
            });
        }
        let dir = self.dir.join(name);
        if !dir.exists() {
            return Err(VolumeError::NotFound { name: name.to_string() });
        }
        // Record first, so a half-removed volume is never listed.
        let record = self.record_path(name);
        if let Err(e) = std::fs::remove_file(&record) {
            if e.kind() != std::io::ErrorKind::NotFound {
                return Err(io("cannot remove", &record)(e));
            }
        }
        std::fs::remove_dir_all(&dir).map_err(io("cannot remove", &dir))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_is_idempotent_and_remove_refuses_volumes_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let store = VolumeStore::new(dir.path());
        let labels = BTreeMap::from([("a".to_string(), "b".to_string())]);
        let v = store.create("app_data", labels.clone()).unwrap();
        std::fs::write(v.mountpoint.join("f"), b"kept").unwrap();
        let again = store.create("app_data", BTreeMap::new()).unwrap();
        assert_eq!(again, v, "an existing volume is returned as it is");
        assert_eq!(std::fs::read(again.mountpoint.join("f")).unwrap(), b"kept");
        assert_eq!(store.list().unwrap(), vec![v.clone()]);
        let err = store.remove("app_data", &["app-db-1".into()]).unwrap_err();
        assert!(err.to_string().contains("in use by container app-db-1"), "{err}");
        store.remove("app_data", &[]).unwrap();
        assert!(store.list().unwrap().is_empty());
        assert!(matches!(
            store.remove("app_data", &[]),
            Err(VolumeError::NotFound { .. })
        ));
    }

    #[test]
    fn names_are_checked() {
        for bad in ["", "a", "-x", "a/b", "../x", "a b"] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
        for good in ["ab", "app_data", "x.y-z"] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
    }
}
