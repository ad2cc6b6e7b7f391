//! The INI inventory format as Ansible's `ini` plugin reads it: `[group]`, `[group:vars]` and
//! `[group:children]` sections, `host[:port] key=value ...` lines with Python-literal values,
//! host ranges, and errors that name file:line:column.

use super::hostname::expand_host_pattern;
use super::literal::{ini_value, shlex_split};
use super::Builder;
use anyhow::{anyhow, Result};
use std::path::Path;

#[derive(Clone, Copy, PartialEq)]
enum State {
    Hosts,
    Vars,
    Children,
}

/// Where an error points: file, 1-based line and column.
struct Loc<'a> {
    file: &'a Path,
    line: usize,
}

impl Loc<'_> {
    fn err(&self, col: usize, msg: impl std::fmt::Display) -> anyhow::Error {
        anyhow!("{}:{}:{}: {msg}", self.file.display(), self.line, col)
    }
}

/// Whether `s` is a group name as INI sections write it: no whitespace, `:` or `]`.
fn is_group_name(s: &str) -> bool {
    !s.is_empty() && !s.contains(|c: char| c.is_whitespace() || c == ':' || c == ']')
}

/// Ansible's section pattern `^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$`.
fn parse_section(line: &str) -> Option<(&str, Option<&str>)> {
    let body = line.strip_prefix('[')?;
    let close = body.find(']')?;
    let (inside, after) = (&body[..close], body[close + 1..].trim_start());
    if !(after.is_empty() || after.starts_with('#')) {
        return None;
    }
    let (name, kind) = match inside.split_once(':') {
        Some((n, k)) => (n, Some(k)),
        None => (inside, None),
    };
    let kind_ok =
        kind.is_none_or(|k| !k.is_empty() && k.chars().all(|c| c.is_alphanumeric() || c == '_'));
    (is_group_name(name) && kind_ok).then_some((name, kind))
}

/// Parses INI inventory text into the builder; `path` names the file in errors.
pub(super) fn parse(text: &str, path: &Path, b: &mut Builder) -> Result<()> {
    // A UTF-8 byte order mark is no content (Python's INI reading of Ansible skips it).
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut group = "ungrouped".to_string();
    let mut state = State::Hosts;
    for (idx, raw) in text.lines().enumerate() {
        let loc = Loc {
            file: path,
            line: idx + 1,
        };
        let indent = raw.chars().take_while(|c| c.is_whitespace()).count();
        let col = indent + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if line.starts_with('[') {
            if let Some((name, kind)) = parse_section(line) {
                state = match kind {
                    None | Some("hosts") => State::Hosts,
                    Some("vars") => State::Vars,
                    Some("children") => State::Children,
                    Some(other) => {
                        return Err(loc.err(
                            col,
                            format!(
                                "section `[{name}:{other}]` has unknown type `{other}`\nhint: a section is `[{name}]`, `[{name}:vars]` or `[{name}:children]`"
                            ),
                        ))
                    }
                };
                group = name.to_string();
                b.add_group(name);
                continue;
            }
            if !line.contains(']') {
                return Err(loc.err(
                    col,
                    format!("unterminated section header `{line}`\nhint: close it with `]`, e.g. `[webservers]`"),
                ));
            }
            if line.ends_with(']') {
                return Err(loc.err(
                    col,
                    format!(
                        "invalid section header `{line}`\nhint: group names cannot contain spaces, `:` or `]`; a section is `[group]`, `[group:vars]` or `[group:children]`"
                    ),
                ));
            }
            // Otherwise a host line that starts with a range or a bracketed IPv6 address.
        }
        match state {
            State::Hosts => host_line(line, col, &group, &loc, b)?,
            State::Vars => {
                let Some((k, v)) = line.split_once('=') else {
                    return Err(loc.err(
                        col,
                        format!(
                            "expected `key=value` in section `[{group}:vars]`, got `{line}`\nhint: each line of a `:vars` section sets one variable, e.g. `http_port=8080`"
                        ),
                    ));
                };
                let key = k.trim();
                if key.is_empty() {
                    return Err(
                        loc.err(col, format!("missing variable name before `=` in `{line}`"))
                    );
                }
                b.set_group_var(&group, key, ini_value(v.trim()))
                    .map_err(|e| loc.err(col, e))?;
            }
            State::Children => {
                let (name, rest) = match line.find(char::is_whitespace) {
                    Some(i) => (&line[..i], line[i..].trim_start()),
                    None => (line, ""),
                };
                if !is_group_name(name) || !(rest.is_empty() || rest.starts_with('#')) {
                    return Err(loc.err(
                        col,
                        format!(
                            "expected a group name in section `[{group}:children]`, got `{line}`\nhint: list one child group per line; hosts belong in `[{group}]`"
                        ),
                    ));
                }
                b.add_child(&group, name).map_err(|e| loc.err(col, e))?;
            }
        }
    }
    Ok(())
}

/// `host[:port] [key=value ...]`: adds the host(s) to `group` with inline variables.
fn host_line(line: &str, col: usize, group: &str, loc: &Loc, b: &mut Builder) -> Result<()> {
    let words = shlex_split(line).map_err(|e| {
        loc.err(
            col,
            format!("cannot parse host line `{line}`: {e}\nhint: quotes must be balanced; quote values that contain spaces, e.g. `note=\"two words\"`"),
        )
    })?;
    let Some((first, rest)) = words.split_first() else {
        return Ok(());
    };
    let pattern = first.text.as_str();
    let at = |w: &super::literal::Word| col + w.col;
    if pattern.trim_end().ends_with(':') {
        return Err(loc.err(
            at(first),
            format!("invalid host `{pattern}`: a trailing `:` must be followed by a port number"),
        ));
    }
    let (hosts, port) = expand_host_pattern(pattern).map_err(|e| loc.err(at(first), e))?;
    if hosts.iter().any(|h| h.trim() == "---") {
        return Err(loc.err(
            at(first),
            "`---` is not a host name\nhint: this looks like a YAML inventory; name the file with a `.yml` extension",
        ));
    }
    let mut vars = Vec::new();
    for w in rest {
        let Some((k, v)) = w.text.split_once('=') else {
            return Err(loc.err(
                at(w),
                format!(
                    "expected `key=value` host variable, got `{}`\nhint: a host line is `name key=value ...`; quote values that contain spaces, e.g. `note=\"two words\"`",
                    w.text
                ),
            ));
        };
        if k.is_empty() {
            return Err(loc.err(
                at(w),
                format!("missing variable name before `=` in `{}`", w.text),
            ));
        }
        vars.push((k.to_string(), ini_value(v)));
    }
    for h in &hosts {
        b.add_host(h, group, port);
        for (k, v) in &vars {
            b.set_host_var(h, k, v.clone());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::Value;

    fn parse_str(text: &str) -> Result<Builder> {
        let mut b = Builder::new();
        parse(text, Path::new("hosts"), &mut b)?;
        Ok(b)
    }

    fn hosts_of(b: &Builder, group: &str) -> Vec<String> {
        b.groups[group].hosts.iter().cloned().collect()
    }

    #[test]
    fn groups_children_and_vars() {
        let b = parse_str(
            "# comment\n; also a comment\nlone1\n\n[web]\nweb1\nweb2 # trailing\n\n[db]\ndb1\n\n\
             [prod:children]\nweb\ndb # inline comment\n\n[prod:vars]\nenv = production\ncount=3\nflag=False\nflag2=no\n",
        )
        .unwrap();
        assert_eq!(hosts_of(&b, "ungrouped"), ["lone1"]);
        assert_eq!(hosts_of(&b, "web"), ["web1", "web2"]);
        assert_eq!(b.groups["prod"].children, ["web", "db"]);
        let vars = &b.groups["prod"].vars;
        assert_eq!(vars["env"], Value::from("production"));
        assert_eq!(vars["count"], Value::from(3));
        assert_eq!(vars["flag"], Value::from(false));
        assert_eq!(vars["flag2"], Value::from("no"));
        let order: Vec<&String> = b.hosts.keys().collect();
        assert_eq!(order, ["lone1", "web1", "web2", "db1"]);
    }

    #[test]
    fn inline_host_var_types() {
        let b = parse_str(
            "[g]\nh1 a=1 b=1.5 c=True d=\"'quoted 5'\" e=\"5\" f=hello g='[1, \"x\"]' h=\"{'k': 'v'}\" i=None j=007 k=\"two words\"\n",
        )
        .unwrap();
        let v = &b.hosts["h1"].vars;
        let table: Vec<(&str, Value)> = vec![
            ("a", Value::from(1)),
            ("b", Value::from(1.5)),
            ("c", Value::from(true)),
            ("d", Value::from("quoted 5")),
            ("e", Value::from(5)),
            ("f", Value::from("hello")),
            ("g", Value::from(vec![Value::from(1), Value::from("x")])),
            ("i", Value::from(())),
            ("j", Value::from("007")),
            ("k", Value::from("two words")),
        ];
        for (k, want) in table {
            assert_eq!(v[k], want, "var {k}");
        }
        assert_eq!(v["h"].get_attr("k").unwrap(), Value::from("v"));
    }

    #[test]
    fn ports_ranges_and_stride() {
        let b = parse_str(
            "[web]\nweb[01:03]:2222\n[db]\ndb-[a:c] ansible_user=admin\n[even]\nn[0:10:5]\n[v6]\n[fe80::1]:2200\n",
        )
        .unwrap();
        assert_eq!(hosts_of(&b, "web"), ["web01", "web02", "web03"]);
        assert_eq!(b.hosts["web02"].vars["ansible_port"], Value::from(2222));
        assert_eq!(hosts_of(&b, "db"), ["db-a", "db-b", "db-c"]);
        assert_eq!(b.hosts["db-c"].vars["ansible_user"], Value::from("admin"));
        assert_eq!(hosts_of(&b, "even"), ["n0", "n5", "n10"]);
        assert_eq!(hosts_of(&b, "v6"), ["fe80::1"]);
        assert_eq!(b.hosts["fe80::1"].vars["ansible_port"], Value::from(2200));
    }

    #[test]
    fn undefined_groups_are_created() {
        let b = parse_str("[parent:children]\nnever_defined\n[ghost:vars]\nx=1\n").unwrap();
        assert!(b.groups["never_defined"].hosts.is_empty());
        assert_eq!(b.groups["never_defined"].parents, ["parent"]);
        assert_eq!(b.groups["ghost"].vars["x"], Value::from(1));
    }

    #[test]
    fn group_priority_is_not_a_var() {
        let b = parse_str("[g:vars]\nansible_group_priority=10\n").unwrap();
        assert_eq!(b.groups["g"].priority, 10);
        assert!(b.groups["g"].vars.is_empty());
    }

    #[test]
    fn error_messages() {
        let table: &[(&str, &str)] = &[
            (
                "[web\nh1\n",
                "hosts:1:1: unterminated section header `[web`\nhint: close it with `]`, e.g. `[webservers]`",
            ),
            (
                "[web:hosts]\nh\n[web:kids]\n",
                "hosts:3:1: section `[web:kids]` has unknown type `kids`\nhint: a section is `[web]`, `[web:vars]` or `[web:children]`",
            ),
            (
                "[my group]\n",
                "hosts:1:1: invalid section header `[my group]`\nhint: group names cannot contain spaces, `:` or `]`; a section is `[group]`, `[group:vars]` or `[group:children]`",
            ),
            (
                "[web:vars]\n  http_port\n",
                "hosts:2:3: expected `key=value` in section `[web:vars]`, got `http_port`\nhint: each line of a `:vars` section sets one variable, e.g. `http_port=8080`",
            ),
            (
                "[web]\nweb1 ansible_user=x oops\n",
                "hosts:2:21: expected `key=value` host variable, got `oops`\nhint: a host line is `name key=value ...`; quote values that contain spaces, e.g. `note=\"two words\"`",
            ),
            (
                "[web]\nweb[01:5]\n",
                "hosts:2:1: host range `[01:5]` must specify equal-length begin and end formats",
            ),
            ("[web]\n  web[3:]\n", "hosts:2:3: host range `[3:]` must specify an end value"),
            (
                "[web]\nweb1 note='unclosed\n",
                "hosts:2:1: cannot parse host line `web1 note='unclosed`: no closing quotation\nhint: quotes must be balanced; quote values that contain spaces, e.g. `note=\"two words\"`",
            ),
            (
                "[a:children]\nb c\n",
                "hosts:2:1: expected a group name in section `[a:children]`, got `b c`\nhint: list one child group per line; hosts belong in `[a]`",
            ),
            (
                "[a:children]\nb\n[b:children]\na\n",
                "hosts:4:1: adding group `a` as a child of `b` creates a loop",
            ),
            ("[web]\nweb1:\n", "hosts:2:1: invalid host `web1:`: a trailing `:` must be followed by a port number"),
            (
                "---\n",
                "hosts:1:1: `---` is not a host name\nhint: this looks like a YAML inventory; name the file with a `.yml` extension",
            ),
            (
                "[g:vars]\nansible_group_priority=high\n",
                "hosts:2:1: `ansible_group_priority` must be an integer, got `high`",
            ),
        ];
        for (text, want) in table {
            let err = parse_str(text).err().map(|e| e.to_string());
            assert_eq!(err.as_deref(), Some(*want), "input {text:?}");
        }
    }
}
