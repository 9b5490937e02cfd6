//! The image engine: references, the content store, registry pull and
//! push, layer snapshots, and image archives. It knows nothing about
//! Compose; `project` and `cli` call it with plain references.
//!
//! A pull, in the order `pull::pull` runs it:
//! 1. **resolve** the reference (`reference`) and the registry endpoint,
//!    mirrors and credentials (`registry::config`, `registry::auth`);
//! 2. **fetch the manifest** (or index, then the host platform's manifest),
//!    verified against its digest (`registry`, `manifest`);
//! 3. **fetch the config**, verified, which names each layer's uncompressed
//!    digest (diff ID);
//! 4. **per layer, in parallel**: skip it when blob and snapshot are
//!    present; else stream download → digest check → blob file, and on the
//!    same stream decompress → diff ID check → unpack into a fresh snapshot
//!    directory (`unpack`); both are committed by rename only once both
//!    digests match (`store`);
//! 5. **record the name** → manifest in the store's index (`store`).
//!
//! Around it: `push` (blobs the registry lacks, mounts, then the manifest),
//! `archive` (docker-archive and OCI archives, both ways), `ops` (tag, rm,
//! prune/GC, inspect, history, import), `unpack` (the only code that
//! writes layer content, and the security boundary for it).

pub mod archive;
pub mod digest;
pub mod error;
pub mod manifest;
pub mod ops;
pub mod pull;
pub mod push;
pub mod reference;
pub mod registry;
pub mod store;
mod sys;
pub mod unpack;

pub use digest::Digest;
pub use error::{ImageError, Result};
pub use reference::Reference;
pub use store::ImageStore;
