//! The project's images: `pull`, `push` and `images`.

use std::process::ExitCode;

use crate::image::pull::PullPolicy;
use crate::project::images as project_images;
use crate::project::inventory;

use super::load;
use super::progress::Progress;
use super::ps::table;
use super::report::{Failure, Output};
use super::GlobalArgs;

#[derive(clap::Args, Debug)]
pub struct PullArgs {
    /// Pull what it can and ignores images with pull failures
    #[arg(long)]
    ignore_pull_failures: bool,
    /// Pull without printing progress information
    #[arg(short, long)]
    quiet: bool,
    /// Apply pull policy ("missing"|"always")
    #[arg(long, value_parser = ["missing", "always"], default_value = "always")]
    policy: String,
    /// Also pull services declared as dependencies (accepted; every named service is pulled)
    #[arg(long)]
    include_deps: bool,
    services: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct PushArgs {
    /// Push what it can and ignores images with push failures
    #[arg(long)]
    ignore_push_failures: bool,
    /// Push without printing progress information
    #[arg(short, long)]
    quiet: bool,
    services: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct ImagesArgs {
    /// Only display IDs
    #[arg(short, long)]
    quiet: bool,
    /// Format the output. Values: [table | json]
    #[arg(long, default_value = "table")]
    format: String,
    services: Vec<String>,
}

pub fn pull(global: &GlobalArgs, args: PullArgs, out: &Output) -> Result<ExitCode, Failure> {
    let target = load::target(global, &args.services, false, out)?;
    let engine = load::engine(out)?;
    let progress = if args.quiet {
        Progress::new(
            &GlobalArgs {
                progress: "quiet".into(),
                ..global.clone()
            },
            false,
        )
    } else {
        Progress::new(global, out.color())
    };
    let policy: PullPolicy = args
        .policy
        .parse()
        .map_err(|e: crate::image::ImageError| out.error(&e.to_string()))?;
    let opts = crate::image::pull::PullOptions {
        registry: super::image::registry_options().map_err(|e| out.error(&e.to_string()))?,
        ..Default::default()
    };
    let results = project_images::pull_project(&engine, &target, &args.services, policy, &opts, &progress)
        .map_err(|e| load::fail(out, e))?;
    let mut failed = false;
    for (_, _, r) in results {
        if let Err(e) = r {
            if args.ignore_pull_failures {
                eprintln!("WARNING: {e}");
            } else {
                eprintln!("rcompose: {e}");
                failed = true;
            }
        }
    }
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

pub fn push(global: &GlobalArgs, args: PushArgs, out: &Output) -> Result<ExitCode, Failure> {
    let target = load::target(global, &args.services, false, out)?;
    let engine = load::engine(out)?;
    let list = project_images::push_list(&engine, &target, &args.services).map_err(|e| load::fail(out, e))?;
    let mut failed = false;
    for (service, image) in list {
        if let Err(e) = super::image::push(&engine.images, &image, args.quiet) {
            if args.ignore_push_failures {
                eprintln!("WARNING: service {service}: {e}");
            } else {
                eprintln!("rcompose: service {service}: {e}");
                failed = true;
            }
        }
    }
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

pub fn images(global: &GlobalArgs, args: ImagesArgs, out: &Output) -> Result<ExitCode, Failure> {
    let target = load::target(global, &args.services, true, out)?;
    let engine = load::engine(out)?;
    let containers = inventory::list(&engine, &target.name).map_err(|e| load::fail(out, e))?;
    let mut rows = Vec::new();
    for c in containers
        .iter()
        .filter(|c| args.services.is_empty() || args.services.contains(&c.service))
    {
        let name = c
            .label(crate::project::labels::IMAGE_NAME)
            .unwrap_or_default()
            .to_string();
        let id = c.label(crate::project::labels::IMAGE).unwrap_or_default().to_string();
        let (repo, tag) = match crate::image::Reference::parse(&name) {
            Ok(r) => (r.familiar_repository(), r.tag().unwrap_or("latest").to_string()),
            Err(_) => (name.clone(), String::new()),
        };
        let size = engine
            .images
            .resolve(&name)
            .and_then(|r| engine.images.load(&r.manifest.digest))
            .map(|i| i.size())
            .unwrap_or(0);
        rows.push((c.id.clone(), repo, tag, id, size));
    }
    let text = if args.quiet {
        let mut ids: Vec<String> = rows.iter().map(|r| r.3.clone()).collect();
        ids.dedup();
        ids.into_iter().map(|i| i + "\n").collect()
    } else if args.format == "json" {
        let list: Vec<_> = rows
            .iter()
            .map(|(c, repo, tag, id, size)| {
                serde_json::json!({"ContainerName": c, "Repository": repo, "Tag": tag, "ID": id, "Size": size})
            })
            .collect();
        format!("{}\n", serde_json::Value::Array(list))
    } else {
        let body: Vec<Vec<String>> = rows
            .iter()
            .map(|(c, repo, tag, id, size)| {
                let short = id.strip_prefix("sha256:").unwrap_or(id).chars().take(12).collect();
                vec![c.clone(), repo.clone(), tag.clone(), short, human_size(*size)]
            })
            .collect();
        table(&["CONTAINER", "REPOSITORY", "TAG", "IMAGE ID", "SIZE"], &body)
    };
    out.stdout(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

/// Docker's decimal sizes: `2.13MB`.
fn human_size(n: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1000.0 && i + 1 < units.len() {
        v /= 1000.0;
        i += 1;
    }
    if i == 0 {
        return format!("{n}B");
    }
    // Three significant digits, as Docker prints them.
    let text = if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    };
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    };
    text + units[i]
}
