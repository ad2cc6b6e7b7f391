//! The one place that parses YAML: every node keeps its file, line and column, and plain
//! scalars are read the way Ansible (PyYAML, YAML 1.1) reads them. Converting nodes into
//! template values lives in `value.rs`; emitting YAML lives in `emit.rs`.

mod coerce;
mod emit;
mod load;
mod value;

pub use coerce::{parse_bool_str, parse_mode_str};
pub use emit::{to_yaml_canonical, to_yaml_string, to_yaml_string_flow, to_yaml_styled_scalar};
pub use load::{load_file, load_str, undecryptable_message, utf8_text};
pub use value::{node_to_value, value_from_yaml_str};

use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// Where a node starts: file, 1-based line, 1-based column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Span {
    pub file: Arc<Path>,
    pub line: usize,
    pub col: usize,
}

impl Span {
    /// A span for values that do not come from a file (command line, defaults).
    pub fn synthetic(what: &str) -> Span {
        Span {
            file: Arc::from(Path::new(what)),
            line: 0,
            col: 0,
        }
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.file.display())
        } else {
            write!(f, "{}:{}:{}", self.file.display(), self.line, self.col)
        }
    }
}

/// A YAML node with its position.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    pub span: Span,
    /// A local tag such as `!vault` or `!unsafe`, without the leading `!`.
    pub tag: Option<String>,
}

/// The typed content of a node, after YAML 1.1 resolution of plain scalars.
#[derive(Clone, Debug, PartialEq)]
pub enum NodeKind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// Shared: an alias is the anchored node itself, not a copy (cloning a node is cheap).
    Seq(Arc<Vec<Node>>),
    /// Keys keep their order; duplicate keys are rejected at load time. Shared as `Seq`.
    Map(Arc<Vec<(Node, Node)>>),
}

impl Node {
    /// The string content, if this node is a string scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Entries of a mapping node.
    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            NodeKind::Map(m) => Some(m),
            _ => None,
        }
    }

    /// Items of a sequence node.
    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.kind {
            NodeKind::Seq(s) => Some(s),
            _ => None,
        }
    }

    /// The value stored under a string key of a mapping node.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.key_str().as_deref() == Some(key))
            .map(|(_, v)| v)
    }

    /// A scalar rendered as the string a key would be (YAML keys may be ints or bools).
    pub fn key_str(&self) -> Option<String> {
        match &self.kind {
            NodeKind::Str(s) => Some(s.clone()),
            NodeKind::Int(i) => Some(i.to_string()),
            NodeKind::Bool(b) => Some(if *b { "True" } else { "False" }.to_string()),
            NodeKind::Float(f) => Some(f.to_string()),
            NodeKind::Null => Some(String::new()),
            _ => None,
        }
    }

    /// A short name of the node's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            NodeKind::Null => "null",
            NodeKind::Bool(_) => "a boolean",
            NodeKind::Int(_) => "an integer",
            NodeKind::Float(_) => "a float",
            NodeKind::Str(_) => "a string",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a mapping",
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.kind, NodeKind::Null)
    }

    /// A new string node at the given span.
    pub fn string(s: impl Into<String>, span: Span) -> Node {
        Node {
            kind: NodeKind::Str(s.into()),
            span,
            tag: None,
        }
    }
}
