//! `--tags` / `--skip-tags` selection with Ansible's special tags: `always` runs unless
//! skipped by name, `never` runs only when asked for by name, `all`, `tagged`, `untagged`.

/// Which tasks a run selects.
#[derive(Clone, Debug, Default)]
pub struct TagFilter {
    only: Vec<String>,
    skip: Vec<String>,
}

impl TagFilter {
    pub fn new(only: &[String], skip: &[String]) -> TagFilter {
        let split = |v: &[String]| {
            v.iter()
                .flat_map(|s| s.split(','))
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        };
        TagFilter {
            only: split(only),
            skip: split(skip),
        }
    }

    /// Whether a task with these tags runs.
    pub fn selects(&self, tags: &[String]) -> bool {
        let has = |t: &str| tags.iter().any(|x| x == t);
        let in_list = |list: &[String]| {
            list.iter().any(|s| match s.as_str() {
                "all" => !has("never"),
                "tagged" => !tags.is_empty() && !has("never"),
                "untagged" => tags.is_empty(),
                other => has(other),
            })
        };
        if !self.skip.is_empty() && in_list(&self.skip) {
            return false;
        }
        if has("always") && !self.skip.iter().any(|s| s == "always") {
            return true;
        }
        if self.only.is_empty() {
            return !has("never");
        }
        in_list(&self.only)
    }

    /// Whether fact gathering (tagged `always` in Ansible) runs for a play with these tags.
    pub fn gathers_facts(&self, _play_tags: &[String]) -> bool {
        !self.skip.iter().any(|s| s == "always")
    }
}

/// The tags with templated ones rendered against `scope` (the play's variables and `-e`):
/// a string result is split on commas, a list is flattened, as ansible-core's
/// `evaluate_tags`. Untemplated tags are returned as they are (the common case, no work).
pub fn rendered(
    tags: &[String],
    scope: impl Fn() -> minijinja::Value,
) -> std::borrow::Cow<'_, [String]> {
    if !tags.iter().any(|t| crate::template::is_templated(t)) {
        return std::borrow::Cow::Borrowed(tags);
    }
    let scope = scope();
    let mut out = Vec::new();
    for t in tags {
        if !crate::template::is_templated(t) {
            out.push(t.clone());
            continue;
        }
        match crate::template::compile_lenient(t).render(&scope) {
            Ok(v) if matches!(v.kind(), minijinja::value::ValueKind::Seq) => {
                out.extend(v.try_iter().into_iter().flatten().map(|x| x.to_string()));
            }
            Ok(v) => out.extend(
                v.to_string()
                    .split(',')
                    .map(|x| x.trim().to_string())
                    .filter(|x| !x.is_empty()),
            ),
            Err(_) => out.push(t.clone()),
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn selection_table() {
        type Case<'a> = (&'a [&'a str], &'a [&'a str], &'a [&'a str], bool);
        let cases: &[Case] = &[
            (&[], &[], &[], true),
            (&[], &[], &["x"], true),
            (&[], &[], &["never"], false),
            (&["x"], &[], &["x"], true),
            (&["x"], &[], &["y"], false),
            (&["x"], &[], &["always"], true),
            (&["x"], &["always"], &["always"], false),
            (&[], &["x"], &["x"], false),
            (&["never"], &[], &["never"], true),
            (&["tagged"], &[], &[], false),
            (&["untagged"], &[], &[], true),
            (&["x,y"], &[], &["y"], true),
            (&["all"], &[], &["never", "z"], false),
        ];
        for (only, skip, tags, want) in cases {
            assert_eq!(
                TagFilter::new(&t(only), &t(skip)).selects(&t(tags)),
                *want,
                "{only:?} {skip:?} {tags:?}"
            );
        }
    }
}
