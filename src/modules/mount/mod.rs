//! `ansible.posix.mount`: a mount point in fstab (`fstab`) and in the running system, as
//! Ansible's module handles it on Linux: `mounted`, `present`, `unmounted`, `absent`,
//! `absent_from_fstab`, `remounted` and `ephemeral`; a failed mount puts fstab back and
//! removes the directories it made. The look reads fstab and asks `mountpoint`/`findmnt`;
//! the change is one script.

use super::contract::{Done, Failure, Observe, Observed, Outcome, Resolve, Script, Step, Typed};
use super::fileops::{DiffStyle, TextEdit};
use super::{Args, Plan, Spec};
use anyhow::Result;
use minijinja::Value;

mod fstab;
use super::fileops::fail;
use fstab::Entry;

pub struct Mount;

static SPEC: Spec = Spec {
    args: &[
        "path",
        "src",
        "fstype",
        "opts",
        "opts_no_log",
        "dump",
        "passno",
        "fstab",
        "boot",
        "backup",
        "state",
    ],
    aliases: &[("name", "path")],
    free_form: None,
    any_args: false,
    file_args: false,
};

const STATES: &[&str] = &[
    "absent",
    "absent_from_fstab",
    "mounted",
    "present",
    "unmounted",
    "remounted",
    "ephemeral",
];

pub struct MountArgs {
    state: String,
    entry: Entry,
    src_given: bool,
    fstype_given: bool,
    boot: bool,
    backup: bool,
    warnings: Vec<String>,
    file: TextEdit,
}

/// The change, done by one script: fstab's new text (and the old, to put back), then the
/// mount command.
#[derive(Debug)]
pub struct MountChange {
    fstab: Option<(String, String)>,
    /// `mount`, `umount`, `remount`, or nothing.
    op: &'static str,
    /// `absent`: the mount point is removed after it is unmounted.
    rmdir: bool,
    mkdir: bool,
}

impl Typed for Mount {
    type Args = MountArgs;
    type Change = MountChange;

    fn name(&self) -> &'static str {
        "mount"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn leaves_accounts_alone(&self) -> bool {
        true
    }

    fn parse(&self, args: &Args, host: &mut dyn Resolve) -> Result<MountArgs> {
        if !args.has("state") {
            return Err(fail("missing required arguments: state"));
        }
        let state = args.choice("state", STATES, "")?;
        let path = host.expand_path(&args.req_str("path")?)?;
        let (src, fstype) = (args.str("src"), args.str("fstype"));
        if ["mounted", "present", "ephemeral"].contains(&state.as_str()) {
            let missing: Vec<&str> = [("src", &src), ("fstype", &fstype)]
                .iter()
                .filter(|(_, v)| v.is_none())
                .map(|(k, _)| *k)
                .collect();
            if !missing.is_empty() {
                return Err(fail(format!(
                    "state is {state} but all of the following are missing: {}",
                    missing.join(", ")
                )));
            }
        }
        let boot = args.bool_or("boot", true)?;
        let mut opts = args.str("opts").unwrap_or_else(|| "defaults".into());
        let mut warnings = Vec::new();
        let has_noauto = opts.split(',').any(|o| o == "noauto");
        if boot && has_noauto {
            warnings.push("Ignore the 'boot' due to 'opts' contains 'noauto'.".to_string());
        } else if !boot {
            opts.push_str(",noauto");
        }
        let fstab_path = args.str("fstab").unwrap_or_else(|| "/etc/fstab".into());
        Ok(MountArgs {
            entry: Entry {
                src: src
                    .clone()
                    .map(|s| host.expand_path(&s))
                    .transpose()?
                    .unwrap_or_default(),
                name: path,
                fstype: fstype.clone().unwrap_or_default(),
                opts,
                dump: args.str("dump").unwrap_or_else(|| "0".into()),
                passno: args.str("passno").unwrap_or_else(|| "0".into()),
            },
            src_given: src.is_some(),
            fstype_given: fstype.is_some(),
            boot,
            backup: args.bool_or("backup", false)?,
            warnings,
            file: TextEdit {
                path: fstab_path,
                diff: DiffStyle::Single,
                follow: true,
                ..TextEdit::default()
            },
            state,
        })
    }

    fn observe(&self, a: &MountArgs) -> Observe {
        let mut o = a.file.observe();
        o.sections.push((
            "mnt",
            Script::new()
                .set("p", &a.entry.name)
                .raw("[ -e \"$p\" ] && echo exists\nmountpoint -q -- \"$p\" 2>/dev/null && echo mounted\nfindmnt -nro SOURCE --mountpoint \"$p\" 2>/dev/null | sed 's/^/src /'"),
        ));
        o
    }

    fn decide(&self, a: &MountArgs, seen: &Observed) -> Outcome<MountChange> {
        decide(a, seen).unwrap_or_else(Outcome::Fail)
    }

    fn apply(&self, a: &MountArgs, c: &MountChange) -> Vec<Step> {
        vec![Step::Exec {
            script: script(a, c),
            stdin: None,
        }]
    }

    fn finish(&self, _a: &MountArgs, _c: &MountChange, done: &Done, mut r: Plan) -> Plan {
        let out = &done.outputs[0];
        let stdout = out.stdout_str();
        if let Some(b) = stdout.lines().find_map(|l| l.strip_prefix("backup ")) {
            r = r.with_value("backup_file", b);
        }
        if out.rc != 0 {
            r.mark_failed(false);
            r.msg = Some(out.stderr_str().trim().to_string());
        }
        r
    }
}

/// The mount command for `mounted`: with `-T` for another fstab, or the whole entry for
/// `ephemeral`.
fn mount_words(a: &MountArgs) -> Vec<String> {
    let mut w = Vec::new();
    if a.state == "ephemeral" {
        w.extend(["-t".to_string(), a.entry.fstype.clone()]);
        if a.entry.opts != "defaults" {
            w.extend(["-o".to_string(), a.entry.opts.clone()]);
        }
        w.push(a.entry.src.clone());
    } else if a.file.path != "/etc/fstab" {
        w.extend(["-T".to_string(), a.file.path.clone()]);
    }
    w.push(a.entry.name.clone());
    w
}

fn script(a: &MountArgs, c: &MountChange) -> Script {
    let mut s = Script::new().set("p", &a.entry.name).set("f", &a.file.path);
    let put_back = match &c.fstab {
        Some((_, old)) => Script::new()
            .set("old", old)
            .raw("printf '%s' \"$old\" >\"$f\"\n"),
        None => Script::new(),
    };
    if c.mkdir {
        s = s.raw("top=$p; while ! [ -e \"$(dirname -- \"$top\")\" ]; do top=$(dirname -- \"$top\"); done\n[ -e \"$p\" ] && top= || mkdir -p -- \"$p\" || { echo \"Error making dir $p\" >&2; exit 1; }\n");
    }
    if let Some((new, _)) = &c.fstab {
        if a.backup {
            s = s.raw("b=\"$f.$$.$(date +%Y-%m-%d@%H:%M:%S)~\"; cp -p -- \"$f\" \"$b\" && echo \"backup $b\"\n");
        }
        s = s
            .set("new", new)
            .raw("printf '%s' \"$new\" >\"$f\" || exit 1\n");
    }
    let mut m = Script::new().raw("mount");
    for w in mount_words(a) {
        m = m.arg(&w);
    }
    s = match c.op {
        "umount" => s.raw("if ! msg=$(umount -- \"$p\" 2>&1); then echo \"Error unmounting $p: $msg\" >&2; exit 1; fi\n"),
        "mount" => s
            .raw("if ! msg=$(")
            .then(m)
            .raw(" 2>&1); then\n")
            .then(put_back)
            // The directories it made, innermost first, each only when empty.
            .raw("d=$p; while [ -n \"${top:-}\" ] && rmdir -- \"$d\" 2>/dev/null && [ \"$d\" != \"$top\" ]; do d=$(dirname -- \"$d\"); done\necho \"Error mounting $p: $msg\" >&2; exit 1\nfi\n"),
        "remount" => {
            let opts = if a.state == "remounted" && a.entry.opts != "defaults" {
                format!("remount,{}", a.entry.opts)
            } else {
                "remount".to_string()
            };
            let strict = a.state == "remounted" && a.entry.opts != "defaults";
            let mut r = Script::new().raw("mount -o").arg(&opts);
            if a.state != "ephemeral" && a.file.path != "/etc/fstab" {
                r = r.raw(" -T").arg(&a.file.path);
            }
            let mut s2 = s.raw("if ! msg=$(").then(r).raw(" -- \"$p\" 2>&1); then\n");
            if strict {
                s2 = s2.raw("echo 'Options were specified with remounted, but the remount command failed. Failing in order to prevent an unexpected mount result. Try replacing this command with a \"state: unmounted\" followed by a \"state: mounted\" using the full desired mount options instead.' >&2; exit 1\n");
            }
            s2.raw("if ! msg=$(umount -- \"$p\" 2>&1) || ! msg=$(")
                .then(m)
                .raw(" 2>&1); then\n")
                .then(put_back)
                .raw("echo \"Error mounting $p: $msg\" >&2; exit 1\nfi\nfi\n")
        }
        _ => s,
    };
    if c.rmdir {
        s = s.raw("if [ -e \"$p\" ] && ! msg=$(rmdir -- \"$p\" 2>&1); then echo \"Error rmdir $p: $msg\" >&2; exit 1; fi\n");
    }
    s
}

fn decide(a: &MountArgs, seen: &Observed) -> Result<Outcome<MountChange>, Failure> {
    let mnt = seen.section("mnt");
    let exists = mnt.lines().any(|l| l == "exists");
    let mounted = mnt.lines().any(|l| l == "mounted");
    let cur = a.file.current(seen)?;
    let text = String::from_utf8_lossy(&cur.content).into_owned();
    let src = a.src_given.then_some(a.entry.src.as_str());
    let mut report = Plan::unchanged()
        .with_value("name", a.entry.name.as_str())
        .with_value("opts", a.entry.opts.as_str())
        .with_value("dump", a.entry.dump.as_str())
        .with_value("passno", a.entry.passno.as_str())
        .with_value("fstab", a.file.path.as_str())
        .with_value("boot", if a.boot { "yes" } else { "no" })
        .with_value("backup_file", "");
    if a.src_given {
        report = report.with_value("src", a.entry.src.as_str());
    }
    if a.fstype_given {
        report = report.with_value("fstype", a.entry.fstype.as_str());
    }
    if !a.warnings.is_empty() {
        report = report.with_value("warnings", Value::from(a.warnings.clone()));
    }
    let mut change = MountChange {
        fstab: None,
        op: "",
        rmdir: false,
        mkdir: false,
    };
    let changed = match a.state.as_str() {
        "absent_from_fstab" | "present" | "absent" => {
            let (new, changed) = if a.state == "present" {
                fstab::set(&text, &a.entry, a.src_given)
            } else {
                fstab::unset(&text, &a.entry.name, src)
            };
            if changed {
                change.fstab = Some((new, text.clone()));
                if a.state == "absent" {
                    change.op = if mounted { "umount" } else { "" };
                    change.rmdir = exists;
                }
            }
            changed
        }
        "unmounted" => {
            change.op = "umount";
            mounted
        }
        "remounted" => {
            change.op = "remount";
            true
        }
        _ => {
            // mounted, ephemeral
            change.mkdir = !exists;
            let mut changed = false;
            if a.state == "mounted" {
                let (new, c) = fstab::set(&text, &a.entry, a.src_given);
                if c {
                    change.fstab = Some((new, text.clone()));
                    changed = true;
                }
            }
            if mounted {
                if changed {
                    change.op = "remount";
                }
                if a.state == "ephemeral" {
                    let same = mnt
                        .lines()
                        .filter_map(|l| l.strip_prefix("src "))
                        .any(|s| s == a.entry.src);
                    if !same {
                        return Err(Failure::new("Ephemeral mount point is already mounted with a different source than the specified one. Failing in order to prevent an unwanted unmount or override operation. Try replacing this command with a \"state: unmounted\" followed by a \"state: ephemeral\", or use a different destination path."));
                    }
                    change.op = "remount";
                    changed = true;
                }
            } else {
                change.op = "mount";
                changed = true;
            }
            changed
        }
    };
    if !changed {
        return Ok(Outcome::Unchanged(report));
    }
    Ok(Outcome::change(change, report))
}
