//! Running a Dockerfile: its stages in order (up to the target), each
//! instruction applied to its stage's image. RUN, COPY, ADD and a WORKDIR
//! that must create its directory make layers and go through the cache;
//! the other instructions change the image config.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::image::pull::{self, PullOptions, PullPolicy};
use crate::image::store::ImageStore;
use crate::image::{Digest, Reference};
use crate::runtime::{self, Roots};

use super::cache::{Cache, Entry};
use super::context::{self, Overrides, Source};
use super::dest::{self, DestKind, ImageTree, Placement};
use super::dockerfile::{self, expand, Instruction, Kind};
use super::error::{BuildError, Result};
use super::layer;
use super::run_step::RunStep;
use super::stage::StageImage;

/// The network RUN steps use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BuildNetwork {
    /// The host's, as `docker build --network host`: package managers reach
    /// their mirrors without a bridge for the build.
    #[default]
    Host,
    /// Only loopback.
    None,
}

/// One image to build.
#[derive(Debug, Clone, Default)]
pub struct BuildRequest {
    /// The build context directory.
    pub context: PathBuf,
    /// The Dockerfile: read from here unless `dockerfile_inline` is given;
    /// errors name it either way.
    pub dockerfile: PathBuf,
    pub dockerfile_inline: Option<String>,
    /// Build arguments (`--build-arg`, Compose's `args`).
    pub args: BTreeMap<String, String>,
    /// The stage to stop at; the last one when `None`.
    pub target: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// Names the image gets.
    pub tags: Vec<Reference>,
    pub no_cache: bool,
    /// Pull base images even when present.
    pub pull: bool,
    pub network: BuildNetwork,
}

/// What a build needs from the engine.
pub struct Builder<'a> {
    pub store: &'a ImageStore,
    pub roots: &'a Roots,
    /// `build-cache/` of the state root.
    pub cache_dir: PathBuf,
    pub pull_options: PullOptions,
    /// Step lines (`#3 [2/5] RUN …`, `CACHED`).
    pub progress: &'a dyn Fn(&str),
    /// Where RUN output goes; `None`: discarded (`--quiet`).
    pub run_output: Option<&'a File>,
}

struct Stage {
    name: Option<String>,
    image: StageImage,
    /// The cache key of the stage's last layer-making step.
    key: String,
}

impl Builder<'_> {
    /// Builds `req`; returns the image ID.
    pub fn build(&self, req: &BuildRequest) -> Result<Digest> {
        clean_stale(self.roots, &self.cache_dir);
        let file = &req.dockerfile;
        let text = match &req.dockerfile_inline {
            Some(t) => t.clone(),
            None => std::fs::read_to_string(file).map_err(|e| {
                BuildError::new(format!(
                    "cannot read the Dockerfile {}: {e}; check build.dockerfile and build.context",
                    file.display()
                ))
            })?,
        };
        let parsed = dockerfile::parse(&text).map_err(|e| BuildError::at(file, e.line, e.message))?;
        let last = match &req.target {
            None => parsed.stages.len().saturating_sub(1),
            Some(t) => parsed
                .stages
                .iter()
                .position(|s| s.name.as_deref() == Some(t.to_lowercase().as_str()))
                .ok_or_else(|| {
                    BuildError::new(format!(
                        "target stage {t:?} is not in {}; name a stage with `FROM … AS {t}`",
                        file.display()
                    ))
                })?,
        };
        let mut globals: BTreeMap<String, Option<String>> = BTreeMap::new();
        for decl in &parsed.global_args {
            let value = match req.args.get(&decl.name) {
                Some(v) => Some(v.clone()),
                None => match &decl.default {
                    Some(d) => Some(
                        expand(d, &|k: &str| globals.get(k).cloned().flatten())
                            .map_err(|e| BuildError::at(file, 1, e))?,
                    ),
                    None => None,
                },
            };
            globals.insert(decl.name.clone(), value);
        }
        let context = Source::context(&req.context)?;
        let cache = Cache::new(self.cache_dir.clone());
        let total: usize = parsed.stages[..=last].iter().map(|s| s.instructions.len() + 1).sum();
        let mut step_no = 0;
        let mut stages: Vec<Stage> = Vec::new();
        for decl in &parsed.stages[..=last] {
            step_no += 1;
            let base = expand(&decl.base, &|k: &str| globals.get(k).cloned().flatten())
                .map_err(|e| BuildError::at(file, decl.line, e))?;
            (self.progress)(&format!("#{step_no} [{}/{total}] FROM {base}", step_no));
            let mut stage = self
                .stage_from(&base, &stages, req.pull)
                .map_err(|e| e.located(file, decl.line))?;
            stage.name = decl.name.clone();
            let mut args: BTreeMap<String, Option<String>> = BTreeMap::new();
            for ins in &decl.instructions {
                step_no += 1;
                (self.progress)(&format!("#{step_no} [{}/{total}] {}", step_no, ins.text));
                let cx = StepContext {
                    req,
                    context: &context,
                    cache: &cache,
                    globals: &globals,
                    stages: &stages,
                };
                self.apply(ins, &mut stage, &mut args, &cx)
                    .map_err(|e| e.located(file, ins.line))?;
            }
            stages.push(stage);
        }
        let done = stages.pop().expect("at least one stage");
        done.image.commit(self.store, &req.tags, &req.labels)
    }

    /// The image a stage starts from: an earlier stage, `scratch`, or an
    /// image from the store (pulled when missing, or always with `pull`).
    fn stage_from(&self, base: &str, stages: &[Stage], always_pull: bool) -> Result<Stage> {
        let lower = base.to_lowercase();
        if let Some(s) = stages
            .iter()
            .enumerate()
            .find(|(i, s)| s.name.as_deref() == Some(lower.as_str()) || i.to_string() == lower)
            .map(|(_, s)| s)
        {
            return Ok(Stage {
                name: None,
                image: s.image.clone(),
                key: s.key.clone(),
            });
        }
        if lower == "scratch" {
            return Ok(Stage {
                name: None,
                image: StageImage::default(),
                key: "scratch".into(),
            });
        }
        let image = self.base_image(base, always_pull)?;
        Ok(Stage {
            name: None,
            image: StageImage::from_image(&image),
            key: format!("image:{}", image.id()),
        })
    }

    fn base_image(&self, name: &str, always_pull: bool) -> Result<crate::image::store::Image> {
        let reference =
            Reference::parse(name).map_err(|e| BuildError::new(format!("FROM {name}: not an image reference: {e}")))?;
        let policy = if always_pull {
            PullPolicy::Always
        } else {
            PullPolicy::Missing
        };
        pull::ensure(self.store, &reference, policy, &self.pull_options, pull::no_progress())
            .map_err(|e| BuildError::new(format!("FROM {name}: {e}")))?;
        let record = self.store.resolve(&reference.to_string()).map_err(BuildError::image)?;
        let image = self.store.load(&record.manifest.digest).map_err(BuildError::image)?;
        crate::image::ops::ensure_snapshots(self.store, &image).map_err(BuildError::image)?;
        Ok(image)
    }

    fn apply(
        &self,
        ins: &Instruction,
        stage: &mut Stage,
        args: &mut BTreeMap<String, Option<String>>,
        cx: &StepContext<'_>,
    ) -> Result<()> {
        let (req, cache, globals) = (cx.req, cx.cache, cx.globals);
        // ENV wins over ARG of the same name, as in Docker.
        let lookup_in = |stage: &Stage, args: &BTreeMap<String, Option<String>>, k: &str| {
            stage.image.env_value(k).or_else(|| args.get(k).cloned().flatten())
        };
        let ex = |stage: &Stage, args: &BTreeMap<String, Option<String>>, word: &str| {
            expand(word, &|k: &str| lookup_in(stage, args, k)).map_err(BuildError::new)
        };
        let text = ins.text.clone();
        match &ins.kind {
            Kind::Arg(decls) => {
                for d in decls {
                    let value = match req.args.get(&d.name) {
                        Some(v) => Some(v.clone()),
                        None => match &d.default {
                            Some(def) => Some(ex(stage, args, def)?),
                            None => globals.get(&d.name).cloned().flatten(),
                        },
                    };
                    args.insert(d.name.clone(), value);
                }
            }
            Kind::Env(pairs) => {
                for (k, v) in pairs {
                    let value = ex(stage, args, v)?;
                    stage.image.set_env(k, &value);
                }
                stage.image.record(text);
            }
            Kind::Label(pairs) => {
                for (k, v) in pairs {
                    let (k, v) = (ex(stage, args, k)?, ex(stage, args, v)?);
                    stage.image.set_label(k, v);
                }
                stage.image.record(text);
            }
            Kind::User(u) => {
                let u = ex(stage, args, u)?;
                stage.image.config.insert("User".into(), json!(u));
                stage.image.record(text);
            }
            Kind::Expose(ports) => {
                for p in ports {
                    let p = ex(stage, args, p)?;
                    let p = if p.contains('/') { p } else { format!("{p}/tcp") };
                    stage.image.add_to_set("ExposedPorts", p);
                }
                stage.image.record(text);
            }
            Kind::Volume(paths) => {
                for p in paths {
                    stage.image.add_to_set("Volumes", ex(stage, args, p)?);
                }
                stage.image.record(text);
            }
            Kind::StopSignal(s) => {
                let s = ex(stage, args, s)?;
                stage.image.config.insert("StopSignal".into(), json!(s));
                stage.image.record(text);
            }
            Kind::Shell(argv) => {
                stage.image.config.insert("Shell".into(), json!(argv));
                stage.image.record(text);
            }
            Kind::Cmd(c) => {
                stage.image.set_cmd(c);
                stage.image.record(text);
            }
            Kind::Entrypoint(c) => {
                stage.image.set_entrypoint(c);
                stage.image.record(text);
            }
            Kind::Healthcheck(h) => {
                stage.image.set_healthcheck(h).map_err(BuildError::new)?;
                stage.image.record(text);
            }
            Kind::Onbuild(s) => {
                let entry = stage.image.config.entry("OnBuild").or_insert_with(|| json!([]));
                if let Some(list) = entry.as_array_mut() {
                    list.push(json!(s));
                }
                stage.image.record(text);
            }
            Kind::Maintainer(_) => stage.image.record(text),
            Kind::Workdir(dir) => {
                let dir = ex(stage, args, dir)?;
                let abs = dest::absolute(&stage.image.working_dir(), &dir);
                stage.image.config.insert("WorkingDir".into(), json!(abs));
                // The directory exists in the image, as Docker makes it:
                // new directories belong to the USER of the moment.
                let tree = ImageTree::new(stage.image.lower_dirs(self.store)?);
                let resolved = tree
                    .resolve(&abs)
                    .map_err(|e| BuildError::new(format!("WORKDIR {}", e.message)))?;
                match &resolved.entry {
                    Some(e) if e.is_dir() => stage.image.record(text),
                    Some(_) => {
                        return Err(BuildError::new(format!(
                            "WORKDIR {abs}: /{} is a file in the image, not a directory",
                            resolved.rel
                        )))
                    }
                    None => {
                        let owner = match stage.image.user() {
                            Some(user) => {
                                Some(self.owner(&stage.image, &user, &format!("WORKDIR {abs} (for USER {user})"))?)
                            }
                            None => None,
                        };
                        let step = json!({ "workdir": resolved.rel, "owner": owner });
                        let existing = |rel: &str| tree.lookup(rel).map(|e| e.meta);
                        self.layer_step(stage, cache, req, &text, &step, |staging| {
                            context::make_dirs(staging, &resolved.rel, &existing, owner)
                                .map_err(|e| BuildError::new(format!("WORKDIR {abs}: {e}")))
                        })?;
                    }
                }
            }
            Kind::Run { command } => {
                let argv = stage.image.argv(command);
                let env: Vec<String> = args
                    .iter()
                    .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
                    .filter(|(k, _)| stage.image.env_value(k).is_none())
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                let step = json!({ "run": argv, "args": env });
                let key = Cache::key(&stage.key, &stage.image.config, &step);
                let cached = (!req.no_cache).then(|| cache.get(self.store, &key)).flatten();
                let entry = match cached {
                    Some(entry) => {
                        (self.progress)("CACHED");
                        entry
                    }
                    None => {
                        let netns = match req.network {
                            BuildNetwork::Host => Some(PathBuf::from(format!("/proc/{}/ns/net", std::process::id()))),
                            BuildNetwork::None => None,
                        };
                        let run = RunStep {
                            store: self.store,
                            roots: self.roots,
                            netns,
                            output: self.run_output,
                        };
                        let layer = run.run(&stage.image, argv, env)?;
                        let entry = Entry {
                            layer: layer.map(|l| (l.diff_id, l.size)),
                            created: crate::image::ops::now_rfc3339(),
                        };
                        cache.put(&key, &entry);
                        entry
                    }
                };
                stage.key = key;
                self.add(stage, entry, text);
            }
            Kind::Copy { .. } | Kind::Add { .. } => {
                let c = CopyArgs::of(&ins.kind, &text)?;
                self.copy(stage, args, cx, c)?;
            }
        }
        Ok(())
    }

    fn add(&self, stage: &mut Stage, entry: Entry, text: String) {
        let empty = entry.layer.is_none();
        if let Some((diff, size)) = entry.layer {
            stage.image.add_layer(diff, size);
        }
        stage.image.record_layer_step(text, entry.created, empty);
    }

    /// A step whose layer `fill` stages in a scratch directory, unless the
    /// cache has it.
    fn layer_step(
        &self,
        stage: &mut Stage,
        cache: &Cache,
        req: &BuildRequest,
        text: &str,
        step: &Value,
        fill: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<()> {
        let key = Cache::key(&stage.key, &stage.image.config, step);
        if let Some(entry) = (!req.no_cache).then(|| cache.get(self.store, &key)).flatten() {
            (self.progress)("CACHED");
            stage.key = key;
            self.add(stage, entry, text.to_string());
            return Ok(());
        }
        let scratch = cache
            .scratch()
            .map_err(|e| BuildError::new(format!("build cache directory: {e}")))?;
        let staging = scratch.join("layer");
        let result = std::fs::create_dir(&staging)
            .map_err(|e| BuildError::new(format!("{}: {e}", staging.display())))
            .and_then(|()| fill(&staging))
            .and_then(|()| layer::commit_dir(self.store, &staging, text));
        let _ = std::fs::remove_dir_all(&scratch);
        let layer = result?;
        let entry = Entry {
            layer: Some((layer.diff_id, layer.size)),
            created: crate::image::ops::now_rfc3339(),
        };
        cache.put(&key, &entry);
        stage.key = key;
        self.add(stage, entry, text.to_string());
        Ok(())
    }

    fn copy(
        &self,
        stage: &mut Stage,
        args: &BTreeMap<String, Option<String>>,
        cx: &StepContext<'_>,
        c: CopyArgs<'_>,
    ) -> Result<()> {
        let (req, context, cache, stages) = (cx.req, cx.context, cx.cache, cx.stages);
        let lookup = |k: &str| stage.image.env_value(k).or_else(|| args.get(k).cloned().flatten());
        let dest_raw = expand(c.dest, &lookup).map_err(BuildError::new)?;
        let (dest, names_dir) = dest::destination(&stage.image.working_dir(), &dest_raw);
        let tree = ImageTree::new(stage.image.lower_dirs(self.store)?);
        let resolved = tree.resolve(&dest)?;
        let kind = match &resolved.entry {
            None => DestKind::Missing,
            Some(e) if e.is_dir() => DestKind::Dir,
            Some(_) => DestKind::File,
        };
        let patterns: Vec<String> = c
            .sources
            .iter()
            .map(|s| expand(s, &lookup).map_err(BuildError::new))
            .collect::<Result<_>>()?;
        let overrides = Overrides {
            owner: match c.chown {
                Some(spec) => {
                    let spec = expand(spec, &lookup).map_err(BuildError::new)?;
                    Some(self.owner(&stage.image, &spec, &format!("--chown={spec}"))?)
                }
                None => None,
            },
            mode: match c.chmod {
                Some(m) => Some(
                    u32::from_str_radix(m, 8)
                        .map_err(|_| BuildError::new(format!("--chmod={m}: give the mode in octal, such as 755")))?,
                ),
                None => None,
            },
        };
        // The root to copy from: the context, or another stage's (or an
        // image's) files, mounted read-only for the copy.
        let mounted = match c.from {
            None => None,
            Some(from) => {
                let source_stage = self.stage_from(from, stages, false)?;
                Some((
                    MountedRoot::mount(self.store, cache, &source_stage.image)?,
                    source_stage.key,
                ))
            }
        };
        let stage_source;
        let (source, from_key) = match &mounted {
            None => (context, String::new()),
            Some((root, key)) => {
                stage_source = Source::stage_root(&root.dir());
                (&stage_source, key.clone())
            }
        };
        let mut selected = Vec::new();
        for p in &patterns {
            selected.extend(source.select(p)?);
        }
        // A directory's contents go into the destination; so do those of an
        // archive ADD unpacks.
        let typed: Vec<(String, bool)> = selected
            .iter()
            .map(|rel| {
                let is_dir = std::fs::symlink_metadata(source.path(rel)).is_ok_and(|m| m.is_dir());
                (rel.clone(), is_dir || (c.extract && source.archive(rel).is_some()))
            })
            .collect();
        let placements = dest::place(&typed, &resolved.rel, kind, names_dir, &dest_raw)?;
        let step = json!({
            "copy": placements.iter().map(|p| [&p.source, &p.target]).collect::<Vec<_>>(),
            "from": from_key, "extract": c.extract,
            "digest": source.digest(&selected)?, "owner": overrides.owner, "mode": overrides.mode,
        });
        let existing = |rel: &str| tree.lookup(rel).map(|e| e.meta);
        self.layer_step(stage, cache, req, c.text, &step, |staging| {
            if c.extract {
                add_extracting(source, &placements, staging, &existing, overrides)
            } else {
                source.copy(&placements, staging, &existing, overrides)
            }
        })
    }

    /// A user (`--chown`'s, or USER's for WORKDIR) as uid and gid, names
    /// looked up in the stage's `/etc/passwd` and `/etc/group` (as the
    /// image has them: whiteouts and symlinks honoured). `what` names the
    /// setting in errors.
    fn owner(&self, image: &StageImage, spec: &str, what: &str) -> Result<(u32, u32)> {
        let tree = ImageTree::new(image.lower_dirs(self.store)?);
        let read = |name: &str| -> Option<String> {
            let found = tree.resolve(name).ok()?;
            // Regular files only, of a sane size: a FIFO would block, a
            // huge file is no user database.
            let entry = found
                .entry
                .filter(|e| e.meta.is_file() && e.meta.len() <= crate::store::MAX_IN_ROOT_FILE)?;
            std::fs::read_to_string(entry.layer.join(&found.rel)).ok()
        };
        let (passwd, group) = (read("/etc/passwd"), read("/etc/group"));
        let user = runtime::user::resolve(Some(spec), &[], passwd.as_deref(), group.as_deref())
            .map_err(|e| BuildError::new(format!("{what}: {e}")))?;
        Ok((user.uid, user.gid))
    }
}

/// Removes what builds that were killed left behind: their step containers
/// (processes, mounts, cgroups) and scratch directories; only those of
/// processes that are gone. `down` calls it too.
pub fn clean_stale(roots: &Roots, cache_dir: &Path) {
    let stale = |name: &std::ffi::OsStr, prefix: &str| {
        crate::store::temp_owner(name, prefix).is_some_and(|pid| !crate::store::process_alive(pid))
    };
    if let Ok(entries) = std::fs::read_dir(roots.containers()) {
        for e in entries.flatten() {
            if stale(&e.file_name(), "build-") {
                let _ = runtime::remove(roots, &e.file_name().to_string_lossy());
            }
        }
    }
    if let Ok(entries) = std::fs::read_dir(cache_dir) {
        for e in entries.flatten() {
            if stale(&e.file_name(), "tmp-") {
                let paths = runtime::state::ContainerPaths {
                    id: e.file_name().to_string_lossy().into_owned(),
                    dir: e.path(),
                };
                let _ = runtime::rootfs::unmount_rootfs(&paths);
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

/// What every step of a stage shares.
struct StepContext<'a> {
    req: &'a BuildRequest,
    context: &'a Source,
    cache: &'a Cache,
    globals: &'a BTreeMap<String, Option<String>>,
    /// The stages built before this one.
    stages: &'a [Stage],
}

/// A COPY or ADD.
struct CopyArgs<'a> {
    text: &'a str,
    sources: &'a [String],
    dest: &'a str,
    from: Option<&'a str>,
    chown: Option<&'a str>,
    chmod: Option<&'a str>,
    /// ADD: local tar archives are unpacked.
    extract: bool,
}

impl<'a> CopyArgs<'a> {
    fn of(kind: &'a Kind, text: &'a str) -> Result<CopyArgs<'a>> {
        match kind {
            Kind::Copy {
                sources,
                dest,
                from,
                chown,
                chmod,
            } => Ok(CopyArgs {
                text,
                sources,
                dest,
                from: from.as_deref(),
                chown: chown.as_deref(),
                chmod: chmod.as_deref(),
                extract: false,
            }),
            Kind::Add {
                sources,
                dest,
                chown,
                chmod,
            } => {
                if let Some(url) = sources.iter().find(|s| s.contains("://")) {
                    return Err(BuildError::new(format!(
                        "ADD {url}: adding from a URL is not supported; download it in a RUN step \
                         or put it in the build context"
                    )));
                }
                Ok(CopyArgs {
                    text,
                    sources,
                    dest,
                    from: None,
                    chown: chown.as_deref(),
                    chmod: chmod.as_deref(),
                    extract: true,
                })
            }
            _ => Err(BuildError::new("not a COPY or ADD")),
        }
    }
}

/// ADD: a local tar archive (plain or gzip) is unpacked into its target
/// directory with the checks layers get; other sources are copied.
fn add_extracting(
    source: &Source,
    placements: &[Placement],
    staging: &Path,
    existing: &dyn Fn(&str) -> Option<std::fs::Metadata>,
    o: Overrides,
) -> Result<()> {
    let mut plain = Vec::new();
    for p in placements {
        match source.archive(&p.source) {
            Some(reader) => {
                let rel = &p.source;
                context::make_dirs(staging, &p.target, existing, o.owner)
                    .map_err(|e| BuildError::new(format!("ADD {rel}: {e}")))?;
                let target = staging.join(&p.target);
                crate::image::unpack::unpack_layer(reader, &target, rel, &Default::default())
                    .map_err(|e| BuildError::new(format!("ADD {rel}: {e}")))?;
            }
            None => plain.push(p.clone()),
        }
    }
    source.copy(&plain, staging, existing, o)
}

/// A stage's layers mounted read-only (an overlay with an unused upper
/// directory), for COPY --from.
struct MountedRoot {
    paths: runtime::state::ContainerPaths,
}

impl MountedRoot {
    fn mount(store: &ImageStore, cache: &Cache, image: &StageImage) -> Result<MountedRoot> {
        let dir = cache
            .scratch()
            .map_err(|e| BuildError::new(format!("build cache directory: {e}")))?;
        let paths = runtime::state::ContainerPaths {
            id: dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            dir,
        };
        let lower = image.lower_dirs(store)?;
        if lower.is_empty() {
            return Err(BuildError::new(
                "COPY --from a stage with no files (FROM scratch and nothing added)",
            ));
        }
        runtime::rootfs::mount_rootfs(&paths, &lower).map_err(BuildError::runtime)?;
        Ok(MountedRoot { paths })
    }

    fn dir(&self) -> PathBuf {
        self.paths.rootfs()
    }
}

impl Drop for MountedRoot {
    fn drop(&mut self) {
        let _ = runtime::rootfs::unmount_rootfs(&self.paths);
        let _ = std::fs::remove_dir_all(&self.paths.dir);
    }
}
