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

use super::digest::{Digest, Hasher};
use super::error::{io_err, ImageError, Result};
use super::manifest::{self, Descriptor, ImageConfig, Index, Manifest};
use super::reference::Reference;
use super::sys;
use crate::store::{atomic_write, process_alive, temp_name, temp_owner, Lock};
use std::collections::{BTreeMap, HashSet};
use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Annotation: the digest the registry served for the name (index or manifest).
pub const ANNOTATION_REPO_DIGEST: &str = "io.rcompose.repo-digest";
/// Annotation: the image ID (config digest), so listing needs no manifest reads.
pub const ANNOTATION_IMAGE_ID: &str = "io.rcompose.image-id";

const INGEST_PREFIX: &str = "";
const SNAPSHOT_TMP_PREFIX: &str = "tmp-";

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
        let content = root.join("content");
        let snapshots = root.join("snapshots");
        for dir in [
            content.join("blobs/sha256"),
            content.join("ingest"),
            snapshots.join("sha256"),
        ] {
            std::fs::create_dir_all(&dir).map_err(io_err("cannot create the store directory", &dir))?;
        }
        let layout = content.join("oci-layout");
        if !layout.exists() {
            atomic_write(&layout, br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        }
        let index = content.join("index.json");
        if !index.exists() {
            let _lock = Lock::exclusive(&content.join("index.lock"))?;
            if !index.exists() {
                atomic_write(&index, br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#)?;
            }
        }
        Ok(ImageStore { content, snapshots })
    }

    /// The OCI layout directory (for tools that read one).
    pub fn layout_dir(&self) -> &Path {
        &self.content
    }

    // ---- blobs ----------------------------------------------------------

    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.content.join("blobs").join(d.algorithm().name()).join(d.hex())
    }

    /// Whether the blob is present (with the expected size, when given).
    pub fn has_blob(&self, d: &Digest, size: Option<u64>) -> bool {
        match std::fs::metadata(self.blob_path(d)) {
            Ok(m) => size.is_none_or(|s| s == m.len()),
            Err(_) => false,
        }
    }

    /// Reads a blob whole, verifying it. A blob that fails verification is
    /// removed, so that the next pull fetches it again.
    pub fn read_blob(&self, d: &Digest) -> Result<Vec<u8>> {
        let path = self.blob_path(d);
        let data = std::fs::read(&path).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                ImageError::NotFound {
                    reference: d.to_string(),
                }
            } else {
                io_err("cannot read blob", &path)(e)
            }
        })?;
        let mut h = d.hasher();
        h.update(&data);
        let actual = h.finish();
        if &actual != d {
            let _ = std::fs::remove_file(&path);
            return Err(ImageError::DigestMismatch {
                what: format!("stored blob {}", path.display()),
                expected: d.clone(),
                actual,
            });
        }
        Ok(data)
    }

    /// Opens a blob for streaming; the reader fails at its end if the
    /// content does not match the digest.
    pub fn open_blob(&self, d: &Digest) -> Result<VerifyingReader<File>> {
        let path = self.blob_path(d);
        let f = File::open(&path).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                ImageError::NotFound {
                    reference: d.to_string(),
                }
            } else {
                io_err("cannot open blob", &path)(e)
            }
        })?;
        Ok(VerifyingReader::new(f, d.clone(), path.display().to_string()))
    }

    /// Stores `data`, returning its sha256 digest.
    pub fn put_blob(&self, data: &[u8]) -> Result<Digest> {
        let d = Digest::sha256_of(data);
        if !self.has_blob(&d, Some(data.len() as u64)) {
            let mut ing = self.ingest()?;
            ing.write_all(data).map_err(io_err("cannot write blob", ing.path.clone()))?;
            ing.commit(&d, Some(data.len() as u64), "blob")?;
        }
        Ok(d)
    }

    /// Moves the file `tmp` (on the store's file system, e.g. staged from an
    /// archive) into place as blob `expected`, after hashing it.
    pub fn adopt_file(&self, tmp: &Path, expected: &Digest) -> Result<()> {
        let f = File::open(tmp).map_err(io_err("cannot open", tmp))?;
        let (actual, _) = super::digest::HashingReader::new(f, expected.algorithm())
            .finish()
            .map_err(io_err("cannot read", tmp))?;
        if &actual != expected {
            return Err(ImageError::DigestMismatch {
                what: format!("blob {}", tmp.display()),
                expected: expected.clone(),
                actual,
            });
        }
        let dest = self.blob_path(expected);
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir).map_err(io_err("cannot create", dir))?;
        }
        std::fs::rename(tmp, &dest).map_err(io_err("cannot move the blob into place", &dest))
    }

    /// A fresh path in the ingest directory (for staging files).
    pub fn temp_path(&self) -> PathBuf {
        self.content.join("ingest").join(temp_name(INGEST_PREFIX))
    }

    /// Starts writing a blob whose digest is checked on commit.
    pub fn ingest(&self) -> Result<Ingest> {
        let path = self.content.join("ingest").join(temp_name(INGEST_PREFIX));
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io_err("cannot create a temp file", &path))?;
        Ok(Ingest {
            file: Some(file),
            path,
            hasher: Hasher::new(super::digest::Algorithm::Sha256),
            size: 0,
            blobs: self.content.join("blobs"),
        })
    }

    // ---- the index (names) -------------------------------------------------

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
            desc.annotations.insert(manifest::ANNOTATION_REF_NAME.into(), n.to_string());
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
                            old = Some(record(prev));
                        }
                    }
                    // A dangling entry for the same manifest is now named.
                    index.manifests.retain(|d| !(ref_name(d).is_none() && d.digest == desc.digest));
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
        let looks_like_id = id_prefix.len() >= 4 && id_prefix.len() <= 64 && id_prefix.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
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
        Ok(images.into_iter().filter(|r| r.name.as_ref() == Some(&reference)).collect())
    }

    /// Finds exactly one image, or says why not.
    pub fn resolve(&self, s: &str) -> Result<ImageRecord> {
        let mut found = self.find(s)?;
        // Several names for one image are one image.
        found.dedup_by(|a, b| a.manifest.digest == b.manifest.digest);
        let distinct: HashSet<_> = found.iter().map(|r| r.manifest.digest.clone()).collect();
        match distinct.len() {
            0 => Err(ImageError::NotFound { reference: s.to_string() }),
            1 => Ok(found.swap_remove(0)),
            _ => Err(ImageError::Ambiguous {
                reference: s.to_string(),
                candidates: distinct.iter().map(|d| d.short().to_string()).collect::<Vec<_>>().join(", "),
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

    // ---- snapshots ------------------------------------------------------------

    /// The unpacked directory of the layer with diff ID `diff_id`, if present.
    pub fn snapshot(&self, diff_id: &Digest) -> Option<PathBuf> {
        let link = self.snapshots.join(diff_id.algorithm().name()).join(diff_id.hex());
        let target = std::fs::read_link(&link).ok()?;
        let dir = link.parent()?.join(target);
        dir.is_dir().then(|| normalize(&dir))
    }

    /// The lower dirs of an image, bottom layer first. Fails naming the
    /// first layer that is not unpacked.
    pub fn layer_dirs(&self, image: &Image) -> Result<Vec<PathBuf>> {
        image
            .config
            .rootfs
            .diff_ids
            .iter()
            .map(|d| self.snapshot(d).ok_or_else(|| ImageError::NotFound { reference: format!("snapshot of layer {d} (pull the image again)") }))
            .collect()
    }

    /// A fresh directory to unpack a layer into.
    pub fn begin_snapshot(&self) -> Result<TempSnapshot> {
        let path = self.snapshots.join(temp_name(SNAPSHOT_TMP_PREFIX));
        std::fs::create_dir(&path).map_err(io_err("cannot create a snapshot directory", &path))?;
        Ok(TempSnapshot {
            path: Some(path),
            snapshots: self.snapshots.clone(),
        })
    }

    /// Removes the snapshot of `diff_id`: the name first (so it vanishes at
    /// once), then the tree.
    pub fn remove_snapshot(&self, diff_id: &Digest) -> Result<bool> {
        let link = self.snapshots.join(diff_id.algorithm().name()).join(diff_id.hex());
        let Some(dir) = self.snapshot(diff_id) else {
            let _ = std::fs::remove_file(&link);
            return Ok(false);
        };
        std::fs::remove_file(&link).map_err(io_err("cannot remove snapshot link", &link))?;
        remove_tree(&dir)?;
        Ok(true)
    }

    /// Diff IDs of all snapshots.
    pub fn snapshot_ids(&self) -> Result<Vec<Digest>> {
        let dir = self.snapshots.join("sha256");
        let mut out = Vec::new();
        for e in std::fs::read_dir(&dir).map_err(io_err("cannot list snapshots", &dir))? {
            let e = e.map_err(io_err("cannot list snapshots", &dir))?;
            if let Ok(d) = format!("sha256:{}", e.file_name().to_string_lossy()).parse() {
                out.push(d);
            }
        }
        Ok(out)
    }

    /// All blob digests.
    pub fn blob_ids(&self) -> Result<Vec<Digest>> {
        let dir = self.content.join("blobs/sha256");
        let mut out = Vec::new();
        for e in std::fs::read_dir(&dir).map_err(io_err("cannot list blobs", &dir))? {
            let e = e.map_err(io_err("cannot list blobs", &dir))?;
            if let Ok(d) = format!("sha256:{}", e.file_name().to_string_lossy()).parse() {
                out.push(d);
            }
        }
        Ok(out)
    }

    /// Removes temp files and directories left by processes that died
    /// mid-pull, and numbered snapshot dirs no name points to (a crash
    /// between the two renames of a commit). Returns how many were removed.
    pub fn clean_stale(&self) -> Result<usize> {
        let mut removed = 0;
        let ingest = self.content.join("ingest");
        if let Ok(rd) = std::fs::read_dir(&ingest) {
            for e in rd.flatten() {
                let alive = temp_owner(&e.file_name(), INGEST_PREFIX).is_some_and(process_alive);
                if !alive && std::fs::remove_file(e.path()).is_ok() {
                    removed += 1;
                }
            }
        }
        let linked: HashSet<PathBuf> = self
            .snapshot_ids()?
            .iter()
            .filter_map(|d| self.snapshot(d))
            .collect();
        if let Ok(rd) = std::fs::read_dir(&self.snapshots) {
            for e in rd.flatten() {
                let name = e.file_name();
                let path = e.path();
                let stale = if let Some(pid) = temp_owner(&name, SNAPSHOT_TMP_PREFIX) {
                    !process_alive(pid)
                } else if name.to_str().is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit())) {
                    // Committed dirs are linked right after their rename; an
                    // unlinked one is only stale if old enough that no commit
                    // can be between its two steps.
                    !linked.contains(&normalize(&path)) && older_than(&path, 60)
                } else {
                    false
                };
                if stale && remove_tree(&path).is_ok() {
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}

fn older_than(path: &Path, secs: u64) -> bool {
    std::fs::symlink_metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age.as_secs() > secs)
}

fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Removes a directory tree without following symlinks in it (snapshot
/// trees contain symlinks that point anywhere).
pub fn remove_tree(path: &Path) -> Result<()> {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Ok(());
    };
    let dir = sys::open_dir(parent).map_err(io_err("cannot open", parent))?;
    let cname = CString::new(name.as_bytes()).map_err(|_| ImageError::Io {
        action: "cannot remove",
        path: path.to_path_buf(),
        source: io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"),
    })?;
    sys::remove_all_at(std::os::fd::AsFd::as_fd(&dir), &cname).map_err(io_err("cannot remove", path))
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

/// A blob being written; removed on drop unless committed.
pub struct Ingest {
    file: Option<File>,
    path: PathBuf,
    hasher: Hasher,
    size: u64,
    blobs: PathBuf,
}

impl Ingest {
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The digest of what was written so far.
    pub fn digest(&self) -> Digest {
        self.hasher.clone().finish()
    }

    /// Checks digest (and size) and moves the blob into place. On mismatch
    /// the data is discarded.
    pub fn commit(mut self, expected: &Digest, expected_size: Option<u64>, what: &str) -> Result<()> {
        let actual = std::mem::replace(&mut self.hasher, Hasher::new(expected.algorithm())).finish();
        if let Some(s) = expected_size {
            if s != self.size {
                return Err(ImageError::SizeMismatch {
                    what: what.to_string(),
                    expected: s,
                    actual: self.size,
                });
            }
        }
        if &actual != expected {
            return Err(ImageError::DigestMismatch {
                what: what.to_string(),
                expected: expected.clone(),
                actual,
            });
        }
        drop(self.file.take());
        let dir = self.blobs.join(expected.algorithm().name());
        std::fs::create_dir_all(&dir).map_err(io_err("cannot create", &dir))?;
        let dest = dir.join(expected.hex());
        // Replacing an identical blob another pull committed is harmless.
        std::fs::rename(&self.path, &dest).map_err(io_err("cannot move the blob into place", &dest))?;
        self.path = PathBuf::new();
        Ok(())
    }

    /// The digest of what was written, and its size (for blobs whose digest
    /// is learned by writing them).
    pub fn commit_computed(self, what: &str) -> Result<(Digest, u64)> {
        let d = self.hasher.clone().finish();
        let size = self.size;
        self.commit(&d, Some(size), what)?;
        Ok((d, size))
    }
}

impl Write for Ingest {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let f = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("blob already committed"))?;
        let n = f.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Ingest {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A layer being unpacked; removed on drop unless committed.
pub struct TempSnapshot {
    path: Option<PathBuf>,
    snapshots: PathBuf,
}

impl TempSnapshot {
    pub fn path(&self) -> &Path {
        self.path.as_deref().unwrap_or(Path::new(""))
    }

    /// Makes the snapshot visible as the layer `diff_id`: rename to the next
    /// free number, then link the diff ID to it. If another pull committed
    /// the same layer meanwhile, ours is dropped and theirs returned.
    pub fn commit(mut self, diff_id: &Digest) -> Result<PathBuf> {
        let tmp = self.path.take().unwrap_or_default();
        let result = self.commit_inner(&tmp, diff_id);
        if result.is_err() {
            let _ = remove_tree(&tmp);
        }
        result
    }

    fn commit_inner(&self, tmp: &Path, diff_id: &Digest) -> Result<PathBuf> {
        let ctmp = CString::new(tmp.as_os_str().as_bytes()).unwrap_or_default();
        let mut n = next_number(&self.snapshots);
        let numbered = loop {
            let dest = self.snapshots.join(n.to_string());
            let cdest = CString::new(dest.as_os_str().as_bytes()).unwrap_or_default();
            match sys::rename_noreplace(libc::AT_FDCWD, &ctmp, libc::AT_FDCWD, &cdest) {
                Ok(()) => break dest,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists || e.raw_os_error() == Some(libc::ENOTEMPTY) => n += 1,
                Err(e) => return Err(io_err("cannot commit the snapshot", &dest)(e)),
            }
        };
        let linkdir = self.snapshots.join(diff_id.algorithm().name());
        let link = linkdir.join(diff_id.hex());
        let tmp_link = linkdir.join(temp_name(".link-"));
        std::os::unix::fs::symlink(format!("../{n}"), &tmp_link).map_err(io_err("cannot link the snapshot", &tmp_link))?;
        let ctl = CString::new(tmp_link.as_os_str().as_bytes()).unwrap_or_default();
        let cl = CString::new(link.as_os_str().as_bytes()).unwrap_or_default();
        match sys::rename_noreplace(libc::AT_FDCWD, &ctl, libc::AT_FDCWD, &cl) {
            Ok(()) => Ok(numbered),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let _ = std::fs::remove_file(&tmp_link);
                let theirs = std::fs::read_link(&link).map(|t| normalize(&linkdir.join(t)));
                match theirs {
                    Ok(t) if t.is_dir() => {
                        let _ = remove_tree(&numbered);
                        Ok(t)
                    }
                    // A dangling link (its dir was removed): replace it.
                    _ => {
                        let _ = std::fs::remove_file(&link);
                        std::os::unix::fs::symlink(format!("../{n}"), &link).map_err(io_err("cannot link the snapshot", &link))?;
                        Ok(numbered)
                    }
                }
            }
            Err(e) => {
                let _ = std::fs::remove_file(&tmp_link);
                let _ = remove_tree(&numbered);
                Err(io_err("cannot link the snapshot", &link)(e))
            }
        }
    }
}

/// One past the highest snapshot number in use (rename_noreplace settles
/// races between processes that read the same value).
fn next_number(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<u64>().ok()))
                .max()
                .unwrap_or(0)
                + 1
        })
        .unwrap_or(1)
}

impl Drop for TempSnapshot {
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            let _ = remove_tree(&p);
        }
    }
}

/// A reader that fails at its end if the content does not match.
pub struct VerifyingReader<R> {
    inner: R,
    hasher: Option<Hasher>,
    expected: Digest,
    what: String,
}

impl<R: Read> VerifyingReader<R> {
    pub fn new(inner: R, expected: Digest, what: String) -> Self {
        VerifyingReader {
            inner,
            hasher: Some(expected.hasher()),
            expected,
            what,
        }
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(h) = self.hasher.as_mut() {
            h.update(&buf[..n]);
        }
        if n == 0 && !buf.is_empty() {
            if let Some(h) = self.hasher.take() {
                let actual = h.finish();
                if actual != self.expected {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{} does not match its digest {} (got {actual})", self.what, self.expected),
                    ));
                }
            }
        }
        Ok(n)
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

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(s.images().unwrap().len(), 1);
        assert_eq!(s.resolve("busybox").unwrap().manifest.digest, m2.digest);
        assert_eq!(s.resolve("docker.io/library/busybox:latest").unwrap().manifest.digest, m2.digest);
        assert_eq!(s.resolve(&id.hex()[..12]).unwrap().manifest.digest, m2.digest);
        assert!(matches!(s.resolve("redis"), Err(ImageError::NotFound { .. })));
        assert!(s.remove_name(&name).unwrap().is_some());
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
        assert!(live.path.exists(), "a live writer's temp file must stay");
    }
}
