//! Where the record table comes from. Each running container has one file
//! `<run>/dns/<container>.json` ([`publish`] / [`withdraw`], written
//! atomically); [`DirRecords`] rebuilds the table when the directory
//! changes, so a container that starts, stops or restarts is visible to the
//! next query. Tables are swapped whole, never edited in place.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use super::records::{DnsEndpoint, RecordTable};
use crate::network::error::Result;
use crate::network::state::{self, file_safe};

/// Gives the current table; cheap to call per query.
pub trait RecordsSource: Send + Sync {
    fn table(&self) -> Arc<RecordTable>;
}

/// A fixed table (tests, or a supervisor that pushes updates itself).
pub struct StaticRecords(pub Mutex<Arc<RecordTable>>);

impl StaticRecords {
    pub fn new(endpoints: &[DnsEndpoint]) -> Self {
        StaticRecords(Mutex::new(Arc::new(RecordTable::build(endpoints))))
    }
    pub fn replace(&self, endpoints: &[DnsEndpoint]) {
        let t = Arc::new(RecordTable::build(endpoints));
        match self.0.lock() {
            Ok(mut g) => *g = t,
            Err(p) => *p.into_inner() = t,
        }
    }
}

impl RecordsSource for StaticRecords {
    fn table(&self) -> Arc<RecordTable> {
        match self.0.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }
}

/// Writes the record file of a running container.
pub fn publish(dns_dir: &Path, endpoint: &DnsEndpoint) -> Result<()> {
    state::write_json_atomic(
        &dns_dir.join(format!("{}.json", file_safe(&endpoint.container))),
        endpoint,
    )
}

/// Removes the record file of a container that stopped (missing is fine).
pub fn withdraw(dns_dir: &Path, container: &str) -> Result<()> {
    state::remove_file(&dns_dir.join(format!("{}.json", file_safe(container))))
}

struct Cache {
    mtime: Option<SystemTime>,
    loaded_at: SystemTime,
    table: Arc<RecordTable>,
}

/// The table of every record file in a directory, rebuilt when the
/// directory's mtime changes. File timestamps are coarse (a few ms), so a
/// table loaded within [`Self::SETTLE`] of the last change is re-checked
/// until it is older than that.
pub struct DirRecords {
    dir: PathBuf,
    cache: Mutex<Cache>,
}

impl DirRecords {
    const SETTLE: Duration = Duration::from_millis(50);

    pub fn new(dir: impl Into<PathBuf>) -> Self {
        DirRecords {
            dir: dir.into(),
            cache: Mutex::new(Cache {
                mtime: None,
                loaded_at: SystemTime::UNIX_EPOCH,
                table: Arc::new(RecordTable::default()),
            }),
        }
    }

    fn load(&self) -> RecordTable {
        let mut eps = Vec::new();
        if let Ok(entries) = fs::read_dir(&self.dir) {
            for e in entries.flatten() {
                let name = e.file_name();
                let name = name.to_string_lossy();
                if name.starts_with('.') || !name.ends_with(".json") {
                    continue;
                }
                // A damaged or vanished file only hides that container.
                if let Ok(Some(ep)) = state::read_json::<DnsEndpoint>(&e.path()) {
                    eps.push(ep);
                }
            }
        }
        RecordTable::build(&eps)
    }
}

impl RecordsSource for DirRecords {
    fn table(&self) -> Arc<RecordTable> {
        let mtime = fs::metadata(&self.dir).and_then(|m| m.modified()).ok();
        let mut cache = match self.cache.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let settled = match (cache.mtime, mtime) {
            (Some(old), Some(new)) => old == new && cache.loaded_at.duration_since(new).is_ok_and(|d| d > Self::SETTLE),
            _ => false,
        };
        if !settled {
            let now = SystemTime::now();
            cache.table = Arc::new(self.load());
            cache.mtime = mtime;
            cache.loaded_at = now;
        }
        cache.table.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::dns::records::{Answer, DnsNetworkEntry};

    #[test]
    fn publish_and_withdraw_show_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let src = DirRecords::new(dir.path());
        let nets = vec!["n".to_string()];
        assert_eq!(src.table().lookup(&nets, "web", 0), Answer::Forward);
        let ep = DnsEndpoint {
            container: "p-web-1".into(),
            service: Some("web".into()),
            hostname: None,
            networks: vec![DnsNetworkEntry {
                network: "n".into(),
                addresses: vec!["10.0.0.2".parse().unwrap()],
                aliases: vec![],
            }],
        };
        publish(dir.path(), &ep).unwrap();
        assert_eq!(
            src.table().lookup(&nets, "web", 0),
            Answer::Local(vec!["10.0.0.2".parse().unwrap()])
        );
        withdraw(dir.path(), "p-web-1").unwrap();
        assert_eq!(src.table().lookup(&nets, "web", 0), Answer::Forward);
        withdraw(dir.path(), "p-web-1").unwrap();
    }
}
