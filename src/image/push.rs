//! Push: a local image's blobs (those the registry lacks; mounted from
//! the image's source repository when on the same registry) and then its
//! manifest, unchanged, so the pushed digest equals the local one.

use super::digest::Digest;
use super::error::{ImageError, Result};
use super::pull::runtime;
use super::reference::Reference;
use super::registry::config::RegistryOptions;
use super::registry::{self, Access, Client};
use super::store::ImageStore;
use futures_util::stream::{self, StreamExt, TryStreamExt};
use std::io::Read;
use std::sync::Arc;

/// Per-blob outcome, worded as `docker push` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushStatus {
    Preparing,
    Pushing,
    Pushed,
    AlreadyExists,
    Mounted { from: String },
}

impl PushStatus {
    pub fn text(&self) -> String {
        match self {
            PushStatus::Preparing => "Preparing".into(),
            PushStatus::Pushing => "Pushing".into(),
            PushStatus::Pushed => "Pushed".into(),
            PushStatus::AlreadyExists => "Layer already exists".into(),
            PushStatus::Mounted { from } => format!("Mounted from {from}"),
        }
    }
}

#[derive(Debug, Clone)]
pub enum PushEvent {
    Blob {
        id: String,
        status: PushStatus,
    },
    /// Docker's closing line: `latest: digest: sha256:… size: 527`.
    Done {
        tag: String,
        digest: Digest,
        size: u64,
    },
}

pub type PushProgress = Arc<dyn Fn(&PushEvent) + Send + Sync>;

#[derive(Debug, Clone)]
pub struct PushOptions {
    pub registry: RegistryOptions,
    pub concurrency: usize,
}

impl Default for PushOptions {
    fn default() -> Self {
        PushOptions {
            registry: RegistryOptions::default(),
            concurrency: 3,
        }
    }
}

/// Pushes the local image `source` (name or ID) as `target`. Blocking.
pub fn push(
    store: &ImageStore,
    source: &str,
    target: &Reference,
    opts: &PushOptions,
    progress: PushProgress,
) -> Result<Digest> {
    runtime()?.block_on(push_async(store, source, target, opts, progress))
}

pub async fn push_async(
    store: &ImageStore,
    source: &str,
    target: &Reference,
    opts: &PushOptions,
    progress: PushProgress,
) -> Result<Digest> {
    let record = store.resolve(source)?;
    let image = store.load(&record.manifest.digest)?;
    // Mount from where the image came from, when that is the same registry.
    // Mount from another repository this image is known under on the
    // same registry (where it was pulled from, typically).
    let mount_from = store
        .images()?
        .into_iter()
        .filter(|r| r.manifest.digest == record.manifest.digest)
        .filter_map(|r| r.name)
        .find(|n| n.domain() == target.domain() && n.path() != target.path())
        .map(|n| n.path().to_string());
    let base = opts
        .registry
        .endpoints(target.domain())
        .into_iter()
        .last()
        .ok_or_else(|| ImageError::Registry {
            registry: target.domain().into(),
            message: "no endpoint to push to".into(),
        })?;
    let mut client = Client::new(registry::http_client()?, target, &base, &opts.registry, Access::Push)?;
    if let Some(from) = &mount_from {
        client = client.with_mount_source(from);
    }
    let client = &client;

    let mut blobs: Vec<(Digest, u64)> = image
        .manifest
        .layers
        .iter()
        .map(|l| (l.digest.clone(), l.size))
        .collect();
    blobs.push((image.manifest.config.digest.clone(), image.manifest.config.size));
    for (d, _) in &blobs {
        progress(&PushEvent::Blob {
            id: d.short().to_string(),
            status: PushStatus::Preparing,
        });
    }
    let jobs = blobs.into_iter().map(|(digest, size)| {
        let progress = progress.clone();
        let mount_from = mount_from.clone();
        async move {
            let id = digest.short().to_string();
            let report = |status| progress(&PushEvent::Blob { id: id.clone(), status });
            if client.has_blob(&digest).await? {
                report(PushStatus::AlreadyExists);
                return Ok::<_, ImageError>(());
            }
            if let Some(from) = &mount_from {
                if client.mount_blob(&digest, from).await? {
                    report(PushStatus::Mounted { from: from.clone() });
                    return Ok(());
                }
            }
            report(PushStatus::Pushing);
            verify_local(store, &digest).await?;
            let path = store.blob_path(&digest);
            let actual_size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(size);
            client
                .upload_blob(&digest, actual_size, || match std::fs::File::open(&path) {
                    Ok(f) => reqwest::Body::from(tokio::fs::File::from_std(f)),
                    // The blob was verified a moment ago; if it vanished
                    // since, the registry rejects the empty upload's digest.
                    Err(_) => reqwest::Body::from(Vec::new()),
                })
                .await?;
            report(PushStatus::Pushed);
            Ok(())
        }
    });
    stream::iter(jobs)
        .buffer_unordered(opts.concurrency.max(1))
        .try_collect::<Vec<()>>()
        .await?;

    let bytes = store.read_blob(&record.manifest.digest)?;
    let size = bytes.len() as u64;
    let tag = target.registry_reference();
    client.put_manifest(&tag, &record.manifest.media_type, bytes).await?;
    progress(&PushEvent::Done {
        tag,
        digest: record.manifest.digest.clone(),
        size,
    });
    Ok(record.manifest.digest)
}

/// Hashes a local blob before it leaves the machine (streaming, off the
/// async workers).
async fn verify_local(store: &ImageStore, digest: &Digest) -> Result<()> {
    let (store, digest) = (store.clone(), digest.clone());
    tokio::task::spawn_blocking(move || -> Result<()> {
        let mut r = store.open_blob(&digest)?;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            match r.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(ImageError::Io {
                        action: "cannot verify blob before pushing it (pull the image again)",
                        path: store.blob_path(&digest),
                        source: e,
                    })
                }
            }
        }
    })
    .await
    .map_err(|e| ImageError::Registry {
        registry: "-".into(),
        message: format!("blob verification failed: {e}"),
    })?
}
