//! Pull and push against Debian's docker-registry on 127.0.0.1, seeded and
//! read back with skopeo. Each test starts its own registry and store.

mod image_common;

use image_common::*;
use rcompose::image::manifest::Platform;
use rcompose::image::pull::{pull, pull_all, LayerStatus, Progress, PullEvent, PullOptions, PullPolicy};
use rcompose::image::store::ImageStore;
use rcompose::image::{ImageError, Reference};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::{Arc, Mutex};

fn recorder() -> (Progress, Arc<Mutex<Vec<PullEvent>>>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let e2 = events.clone();
    (
        Arc::new(move |e: &PullEvent| e2.lock().unwrap().push(e.clone())),
        events,
    )
}

fn reference(reg: &Registry, name: &str) -> Reference {
    Reference::parse(&format!("{}/{name}", reg.addr)).unwrap()
}

fn opts() -> PullOptions {
    PullOptions::default()
}

/// Nothing half-written is left in the store.
fn assert_no_leftovers(root: &Path) {
    let ingest: Vec<_> = std::fs::read_dir(root.join("content/ingest")).unwrap().collect();
    assert!(ingest.is_empty(), "ingest files left: {ingest:?}");
    for e in std::fs::read_dir(root.join("snapshots")).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        assert!(
            name == "sha256" || name.parse::<u64>().is_ok(),
            "snapshot leftover {name}"
        );
    }
}

fn layer_statuses(events: &[PullEvent]) -> Vec<LayerStatus> {
    events
        .iter()
        .filter_map(|e| match e {
            PullEvent::Layer { status, .. } => Some(status.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn pulls_an_oci_image_and_skips_present_layers() {
    if !registry_prereqs("pulls_an_oci_image_and_skips_present_layers") {
        return;
    }
    let reg = Registry::start("");
    reg.seed(&oci("busybox"), "busybox:latest", &[]);
    let root = tempfile::tempdir().unwrap();
    let store = ImageStore::open(root.path()).unwrap();
    let r = reference(&reg, "busybox");
    let (progress, events) = recorder();
    let p = pull(&store, &r, &opts(), progress).unwrap();
    assert!(p.updated);
    assert!(layer_statuses(&events.lock().unwrap()).contains(&LayerStatus::PullComplete));
    let img = store.load(&p.manifest).unwrap();
    assert_eq!(img.config.architecture, "amd64");
    let dirs = store.layer_dirs(&img).unwrap();
    assert_eq!(dirs.len(), 1);
    let bb = std::fs::metadata(dirs[0].join("bin/busybox")).unwrap();
    assert!(bb.is_file() && bb.permissions().mode() & 0o111 != 0);
    assert_eq!(
        std::fs::read_link(dirs[0].join("bin/sh")).unwrap().to_str(),
        Some("/bin/busybox")
    );
    assert_eq!(
        std::fs::read_to_string(dirs[0].join("var/www/index.html")).unwrap(),
        "hello from busybox httpd\n"
    );
    assert_eq!(store.resolve(&r.to_string()).unwrap().manifest.digest, p.manifest);
    assert_no_leftovers(root.path());

    // Again: nothing is fetched.
    let (progress, events) = recorder();
    let p2 = pull(&store, &r, &opts(), progress).unwrap();
    assert!(!p2.updated);
    assert_eq!(p2.manifest, p.manifest);
    assert_eq!(
        layer_statuses(&events.lock().unwrap()),
        vec![LayerStatus::AlreadyExists]
    );
    assert_eq!(store.images().unwrap().len(), 1);

    // A removed snapshot is unpacked again from the local blob.
    let diff = &img.config.rootfs.diff_ids[0];
    assert!(store.remove_snapshot(diff).unwrap());
    let p3 = pull(&store, &r, &opts(), Arc::new(|_| {})).unwrap();
    assert!(p3.updated);
    assert!(store.snapshot(diff).unwrap().join("bin/busybox").is_file());
}

#[test]
fn pulls_docker_schema2_and_zstd_layers() {
    if !registry_prereqs("pulls_docker_schema2_and_zstd_layers") {
        return;
    }
    let reg = Registry::start("");
    reg.seed(&oci("whiteouts"), "v2s2:latest", &["--format", "v2s2"]);
    // skopeo 1.9 recompresses only into a layout; push that one as is.
    let zdir = tempfile::tempdir().unwrap();
    let zoci = format!("oci:{}:zstd", zdir.path().display());
    skopeo(&[
        "copy",
        "--quiet",
        "--dest-compress",
        "--dest-compress-format",
        "zstd",
        &oci("whiteouts"),
        &zoci,
    ]);
    reg.seed(&zoci, "zstd:latest", &[]);
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{}/zstd:latest", reg.addr),
    ]);
    assert!(raw.contains("zstd"), "skopeo did not make zstd layers: {raw}");

    let root = tempfile::tempdir().unwrap();
    let store = ImageStore::open(root.path()).unwrap();
    let p = pull(&store, &reference(&reg, "v2s2"), &opts(), Arc::new(|_| {})).unwrap();
    let rec = store.resolve(&format!("{}/v2s2", reg.addr)).unwrap();
    assert_eq!(
        rec.manifest.media_type,
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    let img = store.load(&p.manifest).unwrap();
    assert_eq!(img.manifest.layers.len(), 3);

    // Same content, zstd-compressed: other blobs, same diff IDs, so the
    // snapshots are shared and only the blobs are fetched.
    let (progress, events) = recorder();
    let pz = pull(&store, &reference(&reg, "zstd"), &opts(), progress).unwrap();
    let imgz = store.load(&pz.manifest).unwrap();
    assert!(
        imgz.manifest.layers.iter().all(|l| l.media_type.ends_with("zstd")),
        "{:?}",
        imgz.manifest.layers
    );
    assert_eq!(imgz.config.rootfs.diff_ids, img.config.rootfs.diff_ids);
    assert!(layer_statuses(&events.lock().unwrap()).contains(&LayerStatus::PullComplete));
    for l in &imgz.manifest.layers {
        assert!(store.has_blob(&l.digest, Some(l.size)));
    }
    // and from a fresh store the zstd layers are unpacked themselves
    let root2 = tempfile::tempdir().unwrap();
    let store2 = ImageStore::open(root2.path()).unwrap();
    let pz2 = pull(&store2, &reference(&reg, "zstd"), &opts(), Arc::new(|_| {})).unwrap();
    let dirs = store2.layer_dirs(&store2.load(&pz2.manifest).unwrap()).unwrap();
    assert_eq!(std::fs::read_to_string(dirs[2].join("opt/dir/c")).unwrap(), "c\n");
    assert_no_leftovers(root2.path());
}

#[test]
fn selects_the_platform_from_an_index() {
    if !registry_prereqs("selects_the_platform_from_an_index") {
        return;
    }
    let reg = Registry::start("");
    reg.seed(&oci("multi"), "multi:latest", &["--all"]);
    let root = tempfile::tempdir().unwrap();
    let store = ImageStore::open(root.path()).unwrap();
    let r = reference(&reg, "multi");
    let host = pull(&store, &r, &opts(), Arc::new(|_| {})).unwrap();
    assert_ne!(host.manifest, host.repo_digest, "the index digest is the repo digest");
    assert_eq!(
        store.load(&host.manifest).unwrap().config.architecture,
        Platform::host().architecture
    );

    let arm = PullOptions {
        platform: Platform::parse("linux/arm64"),
        ..opts()
    };
    let a = pull(&store, &r, &arm, Arc::new(|_| {})).unwrap();
    assert_ne!(a.manifest, host.manifest);
    assert_eq!(store.load(&a.manifest).unwrap().config.architecture, "arm64");
    assert!(a.updated, "the name moved to the arm64 manifest");

    let s390 = PullOptions {
        platform: Platform::parse("linux/s390x"),
        ..opts()
    };
    let err = pull(&store, &r, &s390, Arc::new(|_| {})).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, ImageError::NoMatchingPlatform { .. }), "{msg}");
    assert!(msg.contains("linux/amd64") && msg.contains("linux/arm64/v8"), "{msg}");
}

#[test]
fn unpacks_whiteouts_opaque_dirs_links_and_xattrs() {
    if !registry_prereqs("unpacks_whiteouts_opaque_dirs_links_and_xattrs") {
        return;
    }
    let reg = Registry::start("");
    reg.seed(&oci("whiteouts"), "whiteouts:latest", &[]);
    let root = tempfile::tempdir().unwrap();
    let store = ImageStore::open(root.path()).unwrap();
    let p = pull(&store, &reference(&reg, "whiteouts"), &opts(), Arc::new(|_| {})).unwrap();
    let dirs = store.layer_dirs(&store.load(&p.manifest).unwrap()).unwrap();
    assert_eq!(dirs.len(), 3);
    let top = &dirs[2];
    let wh = std::fs::symlink_metadata(top.join("etc/removed")).unwrap();
    assert!(wh.file_type().is_char_device() && wh.rdev() == 0, "whiteout");
    assert_eq!(
        xattr::get(top.join("opt/dir"), "trusted.overlay.opaque")
            .unwrap()
            .as_deref(),
        Some(&b"y"[..])
    );
    assert!(!top.join("opt/dir/.wh..wh..opq").exists());
    let (f, l) = (
        std::fs::metadata(top.join("data/file")).unwrap(),
        std::fs::metadata(top.join("data/link")).unwrap(),
    );
    assert_eq!(f.ino(), l.ino(), "hard link");
    assert_eq!((f.uid(), f.gid(), f.permissions().mode() & 0o7777), (1000, 1000, 0o640));
    let d = std::fs::metadata(top.join("data")).unwrap();
    assert_eq!((d.uid(), d.permissions().mode() & 0o7777), (1000, 0o750));
    assert_eq!(
        std::fs::read_link(top.join("data/sym")).unwrap().to_str(),
        Some("/bin/busybox")
    );
    assert!(std::fs::symlink_metadata(top.join("data/fifo"))
        .unwrap()
        .file_type()
        .is_fifo());
    assert_eq!(
        xattr::get(top.join("data/xattr"), "user.rcompose").unwrap().as_deref(),
        Some(&b"test"[..])
    );
    assert_eq!(
        std::fs::metadata(top.join("data/setuid")).unwrap().permissions().mode() & 0o7777,
        0o4755
    );

    // The snapshots stack as overlay lower dirs: the merged view has the
    // whiteout and the opaque dir applied.
    let mnt = root.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let lower = dirs
        .iter()
        .rev()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(":");
    let mounted = nix::mount::mount(
        Some("overlay"),
        &mnt,
        Some("overlay"),
        nix::mount::MsFlags::MS_RDONLY,
        Some(format!("lowerdir={lower}").as_str()),
    );
    if require(
        "overlay mount",
        mounted.is_ok(),
        &format!("overlayfs mount ({mounted:?})"),
    ) {
        struct Unmount<'a>(&'a Path);
        impl Drop for Unmount<'_> {
            fn drop(&mut self) {
                let _ = nix::mount::umount2(self.0, nix::mount::MntFlags::MNT_DETACH);
            }
        }
        let _guard = Unmount(&mnt);
        assert!(!mnt.join("etc/removed").exists());
        assert!(mnt.join("etc/passwd").exists());
        let mut names: Vec<_> = std::fs::read_dir(mnt.join("opt/dir"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        assert_eq!(names, vec!["c"]);
        assert_eq!(std::fs::read_to_string(mnt.join("data/keep")).unwrap(), "keep\n");
        assert!(mnt.join("bin/busybox").is_file());
    }
}

#[test]
fn refuses_a_blob_that_does_not_match_its_digest() {
    if !registry_prereqs("refuses_a_blob_that_does_not_match_its_digest") {
        return;
    }
    let reg = Registry::start("");
    reg.seed(&oci("whiteouts"), "bad:latest", &[]);
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{}/bad:latest", reg.addr),
    ]);
    let m: serde_json::Value = serde_json::from_str(&raw).unwrap();
    let layer = m["layers"][2]["digest"].as_str().unwrap().to_string();
    // Corrupt the registry's copy, keeping its size.
    let data = reg.blob_data(layer.trim_start_matches("sha256:"));
    let mut bytes = std::fs::read(&data).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0xff;
    bytes[n - 9] ^= 0x01;
    std::fs::write(&data, &bytes).unwrap();

    let root = tempfile::tempdir().unwrap();
    let store = ImageStore::open(root.path()).unwrap();
    let err = pull(&store, &reference(&reg, "bad"), &opts(), Arc::new(|_| {})).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, ImageError::DigestMismatch { .. }), "{msg}");
    assert!(msg.contains(&layer), "{msg}");
    assert!(!store.has_blob(&layer.parse().unwrap(), None));
    assert!(store.images().unwrap().is_empty(), "no name for a broken image");
    assert_no_leftovers(root.path());
}

#[test]
fn concurrent_pulls_of_one_image_share_the_store() {
    if !registry_prereqs("concurrent_pulls_of_one_image_share_the_store") {
        return;
    }
    let reg = Registry::start("");
    reg.seed(&oci("whiteouts"), "whiteouts:latest", &[]);
    let root = tempfile::tempdir().unwrap();
    let r = reference(&reg, "whiteouts");
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..3)
            .map(|_| {
                let (root, r) = (root.path(), r.clone());
                s.spawn(move || {
                    let store = ImageStore::open(root).unwrap();
                    pull(&store, &r, &opts(), Arc::new(|_| {}))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for r in &results {
        assert!(r.is_ok(), "{r:?}");
    }
    let store = ImageStore::open(root.path()).unwrap();
    assert_eq!(store.images().unwrap().len(), 1);
    assert_eq!(store.snapshot_ids().unwrap().len(), 3);
    let numbered = std::fs::read_dir(root.path().join("snapshots"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_str().unwrap().parse::<u64>().is_ok())
        .count();
    assert_eq!(numbered, 3, "the losers' snapshot dirs were removed");
    assert_no_leftovers(root.path());
}

#[test]
fn leftovers_of_a_killed_pull_do_not_get_in_the_way() {
    if !registry_prereqs("leftovers_of_a_killed_pull_do_not_get_in_the_way") {
        return;
    }
    let reg = Registry::start("");
    reg.seed(&oci("busybox"), "busybox:latest", &[]);
    let root = tempfile::tempdir().unwrap();
    let store = ImageStore::open(root.path()).unwrap();
    // What a pull killed mid-way leaves: a partial blob and a partial
    // snapshot, owned by a process that no longer exists.
    std::fs::write(root.path().join("content/ingest/2147483647-0-0"), b"partial").unwrap();
    let tmp = root.path().join("snapshots/tmp-2147483647-0-0");
    std::fs::create_dir_all(tmp.join("bin")).unwrap();
    std::fs::write(tmp.join("bin/busybox"), b"half").unwrap();
    let p = pull(&store, &reference(&reg, "busybox"), &opts(), Arc::new(|_| {})).unwrap();
    assert!(store.layer_dirs(&store.load(&p.manifest).unwrap()).unwrap()[0]
        .join("bin/busybox")
        .is_file());
    assert_no_leftovers(root.path());
}

#[test]
fn pulls_several_images_and_reports_each() {
    if !registry_prereqs("pulls_several_images_and_reports_each") {
        return;
    }
    let reg = Registry::start("");
    reg.seed(&oci("busybox"), "a:latest", &[]);
    reg.seed(&oci("whiteouts"), "b:latest", &[]);
    let root = tempfile::tempdir().unwrap();
    let store = ImageStore::open(root.path()).unwrap();
    let refs = [reference(&reg, "a"), reference(&reg, "b"), reference(&reg, "missing")];
    let results = pull_all(&store, &refs, PullPolicy::Missing, &opts(), Arc::new(|_| {})).unwrap();
    assert_eq!(results.len(), 3);
    for (r, res) in &results {
        match r.path() {
            "missing" => assert!(matches!(res, Err(ImageError::RegistryNotFound { .. })), "{res:?}"),
            _ => assert!(matches!(res, Ok(Some(_))), "{r}: {res:?}"),
        }
    }
    // present now: `missing` policy does not contact the registry again
    let again = pull_all(&store, &refs[..2], PullPolicy::Missing, &opts(), Arc::new(|_| {})).unwrap();
    assert!(again.iter().all(|(_, r)| matches!(r, Ok(None))));
    let never = pull_all(&store, &refs[2..], PullPolicy::Never, &opts(), Arc::new(|_| {})).unwrap();
    assert!(matches!(never[0].1, Err(ImageError::NotFound { .. })));
    assert_no_leftovers(root.path());
}
