//! `load()`: the loader phases of `mod.rs`, called in order.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use indexmap::IndexMap;

use super::diag::{Diag, SourceMap, Span};
use super::model::Project;
use super::yaml::{Key, Node, Value};
use super::{discover, dotenv, extends, include, interpolate, merge, normalize, profiles, schema, validate};

/// Everything the command line (or a test) says about what to load.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// `-f` files in order; `-` is standard input. Empty: `COMPOSE_FILE` or discovery.
    pub files: Vec<PathBuf>,
    /// The text behind `-f -`.
    pub stdin: Option<String>,
    pub project_name: Option<String>,
    pub project_directory: Option<PathBuf>,
    /// `--env-file`; empty: `COMPOSE_ENV_FILES`, else `.env` in the project directory.
    pub env_files: Vec<PathBuf>,
    /// `--profile`; empty: `COMPOSE_PROFILES`.
    pub profiles: Vec<String>,
    /// Services named on the command line: they are enabled whatever their profiles.
    pub services: Vec<String>,
    pub no_interpolate: bool,
    /// `--no-normalize`: stop after merge and print the tree as merged.
    pub no_normalize: bool,
    /// `config --no-consistency`: skip the checks across the model
    /// (references between services, networks, volumes, …).
    pub no_consistency: bool,
    /// The process environment (always wins over `.env`).
    pub env: HashMap<String, String>,
    pub cwd: PathBuf,
    pub home: Option<PathBuf>,
}

impl LoadOptions {
    /// Options for the current process: its environment, directory and `$HOME`.
    pub fn from_process() -> std::io::Result<LoadOptions> {
        let env: HashMap<String, String> = std::env::vars().collect();
        let home = env.get("HOME").map(PathBuf::from);
        Ok(LoadOptions {
            env,
            home,
            cwd: std::env::current_dir()?,
            ..LoadOptions::default()
        })
    }
}

/// A loaded project and what was learned on the way.
#[derive(Debug)]
pub struct Loaded {
    /// `None` only with `--no-normalize`, where no typed model is built.
    pub project: Option<Project>,
    /// The final tree (canonical unless `--no-normalize`), for printing and spans.
    pub tree: Node,
    pub name: String,
    pub project_dir: PathBuf,
    pub files: Vec<PathBuf>,
    /// The environment the files were interpolated with (the process's
    /// over the env files'): `environment:` secrets and configs read it.
    pub environment: BTreeMap<String, String>,
    /// Every profile mentioned in the files, before profile filtering.
    pub all_profiles: Vec<String>,
    pub warnings: Vec<Diag>,
    pub sources: SourceMap,
}

/// Why a load failed: every error found, plus the text to quote them from.
#[derive(Debug)]
pub struct LoadError {
    pub diags: Vec<Diag>,
    pub sources: SourceMap,
}

impl LoadError {
    pub fn render(&self) -> String {
        super::diag::render_plain(&self.diags, &self.sources)
    }
}

pub fn load(opts: &LoadOptions) -> Result<Loaded, LoadError> {
    let mut cx = Loader {
        opts,
        sources: SourceMap::default(),
        diags: Vec::new(),
    };
    match cx.run() {
        Some(loaded) if !cx.diags.iter().any(Diag::is_error) => {
            let Loader { sources, diags, .. } = cx;
            Ok(Loaded {
                warnings: diags,
                sources,
                ..loaded
            })
        }
        _ => Err(LoadError {
            diags: cx.diags,
            sources: cx.sources,
        }),
    }
}

struct Loader<'a> {
    opts: &'a LoadOptions,
    sources: SourceMap,
    diags: Vec<Diag>,
}

/// What `.env` and the process say, looked up as the process environment
/// first, then the env files (Docker Compose's precedence).
struct Environment<'a> {
    process: &'a HashMap<String, String>,
    dotenv: IndexMap<String, String>,
}

impl Environment<'_> {
    fn get(&self, key: &str) -> Option<String> {
        self.process.get(key).or_else(|| self.dotenv.get(key)).cloned()
    }

    /// Every variable, the process's winning.
    fn merged(&self) -> BTreeMap<String, String> {
        let mut all: BTreeMap<String, String> = self.dotenv.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        all.extend(self.process.iter().map(|(k, v)| (k.clone(), v.clone())));
        all
    }
}

impl<'a> Loader<'a> {
    fn error(&mut self, message: impl Into<String>, help: impl Into<String>) {
        self.diags.push(Diag::error(Span::NONE, message).with_help(help));
    }

    /// Keep the diagnostics; say whether any of them is an error.
    fn absorb(&mut self, diags: Vec<Diag>) -> bool {
        let failed = diags.iter().any(Diag::is_error);
        self.diags.extend(diags);
        failed
    }

    fn run(&mut self) -> Option<Loaded> {
        let opts = self.opts;
        // 1. discover — COMPOSE_* may also come from a `.env` in the working
        // directory, as Docker Compose reads it before it knows the files.
        let early_dir = opts.project_directory.clone().unwrap_or_else(|| opts.cwd.clone());
        let early_env = self.read_env_files(&self.default_env_files(&early_dir), opts)?;
        let setting = |k: &str| early_env.get(k);
        let files = self.compose_files(&setting)?;
        let project_dir = discover::project_directory(opts.project_directory.as_deref(), &files, &opts.cwd);

        // 2. environment of the project
        let env_files = self.default_env_files(&project_dir);
        let env = self.read_env_files(&env_files, opts)?;
        let lookup = |k: &str| env.get(k);

        // 3. each file on its own
        let mut trees = Vec::new();
        for file in &files {
            if let Some(tree) = self.load_file(file, &project_dir, &lookup) {
                trees.push(tree);
            }
        }
        // Errors so far are kept; the phases below still run on what was
        // valid so that one pass reports everything (load() fails at the end).

        // 4. merge in order (the first file's `!reset` tags are resolved
        // too, as if merged onto nothing), then include
        let mut trees = trees.into_iter();
        let first = trees.next().and_then(merge::resolve_tags)?;
        let mut root = trees.fold(first, merge::merge);
        let inc = include::apply(&mut root, &mut |entry| self.load_included(entry, &lookup));
        self.absorb(inc);

        // 5. profiles
        let all_profiles = profiles::all_profiles(&root);
        let active = if opts.profiles.is_empty() {
            discover::split_env_list(&env.get("COMPOSE_PROFILES").unwrap_or_default())
        } else {
            opts.profiles.clone()
        };
        let prof = profiles::apply(&mut root, &active, &opts.services);
        self.absorb(prof);

        let name_in_file = root.get("name").and_then(|n| n.scalar_text());
        let name = match discover::project_name(
            opts.project_name.as_deref(),
            env.get("COMPOSE_PROJECT_NAME").as_deref(),
            name_in_file.as_deref(),
            &project_dir,
        ) {
            Ok(n) => n,
            Err(msg) => {
                let span = root.get("name").map(|n| n.span).unwrap_or(Span::NONE);
                self.diags
                    .push(Diag::error(span, msg).with_help("choose another name with -p or `name:`"));
                return None;
            }
        };

        let mut loaded = Loaded {
            project: None,
            tree: Node::null(Span::NONE),
            name: name.clone(),
            project_dir,
            files,
            environment: env.merged(),
            all_profiles,
            warnings: Vec::new(),
            sources: SourceMap::default(),
        };
        if opts.no_normalize {
            set_name(&mut root, &name);
            loaded.tree = root;
            return Some(loaded);
        }

        // 6. finalize, with env_file folded into environment
        let fin = normalize::finalize(&mut root, &name);
        self.absorb(fin);
        self.fold_env_files(&mut root, &lookup);
        if opts.no_interpolate {
            // Values such as `${PORT:-8080}:80` are not values yet: the
            // typed model and the checks on it wait for interpolation.
            loaded.tree = root;
            return Some(loaded);
        }

        // 7. model, 8. semantic validation
        let project = match Project::from_tree(&root) {
            Ok(p) => p,
            Err(diags) => {
                self.diags.extend(diags);
                return None;
            }
        };
        if !opts.no_consistency {
            self.absorb(validate::check(&project, &root));
        }
        loaded.project = Some(project);
        loaded.tree = root;
        Some(loaded)
    }

    /// `-f`, else `COMPOSE_FILE`, else discovery upward from the working directory.
    fn compose_files(&mut self, setting: &dyn Fn(&str) -> Option<String>) -> Option<Vec<PathBuf>> {
        let opts = self.opts;
        let base = opts.project_directory.as_deref().unwrap_or(&opts.cwd);
        if !opts.files.is_empty() {
            return Some(opts.files.iter().map(|f| absolute(&opts.cwd, f)).collect());
        }
        if let Some(v) = setting("COMPOSE_FILE").filter(|v| !v.is_empty()) {
            let sep = setting("COMPOSE_PATH_SEPARATOR");
            return Some(
                discover::split_compose_file_env(&v, sep.as_deref())
                    .iter()
                    .map(|f| absolute(base, f))
                    .collect(),
            );
        }
        match discover::find_compose_files(base) {
            Ok(found) => {
                for w in found.warnings {
                    self.diags.push(Diag::warning(Span::NONE, w));
                }
                Some(found.files)
            }
            Err(e) => {
                self.diags.push(e.into_diag());
                None
            }
        }
    }

    fn default_env_files(&self, project_dir: &Path) -> Vec<(PathBuf, bool)> {
        let opts = self.opts;
        if !opts.env_files.is_empty() {
            return opts.env_files.iter().map(|f| (absolute(&opts.cwd, f), true)).collect();
        }
        if let Some(list) = opts.env.get("COMPOSE_ENV_FILES").filter(|v| !v.is_empty()) {
            return discover::split_env_list(list)
                .iter()
                .map(|f| (absolute(&opts.cwd, Path::new(f)), true))
                .collect();
        }
        vec![(project_dir.join(".env"), false)]
    }

    /// Read env files in order (later ones win) under the process environment.
    fn read_env_files(&mut self, files: &[(PathBuf, bool)], opts: &'a LoadOptions) -> Option<Environment<'a>> {
        let mut values = IndexMap::new();
        for (path, required) in files {
            let text = match std::fs::read_to_string(path) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => continue,
                Err(e) => {
                    self.error(
                        format!("cannot read env file {}: {e}", path.display()),
                        "check the path given to --env-file or COMPOSE_ENV_FILES",
                    );
                    return None;
                }
            };
            let file = self.sources.add(path, &text);
            let lookup = |k: &str| opts.env.get(k).cloned().or_else(|| values.get(k).cloned());
            match dotenv::parse(&text, file, &lookup) {
                Ok(parsed) => values.extend(parsed),
                Err(diags) => {
                    self.diags.extend(diags);
                    return None;
                }
            }
        }
        Some(Environment {
            process: &opts.env,
            dotenv: values,
        })
    }

    /// Read → interpolate → check structure → canonicalize → extends, for one file.
    fn load_file(&mut self, path: &Path, working_dir: &Path, lookup: &dyn Fn(&str) -> Option<String>) -> Option<Node> {
        let mut root = self.parse_checked(path, lookup)?;
        // Values that cannot be normalized are reported and dropped, for the
        // same reason.
        let canon = normalize::canonicalize(&mut root, working_dir, self.opts.home.as_deref());
        self.absorb(canon);
        let mut chain = vec![path.to_path_buf()];
        let ext = extends::apply(&mut root, &mut |other, span| {
            self.load_extended(other, span, lookup, &mut chain)
        });
        if self.absorb(ext) {
            return None;
        }
        Some(root)
    }

    /// A file named by `extends.file`: canonical relative to its own directory.
    fn load_extended(
        &mut self,
        path: &Path,
        span: Span,
        lookup: &dyn Fn(&str) -> Option<String>,
        chain: &mut Vec<PathBuf>,
    ) -> Result<Node, Vec<Diag>> {
        if chain.len() > 64 {
            return Err(vec![Diag::error(span, "extends files nest more than 64 deep")
                .with_help("look for files that extend each other in a loop")]);
        }
        let before = self.diags.len();
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let Some(mut root) = self.parse_checked(path, lookup) else {
            let mut diags = self.diags.split_off(before);
            if diags.is_empty() {
                diags.push(Diag::error(span, format!("cannot load {}", path.display())));
            }
            return Err(diags);
        };
        let mut diags = normalize::canonicalize(&mut root, &dir, self.opts.home.as_deref());
        chain.push(path.to_path_buf());
        diags.extend(extends::apply(&mut root, &mut |p, s| {
            self.load_extended(p, s, lookup, chain)
        }));
        chain.pop();
        if diags.iter().any(Diag::is_error) {
            return Err(diags);
        }
        self.diags.extend(diags);
        Ok(root)
    }

    /// Read, parse, interpolate and schema-check one file; diagnostics are kept.
    fn parse_checked(&mut self, path: &Path, lookup: &dyn Fn(&str) -> Option<String>) -> Option<Node> {
        let stdin = path == Path::new("-");
        let text = if stdin {
            self.opts.stdin.clone().unwrap_or_default()
        } else {
            match std::fs::read_to_string(path) {
                Ok(t) => t,
                Err(e) => {
                    self.error(
                        format!("cannot read compose file {}: {e}", path.display()),
                        "check the path given with -f or COMPOSE_FILE",
                    );
                    return None;
                }
            }
        };
        let display = if stdin { Path::new("<stdin>") } else { path };
        let file = self.sources.add(display, &text);
        let mut root = match super::yaml::parse(&text, file) {
            Ok(r) => r,
            Err(d) => {
                self.diags.push(d);
                return None;
            }
        };
        if root.is_null() {
            self.diags.push(
                Diag::error(root.span, format!("{} is empty", display.display()))
                    .with_help("a Compose file needs at least a `services` section"),
            );
            return None;
        }
        if !self.opts.no_interpolate && self.absorb(interpolate::interpolate_tree(&mut root, lookup)) {
            return None;
        }
        // Structural errors are kept and their nodes pruned, so the later
        // phases still run and report their own problems in this same pass.
        self.absorb(schema::validate_and_prune(&mut root));
        if let Some((k, _)) = root.as_map().and_then(|m| m.get_key_value("version")) {
            self.diags.push(
                Diag::warning(k.span, "the attribute `version` is obsolete, it will be ignored")
                    .with_help("remove it to avoid potential confusion")
                    .brief(),
            );
        }
        Some(root)
    }

    /// An `include` entry: a whole project loaded on its own, not finalized.
    fn load_included(
        &mut self,
        entry: &include::IncludeEntry,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Node, Vec<Diag>> {
        let before = self.diags.len();
        let dir = entry
            .project_directory
            .clone()
            .or_else(|| entry.paths.first().and_then(|p| p.parent().map(Path::to_path_buf)))
            .unwrap_or_else(|| self.opts.cwd.clone());
        // The included project's own env files, under the including one's environment.
        let mut extra = IndexMap::new();
        for f in &entry.env_files {
            match std::fs::read_to_string(f) {
                Ok(text) => {
                    let id = self.sources.add(f, &text);
                    match dotenv::parse(&text, id, lookup) {
                        Ok(v) => extra.extend(v),
                        Err(d) => return Err(d),
                    }
                }
                Err(e) => {
                    return Err(vec![Diag::error(
                        entry.span,
                        format!("cannot read env file {}: {e}", f.display()),
                    )])
                }
            }
        }
        let inner = |k: &str| lookup(k).or_else(|| extra.get(k).cloned());
        let mut trees = Vec::new();
        for p in &entry.paths {
            if let Some(t) = self.load_file(p, &dir, &inner) {
                trees.push(t);
            }
        }
        let failed = self.diags[before..].iter().any(Diag::is_error);
        if failed || trees.is_empty() {
            let mut diags = self.diags.split_off(before);
            if diags.is_empty() {
                diags.push(Diag::error(entry.span, "the included project has no files"));
            }
            return Err(diags);
        }
        let mut root = trees
            .into_iter()
            .reduce(merge::merge)
            .unwrap_or_else(|| Node::null(entry.span));
        let nested = include::apply(&mut root, &mut |e| self.load_included(e, &inner));
        if nested.iter().any(Diag::is_error) {
            return Err(nested);
        }
        self.diags.extend(nested);
        Ok(root)
    }

    /// Fold each service's `env_file` into its `environment` (explicit
    /// `environment` entries win) and resolve `KEY` entries with no value from
    /// the environment, as `docker compose config` shows them.
    fn fold_env_files(&mut self, root: &mut Node, lookup: &dyn Fn(&str) -> Option<String>) -> bool {
        let Some(services) = root.get_mut("services").and_then(Node::as_map_mut) else {
            return true;
        };
        let mut ok = true;
        for svc in services.values_mut() {
            let Some(map) = svc.as_map_mut() else {
                continue;
            };
            let mut from_files: IndexMap<String, String> = IndexMap::new();
            if let Some(files) = map.shift_remove("env_file") {
                for entry in files.as_seq().into_iter().flatten() {
                    let Some(path) = entry.get("path").and_then(Node::as_str) else {
                        continue;
                    };
                    let required = entry.get("required").and_then(Node::as_bool).unwrap_or(true);
                    let format = entry.get("format").and_then(Node::as_str);
                    if let Some(f) = format.filter(|f| *f != "raw") {
                        self.diags.push(
                            Diag::error(entry.span, format!("env_file {path}: unsupported format {f:?}"))
                                .with_help("leave `format` out (the .env syntax) or use `format: raw`"),
                        );
                        ok = false;
                        continue;
                    }
                    match std::fs::read_to_string(path) {
                        Ok(text) if format == Some("raw") => {
                            // Each KEY=VALUE line as written: no quotes
                            // removed, nothing interpolated.
                            self.sources.add(Path::new(path), &text);
                            for line in text.lines() {
                                if line.trim().is_empty() || line.trim_start().starts_with('#') {
                                    continue;
                                }
                                match line.split_once('=') {
                                    Some((k, v)) => {
                                        from_files.insert(k.trim().to_string(), v.to_string());
                                    }
                                    None => {
                                        let k = line.trim();
                                        if let Some(v) = lookup(k) {
                                            from_files.insert(k.to_string(), v);
                                        }
                                    }
                                }
                            }
                        }
                        Ok(text) => {
                            let id = self.sources.add(Path::new(path), &text);
                            let inner = |k: &str| from_files.get(k).cloned().or_else(|| lookup(k));
                            match dotenv::parse(&text, id, &inner) {
                                Ok(v) => from_files.extend(v),
                                Err(d) => {
                                    self.diags.extend(d);
                                    ok = false;
                                }
                            }
                        }
                        Err(_) if !required => {}
                        Err(e) => {
                            self.diags.push(
                                Diag::error(entry.span, format!("env file {path} not found: {e}"))
                                    .with_help("create the file, or mark it `required: false`"),
                            );
                            ok = false;
                        }
                    }
                }
            }
            let span = svc.span;
            let Some(map) = svc.as_map_mut() else {
                continue;
            };
            let env_node = map
                .entry(Key::new("environment", span))
                .or_insert_with(|| Node::map(Default::default(), span));
            let Some(env) = env_node.as_map_mut() else {
                continue;
            };
            for (k, v) in from_files {
                env.entry(Key::new(k, span)).or_insert_with(|| Node::string(v, span));
            }
            for (k, v) in env.iter_mut() {
                if v.is_null() {
                    if let Some(val) = lookup(&k.name) {
                        v.value = Value::String(val);
                    }
                }
            }
            env.sort_by(|a, _, b, _| a.name.cmp(&b.name));
            if env.is_empty() {
                map.shift_remove("environment");
            }
        }
        ok
    }
}

fn set_name(root: &mut Node, name: &str) {
    if let Some(m) = root.as_map_mut() {
        let span = m.get("name").map(|n| n.span).unwrap_or(Span::NONE);
        m.shift_remove("name");
        m.shift_insert(0, Key::new("name", span), Node::string(name, span));
    }
}

fn absolute(base: &Path, p: &Path) -> PathBuf {
    if p == Path::new("-") || p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}
