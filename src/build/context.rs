//! Where COPY and ADD take files from: the build context (minus what
//! `.dockerignore` excludes) or another stage's root. Chooses the sources
//! a step names (wildcards included), digests them for the cache, and
//! copies them into a layer's staging directory.
//!
//! A source never leaves its root: names are cleaned lexically (`..` past
//! the root is refused) and the resolved path must stay under the root,
//! so a symlink in the context cannot pull in a host file. Symlinks inside
//! are copied as symlinks.

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::dest::Placement;
use super::error::{BuildError, Result};
use super::ignore::DockerIgnore;

/// A root files are copied from.
pub struct Source {
    root: PathBuf,
    ignore: Option<DockerIgnore>,
    /// Files from the build context belong to root in the image unless
    /// `--chown` says otherwise; files from a stage keep their owners.
    keep_owners: bool,
}

/// Owner and mode overrides of a COPY (`--chown`, `--chmod`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Overrides {
    pub owner: Option<(u32, u32)>,
    pub mode: Option<u32>,
}

impl Source {
    /// The build context at `root`, with its `.dockerignore` if any.
    pub fn context(root: &Path) -> Result<Source> {
        let root =
            fs::canonicalize(root).map_err(|e| BuildError::new(format!("build context {}: {e}", root.display())))?;
        let ignore_file = root.join(".dockerignore");
        let ignore = match fs::read_to_string(&ignore_file) {
            Ok(text) => Some(DockerIgnore::parse(&text).map_err(|e| BuildError {
                file: Some(ignore_file.clone()),
                line: None,
                message: e,
            })?),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(BuildError::new(format!("{}: {e}", ignore_file.display()))),
        };
        Ok(Source {
            root,
            ignore,
            keep_owners: false,
        })
    }

    /// Another stage's (or image's) mounted root.
    pub fn stage_root(root: &Path) -> Source {
        Source {
            root: root.to_path_buf(),
            ignore: None,
            keep_owners: true,
        }
    }

    /// Where the source `rel` is on the host.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    fn excluded(&self, rel: &str) -> bool {
        self.ignore.as_ref().is_some_and(|i| i.is_excluded(rel))
    }

    /// The relative paths `pattern` names: itself, or with `*`, `?` or
    /// `[…]`, every entry it matches.
    pub fn select(&self, pattern: &str) -> Result<Vec<String>> {
        let clean = clean(pattern).ok_or_else(|| {
            BuildError::new(format!(
                "{pattern:?} points outside the build context; sources must be inside it"
            ))
        })?;
        let not_found = || {
            BuildError::new(format!(
                "{pattern:?}: no such file in the build context (or excluded by .dockerignore); \
                 check the path, relative to the context {}",
                self.root.display()
            ))
        };
        if !clean.contains(['*', '?', '[']) {
            if clean.is_empty() {
                return Ok(vec![String::new()]);
            }
            if self.excluded(&clean) || fs::symlink_metadata(self.root.join(&clean)).is_err() {
                return Err(not_found());
            }
            self.check_inside(&clean)?;
            return Ok(vec![clean]);
        }
        let mut found = Vec::new();
        self.walk_matches(&clean, "", &mut found)?;
        if found.is_empty() {
            return Err(not_found());
        }
        Ok(found)
    }

    fn walk_matches(&self, pattern: &str, rel_dir: &str, found: &mut Vec<String>) -> Result<()> {
        let dir = self.root.join(rel_dir);
        let Ok(entries) = fs::read_dir(&dir) else {
            return Ok(());
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let depth = pattern.split('/').count();
        for name in names {
            let rel = if rel_dir.is_empty() {
                name
            } else {
                format!("{rel_dir}/{name}")
            };
            if self.excluded(&rel) {
                continue;
            }
            let rel_depth = rel.split('/').count();
            let prefix: Vec<&str> = pattern.split('/').take(rel_depth).collect();
            if !segments_match(&prefix, &rel) {
                continue;
            }
            if rel_depth == depth {
                found.push(rel);
            } else if fs::symlink_metadata(self.root.join(&rel)).is_ok_and(|m| m.is_dir()) {
                self.walk_matches(pattern, &rel, found)?;
            }
        }
        Ok(())
    }

    /// Refuses a source whose real path (symlinks resolved) leaves the root.
    fn check_inside(&self, rel: &str) -> Result<()> {
        let path = self.root.join(rel);
        let parent = path.parent().unwrap_or(&self.root);
        let real = fs::canonicalize(parent).map_err(|e| BuildError::new(format!("{rel}: {e}")))?;
        if !real.starts_with(&self.root) {
            return Err(BuildError::new(format!(
                "{rel:?} resolves outside the build context (through a symlink); sources must be inside it"
            )));
        }
        Ok(())
    }

    /// The file `rel` as a tar stream, when it is a plain or gzip tar
    /// archive (ADD unpacks those; other files it copies).
    pub fn archive(&self, rel: &str) -> Option<Box<dyn Read>> {
        let path = self.root.join(rel);
        if !fs::symlink_metadata(&path).ok()?.is_file() {
            return None;
        }
        let open = || fs::File::open(&path).ok();
        let mut magic = [0u8; 2];
        open()?.read_exact(&mut magic).ok()?;
        let reader: Box<dyn Read> = if magic == [0x1f, 0x8b] {
            Box::new(flate2::read::MultiGzDecoder::new(open()?))
        } else {
            Box::new(open()?)
        };
        // A tar header carries "ustar" at offset 257.
        let mut header = [0u8; 512];
        let mut probe: Box<dyn Read> = if magic == [0x1f, 0x8b] {
            Box::new(flate2::read::MultiGzDecoder::new(open()?))
        } else {
            Box::new(open()?)
        };
        probe.read_exact(&mut header).ok()?;
        (&header[257..262] == b"ustar").then_some(reader)
    }

    /// A digest of the sources' names, types, modes and contents: a COPY
    /// with the same digest makes the same layer.
    pub fn digest(&self, sources: &[String]) -> Result<String> {
        let mut hash = Sha256::new();
        for rel in sources {
            self.digest_entry(rel, &mut hash)
                .map_err(|e| BuildError::new(format!("reading {rel} from the build context: {e}")))?;
        }
        Ok(hash.finalize().iter().map(|b| format!("{b:02x}")).collect())
    }

    fn digest_entry(&self, rel: &str, hash: &mut Sha256) -> io::Result<()> {
        if !rel.is_empty() && self.excluded(rel) {
            return Ok(());
        }
        let path = self.root.join(rel);
        let meta = fs::symlink_metadata(&path)?;
        hash.update(format!("{rel}\0{:o}\0", meta.mode()).as_bytes());
        if self.keep_owners {
            hash.update(format!("{}:{}\0", meta.uid(), meta.gid()).as_bytes());
        }
        if meta.file_type().is_symlink() {
            hash.update(fs::read_link(&path)?.as_os_str().as_encoded_bytes());
        } else if meta.is_file() {
            let mut f = fs::File::open(&path)?;
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = f.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                hash.update(&buf[..n]);
            }
        } else if meta.is_dir() {
            let mut names: Vec<String> = fs::read_dir(&path)?
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            for name in names {
                let child = if rel.is_empty() { name } else { format!("{rel}/{name}") };
                self.digest_entry(&child, hash)?;
            }
        }
        hash.update(b"\n");
        Ok(())
    }

    /// Copies each placed source to its target under `staging` (the
    /// layer's files): a directory's contents into the target, a file as
    /// the target. Directories the targets need are made as Docker makes
    /// them: one the image has keeps its owner, mode and time (`existing`
    /// gives them); a new one is 0755, owned by root or `--chown`'s owner.
    pub fn copy(
        &self,
        placements: &[Placement],
        staging: &Path,
        existing: &dyn Fn(&str) -> Option<fs::Metadata>,
        overrides: Overrides,
    ) -> Result<()> {
        for p in placements {
            let fail = |e: io::Error| BuildError::new(format!("copying {} to /{}: {e}", shown(&p.source), p.target));
            let src = self.root.join(&p.source);
            let meta = fs::symlink_metadata(&src).map_err(fail)?;
            let target = staging.join(&p.target);
            if meta.is_dir() {
                make_dirs(staging, &p.target, existing, overrides.owner).map_err(fail)?;
                self.copy_contents(&p.source, &target, overrides).map_err(fail)?;
            } else {
                if let Some((parent, _)) = p.target.rsplit_once('/') {
                    make_dirs(staging, parent, existing, overrides.owner).map_err(fail)?;
                }
                self.copy_entry(&p.source, &target, overrides).map_err(fail)?;
            }
        }
        Ok(())
    }

    /// The entries of the directory `rel` into the directory `target`.
    fn copy_contents(&self, rel: &str, target: &Path, overrides: Overrides) -> io::Result<()> {
        let mut names: Vec<String> = fs::read_dir(self.root.join(rel))?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for name in names {
            let child = join_rel(rel, &name);
            if self.excluded(&child) {
                continue;
            }
            self.copy_entry(&child, &target.join(&name), overrides)?;
        }
        Ok(())
    }

    fn copy_entry(&self, rel: &str, target: &Path, overrides: Overrides) -> io::Result<()> {
        let src = self.root.join(rel);
        let meta = fs::symlink_metadata(&src)?;
        let ft = meta.file_type();
        // Whatever an earlier source of this step left at `target` is
        // replaced, never written through: a symlink copied there must not
        // lead a later file out of the staging directory.
        let existing = fs::symlink_metadata(target).ok();
        if let Some(m) = &existing {
            if !(ft.is_dir() && m.is_dir()) {
                if m.is_dir() {
                    fs::remove_dir_all(target)?;
                } else {
                    fs::remove_file(target)?;
                }
            }
        }
        if ft.is_dir() {
            if !existing.is_some_and(|m| m.is_dir()) {
                fs::create_dir(target)?;
            }
            self.copy_contents(rel, target, overrides)?;
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&src)?, target)?;
        } else if ft.is_file() {
            fs::copy(&src, target)?;
        } else {
            // Devices, pipes and sockets are not copied from a context.
            return Ok(());
        }
        let (uid, gid) = match (overrides.owner, self.keep_owners) {
            (Some(owner), _) => owner,
            (None, true) => (meta.uid(), meta.gid()),
            (None, false) => (0, 0),
        };
        std::os::unix::fs::lchown(target, Some(uid), Some(gid))?;
        if !ft.is_symlink() {
            let mode = overrides.mode.unwrap_or(meta.mode() & 0o7777);
            fs::set_permissions(target, fs::Permissions::from_mode(mode))?;
            set_mtime(target, meta.mtime())?;
        }
        Ok(())
    }
}

/// Makes the directory `rel` and its parents under `staging` (those not
/// there yet): with the metadata the image gives them (`existing`), else
/// 0755 and owned by `owner` (root by default), as Docker makes them.
pub fn make_dirs(
    staging: &Path,
    rel: &str,
    existing: &dyn Fn(&str) -> Option<fs::Metadata>,
    owner: Option<(u32, u32)>,
) -> io::Result<()> {
    let mut done = String::new();
    for part in rel.split('/').filter(|p| !p.is_empty()) {
        done = join_rel(&done, part);
        let dir = staging.join(&done);
        match fs::symlink_metadata(&dir) {
            Ok(m) if m.is_dir() => continue,
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("/{done} is a file copied by this step, not a directory"),
                ))
            }
            Err(_) => {}
        }
        fs::create_dir(&dir)?;
        match existing(&done).filter(|m| m.is_dir()) {
            Some(m) => {
                std::os::unix::fs::lchown(&dir, Some(m.uid()), Some(m.gid()))?;
                fs::set_permissions(&dir, fs::Permissions::from_mode(m.mode() & 0o7777))?;
                set_mtime(&dir, m.mtime())?;
            }
            None => {
                let (uid, gid) = owner.unwrap_or((0, 0));
                std::os::unix::fs::lchown(&dir, Some(uid), Some(gid))?;
                fs::set_permissions(&dir, fs::Permissions::from_mode(0o755))?;
            }
        }
    }
    Ok(())
}

fn shown(rel: &str) -> &str {
    if rel.is_empty() {
        "."
    } else {
        rel
    }
}

fn set_mtime(path: &Path, secs: i64) -> io::Result<()> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| io::ErrorKind::InvalidInput)?;
    let times = [
        libc::timespec {
            tv_sec: secs,
            tv_nsec: 0,
        },
        libc::timespec {
            tv_sec: secs,
            tv_nsec: 0,
        },
    ];
    // SAFETY: a valid path and two timespecs.
    if unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), times.as_ptr(), libc::AT_SYMLINK_NOFOLLOW) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `a/b` joined lexically; either may be empty.
pub fn join_rel(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}/{b}"),
    }
}

/// A relative path cleaned lexically (`.`, `//`, `x/..` removed; leading
/// `/` dropped); `None` when `..` climbs above the start.
pub fn clean(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

/// Whether the leading segments of a wildcard pattern match `rel`, one
/// segment against one segment (`*` does not cross `/`).
fn segments_match(pattern: &[&str], rel: &str) -> bool {
    let names: Vec<&str> = rel.split('/').collect();
    pattern.len() == names.len()
        && pattern
            .iter()
            .zip(&names)
            .all(|(p, n)| glob(p.as_bytes(), n.as_bytes()))
}

/// One path segment against a shell pattern: `*`, `?`, `[…]` (with `!` or
/// `^` negation and ranges), `\` escapes.
fn glob(p: &[u8], n: &[u8]) -> bool {
    match p.first() {
        None => n.is_empty(),
        Some(b'*') => (0..=n.len()).any(|i| glob(&p[1..], &n[i..])),
        Some(b'?') => !n.is_empty() && glob(&p[1..], &n[1..]),
        Some(b'[') => {
            let Some(close) = p.iter().skip(2).position(|c| *c == b']').map(|i| i + 2) else {
                return !n.is_empty() && n[0] == b'[' && glob(&p[1..], &n[1..]);
            };
            let Some(&c) = n.first() else { return false };
            let class = &p[1..close];
            let (negate, class) = match class.first() {
                Some(b'!') | Some(b'^') => (true, &class[1..]),
                _ => (false, class),
            };
            let mut hit = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == b'-' {
                    hit |= class[i] <= c && c <= class[i + 2];
                    i += 3;
                } else {
                    hit |= class[i] == c;
                    i += 1;
                }
            }
            hit != negate && glob(&p[close + 1..], &n[1..])
        }
        Some(b'\\') if p.len() > 1 => !n.is_empty() && n[0] == p[1] && glob(&p[2..], &n[1..]),
        Some(&c) => !n.is_empty() && n[0] == c && glob(&p[1..], &n[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleaning_refuses_climbing_out() {
        assert_eq!(clean("./a//b/../c").as_deref(), Some("a/c"));
        assert_eq!(clean("/abs/x").as_deref(), Some("abs/x"));
        assert_eq!(clean("a/../../etc/passwd"), None);
        assert_eq!(clean(".").as_deref(), Some(""));
    }

    #[test]
    fn wildcards_match_one_segment_each() {
        assert!(glob(b"*.py", b"app.py"));
        assert!(!glob(b"*.py", b"app.pyc"));
        assert!(glob(b"fil?.[a-c]", b"file.b"));
        assert!(!glob(b"fil?.[!a-c]", b"file.b"));
        assert!(segments_match(&["src", "*.txt"], "src/a.txt"));
        assert!(!segments_match(&["*.txt"], "src/a.txt"));
    }

    fn placed(pairs: &[(&str, &str)]) -> Vec<Placement> {
        pairs
            .iter()
            .map(|(source, target)| Placement {
                source: source.to_string(),
                target: target.to_string(),
            })
            .collect()
    }

    #[test]
    fn directories_made_for_a_copy_keep_the_images_metadata() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("f"), "f").unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700)).unwrap();
        let ctx = Source::context(dir.path()).unwrap();
        let image = tempfile::tempdir().unwrap();
        fs::create_dir(image.path().join("tmp")).unwrap();
        fs::set_permissions(image.path().join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
        let existing = |rel: &str| fs::symlink_metadata(image.path().join(rel)).ok();
        let staging = tempfile::tempdir().unwrap();
        ctx.copy(
            &placed(&[("f", "tmp/new/f"), ("", "app")]),
            staging.path(),
            &existing,
            Overrides {
                owner: Some((1000, 1000)),
                mode: None,
            },
        )
        .unwrap();
        let mode = |rel: &str| fs::metadata(staging.path().join(rel)).unwrap().mode() & 0o7777;
        let owner = |rel: &str| fs::metadata(staging.path().join(rel)).unwrap().uid();
        assert_eq!((mode("tmp"), owner("tmp")), (0o1777, 0), "the image's /tmp is kept");
        assert_eq!((mode("tmp/new"), owner("tmp/new")), (0o755, 1000), "a new directory");
        assert_eq!(mode("app"), 0o755, "not the context directory's mode");
        assert_eq!(owner("app/f"), 1000);
    }

    #[test]
    fn selecting_copying_and_digesting_a_context() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("src/sub")).unwrap();
        fs::write(root.join("src/a.py"), "print(1)\n").unwrap();
        fs::write(root.join("src/b.txt"), "b").unwrap();
        fs::write(root.join("src/sub/c.py"), "c").unwrap();
        fs::write(root.join("secret.key"), "k").unwrap();
        fs::write(root.join(".dockerignore"), "*.key\nsrc/sub\n").unwrap();
        std::os::unix::fs::symlink("/etc", root.join("escape")).unwrap();
        let ctx = Source::context(root).unwrap();

        assert_eq!(ctx.select("src/*.py").unwrap(), vec!["src/a.py"]);
        assert!(ctx.select("secret.key").is_err(), "ignored files cannot be copied");
        assert!(ctx.select("../outside").is_err());
        assert!(ctx.select("escape/passwd").is_err(), "a symlink cannot lead out");

        let staging = tempfile::tempdir().unwrap();
        let none = |_: &str| None;
        ctx.copy(&placed(&[("src", "app")]), staging.path(), &none, Overrides::default())
            .unwrap();
        assert!(staging.path().join("app/a.py").is_file());
        assert!(
            !staging.path().join("app/sub").exists(),
            ".dockerignore applies inside directories"
        );
        ctx.copy(
            &placed(&[("src/a.py", "bin/run")]),
            staging.path(),
            &none,
            Overrides::default(),
        )
        .unwrap();
        assert_eq!(
            fs::read_to_string(staging.path().join("bin/run")).unwrap(),
            "print(1)\n"
        );
        ctx.copy(
            &placed(&[("src/a.py", "multi/a.py"), ("src/b.txt", "multi/b.txt")]),
            staging.path(),
            &none,
            Overrides {
                owner: Some((1000, 1000)),
                mode: Some(0o600),
            },
        )
        .unwrap();
        let m = fs::metadata(staging.path().join("multi/b.txt")).unwrap();
        assert_eq!((m.uid(), m.mode() & 0o777), (1000, 0o600));

        // A symlink from one source never leads another source's files out.
        fs::create_dir_all(root.join("one")).unwrap();
        std::os::unix::fs::symlink(staging.path().join("outside"), root.join("one/x")).unwrap();
        fs::create_dir_all(root.join("two/x")).unwrap();
        fs::write(root.join("two/x/f"), "f").unwrap();
        let out = tempfile::tempdir().unwrap();
        ctx.copy(
            &placed(&[("one", "d"), ("two", "d")]),
            out.path(),
            &none,
            Overrides::default(),
        )
        .unwrap();
        assert!(out.path().join("d/x/f").is_file());
        assert!(!staging.path().join("outside").exists());

        let before = ctx.digest(&["src".into()]).unwrap();
        fs::write(root.join("src/sub/c.py"), "changed, but ignored").unwrap();
        assert_eq!(ctx.digest(&["src".into()]).unwrap(), before);
        fs::write(root.join("src/a.py"), "print(2)\n").unwrap();
        assert_ne!(ctx.digest(&["src".into()]).unwrap(), before);
    }
}
