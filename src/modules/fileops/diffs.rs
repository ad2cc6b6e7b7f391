//! Diffs of file contents for `--diff`.

use super::*;

/// Keys and values of a file-module style diff side, kept sorted as Ansible's callback prints.
pub type DiffMap = BTreeMap<String, serde_json::Value>;

/// A diff of two dicts, rendered as Ansible's callback renders them (sorted, 4-space JSON).
pub fn dict_diff(before: &DiffMap, after: &DiffMap) -> Diff {
    Diff {
        before_header: String::new(),
        after_header: String::new(),
        before: json4(before),
        after: json4(after),
        prepared: None,
    }
}

pub(super) fn json4(map: &DiffMap) -> String {
    use serde::Serialize;
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    if map.serialize(&mut ser).is_err() {
        return String::new();
    }
    let mut s = String::from_utf8_lossy(&buf).into_owned();
    s.push('\n');
    s
}

/// A content diff; binary or large sides are replaced by a note.
pub fn text_diff(
    before: Option<&[u8]>,
    after: &[u8],
    before_header: &str,
    after_header: &str,
) -> Diff {
    Diff {
        before_header: before_header.to_string(),
        after_header: after_header.to_string(),
        before: before.map(shown).unwrap_or_default(),
        after: shown(after),
        prepared: None,
    }
}

pub(super) fn shown(data: &[u8]) -> String {
    if data.contains(&0) {
        "(binary file: content not shown)\n".into()
    } else if data.len() > MAX_DIFF_SIZE {
        format!(
            "(file larger than {} KiB: content not shown)\n",
            MAX_DIFF_SIZE / 1024
        )
    } else {
        String::from_utf8_lossy(data).into_owned()
    }
}
