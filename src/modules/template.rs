//! `template`: render a controller template (found in the role's `templates/`) with the
//! task's variables plus Ansible's template variables (`ansible_managed`, `template_path`, …)
//! and put the result at `dest` through the content-write path it shares with `copy`.

use super::fileops::{self, catch, fail, ContentWrite, Payload};
use super::{Args, Module, ModuleCtx, Plan, Spec};
use crate::vars::VarMap;
use anyhow::Result;
use minijinja::value::{Enumerator, Object, ObjectRepr};
use minijinja::Value;
use std::path::Path;
use std::sync::Arc;

pub struct Template;

static SPEC: Spec = Spec {
    args: &[
        "src",
        "dest",
        "mode",
        "owner",
        "group",
        "backup",
        "force",
        "validate",
        "newline_sequence",
        "trim_blocks",
        "lstrip_blocks",
        "follow",
        "output_encoding",
        "block_start_string",
        "block_end_string",
        "variable_start_string",
        "variable_end_string",
        "comment_start_string",
        "comment_end_string",
        "seuser",
        "serole",
        "setype",
        "selevel",
        "unsafe_writes",
        "attributes",
    ],
    aliases: &[("attr", "attributes")],
    free_form: None,
    any_args: false,
};

impl Module for Template {
    fn leaves_accounts_alone(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        "template"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn plan(&self, ctx: &mut ModuleCtx, args: &Args) -> Result<Plan> {
        catch(plan(ctx, args))
    }

    fn apply(&self, ctx: &mut ModuleCtx, _args: &Args, plan: Plan) -> Result<Plan> {
        fileops::apply_content(ctx, plan)
    }
}

/// The task's variables with the template variables layered on: `over` wins over the task's
/// variables, `under` only fills names the task does not define.
#[derive(Debug)]
struct TemplateVars {
    base: Value,
    over: VarMap,
    under: VarMap,
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
fn newline_sequence(args: &Args) -> Result<String> {
    let raw = args.str("newline_sequence").unwrap_or_else(|| "\n".into());
    let seq = raw.replace("\\n", "\n").replace("\\r", "\r");
    if !["\n", "\r", "\r\n"].contains(&seq.as_str()) {
        return Err(fail(format!(
            "newline_sequence needs to be one of: \\n, \\r or \\r\\n, not {raw:?}"
        )));
    }
    Ok(seq)
}

/// Renders template text as Ansible's template module does, against `vars`; `{% include %}`,
/// `{% import %}` and `{% extends %}` find their files in `search` (the template's own
/// directory first, then the role's and playbook's `templates/`).
fn render(
    args: &Args,
    text: &str,
    vars: Value,
    search: &[std::path::PathBuf],
) -> Result<String, String> {
    let trim = args
        .bool_or("trim_blocks", true)
        .map_err(|e| e.to_string())?;
    let lstrip = args
        .bool_or("lstrip_blocks", false)
        .map_err(|e| e.to_string())?;
    let delims = [
        ("block_start_string", "{%"),
        ("block_end_string", "%}"),
        ("variable_start_string", "{{"),
        ("variable_end_string", "}}"),
        ("comment_start_string", "{#"),
        ("comment_end_string", "#}"),
    ]
    .map(|(k, d)| args.str(k).unwrap_or_else(|| d.to_string()));
    let custom = !trim
        || lstrip
        || delims
            .iter()
            .zip(["{%", "%}", "{{", "}}", "{#", "#}"])
            .any(|(a, b)| a != b);
    let detail = |e: minijinja::Error| {
        let mut s = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(inner) = src {
            s.push_str(&format!(": {inner}"));
            src = inner.source();
        }
        s
    };
    let loads = ["include", "import", "extends", "from"]
        .iter()
        .any(|k| text.contains(k));
    if custom || loads {
        let mut env = crate::template::environment();
        let dirs = search.to_vec();
        env.set_loader(move |name: &str| {
            for d in &dirs {
                let p = d.join(name);
                if p.is_file() {
                    return std::fs::read_to_string(&p).map(Some).map_err(|e| {
                        minijinja::Error::new(
                            minijinja::ErrorKind::InvalidOperation,
                            format!("reading {}: {e}", p.display()),
                        )
                    });
                }
            }
            Ok(None)
        });
        let mut b = minijinja::syntax::SyntaxConfig::builder();
        b.block_delimiters(delims[0].clone(), delims[1].clone())
            .variable_delimiters(delims[2].clone(), delims[3].clone())
            .comment_delimiters(delims[4].clone(), delims[5].clone())
            .keep_trailing_newline(false)
            .trim_blocks(trim)
            .lstrip_blocks(lstrip);
        env.set_syntax(b.build().map_err(detail)?);
        let source = if custom {
            text.to_string()
        } else {
            crate::template::preprocess(text, true)
        };
        return env
            .render_str(&source, vars)
            .map(|out| crate::template::restore_newlines(text, out))
            .map_err(detail);
    }
    // A file that is one `{{ expr }}` must still render as text (with its newline), not as
    // the expression's native value, so it bypasses the expression fast path.
    let t = text.trim();
    let single =
        t.starts_with("{{") && t.ends_with("}}") && !t[2..].contains("{{") && !t.contains("{%");
    if single {
        return crate::template::env()
            .render_str(&crate::template::preprocess(text, true), vars)
            .map(|out| crate::template::restore_newlines(text, out))
            .map_err(detail);
    }
    let tmpl = crate::template::compile(text).map_err(detail)?;
    let v = tmpl.render(&vars).map_err(detail)?;
    Ok(v.as_str()
        .map(str::to_string)
        .unwrap_or_else(|| v.to_string()))
}

fn hostname() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| {
            std::fs::read_to_string(p)
                .ok()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
        })
        .unwrap_or_else(|| "localhost".into())
}

fn user_name(uid: u32) -> String {
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() > 2 && f[2].parse::<u32>().ok() == Some(uid)).then(|| f[0].to_string())
            })
        })
        .unwrap_or_else(|| uid.to_string())
}

/// Ansible's template variables for one source file.
fn template_vars(src_arg: &str, found: &Path, dest: &str) -> (VarMap, VarMap) {
    use std::os::unix::fs::MetadataExt;
    let mut over = VarMap::new();
    let md = std::fs::metadata(found).ok();
    over.insert("template_host".into(), Value::from(hostname()));
    over.insert("template_path".into(), Value::from(src_arg));
    over.insert(
        "template_fullpath".into(),
        Value::from(
            std::fs::canonicalize(found)
                .unwrap_or_else(|_| found.to_path_buf())
                .to_string_lossy()
                .into_owned(),
        ),
    );
    over.insert("template_destpath".into(), Value::from(dest));
    over.insert(
        "template_uid".into(),
        Value::from(md.as_ref().map(|m| user_name(m.uid())).unwrap_or_default()),
    );
    if let Some(m) = md.as_ref().and_then(|m| m.modified().ok()) {
        let d = m.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        over.insert(
            "template_mtime".into(),
            Value::from(crate::template::filters_more::py_datetime(
                d.as_secs() as i64,
                d.subsec_micros(),
            )),
        );
    }
    over.insert(
        "template_run_date".into(),
        Value::from(super::command::chrono_like_now()),
    );
    let mut under = VarMap::new();
    under.insert("ansible_managed".into(), Value::from("Ansible managed"));
    (over, under)
}

fn plan(ctx: &mut ModuleCtx, args: &Args) -> Result<Plan> {
    let (Some(src), Some(dest)) = (args.str("src"), args.str("dest")) else {
        return Err(fail("src and dest are required"));
    };
    if let Some(enc) = args.str("output_encoding") {
        if !["utf-8", "utf8"].contains(&enc.to_ascii_lowercase().as_str()) {
            return Err(fail(format!(
                "output_encoding {enc} is not supported (only utf-8)"
            )));
        }
    }
    let Some(found) = ctx.paths.find("templates", &src) else {
        let mut msg = format!("Could not find or access '{src}'\nSearched in:");
        for d in &ctx.paths.dirs {
            msg.push_str(&format!(
                "\n\t{}\n\t{}",
                d.join("templates").join(&src).display(),
                d.join(&src).display()
            ));
        }
        return Err(fail(msg));
    };
    // A vault-encrypted template is decrypted in memory, as Ansible does.
    let (bytes, secret) = fileops::read_source(&found, true)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| fail(format!("template {} is not valid UTF-8", found.display())))?;
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let seq = newline_sequence(args)?;
    let (over, under) = template_vars(&src, &found, &dest);
    let vars = Value::from_object(TemplateVars {
        base: ctx.vars.clone(),
        over,
        under,
    });
    let mut search: Vec<std::path::PathBuf> = found
        .parent()
        .map(|p| p.to_path_buf())
        .into_iter()
        .collect();
    for d in &ctx.paths.dirs {
        search.push(d.join("templates"));
        search.push(d.clone());
    }
    let mut out = render(args, &text, vars, &search)
        .map_err(|e| fail(format!("error templating {}: {e}", found.display())))?;
    if seq != "\n" {
        out = out.replace('\n', &seq);
    }
    let mode = match args.mode("mode")? {
        Some(m) if m == "preserve" => {
            use std::os::unix::fs::PermissionsExt;
            let perm = std::fs::metadata(&found)
                .map(|m| m.permissions().mode() & 0o7777)
                .unwrap_or(0o644);
            Some(fileops::fmt_mode(perm))
        }
        other => other,
    };
    let label = found.to_string_lossy().into_owned();
    fileops::plan_content(
        ctx,
        ContentWrite {
            dest,
            payload: Payload::Bytes(out.into_bytes()),
            src_label: Some(label.clone()),
            basename: Some(fileops::basename(&src).to_string()),
            content_mode: false,
            mode,
            owner: args.str("owner"),
            group: args.str("group"),
            directory_mode: None,
            force: args.bool_or("force", true)?,
            backup: args.bool_or("backup", false)?,
            follow: args.bool_or("follow", false)?,
            validate: args.str("validate"),
            after_header: label,
        },
    )
    .map(|mut plan| {
        plan.secret = secret;
        plan
    })
}

#[cfg(test)]
mod tests {
    use super::super::fileops::testing::{args, mode_of, snapshot, Harness};
    use super::super::SearchPaths;
    use super::*;
    use serde_json::json;

    fn setup(files: &[(&str, &str)]) -> (tempfile::TempDir, Harness) {
        let dir = tempfile::tempdir().unwrap();
        let role = dir.path().join("role");
        std::fs::create_dir_all(role.join("templates")).unwrap();
        for (name, text) in files {
            std::fs::write(role.join("templates").join(name), text).unwrap();
        }
        let mut h = Harness::new();
        h.paths = SearchPaths { dirs: vec![role] };
        h.vars = Value::from(minijinja::value::Serde(json!({
            "port": 8080,
            "users": ["ann", "bob"],
            "items": {"a": 1}
        })));
        (dir, h)
    }

    #[test]
    fn renders_checks_and_is_idempotent() {
        let (dir, mut h) = setup(&[(
            "app.conf.j2",
            "# {{ ansible_managed }}\nport={{ port }}\n{% for u in users %}\nuser={{ u }}\n{% endfor %}\n",
        )]);
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let dest = out.join("app.conf");
        let a = args(json!({"src": "app.conf.j2", "dest": dest.to_str().unwrap(), "mode": "0600"}));

        let snap = snapshot(&out);
        let predicted = Template.plan(&mut h.ctx(true), &a).unwrap();
        assert!(
            predicted.changed && !predicted.failed,
            "{:?}",
            predicted.msg
        );
        let want = "# Ansible managed\nport=8080\nuser=ann\nuser=bob\n";
        assert_eq!(predicted.diffs[0].after, want);
        assert_eq!(predicted.diffs[0].before, "");
        assert_eq!(snapshot(&out), snap);

        let plan = Template.plan(&mut h.ctx(false), &a).unwrap();
        let done = Template.apply(&mut h.ctx(false), &a, plan).unwrap();
        assert!(!done.failed, "{:?}", done.msg);
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), want);
        assert_eq!(mode_of(&dest), 0o600);
        assert_eq!(done.values["mode"].as_str(), Some("0600"));

        let again = Template.plan(&mut h.ctx(false), &a).unwrap();
        assert!(!again.changed, "{:?}", again.diffs);
    }

    #[test]
    fn user_ansible_managed_wins_and_template_vars_exist() {
        let (dir, mut h) = setup(&[("t.j2", "{{ ansible_managed }} {{ template_path }}\n")]);
        h.vars = Value::from(minijinja::value::Serde(json!({"ansible_managed": "mine"})));
        let dest = dir.path().join("t");
        let a = args(json!({"src": "t.j2", "dest": dest.to_str().unwrap()}));
        let plan = Template.plan(&mut h.ctx(false), &a).unwrap();
        Template.apply(&mut h.ctx(false), &a, plan).unwrap();
        // A single-expression file still renders as text with its newline.
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "mine t.j2\n");
    }

    #[test]
    fn single_expression_file_keeps_newline() {
        let (dir, mut h) = setup(&[("one.j2", "{{ users }}\n")]);
        let dest = dir.path().join("one");
        let a = args(json!({"src": "one.j2", "dest": dest.to_str().unwrap()}));
        let plan = Template.plan(&mut h.ctx(false), &a).unwrap();
        Template.apply(&mut h.ctx(false), &a, plan).unwrap();
        let got = std::fs::read_to_string(&dest).unwrap();
        assert!(got.ends_with("]\n") && got.contains("ann"), "{got:?}");
    }

    #[test]
    fn dest_directory_newlines_and_errors() {
        let (dir, mut h) = setup(&[("x.j2", "a\nb\n"), ("bad.j2", "{{ nope }}\n")]);
        let a = args(
            json!({"src": "x.j2", "dest": format!("{}/", dir.path().display()), "newline_sequence": "\\r\\n"}),
        );
        let plan = Template.plan(&mut h.ctx(false), &a).unwrap();
        Template.apply(&mut h.ctx(false), &a, plan).unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("x.j2")).unwrap(),
            b"a\r\nb\r\n"
        );

        let b = args(json!({"src": "missing.j2", "dest": "/tmp/x"}));
        let plan = Template.plan(&mut h.ctx(false), &b).unwrap();
        assert!(plan.failed);
        let msg = plan.msg.unwrap();
        assert!(
            msg.contains("missing.j2") && msg.contains("templates"),
            "{msg}"
        );

        let c = args(json!({"src": "bad.j2", "dest": dir.path().join("bad").to_str().unwrap()}));
        let plan = Template.plan(&mut h.ctx(false), &c).unwrap();
        assert!(plan.failed);
        assert!(plan.msg.unwrap().contains("bad.j2"));
    }

    #[test]
    fn lstrip_blocks_option() {
        let (dir, mut h) = setup(&[("l.j2", "x\n  {% if true %}\ny\n  {% endif %}\n")]);
        let dest = dir.path().join("l");
        let a = args(json!({"src": "l.j2", "dest": dest.to_str().unwrap(), "lstrip_blocks": true}));
        let plan = Template.plan(&mut h.ctx(false), &a).unwrap();
        Template.apply(&mut h.ctx(false), &a, plan).unwrap();
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "x\ny\n");
    }
}
