//! The image store under the state root:
//!
//! ```text
//! content/            an OCI image layout (skopeo and umoci can read it)
//!   oci-layout
//!   index.json        names → manifests (annotation org.opencontainers.image.ref.name)
//!   blobs/sha256/<hex>
//!   ingest/           blobs being written (<pid>-…), renamed into blobs/ once verified
//! snapshots/
//!   <n>/              one unpacked layer, short numbered names (overlay option size limit)
//!   sha256/<hex>      symlink diff ID → ../<n>
//!   tmp-<pid>-…       layers being unpacked
//! ```
//!
//! Concurrency: blobs and snapshots are immutable and committed by rename, so
//! two pulls of the same image at once each write their own temp file or
//! directory and whichever renames second finds the result already there.
//! index.json is read-modify-written under an flock. Temp files whose
//! process is gone are removed by [`ImageStore::clean_stale`].

mod blobs;
mod index;
mod snapshots;

pub use blobs::{Ingest, VerifyingReader};
pub(crate) use index::referenced;
pub use snapshots::{remove_tree, TempSnapshot};

use super::digest::Digest;
use super::error::Result;
use super::manifest::{Descriptor, ImageConfig, Manifest};
use super::reference::Reference;
use crate::store::{atomic_write, Lock};
use std::path::{Path, PathBuf};

/// Annotation: the digest the registry served for the name (index or manifest).
pub const ANNOTATION_REPO_DIGEST: &str = "io.rcompose.repo-digest";
/// Annotation: the image ID (config digest), so listing needs no manifest reads.
pub const ANNOTATION_IMAGE_ID: &str = "io.rcompose.image-id";

/// The image store of one state root.
#[derive(Debug, Clone)]
pub struct ImageStore {
    content: PathBuf,
    snapshots: PathBuf,
}

/// One entry of the store's index: a name (or none: a dangling image) and
/// the manifest it points to.
#[derive(Debug, Clone)]
pub struct ImageRecord {
    pub name: Option<Reference>,
    pub manifest: Descriptor,
    pub id: Option<Digest>,
    pub repo_digest: Option<Digest>,
}

/// An image read from the store.
#[derive(Debug, Clone)]
pub struct Image {
    pub manifest_digest: Digest,
    pub manifest: Manifest,
    pub config_digest: Digest,
    pub config: ImageConfig,
}

impl Image {
    /// The image ID as Docker shows it: the config digest.
    pub fn id(&self) -> &Digest {
        &self.config_digest
    }

    /// Compressed size of all layers plus config.
    pub fn size(&self) -> u64 {
        self.manifest.layers.iter().map(|l| l.size).sum::<u64>() + self.manifest.config.size
    }
}

impl ImageStore {
    /// Opens (creating if needed) the image store under `root`.
    pub fn open(root: &Path) -> Result<ImageStore> {
        // Every engine command opens the image store first: a root an older
        // version left open to other users is closed here.
        crate::store::secure_state_root(root)?;
        let content = root.join("content");
        let snapshots = root.join("snapshots");
        for dir in [
            content.join("blobs/sha256"),
            content.join("ingest"),
            snapshots.join("sha256"),
        ] {
            crate::store::private_dir(&dir)?;
        }
        super::sys::set_topdir(&snapshots);
        let layout = content.join("oci-layout");
        if !layout.exists() {
            atomic_write(&layout, br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        }
        let index = content.join("index.json");
        if !index.exists() {
            let _lock = Lock::exclusive(&content.join("index.lock"))?;
            if !index.exists() {
                atomic_write(
                    &index,
                    br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#,
                )?;
            }
        }
        Ok(ImageStore { content, snapshots })
    }

    /// Held (shared) by everything that adds content, so that garbage
    /// collection, which takes it exclusively, never removes blobs or
    /// snapshots a pull has committed but not named yet.
    pub fn content_lock(&self) -> Result<Lock> {
        Ok(Lock::shared(&self.content.join("gc.lock"))?)
    }

    /// Taken by garbage collection: waits for running pulls and loads.
    pub fn gc_lock(&self) -> Result<Lock> {
        Ok(Lock::exclusive(&self.content.join("gc.lock"))?)
    }

    /// The OCI layout directory (for tools that read one).
    pub fn layout_dir(&self) -> &Path {
        &self.content
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::error::ImageError;
    use crate::image::manifest;
    use std::io::{Read, Write};

    #[test]
    fn blobs_are_verified_and_atomic() {
        let dir = tempfile::tempdir().unwrap();
        let s = ImageStore::open(dir.path()).unwrap();
        let d = s.put_blob(b"hello").unwrap();
        assert_eq!(s.read_blob(&d).unwrap(), b"hello");
        // a wrong digest is refused and leaves nothing behind
        let mut ing = s.ingest().unwrap();
        ing.write_all(b"evil").unwrap();
        let err = ing.commit(&Digest::sha256_of(b"good"), None, "test blob").unwrap_err();
        assert!(matches!(err, ImageError::DigestMismatch { .. }), "{err}");
        assert!(!s.has_blob(&Digest::sha256_of(b"good"), None));
        assert_eq!(std::fs::read_dir(dir.path().join("content/ingest")).unwrap().count(), 0);
        // a blob corrupted on disk is detected and removed
        std::fs::write(s.blob_path(&d), b"HELLO").unwrap();
        assert!(matches!(s.read_blob(&d), Err(ImageError::DigestMismatch { .. })));
        assert!(!s.has_blob(&d, None));
        // streaming verification
        let d2 = s.put_blob(b"stream").unwrap();
        std::fs::write(s.blob_path(&d2), b"STREAM").unwrap();
        let mut r = s.open_blob(&d2).unwrap();
        let mut out = Vec::new();
        assert!(r.read_to_end(&mut out).is_err());
    }

    #[test]
    fn names_point_at_manifests() {
        let dir = tempfile::tempdir().unwrap();
        let s = ImageStore::open(dir.path()).unwrap();
        let m1 = Descriptor::new(manifest::OCI_MANIFEST, Digest::sha256_of(b"m1"), 2);
        let m2 = Descriptor::new(manifest::OCI_MANIFEST, Digest::sha256_of(b"m2"), 2);
        let id = Digest::sha256_of(b"cfg");
        let name = Reference::parse("busybox").unwrap();
        assert!(s.set_image(Some(&name), &m1, &id, None).unwrap().is_none());
        let old = s.set_image(Some(&name), &m2, &id, None).unwrap().unwrap();
        assert_eq!(old.manifest.digest, m1.digest);
        // the image the name left is kept, unnamed (dangling)
        let all = s.images().unwrap();
        assert_eq!(all.len(), 2);
        assert!(all.iter().any(|r| r.name.is_none() && r.manifest.digest == m1.digest));
        assert_eq!(s.resolve("busybox").unwrap().manifest.digest, m2.digest);
        assert_eq!(
            s.resolve("docker.io/library/busybox:latest").unwrap().manifest.digest,
            m2.digest
        );
        assert_eq!(s.resolve(&id.hex()[..12]).unwrap().manifest.digest, m2.digest);
        assert!(matches!(s.resolve("redis"), Err(ImageError::NotFound { .. })));
        assert!(s.remove_name(&name).unwrap().is_some());
        assert_eq!(s.remove_manifest(&m1.digest).unwrap().len(), 1);
        assert!(s.images().unwrap().is_empty());
    }

    #[test]
    fn snapshots_commit_once() {
        let dir = tempfile::tempdir().unwrap();
        let s = ImageStore::open(dir.path()).unwrap();
        let diff = Digest::sha256_of(b"layer");
        let a = s.begin_snapshot().unwrap();
        std::fs::write(a.path().join("f"), b"a").unwrap();
        let b = s.begin_snapshot().unwrap();
        std::fs::write(b.path().join("f"), b"b").unwrap();
        let pa = a.commit(&diff).unwrap();
        let pb = b.commit(&diff).unwrap();
        assert_eq!(pa, pb, "the second commit must reuse the first");
        assert_eq!(s.snapshot(&diff).unwrap(), pa);
        assert_eq!(std::fs::read(pa.join("f")).unwrap(), b"a");
        // an abandoned temp snapshot disappears on drop
        let c = s.begin_snapshot().unwrap();
        let cp = c.path().to_path_buf();
        drop(c);
        assert!(!cp.exists());
        assert!(s.remove_snapshot(&diff).unwrap());
        assert!(s.snapshot(&diff).is_none());
        assert!(!pa.exists());
    }

    #[test]
    fn stale_temp_files_of_dead_processes_are_cleaned() {
        let dir = tempfile::tempdir().unwrap();
        let s = ImageStore::open(dir.path()).unwrap();
        // pid 0x7fffffff cannot exist
        std::fs::write(dir.path().join("content/ingest/2147483647-0-0"), b"partial").unwrap();
        std::fs::create_dir(dir.path().join("snapshots/tmp-2147483647-0-0")).unwrap();
        let live = s.ingest().unwrap();
        assert_eq!(s.clean_stale().unwrap(), 2);
        assert!(live.path().exists(), "a live writer's temp file must stay");
    }
}
