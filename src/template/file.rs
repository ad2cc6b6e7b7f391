//! Rendering a template file, as Ansible's `template` action and `template` lookup do: the
//! file's text is Jinja2 without the backslash escaping of playbook strings
//! (`escape_backslashes=False`: `'a\nb'` in an expression is a newline), with the action's
//! whitespace and delimiter options, and `{% include %}`, `{% import %}` and `{% extends %}`
//! finding their files on a search path (the template's own directory first).

use crate::vars::VarMap;
use minijinja::Value;
use std::path::{Path, PathBuf};

/// The option names of the six delimiters, in `Options::delimiters` order.
pub const DELIMITER_KEYS: [&str; 6] = [
    "block_start_string",
    "block_end_string",
    "variable_start_string",
    "variable_end_string",
    "comment_start_string",
    "comment_end_string",
];

const DEFAULT_DELIMITERS: [&str; 6] = ["{%", "%}", "{{", "}}", "{#", "#}"];

/// How a template file is read.
#[derive(Clone, Debug)]
pub struct Options {
    pub trim_blocks: bool,
    pub lstrip_blocks: bool,
    pub delimiters: [String; 6],
    pub line_statement_prefix: String,
    pub line_comment_prefix: String,
    pub keep_trailing_newline: bool,
    pub newline_sequence: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            trim_blocks: true,
            lstrip_blocks: false,
            delimiters: DEFAULT_DELIMITERS.map(str::to_string),
            line_statement_prefix: String::new(),
            line_comment_prefix: String::new(),
            keep_trailing_newline: false,
            newline_sequence: None,
        }
    }
}

impl Options {
    fn custom(&self) -> bool {
        !self.trim_blocks
            || self.lstrip_blocks
            || self.keep_trailing_newline
            || !self.line_statement_prefix.is_empty()
            || !self.line_comment_prefix.is_empty()
            || self
                .delimiters
                .iter()
                .zip(DEFAULT_DELIMITERS)
                .any(|(a, b)| a != b)
    }

    /// Applies a `#jinja2:` first line (`#jinja2: trim_blocks: False, lstrip_blocks: True`),
    /// as Jinja2 and Ansible do; returns the text after it.
    fn read_header<'t>(&mut self, text: &'t str) -> Result<&'t str, String> {
        let Some(rest) = text.strip_prefix("#jinja2:") else {
            return Ok(text);
        };
        let (line, body) = rest.split_once('\n').unwrap_or((rest, ""));
        for pair in line.split(',') {
            if pair.trim().is_empty() {
                return Err("Empty '#jinja2:' override pair not allowed.".into());
            }
            let Some((key, value)) = pair.split_once(':') else {
                return Err(format!(
                    "Missing key-value separator `:` in '#jinja2:' override pair '{pair}'."
                ));
            };
            let key = key.trim();
            let value = py_literal(value.trim()).ok_or_else(|| {
                format!(
                    "Invalid '#jinja2:' override value for '{key}': {}",
                    value.trim()
                )
            })?;
            let text_value = || {
                value
                    .as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("'#jinja2:' override '{key}' must be a string"))
            };
            if let Some(i) = DELIMITER_KEYS.iter().position(|k| *k == key) {
                self.delimiters[i] = text_value()?;
                continue;
            }
            match key {
                "line_statement_prefix" => self.line_statement_prefix = text_value()?,
                "line_comment_prefix" => self.line_comment_prefix = text_value()?,
                "newline_sequence" => self.newline_sequence = Some(text_value()?),
                "trim_blocks" => self.trim_blocks = value.is_true(),
                "lstrip_blocks" => self.lstrip_blocks = value.is_true(),
                "keep_trailing_newline" => self.keep_trailing_newline = value.is_true(),
                _ => return Err(format!("Invalid '#jinja2:' override key '{key}'.")),
            }
        }
        Ok(body)
    }
}

/// A Python literal of a `#jinja2:` override: a quoted string, `True`/`False`, a number.
fn py_literal(s: &str) -> Option<Value> {
    let b = s.as_bytes();
    if b.len() >= 2 && (b[0] == b'"' || b[0] == b'\'') && b[b.len() - 1] == b[0] {
        let inner = &s[1..s.len() - 1];
        return Some(Value::from(inner.replace("\\n", "\n").replace("\\r", "\r")));
    }
    match s {
        "True" | "true" => Some(Value::from(true)),
        "False" | "false" => Some(Value::from(false)),
        "None" => Some(Value::from(())),
        _ => s.parse::<i64>().ok().map(Value::from),
    }
}

/// Renders a template file's `text` against `vars` into text (the error is the engine's
/// message with its causes, naming the template `name` where it is in it).
pub fn render(
    name: &str,
    text: &str,
    vars: Value,
    search: &[PathBuf],
    opts: &Options,
) -> Result<String, String> {
    let mut own;
    let (text, opts) = if text.starts_with("#jinja2:") {
        own = opts.clone();
        (own.read_header(text)?, &own)
    } else {
        (text, opts)
    };
    let out = render_with(name, text, vars, search, opts)?;
    Ok(match &opts.newline_sequence {
        Some(seq) if seq != "\n" => out.replace('\n', seq),
        _ => out,
    })
}

fn render_with(
    name: &str,
    text: &str,
    vars: Value,
    search: &[PathBuf],
    opts: &Options,
) -> Result<String, String> {
    let custom = opts.custom();
    let loads = ["include", "import", "extends", "from"]
        .iter()
        .any(|k| text.contains(k));
    if !custom && !loads {
        // Templates are cached by their source in the shared environment.
        let tmpl = super::compile_file(text).map_err(|e| detail(&e))?;
        let v = tmpl.render_text(&vars).map_err(|e| detail(&e))?;
        return Ok(v);
    }
    let mut env = super::environment();
    let dirs = search.to_vec();
    env.set_loader(move |name: &str| {
        for d in &dirs {
            let p = d.join(name);
            if p.is_file() {
                return std::fs::read_to_string(&p).map(Some).map_err(|e| {
                    minijinja::Error::new(
                        minijinja::ErrorKind::InvalidOperation,
                        format!("reading {}: {e}", p.display()),
                    )
                });
            }
        }
        Ok(None)
    });
    let d = &opts.delimiters;
    let mut b = minijinja::syntax::SyntaxConfig::builder();
    b.block_delimiters(d[0].clone(), d[1].clone())
        .variable_delimiters(d[2].clone(), d[3].clone())
        .comment_delimiters(d[4].clone(), d[5].clone())
        .line_statement_prefix(opts.line_statement_prefix.clone())
        .line_comment_prefix(opts.line_comment_prefix.clone())
        .keep_trailing_newline(opts.keep_trailing_newline)
        .trim_blocks(opts.trim_blocks)
        .lstrip_blocks(opts.lstrip_blocks);
    env.set_syntax(b.build().map_err(|e| detail(&e))?);
    let source = if custom {
        text.to_string()
    } else {
        super::preprocess(text, false)
    };
    env.render_named_str(name, &source, vars)
        .map(|out| super::restore_newlines(text, out))
        .map_err(|e| detail(&e))
}

fn hostname() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| {
            std::fs::read_to_string(p)
                .ok()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
        })
        .unwrap_or_else(|| "localhost".into())
}

fn user_name(uid: u32) -> String {
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() > 2 && f[2].parse::<u32>().ok() == Some(uid)).then(|| f[0].to_string())
            })
        })
        .unwrap_or_else(|| uid.to_string())
}

/// Ansible's template variables for one source file: those that override the play's
/// (`template_host`, `template_path`, …; `template_destpath` is none for the lookup) and
/// `ansible_managed`, which the play's variables override.
pub fn template_vars(src_arg: &str, found: &Path, dest: Option<&str>) -> (VarMap, VarMap) {
    use std::os::unix::fs::MetadataExt;
    let mut over = VarMap::new();
    let md = std::fs::metadata(found).ok();
    over.insert("template_host".into(), Value::from(hostname()));
    over.insert("template_path".into(), Value::from(src_arg));
    over.insert(
        "template_fullpath".into(),
        Value::from(
            std::fs::canonicalize(found)
                .unwrap_or_else(|_| found.to_path_buf())
                .to_string_lossy()
                .into_owned(),
        ),
    );
    over.insert("template_destpath".into(), Value::from(dest));
    over.insert(
        "template_uid".into(),
        Value::from(md.as_ref().map(|m| user_name(m.uid())).unwrap_or_default()),
    );
    if let Some(m) = md.as_ref().and_then(|m| m.modified().ok()) {
        let d = m.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        over.insert(
            "template_mtime".into(),
            Value::from(super::filters_more::py_datetime(
                d.as_secs() as i64,
                d.subsec_micros(),
            )),
        );
    }
    over.insert(
        "template_run_date".into(),
        Value::from(crate::modules::chrono_like_now()),
    );
    let mut under = VarMap::new();
    under.insert("ansible_managed".into(), Value::from("Ansible managed"));
    (over, under)
}

/// An engine error with its chain of causes.
fn detail(e: &minijinja::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        s.push_str(&format!(": {inner}"));
        src = inner.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::context;

    fn text(t: &str) -> String {
        render("t.j2", t, context! { x => "v" }, &[], &Options::default()).unwrap()
    }

    #[test]
    fn a_file_is_not_backslash_escaped() {
        // As Ansible renders files: the string constant's `\n` is a newline.
        assert_eq!(text("{{ '#a\\n#b' }}\n"), "#a\n#b\n");
        assert_eq!(text("{{ x }}\n"), "v\n");
        assert_eq!(text("{{ x }}"), "v");
        assert_eq!(text("a {{ x | regex_replace('\\\\d', 'n') }}\n"), "a v\n");
    }

    #[test]
    fn a_jinja2_header_overrides_the_options() {
        let o = Options::default();
        let r = |t: &str| render("t.j2", t, context! { x => "v" }, &[], &o);
        assert_eq!(
            r("#jinja2:variable_start_string:'<<' , variable_end_string:'>>'\n<< x >> {{ x }}\n")
                .unwrap(),
            "v {{ x }}\n"
        );
        assert_eq!(
            r("#jinja2: line_statement_prefix:\":\"\n: if true\nfoo\n: endif\n").unwrap(),
            "foo\n"
        );
        let e = r("#jinja2: lstrip_blocks=True\nx\n").unwrap_err();
        assert!(e.contains("Missing key-value separator"), "{e}");
    }

    #[test]
    fn options_change_the_syntax() {
        let mut o = Options::default();
        o.delimiters[2] = "[%".into();
        o.delimiters[3] = "%]".into();
        o.trim_blocks = false;
        let out = render(
            "t.j2",
            "{% if true %}\n[% x %]{{ x }}\n{% endif %}\n",
            context! { x => "v" },
            &[],
            &o,
        );
        assert_eq!(out.unwrap(), "\nv{{ x }}\n");
    }
}
