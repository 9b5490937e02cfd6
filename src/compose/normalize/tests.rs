use std::path::Path;

use super::*;
use crate::compose::diag::FileId;
use crate::compose::yaml::parse;

fn canon(text: &str) -> (serde_json::Value, Vec<Diag>) {
    let mut root = parse(text, FileId(0)).expect("yaml");
    let diags = canonicalize(&mut root, Path::new("/proj"), Some(Path::new("/home/u")));
    (root.to_json(), diags)
}

fn svc(text: &str) -> serde_json::Value {
    let (v, d) = canon(text);
    assert!(d.is_empty(), "{d:?}");
    v["services"]["s"].clone()
}

#[test]
fn service_short_forms() {
    let s = svc(concat!(
        "services:\n  s:\n",
        "    build: ./app\n",
        "    command: sh -c 'echo hi'\n",
        "    entrypoint: \"\"\n",
        "    environment: [A=1, B, C=x=y]\n",
        "    labels: {n: 1}\n",
        "    env_file: a.env\n",
        "    dns: 1.1.1.1\n",
        "    depends_on: [db]\n",
        "    networks: [front]\n",
        "    secrets: [tok]\n",
        "    healthcheck: {test: curl x, interval: 90s}\n",
        "    ulimits: {nproc: 10}\n",
        "    mem_limit: 1g\n",
        "    cpus: '0.5'\n",
        "    stop_grace_period: 1000ms\n",
        "    devices: ['/dev/a:/dev/b']\n",
        "    extra_hosts: ['h:1.2.3.4', 'v6:::1']\n",
        "    expose: [80]\n",
    ));
    assert_eq!(
        s["build"],
        serde_json::json!({"context": "/proj/app", "dockerfile": "Dockerfile"})
    );
    assert_eq!(s["command"], serde_json::json!(["sh", "-c", "echo hi"]));
    assert_eq!(s["entrypoint"], serde_json::json!([]));
    assert_eq!(s["environment"], serde_json::json!({"A": "1", "B": null, "C": "x=y"}));
    assert_eq!(s["labels"], serde_json::json!({"n": "1"}));
    assert_eq!(
        s["env_file"],
        serde_json::json!([{"path": "/proj/a.env", "required": true}])
    );
    assert_eq!(s["dns"], serde_json::json!(["1.1.1.1"]));
    assert_eq!(
        s["depends_on"],
        serde_json::json!({"db": {"condition": "service_started", "required": true}})
    );
    assert_eq!(s["networks"], serde_json::json!({"front": null}));
    assert_eq!(s["secrets"], serde_json::json!([{"source": "tok"}]));
    assert_eq!(
        s["healthcheck"],
        serde_json::json!({"test": ["CMD-SHELL", "curl x"], "interval": "1m30s"})
    );
    assert_eq!(s["ulimits"], serde_json::json!({"nproc": {"soft": 10, "hard": 10}}));
    assert_eq!(s["mem_limit"], serde_json::json!(1073741824));
    assert_eq!(s["cpus"], serde_json::json!(0.5));
    assert_eq!(s["stop_grace_period"], serde_json::json!("1s"));
    assert_eq!(
        s["devices"],
        serde_json::json!([{"source": "/dev/a", "target": "/dev/b", "permissions": "rwm"}])
    );
    assert_eq!(s["extra_hosts"], serde_json::json!(["h=1.2.3.4", "v6=::1"]));
    assert_eq!(s["expose"], serde_json::json!(["80"]));
}

#[test]
fn ports_and_volumes() {
    let s = svc("services:\n  s:\n    ports: ['8080:80', {target: 443, published: 8443}]\n    volumes: ['./d:/d:ro', 'v:/v', {type: bind, source: ./x, target: /x}]\n");
    assert_eq!(
        s["ports"],
        serde_json::json!([
            {"mode": "ingress", "target": 80, "published": "8080", "protocol": "tcp"},
            {"mode": "ingress", "target": 443, "published": "8443", "protocol": "tcp"}
        ])
    );
    assert_eq!(s["volumes"][0]["source"], "/proj/d");
    assert_eq!(
        s["volumes"][1],
        serde_json::json!({"type": "volume", "source": "v", "target": "/v"})
    );
    assert_eq!(s["volumes"][2]["source"], "/proj/x");
}

#[test]
fn errors_point_at_the_value() {
    let (_, d) = canon("services:\n  s:\n    ports: ['80:abc']\n    mem_limit: lots\n    stop_grace_period: soon\n    volumes: ['a:b']\n");
    let msgs: Vec<_> = d.iter().map(|d| (d.span.line, d.message.clone())).collect();
    assert_eq!(d.len(), 4, "{msgs:?}");
    assert_eq!(msgs[0].0, 3);
    assert!(msgs[0].1.contains("invalid port \"80:abc\""));
    assert!(msgs[1].1.contains("invalid size \"lots\""));
    assert!(msgs[2].1.contains("invalid duration \"soon\""));
    assert!(msgs[3].1.contains("must be an absolute path"));
}

#[test]
fn resources_and_finalize() {
    let mut root = parse(
        "services:\n  a: {image: x}\n  b: {image: y, networks: [n]}\n  c: {image: z, network_mode: host}\nnetworks:\n  n:\nvolumes:\n  v:\n  e: {external: {name: old}}\n  x: {external: true}\n",
        FileId(0),
    )
    .unwrap();
    let d = canonicalize(&mut root, Path::new("/p"), None);
    assert_eq!(d.len(), 1, "deprecated external.name warns");
    finalize(&mut root, "proj");
    let j = root.to_json();
    assert_eq!(j["name"], "proj");
    assert_eq!(j["services"]["a"]["networks"], serde_json::json!({"default": null}));
    assert!(j["services"]["c"].get("networks").is_none());
    assert_eq!(j["networks"]["default"]["name"], "proj_default");
    assert_eq!(j["networks"]["n"]["name"], "proj_n");
    assert_eq!(j["volumes"]["v"]["name"], "proj_v");
    assert_eq!(j["volumes"]["e"], serde_json::json!({"external": true, "name": "old"}));
    assert_eq!(j["volumes"]["x"]["name"], "x");
}

#[test]
fn secret_and_config_modes_are_octal_whether_numbers_or_strings() {
    let s = svc(concat!(
        "services:\n  s:\n",
        "    secrets: [{source: a, mode: 0440}, {source: b, mode: \"0440\"}, {source: c, mode: \"400\"}]\n",
        "    configs: [{source: d, mode: \"0o17\"}, {source: e, mode: 292}]\n",
    ));
    let modes =
        |k: &str| -> Vec<serde_json::Value> { s[k].as_array().unwrap().iter().map(|r| r["mode"].clone()).collect() };
    assert_eq!(modes("secrets"), [0o440, 0o440, 0o400].map(serde_json::Value::from));
    // A YAML integer without a leading 0 is decimal, as in compose-go.
    assert_eq!(modes("configs"), [0o17, 292].map(serde_json::Value::from));

    let (_, d) = canon("services:\n  s:\n    secrets: [{source: a, mode: \"0948\"}]\n");
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(d[0].message.contains("\"0948\" is not an octal file mode"), "{d:?}");
}
