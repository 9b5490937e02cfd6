//! Pull: registry → content store → snapshots (the steps are listed in
//! `image/mod.rs`). Each layer is one streaming pipeline: the HTTP body is
//! hashed and written to an ingest file while, on a blocking thread, the
//! same bytes are decompressed, hashed again (diff ID) and unpacked. Blob
//! and snapshot are committed only when both digests match, so download,
//! verification, decompression and unpacking overlap and nothing
//! unverified is ever visible.

use super::digest::{Digest, HashingReader};
use super::error::{ImageError, Result};
use super::manifest::{self, Compression, Descriptor, ImageConfig, Index, Manifest, Platform};
use super::reference::Reference;
use super::registry::config::RegistryOptions;
use super::registry::{self, Access, Client, FetchedManifest};
use super::store::{ImageStore, Ingest, TempSnapshot};
use super::unpack::{unpack_layer, UnpackOptions};
use futures_util::stream::{self, StreamExt, TryStreamExt};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Largest config blob accepted (configs are a few KiB).
const MAX_CONFIG: u64 = 16 * 1024 * 1024;

/// The state of one layer, as `docker pull` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerStatus {
    Waiting,
    AlreadyExists,
    Downloading { current: u64, total: u64 },
    DownloadComplete,
    Extracting,
    PullComplete,
}

impl LayerStatus {
    /// Docker's wording.
    pub fn text(&self) -> &'static str {
        match self {
            LayerStatus::Waiting => "Pulling fs layer",
            LayerStatus::AlreadyExists => "Already exists",
            LayerStatus::Downloading { .. } => "Downloading",
            LayerStatus::DownloadComplete => "Download complete",
            LayerStatus::Extracting => "Extracting",
            LayerStatus::PullComplete => "Pull complete",
        }
    }
}

/// Progress of a pull, for the CLI to show.
#[derive(Debug, Clone)]
pub enum PullEvent {
    /// Started pulling (Docker's "latest: Pulling from library/redis").
    Resolving { tag: String, repository: String },
    /// A layer changed state; `id` is the short digest.
    Layer { id: String, status: LayerStatus },
    /// The digest of what the registry served for the name.
    Digest(Digest),
}

pub type Progress = Arc<dyn Fn(&PullEvent) + Send + Sync>;

/// A progress sink that ignores everything.
pub fn no_progress() -> Progress {
    Arc::new(|_| {})
}

/// How to pull.
#[derive(Debug, Clone)]
pub struct PullOptions {
    /// The platform to select from an index (default: the host's).
    pub platform: Option<Platform>,
    pub registry: RegistryOptions,
    /// Layers fetched at once.
    pub concurrency: usize,
}

impl Default for PullOptions {
    fn default() -> Self {
        PullOptions {
            platform: None,
            registry: RegistryOptions::default(),
            concurrency: 3,
        }
    }
}

/// What a pull did.
#[derive(Debug, Clone)]
pub struct Pulled {
    pub reference: Reference,
    /// The platform manifest stored under the name.
    pub manifest: Digest,
    /// What the registry served for the name (an index or the manifest).
    pub repo_digest: Digest,
    /// The image ID (config digest).
    pub id: Digest,
    /// Whether anything changed (new layers or the name moved).
    pub updated: bool,
}

/// Pulls `reference` into `store`, blocking. Call [`pull_async`] from async code.
pub fn pull(store: &ImageStore, reference: &Reference, opts: &PullOptions, progress: Progress) -> Result<Pulled> {
    runtime()?.block_on(pull_async(store, reference, opts, progress))
}

/// A runtime for the blocking entry points: two workers (downloads are
/// I/O bound; decompression runs on blocking threads).
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(ImageError::Runtime)
}

/// Pulls `reference`, trying each endpoint (mirrors first for Docker Hub).
pub async fn pull_async(
    store: &ImageStore,
    reference: &Reference,
    opts: &PullOptions,
    progress: Progress,
) -> Result<Pulled> {
    // Leftovers of killed pulls must not accumulate; a live pull's files
    // carry its pid and stay.
    store.clean_stale()?;
    let _content = store.content_lock()?;
    let http = registry::http_client()?;
    let endpoints = opts.registry.endpoints(reference.domain());
    let mut last_err = None;
    for (i, base) in endpoints.iter().enumerate() {
        let is_last = i + 1 == endpoints.len();
        let client = Client::new(http.clone(), reference, base, &opts.registry, Access::Pull)?;
        match pull_from(&client, store, reference, opts, &progress).await {
            Ok(p) => return Ok(p),
            // A mirror that is down or lacks the image: try the next endpoint.
            Err(
                e @ (ImageError::Connect { .. }
                | ImageError::RegistryNotFound { .. }
                | ImageError::RegistryStatus { .. }),
            ) if !is_last => last_err = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last_err.unwrap_or_else(|| ImageError::Registry {
        registry: reference.domain().to_string(),
        message: "no endpoint to pull from".into(),
    }))
}

async fn pull_from(
    client: &Client,
    store: &ImageStore,
    reference: &Reference,
    opts: &PullOptions,
    progress: &Progress,
) -> Result<Pulled> {
    progress(&PullEvent::Resolving {
        tag: reference.registry_reference(),
        repository: reference.path().to_string(),
    });
    let top = client.get_manifest(&reference.registry_reference()).await?;
    store_document(store, &top)?;
    let platform = opts.platform.clone().unwrap_or_else(Platform::host);
    let (fetched, platform_of_entry) = if manifest::is_index(&top.media_type) {
        let index: Index = parse(&top.bytes, &format!("index {}", top.digest))?;
        let Some(entry) = manifest::select_platform(&index, &platform) else {
            let available: Vec<String> = index
                .manifests
                .iter()
                .filter_map(|d| d.platform.as_ref())
                .filter(|p| p.os != "unknown")
                .map(|p| p.to_string())
                .collect();
            return Err(ImageError::NoMatchingPlatform {
                reference: reference.familiar(),
                platform: platform.to_string(),
                available: if available.is_empty() {
                    "none".into()
                } else {
                    available.join(", ")
                },
            });
        };
        let m = client.get_manifest(&entry.digest.to_string()).await?;
        store_document(store, &m)?;
        (m, entry.platform.clone())
    } else {
        (top.clone(), None)
    };
    if !manifest::is_manifest(&fetched.media_type) {
        return Err(ImageError::UnsupportedMediaType {
            what: format!("manifest of {}", reference.familiar()),
            media_type: format!(
                "{} (Docker schema 1 and other formats are not supported; re-push the image with a current tool)",
                fetched.media_type
            ),
        });
    }
    let m: Manifest = parse(&fetched.bytes, &format!("manifest {}", fetched.digest))?;

    // The config names each layer's diff ID, which the unpack verifies.
    let config_desc = &m.config;
    if !store.has_blob(&config_desc.digest, Some(config_desc.size)) {
        let bytes = client.get_blob_bytes(&config_desc.digest, MAX_CONFIG).await?;
        let mut ing = store.ingest()?;
        ing.write_all(&bytes).map_err(|e| ImageError::Io {
            action: "cannot write the image config",
            path: PathBuf::from(config_desc.digest.to_string()),
            source: e,
        })?;
        ing.commit(
            &config_desc.digest,
            Some(config_desc.size),
            &format!("image config {}", config_desc.digest),
        )?;
    }
    let config: ImageConfig = parse(
        &store.read_blob(&config_desc.digest)?,
        &format!("image config {}", config_desc.digest),
    )?;
    if config.rootfs.diff_ids.len() != m.layers.len() {
        return Err(ImageError::BadDocument {
            what: format!("image {}", reference.familiar()),
            reason: format!(
                "the manifest lists {} layers but the config {} diff IDs",
                m.layers.len(),
                config.rootfs.diff_ids.len()
            ),
        });
    }

    for (l, diff) in m.layers.iter().zip(&config.rootfs.diff_ids) {
        if !(store.has_blob(&l.digest, Some(l.size)) && store.snapshot(diff).is_some()) {
            progress(&PullEvent::Layer {
                id: l.digest.short().to_string(),
                status: LayerStatus::Waiting,
            });
        }
    }
    let jobs = m.layers.iter().zip(&config.rootfs.diff_ids).map(|(desc, diff)| {
        let store = store.clone();
        async move { fetch_layer(client, &store, desc, diff, progress).await }
    });
    let fetched_any: Vec<bool> = stream::iter(jobs)
        .buffer_unordered(opts.concurrency.max(1))
        .try_collect()
        .await?;

    let mut desc = Descriptor::new(&fetched.media_type, fetched.digest.clone(), fetched.bytes.len() as u64);
    desc.platform = platform_of_entry.or_else(|| {
        Some(Platform {
            architecture: config.architecture.clone(),
            os: config.os.clone(),
            variant: config.variant.clone(),
            ..Platform::default()
        })
    });
    let old = store.set_image(Some(reference), &desc, &config_desc.digest, Some(&top.digest))?;
    progress(&PullEvent::Digest(top.digest.clone()));
    Ok(Pulled {
        reference: reference.clone(),
        manifest: fetched.digest,
        repo_digest: top.digest,
        id: config_desc.digest.clone(),
        updated: fetched_any.iter().any(|b| *b) || old.is_some(),
    })
}

fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| ImageError::BadDocument {
        what: what.to_string(),
        reason: e.to_string(),
    })
}

/// Stores a manifest or index (already verified against its digest).
fn store_document(store: &ImageStore, m: &FetchedManifest) -> Result<()> {
    if store.has_blob(&m.digest, Some(m.bytes.len() as u64)) {
        return Ok(());
    }
    let mut ing = store.ingest()?;
    ing.write_all(&m.bytes).map_err(|e| ImageError::Io {
        action: "cannot write manifest",
        path: PathBuf::from(m.digest.to_string()),
        source: e,
    })?;
    ing.commit(&m.digest, Some(m.bytes.len() as u64), &format!("manifest {}", m.digest))
}

/// Fetches and unpacks one layer unless present; returns whether anything
/// was fetched or unpacked.
async fn fetch_layer(
    client: &Client,
    store: &ImageStore,
    desc: &Descriptor,
    diff_id: &Digest,
    progress: &Progress,
) -> Result<bool> {
    let id = desc.digest.short().to_string();
    let report = |status| progress(&PullEvent::Layer { id: id.clone(), status });
    if !manifest::is_layer(&desc.media_type) {
        return Err(ImageError::UnsupportedMediaType {
            what: format!("layer {}", desc.digest),
            media_type: desc.media_type.clone(),
        });
    }
    let has_blob = store.has_blob(&desc.digest, Some(desc.size));
    let has_snapshot = store.snapshot(diff_id).is_some();
    if has_blob && has_snapshot {
        report(LayerStatus::AlreadyExists);
        return Ok(false);
    }
    if has_blob {
        // Unpack from the local blob (e.g. after `image load` or a removed snapshot).
        report(LayerStatus::Extracting);
        let (store2, digest, diff) = (store.clone(), desc.digest.clone(), diff_id.clone());
        tokio::task::spawn_blocking(move || -> Result<()> {
            let src = store2.open_blob(&digest)?;
            let (snap, actual) = unpack_stream(&store2, src, &diff, &digest)?;
            check_diff(&digest, &diff, &actual)?;
            snap.commit(&diff)?;
            Ok(())
        })
        .await
        .map_err(join_error)??;
        report(LayerStatus::PullComplete);
        return Ok(true);
    }

    let mut resp = client.get_blob(&desc.digest).await?;
    let ingest = store.ingest()?;
    let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<bytes::Bytes>>(64);
    let worker = {
        let (store, digest, diff, size) = (store.clone(), desc.digest.clone(), diff_id.clone(), desc.size);
        let unpack = !has_snapshot;
        tokio::task::spawn_blocking(move || -> Result<()> {
            let mut reader = ChannelReader {
                rx,
                cur: Default::default(),
                pos: 0,
                ingest,
            };
            let snap = if unpack {
                match unpack_stream(&store, &mut reader, &diff, &digest) {
                    Ok(s) => Some(s),
                    Err(e) => {
                        // A corrupt download first shows as a broken stream;
                        // when the whole blob arrived, name the root cause.
                        if io::copy(&mut reader, &mut io::sink()).is_ok() {
                            let actual = reader.ingest.digest();
                            if actual != digest {
                                return Err(ImageError::DigestMismatch {
                                    what: format!("layer {digest}"),
                                    expected: digest,
                                    actual,
                                });
                            }
                        }
                        return Err(e);
                    }
                }
            } else {
                io::copy(&mut reader, &mut io::sink()).map_err(|source| ImageError::LayerFormat {
                    layer: digest.to_string(),
                    source,
                })?;
                None
            };
            reader.ingest.commit(&digest, Some(size), &format!("layer {digest}"))?;
            if let Some((snap, actual)) = snap {
                check_diff(&digest, &diff, &actual)?;
                snap.commit(&diff)?;
            }
            Ok(())
        })
    };

    // Feed the worker; stop early if it has failed (it dropped the receiver).
    let mut received = 0u64;
    let mut net_err = None;
    let mut last_report = Instant::now();
    let url = format!("{}/{}", client.domain(), client.repository());
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                received += chunk.len() as u64;
                if received > desc.size {
                    net_err = Some(ImageError::SizeMismatch {
                        what: format!("layer {} from {url}", desc.digest),
                        expected: desc.size,
                        actual: received,
                    });
                    let _ = tx
                        .send(Err(io::Error::other("the layer is larger than its descriptor says")))
                        .await;
                    break;
                }
                if tx.send(Ok(chunk)).await.is_err() {
                    break;
                }
                if last_report.elapsed() > Duration::from_millis(200) {
                    last_report = Instant::now();
                    report(LayerStatus::Downloading {
                        current: received,
                        total: desc.size,
                    });
                }
            }
            Ok(None) => break,
            Err(e) => {
                let _ = tx
                    .send(Err(io::Error::other(format!("download interrupted: {e}"))))
                    .await;
                net_err = Some(ImageError::Connect {
                    registry: client.domain().to_string(),
                    url: format!("{url} blob {}", desc.digest),
                    message: format!("the download broke off after {received} of {} bytes: {e}", desc.size),
                });
                break;
            }
        }
    }
    drop(tx);
    report(LayerStatus::DownloadComplete);
    let outcome = worker.await.map_err(join_error)?;
    if let Some(e) = net_err {
        return Err(e);
    }
    outcome?;
    report(LayerStatus::PullComplete);
    Ok(true)
}

fn join_error(e: tokio::task::JoinError) -> ImageError {
    ImageError::Registry {
        registry: "-".into(),
        message: format!("a layer worker failed: {e}"),
    }
}

fn check_diff(layer: &Digest, want: &Digest, actual: &Digest) -> Result<()> {
    if want != actual {
        return Err(ImageError::DigestMismatch {
            what: format!("uncompressed content of layer {layer} (the config's diff ID)"),
            expected: want.clone(),
            actual: actual.clone(),
        });
    }
    Ok(())
}

/// Decompresses (gzip, zstd or none, told by magic bytes) and unpacks a
/// layer into a fresh snapshot; returns it uncommitted with the digest of
/// the uncompressed stream. Reads `src` to its end.
pub(crate) fn unpack_stream(
    store: &ImageStore,
    src: impl Read,
    diff_id: &Digest,
    layer: &Digest,
) -> Result<(TempSnapshot, Digest)> {
    let fmt_err = |source| ImageError::LayerFormat {
        layer: layer.to_string(),
        source,
    };
    let snap = store.begin_snapshot()?;
    let mut buf = BufReader::with_capacity(256 * 1024, src);
    let compression = Compression::sniff(buf.fill_buf().map_err(fmt_err)?);
    let actual = {
        let decoder: Box<dyn Read + '_> = match compression {
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(&mut buf)),
            Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(&mut buf).map_err(fmt_err)?),
            Compression::None => Box::new(&mut buf),
        };
        let mut hashed = HashingReader::new(decoder, diff_id.algorithm());
        unpack_layer(&mut hashed, snap.path(), &layer.to_string(), &UnpackOptions::default())?;
        hashed.finish().map_err(fmt_err)?.0
    };
    // Whatever follows the compressed stream still counts for the blob digest.
    io::copy(&mut buf, &mut io::sink()).map_err(fmt_err)?;
    Ok((snap, actual))
}

/// The blocking side of a layer download: reads chunks from the channel,
/// writing each to the ingest file (which hashes it) before handing it on.
struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<io::Result<bytes::Bytes>>,
    cur: bytes::Bytes,
    pos: usize,
    ingest: Ingest,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.cur.len() {
            match self.rx.blocking_recv() {
                None => return Ok(0),
                Some(Err(e)) => return Err(e),
                Some(Ok(chunk)) => {
                    self.ingest.write_all(&chunk)?;
                    self.cur = chunk;
                    self.pos = 0;
                }
            }
        }
        let n = out.len().min(self.cur.len() - self.pos);
        out[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Compose's `pull_policy` (and `pull --policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullPolicy {
    /// Pull every time.
    Always,
    /// Pull only if the store has no image of that name (`missing`,
    /// `if_not_present`; Compose's `daily`/`weekly`/`every_*` also land
    /// here: the store keeps no pull times yet).
    Missing,
    /// Never pull; fail if the image is missing.
    Never,
}

impl std::str::FromStr for PullPolicy {
    type Err = ImageError;
    fn from_str(s: &str) -> Result<PullPolicy> {
        match s {
            "always" => Ok(PullPolicy::Always),
            "missing" | "if_not_present" | "daily" | "weekly" => Ok(PullPolicy::Missing),
            s if s.starts_with("every_") => Ok(PullPolicy::Missing),
            "never" => Ok(PullPolicy::Never),
            other => Err(ImageError::Conflict {
                message: format!("unknown pull policy {other:?}: use always, missing or never"),
            }),
        }
    }
}

/// Makes sure `reference` is in the store as `policy` says; returns what
/// a pull did, or None when none was needed.
pub fn ensure(
    store: &ImageStore,
    reference: &Reference,
    policy: PullPolicy,
    opts: &PullOptions,
    progress: Progress,
) -> Result<Option<Pulled>> {
    let present = !store.find(&reference.to_string())?.is_empty();
    match policy {
        PullPolicy::Always => pull(store, reference, opts, progress).map(Some),
        PullPolicy::Missing if present => Ok(None),
        PullPolicy::Missing => pull(store, reference, opts, progress).map(Some),
        PullPolicy::Never if present => Ok(None),
        PullPolicy::Never => Err(ImageError::NotFound {
            reference: format!("{} (pull policy is never)", reference.familiar()),
        }),
    }
}

/// Pulls several images at once, as `rcompose pull` does for a project's
/// services; each result is reported separately so the caller can honor
/// `--ignore-pull-failures`. Images a name already points to are skipped
/// per `policy`.
pub fn pull_all(
    store: &ImageStore,
    references: &[Reference],
    policy: PullPolicy,
    opts: &PullOptions,
    progress: Progress,
) -> Result<Vec<(Reference, Result<Option<Pulled>>)>> {
    let rt = runtime()?;
    Ok(rt.block_on(async {
        let jobs = references.iter().map(|r| {
            let progress = progress.clone();
            async move {
                let present = store.find(&r.to_string()).map(|f| !f.is_empty());
                let result = match (policy, present) {
                    (_, Err(e)) => Err(e),
                    (PullPolicy::Always, _) | (PullPolicy::Missing, Ok(false)) => {
                        pull_async(store, r, opts, progress).await.map(Some)
                    }
                    (_, Ok(true)) => Ok(None),
                    (PullPolicy::Never, Ok(false)) => Err(ImageError::NotFound {
                        reference: format!("{} (pull policy is never)", r.familiar()),
                    }),
                };
                (r.clone(), result)
            }
        });
        // Images share layers and the link: a few at a time, like Compose.
        stream::iter(jobs).buffer_unordered(4).collect::<Vec<_>>().await
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_parse_and_never_does_not_pull() {
        assert_eq!("always".parse::<PullPolicy>().unwrap(), PullPolicy::Always);
        assert_eq!("if_not_present".parse::<PullPolicy>().unwrap(), PullPolicy::Missing);
        assert_eq!("every_12h".parse::<PullPolicy>().unwrap(), PullPolicy::Missing);
        assert!("sometimes".parse::<PullPolicy>().is_err());
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path()).unwrap();
        let r = Reference::parse("127.0.0.1:1/none").unwrap();
        let err = ensure(&store, &r, PullPolicy::Never, &PullOptions::default(), no_progress()).unwrap_err();
        assert!(err.to_string().contains("pull policy is never"), "{err}");
    }
}
