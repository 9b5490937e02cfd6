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
