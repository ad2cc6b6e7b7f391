//! Shared harness for the filter and test tables: render each template against a YAML
//! context through the real environment and report every mismatch at once.

use minijinja::{Error, ErrorKind};

fn render(context: &str, template: &str) -> Result<String, Error> {
    let ctx = crate::yaml::value_from_yaml_str(context)
        .map_err(|e| Error::new(ErrorKind::InvalidOperation, e.to_string()))?;
    super::environment().render_str(template, ctx)
}

/// Renders each template and compares the output exactly.
pub fn check(context: &str, cases: &[(&str, &str)]) {
    let mut failures = Vec::new();
    for (template, expected) in cases {
        match render(context, template) {
            Ok(out) if out == *expected => {}
            Ok(out) => failures.push(format!(
                "{template}\n   want: {expected:?}\n    got: {out:?}"
            )),
            Err(e) => failures.push(format!("{template}\n   want: {expected:?}\n  error: {e:#}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} failing case(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Renders each template and expects an error containing the given text.
pub fn check_errors(context: &str, cases: &[(&str, &str)]) {
    let mut failures = Vec::new();
    for (template, needle) in cases {
        match render(context, template) {
            Ok(out) => failures.push(format!("{template}: expected an error, got {out:?}")),
            Err(e) => {
                let msg = format!("{e:#}");
                if !msg.contains(needle) {
                    failures.push(format!("{template}: error {msg:?} lacks {needle:?}"));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failing case(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
