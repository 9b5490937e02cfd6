//! DNS by service name. `records` is the pure lookup table, `source` keeps
//! it in step with the per-container record files under the run directory,
//! `server` is the responder the supervisor runs at 127.0.0.11:53 inside a
//! container's namespace, and `resolv` writes the container's resolv.conf.

pub mod records;
pub mod resolv;
pub mod server;
pub mod source;

pub use records::{DnsEndpoint, DnsNetworkEntry, RecordTable};
pub use server::{DnsConfig, DnsServer};
pub use source::{DirRecords, RecordsSource, StaticRecords};
