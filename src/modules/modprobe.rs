//! `community.general.modprobe`: a kernel module loaded (`modprobe NAME PARAMS`) or unloaded
//! (`modprobe -r`), and with `persistent` its lines in `/etc/modules-load.d/` and
//! `/etc/modprobe.d/`, as that module decides: loaded means listed in `/proc/modules` or
//! built in (`modules.builtin`); a load is tried with `modprobe -n` first, so check mode fails
//! where a run would. A kernel without loadable modules (no `/proc/modules`, where Ansible's
//! module fails) has every module built in: `modules.builtin` decides. One look reads it all; lines are commented out in place (`sed -i`,
//! which renames a new file over the old), new files are written atomically.

use super::contract::{
    Done, Failure, Observe, Observed, Outcome, Resolve, Script, Step, Typed, SBIN_PATH,
};
use super::fileops::{fail, Payload, PutOpts};
use super::{Args, Plan, Spec};
use anyhow::Result;
use std::collections::BTreeSet;

pub struct Modprobe;

static SPEC: Spec = Spec {
    args: &["name", "state", "params", "persistent"],
    aliases: &[],
    free_form: None,
    any_args: false,
    file_args: false,
};

pub struct ModArgs {
    name: String,
    present: bool,
    params: String,
    /// `params` as `modprobe` takes them (Python's `shlex.split`).
    words: Vec<String>,
    persistent: String,
}

/// What a run does, in order.
#[derive(Debug, Default)]
pub struct ModChange {
    load: bool,
    unload: bool,
    /// `(file, line number)` of lines to comment out.
    comment: Vec<(String, usize)>,
    /// Files to write: the module's `modules-load.d` and `modprobe.d` files.
    write: Vec<(String, String)>,
}

const LOAD_DIR: &str = "/etc/modules-load.d";
const OPTS_DIR: &str = "/etc/modprobe.d";

impl Typed for Modprobe {
    type Args = ModArgs;
    type Change = ModChange;

    fn name(&self) -> &'static str {
        "modprobe"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn leaves_accounts_alone(&self) -> bool {
        true
    }

    fn parse(&self, args: &Args, _host: &mut dyn Resolve) -> Result<ModArgs> {
        let params = args.str("params").unwrap_or_default();
        let words = crate::shell::split(&params).map_err(fail)?;
        Ok(ModArgs {
            name: args.req_str("name")?,
            present: args.choice("state", &["absent", "present"], "present")? == "present",
            params,
            words,
            persistent: args.choice(
                "persistent",
                &["disabled", "present", "absent"],
                "disabled",
            )?,
        })
    }

    fn observe(&self, a: &ModArgs) -> Observe {
        let mut s = Script::new()
            .raw(SBIN_PATH)
            .set("n", &a.name)
            .raw(concat!(
                "command -v modprobe >/dev/null 2>&1 || echo \"missing $PATH\"\n",
                "r=$(uname -r); m=$(printf '%s' \"$n\" | tr - _); b=\"/lib/modules/$r/modules.builtin\"\n",
                "if [ -r /proc/modules ] && awk -v m=\"$m \" 'index($0, m) == 1 { f = 1 } END { exit !f }' /proc/modules; then echo loaded\n",
                "elif [ ! -r \"$b\" ]; then [ -r /proc/modules ] && echo \"unreadable $b\" || echo \"unreadable /proc/modules\"\n",
                "elif awk -v k=\"/$n.ko\" '{ sub(/[ \\t\\r\\n]+$/, \"\") } length($0) >= length(k) && substr($0, length($0) - length(k) + 1) == k { f = 1 } END { exit !f }' \"$b\"; then echo loaded\n",
                "else echo unloaded; fi\n",
            ));
        if a.present {
            // What a load would say, without loading (`modprobe -n`, as the check mode runs).
            s = s.raw(
                "if command -v modprobe >/dev/null 2>&1; then e=$(LC_ALL=C modprobe -n \"$n\"",
            );
            for w in &a.words {
                s = s.arg(w);
            }
            s = s.raw(
                " 2>&1 >/dev/null); echo \"dry $?\"; printf '%s\\n' \"$e\" | sed 's/^/err /'; fi\n",
            );
        }
        let mut sections = vec![("mod", s)];
        if a.persistent != "disabled" {
            sections.push((
                "files",
                Script::new().set("n", &a.name).raw(concat!(
                    "for f in /etc/modules-load.d/* /etc/modprobe.d/*; do [ -f \"$f\" ] || continue\n",
                    "case $f in /etc/modules-load.d/*) grep -n -E -- \"^ *$n *([#;].*)?\\$\" \"$f\" | sed \"s|^|load $f:|\";;\n",
                    "*) grep -n -E -- \"^options $n \" \"$f\" | sed \"s|^|opts $f:|\";; esac\n",
                    "done; :\n",
                )),
            ));
        }
        Observe {
            sections,
            ..Observe::default()
        }
    }

    fn decide(&self, a: &ModArgs, seen: &Observed) -> Outcome<ModChange> {
        decide(a, seen).unwrap_or_else(Outcome::Fail)
    }

    fn apply(&self, a: &ModArgs, c: &ModChange) -> Vec<Step> {
        let mut steps = Vec::new();
        if c.load {
            let mut w = vec![a.name.clone()];
            w.extend(a.words.iter().cloned());
            steps.push(Step::Exec {
                script: Script::new().raw(SBIN_PATH).cmd("LC_ALL=C modprobe", w),
                stdin: None,
            });
        }
        if c.unload {
            steps.push(Step::Exec {
                script: Script::new()
                    .raw(SBIN_PATH)
                    .cmd("LC_ALL=C modprobe -r", [a.name.as_str()]),
                stdin: None,
            });
        }
        for (file, line) in &c.comment {
            steps.push(Step::Run {
                what: "commenting out a line",
                script: Script::new()
                    .cmd("sed -i -e", [format!("{line}s/^/#/").as_str(), "--", file]),
            });
        }
        for (file, text) in &c.write {
            // A host without systemd may have no `modules-load.d` yet (Ansible's fails there).
            let dir = file.rsplit_once('/').map_or("/", |(d, _)| d);
            steps.push(Step::Mkdir {
                path: dir.to_string(),
            });
            steps.push(Step::Put {
                path: file.clone(),
                payload: Payload::Bytes(text.clone().into_bytes()),
                opts: PutOpts {
                    mode: Some(0o644),
                    ..PutOpts::default()
                },
            });
        }
        steps
    }

    fn finish(&self, _a: &ModArgs, _c: &ModChange, done: &Done, mut r: Plan) -> Plan {
        if let Some(out) = done.outputs.iter().find(|o| o.rc != 0) {
            let err = out.stderr_str().to_string();
            r.mark_failed(false);
            r.msg = Some(err.clone());
            r = r
                .with_value("rc", out.rc)
                .with_value("stdout", out.stdout_str().to_string())
                .with_value("stderr", err);
        }
        r
    }
}

fn decide(a: &ModArgs, seen: &Observed) -> Result<Outcome<ModChange>, Failure> {
    let text = seen.section("mod");
    let line = |p: &str| text.lines().find_map(|l| l.strip_prefix(p));
    if let Some(f) = Failure::missing_program(text, "modprobe") {
        return Err(f);
    }
    let report = || {
        Plan::unchanged()
            .with_value("name", a.name.as_str())
            .with_value("params", a.params.as_str())
            .with_value("state", if a.present { "present" } else { "absent" })
    };
    let loaded = if text.lines().any(|l| l == "loaded") {
        true
    } else if let Some(path) = line("unreadable ") {
        return Err(
            Failure::new(format!("[Errno 2] No such file or directory: '{path}'"))
                .with("name", a.name.as_str())
                .with("params", a.params.as_str()),
        );
    } else {
        false
    };
    let mut c = ModChange::default();
    if a.present && !loaded {
        if line("dry ").is_some_and(|rc| rc != "0") {
            let err: Vec<&str> = text
                .lines()
                .filter_map(|l| l.strip_prefix("err "))
                .collect();
            let err = err.join("\n") + "\n";
            return Err(Failure::new(err.clone())
                .with(
                    "rc",
                    line("dry ")
                        .and_then(|r| r.parse::<i64>().ok())
                        .unwrap_or(1),
                )
                .with("stdout", "")
                .with("stderr", err)
                .with("name", a.name.as_str())
                .with("params", a.params.as_str())
                .with("state", "present"));
        }
        c.load = true;
    } else if !a.present && loaded {
        c.unload = true;
    }
    // The persistent configuration: module lines and option lines found, by file.
    let mut module_lines: Vec<(String, usize)> = Vec::new();
    let mut option_lines: Vec<(String, usize, String)> = Vec::new();
    for l in seen.section("files").lines() {
        let (kind, rest) = match (l.strip_prefix("load "), l.strip_prefix("opts ")) {
            (Some(r), _) => ("load", r),
            (_, Some(r)) => ("opts", r),
            _ => continue,
        };
        // `FILE:LINE:TEXT`: the file names are the directories' own (no colon in them).
        let mut parts = rest.splitn(3, ':');
        let (Some(file), Some(no), Some(body)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let Ok(no) = no.parse::<usize>() else {
            continue;
        };
        if kind == "load" {
            module_lines.push((file.to_string(), no));
        } else {
            option_lines.push((file.to_string(), no, body.to_string()));
        }
    }
    let opt_re = regex::Regex::new(&format!(
        r"^options {} (\w+=\S+) *(?:[#;].*)?$",
        regex::escape(&a.name)
    ))
    .expect("a valid pattern");
    let set_re = regex::Regex::new(&format!(
        r"^options {} \w+=\S+ *(?:[#;].*)?$",
        regex::escape(&a.name)
    ))
    .expect("a valid pattern");
    let permanent: BTreeSet<String> = option_lines
        .iter()
        .filter_map(|(_, _, b)| opt_re.captures(b).map(|c| c[1].to_string()))
        .collect();
    let desired: BTreeSet<String> = a.params.split_whitespace().map(str::to_string).collect();
    let persistently = !module_lines.is_empty();
    let old_params: Vec<(String, usize)> = option_lines
        .iter()
        .filter(|(_, _, b)| set_re.is_match(b))
        .map(|(f, n, _)| (f.clone(), *n))
        .collect();
    match a.persistent.as_str() {
        "present" => {
            if !persistently {
                c.write.push((
                    format!("{LOAD_DIR}/{}.conf", a.name),
                    format!("{}\n", a.name),
                ));
            }
            if permanent != desired {
                c.comment.extend(old_params);
                let text: Vec<String> = a
                    .params
                    .split_whitespace()
                    .map(|p| format!("options {} {p}", a.name))
                    .collect();
                c.write.push((
                    format!("{OPTS_DIR}/{}.conf", a.name),
                    text.join("\n") + "\n",
                ));
            }
        }
        "absent" => {
            c.comment.extend(module_lines);
            if !permanent.is_empty() {
                c.comment.extend(old_params);
            }
        }
        _ => {}
    }
    let changed = c.load || c.unload || !c.comment.is_empty() || !c.write.is_empty();
    Ok(if changed {
        Outcome::change(c, report())
    } else {
        Outcome::Unchanged(report())
    })
}
