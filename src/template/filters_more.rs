//! More of Ansible's filters (ansible-core's `core.py`, `mathstuff.py` and `urls.py`): text
//! (`comment`, `type_debug`, `urldecode`), numbers (`log`, `pow`, `root`, `human_readable`,
//! `human_to_bytes`), collections (`rekey_on_member`, `subelements`, `random`, `shuffle`),
//! paths (`realpath`, `relpath`, `commonpath`) and time (`strftime`, `to_datetime`).

use super::filters::{map_value, op_err, py_str, require_defined, seq_items, text, Params};
use indexmap::IndexMap;
use minijinja::value::{Kwargs, Value, ValueKind};
use minijinja::{Environment, Error, State};

pub fn register(env: &mut Environment<'static>) {
    env.add_function("now", now);
    env.add_function("undef", undef);
    super::markers::add(env, "comment", comment);
    env.add_filter("type_debug", type_debug);
    super::markers::add(env, "urldecode", urldecode);
    super::markers::add(env, "log", log);
    super::markers::add(env, "pow", pow);
    super::markers::add(env, "root", root);
    super::markers::add(env, "human_readable", human_readable);
    super::markers::add(env, "human_to_bytes", human_to_bytes);
    super::markers::add(env, "rekey_on_member", rekey_on_member);
    super::markers::add(env, "subelements", subelements);
    super::markers::add(env, "random", random);
    super::markers::add(env, "shuffle", shuffle);
    super::markers::add(env, "realpath", realpath);
    super::markers::add(env, "relpath", relpath);
    super::markers::add(env, "commonpath", commonpath);
    super::markers::add(env, "strftime", strftime);
    super::markers::add(env, "to_datetime", to_datetime);
    super::markers::add(env, "password_hash", super::crypt::password_hash);
}

/// `now(utc=False, fmt=None)`: the time now, formatted with `fmt` (strftime), else as
/// Python prints a datetime (`2024-05-01 12:00:00.123456`).
fn now(kwargs: Kwargs) -> Result<Value, Error> {
    let utc: Option<bool> = kwargs.get("utc")?;
    let fmt: Option<String> = kwargs.get("fmt")?;
    kwargs.assert_all_used()?;
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let tm = local_tm(d.as_secs() as i64, utc.unwrap_or(false));
    match fmt {
        Some(f) => {
            // `%f` (microseconds) is Python's, not C's.
            let f = f.replace("%f", &format!("{:06}", d.subsec_micros()));
            c_strftime(&f, &tm).map(Value::from)
        }
        None => c_strftime("%Y-%m-%d %H:%M:%S", &tm)
            .map(|s| Value::from(format!("{s}.{:06}", d.subsec_micros()))),
    }
}

/// Python's `str(datetime.fromtimestamp(secs))` in local time: `2024-05-01 12:00:00`, with
/// `.ffffff` only when there are microseconds.
pub fn py_datetime(secs: i64, micros: u32) -> String {
    let base = c_strftime("%Y-%m-%d %H:%M:%S", &local_tm(secs, false)).unwrap_or_default();
    if micros == 0 {
        base
    } else {
        format!("{base}.{micros:06}")
    }
}

thread_local! {
    static UNDEF_HINT: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// The hint of the last `undef()` called on this thread, taken.
pub fn take_undef_hint() -> Option<String> {
    UNDEF_HINT.with(|h| h.borrow_mut().take())
}

/// `undef(hint=None)`: an undefined value (a default that must be overridden); a use of the
/// variable it defines fails with the hint.
fn undef(hint: Option<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let hint = match hint {
        Some(h) => Some(h),
        None => kwargs.get::<Option<Value>>("hint")?,
    };
    kwargs.assert_all_used()?;
    let text = match hint {
        Some(h) if h.is_none() => "Mandatory variable has not been overridden".to_string(),
        Some(h) => match h.as_str() {
            Some(s) => s.to_string(),
            None => {
                return Err(op_err(format!(
                    "argument must be of type str, not {}",
                    type_debug(&h)
                )))
            }
        },
        None => "Mandatory variable has not been overridden".to_string(),
    };
    UNDEF_HINT.with(|h| *h.borrow_mut() = Some(text));
    Ok(Value::UNDEFINED)
}

fn num(state: &State, v: &Value, what: &str) -> Result<f64, Error> {
    require_defined(state, v, what)?;
    match v.kind() {
        ValueKind::Number => f64::try_from(v.clone()).map_err(|e| op_err(e.to_string())),
        _ => Err(op_err(format!("{what}() can only be used on numbers"))),
    }
}

/// A float result as Python gives it (always a float).
fn float(f: f64) -> Value {
    Value::from(f)
}

/// `comment(style='plain', **params)`: the text as a comment block.
fn comment(state: &State, value: &Value, args: &[Value], kwargs: Kwargs) -> Result<Value, Error> {
    let body = text(state, value, "comment")?;
    let p = Params::new("comment", args, kwargs);
    let style = p.get(0, "style")?.map(|v| py_str(&v));
    let style = style.as_deref().unwrap_or("plain");
    let (beginning, decoration, end) = match style {
        "plain" => ("", "# ", ""),
        "erlang" => ("", "% ", ""),
        "c" => ("", "// ", ""),
        "cblock" => ("/*", " * ", " */"),
        "xml" => ("<!--", " - ", "-->"),
        other => {
            return Err(op_err(format!(
                "Invalid style '{other}'. Available styles: plain, erlang, c, cblock, xml"
            )))
        }
    };
    let kw =
        |name: &str| -> Result<Option<String>, Error> { Ok(p.kw_only(name)?.map(|v| py_str(&v))) };
    let prepost = kw("decoration")?.unwrap_or_else(|| decoration.to_string());
    let newline = kw("newline")?.unwrap_or_else(|| "\n".into());
    let beginning = kw("beginning")?.unwrap_or_else(|| beginning.to_string());
    let prefix = kw("prefix")?.unwrap_or_else(|| prepost.trim_end().to_string());
    let prefix_count: usize = kw("prefix_count")?
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let decoration = kw("decoration")?.unwrap_or_else(|| decoration.to_string());
    let postfix = kw("postfix")?.unwrap_or_else(|| prepost.trim_end().to_string());
    let postfix_count: usize = kw("postfix_count")?
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let end = kw("end")?.unwrap_or_else(|| end.to_string());
    p.finish(1)?;
    let mut out = String::new();
    if !beginning.is_empty() {
        out.push_str(&beginning);
        out.push_str(&newline);
    }
    if !prefix.is_empty() {
        let one = if prefix != newline {
            format!("{prefix}{newline}")
        } else {
            newline.clone()
        };
        out.push_str(&one.repeat(prefix_count));
    }
    let body = format!(
        "{decoration}{}",
        body.replace(&newline, &format!("{newline}{decoration}"))
    )
    .replace(
        &format!("{decoration}{newline}"),
        &format!("{}{newline}", decoration.trim_end()),
    );
    out.push_str(&body);
    for _ in 0..postfix_count {
        out.push_str(&newline);
        out.push_str(&postfix);
    }
    if !end.is_empty() {
        out.push_str(&newline);
        out.push_str(&end);
    }
    Ok(Value::from(out))
}

/// `type_debug`: the Python type name of the value.
pub(crate) fn type_debug(value: &Value) -> Value {
    Value::from(match value.kind() {
        ValueKind::None | ValueKind::Undefined => "NoneType",
        ValueKind::Bool => "bool",
        ValueKind::Number if value.is_integer() => "int",
        ValueKind::Number => "float",
        ValueKind::String => "str",
        ValueKind::Bytes => "bytes",
        ValueKind::Seq | ValueKind::Iterable => "list",
        ValueKind::Map => "dict",
        _ => "object",
    })
}

/// `urldecode`: `%XX` escapes and `+` decoded.
fn urldecode(state: &State, value: &Value) -> Result<Value, Error> {
    let s = text(state, value, "urldecode")?;
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    Ok(Value::from(String::from_utf8_lossy(&out).into_owned()))
}

/// `log(base=e)`.
fn log(state: &State, value: &Value, args: &[Value], kwargs: Kwargs) -> Result<Value, Error> {
    let x = num(state, value, "log")?;
    let p = Params::new("log", args, kwargs);
    let base = match p.get(0, "base")? {
        Some(b) => num(state, &b, "log")?,
        None => std::f64::consts::E,
    };
    p.finish(1)?;
    if x <= 0.0 {
        return Err(op_err("math domain error"));
    }
    Ok(float(if base == 10.0 {
        x.log10()
    } else {
        x.ln() / base.ln()
    }))
}

/// `pow(y)`.
fn pow(state: &State, value: &Value, y: &Value) -> Result<Value, Error> {
    let x = num(state, value, "pow")?;
    Ok(float(x.powf(num(state, y, "pow")?)))
}

/// `root(base=2)`.
fn root(state: &State, value: &Value, args: &[Value], kwargs: Kwargs) -> Result<Value, Error> {
    let x = num(state, value, "root")?;
    let p = Params::new("root", args, kwargs);
    let base = match p.get(0, "base")? {
        Some(b) => num(state, &b, "root")?,
        None => 2.0,
    };
    p.finish(1)?;
    Ok(float(if base == 2.0 {
        x.sqrt()
    } else {
        x.powf(1.0 / base)
    }))
}

const SIZES: &[(char, u32)] = &[
    ('Y', 80),
    ('Z', 70),
    ('E', 60),
    ('P', 50),
    ('T', 40),
    ('G', 30),
    ('M', 20),
    ('K', 10),
    ('B', 0),
];

/// `human_readable(isbits=False, unit=None)`: `'1.00 KB'`.
fn human_readable(
    state: &State,
    value: &Value,
    args: &[Value],
    kwargs: Kwargs,
) -> Result<Value, Error> {
    require_defined(state, value, "human_readable")?;
    let size = match value.kind() {
        ValueKind::Number => f64::try_from(value.clone()).map_err(|e| op_err(e.to_string()))?,
        // Python compares the input with numbers: anything else (a numeric string too) is
        // a TypeError there.
        _ => {
            return Err(op_err(format!(
                "human_readable() failed on bad input: '>=' not supported between instances of '{}' and 'int'",
                type_debug(value)
            )))
        }
    };
    let p = Params::new("human_readable", args, kwargs);
    let isbits = p.get(0, "isbits")?.is_some_and(|v| v.is_true());
    let unit = p
        .get(1, "unit")?
        .filter(|v| !v.is_none())
        .map(|v| py_str(&v));
    p.finish(2)?;
    let base = if isbits { "bits" } else { "Bytes" };
    let mut chosen = ('B', 0u32);
    for (s, shift) in SIZES {
        let limit = 2f64.powi(*shift as i32);
        let hit = match &unit {
            None => size >= limit,
            Some(u) => u.to_ascii_uppercase().starts_with(*s),
        };
        chosen = (*s, *shift);
        if hit {
            break;
        }
    }
    let limit = 2f64.powi(chosen.1 as i32);
    let suffix = if chosen.1 != 0 {
        format!("{}{}", chosen.0, &base[..1])
    } else {
        base.to_string()
    };
    Ok(Value::from(format!("{:.2} {suffix}", size / limit)))
}

/// `human_to_bytes(default_unit=None, isbits=False)`: `'1K'` → 1024.
fn human_to_bytes(
    state: &State,
    value: &Value,
    args: &[Value],
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let s = text(state, value, "human_to_bytes")?;
    let p = Params::new("human_to_bytes", args, kwargs);
    let default_unit = p
        .get(0, "default_unit")?
        .filter(|v| !v.is_none())
        .map(|v| py_str(&v));
    let isbits = p.get(1, "isbits")?.is_some_and(|v| v.is_true());
    p.finish(2)?;
    let re = regex::Regex::new(r"^([0-9]*\.?[0-9]+)(?:\s*([A-Za-z]+))?\s*$")
        .map_err(|e| op_err(e.to_string()))?;
    let c = re.captures(&s).ok_or_else(|| {
        op_err(format!(
            "human_to_bytes() can't interpret following string: {s}"
        ))
    })?;
    let n: f64 = c[1].parse().map_err(|_| {
        op_err(format!(
            "human_to_bytes() can't interpret following number: {}",
            &c[1]
        ))
    })?;
    let unit = c.get(2).map(|m| m.as_str().to_string()).or(default_unit);
    let Some(unit) = unit else {
        return Ok(Value::from(n.round() as i64));
    };
    let key = unit.chars().next().unwrap_or('B').to_ascii_uppercase();
    let Some((_, shift)) = SIZES.iter().find(|(k, _)| *k == key) else {
        return Err(op_err(format!("human_to_bytes() failed to convert {s} (unit = {unit}). The suffix must be one of Y, Z, E, P, T, G, M, K, B")));
    };
    if unit.len() > 1 {
        let class = if isbits { 'b' } else { 'B' };
        let names: &[(&str, &str)] = &[
            ("byte", "bit"),
            ("kilobyte", "kilobit"),
            ("megabyte", "megabit"),
            ("gigabyte", "gigabit"),
            ("terabyte", "terabit"),
            ("petabyte", "petabit"),
            ("exabyte", "exabit"),
            ("zetabyte", "zetabit"),
            ("yottabyte", "yottabit"),
        ];
        let idx = (*shift / 10) as usize;
        let name = if isbits { names[idx].1 } else { names[idx].0 };
        let short = if key == 'B' {
            class.to_string()
        } else {
            format!("{key}{class}")
        };
        if unit.to_lowercase() != name && unit != short {
            let expect = if key == 'B' {
                format!("expect {class} or {}", if isbits { "bit" } else { "byte" })
            } else {
                format!("expect {key}{class} or {key}")
            };
            return Err(op_err(format!(
                "human_to_bytes() failed to convert {s}. Value is not a valid string ({expect})"
            )));
        }
    }
    Ok(Value::from((n * 2f64.powi(*shift as i32)).round() as i64))
}

/// `rekey_on_member(key, duplicates='error')`: a list (or dict) of dicts keyed on a member.
fn rekey_on_member(
    state: &State,
    value: &Value,
    args: &[Value],
    kwargs: Kwargs,
) -> Result<Value, Error> {
    require_defined(state, value, "rekey_on_member")?;
    let p = Params::new("rekey_on_member", args, kwargs);
    let key = p.required(0, "key")?;
    let dup = p.get(1, "duplicates")?.map(|v| py_str(&v));
    let dup = dup.as_deref().unwrap_or("error");
    p.finish(2)?;
    if dup != "error" && dup != "overwrite" {
        return Err(op_err(format!(
            "duplicates parameter to rekey_on_member has unknown value '{dup}'"
        )));
    }
    let items: Vec<Value> = match value.kind() {
        ValueKind::Map => value
            .try_iter()?
            .map(|k| value.get_item(&k))
            .collect::<Result<_, _>>()?,
        ValueKind::Seq | ValueKind::Iterable => seq_items(value)?,
        _ => return Err(op_err("Type is not a valid list, set, or dict")),
    };
    let mut out: IndexMap<Value, Value> = IndexMap::new();
    for item in items {
        if item.kind() != ValueKind::Map {
            return Err(op_err("List item is not a valid dict"));
        }
        let k = item.get_item(&key)?;
        if k.is_undefined() {
            return Err(op_err(format!("Key '{}' was not found.", py_str(&key))));
        }
        if out.contains_key(&k) && dup == "error" {
            return Err(op_err(format!(
                "Key '{}' is not unique, cannot convert to dict.",
                py_str(&k)
            )));
        }
        out.insert(k, item);
    }
    Ok(map_value(out))
}

/// `subelements(path, skip_missing=False)`: `(item, subitem)` tuples; `path` is a list of
/// keys or a string split on `.`.
fn subelements(
    state: &State,
    value: &Value,
    args: &[Value],
    kwargs: Kwargs,
) -> Result<Value, Error> {
    require_defined(state, value, "subelements")?;
    let p = Params::new("subelements", args, kwargs);
    let path_arg = p.required(0, "subelements")?;
    let skip_missing = p.get(1, "skip_missing")?.is_some_and(|v| v.is_true());
    p.finish(2)?;
    let keys: Vec<String> = match path_arg.kind() {
        ValueKind::String => py_str(&path_arg).split('.').map(str::to_string).collect(),
        ValueKind::Seq => seq_items(&path_arg)?.iter().map(py_str).collect(),
        _ => return Err(op_err("subelements must be a list or a string")),
    };
    let items: Vec<Value> = match value.kind() {
        ValueKind::Map => value
            .try_iter()?
            .map(|k| value.get_item(&k))
            .collect::<Result<_, _>>()?,
        ValueKind::Seq | ValueKind::Iterable => seq_items(value)?,
        _ => return Err(op_err("obj must be a list of dicts or a nested dict")),
    };
    let mut out = Vec::new();
    'items: for item in items {
        let mut cur = item.clone();
        for (i, key) in keys.iter().enumerate() {
            if cur.kind() != ValueKind::Map {
                if i == 0 {
                    return Err(op_err("obj must be a list of dicts or a nested dict"));
                }
                return Err(op_err(format!(
                    "the key {} should point to a dictionary, got '{}'",
                    keys[i - 1],
                    py_str(&cur)
                )));
            }
            let next = cur.get_attr(key).unwrap_or_default();
            if next.is_undefined() {
                if skip_missing {
                    continue 'items;
                }
                return Err(op_err(format!(
                    "could not find '{key}' key in iterated item {}",
                    py_str(&item)
                )));
            }
            cur = next;
        }
        if !matches!(cur.kind(), ValueKind::Seq | ValueKind::Iterable) {
            return Err(op_err(format!(
                "the key '{}' should point to a list, got '{}'",
                keys.last().map(String::as_str).unwrap_or(""),
                py_str(&cur)
            )));
        }
        for sub in seq_items(&cur)? {
            out.push(Value::from(minijinja::value::Tuple::from(vec![
                item.clone(),
                sub,
            ])));
        }
    }
    Ok(Value::from(out))
}

/// A seeded or time-seeded xorshift generator (Ansible seeds Python's `random` with `seed`;
/// the sequence differs, the properties tests rely on hold: same seed, same result).
fn rng(seed: Option<&Value>) -> impl FnMut() -> u64 {
    let mut x: u64 = match seed {
        Some(s) if !s.is_none() => {
            use sha2::Digest as _;
            let d = sha2::Sha256::digest(py_str(s).as_bytes());
            u64::from_le_bytes(d[..8].try_into().unwrap_or([7; 8])) | 1
        }
        _ => {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(88172645463325252)
                | 1
        }
    };
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }
}

/// `random(start=None, step=None, seed=None)`: a random item of a list, or a number below an
/// end.
fn random(state: &State, value: &Value, args: &[Value], kwargs: Kwargs) -> Result<Value, Error> {
    require_defined(state, value, "random")?;
    let p = Params::new("random", args, kwargs);
    let start = p.get(0, "start")?.filter(|v| !v.is_none());
    let step = p.get(1, "step")?.filter(|v| !v.is_none());
    let seed = p.kw_only("seed")?;
    p.finish(2)?;
    let mut next = rng(seed.as_ref());
    if let Ok(end) = i64::try_from(value.clone()) {
        let start = start.map(|v| i64::try_from(v).unwrap_or(0)).unwrap_or(0);
        let step = step
            .map(|v| i64::try_from(v).unwrap_or(1))
            .unwrap_or(1)
            .max(1);
        if end <= start {
            return Err(op_err("empty range for random"));
        }
        let n = ((end - start) + step - 1) / step;
        return Ok(Value::from(start + (next() % n as u64) as i64 * step));
    }
    let items: Vec<Value> = match value.kind() {
        ValueKind::String | ValueKind::Seq | ValueKind::Map | ValueKind::Iterable
            if start.is_some() || step.is_some() =>
        {
            return Err(op_err(
                "start and step can only be used with integer values",
            ))
        }
        ValueKind::String => py_str(value)
            .chars()
            .map(|c| Value::from(c.to_string()))
            .collect(),
        ValueKind::Seq | ValueKind::Iterable => seq_items(value)?,
        ValueKind::Map => value.try_iter()?.collect(),
        _ => return Err(op_err("random can only be used on sequences and integers")),
    };
    if items.is_empty() {
        return Err(op_err("Cannot choose from an empty sequence"));
    }
    Ok(items[(next() % items.len() as u64) as usize].clone())
}

/// `shuffle(seed=None)`: the list in random order.
fn shuffle(state: &State, value: &Value, kwargs: Kwargs) -> Result<Value, Error> {
    require_defined(state, value, "shuffle")?;
    let seed: Option<Value> = kwargs.get("seed")?;
    kwargs.assert_all_used()?;
    // As Ansible's: what is no sequence comes back unchanged.
    let mut items = match value.kind() {
        ValueKind::Seq | ValueKind::Iterable => seq_items(value)?,
        ValueKind::String => py_str(value)
            .chars()
            .map(|c| Value::from(c.to_string()))
            .collect(),
        ValueKind::Map => value.try_iter()?.collect(),
        _ => return Ok(value.clone()),
    };
    let mut next = rng(seed.as_ref());
    for i in (1..items.len()).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
    Ok(Value::from(items))
}

/// `realpath`: the absolute path with links resolved (as far as the path exists).
fn realpath(state: &State, value: &Value) -> Result<Value, Error> {
    let p = text(state, value, "realpath")?;
    let path = std::path::Path::new(&p);
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(path)
    };
    // Resolve the longest existing prefix; keep the rest as written.
    let mut existing = abs.clone();
    let mut rest = Vec::new();
    while !existing.exists() {
        match (existing.file_name(), existing.parent()) {
            (Some(n), Some(parent)) => {
                rest.push(n.to_os_string());
                existing = parent.to_path_buf();
            }
            _ => break,
        }
    }
    let mut out = std::fs::canonicalize(&existing).unwrap_or(existing);
    for n in rest.into_iter().rev() {
        out.push(n);
    }
    Ok(Value::from(out.display().to_string()))
}

/// `relpath(start)`: the path relative to `start`.
fn relpath(state: &State, value: &Value, start: &Value) -> Result<Value, Error> {
    let p = text(state, value, "relpath")?;
    let s = text(state, start, "relpath")?;
    let parts = |x: &str| -> Vec<String> {
        x.split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .map(str::to_string)
            .collect()
    };
    let (a, b) = (parts(&p), parts(&s));
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut out: Vec<String> = vec!["..".to_string(); b.len() - common];
    out.extend(a[common..].iter().cloned());
    Ok(Value::from(if out.is_empty() {
        ".".to_string()
    } else {
        out.join("/")
    }))
}

/// `commonpath`: the longest common sub-path of a list of paths.
fn commonpath(state: &State, value: &Value) -> Result<Value, Error> {
    require_defined(state, value, "commonpath")?;
    if !matches!(value.kind(), ValueKind::Seq | ValueKind::Iterable) {
        return Err(op_err(format!(
            "|commonpath expects sequence, got {} instead.",
            type_debug(value)
        )));
    }
    let paths: Vec<String> = seq_items(value)?.iter().map(py_str).collect();
    let Some(first) = paths.first() else {
        return Err(op_err("commonpath() arg is an empty sequence"));
    };
    let abs = first.starts_with('/');
    if paths.iter().any(|p| p.starts_with('/') != abs) {
        return Err(op_err("Can't mix absolute and relative paths"));
    }
    let split = |p: &str| -> Vec<String> {
        p.split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .map(str::to_string)
            .collect()
    };
    let mut common = split(first);
    for p in &paths[1..] {
        let parts = split(p);
        let n = common
            .iter()
            .zip(&parts)
            .take_while(|(a, b)| a == b)
            .count();
        common.truncate(n);
    }
    let joined = common.join("/");
    Ok(Value::from(if abs { format!("/{joined}") } else { joined }))
}

/// The broken-down local time of a Unix time.
fn local_tm(secs: i64, utc: bool) -> libc::tm {
    // SAFETY: `tm` is plain data; localtime_r/gmtime_r fill it from a valid time_t.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        let t: libc::time_t = secs as libc::time_t;
        if utc {
            libc::gmtime_r(&t, &mut tm);
        } else {
            libc::localtime_r(&t, &mut tm);
        }
        tm
    }
}

/// C's `strftime` of a broken-down time.
fn c_strftime(fmt: &str, tm: &libc::tm) -> Result<String, Error> {
    let cfmt = std::ffi::CString::new(fmt).map_err(|_| op_err("strftime: NUL in the format"))?;
    let mut buf = vec![0u8; 512 + fmt.len() * 8];
    // SAFETY: buf is writable for its length, cfmt is NUL-terminated, tm is initialised.
    let n = unsafe {
        libc::strftime(
            buf.as_mut_ptr() as *mut libc::c_char,
            buf.len(),
            cfmt.as_ptr(),
            tm,
        )
    };
    buf.truncate(n);
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// `strftime(second=None, utc=False)`: the format applied to now (or to `second`).
fn strftime(state: &State, value: &Value, args: &[Value], kwargs: Kwargs) -> Result<Value, Error> {
    let fmt = text(state, value, "strftime")?;
    let p = Params::new("strftime", args, kwargs);
    let second = p.get(0, "second")?.filter(|v| !v.is_none());
    let utc = p.get(1, "utc")?.is_some_and(|v| v.is_true());
    p.finish(2)?;
    let secs = match second {
        Some(s) => {
            let f = match s.kind() {
                ValueKind::Number => f64::try_from(s.clone()).unwrap_or(0.0),
                _ => py_str(&s).trim().parse::<f64>().map_err(|_| {
                    op_err(format!("Invalid value for epoch value ({})", py_str(&s)))
                })?,
            };
            f as i64
        }
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0),
    };
    c_strftime(&fmt, &local_tm(secs, utc)).map(Value::from)
}

/// `to_datetime(format='%Y-%m-%d %H:%M:%S')`: the parsed time, as a mapping with the
/// fields Python's datetime has (`year`, ..., `second`) and `timestamp()` via its `epoch`.
fn to_datetime(
    state: &State,
    value: &Value,
    args: &[Value],
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let s = text(state, value, "to_datetime")?;
    let p = Params::new("to_datetime", args, kwargs);
    let fmt = p
        .get(0, "format")?
        .map(|v| py_str(&v))
        .unwrap_or_else(|| "%Y-%m-%d %H:%M:%S".into());
    p.finish(1)?;
    let cs = std::ffi::CString::new(s.clone()).map_err(|_| op_err("to_datetime: NUL"))?;
    let cf = std::ffi::CString::new(fmt.clone()).map_err(|_| op_err("to_datetime: NUL"))?;
    // SAFETY: strptime reads NUL-terminated strings and fills a zeroed tm.
    let (tm, ok) = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        let end = libc::strptime(cs.as_ptr(), cf.as_ptr(), &mut tm);
        (tm, !end.is_null() && *end == 0)
    };
    if !ok {
        return Err(op_err(format!(
            "time data '{s}' does not match format '{fmt}'"
        )));
    }
    let mut m: IndexMap<Value, Value> = IndexMap::new();
    for (k, v) in [
        ("year", tm.tm_year as i64 + 1900),
        ("month", tm.tm_mon as i64 + 1),
        ("day", tm.tm_mday as i64),
        ("hour", tm.tm_hour as i64),
        ("minute", tm.tm_min as i64),
        ("second", tm.tm_sec as i64),
    ] {
        m.insert(Value::from(k), Value::from(v));
    }
    Ok(map_value(m))
}

#[cfg(test)]
mod tests {
    fn render(src: &str) -> String {
        crate::template::compile(src)
            .unwrap()
            .render(&minijinja::Value::from(()))
            .unwrap()
            .to_string()
    }

    #[test]
    fn text_and_numbers() {
        assert_eq!(render("{{ 'a\nb' | comment }}"), "#\n# a\n# b\n#");
        assert_eq!(render("{{ 'x' | comment('c') }}"), "//\n// x\n//");
        assert_eq!(render("{{ 1024 | human_readable }}"), "1.00 KB");
        assert_eq!(render("{{ '1K' | human_to_bytes }}"), "1024");
        assert_eq!(render("{{ '1.5 MB' | human_to_bytes }}"), "1572864");
        assert_eq!(render("{{ 8 | root(3) }}"), "2.0");
        assert_eq!(render("{{ 100 | log(10) }}"), "2.0");
        assert_eq!(render("{{ 'a%20b+c' | urldecode }}"), "a b c");
        assert_eq!(render("{{ [1] | type_debug }}"), "list");
        assert_eq!(render("{{ ['/a/b/c', '/a/b/d'] | commonpath }}"), "/a/b");
        assert_eq!(render("{{ '/a/b/c' | relpath('/a/d') }}"), "../b/c");
        assert_eq!(render("{{ 'x' | ansible.builtin.comment }}"), "#\n# x\n#");
    }
}
