//! A YAML tree that remembers where every node came from.
//!
//! `serde_yaml` values carry no positions, so the loader works on this tree
//! instead: every phase (interpolation, merge, extends, normalization,
//! validation) reads and rewrites [`Node`]s and can point a diagnostic at the
//! exact line. The tree is built from `saphyr-parser` events; anchors,
//! aliases and `<<` merge keys are resolved here so later phases never see
//! them, and the Compose-specific `!reset` / `!override` tags are kept.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use indexmap::IndexMap;
use saphyr_parser::{Event, Parser, ScalarStyle, SpannedEventReceiver};

use super::diag::{Diag, FileId, Span};

/// Upper bound on nodes produced by alias expansion: a "billion laughs"
/// document must fail with an error, not exhaust memory.
const MAX_NODES: usize = 2_000_000;
/// Nesting deeper than this is certainly not a Compose file (they nest ~10
/// levels); refuse it before the recursive phases that follow (merge,
/// schema check, serde) can overflow a thread's stack. The fuzzer found
/// 256 too deep for a 2 MiB test thread in a debug build.
const MAX_DEPTH: usize = 64;

/// The Compose merge tags (see 13-merge.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tag {
    /// `!reset`: remove the value inherited from earlier files.
    Reset,
    /// `!override`: replace instead of merging.
    Override,
}

#[derive(Clone, Debug)]
pub struct Node {
    pub value: Value,
    pub span: Span,
    pub tag: Option<Tag>,
}

#[derive(Clone, Debug)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// Any string; `quoted` scalars are never re-typed (`"80"` stays text).
    String(String),
    Seq(Vec<Node>),
    Map(Map),
}

/// Fx hashing: keys are the user's own short names, hashed constantly by
/// every phase, and denial-of-service resistance buys nothing here.
pub type Map = IndexMap<Key, Node, rustc_hash::FxBuildHasher>;

/// A mapping key: its text plus where it was written. Equality and hashing
/// use the text only, so `map.get("services")` works.
#[derive(Clone, Debug)]
pub struct Key {
    pub name: String,
    pub span: Span,
}

impl Key {
    pub fn new(name: impl Into<String>, span: Span) -> Key {
        Key {
            name: name.into(),
            span,
        }
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for Key {}
impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state)
    }
}
impl Borrow<str> for Key {
    fn borrow(&self) -> &str {
        &self.name
    }
}
impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

impl Node {
    pub fn new(value: Value, span: Span) -> Node {
        Node { value, span, tag: None }
    }

    pub fn null(span: Span) -> Node {
        Node::new(Value::Null, span)
    }

    pub fn string(s: impl Into<String>, span: Span) -> Node {
        Node::new(Value::String(s.into()), span)
    }

    pub fn map(m: Map, span: Span) -> Node {
        Node::new(Value::Map(m), span)
    }

    pub fn seq(v: Vec<Node>, span: Span) -> Node {
        Node::new(Value::Seq(v), span)
    }

    pub fn as_map(&self) -> Option<&Map> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_map_mut(&mut self) -> Option<&mut Map> {
        match &mut self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&Vec<Node>> {
        match &self.value {
            Value::Seq(v) => Some(v),
            _ => None,
        }
    }

    pub fn as_seq_mut(&mut self) -> Option<&mut Vec<Node>> {
        match &mut self.value {
            Value::Seq(v) => Some(v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match &self.value {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }

    /// `map[key]` when this node is a map holding that key.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?.get(key)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        self.as_map_mut()?.get_mut(key)
    }

    /// The scalar as text, the way Compose stringifies scalars in lists such
    /// as `environment` or `command` (`8080` → "8080", `true` → "true").
    pub fn scalar_text(&self) -> Option<String> {
        match &self.value {
            Value::String(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(format_float(*f)),
            Value::Bool(b) => Some(b.to_string()),
            Value::Null | Value::Seq(_) | Value::Map(_) => None,
        }
    }

    /// A short word for the node's type, used in "expected X, found Y".
    pub fn kind(&self) -> &'static str {
        match &self.value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "integer",
            Value::Float(_) => "number",
            Value::String(_) => "string",
            Value::Seq(_) => "sequence",
            Value::Map(_) => "mapping",
        }
    }

    /// Plain JSON, for schema validation and typed deserialization.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map(J::Number).unwrap_or(J::Null),
            Value::String(s) => J::String(s.clone()),
            Value::Seq(v) => J::Array(v.iter().map(Node::to_json).collect()),
            Value::Map(m) => J::Object(m.iter().map(|(k, v)| (k.name.clone(), v.to_json())).collect()),
        }
    }

    /// Build a tree from JSON (values produced by code, not read from a file).
    pub fn from_json(v: &serde_json::Value, span: Span) -> Node {
        use serde_json::Value as J;
        let value = match v {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(*b),
            J::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(0.0)),
            },
            J::String(s) => Value::String(s.clone()),
            J::Array(a) => Value::Seq(a.iter().map(|x| Node::from_json(x, span)).collect()),
            J::Object(o) => Value::Map(
                o.iter()
                    .map(|(k, x)| (Key::new(k.clone(), span), Node::from_json(x, span)))
                    .collect(),
            ),
        };
        Node::new(value, span)
    }

    /// The node at a JSON-pointer-like path (`/services/web/ports/0`).
    pub fn at_pointer(&self, pointer: &str) -> Option<&Node> {
        let mut cur = self;
        for raw in pointer.split('/').skip(1) {
            let part = raw.replace("~1", "/").replace("~0", "~");
            cur = match &cur.value {
                Value::Map(m) => m.get(part.as_str())?,
                Value::Seq(v) => v.get(part.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(cur)
    }

    /// The span of the key under which the node at `pointer` sits, falling
    /// back to the node's own span. Errors about an unknown or misplaced key
    /// read best pointing at the key.
    pub fn key_span_at_pointer(&self, pointer: &str) -> Option<Span> {
        let (parent, last) = pointer.rsplit_once('/')?;
        let last = last.replace("~1", "/").replace("~0", "~");
        let parent = self.at_pointer(parent)?;
        match &parent.value {
            Value::Map(m) => m.get_key_value(last.as_str()).map(|(k, _)| k.span),
            _ => self.at_pointer(pointer).map(|n| n.span),
        }
    }
}

pub fn format_float(f: f64) -> String {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{f:.1}")
    } else {
        f.to_string()
    }
}

/// Parse one YAML document into a tree. An empty file is `Null`.
pub fn parse(text: &str, file: FileId) -> Result<Node, Diag> {
    let index = CharIndex::new(text);
    let mut builder = Builder {
        file,
        index: &index,
        stack: Vec::new(),
        anchors: HashMap::new(),
        root: None,
        error: None,
        nodes: 0,
        documents: 0,
    };
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut builder, true) {
        let m = e.marker();
        let span = index.span(file, m.index(), m.index(), m.line(), m.col());
        return Err(Diag::error(span, format!("invalid YAML: {}", e.info()))
            .with_label("YAML syntax error")
            .with_help("check indentation and quoting around this line"));
    }
    if let Some(err) = builder.error {
        return Err(err);
    }
    Ok(builder.root.unwrap_or_else(|| Node::null(index.span(file, 0, 0, 1, 0))))
}

/// saphyr reports character offsets; miette wants byte offsets.
struct CharIndex {
    /// Byte offset of each char, only built when the text is not ASCII.
    offsets: Option<Vec<u32>>,
    len: u32,
}

impl CharIndex {
    fn new(text: &str) -> CharIndex {
        let offsets = if text.is_ascii() {
            None
        } else {
            Some(text.char_indices().map(|(b, _)| b as u32).collect())
        };
        CharIndex {
            offsets,
            len: text.len() as u32,
        }
    }

    fn byte(&self, ch: usize) -> u32 {
        match &self.offsets {
            None => (ch as u32).min(self.len),
            Some(v) => v.get(ch).copied().unwrap_or(self.len),
        }
    }

    fn span(&self, file: FileId, start: usize, end: usize, line: usize, col: usize) -> Span {
        Span {
            file,
            start: self.byte(start),
            end: self.byte(end),
            line: line as u32,
            col: col as u32 + 1,
        }
    }
}

enum Frame {
    Seq {
        items: Vec<Node>,
        span: Span,
        anchor: usize,
        tag: Option<Tag>,
    },
    Map(MapFrame),
}

struct MapFrame {
    entries: Map,
    /// Maps pulled in by `<<`, applied at the end so explicit keys win.
    merges: Vec<Node>,
    pending_key: Option<Key>,
    span: Span,
    anchor: usize,
    tag: Option<Tag>,
}

struct Builder<'a> {
    file: FileId,
    index: &'a CharIndex,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    root: Option<Node>,
    error: Option<Diag>,
    nodes: usize,
    documents: usize,
}

impl Builder<'_> {
    fn span_of(&self, s: &saphyr_parser::Span) -> Span {
        self.index
            .span(self.file, s.start.index(), s.end.index(), s.start.line(), s.start.col())
    }

    fn fail(&mut self, d: Diag) {
        if self.error.is_none() {
            self.error = Some(d);
        }
    }

    fn count(&mut self, n: &Node, span: Span) -> bool {
        self.nodes += count_nodes(n);
        if self.nodes > MAX_NODES {
            self.fail(
                Diag::error(span, "the document expands to too many nodes (alias expansion)")
                    .with_help("this looks like a YAML alias bomb; reduce the use of aliases"),
            );
            return false;
        }
        true
    }

    /// Deliver a finished node to its parent (or make it the root).
    fn push(&mut self, node: Node, anchor: usize) {
        if self.error.is_some() {
            return;
        }
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map(m)) => match m.pending_key.take() {
                None => {
                    let key = match node_as_key(&node) {
                        Ok(k) => k,
                        Err(d) => return self.fail(d),
                    };
                    m.pending_key = Some(key);
                }
                Some(key) => {
                    if key.name == "<<" && node.tag.is_none() {
                        match &node.value {
                            Value::Map(_) => m.merges.push(node),
                            Value::Seq(items) if items.iter().all(|i| i.as_map().is_some()) => {
                                m.merges.extend(items.iter().cloned())
                            }
                            _ => {
                                let d =
                                    Diag::error(node.span, "a `<<` merge key needs a mapping or a list of mappings")
                                        .with_help("write `<<: *anchor` where the anchor names a mapping");
                                self.fail(d)
                            }
                        }
                        return;
                    }
                    if let Some((first, _)) = m.entries.get_key_value(key.name.as_str()) {
                        let d = Diag::error(key.span, format!("mapping key `{}` is defined twice", key.name))
                            .with_label("defined again here")
                            .with_related(first.span, "first defined here")
                            .with_help("remove one of the two definitions");
                        return self.fail(d);
                    }
                    m.entries.insert(key, node);
                }
            },
        }
    }
}

fn node_as_key(node: &Node) -> Result<Key, Diag> {
    match node.scalar_text() {
        Some(t) => Ok(Key::new(t, node.span)),
        None if node.is_null() => Ok(Key::new("null", node.span)),
        None => Err(
            Diag::error(node.span, format!("a {} cannot be used as a mapping key", node.kind()))
                .with_help("Compose keys are plain strings"),
        ),
    }
}

fn count_nodes(n: &Node) -> usize {
    match &n.value {
        Value::Seq(v) => 1 + v.iter().map(count_nodes).sum::<usize>(),
        Value::Map(m) => 1 + m.values().map(count_nodes).sum::<usize>(),
        _ => 1,
    }
}

fn compose_tag(tag: Option<&saphyr_parser::Tag>) -> Option<Tag> {
    let t = tag?;
    match (t.handle.as_str(), t.suffix.as_str()) {
        ("!", "reset") => Some(Tag::Reset),
        ("!", "override") => Some(Tag::Override),
        _ => None,
    }
}

impl<'input> SpannedEventReceiver<'input> for Builder<'_> {
    fn on_event(&mut self, ev: Event<'input>, span: saphyr_parser::Span) {
        if self.error.is_some() {
            return;
        }
        let sp = self.span_of(&span);
        match ev {
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    self.fail(
                        Diag::error(sp, "a Compose file holds one YAML document, this is a second one")
                            .with_help("remove the `---` separator or split the file in two"),
                    );
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                let ctag = compose_tag(tag.as_deref());
                let value = if style == ScalarStyle::Plain && tag.is_none() {
                    plain_scalar(&text)
                } else if let Some(t) = tag.as_deref().filter(|t| t.handle == "!!") {
                    typed_scalar(&text, &t.suffix)
                } else {
                    Value::String(text.into_owned())
                };
                let mut node = Node::new(value, sp);
                node.tag = ctag;
                if !self.count(&node, sp) {
                    return;
                }
                self.push(node, anchor);
            }
            Event::Alias(id) => match self.anchors.get(&id).cloned() {
                Some(mut node) => {
                    if !self.count(&node, sp) {
                        return;
                    }
                    // Keep the anchor's content but point at the alias, so an
                    // error reads at the place that used it.
                    node.span = Span { end: sp.end, ..sp };
                    self.push(node, 0)
                }
                None => self.fail(
                    Diag::error(sp, "unknown YAML alias").with_help("define the anchor (`&name`) before using it"),
                ),
            },
            Event::SequenceStart(anchor, tag) => {
                if self.stack.len() >= MAX_DEPTH {
                    return self.fail(Diag::error(sp, "the document is nested too deeply"));
                }
                self.stack.push(Frame::Seq {
                    items: Vec::new(),
                    span: sp,
                    anchor,
                    tag: compose_tag(tag.as_deref()),
                });
            }
            Event::MappingStart(anchor, tag) => {
                if self.stack.len() >= MAX_DEPTH {
                    return self.fail(Diag::error(sp, "the document is nested too deeply"));
                }
                self.stack.push(Frame::Map(MapFrame {
                    entries: Map::default(),
                    merges: Vec::new(),
                    pending_key: None,
                    span: sp,
                    anchor,
                    tag: compose_tag(tag.as_deref()),
                }));
            }
            Event::SequenceEnd => {
                if let Some(Frame::Seq {
                    items,
                    span,
                    anchor,
                    tag,
                }) = self.stack.pop()
                {
                    let mut node = Node::seq(items, span);
                    node.tag = tag;
                    self.push(node, anchor);
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map(m)) = self.stack.pop() {
                    let mut entries = m.entries;
                    for merged in m.merges {
                        if let Value::Map(src) = merged.value {
                            for (k, v) in src {
                                entries.entry(k).or_insert(v);
                            }
                        }
                    }
                    let mut node = Node::map(entries, m.span);
                    node.tag = m.tag;
                    self.push(node, m.anchor);
                }
            }
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {}
        }
    }
}

/// YAML 1.2 core schema resolution of a plain scalar (what go-yaml v3, and
/// so Docker Compose, does): null, booleans, integers, floats, else text.
fn plain_scalar(s: &str) -> Value {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Value::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    if let Some(i) = parse_int(s) {
        return Value::Int(i);
    }
    if looks_like_float(s) {
        if let Ok(f) = s.parse::<f64>() {
            return Value::Float(f);
        }
    }
    Value::String(s.to_string())
}

fn parse_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let body = body.replace('_', "");
    let v = if let Some(h) = body.strip_prefix("0x") {
        i64::from_str_radix(h, 16).ok()?
    } else if let Some(o) = body.strip_prefix("0o") {
        i64::from_str_radix(o, 8).ok()?
    } else if body.len() > 1 && body.starts_with('0') && body.bytes().all(|b| b.is_ascii_digit()) {
        // go-yaml (so Docker Compose) reads `0440` as octal: file modes are written that way.
        i64::from_str_radix(&body[1..], 8).ok()?
    } else if !body.is_empty() && body.bytes().all(|b| b.is_ascii_digit()) {
        body.parse::<i64>().ok()?
    } else {
        return None;
    };
    Some(if neg { -v } else { v })
}

fn looks_like_float(s: &str) -> bool {
    let t = s.trim_start_matches(['-', '+']);
    !t.is_empty()
        && t.bytes().next().is_some_and(|b| b.is_ascii_digit() || b == b'.')
        && t.bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
        && t.bytes().any(|b| b.is_ascii_digit())
}

fn typed_scalar(s: &str, suffix: &str) -> Value {
    match suffix {
        "str" => Value::String(s.to_string()),
        "int" => parse_int(s)
            .map(Value::Int)
            .unwrap_or_else(|| Value::String(s.to_string())),
        "float" => s
            .parse()
            .map(Value::Float)
            .unwrap_or_else(|_| Value::String(s.to_string())),
        "bool" => match s {
            "true" | "True" | "TRUE" => Value::Bool(true),
            "false" | "False" | "FALSE" => Value::Bool(false),
            _ => Value::String(s.to_string()),
        },
        "null" => Value::Null,
        _ => plain_scalar(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Node {
        parse(s, FileId(0)).expect("parse")
    }

    #[test]
    fn scalars_follow_the_core_schema() {
        let n = p("a: 1\nb: '1'\nc: yes\nd: true\ne: 1.5\nf: 80:80\ng: ~\nh: 0x1F\n");
        let m = n.as_map().unwrap();
        assert!(matches!(m["a"].value, Value::Int(1)));
        assert_eq!(m["b"].as_str(), Some("1"));
        assert_eq!(m["c"].as_str(), Some("yes"));
        assert_eq!(m["d"].as_bool(), Some(true));
        assert!(matches!(m["e"].value, Value::Float(f) if f == 1.5));
        assert_eq!(m["f"].as_str(), Some("80:80"));
        assert!(m["g"].is_null());
        assert!(matches!(m["h"].value, Value::Int(31)));
        let modes = p("a: 0440\nb: 0o17\n");
        assert!(matches!(modes.get("a").unwrap().value, Value::Int(288)));
        assert!(matches!(modes.get("b").unwrap().value, Value::Int(15)));
    }

    #[test]
    fn spans_point_at_lines() {
        let n = p("services:\n  web:\n    image: nginx\n");
        let img = n.at_pointer("/services/web/image").unwrap();
        assert_eq!((img.span.line, img.span.col), (3, 12));
        assert_eq!(n.key_span_at_pointer("/services/web").unwrap().line, 2);
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let n = p("x-base: &b\n  image: a\n  restart: always\nservices:\n  s:\n    <<: *b\n    image: c\n  t: *b\n");
        let s = n.at_pointer("/services/s").unwrap();
        assert_eq!(s.get("image").unwrap().as_str(), Some("c"));
        assert_eq!(s.get("restart").unwrap().as_str(), Some("always"));
        assert_eq!(n.at_pointer("/services/t/image").unwrap().as_str(), Some("a"));
    }

    #[test]
    fn merge_key_list_first_wins() {
        let n = p("a: &a {x: 1}\nb: &b {x: 2, y: 2}\nc:\n  <<: [*a, *b]\n");
        let c = n.get("c").unwrap();
        assert!(matches!(c.get("x").unwrap().value, Value::Int(1)));
        assert!(matches!(c.get("y").unwrap().value, Value::Int(2)));
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let e = parse("a: 1\nb: 2\na: 3\n", FileId(0)).unwrap_err();
        assert!(e.message.contains("`a` is defined twice"), "{}", e.message);
        assert_eq!(e.span.line, 3);
        assert_eq!(e.related[0].0.line, 1);
    }

    #[test]
    fn syntax_errors_have_positions() {
        let e = parse("services:\n  web:\n    image: [a\n", FileId(0)).unwrap_err();
        assert!(e.message.starts_with("invalid YAML"));
        assert!(e.span.line >= 3);
    }

    #[test]
    fn reset_and_override_tags_are_kept() {
        let n = p("a: !reset []\nb: !override {x: 1}\nc: !reset null\n");
        assert_eq!(n.get("a").unwrap().tag, Some(Tag::Reset));
        assert_eq!(n.get("b").unwrap().tag, Some(Tag::Override));
        assert_eq!(n.get("c").unwrap().tag, Some(Tag::Reset));
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut s = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9 {
            let prev = (b'a' + i - 1) as char;
            let cur = (b'a' + i) as char;
            s.push_str(&format!("{cur}: &{cur} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
        }
        let e = parse(&s, FileId(0)).unwrap_err();
        assert!(e.message.contains("too many nodes"));
    }

    #[test]
    fn unicode_offsets_are_bytes() {
        let n = p("é: ü\nb: c\n");
        let b = n.get("b").unwrap();
        assert_eq!(b.span.start as usize, "é: ü\nb: ".len());
    }

    #[test]
    fn deep_nesting_is_refused() {
        let deep = format!("a: {}{}\n", "[".repeat(100), "]".repeat(100));
        let e = parse(&deep, FileId(0)).unwrap_err();
        assert!(e.message.contains("nested too deeply"), "{}", e.message);
        let ok = format!("a: {}{}\n", "[".repeat(40), "]".repeat(40));
        assert!(parse(&ok, FileId(0)).is_ok());
    }

    #[test]
    fn two_documents_are_refused() {
        assert!(parse("a: 1\n---\nb: 2\n", FileId(0)).is_err());
    }
}
