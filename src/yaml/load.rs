//! Builds `Node` trees from yaml-rust2's marked events: anchors and aliases, `<<` merge keys,
//! duplicate-key rejection, and parse errors that name file:line:column with a hint.

use super::coerce::resolve_plain;
use super::{Node, NodeKind, Span};
use anyhow::{anyhow, Context, Result};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Reads and parses a YAML file into its documents. A vault-encrypted file is decrypted in
/// memory first (its string values are then secrets, see `crate::vault::redact`).
/// A file's bytes as text, or an error naming the line and column of the first byte that is
/// not UTF-8.
pub fn utf8_text(bytes: Vec<u8>, path: &Path) -> Result<String> {
    String::from_utf8(bytes).map_err(|e| {
        let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = 1 + good.iter().filter(|b| **b == b'\n').count();
        let col = 1 + good
            .rsplit(|b| *b == b'\n')
            .next()
            .map(|l| String::from_utf8_lossy(l).chars().count())
            .unwrap_or(0);
        anyhow!(
            "{}:{line}:{col}: the file is not valid UTF-8 here\nhint: save the file as UTF-8",
            path.display()
        )
    })
}

pub fn load_file(path: &Path) -> Result<Vec<Node>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading `{}`", path.display()))?;
    let vaulted = crate::vault::is_encrypted(&bytes);
    let bytes = if vaulted {
        crate::vault::decrypt(&bytes)
            .map_err(|e| anyhow!("{}:1:1: {}", path.display(), e.report()))?
    } else {
        bytes
    };
    let text = utf8_text(bytes, path)?;
    let docs = load_str(&text, path)?;
    if vaulted {
        docs.iter().for_each(mark_file_secrets);
    }
    Ok(docs)
}

/// Strings shorter than this from an encrypted file are not hidden in output: hiding `yes`
/// or `80` everywhere would garble it. `!vault` values are always hidden.
const MIN_FILE_SECRET_LEN: usize = 4;

/// Records the string values (not the keys) of a decrypted file as secrets.
fn mark_file_secrets(node: &Node) {
    match &node.kind {
        NodeKind::Str(s) if s.trim().len() >= MIN_FILE_SECRET_LEN => crate::vault::mark_secret(s),
        NodeKind::Seq(items) => items.iter().for_each(mark_file_secrets),
        NodeKind::Map(entries) => entries.iter().for_each(|(_, v)| mark_file_secrets(v)),
        _ => {}
    }
}

/// Messages of `!vault` values no password opened, by number: such a value becomes a template
/// calling `__drover_undecryptable(N)`, which fails with message N when (and only when) the
/// value is used, as ansible-core 2.19 fails.
static UNDECRYPTABLE: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// The message of undecryptable value `n` (see `UNDECRYPTABLE`).
pub fn undecryptable_message(n: usize) -> String {
    UNDECRYPTABLE
        .lock()
        .map(|v| v.get(n).cloned().unwrap_or_default())
        .unwrap_or_default()
}

/// Replaces every `!vault` scalar by its plaintext (keeping the tag); one that no password
/// opens by a value that fails when used (see `UNDECRYPTABLE`).
fn decrypt_vaulted(node: &mut Node) -> Result<()> {
    match &mut node.kind {
        NodeKind::Str(s) if node.tag.as_deref() == Some("vault") => {
            let plain = match crate::vault::decrypt(s.as_bytes()) {
                Ok(p) => p,
                Err(e) => {
                    let msg = format!(
                        "Attempt to use undecryptable variable (from {}): {}",
                        node.span,
                        e.report()
                    );
                    let n = {
                        let mut v = UNDECRYPTABLE.lock().unwrap_or_else(|p| p.into_inner());
                        v.push(msg);
                        v.len() - 1
                    };
                    *s = format!("{{{{ __drover_undecryptable({n}) }}}}");
                    node.tag = None;
                    return Ok(());
                }
            };
            let plain = String::from_utf8(plain).map_err(|_| {
                anyhow!("{}: the decrypted vault value is not UTF-8 text", node.span)
            })?;
            crate::vault::mark_secret(&plain);
            *s = plain;
        }
        // Copied on write when shared (an alias of a vaulted value).
        NodeKind::Seq(items) => std::sync::Arc::make_mut(items)
            .iter_mut()
            .try_for_each(decrypt_vaulted)?,
        NodeKind::Map(entries) => std::sync::Arc::make_mut(entries)
            .iter_mut()
            .try_for_each(|(k, v)| decrypt_vaulted(k).and_then(|()| decrypt_vaulted(v)))?,
        _ => {}
    }
    Ok(())
}

/// Parses YAML text; `path` is used for spans and messages only.
pub fn load_str(text: &str, path: &Path) -> Result<Vec<Node>> {
    // A UTF-8 byte order mark is no content (PyYAML skips it too).
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // yaml-rust2 refuses a flow collection closed at a lower column than the block mapping
    // value it is in (`x: {` ... `}` at column 1), which PyYAML (and so Ansible) reads: the
    // indentation of flow content means nothing, so the closing line is indented until the
    // scanner takes it. Bounded: a file needs this at most once per closing line.
    let mut patched: Option<String> = None;
    for _ in 0..256 {
        let current = patched.as_deref().unwrap_or(text);
        match load_str_once(current, path) {
            Err(e) => match flow_close_to_indent(current, &e) {
                Some(fixed) => patched = Some(fixed),
                None => return Err(e),
            },
            ok => return ok,
        }
    }
    load_str_once(patched.as_deref().unwrap_or(text), path)
}

/// The text with one more space before the closing `}`/`]` that an "invalid indentation"
/// error `e` points at, if it points at one.
fn flow_close_to_indent(text: &str, e: &anyhow::Error) -> Option<String> {
    let msg = e.to_string();
    if !msg.contains("YAML syntax error: invalid indentation") {
        return None;
    }
    // "file:LINE:COL: ..." (the file part may hold colons).
    let head = msg.split(": YAML syntax error").next()?;
    let mut parts = head.rsplitn(3, ':');
    let col: usize = parts.next()?.parse().ok()?;
    let line: usize = parts.next()?.parse().ok()?;
    let mut lines: Vec<&str> = text.split('\n').collect();
    let l = lines.get(line.checked_sub(1)?)?;
    let rest = l.get(col.checked_sub(1)?..)?;
    if !(rest.starts_with('}') || rest.starts_with(']')) || !l[..col - 1].trim().is_empty() {
        return None;
    }
    let fixed = format!(" {l}");
    lines[line - 1] = &fixed;
    Some(lines.join("\n"))
}

fn load_str_once(text: &str, path: &Path) -> Result<Vec<Node>> {
    let file: Arc<Path> = Arc::from(path);
    let mut builder = Builder {
        file: file.clone(),
        stack: Vec::new(),
        docs: Vec::new(),
        anchors: HashMap::new(),
        expanded: 0,
        error: None,
    };
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut builder, true) {
        let m = e.marker();
        let mut span = Span {
            file,
            line: m.line(),
            col: m.col() + 1,
        };
        // A tab in indentation is often reported at the end of the line before it.
        if let Some((line, col)) = tab_indent_near(text, m.line()) {
            span.line = line;
            span.col = col;
            return Err(anyhow!(
                "{span}: YAML syntax error: a tab is used for indentation\nhint: YAML does not allow tabs for indentation; indent with spaces"
            ));
        }
        let info = e.to_string();
        let info = info.split(" at byte ").next().unwrap_or(&info).to_string();
        return Err(anyhow!(
            "{span}: YAML syntax error: {info}{}",
            hint_for(text, m)
        ));
    }
    if let Some(e) = builder.error {
        return Err(e);
    }
    let mut docs = builder.docs;
    if text.contains("!vault") {
        docs.iter_mut().try_for_each(decrypt_vaulted)?;
    }
    Ok(docs)
}

/// The first line at or after `line` (1-based, within two lines) whose indentation has a tab.
fn tab_indent_near(text: &str, line: usize) -> Option<(usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    for l in line.max(1)..=(line + 1).min(lines.len()) {
        let content = lines[l - 1];
        let indent: String = content
            .chars()
            .take_while(|c| *c == ' ' || *c == '\t')
            .collect();
        if let Some(pos) = indent.find('\t') {
            return Some((l, pos + 1));
        }
    }
    None
}

fn hint_for(text: &str, m: &Marker) -> String {
    let line = text.lines().nth(m.line().saturating_sub(1)).unwrap_or("");
    if line.contains('\t') {
        return "\nhint: YAML does not allow tabs for indentation; indent with spaces".into();
    }
    if line.contains("{{") && !line.contains("\"{{") && !line.contains("'{{") {
        return "\nhint: a value that starts with `{{` must be quoted, e.g. `key: \"{{ var }}\"`"
            .into();
    }
    "\nhint: check the indentation and quoting on this line and the one before it".into()
}

enum Frame {
    Seq(Vec<Node>, Span, Option<String>, usize),
    Map(
        Vec<(Node, Node)>,
        Option<Node>,
        Span,
        Option<String>,
        usize,
        Vec<usize>,
    ),
}

struct Builder {
    file: Arc<Path>,
    stack: Vec<Frame>,
    docs: Vec<Node>,
    /// Anchored nodes, with their size in nodes.
    anchors: HashMap<usize, (Node, usize)>,
    /// Nodes copied by aliases so far in this text (bounded by [`MAX_ALIAS_NODES`]).
    expanded: usize,
    error: Option<anyhow::Error>,
}

/// The most nodes aliases may bring into one text, all aliases counted: far beyond what a real
/// playbook or vars file shares, far below what an alias bomb (aliases of aliases, each level
/// multiplying the size) would take (a 600-byte document can stand for 10^9 nodes).
const MAX_ALIAS_NODES: usize = 250_000;

/// How many nodes a tree holds.
fn size(node: &Node) -> usize {
    1 + match &node.kind {
        NodeKind::Seq(items) => items.iter().map(size).sum(),
        NodeKind::Map(entries) => entries.iter().map(|(k, v)| size(k) + size(v)).sum(),
        _ => 0,
    }
}

fn local_tag(tag: Option<Tag>) -> Option<String> {
    let tag = tag?;
    if tag.handle == "!" {
        Some(tag.suffix)
    } else if tag.handle == "!!" || tag.handle.starts_with("tag:yaml.org") {
        Some(format!("!{}", tag.suffix))
    } else {
        Some(format!("{}{}", tag.handle, tag.suffix))
    }
}

impl Builder {
    fn span(&self, mark: Marker) -> Span {
        Span {
            file: self.file.clone(),
            line: mark.line(),
            col: mark.col() + 1,
        }
    }

    fn fail(&mut self, err: anyhow::Error) {
        if self.error.is_none() {
            self.error = Some(err);
        }
    }

    fn push_node(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, (node.clone(), size(&node)));
        }
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some(Frame::Seq(items, ..)) => items.push(node),
            Some(Frame::Map(entries, pending, _, _, _, merged)) => match pending.take() {
                None => *pending = Some(node),
                Some(key) => {
                    let prev = entries.iter().position(|(k, _)| k.kind == key.kind);
                    if key.as_str() == Some("<<") {
                        if let Err(e) = merge_into(entries, merged, node) {
                            self.fail(e);
                        }
                    } else if let Some(prev) = prev.filter(|p| merged.contains(p)) {
                        // An explicit key overrides one brought in by `<<`, wherever it stands.
                        merged.retain(|m| *m != prev);
                        entries[prev] = (key, node);
                    } else if let Some(prev) = prev {
                        let first = entries[prev].0.span.clone();
                        let name = key.key_str().unwrap_or_default();
                        let err = anyhow!(
                            "{}: duplicate key `{name}` in a mapping (first defined at {first})\nhint: remove one of them; YAML keeps only one value per key",
                            key.span
                        );
                        self.fail(err);
                    } else {
                        entries.push((key, node));
                    }
                }
            },
        }
    }
}

/// Applies a `<<` merge: keys already present win over merged ones.
/// A merge of anything but a mapping or a list of mappings is an error, as in PyYAML.
fn merge_into(
    entries: &mut Vec<(Node, Node)>,
    merged_at: &mut Vec<usize>,
    merged: Node,
) -> Result<()> {
    let sources = match &merged.kind {
        NodeKind::Seq(items) => items.to_vec(),
        _ => vec![merged],
    };
    if let Some(bad) = sources.iter().find(|s| !matches!(s.kind, NodeKind::Map(_))) {
        return Err(anyhow!(
            "{}: `<<` merges a mapping or a list of mappings, not {}\nhint: merge an anchored mapping (`<<: *name`), or write the key as `\"<<\"` if it is a plain key",
            bad.span,
            bad.type_name()
        ));
    }
    for src in sources {
        if let NodeKind::Map(m) = &src.kind {
            for (k, v) in m.iter() {
                if !entries.iter().any(|(ek, _)| ek.kind == k.kind) {
                    merged_at.push(entries.len());
                    entries.push((k.clone(), v.clone()));
                }
            }
        }
    }
    Ok(())
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        match ev {
            Event::Scalar(value, style, anchor, tag) => {
                let span = self.span(mark);
                let tag = local_tag(tag);
                let kind = match (style, tag.as_deref()) {
                    (_, Some("!!str" | "unsafe" | "vault" | "!binary")) => NodeKind::Str(value),
                    (TScalarStyle::Plain, _) => resolve_plain(&value),
                    _ => NodeKind::Str(value),
                };
                self.push_node(Node { kind, span, tag }, anchor);
            }
            Event::SequenceStart(anchor, tag) => {
                let span = self.span(mark);
                self.stack
                    .push(Frame::Seq(Vec::new(), span, local_tag(tag), anchor));
            }
            Event::MappingStart(anchor, tag) => {
                let span = self.span(mark);
                self.stack.push(Frame::Map(
                    Vec::new(),
                    None,
                    span,
                    local_tag(tag),
                    anchor,
                    Vec::new(),
                ));
            }
            Event::SequenceEnd => {
                if let Some(Frame::Seq(items, span, tag, anchor)) = self.stack.pop() {
                    let node = Node {
                        kind: NodeKind::Seq(items.into()),
                        span,
                        tag,
                    };
                    self.push_node(node, anchor);
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map(entries, _, span, tag, anchor, _)) = self.stack.pop() {
                    // A block mapping's start event is marked after its first key; the first
                    // key is where a reader sees the mapping begin.
                    let span = match entries.first() {
                        Some((k, _)) if (k.span.line, k.span.col) < (span.line, span.col) => {
                            k.span.clone()
                        }
                        _ => span,
                    };
                    let node = Node {
                        kind: NodeKind::Map(entries.into()),
                        span,
                        tag,
                    };
                    self.push_node(node, anchor);
                }
            }
            Event::Alias(id) => match self.anchors.get(&id) {
                Some((_, n)) if self.expanded + n > MAX_ALIAS_NODES => {
                    let span = self.span(mark);
                    self.fail(anyhow!(
                        "{span}: the aliases of this YAML text expand to more than {MAX_ALIAS_NODES} nodes (aliases of aliases multiply: an alias bomb?)\nhint: refer to the data without nesting aliases this deep, or write it out"
                    ));
                }
                Some((node, n)) => {
                    let node = node.clone();
                    self.expanded += n;
                    self.push_node(node, 0);
                }
                None => {
                    let span = self.span(mark);
                    self.fail(anyhow!("{span}: alias refers to an unknown anchor"));
                }
            },
            Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd
            | Event::Nothing => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Node {
        load_str(text, Path::new("t.yml")).unwrap().remove(0)
    }

    #[test]
    fn aliases_share_the_anchored_node_and_their_expansion_is_bounded() {
        let n = one("a: &x [1, 2, {b: 3}]\nc: *x\nd: [*x, *x]\n");
        let (NodeKind::Seq(a), NodeKind::Seq(c)) =
            (&n.get("a").unwrap().kind, &n.get("c").unwrap().kind)
        else {
            panic!("sequences expected");
        };
        assert!(
            std::sync::Arc::ptr_eq(a, c),
            "the alias is the anchored node, not a copy"
        );
        // Ten aliases of ten aliases ...: refused past the bound, naming the alias.
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..8 {
            let refs = vec![format!("*a{}", i - 1); 10].join(", ");
            text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        let e = load_str(&text, Path::new("bomb.yml"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("bomb.yml:6:15:") && e.contains("more than 250000 nodes"),
            "{e}"
        );
    }

    #[test]
    fn a_flow_collection_may_close_at_the_first_column() {
        // As PyYAML reads it (Ansible's filter_core target has such a vars file).
        let n = one("x: {\n    \"c\": [\n        {\"d\": \"bla'\"}\n]\n}\ny: 2\n");
        let c = n.get("x").and_then(|x| x.get("c")).unwrap();
        assert_eq!(c.as_seq().map(|s| s.len()), Some(1));
        assert!(n.get("y").is_some());
        // Real indentation errors are still errors.
        assert!(load_str("a:\n  b: 1\n c: 2\n", Path::new("t.yml")).is_err());
    }

    #[test]
    fn spans_are_one_based() {
        let n = one("a: 1\nb:\n  - x\n");
        assert_eq!(
            (n.span.line, n.span.col),
            (1, 1),
            "a mapping starts at its first key"
        );
        let b = n.get("b").unwrap();
        assert_eq!((b.span.line, b.span.col), (3, 3));
        let x = &b.as_seq().unwrap()[0];
        assert_eq!((x.span.line, x.span.col), (3, 5));
    }

    #[test]
    fn duplicate_keys_are_rejected_with_both_places() {
        let err = load_str("a: 1\nb: 2\na: 3\n", Path::new("t.yml")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("t.yml:3:1: duplicate key `a`"), "{msg}");
        assert!(msg.contains("first defined at t.yml:1:1"), "{msg}");
    }

    #[test]
    fn syntax_error_names_position_and_hints_tabs() {
        let err = load_str("a:\n\t- b\n", Path::new("t.yml")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("t.yml:2:1: "), "{msg}");
        assert!(msg.contains("tabs"), "{msg}");
        let err = load_str("a:\n  b: plain\n\t- c\n", Path::new("t.yml")).unwrap_err();
        assert!(err.to_string().starts_with("t.yml:3:1: "), "{err}");
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let n = one("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\n");
        let o = n.get("other").unwrap();
        assert_eq!(o.get("x").unwrap().kind, NodeKind::Int(1));
        assert_eq!(o.get("y").unwrap().kind, NodeKind::Int(3));
    }

    #[test]
    fn quoted_scalars_stay_strings_and_tags_are_kept() {
        let n = one("a: 'yes'\nb: yes\nc: !unsafe '{{ x }}'\nd: 0644\ne: \"0644\"\n");
        assert_eq!(n.get("a").unwrap().kind, NodeKind::Str("yes".into()));
        assert_eq!(n.get("b").unwrap().kind, NodeKind::Bool(true));
        assert_eq!(n.get("c").unwrap().tag.as_deref(), Some("unsafe"));
        assert_eq!(n.get("d").unwrap().kind, NodeKind::Int(0o644));
        assert_eq!(n.get("e").unwrap().kind, NodeKind::Str("0644".into()));
    }
}
