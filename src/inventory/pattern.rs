//! Ansible host patterns and `--limit`: `a:b` / `a,b` unions, `&` intersections, `!`
//! exclusions, globs, `~regex`, `[i]` / `[i:j]` subscripts and the implicit localhost.

use super::hostname::parse_address;
use super::{Inventory, LOCALHOST_NAMES};
use anyhow::{anyhow, bail, Context, Result};
use indexmap::IndexSet;
use regex::Regex;
use std::collections::HashSet;
use std::path::Path;

/// Splits a pattern into terms like Ansible's `split_host_pattern`: on commas if there are
/// any; otherwise the whole text when it is one address (`::1`, `web[1:3]`, `db:22`), else on
/// `:` and whitespace outside `[...]`.
pub fn split_host_pattern(pattern: &str) -> Vec<String> {
    let parts: Vec<String> = if pattern.contains(',') {
        pattern.split(',').map(str::to_string).collect()
    } else if parse_address(pattern.trim(), true).is_some() {
        vec![pattern.to_string()]
    } else {
        let mut out = Vec::new();
        let mut cur = String::new();
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '[' {
                // A complete bracketed expression stays in the term, colons and all.
                let rest: String = chars.clone().collect();
                if let Some(close) = rest.find(']') {
                    cur.push('[');
                    for _ in 0..rest[..=close].chars().count() {
                        if let Some(x) = chars.next() {
                            cur.push(x);
                        }
                    }
                    continue;
                }
                cur.push(c);
            } else if c == ':' || c.is_whitespace() || c == ']' {
                out.push(std::mem::take(&mut cur));
            } else {
                cur.push(c);
            }
        }
        out.push(cur);
        out
    };
    parts
        .into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// A term's subscript: `[i]` (may be negative) or an inclusive `[i:j]` / `[i:]`.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Subscript {
    Index(i64),
    Range(usize, Option<usize>),
}

/// Splits `expr[subscript]` (Ansible's `PATTERN_WITH_SUBSCRIPT`); a trailing bracket of only
/// digits, `-` and `:` that is not a valid subscript is an error.
fn split_subscript(pattern: &str) -> Result<(&str, Option<Subscript>), String> {
    if pattern.starts_with('~') || !pattern.ends_with(']') {
        return Ok((pattern, None));
    }
    let Some(open) = pattern.rfind('[') else {
        return Ok((pattern, None));
    };
    let (expr, inner) = (&pattern[..open], &pattern[open + 1..pattern.len() - 1]);
    if expr.is_empty()
        || !inner
            .chars()
            .all(|c| c.is_ascii_digit() || c == '-' || c == ':')
    {
        return Ok((pattern, None));
    }
    let bad = || {
        format!(
            "invalid subscript `[{inner}]` in host pattern `{pattern}`\nhint: use `[i]`, `[-i]`, `[i:j]` (inclusive) or `[i:]`"
        )
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let sub = if let Some(n) = inner.strip_prefix('-').filter(|n| digits(n)) {
        Subscript::Index(-n.parse::<i64>().map_err(|_| bad())?)
    } else if digits(inner) {
        Subscript::Index(inner.parse::<i64>().map_err(|_| bad())?)
    } else {
        // `x:y`, `x:` and the old `x-y` form.
        let (start, end) = inner
            .split_once(':')
            .or_else(|| inner.split_once('-'))
            .ok_or_else(bad)?;
        if !digits(start) || !(end.is_empty() || digits(end)) {
            return Err(bad());
        }
        let start = start.parse::<usize>().map_err(|_| bad())?;
        let end = if end.is_empty() {
            None
        } else {
            Some(end.parse::<usize>().map_err(|_| bad())?)
        };
        Subscript::Range(start, end)
    };
    Ok((expr, Some(sub)))
}

/// Matches names against one term: a plain name, a shell glob, or a `~regex` (anchored at
/// the start only, like Python's `re.match`).
enum Matcher {
    Exact(String),
    Regex(Regex),
}

impl Matcher {
    fn new(term: &str) -> Result<Matcher, String> {
        if let Some(re) = term.strip_prefix('~') {
            return Regex::new(&format!("^(?:{re})"))
                .map(Matcher::Regex)
                .map_err(|e| {
                    let msg = e.to_string();
                    let detail = msg
                        .lines()
                        .find_map(|l| l.strip_prefix("error: "))
                        .unwrap_or(&msg)
                        .to_string();
                    format!("invalid regular expression in host pattern `{term}`: {detail}")
                });
        }
        if !term.contains(['*', '?', '[']) {
            return Ok(Matcher::Exact(term.to_string()));
        }
        let re = crate::glob::translate(term).ok_or_else(|| {
            format!(
                "unbalanced `[` in host pattern `{term}`\nhint: close it with `]`, or use `~regex` for regular expressions"
            )
        })?;
        Regex::new(&re)
            .map(Matcher::Regex)
            .map_err(|_| format!("invalid glob in host pattern `{term}`"))
    }

    fn is_match(&self, name: &str) -> bool {
        match self {
            Matcher::Exact(s) => s == name,
            Matcher::Regex(re) => re.is_match(name),
        }
    }
}

/// Ansible's `order_patterns`: plain terms, then `&` terms, then `!` terms; only `&`/`!`
/// terms imply `all` first.
fn order_terms(terms: &[String]) -> Vec<&str> {
    let plain: Vec<&str> = terms
        .iter()
        .map(String::as_str)
        .filter(|t| !t.starts_with(['&', '!']))
        .collect();
    let and = terms
        .iter()
        .map(String::as_str)
        .filter(|t| t.starts_with('&'));
    let not = terms
        .iter()
        .map(String::as_str)
        .filter(|t| t.starts_with('!'));
    let mut out = if plain.is_empty() { vec!["all"] } else { plain };
    out.extend(and);
    out.extend(not);
    out
}

impl Inventory {
    /// Resolve an Ansible host pattern to host names in inventory order (order hosts were first defined).
    /// A term that matches nothing contributes nothing (Ansible only warns); syntax errors
    /// (unclosed `[`, bad regex or subscript) and out-of-range `[i]` subscripts are errors.
    pub fn resolve_pattern(&self, pattern: &str) -> Result<Vec<String>> {
        let terms = split_host_pattern(pattern);
        if terms.is_empty() {
            bail!("empty host pattern\nhint: name hosts or groups, or use `all`");
        }
        self.evaluate(&terms)
    }

    /// Apply `--limit` (same grammar, plus `@file` with one pattern per line) to a host list.
    pub fn apply_limit(&self, hosts: Vec<String>, limit: &str) -> Result<Vec<String>> {
        let mut terms = Vec::new();
        for term in split_host_pattern(limit) {
            let Some(file) = term.strip_prefix('@') else {
                terms.push(term);
                continue;
            };
            let path = Path::new(file);
            if !path.exists() {
                bail!("unable to find limit file `{file}`");
            }
            if path.is_dir() {
                bail!("a limit starting with `@` must be a file, not a directory: `{file}`");
            }
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading limit file `{file}`"))?;
            for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
                terms.extend(split_host_pattern(line));
            }
        }
        if terms.is_empty() {
            return Ok(hosts);
        }
        let allowed: HashSet<String> = self.evaluate(&terms)?.into_iter().collect();
        Ok(hosts.into_iter().filter(|h| allowed.contains(h)).collect())
    }

    /// Ansible's `_evaluate_patterns` over already split terms, ordered by inventory.
    fn evaluate(&self, terms: &[String]) -> Result<Vec<String>> {
        let mut selected: IndexSet<String> = IndexSet::new();
        for term in order_terms(terms) {
            if self.hosts.contains_key(term) {
                selected.insert(term.to_string());
                continue;
            }
            let matched = self.match_term(term)?;
            if term.starts_with('!') {
                let drop: HashSet<&String> = matched.iter().collect();
                selected.retain(|h| !drop.contains(h));
            } else if term.starts_with('&') {
                let keep: HashSet<&String> = matched.iter().collect();
                selected.retain(|h| keep.contains(h));
            } else {
                selected.extend(matched);
            }
        }
        Ok(self.in_inventory_order(selected))
    }

    /// Sorts names by first definition; implicit hosts (not in `hosts`) go last.
    fn in_inventory_order(&self, names: impl IntoIterator<Item = String>) -> Vec<String> {
        let mut v: Vec<String> = names.into_iter().collect();
        // A stable sort keeps implicit hosts in the order they were named.
        v.sort_by_key(|n| self.hosts.get_index_of(n).unwrap_or(usize::MAX));
        v
    }

    /// The terms of `pattern` that name no group and match no host (Ansible's "Could not
    /// match supplied host pattern, ignoring: TERM"), without their `&`/`!` prefix; `@file`
    /// terms and terms with syntax errors (reported elsewhere) are left out.
    pub fn unmatched_terms(&self, pattern: &str) -> Vec<String> {
        let mut out = Vec::new();
        for term in split_host_pattern(pattern) {
            let bare = term.strip_prefix(['&', '!']).unwrap_or(&term);
            if bare.is_empty() || bare == "all" || bare.starts_with('@') {
                continue;
            }
            let Ok((expr, _)) = split_subscript(bare) else {
                continue;
            };
            let Ok(matcher) = Matcher::new(expr) else {
                continue;
            };
            let group = self.groups.keys().any(|g| matcher.is_match(g));
            let found = group
                || self.hosts.contains_key(expr)
                || self.enumerate_matches(expr).is_ok_and(|h| !h.is_empty());
            if !found {
                out.push(bare.to_string());
            }
        }
        out
    }

    /// One term without its `&`/`!` prefix: groups and hosts it matches, then its subscript.
    fn match_term(&self, term: &str) -> Result<Vec<String>> {
        let bare = term.strip_prefix(['&', '!']).unwrap_or(term);
        if bare.is_empty() {
            bail!("empty term in host pattern `{term}`");
        }
        let (expr, subscript) = split_subscript(bare).map_err(|e| anyhow!(e))?;
        let hosts = self.enumerate_matches(expr)?;
        apply_subscript(hosts, subscript)
            .ok_or_else(|| anyhow!("no hosts matched the subscripted pattern `{bare}`"))
    }

    /// Ansible's `_enumerate_matches`: hosts of every matching group, plus matching host
    /// names when no group matched or the term is a glob/regex/dotted name; the implicit
    /// localhost when nothing else matched a localhost name.
    fn enumerate_matches(&self, expr: &str) -> Result<Vec<String>> {
        let matcher = Matcher::new(expr).map_err(|e| anyhow!(e))?;
        let mut found: IndexSet<String> = IndexSet::new();
        let mut any_group = false;
        for group in self.groups.keys().filter(|g| matcher.is_match(g)) {
            any_group = true;
            found.extend(self.group_hosts(group).into_iter().map(str::to_string));
        }
        let check_hosts =
            !any_group || expr.starts_with('~') || expr.contains(['.', '?', '*', '[']);
        if check_hosts {
            found.extend(self.hosts.keys().filter(|h| matcher.is_match(h)).cloned());
        }
        if found.is_empty() && LOCALHOST_NAMES.contains(&expr) {
            // An inventory's own localhost-like host stands in for the others, as in Ansible.
            let local = self
                .hosts
                .keys()
                .find(|h| LOCALHOST_NAMES.contains(&h.as_str()))
                .cloned()
                .unwrap_or_else(|| expr.to_string());
            found.insert(local);
        }
        Ok(self.in_inventory_order(found))
    }
}

/// Applies a subscript; `None` when a single index is out of range.
fn apply_subscript(hosts: Vec<String>, subscript: Option<Subscript>) -> Option<Vec<String>> {
    let Some(sub) = subscript else {
        return Some(hosts);
    };
    if hosts.is_empty() {
        return Some(hosts);
    }
    let len = hosts.len();
    match sub {
        Subscript::Index(i) => {
            let idx = if i < 0 { len as i64 + i } else { i };
            usize::try_from(idx)
                .ok()
                .and_then(|i| hosts.get(i).cloned())
                .map(|h| vec![h])
        }
        Subscript::Range(start, end) => {
            let end = end.unwrap_or(len - 1).min(len - 1);
            Some(if start > end {
                Vec::new()
            } else {
                hosts[start..=end].to_vec()
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv() -> Inventory {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src/inventory/testdata/patterns.ini"
        );
        Inventory::load(&[dir.to_string()], &[]).unwrap()
    }

    #[test]
    fn split_table() {
        let table: &[(&str, &[&str])] = &[
            ("all", &["all"]),
            ("web:db", &["web", "db"]),
            ("web:&prod:!web2", &["web", "&prod", "!web2"]),
            ("web, db ,", &["web", "db"]),
            ("a:b,c", &["a:b", "c"]),
            ("web[1:3]", &["web[1:3]"]),
            ("web[1:]:db", &["web[1:]", "db"]),
            ("::1", &["::1"]),
            ("web db", &["web", "db"]),
            ("~web\\d+:db", &["~web\\d+", "db"]),
        ];
        for (input, want) in table {
            assert_eq!(split_host_pattern(input), *want, "{input:?}");
        }
    }

    #[test]
    fn pattern_table() {
        let inv = inv();
        let table: &[(&str, &[&str])] = &[
            (
                "all",
                &[
                    "web1",
                    "web2",
                    "web3",
                    "db1",
                    "db2",
                    "lb.example.com",
                    "10.0.0.5",
                    "stage1",
                ],
            ),
            (
                "*",
                &[
                    "web1",
                    "web2",
                    "web3",
                    "db1",
                    "db2",
                    "lb.example.com",
                    "10.0.0.5",
                    "stage1",
                ],
            ),
            ("web", &["web1", "web2", "web3"]),
            ("db2", &["db2"]),
            ("ungrouped", &["lb.example.com", "10.0.0.5"]),
            // Union is ordered by inventory, not by term.
            ("db:web1", &["web1", "db1", "db2"]),
            ("db,web1", &["web1", "db1", "db2"]),
            ("web:&prod", &["web1", "web2"]),
            ("prod:!db", &["web1", "web2"]),
            ("!db:web", &["web1", "web2", "web3"]),
            ("&prod", &["web1", "web2", "db1", "db2"]),
            (
                "!web",
                &["db1", "db2", "lb.example.com", "10.0.0.5", "stage1"],
            ),
            ("web*", &["web1", "web2", "web3"]),
            ("*.example.com", &["lb.example.com"]),
            ("10.0.0.*", &["10.0.0.5"]),
            ("web[!1]", &["web2", "web3"]),
            ("[dl]b*", &["db1", "db2", "lb.example.com"]),
            ("we?1", &["web1"]),
            ("~web[12]", &["web1", "web2"]),
            ("~(db|lb)", &["db1", "db2", "lb.example.com"]),
            ("~b", &[]),
            ("web[0]", &["web1"]),
            ("web[-1]", &["web3"]),
            ("web[1:2]", &["web2", "web3"]),
            ("web[1:]", &["web2", "web3"]),
            ("web[0:0]", &["web1"]),
            ("web[0-1]", &["web1", "web2"]),
            ("web[0:9]", &["web1", "web2", "web3"]),
            ("prod[1]:db[0]", &["web2", "db1"]),
            ("staging", &["stage1"]),
            ("nomatch", &[]),
            ("nomatch:web1", &["web1"]),
            ("empty_group", &[]),
            ("empty_group[0]", &[]),
        ];
        for (pattern, want) in table {
            assert_eq!(inv.resolve_pattern(pattern).unwrap(), *want, "{pattern:?}");
        }
    }

    #[test]
    fn pattern_errors() {
        let inv = inv();
        let table: &[(&str, &str)] = &[
            ("web[1", "unbalanced `[` in host pattern `web[1`\nhint: close it with `]`, or use `~regex` for regular expressions"),
            ("~web(", "invalid regular expression in host pattern `~web(`: unclosed group"),
            ("web[1:2:3]", "invalid subscript `[1:2:3]` in host pattern `web[1:2:3]`\nhint: use `[i]`, `[-i]`, `[i:j]` (inclusive) or `[i:]`"),
            ("web[-1:]", "invalid subscript `[-1:]` in host pattern `web[-1:]`\nhint: use `[i]`, `[-i]`, `[i:j]` (inclusive) or `[i:]`"),
            ("web[7]", "no hosts matched the subscripted pattern `web[7]`"),
            ("web[12]", "no hosts matched the subscripted pattern `web[12]`"),
            ("web:&", "empty term in host pattern `&`"),
            (" , ", "empty host pattern\nhint: name hosts or groups, or use `all`"),
        ];
        for (pattern, want) in table {
            let err = inv.resolve_pattern(pattern).unwrap_err().to_string();
            assert_eq!(err, *want, "{pattern:?}");
        }
    }

    #[test]
    fn implicit_localhost() {
        let inv = inv();
        assert_eq!(inv.resolve_pattern("localhost").unwrap(), ["localhost"]);
        assert_eq!(inv.resolve_pattern("127.0.0.1").unwrap(), ["127.0.0.1"]);
        assert_eq!(
            inv.resolve_pattern("web1:localhost").unwrap(),
            ["web1", "localhost"]
        );
        assert!(!inv
            .resolve_pattern("all")
            .unwrap()
            .contains(&"localhost".to_string()));
        assert!(!inv.group_hosts("all").contains(&"localhost"));
        let host = inv.get_host("localhost").unwrap();
        assert_eq!(
            host.vars["ansible_connection"],
            minijinja::Value::from("local")
        );
        assert!(host.groups.is_empty());
        assert!(inv.get_host("nosuchhost").is_none());

        let bare = Inventory::implicit_localhost();
        assert!(bare.hosts.is_empty());
        assert_eq!(bare.resolve_pattern("localhost").unwrap(), ["localhost"]);
        assert!(bare.resolve_pattern("all").unwrap().is_empty());
        assert_eq!(
            bare.get_host("localhost").unwrap().vars["ansible_connection"],
            minijinja::Value::from("local")
        );

        // An inventory's own 127.0.0.1 stands in for `localhost`.
        let own = Inventory::load(&["127.0.0.1,other,".to_string()], &[]).unwrap();
        assert_eq!(own.resolve_pattern("localhost").unwrap(), ["127.0.0.1"]);
    }

    #[test]
    fn limits() {
        let inv = inv();
        let all = inv.resolve_pattern("all").unwrap();
        let limit = |l: &str| inv.apply_limit(all.clone(), l).unwrap();
        assert_eq!(limit("web"), ["web1", "web2", "web3"]);
        assert_eq!(limit("!web:!ungrouped"), ["db1", "db2", "stage1"]);
        assert_eq!(limit("db2,web1"), ["web1", "db2"]);
        assert_eq!(limit(""), all);
        let file = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src/inventory/testdata/limit.txt"
        );
        assert_eq!(limit(&format!("@{file}")), ["web2", "db1", "10.0.0.5"]);
        assert_eq!(
            limit(&format!("@{file},web3")),
            ["web2", "web3", "db1", "10.0.0.5"]
        );
        // The limit narrows the list it is given, keeping that list's order.
        let given = vec!["db1".to_string(), "web2".to_string(), "web1".to_string()];
        assert_eq!(
            inv.apply_limit(given, "prod:!web1").unwrap(),
            ["db1", "web2"]
        );
        let err = inv
            .apply_limit(all.clone(), "@/nonexistent/limit")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "unable to find limit file `/nonexistent/limit`"
        );
        assert_eq!(
            inv.apply_limit(vec!["localhost".into()], "localhost")
                .unwrap(),
            ["localhost"]
        );
    }
}
