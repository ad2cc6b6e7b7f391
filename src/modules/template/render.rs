//! What the template module renders with: the task's variables under Ansible's template
//! variables, the rendering options, the newline sequence and the output encoding.

use super::*;

/// The task's variables with the template variables layered on: `over` wins over the task's
/// variables, `under` only fills names the task does not define.
#[derive(Debug)]
pub(super) struct TemplateVars {
    pub(super) base: Value,
    pub(super) over: VarMap,
    pub(super) under: VarMap,
}

impl Object for TemplateVars {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let name = key.as_str()?;
        if let Some(v) = self.over.get(name) {
            return Some(v.clone());
        }
        match self.base.get_item(key) {
            Ok(v) if !v.is_undefined() => Some(v),
            _ => self.under.get(name).cloned(),
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let mut names: indexmap::IndexSet<String> = indexmap::IndexSet::new();
        if let Ok(it) = self.base.try_iter() {
            for k in it {
                names.insert(
                    k.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| k.to_string()),
                );
            }
        }
        names.extend(self.over.keys().cloned());
        names.extend(self.under.keys().cloned());
        Enumerator::Values(names.into_iter().map(Value::from).collect())
    }
}

/// Accepts `\n` and the escaped spelling `'\\n'` (Ansible's `newline_sequence` choices).
pub(super) fn newline_sequence(args: &Args) -> Result<String> {
    let raw = args.str("newline_sequence").unwrap_or_else(|| "\n".into());
    let seq = raw.replace("\\n", "\n").replace("\\r", "\r");
    if !["\n", "\r", "\r\n"].contains(&seq.as_str()) {
        return Err(fail(format!(
            "newline_sequence needs to be one of: \\n, \\r or \\r\\n, not {raw:?}"
        )));
    }
    Ok(seq)
}

/// The template module's rendering options from its arguments.
pub(super) fn file_options(args: &Args) -> Result<crate::template::file::Options> {
    let mut o = crate::template::file::Options {
        trim_blocks: args.bool_or("trim_blocks", true)?,
        lstrip_blocks: args.bool_or("lstrip_blocks", false)?,
        ..Default::default()
    };
    for (slot, key) in o
        .delimiters
        .iter_mut()
        .zip(crate::template::file::DELIMITER_KEYS)
    {
        if let Some(v) = args.str(key) {
            *slot = v;
        }
    }
    Ok(o)
}

/// The rendered text in `output_encoding`: UTF-8 (the default, also for an empty name),
/// ISO-8859-1 or Windows-1252; a character the encoding lacks fails, as Python's strict
/// encoding does.
pub(super) fn encode(text: &str, encoding: &str) -> Result<Vec<u8>> {
    // Windows-1252's 0x80..=0x9F (0 where the code page has no character).
    const CP1252: [u16; 32] = [
        0x20AC, 0, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039,
        0x0152, 0, 0x017D, 0, 0, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC,
        0x2122, 0x0161, 0x203A, 0x0153, 0, 0x017E, 0x0178,
    ];
    let name = encoding.to_ascii_lowercase().replace('_', "-");
    let cp1252 = match name.as_str() {
        "" | "utf-8" | "utf8" => return Ok(text.as_bytes().to_vec()),
        "latin-1" | "latin1" | "iso-8859-1" | "iso8859-1" => false,
        "windows-1252" | "cp1252" => true,
        _ => {
            return Err(fail(format!(
                "output_encoding {encoding} is not supported (utf-8, latin-1 and windows-1252 are)"
            )))
        }
    };
    text.chars()
        .map(|c| {
            let u = c as u32;
            let mapped = if cp1252 {
                match u {
                    0x80..=0x9F => None,
                    0..=0xFF => Some(u as u8),
                    _ => CP1252
                        .iter()
                        .position(|&x| u32::from(x) == u && x != 0)
                        .map(|i| 0x80 + i as u8),
                }
            } else {
                u8::try_from(u).ok()
            };
            mapped.ok_or_else(|| {
                fail(format!(
                    "'{encoding}' codec can't encode character '{}'",
                    c.escape_unicode()
                ))
            })
        })
        .collect()
}
