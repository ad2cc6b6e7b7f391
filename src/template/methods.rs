//! Python methods on values that templates call (`'a,b'.index(',')`, `[1, 2].index(2)`,
//! `x.copy()`), beyond those minijinja-contrib's `pycompat` gives; unknown ones go to it.

use minijinja::value::{Value, ValueKind};
use minijinja::{Error, ErrorKind, State};

fn fail(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg.into())
}

/// The environment's unknown-method callback.
pub fn call(
    state: &mut State,
    value: &Value,
    method: &str,
    args: &[Value],
) -> Result<Value, Error> {
    match (value.kind(), method) {
        (ValueKind::String, "index" | "rindex") => {
            let s = value.as_str().unwrap_or_default();
            let needle = args
                .first()
                .and_then(|a| a.as_str())
                .ok_or_else(|| fail(format!("{method}() needs a string")))?;
            let found = if method == "index" {
                s.find(needle)
            } else {
                s.rfind(needle)
            };
            let at = found.ok_or_else(|| fail("substring not found"))?;
            Ok(Value::from(s[..at].chars().count()))
        }
        (ValueKind::String, "zfill") => {
            let s = value.as_str().unwrap_or_default();
            let width = args.first().and_then(|a| a.as_usize()).unwrap_or(0);
            let n = s.chars().count();
            if n >= width {
                return Ok(value.clone());
            }
            let (sign, digits) = match s.strip_prefix(['-', '+']) {
                Some(rest) => (&s[..1], rest),
                None => ("", s),
            };
            Ok(Value::from(format!(
                "{sign}{}{digits}",
                "0".repeat(width - n)
            )))
        }
        (ValueKind::String, "partition" | "rpartition") => {
            let s = value.as_str().unwrap_or_default();
            let sep = args.first().and_then(|a| a.as_str()).unwrap_or(" ");
            let hit = if method == "partition" {
                s.split_once(sep)
            } else {
                s.rsplit_once(sep)
            };
            Ok(Value::from(match hit {
                Some((a, b)) => vec![a.to_string(), sep.to_string(), b.to_string()],
                None if method == "partition" => vec![s.to_string(), String::new(), String::new()],
                None => vec![String::new(), String::new(), s.to_string()],
            }))
        }
        (ValueKind::Seq | ValueKind::Iterable, "index") => {
            let needle = args.first().cloned().unwrap_or_default();
            value
                .try_iter()?
                .position(|v| v == needle)
                .map(Value::from)
                .ok_or_else(|| fail(format!("{needle} is not in list")))
        }
        (ValueKind::Seq | ValueKind::Iterable, "count") => {
            let needle = args.first().cloned().unwrap_or_default();
            Ok(Value::from(
                value.try_iter()?.filter(|v| *v == needle).count(),
            ))
        }
        (ValueKind::Seq | ValueKind::Iterable, "copy") => {
            Ok(Value::from(value.try_iter()?.collect::<Vec<_>>()))
        }
        (ValueKind::Map, "copy") => {
            let mut m = indexmap::IndexMap::new();
            for k in value.try_iter()? {
                let v = value.get_item(&k)?;
                m.insert(k, v);
            }
            Ok(Value::from_object(m))
        }
        _ => minijinja_contrib::pycompat::unknown_method_callback(state, value, method, args),
    }
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
    fn python_methods() {
        assert_eq!(render("{{ [1, 2, 3].index(2) }}"), "1");
        assert_eq!(render("{{ 'abc'.index('c') }}"), "2");
        assert_eq!(render("{{ '7'.zfill(3) }}"), "007");
        assert_eq!(render("{{ [1, 1, 2].count(1) }}"), "2");
        assert_eq!(render("{{ 'a=b=c'.partition('=') }}"), "['a', '=', 'b=c']");
        assert_eq!(render("{{ 'abc'.upper() }}"), "ABC");
    }
}
