//! One stage's image as it is built: its layers, its config (the OCI
//! image config's `config` object, in Docker's key names) and its history;
//! what the metadata instructions change; and the finished image.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::image::manifest::{self, Descriptor, History, ImageConfig, Manifest, RootFs};
use crate::image::store::{Image, ImageStore};
use crate::image::{Digest, Reference};

use super::dockerfile::{go_duration_nanos, Command, Healthcheck};
use super::error::{BuildError, Result};

/// The default shell of RUN, CMD and ENTRYPOINT in shell form.
const DEFAULT_SHELL: [&str; 2] = ["/bin/sh", "-c"];

#[derive(Debug, Clone, Default)]
pub struct StageImage {
    /// Diff IDs, bottom layer first.
    pub diff_ids: Vec<Digest>,
    /// The manifest's layer descriptors, in the same order.
    pub layers: Vec<Descriptor>,
    pub config: Map<String, Value>,
    pub history: Vec<History>,
    /// Whether CMD was set in this build (ENTRYPOINT resets an inherited CMD).
    pub cmd_set_here: bool,
    /// When the last layer was made (the base image's creation at first).
    /// Steps take their times from the cache, so a build whose steps all
    /// come from the cache gives the same image ID again.
    pub created: Option<String>,
}

impl StageImage {
    /// A stage starting from `image`.
    pub fn from_image(image: &Image) -> StageImage {
        let config = match &image.config.config {
            Some(Value::Object(m)) => m.clone(),
            _ => Map::new(),
        };
        StageImage {
            diff_ids: image.config.rootfs.diff_ids.clone(),
            layers: image.manifest.layers.clone(),
            config,
            history: image.config.history.clone(),
            cmd_set_here: false,
            created: image.config.created.clone(),
        }
    }

    /// `KEY=VALUE` entries of the environment.
    pub fn env(&self) -> Vec<String> {
        strings(self.config.get("Env")).unwrap_or_default()
    }

    pub fn env_value(&self, key: &str) -> Option<String> {
        self.env()
            .iter()
            .find_map(|e| e.split_once('=').filter(|(k, _)| *k == key).map(|(_, v)| v.to_string()))
    }

    pub fn set_env(&mut self, key: &str, value: &str) {
        let mut env = self.env();
        env.retain(|e| e.split_once('=').map(|(k, _)| k) != Some(key));
        env.push(format!("{key}={value}"));
        self.config.insert("Env".into(), json!(env));
    }

    pub fn working_dir(&self) -> String {
        self.string("WorkingDir").unwrap_or_else(|| "/".into())
    }

    pub fn user(&self) -> Option<String> {
        self.string("User")
    }

    pub fn string(&self, key: &str) -> Option<String> {
        self.config
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    }

    pub fn shell(&self) -> Vec<String> {
        strings(self.config.get("Shell")).unwrap_or_else(|| DEFAULT_SHELL.iter().map(|s| s.to_string()).collect())
    }

    /// The argv of a RUN, CMD or ENTRYPOINT.
    pub fn argv(&self, command: &Command) -> Vec<String> {
        match command {
            Command::Exec(args) => args.clone(),
            Command::Shell(line) => {
                let mut argv = self.shell();
                argv.push(line.clone());
                argv
            }
        }
    }

    pub fn set_cmd(&mut self, command: &Command) {
        let argv = self.argv(command);
        self.config.insert("Cmd".into(), json!(argv));
        self.cmd_set_here = true;
    }

    /// As Docker: an ENTRYPOINT resets a CMD inherited from the base image.
    pub fn set_entrypoint(&mut self, command: &Command) {
        let argv = self.argv(command);
        self.config.insert("Entrypoint".into(), json!(argv));
        if !self.cmd_set_here {
            self.config.insert("Cmd".into(), Value::Null);
        }
    }

    /// Adds `key` to a set-like object (`ExposedPorts`, `Volumes`).
    pub fn add_to_set(&mut self, field: &str, key: String) {
        let entry = self.config.entry(field.to_string()).or_insert_with(|| json!({}));
        if !entry.is_object() {
            *entry = json!({});
        }
        entry.as_object_mut().expect("an object").insert(key, json!({}));
    }

    pub fn set_label(&mut self, key: String, value: String) {
        let entry = self.config.entry("Labels").or_insert_with(|| json!({}));
        if !entry.is_object() {
            *entry = json!({});
        }
        entry.as_object_mut().expect("an object").insert(key, json!(value));
    }

    pub fn set_healthcheck(&mut self, check: &Healthcheck) -> std::result::Result<(), String> {
        let value = match check {
            Healthcheck::None => json!({ "Test": ["NONE"] }),
            Healthcheck::Check {
                test,
                interval,
                timeout,
                start_period,
                start_interval,
                retries,
            } => {
                let test = match test {
                    Command::Exec(args) => {
                        let mut t = vec!["CMD".to_string()];
                        t.extend(args.iter().cloned());
                        t
                    }
                    Command::Shell(line) => vec!["CMD-SHELL".to_string(), line.clone()],
                };
                let mut v = json!({ "Test": test });
                for (key, d) in [
                    ("Interval", interval),
                    ("Timeout", timeout),
                    ("StartPeriod", start_period),
                    ("StartInterval", start_interval),
                ] {
                    if let Some(d) = d {
                        v[key] = json!(go_duration_nanos(d)?);
                    }
                }
                if let Some(r) = retries {
                    v["Retries"] = json!(r);
                }
                v
            }
        };
        self.config.insert("Healthcheck".into(), value);
        Ok(())
    }

    /// Records a step in the history: a config change (no layer) at the
    /// time of the last layer.
    pub fn record(&mut self, created_by: String) {
        self.history.push(History {
            created: self.created.clone(),
            created_by: Some(created_by),
            comment: Some("rcompose build".into()),
            empty_layer: true,
            ..History::default()
        });
    }

    /// Records a step that made (or, changing nothing, could have made) a
    /// layer at `created`.
    pub fn record_layer_step(&mut self, created_by: String, created: String, empty_layer: bool) {
        self.created = Some(created.clone());
        self.history.push(History {
            created: Some(created),
            created_by: Some(created_by),
            comment: Some("rcompose build".into()),
            empty_layer,
            ..History::default()
        });
    }

    pub fn add_layer(&mut self, diff_id: Digest, size: u64) {
        self.layers
            .push(Descriptor::new(manifest::OCI_LAYER_TAR, diff_id.clone(), size));
        self.diff_ids.push(diff_id);
    }

    /// Snapshot directories, top-most layer first (overlay's order).
    pub fn lower_dirs(&self, store: &ImageStore) -> Result<Vec<std::path::PathBuf>> {
        let mut dirs = Vec::with_capacity(self.diff_ids.len());
        for d in self.diff_ids.iter().rev() {
            dirs.push(store.snapshot(d).ok_or_else(|| {
                BuildError::new(format!(
                    "layer {d} of the base image is not unpacked; pull the image again"
                ))
            })?);
        }
        Ok(dirs)
    }

    /// A small file of the image (`etc/passwd`), read from its layers
    /// without a mount: the topmost layer that has it wins, each read
    /// resolved inside that layer ([`crate::store::read_in_root`]: a
    /// symlink never leads to the host, a FIFO never blocks). A whiteout
    /// (a character device in an unpacked layer) means deleted. Unlike an
    /// overlay mount, a symlink into a lower layer reads as missing there.
    pub fn read_file(&self, store: &ImageStore, name: &str) -> Result<Option<String>> {
        for layer in self.lower_dirs(store)? {
            match crate::store::read_in_root_path(&layer, name) {
                Ok(Some(data)) => return Ok(Some(String::from_utf8_lossy(&data).into_owned())),
                Ok(None) => continue,
                Err(crate::store::StoreError::NotRegular { kind, .. }) if kind == crate::store::CHAR_DEVICE => {
                    return Ok(None)
                }
                Err(e) => return Err(BuildError::new(e.to_string())),
            }
        }
        Ok(None)
    }

    /// Writes the image (config, manifest) to the store under `tags`;
    /// returns its ID.
    pub fn commit(&self, store: &ImageStore, tags: &[Reference], labels: &BTreeMap<String, String>) -> Result<Digest> {
        let mut done = self.clone();
        for (k, v) in labels {
            done.set_label(k.clone(), v.clone());
        }
        let host = manifest::Platform::host();
        let config = ImageConfig {
            created: done.created.clone(),
            author: None,
            architecture: host.architecture,
            os: host.os,
            variant: host.variant,
            config: Some(Value::Object(done.config.clone())),
            rootfs: RootFs {
                kind: "layers".into(),
                diff_ids: done.diff_ids.clone(),
            },
            history: done.history.clone(),
            extra: BTreeMap::new(),
        };
        let bad = |what: &str, e: serde_json::Error| BuildError::new(format!("writing the {what}: {e}"));
        let config_bytes = serde_json::to_vec(&config).map_err(|e| bad("image config", e))?;
        let config_digest = store.put_blob(&config_bytes).map_err(BuildError::image)?;
        let m = Manifest {
            schema_version: 2,
            media_type: Some(manifest::OCI_MANIFEST.into()),
            config: Descriptor::new(manifest::OCI_CONFIG, config_digest.clone(), config_bytes.len() as u64),
            layers: done.layers.clone(),
            annotations: BTreeMap::new(),
            extra: BTreeMap::new(),
        };
        let mbytes = serde_json::to_vec(&m).map_err(|e| bad("manifest", e))?;
        let mdigest = store.put_blob(&mbytes).map_err(BuildError::image)?;
        let desc = Descriptor::new(manifest::OCI_MANIFEST, mdigest, mbytes.len() as u64);
        if tags.is_empty() {
            store
                .set_image(None, &desc, &config_digest, None)
                .map_err(BuildError::image)?;
        }
        for tag in tags {
            store
                .set_image(Some(tag), &desc, &config_digest, None)
                .map_err(BuildError::image)?;
        }
        Ok(config_digest)
    }
}

fn strings(v: Option<&Value>) -> Option<Vec<String>> {
    v?.as_array()
        .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_go_writes_them() {
        assert_eq!(go_duration_nanos("30s").unwrap(), 30_000_000_000);
        assert_eq!(go_duration_nanos("1m30s").unwrap(), 90_000_000_000);
        assert_eq!(go_duration_nanos("500ms").unwrap(), 500_000_000);
        assert!(go_duration_nanos("30").is_err());
        assert!(go_duration_nanos("fast").is_err());
    }

    #[test]
    fn entrypoint_resets_an_inherited_cmd_but_not_one_set_here() {
        let mut s = StageImage::default();
        s.config.insert("Cmd".into(), json!(["sh"]));
        s.set_entrypoint(&Command::Exec(vec!["/app".into()]));
        assert_eq!(s.config["Cmd"], Value::Null);
        s.set_cmd(&Command::Shell("echo hi".into()));
        s.set_entrypoint(&Command::Exec(vec!["/app".into()]));
        assert_eq!(s.config["Cmd"], json!(["/bin/sh", "-c", "echo hi"]));
    }
}
