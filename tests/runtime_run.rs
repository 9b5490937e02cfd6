//! Root integration tests: containers run to completion with the embedded
//! runtime (libcontainer) on a busybox image made offline.

mod runtime_support;

use runtime_support::env;

#[test]
fn pid1_hostname_and_exit_code() {
    let Some(mut t) = env("pid1") else { return };
    let spec = t.spec("pid1", "echo pid=$$; hostname; cat /etc/hostname; exit 3");
    let (status, out) = t.run(&spec);
    assert_eq!(status.code, 3, "output: {out}");
    assert!(!status.oom_killed);
    assert!(out.contains("pid=1\n"), "output: {out}");
    assert!(out.contains("testhost\ntesthost\n"), "output: {out}");
}

/// Docker's default capability set, as the kernel prints it.
const DOCKER_DEFAULT_CAPS: &str = "00000000a80425fb";

fn status_field<'a>(out: &'a str, name: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .map(str::trim)
        .unwrap_or_else(|| panic!("{name} not in output: {out}"))
}

#[test]
fn capabilities_are_dockers_defaults() {
    let Some(mut t) = env("caps") else { return };
    let spec = t.spec("caps", "cat /proc/self/status");
    let (status, out) = t.run(&spec);
    assert_eq!(status.code, 0, "output: {out}");
    assert_eq!(status_field(&out, "CapEff"), DOCKER_DEFAULT_CAPS);
    assert_eq!(status_field(&out, "CapPrm"), DOCKER_DEFAULT_CAPS);
    assert_eq!(status_field(&out, "CapBnd"), DOCKER_DEFAULT_CAPS);
    assert_eq!(status_field(&out, "CapInh"), "0000000000000000");
    assert_eq!(status_field(&out, "NoNewPrivs"), "0");

    let mut spec = t.spec("caps2", "cat /proc/self/status");
    spec.security.cap_drop = vec!["ALL".into()];
    spec.security.cap_add = vec!["NET_ADMIN".into()];
    let (_, out) = t.run(&spec);
    assert_eq!(status_field(&out, "CapEff"), "0000000000001000");
    // CAP_SYS_ADMIN and CAP_SETPCAP, held until the filter was loaded, are
    // gone from every set.
    assert_eq!(status_field(&out, "CapBnd"), "0000000000001000");
    assert_eq!(status_field(&out, "CapPrm"), "0000000000001000");
    assert_eq!(status_field(&out, "Seccomp"), "2");
}

#[test]
fn seccomp_profile_is_in_force() {
    let Some(mut t) = env("seccomp") else { return };
    // unshare(CLONE_NEWUSER) needs no capability, only the profile forbids it.
    let script = "grep Seccomp: /proc/self/status; unshare -U true && echo unshare=ok || echo unshare=denied";
    let spec = t.spec("sc", script);
    let (_, out) = t.run(&spec);
    assert_eq!(status_field(&out, "Seccomp"), "2", "output: {out}");
    assert!(out.contains("unshare=denied"), "output: {out}");

    let mut spec = t.spec("unconf", script);
    spec.security.seccomp = rcompose::runtime::SeccompChoice::Unconfined;
    let (_, out) = t.run(&spec);
    assert_eq!(status_field(&out, "Seccomp"), "0", "output: {out}");
    assert!(out.contains("unshare=ok"), "output: {out}");
}

#[test]
fn seccomp_program_is_compiled_once_and_again_when_the_cache_is_gone() {
    let Some(mut t) = env("sccache") else { return };
    let script = "grep Seccomp: /proc/self/status; unshare -U true && echo unshare=ok || echo unshare=denied";
    let programs = |t: &runtime_support::TestEnv| {
        std::fs::read_dir(t.roots.seccomp_cache())
            .map(|d| d.count())
            .unwrap_or(0)
    };
    let spec = t.spec("scc1", script);
    let (_, out) = t.run(&spec);
    assert!(out.contains("unshare=denied"), "output: {out}");
    assert_eq!(programs(&t), 1);
    let spec = t.spec("scc2", script);
    let (_, out) = t.run(&spec);
    assert!(out.contains("unshare=denied"), "output: {out}");
    assert_eq!(programs(&t), 1, "the same profile compiles to the same program");

    // Cleared between prepare and start: the init compiles from config.json.
    let spec = t.spec("scc3", script);
    rcompose::runtime::prepare(&t.roots, &spec).unwrap();
    std::fs::remove_dir_all(t.roots.seccomp_cache()).unwrap();
    let (path, stdio) = t.output_file(&spec.id);
    let pid = rcompose::runtime::create(&t.roots, &spec.id, stdio).unwrap();
    rcompose::runtime::start(&t.roots, &spec.id).unwrap();
    let status = rcompose::runtime::wait(&spec.id, pid).unwrap();
    rcompose::runtime::remove(&t.roots, &spec.id).unwrap();
    let out = std::fs::read_to_string(path).unwrap();
    assert_eq!(status.code, 0, "output: {out}");
    assert_eq!(status_field(&out, "Seccomp"), "2");
    assert!(out.contains("unshare=denied"), "output: {out}");
    assert_eq!(programs(&t), 1);
}

#[test]
fn no_new_privileges_when_asked() {
    let Some(mut t) = env("nnp") else { return };
    let mut spec = t.spec("nnp", "grep -E 'NoNewPrivs|Seccomp:' /proc/self/status");
    spec.security.no_new_privileges = true;
    let (status, out) = t.run(&spec);
    assert_eq!(status.code, 0, "output: {out}");
    assert_eq!(status_field(&out, "NoNewPrivs"), "1");
    assert_eq!(status_field(&out, "Seccomp"), "2");
}

#[test]
fn memory_limit_oom_kills_with_137() {
    let Some(mut t) = env("oom") else { return };
    // tail keeps everything while it looks for a newline in /dev/zero.
    let mut spec = t.spec("oom", "exec tail /dev/zero");
    spec.resources.memory = Some(16 << 20);
    let (status, out) = t.run(&spec);
    assert_eq!(status.code, 137, "output: {out}");
    assert!(status.oom_killed, "the cgroup must report the OOM kill");
}

#[test]
fn pids_limit_stops_forks() {
    let Some(mut t) = env("pids") else { return };
    let script =
        "i=0; while [ $i -lt 30 ]; do sleep 5 & i=$((i+1)); done; echo started; kill $(jobs -p) 2>/dev/null; true";
    let mut spec = t.spec("pids", script);
    spec.resources.pids_limit = Some(8);
    let (_, out) = t.run(&spec);
    assert!(out.contains("can't fork"), "forks past the limit must fail: {out}");
}

#[test]
fn network_namespace_has_only_loopback() {
    let Some(mut t) = env("netns") else { return };
    let spec = t.spec("net", "cat /proc/net/dev");
    let (_, out) = t.run(&spec);
    let ifaces: Vec<&str> = out
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(str::trim)
        .collect();
    assert_eq!(ifaces, vec!["lo"], "output: {out}");
}

#[test]
fn user_is_resolved_through_the_image() {
    let Some(mut t) = env("user") else { return };
    let mut spec = t.spec("user", "id; echo HOME=$HOME; pwd");
    spec.user = Some("app".into());
    spec.group_add = vec!["daemon".into()];
    spec.working_dir = Some("/home/app".into());
    let (status, out) = t.run(&spec);
    assert_eq!(status.code, 0, "output: {out}");
    assert!(out.contains("uid=1000(app) gid=1000(app)"), "output: {out}");
    assert!(out.contains("29(audio)") && out.contains("1(daemon)"), "output: {out}");
    assert!(out.contains("HOME=/home/app\n/home/app\n"), "output: {out}");
}

#[test]
fn mounts_binds_tmpfs_volumes_and_read_only_root() {
    use rcompose::runtime::MountSpec;
    let Some(mut t) = env("mounts") else { return };
    let host_rw = t.dir.path().join("rw");
    let host_ro = t.dir.path().join("ro");
    let vol = t.dir.path().join("vol");
    for d in [&host_rw, &host_ro, &vol] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(host_ro.join("f"), "from host").unwrap();
    std::fs::create_dir_all(t.busybox.join("data")).unwrap();
    std::fs::write(t.busybox.join("data/seed"), "from image").unwrap();

    let script = "echo written > /rw/out; cat /ro/f; echo; echo x > /ro/g || echo ro=refused; \
                  cat /data/seed; echo; grep ' /scratch ' /proc/mounts; \
                  touch /newfile || echo root=refused; echo ok > /scratch/f && echo tmpfs=ok";
    let mut spec = t.spec("mounts", script);
    spec.read_only = true;
    spec.mounts = vec![
        MountSpec::Bind {
            source: host_rw.clone(),
            target: "/rw".into(),
            read_only: false,
            propagation: Default::default(),
        },
        MountSpec::Bind {
            source: host_ro.clone(),
            target: "/ro".into(),
            read_only: true,
            propagation: Default::default(),
        },
        MountSpec::Volume {
            source: vol.clone(),
            target: "/data".into(),
            read_only: false,
            nocopy: false,
        },
        MountSpec::Tmpfs {
            target: "/scratch".into(),
            size: Some(1 << 20),
            mode: Some(0o750),
        },
    ];
    let (status, out) = t.run(&spec);
    assert_eq!(status.code, 0, "output: {out}");
    assert_eq!(std::fs::read_to_string(host_rw.join("out")).unwrap(), "written\n");
    assert!(out.contains("from host\n"), "output: {out}");
    assert!(out.contains("ro=refused"), "output: {out}");
    assert!(
        out.contains("from image\n"),
        "volume must be filled from the image: {out}"
    );
    assert_eq!(std::fs::read_to_string(vol.join("seed")).unwrap(), "from image");
    assert!(out.contains("size=1024k") && out.contains("mode=750"), "output: {out}");
    assert!(out.contains("root=refused"), "read_only root: {out}");
    assert!(out.contains("tmpfs=ok"), "output: {out}");
}

#[test]
fn nothing_is_left_behind() {
    let Some(mut t) = env("cleanup") else { return };
    let mut spec = t.spec("gone", "sleep 0");
    spec.resources.memory = Some(32 << 20);
    spec.resources.pids_limit = Some(50);
    let (status, _) = t.run(&spec);
    assert_eq!(status.code, 0);
    assert!(!t.roots.container(&spec.id).dir.exists(), "container dir left");
    assert!(!t.roots.engine_root().join(&spec.id).exists(), "engine state left");
    assert_eq!(t.mounts_left(), Vec::<String>::new(), "mounts left");
    assert_eq!(t.cgroups_left(), Vec::<std::path::PathBuf>::new(), "cgroups left");
}

#[test]
fn init_reaps_as_pid1() {
    let Some(mut t) = env("init") else { return };
    if rcompose::runtime::create::find_init_binary().is_none() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("tini-static missing in CI: apt-get install tini");
        }
        eprintln!("SKIP: no static init binary (apt-get install tini)");
        return;
    }
    let mut spec = t.spec("init", "cat /proc/1/cmdline | tr '\\0' ' '; echo; echo pid=$$");
    spec.init = true;
    let (status, out) = t.run(&spec);
    assert_eq!(status.code, 0, "output: {out}");
    assert!(out.starts_with("/sbin/docker-init -- sh"), "output: {out}");
    assert!(!out.contains("pid=1\n"), "the shell must not be PID 1: {out}");
}
