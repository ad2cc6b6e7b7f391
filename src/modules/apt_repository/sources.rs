//! The one-line apt sources (`sources.list`, `sources.list.d/*.list`) as Ansible's
//! `SourcesList` reads, edits and writes them: each line parsed into (valid, enabled,
//! source, comment), a new source in a file named after its URL, a disabled copy enabled
//! again, every enabled copy removed.

/// `deb` and `deb-src`.
const TYPES: &[&str] = &["deb", "deb-src"];

/// One line of a sources file.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    pub valid: bool,
    pub enabled: bool,
    pub source: String,
    pub comment: String,
}

/// Ansible's `_parse`: a leading `#` disables, a later `#` starts a comment, spaces squeezed.
pub fn parse(line: &str) -> Line {
    let mut line = line.trim().to_string();
    let mut enabled = true;
    if let Some(rest) = line.strip_prefix('#') {
        enabled = false;
        line = rest.to_string();
    }
    let mut comment = String::new();
    if let Some(i) = line.find('#').filter(|i| *i > 0) {
        comment = line[i + 1..].trim().to_string();
        line.truncate(i);
    }
    let mut source = line.trim().to_string();
    let mut valid = false;
    let chunks: Vec<&str> = source.split_whitespace().collect();
    if chunks.first().is_some_and(|c| TYPES.contains(c)) {
        valid = true;
        source = chunks.join(" ");
    }
    Line {
        valid,
        enabled,
        source,
        comment,
    }
}

/// A file's lines as Ansible writes them back.
pub fn dump(lines: &[Line]) -> String {
    lines
        .iter()
        .map(|l| {
            let mut s = String::new();
            if !l.enabled {
                s.push_str("# ");
            }
            s.push_str(&l.source);
            if !l.comment.is_empty() {
                s.push_str(" # ");
                s.push_str(&l.comment);
            }
            s.push('\n');
            s
        })
        .collect()
}

/// Ansible's `_suggest_filename`: the URL's host and path as `a_b_c.list`.
pub fn suggest_filename(source: &str, given: Option<&str>) -> String {
    if let Some(f) = given {
        return format!("{f}.list");
    }
    let options = regex::Regex::new(r"\[[^\]]+\]").expect("a valid pattern");
    let scheme = regex::Regex::new(r"\w+://").expect("a valid pattern");
    let line = options.replace_all(source, "");
    let line = scheme.replace_all(&line, "");
    let first = line
        .split_whitespace()
        .find(|p| !TYPES.contains(p))
        .unwrap_or_default();
    let first = first.split_once('@').map_or(first, |(_, host)| host);
    let cleaned: String = first
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { ' ' })
        .collect();
    format!(
        "{}.list",
        cleaned.split_whitespace().collect::<Vec<_>>().join("_")
    )
}

/// The sources files: path → lines, in the order read (`sources.list` first).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sources {
    pub files: Vec<(String, Vec<Line>)>,
}

impl Sources {
    fn file_mut(&mut self, path: &str) -> &mut Vec<Line> {
        if let Some(i) = self.files.iter().position(|(p, _)| p == path) {
            return &mut self.files[i].1;
        }
        self.files.push((path.to_string(), Vec::new()));
        &mut self.files.last_mut().expect("just pushed").1
    }

    /// Ansible's `_add_valid_source`: every copy of the source enabled, else the source
    /// appended to `file`; whether it was appended.
    pub fn add(&mut self, source: &str, file: &str) -> bool {
        let mut found = false;
        for (_, lines) in &mut self.files {
            for l in lines.iter_mut().filter(|l| l.valid && l.source == source) {
                l.enabled = true;
                found = true;
            }
        }
        if !found {
            self.file_mut(file).push(Line {
                valid: true,
                enabled: true,
                source: source.to_string(),
                comment: String::new(),
            });
        }
        !found
    }

    /// Ansible's `_remove_valid_source`: every enabled copy removed.
    pub fn remove(&mut self, source: &str) {
        for (_, lines) in &mut self.files {
            lines.retain(|l| !(l.valid && l.enabled && l.source == source));
        }
    }

    /// Ansible's `dump`: each file with lines, as written.
    pub fn dump(&self) -> Vec<(String, String)> {
        self.files
            .iter()
            .filter(|(_, l)| !l.is_empty())
            .map(|(p, l)| (p.clone(), dump(l)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filenames_as_ansible_suggests() {
        assert_eq!(
            suggest_filename("deb [arch=amd64 signed-by=/k.gpg] https://user:pw@nginx.org/packages/debian bookworm nginx", None),
            "nginx_org_packages_debian.list"
        );
        assert_eq!(
            suggest_filename("deb http://x/y z", Some("mine")),
            "mine.list"
        );
    }

    #[test]
    fn lines_parse_and_dump_as_ansible() {
        let l = parse("  #deb   http://a  b c   # note ");
        assert_eq!((l.valid, l.enabled), (true, false));
        assert_eq!(l.source, "deb http://a b c");
        assert_eq!(dump(&[l]), "# deb http://a b c # note\n");
        assert!(!parse("# just a comment").valid);
    }
}
