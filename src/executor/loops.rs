//! Turning a rendered loop value into items, per loop keyword, with Ansible's semantics:
//! `loop` takes a list as is, `with_items` flattens one level, `with_flattened` all levels,
//! `with_dict` gives `{key, value}`, `with_indexed_items` `[index, item]`, `with_nested` the
//! cartesian product, `with_together` a zip, `with_subelements` `[parent, child]` pairs,
//! `with_sequence` numbers from `start=/end=/stride=/count=/format=` or `A-B`.

use crate::vars::map_value;
use anyhow::{anyhow, bail, Result};
use minijinja::value::ValueKind;
use minijinja::Value;

fn list_of(v: &Value, what: &str) -> Result<Vec<Value>> {
    match v.kind() {
        ValueKind::Seq | ValueKind::Iterable => Ok(v.try_iter()?.collect()),
        ValueKind::None | ValueKind::Undefined => Ok(Vec::new()),
        other => Err(anyhow!("`{what}` needs a list, got {other}\nhint: for a mapping use `{{{{ x | dict2items }}}}` or `with_dict`")),
    }
}

fn flatten(items: Vec<Value>, levels: usize) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for i in items {
        if levels > 0 && i.kind() == ValueKind::Seq {
            out.extend(flatten(i.try_iter()?.collect(), levels - 1)?);
        } else {
            out.push(i);
        }
    }
    Ok(out)
}

fn sequence(spec: &str) -> Result<Vec<Value>> {
    let (mut start, mut end, mut stride, mut count, mut format) = (1i64, None, 1i64, None, None);
    let num = |s: &str| -> Result<i64> {
        let s = s.trim();
        let parsed = if let Some(h) = s.strip_prefix("0x") {
            i64::from_str_radix(h, 16)
        } else {
            s.parse()
        };
        parsed.map_err(|_| anyhow!("`with_sequence`: `{s}` is not a number"))
    };
    for word in spec.split_whitespace() {
        if let Some((k, v)) = word.split_once('=') {
            match k {
                "start" => start = num(v)?,
                "end" => end = Some(num(v)?),
                "stride" => stride = num(v)?,
                "count" => count = Some(num(v)?),
                "format" => format = Some(v.to_string()),
                _ => bail!(
                    "`with_sequence`: unknown option `{k}` (use start, end, stride, count, format)"
                ),
            }
        } else if let Some((a, b)) = word.split_once('-') {
            start = num(a)?;
            end = Some(num(b)?);
        } else {
            end = Some(num(word)?);
        }
    }
    let end = match (end, count) {
        (Some(_), Some(_)) => bail!("`with_sequence`: give `end` or `count`, not both"),
        (Some(e), None) => e,
        (None, Some(c)) => start + (c - 1) * stride,
        (None, None) => bail!("`with_sequence` needs `end` or `count`"),
    };
    if stride == 0 {
        bail!("`with_sequence`: stride must not be 0");
    }
    let mut out = Vec::new();
    let mut i = start;
    while (stride > 0 && i <= end) || (stride < 0 && i >= end) {
        let text = match &format {
            Some(f) => printf_int(f, i),
            None => i.to_string(),
        };
        out.push(Value::from(text));
        i += stride;
        if out.len() > 1_000_000 {
            bail!("`with_sequence` would make more than a million items");
        }
    }
    Ok(out)
}

/// Python `%` formatting of one integer: `%d`, `%02d`, `%x`, `%o` inside literal text.
fn printf_int(fmt: &str, n: i64) -> String {
    let re = regex::Regex::new(r"%(0?)(\d*)([dixXo])").ok();
    let Some(re) = re else { return fmt.to_string() };
    re.replace(fmt, |c: &regex::Captures| {
        let zero = &c[1] == "0";
        let width: usize = c[2].parse().unwrap_or(0);
        let body = match &c[3] {
            "x" => format!("{n:x}"),
            "X" => format!("{n:X}"),
            "o" => format!("{n:o}"),
            _ => n.to_string(),
        };
        if zero {
            format!("{body:0>width$}")
        } else {
            format!("{body:>width$}")
        }
    })
    .into_owned()
}

/// The `with_<name>` loops this file turns into items itself; any other `with_<name>` asks
/// the lookup plugin of that name.
pub const NATIVE: &[&str] = &[
    "items",
    "list",
    "flattened",
    "dict",
    "indexed_items",
    "sequence",
    "nested",
    "together",
    "subelements",
    "random_choice",
];

/// The items a loop of `kind` iterates over.
pub fn loop_values(v: &Value, kind: &str) -> Result<Vec<Value>> {
    match kind {
        "with_dict" => {
            // As the `dict` lookup: a mapping, or a list of mappings whose entries add up.
            let terms = match v.kind() {
                ValueKind::Seq | ValueKind::Iterable => v.try_iter()?.collect(),
                _ => vec![v.clone()],
            };
            let mut out = Vec::new();
            for t in terms {
                if t.kind() != ValueKind::Map {
                    bail!(
                        "the 'dict' lookup plugin expects a dictionary, got '{t}' of type <class '{}'>",
                        crate::template::filters_more::type_debug(&t)
                    );
                }
                for k in t.try_iter()? {
                    out.push(map_value([
                        ("key".to_string(), k.clone()),
                        ("value".to_string(), t.get_item(&k)?),
                    ]));
                }
            }
            Ok(out)
        }
        "with_items" => match v.kind() {
            ValueKind::String | ValueKind::Number | ValueKind::Bool => Ok(vec![v.clone()]),
            _ => flatten(list_of(v, kind)?, 1),
        },
        "with_flattened" => flatten(list_of(v, kind)?, usize::MAX),
        "with_indexed_items" => Ok(flatten(list_of(v, kind)?, 1)?
            .into_iter()
            .enumerate()
            .map(|(i, x)| Value::from(vec![Value::from(i), x]))
            .collect()),
        "with_nested" => {
            let mut acc: Vec<Vec<Value>> = vec![Vec::new()];
            for list in list_of(v, kind)? {
                let items = match list.kind() {
                    ValueKind::Seq => list.try_iter()?.collect::<Vec<_>>(),
                    _ => vec![list],
                };
                acc = acc
                    .iter()
                    .flat_map(|prefix| {
                        items.iter().map(move |i| {
                            let mut p = prefix.clone();
                            p.push(i.clone());
                            p
                        })
                    })
                    .collect();
            }
            Ok(acc.into_iter().map(Value::from).collect())
        }
        "with_together" => {
            let lists: Vec<Vec<Value>> = list_of(v, kind)?
                .iter()
                .map(|l| l.try_iter().map(|i| i.collect()).unwrap_or_default())
                .collect();
            let n = lists.iter().map(Vec::len).max().unwrap_or(0);
            Ok((0..n)
                .map(|i| {
                    Value::from(
                        lists
                            .iter()
                            .map(|l| l.get(i).cloned().unwrap_or(Value::from(())))
                            .collect::<Vec<_>>(),
                    )
                })
                .collect())
        }
        "with_subelements" => {
            let args = list_of(v, kind)?;
            let (Some(parents), Some(key)) = (args.first(), args.get(1)) else {
                bail!("`with_subelements` needs a list and a key: `[users, 'keys']`");
            };
            let key = key.to_string();
            let mut out = Vec::new();
            for p in list_of(parents, kind)? {
                let subs = p
                    .get_attr(&key)
                    .map_err(|e| anyhow!("`with_subelements`: {e}"))?;
                if subs.is_undefined() {
                    bail!("`with_subelements`: an item has no key `{key}`");
                }
                for s in list_of(&subs, kind)? {
                    out.push(Value::from(vec![p.clone(), s]));
                }
            }
            Ok(out)
        }
        "with_sequence" => sequence(&v.to_string()),
        "with_random_choice" => {
            let items = list_of(v, kind)?;
            if items.is_empty() {
                return Ok(items);
            }
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            Ok(vec![items[nanos as usize % items.len()].clone()])
        }
        _ => list_of(v, "loop"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::value_from_yaml_str;

    fn items(kind: &str, yaml: &str) -> String {
        let v = value_from_yaml_str(yaml).unwrap();
        let out = loop_values(&v, kind).unwrap();
        serde_json::to_string(&Value::from(out)).unwrap()
    }

    #[test]
    fn loop_kinds_table() {
        let table = [
            ("loop", "[[1, 2], 3]", "[[1,2],3]"),
            ("with_items", "[[1, 2], 3, [[4]]]", "[1,2,3,[4]]"),
            ("with_items", "solo", "[\"solo\"]"),
            ("with_flattened", "[[1, [2, [3]]], 4]", "[1,2,3,4]"),
            ("with_dict", "{a: 1, b: 2}", "[{\"key\":\"a\",\"value\":1},{\"key\":\"b\",\"value\":2}]"),
            ("with_dict", "[{a: 1}, {b: 2}]", "[{\"key\":\"a\",\"value\":1},{\"key\":\"b\",\"value\":2}]"),
            ("with_indexed_items", "[a, b]", "[[0,\"a\"],[1,\"b\"]]"),
            ("with_nested", "[[a, b], [1, 2]]", "[[\"a\",1],[\"a\",2],[\"b\",1],[\"b\",2]]"),
            ("with_together", "[[a, b], [1]]", "[[\"a\",1],[\"b\",null]]"),
            ("with_subelements", "[[{n: x, ks: [1, 2]}, {n: y, ks: [3]}], ks]", "[[{\"n\":\"x\",\"ks\":[1,2]},1],[{\"n\":\"x\",\"ks\":[1,2]},2],[{\"n\":\"y\",\"ks\":[3]},3]]"),
            ("with_sequence", "start=1 end=3", "[\"1\",\"2\",\"3\"]"),
            ("with_sequence", "'2-6 stride=2'", "[\"2\",\"4\",\"6\"]"),
            ("with_sequence", "count=3 format=web%02d", "[\"web01\",\"web02\",\"web03\"]"),
            ("with_sequence", "start=5 end=1 stride=-2", "[\"5\",\"3\",\"1\"]"),
        ];
        for (kind, input, want) in table {
            assert_eq!(items(kind, input), want, "{kind} {input}");
        }
    }

    #[test]
    fn bad_loops_say_why() {
        let v = value_from_yaml_str("{a: 1}").unwrap();
        assert!(loop_values(&v, "loop")
            .unwrap_err()
            .to_string()
            .contains("dict2items"));
        let v = Value::from("start=1");
        assert!(loop_values(&v, "with_sequence")
            .unwrap_err()
            .to_string()
            .contains("end"));
    }
}
