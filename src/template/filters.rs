//! Ansible's filters for minijinja: the ones minijinja lacks, and replacements for builtins whose
//! behaviour differs from Ansible's (`default`, `bool`, `int`, `float`, `replace`).
//!
//! Builtins kept as they are because they already match Ansible/Jinja2: `string`, `lower`,
//! `upper`, `join`, `length`, `first`, `last`, `min`, `max`, `sum`, `split`, `trim`, `unique`
//! (case-insensitive like Ansible's), `zip`, `map`, `select`, `selectattr`, `reject`,
//! `rejectattr`, `items`, `list`, `dictsort`.
//!
//! Known differences from Ansible: regular expressions use Rust's `regex` syntax after a light
//! translation of Python's (no look-around or backreferences in patterns; `$` does not match
//! before a final newline); `to_yaml` emits block style instead of PyYAML's flow style for
//! collections of scalars, and no `...` end marker after a bare scalar.

use indexmap::IndexMap;
use minijinja::value::{Kwargs, Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind, State, UndefinedBehavior};
use std::borrow::Cow;
use std::fmt::Write as _;

/// Registers the Ansible filters on `env`, replacing builtins that behave differently.
pub fn register(env: &mut Environment<'static>) {
    env.add_filter("default", default);
    env.add_filter("d", default);
    env.add_filter("mandatory", mandatory);
    super::markers::add(env, "bool", to_bool);
    super::markers::add(env, "int", to_int);
    super::markers::add(env, "float", to_float);
    super::markers::add(env, "replace", replace);
    env.add_filter("ternary", ternary);
    super::markers::add(env, "combine", combine);
    super::markers::add(env, "flatten", flatten);
    super::markers::add(env, "dict2items", dict2items);
    super::markers::add(env, "items2dict", items2dict);
    super::markers::add(env, "extract", extract);
    super::markers::add(env, "zip_longest", zip_longest);
    super::markers::add(env, "difference", difference);
    super::markers::add(env, "intersect", intersect);
    super::markers::add(env, "union", union);
    super::markers::add(env, "symmetric_difference", symmetric_difference);
    super::markers::add(env, "regex_replace", regex_replace);
    super::markers::add(env, "regex_search", regex_search);
    super::markers::add(env, "regex_findall", regex_findall);
    super::markers::add(env, "regex_escape", regex_escape);
    super::markers::add(env, "to_json", to_json);
    super::markers::add(env, "to_nice_json", to_nice_json);
    super::markers::add(env, "from_json", from_json);
    super::markers::add(env, "to_yaml", to_yaml);
    super::markers::add(env, "to_nice_yaml", to_nice_yaml);
    super::markers::add(env, "from_yaml", from_yaml);
    super::markers::add(env, "basename", basename);
    super::markers::add(env, "dirname", dirname);
    super::markers::add(env, "splitext", splitext);
    super::markers::add(env, "expanduser", expanduser);
    super::markers::add(env, "path_join", path_join);
    super::markers::add(env, "quote", quote);
    super::markers::add(env, "b64encode", b64encode);
    super::markers::add(env, "b64decode", b64decode);
    super::markers::add(env, "hash", hash);
    super::markers::add(env, "checksum", sha1_filter);
    super::markers::add(env, "sha1", sha1_filter);
    super::markers::add(env, "md5", md5_filter);
}

// ---------------------------------------------------------------------------------------------
// Shared helpers (also used by `jinja_tests`).

/// An `InvalidOperation` error with the given message.
pub(crate) fn op_err(msg: impl Into<Cow<'static, str>>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg)
}

/// Fails on an undefined value when the environment is strict about undefined values.
pub(crate) fn require_defined(state: &State, value: &Value, what: &str) -> Result<(), Error> {
    let strict = matches!(
        state.undefined_behavior(),
        UndefinedBehavior::Strict | UndefinedBehavior::SemiStrict
    );
    if strict && value.is_undefined() {
        return Err(Error::new(
            ErrorKind::UndefinedError,
            format!("{what}: value is undefined"),
        ));
    }
    Ok(())
}

/// Python's `str()` of a value: `None`, `True` and `False` are spelled the Python way.
pub(crate) fn py_str(value: &Value) -> String {
    match value.kind() {
        ValueKind::None => "None".into(),
        ValueKind::Bool => if value.is_true() { "True" } else { "False" }.into(),
        ValueKind::Number if !value.is_integer() => match f64::try_from(value.clone()) {
            Ok(f) => py_float_repr(f),
            Err(_) => value.to_string(),
        },
        _ => match value.as_str() {
            Some(s) => s.to_string(),
            None => value.to_string(),
        },
    }
}

/// `py_str` after checking the value is defined: Ansible's `to_text` on filter input.
pub(crate) fn text(state: &State, value: &Value, what: &str) -> Result<String, Error> {
    require_defined(state, value, what)?;
    Ok(py_str(value))
}

/// Python-style parameter binding: each parameter comes from its position or its keyword.
pub(crate) struct Params<'a> {
    what: &'static str,
    pos: &'a [Value],
    kw: Kwargs,
}

impl<'a> Params<'a> {
    pub(crate) fn new(what: &'static str, pos: &'a [Value], kw: Kwargs) -> Params<'a> {
        Params { what, pos, kw }
    }

    /// The argument at position `idx` (counting after the piped value) or keyword `name`;
    /// an explicit `none` is returned as a value.
    pub(crate) fn get(&self, idx: usize, name: &str) -> Result<Option<Value>, Error> {
        match self.pos.get(idx) {
            Some(_) if self.kw.has(name) => Err(op_err(format!(
                "{}: got multiple values for argument '{name}'",
                self.what
            ))),
            Some(v) => Ok(Some(v.clone())),
            None => self.kw_only(name),
        }
    }

    /// A keyword-only argument.
    pub(crate) fn kw_only(&self, name: &str) -> Result<Option<Value>, Error> {
        if self.kw.has(name) {
            self.kw.get::<Value>(name).map(Some)
        } else {
            Ok(None)
        }
    }

    /// A required argument.
    pub(crate) fn required(&self, idx: usize, name: &str) -> Result<Value, Error> {
        self.get(idx, name)?
            .ok_or_else(|| op_err(format!("{}: missing required argument '{name}'", self.what)))
    }

    /// Accepts and ignores keyword arguments that only matter to Python's implementation.
    pub(crate) fn ignore(&self, names: &[&str]) -> Result<(), Error> {
        for name in names {
            self.kw_only(name)?;
        }
        Ok(())
    }

    /// Rejects surplus positional arguments and unknown keywords.
    pub(crate) fn finish(&self, max_pos: usize) -> Result<(), Error> {
        if self.pos.len() > max_pos {
            return Err(op_err(format!(
                "{}: takes at most {max_pos} positional argument(s), got {}",
                self.what,
                self.pos.len()
            )));
        }
        self.kw.assert_all_used().map_err(|e| {
            op_err(format!(
                "{}: {}",
                self.what,
                e.detail().unwrap_or("unexpected keyword argument")
            ))
        })
    }
}

/// A string parameter (non-strings are converted the way Python's `str()` does).
fn str_param(v: Option<Value>, default: &str) -> String {
    match v {
        Some(v) if !v.is_none() && !v.is_undefined() => py_str(&v),
        _ => default.to_string(),
    }
}

/// An integer parameter.
fn int_param(what: &str, name: &str, v: &Value) -> Result<i64, Error> {
    if let Ok(i) = i64::try_from(v.clone()) {
        return Ok(i);
    }
    if let Some(i) = v.as_str().and_then(|s| s.trim().parse::<i64>().ok()) {
        return Ok(i);
    }
    Err(op_err(format!("{what}: '{name}' must be an integer")))
}

/// A mapping value from an ordered map.
pub(crate) fn map_value(map: IndexMap<Value, Value>) -> Value {
    Value::from_object(map)
}

/// The key/value pairs of a mapping, in order.
pub(crate) fn map_pairs(v: &Value) -> Result<Vec<(Value, Value)>, Error> {
    let mut out = Vec::new();
    for key in v.try_iter()? {
        let item = v.get_item(&key)?;
        out.push((key, item));
    }
    Ok(out)
}

/// The items of an iterable value.
pub(crate) fn seq_items(v: &Value) -> Result<Vec<Value>, Error> {
    Ok(v.try_iter()?.collect())
}

/// Ansible's `is_sequence`: lists and other non-string, non-mapping iterables.
fn is_sequence(v: &Value) -> bool {
    matches!(v.kind(), ValueKind::Seq | ValueKind::Iterable)
}

/// Python's `repr()` of a float.
pub(crate) fn py_float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.into();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let sign = if f < 0.0 { "-" } else { "" };
    if (-4..16).contains(&exp) {
        let (int_part, frac_part) = if exp >= 0 {
            let e = exp as usize;
            if digits.len() <= e + 1 {
                (
                    format!("{digits}{}", "0".repeat(e + 1 - digits.len())),
                    "0".into(),
                )
            } else {
                (digits[..=e].to_string(), digits[e + 1..].to_string())
            }
        } else {
            (
                "0".to_string(),
                format!("{}{digits}", "0".repeat((-exp - 1) as usize)),
            )
        };
        format!("{sign}{int_part}.{frac_part}")
    } else {
        let mantissa = if digits.len() > 1 {
            format!("{}.{}", &digits[..1], &digits[1..])
        } else {
            digits
        };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{mantissa}e{esign}{:02}", exp.abs())
    }
}

// ---------------------------------------------------------------------------------------------
// Undefined handling and type conversion.

/// `default(default_value='', boolean=false)`: replaces undefined values, and with
/// `boolean=true` also falsy ones.
fn default(value: &Value, args: &[Value], kwargs: Kwargs) -> Result<Value, Error> {
    let p = Params::new("default", args, kwargs);
    let fallback = p
        .get(0, "default_value")?
        .unwrap_or_else(|| Value::from(""));
    let boolean = p.get(1, "boolean")?.is_some_and(|b| b.is_true());
    p.finish(2)?;
    if value.is_undefined() || (boolean && !value.is_true()) {
        Ok(fallback)
    } else {
        Ok(value.clone())
    }
}

/// `mandatory(msg=None)`: fails when the value is undefined.
fn mandatory(value: &Value, args: &[Value], kwargs: Kwargs) -> Result<Value, Error> {
    let p = Params::new("mandatory", args, kwargs);
    let msg = p.get(0, "msg")?;
    p.finish(1)?;
    if value.is_undefined() {
        return Err(match msg {
            Some(m) if !m.is_none() => op_err(py_str(&m)),
            _ => op_err("Mandatory variable not defined."),
        });
    }
    Ok(value.clone())
}

/// Ansible's `bool`: 'yes', 'on', 'true', '1' (any case) and the number 1 are true; everything
/// else, including 'y', is false.
fn to_bool(state: &State, value: &Value) -> Result<bool, Error> {
    require_defined(state, value, "bool")?;
    Ok(match value.kind() {
        ValueKind::Bool => value.is_true(),
        ValueKind::String => matches!(
            value.as_str().unwrap_or("").to_lowercase().as_str(),
            "yes" | "on" | "true" | "1"
        ),
        ValueKind::Number => f64::try_from(value.clone()).is_ok_and(|f| f == 1.0),
        _ => false,
    })
}

/// Parses an integer the way Python's `int(s, base)` does (whitespace, sign, `0x`/`0o`/`0b`
/// prefixes, underscores between digits; base 0 picks the base from the prefix).
fn parse_py_int(s: &str, base: i64) -> Option<i128> {
    let s = s.trim();
    let (negative, rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let lower = rest.to_ascii_lowercase();
    let prefixed = |p: &str| lower.strip_prefix(p).map(|d| d.trim_start_matches('_'));
    let (digits, radix): (&str, u32) = match base {
        0 => {
            if let Some(d) = prefixed("0x") {
                (d, 16)
            } else if let Some(d) = prefixed("0o") {
                (d, 8)
            } else if let Some(d) = prefixed("0b") {
                (d, 2)
            } else {
                if lower.len() > 1
                    && lower.starts_with('0')
                    && !lower.trim_matches(['0', '_']).is_empty()
                {
                    return None;
                }
                (lower.as_str(), 10)
            }
        }
        16 => (prefixed("0x").unwrap_or(&lower), 16),
        8 => (prefixed("0o").unwrap_or(&lower), 8),
        2 => (prefixed("0b").unwrap_or(&lower), 2),
        3..=7 | 9..=15 | 17..=36 => (lower.as_str(), base as u32),
        _ => return None,
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
        || digits.starts_with(['+', '-'])
    {
        return None;
    }
    let cleaned: String = digits.chars().filter(|c| *c != '_').collect();
    let v = i128::from_str_radix(&cleaned, radix).ok()?;
    Some(if negative { -v } else { v })
}

/// Parses a float the way Python's `float(s)` does.
fn parse_py_float(s: &str) -> Option<f64> {
    let t = s.trim();
    if t.is_empty() || t.starts_with('_') || t.ends_with('_') || t.contains("__") {
        return None;
    }
    let cleaned: String = t.chars().filter(|c| *c != '_').collect();
    cleaned.parse::<f64>().ok()
}

fn int_value(i: i128) -> Value {
    match i64::try_from(i) {
        Ok(small) => Value::from(small),
        Err(_) => Value::from(i),
    }
}

/// Jinja2's `int(default=0, base=10)`: strings are parsed in `base`, then as a float
/// ("42.7" gives 42); anything unconvertible gives `default`.
fn to_int(state: &State, value: &Value, args: &[Value], kwargs: Kwargs) -> Result<Value, Error> {
    let p = Params::new("int", args, kwargs);
    let fallback = p.get(0, "default")?.unwrap_or_else(|| Value::from(0));
    let base = match p.get(1, "base")? {
        Some(b) => int_param("int", "base", &b)?,
        None => 10,
    };
    p.finish(2)?;
    require_defined(state, value, "int")?;
    let from_float = |f: f64| -> Result<Option<Value>, Error> {
        if f.is_nan() {
            return Ok(None);
        }
        if f.is_infinite() {
            return Err(op_err("int: cannot convert float infinity to integer"));
        }
        Ok(Some(int_value(f.trunc() as i128)))
    };
    let converted = match value.kind() {
        ValueKind::Bool => Some(Value::from(i64::from(value.is_true()))),
        ValueKind::Number if value.is_integer() => Some(value.clone()),
        ValueKind::Number => match f64::try_from(value.clone()) {
            Ok(f) => from_float(f)?,
            Err(_) => None,
        },
        ValueKind::String => {
            let s = value.as_str().unwrap_or("");
            match parse_py_int(s, base) {
                Some(i) => Some(int_value(i)),
                None => match parse_py_float(s) {
                    Some(f) => from_float(f)?,
                    None => None,
                },
            }
        }
        _ => None,
    };
    Ok(converted.unwrap_or(fallback))
}

/// Jinja2's `float(default=0.0)`.
fn to_float(state: &State, value: &Value, args: &[Value], kwargs: Kwargs) -> Result<Value, Error> {
    let p = Params::new("float", args, kwargs);
    let fallback = p.get(0, "default")?.unwrap_or_else(|| Value::from(0.0));
    p.finish(1)?;
    require_defined(state, value, "float")?;
    let converted = match value.kind() {
        ValueKind::Bool => Some(if value.is_true() { 1.0 } else { 0.0 }),
        ValueKind::Number => f64::try_from(value.clone()).ok(),
        ValueKind::String => parse_py_float(value.as_str().unwrap_or("")),
        _ => None,
    };
    Ok(converted.map(Value::from).unwrap_or(fallback))
}

/// Jinja2's `replace(old, new, count=None)`.
fn replace(state: &State, value: &Value, args: &[Value], kwargs: Kwargs) -> Result<Value, Error> {
    let p = Params::new("replace", args, kwargs);
    let old = str_param(Some(p.required(0, "old")?), "");
    let new = str_param(Some(p.required(1, "new")?), "");
    let count = match p.get(2, "count")? {
        Some(c) if !c.is_none() => int_param("replace", "count", &c)?,
        _ => -1,
    };
    p.finish(3)?;
    let s = text(state, value, "replace")?;
    Ok(Value::from(if count < 0 {
        s.replace(&old, &new)
    } else {
        s.replacen(&old, &new, count as usize)
    }))
}

/// `ternary(true_val, false_val, none_val=None)`.
fn ternary(state: &State, value: &Value, args: &[Value], kwargs: Kwargs) -> Result<Value, Error> {
    let p = Params::new("ternary", args, kwargs);
    let true_val = p.required(0, "true_val")?;
    let false_val = p.required(1, "false_val")?;
    let none_val = p.get(2, "none_val")?;
    p.finish(3)?;
    require_defined(state, value, "ternary")?;
    if let Some(nv) = none_val {
        if value.is_none() && !nv.is_none() {
            return Ok(nv);
        }
    }
    Ok(if value.is_true() { true_val } else { false_val })
}

// ---------------------------------------------------------------------------------------------
// Data structures.

/// Ansible's `flatten(levels=None, skip_nulls=True)` over a list of items.
fn flatten_items(
    items: Vec<Value>,
    levels: Option<i64>,
    skip_nulls: bool,
) -> Result<Vec<Value>, Error> {
    let mut out = Vec::new();
    for item in items {
        if skip_nulls && (item.is_none() || matches!(item.as_str(), Some("None" | "null"))) {
            continue;
        }
        if is_sequence(&item) {
            match levels {
                None => out.extend(flatten_items(seq_items(&item)?, None, skip_nulls)?),
                Some(l) if l >= 1 => {
                    out.extend(flatten_items(seq_items(&item)?, Some(l - 1), skip_nulls)?)
                }
                Some(_) => out.push(item),
            }
        } else {
            out.push(item);
        }
    }
    Ok(out)
}

/// `flatten(levels=None, skip_nulls=True)`.
fn flatten(state: &State, value: &Value, args: &[Value], kwargs: Kwargs) -> Result<Value, Error> {
    let p = Params::new("flatten", args, kwargs);
    let levels = match p.get(0, "levels")? {
        Some(l) if !l.is_none() => Some(int_param("flatten", "levels", &l)?),
        _ => None,
    };
    let skip_nulls = p.get(1, "skip_nulls")?.is_none_or(|v| v.is_true());
    p.finish(2)?;
    require_defined(state, value, "flatten")?;
    if !is_sequence(value) {
        return Err(op_err(format!(
            "flatten expects a list, got {}",
            value.kind()
        )));
    }
    Ok(Value::from(flatten_items(
        seq_items(value)?,
        levels,
        skip_nulls,
    )?))
}

fn to_index_map(v: &Value) -> Result<IndexMap<Value, Value>, Error> {
    Ok(map_pairs(v)?.into_iter().collect())
}

/// Ansible's `merge_hash(x, y, recursive, list_merge)`: `y`'s keys take precedence.
pub(crate) fn merge_hash(
    x: &IndexMap<Value, Value>,
    y: &IndexMap<Value, Value>,
    recursive: bool,
    list_merge: &str,
) -> Result<IndexMap<Value, Value>, Error> {
    if x.is_empty() || x == y {
        return Ok(y.clone());
    }
    let mut out = x.clone();
    for (key, y_value) in y {
        let Some(x_value) = out.get(key).cloned() else {
            out.insert(key.clone(), y_value.clone());
            continue;
        };
        if x_value.kind() == ValueKind::Map && y_value.kind() == ValueKind::Map {
            let merged = if recursive {
                map_value(merge_hash(
                    &to_index_map(&x_value)?,
                    &to_index_map(y_value)?,
                    recursive,
                    list_merge,
                )?)
            } else {
                y_value.clone()
            };
            out.insert(key.clone(), merged);
            continue;
        }
        if x_value.kind() == ValueKind::Seq && y_value.kind() == ValueKind::Seq {
            let xs = seq_items(&x_value)?;
            let ys = seq_items(y_value)?;
            let merged: Option<Vec<Value>> = match list_merge {
                "replace" => Some(ys),
                "append" => Some(xs.into_iter().chain(ys).collect()),
                "prepend" => Some(ys.into_iter().chain(xs).collect()),
                "append_rp" => Some(
                    xs.into_iter()
                        .filter(|z| !ys.contains(z))
                        .chain(ys.iter().cloned())
                        .collect(),
                ),
                "prepend_rp" => {
                    let rest: Vec<Value> = xs.into_iter().filter(|z| !ys.contains(z)).collect();
                    Some(ys.into_iter().chain(rest).collect())
                }
                _ => None, // keep
            };
            if let Some(m) = merged {
                out.insert(key.clone(), Value::from(m));
            }
            continue;
        }
        out.insert(key.clone(), y_value.clone());
    }
    Ok(out)
}

/// `combine(*dicts, recursive=False, list_merge='replace')`.
fn combine(state: &State, value: &Value, args: &[Value], kwargs: Kwargs) -> Result<Value, Error> {
    let p = Params::new("combine", &[], kwargs);
    let recursive = p.kw_only("recursive")?.is_some_and(|v| v.is_true());
    let list_merge = str_param(p.kw_only("list_merge")?, "replace");
    p.finish(0)
        .map_err(|_| op_err("'recursive' and 'list_merge' are the only valid keyword arguments"))?;
    if !matches!(
        list_merge.as_str(),
        "replace" | "keep" | "append" | "prepend" | "append_rp" | "prepend_rp"
    ) {
        return Err(op_err(
            "combine: 'list_merge' can only be 'replace', 'keep', 'append', 'prepend', \
             'append_rp' or 'prepend_rp'",
        ));
    }
    let mut terms = vec![value.clone()];
    terms.extend(args.iter().cloned());
    for t in &terms {
        require_defined(state, t, "combine")?;
    }
    let dicts = flatten_items(terms, Some(1), true)?;
    let mut maps = Vec::with_capacity(dicts.len());
    for d in &dicts {
        if d.kind() != ValueKind::Map {
            return Err(op_err(format!(
                "failed to combine variables, expected dicts but got a {}",
                d.kind()
            )));
        }
        maps.push(to_index_map(d)?);
    }
    let Some(mut result) = maps.pop() else {
        return Ok(map_value(IndexMap::new()));
    };
    while let Some(lower) = maps.pop() {
        result = merge_hash(&lower, &result, recursive, &list_merge)?;
    }
    Ok(map_value(result))
}

/// `dict2items(key_name='key', value_name='value')`.
fn dict2items(
    state: &State,
    value: &Value,
    args: &[Value],
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let p = Params::new("dict2items", args, kwargs);
    let key_name = str_param(p.get(0, "key_name")?, "key");
    let value_name = str_param(p.get(1, "value_name")?, "value");
    p.finish(2)?;
    require_defined(state, value, "dict2items")?;
    if value.kind() != ValueKind::Map {
        return Err(op_err(format!(
            "dict2items requires a dictionary, got {} instead",
            value.kind()
        )));
    }
    let items: Vec<Value> = map_pairs(value)?
        .into_iter()
        .map(|(k, v)| {
            let mut m = IndexMap::new();
            m.insert(Value::from(key_name.as_str()), k);
            m.insert(Value::from(value_name.as_str()), v);
            map_value(m)
        })
        .collect();
    Ok(Value::from(items))
}

/// `items2dict(key_name='key', value_name='value')`.
fn items2dict(
    state: &State,
    value: &Value,
    args: &[Value],
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let p = Params::new("items2dict", args, kwargs);
    let key_name = Value::from(str_param(p.get(0, "key_name")?, "key"));
    let value_name = Value::from(str_param(p.get(1, "value_name")?, "value"));
    p.finish(2)?;
    require_defined(state, value, "items2dict")?;
    if !is_sequence(value) {
        return Err(op_err(format!(
            "items2dict requires a list, got {} instead",
            value.kind()
        )));
    }
    let mut out = IndexMap::new();
    for item in seq_items(value)? {
        if item.kind() != ValueKind::Map {
            return Err(op_err(format!(
                "items2dict requires a list of dictionaries, got a {} item",
                item.kind()
            )));
        }
        let k = item.get_item(&key_name)?;
        let v = item.get_item(&value_name)?;
        if k.is_undefined() || v.is_undefined() {
            return Err(op_err(format!(
                "items2dict requires each dictionary in the list to contain the keys '{key_name}' \
                 and '{value_name}'"
            )));
        }
        out.insert(k, v);
    }
    Ok(map_value(out))
}

/// `extract(container, morekeys=None)`: `container[item]`, then each of `morekeys` in turn.
fn extract(item: &Value, args: &[Value], kwargs: Kwargs) -> Result<Value, Error> {
    let p = Params::new("extract", args, kwargs);
    let container = p.required(0, "container")?;
    let morekeys = p.get(1, "morekeys")?;
    p.finish(2)?;
    let mut keys = vec![item.clone()];
    match morekeys {
        None => {}
        Some(m) if m.is_none() => {}
        Some(m) if m.kind() == ValueKind::Seq => keys.extend(seq_items(&m)?),
        Some(m) => keys.push(m),
    }
    // A missing key anywhere gives an undefined value (`| default` applies), as Ansible's.
    let mut v = container;
    for key in keys {
        if v.is_undefined() {
            return Ok(Value::UNDEFINED);
        }
        v = v.get_item(&key).unwrap_or(Value::UNDEFINED);
    }
    Ok(v)
}

/// `zip_longest(*others, fillvalue=None)`.
fn zip_longest(value: &Value, args: &[Value], kwargs: Kwargs) -> Result<Value, Error> {
    let p = Params::new("zip_longest", &[], kwargs);
    let fill = p.kw_only("fillvalue")?.unwrap_or(Value::from(()));
    p.finish(0)?;
    let mut lists = vec![seq_items(value)?];
    for a in args {
        lists.push(seq_items(a)?);
    }
    let longest = lists.iter().map(Vec::len).max().unwrap_or(0);
    let rows: Vec<Value> = (0..longest)
        .map(|i| {
            Value::from(
                lists
                    .iter()
                    .map(|l| l.get(i).cloned().unwrap_or_else(|| fill.clone()))
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    Ok(Value::from(rows))
}

/// Keeps the first occurrence of each item (exact, case-sensitive comparison).
fn unique_exact(items: impl IntoIterator<Item = Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

fn set_operands(
    state: &State,
    what: &str,
    a: &Value,
    b: &Value,
) -> Result<(Vec<Value>, Vec<Value>), Error> {
    require_defined(state, a, what)?;
    require_defined(state, b, what)?;
    Ok((seq_items(a)?, seq_items(b)?))
}

/// `difference(b)`: items of the input not in `b`, in input order.
fn difference(state: &State, a: &Value, b: &Value) -> Result<Value, Error> {
    let (a, b) = set_operands(state, "difference", a, b)?;
    Ok(Value::from(unique_exact(
        a.into_iter().filter(|x| !b.contains(x)),
    )))
}

/// `intersect(b)`: items of the input also in `b`, in input order.
fn intersect(state: &State, a: &Value, b: &Value) -> Result<Value, Error> {
    let (a, b) = set_operands(state, "intersect", a, b)?;
    Ok(Value::from(unique_exact(
        a.into_iter().filter(|x| b.contains(x)),
    )))
}

/// `union(b)`: items of either, first occurrences in order.
fn union(state: &State, a: &Value, b: &Value) -> Result<Value, Error> {
    let (a, b) = set_operands(state, "union", a, b)?;
    Ok(Value::from(unique_exact(a.into_iter().chain(b))))
}

/// `symmetric_difference(b)`: items in exactly one of the two.
fn symmetric_difference(state: &State, a: &Value, b: &Value) -> Result<Value, Error> {
    let (a, b) = set_operands(state, "symmetric_difference", a, b)?;
    let both: Vec<Value> = a.iter().filter(|x| b.contains(x)).cloned().collect();
    Ok(Value::from(unique_exact(
        a.into_iter().chain(b).filter(|x| !both.contains(x)),
    )))
}

// ---------------------------------------------------------------------------------------------
// Regular expressions.

/// Rewrites a Python regular expression into Rust `regex` syntax where the two differ in
/// ways that can be translated: `\Z`, escaped punctuation and whitespace, literal braces, and
/// `[`, `&`, `~` inside character classes.
pub(crate) fn translate_python_regex(pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut in_class = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' => {
                match chars.get(i + 1) {
                    None => out.push('\\'),
                    Some('Z') if !in_class => out.push_str("\\z"),
                    Some(n) if n.is_ascii_alphanumeric() => {
                        out.push('\\');
                        out.push(*n);
                    }
                    Some(n) => {
                        let _ = write!(out, "\\x{{{:X}}}", *n as u32);
                    }
                }
                i += 2;
                continue;
            }
            '[' if !in_class => {
                in_class = true;
                out.push('[');
                if chars.get(i + 1) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
                if chars.get(i + 1) == Some(&']') {
                    out.push_str("\\]");
                    i += 1;
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            '[' | '&' | '~' if in_class => {
                out.push('\\');
                out.push(c);
            }
            '{' if !in_class => {
                // A valid quantifier is copied through; anything else is a literal brace.
                let close = chars[i + 1..].iter().position(|&ch| ch == '}');
                let body: Option<String> = close.map(|j| chars[i + 1..i + 1 + j].iter().collect());
                let valid = body.as_deref().is_some_and(|b| {
                    let (lo, hi) = b.split_once(',').unwrap_or((b, ""));
                    let digits = |s: &str| s.chars().all(|ch| ch.is_ascii_digit());
                    digits(lo) && digits(hi) && !(lo.is_empty() && hi.is_empty())
                });
                match (valid, body, close) {
                    (true, Some(b), Some(j)) => {
                        let zero = if b.starts_with(',') { "0" } else { "" };
                        let _ = write!(out, "{{{zero}{b}}}");
                        i += j + 2;
                        continue;
                    }
                    _ => out.push_str("\\{"),
                }
            }
            '}' if !in_class => out.push_str("\\}"),
            _ => out.push(c),
        }
        i += 1;
    }
    out
}

/// Compiles a Python-style regular expression.
pub(crate) fn compile_regex(
    pattern: &str,
    ignorecase: bool,
    multiline: bool,
) -> Result<crate::pyre::Re, Error> {
    crate::pyre::Re::new(pattern, ignorecase, multiline)
        .map_err(|e| op_err(format!("invalid regular expression '{pattern}': {e}")))
}

/// `regex_replace(pattern='', replacement='', ignorecase=False, multiline=False, count=0,
/// mandatory_count=0)`: Python's `re.subn`.
fn regex_replace(
    state: &State,
    value: &Value,
    args: &[Value],
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let p = Params::new("regex_replace", args, kwargs);
    let pattern = str_param(p.get(0, "pattern")?, "");
    let replacement = str_param(p.get(1, "replacement")?, "");
    let ignorecase = p.get(2, "ignorecase")?.is_some_and(|v| v.is_true());
    let multiline = p.get(3, "multiline")?.is_some_and(|v| v.is_true());
    let count = match p.get(4, "count")? {
        Some(c) => int_param("regex_replace", "count", &c)?,
        None => 0,
    };
    let mandatory_count = match p.get(5, "mandatory_count")? {
        Some(c) => int_param("regex_replace", "mandatory_count", &c)?,
        None => 0,
    };
    p.finish(6)?;
    let input = text(state, value, "regex_replace")?;
    let re = compile_regex(&pattern, ignorecase, multiline)?;
    let tpl = crate::pyre::Template::parse(&replacement, &re).map_err(op_err)?;
    let matches = re.captures_all(input.as_bytes(), count.max(0) as usize);
    let subs = matches.len() as i64;
    let output = String::from_utf8_lossy(&tpl.substitute(input.as_bytes(), &matches)).into_owned();
    if mandatory_count != 0 && mandatory_count != subs {
        return Err(op_err(format!(
            "'{pattern}' should match {mandatory_count} times, but matches {subs} times in \
             '{input}'"
        )));
    }
    Ok(Value::from(output))
}

/// `regex_search(regex, *groups, ignorecase=False, multiline=False)`: the first match, or the
/// listed groups (`'\\1'`, `'\\g<name>'`) of it; `none` when nothing matches.
fn regex_search(
    state: &State,
    value: &Value,
    args: &[Value],
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let p = Params::new("regex_search", &[], kwargs);
    let ignorecase = p.kw_only("ignorecase")?.is_some_and(|v| v.is_true());
    let multiline = p.kw_only("multiline")?.is_some_and(|v| v.is_true());
    p.finish(0)?;
    let Some((pattern, group_args)) = args.split_first() else {
        return Err(op_err("regex_search: missing required argument 'regex'"));
    };
    let input = text(state, value, "regex_search")?;
    let re = compile_regex(&py_str(pattern), ignorecase, multiline)?;
    enum G {
        Idx(usize),
        Name(String),
    }
    let mut groups = Vec::new();
    for arg in group_args {
        let a = py_str(arg);
        if let Some(rest) = a.strip_prefix("\\g<") {
            let name = rest
                .split_once('>')
                .map(|(n, _)| n.to_string())
                .filter(|n| !n.is_empty() && !n.contains(char::is_whitespace))
                .ok_or_else(|| op_err(format!("regex_search: bad group argument '{a}'")))?;
            groups.push(match name.parse::<usize>() {
                Ok(i) => G::Idx(i),
                Err(_) => G::Name(name),
            });
        } else if let Some(rest) = a.strip_prefix('\\') {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            let idx = digits
                .parse::<usize>()
                .map_err(|_| op_err(format!("regex_search: bad group argument '{a}'")))?;
            groups.push(G::Idx(idx));
        } else {
            return Err(op_err(format!("regex_search: unknown argument '{a}'")));
        }
    }
    let Some(caps) = re.captures(input.as_bytes()) else {
        return Ok(Value::from(()));
    };
    let span = |i: usize| caps.get(i).copied().flatten().map(|(a, b)| &input[a..b]);
    if groups.is_empty() {
        return Ok(Value::from(span(0).unwrap_or("")));
    }
    let mut out = Vec::new();
    for g in groups {
        let m = match &g {
            G::Idx(i) if *i < re.group_count() => span(*i),
            G::Name(n) => match re.group_index(n) {
                Some(i) => span(i),
                None => return Err(op_err("regex_search: no such group")),
            },
            _ => return Err(op_err("regex_search: no such group")),
        };
        out.push(m.map_or(Value::from(()), Value::from));
    }
    Ok(Value::from(out))
}

/// `regex_findall(regex, multiline=False, ignorecase=False)`: Python's `re.findall`.
fn regex_findall(
    state: &State,
    value: &Value,
    args: &[Value],
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let p = Params::new("regex_findall", args, kwargs);
    let pattern = str_param(Some(p.required(0, "regex")?), "");
    let multiline = p.get(1, "multiline")?.is_some_and(|v| v.is_true());
    let ignorecase = p.get(2, "ignorecase")?.is_some_and(|v| v.is_true());
    p.finish(3)?;
    let input = text(state, value, "regex_findall")?;
    let re = compile_regex(&pattern, ignorecase, multiline)?;
    let groups = re.group_count() - 1;
    let group = |caps: &crate::pyre::Caps, i: usize| {
        Value::from(
            caps.get(i)
                .copied()
                .flatten()
                .map_or("", |(a, b)| &input[a..b]),
        )
    };
    let out: Vec<Value> = re
        .captures_all(input.as_bytes(), 0)
        .into_iter()
        .map(|caps| match groups {
            0 => group(&caps, 0),
            1 => group(&caps, 1),
            n => Value::from((1..=n).map(|i| group(&caps, i)).collect::<Vec<_>>()),
        })
        .collect();
    Ok(Value::from(out))
}

/// `regex_escape(re_type='python')`.
fn regex_escape(
    state: &State,
    value: &Value,
    args: &[Value],
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let p = Params::new("regex_escape", args, kwargs);
    let re_type = str_param(p.get(0, "re_type")?, "python");
    p.finish(1)?;
    let s = text(state, value, "regex_escape")?;
    let special: &str = match re_type.as_str() {
        "python" => "()[]{}?*+-|^$\\.&~# \t\n\r\x0b\x0c",
        "posix_basic" => "].[^$*\\",
        "posix_extended" => return Err(op_err("Regex type (posix_extended) not yet implemented")),
        other => return Err(op_err(format!("Invalid regex type ({other})"))),
    };
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if special.contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    Ok(Value::from(out))
}

// ---------------------------------------------------------------------------------------------
// JSON and YAML.

struct JsonStyle {
    indent: Option<String>,
    item_sep: String,
    key_sep: String,
    sort_keys: bool,
    ensure_ascii: bool,
}

/// A JSON string as Python's `json.dumps` writes it (`ensure_ascii` escapes all but
/// printable ASCII).
pub(crate) fn json_string(out: &mut String, s: &str, ensure_ascii: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (ensure_ascii && !(' '..='~').contains(&c)) => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn json_number(v: &Value) -> String {
    if v.is_integer() {
        return v.to_string();
    }
    match f64::try_from(v.clone()) {
        Ok(f) if f.is_nan() => "NaN".into(),
        Ok(f) if f.is_infinite() => if f > 0.0 { "Infinity" } else { "-Infinity" }.into(),
        Ok(f) => py_float_repr(f),
        Err(_) => v.to_string(),
    }
}

fn json_key(k: &Value) -> Result<String, Error> {
    Ok(match k.kind() {
        ValueKind::String => k.as_str().unwrap_or("").to_string(),
        ValueKind::Number => json_number(k),
        ValueKind::Bool => if k.is_true() { "true" } else { "false" }.into(),
        ValueKind::None => "null".into(),
        other => {
            return Err(op_err(format!(
                "keys must be str, int, float, bool or None, not {other}"
            )))
        }
    })
}

fn json_write(out: &mut String, v: &Value, st: &JsonStyle, depth: usize) -> Result<(), Error> {
    let sep = |out: &mut String, first: bool, level: usize| {
        if !first {
            out.push_str(&st.item_sep);
        }
        if let Some(ind) = &st.indent {
            out.push('\n');
            out.push_str(&ind.repeat(level));
        }
    };
    let close = |out: &mut String, ch: char| {
        if let Some(ind) = &st.indent {
            out.push('\n');
            out.push_str(&ind.repeat(depth));
        }
        out.push(ch);
    };
    match v.kind() {
        ValueKind::Undefined => return Err(op_err("cannot serialize an undefined value to json")),
        ValueKind::Invalid => return Err(op_err("cannot serialize an invalid value to json")),
        ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if v.is_true() { "true" } else { "false" }),
        ValueKind::Number => out.push_str(&json_number(v)),
        ValueKind::String | ValueKind::Bytes => {
            let s = v.to_str().unwrap_or_default();
            json_string(out, &s, st.ensure_ascii);
        }
        ValueKind::Seq | ValueKind::Iterable => {
            let items = seq_items(v)?;
            if items.is_empty() {
                out.push_str("[]");
            } else {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    sep(out, i == 0, depth + 1);
                    json_write(out, item, st, depth + 1)?;
                }
                close(out, ']');
            }
        }
        ValueKind::Map => {
            let mut pairs = map_pairs(v)?;
            if st.sort_keys {
                pairs.sort_by(|a, b| a.0.cmp(&b.0));
            }
            if pairs.is_empty() {
                out.push_str("{}");
            } else {
                out.push('{');
                for (i, (k, item)) in pairs.iter().enumerate() {
                    sep(out, i == 0, depth + 1);
                    json_string(out, &json_key(k)?, st.ensure_ascii);
                    out.push_str(&st.key_sep);
                    json_write(out, item, st, depth + 1)?;
                }
                close(out, '}');
            }
        }
        ValueKind::Plain => json_string(out, &v.to_string(), st.ensure_ascii),
        _ => json_string(out, &v.to_string(), st.ensure_ascii),
    }
    Ok(())
}

/// Serializes like Python's `json.dumps(value, indent=..., sort_keys=..., separators=...,
/// ensure_ascii=...)`.
fn json_dumps(
    value: &Value,
    p: &Params<'_>,
    indent_default: Option<Value>,
    sort_default: bool,
    seps_default: Option<(&str, &str)>,
) -> Result<String, Error> {
    let indent_val = p.kw_only("indent")?.or(indent_default);
    let indent = match indent_val {
        None => None,
        Some(v) if v.is_none() => None,
        Some(v) if v.kind() == ValueKind::String => Some(v.as_str().unwrap_or("").to_string()),
        Some(v) => Some(" ".repeat(int_param("to_json", "indent", &v)?.max(0) as usize)),
    };
    let sort_keys = p
        .kw_only("sort_keys")?
        .map_or(sort_default, |v| v.is_true());
    let ensure_ascii = p.kw_only("ensure_ascii")?.is_none_or(|v| v.is_true());
    let (item_sep, key_sep) = match p.kw_only("separators")? {
        Some(s) if s.kind() == ValueKind::Seq && s.len() == Some(2) => (
            py_str(&s.get_item_by_index(0)?),
            py_str(&s.get_item_by_index(1)?),
        ),
        Some(s) if !s.is_none() => {
            return Err(op_err("separators must be a list of two strings"));
        }
        _ => match seps_default {
            Some((a, b)) => (a.to_string(), b.to_string()),
            None if indent.is_some() => (",".into(), ": ".into()),
            None => (", ".into(), ": ".into()),
        },
    };
    p.ignore(&["vault_to_text", "preprocess_unsafe", "profile", "allow_nan"])?;
    p.finish(0)?;
    let st = JsonStyle {
        indent,
        item_sep,
        key_sep,
        sort_keys,
        ensure_ascii,
    };
    let mut out = String::new();
    json_write(&mut out, value, &st, 0)?;
    Ok(out)
}

/// `to_json(**kwargs)`: compact JSON with Python's default `", "`/`": "` separators and
/// `ensure_ascii`.
fn to_json(state: &State, value: &Value, kwargs: Kwargs) -> Result<Value, Error> {
    require_defined(state, value, "to_json")?;
    let p = Params::new("to_json", &[], kwargs);
    json_dumps(value, &p, None, false, None).map(Value::from)
}

/// `to_nice_json(indent=4, sort_keys=True)`.
fn to_nice_json(
    state: &State,
    value: &Value,
    args: &[Value],
    kwargs: Kwargs,
) -> Result<Value, Error> {
    require_defined(state, value, "to_nice_json")?;
    let p = Params::new("to_nice_json", &[], kwargs);
    let indent = args.first().cloned().unwrap_or(Value::from(4));
    let sort = match args.get(1) {
        Some(s) => s.is_true(),
        None => true,
    };
    if args.len() > 2 {
        return Err(op_err(
            "to_nice_json: takes at most 2 positional argument(s)",
        ));
    }
    json_dumps(value, &p, Some(indent), sort, Some((",", ": "))).map(Value::from)
}

pub(crate) fn json_to_value(j: serde_json::Value) -> Value {
    match j {
        serde_json::Value::Null => Value::from(()),
        serde_json::Value::Bool(b) => Value::from(b),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                Value::from(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        serde_json::Value::String(s) => Value::from(s),
        serde_json::Value::Array(a) => {
            Value::from(a.into_iter().map(json_to_value).collect::<Vec<_>>())
        }
        serde_json::Value::Object(o) => map_value(
            o.into_iter()
                .map(|(k, v)| (Value::from(k), json_to_value(v)))
                .collect(),
        ),
    }
}

/// `from_json`: parses a JSON string.
fn from_json(state: &State, value: &Value, kwargs: Kwargs) -> Result<Value, Error> {
    let p = Params::new("from_json", &[], kwargs);
    p.ignore(&["profile"])?;
    p.finish(0)?;
    require_defined(state, value, "from_json")?;
    let Some(s) = value.as_str() else {
        return Err(op_err(format!(
            "from_json expects a string, got {}",
            value.kind()
        )));
    };
    serde_json::from_str::<serde_json::Value>(s)
        .map(json_to_value)
        .map_err(|e| op_err(format!("from_json: invalid json: {e}")))
}

/// A copy of `v` with every mapping's keys sorted (PyYAML's default `sort_keys=True`).
fn sorted_keys(v: &Value) -> Result<Value, Error> {
    Ok(match v.kind() {
        ValueKind::Map => {
            let mut pairs = map_pairs(v)?;
            pairs.sort_by(|a, b| a.0.cmp(&b.0));
            let mut m = IndexMap::new();
            for (k, item) in pairs {
                m.insert(k, sorted_keys(&item)?);
            }
            map_value(m)
        }
        ValueKind::Seq | ValueKind::Iterable => Value::from(
            seq_items(v)?
                .iter()
                .map(sorted_keys)
                .collect::<Result<Vec<_>, _>>()?,
        ),
        _ => v.clone(),
    })
}

fn yaml_dump(
    value: &Value,
    p: &Params<'_>,
    default_indent: usize,
    flow_default: bool,
) -> Result<String, Error> {
    let indent = match p.kw_only("indent")? {
        Some(i) => int_param("to_yaml", "indent", &i)?.clamp(2, 9) as usize,
        None => default_indent,
    };
    let sort_keys = p.kw_only("sort_keys")?.is_none_or(|v| v.is_true());
    // `to_yaml` passes PyYAML's `default_flow_style=None` unless told otherwise.
    let flow = match p.kw_only("default_flow_style")? {
        Some(v) => v.is_none() || v.is_true(),
        None => flow_default,
    };
    let explicit_start = p.kw_only("explicit_start")?.is_some_and(|v| v.is_true());
    let default_style = p.kw_only("default_style")?.filter(|v| !v.is_none());
    let canonical = p.kw_only("canonical")?.is_some_and(|v| v.is_true());
    p.ignore(&[
        "width",
        "allow_unicode",
        "vault_behavior",
        "explicit_end",
        "line_break",
    ])?;
    p.finish(0)?;
    let v = if sort_keys {
        sorted_keys(value)?
    } else {
        value.clone()
    };
    let body = if canonical {
        crate::yaml::to_yaml_canonical(&v)
    } else if let (Some(style), Some(text)) = (&default_style, v.as_str()) {
        crate::yaml::to_yaml_styled_scalar(text, &py_str(style), indent)
    } else if flow {
        crate::yaml::to_yaml_string_flow(&v, indent)
    } else {
        crate::yaml::to_yaml_string(&v, indent)
    };
    Ok(if explicit_start {
        format!("---\n{body}")
    } else {
        body
    })
}

/// `to_yaml(indent=2, sort_keys=True)`: PyYAML's `default_flow_style=None`, collections of
/// scalars in flow style.
fn to_yaml(state: &State, value: &Value, kwargs: Kwargs) -> Result<Value, Error> {
    require_defined(state, value, "to_yaml")?;
    let p = Params::new("to_yaml", &[], kwargs);
    yaml_dump(value, &p, 2, true).map(Value::from)
}

/// `to_nice_yaml(indent=4, sort_keys=True)`.
fn to_nice_yaml(
    state: &State,
    value: &Value,
    args: &[Value],
    kwargs: Kwargs,
) -> Result<Value, Error> {
    require_defined(state, value, "to_nice_yaml")?;
    let p = Params::new("to_nice_yaml", &[], kwargs);
    if args.len() > 1 {
        return Err(op_err(
            "to_nice_yaml: takes at most 1 positional argument(s)",
        ));
    }
    let indent = match args.first() {
        Some(i) => int_param("to_nice_yaml", "indent", i)?.clamp(2, 9) as usize,
        None => 4,
    };
    yaml_dump(value, &p, indent, false).map(Value::from)
}

/// `from_yaml`: parses a YAML string (YAML 1.1 scalars, like PyYAML); `none` stays `none`
/// and other non-strings pass through.
fn from_yaml(state: &State, value: &Value) -> Result<Value, Error> {
    require_defined(state, value, "from_yaml")?;
    match value.as_str() {
        Some(s) => crate::yaml::value_from_yaml_str(s)
            .map_err(|e| op_err(format!("from_yaml: invalid yaml: {e}"))),
        None => Ok(value.clone()),
    }
}

// ---------------------------------------------------------------------------------------------
// Paths and shell.

/// `os.path.basename`.
fn basename(state: &State, value: &Value) -> Result<Value, Error> {
    let p = text(state, value, "basename")?;
    let i = p.rfind('/').map_or(0, |i| i + 1);
    Ok(Value::from(&p[i..]))
}

/// `os.path.dirname`.
fn dirname(state: &State, value: &Value) -> Result<Value, Error> {
    let p = text(state, value, "dirname")?;
    let i = p.rfind('/').map_or(0, |i| i + 1);
    let head = &p[..i];
    let head = if !head.is_empty() && head.chars().any(|c| c != '/') {
        head.trim_end_matches('/')
    } else {
        head
    };
    Ok(Value::from(head))
}

/// `os.path.splitext`: `[root, ext]`; leading dots of the file name do not start an extension.
fn splitext(state: &State, value: &Value) -> Result<Value, Error> {
    let p = text(state, value, "splitext")?;
    let sep = p.rfind('/').map_or(0, |i| i + 1);
    if let Some(dot) = p.rfind('.') {
        if dot > sep && p[sep..dot].chars().any(|c| c != '.') {
            return Ok(Value::from(vec![
                Value::from(&p[..dot]),
                Value::from(&p[dot..]),
            ]));
        }
    }
    Ok(Value::from(vec![Value::from(p), Value::from("")]))
}

/// The home directory of `user` (or of the current user) from the password database.
fn passwd_home(user: Option<&str>) -> Option<String> {
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: `passwd` is plain data; getpw*_r fill it with pointers into `buf`, which
    // outlives every use of them below.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    let rc = match user {
        Some(name) => {
            let cname = std::ffi::CString::new(name).ok()?;
            // SAFETY: all pointers are valid for the duration of the call.
            unsafe {
                libc::getpwnam_r(
                    cname.as_ptr(),
                    &mut pwd,
                    buf.as_mut_ptr(),
                    buf.len(),
                    &mut result,
                )
            }
        }
        // SAFETY: all pointers are valid for the duration of the call.
        None => unsafe {
            libc::getpwuid_r(
                libc::getuid(),
                &mut pwd,
                buf.as_mut_ptr(),
                buf.len(),
                &mut result,
            )
        },
    };
    if rc != 0 || result.is_null() || pwd.pw_dir.is_null() {
        return None;
    }
    // SAFETY: pw_dir points to a NUL-terminated string inside `buf`.
    let dir = unsafe { std::ffi::CStr::from_ptr(pwd.pw_dir) };
    Some(dir.to_string_lossy().into_owned())
}

/// Python's `os.path.expanduser`, evaluated on the controller.
pub(crate) fn expand_user(path: &str) -> String {
    if !path.starts_with('~') {
        return path.to_string();
    }
    let i = path[1..].find('/').map_or(path.len(), |j| j + 1);
    let home = if i == 1 {
        match std::env::var("HOME") {
            Ok(h) => Some(h),
            Err(_) => passwd_home(None),
        }
    } else {
        passwd_home(Some(&path[1..i]))
    };
    let Some(home) = home else {
        return path.to_string();
    };
    let joined = format!("{}{}", home.trim_end_matches('/'), &path[i..]);
    if joined.is_empty() {
        "/".into()
    } else {
        joined
    }
}

/// `os.path.expanduser`.
fn expanduser(state: &State, value: &Value) -> Result<Value, Error> {
    Ok(Value::from(expand_user(&text(state, value, "expanduser")?)))
}

/// `path_join`: Python's `os.path.join` over a list (or a single string).
fn path_join(state: &State, value: &Value) -> Result<Value, Error> {
    require_defined(state, value, "path_join")?;
    let parts: Vec<String> = match value.kind() {
        ValueKind::String => vec![py_str(value)],
        ValueKind::Seq | ValueKind::Iterable => seq_items(value)?.iter().map(py_str).collect(),
        other => {
            return Err(op_err(format!(
                "path_join expects string or sequence, got {other} instead"
            )))
        }
    };
    let mut path = String::new();
    for (i, b) in parts.iter().enumerate() {
        if i == 0 || b.starts_with('/') {
            path = b.clone();
        } else if path.is_empty() || path.ends_with('/') {
            path.push_str(b);
        } else {
            path.push('/');
            path.push_str(b);
        }
    }
    Ok(Value::from(path))
}

/// `quote`: POSIX shell quoting; `none` quotes as the empty string.
fn quote(state: &State, value: &Value) -> Result<Value, Error> {
    require_defined(state, value, "quote")?;
    let s = if value.is_none() {
        String::new()
    } else {
        py_str(value)
    };
    Ok(Value::from(crate::shell::quote(&s)))
}

// ---------------------------------------------------------------------------------------------
// Encodings and hashes.

fn encode_text(s: &str, encoding: &str) -> Result<Vec<u8>, Error> {
    match encoding.to_ascii_lowercase().replace('_', "-").as_str() {
        "ascii" if !s.is_ascii() => Err(op_err("'ascii' codec can't encode the input")),
        "utf-8" | "utf8" | "ascii" => Ok(s.as_bytes().to_vec()),
        "utf-16-le" | "utf-16le" => Ok(s.encode_utf16().flat_map(u16::to_le_bytes).collect()),
        "utf-16-be" | "utf-16be" => Ok(s.encode_utf16().flat_map(u16::to_be_bytes).collect()),
        "latin-1" | "latin1" | "iso-8859-1" => s
            .chars()
            .map(|c| {
                u8::try_from(u32::from(c))
                    .map_err(|_| op_err("'latin-1' codec can't encode the input"))
            })
            .collect(),
        other => Err(op_err(format!("unsupported encoding '{other}'"))),
    }
}

fn decode_bytes(b: &[u8], encoding: &str) -> Result<String, Error> {
    let units = |le: bool| -> Vec<u16> {
        b.chunks(2)
            .map(|c| {
                let pair = [c[0], c.get(1).copied().unwrap_or(0)];
                if le {
                    u16::from_le_bytes(pair)
                } else {
                    u16::from_be_bytes(pair)
                }
            })
            .collect()
    };
    match encoding.to_ascii_lowercase().replace('_', "-").as_str() {
        "utf-8" | "utf8" | "ascii" => Ok(String::from_utf8_lossy(b).into_owned()),
        "utf-16-le" | "utf-16le" => Ok(String::from_utf16_lossy(&units(true))),
        "utf-16-be" | "utf-16be" => Ok(String::from_utf16_lossy(&units(false))),
        "latin-1" | "latin1" | "iso-8859-1" => Ok(b.iter().map(|&c| char::from(c)).collect()),
        other => Err(op_err(format!("unsupported encoding '{other}'"))),
    }
}

/// `b64encode(encoding='utf-8', urlsafe=False)`.
fn b64encode(state: &State, value: &Value, args: &[Value], kwargs: Kwargs) -> Result<Value, Error> {
    use base64::Engine as _;
    let p = Params::new("b64encode", args, kwargs);
    let encoding = str_param(p.get(0, "encoding")?, "utf-8");
    let urlsafe = p.get(1, "urlsafe")?.is_some_and(|v| v.is_true());
    p.finish(2)?;
    require_defined(state, value, "b64encode")?;
    let bytes = match value.as_bytes() {
        Some(b) if value.kind() == ValueKind::Bytes => b.to_vec(),
        _ => encode_text(&py_str(value), &encoding)?,
    };
    let engine = if urlsafe {
        &base64::engine::general_purpose::URL_SAFE
    } else {
        &base64::engine::general_purpose::STANDARD
    };
    Ok(Value::from(engine.encode(bytes)))
}

/// `b64decode(encoding='utf-8', urlsafe=False)`: characters outside the alphabet are
/// skipped like Python's non-validating decoder; missing padding is tolerated.
fn b64decode(state: &State, value: &Value, args: &[Value], kwargs: Kwargs) -> Result<Value, Error> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    use base64::Engine as _;
    let p = Params::new("b64decode", args, kwargs);
    let encoding = str_param(p.get(0, "encoding")?, "utf-8");
    let urlsafe = p.get(1, "urlsafe")?.is_some_and(|v| v.is_true());
    p.finish(2)?;
    let s = text(state, value, "b64decode")?;
    let cleaned: String = s
        .chars()
        .map(|c| match (urlsafe, c) {
            (true, '-') => '+',
            (true, '_') => '/',
            (_, c) => c,
        })
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '='))
        .collect();
    let cleaned = cleaned.trim_end_matches('=');
    let config = GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(true);
    let engine = GeneralPurpose::new(&base64::alphabet::STANDARD, config);
    let bytes = engine
        .decode(cleaned)
        .map_err(|e| op_err(format!("b64decode: invalid base64 input: {e}")))?;
    decode_bytes(&bytes, &encoding).map(Value::from)
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn hash_bytes(state: &State, value: &Value, what: &str) -> Result<Vec<u8>, Error> {
    require_defined(state, value, what)?;
    Ok(match value.as_bytes() {
        Some(b) => b.to_vec(),
        None => py_str(value).into_bytes(),
    })
}

fn digest(data: &[u8], hashtype: &str) -> Result<String, Error> {
    use sha2::Digest as _;
    Ok(match hashtype.to_ascii_lowercase().as_str() {
        "sha1" => hex(&sha1::Sha1::digest(data)),
        "md5" => hex(&md5::Md5::digest(data)),
        "sha224" => hex(&sha2::Sha224::digest(data)),
        "sha256" => hex(&sha2::Sha256::digest(data)),
        "sha384" => hex(&sha2::Sha384::digest(data)),
        "sha512" => hex(&sha2::Sha512::digest(data)),
        other => return Err(op_err(format!("unsupported hash type '{other}'"))),
    })
}

/// `hash(hashtype='sha1')`: hex digest of the value's text.
fn hash(state: &State, value: &Value, args: &[Value], kwargs: Kwargs) -> Result<Value, Error> {
    let p = Params::new("hash", args, kwargs);
    let hashtype = str_param(p.get(0, "hashtype")?, "sha1");
    p.finish(1)?;
    digest(&hash_bytes(state, value, "hash")?, &hashtype).map(Value::from)
}

/// `sha1` / `checksum`: SHA-1 hex digest.
fn sha1_filter(state: &State, value: &Value) -> Result<Value, Error> {
    digest(&hash_bytes(state, value, "sha1")?, "sha1").map(Value::from)
}

/// `md5`: MD5 hex digest.
fn md5_filter(state: &State, value: &Value) -> Result<Value, Error> {
    digest(&hash_bytes(state, value, "md5")?, "md5").map(Value::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTEXT: &str = r#"
users:
  - {name: alice, uid: 1, groups: [wheel]}
  - {name: bob, uid: 2}
d1: {a: 1, b: {x: 1, y: [1, 2]}}
d2: {b: {y: [3], z: 2}, c: 3}
l1: {k: [1, 2, 3]}
l2: {k: [3, 4]}
nested: [1, [2, [3, [4]]], null, 'None']
none_value: null
empty: ''
path: /etc/nginx/nginx.conf
ver: '1.2.3'
hosts:
  web1: {ip: 10.0.0.1}
  web2: {ip: 10.0.0.2}
"#;

    fn check(cases: &[(&str, &str)]) {
        crate::template::test_cases::check(CONTEXT, cases)
    }

    fn check_errors(cases: &[(&str, &str)]) {
        crate::template::test_cases::check_errors(CONTEXT, cases)
    }

    #[test]
    fn default_and_mandatory() {
        check(&[
            ("{{ x | default('a') }}", "a"),
            ("{{ x | d('a') }}", "a"),
            ("{{ x | default }}", ""),
            ("{{ '' | default('a') }}", ""),
            ("{{ '' | default('a', true) }}", "a"),
            ("{{ '' | default('a', boolean=true) }}", "a"),
            ("{{ 0 | default('a', true) }}", "a"),
            // A defined null stays null; inside text it prints nothing (ansible-core's finalize).
            ("{{ none_value | default('a') }}", ""),
            ("{{ none_value | default('a', true) }}", "a"),
            ("{{ x | default(none) is none }}", "True"),
            ("{{ x | default(default_value='k') }}", "k"),
            ("{{ ver | default('a') }}", "1.2.3"),
            ("{{ d1.missing | default('m') }}", "m"),
            ("{{ ver | mandatory }}", "1.2.3"),
        ]);
        check_errors(&[
            ("{{ x | mandatory }}", "Mandatory variable not defined."),
            ("{{ x | mandatory('give x') }}", "give x"),
        ]);
    }

    #[test]
    fn conversions() {
        check(&[
            ("{{ 'no' | bool }}", "False"),
            ("{{ 'yes' | bool }}", "True"),
            ("{{ 'YES' | bool }}", "True"),
            ("{{ 'On' | bool }}", "True"),
            ("{{ 'true' | bool }}", "True"),
            ("{{ '1' | bool }}", "True"),
            ("{{ 'y' | bool }}", "False"),
            ("{{ 'off' | bool }}", "False"),
            ("{{ 'anything' | bool }}", "False"),
            ("{{ 1 | bool }}", "True"),
            ("{{ 1.0 | bool }}", "True"),
            ("{{ 2 | bool }}", "False"),
            ("{{ 0 | bool }}", "False"),
            ("{{ true | bool }}", "True"),
            ("{{ none_value | bool }}", "False"),
            ("{{ '42' | int }}", "42"),
            ("{{ ' -7 ' | int }}", "-7"),
            ("{{ '42.9' | int }}", "42"),
            ("{{ 42.9 | int }}", "42"),
            ("{{ -3.7 | int }}", "-3"),
            ("{{ 'abc' | int }}", "0"),
            ("{{ 'abc' | int(5) }}", "5"),
            ("{{ 'abc' | int(default=7) }}", "7"),
            ("{{ '0x1F' | int(base=16) }}", "31"),
            ("{{ '1F' | int(base=16) }}", "31"),
            ("{{ '0x1F' | int }}", "0"),
            ("{{ '0b101' | int(0, 0) }}", "5"),
            ("{{ '0o17' | int(base=8) }}", "15"),
            ("{{ '1_000' | int }}", "1000"),
            ("{{ true | int }}", "1"),
            ("{{ none_value | int }}", "0"),
            ("{{ '3.5' | float }}", "3.5"),
            ("{{ '3' | float }}", "3.0"),
            ("{{ 'x' | float }}", "0.0"),
            ("{{ 'x' | float(1.5) }}", "1.5"),
            ("{{ 2 | float }}", "2.0"),
            ("{{ 42 | string }}", "42"),
            ("{{ (42 | string) is string }}", "True"),
            ("{{ 'ABC' | lower }}", "abc"),
            ("{{ 'abc' | upper }}", "ABC"),
            ("{{ 'a-b-c' | replace('-', '+') }}", "a+b+c"),
            ("{{ 'a-b-c' | replace('-', '+', 1) }}", "a+b-c"),
            ("{{ '  x  ' | trim }}", "x"),
            ("{{ 'a,b,c' | split(',') | last }}", "c"),
            ("{{ 'a b  c' | split | length }}", "3"),
        ]);
    }

    #[test]
    fn ternary_and_quote() {
        check(&[
            ("{{ true | ternary('y', 'n') }}", "y"),
            ("{{ '' | ternary('y', 'n') }}", "n"),
            ("{{ none_value | ternary('y', 'n') }}", "n"),
            ("{{ none_value | ternary('y', 'n', 'z') }}", "z"),
            ("{{ false | ternary('y', 'n', 'z') }}", "n"),
            ("{{ 'simple' | quote }}", "simple"),
            ("{{ \"it's here\" | quote }}", "'it'\\''s here'"),
            ("{{ '' | quote }}", "''"),
            ("{{ none_value | quote }}", "''"),
        ]);
    }

    #[test]
    fn lists_and_sets() {
        check(&[
            ("{{ [1, 2, 3] | join(',') }}", "1,2,3"),
            ("{{ [1, 2, 3] | length }}", "3"),
            (
                "{{ [3, 1, 2] | min }}/{{ [3, 1, 2] | max }}/{{ [3, 1, 2] | sum }}",
                "1/3/6",
            ),
            ("{{ [3, 1, 2] | first }}{{ [3, 1, 2] | last }}", "32"),
            ("{{ [1, 2, 2, 1, 3] | unique | list }}", "[1, 2, 3]"),
            ("{{ nested | flatten }}", "[1, 2, 3, 4]"),
            ("{{ nested | flatten(levels=1) }}", "[1, 2, [3, [4]]]"),
            ("{{ nested | flatten(1) }}", "[1, 2, [3, [4]]]"),
            (
                "{{ [1, none_value, [2]] | flatten(skip_nulls=false) }}",
                "[1, None, 2]",
            ),
            ("{{ [1, 2, 3, 4] | difference([2, 4, 5]) }}", "[1, 3]"),
            ("{{ [1, 2, 3, 2] | intersect([2, 3, 5]) }}", "[2, 3]"),
            ("{{ [1, 2, 3] | union([3, 4, 1]) }}", "[1, 2, 3, 4]"),
            (
                "{{ [1, 2, 3] | symmetric_difference([3, 4]) }}",
                "[1, 2, 4]",
            ),
            (
                "{{ [1, 2] | zip(['a', 'b', 'c']) | list }}",
                "[(1, 'a'), (2, 'b')]",
            ),
            (
                "{{ [1, 2] | zip_longest(['a', 'b', 'c'], fillvalue='-') }}",
                "[[1, 'a'], [2, 'b'], ['-', 'c']]",
            ),
            (
                "{{ users | map(attribute='name') | join(',') }}",
                "alice,bob",
            ),
            ("{{ ['a', 'b'] | map('upper') | join }}", "AB"),
            (
                "{{ users | selectattr('groups', 'defined') | map(attribute='name') | list }}",
                "['alice']",
            ),
            (
                "{{ users | rejectattr('groups', 'defined') | map(attribute='name') | list }}",
                "['bob']",
            ),
            (
                "{{ users | selectattr('uid', '==', 2) | map(attribute='name') | first }}",
                "bob",
            ),
            (
                "{{ ['web1', 'db1', 'web2'] | select('match', 'web') | list }}",
                "['web1', 'web2']",
            ),
            (
                "{{ ['web1', 'db1', 'aweb'] | reject('search', 'web') | list }}",
                "['db1']",
            ),
            (
                "{{ ['web1', 'db1'] | map('regex_replace', '\\\\d', 'N') | list }}",
                "['webN', 'dbN']",
            ),
            (
                "{{ ['web1', 'web2'] | map('extract', hosts, 'ip') | list }}",
                "['10.0.0.1', '10.0.0.2']",
            ),
            ("{{ 'web1' | extract(hosts) }}", "{'ip': '10.0.0.1'}"),
        ]);
    }

    #[test]
    fn dicts() {
        check(&[
            ("{{ {'a': 1} | combine({'b': 2}) }}", "{'a': 1, 'b': 2}"),
            (
                "{{ {'a': 1, 'b': 1} | combine({'b': 2}, {'c': 3}) }}",
                "{'a': 1, 'b': 2, 'c': 3}",
            ),
            ("{{ [{'a': 1}, {'a': 2}] | combine }}", "{'a': 2}"),
            (
                "{{ d1 | combine(d2) }}",
                "{'a': 1, 'b': {'y': [3], 'z': 2}, 'c': 3}",
            ),
            (
                "{{ d1 | combine(d2, recursive=true) }}",
                "{'a': 1, 'b': {'x': 1, 'y': [3], 'z': 2}, 'c': 3}",
            ),
            (
                "{{ d1 | combine(d2, recursive=true, list_merge='append') }}",
                "{'a': 1, 'b': {'x': 1, 'y': [1, 2, 3], 'z': 2}, 'c': 3}",
            ),
            ("{{ l1 | combine(l2) }}", "{'k': [3, 4]}"),
            (
                "{{ l1 | combine(l2, list_merge='keep') }}",
                "{'k': [1, 2, 3]}",
            ),
            (
                "{{ l1 | combine(l2, list_merge='append') }}",
                "{'k': [1, 2, 3, 3, 4]}",
            ),
            (
                "{{ l1 | combine(l2, list_merge='prepend') }}",
                "{'k': [3, 4, 1, 2, 3]}",
            ),
            (
                "{{ l1 | combine(l2, list_merge='append_rp') }}",
                "{'k': [1, 2, 3, 4]}",
            ),
            (
                "{{ l1 | combine(l2, list_merge='prepend_rp') }}",
                "{'k': [3, 4, 1, 2]}",
            ),
            (
                "{{ l1 | combine(l1, list_merge='append') }}",
                "{'k': [1, 2, 3]}",
            ),
            ("{{ [] | combine }}", "{}"),
            (
                "{{ {'a': 1, 'b': 2} | dict2items }}",
                "[{'key': 'a', 'value': 1}, {'key': 'b', 'value': 2}]",
            ),
            (
                "{{ {'a': 1} | dict2items('k', 'v') }}",
                "[{'k': 'a', 'v': 1}]",
            ),
            ("{{ {'a': 1} | dict2items | items2dict }}", "{'a': 1}"),
            (
                "{{ [{'n': 'x', 'v': 1}] | items2dict(key_name='n', value_name='v') }}",
                "{'x': 1}",
            ),
            (
                "{% for k, v in {'b': 1, 'a': 2} | dictsort %}{{ k }}{{ v }}{% endfor %}",
                "a2b1",
            ),
            (
                "{% for k, v in {'b': 1, 'a': 2} | items %}{{ k }}{{ v }}{% endfor %}",
                "b1a2",
            ),
            ("{{ {'b': 1, 'a': 2} | list }}", "['b', 'a']"),
        ]);
        check_errors(&[
            (
                "{{ d1 | combine(foo=1) }}",
                "'recursive' and 'list_merge' are the only valid keyword arguments",
            ),
            ("{{ d1 | combine([1]) }}", "expected dicts"),
            ("{{ d1 | combine(d2, list_merge='bogus') }}", "list_merge"),
            ("{{ [1] | dict2items }}", "dict2items requires a dictionary"),
            ("{{ [{'a': 1}] | items2dict }}", "keys 'key' and 'value'"),
        ]);
    }

    #[test]
    fn regexes() {
        check(&[
            (
                "{{ 'ansible' | regex_replace('^a.*i(.*)$', 'a\\\\1') }}",
                "able",
            ),
            (
                "{{ 'foobar' | regex_replace('(?P<x>o+)', '[\\\\g<x>]') }}",
                "f[oo]bar",
            ),
            (
                "{{ 'foobar' | regex_replace('(o)', '\\\\g<1>\\\\g<0>') }}",
                "foooobar",
            ),
            (
                "{{ 'ABC' | regex_replace('b', 'x', ignorecase=true) }}",
                "AxC",
            ),
            (
                "{{ 'a\\nb' | regex_replace('^', '> ', multiline=true) }}",
                "> a\n> b",
            ),
            ("{{ 'aaa' | regex_replace('a', 'b', count=2) }}", "bba"),
            ("{{ 'a.b' | regex_replace('\\\\.', '$') }}", "a$b"),
            ("{{ 'x{y}' | regex_replace('{y}', 'z') }}", "xz"),
            ("{{ 'ab' | regex_replace('(a)(x)?', '[\\\\2]') }}", "[]b"),
            (
                "{{ 'a1b22' | regex_replace('\\\\d', 'N', mandatory_count=3) }}",
                "aNbNN",
            ),
            (
                "{{ 'server1.example.com' | regex_search('server\\\\d') }}",
                "server1",
            ),
            ("{{ 'nothing' | regex_search('\\\\d') is none }}", "True"),
            (
                "{{ 'k=v' | regex_search('(\\\\w)=(\\\\w)', '\\\\2', '\\\\1') }}",
                "['v', 'k']",
            ),
            (
                "{{ 'k=v' | regex_search('(?P<key>\\\\w)=', '\\\\g<key>') }}",
                "['k']",
            ),
            ("{{ 'ABC' | regex_search('b', ignorecase=true) }}", "B"),
            (
                "{{ 'a1b22c333' | regex_findall('\\\\d+') }}",
                "['1', '22', '333']",
            ),
            (
                "{{ 'k1=v1 k2=v2' | regex_findall('(\\\\w+)=(\\\\w+)') }}",
                "[['k1', 'v1'], ['k2', 'v2']]",
            ),
            (
                "{{ 'k1=v1 k2=v2' | regex_findall('(\\\\w+)=') }}",
                "['k1', 'k2']",
            ),
            (
                "{{ 'AbA' | regex_findall('a', ignorecase=true) | length }}",
                "2",
            ),
            ("{{ 'a.b*c' | regex_escape }}", "a\\.b\\*c"),
            (
                "{{ '^f.*o(.*)$' | regex_escape }}",
                "\\^f\\.\\*o\\(\\.\\*\\)\\$",
            ),
            ("{{ 'a b-c' | regex_escape }}", "a\\ b\\-c"),
            (
                "{{ '^f.*o(.*)$' | regex_escape('posix_basic') }}",
                "\\^f\\.\\*o(\\.\\*)\\$",
            ),
            (
                "{{ 'x.y' | regex_replace('x.y' | regex_escape, 'ok') }}",
                "ok",
            ),
        ]);
        check_errors(&[
            (
                "{{ 'a1b' | regex_replace('\\\\d', 'N', mandatory_count=2) }}",
                "should match 2 times",
            ),
            (
                "{{ 'ab' | regex_replace('(a)', '\\\\2') }}",
                "invalid group reference",
            ),
            (
                "{{ 'ab' | regex_replace('(', 'x') }}",
                "invalid regular expression",
            ),
            ("{{ 'ab' | regex_escape('pcre') }}", "Invalid regex type"),
        ]);
    }

    #[test]
    fn json_and_yaml() {
        check(&[
            (
                "{{ {'b': 1, 'a': [1, 2.5, none_value, true]} | to_json }}",
                "{\"b\": 1, \"a\": [1, 2.5, null, true]}",
            ),
            (
                "{{ {'b': 1, 'a': 2} | to_json(sort_keys=true) }}",
                "{\"a\": 2, \"b\": 1}",
            ),
            ("{{ 'é\"\\n' | to_json }}", "\"\\u00e9\\\"\\n\""),
            ("{{ 'é' | to_json(ensure_ascii=false) }}", "\"é\""),
            (
                "{{ [1, {'a': 2}] | to_json(indent=2) }}",
                "[\n  1,\n  {\n    \"a\": 2\n  }\n]",
            ),
            (
                "{{ {'b': 1, 'a': [1, 2], 'c': {}} | to_nice_json }}",
                "{\n    \"a\": [\n        1,\n        2\n    ],\n    \"b\": 1,\n    \"c\": {}\n}",
            ),
            (
                "{{ {'b': 1, 'a': 2} | to_nice_json(indent=2, sort_keys=false) }}",
                "{\n  \"b\": 1,\n  \"a\": 2\n}",
            ),
            (
                "{{ {'b': 1, 'a': 2} | to_nice_json(2) }}",
                "{\n  \"a\": 2,\n  \"b\": 1\n}",
            ),
            (
                "{{ [1e20, 0.1, 1.0, 1e-7] | to_json }}",
                "[1e+20, 0.1, 1.0, 1e-07]",
            ),
            (
                "{{ ('{\"a\": [1, 2], \"b\": null}' | from_json).a[1] }}",
                "2",
            ),
            (
                "{{ ('{\"z\": 1, \"a\": 2}' | from_json) | list }}",
                "['z', 'a']",
            ),
            ("{{ ('a: 1\\nb: [x, yes]' | from_yaml).b[1] }}", "True"),
            ("{{ ('- 1\\n- two' | from_yaml) | length }}", "2"),
            (
                "{{ {'b': 1, 'a': ['x', 'y']} | to_yaml }}",
                "a: [x, y]\nb: 1\n",
            ),
            ("{{ {'b': {'c': 1}} | to_nice_yaml }}", "b:\n    c: 1\n"),
            (
                "{{ {'b': 1, 'a': 2} | to_nice_yaml(sort_keys=false) }}",
                "b: 1\na: 2\n",
            ),
            (
                "{{ ({'k': ['yes', 1]} | to_yaml | from_yaml).k[0] }}",
                "yes",
            ),
        ]);
        check_errors(&[
            ("{{ 'nope' | from_json }}", "invalid json"),
            ("{{ x | to_json }}", "undefined"),
        ]);
    }

    #[test]
    fn paths() {
        let home = std::env::var("HOME").unwrap_or_default();
        check(&[
            ("{{ path | basename }}", "nginx.conf"),
            ("{{ path | dirname }}", "/etc/nginx"),
            ("{{ '/a/b/' | basename }}", ""),
            ("{{ '/a/b/' | dirname }}", "/a/b"),
            ("{{ '/' | dirname }}", "/"),
            ("{{ 'file' | dirname }}", ""),
            ("{{ path | splitext }}", "['/etc/nginx/nginx', '.conf']"),
            ("{{ '.bashrc' | splitext | last }}", ""),
            ("{{ 'a.tar.gz' | splitext | first }}", "a.tar"),
            (
                "{{ ['/etc', 'nginx', 'conf.d'] | path_join }}",
                "/etc/nginx/conf.d",
            ),
            ("{{ ['/etc', '/opt', 'x'] | path_join }}", "/opt/x"),
            ("{{ '/abs/~x' | expanduser }}", "/abs/~x"),
            (
                "{{ '~nosuchuser-drover/x' | expanduser }}",
                "~nosuchuser-drover/x",
            ),
        ]);
        crate::template::test_cases::check(
            CONTEXT,
            &[(
                "{{ '~/x' | expanduser }}",
                &format!("{}/x", home.trim_end_matches('/')),
            )],
        );
        assert_eq!(
            expand_user("~root"),
            passwd_home(Some("root")).unwrap_or_else(|| "~root".into())
        );
    }

    #[test]
    fn encodings_and_hashes() {
        check(&[
            ("{{ 'hello' | b64encode }}", "aGVsbG8="),
            ("{{ 'aGVsbG8=' | b64decode }}", "hello"),
            ("{{ 'aGVsbG8' | b64decode }}", "hello"),
            ("{{ 'é' | b64encode | b64decode }}", "é"),
            ("{{ 'hi' | b64encode(encoding='utf-16-le') }}", "aABpAA=="),
            ("{{ 'aABpAA==' | b64decode(encoding='utf-16-le') }}", "hi"),
            ("{{ '???' | b64encode(urlsafe=true) }}", "Pz8_"),
            ("{{ 'abc' | hash('sha1') }}", "a9993e364706816aba3e25717850c26c9cd0d89d"),
            ("{{ 'abc' | hash }}", "a9993e364706816aba3e25717850c26c9cd0d89d"),
            ("{{ 'abc' | hash('md5') }}", "900150983cd24fb0d6963f7d28e17f72"),
            ("{{ 'abc' | hash('sha256') }}", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
            (
                "{{ 'abc' | hash('sha512') }}",
                "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
            ),
            ("{{ 'abc' | checksum }}", "a9993e364706816aba3e25717850c26c9cd0d89d"),
            ("{{ 'abc' | sha1 }}", "a9993e364706816aba3e25717850c26c9cd0d89d"),
            ("{{ 'abc' | md5 }}", "900150983cd24fb0d6963f7d28e17f72"),
            ("{{ 123 | md5 }}", "202cb962ac59075b964b07152d234b70"),
        ]);
        check_errors(&[("{{ 'abc' | hash('crc') }}", "unsupported hash type")]);
    }

    #[test]
    fn helpers() {
        let floats = [
            (1.0, "1.0"),
            (0.1, "0.1"),
            (-2.5, "-2.5"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (123456.789, "123456.789"),
            (1.5e300, "1.5e+300"),
        ];
        for (f, want) in floats {
            assert_eq!(py_float_repr(f), want);
        }
        assert_eq!(parse_py_int("0x_1f", 0), Some(31));
        assert_eq!(parse_py_int("010", 0), None);
        assert_eq!(parse_py_int("1__0", 10), None);
        assert_eq!(translate_python_regex(r"a\Z"), r"a\z");
        assert_eq!(translate_python_regex(r"x{2,}{,3}"), r"x{2,}{0,3}");
        assert_eq!(translate_python_regex(r"[[&]"), r"[\[\&]");
    }
}
