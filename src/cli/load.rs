//! Loading the project a command acts on, and the engine it acts with.

use crate::compose::{self, model::Project};
use crate::project::{Engine, ProjectError, Target};

use super::report::{Failure, Output};
use super::GlobalArgs;

/// Loads the Compose files (diagnostics printed). With `by_name`, a missing
/// file is fine when `-p` names the project: commands such as `down` and
/// `ps` then work from the containers' labels alone, as Docker Compose does.
pub fn target(global: &GlobalArgs, services: &[String], by_name: bool, out: &Output) -> Result<Target, Failure> {
    let opts = global.load_options(services).map_err(|e| out.error(&e.to_string()))?;
    huge_pages_for_large_projects(&opts);
    match compose::load(&opts) {
        Ok(loaded) => {
            out.diagnostics(&loaded.warnings, &loaded.sources);
            let project = loaded
                .project
                .ok_or_else(|| out.error("the project could not be read into its model"))?;
            Ok(Target {
                project,
                name: loaded.name,
                working_dir: loaded.project_dir,
                config_files: loaded.files,
                environment: loaded.environment,
                all_resources: global.all_resources,
            })
        }
        Err(e) => {
            let missing = e
                .diags
                .iter()
                .any(|d| d.message.contains("no configuration file provided"));
            // `-p`, else `COMPOSE_PROJECT_NAME`, as Docker Compose falls back
            // to it; an empty value names nothing.
            let named = global
                .project_name
                .clone()
                .or_else(|| opts.env.get("COMPOSE_PROJECT_NAME").cloned())
                .filter(|n| !n.is_empty());
            match (named, by_name && missing && global.files.is_empty()) {
                (Some(name), true) => {
                    // The name becomes paths (the project's lock) and label
                    // filters: it is checked here as the loader checks it.
                    compose::discover::check_project_name(&name).map_err(|msg| out.error(&msg))?;
                    Ok(Target {
                        project: Project::default(),
                        name,
                        working_dir: opts.cwd.clone(),
                        config_files: Vec::new(),
                        environment: Default::default(),
                        all_resources: global.all_resources,
                    })
                }
                _ => {
                    out.diagnostics(&e.diags, &e.sources);
                    Err(Failure::Reported)
                }
            }
        }
    }
}

/// Compose files of at least this many bytes load with huge pages.
const LARGE_PROJECT_BYTES: u64 = 64 * 1024;

/// Turns huge pages back on while a large project loads (runtime::thp):
/// its heap grows by tens of megabytes, and 2 MB pages save most of the
/// page faults. The main files' sizes decide (included and extended files
/// are not counted: they rarely make a small project large).
pub fn huge_pages_for_large_projects(opts: &compose::LoadOptions) {
    let from_env = opts.env.get("COMPOSE_FILE").filter(|v| !v.is_empty()).map(|v| {
        let sep = opts.env.get("COMPOSE_PATH_SEPARATOR").map(String::as_str);
        compose::discover::split_compose_file_env(v, sep)
    });
    let files = if let Some(files) = from_env.filter(|_| opts.files.is_empty()) {
        files.iter().map(|f| opts.cwd.join(f)).collect()
    } else if opts.files.is_empty() {
        let dir = opts.project_directory.as_deref().unwrap_or(&opts.cwd);
        match compose::discover::find_compose_files(dir) {
            Ok(found) => found.files,
            Err(_) => return,
        }
    } else {
        opts.files.iter().map(|f| opts.cwd.join(f)).collect()
    };
    let mut bytes = opts.stdin.as_ref().map_or(0, |s| s.len() as u64);
    bytes += files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum::<u64>();
    if bytes >= LARGE_PROJECT_BYTES {
        crate::runtime::thp::allow_for_this_process();
    }
}

pub fn engine(out: &Output) -> Result<Engine, Failure> {
    Engine::from_env().map_err(|e| out.error(&e.to_string()))
}

/// Prints a project error once.
pub fn fail(out: &Output, e: ProjectError) -> Failure {
    out.error(&e.to_string())
}
