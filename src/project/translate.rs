//! One service replica → the engine's [`ContainerSpec`]. Pure: every input
//! is resolved by the caller (image, namespace path, volume directories),
//! so this is where Compose's meaning of each attribute is decided and
//! unit-tested.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::compose::model::{Project, Service, ServiceVolume};
use crate::compose::normalize::parse_duration;
use crate::runtime::{
    ContainerSpec, DnsConfig, HealthTest, Healthcheck, HostEntry, ImageConfig, InjectedFile, LogConfig, MountSpec,
    Propagation, Resources, RestartPolicy, SeccompChoice, SecurityOptions, Ulimit,
};
use crate::volume::VolumeStore;

use super::error::{ProjectError, Result};
use super::images::Resolved;
use super::labels;

/// The project-wide facts a container's labels and paths need.
pub struct ProjectContext<'a> {
    pub project: &'a Project,
    pub name: &'a str,
    pub working_dir: &'a Path,
    pub config_files: &'a [PathBuf],
    /// The project's environment, for `environment:` secrets and configs.
    pub environment: &'a BTreeMap<String, String>,
}

/// One container of a service.
pub struct Instance<'a> {
    pub service_name: &'a str,
    pub service: &'a Service,
    pub number: u32,
    pub container_name: String,
    pub oneoff: bool,
    pub image_name: &'a str,
    pub image: &'a Resolved,
    pub config_hash: &'a str,
    /// The namespace to join; `None` for `network_mode: none`.
    pub netns: Option<PathBuf>,
    /// Whether the container is on project networks (then it asks our DNS).
    pub on_networks: bool,
    /// A `run -i` one-off: its input comes from the client, until it closes.
    pub attach_stdin: bool,
}

/// What `translate` derived besides the spec: volumes it mounts that must
/// exist first (engine names), and the files of its secrets and configs
/// that the runtime writes and mounts.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Needs {
    pub volumes: Vec<(String, BTreeMap<String, String>)>,
    pub files: Vec<InjectedFile>,
}

/// `<project>-<service>-<n>`, or `container_name:`.
pub fn container_name(project: &str, service_name: &str, service: &Service, number: u32) -> String {
    match &service.container_name {
        Some(n) => n.clone(),
        None => format!("{project}-{service_name}-{number}"),
    }
}

/// How many containers the service runs: `scale`, else `deploy.replicas`, else 1.
pub fn replicas(service: &Service) -> u32 {
    service
        .scale
        .or_else(|| service.deploy.as_ref().and_then(|d| d.replicas))
        .map(|n| n.max(0) as u32)
        .unwrap_or(1)
}

fn ms(service: &str, what: &str, s: &Option<String>) -> Result<Option<u64>> {
    match s {
        None => Ok(None),
        Some(s) => parse_duration(s)
            .map(|d| Some(d.as_millis() as u64))
            .map_err(|e| ProjectError::service(service, format!("{what}: {e}"))),
    }
}

pub fn container_spec(cx: &ProjectContext, inst: &Instance, volumes: &VolumeStore) -> Result<(ContainerSpec, Needs)> {
    let s = inst.service;
    let name = inst.service_name;
    let mut needs = Needs::default();

    let mut labels: BTreeMap<String, String> = s.labels.clone();
    for (k, v) in [
        (labels::PROJECT, cx.name.to_string()),
        (labels::SERVICE, name.to_string()),
        (labels::NUMBER, inst.number.to_string()),
        (labels::ONEOFF, if inst.oneoff { "True" } else { "False" }.to_string()),
        (labels::CONFIG_HASH, inst.config_hash.to_string()),
        (labels::IMAGE, inst.image.id.clone()),
        (labels::VERSION, env!("CARGO_PKG_VERSION").to_string()),
        (labels::WORKING_DIR, cx.working_dir.display().to_string()),
        (
            labels::CONFIG_FILES,
            cx.config_files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(","),
        ),
        (labels::IMAGE_NAME, inst.image_name.to_string()),
    ] {
        labels.insert(k.to_string(), v);
    }
    if !s.depends_on.is_empty() {
        let deps: Vec<String> = s
            .depends_on
            .iter()
            .map(|(d, c)| format!("{d}:{}:{}", c.condition, c.restart))
            .collect();
        labels.insert(labels::DEPENDS_ON.into(), deps.join(","));
    }

    // `KEY` alone (unset wherever Compose looked) removes the image's KEY.
    let env: Vec<String> = s
        .environment
        .iter()
        .map(|(k, v)| match v {
            Some(v) => format!("{k}={v}"),
            None => k.clone(),
        })
        .collect();

    let mut mounts = Vec::new();
    for v in &s.volumes {
        mounts.push(mount(cx, inst, v, volumes, &mut needs)?);
    }
    for t in &s.tmpfs {
        mounts.push(tmpfs_entry(name, t)?);
    }
    let taken: Vec<&str> = mounts.iter().map(MountSpec::target).collect();
    let files = super::secrets::file_mounts(cx, name, s, &taken)?;
    mounts.extend(files.mounts);
    needs.files = files.files;
    // The image's VOLUMEs that no mount covers get anonymous volumes, as
    // Docker's engine gives them: data written there outlives a recreate.
    for target in &inst.image.config.volumes {
        let covered = mounts.iter().map(MountSpec::target).any(|t| same_path(t, target))
            || needs.files.iter().any(|f| same_path(&f.target, target));
        if !covered {
            mounts.push(anonymous_volume(cx, inst, target, volumes, &mut needs, false));
        }
    }

    let extra_hosts = s
        .extra_hosts
        .iter()
        .filter_map(|e| e.split_once('=').or_else(|| e.split_once(':')))
        .map(|(h, ip)| HostEntry {
            name: h.to_string(),
            ip: ip.trim_matches(|c| c == '[' || c == ']').to_string(),
        })
        .collect();

    let dns = DnsConfig {
        nameservers: if inst.on_networks {
            // Our responder answers service names and forwards the rest to
            // `dns:` servers or the host's (DESIGN.md §4).
            vec!["127.0.0.11".into()]
        } else {
            s.dns.clone()
        },
        search: s.dns_search.clone(),
        options: s.dns_opt.clone(),
    };

    let limits = s
        .deploy
        .as_ref()
        .and_then(|d| d.resources.as_ref())
        .and_then(|r| r.limits.as_ref());
    let reservations = s
        .deploy
        .as_ref()
        .and_then(|d| d.resources.as_ref())
        .and_then(|r| r.reservations.as_ref());
    let resources = Resources {
        memory: s.mem_limit.or(limits.and_then(|l| l.memory)),
        memory_swap: s.memswap_limit,
        memory_reservation: s.mem_reservation.or(reservations.and_then(|r| r.memory)),
        cpus: s.cpus.or(limits.and_then(|l| l.cpus)),
        cpu_shares: s.cpu_shares.map(|c| c.max(0) as u64),
        cpuset_cpus: s.cpuset.clone(),
        cpuset_mems: None,
        pids_limit: s.pids_limit.or(limits.and_then(|l| l.pids)),
        blkio_weight: s.blkio_config.as_ref().and_then(|b| b.weight),
        oom_score_adj: s.oom_score_adj.map(|v| v as i32),
    };

    let spec = ContainerSpec {
        id: inst.container_name.clone(),
        image: with_exposed(&inst.image.config, &s.expose),
        lower_dirs: inst.image.lower_dirs.clone(),
        entrypoint: s.entrypoint.clone(),
        command: s.command.clone(),
        env,
        working_dir: s.working_dir.clone(),
        user: s.user.clone(),
        group_add: s.group_add.clone(),
        hostname: Some(
            s.hostname
                .clone()
                .unwrap_or_else(|| short_hostname(&inst.container_name)),
        ),
        domainname: s.domainname.clone(),
        extra_hosts,
        dns,
        mounts,
        read_only: s.read_only.unwrap_or(false),
        tty: s.tty.unwrap_or(false),
        stdin_open: s.stdin_open.unwrap_or(false) || inst.attach_stdin,
        stdin_once: inst.attach_stdin,
        security: security(name, s)?,
        sysctls: s.sysctls.clone(),
        ulimits: s
            .ulimits
            .iter()
            .map(|(n, u)| Ulimit {
                name: n.clone(),
                soft: u.soft,
                hard: u.hard,
            })
            .collect(),
        resources,
        shm_size: s.shm_size.map(|v| v.max(0) as u64),
        netns: inst.netns.clone(),
        init: s.init.unwrap_or(false),
        restart: restart(name, s)?,
        stop_signal: s.stop_signal.clone(),
        stop_grace_period_ms: ms(name, "stop_grace_period", &s.stop_grace_period)?,
        healthcheck: healthcheck(name, s)?,
        log: log_config(s),
        labels,
    };
    Ok((spec, needs))
}

/// The image config the container runs with: as Docker's container
/// config, its exposed ports are the image's and the service's `expose:`
/// (`3000`, `3000/udp`, `8000-8002`), as `PORT/PROTO`.
fn with_exposed(image: &ImageConfig, expose: &[String]) -> ImageConfig {
    let mut config = image.clone();
    for e in expose {
        let (ports, proto) = e.split_once('/').unwrap_or((e, "tcp"));
        let (first, last) = ports.split_once('-').unwrap_or((ports, ports));
        let (Ok(first), Ok(last)) = (first.parse::<u16>(), last.parse::<u16>()) else {
            continue;
        };
        for port in first..=last {
            let p = format!("{port}/{proto}");
            if !config.exposed_ports.contains(&p) {
                config.exposed_ports.push(p);
            }
        }
    }
    config
}

/// Hostnames are limited to 63 bytes; container names are not.
fn short_hostname(container: &str) -> String {
    container.chars().take(63).collect()
}

fn mount(
    cx: &ProjectContext,
    inst: &Instance,
    v: &ServiceVolume,
    volumes: &VolumeStore,
    needs: &mut Needs,
) -> Result<MountSpec> {
    let service = inst.service_name;
    let target = v
        .target
        .clone()
        .ok_or_else(|| ProjectError::service(service, "a volume has no target path"))?;
    let read_only = v.read_only.unwrap_or(false);
    match v.kind.as_str() {
        "bind" => {
            let src = v
                .source
                .as_deref()
                .ok_or_else(|| ProjectError::service(service, format!("bind mount {target} has no source")))?;
            let source = if Path::new(src).is_absolute() {
                PathBuf::from(src)
            } else {
                cx.working_dir.join(src)
            };
            let propagation = match v.bind.as_ref().and_then(|b| b.propagation.as_deref()) {
                None => Propagation::Rprivate,
                Some(p) => serde_json::from_value(serde_json::Value::String(p.to_string())).map_err(|_| {
                    ProjectError::service(
                        service,
                        format!("bind mount {target}: unknown propagation {p:?} (use rprivate, private, rshared, shared, rslave or slave)"),
                    )
                })?,
            };
            Ok(MountSpec::Bind {
                source,
                target,
                read_only,
                propagation,
            })
        }
        "volume" => {
            let (engine_name, labels) = match v.source.as_deref() {
                Some(key) => {
                    let decl = cx.project.volumes.get(key).ok_or_else(|| {
                        ProjectError::service(
                            service,
                            format!("volume {key:?} is not declared under top-level `volumes:`"),
                        )
                    })?;
                    let name = decl.name.clone().unwrap_or_else(|| format!("{}_{key}", cx.name));
                    let mut l = decl.labels.clone();
                    if decl.external != Some(true) {
                        l.insert(labels::PROJECT.into(), cx.name.into());
                        l.insert(labels::VOLUME.into(), key.into());
                    }
                    (name, l)
                }
                None => {
                    let nocopy = v.volume.as_ref().and_then(|o| o.nocopy).unwrap_or(false);
                    let mut m = anonymous_volume(cx, inst, &target, volumes, needs, nocopy);
                    if let MountSpec::Volume { read_only: ro, .. } = &mut m {
                        *ro = read_only;
                    }
                    return Ok(m);
                }
            };
            needs.volumes.push((engine_name.clone(), labels));
            Ok(MountSpec::Volume {
                source: volumes.data_path(&engine_name),
                target,
                read_only,
                nocopy: v.volume.as_ref().and_then(|o| o.nocopy).unwrap_or(false),
            })
        }
        "tmpfs" => Ok(MountSpec::Tmpfs {
            target,
            size: v.tmpfs.as_ref().and_then(|t| t.size).map(|s| s.max(0) as u64),
            mode: v.tmpfs.as_ref().and_then(|t| t.mode),
        }),
        other => Err(ProjectError::service(
            service,
            format!("volume type {other:?} at {target} is not supported; use bind, volume or tmpfs"),
        )),
    }
}

use sha2::Digest as _;

/// An anonymous volume at `target`: one per container and target, like
/// Docker's random ones, but named from both so that a restart, and a
/// recreate (same container name), finds the same data again, as Docker
/// Compose's copying of anonymous volumes to the new container does.
fn anonymous_volume(
    cx: &ProjectContext,
    inst: &Instance,
    target: &str,
    volumes: &VolumeStore,
    needs: &mut Needs,
    nocopy: bool,
) -> MountSpec {
    let target = target.trim_end_matches('/');
    let target = if target.is_empty() { "/" } else { target };
    let digest = sha2::Sha256::digest(format!("{}\0{target}", inst.container_name));
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let l = BTreeMap::from([(labels::PROJECT.to_string(), cx.name.to_string())]);
    needs.volumes.push((hex.clone(), l));
    MountSpec::Volume {
        source: volumes.data_path(&hex),
        target: target.to_string(),
        read_only: false,
        nocopy,
    }
}

/// Whether two container paths name the same place (`/data/` is `/data`).
fn same_path(a: &str, b: &str) -> bool {
    let norm = |p: &str| {
        let t = p.trim_end_matches('/');
        if t.is_empty() {
            "/".to_string()
        } else {
            t.to_string()
        }
    };
    norm(a) == norm(b)
}

/// `tmpfs:` entries: `/path[:opt,opt]` with Docker's `size=` and `mode=`.
fn tmpfs_entry(service: &str, entry: &str) -> Result<MountSpec> {
    let (target, opts) = entry.split_once(':').unwrap_or((entry, ""));
    let mut size = None;
    let mut mode = None;
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o.split_once('=') {
            Some(("size", v)) => {
                size = Some(
                    crate::compose::normalize::parse_bytes(v)
                        .map_err(|e| ProjectError::service(service, format!("tmpfs {target}: size {v:?}: {e}")))?
                        as u64,
                )
            }
            Some(("mode", v)) => {
                mode =
                    Some(u32::from_str_radix(v, 8).map_err(|_| {
                        ProjectError::service(service, format!("tmpfs {target}: mode {v:?} is not octal"))
                    })?)
            }
            // Other mount options (noexec, …) are accepted as Docker accepts them.
            _ => {}
        }
    }
    Ok(MountSpec::Tmpfs {
        target: target.to_string(),
        size,
        mode,
    })
}

fn security(service: &str, s: &Service) -> Result<SecurityOptions> {
    let mut o = SecurityOptions {
        privileged: s.privileged.unwrap_or(false),
        cap_add: s.cap_add.clone(),
        cap_drop: s.cap_drop.clone(),
        ..SecurityOptions::default()
    };
    for opt in &s.security_opt {
        let (key, value) = opt
            .split_once('=')
            .or_else(|| opt.split_once(':'))
            .unwrap_or((opt.as_str(), ""));
        match key {
            "seccomp" if value == "unconfined" => o.seccomp = SeccompChoice::Unconfined,
            "seccomp" => {
                let text = std::fs::read_to_string(value).map_err(|e| {
                    ProjectError::service(
                        service,
                        format!("security_opt seccomp={value}: cannot read the profile: {e}"),
                    )
                })?;
                o.seccomp = SeccompChoice::Custom(text);
            }
            "no-new-privileges" => o.no_new_privileges = value.is_empty() || value == "true",
            "apparmor" => o.apparmor = Some(value.to_string()),
            // SELinux labels and the like: accepted, as Docker does where they don't apply.
            "label" | "systempaths" | "mask" | "unmask" => {}
            _ => {
                return Err(ProjectError::service(
                    service,
                    format!(
                        "unknown security_opt {opt:?}: use seccomp=…, no-new-privileges[:true], apparmor=… or label=…"
                    ),
                ))
            }
        }
    }
    Ok(o)
}

fn restart(service: &str, s: &Service) -> Result<RestartPolicy> {
    if let Some(r) = &s.restart {
        return r.parse().map_err(|e: String| ProjectError::service(service, e));
    }
    let Some(rp) = s.deploy.as_ref().and_then(|d| d.restart_policy.as_ref()) else {
        return Ok(RestartPolicy::No);
    };
    Ok(match rp.condition.as_deref() {
        Some("none") => RestartPolicy::No,
        Some("on-failure") => RestartPolicy::OnFailure {
            max_retries: rp.max_attempts.map(|n| n as u32).filter(|n| *n > 0),
        },
        // Swarm's default condition is `any`.
        _ => RestartPolicy::Always,
    })
}

fn healthcheck(service: &str, s: &Service) -> Result<Option<Healthcheck>> {
    let Some(h) = &s.healthcheck else {
        return Ok(None);
    };
    if h.disable == Some(true) {
        return Ok(Some(Healthcheck {
            test: HealthTest::None,
            interval_ms: None,
            timeout_ms: None,
            retries: None,
            start_period_ms: None,
            start_interval_ms: None,
        }));
    }
    let test = match h.test.as_deref() {
        // Only timings: the supervisor applies them to the image's test.
        None => HealthTest::Inherit,
        Some([]) => HealthTest::None,
        Some([kind, rest @ ..]) => match kind.as_str() {
            "NONE" => HealthTest::None,
            "CMD" => HealthTest::Cmd(rest.to_vec()),
            "CMD-SHELL" => HealthTest::CmdShell(rest.join(" ")),
            other => {
                return Err(ProjectError::service(
                    service,
                    format!("healthcheck test must start with CMD, CMD-SHELL or NONE, not {other:?}"),
                ))
            }
        },
    };
    Ok(Some(Healthcheck {
        test,
        interval_ms: ms(service, "healthcheck.interval", &h.interval)?,
        timeout_ms: ms(service, "healthcheck.timeout", &h.timeout)?,
        retries: h.retries.map(|r| r as u32),
        start_period_ms: ms(service, "healthcheck.start_period", &h.start_period)?,
        start_interval_ms: ms(service, "healthcheck.start_interval", &h.start_interval)?,
    }))
}

fn log_config(s: &Service) -> LogConfig {
    let opt = |k: &str| {
        s.logging
            .as_ref()
            .and_then(|l| l.options.get(k))
            .and_then(|v| v.clone())
    };
    LogConfig {
        max_size: opt("max-size").and_then(|v| crate::compose::normalize::parse_bytes(&v).ok().map(|b| b as u64)),
        max_file: opt("max-file").and_then(|v| v.parse().ok()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::model::{Healthcheck as ComposeHealthcheck, Volume};

    fn resolved() -> Resolved {
        Resolved {
            id: "sha256:abc".into(),
            lower_dirs: vec!["/s/2".into(), "/s/1".into()],
            config: Default::default(),
        }
    }

    fn translate(project: &Project, service: &Service, on_networks: bool) -> Result<(ContainerSpec, Needs)> {
        let dir = PathBuf::from("/proj");
        let env = BTreeMap::new();
        let cx = ProjectContext {
            project,
            name: "app",
            working_dir: &dir,
            config_files: &[],
            environment: &env,
        };
        let image = resolved();
        let inst = Instance {
            service_name: "web",
            service,
            number: 2,
            container_name: container_name("app", "web", service, 2),
            oneoff: false,
            image_name: "busybox",
            image: &image,
            config_hash: "h",
            netns: Some("/run/netns/x".into()),
            on_networks,
            attach_stdin: false,
        };
        container_spec(&cx, &inst, &VolumeStore::new(Path::new("/root")))
    }

    #[test]
    fn a_service_becomes_a_labelled_container_spec() {
        let mut project = Project::default();
        project.volumes.insert(
            "data".into(),
            Volume {
                name: Some("app_data".into()),
                ..Volume::default()
            },
        );
        let service = Service {
            image: Some("busybox".into()),
            environment: BTreeMap::from([("A".into(), Some("1".into())), ("UNSET".into(), None)]),
            volumes: vec![
                ServiceVolume {
                    kind: "volume".into(),
                    source: Some("data".into()),
                    target: Some("/data".into()),
                    ..ServiceVolume::default()
                },
                ServiceVolume {
                    kind: "volume".into(),
                    target: Some("/anon".into()),
                    ..ServiceVolume::default()
                },
            ],
            tmpfs: vec!["/run:size=1m,mode=1777".into()],
            restart: Some("on-failure:3".into()),
            stop_grace_period: Some("1m30s".into()),
            security_opt: vec!["no-new-privileges:true".into()],
            extra_hosts: vec!["db=10.0.0.2".into()],
            healthcheck: Some(ComposeHealthcheck {
                test: Some(vec!["CMD-SHELL".into(), "true".into()]),
                interval: Some("2s".into()),
                ..ComposeHealthcheck::default()
            }),
            ..Service::default()
        };
        let (spec, needs) = translate(&project, &service, true).unwrap();
        assert_eq!(spec.id, "app-web-2");
        assert_eq!(spec.labels[labels::PROJECT], "app");
        assert_eq!(spec.labels[labels::NUMBER], "2");
        // UNSET (no value anywhere) is passed bare: it removes the image's UNSET.
        assert_eq!(spec.env, vec!["A=1", "UNSET"]);
        assert_eq!(spec.dns.nameservers, vec!["127.0.0.11"]);
        assert_eq!(spec.restart, RestartPolicy::OnFailure { max_retries: Some(3) });
        assert_eq!(spec.stop_grace_period_ms, Some(90_000));
        assert!(spec.security.no_new_privileges);
        assert_eq!(spec.extra_hosts[0].ip, "10.0.0.2");
        assert_eq!(spec.healthcheck.as_ref().unwrap().interval_ms, Some(2000));
        assert_eq!(needs.volumes.len(), 2);
        assert_eq!(needs.volumes[0].0, "app_data");
        assert_eq!(
            spec.mounts[0],
            MountSpec::Volume {
                source: "/root/volumes/app_data/_data".into(),
                target: "/data".into(),
                read_only: false,
                nocopy: false
            }
        );
        assert_eq!(
            spec.mounts[2],
            MountSpec::Tmpfs {
                target: "/run".into(),
                size: Some(1 << 20),
                mode: Some(0o1777)
            }
        );
    }

    #[test]
    fn bad_attributes_are_named() {
        let project = Project::default();
        let bad_opt = Service {
            security_opt: vec!["frobnicate".into()],
            ..Service::default()
        };
        let err = translate(&project, &bad_opt, false).unwrap_err().to_string();
        assert!(err.contains("web") && err.contains("frobnicate"), "{err}");
        let undeclared = Service {
            volumes: vec![ServiceVolume {
                kind: "volume".into(),
                source: Some("nope".into()),
                target: Some("/x".into()),
                ..ServiceVolume::default()
            }],
            ..Service::default()
        };
        let err = translate(&project, &undeclared, false).unwrap_err().to_string();
        assert!(err.contains("not declared"), "{err}");
    }

    #[test]
    fn replicas_come_from_scale_or_deploy() {
        assert_eq!(replicas(&Service::default()), 1);
        let s = Service {
            scale: Some(3),
            ..Service::default()
        };
        assert_eq!(replicas(&s), 3);
    }
}
