//! The images of a project's services: which name each service runs, pulling
//! what is missing as `pull_policy` says, and the engine's view of an image
//! (its snapshot directories and run config).

use std::path::PathBuf;

use crate::compose::model::Service;
use crate::image::pull::{self, PullOptions, PullPolicy};
use crate::image::{ImageError, Reference};
use crate::runtime::{HealthTest, Healthcheck, ImageConfig};

use super::engine::Engine;
use super::error::{ProjectError, Result};
use super::events::{Kind, Sink, Step};

/// The image a service runs: `image:`, or for a service that only has
/// `build:`, Compose's default name `<project>-<service>`.
pub fn image_name(project: &str, service_name: &str, service: &Service) -> String {
    match &service.image {
        Some(i) => i.clone(),
        None => format!("{project}-{service_name}"),
    }
}

/// An image ready to run.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The image ID (config digest), recorded on containers so that a new
    /// image under the same name recreates them.
    pub id: String,
    /// Snapshot directories, top-most layer first (overlay's order).
    pub lower_dirs: Vec<PathBuf>,
    pub config: ImageConfig,
}

/// The policy a service's image is pulled with: `--pull` wins, then
/// `pull_policy:`, then "missing". A service with `build:` and no explicit
/// policy is built rather than pulled.
pub fn policy(service_name: &str, service: &Service, override_: Option<PullPolicy>) -> Result<PullPolicy> {
    if let Some(p) = override_ {
        return Ok(p);
    }
    match service.pull_policy.as_deref() {
        None => Ok(PullPolicy::Missing),
        Some("build") => Ok(PullPolicy::Never),
        Some(p) => p
            .parse()
            .map_err(|e: ImageError| ProjectError::service(service_name, e.to_string())),
    }
}

/// Makes sure the service's image is in the store, pulling as `policy` says.
pub fn ensure(
    engine: &Engine,
    service_name: &str,
    name: &str,
    policy: PullPolicy,
    has_build: bool,
    opts: &PullOptions,
    sink: &dyn Sink,
) -> Result<()> {
    let reference = Reference::parse(name).map_err(|source| ProjectError::Image {
        service: service_name.to_string(),
        source: source.into(),
    })?;
    let present = !engine.images.find(&reference.to_string())?.is_empty();
    if present && policy != PullPolicy::Always {
        return Ok(());
    }
    if !present && has_build {
        return Err(ProjectError::service(
            service_name,
            format!("image {name} is not built; run `rcompose build {service_name}`"),
        ));
    }
    if !present && policy == PullPolicy::Never {
        // Nothing is pulled, so no pull is shown.
        return Err(ProjectError::service(
            service_name,
            format!("no such image: {name} (pull policy is never); `rcompose image pull {name}` fetches it"),
        ));
    }
    let step = Step::begin(sink, Kind::Image, name, "Pulling");
    match pull::ensure(&engine.images, &reference, policy, opts, pull::no_progress()) {
        Ok(_) => {
            step.end("Pulled");
            Ok(())
        }
        Err(source) => {
            step.fail("Error");
            Err(ProjectError::Image {
                service: service_name.to_string(),
                source,
            })
        }
    }
}

/// Reads an image from the store, unpacking any layer whose snapshot is
/// missing.
pub fn resolve(engine: &Engine, name: &str) -> Result<Resolved> {
    let record = engine.images.resolve(name)?;
    let image = engine.images.load(&record.manifest.digest)?;
    crate::image::ops::ensure_snapshots(&engine.images, &image)?;
    let mut lower_dirs = engine.images.layer_dirs(&image)?;
    lower_dirs.reverse();
    let config = image.config.config.as_ref().map(image_config).unwrap_or_default();
    Ok(Resolved {
        id: image.id().to_string(),
        lower_dirs,
        config,
    })
}

fn strings(v: Option<&serde_json::Value>) -> Option<Vec<String>> {
    v?.as_array()
        .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
}

fn string(v: Option<&serde_json::Value>) -> Option<String> {
    v?.as_str().filter(|s| !s.is_empty()).map(str::to_string)
}

/// The keys of a Docker "set" (`{"/data": {}}`), in the image's order.
fn keys(v: Option<&serde_json::Value>) -> Vec<String> {
    v.and_then(|v| v.as_object())
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

/// Nanoseconds (the image config's unit) to milliseconds; 0 means "default".
fn nanos_ms(v: Option<&serde_json::Value>) -> Option<u64> {
    v?.as_u64().filter(|n| *n > 0).map(|n| n / 1_000_000)
}

/// The OCI image config's `config` object, as the runtime reads it.
pub fn image_config(c: &serde_json::Value) -> ImageConfig {
    let healthcheck = c.get("Healthcheck").and_then(|h| {
        let test = strings(h.get("Test"))?;
        let test = match test.split_first() {
            Some((k, rest)) if k == "CMD" => HealthTest::Cmd(rest.to_vec()),
            Some((k, rest)) if k == "CMD-SHELL" => HealthTest::CmdShell(rest.join(" ")),
            Some((k, _)) if k == "NONE" => HealthTest::None,
            _ => return None,
        };
        Some(Healthcheck {
            test,
            interval_ms: nanos_ms(h.get("Interval")),
            timeout_ms: nanos_ms(h.get("Timeout")),
            retries: h
                .get("Retries")
                .and_then(|r| r.as_u64())
                .map(|r| r as u32)
                .filter(|r| *r > 0),
            start_period_ms: nanos_ms(h.get("StartPeriod")),
            start_interval_ms: nanos_ms(h.get("StartInterval")),
        })
    });
    ImageConfig {
        env: strings(c.get("Env")).unwrap_or_default(),
        entrypoint: strings(c.get("Entrypoint")),
        cmd: strings(c.get("Cmd")),
        working_dir: string(c.get("WorkingDir")),
        user: string(c.get("User")),
        stop_signal: string(c.get("StopSignal")),
        shell: strings(c.get("Shell")),
        healthcheck,
        volumes: keys(c.get("Volumes")),
        exposed_ports: keys(c.get("ExposedPorts")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_configs_are_read_as_docker_writes_them() {
        let c = serde_json::json!({
            "Env": ["PATH=/bin"], "Cmd": ["sh"], "WorkingDir": "", "User": "nobody",
            "Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": 2_000_000_000u64, "Retries": 2}
        });
        let ic = image_config(&c);
        assert_eq!(ic.env, vec!["PATH=/bin"]);
        assert_eq!(ic.cmd, Some(vec!["sh".to_string()]));
        assert_eq!(ic.entrypoint, None);
        assert_eq!(ic.working_dir, None);
        assert_eq!(ic.user.as_deref(), Some("nobody"));
        let h = ic.healthcheck.unwrap();
        assert_eq!(h.test, HealthTest::CmdShell("true".into()));
        assert_eq!(h.interval_ms, Some(2000));
        assert_eq!(h.retries, Some(2));
    }

    #[test]
    fn services_with_only_build_get_composes_default_name() {
        let s = Service::default();
        assert_eq!(image_name("app", "web", &s), "app-web");
        assert_eq!(policy("web", &s, None).unwrap(), PullPolicy::Missing);
        let s = Service {
            pull_policy: Some("sometimes".into()),
            ..Service::default()
        };
        assert!(policy("web", &s, None).is_err());
    }
}

/// `rcompose pull`: the images of the named services (all when none), in
/// parallel. Services that only `build:` are skipped. Returns each image's
/// outcome so that `--ignore-pull-failures` can be honoured by the caller.
pub fn pull_project(
    engine: &Engine,
    target: &super::Target,
    services: &[String],
    policy: PullPolicy,
    opts: &PullOptions,
    sink: &dyn Sink,
) -> Result<Vec<(String, String, Result<()>)>> {
    target.check_services(services)?;
    let mut wanted: Vec<(String, Reference)> = Vec::new();
    for (name, s) in &target.project.services {
        if !services.is_empty() && !services.contains(name) {
            continue;
        }
        let Some(image) = &s.image else { continue };
        if s.build.is_some() && s.pull_policy.as_deref() == Some("build") {
            continue;
        }
        let r = Reference::parse(image).map_err(|source| ProjectError::Image {
            service: name.clone(),
            source: source.into(),
        })?;
        if !wanted.iter().any(|(_, w)| w == &r) {
            wanted.push((name.clone(), r));
        }
    }
    let refs: Vec<Reference> = wanted.iter().map(|(_, r)| r.clone()).collect();
    for (name, _) in &wanted {
        super::events::done(sink, Kind::Image, name, "Pulling");
    }
    let results = pull::pull_all(&engine.images, &refs, policy, opts, pull::no_progress())?;
    Ok(results
        .into_iter()
        .map(|(r, res)| {
            let service = wanted
                .iter()
                .find(|(_, w)| w == &r)
                .map(|(s, _)| s.clone())
                .unwrap_or_default();
            let res = match res {
                Ok(_) => {
                    super::events::done(sink, Kind::Image, &service, "Pulled");
                    Ok(())
                }
                Err(source) => {
                    super::events::done(sink, Kind::Image, &service, "Error");
                    Err(ProjectError::Image {
                        service: service.clone(),
                        source,
                    })
                }
            };
            (service, r.to_string(), res)
        })
        .collect())
}

/// `rcompose push`: the images of services that name one, as they are in
/// the store. Returns (service, image) pairs to push, in order; services
/// whose image is not in the store are refused with their name.
pub fn push_list(engine: &Engine, target: &super::Target, services: &[String]) -> Result<Vec<(String, String)>> {
    target.check_services(services)?;
    let mut out = Vec::new();
    for (name, s) in &target.project.services {
        if !services.is_empty() && !services.contains(name) {
            continue;
        }
        let Some(image) = &s.image else { continue };
        if engine.images.find(image)?.is_empty() {
            return Err(ProjectError::service(
                name,
                format!("image {image} is not in the store: pull or load it first"),
            ));
        }
        if !out.iter().any(|(_, i)| i == image) {
            out.push((name.clone(), image.clone()));
        }
    }
    Ok(out)
}
