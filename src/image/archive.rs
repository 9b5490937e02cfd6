//! Image archives, both ways, interchangeable with `docker save/load` and
//! `skopeo copy`:
//! - **docker-archive**: `manifest.json` (`[{Config, RepoTags, Layers}]`),
//!   `<config-hex>.json`, and uncompressed `<diff-hex>/layer.tar` files;
//! - **OCI archive**: a tar of an OCI image layout (`oci-layout`,
//!   `index.json`, `blobs/sha256/…`) with containerd's name annotations.
//!
//! Loading stages the archive's files in the store's ingest directory
//! (nothing is created from archive paths), verifies every blob, adopts
//! blobs by rename, and unpacks the layers with the usual checks.

use super::digest::{Digest, HashingReader};
use super::error::{io_err, ImageError, Result};
use super::manifest::{self, Compression, Descriptor, ImageConfig, Index, Manifest, Platform};
use super::ops::ensure_snapshots;
use super::reference::Reference;
use super::store::{ImageRecord, ImageStore};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

/// Archive formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Docker,
    Oci,
}

/// An image found in an archive and now in the store.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub names: Vec<Reference>,
    pub id: Digest,
}

/// The images to save: each with the names to record for it.
fn select(store: &ImageStore, what: &[String]) -> Result<Vec<(ImageRecord, Vec<Reference>)>> {
    let mut out: Vec<(ImageRecord, Vec<Reference>)> = Vec::new();
    for w in what {
        let r = store.resolve(w)?;
        // Saving by name records that name; by ID, no name (as Docker).
        let name = Reference::parse(w)
            .ok()
            .filter(|n| r.name.as_ref() == Some(n) && n.tag().is_some());
        match out.iter_mut().find(|(o, _)| o.manifest.digest == r.manifest.digest) {
            Some((_, names)) => names.extend(name),
            None => out.push((r, name.into_iter().collect())),
        }
    }
    Ok(out)
}

fn tar_err(path: &str) -> impl FnOnce(io::Error) -> ImageError + '_ {
    move |e| ImageError::Archive {
        path: PathBuf::from(path),
        reason: format!("cannot write: {e}"),
    }
}

fn append(builder: &mut tar::Builder<impl Write>, path: &str, size: u64, data: impl Read) -> Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    builder.append_data(&mut h, path, data).map_err(tar_err(path))
}

/// Writes the images `what` (names or IDs) as an archive to `out`.
pub fn save(store: &ImageStore, what: &[String], format: Format, out: impl Write) -> Result<()> {
    let images = select(store, what)?;
    let mut builder = tar::Builder::new(out);
    match format {
        Format::Docker => save_docker(store, &images, &mut builder)?,
        Format::Oci => save_oci(store, &images, &mut builder)?,
    }
    builder
        .into_inner()
        .map_err(tar_err("archive end"))?
        .flush()
        .map_err(tar_err("archive end"))?;
    Ok(())
}

fn save_docker(
    store: &ImageStore,
    images: &[(ImageRecord, Vec<Reference>)],
    b: &mut tar::Builder<impl Write>,
) -> Result<()> {
    let mut entries = Vec::new();
    let mut written = HashSet::new();
    for (record, names) in images {
        let image = store.load(&record.manifest.digest)?;
        let config_name = format!("{}.json", image.config_digest.hex());
        if written.insert(config_name.clone()) {
            let data = store.read_blob(&image.config_digest)?;
            append(b, &config_name, data.len() as u64, &data[..])?;
        }
        let mut layers = Vec::new();
        for (layer, diff) in image.manifest.layers.iter().zip(&image.config.rootfs.diff_ids) {
            let path = format!("{}/layer.tar", diff.hex());
            if written.insert(path.clone()) {
                // Docker archives hold uncompressed layers: decompress to a
                // temp file (the tar header needs the size first), checking
                // the diff ID on the way.
                let tmp = TempFile(store.temp_path());
                let size = {
                    let src = BufReader::with_capacity(256 * 1024, store.open_blob(&layer.digest)?);
                    let mut f = File::create(&tmp.0).map_err(io_err("cannot create", &tmp.0))?;
                    let (actual, size) = decompress_into(src, &mut f, diff.algorithm(), &layer.digest)?;
                    if &actual != diff {
                        return Err(ImageError::DigestMismatch {
                            what: format!("uncompressed layer {}", layer.digest),
                            expected: diff.clone(),
                            actual,
                        });
                    }
                    size
                };
                let f = File::open(&tmp.0).map_err(io_err("cannot open", &tmp.0))?;
                append(b, &path, size, f)?;
            }
            layers.push(path);
        }
        entries.push(serde_json::json!({
            "Config": config_name,
            "RepoTags": names.iter().map(|n| n.familiar()).collect::<Vec<_>>(),
            "Layers": layers,
        }));
    }
    let manifest = serde_json::to_vec(&entries).map_err(|e| ImageError::BadDocument {
        what: "manifest.json".into(),
        reason: e.to_string(),
    })?;
    append(b, "manifest.json", manifest.len() as u64, &manifest[..])
}

fn decompress_into(
    mut src: impl BufRead,
    out: &mut impl Write,
    algo: super::digest::Algorithm,
    layer: &Digest,
) -> Result<(Digest, u64)> {
    let fmt = |source| ImageError::LayerFormat {
        layer: layer.to_string(),
        source,
    };
    let compression = Compression::sniff(src.fill_buf().map_err(fmt)?);
    let decoder: Box<dyn Read + '_> = match compression {
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(src)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(src).map_err(fmt)?),
        Compression::None => Box::new(src),
    };
    let mut hashed = HashingReader::new(decoder, algo);
    io::copy(&mut hashed, out).map_err(fmt)?;
    hashed.finish().map_err(fmt)
}

fn save_oci(
    store: &ImageStore,
    images: &[(ImageRecord, Vec<Reference>)],
    b: &mut tar::Builder<impl Write>,
) -> Result<()> {
    let layout = br#"{"imageLayoutVersion":"1.0.0"}"#;
    append(b, "oci-layout", layout.len() as u64, &layout[..])?;
    let mut index_entries = Vec::new();
    let mut written = HashSet::new();
    for (record, names) in images {
        let image = store.load(&record.manifest.digest)?;
        let mut blobs = vec![
            (record.manifest.digest.clone(), record.manifest.size),
            (image.config_digest.clone(), image.manifest.config.size),
        ];
        blobs.extend(image.manifest.layers.iter().map(|l| (l.digest.clone(), l.size)));
        for (d, size) in blobs {
            if written.insert(d.clone()) {
                let path = format!("blobs/{}/{}", d.algorithm().name(), d.hex());
                append(b, &path, size, store.open_blob(&d)?)?;
            }
        }
        let mut base = Descriptor::new(
            &record.manifest.media_type,
            record.manifest.digest.clone(),
            record.manifest.size,
        );
        base.platform = record.manifest.platform.clone();
        if names.is_empty() {
            index_entries.push(base.clone());
        }
        for n in names {
            let mut d = base.clone();
            d.annotations
                .insert(manifest::ANNOTATION_IMAGE_NAME.into(), n.to_string());
            d.annotations.insert(
                manifest::ANNOTATION_REF_NAME.into(),
                n.tag().unwrap_or("latest").to_string(),
            );
            index_entries.push(d);
        }
    }
    let index = Index {
        schema_version: 2,
        media_type: Some(manifest::OCI_INDEX.into()),
        manifests: index_entries,
        annotations: BTreeMap::new(),
        extra: BTreeMap::new(),
    };
    let data = serde_json::to_vec(&index).map_err(|e| ImageError::BadDocument {
        what: "index.json".into(),
        reason: e.to_string(),
    })?;
    append(b, "index.json", data.len() as u64, &data[..])
}

/// A file removed on drop.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The archive's regular files, staged as temp files keyed by their
/// normalized path. Never used as paths to create anything.
struct Staged {
    files: HashMap<String, TempFile>,
    archive: String,
}

impl Staged {
    fn read(store: &ImageStore, input: impl Read, archive: &str) -> Result<Staged> {
        let bad = |e: io::Error| ImageError::Archive {
            path: PathBuf::from(archive),
            reason: format!("not a readable tar archive: {e}"),
        };
        let mut src = BufReader::with_capacity(256 * 1024, input);
        // `docker save | gzip` archives are accepted too.
        let compression = Compression::sniff(src.fill_buf().map_err(bad)?);
        let reader: Box<dyn Read> = match compression {
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(src)),
            Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(src).map_err(bad)?),
            Compression::None => Box::new(src),
        };
        let mut ar = tar::Archive::new(reader);
        let mut files = HashMap::new();
        for entry in ar.entries().map_err(bad)? {
            let mut entry = entry.map_err(bad)?;
            if !matches!(
                entry.header().entry_type(),
                tar::EntryType::Regular | tar::EntryType::Continuous
            ) {
                continue;
            }
            let path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let key = normalize_key(&path);
            let tmp = TempFile(store.temp_path());
            let mut f = File::create(&tmp.0).map_err(io_err("cannot stage archive file", &tmp.0))?;
            io::copy(&mut entry, &mut f).map_err(bad)?;
            files.insert(key, tmp);
        }
        Ok(Staged {
            files,
            archive: archive.to_string(),
        })
    }

    fn path(&self, key: &str) -> Result<&Path> {
        self.files
            .get(&normalize_key(key))
            .map(|t| t.0.as_path())
            .ok_or_else(|| ImageError::Archive {
                path: PathBuf::from(&self.archive),
                reason: format!("{key} is missing from the archive"),
            })
    }

    fn read_file(&self, key: &str) -> Result<Vec<u8>> {
        let p = self.path(key)?;
        std::fs::read(p).map_err(io_err("cannot read staged file", p))
    }

    /// Moves the staged `key` into the store as blob `digest` (verified),
    /// unless the store has it.
    fn adopt(&mut self, store: &ImageStore, key: &str, digest: &Digest) -> Result<()> {
        if store.has_blob(digest, None) {
            return Ok(());
        }
        let p = self.path(key)?.to_path_buf();
        store.adopt_file(&p, digest)?;
        self.files.remove(&normalize_key(key));
        Ok(())
    }
}

fn normalize_key(p: &str) -> String {
    p.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect::<Vec<_>>()
        .join("/")
}

/// Loads a docker-archive or OCI archive (plain or compressed) from `input`.
pub fn load(store: &ImageStore, input: impl Read, archive: &str) -> Result<Vec<Loaded>> {
    let _content = store.content_lock()?;
    let mut staged = Staged::read(store, input, archive)?;
    if staged.files.contains_key("manifest.json") {
        load_docker(store, &mut staged)
    } else if staged.files.contains_key("index.json") {
        load_oci(store, &mut staged)
    } else {
        Err(ImageError::Archive {
            path: PathBuf::from(archive),
            reason: "neither manifest.json (docker save) nor index.json (OCI layout) found; is this an image archive?"
                .into(),
        })
    }
}

#[derive(serde::Deserialize)]
struct DockerEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| ImageError::BadDocument {
        what: what.to_string(),
        reason: e.to_string(),
    })
}

fn hash_file(p: &Path) -> Result<(Digest, u64, Compression)> {
    let mut f = BufReader::new(File::open(p).map_err(io_err("cannot open", p))?);
    let c = Compression::sniff(f.fill_buf().map_err(io_err("cannot read", p))?);
    let (d, n) = HashingReader::new(f, super::digest::Algorithm::Sha256)
        .finish()
        .map_err(io_err("cannot read", p))?;
    Ok((d, n, c))
}

fn load_docker(store: &ImageStore, staged: &mut Staged) -> Result<Vec<Loaded>> {
    let entries: Vec<DockerEntry> = parse(&staged.read_file("manifest.json")?, "manifest.json")?;
    let mut out = Vec::new();
    for e in entries {
        let config_bytes = staged.read_file(&e.config)?;
        let config: ImageConfig = parse(&config_bytes, &e.config)?;
        if config.rootfs.diff_ids.len() != e.layers.len() {
            return Err(ImageError::Archive {
                path: PathBuf::from(&staged.archive),
                reason: format!(
                    "{} lists {} layers but its config {} diff IDs",
                    e.config,
                    e.layers.len(),
                    config.rootfs.diff_ids.len()
                ),
            });
        }
        let config_digest = store.put_blob(&config_bytes)?;
        let mut layers = Vec::new();
        for (path, diff) in e.layers.iter().zip(&config.rootfs.diff_ids) {
            let (digest, size, compression) = match staged.path(path) {
                Ok(p) => hash_file(p)?,
                // The same layer listed twice was adopted already.
                Err(_) if store.has_blob(diff, None) => (
                    diff.clone(),
                    std::fs::metadata(store.blob_path(diff)).map(|m| m.len()).unwrap_or(0),
                    Compression::None,
                ),
                Err(err) => return Err(err),
            };
            if compression == Compression::None && &digest != diff {
                return Err(ImageError::DigestMismatch {
                    what: format!("layer {path} in {}", staged.archive),
                    expected: diff.clone(),
                    actual: digest,
                });
            }
            if staged.path(path).is_ok() {
                staged.adopt(store, path, &digest)?;
            }
            let media = match compression {
                Compression::None => manifest::OCI_LAYER_TAR,
                Compression::Gzip => manifest::OCI_LAYER_GZIP,
                Compression::Zstd => manifest::OCI_LAYER_ZSTD,
            };
            layers.push(Descriptor::new(media, digest, size));
        }
        let m = Manifest {
            schema_version: 2,
            media_type: Some(manifest::OCI_MANIFEST.into()),
            config: Descriptor::new(manifest::OCI_CONFIG, config_digest.clone(), config_bytes.len() as u64),
            layers,
            annotations: BTreeMap::new(),
            extra: BTreeMap::new(),
        };
        let mbytes = serde_json::to_vec(&m).map_err(|e| ImageError::BadDocument {
            what: "manifest".into(),
            reason: e.to_string(),
        })?;
        let mdigest = store.put_blob(&mbytes)?;
        let image = store.load(&mdigest)?;
        ensure_snapshots(store, &image)?;
        let mut desc = Descriptor::new(manifest::OCI_MANIFEST, mdigest, mbytes.len() as u64);
        desc.platform = Some(Platform {
            architecture: config.architecture.clone(),
            os: config.os.clone(),
            variant: config.variant.clone(),
            ..Platform::default()
        });
        let names: Vec<Reference> = e
            .repo_tags
            .unwrap_or_default()
            .iter()
            .map(|t| Reference::parse(t))
            .collect::<std::result::Result<_, _>>()?;
        if names.is_empty() {
            store.set_image(None, &desc, &config_digest, None)?;
        }
        for n in &names {
            store.set_image(Some(n), &desc, &config_digest, None)?;
        }
        out.push(Loaded {
            names,
            id: config_digest,
        });
    }
    Ok(out)
}

fn load_oci(store: &ImageStore, staged: &mut Staged) -> Result<Vec<Loaded>> {
    let index: Index = parse(&staged.read_file("index.json")?, "index.json")?;
    let host = Platform::host();
    let mut out: Vec<Loaded> = Vec::new();
    for entry in &index.manifests {
        let name = entry
            .annotations
            .get(manifest::ANNOTATION_IMAGE_NAME)
            .or_else(|| {
                entry
                    .annotations
                    .get(manifest::ANNOTATION_REF_NAME)
                    .filter(|n| n.contains(':') || n.contains('/'))
            })
            .map(|n| Reference::parse(n))
            .transpose()?;
        // An index entry: take the host's platform from it.
        let mut desc = entry.clone();
        if manifest::is_index(&desc.media_type) {
            let key = blob_key(&desc.digest);
            let bytes = staged.read_file(&key)?;
            verify_bytes(&bytes, &desc.digest, &key)?;
            let inner: Index = parse(&bytes, &key)?;
            desc = manifest::select_platform(&inner, &host)
                .cloned()
                .ok_or_else(|| ImageError::NoMatchingPlatform {
                    reference: name
                        .as_ref()
                        .map(|n| n.familiar())
                        .unwrap_or_else(|| desc.digest.to_string()),
                    platform: host.to_string(),
                    available: inner
                        .manifests
                        .iter()
                        .filter_map(|d| d.platform.as_ref())
                        .map(|p| p.to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                })?;
        }
        if !manifest::is_manifest(&desc.media_type) {
            return Err(ImageError::UnsupportedMediaType {
                what: format!("index entry {}", desc.digest),
                media_type: desc.media_type.clone(),
            });
        }
        let mkey = blob_key(&desc.digest);
        staged.adopt(store, &mkey, &desc.digest)?;
        let m: Manifest = parse(&store.read_blob(&desc.digest)?, &mkey)?;
        staged.adopt(store, &blob_key(&m.config.digest), &m.config.digest)?;
        for l in &m.layers {
            staged.adopt(store, &blob_key(&l.digest), &l.digest)?;
        }
        let image = store.load(&desc.digest)?;
        ensure_snapshots(store, &image)?;
        let mut rec = Descriptor::new(&desc.media_type, desc.digest.clone(), desc.size);
        rec.platform = desc.platform.clone();
        store.set_image(name.as_ref(), &rec, &image.config_digest, None)?;
        match out.iter_mut().find(|l| l.id == image.config_digest) {
            Some(l) => l.names.extend(name),
            None => out.push(Loaded {
                names: name.into_iter().collect(),
                id: image.config_digest.clone(),
            }),
        }
    }
    Ok(out)
}

fn blob_key(d: &Digest) -> String {
    format!("blobs/{}/{}", d.algorithm().name(), d.hex())
}

fn verify_bytes(bytes: &[u8], d: &Digest, what: &str) -> Result<()> {
    let mut h = d.hasher();
    h.update(bytes);
    let actual = h.finish();
    if &actual != d {
        return Err(ImageError::DigestMismatch {
            what: what.to_string(),
            expected: d.clone(),
            actual,
        });
    }
    Ok(())
}
