//! `template`: render a controller template (found in the role's `templates/`) with the
//! task's variables plus Ansible's template variables (`ansible_managed`, `template_path`, …)
//! and put the result at `dest` through the content-write path it shares with `copy`.

use super::contract::{Done, Driven, Observe, Observed, Outcome, Resolve, Step, Typed};
use super::fileops::{
    self, content_finish, content_steps, fail, ContentChange, ContentWrite, Payload,
};
use super::{Args, Plan, Spec};
use crate::vars::VarMap;
use anyhow::Result;
use minijinja::value::{Enumerator, Object, ObjectRepr};
use minijinja::Value;
use std::sync::Arc;

pub struct Template;

static SPEC: Spec = Spec {
    args: &[
        "src",
        "dest",
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
    ],
    aliases: &[],
    free_form: None,
    any_args: false,
    file_args: true,
};

mod render;

use render::*;

pub static TEMPLATE: Driven<Template> = Driven(Template);

impl Typed for Template {
    type Args = ContentWrite;
    type Change = ContentChange;

    fn leaves_accounts_alone(&self) -> bool {
        true
    }

    fn looks_ahead(&self, args: &Args) -> Option<Vec<super::fileops::Ahead>> {
        super::fileops::content_ahead(args)
    }

    fn name(&self) -> &'static str {
        "template"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn parse(&self, args: &Args, host: &mut dyn Resolve) -> Result<ContentWrite> {
        render(args, host)
    }

    fn observe(&self, cw: &ContentWrite) -> Observe {
        cw.observe()
    }

    fn observe_again(&self, cw: &ContentWrite, seen: &Observed) -> Option<Observe> {
        cw.next_look(seen)
    }

    fn decide(&self, cw: &ContentWrite, seen: &Observed) -> Outcome<ContentChange> {
        cw.decide_seen(seen)
    }

    fn apply(&self, _cw: &ContentWrite, c: &ContentChange) -> Vec<Step> {
        content_steps(c)
    }

    fn finish(&self, _cw: &ContentWrite, _c: &ContentChange, done: &Done, report: Plan) -> Plan {
        content_finish(done, report)
    }
}

/// Renders the template on the controller: the content to write.
fn render(args: &Args, host: &mut dyn Resolve) -> Result<ContentWrite> {
    let (Some(src), Some(dest)) = (args.str("src"), args.str("dest")) else {
        return Err(fail("src and dest are required"));
    };
    let encoding = args.str("output_encoding").unwrap_or_default();
    encode("", &encoding)?;
    let Some(found) = host.paths().find("templates", &src) else {
        let mut msg = format!("Could not find or access '{src}'\nSearched in:");
        for d in &host.paths().dirs {
            msg.push_str(&format!(
                "\n\t{}\n\t{}",
                d.join("templates").join(&src).display(),
                d.join(&src).display()
            ));
        }
        return Err(fail(msg));
    };
    // A vault-encrypted template is decrypted in memory, as Ansible does.
    super::transfer::check_template_source(&found)?;
    let (bytes, secret) = fileops::read_source(&found, true)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| fail(format!("template {} is not valid UTF-8", found.display())))?;
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let seq = newline_sequence(args)?;
    let (over, under) = crate::template::file::template_vars(&src, &found, Some(&dest));
    let vars = Value::from_object(TemplateVars {
        base: host.vars().clone(),
        over,
        under,
    });
    let mut search: Vec<std::path::PathBuf> = found
        .parent()
        .map(|p| p.to_path_buf())
        .into_iter()
        .collect();
    for d in &host.paths().dirs {
        search.push(d.join("templates"));
        search.push(d.clone());
    }
    let name = found.display().to_string();
    let mut out = crate::template::file::render(&name, &text, vars, &search, &file_options(args)?)
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
    Ok(ContentWrite {
        dest: host.expand_path(&dest)?,
        payload: Payload::Bytes(encode(&out, &encoding)?),
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
        diff: host.diff_mode(),
        secret,
    })
}

#[cfg(test)]
mod tests {
    use super::super::fileops::testing::{args, mode_of, snapshot, Harness};
    use super::super::Module;
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
        let predicted = TEMPLATE.run(&mut h.ctx(), &a, true).unwrap();
        assert!(
            predicted.changed() && !predicted.failed(),
            "{:?}",
            predicted.msg
        );
        let want = "# Ansible managed\nport=8080\nuser=ann\nuser=bob\n";
        assert_eq!(predicted.diffs[0].after, want);
        assert_eq!(predicted.diffs[0].before, "");
        assert_eq!(snapshot(&out), snap);

        let done = TEMPLATE.run(&mut h.ctx(), &a, false).unwrap();
        assert!(!done.failed(), "{:?}", done.msg);
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), want);
        assert_eq!(mode_of(&dest), 0o600);
        assert_eq!(done.values["mode"].as_str(), Some("0600"));

        let again = TEMPLATE.run(&mut h.ctx(), &a, true).unwrap();
        assert!(!again.changed(), "{:?}", again.diffs);
    }

    #[test]
    fn user_ansible_managed_wins_and_template_vars_exist() {
        let (dir, mut h) = setup(&[("t.j2", "{{ ansible_managed }} {{ template_path }}\n")]);
        h.vars = Value::from(minijinja::value::Serde(json!({"ansible_managed": "mine"})));
        let dest = dir.path().join("t");
        let a = args(json!({"src": "t.j2", "dest": dest.to_str().unwrap()}));
        TEMPLATE.run(&mut h.ctx(), &a, false).unwrap();
        // A single-expression file still renders as text with its newline.
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "mine t.j2\n");
    }

    #[test]
    fn single_expression_file_keeps_newline() {
        let (dir, mut h) = setup(&[("one.j2", "{{ users }}\n")]);
        let dest = dir.path().join("one");
        let a = args(json!({"src": "one.j2", "dest": dest.to_str().unwrap()}));
        TEMPLATE.run(&mut h.ctx(), &a, false).unwrap();
        let got = std::fs::read_to_string(&dest).unwrap();
        assert!(got.ends_with("]\n") && got.contains("ann"), "{got:?}");
    }

    #[test]
    fn dest_directory_newlines_and_errors() {
        let (dir, mut h) = setup(&[("x.j2", "a\nb\n"), ("bad.j2", "{{ nope }}\n")]);
        let a = args(
            json!({"src": "x.j2", "dest": format!("{}/", dir.path().display()), "newline_sequence": "\\r\\n"}),
        );
        TEMPLATE.run(&mut h.ctx(), &a, false).unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("x.j2")).unwrap(),
            b"a\r\nb\r\n"
        );

        let b = args(json!({"src": "missing.j2", "dest": "/tmp/x"}));
        let plan = TEMPLATE.run(&mut h.ctx(), &b, true).unwrap();
        assert!(plan.failed());
        let msg = plan.msg.unwrap();
        assert!(
            msg.contains("missing.j2") && msg.contains("templates"),
            "{msg}"
        );

        let c = args(json!({"src": "bad.j2", "dest": dir.path().join("bad").to_str().unwrap()}));
        let plan = TEMPLATE.run(&mut h.ctx(), &c, true).unwrap();
        assert!(plan.failed());
        assert!(plan.msg.unwrap().contains("bad.j2"));
    }

    #[test]
    fn lstrip_blocks_option() {
        let (dir, mut h) = setup(&[("l.j2", "x\n  {% if true %}\ny\n  {% endif %}\n")]);
        let dest = dir.path().join("l");
        let a = args(json!({"src": "l.j2", "dest": dest.to_str().unwrap(), "lstrip_blocks": true}));
        TEMPLATE.run(&mut h.ctx(), &a, false).unwrap();
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "x\ny\n");
    }
}
