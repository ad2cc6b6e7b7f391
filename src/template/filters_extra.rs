//! More of ansible-core's filters: `fileglob`, `from_yaml_all`, `to_uuid`, `expandvars`,
//! `normpath`, `win_basename`/`win_dirname`/`win_splitdrive`, `product`, `permutations`,
//! `combinations`, `urlsplit`, and the internal `ansible._protomatter.finalize` its tests use.

use super::filters::{op_err, py_str, text, Params};
use minijinja::value::{Kwargs, Value, ValueKind};
use minijinja::{Environment, Error, State};
use sha1::{Digest, Sha1};

pub fn register(env: &mut Environment<'static>) {
    super::markers::add(env, "fileglob", fileglob);
    super::markers::add(env, "from_yaml_all", from_yaml_all);
    super::markers::add(env, "to_uuid", to_uuid);
    super::markers::add(env, "expandvars", expandvars);
    super::markers::add(env, "normpath", normpath);
    super::markers::add(env, "win_basename", win_basename);
    super::markers::add(env, "win_dirname", win_dirname);
    super::markers::add(env, "win_splitdrive", win_splitdrive);
    super::markers::add(env, "product", product);
    super::markers::add(env, "permutations", permutations);
    super::markers::add(env, "combinations", combinations);
    super::markers::add(env, "urlsplit", urlsplit);
    super::markers::add(env, "ansible._protomatter.finalize", finalize);
    super::markers::add(env, "urlencode", urlencode);
    super::markers::add(env, "unique", unique);
}

/// Python's `urllib.parse.quote(s, safe)` over UTF-8.
fn quote(s: &str, safe: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"_.-~".contains(&b) || safe.as_bytes().contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Jinja2's `urlencode`: a string (or a number) quoted keeping `/`; a mapping, or a list of
/// pairs, as a query string (`k=v&…`, spaces as `+`).
fn urlencode(value: &Value) -> Result<Value, Error> {
    let pair = |k: &Value, v: &Value| {
        format!(
            "{}={}",
            quote(&py_str(k), "").replace("%20", "+"),
            quote(&py_str(v), "").replace("%20", "+")
        )
    };
    let out = match value.kind() {
        ValueKind::Map => value
            .try_iter()?
            .map(|k| Ok(pair(&k, &value.get_item(&k)?)))
            .collect::<Result<Vec<_>, Error>>()?
            .join("&"),
        ValueKind::Seq | ValueKind::Iterable => value
            .try_iter()?
            .map(|item| {
                let kv: Vec<Value> = item.try_iter().map(Iterator::collect).unwrap_or_default();
                match kv.as_slice() {
                    [k, v] => Ok(pair(k, v)),
                    _ => Err(op_err("urlencode: a list must hold (key, value) pairs")),
                }
            })
            .collect::<Result<Vec<_>, Error>>()?
            .join("&"),
        _ => quote(&py_str(value), "/"),
    };
    Ok(Value::from(out))
}

/// Ansible's `unique`: Jinja2's, failing as Ansible does on what cannot be hashed when
/// `case_sensitive: false` or `attribute` is given, and on what is not iterable.
fn unique(state: &State, value: &Value, kwargs: Kwargs) -> Result<Value, Error> {
    if matches!(
        value.kind(),
        ValueKind::Bool | ValueKind::Number | ValueKind::None
    ) {
        return Err(op_err(format!(
            "'{}' object is not iterable",
            super::filters_more::type_debug(value)
        )));
    }
    let explicit = kwargs.get::<Option<bool>>("case_sensitive")? == Some(false)
        || kwargs
            .get::<Option<Value>>("attribute")?
            .is_some_and(|a| !a.is_none());
    if explicit {
        let attr: Option<String> = kwargs.get("attribute")?;
        for item in value.try_iter()? {
            let key = match &attr {
                Some(a) => item.get_attr(a).unwrap_or_default(),
                None => item,
            };
            if matches!(key.kind(), ValueKind::Map | ValueKind::Seq) {
                return Err(op_err(format!(
                    "Jinja2's unique filter failed and we cannot fall back to Ansible's version as it does not support the parameters supplied: unhashable type: '{}'",
                    super::filters_more::type_debug(&key)
                )));
            }
        }
    }
    minijinja::filters::unique(state, value.clone(), kwargs)
}

/// The value with every sequence a plain list (Ansible's finalization to plain types).
fn finalize(value: &Value) -> Result<Value, Error> {
    Ok(match value.kind() {
        ValueKind::Seq | ValueKind::Iterable => Value::from(
            value
                .try_iter()?
                .map(|v| finalize(&v))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        ValueKind::Map => {
            let mut m = indexmap::IndexMap::new();
            for k in value.try_iter()? {
                let v = value.get_item(&k)?;
                m.insert(k, finalize(&v)?);
            }
            Value::from_object(m)
        }
        _ => value.clone(),
    })
}

/// `fileglob`: the regular files a pattern names on the controller (sorted).
fn fileglob(state: &State, value: &Value) -> Result<Value, Error> {
    let pattern = text(state, value, "fileglob")?;
    let path = std::path::Path::new(&pattern);
    let name = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(&dir) {
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if super::lookups::glob_match(&name, &n) && e.path().is_file() {
                let shown = match path.parent() {
                    Some(d) if !d.as_os_str().is_empty() => d.join(&n).display().to_string(),
                    _ => n,
                };
                out.push(shown);
            }
        }
    }
    out.sort();
    Ok(Value::from(out))
}

/// `from_yaml_all`: every document of a YAML stream; none gives `[]`, other types pass.
fn from_yaml_all(value: &Value) -> Result<Value, Error> {
    match value.kind() {
        ValueKind::None => Ok(Value::from(Vec::<Value>::new())),
        ValueKind::String => {
            let s = value.as_str().unwrap_or("");
            let docs = crate::yaml::load_str(s, std::path::Path::new("<from_yaml_all>"))
                .map_err(|e| op_err(format!("from_yaml_all: {e:#}")))?;
            Ok(Value::from(
                docs.iter()
                    .map(crate::yaml::node_to_value)
                    .collect::<Vec<_>>(),
            ))
        }
        _ => Ok(value.clone()),
    }
}

/// `to_uuid(namespace='361E6D51-FAEC-444A-9079-341386DA8E2E')`: a version 5 UUID.
fn to_uuid(state: &State, value: &Value, args: &[Value], kwargs: Kwargs) -> Result<Value, Error> {
    let p = Params::new("to_uuid", args, kwargs);
    let ns = p
        .get(0, "namespace")?
        .unwrap_or_else(|| Value::from("361E6D51-FAEC-444A-9079-341386DA8E2E"));
    p.finish(1)?;
    let invalid = || {
        op_err(format!(
            "Invalid value '{}' for 'namespace': not a UUID",
            py_str(&ns)
        ))
    };
    if ns.kind() != ValueKind::String {
        return Err(invalid());
    }
    let hex: String = py_str(&ns)
        .chars()
        .filter(|c| *c != '-' && *c != '{' && *c != '}')
        .collect();
    let hex = hex.strip_prefix("urn:uuid:").unwrap_or(&hex).to_string();
    if hex.len() != 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(invalid());
    }
    let ns_bytes: Vec<u8> = (0..16)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap_or(0))
        .collect();
    let name = text(state, value, "to_uuid")?;
    let mut h = Sha1::new();
    h.update(&ns_bytes);
    h.update(name.as_bytes());
    let d = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let x: String = b.iter().map(|v| format!("{v:02x}")).collect();
    Ok(Value::from(format!(
        "{}-{}-{}-{}-{}",
        &x[0..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..32]
    )))
}

/// `expandvars`: `$NAME`/`${NAME}` from the controller's environment (unknown ones stay).
fn expandvars(state: &State, value: &Value) -> Result<Value, Error> {
    let s = text(state, value, "expandvars")?;
    let b = s.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    let name_end = |j: usize| {
        let mut k = j;
        while k < b.len() && (b[k].is_ascii_alphanumeric() || b[k] == b'_') {
            k += 1;
        }
        k
    };
    while i < b.len() {
        if b[i] == b'$' {
            let (name, end) = if b.get(i + 1) == Some(&b'{') {
                match s[i + 2..].find('}') {
                    Some(j) => (&s[i + 2..i + 2 + j], i + 3 + j),
                    None => ("", i + 1),
                }
            } else {
                let k = name_end(i + 1);
                (&s[i + 1..k], k)
            };
            if let (false, Ok(v)) = (name.is_empty(), std::env::var(name)) {
                out.push_str(&v);
                i = end;
                continue;
            }
        }
        let ch = s[i..].chars().next().unwrap_or('\0');
        out.push(ch);
        i += ch.len_utf8();
    }
    Ok(Value::from(out))
}

/// Python's `posixpath.normpath`.
pub fn normpath_str(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let initial = if p.starts_with("//") && !p.starts_with("///") {
        2
    } else {
        usize::from(p.starts_with('/'))
    };
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        if c.is_empty() || c == "." {
            continue;
        }
        if c != ".." || (initial == 0 && parts.is_empty()) || parts.last() == Some(&"..") {
            parts.push(c);
        } else if !parts.is_empty() {
            parts.pop();
        }
    }
    let out = format!("{}{}", "/".repeat(initial), parts.join("/"));
    if out.is_empty() {
        ".".into()
    } else {
        out
    }
}

fn normpath(state: &State, value: &Value) -> Result<Value, Error> {
    Ok(Value::from(normpath_str(&text(state, value, "normpath")?)))
}

/// Python's `ntpath.splitdrive` (drive letters and UNC shares).
fn split_drive(p: &str) -> (String, String) {
    let norm = p.replace('/', "\\");
    if norm.starts_with("\\\\") && !norm.starts_with("\\\\\\") {
        let rest = &norm[2..];
        if let Some(i) = rest.find('\\') {
            let after = &rest[i + 1..];
            let j = after.find('\\').map_or(after.len(), |j| j);
            if j > 0 {
                let end = 2 + i + 1 + j;
                return (p[..end].to_string(), p[end..].to_string());
            }
        }
        return (String::new(), p.to_string());
    }
    if p.len() >= 2 && p.as_bytes()[1] == b':' {
        return (p[..2].to_string(), p[2..].to_string());
    }
    (String::new(), p.to_string())
}

fn win_splitdrive(state: &State, value: &Value) -> Result<Value, Error> {
    let (d, rest) = split_drive(&text(state, value, "win_splitdrive")?);
    Ok(Value::from(vec![Value::from(d), Value::from(rest)]))
}

fn win_split(p: &str) -> (String, String) {
    let (d, rest) = split_drive(p);
    let i = rest.rfind(['/', '\\']).map_or(0, |i| i + 1);
    let (head, tail) = rest.split_at(i);
    let trimmed = head.trim_end_matches(['/', '\\']);
    let head = if trimmed.is_empty() { head } else { trimmed };
    (format!("{d}{head}"), tail.to_string())
}

fn win_basename(state: &State, value: &Value) -> Result<Value, Error> {
    Ok(Value::from(
        win_split(&text(state, value, "win_basename")?).1,
    ))
}

fn win_dirname(state: &State, value: &Value) -> Result<Value, Error> {
    Ok(Value::from(
        win_split(&text(state, value, "win_dirname")?).0,
    ))
}

fn items_of(v: &Value, what: &str) -> Result<Vec<Value>, Error> {
    match v.kind() {
        ValueKind::String => Ok(v
            .as_str()
            .unwrap_or("")
            .chars()
            .map(|c| Value::from(c.to_string()))
            .collect()),
        _ => v
            .try_iter()
            .map(Iterator::collect)
            .map_err(|_| op_err(format!("{what}: '{}' object is not iterable", py_str(v)))),
    }
}

/// `product(*iterables, repeat=1)`: the cartesian product, as lists.
fn product(value: &Value, args: &[Value], kwargs: Kwargs) -> Result<Value, Error> {
    let repeat: Option<i64> = kwargs.get("repeat")?;
    kwargs.assert_all_used()?;
    let mut pools = vec![items_of(value, "product")?];
    for a in args {
        pools.push(items_of(a, "product")?);
    }
    let pools: Vec<Vec<Value>> = (0..repeat.unwrap_or(1).max(0))
        .flat_map(|_| pools.clone())
        .collect();
    let mut acc: Vec<Vec<Value>> = vec![Vec::new()];
    for pool in &pools {
        acc = acc
            .iter()
            .flat_map(|p| {
                pool.iter().map(move |x| {
                    let mut n = p.clone();
                    n.push(x.clone());
                    n
                })
            })
            .collect();
    }
    Ok(Value::from(
        acc.into_iter().map(Value::from).collect::<Vec<_>>(),
    ))
}

/// Index tuples of `r` out of `n` in lexicographic order (`itertools.combinations`).
fn combos(n: usize, r: usize) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    if r > n {
        return out;
    }
    let mut idx: Vec<usize> = (0..r).collect();
    loop {
        out.push(idx.clone());
        let Some(i) = (0..r).rev().find(|&i| idx[i] != i + n - r) else {
            return out;
        };
        idx[i] += 1;
        for j in i + 1..r {
            idx[j] = idx[j - 1] + 1;
        }
    }
}

fn combinations(value: &Value, r: i64) -> Result<Value, Error> {
    let items = items_of(value, "combinations")?;
    let r = usize::try_from(r).map_err(|_| op_err("r must be non-negative"))?;
    Ok(Value::from(
        combos(items.len(), r)
            .into_iter()
            .map(|c| Value::from(c.into_iter().map(|i| items[i].clone()).collect::<Vec<_>>()))
            .collect::<Vec<_>>(),
    ))
}

/// `permutations(r=None)`: `itertools.permutations` order, as lists.
fn permutations(value: &Value, r: Option<i64>) -> Result<Value, Error> {
    let items = items_of(value, "permutations")?;
    let n = items.len();
    let r = match r {
        Some(r) => usize::try_from(r).map_err(|_| op_err("r must be non-negative"))?,
        None => n,
    };
    let mut out = Vec::new();
    fn walk(
        n: usize,
        r: usize,
        cur: &mut Vec<usize>,
        used: &mut Vec<bool>,
        out: &mut Vec<Vec<usize>>,
    ) {
        if cur.len() == r {
            out.push(cur.clone());
            return;
        }
        for i in 0..n {
            if !used[i] {
                used[i] = true;
                cur.push(i);
                walk(n, r, cur, used, out);
                cur.pop();
                used[i] = false;
            }
        }
    }
    if r <= n {
        walk(n, r, &mut Vec::new(), &mut vec![false; n], &mut out);
    }
    Ok(Value::from(
        out.into_iter()
            .map(|c| Value::from(c.into_iter().map(|i| items[i].clone()).collect::<Vec<_>>()))
            .collect::<Vec<_>>(),
    ))
}

/// `urlsplit(query='')`: the parts of a URL as Python's `urlsplit` names them, or one part.
fn urlsplit(state: &State, value: &Value, query: Option<String>) -> Result<Value, Error> {
    let url = text(state, value, "urlsplit")?;
    let (scheme, rest) = match url.split_once(':') {
        Some((s, r))
            if !s.is_empty()
                && s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
        {
            (s.to_ascii_lowercase(), r)
        }
        _ => (String::new(), url.as_str()),
    };
    let (rest, fragment) = rest.split_once('#').unwrap_or((rest, ""));
    let (rest, q) = rest.split_once('?').unwrap_or((rest, ""));
    let (netloc, path) = match rest.strip_prefix("//") {
        Some(r) => match r.find('/') {
            Some(i) => (&r[..i], &r[i..]),
            None => (r, ""),
        },
        None => ("", rest),
    };
    let (userinfo, hostport) = match netloc.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, netloc),
    };
    let (username, password) = match userinfo {
        Some(u) => match u.split_once(':') {
            Some((a, b)) => (Value::from(a), Value::from(b)),
            None => (Value::from(u), Value::from(())),
        },
        None => (Value::from(()), Value::from(())),
    };
    let (host, port) = if hostport.starts_with('[') {
        match hostport.find(']') {
            Some(i) => (&hostport[1..i], hostport[i + 1..].strip_prefix(':')),
            None => (hostport, None),
        }
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    let port = match port.filter(|p| !p.is_empty()) {
        Some(p) => Value::from(
            p.parse::<u16>()
                .map_err(|_| op_err(format!("Port could not be cast to integer value as '{p}'")))?,
        ),
        None => Value::from(()),
    };
    let hostname = if host.is_empty() {
        Value::from(())
    } else {
        Value::from(host.to_ascii_lowercase())
    };
    let parts: Vec<(&str, Value)> = vec![
        ("fragment", Value::from(fragment)),
        ("hostname", hostname),
        ("netloc", Value::from(netloc)),
        ("password", password),
        ("path", Value::from(path)),
        ("port", port),
        ("query", Value::from(q)),
        ("scheme", Value::from(scheme)),
        ("username", username),
    ];
    match query.filter(|q| !q.is_empty()) {
        Some(want) => parts
            .into_iter()
            .find(|(k, _)| *k == want)
            .map(|(_, v)| v)
            .ok_or_else(|| op_err(format!("urlsplit: unknown URL component: {want}"))),
        None => Ok(Value::from_iter(
            parts.into_iter().map(|(k, v)| (Value::from(k), v)),
        )),
    }
}

#[cfg(test)]
mod tests {
    use crate::template::env;

    fn eval(expr: &str) -> String {
        env()
            .compile_expression(expr)
            .and_then(|e| e.eval(()))
            .map(|v| v.to_string())
            .unwrap_or_else(|e| format!("error: {e}"))
    }

    #[test]
    fn ansible_values() {
        assert_eq!(
            eval("'monkeys' | to_uuid"),
            "0d03a178-da0f-5b51-934e-cda9c76578c3"
        );
        assert_eq!(eval("'/a/./b/../c//d' | normpath"), "/a/c/d");
        assert_eq!(
            eval("'---\\na: 1\\n---\\nb: 2' | from_yaml_all | length"),
            "2"
        );
        assert_eq!(eval("[1, 2] | product(['a']) | list | length"), "2");
        assert_eq!(eval("[1, 2, 3] | combinations(2) | list | length"), "3");
        assert_eq!(eval("[1, 2, 3] | permutations | list | length"), "6");
        assert_eq!(
            eval("'https://u:p@Www.Example.com:8080/x?q=1#f' | urlsplit('hostname')"),
            "www.example.com"
        );
        assert_eq!(
            eval("'https://example.com:8080/x' | urlsplit('port')"),
            "8080"
        );
        assert_eq!(eval("'C:\\\\Users\\\\x.txt' | win_basename"), "x.txt");
    }
}
