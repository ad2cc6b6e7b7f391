//! Ansible's path tests (`is file`, `is directory`, `is link`, `is exists`, `is link_exists`,
//! `is abs`, `is same_file`, `is mount` and their `is_` spellings): about paths on the
//! controller, relative ones to drover's working directory, as in Ansible.

use super::filters::text;
use minijinja::value::Value;
use minijinja::{Environment, Error, State};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

pub fn register(env: &mut Environment<'static>) {
    for (names, f) in [
        (
            &["directory", "is_dir"][..],
            is_dir as fn(&State, &Value) -> Result<bool, Error>,
        ),
        (&["file", "is_file"][..], is_file),
        (&["link", "is_link"][..], is_link),
        (&["exists"][..], exists),
        (&["link_exists"][..], link_exists),
        (&["abs", "is_abs"][..], is_abs),
        (&["mount", "is_mount"][..], is_mount),
    ] {
        for n in names {
            env.add_test(*n, f);
        }
    }
    env.add_test("same_file", same_file);
    env.add_test("is_same_file", same_file);
}

fn path(state: &State, v: &Value, what: &str) -> Result<String, Error> {
    text(state, v, what)
}

fn is_dir(state: &State, v: &Value) -> Result<bool, Error> {
    Ok(Path::new(&path(state, v, "directory")?).is_dir())
}

fn is_file(state: &State, v: &Value) -> Result<bool, Error> {
    Ok(Path::new(&path(state, v, "file")?).is_file())
}

fn is_link(state: &State, v: &Value) -> Result<bool, Error> {
    Ok(Path::new(&path(state, v, "link")?).is_symlink())
}

fn exists(state: &State, v: &Value) -> Result<bool, Error> {
    Ok(Path::new(&path(state, v, "exists")?).exists())
}

fn link_exists(state: &State, v: &Value) -> Result<bool, Error> {
    Ok(std::fs::symlink_metadata(path(state, v, "link_exists")?).is_ok())
}

fn is_abs(state: &State, v: &Value) -> Result<bool, Error> {
    Ok(path(state, v, "abs")?.starts_with('/'))
}

/// Python's `os.path.ismount`: a directory on another device than its parent, or the same
/// inode as its parent (`/`).
fn is_mount(state: &State, v: &Value) -> Result<bool, Error> {
    let p = path(state, v, "mount")?;
    let Ok(me) = std::fs::symlink_metadata(&p) else {
        return Ok(false);
    };
    if me.file_type().is_symlink() || !me.is_dir() {
        return Ok(false);
    }
    let Ok(parent) = std::fs::metadata(Path::new(&p).join("..")) else {
        return Ok(false);
    };
    Ok(me.dev() != parent.dev() || me.ino() == parent.ino())
}

fn same_file(state: &State, v: &Value, other: &Value) -> Result<bool, Error> {
    let (a, b) = (
        path(state, v, "same_file")?,
        path(state, other, "same_file")?,
    );
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => Ok(x.dev() == y.dev() && x.ino() == y.ino()),
        _ => Err(super::filters::op_err("same_file: a path does not exist")),
    }
}

#[cfg(test)]
mod tests {
    use crate::template::env;

    fn eval(expr: &str) -> String {
        env()
            .compile_expression(expr)
            .and_then(|e| e.eval(()))
            .map(|v| v.to_string())
            .unwrap_or_else(|e| format!("error: {e}"))
    }

    #[test]
    fn controller_paths() {
        assert_eq!(eval("'/' is directory"), "True");
        assert_eq!(eval("'/' is mount"), "True");
        assert_eq!(
            eval("'/etc/passwd' is file and '/etc/passwd' is not directory"),
            "True"
        );
        assert_eq!(eval("'/nope/x' is exists"), "False");
        assert_eq!(eval("'rel/x' is abs"), "False");
        assert_eq!(
            eval("'/etc/passwd' is same_file('/etc/../etc/passwd')"),
            "True"
        );
    }
}
