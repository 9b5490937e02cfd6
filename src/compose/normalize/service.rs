//! One service's fields to the long form: a table from field to rule.

use super::{format_duration, parse_bytes, parse_duration, parse_port, parse_volume, split_shell_words, Ctx};
use crate::compose::yaml::{Key, Map, Node, Value};

type Rule = fn(&mut Node, &mut Ctx);

/// Field → rule. Fields not listed are already in their only form.
const RULES: &[(&str, Rule)] = &[
    ("build", build),
    ("command", shell_command),
    ("entrypoint", shell_command),
    ("environment", |n, _| to_string_map(n, '=')),
    ("labels", |n, _| to_string_map(n, '=')),
    ("annotations", |n, _| to_string_map(n, '=')),
    ("sysctls", |n, _| to_string_map(n, '=')),
    ("extra_hosts", |n, _| extra_hosts(n)),
    ("env_file", env_file),
    ("ports", ports),
    ("expose", |n, _| string_list(n)),
    ("volumes", volumes),
    ("tmpfs", |n, _| string_list(n)),
    ("dns", |n, _| string_list(n)),
    ("dns_search", |n, _| string_list(n)),
    ("dns_opt", |n, _| string_list(n)),
    ("cap_add", |n, _| string_list(n)),
    ("cap_drop", |n, _| string_list(n)),
    ("security_opt", |n, _| string_list(n)),
    ("profiles", |n, _| string_list(n)),
    ("group_add", |n, _| string_list(n)),
    ("external_links", |n, _| string_list(n)),
    ("links", |n, _| string_list(n)),
    ("volumes_from", |n, _| string_list(n)),
    ("device_cgroup_rules", |n, _| string_list(n)),
    ("devices", devices),
    ("depends_on", depends_on),
    ("networks", networks),
    ("secrets", file_refs),
    ("configs", file_refs),
    ("healthcheck", healthcheck),
    ("ulimits", ulimits),
    ("stop_grace_period", duration),
    ("mem_limit", bytes),
    ("memswap_limit", bytes),
    ("mem_reservation", bytes),
    ("shm_size", bytes),
    ("cpus", number),
    ("deploy", deploy),
    ("blkio_config", blkio),
    ("logging", logging),
    ("extends", extends),
    ("develop", develop),
    ("post_start", hooks),
    ("pre_stop", hooks),
];

/// `post_start` / `pre_stop`: each hook's `command` as a list (a string is
/// split as a service's command is), its `environment` as a map.
fn hooks(n: &mut Node, cx: &mut Ctx) {
    let Some(items) = n.as_seq_mut() else { return };
    for item in items.iter_mut() {
        let Some(m) = item.as_map_mut() else { continue };
        if let Some(c) = m.get_mut("command") {
            shell_command(c, cx);
        }
        if let Some(e) = m.get_mut("environment") {
            to_string_map(e, '=');
        }
    }
}

pub(super) fn canonicalize_service(svc: &mut Node, cx: &mut Ctx) {
    let Some(m) = svc.as_map_mut() else { return };
    for (key, node) in m.iter_mut() {
        if let Some((_, rule)) = RULES.iter().find(|(k, _)| *k == key.name) {
            rule(node, cx);
        }
    }
}

/// A scalar or list → list (`dns: 1.1.1.1` → `[1.1.1.1]`).
pub(crate) fn to_list(n: &mut Node) {
    if n.scalar_text().is_some() {
        let item = Node { tag: None, ..n.clone() };
        n.value = Value::Seq(vec![item]);
    }
}

/// A scalar or list → list of strings.
fn string_list(n: &mut Node) {
    to_list(n);
    for item in n.as_seq_mut().into_iter().flatten() {
        if let Some(t) = item.scalar_text() {
            item.value = Value::String(t);
        }
    }
}

/// `["A=1", "B"]` or `{A: 1}` → `{A: "1", B: null}`.
pub(crate) fn to_string_map(n: &mut Node, sep: char) {
    match &mut n.value {
        Value::Seq(items) => {
            let mut m = Map::default();
            for item in items.iter() {
                let Some(t) = item.scalar_text() else {
                    continue;
                };
                let (k, v) = match t.split_once(sep) {
                    Some((k, v)) => (k.to_string(), Node::string(v, item.span)),
                    None => (t.clone(), Node::null(item.span)),
                };
                m.insert(Key::new(k, item.span), v);
            }
            n.value = Value::Map(m);
        }
        Value::Map(m) => {
            for v in m.values_mut() {
                if let Some(t) = v.scalar_text() {
                    v.value = Value::String(t);
                }
            }
        }
        _ => {}
    }
}

fn shell_command(n: &mut Node, cx: &mut Ctx) {
    if let Some(s) = n.as_str() {
        match split_shell_words(s) {
            Ok(words) => n.value = Value::Seq(words.into_iter().map(|w| Node::string(w, n.span)).collect()),
            Err(e) => {
                cx.error(n.span, e, "close the quote, or write the command as a list");
                n.value = Value::Null;
            }
        }
    } else {
        string_list(n);
    }
}

/// `host:ip`, `host=ip` or a map → `"host=ip"` strings. IPv6 after `:` stays whole.
fn extra_hosts(n: &mut Node) {
    let span = n.span;
    let mut out = Vec::new();
    match &n.value {
        Value::Seq(items) => {
            for item in items {
                let Some(t) = item.scalar_text() else {
                    continue;
                };
                let entry = match t.split_once('=') {
                    Some((h, ip)) => format!("{h}={ip}"),
                    None => match t.split_once(':') {
                        Some((h, ip)) => format!("{h}={ip}"),
                        None => t,
                    },
                };
                out.push(Node::string(entry, item.span));
            }
        }
        Value::Map(m) => {
            for (k, v) in m {
                let ips: Vec<String> = match &v.value {
                    Value::Seq(s) => s.iter().filter_map(Node::scalar_text).collect(),
                    _ => v.scalar_text().into_iter().collect(),
                };
                for ip in ips {
                    out.push(Node::string(format!("{}={ip}", k.name), v.span));
                }
            }
        }
        _ => return,
    }
    *n = Node::seq(out, span);
}

fn env_file(n: &mut Node, cx: &mut Ctx) {
    to_list(n);
    for item in n.as_seq_mut().into_iter().flatten() {
        let span = item.span;
        if let Some(p) = item.scalar_text() {
            let mut m = Map::default();
            m.insert(Key::new("path", span), Node::string(cx.path(&p), span));
            m.insert(Key::new("required", span), Node::new(Value::Bool(true), span));
            *item = Node::map(m, span);
        } else if let Some(m) = item.as_map_mut() {
            if let Some(p) = m.get_mut("path") {
                if let Some(s) = p.as_str() {
                    p.value = Value::String(cx.path(s));
                }
            }
            m.entry(Key::new("required", span))
                .or_insert_with(|| Node::new(Value::Bool(true), span));
        }
    }
}

fn ports(n: &mut Node, cx: &mut Ctx) {
    let Some(items) = n.as_seq_mut() else { return };
    let mut out = Vec::new();
    for item in items.drain(..) {
        let span = item.span;
        if let Some(spec) = item.scalar_text() {
            // Only a file read without interpolation (`config
            // --no-interpolate`) still has `${PORT:-8080}:80`: it stays as
            // written, as Docker Compose prints it.
            if spec.contains('$') {
                out.push(item);
                continue;
            }
            match parse_port(&spec) {
                Ok(list) => {
                    for p in list {
                        let mut m = Map::default();
                        m.insert(Key::new("mode", span), Node::string("ingress", span));
                        if let Some(ip) = p.host_ip {
                            m.insert(Key::new("host_ip", span), Node::string(ip, span));
                        }
                        m.insert(Key::new("target", span), Node::new(Value::Int(p.target as i64), span));
                        if let Some(pb) = p.published {
                            m.insert(Key::new("published", span), Node::string(pb, span));
                        }
                        m.insert(Key::new("protocol", span), Node::string(p.protocol, span));
                        out.push(Node::map(m, span));
                    }
                }
                Err(e) => cx.error(
                    span,
                    e,
                    "write [HOST_IP:][PUBLISHED:]TARGET[/PROTOCOL], e.g. \"8080:80\" or \"127.0.0.1:53:53/udp\"",
                ),
            }
            continue;
        }
        let mut item = item;
        if let Some(m) = item.as_map_mut() {
            long_port(m, span, cx);
        }
        out.push(item);
    }
    *items = out;
}

/// A long-form port: defaults filled, `published` as a string, order as Docker prints.
fn long_port(m: &mut Map, span: crate::compose::diag::Span, cx: &mut Ctx) {
    if !m.contains_key("target") {
        cx.error(
            span,
            "a port mapping needs a `target` (the container port)".into(),
            "add `target: PORT`",
        );
    }
    if let Some(t) = m.get_mut("target") {
        if let Some(s) = t.as_str() {
            match s.parse::<u16>() {
                Ok(v) if v > 0 => t.value = Value::Int(v as i64),
                _ => cx.error(
                    t.span,
                    format!("invalid port target \"{s}\""),
                    "use a port number between 1 and 65535",
                ),
            }
        } else if let Value::Int(v) = t.value {
            if !(1..=65535).contains(&v) {
                cx.error(
                    t.span,
                    format!("invalid port target {v}"),
                    "use a port number between 1 and 65535",
                );
            }
        }
    }
    if let Some(p) = m.get_mut("published") {
        if let Some(t) = p.scalar_text() {
            let ok = t.split('-').all(|x| x.parse::<u32>().is_ok_and(|v| v <= 65535));
            if !ok {
                cx.error(
                    p.span,
                    format!("invalid published port \"{t}\""),
                    "use a port number or range between 0 and 65535",
                );
            }
            p.value = Value::String(t);
        }
    }
    m.entry(Key::new("mode", span))
        .or_insert_with(|| Node::string("ingress", span));
    m.entry(Key::new("protocol", span))
        .or_insert_with(|| Node::string("tcp", span));
    let order = [
        "name",
        "mode",
        "host_ip",
        "target",
        "published",
        "protocol",
        "app_protocol",
    ];
    m.sort_by(|a, _, b, _| {
        let pos = |k: &Key| order.iter().position(|o| *o == k.name).unwrap_or(order.len());
        pos(a).cmp(&pos(b))
    });
}

fn volumes(n: &mut Node, cx: &mut Ctx) {
    let Some(items) = n.as_seq_mut() else { return };
    volume_items(items, cx);
    // Entries that failed were reported and nulled: drop them.
    items.retain(|i| !i.is_null());
}

fn volume_items(items: &mut [Node], cx: &mut Ctx) {
    for item in items.iter_mut() {
        let span = item.span;
        if let Some(spec) = item.as_str() {
            match parse_volume(spec, cx.base, cx.home) {
                Ok(v) => *item = Node::from_json(&v, span),
                Err(e) => {
                    cx.error(
                        span,
                        e,
                        "write SOURCE:TARGET[:MODE], e.g. ./data:/data:ro or dbdata:/var/lib/db",
                    );
                    item.value = Value::Null;
                }
            }
            continue;
        }
        let Some(m) = item.as_map_mut() else { continue };
        let is_bind = m.get("type").and_then(Node::as_str) == Some("bind");
        if is_bind {
            if let Some(src) = m.get_mut("source") {
                if let Some(s) = src.as_str() {
                    src.value = Value::String(cx.path(s));
                }
            }
        }
        if let Some(size) = m.get_mut("tmpfs").and_then(|t| t.get_mut("size")) {
            bytes(size, cx);
        }
    }
}

fn devices(n: &mut Node, cx: &mut Ctx) {
    let Some(items) = n.as_seq_mut() else { return };
    for item in items.iter_mut() {
        let span = item.span;
        let Some(spec) = item.as_str().map(str::to_string) else {
            continue;
        };
        let parts: Vec<&str> = spec.split(':').collect();
        let (source, target, perms) = match parts.as_slice() {
            [s] => (*s, *s, "rwm"),
            [s, t] if t.starts_with('/') => (*s, *t, "rwm"),
            [s, p] => (*s, *s, *p),
            [s, t, p] => (*s, *t, *p),
            _ => {
                cx.error(
                    span,
                    format!("invalid device \"{spec}\""),
                    "write HOST_PATH[:CONTAINER_PATH[:PERMISSIONS]]",
                );
                item.value = Value::Null;
                continue;
            }
        };
        if !perms.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
            cx.error(
                span,
                format!("invalid device \"{spec}\": permissions `{perms}` may only hold r, w and m"),
                "e.g. /dev/sda:/dev/xvda:rwm",
            );
            item.value = Value::Null;
            continue;
        }
        let mut m = Map::default();
        m.insert(Key::new("source", span), Node::string(source, span));
        m.insert(Key::new("target", span), Node::string(target, span));
        m.insert(Key::new("permissions", span), Node::string(perms, span));
        *item = Node::map(m, span);
    }
    items.retain(|i| !i.is_null());
}

fn depends_on(n: &mut Node, _cx: &mut Ctx) {
    let span = n.span;
    if let Some(items) = n.as_seq() {
        let mut m = Map::default();
        for item in items {
            if let Some(name) = item.scalar_text() {
                m.insert(Key::new(name, item.span), Node::null(item.span));
            }
        }
        *n = Node::map(m, span);
    }
    let Some(m) = n.as_map_mut() else { return };
    for v in m.values_mut() {
        let vs = v.span;
        if v.is_null() {
            *v = Node::map(Map::default(), vs);
        }
        if let Some(d) = v.as_map_mut() {
            d.entry(Key::new("condition", vs))
                .or_insert_with(|| Node::string("service_started", vs));
            d.entry(Key::new("required", vs))
                .or_insert_with(|| Node::new(Value::Bool(true), vs));
        }
    }
}

fn networks(n: &mut Node, _cx: &mut Ctx) {
    let span = n.span;
    if let Some(items) = n.as_seq() {
        let mut m = Map::default();
        for item in items {
            if let Some(name) = item.scalar_text() {
                m.insert(Key::new(name, item.span), Node::null(item.span));
            }
        }
        *n = Node::map(m, span);
    }
    if let Some(m) = n.as_map_mut() {
        for v in m.values_mut() {
            if let Some(a) = v.get_mut("aliases") {
                to_list(a);
            }
            if let Some(o) = v.get_mut("driver_opts") {
                to_string_map(o, '=');
            }
        }
    }
}

/// Service `secrets` / `configs`: a name → `{source: name}`; a `mode`
/// written as a string is octal (compose-go's reading: `"0440"`, `"440"`).
fn file_refs(n: &mut Node, cx: &mut Ctx) {
    for item in n.as_seq_mut().into_iter().flatten() {
        let span = item.span;
        if let Some(name) = item.scalar_text() {
            let mut m = Map::default();
            m.insert(Key::new("source", span), Node::string(name, span));
            *item = Node::map(m, span);
            continue;
        }
        let Some(mode) = item.as_map_mut().and_then(|m| m.get_mut("mode")) else {
            continue;
        };
        if let Some(s) = mode.as_str().map(str::to_string) {
            let digits = s.trim();
            let digits = digits.strip_prefix("0o").unwrap_or(digits);
            match i64::from_str_radix(digits, 8) {
                Ok(v) => mode.value = Value::Int(v),
                Err(_) => {
                    cx.error(
                        mode.span,
                        format!("mode \"{s}\" is not an octal file mode"),
                        "write the permission bits in octal, e.g. mode: 0440",
                    );
                    // Reported once: the model then sees no mode.
                    mode.value = Value::Null;
                }
            }
        }
    }
}

fn healthcheck(n: &mut Node, cx: &mut Ctx) {
    let Some(m) = n.as_map_mut() else { return };
    if let Some(t) = m.get_mut("test") {
        if let Some(s) = t.as_str().map(str::to_string) {
            let span = t.span;
            t.value = Value::Seq(vec![Node::string("CMD-SHELL", span), Node::string(s, span)]);
        }
    }
    for key in ["interval", "timeout", "start_period", "start_interval"] {
        if let Some(d) = m.get_mut(key) {
            duration(d, cx);
        }
    }
}

fn ulimits(n: &mut Node, _cx: &mut Ctx) {
    let Some(m) = n.as_map_mut() else { return };
    for v in m.values_mut() {
        let span = v.span;
        let single = match &v.value {
            Value::Int(i) => Some(*i),
            Value::String(s) => s.parse::<i64>().ok(),
            _ => None,
        };
        if let Some(i) = single {
            let mut l = Map::default();
            l.insert(Key::new("soft", span), Node::new(Value::Int(i), span));
            l.insert(Key::new("hard", span), Node::new(Value::Int(i), span));
            *v = Node::map(l, span);
        }
    }
}

fn duration(n: &mut Node, cx: &mut Ctx) {
    let Some(s) = n.scalar_text() else { return };
    match parse_duration(&s) {
        Ok(d) => n.value = Value::String(format_duration(d)),
        Err(e) => {
            cx.error(n.span, e, "units are ns, us, ms, s, m, h");
            n.value = Value::Null;
        }
    }
}

fn bytes(n: &mut Node, cx: &mut Ctx) {
    let Some(s) = n.scalar_text() else { return };
    match parse_bytes(&s) {
        Ok(b) => n.value = Value::Int(b),
        Err(e) => {
            cx.error(n.span, e, "units are b, k, m, g (powers of 1024)");
            n.value = Value::Null;
        }
    }
}

/// CPU counts are floats; a string that is not a number was already
/// reported by the scalar coercion pass.
fn number(n: &mut Node, _cx: &mut Ctx) {
    if let Some(f) = n.as_str().and_then(|s| s.trim().parse::<f64>().ok()) {
        n.value = Value::Float(f);
    } else if let Value::Int(i) = n.value {
        n.value = Value::Float(i as f64);
    }
}

fn build(n: &mut Node, cx: &mut Ctx) {
    let span = n.span;
    if let Some(ctx) = n.scalar_text() {
        let mut m = Map::default();
        m.insert(Key::new("context", span), Node::string(context_path(&ctx, cx), span));
        m.insert(Key::new("dockerfile", span), Node::string("Dockerfile", span));
        *n = Node::map(m, span);
        return;
    }
    let Some(m) = n.as_map_mut() else { return };
    let ctx = m
        .get("context")
        .and_then(Node::scalar_text)
        .unwrap_or_else(|| ".".into());
    let ctx_span = m.get("context").map(|c| c.span).unwrap_or(span);
    m.insert(
        Key::new("context", ctx_span),
        Node::string(context_path(&ctx, cx), ctx_span),
    );
    if !m.contains_key("dockerfile") && !m.contains_key("dockerfile_inline") {
        m.insert(Key::new("dockerfile", span), Node::string("Dockerfile", span));
    }
    for key in ["args", "labels"] {
        if let Some(v) = m.get_mut(key) {
            to_string_map(v, '=');
        }
    }
    if let Some(h) = m.get_mut("extra_hosts") {
        extra_hosts(h);
    }
    for key in ["cache_from", "cache_to", "tags", "platforms"] {
        if let Some(v) = m.get_mut(key) {
            string_list(v);
        }
    }
    if let Some(s) = m.get_mut("shm_size") {
        bytes(s, cx);
    }
    if let Some(s) = m.get_mut("secrets") {
        file_refs(s, cx);
    }
}

/// Build contexts may be URLs (git, http): those are not paths.
fn context_path(ctx: &str, cx: &Ctx) -> String {
    let remote = ["http://", "https://", "git://", "git@", "github.com/", "ssh://"]
        .iter()
        .any(|p| ctx.starts_with(p))
        || ctx.contains("://");
    if remote {
        ctx.to_string()
    } else {
        cx.path(ctx)
    }
}

fn deploy(n: &mut Node, cx: &mut Ctx) {
    let Some(m) = n.as_map_mut() else { return };
    if let Some(r) = m.get_mut("resources").and_then(Node::as_map_mut) {
        for side in ["limits", "reservations"] {
            if let Some(s) = r.get_mut(side).and_then(Node::as_map_mut) {
                if let Some(mem) = s.get_mut("memory") {
                    bytes(mem, cx);
                }
                if let Some(c) = s.get_mut("cpus") {
                    number(c, cx);
                }
            }
        }
    }
    if let Some(rp) = m.get_mut("restart_policy").and_then(Node::as_map_mut) {
        for k in ["delay", "window"] {
            if let Some(d) = rp.get_mut(k) {
                duration(d, cx);
            }
        }
    }
    for cfg in ["update_config", "rollback_config"] {
        if let Some(c) = m.get_mut(cfg).and_then(Node::as_map_mut) {
            for k in ["delay", "monitor"] {
                if let Some(d) = c.get_mut(k) {
                    duration(d, cx);
                }
            }
        }
    }
    if let Some(l) = m.get_mut("labels") {
        to_string_map(l, '=');
    }
}

fn blkio(n: &mut Node, cx: &mut Ctx) {
    let Some(m) = n.as_map_mut() else { return };
    for key in ["device_read_bps", "device_write_bps"] {
        for d in m.get_mut(key).and_then(Node::as_seq_mut).into_iter().flatten() {
            if let Some(rate) = d.get_mut("rate") {
                bytes(rate, cx);
            }
        }
    }
}

fn logging(n: &mut Node, _cx: &mut Ctx) {
    if let Some(o) = n.get_mut("options") {
        to_string_map(o, '=');
    }
}

fn extends(n: &mut Node, cx: &mut Ctx) {
    if let Some(f) = n.get_mut("file") {
        if let Some(s) = f.as_str() {
            f.value = Value::String(cx.path(s));
        }
    }
}

fn develop(n: &mut Node, cx: &mut Ctx) {
    for w in n.get_mut("watch").and_then(Node::as_seq_mut).into_iter().flatten() {
        if let Some(p) = w.get_mut("path") {
            if let Some(s) = p.as_str() {
                p.value = Value::String(cx.path(s));
            }
        }
        if let Some(i) = w.get_mut("ignore") {
            to_list(i);
        }
    }
}
