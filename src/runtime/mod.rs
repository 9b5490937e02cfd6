//! The container runtime: one container, from image snapshots to a running
//! process and back. Knows nothing about Compose or networks (it joins a
//! network namespace by path).
//!
//! The life of a container, in order:
//! 1. `config`: the engine-level [`ContainerSpec`] the caller fills;
//! 2. `rootfs`: overlayfs over the image's snapshots + per-container
//!    upper/work dirs, the generated `/etc/hosts`, `/etc/hostname`,
//!    `/etc/resolv.conf`, named volumes populated from the image;
//!    `targets`: mount targets checked, the working directory made;
//! 3. `user`, `entrypoint`, `security`, `seccomp`, `spec`: the OCI runtime
//!    spec with Docker's defaults (pure functions);
//! 4. `create`, `start`, `wait`, `kill`, `delete`: the lifecycle, through
//!    youki's `libcontainer`;
//! 5. `state`: the container's directory and its state file.

pub(crate) mod capabilities;
pub(crate) mod cgroupfs;
pub mod cgroups;
pub mod config;
pub mod create;
pub mod defaults;
pub mod delete;
pub mod entrypoint;
pub mod error;
pub mod events;
pub mod exec;
pub mod files;
pub mod kill;
pub(crate) mod launch;
pub mod pre_exec;
pub mod rootfs;
pub mod run;
pub mod sealed;
pub mod seccomp;
pub mod seccomp_filter;
pub mod security;
pub mod spec;
pub mod start;
pub mod state;
pub mod targets;
pub mod thp;
pub mod user;
pub mod wait;

pub use config::{
    ContainerSpec, DnsConfig, HealthTest, Healthcheck, HostEntry, ImageConfig, LogConfig, MountSpec, Propagation,
    Resources, RestartPolicy, SeccompChoice, SecurityOptions, Ulimit,
};
pub use create::{create, prepare, prepare_with_files, Stdio};
pub use delete::remove;
pub use error::{Result, RuntimeError};
pub use files::InjectedFile;
pub use kill::{kill, parse_signal};
pub use run::run_to_completion;
pub use start::start;
pub use state::{ContainerState, Roots, Status};
pub use wait::{wait, ExitStatus};
