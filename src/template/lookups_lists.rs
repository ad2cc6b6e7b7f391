//! The lookups that shape their terms into lists (`list`, `items`, `indexed_items`, `dict`,
//! `together`, `nested`), as ansible-core's plugins of those names do for `lookup()` and
//! `query()` (the `with_<name>` loops have their own code in the executor).

use minijinja::value::{Kwargs, Value, ValueKind};
use minijinja::{Error, ErrorKind, State};

fn err(msg: String) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg)
}

/// `list`: the terms as given.
pub fn list(_: &State, terms: &[Value], _: &Kwargs) -> Result<Vec<Value>, Error> {
    Ok(terms.to_vec())
}

/// `items`: the terms, lists among them flattened one level.
pub fn items(_: &State, terms: &[Value], _: &Kwargs) -> Result<Vec<Value>, Error> {
    let mut out = Vec::new();
    for t in terms {
        match t.kind() {
            ValueKind::Seq => out.extend(t.try_iter()?),
            _ => out.push(t.clone()),
        }
    }
    Ok(out)
}

/// `indexed_items`: `[index, item]` pairs of the terms.
pub fn indexed_items(s: &State, terms: &[Value], k: &Kwargs) -> Result<Vec<Value>, Error> {
    Ok(items(s, terms, k)?
        .into_iter()
        .enumerate()
        .map(|(i, v)| Value::from(vec![Value::from(i), v]))
        .collect())
}

/// `dict`: `{key, value}` for each entry of each term, which must be a mapping.
pub fn dict(_: &State, terms: &[Value], _: &Kwargs) -> Result<Vec<Value>, Error> {
    let mut out = Vec::new();
    for t in terms {
        if t.kind() != ValueKind::Map {
            return Err(err(format!(
                "the 'dict' lookup plugin expects a dictionary, got '{t}' of type <class '{}'>)",
                super::filters_more::type_debug(t)
            )));
        }
        for k in t.try_iter()? {
            let v = t.get_item(&k)?;
            out.push(Value::from_iter([("key", k), ("value", v)]));
        }
    }
    Ok(out)
}

/// The terms as lists (a term that is no list is a list of itself).
fn lists(terms: &[Value]) -> Result<Vec<Vec<Value>>, Error> {
    terms
        .iter()
        .map(|t| match t.kind() {
            ValueKind::Seq | ValueKind::Iterable => Ok(t.try_iter()?.collect()),
            _ => Ok(vec![t.clone()]),
        })
        .collect()
}

/// `together`: the terms' lists zipped, the shorter ones padded with none.
pub fn together(_: &State, terms: &[Value], _: &Kwargs) -> Result<Vec<Value>, Error> {
    let lists = lists(terms)?;
    if lists.is_empty() {
        return Err(err(
            "with_together requires at least one element in each list".into(),
        ));
    }
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

/// `nested`: the product of the terms' lists.
pub fn nested(_: &State, terms: &[Value], _: &Kwargs) -> Result<Vec<Value>, Error> {
    let lists = lists(terms)?;
    if lists.is_empty() {
        return Err(err(
            "with_nested requires at least one element in the nested list".into(),
        ));
    }
    let mut acc: Vec<Vec<Value>> = vec![Vec::new()];
    for l in &lists {
        acc = acc
            .iter()
            .flat_map(|prefix| {
                l.iter().map(move |i| {
                    let mut p = prefix.clone();
                    p.push(i.clone());
                    p
                })
            })
            .collect();
    }
    Ok(acc.into_iter().map(Value::from).collect())
}
