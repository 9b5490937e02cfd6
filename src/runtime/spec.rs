//! [`ContainerSpec`] → OCI runtime spec, with Docker's defaults.
//!
//! Pure: everything it needs from the host or the image's files comes in
//! [`SpecInputs`]. The spec is written as OCI JSON (the format Docker's own
//! defaults are documented in) and checked by deserializing into
//! `oci_spec::runtime::Spec`.
//!
//! Steps: process (args, env, user, cwd, caps, rlimits) → root → mounts
//! (Docker's defaults, /etc files, init, user mounts) → linux (namespaces,
//! resources, devices, masked and read-only paths, sysctls, seccomp).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;
use serde_json::{json, Value};

use super::config::{ContainerSpec, MountSpec, SeccompChoice};
use super::defaults::{self, rlimit_type};
use super::entrypoint;
use super::error::{Result, RuntimeError};
use super::seccomp;
use super::security;
use super::user::ExecUser;

/// Where the init binary is mounted in the container, as with Docker.
pub const INIT_PATH: &str = "/sbin/docker-init";

/// Everything besides the container spec that the OCI spec depends on.
#[derive(Debug, Clone)]
pub struct SpecInputs {
    /// The assembled root filesystem (mounted overlay).
    pub rootfs: PathBuf,
    /// The resolved user (`user.rs`).
    pub user: ExecUser,
    /// Host files bind-mounted as `/etc/hosts`, `/etc/hostname`, `/etc/resolv.conf`.
    pub hosts_file: PathBuf,
    pub hostname_file: PathBuf,
    pub resolv_conf: PathBuf,
    /// The static reaping init for `init: true` (e.g. Debian's `tini-static`).
    pub init_binary: Option<PathBuf>,
    /// Cgroup path for the container (e.g. `/rcompose/<id>`).
    pub cgroups_path: String,
    /// Whether the kernel accounts swap (cgroup v1 `memory.memsw.*`).
    pub swap_accounting: bool,
    pub host: seccomp::Host,
    /// The network namespace to join is rcompose's own (a build step with
    /// the host's network): network sysctls would change the host's.
    pub host_network: bool,
}

/// The container's hostname: the given one, else the first 12 characters of
/// the id (Docker uses the short id).
pub fn hostname(spec: &ContainerSpec) -> String {
    match &spec.hostname {
        Some(h) if !h.is_empty() => h.clone(),
        _ => spec.id.chars().take(12).collect(),
    }
}

/// The OCI runtime spec for `spec`.
pub fn build(spec: &ContainerSpec, inputs: &SpecInputs) -> Result<Spec> {
    let caps = security::capabilities(&spec.security)?;
    let value = json!({
        "ociVersion": "1.0.2",
        "process": process(spec, inputs, &caps)?,
        "root": { "path": inputs.rootfs, "readonly": spec.read_only },
        "hostname": hostname(spec),
        "mounts": mounts(spec, inputs)?,
        "linux": linux(spec, inputs, &caps)?,
    });
    let mut value = value;
    if let Some(d) = spec.domainname.as_ref().filter(|d| !d.is_empty()) {
        value["domainname"] = json!(d);
    }
    serde_json::from_value(value).map_err(|e| invalid(spec, format!("generated OCI spec is not valid: {e}")))
}

fn invalid(spec: &ContainerSpec, what: String) -> RuntimeError {
    RuntimeError::InvalidSpec {
        id: spec.id.clone(),
        what,
    }
}

/// Docker's environment: `PATH` (default), `HOSTNAME`, `TERM` with a tty,
/// the image's, the overrides; a later `KEY=` replaces an earlier one in
/// place; `HOME` from the user's passwd entry when unset.
pub fn environment(spec: &ContainerSpec, user: &ExecUser) -> Vec<String> {
    fn key(entry: &str) -> &str {
        entry.split_once('=').map_or(entry, |(k, _)| k)
    }
    fn set(env: &mut Vec<String>, entry: &str) {
        if key(entry).is_empty() {
            return;
        }
        match env.iter_mut().find(|e| key(e) == key(entry)) {
            Some(slot) => *slot = entry.to_string(),
            None => env.push(entry.to_string()),
        }
    }
    let mut env: Vec<String> = Vec::new();
    set(&mut env, &format!("PATH={}", defaults::DEFAULT_PATH));
    set(&mut env, &format!("HOSTNAME={}", hostname(spec)));
    if spec.tty {
        set(&mut env, "TERM=xterm");
    }
    for e in &spec.image.env {
        set(&mut env, e);
    }
    for e in &spec.env {
        if e.contains('=') {
            set(&mut env, e);
        } else {
            // A bare name (Compose's `environment: [VAR]` with VAR unset
            // everywhere) takes the image's VAR away, as Docker does.
            env.retain(|x| key(x) != e.as_str());
        }
    }
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", user.home));
    }
    env
}

fn process(spec: &ContainerSpec, inputs: &SpecInputs, caps: &[String]) -> Result<Value> {
    let mut args = entrypoint::resolve_args(
        &spec.id,
        &spec.image,
        spec.entrypoint.as_deref(),
        spec.command.as_deref(),
    )?;
    if spec.init {
        if inputs.init_binary.is_none() {
            return Err(invalid(
                spec,
                "init: true needs a static init binary (install Debian's tini, which provides /usr/bin/tini-static)"
                    .into(),
            ));
        }
        let mut with_init = vec![INIT_PATH.to_string(), "--".to_string()];
        with_init.append(&mut args);
        args = with_init;
    }
    let cwd = spec
        .working_dir
        .as_deref()
        .or(spec.image.working_dir.as_deref())
        .filter(|w| !w.is_empty())
        .unwrap_or("/");
    if !cwd.starts_with('/') {
        return Err(invalid(spec, format!("working_dir {cwd:?} must be an absolute path")));
    }

    // No default rlimits: the container inherits the engine's (as Docker 25+
    // does); raising a hard limit needs CAP_SYS_RESOURCE, which the engine
    // may not have.
    let mut rlimits: Vec<Value> = Vec::new();
    for u in &spec.ulimits {
        let typ = rlimit_type(&u.name).ok_or_else(|| RuntimeError::Ulimit {
            name: u.name.clone(),
            reason: "unknown ulimit: use nofile, nproc, core, memlock, stack, …".into(),
        })?;
        if u.soft > u.hard && u.hard >= 0 {
            return Err(RuntimeError::Ulimit {
                name: u.name.clone(),
                reason: format!("soft limit {} is above hard limit {}", u.soft, u.hard),
            });
        }
        // -1 is "unlimited", which the kernel spells as all ones.
        let as_u64 = |v: i64| if v < 0 { u64::MAX } else { v as u64 };
        rlimits.retain(|r| r["type"] != typ);
        rlimits.push(json!({ "type": typ, "soft": as_u64(u.soft), "hard": as_u64(u.hard) }));
    }

    let mut process = json!({
        "terminal": spec.tty,
        "user": {
            "uid": inputs.user.uid,
            "gid": inputs.user.gid,
        },
        "args": args,
        "env": environment(spec, &inputs.user),
        "cwd": cwd,
        "capabilities": {
            "bounding": caps,
            "effective": caps,
            "permitted": caps,
        },
        "rlimits": rlimits,
    });
    // Only when asked: libcontainer loads seccomp late (after dropping
    // CAP_SYS_ADMIN, which then requires no_new_privs) whenever the field is
    // present, even `false`.
    if spec.security.no_new_privileges {
        process["noNewPrivileges"] = json!(true);
    }
    if !inputs.user.additional_gids.is_empty() {
        process["user"]["additionalGids"] = json!(inputs.user.additional_gids);
    }
    if let Some(adj) = spec.resources.oom_score_adj {
        if !(-1000..=1000).contains(&adj) {
            return Err(invalid(spec, format!("oom_score_adj {adj} is outside -1000..=1000")));
        }
        process["oomScoreAdj"] = json!(adj);
    }
    if let Some(profile) = spec.security.apparmor.as_ref() {
        if profile != "unconfined" && apparmor_enabled() {
            process["apparmorProfile"] = json!(profile);
        }
    }
    Ok(process)
}

fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .map(|s| s.trim() == "Y")
        .unwrap_or(false)
}

fn mount(dest: &str, typ: &str, source: impl AsRef<Path>, options: &[&str]) -> Value {
    json!({
        "destination": dest,
        "type": typ,
        "source": source.as_ref(),
        "options": options,
    })
}

fn mounts(spec: &ContainerSpec, inputs: &SpecInputs) -> Result<Vec<Value>> {
    let shm_size = format!("size={}", spec.shm_size.unwrap_or(defaults::DEFAULT_SHM_SIZE));
    let sys_mode = if spec.security.privileged { "rw" } else { "ro" };
    let mut list = vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
        ),
        mount("/sys", "sysfs", "sysfs", &["nosuid", "noexec", "nodev", sys_mode]),
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["nosuid", "noexec", "nodev", "relatime", sys_mode],
        ),
        mount("/dev/mqueue", "mqueue", "mqueue", &["nosuid", "noexec", "nodev"]),
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", &shm_size],
        ),
    ];
    let user_targets: Vec<&str> = spec.mounts.iter().map(|m| m.target()).collect();
    // A user mount on a default mount's destination replaces it, as in Docker.
    list.retain(|m| !user_targets.iter().any(|t| m["destination"] == *t));

    let etc = [
        ("/etc/resolv.conf", &inputs.resolv_conf),
        ("/etc/hostname", &inputs.hostname_file),
        ("/etc/hosts", &inputs.hosts_file),
    ];
    for (dest, src) in etc {
        if !user_targets.contains(&dest) {
            let ro = if spec.read_only { "ro" } else { "rw" };
            list.push(mount(dest, "bind", src, &["rbind", "rprivate", ro]));
        }
    }
    if spec.init {
        if let Some(bin) = &inputs.init_binary {
            list.push(mount(INIT_PATH, "bind", bin, &["bind", "ro", "nosuid", "nodev"]));
        }
    }

    let mut user_mounts = Vec::new();
    for m in &spec.mounts {
        if !m.target().starts_with('/') {
            return Err(invalid(
                spec,
                format!("mount target {:?} must be an absolute path", m.target()),
            ));
        }
        user_mounts.push(match m {
            MountSpec::Bind {
                source,
                target,
                read_only,
                propagation,
            } => {
                let rw = if *read_only { "ro" } else { "rw" };
                mount(target, "bind", source, &["rbind", propagation.as_str(), rw])
            }
            MountSpec::Volume {
                source,
                target,
                read_only,
                ..
            } => {
                let rw = if *read_only { "ro" } else { "rw" };
                mount(target, "bind", source, &["rbind", "rprivate", rw])
            }
            MountSpec::Tmpfs { target, size, mode } => {
                let mut opts = vec!["nosuid".to_string(), "nodev".to_string(), "noexec".to_string()];
                if let Some(size) = size {
                    opts.push(format!("size={size}"));
                }
                if let Some(mode) = mode {
                    opts.push(format!("mode={mode:o}"));
                }
                json!({ "destination": target, "type": "tmpfs", "source": "tmpfs", "options": opts })
            }
        });
    }
    // Parents before children (Docker sorts by path depth).
    user_mounts.sort_by_key(|m| {
        m["destination"]
            .as_str()
            .map(|d| d.split('/').filter(|c| !c.is_empty()).count())
            .unwrap_or(0)
    });
    list.extend(user_mounts);
    Ok(list)
}

fn linux(spec: &ContainerSpec, inputs: &SpecInputs, caps: &[String]) -> Result<Value> {
    let mut network = json!({ "type": "network" });
    if let Some(path) = &spec.netns {
        network["path"] = json!(path);
    }
    let namespaces = json!([
        { "type": "pid" },
        { "type": "ipc" },
        { "type": "uts" },
        { "type": "mount" },
        network,
        { "type": "cgroup" },
    ]);

    let mut linux = json!({
        "namespaces": namespaces,
        "cgroupsPath": inputs.cgroups_path,
        "resources": resources(spec, inputs)?,
        "sysctl": sysctls(spec, inputs)?,
    });
    if !spec.security.privileged {
        linux["maskedPaths"] = json!(defaults::MASKED_PATHS);
        linux["readonlyPaths"] = json!(defaults::READONLY_PATHS);
        let profile = match &spec.security.seccomp {
            SeccompChoice::Default => Some((seccomp::DOCKER_DEFAULT_PROFILE, "Docker's default profile")),
            SeccompChoice::Custom(json) => Some((json.as_str(), "given in security_opt")),
            SeccompChoice::Unconfined => None,
        };
        if let Some((json, name)) = profile {
            linux["seccomp"] = seccomp::to_oci(json, name, caps, &inputs.host)?;
        }
    }
    Ok(linux)
}

fn resources(spec: &ContainerSpec, inputs: &SpecInputs) -> Result<Value> {
    let r = &spec.resources;
    let mut out = json!({});

    let devices: Vec<Value> = if spec.security.privileged {
        vec![json!({ "allow": true, "access": "rwm" })]
    } else {
        let mut d = vec![json!({ "allow": false, "access": "rwm" })];
        d.extend(defaults::ALLOWED_DEVICES.iter().map(|(typ, major, minor, access)| {
            let mut rule = json!({ "allow": true, "type": typ, "access": access });
            if let Some(m) = major {
                rule["major"] = json!(m);
            }
            if let Some(m) = minor {
                rule["minor"] = json!(m);
            }
            rule
        }));
        d
    };
    out["devices"] = json!(devices);

    let mut memory = serde_json::Map::new();
    if let Some(limit) = r.memory {
        if limit < 6 * 1024 * 1024 {
            return Err(invalid(
                spec,
                format!("memory limit {limit} bytes is below the minimum of 6 MiB"),
            ));
        }
        memory.insert("limit".into(), json!(limit));
    }
    if inputs.swap_accounting {
        match (r.memory, r.memory_swap) {
            (_, Some(-1)) => {
                memory.insert("swap".into(), json!(-1));
            }
            (Some(limit), Some(swap)) => {
                if swap < limit {
                    return Err(invalid(
                        spec,
                        format!("memswap_limit {swap} must be at least mem_limit {limit} (it counts memory plus swap)"),
                    ));
                }
                memory.insert("swap".into(), json!(swap));
            }
            (None, Some(_)) => {
                return Err(invalid(spec, "memswap_limit needs mem_limit".into()));
            }
            // Docker: with a memory limit and no swap limit, swap may use as much again.
            (Some(limit), None) => {
                memory.insert("swap".into(), json!(limit.saturating_mul(2)));
            }
            (None, None) => {}
        }
    }
    if let Some(res) = r.memory_reservation {
        memory.insert("reservation".into(), json!(res));
    }
    if !memory.is_empty() {
        out["memory"] = Value::Object(memory);
    }

    let mut cpu = serde_json::Map::new();
    if let Some(cpus) = r.cpus {
        if !(cpus > 0.0) {
            return Err(invalid(spec, format!("cpus {cpus} must be above 0")));
        }
        let quota = (cpus * defaults::CPU_PERIOD as f64).round() as i64;
        cpu.insert("quota".into(), json!(quota.max(1000)));
        cpu.insert("period".into(), json!(defaults::CPU_PERIOD));
    }
    if let Some(shares) = r.cpu_shares {
        cpu.insert("shares".into(), json!(shares));
    }
    if let Some(set) = &r.cpuset_cpus {
        cpu.insert("cpus".into(), json!(set));
    }
    if let Some(set) = &r.cpuset_mems {
        cpu.insert("mems".into(), json!(set));
    }
    if !cpu.is_empty() {
        out["cpu"] = Value::Object(cpu);
    }
    if let Some(pids) = r.pids_limit {
        // Docker: 0 or -1 means unlimited.
        out["pids"] = json!({ "limit": if pids <= 0 { -1 } else { pids } });
    }
    if let Some(weight) = r.blkio_weight {
        if !(10..=1000).contains(&weight) {
            return Err(invalid(spec, format!("blkio weight {weight} is outside 10..=1000")));
        }
        out["blockIO"] = json!({ "weight": weight });
    }
    Ok(out)
}

/// The spec's sysctls, and Docker's default for a container with a network
/// namespace of its own: any group may open ICMP echo sockets (`ping`
/// without `CAP_NET_RAW`).
fn sysctls(spec: &ContainerSpec, inputs: &SpecInputs) -> Result<BTreeMap<String, String>> {
    for name in spec.sysctls.keys() {
        let allowed = defaults::SYSCTL_NAMES.contains(&name.as_str())
            || defaults::SYSCTL_PREFIXES.iter().any(|p| name.starts_with(p));
        if !allowed {
            return Err(RuntimeError::Sysctl {
                name: name.clone(),
                reason: "it is not namespaced, so it would change the host; only kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.* and net.* are allowed".into(),
            });
        }
    }
    let mut sysctls = spec.sysctls.clone();
    if !inputs.host_network {
        for (name, value) in defaults::NETWORK_SYSCTLS {
            sysctls.entry(name.to_string()).or_insert_with(|| value.to_string());
        }
    }
    Ok(sysctls)
}

#[cfg(test)]
mod tests {
    use super::super::config::{HostEntry, ImageConfig, Resources, SecurityOptions, Ulimit};
    use super::*;
    use oci_spec::runtime::{Capability, LinuxNamespaceType};

    fn inputs() -> SpecInputs {
        SpecInputs {
            rootfs: "/r/rootfs".into(),
            user: ExecUser {
                uid: 0,
                gid: 0,
                additional_gids: vec![],
                home: "/root".into(),
            },
            hosts_file: "/r/hosts".into(),
            hostname_file: "/r/hostname".into(),
            resolv_conf: "/r/resolv.conf".into(),
            init_binary: None,
            cgroups_path: "/rcompose/c1".into(),
            swap_accounting: true,
            host: seccomp::Host {
                go_arch: "amd64",
                kernel: (6, 1),
            },
            host_network: false,
        }
    }

    fn base() -> ContainerSpec {
        ContainerSpec {
            id: "c1abcdef0123456789".into(),
            image: ImageConfig {
                env: vec!["PATH=/opt/bin:/bin".into(), "LANG=C".into()],
                cmd: Some(vec!["sh".into()]),
                working_dir: Some("/srv".into()),
                ..Default::default()
            },
            extra_hosts: vec![HostEntry {
                name: "db".into(),
                ip: "10.0.0.2".into(),
            }],
            ..Default::default()
        }
    }

    fn dests(spec: &Spec) -> Vec<String> {
        spec.mounts()
            .as_ref()
            .unwrap()
            .iter()
            .map(|m| m.destination().display().to_string())
            .collect()
    }

    #[test]
    fn defaults_match_docker() {
        let s = build(&base(), &inputs()).unwrap();
        let p = s.process().as_ref().unwrap();
        assert_eq!(p.args().as_ref().unwrap(), &vec!["sh".to_string()]);
        assert_eq!(p.cwd().display().to_string(), "/srv");
        assert_eq!(s.hostname().as_deref(), Some("c1abcdef0123"));
        let caps = p.capabilities().as_ref().unwrap();
        let eff = caps.effective().as_ref().unwrap();
        assert_eq!(eff.len(), 14);
        assert!(eff.contains(&Capability::NetBindService));
        assert!(!eff.contains(&Capability::SysAdmin));
        assert!(caps.inheritable().is_none() || caps.inheritable().as_ref().unwrap().is_empty());
        assert_eq!(p.no_new_privileges(), None);

        let linux = s.linux().as_ref().unwrap();
        let ns: Vec<LinuxNamespaceType> = linux.namespaces().as_ref().unwrap().iter().map(|n| n.typ()).collect();
        for t in [
            LinuxNamespaceType::Pid,
            LinuxNamespaceType::Ipc,
            LinuxNamespaceType::Uts,
            LinuxNamespaceType::Mount,
            LinuxNamespaceType::Network,
            LinuxNamespaceType::Cgroup,
        ] {
            assert!(ns.contains(&t), "{t:?} missing");
        }
        assert!(linux
            .masked_paths()
            .as_ref()
            .unwrap()
            .contains(&"/proc/kcore".to_string()));
        assert!(linux
            .readonly_paths()
            .as_ref()
            .unwrap()
            .contains(&"/proc/sys".to_string()));
        assert!(linux.seccomp().is_some());
        let d = dests(&s);
        for m in [
            "/proc",
            "/dev",
            "/dev/pts",
            "/sys",
            "/dev/mqueue",
            "/dev/shm",
            "/etc/hosts",
            "/etc/hostname",
            "/etc/resolv.conf",
        ] {
            assert!(d.contains(&m.to_string()), "{m} missing from {d:?}");
        }
    }

    #[test]
    fn environment_merges_in_dockers_order() {
        let mut spec = base();
        spec.env = vec!["LANG=en_US.UTF-8".into(), "EXTRA=1".into()];
        spec.tty = true;
        let user = inputs().user;
        assert_eq!(
            environment(&spec, &user),
            vec![
                "PATH=/opt/bin:/bin",
                "HOSTNAME=c1abcdef0123",
                "TERM=xterm",
                "LANG=en_US.UTF-8",
                "EXTRA=1",
                "HOME=/root"
            ]
        );
        // A bare name takes the image's variable away.
        spec.env = vec!["LANG".into(), "EXTRA=1".into()];
        let env = environment(&spec, &user);
        assert!(!env.iter().any(|e| e.starts_with("LANG")), "{env:?}");
        assert!(env.contains(&"EXTRA=1".to_string()), "{env:?}");
        spec.image.env.clear();
        spec.env = vec!["HOME=/h".into()];
        spec.tty = false;
        assert_eq!(
            environment(&spec, &user),
            vec![
                format!("PATH={}", defaults::DEFAULT_PATH),
                "HOSTNAME=c1abcdef0123".into(),
                "HOME=/h".into()
            ]
        );
    }

    #[test]
    fn privileged_drops_confinement() {
        let mut spec = base();
        spec.security = SecurityOptions {
            privileged: true,
            ..Default::default()
        };
        let s = build(&spec, &inputs()).unwrap();
        let linux = s.linux().as_ref().unwrap();
        assert!(linux.seccomp().is_none());
        assert!(linux.masked_paths().is_none());
        let eff = s
            .process()
            .as_ref()
            .unwrap()
            .capabilities()
            .as_ref()
            .unwrap()
            .effective()
            .clone()
            .unwrap();
        assert!(eff.contains(&Capability::SysAdmin));
    }

    #[test]
    fn seccomp_unconfined_and_no_new_privileges() {
        let mut spec = base();
        spec.security.seccomp = SeccompChoice::Unconfined;
        spec.security.no_new_privileges = true;
        let s = build(&spec, &inputs()).unwrap();
        assert!(s.linux().as_ref().unwrap().seccomp().is_none());
        assert_eq!(s.process().as_ref().unwrap().no_new_privileges(), Some(true));
    }

    #[test]
    fn resources_map_to_cgroup_settings() {
        let mut spec = base();
        spec.resources = Resources {
            memory: Some(64 << 20),
            memory_reservation: Some(32 << 20),
            cpus: Some(1.5),
            cpu_shares: Some(512),
            cpuset_cpus: Some("0".into()),
            pids_limit: Some(20),
            blkio_weight: Some(300),
            oom_score_adj: Some(500),
            ..Default::default()
        };
        let s = build(&spec, &inputs()).unwrap();
        let r = s.linux().as_ref().unwrap().resources().as_ref().unwrap();
        let mem = r.memory().as_ref().unwrap();
        assert_eq!(mem.limit(), Some(64 << 20));
        assert_eq!(mem.swap(), Some(128 << 20));
        assert_eq!(mem.reservation(), Some(32 << 20));
        let cpu = r.cpu().as_ref().unwrap();
        assert_eq!(cpu.quota(), Some(150_000));
        assert_eq!(cpu.period(), Some(100_000));
        assert_eq!(cpu.shares(), Some(512));
        assert_eq!(cpu.cpus().as_deref(), Some("0"));
        assert_eq!(r.pids().as_ref().unwrap().limit(), 20);
        assert_eq!(r.block_io().as_ref().unwrap().weight(), Some(300));
        assert_eq!(s.process().as_ref().unwrap().oom_score_adj(), Some(500));

        let mut no_swap = inputs();
        no_swap.swap_accounting = false;
        let s = build(&spec, &no_swap).unwrap();
        let r = s.linux().as_ref().unwrap().resources().as_ref().unwrap();
        assert_eq!(r.memory().as_ref().unwrap().swap(), None);

        spec.resources.memory_swap = Some(32 << 20);
        assert!(build(&spec, &inputs()).is_err(), "swap below memory must be refused");
    }

    #[test]
    fn user_mounts_replace_defaults_and_sort_by_depth() {
        let mut spec = base();
        spec.mounts = vec![
            MountSpec::Bind {
                source: "/host/a/b".into(),
                target: "/data/sub".into(),
                read_only: true,
                propagation: Default::default(),
            },
            MountSpec::Volume {
                source: "/vols/v".into(),
                target: "/data".into(),
                read_only: false,
                nocopy: false,
            },
            MountSpec::Tmpfs {
                target: "/dev/shm".into(),
                size: Some(1 << 20),
                mode: Some(0o1777),
            },
        ];
        let s = build(&spec, &inputs()).unwrap();
        let d = dests(&s);
        assert_eq!(d.iter().filter(|x| *x == "/dev/shm").count(), 1);
        let data = d.iter().position(|x| x == "/data").unwrap();
        let sub = d.iter().position(|x| x == "/data/sub").unwrap();
        assert!(data < sub);
        let m = s.mounts().as_ref().unwrap();
        let shm = m.iter().find(|m| m.destination().to_str() == Some("/dev/shm")).unwrap();
        assert!(shm.options().as_ref().unwrap().contains(&"mode=1777".to_string()));
        let ro = m
            .iter()
            .find(|m| m.destination().to_str() == Some("/data/sub"))
            .unwrap();
        assert!(ro.options().as_ref().unwrap().contains(&"ro".to_string()));
    }

    #[test]
    fn init_prepends_the_init_binary() {
        let mut spec = base();
        spec.init = true;
        assert!(build(&spec, &inputs()).is_err(), "no init binary must be an error");
        let mut inp = inputs();
        inp.init_binary = Some("/usr/bin/tini-static".into());
        let s = build(&spec, &inp).unwrap();
        assert_eq!(
            s.process().as_ref().unwrap().args().as_ref().unwrap(),
            &vec![INIT_PATH.to_string(), "--".into(), "sh".into()]
        );
        assert!(dests(&s).contains(&INIT_PATH.to_string()));
    }

    #[test]
    fn sysctls_ulimits_and_netns() {
        let mut spec = base();
        spec.sysctls.insert("net.ipv4.ip_forward".into(), "1".into());
        spec.ulimits = vec![Ulimit {
            name: "nofile".into(),
            soft: 1024,
            hard: 2048,
        }];
        spec.netns = Some("/run/rcompose/netns/x".into());
        spec.domainname = Some("example.org".into());
        let s = build(&spec, &inputs()).unwrap();
        let linux = s.linux().as_ref().unwrap();
        assert_eq!(linux.sysctl().as_ref().unwrap()["net.ipv4.ip_forward"], "1");
        let net = linux
            .namespaces()
            .as_ref()
            .unwrap()
            .iter()
            .find(|n| n.typ() == LinuxNamespaceType::Network)
            .unwrap();
        assert_eq!(net.path().as_ref().unwrap().to_str(), Some("/run/rcompose/netns/x"));
        let rl = s.process().as_ref().unwrap().rlimits().as_ref().unwrap();
        assert_eq!(rl.len(), 1);
        assert_eq!((rl[0].soft(), rl[0].hard()), (1024, 2048));
        assert_eq!(s.domainname().as_deref(), Some("example.org"));

        assert_eq!(
            linux.sysctl().as_ref().unwrap()["net.ipv4.ping_group_range"],
            "0 2147483647"
        );
        // The user's value wins; the host's namespace gets none.
        spec.sysctls.insert("net.ipv4.ping_group_range".into(), "1 1".into());
        let s = build(&spec, &inputs()).unwrap();
        assert_eq!(
            s.linux().as_ref().unwrap().sysctl().as_ref().unwrap()["net.ipv4.ping_group_range"],
            "1 1"
        );
        spec.sysctls.remove("net.ipv4.ping_group_range");
        let host = SpecInputs {
            host_network: true,
            ..inputs()
        };
        let s = build(&spec, &host).unwrap();
        assert!(!s
            .linux()
            .as_ref()
            .unwrap()
            .sysctl()
            .as_ref()
            .unwrap()
            .contains_key("net.ipv4.ping_group_range"));

        spec.sysctls.insert("vm.swappiness".into(), "1".into());
        assert!(matches!(build(&spec, &inputs()), Err(RuntimeError::Sysctl { .. })));
        spec.sysctls.clear();
        spec.ulimits[0].name = "bogus".into();
        assert!(matches!(build(&spec, &inputs()), Err(RuntimeError::Ulimit { .. })));
    }

    #[test]
    fn relative_working_dir_is_refused() {
        let mut spec = base();
        spec.working_dir = Some("app".into());
        assert!(build(&spec, &inputs()).is_err());
    }
}
