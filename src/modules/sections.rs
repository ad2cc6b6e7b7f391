//! Probe answers as named sections, read by one parser. A probe script starts each section
//! with a marker line that carries a random token of the run (`Marks::start`), so no line of
//! the data itself (an environment value, a file's content, a tool's message) can be taken
//! for a marker; `Marks::parse` cuts the answer back into its sections.

use std::collections::HashMap;

/// The markers of one probe.
pub struct Marks {
    token: String,
}

impl Default for Marks {
    fn default() -> Self {
        Marks::new()
    }
}

impl Marks {
    /// Markers with a fresh random token.
    pub fn new() -> Marks {
        Marks {
            token: crate::connection::random_token(),
        }
    }

    /// Markers with a given token (tests).
    #[cfg(test)]
    pub fn fixed(token: &str) -> Marks {
        Marks {
            token: token.to_string(),
        }
    }

    /// The marker line of section `name` (a plain word), as it appears in the answer.
    pub fn line(&self, name: &str) -> String {
        format!("@@{}:{name}", self.token)
    }

    /// The shell command that starts section `name`, with its newline.
    pub fn start(&self, name: &str) -> String {
        format!("{}\n", self.echo(name))
    }

    /// The shell command that starts section `name`, to use within a line.
    pub fn echo(&self, name: &str) -> String {
        format!("echo '{}'", self.line(name))
    }

    /// Cuts an answer into its sections (text before the first marker is left out).
    pub fn parse<'a>(&self, text: &'a str) -> Sections<'a> {
        let prefix = format!("@@{}:", self.token);
        let mut map: HashMap<&'a str, Vec<&'a str>> = HashMap::new();
        let mut cur: Option<&'a str> = None;
        for line in text.lines() {
            if let Some(name) = line.strip_prefix(prefix.as_str()) {
                cur = Some(name);
                map.entry(name).or_default();
            } else if let Some(c) = cur {
                map.entry(c).or_default().push(line);
            }
        }
        Sections { map }
    }
}

/// Where a line starting with `prefix` begins in `text` (bytes: the answer may hold file
/// content that is not UTF-8).
pub fn line_start(text: &[u8], prefix: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = text[from..]
        .windows(prefix.len())
        .position(|w| w == prefix)
        .map(|i| i + from)
    {
        if i == 0 || text[i - 1] == b'\n' {
            return Some(i);
        }
        from = i + 1;
    }
    None
}

/// The sections of one answer.
pub struct Sections<'a> {
    map: HashMap<&'a str, Vec<&'a str>>,
}

impl<'a> Sections<'a> {
    /// The lines of a section (none if it is absent).
    pub fn lines(&self, name: &str) -> &[&'a str] {
        self.map.get(name).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Its first line.
    pub fn first(&self, name: &str) -> Option<&'a str> {
        self.lines(name).first().copied()
    }

    /// The names of the sections the answer had.
    pub fn names(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.map.keys().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_that_looks_like_a_marker_stays_data() {
        let m = Marks::fixed("T");
        let text = "before\n@@T:a\none\n@@other:b\n@b\n@@T:b\n\n@@T:empty\n";
        let s = m.parse(text);
        assert_eq!(s.lines("a"), ["one", "@@other:b", "@b"]);
        assert_eq!(s.lines("b"), [""]);
        assert!(s.names().any(|n| n == "empty") && s.lines("empty").is_empty());
        assert!(!s.names().any(|n| n == "missing") && s.lines("missing").is_empty());
        assert_eq!(s.first("a"), Some("one"));
    }
}
