//! The Python readings INI inventories rely on: `shlex.split(line, comments=True)` for host
//! lines and `ast.literal_eval` for `key=value` values (numbers, `True`/`False`/`None`, quoted
//! strings, lists, tuples, dicts and sets), as Ansible's `ini` inventory plugin applies them.

pub use crate::shell::{shlex_split, Word};
use indexmap::IndexMap;
use minijinja::Value;

/// Reads an INI value the way Ansible does: `ast.literal_eval`, and the text itself when that
/// fails. Tuples and sets become lists, `...` and complex numbers stay text.
pub fn ini_value(text: &str) -> Value {
    literal_eval(text).unwrap_or_else(|| Value::from(text))
}

/// Python's `ast.literal_eval` for the literal forms inventories use; `None` where Python
/// would raise (names, arithmetic, syntax errors).
pub fn literal_eval(text: &str) -> Option<Value> {
    let mut p = Parser {
        s: text.trim_start_matches([' ', '\t']).chars().collect(),
        i: 0,
    };
    p.skip_ws();
    if p.eof() {
        return None;
    }
    let first = p.expr()?;
    p.skip_ws();
    let value = if p.peek() == Some(',') {
        // A bare `1, 2` is a tuple.
        let mut items = vec![first];
        while p.eat(',') {
            p.skip_ws();
            if p.eof() {
                break;
            }
            items.push(p.expr()?);
            p.skip_ws();
        }
        Value::from(items)
    } else {
        first
    };
    p.skip_ws();
    p.eof().then_some(value)
}

struct Parser {
    s: Vec<char>,
    i: usize,
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.s.get(self.i).copied()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.s.get(self.i + n).copied()
    }

    fn eof(&self) -> bool {
        self.i >= self.s.len()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    /// Skips whitespace and `#` comments.
    fn skip_ws(&mut self) {
        while let Some(c) = self.peek() {
            if c.is_whitespace() {
                self.i += 1;
            } else if c == '#' {
                while let Some(c) = self.peek() {
                    if c == '\n' {
                        break;
                    }
                    self.i += 1;
                }
            } else {
                break;
            }
        }
    }

    fn expr(&mut self) -> Option<Value> {
        self.skip_ws();
        let c = self.peek()?;
        match c {
            '+' | '-' => {
                self.i += 1;
                self.skip_ws();
                let n = self.number()?;
                Some(match (c, n) {
                    ('-', Num::Int(i)) => int_value(-i),
                    ('-', Num::Float(f)) => Value::from(-f),
                    (_, n) => n.into_value(),
                })
            }
            '[' => {
                self.i += 1;
                Some(Value::from(self.items(']')?))
            }
            '(' => {
                self.i += 1;
                self.skip_ws();
                if self.eat(')') {
                    return Some(Value::from(Vec::<Value>::new()));
                }
                let first = self.expr()?;
                self.skip_ws();
                if self.eat(')') {
                    return Some(first);
                }
                if !self.eat(',') {
                    return None;
                }
                let mut rest = self.items(')')?;
                rest.insert(0, first);
                Some(Value::from(rest))
            }
            '{' => {
                self.i += 1;
                self.brace()
            }
            '.' if self.peek_at(1) == Some('.') && self.peek_at(2) == Some('.') => {
                self.i += 3;
                Some(Value::from("..."))
            }
            '\'' | '"' => self.strings(),
            c if c.is_ascii_digit()
                || (c == '.' && self.peek_at(1).is_some_and(|d| d.is_ascii_digit())) =>
            {
                self.number().map(Num::into_value)
            }
            c if is_ident_char(c) => {
                if self.string_prefix_len().is_some() {
                    return self.strings();
                }
                let start = self.i;
                while self.peek().is_some_and(is_ident_char) {
                    self.i += 1;
                }
                let name: String = self.s[start..self.i].iter().collect();
                match name.as_str() {
                    "True" => Some(Value::from(true)),
                    "False" => Some(Value::from(false)),
                    "None" => Some(Value::from(())),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// Comma-separated expressions up to `close` (trailing comma allowed); the opening
    /// bracket is already consumed.
    fn items(&mut self, close: char) -> Option<Vec<Value>> {
        let mut out = Vec::new();
        loop {
            self.skip_ws();
            if self.eat(close) {
                return Some(out);
            }
            out.push(self.expr()?);
            self.skip_ws();
            if self.eat(close) {
                return Some(out);
            }
            if !self.eat(',') {
                return None;
            }
        }
    }

    /// A dict or a set; the `{` is already consumed.
    fn brace(&mut self) -> Option<Value> {
        self.skip_ws();
        if self.eat('}') {
            return Some(Value::from_object(IndexMap::<Value, Value>::new()));
        }
        let first = self.expr()?;
        self.skip_ws();
        if self.eat(':') {
            let mut map = IndexMap::new();
            let mut key = first;
            loop {
                let value = self.expr()?;
                if !hashable(&key) {
                    return None;
                }
                map.insert(key, value);
                self.skip_ws();
                if self.eat('}') {
                    return Some(Value::from_object(map));
                }
                if !self.eat(',') {
                    return None;
                }
                self.skip_ws();
                if self.eat('}') {
                    return Some(Value::from_object(map));
                }
                key = self.expr()?;
                self.skip_ws();
                if !self.eat(':') {
                    return None;
                }
            }
        }
        let mut items = vec![first];
        if !self.eat('}') {
            if !self.eat(',') {
                return None;
            }
            items.extend(self.items('}')?);
        }
        let mut set: Vec<Value> = Vec::new();
        for item in items {
            if !hashable(&item) {
                return None;
            }
            if !set.contains(&item) {
                set.push(item);
            }
        }
        Some(Value::from(set))
    }

    /// Length of a string prefix (`r`, `b`, `u`, `rb`, `f`, ...) directly followed by a quote.
    fn string_prefix_len(&self) -> Option<usize> {
        for len in [1, 2] {
            let prefix: String = (0..len)
                .filter_map(|n| self.peek_at(n))
                .collect::<String>()
                .to_ascii_lowercase();
            let valid = matches!(
                prefix.as_str(),
                "r" | "u" | "b" | "f" | "br" | "rb" | "fr" | "rf"
            );
            if valid && matches!(self.peek_at(len), Some('\'' | '"')) {
                return Some(len);
            }
        }
        None
    }

    /// One or more adjacent string literals, concatenated.
    fn strings(&mut self) -> Option<Value> {
        let mut out = String::new();
        let mut kind = None;
        loop {
            self.skip_ws();
            let prefix_len = match self.peek() {
                Some('\'' | '"') => 0,
                Some(c) if is_ident_char(c) => match self.string_prefix_len() {
                    Some(n) => n,
                    None => break,
                },
                _ => break,
            };
            let prefix: String = self.s[self.i..self.i + prefix_len]
                .iter()
                .collect::<String>()
                .to_ascii_lowercase();
            if prefix.contains('f') {
                return None; // f-strings are not literals
            }
            let bytes = prefix.contains('b');
            if *kind.get_or_insert(bytes) != bytes {
                return None; // str and bytes cannot be concatenated
            }
            self.i += prefix_len;
            out.push_str(&self.string_body(prefix.contains('r'), bytes)?);
        }
        kind.map(|_| Value::from(out))
    }

    fn string_body(&mut self, raw: bool, bytes: bool) -> Option<String> {
        let q = self.peek()?;
        let triple = self.peek_at(1) == Some(q) && self.peek_at(2) == Some(q);
        self.i += if triple { 3 } else { 1 };
        let mut out = String::new();
        loop {
            let c = self.peek()?;
            if c == q && (!triple || (self.peek_at(1) == Some(q) && self.peek_at(2) == Some(q))) {
                self.i += if triple { 3 } else { 1 };
                return Some(out);
            }
            if c == '\n' && !triple {
                return None;
            }
            if bytes && !c.is_ascii() {
                return None;
            }
            self.i += 1;
            if c != '\\' {
                out.push(c);
                continue;
            }
            let e = self.peek()?;
            self.i += 1;
            if raw {
                out.push('\\');
                out.push(e);
                continue;
            }
            match e {
                '\n' => {}
                '\\' | '\'' | '"' => out.push(e),
                'a' => out.push('\x07'),
                'b' => out.push('\x08'),
                'f' => out.push('\x0c'),
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                'v' => out.push('\x0b'),
                '0'..='7' => {
                    let mut n = e.to_digit(8)?;
                    for _ in 0..2 {
                        match self.peek().and_then(|d| d.to_digit(8)) {
                            Some(d) => {
                                n = n * 8 + d;
                                self.i += 1;
                            }
                            None => break,
                        }
                    }
                    out.push(char::from_u32(n)?);
                }
                'x' => out.push(self.hex_escape(2)?),
                'u' if !bytes => out.push(self.hex_escape(4)?),
                'U' if !bytes => out.push(self.hex_escape(8)?),
                'N' if !bytes => return None,
                other => {
                    out.push('\\');
                    out.push(other);
                }
            }
        }
    }

    fn hex_escape(&mut self, len: usize) -> Option<char> {
        let mut n = 0u32;
        for _ in 0..len {
            let d = self.peek()?.to_digit(16)?;
            n = n.checked_mul(16)? + d;
            self.i += 1;
        }
        char::from_u32(n)
    }

    /// A Python number token: decimal, hex, octal or binary integers with `_` separators,
    /// or a float. Imaginary numbers and malformed tokens (`007`, `56L`) give `None`.
    fn number(&mut self) -> Option<Num> {
        let start = self.i;
        while self.peek().is_some_and(|c| is_ident_char(c) || c == '.')
            || (matches!(self.peek(), Some('+' | '-'))
                && matches!(self.s.get(self.i.wrapping_sub(1)), Some('e' | 'E'))
                && !self.s[start..self.i].iter().any(|c| matches!(c, 'x' | 'X')))
        {
            self.i += 1;
        }
        let tok: String = self.s[start..self.i].iter().collect();
        number_token(&tok)
    }
}

fn hashable(v: &Value) -> bool {
    !matches!(
        v.kind(),
        minijinja::value::ValueKind::Seq | minijinja::value::ValueKind::Map
    )
}

/// A Python number literal.
enum Num {
    Int(i128),
    Float(f64),
}

impl Num {
    fn into_value(self) -> Value {
        match self {
            Num::Int(i) => int_value(i),
            Num::Float(f) => Value::from(f),
        }
    }
}

/// Digits with single `_` between them, all accepted by `ok`.
fn digits_ok(s: &str, ok: impl Fn(char) -> bool) -> bool {
    !s.is_empty()
        && !s.starts_with('_')
        && !s.ends_with('_')
        && !s.contains("__")
        && s.chars().all(|c| c == '_' || ok(c))
}

fn number_token(tok: &str) -> Option<Num> {
    let lower = tok.to_ascii_lowercase();
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(body) = lower.strip_prefix(prefix) {
            let body = body.strip_prefix('_').unwrap_or(body);
            if !digits_ok(body, |c| c.is_digit(radix)) {
                return None;
            }
            let clean = body.replace('_', "");
            return i128::from_str_radix(&clean, radix).ok().map(Num::Int);
        }
    }
    if lower.ends_with('j') {
        return None; // complex numbers stay text
    }
    let is_float = lower.contains('.') || lower.contains('e');
    if !is_float {
        if !digits_ok(&lower, |c| c.is_ascii_digit()) {
            return None;
        }
        let clean = lower.replace('_', "");
        if clean.len() > 1 && clean.starts_with('0') && clean.bytes().any(|b| b != b'0') {
            return None; // leading zeros are a syntax error in Python 3
        }
        return clean.parse::<i128>().ok().map(Num::Int);
    }
    let (mantissa, exp) = match lower.split_once('e') {
        Some((m, e)) => (m, Some(e)),
        None => (lower.as_str(), None),
    };
    let (int_part, frac) = match mantissa.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mantissa, None),
    };
    let int_ok = int_part.is_empty() || digits_ok(int_part, |c| c.is_ascii_digit());
    let frac_ok = match frac {
        Some("") => !int_part.is_empty(),
        Some(f) => digits_ok(f, |c| c.is_ascii_digit()),
        None => !int_part.is_empty(),
    };
    let exp_ok = exp.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        digits_ok(e, |c| c.is_ascii_digit())
    });
    if !int_ok || !frac_ok || !exp_ok {
        return None;
    }
    lower.replace('_', "").parse::<f64>().ok().map(Num::Float)
}

fn int_value(i: i128) -> Value {
    match i64::try_from(i) {
        Ok(small) => Value::from(small),
        Err(_) => Value::from(i),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        shlex_split(line)
            .unwrap()
            .into_iter()
            .map(|w| w.text)
            .collect()
    }

    #[test]
    fn shlex_table() {
        let table: &[(&str, &[&str])] = &[
            ("a b  c", &["a", "b", "c"]),
            ("h x=\"a b\" y='c d'", &["h", "x=a b", "y=c d"]),
            ("h x=1 # comment", &["h", "x=1"]),
            ("h x=a#b", &["h", "x=a"]),
            ("h x='#not'", &["h", "x=#not"]),
            ("h x=\"'03#pa'\"", &["h", "x='03#pa'"]),
            ("h x=a\\ b", &["h", "x=a b"]),
            ("h x=\"a\\$b\\\"c\"", &["h", "x=a\\$b\"c"]),
            ("h x=''", &["h", "x="]),
            ("h ''", &["h", ""]),
        ];
        for (line, want) in table {
            assert_eq!(words(line), *want, "{line:?}");
        }
        let cols: Vec<usize> = shlex_split("ab  cd e")
            .unwrap()
            .iter()
            .map(|w| w.col)
            .collect();
        assert_eq!(cols, [0, 4, 7]);
        assert_eq!(
            shlex_split("h x='oops").unwrap_err(),
            "no closing quotation"
        );
        assert_eq!(shlex_split("h x\\").unwrap_err(), "no escaped character");
    }

    #[test]
    fn literal_table() {
        let map = |pairs: &[(&str, Value)]| {
            let m: IndexMap<Value, Value> = pairs
                .iter()
                .map(|(k, v)| (Value::from(*k), v.clone()))
                .collect();
            Value::from_object(m)
        };
        let table: Vec<(&str, Value)> = vec![
            ("22", Value::from(22)),
            ("-3", Value::from(-3)),
            ("+ 4", Value::from(4)),
            ("0x1F", Value::from(31)),
            ("0o17", Value::from(15)),
            ("0b101", Value::from(5)),
            ("1_000", Value::from(1000)),
            ("00", Value::from(0)),
            ("007", Value::from("007")),
            ("56L", Value::from("56L")),
            ("1.5", Value::from(1.5)),
            ("1.", Value::from(1.0)),
            (".5", Value::from(0.5)),
            ("1e3", Value::from(1000.0)),
            ("007.5", Value::from(7.5)),
            ("1.2.3", Value::from("1.2.3")),
            ("10-5", Value::from("10-5")),
            ("1j", Value::from("1j")),
            ("True", Value::from(true)),
            ("False", Value::from(false)),
            ("FALSE", Value::from("FALSE")),
            ("yes", Value::from("yes")),
            ("None", Value::from(())),
            ("'a b'", Value::from("a b")),
            ("\"x\\ty\"", Value::from("x\ty")),
            ("r'a\\n'", Value::from("a\\n")),
            ("'a' \"b\"", Value::from("ab")),
            ("'''tri'''", Value::from("tri")),
            ("b'raw'", Value::from("raw")),
            ("f'x'", Value::from("f'x'")),
            ("'unterminated", Value::from("'unterminated")),
            (
                "[1, 'two', None]",
                Value::from(vec![Value::from(1), Value::from("two"), Value::from(())]),
            ),
            ("(1,)", Value::from(vec![Value::from(1)])),
            ("(7)", Value::from(7)),
            ("()", Value::from(Vec::<Value>::new())),
            ("1, 2", Value::from(vec![Value::from(1), Value::from(2)])),
            (
                "{1, 1, 2}",
                Value::from(vec![Value::from(1), Value::from(2)]),
            ),
            (
                "{'a': 1, 'b': [True]}",
                map(&[
                    ("a", Value::from(1)),
                    ("b", Value::from(vec![Value::from(true)])),
                ]),
            ),
            ("{}", map(&[])),
            ("{[1]: 2}", Value::from("{[1]: 2}")),
            ("23 # trailing comment", Value::from(23)),
            (
                "hello # trailing comment",
                Value::from("hello # trailing comment"),
            ),
            ("...", Value::from("...")),
            ("", Value::from("")),
            ("/usr/bin/python3", Value::from("/usr/bin/python3")),
            ("192.168.1.10", Value::from("192.168.1.10")),
        ];
        for (input, want) in table {
            assert_eq!(ini_value(input), want, "input {input:?}");
        }
    }
}
