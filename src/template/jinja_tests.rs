//! Ansible's Jinja tests for minijinja: task-result tests, regular expressions, version
//! comparison, set relations, truthiness, and Jinja2's broader `sequence`/`iterable`.
//!
//! Builtins kept as they are: `defined`, `undefined`, `none`, `in`, `string`, `number`,
//! `mapping`, `boolean`, `integer`, `float`, `eq` and friends.

use super::filters::{compile_regex, op_err, py_str, require_defined, seq_items, Params};
use minijinja::value::{Kwargs, Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind, State};
use regex::Regex;
use std::cmp::Ordering;

/// Registers the Ansible tests on `env`, replacing builtins that behave differently.
pub fn register(env: &mut Environment<'static>) {
    env.add_test("failed", failed);
    env.add_test("ansible._protomatter.tagged_with", tagged_with);
    env.add_test("failure", failed);
    env.add_test("succeeded", succeeded);
    env.add_test("success", succeeded);
    env.add_test("successful", succeeded);
    env.add_test("changed", changed);
    env.add_test("change", changed);
    env.add_test("skipped", skipped);
    env.add_test("skip", skipped);
    env.add_test("unreachable", unreachable);
    env.add_test("finished", finished);
    env.add_test("started", started);
    env.add_test("reachable", reachable);
    env.add_test("version", version_compare);
    env.add_test("version_compare", version_compare);
    env.add_test("match", match_test);
    env.add_test("search", search_test);
    env.add_test("regex", regex_test);
    env.add_test("contains", contains);
    env.add_test("subset", subset);
    env.add_test("issubset", subset);
    env.add_test("superset", superset);
    env.add_test("issuperset", superset);
    env.add_test("sequence", is_sequence);
    env.add_test("iterable", is_iterable);
    env.add_test("truthy", truthy);
    env.add_test("falsy", falsy);
}

// ---------------------------------------------------------------------------------------------
// Task results.

/// A registered result's boolean flag; a missing key is false.
fn result_flag(state: &State, value: &Value, key: &str, test: &str) -> Result<bool, Error> {
    require_defined(state, value, test)?;
    if value.kind() != ValueKind::Map {
        return Err(op_err(format!("the '{test}' test expects a dictionary")));
    }
    Ok(value.get_item(&Value::from(key))?.is_true())
}

fn failed(state: &State, value: &Value) -> Result<bool, Error> {
    result_flag(state, value, "failed", "failed")
}

fn succeeded(state: &State, value: &Value) -> Result<bool, Error> {
    result_flag(state, value, "failed", "succeeded").map(|f| !f)
}

fn skipped(state: &State, value: &Value) -> Result<bool, Error> {
    result_flag(state, value, "skipped", "skipped")
}

/// `finished`/`started`: an async result's flag (true or 1); a result without one (not an
/// async task) counts as finished and started, as in Ansible.
fn async_flag(state: &State, value: &Value, key: &str) -> Result<bool, Error> {
    require_defined(state, value, key)?;
    if value.kind() != ValueKind::Map {
        return Err(op_err(format!("The '{key}' test expects a dictionary")));
    }
    let v = value.get_item(&Value::from(key))?;
    if v.is_undefined() {
        return Ok(true);
    }
    Ok(v.is_true() && (v.kind() == ValueKind::Bool || i64::try_from(v).ok() == Some(1)))
}

fn finished(state: &State, value: &Value) -> Result<bool, Error> {
    async_flag(state, value, "finished")
}

fn started(state: &State, value: &Value) -> Result<bool, Error> {
    async_flag(state, value, "started")
}

fn unreachable(state: &State, value: &Value) -> Result<bool, Error> {
    result_flag(state, value, "unreachable", "unreachable")
}

fn reachable(state: &State, value: &Value) -> Result<bool, Error> {
    result_flag(state, value, "unreachable", "reachable").map(|f| !f)
}

/// `changed`: the result's `changed` key, or for loop results without one, whether any item
/// of `results` changed.
fn changed(state: &State, value: &Value) -> Result<bool, Error> {
    require_defined(state, value, "changed")?;
    if value.kind() != ValueKind::Map {
        return Err(op_err("the 'changed' test expects a dictionary"));
    }
    let flag = value.get_item(&Value::from("changed"))?;
    if !flag.is_undefined() {
        return Ok(flag.is_true());
    }
    let results = value.get_item(&Value::from("results"))?;
    if results.kind() != ValueKind::Seq {
        return Ok(false);
    }
    let items = seq_items(&results)?;
    if items.first().is_none_or(|r| r.kind() != ValueKind::Map) {
        return Ok(false);
    }
    for r in items {
        if r.kind() == ValueKind::Map && r.get_item(&Value::from("changed"))?.is_true() {
            return Ok(true);
        }
    }
    Ok(false)
}

// ---------------------------------------------------------------------------------------------
// Regular expressions.

/// Ansible's `regex(pattern='', ignorecase=False, multiline=False, match_type='search')`.
fn regex_common(
    state: &State,
    value: &Value,
    args: &[Value],
    kwargs: Kwargs,
    what: &'static str,
    fixed_type: Option<&str>,
) -> Result<bool, Error> {
    let p = Params::new(what, args, kwargs);
    let pattern = p.get(0, "pattern")?.map(|v| py_str(&v)).unwrap_or_default();
    let ignorecase = p.get(1, "ignorecase")?.is_some_and(|v| v.is_true());
    let multiline = p.get(2, "multiline")?.is_some_and(|v| v.is_true());
    let match_type = match fixed_type {
        Some(t) => {
            p.finish(3)?;
            t.to_string()
        }
        None => {
            let t = p
                .get(3, "match_type")?
                .map(|v| py_str(&v))
                .unwrap_or_else(|| "search".into());
            p.finish(4)?;
            t
        }
    };
    require_defined(state, value, what)?;
    let input = py_str(value);
    match match_type.as_str() {
        "search" => Ok(compile_regex(&pattern, ignorecase, multiline)?.is_match(input.as_bytes())),
        "match" => Ok(
            compile_regex(&format!("\\A(?:{pattern})"), ignorecase, multiline)?
                .is_match(input.as_bytes()),
        ),
        "fullmatch" => {
            let re = compile_regex(&format!("\\A(?:{pattern})\\Z"), ignorecase, multiline)?;
            Ok(re.is_match(input.as_bytes()))
        }
        other => Err(op_err(format!(
            "{what}: match_type must be 'search', 'match' or 'fullmatch', not '{other}'"
        ))),
    }
}

/// `match(pattern, ignorecase=False, multiline=False)`: the pattern matches at the start.
fn match_test(state: &State, value: &Value, args: &[Value], kwargs: Kwargs) -> Result<bool, Error> {
    regex_common(state, value, args, kwargs, "match", Some("match"))
}

/// `search(pattern, ignorecase=False, multiline=False)`: the pattern matches anywhere.
fn search_test(
    state: &State,
    value: &Value,
    args: &[Value],
    kwargs: Kwargs,
) -> Result<bool, Error> {
    regex_common(state, value, args, kwargs, "search", Some("search"))
}

/// `regex(pattern, ignorecase=False, multiline=False, match_type='search')`.
fn regex_test(state: &State, value: &Value, args: &[Value], kwargs: Kwargs) -> Result<bool, Error> {
    regex_common(state, value, args, kwargs, "regex", None)
}

// ---------------------------------------------------------------------------------------------
// Versions.

/// A component of a `LooseVersion`: a number (digits without leading zeros) or a string.
#[derive(Debug, PartialEq, Eq)]
enum Loose {
    Num(String),
    Str(String),
}

/// Splits like distutils' `LooseVersion`: runs of digits, runs of lowercase letters, and the
/// text between them; dots are dropped.
fn loose_parse(s: &str) -> Vec<Loose> {
    #[derive(PartialEq, Clone, Copy)]
    enum Class {
        Digit,
        Lower,
        Dot,
        Other,
    }
    let class = |c: char| match c {
        '0'..='9' => Class::Digit,
        'a'..='z' => Class::Lower,
        '.' => Class::Dot,
        _ => Class::Other,
    };
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut cur_class = None;
    let mut flush = |cur: &mut String, cls: Option<Class>| {
        if cur.is_empty() {
            return;
        }
        let text = std::mem::take(cur);
        match cls {
            Some(Class::Dot) => {}
            Some(Class::Digit) => {
                let trimmed = text.trim_start_matches('0');
                parts.push(Loose::Num(if trimmed.is_empty() {
                    "0".into()
                } else {
                    trimmed.to_string()
                }));
            }
            _ => parts.push(Loose::Str(text)),
        }
    };
    for c in s.chars() {
        let cls = class(c);
        // each dot is its own component; other classes extend their run
        if Some(cls) != cur_class || cls == Class::Dot {
            flush(&mut cur, cur_class);
            cur_class = Some(cls);
        }
        cur.push(c);
    }
    flush(&mut cur, cur_class);
    parts
}

/// Compares decimal digit strings without leading zeros.
fn num_cmp(a: &str, b: &str) -> Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn loose_cmp(a: &str, b: &str) -> Result<Ordering, Error> {
    let (pa, pb) = (loose_parse(a), loose_parse(b));
    for (x, y) in pa.iter().zip(pb.iter()) {
        let ord = match (x, y) {
            (Loose::Num(x), Loose::Num(y)) => num_cmp(x, y),
            (Loose::Str(x), Loose::Str(y)) => x.cmp(y),
            _ => {
                return Err(op_err(format!(
                    "version comparison failed: cannot compare a number with a string \
                     ('{a}' and '{b}')"
                )))
            }
        };
        if ord != Ordering::Equal {
            return Ok(ord);
        }
    }
    Ok(pa.len().cmp(&pb.len()))
}

fn version_regex(pattern: &str) -> Result<Regex, Error> {
    Regex::new(pattern).map_err(|e| op_err(format!("internal version pattern error: {e}")))
}

fn parse_num(s: &str) -> Result<u128, Error> {
    s.parse::<u128>()
        .map_err(|_| op_err(format!("version component '{s}' is too large")))
}

/// distutils' `StrictVersion`: `N.N[.N][{a|b}N]`.
/// A parsed `StrictVersion`: three numbers and an optional `a`/`b` prerelease.
type StrictVersion = ([u128; 3], Option<(String, u128)>);

fn strict_parse(s: &str) -> Result<StrictVersion, Error> {
    let re = version_regex(r"^(\d+)\.(\d+)(?:\.(\d+))?(?:([ab])(\d+))?$")?;
    let caps = re.captures(s).ok_or_else(|| {
        op_err(format!(
            "version comparison failed: invalid version number '{s}'"
        ))
    })?;
    let num = |i: usize| -> Result<u128, Error> {
        match caps.get(i) {
            Some(m) => parse_num(m.as_str()),
            None => Ok(0),
        }
    };
    let pre = match (caps.get(4), caps.get(5)) {
        (Some(l), Some(n)) => Some((l.as_str().to_string(), parse_num(n.as_str())?)),
        _ => None,
    };
    Ok(([num(1)?, num(2)?, num(3)?], pre))
}

fn strict_cmp(a: &str, b: &str) -> Result<Ordering, Error> {
    let (va, pa) = strict_parse(a)?;
    let (vb, pb) = strict_parse(b)?;
    Ok(va.cmp(&vb).then_with(|| match (&pa, &pb) {
        (None, None) => Ordering::Equal,
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (Some(x), Some(y)) => x.cmp(y),
    }))
}

/// A parsed semantic version: core numbers and prerelease identifiers.
type Semver = ([u128; 3], Vec<String>);

fn semver_parse(s: &str) -> Result<Semver, Error> {
    let ident = r"(?:0|[1-9]\d*|\d*[a-zA-Z-][a-zA-Z0-9-]*)";
    let re = version_regex(&format!(
        r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-({ident}(?:\.{ident})*))?(?:\+[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*)?$"
    ))?;
    let caps = re.captures(s).ok_or_else(|| {
        op_err(format!(
            "version comparison failed: invalid semantic version '{s}'"
        ))
    })?;
    let num = |i: usize| parse_num(caps.get(i).map_or("0", |m| m.as_str()));
    let pre = caps
        .get(4)
        .map(|m| m.as_str().split('.').map(str::to_string).collect())
        .unwrap_or_default();
    Ok(([num(1)?, num(2)?, num(3)?], pre))
}

fn semver_ident_cmp(a: &str, b: &str) -> Ordering {
    let numeric = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    match (numeric(a), numeric(b)) {
        (true, true) => num_cmp(a.trim_start_matches('0'), b.trim_start_matches('0')),
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => a.cmp(b),
    }
}

fn semver_cmp(a: &str, b: &str) -> Result<Ordering, Error> {
    let (ca, pa) = semver_parse(a)?;
    let (cb, pb) = semver_parse(b)?;
    if ca != cb {
        return Ok(ca.cmp(&cb));
    }
    Ok(match (pa.is_empty(), pb.is_empty()) {
        (true, true) => Ordering::Equal,
        (false, true) => Ordering::Less,
        (true, false) => Ordering::Greater,
        (false, false) => {
            for (x, y) in pa.iter().zip(pb.iter()) {
                let ord = semver_ident_cmp(x, y);
                if ord != Ordering::Equal {
                    return Ok(ord);
                }
            }
            pa.len().cmp(&pb.len())
        }
    })
}

/// `version(version, operator='eq', strict=None, version_type=None)`.
fn version_compare(
    state: &State,
    value: &Value,
    args: &[Value],
    kwargs: Kwargs,
) -> Result<bool, Error> {
    let p = Params::new("version", args, kwargs);
    let other = p.required(0, "version")?;
    let operator = p
        .get(1, "operator")?
        .map_or_else(|| "eq".into(), |v| py_str(&v));
    let strict = p.get(2, "strict")?.filter(|v| !v.is_none());
    let version_type = p.get(3, "version_type")?.filter(|v| !v.is_none());
    p.finish(4)?;
    require_defined(state, value, "version")?;
    require_defined(state, &other, "version")?;
    if strict.is_some() && version_type.is_some() {
        return Err(op_err("cannot specify both 'strict' and 'version_type'"));
    }
    let (a, b) = (py_str(value), py_str(&other));
    if !value.is_true() {
        return Err(op_err("input version value cannot be empty"));
    }
    if !other.is_true() {
        return Err(op_err(
            "version parameter to compare against cannot be empty",
        ));
    }
    let kind = match (&strict, &version_type) {
        (Some(s), _) if s.is_true() => "strict".to_string(),
        (_, Some(t)) => py_str(t),
        _ => "loose".to_string(),
    };
    let ord = match kind.as_str() {
        "loose" => loose_cmp(&a, &b)?,
        "strict" => strict_cmp(&a, &b)?,
        "semver" | "semantic" => semver_cmp(&a, &b)?,
        "pep440" => return Err(op_err("version_type 'pep440' is not supported")),
        other => {
            return Err(op_err(format!(
                "invalid version type ({other}); must be one of 'loose', 'strict', 'semver', \
                 'semantic'"
            )))
        }
    };
    Ok(match operator.as_str() {
        "==" | "=" | "eq" => ord == Ordering::Equal,
        "!=" | "<>" | "ne" => ord != Ordering::Equal,
        "<" | "lt" => ord == Ordering::Less,
        "<=" | "le" => ord != Ordering::Greater,
        ">" | "gt" => ord == Ordering::Greater,
        ">=" | "ge" => ord != Ordering::Less,
        other => {
            return Err(op_err(format!(
                "invalid operator type ({other}); must be one of ==, =, eq, <, lt, <=, le, >, \
                 gt, >=, ge, !=, <>, ne"
            )))
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Collections and truthiness.

/// Python's `needle in haystack`: substring, list membership or mapping key.
fn py_contains(haystack: &Value, needle: &Value) -> Result<bool, Error> {
    match haystack.kind() {
        ValueKind::String => match (haystack.as_str(), needle.as_str()) {
            (Some(h), Some(n)) => Ok(h.contains(n)),
            _ => Err(op_err(format!(
                "'in <string>' requires string as left operand, not {}",
                needle.kind()
            ))),
        },
        ValueKind::Seq | ValueKind::Iterable | ValueKind::Map => {
            Ok(haystack.try_iter()?.any(|x| x == *needle))
        }
        other => Err(op_err(format!("argument of type {other} is not iterable"))),
    }
}

/// `contains(item)`: the reverse of `in`, usable with `select`.
fn contains(state: &State, seq: &Value, item: &Value) -> Result<bool, Error> {
    require_defined(state, seq, "contains")?;
    py_contains(seq, item)
}

/// The members of a value taken as a Python `set()`.
fn set_members(state: &State, v: &Value, what: &str) -> Result<Vec<Value>, Error> {
    require_defined(state, v, what)?;
    match v.kind() {
        ValueKind::String | ValueKind::Seq | ValueKind::Iterable | ValueKind::Map => seq_items(v),
        other => Err(op_err(format!("{what}: {other} is not iterable"))),
    }
}

/// `subset(b)`: every member of the value is in `b`.
fn subset(state: &State, a: &Value, b: &Value) -> Result<bool, Error> {
    let (a, b) = (
        set_members(state, a, "subset")?,
        set_members(state, b, "subset")?,
    );
    Ok(a.iter().all(|x| b.contains(x)))
}

/// `superset(b)`: every member of `b` is in the value.
fn superset(state: &State, a: &Value, b: &Value) -> Result<bool, Error> {
    let (a, b) = (
        set_members(state, a, "superset")?,
        set_members(state, b, "superset")?,
    );
    Ok(b.iter().all(|x| a.contains(x)))
}

/// Jinja2's `sequence`: anything with a length and item access (strings, lists, mappings).
fn is_sequence(v: &Value) -> bool {
    matches!(
        v.kind(),
        ValueKind::String | ValueKind::Bytes | ValueKind::Seq | ValueKind::Map
    )
}

/// Jinja2's `iterable`: strings, lists, mappings and other iterables (not `none`).
fn is_iterable(v: &Value) -> bool {
    matches!(
        v.kind(),
        ValueKind::String
            | ValueKind::Bytes
            | ValueKind::Seq
            | ValueKind::Map
            | ValueKind::Iterable
    )
}

/// Ansible's module `boolean()` conversion, `None` when the value is not boolean-like.
fn boolean_like(v: &Value) -> Option<bool> {
    match v.kind() {
        ValueKind::Bool => Some(v.is_true()),
        ValueKind::String => match v.as_str()?.trim().to_lowercase().as_str() {
            "y" | "yes" | "on" | "1" | "true" | "t" => Some(true),
            "n" | "no" | "off" | "0" | "false" | "f" => Some(false),
            _ => None,
        },
        ValueKind::Number => {
            let f = f64::try_from(v.clone()).ok()?;
            if f == 1.0 {
                Some(true)
            } else if f == 0.0 {
                Some(false)
            } else {
                None
            }
        }
        _ => None,
    }
}

/// `truthy(convert_bool=False)`: Python truthiness, optionally reading 'yes'/'no' and friends
/// as booleans first.
fn truthy(state: &State, value: &Value, args: &[Value], kwargs: Kwargs) -> Result<bool, Error> {
    let p = Params::new("truthy", args, kwargs);
    let convert = p.get(0, "convert_bool")?.is_some_and(|v| v.is_true());
    p.finish(1)?;
    require_defined(state, value, "truthy")?;
    if convert {
        if let Some(b) = boolean_like(value) {
            return Ok(b);
        }
    }
    Ok(value.is_true())
}

/// `falsy(convert_bool=False)`: the opposite of `truthy`.
fn falsy(state: &State, value: &Value, args: &[Value], kwargs: Kwargs) -> Result<bool, Error> {
    truthy(state, value, args, kwargs).map(|t| !t)
}

/// `ansible._protomatter.tagged_with(tag)`: ansible-core 2.19's data tags, as far as drover
/// can tell them: a string is trusted as a template (`TrustedAsTemplate`) when it comes from
/// the user's files, which is where drover's strings come from; drover tracks no other tag.
fn tagged_with(value: &Value, tag: &str) -> Result<bool, Error> {
    match tag {
        "TrustedAsTemplate" => Ok(value.kind() == ValueKind::String),
        "Origin" | "VaultedValue" | "SourceWasEncrypted" | "Deprecated" | "NotATemplate" => {
            Ok(false)
        }
        other => Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("Unknown tag name '{other}'."),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTEXT: &str = r#"
ok_result: {changed: false, failed: false, rc: 0}
changed_result: {changed: true}
failed_result: {failed: true, msg: boom}
skipped_result: {skipped: true, changed: false}
loop_result: {results: [{changed: false}, {changed: true}]}
loop_unchanged: {results: [{changed: false}]}
unreachable_result: {unreachable: true}
empty_result: {}
none_value: null
items: [1, 2, 3]
"#;

    fn check(cases: &[(&str, &str)]) {
        crate::template::test_cases::check(CONTEXT, cases)
    }

    fn check_errors(cases: &[(&str, &str)]) {
        crate::template::test_cases::check_errors(CONTEXT, cases)
    }

    #[test]
    fn defined_and_none() {
        check(&[
            ("{{ x is defined }}", "False"),
            ("{{ x is undefined }}", "True"),
            ("{{ items is defined }}", "True"),
            ("{{ ok_result.nope is defined }}", "False"),
            ("{{ none_value is none }}", "True"),
            ("{{ items is none }}", "False"),
            ("{{ x is not defined }}", "True"),
        ]);
    }

    #[test]
    fn task_results() {
        check(&[
            ("{{ changed_result is changed }}", "True"),
            ("{{ changed_result is change }}", "True"),
            ("{{ ok_result is changed }}", "False"),
            ("{{ empty_result is changed }}", "False"),
            ("{{ loop_result is changed }}", "True"),
            ("{{ loop_unchanged is changed }}", "False"),
            ("{{ failed_result is failed }}", "True"),
            ("{{ failed_result is failure }}", "True"),
            ("{{ ok_result is failed }}", "False"),
            ("{{ empty_result is failed }}", "False"),
            ("{{ failed_result is succeeded }}", "False"),
            ("{{ ok_result is succeeded }}", "True"),
            ("{{ ok_result is success }}", "True"),
            ("{{ empty_result is successful }}", "True"),
            ("{{ skipped_result is skipped }}", "True"),
            ("{{ skipped_result is skip }}", "True"),
            ("{{ ok_result is skipped }}", "False"),
            ("{{ unreachable_result is unreachable }}", "True"),
            ("{{ ok_result is reachable }}", "True"),
            (
                "{{ [ok_result, failed_result, changed_result] | select('failed') | length }}",
                "1",
            ),
            (
                "{{ [ok_result, changed_result] | reject('changed') | length }}",
                "1",
            ),
        ]);
        check_errors(&[
            (
                "{{ 'x' is changed }}",
                "the 'changed' test expects a dictionary",
            ),
            (
                "{{ items is failed }}",
                "the 'failed' test expects a dictionary",
            ),
            ("{{ missing is skipped }}", "undefined"),
        ]);
    }

    #[test]
    fn versions() {
        check(&[
            ("{{ '1.10' is version('1.9', '>') }}", "True"),
            ("{{ '1.10' is version('1.9', 'gt') }}", "True"),
            ("{{ '1.9' is version('1.10', '<') }}", "True"),
            ("{{ '1.2.3' is version('1.2.3', '==') }}", "True"),
            ("{{ '1.2.3' is version('1.2.3') }}", "True"),
            ("{{ '1.2.3' is version('1.2.3', '=') }}", "True"),
            ("{{ '1.2' is version('1.2.0', 'eq') }}", "False"),
            ("{{ '1.2' is version('1.2.0', '<') }}", "True"),
            ("{{ '2.0' is version('1.99', '>=') }}", "True"),
            ("{{ '2.0' is version('2.0', 'ge') }}", "True"),
            ("{{ '2.0' is version('2.0', '<=') }}", "True"),
            ("{{ '2.0' is version('2.0', 'le') }}", "True"),
            ("{{ '2.0' is version('2.1', '!=') }}", "True"),
            ("{{ '2.0' is version('2.0', '<>') }}", "False"),
            ("{{ '2.0' is version('2.0', 'ne') }}", "False"),
            ("{{ '1.0.10' is version('1.0.9', 'lt') }}", "False"),
            ("{{ '1.0a1' is version('1.0', '>') }}", "True"),
            ("{{ '1.0rc1' is version('1.0rc2', '<') }}", "True"),
            ("{{ '007' is version('7', '==') }}", "True"),
            ("{{ 8 is version('7.9', '>') }}", "True"),
            ("{{ '3.10.2' is version_compare('3.9', '>=') }}", "True"),
            ("{{ '1.0a1' is version('1.0', '<', strict=true) }}", "True"),
            ("{{ '1.0' is version('1.0.0', '==', strict=true) }}", "True"),
            (
                "{{ '1.0b2' is version('1.0a9', '>', version_type='strict') }}",
                "True",
            ),
            (
                "{{ '1.0.0-alpha' is version('1.0.0', '<', version_type='semver') }}",
                "True",
            ),
            (
                "{{ '1.0.0-alpha.1' is version('1.0.0-alpha.beta', '<', version_type='semver') }}",
                "True",
            ),
            (
                "{{ '1.0.0-beta.11' is version('1.0.0-beta.2', '>', version_type='semver') }}",
                "True",
            ),
            (
                "{{ '1.0.0-rc.1' is version('1.0.0-beta.11', '>', version_type='semantic') }}",
                "True",
            ),
            (
                "{{ '1.0.0+build5' is version('1.0.0', '==', version_type='semver') }}",
                "True",
            ),
            (
                "{{ '2.0.0' is version('10.0.0', '<', version_type='semver') }}",
                "True",
            ),
            (
                "{{ '1.2.3' is version('1.2.10', operator='lt', version_type='loose') }}",
                "True",
            ),
        ]);
        check_errors(&[
            (
                "{{ '1.0' is version('1.0', 'bogus') }}",
                "invalid operator type",
            ),
            (
                "{{ '1.0' is version('1.0', strict=true, version_type='loose') }}",
                "cannot specify both",
            ),
            (
                "{{ '1.0' is version('1.0.0', version_type='semver') }}",
                "invalid semantic version",
            ),
            (
                "{{ '1.0.0.0' is version('1.0', strict=true) }}",
                "invalid version number",
            ),
            (
                "{{ '1.0' is version('1.0', version_type='weird') }}",
                "invalid version type",
            ),
            (
                "{{ '1.a' is version('1.1', '<') }}",
                "cannot compare a number with a string",
            ),
            (
                "{{ '' is version('1.0') }}",
                "input version value cannot be empty",
            ),
        ]);
    }

    #[test]
    fn regexes() {
        check(&[
            ("{{ 'foobar' is match('foo') }}", "True"),
            ("{{ 'foobar' is match('bar') }}", "False"),
            ("{{ 'foobar' is search('bar') }}", "True"),
            ("{{ 'foobar' is search('baz') }}", "False"),
            ("{{ 'FOO' is match('foo', ignorecase=true) }}", "True"),
            ("{{ 'FOO' is match('foo') }}", "False"),
            ("{{ 'a\\nfoo' is match('^foo', multiline=true) }}", "False"),
            ("{{ 'a\\nfoo' is search('^foo', multiline=true) }}", "True"),
            ("{{ 'a\\nfoo' is search('^foo') }}", "False"),
            ("{{ 'foobar' is regex('bar') }}", "True"),
            (
                "{{ 'foobar' is regex('bar', match_type='match') }}",
                "False",
            ),
            (
                "{{ 'foobar' is regex('foo', match_type='fullmatch') }}",
                "False",
            ),
            (
                "{{ 'foobar' is regex('foo.*', match_type='fullmatch') }}",
                "True",
            ),
            (
                "{{ 'ab' is regex('a|ab', match_type='fullmatch') }}",
                "True",
            ),
            ("{{ 'web01' is match('web\\\\d+$') }}", "True"),
            ("{{ 12345 is match('\\\\d{3}') }}", "True"),
        ]);
        check_errors(&[
            ("{{ 'x' is match('(') }}", "invalid regular expression"),
            ("{{ missing is match('x') }}", "undefined"),
        ]);
    }

    #[test]
    fn collections() {
        check(&[
            ("{{ 2 in items }}", "True"),
            ("{{ 5 is in(items) }}", "False"),
            ("{{ 'oo' is in('foo') }}", "True"),
            ("{{ items is contains(2) }}", "True"),
            ("{{ items is contains(9) }}", "False"),
            ("{{ 'foo' is contains('oo') }}", "True"),
            ("{{ ok_result is contains('rc') }}", "True"),
            (
                "{{ [[1, 2], [3]] | select('contains', 3) | list }}",
                "[[3]]",
            ),
            ("{{ [1, 2] is subset(items) }}", "True"),
            ("{{ [1, 4] is subset(items) }}", "False"),
            ("{{ items is superset([3, 1]) }}", "True"),
            ("{{ items is superset([3, 7]) }}", "False"),
            ("{{ [2, 2] is issubset([2]) }}", "True"),
            ("{{ 'abc' is string }}", "True"),
            ("{{ 1 is string }}", "False"),
            ("{{ 1 is number }}", "True"),
            ("{{ 1.5 is number }}", "True"),
            ("{{ '1' is number }}", "False"),
            ("{{ ok_result is mapping }}", "True"),
            ("{{ items is mapping }}", "False"),
            ("{{ items is sequence }}", "True"),
            ("{{ 'abc' is sequence }}", "True"),
            ("{{ ok_result is sequence }}", "True"),
            ("{{ 1 is sequence }}", "False"),
            ("{{ none_value is sequence }}", "False"),
            ("{{ items is iterable }}", "True"),
            ("{{ 'abc' is iterable }}", "True"),
            ("{{ none_value is iterable }}", "False"),
            ("{{ 3 is iterable }}", "False"),
        ]);
    }

    #[test]
    fn truthiness() {
        check(&[
            ("{{ 'x' is truthy }}", "True"),
            ("{{ '' is truthy }}", "False"),
            ("{{ 'no' is truthy }}", "True"),
            ("{{ 'no' is truthy(convert_bool=true) }}", "False"),
            ("{{ 'Y' is truthy(convert_bool=true) }}", "True"),
            ("{{ 'maybe' is truthy(convert_bool=true) }}", "True"),
            ("{{ 0 is truthy }}", "False"),
            ("{{ [] is falsy }}", "True"),
            ("{{ items is falsy }}", "False"),
            ("{{ 'off' is falsy(convert_bool=true) }}", "True"),
            ("{{ none_value is falsy }}", "True"),
        ]);
    }

    #[test]
    fn version_parsers() {
        assert_eq!(
            loose_parse("1.2b3-x"),
            vec![
                Loose::Num("1".into()),
                Loose::Num("2".into()),
                Loose::Str("b".into()),
                Loose::Num("3".into()),
                Loose::Str("-".into()),
                Loose::Str("x".into()),
            ]
        );
        assert_eq!(loose_cmp("1.10", "1.9").ok(), Some(Ordering::Greater));
        assert_eq!(strict_cmp("1.0", "1.0.0").ok(), Some(Ordering::Equal));
        assert_eq!(strict_cmp("1.0a1", "1.0b1").ok(), Some(Ordering::Less));
        assert_eq!(semver_cmp("1.0.0-1", "1.0.0-a").ok(), Some(Ordering::Less));
    }
}
