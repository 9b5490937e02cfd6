//! The layer cache: a step that made a layer before, from the same parent,
//! the same image config and the same inputs, gives the same layer again.
//! Entries are small JSON files under the state root's `build-cache/`,
//! named by the step's key; an entry counts only while its layer is still
//! in the store.

use std::fs;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use crate::image::store::ImageStore;
use crate::image::Digest;

pub struct Cache {
    dir: PathBuf,
}

/// What a cached step produced: a layer, or nothing (a RUN that changed no
/// file).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Entry {
    pub layer: Option<(Digest, u64)>,
    /// When the step ran (RFC 3339): the history keeps it.
    pub created: String,
}

impl Cache {
    pub fn new(dir: PathBuf) -> Cache {
        Cache { dir }
    }

    /// The key of a step: its parent's key, the image config the step runs
    /// with (environment, user, working directory…) and the step's inputs.
    pub fn key(parent: &str, config: &Map<String, Value>, step: &Value) -> String {
        let mut hash = Sha256::new();
        hash.update(parent.as_bytes());
        hash.update(b"\n");
        hash.update(serde_json::to_vec(config).unwrap_or_default());
        hash.update(b"\n");
        hash.update(serde_json::to_vec(step).unwrap_or_default());
        hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn get(&self, store: &ImageStore, key: &str) -> Option<Entry> {
        let bytes = fs::read(self.dir.join(format!("{key}.json"))).ok()?;
        let entry: Entry = serde_json::from_slice(&bytes).ok()?;
        match &entry.layer {
            Some((diff, size)) if store.snapshot(diff).is_none() || !store.has_blob(diff, Some(*size)) => None,
            _ => Some(entry),
        }
    }

    /// Records an entry; a cache that cannot be written only costs a
    /// rebuild next time.
    pub fn put(&self, key: &str, entry: &Entry) {
        let Ok(bytes) = serde_json::to_vec(entry) else { return };
        if crate::store::private_dir(&self.dir).is_err() {
            return;
        }
        let _ = crate::store::atomic_write(&self.dir.join(format!("{key}.json")), &bytes);
    }

    /// A scratch directory for staging files or mounting a stage's root,
    /// on the same file system as the store.
    pub fn scratch(&self) -> std::io::Result<PathBuf> {
        let dir = self.dir.join(crate::store::temp_name("tmp-"));
        crate::store::private_dir(&dir).map_err(std::io::Error::other)?;
        Ok(dir)
    }
}
