//! The image module's error type. Every variant says what happened, to
//! what, and (in its message) what the user can do about it.

use super::digest::{Digest, DigestError};
use super::reference::ReferenceError;
use crate::store::StoreError;
use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error(transparent)]
    Reference(#[from] ReferenceError),

    #[error(transparent)]
    Digest(#[from] DigestError),

    #[error(transparent)]
    Store(#[from] StoreError),

    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },

    #[error("{what} does not match its digest: expected {expected}, got {actual}; the data was discarded, try again (if it persists, the source is corrupt)")]
    DigestMismatch {
        what: String,
        expected: Digest,
        actual: Digest,
    },

    #[error("{what} has {actual} bytes where its descriptor says {expected}; the data was discarded")]
    SizeMismatch { what: String, expected: u64, actual: u64 },

    #[error("layer {layer} is unsafe: entry {entry:?} {reason}; the layer was refused and nothing of it was kept")]
    UnsafeEntry {
        layer: String,
        entry: String,
        reason: String,
    },

    #[error("cannot unpack entry {entry:?} of layer {layer}: {action}: {source}")]
    Unpack {
        layer: String,
        entry: String,
        action: &'static str,
        source: io::Error,
    },

    #[error("layer {layer} is not a readable tar stream: {source}")]
    LayerFormat { layer: String, source: io::Error },

    #[error("{what} is not valid: {reason}")]
    BadDocument { what: String, reason: String },

    #[error("unsupported media type {media_type:?} for {what}")]
    UnsupportedMediaType { what: String, media_type: String },

    #[error("no such image: {reference}; `rcompose image ls` lists the local images, `rcompose image pull {reference}` fetches it")]
    NotFound { reference: String },

    #[error("{reference} matches more than one image ({candidates}); use a longer ID or the full name")]
    Ambiguous { reference: String, candidates: String },

    #[error(
        "image {reference} has no variant for platform {platform} (available: {available}); choose one with --platform"
    )]
    NoMatchingPlatform {
        reference: String,
        platform: String,
        available: String,
    },

    #[error("registry {registry}: cannot connect to {url}: {message}; check that the registry is running and reachable (an HTTP-only registry must be listed under insecure-registries)")]
    Connect {
        registry: String,
        url: String,
        message: String,
    },

    #[error("registry {registry} refused access to {repository} ({status}); log in with `rcompose login {registry}` or check the repository name")]
    Unauthorized {
        registry: String,
        repository: String,
        status: u16,
    },

    #[error("{what} not found in registry {registry} (repository {repository}); check the name and tag")]
    RegistryNotFound {
        registry: String,
        repository: String,
        what: String,
    },

    #[error("registry {registry}: {action} {url} failed with HTTP {status}: {body}")]
    RegistryStatus {
        registry: String,
        action: &'static str,
        url: String,
        status: u16,
        body: String,
    },

    #[error("registry {registry}: {message}")]
    Registry { registry: String, message: String },

    #[error("{message}")]
    Conflict { message: String },

    #[error("archive {}: {reason}", path.display())]
    Archive { path: PathBuf, reason: String },

    #[error("config file {}: {reason}", path.display())]
    Config { path: PathBuf, reason: String },

    #[error("cannot start the async runtime: {0}")]
    Runtime(io::Error),
}

pub type Result<T, E = ImageError> = std::result::Result<T, E>;

/// Shorthand for mapping an `io::Error` on a path.
pub(crate) fn io_err(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> ImageError {
    let path = path.into();
    move |source| ImageError::Io { action, path, source }
}
