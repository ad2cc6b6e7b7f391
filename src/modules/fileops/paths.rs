//! Paths: joining, basenames, parents.

use super::*;

/// The parent directory of a remote path, as Python's `os.path.dirname`.
pub fn dirname(path: &str) -> String {
    match path.rfind('/') {
        Some(0) => "/".into(),
        Some(i) => {
            let head = &path[..i];
            let trimmed = head.trim_end_matches('/');
            if trimmed.is_empty() {
                "/".into()
            } else {
                trimmed.into()
            }
        }
        None => String::new(),
    }
}

/// The last component of a path, as Python's `os.path.basename`.
pub fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Joins like `os.path.join(a, b)`: an absolute `b` wins.
pub fn join(a: &str, b: &str) -> String {
    if b.starts_with('/') || a.is_empty() {
        b.to_string()
    } else if a.ends_with('/') {
        format!("{a}{b}")
    } else {
        format!("{a}/{b}")
    }
}

/// Where `copy`/`template` put a file named `src_basename` for `dest`: inside it when it ends
/// with `/`.
pub fn dest_for_file(dest: &str, src_basename: &str) -> String {
    if dest.ends_with('/') {
        format!("{dest}{src_basename}")
    } else {
        dest.to_string()
    }
}

/// Every ancestor directory of `path`, outermost first (`/a/b/c` → `/a`, `/a/b`).
pub fn ancestors(path: &str) -> Vec<String> {
    let abs = path.starts_with('/');
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let mut out = Vec::new();
    let mut cur = String::new();
    for (i, p) in parts.iter().enumerate() {
        if i + 1 == parts.len() {
            break;
        }
        if abs || !cur.is_empty() {
            cur.push('/');
        }
        cur.push_str(p);
        out.push(cur.clone());
    }
    out
}

/// Expands `$VAR`, `${VAR}` and a leading `~` / `~user` in a path on the host, as Ansible
/// does for `path` arguments (an unset variable stays as written).
pub fn expand_home(ctx: &mut ModuleCtx, path: &str) -> Result<String> {
    // As Ansible's `path` arguments: `os.path.expanduser(os.path.expandvars(p))`, on the host.
    if !path.starts_with('~') && !path.contains('$') {
        return Ok(path.to_string());
    }
    let out = ctx.run(&format!(
        "printf '%s' {}",
        crate::shell::quote_expanding(path)
    ))?;
    if out.rc != 0 {
        return Err(fail(format!(
            "cannot expand `{path}`: {}",
            out.stderr_str().trim()
        )));
    }
    Ok(out.stdout_str())
}

/// Ansible's `add_path_info` keys for an existing path (from its lstat), which a module's
/// result with a `path` gets.
pub fn path_info(st: &super::FileState) -> Vec<(String, minijinja::Value)> {
    use minijinja::Value;
    vec![
        ("uid".into(), Value::from(st.uid)),
        ("gid".into(), Value::from(st.gid)),
        ("owner".into(), Value::from(st.owner.as_str())),
        ("group".into(), Value::from(st.group.as_str())),
        ("mode".into(), Value::from(super::fmt_mode(st.perm()))),
        ("state".into(), Value::from(st.state_name())),
        ("size".into(), Value::from(st.size)),
    ]
}
