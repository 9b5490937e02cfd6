//! Networking for containers, without a daemon: one Linux bridge per
//! network, a veth pair per container and network, addresses from our own
//! IPAM, network namespaces kept as files, a DNS responder per container,
//! userland port proxies and nftables masquerading.
//!
//! This module knows nothing about Compose (the `project` module translates)
//! and never imports `runtime`: the runtime joins a namespace by its path.
//!
//! The order of a container's network setup, as `attach` runs it:
//! 1. **IPAM** (`ipam`, pure; persisted by `state`): subnet per network,
//!    address per container, stable across restarts.
//! 2. **bridge** (`bridge`): validated, then created with its gateway address.
//! 3. **namespace** (`netns`): a file under the run directory.
//! 4. **veth** (`veth`): one end in the bridge, the other `eth<N>` in the
//!    namespace with its addresses and the default route.
//! 5. **NAT** (`nat`): forwarding and masquerading for non-internal networks.
//! 6. **services** run by the container's supervisor: the DNS responder
//!    (`dns`) and the published-port proxies (`proxy`).
//!
//! Teardown runs the other way, collects errors and keeps going; removing
//! something already gone is success.

pub mod bridge;
pub mod dns;
pub mod error;
pub mod ipam;
pub mod manage;
pub mod mode;
pub mod nat;
pub mod netlink;
pub mod netns;
pub mod proxy;
pub mod state;
pub mod veth;

pub use error::{NetworkError, Result};
pub use manage::{Attachment, Connection, NetworkSpec, Networking};
pub use mode::{order_networks, NamespacePlan, NetworkMode};
