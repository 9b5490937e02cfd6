//! The image builder: a Dockerfile and its context into an image of the
//! store, with a layer cache. Knows nothing about Compose: the project
//! turns a service's `build:` into a [`BuildRequest`].
//!
//! - `dockerfile`: the parser and Docker's variable substitution;
//! - `ignore`: `.dockerignore`;
//! - `context`: the files COPY and ADD take, their digest, copying them;
//! - `dest`: where they go (paths of the image, Docker's destination rules);
//! - `stage`: a stage's image (layers, config, history) and the result;
//! - `run_step`: RUN in a container of the runtime;
//! - `layer`: a directory into a layer of the store;
//! - `cache`: which steps can be skipped;
//! - `builder`: the instructions, in order.

pub mod builder;
pub mod cache;
pub mod context;
pub mod dest;
pub mod dockerfile;
pub mod error;
pub mod ignore;
pub mod layer;
pub mod run_step;
pub mod stage;

pub use builder::{clean_stale, BuildNetwork, BuildRequest, Builder};
pub use error::BuildError;
