//! The Bearer token flow (what Docker Hub does: 401 → token from the realm
//! → retry), against a small registry served here from the offline test
//! layout; and registry mirrors for docker.io, against docker-registry.

mod image_common;

use base64::Engine as _;
use image_common::*;
use rcompose::image::pull::{pull, PullOptions};
use rcompose::image::registry::config::{Credentials, DockerConfig, RegistryOptions};
use rcompose::image::store::ImageStore;
use rcompose::image::{ImageError, Reference};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

const TOKEN: &str = "tok-123";

/// Token requests seen: (query, authorization header).
type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// A read-only registry with Bearer auth, serving one OCI layout. Stopped
/// (and its thread joined) on drop.
struct TokenRegistry {
    addr: String,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    token_requests: Seen,
}

struct Req {
    method: String,
    path: String,
    auth: Option<String>,
}

fn read_request(s: &TcpStream) -> Option<Req> {
    let mut r = BufReader::new(s.try_clone().ok()?);
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next()?.to_string(), parts.next()?.to_string());
    let mut auth = None;
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).ok()? == 0 || h == "\r\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("authorization") {
                auth = Some(v.trim().to_string());
            }
        }
    }
    Some(Req { method, path, auth })
}

fn respond(mut s: &TcpStream, status: &str, headers: &[(&str, String)], body: &[u8], head_only: bool) {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let _ = s.write_all(out.as_bytes());
    if !head_only {
        let _ = s.write_all(body);
    }
}

impl TokenRegistry {
    /// `basic`: credentials the token endpoint demands, if any.
    fn start(layout: PathBuf, basic: Option<(&str, &str)>) -> TokenRegistry {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let token_requests: Seen = Arc::new(Mutex::new(Vec::new()));
        let want_basic = basic.map(|(u, p)| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            )
        });
        let (stop2, reqs, addr2) = (stop.clone(), token_requests.clone(), addr.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(s) = conn else { continue };
                let Some(req) = read_request(&s) else { continue };
                serve(&s, &req, &layout, &addr2, want_basic.as_deref(), &reqs);
            }
        });
        TokenRegistry {
            addr,
            stop,
            thread: Some(thread),
            token_requests,
        }
    }
}

fn serve(
    s: &TcpStream,
    req: &Req,
    layout: &Path,
    addr: &str,
    want_basic: Option<&str>,
    reqs: &Mutex<Vec<(String, Option<String>)>>,
) {
    let head = req.method == "HEAD";
    if let Some(query) = req.path.strip_prefix("/token?") {
        reqs.lock().unwrap().push((query.to_string(), req.auth.clone()));
        if want_basic.is_some() && req.auth.as_deref() != want_basic {
            return respond(s, "401 Unauthorized", &[], b"{}", head);
        }
        return respond(
            s,
            "200 OK",
            &[("Content-Type", "application/json".into())],
            format!("{{\"token\":\"{TOKEN}\"}}").as_bytes(),
            head,
        );
    }
    if req.auth.as_deref() != Some(&format!("Bearer {TOKEN}")) {
        let challenge =
            format!("Bearer realm=\"http://{addr}/token\",service=\"mock\",scope=\"repository:busybox:pull\"");
        return respond(
            s,
            "401 Unauthorized",
            &[("WWW-Authenticate", challenge)],
            b"{\"errors\":[]}",
            head,
        );
    }
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let blob = |d: &str| std::fs::read(layout.join("blobs/sha256").join(d.trim_start_matches("sha256:"))).ok();
    if let Some(reference) = req.path.strip_prefix("/v2/library/busybox/manifests/") {
        let entry = index["manifests"].as_array().unwrap().iter().find(|m| {
            m["digest"] == reference
                || (reference == "latest" && m["annotations"]["org.opencontainers.image.ref.name"] == "busybox")
        });
        let (digest, media) = match entry {
            Some(m) => (
                m["digest"].as_str().unwrap().to_string(),
                m["mediaType"].as_str().unwrap().to_string(),
            ),
            None if reference.starts_with("sha256:") => (
                reference.to_string(),
                "application/vnd.oci.image.manifest.v1+json".into(),
            ),
            None => return respond(s, "404 Not Found", &[], b"", head),
        };
        return match blob(&digest) {
            Some(b) => respond(
                s,
                "200 OK",
                &[("Content-Type", media), ("Docker-Content-Digest", digest)],
                &b,
                head,
            ),
            None => respond(s, "404 Not Found", &[], b"", head),
        };
    }
    if let Some(d) = req.path.strip_prefix("/v2/library/busybox/blobs/") {
        return match blob(d) {
            Some(b) => respond(
                s,
                "200 OK",
                &[("Content-Type", "application/octet-stream".into())],
                &b,
                head,
            ),
            None => respond(s, "404 Not Found", &[], b"", head),
        };
    }
    respond(s, "404 Not Found", &[], b"", head)
}

impl Drop for TokenRegistry {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.addr); // wake the accept loop
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn mirror_opts(mirror: &str, docker_config: Option<PathBuf>) -> PullOptions {
    PullOptions {
        registry: RegistryOptions {
            mirrors: vec![format!("http://{mirror}")],
            insecure: Vec::new(),
            docker_config,
            // Never fall back to Docker Hub from a test.
            mirror_only: true,
        },
        ..PullOptions::default()
    }
}

#[test]
fn bearer_token_flow_anonymous_and_with_credentials() {
    if !require(
        "bearer_token_flow",
        is_root(),
        "root (the test images are built with chroot)",
    ) || !require(
        "bearer_token_flow",
        have("umoci") && have("jq") && have("python3") && Path::new("/bin/busybox").exists(),
        "umoci, jq, python3, busybox-static",
    ) {
        return;
    }
    let layout = test_images().to_path_buf();
    // Served as a docker.io mirror, so the name is plain `busybox`.
    let reference = Reference::parse("busybox").unwrap();

    let anon = TokenRegistry::start(layout.clone(), None);
    let root = tempfile::tempdir().unwrap();
    let store = ImageStore::open(root.path()).unwrap();
    let p = pull(&store, &reference, &mirror_opts(&anon.addr, None), Arc::new(|_| {})).unwrap();
    assert!(store.layer_dirs(&store.load(&p.manifest).unwrap()).unwrap()[0]
        .join("bin/busybox")
        .is_file());
    let seen = anon.token_requests.lock().unwrap().clone();
    assert!(!seen.is_empty());
    assert!(
        seen[0].0.contains("scope=repository%3Alibrary%2Fbusybox%3Apull") && seen[0].0.contains("service=mock"),
        "{seen:?}"
    );
    assert_eq!(seen[0].1, None, "no credentials were configured");
    // One token serves the whole pull.
    assert_eq!(seen.len(), 1, "{seen:?}");

    // A token service that wants credentials.
    let private = TokenRegistry::start(layout, Some(("bob", "pw")));
    let root = tempfile::tempdir().unwrap();
    let store = ImageStore::open(root.path()).unwrap();
    let err = pull(&store, &reference, &mirror_opts(&private.addr, None), Arc::new(|_| {})).unwrap_err();
    assert!(matches!(err, ImageError::Unauthorized { .. }), "{err}");
    let cfg_path = root.path().join("config.json");
    let mut cfg = DockerConfig::default();
    cfg.set(
        "docker.io",
        &Credentials {
            username: "bob".into(),
            password: "pw".into(),
        },
    );
    cfg.write(&cfg_path).unwrap();
    pull(
        &store,
        &reference,
        &mirror_opts(&private.addr, Some(cfg_path)),
        Arc::new(|_| {}),
    )
    .unwrap();
    let seen = private.token_requests.lock().unwrap().clone();
    assert!(
        seen.iter().any(|(_, a)| a.as_deref() == Some("Basic Ym9iOnB3")),
        "{seen:?}"
    );
}

#[test]
fn docker_hub_names_come_from_a_mirror() {
    if !registry_prereqs("docker_hub_names_come_from_a_mirror") {
        return;
    }
    let reg = Registry::start("");
    reg.seed(&oci("busybox"), "library/busybox:1.36", &[]);
    let root = tempfile::tempdir().unwrap();
    let store = ImageStore::open(root.path()).unwrap();
    let r = Reference::parse("busybox:1.36").unwrap();
    let p = pull(&store, &r, &mirror_opts(&reg.addr, None), Arc::new(|_| {})).unwrap();
    assert_eq!(store.resolve("busybox:1.36").unwrap().manifest.digest, p.manifest);
    // A name the mirror lacks fails there, without trying Docker Hub.
    let err = pull(
        &store,
        &Reference::parse("busybox:nope").unwrap(),
        &mirror_opts(&reg.addr, None),
        Arc::new(|_| {}),
    )
    .unwrap_err();
    assert!(matches!(err, ImageError::RegistryNotFound { .. }), "{err}");
}
