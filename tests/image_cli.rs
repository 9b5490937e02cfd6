//! `rcompose image …` end to end: the built binary against a real
//! docker-registry, with skopeo reading back what rcompose pushed and
//! saved, and rcompose loading what skopeo wrote.

mod image_common;

use image_common::*;
use rcompose::image::store::ImageStore;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Runs rcompose with its own state root and Docker config dir.
fn rc(root: &Path, args: &[&str]) -> Output {
    rc_in(root, args, None)
}

fn rc_in(root: &Path, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rcompose"));
    cmd.args(args)
        .env("RCOMPOSE_ROOT", root.join("state"))
        .env("DOCKER_CONFIG", root.join("docker"))
        .env("RCOMPOSE_REGISTRIES", root.join("registries.json"))
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run rcompose");
    if let Some(data) = stdin {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(data).unwrap();
    }
    child.wait_with_output().unwrap()
}

/// Runs rcompose and fails the test with full context if it fails.
fn ok(root: &Path, args: &[&str]) -> String {
    let out = rc(root, args);
    assert!(
        out.status.success(),
        "rcompose {args:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn fails(root: &Path, args: &[&str]) -> String {
    let out = rc(root, args);
    assert!(
        !out.status.success(),
        "rcompose {args:?} should have failed:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn store(root: &Path) -> ImageStore {
    ImageStore::open(&root.join("state")).unwrap()
}

fn skopeo_json(args: &[&str]) -> serde_json::Value {
    serde_json::from_str(&skopeo(args)).unwrap()
}

#[test]
fn push_is_read_back_by_skopeo() {
    if !registry_prereqs("push_is_read_back_by_skopeo") {
        return;
    }
    let reg = Registry::start("");
    reg.seed(&oci("whiteouts"), "src/wo:latest", &[]);
    let t = tempfile::tempdir().unwrap();
    let src = format!("{}/src/wo", reg.addr);
    ok(t.path(), &["image", "pull", &src]);
    let local = store(t.path()).resolve(&src).unwrap().manifest.digest;

    // Same registry, other repository: blobs are mounted, not uploaded.
    let dst = format!("{}/pushed/wo:v1", reg.addr);
    ok(t.path(), &["image", "tag", &src, &dst]);
    let out = ok(t.path(), &["image", "push", &dst]);
    assert!(out.contains("Mounted from src/wo"), "{out}");
    assert!(out.contains(&format!("v1: digest: {local}")), "{out}");
    let inspect = skopeo_json(&["inspect", "--tls-verify=false", &format!("docker://{dst}")]);
    assert_eq!(inspect["Digest"], local.to_string());
    // skopeo verifies every blob it copies.
    let copy = tempfile::tempdir().unwrap();
    skopeo(&[
        "copy",
        "--quiet",
        "--src-tls-verify=false",
        &format!("docker://{dst}"),
        &format!("oci:{}:x", copy.path().display()),
    ]);

    // Again: everything exists.
    let out = ok(t.path(), &["image", "push", &dst]);
    assert!(out.contains("Layer already exists"), "{out}");
    assert!(!out.contains("Pushed"), "{out}");

    // An image made here (uncompressed layer) goes up as whole blobs and
    // comes back through a pull into an empty store.
    let rootfs = t.path().join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
    std::fs::write(rootfs.join("hello"), b"imported\n").unwrap();
    let tarball = t.path().join("rootfs.tar");
    assert!(Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .arg("-cf")
        .arg(&tarball)
        .arg(".")
        .status()
        .unwrap()
        .success());
    let imported = format!("{}/imported:1", reg.addr);
    ok(
        t.path(),
        &[
            "image",
            "import",
            "--change",
            "CMD [\"/bin/busybox\", \"sh\"]",
            tarball.to_str().unwrap(),
            &imported,
        ],
    );
    let out = ok(t.path(), &["image", "push", &imported]);
    assert!(out.contains("Pushed"), "{out}");
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{imported}"),
    ]);
    assert!(raw.contains("application/vnd.oci.image.layer.v1.tar\""), "{raw}");
    let t2 = tempfile::tempdir().unwrap();
    ok(t2.path(), &["image", "pull", &imported]);
    let s2 = store(t2.path());
    let img = s2.load(&s2.resolve(&imported).unwrap().manifest.digest).unwrap();
    assert_eq!(
        std::fs::read(s2.layer_dirs(&img).unwrap()[0].join("hello")).unwrap(),
        b"imported\n"
    );
    assert_eq!(
        img.config.config.as_ref().unwrap()["Cmd"],
        serde_json::json!(["/bin/busybox", "sh"])
    );
}

#[test]
fn save_and_load_interoperate_with_skopeo() {
    if !registry_prereqs("save_and_load_interoperate_with_skopeo") {
        return;
    }
    let reg = Registry::start("");
    reg.seed(&oci("whiteouts"), "wo:latest", &[]);
    let t = tempfile::tempdir().unwrap();
    let name = format!("{}/wo", reg.addr);
    ok(t.path(), &["image", "pull", "-q", &name]);
    ok(t.path(), &["image", "tag", &name, "saved:1"]);
    let id = store(t.path())
        .load(&store(t.path()).resolve("saved:1").unwrap().manifest.digest)
        .unwrap()
        .config_digest;

    let docker_tar = t.path().join("docker.tar");
    let oci_tar = t.path().join("oci.tar");
    ok(
        t.path(),
        &["image", "save", "-o", docker_tar.to_str().unwrap(), "saved:1"],
    );
    ok(
        t.path(),
        &[
            "image",
            "save",
            "--format",
            "oci",
            "-o",
            oci_tar.to_str().unwrap(),
            "saved:1",
        ],
    );
    // skopeo reads both (and checks the blobs while copying).
    let d = skopeo_json(&["inspect", &format!("docker-archive:{}", docker_tar.display())]);
    assert_eq!(d["Layers"].as_array().unwrap().len(), 3);
    assert_eq!(
        skopeo_json(&[
            "inspect",
            "--config",
            &format!("docker-archive:{}", docker_tar.display())
        ])["rootfs"]["diff_ids"],
        d["Layers"]
    );
    let out = tempfile::tempdir().unwrap();
    skopeo(&[
        "copy",
        "--quiet",
        &format!("docker-archive:{}", docker_tar.display()),
        &format!("oci:{}:a", out.path().display()),
    ]);
    skopeo(&[
        "copy",
        "--quiet",
        &format!("oci-archive:{}", oci_tar.display()),
        &format!("oci:{}:b", out.path().display()),
    ]);

    // Our archives load into an empty store with the same image ID.
    for tar in [&docker_tar, &oci_tar] {
        let t2 = tempfile::tempdir().unwrap();
        let out = ok(t2.path(), &["image", "load", "-i", tar.to_str().unwrap()]);
        assert!(out.contains("Loaded image: saved:1"), "{out}");
        let s2 = store(t2.path());
        let img = s2.load(&s2.resolve("saved:1").unwrap().manifest.digest).unwrap();
        assert_eq!(img.config_digest, id);
        assert!(s2.layer_dirs(&img).unwrap()[2].join("opt/dir/c").is_file());
    }

    // skopeo's archives load too (stdin for one of them).
    let sk_docker = t.path().join("sk-docker.tar");
    let sk_oci = t.path().join("sk-oci.tar");
    skopeo(&[
        "copy",
        "--quiet",
        &oci("busybox"),
        &format!("docker-archive:{}:skbox:d", sk_docker.display()),
    ]);
    skopeo(&[
        "copy",
        "--quiet",
        &oci("busybox"),
        &format!("oci-archive:{}:skbox:o", sk_oci.display()),
    ]);
    let t3 = tempfile::tempdir().unwrap();
    ok(t3.path(), &["image", "load", "-i", sk_docker.to_str().unwrap()]);
    let out = rc_in(t3.path(), &["image", "load"], Some(&std::fs::read(&sk_oci).unwrap()));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let ls = ok(t3.path(), &["image", "ls", "--format", "json"]);
    assert!(ls.contains("\"Repository\":\"skbox\",\"Tag\":\"d\""), "{ls}");
    assert!(ls.contains("\"Repository\":\"skbox\",\"Tag\":\"o\""), "{ls}");

    // Not an archive: a clear error.
    let junk = t.path().join("junk.tar");
    std::fs::write(&junk, vec![0u8; 2048]).unwrap();
    let err = fails(t3.path(), &["image", "load", "-i", junk.to_str().unwrap()]);
    assert!(err.contains("is this an image archive"), "{err}");
}

#[test]
fn ls_inspect_history_tag_rm_prune() {
    if !registry_prereqs("ls_inspect_history_tag_rm_prune") {
        return;
    }
    let reg = Registry::start("");
    reg.seed(&oci("busybox"), "busybox:latest", &[]);
    reg.seed(&oci("whiteouts"), "wo:latest", &[]);
    let t = tempfile::tempdir().unwrap();
    let bb = format!("{}/busybox", reg.addr);
    let out = ok(t.path(), &["image", "pull", &bb]);
    assert!(
        out.contains("Pull complete") && out.contains("Status: Downloaded newer image"),
        "{out}"
    );
    let out = ok(t.path(), &["image", "pull", &bb]);
    assert!(
        out.contains("Already exists") && out.contains("Status: Image is up to date"),
        "{out}"
    );
    ok(t.path(), &["image", "pull", "-q", &format!("{}/wo", reg.addr)]);
    ok(t.path(), &["image", "tag", &bb, "box:a"]);
    ok(t.path(), &["image", "tag", "box:a", "box:b"]);

    let ls = ok(t.path(), &["image", "ls"]);
    assert!(ls.starts_with("REPOSITORY"), "{ls}");
    assert_eq!(ls.lines().count(), 5, "{ls}");
    let q = ok(t.path(), &["image", "ls", "-q"]);
    assert_eq!(q.lines().count(), 2, "one line per image ID: {q}");
    let only = ok(t.path(), &["image", "ls", "box"]);
    assert_eq!(only.lines().count(), 3, "{only}");
    let id = ok(t.path(), &["image", "inspect", "-f", "{{.Id}}", "box:a"])
        .trim()
        .to_string();
    assert!(id.starts_with("sha256:"), "{id}");
    let v: serde_json::Value = serde_json::from_str(&ok(t.path(), &["image", "inspect", "box:b"])).unwrap();
    let tags = v[0]["RepoTags"].as_array().unwrap();
    assert_eq!(tags.len(), 3, "{tags:?}");
    assert_eq!(v[0]["Architecture"], "amd64");
    let hist = ok(t.path(), &["image", "history", "box:a"]);
    assert!(hist.starts_with("IMAGE") && hist.contains(&id[7..19]), "{hist}");
    let err = fails(t.path(), &["image", "inspect", "nope"]);
    assert!(err.contains("no such image: nope"), "{err}");

    // By ID with several names: refused without --force.
    let err = fails(t.path(), &["image", "rm", &id[7..19]]);
    assert!(err.contains("--force"), "{err}");
    let out = ok(t.path(), &["image", "rm", "box:a"]);
    assert_eq!(out.trim(), "Untagged: box:a");
    let out = ok(t.path(), &["image", "rm", "-f", &id[7..19]]);
    assert!(
        out.contains("Untagged: box:b") && out.contains(&format!("Deleted: {id}")),
        "{out}"
    );
    // The busybox layer is shared with wo: still there.
    let s = store(t.path());
    assert_eq!(s.snapshot_ids().unwrap().len(), 3);

    let out = ok(t.path(), &["image", "prune", "-a", "-f"]);
    assert!(out.contains("Total reclaimed space"), "{out}");
    assert!(s.images().unwrap().is_empty());
    assert!(s.blob_ids().unwrap().is_empty(), "{:?}", s.blob_ids());
    assert!(s.snapshot_ids().unwrap().is_empty());
}

#[test]
fn basic_auth_login_pull_logout() {
    if !registry_prereqs("basic_auth_login_pull_logout")
        || !require(
            "basic_auth_login_pull_logout",
            have("htpasswd"),
            "htpasswd (apache2-utils)",
        )
    {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let htpasswd = t.path().join("htpasswd");
    let out = Command::new("htpasswd")
        .args(["-Bbn", "alice", "s3cret"])
        .output()
        .unwrap();
    assert!(out.status.success());
    std::fs::write(&htpasswd, &out.stdout).unwrap();
    let reg = Registry::start(&format!(
        "auth:\n  htpasswd:\n    realm: test\n    path: {}\n",
        htpasswd.display()
    ));
    reg.seed(&oci("busybox"), "private:latest", &["--dest-creds", "alice:s3cret"]);
    let name = format!("{}/private", reg.addr);

    let err = fails(t.path(), &["image", "pull", &name]);
    assert!(
        err.contains("refused access") && err.contains("rcompose login"),
        "{err}"
    );
    let bad = rc_in(
        t.path(),
        &["login", &reg.addr, "-u", "alice", "--password-stdin"],
        Some(b"wrong\n"),
    );
    assert!(!bad.status.success());
    let good = rc_in(
        t.path(),
        &["login", &reg.addr, "-u", "alice", "--password-stdin"],
        Some(b"s3cret\n"),
    );
    assert!(good.status.success(), "{}", String::from_utf8_lossy(&good.stderr));
    let cfg = std::fs::read_to_string(t.path().join("docker/config.json")).unwrap();
    assert!(cfg.contains(&reg.addr), "{cfg}");
    ok(t.path(), &["image", "pull", &name]);
    let out = ok(t.path(), &["logout", &reg.addr]);
    assert!(out.contains("Removing login credentials"), "{out}");
    ok(t.path(), &["image", "rm", &name]);
    fails(t.path(), &["image", "pull", &name]);
}

#[test]
fn project_pull_and_push_work_on_the_services_images() {
    if !registry_prereqs("project_pull_and_push_work_on_the_services_images") {
        return;
    }
    let reg = Registry::start("");
    reg.seed(&oci("whiteouts"), "src/wo:latest", &[]);
    let t = tempfile::tempdir().unwrap();
    let project = t.path().join("proj");
    std::fs::create_dir_all(&project).unwrap();
    let file = project.join("compose.yaml");
    std::fs::write(
        &file,
        format!(
            "services:\n  app: {{image: {a}/src/wo:latest}}\n  gone: {{image: {a}/missing/img:nope}}\n  out: {{image: {a}/pushed/out:1}}\n",
            a = reg.addr
        ),
    )
    .unwrap();
    let f = file.to_str().unwrap();
    let src = format!("{}/src/wo:latest", reg.addr);

    // One service: only its image comes.
    ok(t.path(), &["-f", f, "pull", "--quiet", "app"]);
    let local = store(t.path()).resolve(&src).unwrap().manifest.digest;

    // All: the missing image fails the command and is named…
    let err = fails(t.path(), &["-f", f, "pull", "gone"]);
    assert!(err.contains("missing/img"), "{err}");
    // …unless failures are ignored.
    ok(t.path(), &["-f", f, "pull", "--ignore-pull-failures", "gone"]);

    // Push a service's image (tagged here) and read it back with skopeo.
    let out_ref = format!("{}/pushed/out:1", reg.addr);
    ok(t.path(), &["image", "tag", &src, &out_ref]);
    ok(t.path(), &["-f", f, "push", "out"]);
    let inspect = skopeo_json(&["inspect", "--tls-verify=false", &format!("docker://{out_ref}")]);
    assert_eq!(inspect["Digest"], local.to_string());
}
