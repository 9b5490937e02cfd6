//! Where COPY, ADD and WORKDIR put files: paths of a stage's image, looked
//! up in its layers as the container would see them, and Docker's
//! (BuildKit's) rules for a COPY destination.
//!
//! The layers are snapshot directories in overlay form (a whiteout is a
//! 0/0 character device, an opaque directory carries
//! `trusted.overlay.opaque=y`). A path is looked up one component at a
//! time, from the top layer down, never following a symlink on the host:
//! symlinks of the image are resolved as inside the image (an absolute
//! target starts again at its root, `..` stops at the root), so a COPY to
//! `/bin/` of an image whose `/bin` links to `usr/bin` lands in
//! `/usr/bin`, and no link leads out of the image.
//!
//! The destination rules, in order (BuildKit's `dockerfile2llb` and
//! `fsutil/copy`):
//! - a relative destination is joined to the WORKDIR; `.` is the WORKDIR
//!   itself and, like a trailing `/` or `/.`, names a directory;
//! - a destination named as a directory is created when missing;
//! - a source directory's contents go into the destination (created when
//!   missing); a source file goes into it when it is a directory (named
//!   so, existing in the image, or made by an earlier source of the same
//!   step), else it becomes the file at the destination;
//! - several files onto one destination that is not a directory would
//!   leave only the last: that is refused (Docker's classic builder's
//!   rule), where BuildKit silently overwrites.

use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::error::{BuildError, Result};

/// How many symlinks a path may go through, as Linux's `MAXSYMLINKS`.
const MAX_LINKS: usize = 40;

/// A stage's files: its layers' snapshot directories, top first.
pub struct ImageTree {
    layers: Vec<PathBuf>,
}

/// An entry of the image: its metadata and the layer directory holding it.
#[derive(Debug)]
pub struct Entry {
    pub meta: fs::Metadata,
    pub layer: PathBuf,
}

impl Entry {
    pub fn is_dir(&self) -> bool {
        self.meta.is_dir()
    }
}

/// A destination path resolved in the image.
#[derive(Debug)]
pub struct Resolved {
    /// Relative to the root, no symlink in it (but the last component when
    /// the link leads nowhere or too far), no `.` or `..`; empty: the root.
    pub rel: String,
    /// What is there; `None`: nothing.
    pub entry: Option<Entry>,
}

impl ImageTree {
    pub fn new(layers: Vec<PathBuf>) -> ImageTree {
        ImageTree { layers }
    }

    /// What the image has at `rel` (a clean relative path whose parents
    /// are directories, not symlinks), without following a symlink there.
    pub fn lookup(&self, rel: &str) -> Option<Entry> {
        if rel.is_empty() {
            let layer = self.layers.first()?;
            return fs::symlink_metadata(layer).ok().map(|meta| Entry {
                meta,
                layer: layer.clone(),
            });
        }
        let parts: Vec<&str> = rel.split('/').collect();
        'layers: for layer in &self.layers {
            let mut path = layer.clone();
            let mut opaque = false;
            for (i, part) in parts.iter().enumerate() {
                path.push(part);
                let Ok(meta) = fs::symlink_metadata(&path) else {
                    if opaque {
                        return None;
                    }
                    continue 'layers;
                };
                if is_whiteout(&meta) {
                    return None;
                }
                if i + 1 == parts.len() {
                    return Some(Entry {
                        meta,
                        layer: layer.clone(),
                    });
                }
                // A file or link over a lower directory hides it.
                if !meta.is_dir() {
                    return None;
                }
                opaque |= is_opaque(&path);
            }
        }
        None
    }

    /// `abs` (an absolute path of the image) with its symlinks resolved
    /// inside the image, and what is there.
    pub fn resolve(&self, abs: &str) -> Result<Resolved> {
        let mut pending: Vec<String> = abs
            .split('/')
            .rev()
            .filter(|c| !c.is_empty())
            .map(String::from)
            .collect();
        let mut cur: Vec<String> = Vec::new();
        let mut links = 0;
        let mut entry = self.lookup("");
        while let Some(part) = pending.pop() {
            match part.as_str() {
                "." => continue,
                ".." => {
                    cur.pop();
                    entry = self.lookup(&cur.join("/"));
                    continue;
                }
                _ => {}
            }
            match entry.take() {
                // Under a missing directory everything is missing.
                None => {
                    cur.push(part);
                    continue;
                }
                Some(parent) if !parent.is_dir() => {
                    return Err(BuildError::new(format!(
                        "{abs}: /{} is a file in the image, not a directory",
                        cur.join("/")
                    )));
                }
                Some(_) => {}
            }
            cur.push(part);
            let rel = cur.join("/");
            entry = self.lookup(&rel);
            let Some(link) = entry.as_ref().filter(|e| e.meta.file_type().is_symlink()) else {
                continue;
            };
            links += 1;
            if links > MAX_LINKS {
                return Err(BuildError::new(format!(
                    "{abs}: too many levels of symbolic links in the image"
                )));
            }
            let target = fs::read_link(link.layer.join(&rel))
                .map_err(|e| BuildError::new(format!("{abs}: reading the image's link /{rel}: {e}")))?;
            let target = target.to_string_lossy().into_owned();
            cur.pop();
            if target.starts_with('/') {
                cur.clear();
            }
            pending.extend(target.split('/').rev().filter(|c| !c.is_empty()).map(String::from));
            entry = self.lookup(&cur.join("/"));
        }
        Ok(Resolved {
            rel: cur.join("/"),
            entry,
        })
    }
}

fn is_whiteout(meta: &fs::Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

fn is_opaque(dir: &Path) -> bool {
    let Ok(path) = CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    let mut value = [0u8; 2];
    ["trusted.overlay.opaque", "user.overlay.opaque"].iter().any(|name| {
        let name = CString::new(*name).expect("no NUL");
        // SAFETY: valid C strings and a buffer of the given length.
        let n = unsafe { libc::lgetxattr(path.as_ptr(), name.as_ptr(), value.as_mut_ptr().cast(), value.len()) };
        n == 1 && value[0] == b'y'
    })
}

/// A COPY or ADD destination as written (after variable expansion), made
/// absolute against the working directory `cwd`; `true` when it names a
/// directory (`.`, a trailing `/` or `/.`).
pub fn destination(cwd: &str, dest: &str) -> (String, bool) {
    let names_dir = dest.is_empty() || dest == "." || dest.ends_with('/') || dest.ends_with("/.");
    (absolute(cwd, dest), names_dir)
}

/// `path` made absolute against `cwd`, cleaned (`..` stops at the root).
pub fn absolute(cwd: &str, path: &str) -> String {
    let joined = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("{}/{path}", cwd.trim_end_matches('/'))
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// One source of a COPY and where it goes in the layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The source, relative to its root.
    pub source: String,
    /// Where it goes, relative to the image's root (symlinks resolved).
    pub target: String,
}

/// What the destination is before the step, for [`place`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DestKind {
    Missing,
    Dir,
    /// A file (or anything not a directory).
    File,
}

/// Docker's rules: where each source (`(relative path, is a directory)`)
/// goes, for a destination resolved to `dest_rel` that is `kind` in the
/// image and `names_dir` as written. `shown` is the destination as
/// written, for errors.
pub fn place(
    sources: &[(String, bool)],
    dest_rel: &str,
    kind: DestKind,
    names_dir: bool,
    shown: &str,
) -> Result<Vec<Placement>> {
    let mut kind = if names_dir && kind == DestKind::Missing {
        DestKind::Dir
    } else {
        kind
    };
    if names_dir && kind == DestKind::File {
        return Err(BuildError::new(format!(
            "the destination {shown}: /{dest_rel} is a file in the image, not a directory; \
             copy to another path or remove the file in an earlier step"
        )));
    }
    let mut out = Vec::new();
    let mut file_written: Option<&str> = None;
    for (source, is_dir) in sources {
        let target = match (is_dir, kind) {
            (true, DestKind::File) => {
                return Err(BuildError::new(format!(
                    "cannot copy the directory {} to {shown}: that is a file (in the image or \
                     copied by this step); give a directory as the destination",
                    shown_source(source)
                )))
            }
            (true, _) => {
                kind = DestKind::Dir;
                dest_rel.to_string()
            }
            (false, DestKind::Dir) => {
                let base = Path::new(source)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                join(dest_rel, &base)
            }
            (false, _) => {
                if let Some(first) = file_written {
                    return Err(BuildError::new(format!(
                        "copying several files ({first}, {source}, …) to {shown}: when using COPY \
                         with more than one source file, the destination must be a directory and \
                         end with a /"
                    )));
                }
                if dest_rel.is_empty() {
                    return Err(BuildError::new(format!(
                        "cannot copy the file {source} onto the root directory"
                    )));
                }
                file_written = Some(source);
                kind = DestKind::File;
                dest_rel.to_string()
            }
        };
        out.push(Placement {
            source: source.clone(),
            target,
        });
    }
    Ok(out)
}

fn shown_source(rel: &str) -> &str {
    if rel.is_empty() {
        "."
    } else {
        rel
    }
}

fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}/{b}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tree() -> (tempfile::TempDir, ImageTree) {
        let dir = tempfile::tempdir().unwrap();
        let (top, bottom) = (dir.path().join("top"), dir.path().join("bottom"));
        for d in ["usr/bin", "app", "etc", "gone/sub", "home/u"] {
            fs::create_dir_all(bottom.join(d)).unwrap();
        }
        fs::write(bottom.join("etc/conf"), "c").unwrap();
        fs::write(bottom.join("gone/sub/f"), "f").unwrap();
        symlink("usr/bin", bottom.join("bin")).unwrap();
        symlink("/home/u", bottom.join("app/home")).unwrap();
        symlink("../../../../etc", bottom.join("app/up")).unwrap();
        symlink("loop", bottom.join("loop")).unwrap();
        fs::create_dir_all(top.join("app")).unwrap();
        fs::write(top.join("app/new"), "n").unwrap();
        // `gone` replaced by a file in the top layer hides the lower tree.
        fs::write(top.join("gone"), "g").unwrap();
        nix::sys::stat::mknod(
            &top.join("etc"),
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::empty(),
            0,
        )
        .map(|()| ())
        .unwrap_or_else(|_| fs::create_dir(top.join("etc")).unwrap());
        (dir, ImageTree::new(vec![top, bottom]))
    }

    #[test]
    fn lookups_see_the_layers_as_the_overlay_does() {
        let (_dir, t) = tree();
        assert!(t.lookup("app").unwrap().is_dir());
        assert!(t.lookup("app/new").is_some(), "from the top layer");
        assert!(t.lookup("usr/bin").unwrap().is_dir(), "from the bottom layer");
        assert!(t.lookup("gone/sub/f").is_none(), "a file above hides the directory");
        assert!(t.lookup("missing").is_none());
        if nix::unistd::geteuid().is_root() {
            assert!(t.lookup("etc/conf").is_none(), "a whiteout hides the lower tree");
        }
    }

    #[test]
    fn symlinks_resolve_inside_the_image() {
        let (_dir, t) = tree();
        let r = t.resolve("/bin/").unwrap();
        assert_eq!(r.rel, "usr/bin");
        assert!(r.entry.unwrap().is_dir());
        assert_eq!(t.resolve("/app/home/x").unwrap().rel, "home/u/x");
        let up = t.resolve("/app/up").unwrap();
        assert!(up.rel == "etc", "`..` stops at the image's root: {}", up.rel);
        let missing = t.resolve("/new/dir/file").unwrap();
        assert_eq!((missing.rel.as_str(), missing.entry.is_none()), ("new/dir/file", true));
        assert!(t
            .resolve("/app/new/x")
            .unwrap_err()
            .message
            .contains("/app/new is a file"));
        assert!(t.resolve("/loop").unwrap_err().message.contains("too many levels"));
        assert_eq!(t.resolve("/").unwrap().rel, "");
    }

    #[test]
    fn destinations_follow_the_workdir() {
        assert_eq!(destination("/app", "."), ("/app".into(), true));
        assert_eq!(destination("/app", "./"), ("/app".into(), true));
        assert_eq!(destination("/app/sub", ".."), ("/app".into(), false));
        assert_eq!(destination("/app", "lib/"), ("/app/lib".into(), true));
        assert_eq!(destination("/app", "lib/."), ("/app/lib".into(), true));
        assert_eq!(destination("/app", "/etc/x"), ("/etc/x".into(), false));
        assert_eq!(destination("/", "../../x"), ("/x".into(), false));
    }

    #[test]
    fn placement_follows_dockers_rules() {
        let file = |s: &str| (s.to_string(), false);
        let dir = |s: &str| (s.to_string(), true);
        let targets = |p: Vec<Placement>| p.into_iter().map(|p| p.target).collect::<Vec<_>>();
        // `COPY requirements.txt .`
        let p = place(&[file("requirements.txt")], "app", DestKind::Dir, true, ".").unwrap();
        assert_eq!(targets(p), ["app/requirements.txt"]);
        // An existing directory, no trailing slash.
        let p = place(&[file("a.txt")], "app", DestKind::Dir, false, "/app").unwrap();
        assert_eq!(targets(p), ["app/a.txt"]);
        // A missing path, no trailing slash: the file itself.
        let p = place(&[file("a.txt")], "app/b.txt", DestKind::Missing, false, "b.txt").unwrap();
        assert_eq!(targets(p), ["app/b.txt"]);
        // Missing with a trailing slash: a directory.
        let p = place(&[file("a"), file("b")], "new", DestKind::Missing, true, "/new/").unwrap();
        assert_eq!(targets(p), ["new/a", "new/b"]);
        // Directories: their contents; a later file goes into the made directory.
        let p = place(&[dir("src"), file("x")], "new", DestKind::Missing, false, "/new").unwrap();
        assert_eq!(targets(p), ["new", "new/x"]);
        // Several files onto what is not a directory.
        let e = place(&[file("a"), file("b")], "new", DestKind::Missing, false, "/new").unwrap_err();
        assert!(
            e.message.contains("must be a directory and end with a /"),
            "{}",
            e.message
        );
        let e = place(&[file("a")], "etc/conf", DestKind::File, true, "/etc/conf/").unwrap_err();
        assert!(e.message.contains("is a file in the image"), "{}", e.message);
        let e = place(&[dir("d")], "etc/conf", DestKind::File, false, "/etc/conf").unwrap_err();
        assert!(e.message.contains("cannot copy the directory d"), "{}", e.message);
        // A file over an existing file replaces it.
        let p = place(&[file("a")], "etc/conf", DestKind::File, false, "/etc/conf").unwrap();
        assert_eq!(targets(p), ["etc/conf"]);
    }
}
