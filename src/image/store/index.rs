//! The index: names → manifests, in the layout's index.json, changed
//! under an flock and replaced atomically.

use super::{Image, ImageRecord, ImageStore, ANNOTATION_IMAGE_ID, ANNOTATION_REPO_DIGEST};
use crate::image::digest::Digest;
use crate::image::error::{io_err, ImageError, Result};
use crate::image::manifest::{self, Descriptor, ImageConfig, Index, Manifest};
use crate::image::reference::Reference;
use crate::store::{atomic_write, Lock};
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

impl ImageStore {
    fn index_path(&self) -> PathBuf {
        self.content.join("index.json")
    }

    fn read_index(&self) -> Result<Index> {
        let path = self.index_path();
        let data = std::fs::read(&path).map_err(io_err("cannot read the image index", &path))?;
        serde_json::from_slice(&data).map_err(|e| ImageError::BadDocument {
            what: path.display().to_string(),
            reason: format!("{e}; restore it or remove it to start with an empty image list"),
        })
    }

    fn write_index(&self, index: &Index) -> Result<()> {
        let data = serde_json::to_vec_pretty(index).map_err(|e| ImageError::BadDocument {
            what: "the image index".into(),
            reason: e.to_string(),
        })?;
        atomic_write(&self.index_path(), &data)?;
        Ok(())
    }

    /// Runs `f` on the index under the store lock and writes the result.
    fn update_index<T>(&self, f: impl FnOnce(&mut Index) -> T) -> Result<T> {
        let _lock = Lock::exclusive(&self.content.join("index.lock"))?;
        let mut index = self.read_index()?;
        let out = f(&mut index);
        self.write_index(&index)?;
        Ok(out)
    }

    /// All images, named and dangling, in index order.
    pub fn images(&self) -> Result<Vec<ImageRecord>> {
        Ok(self.read_index()?.manifests.into_iter().map(record).collect())
    }

    /// Points `name` at `manifest` (replacing what it pointed to); with no
    /// name, records a dangling image unless the manifest is already known.
    /// Returns the record the name pointed to before, if it changed.
    pub fn set_image(
        &self,
        name: Option<&Reference>,
        manifest: &Descriptor,
        id: &Digest,
        repo_digest: Option<&Digest>,
    ) -> Result<Option<ImageRecord>> {
        let mut desc = Descriptor::new(&manifest.media_type, manifest.digest.clone(), manifest.size);
        desc.platform = manifest.platform.clone();
        desc.annotations.insert(ANNOTATION_IMAGE_ID.into(), id.to_string());
        if let Some(n) = name {
            desc.annotations
                .insert(manifest::ANNOTATION_REF_NAME.into(), n.to_string());
        }
        if let Some(r) = repo_digest {
            desc.annotations.insert(ANNOTATION_REPO_DIGEST.into(), r.to_string());
        }
        self.update_index(|index| {
            let mut old = None;
            match name {
                Some(n) => {
                    let key = n.to_string();
                    if let Some(i) = index.manifests.iter().position(|d| ref_name(d) == Some(key.as_str())) {
                        let prev = index.manifests.remove(i);
                        if prev.digest != desc.digest {
                            // The image the name left stays, unnamed, unless
                            // another name holds it (Docker's dangling image;
                            // `image prune` removes it).
                            if !index.manifests.iter().any(|d| d.digest == prev.digest) {
                                let mut dangling = prev.clone();
                                dangling.annotations.remove(manifest::ANNOTATION_REF_NAME);
                                index.manifests.push(dangling);
                            }
                            old = Some(record(prev));
                        }
                    }
                    // A dangling entry for the same manifest is now named.
                    index
                        .manifests
                        .retain(|d| !(ref_name(d).is_none() && d.digest == desc.digest));
                    index.manifests.push(desc);
                }
                None => {
                    if !index.manifests.iter().any(|d| d.digest == desc.digest) {
                        index.manifests.push(desc);
                    }
                }
            }
            old
        })
    }

    /// Removes the name; returns the record it had.
    pub fn remove_name(&self, name: &Reference) -> Result<Option<ImageRecord>> {
        let key = name.to_string();
        self.update_index(|index| {
            let i = index.manifests.iter().position(|d| ref_name(d) == Some(key.as_str()))?;
            Some(record(index.manifests.remove(i)))
        })
    }

    /// Removes every entry (named or not) pointing at `manifest`.
    pub fn remove_manifest(&self, manifest: &Digest) -> Result<Vec<ImageRecord>> {
        self.update_index(|index| {
            let (gone, keep): (Vec<_>, Vec<_>) = index.manifests.drain(..).partition(|d| &d.digest == manifest);
            index.manifests = keep;
            gone.into_iter().map(record).collect()
        })
    }

    /// Finds images as Docker's CLI does: a name (`busybox` means
    /// `docker.io/library/busybox:latest`), a full or short image ID, or a
    /// manifest digest / `name@digest`.
    pub fn find(&self, s: &str) -> Result<Vec<ImageRecord>> {
        let images = self.images()?;
        let id_prefix = s.strip_prefix("sha256:").unwrap_or(s);
        let looks_like_id = id_prefix.len() >= 4
            && id_prefix.len() <= 64
            && id_prefix
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
        if looks_like_id {
            let by_id: Vec<_> = images
                .iter()
                .filter(|r| {
                    r.id.as_ref().is_some_and(|id| id.hex().starts_with(id_prefix))
                        || r.manifest.digest.hex() == id_prefix
                })
                .cloned()
                .collect();
            if !by_id.is_empty() {
                return Ok(by_id);
            }
        }
        let Ok(reference) = Reference::parse(s) else {
            return Ok(Vec::new());
        };
        if let Some(d) = reference.digest() {
            // name@digest: a named entry with that exact name, else any entry
            // of that repository whose manifest or repo digest is `d`.
            let repo = reference.repository();
            return Ok(images
                .into_iter()
                .filter(|r| {
                    r.name.as_ref().is_some_and(|n| n.repository() == repo)
                        && (&r.manifest.digest == d || r.repo_digest.as_ref() == Some(d))
                })
                .collect());
        }
        Ok(images
            .into_iter()
            .filter(|r| r.name.as_ref() == Some(&reference))
            .collect())
    }

    /// Finds exactly one image, or says why not.
    pub fn resolve(&self, s: &str) -> Result<ImageRecord> {
        let found = self.find(s)?;
        // Several names, or several manifests of one config (the same
        // image compressed differently), are one image: the ID decides.
        let key = |r: &ImageRecord| r.id.clone().unwrap_or_else(|| r.manifest.digest.clone());
        let distinct: HashSet<Digest> = found.iter().map(key).collect();
        match distinct.len() {
            0 => Err(ImageError::NotFound {
                reference: s.to_string(),
            }),
            // A named entry is the better answer than a dangling one.
            1 => Ok(found
                .iter()
                .find(|r| r.name.is_some())
                .cloned()
                .unwrap_or_else(|| found[0].clone())),
            _ => Err(ImageError::Ambiguous {
                reference: s.to_string(),
                candidates: distinct
                    .iter()
                    .map(|d| d.short().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    /// Reads manifest and config of an image, both verified.
    pub fn load(&self, manifest_digest: &Digest) -> Result<Image> {
        let data = self.read_blob(manifest_digest)?;
        let manifest: Manifest = serde_json::from_slice(&data).map_err(|e| ImageError::BadDocument {
            what: format!("manifest {manifest_digest}"),
            reason: e.to_string(),
        })?;
        let config_digest = manifest.config.digest.clone();
        let cdata = self.read_blob(&config_digest)?;
        let config: ImageConfig = serde_json::from_slice(&cdata).map_err(|e| ImageError::BadDocument {
            what: format!("image config {config_digest}"),
            reason: e.to_string(),
        })?;
        if config.rootfs.diff_ids.len() != manifest.layers.len() {
            return Err(ImageError::BadDocument {
                what: format!("image {manifest_digest}"),
                reason: format!(
                    "the manifest lists {} layers but the config {} diff IDs",
                    manifest.layers.len(),
                    config.rootfs.diff_ids.len()
                ),
            });
        }
        Ok(Image {
            manifest_digest: manifest_digest.clone(),
            manifest,
            config_digest,
            config,
        })
    }
}

fn ref_name(d: &Descriptor) -> Option<&str> {
    d.annotations.get(manifest::ANNOTATION_REF_NAME).map(String::as_str)
}

fn record(d: Descriptor) -> ImageRecord {
    ImageRecord {
        name: ref_name(&d).and_then(|n| Reference::parse(n).ok()),
        id: d.annotations.get(ANNOTATION_IMAGE_ID).and_then(|s| s.parse().ok()),
        repo_digest: d.annotations.get(ANNOTATION_REPO_DIGEST).and_then(|s| s.parse().ok()),
        manifest: d,
    }
}

/// Counts per name → blob usage, for garbage collection.
pub(crate) fn referenced(store: &ImageStore) -> Result<(HashSet<Digest>, HashSet<Digest>)> {
    let mut blobs = HashSet::new();
    let mut diffs = HashSet::new();
    let mut seen = BTreeMap::new();
    for r in store.images()? {
        if let Some(rd) = &r.repo_digest {
            blobs.insert(rd.clone());
            // an index we kept may list other manifests; keep only what it is
        }
        if seen.insert(r.manifest.digest.clone(), ()).is_some() {
            continue;
        }
        blobs.insert(r.manifest.digest.clone());
        if let Ok(img) = store.load(&r.manifest.digest) {
            blobs.insert(img.config_digest.clone());
            blobs.extend(img.manifest.layers.iter().map(|l| l.digest.clone()));
            diffs.extend(img.config.rootfs.diff_ids.iter().cloned());
        }
    }
    Ok((blobs, diffs))
}
