//! Local image management: tag, remove, garbage collection and prune,
//! inspect and history data, import of a root filesystem tarball, and
//! unpacking the layers an image lacks. Nothing here prints; the CLI
//! formats what these return.

use super::digest::{Digest, HashingReader};
use super::error::{ImageError, Result};
use super::manifest::{self, Compression, Descriptor, History, ImageConfig, Manifest, RootFs};
use super::pull::unpack_stream;
use super::reference::Reference;
use super::store::{referenced, Image, ImageRecord, ImageStore};
use std::collections::{BTreeMap, HashSet};
use std::io::{self, BufRead, BufReader, Read};

/// Points `target` at the image `source` (name or ID).
pub fn tag(store: &ImageStore, source: &str, target: &Reference) -> Result<()> {
    let r = store.resolve(source)?;
    let id = match r.id.clone() {
        Some(id) => id,
        None => store.load(&r.manifest.digest)?.config_digest,
    };
    store.set_image(Some(target), &r.manifest, &id, None)?;
    Ok(())
}

/// What `image rm` did, line by line as Docker prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removed {
    Untagged(String),
    Deleted(Digest),
}

/// Removes an image by name or ID. A name is untagged; the image itself
/// goes once no name points at it. An ID with several names needs
/// `force` (then all names go), as in Docker.
pub fn remove(store: &ImageStore, what: &str, force: bool) -> Result<Vec<Removed>> {
    let record = store.resolve(what)?;
    let digest = record.manifest.digest.clone();
    let all = store.images()?;
    let names: Vec<&ImageRecord> = all
        .iter()
        .filter(|r| r.manifest.digest == digest && r.name.is_some())
        .collect();
    let mut out = Vec::new();
    let by_name = Reference::parse(what).ok().filter(|r| record.name.as_ref() == Some(r));
    match by_name {
        Some(name) => {
            store.remove_name(&name)?;
            out.push(Removed::Untagged(name.familiar()));
            if names.len() > 1 {
                return Ok(out);
            }
        }
        None => {
            if names.len() > 1 && !force {
                return Err(ImageError::Conflict {
                    message: format!(
                        "image {} is referenced by several names ({}); remove them by name or use --force",
                        digest.short(),
                        names
                            .iter()
                            .filter_map(|r| r.name.as_ref())
                            .map(|n| n.familiar())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            }
            for r in &names {
                if let Some(n) = &r.name {
                    out.push(Removed::Untagged(n.familiar()));
                }
            }
        }
    }
    let removed = store.remove_manifest(&digest)?;
    if !removed.is_empty() || out.iter().any(|r| matches!(r, Removed::Untagged(_))) {
        let id = record.id.clone().unwrap_or(digest);
        out.push(Removed::Deleted(id));
    }
    gc(store)?;
    Ok(out)
}

/// What garbage collection freed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reclaimed {
    pub blobs: usize,
    pub snapshots: usize,
    pub bytes: u64,
}

/// Removes blobs and snapshots no image refers to, and leftovers of dead
/// pulls.
pub fn gc(store: &ImageStore) -> Result<Reclaimed> {
    let _gc = store.gc_lock()?;
    store.clean_stale()?;
    let (blobs, diffs) = referenced(store)?;
    let mut out = Reclaimed::default();
    for d in store.blob_ids()? {
        if !blobs.contains(&d) {
            let path = store.blob_path(&d);
            let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            if std::fs::remove_file(&path).is_ok() {
                out.blobs += 1;
                out.bytes += size;
            }
        }
    }
    for d in store.snapshot_ids()? {
        if !diffs.contains(&d) && store.remove_snapshot(&d)? {
            out.snapshots += 1;
        }
    }
    Ok(out)
}

/// Removes dangling images (no name), or with `all` every image whose ID
/// is not in `in_use` (the images containers use: the caller knows them),
/// then collects garbage. Returns the removed image IDs.
pub fn prune(store: &ImageStore, all: bool, in_use: &HashSet<Digest>) -> Result<(Vec<Removed>, Reclaimed)> {
    let mut removed = Vec::new();
    for r in store.images()? {
        let id = r.id.clone().unwrap_or_else(|| r.manifest.digest.clone());
        if in_use.contains(&id) {
            continue;
        }
        if r.name.is_none() || all {
            if let Some(n) = &r.name {
                store.remove_name(n)?;
                removed.push(Removed::Untagged(n.familiar()));
            } else {
                store.remove_manifest(&r.manifest.digest)?;
            }
            let deleted = Removed::Deleted(id);
            if !store.images()?.iter().any(|o| o.manifest.digest == r.manifest.digest) && !removed.contains(&deleted) {
                removed.push(deleted);
            }
        }
    }
    let reclaimed = gc(store)?;
    Ok((removed, reclaimed))
}

/// One row of `image history`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HistoryRow {
    /// The image ID for the top row, `<missing>` below (as Docker shows).
    pub id: String,
    pub created: Option<String>,
    pub created_by: String,
    pub size: u64,
    pub comment: String,
}

/// History of an image, newest first; layer sizes are the compressed blob
/// sizes of the non-empty entries.
pub fn history(image: &Image) -> Vec<HistoryRow> {
    let mut sizes = image.manifest.layers.iter().map(|l| l.size);
    let mut rows: Vec<HistoryRow> = if image.config.history.is_empty() {
        image
            .manifest
            .layers
            .iter()
            .map(|l| HistoryRow {
                id: String::new(),
                created: image.config.created.clone(),
                created_by: String::new(),
                size: l.size,
                comment: String::new(),
            })
            .collect()
    } else {
        image
            .config
            .history
            .iter()
            .map(|h| HistoryRow {
                id: String::new(),
                created: h.created.clone(),
                created_by: h.created_by.clone().unwrap_or_default(),
                size: if h.empty_layer { 0 } else { sizes.next().unwrap_or(0) },
                comment: h.comment.clone().unwrap_or_default(),
            })
            .collect()
    };
    rows.reverse();
    for (i, r) in rows.iter_mut().enumerate() {
        r.id = if i == 0 {
            image.id().to_string()
        } else {
            "<missing>".into()
        };
    }
    rows
}

/// `image inspect` output in Docker's shape.
pub fn inspect(store: &ImageStore, record: &ImageRecord) -> Result<serde_json::Value> {
    let image = store.load(&record.manifest.digest)?;
    let all = store.images()?;
    let same: Vec<&ImageRecord> = all
        .iter()
        .filter(|r| r.manifest.digest == record.manifest.digest)
        .collect();
    let tags: Vec<String> = same
        .iter()
        .filter_map(|r| r.name.as_ref())
        .filter(|n| n.tag().is_some())
        .map(|n| n.familiar())
        .collect();
    let mut digests: Vec<String> = same
        .iter()
        .filter_map(|r| Some(r.name.as_ref()?.with_digest(r.repo_digest.clone()?).familiar()))
        .collect();
    digests.sort();
    digests.dedup();
    let c = &image.config;
    Ok(serde_json::json!({
        "Id": image.id().to_string(),
        "RepoTags": tags,
        "RepoDigests": digests,
        "Created": c.created.clone().unwrap_or_default(),
        "Author": c.author.clone().unwrap_or_default(),
        "Config": c.config.clone().unwrap_or(serde_json::Value::Null),
        "Architecture": c.architecture,
        "Variant": c.variant,
        "Os": c.os,
        "Size": image.size(),
        "RootFS": {"Type": c.rootfs.kind, "Layers": c.rootfs.diff_ids.iter().map(|d| d.to_string()).collect::<Vec<_>>()},
        "Descriptor": {
            "mediaType": record.manifest.media_type,
            "digest": record.manifest.digest.to_string(),
            "size": record.manifest.size,
        },
    }))
}

/// Unpacks every layer of `image` that has no snapshot yet, from the local
/// blobs (verified on the way).
pub fn ensure_snapshots(store: &ImageStore, image: &Image) -> Result<()> {
    for (layer, diff) in image.manifest.layers.iter().zip(&image.config.rootfs.diff_ids) {
        if store.snapshot(diff).is_some() {
            continue;
        }
        let src = store.open_blob(&layer.digest)?;
        let (snap, actual) = unpack_stream(store, src, diff, &layer.digest)?;
        if &actual != diff {
            return Err(ImageError::DigestMismatch {
                what: format!("uncompressed content of layer {}", layer.digest),
                expected: diff.clone(),
                actual,
            });
        }
        snap.commit(diff)?;
    }
    Ok(())
}

/// Changes `import --change` understands (Dockerfile instructions that
/// only touch the config).
pub fn apply_change(config: &mut serde_json::Map<String, serde_json::Value>, change: &str) -> Result<()> {
    use serde_json::Value;
    let bad = |reason: &str| ImageError::BadDocument {
        what: format!("--change {change:?}"),
        reason: reason.to_string(),
    };
    let (instr, rest) = change
        .trim()
        .split_once(char::is_whitespace)
        .ok_or_else(|| bad("expected INSTRUCTION ARGUMENTS"))?;
    let rest = rest.trim();
    let list = |s: &str| -> Value {
        match serde_json::from_str::<Vec<String>>(s) {
            Ok(v) => Value::from(v),
            Err(_) => Value::from(vec!["/bin/sh".to_string(), "-c".to_string(), s.to_string()]),
        }
    };
    match instr.to_ascii_uppercase().as_str() {
        "CMD" => {
            config.insert("Cmd".into(), list(rest));
        }
        "ENTRYPOINT" => {
            config.insert("Entrypoint".into(), list(rest));
        }
        "WORKDIR" => {
            config.insert("WorkingDir".into(), Value::from(rest));
        }
        "USER" => {
            config.insert("User".into(), Value::from(rest));
        }
        "ENV" => {
            let (k, v) = rest
                .split_once('=')
                .or_else(|| rest.split_once(' '))
                .ok_or_else(|| bad("ENV needs KEY=VALUE"))?;
            let env = config.entry("Env").or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(a) = env {
                let key = format!("{}=", k.trim());
                a.retain(|e| !e.as_str().is_some_and(|s| s.starts_with(&key)));
                a.push(Value::from(format!("{}={}", k.trim(), v.trim())));
            }
        }
        "LABEL" => {
            let (k, v) = rest.split_once('=').ok_or_else(|| bad("LABEL needs KEY=VALUE"))?;
            let labels = config
                .entry("Labels")
                .or_insert_with(|| Value::Object(Default::default()));
            if let Value::Object(m) = labels {
                m.insert(
                    k.trim().trim_matches('"').into(),
                    Value::from(v.trim().trim_matches('"')),
                );
            }
        }
        "EXPOSE" => {
            let ports = config
                .entry("ExposedPorts")
                .or_insert_with(|| Value::Object(Default::default()));
            if let Value::Object(m) = ports {
                for p in rest.split_whitespace() {
                    let p = if p.contains('/') {
                        p.to_string()
                    } else {
                        format!("{p}/tcp")
                    };
                    m.insert(p, Value::Object(Default::default()));
                }
            }
        }
        "STOPSIGNAL" => {
            config.insert("StopSignal".into(), Value::from(rest));
        }
        other => {
            return Err(bad(&format!(
                "{other} is not supported (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, WORKDIR are)"
            )))
        }
    }
    Ok(())
}

/// Imports a root filesystem tarball (plain, gzip or zstd) as a one-layer
/// image, as `docker import` does. The layer is stored uncompressed (its
/// digest is its diff ID) and unpacked with the same checks as a pull.
pub fn import(
    store: &ImageStore,
    input: impl Read,
    source_name: &str,
    name: Option<&Reference>,
    changes: &[String],
    message: Option<&str>,
) -> Result<Digest> {
    let _content = store.content_lock()?;
    let mut config_map = serde_json::Map::new();
    for c in changes {
        apply_change(&mut config_map, c)?;
    }
    let mut buf = BufReader::with_capacity(256 * 1024, input);
    let fmt = |source| ImageError::LayerFormat {
        layer: source_name.to_string(),
        source,
    };
    let compression = Compression::sniff(buf.fill_buf().map_err(fmt)?);
    let mut ingest = store.ingest()?;
    {
        let mut decoder: Box<dyn Read + '_> = match compression {
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(&mut buf)),
            Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(&mut buf).map_err(fmt)?),
            Compression::None => Box::new(&mut buf),
        };
        io::copy(&mut decoder, &mut ingest).map_err(fmt)?;
    }
    let (diff, size) = ingest.commit_computed(&format!("imported layer from {source_name}"))?;
    // Unpack (this also proves the stream is a tar and safe).
    if store.snapshot(&diff).is_none() {
        let src = store.open_blob(&diff)?;
        let (snap, actual) = unpack_stream(store, src, &diff, &diff)?;
        if actual != diff {
            return Err(ImageError::DigestMismatch {
                what: format!("imported layer {diff}"),
                expected: diff,
                actual,
            });
        }
        snap.commit(&diff)?;
    }
    let now = now_rfc3339();
    let host = manifest::Platform::host();
    let config = ImageConfig {
        created: Some(now.clone()),
        author: None,
        architecture: host.architecture,
        os: host.os,
        variant: host.variant,
        config: Some(serde_json::Value::Object(config_map)),
        rootfs: RootFs {
            kind: "layers".into(),
            diff_ids: vec![diff.clone()],
        },
        history: vec![History {
            created: Some(now),
            created_by: Some(format!("rcompose image import {source_name}")),
            comment: Some(
                message
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("Imported from {source_name}")),
            ),
            ..History::default()
        }],
        extra: BTreeMap::new(),
    };
    let config_bytes = serde_json::to_vec(&config).map_err(|e| ImageError::BadDocument {
        what: "image config".into(),
        reason: e.to_string(),
    })?;
    let config_digest = store.put_blob(&config_bytes)?;
    let m = Manifest {
        schema_version: 2,
        media_type: Some(manifest::OCI_MANIFEST.into()),
        config: Descriptor::new(manifest::OCI_CONFIG, config_digest.clone(), config_bytes.len() as u64),
        layers: vec![Descriptor::new(manifest::OCI_LAYER_TAR, diff, size)],
        annotations: BTreeMap::new(),
        extra: BTreeMap::new(),
    };
    let mbytes = serde_json::to_vec(&m).map_err(|e| ImageError::BadDocument {
        what: "manifest".into(),
        reason: e.to_string(),
    })?;
    let mdigest = store.put_blob(&mbytes)?;
    let desc = Descriptor::new(manifest::OCI_MANIFEST, mdigest, mbytes.len() as u64);
    store.set_image(name, &desc, &config_digest, None)?;
    Ok(config_digest)
}

/// The current time as RFC 3339 UTC (image configs' `created`).
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    format_rfc3339(secs)
}

pub fn format_rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Parses the RFC 3339 times of image configs into Unix seconds.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !(b[10] == b'T' || b[10] == b't' || b[10] == b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d, h, mi, se) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    let mut rest = s.get(19..)?;
    if let Some(r) = rest.strip_prefix('.') {
        rest = r.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    let offset = match rest {
        "Z" | "z" | "" => 0,
        r if r.len() == 6 && (r.starts_with('+') || r.starts_with('-')) => {
            let sign = if r.starts_with('-') { -1 } else { 1 };
            sign * (r.get(1..3)?.parse::<i64>().ok()? * 3600 + r.get(4..6)?.parse::<i64>().ok()? * 60)
        }
        _ => return None,
    };
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se - offset)
}

// Howard Hinnant's civil calendar algorithms.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Hashes a reader whole (for blobs whose digest must be learned).
pub fn digest_of(r: impl Read) -> io::Result<(Digest, u64)> {
    HashingReader::new(r, super::digest::Algorithm::Sha256).finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20Z"), Some(1_700_000_000));
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20.123456789Z"), Some(1_700_000_000));
        assert_eq!(parse_rfc3339("2023-11-14T23:13:20+01:00"), Some(1_700_000_000));
        assert_eq!(parse_rfc3339("yesterday"), None);
        // multibyte text where digits are expected must not panic
        assert_eq!(parse_rfc3339("2023-11-14T22:13:2\u{e9}Z"), None);
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20+\u{e9}\u{e9}0"), None);
    }

    #[test]
    fn changes_edit_the_config() {
        let mut c = serde_json::Map::new();
        apply_change(&mut c, r#"CMD ["sh", "-c", "echo hi"]"#).unwrap();
        apply_change(&mut c, "ENV A=1").unwrap();
        apply_change(&mut c, "ENV A=2").unwrap();
        apply_change(&mut c, "WORKDIR /app").unwrap();
        apply_change(&mut c, "EXPOSE 80 53/udp").unwrap();
        apply_change(&mut c, "ENTRYPOINT /init").unwrap();
        let v = serde_json::Value::Object(c.clone());
        assert_eq!(v["Cmd"][2], "echo hi");
        assert_eq!(v["Env"], serde_json::json!(["A=2"]));
        assert_eq!(v["Entrypoint"], serde_json::json!(["/bin/sh", "-c", "/init"]));
        assert!(v["ExposedPorts"].get("53/udp").is_some() && v["ExposedPorts"].get("80/tcp").is_some());
        assert!(apply_change(&mut c, "RUN rm -rf /").is_err());
        assert!(apply_change(&mut c, "CMD").is_err());
    }
}
