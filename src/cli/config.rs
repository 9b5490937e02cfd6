//! `rcompose config`: the project as the loader sees it.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::compose::{self, graph, Loaded};

use super::report::{Failure, Output};
use super::{yaml_out, GlobalArgs};

#[derive(clap::Args, Debug)]
pub struct ConfigArgs {
    /// Format the output: yaml or json
    #[arg(long, default_value = "yaml", value_parser = ["yaml", "json"])]
    format: String,
    /// Print the service names, one per line
    #[arg(long)]
    services: bool,
    /// Print the volume names, one per line
    #[arg(long)]
    volumes: bool,
    /// Print the network names, one per line
    #[arg(long)]
    networks: bool,
    /// Print the profile names, one per line
    #[arg(long)]
    profiles: bool,
    /// Print the image names, one per line
    #[arg(long)]
    images: bool,
    /// Print the service config hash, one per line ("*" for every service,
    /// or names separated by commas)
    #[arg(long, value_name = "SERVICES")]
    hash: Option<String>,
    /// Print model variables and default values
    #[arg(long)]
    variables: bool,
    /// Print environment used for interpolation
    #[arg(long)]
    environment: bool,
    /// Don't check model consistency (references between services, networks, volumes); the output may not be valid
    #[arg(long)]
    no_consistency: bool,
    /// Only validate the configuration, don't print anything
    #[arg(short, long)]
    quiet: bool,
    /// Save to file (default to stdout)
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Don't interpolate environment variables
    #[arg(long)]
    no_interpolate: bool,
    /// Don't normalize compose model
    #[arg(long)]
    no_normalize: bool,
    /// Services to keep (the others are left out, with their dependencies kept)
    services_list: Vec<String>,
}

pub fn run(global: &GlobalArgs, args: ConfigArgs, out: &Output) -> Result<ExitCode, Failure> {
    let mut opts = global
        .load_options(&args.services_list)
        .map_err(|e| out.error(&e.to_string()))?;
    opts.no_interpolate = args.no_interpolate;
    opts.no_normalize = args.no_normalize;
    opts.no_consistency = args.no_consistency;
    if args.variables {
        // The variables as the files write them: read before interpolation
        // (and the normalizing that needs interpolated values).
        opts.no_interpolate = true;
        opts.no_normalize = true;
    }
    super::load::huge_pages_for_large_projects(&opts);
    let loaded = match compose::load(&opts) {
        Ok(l) => l,
        Err(e) => {
            out.diagnostics(&e.diags, &e.sources);
            return Err(Failure::Reported);
        }
    };
    out.diagnostics(&loaded.warnings, &loaded.sources);
    if args.quiet {
        return Ok(ExitCode::SUCCESS);
    }
    let text = render(&args, &loaded).map_err(|e| out.error(&e))?;
    match &args.output {
        Some(path) => {
            std::fs::write(path, text).map_err(|e| out.error(&format!("cannot write {}: {e}", path.display())))?
        }
        None => out.stdout(text.as_bytes())?,
    }
    Ok(ExitCode::SUCCESS)
}

fn lines<I: IntoIterator<Item = String>>(items: I) -> String {
    items.into_iter().map(|s| s + "\n").collect()
}

/// `--variables`: one row per variable, as Docker Compose's table.
fn variables_table(loaded: &Loaded) -> String {
    use std::collections::BTreeMap;
    let mut by_name: BTreeMap<String, compose::interpolate::Variable> = BTreeMap::new();
    for v in compose::interpolate::tree_variables(&loaded.tree) {
        let e = by_name.entry(v.name.clone()).or_insert_with(|| v.clone());
        e.required |= v.required;
        if e.default.is_none() {
            e.default = v.default;
        }
        if e.alternate.is_none() {
            e.alternate = v.alternate;
        }
    }
    let rows: Vec<Vec<String>> = by_name
        .into_values()
        .map(|v| {
            vec![
                v.name,
                v.required.to_string(),
                v.default.unwrap_or_default(),
                v.alternate.unwrap_or_default(),
            ]
        })
        .collect();
    super::ps::table(&["NAME", "REQUIRED", "DEFAULT VALUE", "ALTERNATE VALUE"], &rows)
}

/// `--hash`: `SERVICE HASH` lines, the hash `up` compares to decide on a
/// recreate (the container's config-hash label).
fn config_hashes(which: &str, loaded: &Loaded) -> Result<String, String> {
    let project = loaded
        .project
        .as_ref()
        .ok_or("the project could not be read into its model")?;
    let names: Vec<String> = if which.trim() == "*" {
        project.services.keys().cloned().collect()
    } else {
        let mut v: Vec<String> = which
            .split(',')
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty())
            .collect();
        v.sort();
        v.dedup();
        v
    };
    let mut out = String::new();
    for name in names {
        let service = project
            .services
            .get(&name)
            .ok_or_else(|| format!("no such service: {name}"))?;
        out.push_str(&format!("{name} {}\n", crate::project::hash::config_hash(service)));
    }
    Ok(out)
}

fn render(args: &ConfigArgs, loaded: &Loaded) -> Result<String, String> {
    let tree = &loaded.tree;
    let keys = |section: &str| -> Vec<String> {
        tree.get(section)
            .and_then(|n| n.as_map())
            .map(|m| m.keys().map(|k| k.name.clone()).collect())
            .unwrap_or_default()
    };
    if args.services {
        // Dependency order, as Docker Compose lists them.
        return Ok(match &loaded.project {
            Some(p) => lines(graph::start_levels(p).map_err(|e| e.to_string())?.into_iter().flatten()),
            None => lines(keys("services")),
        });
    }
    if let Some(which) = &args.hash {
        return config_hashes(which, loaded);
    }
    if args.variables {
        return Ok(variables_table(loaded));
    }
    if args.environment {
        return Ok(lines(loaded.environment.iter().map(|(k, v)| format!("{k}={v}"))));
    }
    if args.volumes {
        return Ok(lines(keys("volumes")));
    }
    if args.networks {
        return Ok(lines(keys("networks")));
    }
    if args.profiles {
        return Ok(lines(loaded.all_profiles.iter().cloned()));
    }
    if args.images {
        let services = tree.get("services").and_then(|n| n.as_map());
        return Ok(lines(services.into_iter().flatten().map(|(name, svc)| {
            svc.get("image")
                .and_then(|i| i.as_str())
                .map(str::to_string)
                // Built images are named <project>-<service>, as Docker Compose names them.
                .unwrap_or_else(|| format!("{}-{}", loaded.name, name.name))
        })));
    }
    let json = match &loaded.project {
        Some(p) => serde_json::to_value(p).map_err(|e| format!("cannot render the project: {e}"))?,
        None => tree.to_json(),
    };
    Ok(match args.format.as_str() {
        "json" => serde_json::to_string_pretty(&json).map_err(|e| e.to_string())? + "\n",
        _ => yaml_out::to_yaml(&json),
    })
}
