//! The one file that names the YAML parser.
//!
//! Promtail reads its config with Go's `gopkg.in/yaml.v2`: YAML 1.1 scalars (`yes`, `no`, `on`,
//! `off`, `y`, `n` are booleans where a boolean is wanted, `0755` is octal), merge keys, strict
//! decoding that reports *every* unknown key with its line, and duplicate keys rejected. No serde
//! YAML crate reproduces those rules, so this module parses with `yaml-rust2`'s event parser into a
//! small [`Node`] tree that keeps each node's line and the scalar's quoting style, and implements a
//! serde `Deserializer` over that tree. The deserializer has three modes:
//!
//! * [`Mode::Config`]: yaml.v2 typed decoding (the top-level config). Unknown keys are errors named
//!   as Promtail names them (`line 17: field foo not found in type config.plain`), collected so all
//!   are reported together. A string field keeps a scalar's original text.
//! * [`Mode::StageStrict`] and [`Mode::StageWeak`]: mapstructure's `Decode` and `WeakDecode` over
//!   YAML 1.1-resolved values (pipeline stages). Unknown keys are ignored, as Promtail ignores them,
//!   but each one is recorded as a warning so the caller can log it.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;

use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// One YAML node with the line (1-based) where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// What the node holds.
    pub kind: NodeKind,
    /// 1-based line of the node's first character.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
}

/// The shape of a [`Node`].
#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// A scalar and whether it was written plain (and so subject to YAML 1.1 resolution).
    Scalar {
        /// The scalar's text after YAML unescaping.
        text: String,
        /// `true` for a plain (unquoted, non-block) scalar.
        plain: bool,
    },
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in document order (merge keys already applied).
    Map(Vec<(Node, Node)>),
}

/// A scalar resolved with YAML 1.1 rules, as yaml.v2 resolves into `interface{}`.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolved<'a> {
    /// `~`, `null`, or nothing.
    Null,
    /// `true`, `yes`, `on`, `y`, ... and their negatives.
    Bool(bool),
    /// Decimal, hex, octal or binary integer.
    Int(i64),
    /// A float, including `.inf` and `.nan`.
    Float(f64),
    /// Anything else, or any quoted scalar.
    Str(&'a str),
}

impl Node {
    /// The node as a YAML 1.1 resolved scalar, or `None` for collections.
    pub fn resolve(&self) -> Option<Resolved<'_>> {
        match &self.kind {
            NodeKind::Scalar { text, plain } => Some(if *plain {
                resolve_plain(text)
            } else {
                Resolved::Str(text)
            }),
            _ => None,
        }
    }

    /// True for `~`, `null` and empty values.
    pub fn is_null(&self) -> bool {
        matches!(self.resolve(), Some(Resolved::Null))
    }

    /// The value under `key` when this is a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            NodeKind::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.scalar_text() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// A scalar's text.
    pub fn scalar_text(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// yaml.v2's short tag for error messages (`!!str`, `!!map`, ...).
    pub fn tag(&self) -> &'static str {
        match self.resolve() {
            None => match self.kind {
                NodeKind::Seq(_) => "!!seq",
                _ => "!!map",
            },
            Some(Resolved::Null) => "!!null",
            Some(Resolved::Bool(_)) => "!!bool",
            Some(Resolved::Int(_)) => "!!int",
            Some(Resolved::Float(_)) => "!!float",
            Some(Resolved::Str(_)) => "!!str",
        }
    }

    fn null_at(line: usize, col: usize) -> Node {
        Node {
            kind: NodeKind::Scalar {
                text: String::new(),
                plain: true,
            },
            line,
            col,
        }
    }
}

/// Resolves a plain scalar as yaml.v2 does.
pub fn resolve_plain(text: &str) -> Resolved<'_> {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return Resolved::Bool(true)
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return Resolved::Bool(false)
        }
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Resolved::Float(f64::INFINITY)
        }
        "-.inf" | "-.Inf" | "-.INF" => return Resolved::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Resolved::Float(f64::NAN),
        _ => {}
    }
    let first = text.as_bytes()[0];
    if !(first.is_ascii_digit() || first == b'-' || first == b'+' || first == b'.') {
        return Resolved::Str(text);
    }
    if let Some(i) = parse_yaml_int(text) {
        return Resolved::Int(i);
    }
    let plain: String = text.chars().filter(|&c| c != '_').collect();
    let looks_float = plain
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
        && plain.bytes().any(|b| b.is_ascii_digit());
    if looks_float {
        if let Ok(f) = plain.parse::<f64>() {
            return Resolved::Float(f);
        }
    }
    Resolved::Str(text)
}

fn parse_yaml_int(text: &str) -> Option<i64> {
    let plain: String = text.chars().filter(|&c| c != '_').collect();
    let (neg, digits) = match plain.as_bytes().first()? {
        b'-' => (true, &plain[1..]),
        b'+' => (false, &plain[1..]),
        _ => (false, &plain[..]),
    };
    if digits.is_empty() {
        return None;
    }
    let magnitude = if let Some(h) = digits.strip_prefix("0x") {
        i64::from_str_radix(h, 16).ok()?
    } else if let Some(b) = digits.strip_prefix("0b") {
        i64::from_str_radix(b, 2).ok()?
    } else if let Some(o) = digits.strip_prefix("0o") {
        i64::from_str_radix(o, 8).ok()?
    } else if digits.len() > 1 && digits.starts_with('0') {
        i64::from_str_radix(&digits[1..], 8).ok()?
    } else {
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse::<i64>().ok()?
    };
    Some(if neg { -magnitude } else { magnitude })
}

/// A YAML syntax or decoding error, with the 1-based line it concerns when known.
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    /// Line of the offending node.
    pub line: Option<usize>,
    /// What went wrong, without the line.
    pub msg: String,
}

impl Error {
    fn at(mut self, line: usize) -> Self {
        if self.line.is_none() {
            self.line = Some(line);
        }
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "line {l}: {}", self.msg),
            None => f.write_str(&self.msg),
        }
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error {
            line: None,
            msg: msg.to_string(),
        }
    }
}

/// Several decoding errors reported together, as yaml.v2 does.
#[derive(Debug, Clone, PartialEq)]
pub struct Errors(pub Vec<Error>);

impl fmt::Display for Errors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.len() == 1 && self.0[0].line.is_none() {
            return write!(f, "{}", self.0[0].msg);
        }
        f.write_str("yaml: unmarshal errors:")?;
        for e in &self.0 {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Errors {}

/// Parses one YAML document into a [`Node`]. An empty document is a null node.
pub fn parse(text: &str) -> Result<Node, Error> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut builder, false) {
        return Err(Error {
            line: Some(e.marker().line()),
            msg: format!("yaml: {}", e.info()),
        });
    }
    if let Some(err) = builder.error {
        return Err(err);
    }
    Ok(builder.root.unwrap_or_else(|| Node::null_at(1, 1)))
}

enum Frame {
    Seq(Node, usize),
    Map(Node, usize, Option<Node>),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    root: Option<Node>,
    error: Option<Error>,
}

impl Builder {
    fn push_value(&mut self, node: Node) {
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some(Frame::Seq(seq, _)) => {
                if let NodeKind::Seq(items) = &mut seq.kind {
                    items.push(node);
                }
            }
            Some(Frame::Map(map, _, pending)) => match pending.take() {
                None => *pending = Some(node),
                Some(key) => {
                    if let NodeKind::Map(entries) = &mut map.kind {
                        if key.scalar_text() == Some("<<")
                            && matches!(key.kind, NodeKind::Scalar { plain: true, .. })
                        {
                            merge_into(entries, node);
                        } else {
                            if let Some(text) = key.scalar_text() {
                                let dup = entries
                                    .iter()
                                    .any(|(k, _)| k.scalar_text() == Some(text) && !k.is_merged());
                                if dup && self.error.is_none() {
                                    self.error = Some(Error {
                                        line: Some(key.line),
                                        msg: format!("key {text:?} already set in map"),
                                    });
                                }
                            }
                            entries.retain(|(k, _)| {
                                !(k.is_merged() && k.scalar_text() == key.scalar_text())
                            });
                            entries.push((key, node));
                        }
                    }
                }
            },
        }
    }
}

impl Node {
    /// Merged entries are marked with column 0 so a later explicit key may override them.
    fn is_merged(&self) -> bool {
        self.col == 0
    }
}

fn merge_into(entries: &mut Vec<(Node, Node)>, source: Node) {
    let maps = match source.kind {
        NodeKind::Map(m) => vec![m],
        NodeKind::Seq(items) => items
            .into_iter()
            .filter_map(|n| match n.kind {
                NodeKind::Map(m) => Some(m),
                _ => None,
            })
            .collect(),
        _ => return,
    };
    for m in maps {
        for (mut k, v) in m {
            let exists = entries
                .iter()
                .any(|(e, _)| e.scalar_text() == k.scalar_text());
            if !exists {
                k.col = 0;
                entries.push((k, v));
            }
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let (line, col) = (mark.line(), mark.col() + 1);
        match ev {
            Event::Scalar(text, style, anchor, _tag) => {
                let node = Node {
                    kind: NodeKind::Scalar {
                        text,
                        plain: style == TScalarStyle::Plain,
                    },
                    line,
                    col,
                };
                if anchor > 0 {
                    self.anchors.insert(anchor, node.clone());
                }
                self.push_value(node);
            }
            Event::Alias(id) => {
                let node = match self.anchors.get(&id) {
                    Some(n) => n.clone(),
                    None => Node::null_at(line, col),
                };
                self.push_value(node);
            }
            Event::SequenceStart(anchor, _) => self.stack.push(Frame::Seq(
                Node {
                    kind: NodeKind::Seq(Vec::new()),
                    line,
                    col,
                },
                anchor,
            )),
            Event::MappingStart(anchor, _) => self.stack.push(Frame::Map(
                Node {
                    kind: NodeKind::Map(Vec::new()),
                    line,
                    col,
                },
                anchor,
                None,
            )),
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some(frame) = self.stack.pop() {
                    let (node, anchor) = match frame {
                        Frame::Seq(n, a) => (n, a),
                        Frame::Map(n, a, _) => (n, a),
                    };
                    if anchor > 0 {
                        self.anchors.insert(anchor, node.clone());
                    }
                    self.push_value(node);
                }
            }
            _ => {}
        }
    }
}

/// How the deserializer treats keys and scalar types; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// yaml.v2 strict typed decoding.
    Config,
    /// mapstructure `Decode`.
    StageStrict,
    /// mapstructure `WeakDecode`.
    StageWeak,
}

#[derive(Default)]
struct Ctx {
    errors: RefCell<Vec<Error>>,
    warnings: RefCell<Vec<String>>,
}

thread_local! {
    static CAPTURED: RefCell<Vec<Node>> = const { RefCell::new(Vec::new()) };
}

const NODE_TOKEN: &str = "$ferrotail::yaml::Node";

/// A field that keeps its YAML subtree as a [`Node`] (used for `pipeline_stages`, whose stages
/// are decoded later with their own rules).
#[derive(Debug, Clone, PartialEq)]
pub struct RawNode(pub Node);

impl<'de> de::Deserialize<'de> for RawNode {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = RawNode;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a YAML node")
            }
            fn visit_u64<E: de::Error>(self, idx: u64) -> Result<RawNode, E> {
                CAPTURED
                    .with(|c| c.borrow().get(idx as usize).cloned())
                    .map(RawNode)
                    .ok_or_else(|| E::custom("YAML node capture used outside ferrotail's loader"))
            }
        }
        d.deserialize_newtype_struct(NODE_TOKEN, V)
    }
}

/// Decoded value plus the warnings (ignored keys) met on the way.
pub struct Decoded<T> {
    /// The value.
    pub value: T,
    /// One message per ignored key, e.g. `unknown key "percentage" ignored (line 12)`.
    pub warnings: Vec<String>,
}

/// Decodes `node` into `T` under `mode`. In [`Mode::Config`] every unknown key is collected and
/// reported together.
pub fn from_node<T: de::DeserializeOwned>(node: &Node, mode: Mode) -> Result<Decoded<T>, Errors> {
    let ctx = Ctx::default();
    let result = T::deserialize(NodeDe {
        node,
        mode,
        ctx: &ctx,
    });
    CAPTURED.with(|c| c.borrow_mut().clear());
    let mut errors = ctx.errors.into_inner();
    match result {
        Ok(value) if errors.is_empty() => Ok(Decoded {
            value,
            warnings: ctx.warnings.into_inner(),
        }),
        Ok(_) => Err(Errors(errors)),
        Err(e) => {
            errors.push(e);
            errors.sort_by_key(|e| e.line);
            Err(Errors(errors))
        }
    }
}

/// Parses `text` and decodes it in [`Mode::Config`]. Returns the tree too.
pub fn from_str<T: de::DeserializeOwned>(text: &str) -> Result<(T, Node), Errors> {
    let node = parse(text).map_err(|e| Errors(vec![e]))?;
    let value = from_node(&node, Mode::Config)?.value;
    Ok((value, node))
}

struct NodeDe<'a> {
    node: &'a Node,
    mode: Mode,
    ctx: &'a Ctx,
}

impl<'a> NodeDe<'a> {
    fn child(&self, node: &'a Node) -> NodeDe<'a> {
        NodeDe {
            node,
            mode: self.mode,
            ctx: self.ctx,
        }
    }

    fn type_error(&self, into: &str) -> Error {
        let into = match (self.mode, into) {
            (Mode::Config, "u8" | "u16" | "u32" | "u64" | "i8" | "i16" | "i32" | "i64") => "int",
            (Mode::Config, "f64" | "f32") => "float64",
            _ => into,
        };
        let msg = match self.mode {
            Mode::Config => match &self.node.kind {
                NodeKind::Scalar { text, .. } => {
                    format!(
                        "cannot unmarshal {} `{}` into {into}",
                        self.node.tag(),
                        text
                    )
                }
                _ => format!("cannot unmarshal {} into {into}", self.node.tag()),
            },
            _ => {
                let (got, value) = match self.node.resolve() {
                    Some(Resolved::Bool(b)) => ("bool", b.to_string()),
                    Some(Resolved::Int(i)) => ("int", i.to_string()),
                    Some(Resolved::Float(f)) => ("float64", f.to_string()),
                    Some(Resolved::Str(s)) => ("string", s.to_string()),
                    Some(Resolved::Null) => ("nil", String::new()),
                    None => match self.node.kind {
                        NodeKind::Seq(_) => ("slice", String::from("[...]")),
                        _ => ("map", String::from("map[...]")),
                    },
                };
                format!("expected type '{into}', got unconvertible type '{got}', value: '{value}'")
            }
        };
        Error {
            line: Some(self.node.line),
            msg,
        }
    }

    fn scalar_string(&self) -> Result<String, Error> {
        match (self.mode, self.node.resolve()) {
            (_, None) => Err(self.type_error("string")),
            // yaml.v2 sets a field to its zero value for a null (`key:`, `key: ~`, `null`).
            (_, Some(Resolved::Null)) => Ok(String::new()),
            (Mode::Config, Some(_)) => Ok(self.node.scalar_text().unwrap_or_default().to_string()),
            (_, Some(Resolved::Str(s))) => Ok(s.to_string()),
            (Mode::StageWeak, Some(Resolved::Bool(b))) => Ok(if b { "1" } else { "0" }.into()),
            (Mode::StageWeak, Some(Resolved::Int(i))) => Ok(i.to_string()),
            (Mode::StageWeak, Some(Resolved::Float(f))) => Ok(f.to_string()),
            _ => Err(self.type_error("string")),
        }
    }

    fn scalar_i64(&self, into: &str) -> Result<i64, Error> {
        match self.node.resolve() {
            Some(Resolved::Int(i)) => Ok(i),
            Some(Resolved::Float(f)) if self.mode != Mode::Config && f.fract() == 0.0 => {
                Ok(f as i64)
            }
            Some(Resolved::Float(f)) if self.mode != Mode::Config => Ok(f as i64),
            Some(Resolved::Null) => Ok(0),
            Some(Resolved::Bool(b)) if self.mode == Mode::StageWeak => Ok(b as i64),
            Some(Resolved::Str(s)) if self.mode == Mode::StageWeak => {
                s.trim().parse().map_err(|_| self.type_error(into))
            }
            _ => Err(self.type_error(into)),
        }
    }

    fn scalar_f64(&self) -> Result<f64, Error> {
        match self.node.resolve() {
            Some(Resolved::Int(i)) => Ok(i as f64),
            Some(Resolved::Float(f)) => Ok(f),
            Some(Resolved::Null) => Ok(0.0),
            Some(Resolved::Bool(b)) if self.mode == Mode::StageWeak => Ok(b as i64 as f64),
            Some(Resolved::Str(s)) if self.mode == Mode::StageWeak => {
                s.trim().parse().map_err(|_| self.type_error("float64"))
            }
            _ => Err(self.type_error("float64")),
        }
    }

    fn scalar_bool(&self) -> Result<bool, Error> {
        match self.node.resolve() {
            Some(Resolved::Bool(b)) => Ok(b),
            Some(Resolved::Null) => Ok(false),
            Some(Resolved::Int(i)) if self.mode == Mode::StageWeak => Ok(i != 0),
            Some(Resolved::Str(s)) if self.mode == Mode::StageWeak => match s {
                "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
                "0" | "f" | "F" | "false" | "FALSE" | "False" | "" => Ok(false),
                _ => Err(self.type_error("bool")),
            },
            _ => Err(self.type_error("bool")),
        }
    }
}

macro_rules! de_int {
    ($($method:ident $visit:ident $ty:ty),*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            let v = self.scalar_i64(stringify!($ty))?;
            let v = <$ty>::try_from(v).map_err(|_| self.type_error(stringify!($ty)))?;
            visitor.$visit(v).map_err(|e: Error| e.at(self.node.line))
        }
    )*};
}

impl<'de> de::Deserializer<'de> for NodeDe<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let line = self.node.line;
        let r = match &self.node.kind {
            NodeKind::Seq(items) => visitor.visit_seq(SeqDe {
                iter: items.iter(),
                de: &self,
            }),
            NodeKind::Map(entries) => visitor.visit_map(MapDe {
                iter: entries.iter(),
                value: None,
                de: &self,
                known: None,
                type_name: "",
            }),
            NodeKind::Scalar { .. } => match self.node.resolve() {
                Some(Resolved::Null) => visitor.visit_unit(),
                Some(Resolved::Bool(b)) => visitor.visit_bool(b),
                Some(Resolved::Int(i)) => visitor.visit_i64(i),
                Some(Resolved::Float(f)) => visitor.visit_f64(f),
                Some(Resolved::Str(s)) => visitor.visit_str(s),
                None => visitor.visit_unit(),
            },
        };
        r.map_err(|e| e.at(line))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let b = self.scalar_bool()?;
        visitor.visit_bool(b)
    }

    de_int!(deserialize_i8 visit_i8 i8, deserialize_i16 visit_i16 i16, deserialize_i32 visit_i32 i32,
        deserialize_i64 visit_i64 i64, deserialize_u8 visit_u8 u8, deserialize_u16 visit_u16 u16,
        deserialize_u32 visit_u32 u32, deserialize_u64 visit_u64 u64);

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let f = self.scalar_f64()?;
        visitor.visit_f32(f as f32)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let f = self.scalar_f64()?;
        visitor.visit_f64(f)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_string(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_string(visitor)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let s = self.scalar_string()?;
        let line = self.node.line;
        visitor.visit_string(s).map_err(|e: Error| e.at(line))
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_string(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_string(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.node.is_null() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        if name == NODE_TOKEN {
            let idx = CAPTURED.with(|c| {
                let mut c = c.borrow_mut();
                c.push(self.node.clone());
                c.len() - 1
            });
            return visitor.visit_u64(idx as u64);
        }
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let line = self.node.line;
        match &self.node.kind {
            NodeKind::Seq(items) => visitor.visit_seq(SeqDe {
                iter: items.iter(),
                de: &self,
            }),
            _ if self.node.is_null() => visitor.visit_seq(SeqDe {
                iter: [].iter(),
                de: &self,
            }),
            _ if self.mode == Mode::StageWeak => visitor.visit_seq(SeqDe {
                iter: std::slice::from_ref(self.node).iter(),
                de: &self,
            }),
            _ => Err(self.type_error(match self.mode {
                Mode::Config => "[]string",
                _ => "slice",
            })),
        }
        .map_err(|e| e.at(line))
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let line = self.node.line;
        match &self.node.kind {
            NodeKind::Map(entries) => visitor.visit_map(MapDe {
                iter: entries.iter(),
                value: None,
                de: &self,
                known: None,
                type_name: "",
            }),
            _ if self.node.is_null() => visitor.visit_map(MapDe {
                iter: [].iter(),
                value: None,
                de: &self,
                known: None,
                type_name: "",
            }),
            _ => Err(self.type_error("map")),
        }
        .map_err(|e| e.at(line))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let line = self.node.line;
        match &self.node.kind {
            NodeKind::Map(entries) => visitor.visit_map(MapDe {
                iter: entries.iter(),
                value: None,
                de: &self,
                known: Some(fields),
                type_name: name,
            }),
            _ if self.node.is_null() => visitor.visit_map(MapDe {
                iter: [].iter(),
                value: None,
                de: &self,
                known: Some(fields),
                type_name: name,
            }),
            _ => Err(self.type_error(name)),
        }
        .map_err(|e| e.at(line))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match &self.node.kind {
            NodeKind::Scalar { text, .. } => visitor.visit_enum(text.as_str().into_deserializer()),
            _ => Err(self.type_error("string")),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_string(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }
}

struct SeqDe<'a, 'b> {
    iter: std::slice::Iter<'a, Node>,
    de: &'b NodeDe<'a>,
}

impl<'de> SeqAccess<'de> for SeqDe<'_, '_> {
    type Error = Error;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        match self.iter.next() {
            None => Ok(None),
            Some(node) => seed
                .deserialize(self.de.child(node))
                .map(Some)
                .map_err(|e| e.at(node.line)),
        }
    }
}

struct MapDe<'a, 'b> {
    iter: std::slice::Iter<'a, (Node, Node)>,
    value: Option<&'a Node>,
    de: &'b NodeDe<'a>,
    known: Option<&'static [&'static str]>,
    type_name: &'static str,
}

impl<'de> MapAccess<'de> for MapDe<'_, '_> {
    type Error = Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        loop {
            let Some((k, v)) = self.iter.next() else {
                return Ok(None);
            };
            if let Some(known) = self.known {
                let name = k.scalar_text().unwrap_or("");
                let stage_key_is_string =
                    self.de.mode == Mode::Config || matches!(k.resolve(), Some(Resolved::Str(_)));
                if !known.contains(&name) || !stage_key_is_string {
                    if self.de.mode == Mode::Config {
                        self.de.ctx.errors.borrow_mut().push(Error {
                            line: Some(k.line),
                            msg: format!("field {name} not found in type {}", self.type_name),
                        });
                    } else {
                        self.de
                            .ctx
                            .warnings
                            .borrow_mut()
                            .push(format!("unknown key {name:?} ignored (line {})", k.line));
                    }
                    continue;
                }
            }
            self.value = Some(v);
            return seed
                .deserialize(self.de.child(k))
                .map(Some)
                .map_err(|e| e.at(k.line));
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        match self.value.take() {
            Some(v) => seed.deserialize(self.de.child(v)).map_err(|e| e.at(v.line)),
            None => Err(Error {
                line: None,
                msg: "value requested before key".into(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use std::collections::BTreeMap;

    #[derive(Deserialize, Debug, Default)]
    #[serde(rename = "config.plain", default)]
    struct Top {
        name: String,
        on: bool,
        count: u32,
        labels: BTreeMap<String, String>,
    }

    /// Every scalar type of a config struct, with non-zero defaults, to see what a null does.
    #[derive(Deserialize, Debug, PartialEq)]
    #[serde(rename = "config.plain", default)]
    struct Scalars {
        s: String,
        b: bool,
        i: i64,
        u16: u16,
        u32: u32,
        f: f64,
        d: crate::units::GoDuration,
        pd: crate::units::PromDuration,
        size: crate::units::ByteSize,
        opt: Option<String>,
        list: Vec<String>,
    }

    impl Default for Scalars {
        fn default() -> Self {
            Scalars {
                s: "default".into(),
                b: true,
                i: 7,
                u16: 80,
                u32: 9,
                f: 1.5,
                d: crate::units::GoDuration(std::time::Duration::from_secs(10)),
                pd: crate::units::PromDuration(std::time::Duration::from_secs(60)),
                size: crate::units::ByteSize(1024),
                opt: Some("x".into()),
                list: vec!["a".into()],
            }
        }
    }

    /// yaml.v2 sets a field to its zero value (not its default) for `key:`, `key: ~`, `null` and
    /// `Null` (as `${UNSET}` leaves after `-config.expand-env`), whatever its type.
    #[test]
    fn a_null_scalar_is_the_zero_value() {
        for null in ["", " ~", " null", " Null", " NULL"] {
            let text = [
                "s", "b", "i", "u16", "u32", "f", "d", "pd", "size", "opt", "list",
            ]
            .iter()
            .map(|k| format!("{k}:{null}\n"))
            .collect::<String>();
            let (got, _) = from_str::<Scalars>(&text).unwrap_or_else(|e| panic!("{null:?}: {e}"));
            assert_eq!(
                got,
                Scalars {
                    s: String::new(),
                    b: false,
                    i: 0,
                    u16: 0,
                    u32: 0,
                    f: 0.0,
                    d: crate::units::GoDuration(std::time::Duration::ZERO),
                    pd: crate::units::PromDuration(std::time::Duration::ZERO),
                    size: crate::units::ByteSize(0),
                    opt: None,
                    list: Vec::new(),
                },
                "null written as {null:?}"
            );
        }
        // Keys left out keep their defaults.
        let (got, _) = from_str::<Scalars>("s: x\n").unwrap();
        assert_eq!(got.u16, 80);
        // Values still parse, and bad ones still fail.
        let (got, _) = from_str::<Scalars>("d: 1500\npd: 5m\nsize: 2kb\n").unwrap();
        assert_eq!(got.d.0, std::time::Duration::from_nanos(1500));
        assert_eq!(got.pd.0, std::time::Duration::from_secs(300));
        assert_eq!(got.size.0, 2048);
        assert!(from_str::<Scalars>("pd: 10\n").is_err());
        assert!(from_str::<Scalars>("d: \"\"\n").is_err());
        assert!(from_str::<Scalars>("b: maybe\n").is_err());
    }

    #[test]
    fn unknown_keys_are_all_reported_with_lines() {
        let err = from_str::<Top>("name: x\nfoo: 1\ncount: 2\nbar: 3\n")
            .err()
            .unwrap();
        assert_eq!(
            err.to_string(),
            "yaml: unmarshal errors:\n  line 2: field foo not found in type config.plain\n  line 4: field bar not found in type config.plain"
        );
    }

    #[test]
    fn yaml_1_1_scalars() {
        let (t, _) =
            from_str::<Top>("name: on\non: yes\ncount: 0x10\nlabels: {a: on, b: 010}\n").unwrap();
        assert_eq!(t.name, "on");
        assert!(t.on);
        assert_eq!(t.count, 16);
        assert_eq!(t.labels["a"], "on");
        assert_eq!(t.labels["b"], "010");
        assert_eq!(resolve_plain("0755"), Resolved::Int(0o755));
        assert_eq!(resolve_plain("n"), Resolved::Bool(false));
        assert_eq!(resolve_plain("1.5"), Resolved::Float(1.5));
        assert_eq!(resolve_plain("1.2.3"), Resolved::Str("1.2.3"));
    }

    #[test]
    fn type_errors_name_the_value() {
        let err = from_str::<Top>("count: abc\n").err().unwrap();
        assert_eq!(
            err.to_string(),
            "yaml: unmarshal errors:\n  line 1: cannot unmarshal !!str `abc` into int"
        );
    }

    #[test]
    fn duplicate_keys_are_rejected_and_merge_keys_work() {
        assert!(parse("a: 1\na: 2\n").is_err());
        let n = parse("base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\n").unwrap();
        let m = n.get("m").unwrap();
        assert_eq!(m.get("x").unwrap().scalar_text(), Some("1"));
        assert_eq!(m.get("y").unwrap().scalar_text(), Some("3"));
    }

    #[test]
    fn stage_modes() {
        #[derive(Deserialize, Debug)]
        struct S {
            a: Option<String>,
            list: Option<Vec<String>>,
        }
        let node = parse("a: 1\ntypo: 2\n").unwrap();
        assert!(from_node::<S>(&node, Mode::StageStrict).is_err());
        let d = from_node::<S>(&node, Mode::StageWeak).unwrap();
        assert_eq!(d.value.a.as_deref(), Some("1"));
        assert_eq!(d.warnings.len(), 1);
        let node = parse("list: one\nn: x\n").unwrap();
        let d = from_node::<S>(&node, Mode::StageWeak).unwrap();
        assert_eq!(d.value.list.unwrap(), vec!["one".to_string()]);
        // `n` is a YAML 1.1 boolean key, so it is not the field `n`: ignored with a warning.
        assert_eq!(d.warnings.len(), 1);
    }

    #[test]
    fn raw_node_capture() {
        #[derive(Deserialize)]
        struct W {
            stages: RawNode,
        }
        let (w, _) = from_str::<W>("stages:\n  - regex: {expression: x}\n").unwrap();
        assert!(matches!(w.stages.0.kind, NodeKind::Seq(_)));
        assert_eq!(w.stages.0.line, 2);
    }
}
