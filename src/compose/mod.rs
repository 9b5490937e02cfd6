//! The Compose loader: Compose files in, a typed, normalized, validated
//! [`Project`](model::Project) out. It knows nothing about the engine.
//!
//! The pipeline, in the order `load()` runs it (compose-go's order, with
//! spans kept throughout and every error collected instead of the first):
//!
//! 1. **discover** (`discover`): `-f` files, `COMPOSE_FILE`, or `compose.yaml`
//!    & co. searched upward, plus the automatic override file; project
//!    directory and project name.
//! 2. **environment** (`dotenv`): `.env` / `--env-file` under the process
//!    environment, which always wins.
//! 3. per file: **read** (`yaml`: span-keeping tree, anchors and `<<`
//!    resolved) → **interpolate** (`interpolate`) → **check structure**
//!    against the generated JSON schema (`schema`) → **extends** (`extends`)
//!    → **canonicalize** short syntax to the long form (`normalize`).
//! 4. **include** (`include`) then **merge** the files in order (`merge`),
//!    following 13-merge.md (`!reset`, `!override`).
//! 5. **profiles** (`profiles`): drop services whose profiles are inactive.
//! 6. **finalize** (`normalize::finalize`): implicit `default` network,
//!    resource names (`<project>_<name>`), env_file folded into environment.
//! 7. **model** (`model`): typed deserialization of the canonical tree.
//! 8. **validate** (`validate`): references, `depends_on` cycles, ports,
//!    names — every problem reported with file, line and a hint.
//! 9. **order** (`graph`): start levels for `up`, reversed for `down`.
pub mod diag;
pub mod discover;
pub mod dotenv;
pub mod extends;
pub mod graph;
pub mod include;
pub mod interpolate;
mod load;
pub mod merge;
pub mod model;
pub mod normalize;
pub mod profiles;
pub mod schema;
pub mod validate;
pub mod yaml;

pub use load::{load, LoadError, LoadOptions, Loaded};
