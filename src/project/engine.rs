//! Where the engine's state lives, and handles on its parts.

use std::path::PathBuf;

use crate::image::ImageStore;
use crate::network::state::NetworkPaths;
use crate::network::Networking;
use crate::runtime::Roots;
use crate::volume::VolumeStore;

use super::error::{ProjectError, Result};

/// The engine as one project operation sees it.
#[derive(Debug, Clone)]
pub struct Engine {
    pub roots: Roots,
    pub images: ImageStore,
    pub networking: Networking,
    pub volumes: VolumeStore,
    /// The `rcompose` binary, re-executed as each container's supervisor.
    pub exe: PathBuf,
}

impl Engine {
    /// The builder's layer cache and scratch space.
    pub fn build_cache(&self) -> PathBuf {
        self.roots.root.join("build-cache")
    }

    /// The engine of `RCOMPOSE_ROOT` / `RCOMPOSE_RUN`.
    pub fn from_env() -> Result<Engine> {
        let roots = Roots::from_env();
        let exe = crate::runtime::sealed::current_exe().map_err(|source| ProjectError::Io {
            action: "cannot find the rcompose binary at",
            path: PathBuf::from("/proc/self/exe"),
            source,
        })?;
        Engine::new(roots, exe)
    }

    pub fn new(roots: Roots, exe: PathBuf) -> Result<Engine> {
        // Root-only state (DESIGN.md §5); opening the image store does the
        // same for the state root.
        crate::store::secure_run_root(&roots.run)?;
        let images = ImageStore::open(&roots.root)?;
        let networking = Networking::new(NetworkPaths::new(&roots.root, &roots.run));
        let volumes = VolumeStore::new(&roots.root);
        Ok(Engine {
            roots,
            images,
            networking,
            volumes,
            exe,
        })
    }
}
