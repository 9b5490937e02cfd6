//! `rcompose image …`, `rcompose login/logout`, and the pull/push helpers
//! the project commands use. Argument handling and output only: the work
//! is in `crate::image`.

use crate::image::archive::{self, Format};
use crate::image::error::{ImageError, Result};
use crate::image::manifest::Platform;
use crate::image::ops::{self, Removed};
use crate::image::pull::{self, LayerStatus, PullEvent, PullOptions, Pulled};
use crate::image::push::{self, PushEvent, PushOptions};
use crate::image::registry::config::{default_docker_config, Credentials, DockerConfig, RegistryOptions};
use crate::image::registry::{self, Access, Client};
use crate::image::store::{ImageRecord, ImageStore};
use crate::image::Reference;
use std::collections::HashSet;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where mirrors and insecure registries are configured
/// (`RCOMPOSE_REGISTRIES` overrides).
pub const DEFAULT_REGISTRIES_FILE: &str = "/etc/rcompose/registries.json";

#[derive(clap::Subcommand, Debug)]
pub enum ImageCommand {
    /// List images
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Download an image from a registry
    Pull(PullArgs),
    /// Upload an image to a registry
    Push(PushArgs),
    /// Remove one or more images
    #[command(alias = "remove", alias = "rmi")]
    Rm(RmArgs),
    /// Display detailed information on one or more images
    Inspect(InspectArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(LoadArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// Remove unused images
    Prune(PruneArgs),
    /// Show the history of an image
    History(HistoryArgs),
}

#[derive(clap::Args, Debug)]
pub struct LsArgs {
    /// Show all images (there are no intermediate images; accepted for compatibility)
    #[arg(short, long)]
    pub all: bool,
    /// Only show image IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Show digests
    #[arg(long)]
    pub digests: bool,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Output format: table (default) or json
    #[arg(long)]
    pub format: Option<String>,
    /// Filter: dangling=true|false, reference=PATTERN
    #[arg(short, long)]
    pub filter: Vec<String>,
    /// Only images of this repository (and tag)
    pub repository: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct PullArgs {
    /// NAME[:TAG|@DIGEST]
    pub name: String,
    /// Set platform if the image is multi-platform (os/arch[/variant])
    #[arg(long)]
    pub platform: Option<String>,
    /// Suppress verbose output
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(clap::Args, Debug)]
pub struct PushArgs {
    /// NAME[:TAG]
    pub name: String,
    /// Suppress verbose output
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(clap::Args, Debug)]
pub struct RmArgs {
    #[arg(required = true)]
    pub images: Vec<String>,
    /// Force removal of an image referenced by several names
    #[arg(short, long)]
    pub force: bool,
    /// Accepted for compatibility (unreferenced layers are always removed)
    #[arg(long)]
    pub no_prune: bool,
}

#[derive(clap::Args, Debug)]
pub struct InspectArgs {
    #[arg(required = true)]
    pub images: Vec<String>,
    /// json (default), or a field path such as {{.Id}} or {{json .Config}}
    #[arg(short, long)]
    pub format: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct TagArgs {
    pub source: String,
    pub target: String,
}

#[derive(clap::Args, Debug)]
pub struct SaveArgs {
    #[arg(required = true)]
    pub images: Vec<String>,
    /// Write to a file instead of STDOUT
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Archive format: docker (docker save's) or oci (an OCI layout)
    #[arg(long, default_value = "docker")]
    pub format: String,
}

#[derive(clap::Args, Debug)]
pub struct LoadArgs {
    /// Read from a tar archive file instead of STDIN
    #[arg(short, long)]
    pub input: Option<PathBuf>,
    /// Suppress the load output
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// A tarball path, or - for STDIN
    pub file: String,
    /// REPOSITORY[:TAG]
    pub reference: Option<String>,
    /// Apply a Dockerfile instruction to the image (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, WORKDIR)
    #[arg(short, long)]
    pub change: Vec<String>,
    /// Commit message for the imported image
    #[arg(short, long)]
    pub message: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct PruneArgs {
    /// Remove all images, not only dangling ones
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation (rcompose never prompts)
    #[arg(short, long)]
    pub force: bool,
}

#[derive(clap::Args, Debug)]
pub struct HistoryArgs {
    pub image: String,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set)]
    pub human: bool,
    /// Output format: table (default) or json
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct LoginArgs {
    /// Registry (default: Docker Hub)
    pub server: Option<String>,
    #[arg(short, long)]
    pub username: Option<String>,
    #[arg(short, long)]
    pub password: Option<String>,
    /// Take the password from STDIN
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(clap::Args, Debug)]
pub struct LogoutArgs {
    /// Registry (default: Docker Hub)
    pub server: Option<String>,
}

/// Registry settings: `RCOMPOSE_REGISTRIES` or [`DEFAULT_REGISTRIES_FILE`],
/// credentials from Docker's config.json.
pub fn registry_options() -> Result<RegistryOptions> {
    let file = std::env::var_os("RCOMPOSE_REGISTRIES")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_REGISTRIES_FILE));
    RegistryOptions::load(Some(&file))
}

/// Runs an image command against the state root `root`; returns the exit code.
pub fn run(cmd: ImageCommand, root: &Path) -> Result<i32> {
    let store = ImageStore::open(root)?;
    let out = &mut std::io::stdout().lock();
    let w = |e: std::io::Error| ImageError::Io {
        action: "cannot write to",
        path: PathBuf::from("stdout"),
        source: e,
    };
    match cmd {
        ImageCommand::Ls(a) => ls(&store, &a, out).map_err(w)?,
        ImageCommand::Pull(a) => {
            let platform = parse_platform(a.platform.as_deref())?;
            pull(&store, &Reference::parse(&a.name)?, platform, a.quiet)?;
        }
        ImageCommand::Push(a) => {
            push(&store, &a.name, a.quiet)?;
        }
        ImageCommand::Rm(a) => {
            let mut code = 0;
            for img in &a.images {
                match ops::remove(&store, img, a.force) {
                    Ok(lines) => print_removed(out, &lines).map_err(w)?,
                    Err(e) => {
                        eprintln!("Error: {e}");
                        code = 1;
                    }
                }
            }
            return Ok(code);
        }
        ImageCommand::Inspect(a) => {
            let mut values = Vec::new();
            let mut code = 0;
            for img in &a.images {
                match store.resolve(img).and_then(|r| ops::inspect(&store, &r)) {
                    Ok(v) => values.push(v),
                    Err(e) => {
                        eprintln!("Error: {e}");
                        code = 1;
                    }
                }
            }
            match a.format.as_deref() {
                None | Some("json") => {
                    let s = serde_json::to_string_pretty(&values).unwrap_or_default();
                    writeln!(out, "{s}").map_err(w)?;
                }
                Some(t) => {
                    for v in &values {
                        writeln!(out, "{}", render_template(t, v)?).map_err(w)?;
                    }
                }
            }
            return Ok(code);
        }
        ImageCommand::Tag(a) => ops::tag(&store, &a.source, &Reference::parse(&a.target)?)?,
        ImageCommand::Save(a) => {
            let format = match a.format.as_str() {
                "docker" | "docker-archive" => Format::Docker,
                "oci" | "oci-archive" => Format::Oci,
                f => {
                    return Err(ImageError::Conflict {
                        message: format!("unknown archive format {f:?}: use docker or oci"),
                    })
                }
            };
            match &a.output {
                Some(path) => {
                    // Written next to the target and renamed: a failed save
                    // leaves no truncated archive behind.
                    let tmp = path.with_file_name(format!(
                        ".{}.tmp-{}",
                        path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default(),
                        std::process::id()
                    ));
                    let f = std::fs::File::create(&tmp).map_err(|e| ImageError::Io {
                        action: "cannot create",
                        path: tmp.clone(),
                        source: e,
                    })?;
                    let result =
                        archive::save(&store, &a.images, format, std::io::BufWriter::with_capacity(1 << 20, f));
                    if let Err(e) = result {
                        let _ = std::fs::remove_file(&tmp);
                        return Err(e);
                    }
                    std::fs::rename(&tmp, path).map_err(|e| ImageError::Io {
                        action: "cannot write",
                        path: path.clone(),
                        source: e,
                    })?;
                }
                None => {
                    if std::io::stdout().is_terminal() {
                        return Err(ImageError::Conflict {
                            message: "refusing to write an archive to a terminal: use -o FILE or redirect the output"
                                .into(),
                        });
                    }
                    archive::save(
                        &store,
                        &a.images,
                        format,
                        std::io::BufWriter::with_capacity(1 << 20, out),
                    )?;
                }
            }
        }
        ImageCommand::Load(a) => {
            let (input, name): (Box<dyn Read>, String) = match &a.input {
                Some(p) => (
                    Box::new(std::fs::File::open(p).map_err(|e| ImageError::Io {
                        action: "cannot open",
                        path: p.clone(),
                        source: e,
                    })?),
                    p.display().to_string(),
                ),
                None => (Box::new(std::io::stdin().lock()), "stdin".into()),
            };
            let loaded = archive::load(&store, input, &name)?;
            if !a.quiet {
                for l in loaded {
                    if l.names.is_empty() {
                        writeln!(out, "Loaded image ID: {}", l.id).map_err(w)?;
                    }
                    for n in l.names {
                        writeln!(out, "Loaded image: {}", n.familiar()).map_err(w)?;
                    }
                }
            }
        }
        ImageCommand::Import(a) => {
            let name = a.reference.as_deref().map(Reference::parse).transpose()?;
            let (input, src): (Box<dyn Read>, String) = if a.file == "-" {
                (Box::new(std::io::stdin().lock()), "-".into())
            } else if a.file.starts_with("http://") || a.file.starts_with("https://") {
                return Err(ImageError::Conflict {
                    message: format!(
                        "importing from a URL ({}) is not supported: download it first and import the file",
                        a.file
                    ),
                });
            } else {
                let p = PathBuf::from(&a.file);
                (
                    Box::new(std::fs::File::open(&p).map_err(|e| ImageError::Io {
                        action: "cannot open",
                        path: p.clone(),
                        source: e,
                    })?),
                    a.file.clone(),
                )
            };
            let id = ops::import(&store, input, &src, name.as_ref(), &a.change, a.message.as_deref())?;
            writeln!(out, "{id}").map_err(w)?;
        }
        ImageCommand::Prune(a) => {
            // Images that containers (of any project) were created from stay.
            let in_use: HashSet<crate::image::Digest> = crate::project::Engine::from_env()
                .ok()
                .and_then(|e| crate::project::inventory::all(&e).ok())
                .into_iter()
                .flat_map(|all| all.into_values().flatten())
                .filter_map(|c| c.label(crate::project::labels::IMAGE).and_then(|d| d.parse().ok()))
                .collect();
            let (removed, reclaimed) = ops::prune(&store, a.all, &in_use)?;
            if !removed.is_empty() {
                writeln!(out, "Deleted Images:").map_err(w)?;
                print_removed(out, &removed).map_err(w)?;
                writeln!(out).map_err(w)?;
            }
            writeln!(out, "Total reclaimed space: {}", human_size(reclaimed.bytes)).map_err(w)?;
        }
        ImageCommand::History(a) => {
            let r = store.resolve(&a.image)?;
            let image = store.load(&r.manifest.digest)?;
            let rows = ops::history(&image);
            if a.format.as_deref() == Some("json") {
                for row in &rows {
                    writeln!(out, "{}", serde_json::to_string(row).unwrap_or_default()).map_err(w)?;
                }
            } else if a.quiet {
                for row in &rows {
                    writeln!(out, "{}", short_id(&row.id, a.no_trunc)).map_err(w)?;
                }
            } else {
                let mut table = vec![vec![
                    "IMAGE".to_string(),
                    "CREATED".into(),
                    "CREATED BY".into(),
                    "SIZE".into(),
                    "COMMENT".into(),
                ]];
                for row in &rows {
                    let mut by = row.created_by.clone();
                    if !a.no_trunc && by.chars().count() > 45 {
                        by = by.chars().take(44).collect::<String>() + "…";
                    }
                    table.push(vec![
                        short_id(&row.id, a.no_trunc),
                        if a.human {
                            ago(row.created.as_deref())
                        } else {
                            row.created.clone().unwrap_or_default()
                        },
                        by,
                        if a.human {
                            human_size(row.size)
                        } else {
                            row.size.to_string()
                        },
                        row.comment.clone(),
                    ]);
                }
                print_table(out, &table).map_err(w)?;
            }
        }
    }
    Ok(0)
}

fn parse_platform(s: Option<&str>) -> Result<Option<Platform>> {
    s.map(|p| {
        Platform::parse(p).ok_or_else(|| ImageError::Conflict {
            message: format!("invalid platform {p:?}: use os/arch[/variant], e.g. linux/arm64"),
        })
    })
    .transpose()
}

/// Pulls one image with Docker-style output on stdout (the full name only
/// with `quiet`). The project's `pull` calls this per service image.
pub fn pull(store: &ImageStore, reference: &Reference, platform: Option<Platform>, quiet: bool) -> Result<Pulled> {
    let opts = PullOptions {
        platform,
        registry: registry_options()?,
        ..PullOptions::default()
    };
    let progress: pull::Progress = if quiet {
        pull::no_progress()
    } else {
        Arc::new(|e: &PullEvent| {
            let mut out = std::io::stdout().lock();
            let _ = match e {
                PullEvent::Resolving { tag, repository } => writeln!(out, "{tag}: Pulling from {repository}"),
                // Byte counts are for progress bars; lines show state changes.
                PullEvent::Layer {
                    status: LayerStatus::Downloading { .. },
                    ..
                } => Ok(()),
                PullEvent::Layer { id, status } => writeln!(out, "{id}: {}", status.text()),
                PullEvent::Digest(d) => writeln!(out, "Digest: {d}"),
            };
        })
    };
    let pulled = pull::pull(store, reference, &opts, progress)?;
    let mut out = std::io::stdout().lock();
    if !quiet {
        let status = if pulled.updated {
            "Downloaded newer image for"
        } else {
            "Image is up to date for"
        };
        let _ = writeln!(out, "Status: {status} {}", reference.familiar());
    }
    let _ = writeln!(out, "{reference}");
    Ok(pulled)
}

/// Pushes one local image to the registry its name says.
pub fn push(store: &ImageStore, name: &str, quiet: bool) -> Result<crate::image::Digest> {
    let target = Reference::parse(name)?;
    let opts = PushOptions {
        registry: registry_options()?,
        ..PushOptions::default()
    };
    if !quiet {
        println!("The push refers to repository [{}]", target.repository());
    }
    let progress: push::PushProgress = if quiet {
        Arc::new(|_| {})
    } else {
        Arc::new(|e: &PushEvent| {
            let mut out = std::io::stdout().lock();
            let _ = match e {
                PushEvent::Blob { id, status } => writeln!(out, "{id}: {}", status.text()),
                PushEvent::Done { tag, digest, size } => writeln!(out, "{tag}: digest: {digest} size: {size}"),
            };
        })
    };
    let d = push::push(store, name, &target, &opts, progress)?;
    if quiet {
        println!("{target}");
    }
    Ok(d)
}

/// `rcompose login`: checks the credentials against the registry, then
/// stores them in Docker's config.json.
pub fn login(args: &LoginArgs) -> Result<i32> {
    let server = args
        .server
        .clone()
        .unwrap_or_else(|| crate::image::reference::DOCKER_HUB.to_string());
    let domain = server
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let domain = if domain == "index.docker.io" || domain.starts_with("index.docker.io/") {
        "docker.io".to_string()
    } else {
        domain
    };
    let username = match &args.username {
        Some(u) => u.clone(),
        None => prompt("Username: ")?,
    };
    let password = if args.password_stdin {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).map_err(|e| ImageError::Io {
            action: "cannot read",
            path: "stdin".into(),
            source: e,
        })?;
        s.trim_end_matches(['\n', '\r']).to_string()
    } else if let Some(p) = &args.password {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
        p.clone()
    } else {
        prompt("Password: ")?
    };
    let creds = Credentials { username, password };
    let opts = registry_options()?;
    // Any repository name will do for GET /v2/: scope-less tokens are enough.
    let probe = Reference::parse(&format!("{domain}/library/rcompose-login-probe"))
        .or_else(|_| Reference::parse(&format!("{domain}/rcompose-login-probe")))?;
    let base = opts.endpoints(&domain).into_iter().last().unwrap_or_default();
    let client = Client::new(registry::http_client()?, &probe, &base, &opts, Access::Pull)?
        .with_credentials(Some(creds.clone()));
    pull::runtime()?.block_on(client.ping())?;
    let path = opts
        .docker_config
        .clone()
        .or_else(default_docker_config)
        .ok_or_else(|| ImageError::Config {
            path: PathBuf::from("~/.docker/config.json"),
            reason: "HOME is not set; set DOCKER_CONFIG to choose where credentials are stored".into(),
        })?;
    let mut cfg = DockerConfig::read(&path)?;
    cfg.set(&domain, &creds);
    cfg.write(&path)?;
    println!("Login Succeeded");
    Ok(0)
}

/// `rcompose logout`: forgets the stored credentials.
pub fn logout(args: &LogoutArgs) -> Result<i32> {
    let server = args
        .server
        .clone()
        .unwrap_or_else(|| crate::image::reference::DOCKER_HUB.to_string());
    let domain = server
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let Some(path) = default_docker_config() else {
        return Ok(0);
    };
    let mut cfg = DockerConfig::read(&path)?;
    if cfg.remove(&domain) {
        cfg.write(&path)?;
        println!("Removing login credentials for {domain}");
    } else {
        println!("Not logged in to {domain}");
    }
    Ok(0)
}

fn prompt(label: &str) -> Result<String> {
    if !std::io::stdin().is_terminal() {
        return Err(ImageError::Conflict {
            message: format!(
                "{} needed but STDIN is not a terminal: pass --username / --password-stdin",
                label.trim_end_matches(": ")
            ),
        });
    }
    eprint!("{label}");
    let mut s = String::new();
    std::io::stdin().read_line(&mut s).map_err(|e| ImageError::Io {
        action: "cannot read",
        path: "stdin".into(),
        source: e,
    })?;
    Ok(s.trim_end_matches(['\n', '\r']).to_string())
}

fn print_removed(out: &mut impl Write, lines: &[Removed]) -> std::io::Result<()> {
    for l in lines {
        match l {
            Removed::Untagged(n) => writeln!(out, "Untagged: {n}")?,
            Removed::Deleted(d) => writeln!(out, "Deleted: {d}")?,
        }
    }
    Ok(())
}

/// One `image ls` row.
#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct LsRow {
    repository: String,
    tag: String,
    digest: String,
    #[serde(rename = "ID")]
    id: String,
    created_since: String,
    created_at: String,
    size: String,
}

fn ls(store: &ImageStore, a: &LsArgs, out: &mut impl Write) -> std::io::Result<()> {
    let images = store.images().unwrap_or_default();
    let mut dangling_filter = None;
    let mut patterns = Vec::new();
    for f in &a.filter {
        match f.split_once('=') {
            Some(("dangling", v)) => dangling_filter = Some(v == "true"),
            Some(("reference", v)) => patterns.push(v.to_string()),
            _ => eprintln!("warning: filter {f:?} is not supported (dangling=, reference= are); ignored"),
        }
    }
    let repo_filter = a
        .repository
        .as_deref()
        .and_then(|r| Reference::parse_unnormalized(r).ok());
    let mut rows = Vec::new();
    let mut seen_ids = HashSet::new();
    for r in &images {
        if let Some(d) = dangling_filter {
            if d != r.name.is_none() {
                continue;
            }
        }
        if let Some(f) = &repo_filter {
            let Some(n) = &r.name else { continue };
            if n.repository() != f.repository() || (f.tag().is_some() && n.tag() != f.tag()) {
                continue;
            }
        }
        if !patterns.is_empty() {
            let Some(n) = &r.name else { continue };
            if !patterns
                .iter()
                .any(|p| glob_match(p, &n.familiar()) || glob_match(p, &n.familiar_repository()))
            {
                continue;
            }
        }
        let Ok(image) = store.load(&r.manifest.digest) else {
            continue;
        };
        let id = image.id().to_string();
        if a.quiet {
            if seen_ids.insert(id.clone()) {
                writeln!(out, "{}", short_id(&id, a.no_trunc))?;
            }
            continue;
        }
        rows.push(row(r, &image, a.no_trunc));
    }
    if a.quiet {
        return Ok(());
    }
    if a.format.as_deref() == Some("json") {
        for row in rows {
            writeln!(out, "{}", serde_json::to_string(&row).unwrap_or_default())?;
        }
        return Ok(());
    }
    let mut header = vec!["REPOSITORY".to_string(), "TAG".into()];
    if a.digests {
        header.push("DIGEST".into());
    }
    header.extend(["IMAGE ID".to_string(), "CREATED".into(), "SIZE".into()]);
    let mut table = vec![header];
    for r in rows {
        let mut line = vec![r.repository, r.tag];
        if a.digests {
            line.push(r.digest);
        }
        line.extend([r.id, r.created_since, r.size]);
        table.push(line);
    }
    print_table(out, &table)
}

fn row(r: &ImageRecord, image: &crate::image::store::Image, no_trunc: bool) -> LsRow {
    let (repository, tag) = match &r.name {
        Some(n) => (n.familiar_repository(), n.tag().unwrap_or("<none>").to_string()),
        None => ("<none>".into(), "<none>".into()),
    };
    LsRow {
        repository,
        tag,
        digest: r
            .repo_digest
            .as_ref()
            .map(|d| d.to_string())
            .unwrap_or_else(|| "<none>".into()),
        id: short_id(&image.id().to_string(), no_trunc),
        created_since: ago(image.config.created.as_deref()),
        created_at: image.config.created.clone().unwrap_or_default(),
        size: human_size(image.size()),
    }
}

fn short_id(id: &str, no_trunc: bool) -> String {
    if no_trunc || id == "<missing>" {
        return id.to_string();
    }
    id.strip_prefix("sha256:").unwrap_or(id).chars().take(12).collect()
}

/// `*` matches any run of characters (as Docker's reference filter).
fn glob_match(pattern: &str, s: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == s;
    }
    let mut rest = s;
    for (i, p) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(p) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(p);
        } else {
            match rest.find(p) {
                Some(at) => rest = &rest[at + p.len()..],
                None => return false,
            }
        }
    }
    true
}

fn print_table(out: &mut impl Write, rows: &[Vec<String>]) -> std::io::Result<()> {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for r in rows {
        let mut line = String::new();
        for (c, cell) in r.iter().enumerate() {
            line.push_str(cell);
            if c + 1 < r.len() {
                line.push_str(&" ".repeat(widths[c] - cell.chars().count() + 3));
            }
        }
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// Sizes as Docker prints them (decimal units).
pub fn human_size(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{b}B")
    } else {
        format!("{:.3}", v)
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
            + UNITS[u]
    }
}

/// "2 weeks ago" for an RFC 3339 time.
fn ago(created: Option<&str>) -> String {
    let Some(t) = created.and_then(ops::parse_rfc3339) else {
        return "N/A".into();
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let s = (now - t).max(0);
    let (n, unit) = match s {
        0..=59 => return "Less than a minute ago".into(),
        60..=3599 => (s / 60, "minute"),
        3600..=86_399 => (s / 3600, "hour"),
        86_400..=1_209_599 => (s / 86_400, "day"),
        1_209_600..=5_183_999 => (s / 604_800, "week"),
        5_184_000..=63_071_999 => (s / 2_592_000, "month"),
        _ => (s / 31_536_000, "year"),
    };
    if n == 1 {
        format!("{} {unit} ago", if unit == "hour" { "About an" } else { "1" })
    } else {
        format!("{n} {unit}s ago")
    }
}

/// A small subset of Go templates for `inspect --format`: `{{.A.B}}` and
/// `{{json .A}}`, with literal text around them.
fn render_template(t: &str, v: &serde_json::Value) -> Result<String> {
    let mut out = String::new();
    let mut rest = t;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or_else(|| ImageError::Conflict {
            message: format!("template {t:?} has an unclosed {{{{"),
        })?;
        let expr = after[..end].trim();
        let (json, path) = match expr.strip_prefix("json ") {
            Some(p) => (true, p.trim()),
            None => (false, expr),
        };
        let path = path.strip_prefix('.').ok_or_else(|| ImageError::Conflict {
            message: format!(
                "template expression {expr:?} is not supported: use {{{{.Field}}}} or {{{{json .Field}}}}"
            ),
        })?;
        let mut cur = v;
        for key in path.split('.').filter(|k| !k.is_empty()) {
            cur = cur.get(key).unwrap_or(&serde_json::Value::Null);
        }
        match cur {
            serde_json::Value::String(s) if !json => out.push_str(s),
            serde_json::Value::Null if !json => out.push_str("<no value>"),
            other => out.push_str(&other.to_string()),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_docker() {
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(1_088_476), "1.088MB");
        assert_eq!(human_size(74_431_299), "74.431MB");
        assert_eq!(short_id("sha256:0123456789abcdef", false), "0123456789ab");
        assert!(glob_match("busy*", "busybox:latest"));
        assert!(glob_match("*box*", "busybox:latest"));
        assert!(!glob_match("redis*", "busybox:latest"));
        let v = serde_json::json!({"Id": "sha256:x", "Config": {"Cmd": ["sh"]}});
        assert_eq!(
            render_template("{{.Id}} {{json .Config.Cmd}}", &v).unwrap(),
            "sha256:x [\"sh\"]"
        );
        assert_eq!(render_template("{{.Nope}}", &v).unwrap(), "<no value>");
        assert!(render_template("{{.Id", &v).is_err());
    }
}
