//! Unpack tests: layer semantics, and crafted malicious layers that must be
//! refused without writing anything outside the target.

use super::*;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use tar::EntryType;

/// Builds tar streams byte by byte, so that entries `tar::Builder` would
/// refuse (`..`, absolute paths) can be written.
#[derive(Default)]
struct RawTar(Vec<u8>);

impl RawTar {
    fn entry(&mut self, path: &str, kind: EntryType, link: &str, data: &[u8], mode: u32) -> &mut Self {
        let mut h = tar::Header::new_gnu();
        {
            let old = h.as_old_mut();
            old.name[..path.len()].copy_from_slice(path.as_bytes());
            old.linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_mtime(1_600_000_000);
        h.set_uid(1000);
        h.set_gid(1001);
        h.set_cksum();
        self.0.extend_from_slice(h.as_bytes());
        self.0.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.0.extend(std::iter::repeat_n(0u8, pad));
        self
    }
    fn file(&mut self, path: &str, data: &[u8]) -> &mut Self {
        self.entry(path, EntryType::Regular, "", data, 0o644)
    }
    fn dir(&mut self, path: &str) -> &mut Self {
        self.entry(path, EntryType::Directory, "", b"", 0o755)
    }
    fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
        let mut data = Vec::new();
        for (k, v) in records {
            let body_len = 1 + k.len() + 1 + v.len() + 1;
            let mut len = body_len + 1;
            while len != body_len + len.to_string().len() {
                len = body_len + len.to_string().len();
            }
            data.extend_from_slice(format!("{len} {k}=").as_bytes());
            data.extend_from_slice(v);
            data.push(b'\n');
        }
        self.entry("pax", EntryType::XHeader, "", &data, 0o644)
    }
    fn bytes(&self) -> Vec<u8> {
        let mut b = self.0.clone();
        b.extend(std::iter::repeat_n(0u8, 1024));
        b
    }
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Root-only checks (devices, whiteouts, owners): skipped with a reason
/// outside CI, a failure in CI.
fn require_root(test: &str) -> bool {
    if is_root() {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test} needs root (CI runs as root)");
    }
    eprintln!("skipping {test}: needs root for device nodes, whiteouts and owners");
    false
}

struct Target {
    _tmp: tempfile::TempDir,
    outer: std::path::PathBuf,
    dest: std::path::PathBuf,
}

fn target() -> Target {
    let tmp = tempfile::tempdir().unwrap();
    let outer = tmp.path().to_path_buf();
    let dest = outer.join("layer");
    std::fs::create_dir(&dest).unwrap();
    Target { _tmp: tmp, outer, dest }
}

fn unpack(t: &Target, tar: &RawTar) -> Result<UnpackStats> {
    unpack_layer(&tar.bytes()[..], &t.dest, "sha256:test", &UnpackOptions::default())
}

/// The directory around the target holds only the target.
fn assert_nothing_outside(t: &Target) {
    let names: Vec<_> = std::fs::read_dir(&t.outer)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(
        names,
        vec!["layer".to_string()],
        "something was written outside the layer"
    );
}

#[test]
fn refuses_a_symlink_without_target() {
    let t = target();
    let mut tar = RawTar::default();
    tar.entry("bin/ash", EntryType::Symlink, "", b"", 0o777);
    let err = unpack(&t, &tar).unwrap_err();
    assert!(err.to_string().contains("\"bin/ash\""), "{err}");
    assert_nothing_outside(&t);
}

#[test]
fn unpacks_files_dirs_links_and_metadata() {
    let t = target();
    let mut tar = RawTar::default();
    tar.dir("./")
        .dir("etc/")
        .entry("etc/passwd", EntryType::Regular, "", b"root:x:0:0\n", 0o4755)
        .entry("bin/sh", EntryType::Regular, "", b"#!", 0o755)
        .entry("bin/link", EntryType::Symlink, "/bin/sh", b"", 0o777)
        .entry("bin/hard", EntryType::Link, "bin/sh", b"", 0o755)
        .entry("ro/", EntryType::Directory, "", b"", 0o555)
        .file("ro/inside", b"x")
        .file("replaced", b"first")
        .dir("replaced/")
        .pax(&[("SCHILY.xattr.user.test", b"value"), ("mtime", b"1700000000.5")])
        .file("xattr", b"x");
    let stats = unpack(&t, &tar).unwrap();
    assert_eq!(stats.bytes, 11 + 2 + 1 + 5 + 1);
    let d = &t.dest;
    assert_eq!(std::fs::read(d.join("etc/passwd")).unwrap(), b"root:x:0:0\n");
    let m = std::fs::metadata(d.join("etc/passwd")).unwrap();
    assert_eq!(m.permissions().mode() & 0o7777, 0o4755);
    assert_eq!(m.mtime(), 1_600_000_000);
    assert_eq!(
        std::fs::read_link(d.join("bin/link")).unwrap().to_str(),
        Some("/bin/sh")
    );
    assert_eq!(
        std::fs::metadata(d.join("bin/hard")).unwrap().ino(),
        std::fs::metadata(d.join("bin/sh")).unwrap().ino()
    );
    assert_eq!(
        std::fs::metadata(d.join("bin")).unwrap().permissions().mode() & 0o777,
        0o755
    );
    assert_eq!(
        std::fs::metadata(d.join("ro")).unwrap().permissions().mode() & 0o777,
        0o555
    );
    assert_eq!(std::fs::metadata(d.join("ro")).unwrap().mtime(), 1_600_000_000);
    assert!(std::fs::metadata(d.join("replaced")).unwrap().is_dir());
    let xm = std::fs::metadata(d.join("xattr")).unwrap();
    assert_eq!((xm.mtime(), xm.mtime_nsec()), (1_700_000_000, 500_000_000));
    if stats.xattrs_skipped == 0 {
        assert_eq!(
            xattr::get(d.join("xattr"), "user.test").unwrap().as_deref(),
            Some(&b"value"[..])
        );
    }
    if is_root() {
        assert_eq!((m.uid(), m.gid()), (1000, 1001));
        let lm = std::fs::symlink_metadata(d.join("bin/link")).unwrap();
        assert_eq!((lm.uid(), lm.gid()), (1000, 1001));
    }
    assert_nothing_outside(&t);
}

#[test]
fn whiteouts_become_overlay_whiteouts() {
    if !require_root("whiteouts_become_overlay_whiteouts") {
        return;
    }
    let t = target();
    let mut tar = RawTar::default();
    tar.dir("etc/")
        .file("etc/.wh.motd", b"")
        .dir("var/cache/")
        .file("var/cache/.wh..wh..opq", b"")
        .file("var/cache/new", b"n")
        .file(".wh..wh.plnk", b"")
        .entry("dev/null", EntryType::Char, "", b"", 0o666)
        .entry("fifo", EntryType::Fifo, "", b"", 0o640);
    unpack(&t, &tar).unwrap();
    let d = &t.dest;
    let wh = std::fs::symlink_metadata(d.join("etc/motd")).unwrap();
    assert!(wh.file_type().is_char_device());
    assert_eq!(wh.rdev(), 0);
    assert!(!d.join("etc/.wh.motd").exists());
    assert_eq!(
        xattr::get(d.join("var/cache"), "trusted.overlay.opaque")
            .unwrap()
            .as_deref(),
        Some(&b"y"[..])
    );
    assert!(d.join("var/cache/new").exists());
    assert!(!d.join(".wh..wh.plnk").exists());
    assert!(std::fs::symlink_metadata(d.join("fifo")).unwrap().file_type().is_fifo());
    let m = std::fs::symlink_metadata(d.join("fifo")).unwrap();
    assert_eq!(m.permissions().mode() & 0o777, 0o640);
    assert!(std::fs::symlink_metadata(d.join("dev/null"))
        .unwrap()
        .file_type()
        .is_char_device());
}

fn refused(tar: &RawTar, entry: &str, reason: &str) {
    let t = target();
    let err = unpack(&t, tar).expect_err("the layer must be refused");
    let msg = err.to_string();
    assert!(matches!(err, ImageError::UnsafeEntry { .. }), "{msg}");
    assert!(
        msg.contains(&format!("{entry:?}")),
        "error does not name {entry:?}: {msg}"
    );
    assert!(msg.contains(reason), "error does not say {reason:?}: {msg}");
    assert_nothing_outside(&t);
}

#[test]
fn refuses_parent_traversal() {
    let mut tar = RawTar::default();
    tar.file("ok", b"1").file("../evil", b"x");
    refused(&tar, "../evil", "'..'");
    let mut tar = RawTar::default();
    tar.file("a/../../evil", b"x");
    refused(&tar, "a/../../evil", "'..'");
}

#[test]
fn refuses_absolute_paths() {
    let mut tar = RawTar::default();
    tar.file("/tmp/evil", b"x");
    refused(&tar, "/tmp/evil", "absolute");
}

#[test]
fn refuses_writes_through_symlinks() {
    // absolute symlink to the host root, then a file below it
    let mut tar = RawTar::default();
    tar.entry("escape", EntryType::Symlink, "/", b"", 0o777)
        .file("escape/evil", b"x");
    refused(&tar, "escape/evil", "symlink");
    // relative symlink climbing out of the target
    let mut tar = RawTar::default();
    tar.entry("up", EntryType::Symlink, "..", b"", 0o777)
        .file("up/evil", b"x");
    refused(&tar, "up/evil", "symlink");
    // a symlink to a directory inside: still refused (the path is not what it says)
    let mut tar = RawTar::default();
    tar.dir("real/")
        .entry("alias", EntryType::Symlink, "real", b"", 0o777)
        .dir("alias/sub/");
    refused(&tar, "alias/sub/", "symlink");
    // a directory entry through a symlink
    let mut tar = RawTar::default();
    tar.entry("up", EntryType::Symlink, "..", b"", 0o777)
        .entry("up/x", EntryType::Symlink, "/", b"", 0o777);
    refused(&tar, "up/x", "symlink");
}

#[test]
fn refuses_hard_links_out_of_the_layer() {
    let mut tar = RawTar::default();
    tar.entry("passwd", EntryType::Link, "../../../../etc/passwd", b"", 0o644);
    refused(&tar, "passwd", "'..'");
    let mut tar = RawTar::default();
    tar.entry("passwd", EntryType::Link, "/etc/passwd", b"", 0o644);
    refused(&tar, "passwd", "absolute");
    // through a symlink that points out
    let mut tar = RawTar::default();
    tar.entry("host", EntryType::Symlink, "/etc", b"", 0o777).entry(
        "passwd",
        EntryType::Link,
        "host/passwd",
        b"",
        0o644,
    );
    refused(&tar, "passwd", "symlink");
    // to something that is not in the layer
    let mut tar = RawTar::default();
    tar.entry("x", EntryType::Link, "missing", b"", 0o644);
    refused(&tar, "x", "not in this layer");
}

#[test]
fn refuses_overlay_xattrs_and_bad_whiteouts() {
    let mut tar = RawTar::default();
    tar.pax(&[("SCHILY.xattr.trusted.overlay.redirect", b"/etc")]).dir("d/");
    refused(&tar, "d/", "overlayfs attribute");
    let mut tar = RawTar::default();
    tar.file("dir/.wh...", b"");
    // ".wh..." names ".." : refused before any whiteout is made
    let t = target();
    let err = unpack(&t, &tar).unwrap_err();
    assert!(err.to_string().contains("dir/.wh..."), "{err}");
    assert_nothing_outside(&t);
}

#[test]
fn a_symlink_replaced_by_a_file_is_not_followed() {
    let t = target();
    let victim = t.outer.join("victim");
    let mut tar = RawTar::default();
    tar.entry("f", EntryType::Symlink, victim.to_str().unwrap(), b"", 0o777)
        .file("f", b"data");
    unpack(&t, &tar).unwrap();
    assert!(!victim.exists(), "the file was written through the symlink");
    assert_eq!(std::fs::read(t.dest.join("f")).unwrap(), b"data");
    assert_nothing_outside(&t);
}

#[test]
fn garbage_is_a_format_error() {
    let t = target();
    let err = unpack_layer(
        &b"this is not a tar stream at all"[..],
        &t.dest,
        "sha256:x",
        &UnpackOptions::default(),
    );
    // Too short for a header: the tar reader sees a truncated archive or an
    // empty one; neither may panic, and nothing may be written.
    if let Err(e) = err {
        assert!(matches!(e, ImageError::LayerFormat { .. }), "{e}");
    }
    let mut junk = vec![0x41u8; 4096];
    junk[..5].copy_from_slice(b"abcde");
    let err = unpack_layer(&junk[..], &t.dest, "sha256:x", &UnpackOptions::default()).unwrap_err();
    assert!(matches!(err, ImageError::LayerFormat { .. }), "{err}");
    assert_nothing_outside(&t);
}

#[test]
fn pax_times_parse() {
    assert_eq!(parse_pax_time(b"1700000000.5"), Some((1_700_000_000, 500_000_000)));
    assert_eq!(parse_pax_time(b"12"), Some((12, 0)));
    assert_eq!(parse_pax_time(b"x"), None);
}

fn arb_path() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    proptest::collection::vec(
        prop_oneof!["a", "b", "..", ".", "", "c.d", ".wh.a", ".wh..wh..opq"],
        1..5,
    )
    .prop_map(|parts| parts.join("/"))
    .prop_flat_map(|p| prop_oneof![Just(p.clone()), Just(format!("/{p}")), Just(format!("{p}/"))])
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]

    /// Random layers of files, dirs, symlinks (pointing anywhere, also
    /// outside) and hard links: never a panic, never a write outside the
    /// target, whatever the order.
    #[test]
    fn random_layers_stay_inside(entries in proptest::collection::vec(
        (arb_path(), 0u8..5, prop_oneof_targets()), 1..12)) {
        let t = target();
        let victim = t.outer.join("victim");
        let mut tar = RawTar::default();
        for (path, kind, link) in &entries {
            if path.len() >= 100 || link.len() >= 100 {
                continue;
            }
            let link = link.replace("VICTIM", victim.to_str().unwrap_or(""));
            match kind {
                0 => { tar.file(path, b"data"); }
                1 => { tar.entry(path, EntryType::Directory, "", b"", 0o755); }
                2 => { tar.entry(path, EntryType::Symlink, &link, b"", 0o777); }
                3 => { tar.entry(path, EntryType::Link, &link, b"", 0o644); }
                _ => { tar.entry(path, EntryType::Fifo, "", b"", 0o644); }
            }
        }
        let _ = unpack(&t, &tar);
        proptest::prop_assert!(!victim.exists());
        assert_nothing_outside(&t);
    }
}

fn prop_oneof_targets() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    prop_oneof![
        Just("a".to_string()),
        Just("a/b".to_string()),
        Just("..".to_string()),
        Just("../..".to_string()),
        Just("/".to_string()),
        Just("VICTIM".to_string()),
        Just("../victim".to_string()),
        Just("b/../../victim".to_string()),
    ]
}
