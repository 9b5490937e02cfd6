//! Root integration tests of the builder through the CLI: `rcompose build`
//! of a multi-stage Dockerfile on the offline busybox image, the layer
//! cache, the image config, `up --build`/`--no-build`, and errors that
//! name the Dockerfile's line.

mod project_support;

use project_support::project;

fn inspect(p: &project_support::Project, image: &str) -> serde_json::Value {
    let (so, _) = p.ok(&["image", "inspect", image]);
    let v: serde_json::Value = serde_json::from_str(&so).unwrap();
    v[0].clone()
}

const DOCKERFILE: &str = r#"# syntax=docker/dockerfile:1
ARG BASE=busybox:test
FROM ${BASE} AS base
ARG GREETING
ENV APP_ENV=production \
    APP_HOME=/app
WORKDIR $APP_HOME
COPY msg.txt ./
RUN echo "$GREETING from RUN" >> msg.txt && cat /proc/sys/kernel/random/uuid > /stamp
COPY --chown=app:app src/ ./src/

FROM busybox:test
COPY --from=base /app /app
COPY --from=base /stamp /stamp
RUN rm /bin/vi && mkdir /data
WORKDIR /app
EXPOSE 8080
HEALTHCHECK --interval=5s --retries=2 CMD true
CMD ["sh", "-c", "cat /app/msg.txt; trap 'exit 0' TERM; sleep 2147483647 & wait"]
"#;

#[test]
fn build_cache_image_config_and_up() {
    let Some(p) = project("build", 29) else { return };
    let app = p.project_dir.join("app");
    std::fs::create_dir_all(app.join("src")).unwrap();
    std::fs::write(app.join("Dockerfile"), DOCKERFILE).unwrap();
    std::fs::write(app.join("msg.txt"), "hi\n").unwrap();
    std::fs::write(app.join("src/main.py"), "print('hi')\n").unwrap();
    std::fs::write(app.join("src/secret.txt"), "do not ship\n").unwrap();
    std::fs::write(app.join(".dockerignore"), "**/secret.txt\n").unwrap();
    p.compose(
        r#"
services:
  app:
    build:
      context: ./app
      args: {GREETING: hello}
networks:
  default:
    ipam: {config: [{subnet: SUBNET}]}
"#,
    );

    let (_, err) = p.ok(&["build"]);
    assert!(err.contains("[app] #"), "step lines: {err}");
    let image = "rct-build-app";
    let first = inspect(&p, image);
    let config = &first["Config"];
    assert_eq!(config["WorkingDir"], "/app");
    assert_eq!(config["ExposedPorts"]["8080/tcp"], serde_json::json!({}));
    assert_eq!(config["Healthcheck"]["Test"], serde_json::json!(["CMD-SHELL", "true"]));
    assert_eq!(config["Healthcheck"]["Interval"], 5_000_000_000u64);
    assert_eq!(config["Cmd"][0], "sh");
    // The final stage does not inherit the first one's environment.
    assert!(!config["Env"].to_string().contains("APP_ENV"), "{config}");
    // busybox:test's one layer + 2 COPY --from + RUN + nothing for WORKDIR (exists).
    assert_eq!(first["RootFS"]["Layers"].as_array().unwrap().len(), 4, "{first}");

    // Unchanged: every layer step comes from the cache, same image.
    let (_, err) = p.ok(&["build"]);
    assert!(err.contains("CACHED"), "{err}");
    assert_eq!(inspect(&p, image)["Id"], first["Id"]);

    // A changed source: the COPY and what follows it run again.
    std::fs::write(app.join("msg.txt"), "changed\n").unwrap();
    p.ok(&["build"]);
    let second = inspect(&p, image);
    assert_ne!(second["Id"], first["Id"]);

    p.ok(&["up", "-d", "--no-build"]);
    let (out, _) = p.ok(&["exec", "-T", "app", "cat", "/app/msg.txt"]);
    assert_eq!(out, "changed\nhello from RUN\n");
    let (out, _) = p.ok(&[
        "exec",
        "-T",
        "app",
        "sh",
        "-c",
        "stat -c %u:%g /app/src/main.py; test -e /app/src/secret.txt || echo no-secret; \
         test -e /bin/vi || echo no-vi; test -d /data && echo data; pwd",
    ]);
    assert_eq!(out, "1000:1000\nno-secret\nno-vi\ndata\n/app\n");
    let stamp = p.ok(&["exec", "-T", "app", "cat", "/stamp"]).0;

    // --build: built again (from the cache: same stamp), container kept.
    let (_, err) = p.ok(&["up", "-d", "--build"]);
    assert!(err.contains("CACHED"), "{err}");
    assert_eq!(p.ok(&["exec", "-T", "app", "cat", "/stamp"]).0, stamp);
    assert_eq!(inspect(&p, image)["Id"], second["Id"]);
    // Another build argument, then --no-cache: the RUN runs again each time.
    p.ok(&["build", "-q", "--build-arg", "GREETING=bonjour"]);
    let third = inspect(&p, image);
    assert_ne!(third["Id"], second["Id"]);
    p.ok(&["build", "--no-cache", "-q"]);
    assert_ne!(inspect(&p, image)["Id"], second["Id"]);
    p.ok(&["down"]);
}

#[test]
fn build_errors_name_the_line_and_missing_images_are_not_built_with_no_build() {
    let Some(p) = project("builderr", 30) else { return };
    let ctx = p.project_dir.join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile.bad"), "FROM busybox:test\n\nFROBNICATE now\n").unwrap();
    std::fs::write(
        ctx.join("Dockerfile.fails"),
        "FROM busybox:test\nRUN echo output-of-run; exit 3\n",
    )
    .unwrap();
    std::fs::write(ctx.join("Dockerfile.copy"), "FROM busybox:test\nCOPY ../outside /x\n").unwrap();
    p.compose(
        r#"
services:
  bad: {build: {context: ./ctx, dockerfile: Dockerfile.bad}}
  fails: {build: {context: ./ctx, dockerfile: Dockerfile.fails}}
  escape: {build: {context: ./ctx, dockerfile: Dockerfile.copy}}
networks:
  default:
    ipam: {config: [{subnet: SUBNET}]}
"#,
    );
    let err = |args: &[&str]| {
        let out = p.rc(args);
        assert!(!out.status.success(), "{args:?} should fail");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let e = err(&["build", "bad"]);
    assert!(e.contains("Dockerfile.bad:3") && e.contains("FROBNICATE"), "{e}");
    let e = err(&["build", "fails"]);
    assert!(
        e.contains("Dockerfile.fails:2") && e.contains("non-zero code: 3"),
        "{e}"
    );
    assert!(e.contains("output-of-run"), "RUN output is shown: {e}");
    let e = err(&["build", "escape"]);
    assert!(
        e.contains("Dockerfile.copy:2") && e.contains("outside the build context"),
        "{e}"
    );
    let e = err(&["up", "-d", "--no-build", "fails"]);
    assert!(e.contains("not built") && e.contains("rcompose build fails"), "{e}");
    assert!(p.names().is_empty());
    // Nothing of the failed steps is left: no build containers, no mounts.
    let containers = std::fs::read_dir(p.root.join("containers"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(containers, 0);
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(p.root.to_str().unwrap()), "{mounts}");
}

#[test]
fn a_build_killed_in_a_run_step_is_cleaned_up_by_down() {
    let Some(p) = project("buildkill", 31) else { return };
    let ctx = p.project_dir.join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox:test\nRUN touch /started; sleep 300\n",
    )
    .unwrap();
    p.compose("services:\n  slow: {build: ./ctx}\n");
    let mut child = p
        .command(&["build"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let step_containers = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(p.root.join("containers"))
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    };
    p.eventually(30, "the RUN step to start", || {
        step_containers().iter().any(|d| d.join("upper/started").exists())
    });
    let step = step_containers()[0].file_name().unwrap().to_string_lossy().into_owned();
    // Processes whose cgroup is the step's (the runtime names cgroups by id).
    let in_step = || -> Vec<String> {
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().chars().all(|c| c.is_ascii_digit()))
            .filter(|e| std::fs::read_to_string(e.path().join("cgroup")).is_ok_and(|c| c.contains(&step)))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!in_step().is_empty(), "the killed build left its step running");
    p.ok(&["down"]);
    assert!(step_containers().is_empty(), "{:?}", step_containers());
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(p.root.to_str().unwrap()), "{mounts}");
    assert!(in_step().is_empty(), "processes left: {:?}", in_step());
}

/// An image's VOLUME gets an anonymous volume (data survives a recreate,
/// `volume ls` lists it, `down -v` removes it) and its EXPOSE shows in `ps`
/// next to the published ports, as with Docker Compose.
#[test]
fn image_volumes_are_anonymous_volumes_and_exposed_ports_show() {
    let Some(p) = project("imgvol", 34) else { return };
    let app = p.project_dir.join("app");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(
        app.join("Dockerfile"),
        "FROM busybox:test\nRUN mkdir /data && echo from-image > /data/seed\nVOLUME /data\nEXPOSE 5000 53/udp\n\
         CMD [\"sh\", \"-c\", \"trap 'exit 0' TERM; sleep 2147483647 & wait\"]\n",
    )
    .unwrap();
    p.compose(
        r#"
services:
  app:
    build: ./app
    expose: ["7000"]
    ports: ["127.0.0.1:18341:5000"]
networks:
  default:
    ipam: {config: [{subnet: SUBNET}]}
"#,
    );
    p.ok(&["up", "-d"]);
    // Populated from the image, as Docker fills a new volume.
    let (seed, _) = p.ok(&["exec", "-T", "app", "cat", "/data/seed"]);
    assert_eq!(seed.trim(), "from-image");
    p.ok(&["exec", "-T", "app", "sh", "-c", "echo kept > /data/row"]);
    let mounts = p.ok(&["exec", "-T", "app", "cat", "/proc/self/mounts"]).0;
    assert!(mounts.lines().any(|l| l.split(' ').nth(1) == Some("/data")), "{mounts}");

    let (table, _) = p.ok(&["ps"]);
    assert!(
        table.contains("127.0.0.1:18341->5000/tcp, 53/udp, 7000/tcp"),
        "published first, then the exposed-only ports: {table}"
    );

    let (volumes, _) = p.ok(&["volume", "ls", "-q"]);
    let anonymous: Vec<&str> = volumes.lines().filter(|v| v.len() == 64).collect();
    assert_eq!(anonymous.len(), 1, "{volumes}");

    p.ok(&["up", "-d", "--force-recreate"]);
    let (row, _) = p.ok(&["exec", "-T", "app", "cat", "/data/row"]);
    assert_eq!(row.trim(), "kept", "the image volume's data survives a recreate");

    p.ok(&["down", "-v"]);
    let (volumes, _) = p.ok(&["volume", "ls", "-q"]);
    assert!(!volumes.contains(anonymous[0]), "{volumes}");
}

/// Each COPY/ADD destination form, checked by running the built image.
const DESTINATIONS: &str = r#"FROM busybox:test
RUN mkdir -p /srv/real /existing && ln -s /srv/real /link && chmod 1777 /tmp
WORKDIR /app
COPY requirements.txt .
COPY requirements.txt ./dot-slash/
COPY one.txt /existing
COPY one.txt /renamed.txt
COPY one.txt two.txt /multi/
COPY *.txt /wild/
COPY src /srcdest
COPY src/ lib/
COPY src one.txt /mixed
COPY one.txt /link/
COPY --chown=app one.txt /home/app/
COPY one.txt /tmp/
COPY . /ctx
WORKDIR /app/sub
COPY one.txt ..
ADD two.txt .
ADD two.txt added/.
USER app
WORKDIR /appwork
USER root
"#;

const DESTINATION_CHECK: &str = r#"for p in /app /app/requirements.txt /app/dot-slash/requirements.txt \
  /existing/one.txt /renamed.txt /multi/one.txt /multi/two.txt /wild/one.txt \
  /wild/two.txt /wild/requirements.txt /srcdest/main.py /app/lib/main.py \
  /mixed/main.py /mixed/one.txt /srv/real/one.txt /home/app/one.txt /tmp/one.txt \
  /ctx/src/main.py /app/one.txt /app/sub/two.txt /app/sub/added/two.txt; do
  if [ -d "$p" ]; then echo "$p dir"; elif [ -f "$p" ]; then echo "$p file"; else echo "$p MISSING"; fi
done
test -L /link && echo link-kept
stat -c '%a %u' /tmp /home/app /ctx /srcdest
stat -c '%u' /home/app/one.txt /appwork
cat /renamed.txt
"#;

#[test]
fn copy_destinations_follow_dockers_rules() {
    let Some(p) = project("bld_copy", 120) else { return };
    let ctx = p.project_dir.join("ctx");
    std::fs::create_dir_all(ctx.join("src")).unwrap();
    std::fs::write(ctx.join("Dockerfile"), DESTINATIONS).unwrap();
    std::fs::write(ctx.join("requirements.txt"), "flask\n").unwrap();
    std::fs::write(ctx.join("one.txt"), "one\n").unwrap();
    std::fs::write(ctx.join("two.txt"), "two\n").unwrap();
    std::fs::write(ctx.join("src/main.py"), "print(1)\n").unwrap();
    // The context directory's own mode must not become /ctx's.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&ctx, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::write(
        ctx.join("Dockerfile.several"),
        "FROM busybox:test\nCOPY one.txt two.txt /not-a-dir\n",
    )
    .unwrap();
    std::fs::write(
        ctx.join("Dockerfile.onfile"),
        "FROM busybox:test\nCOPY one.txt /etc/passwd/\n",
    )
    .unwrap();
    p.compose(
        r#"
services:
  app: {build: ./ctx}
  several: {build: {context: ./ctx, dockerfile: Dockerfile.several}}
  onfile: {build: {context: ./ctx, dockerfile: Dockerfile.onfile}}
networks:
  default:
    ipam: {config: [{subnet: SUBNET}]}
"#,
    );
    p.ok(&["build", "app"]);
    let (out, _) = p.ok(&["run", "--rm", "-T", "app", "sh", "-c", DESTINATION_CHECK]);
    let expected = "/app dir\n/app/requirements.txt file\n/app/dot-slash/requirements.txt file\n\
        /existing/one.txt file\n/renamed.txt file\n/multi/one.txt file\n/multi/two.txt file\n\
        /wild/one.txt file\n/wild/two.txt file\n/wild/requirements.txt file\n/srcdest/main.py file\n\
        /app/lib/main.py file\n/mixed/main.py file\n/mixed/one.txt file\n/srv/real/one.txt file\n\
        /home/app/one.txt file\n/tmp/one.txt file\n/ctx/src/main.py file\n/app/one.txt file\n\
        /app/sub/two.txt file\n/app/sub/added/two.txt file\nlink-kept\n\
        1777 0\n755 1000\n755 0\n755 0\n1000\n1000\none\n";
    assert_eq!(out, expected);

    let err = |service: &str| {
        let out = p.rc(&["build", service]);
        assert!(!out.status.success(), "{service} should fail");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let e = err("several");
    assert!(
        e.contains("Dockerfile.several:2") && e.contains("must be a directory and end with a /"),
        "{e}"
    );
    let e = err("onfile");
    assert!(
        e.contains("Dockerfile.onfile:2") && e.contains("/etc/passwd is a file in the image"),
        "{e}"
    );
}

#[test]
fn build_with_dependencies_builds_what_the_named_service_needs() {
    let Some(p) = project("build_deps", 52) else { return };
    for d in ["api", "worker", "other"] {
        let dir = p.project_dir.join(d);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("Dockerfile"),
            format!("FROM busybox:test\nRUN echo {d} > /name\n"),
        )
        .unwrap();
    }
    p.compose(
        r#"
services:
  api:
    build: ./api
    depends_on: [worker]
  worker:
    build: ./worker
  other:
    build: ./other
networks:
  default:
    ipam: {config: [{subnet: SUBNET}]}
"#,
    );
    let images = |p: &project_support::Project| {
        let (so, _) = p.ok(&["image", "ls", "--format", "json"]);
        so
    };
    p.ok(&["build", "api"]);
    let so = images(&p);
    assert!(
        so.contains("rct-build-deps-api") && !so.contains("rct-build-deps-worker"),
        "{so}"
    );
    p.ok(&["build", "--with-dependencies", "--progress", "plain", "api"]);
    let so = images(&p);
    assert!(so.contains("rct-build-deps-worker"), "{so}");
    assert!(!so.contains("rct-build-deps-other"), "{so}");
}

#[test]
fn an_unset_environment_entry_removes_the_images_variable() {
    let Some(p) = project("env_unset", 63) else { return };
    let dir = p.project_dir.join("app");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM busybox:test\nENV FOO=from-image KEEP=yes\nCMD [\"sh\", \"-c\", \"trap 'exit 0' TERM; sleep 2147483647 & wait\"]\n",
    )
    .unwrap();
    p.compose(
        r#"
services:
  app:
    build: ./app
    environment:
      - FOO
      - ADDED=1
networks:
  default:
    ipam: {config: [{subnet: SUBNET}]}
"#,
    );
    // FOO is unset in this (the test's) environment and there is no .env.
    let out = p.command(&["up", "-d"]).env_remove("FOO").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (env, _) = p.ok(&["exec", "-T", "app", "env"]);
    assert!(!env.lines().any(|l| l.starts_with("FOO=")), "{env}");
    assert!(
        env.lines().any(|l| l == "KEEP=yes") && env.lines().any(|l| l == "ADDED=1"),
        "{env}"
    );
}
