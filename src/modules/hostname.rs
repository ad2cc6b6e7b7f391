//! `hostname`: the host's name, as Ansible's module sets it on Debian: with `hostnamectl`
//! (its static and transient names) on a host that runs systemd or with `use: debian` /
//! `use: systemd`, else in `/etc/hostname` (Ansible's `FileStrategy`) and, unlike Ansible's,
//! as the running name too (`hostname NAME`). Returns the name facts (`ansible_hostname`,
//! `ansible_nodename`, `ansible_fqdn`, `ansible_domain`) and a diff.

use super::contract::{Done, Failure, Observe, Observed, Outcome, Resolve, Script, Step, Typed};
use super::fileops::fail;
use super::{Args, FactKind, Plan, Spec};
use crate::vars::VarMap;
use anyhow::Result;
use minijinja::Value;

pub struct Hostname;

static SPEC: Spec = Spec {
    args: &["name", "use"],
    aliases: &[],
    free_form: None,
    any_args: false,
    file_args: false,
};

const STRATEGIES: &[&str] = &[
    "alpine", "debian", "freebsd", "generic", "macos", "macosx", "darwin", "openbsd", "openrc",
    "redhat", "sles", "solaris", "systemd",
];

pub struct HnArgs {
    name: String,
    /// `systemd` or `file`; `None`: the look decides (systemd when it runs).
    strategy: Option<&'static str>,
}

/// What to set: the permanent name and the running one.
#[derive(Debug)]
pub struct HnChange {
    systemd: bool,
    permanent: bool,
    current: bool,
}

/// The look's lines: `strategy`, `permanent`, `current`, `fqdn`, `err`.
fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(' ')))
}

impl Typed for Hostname {
    type Args = HnArgs;
    type Change = HnChange;

    fn name(&self) -> &'static str {
        "hostname"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn leaves_accounts_alone(&self) -> bool {
        true
    }

    fn parse(&self, args: &Args, _host: &mut dyn Resolve) -> Result<HnArgs> {
        let name = args.req_str("name")?;
        let strategy = match args.str("use") {
            None => None,
            Some(u) => match u.as_str() {
                "debian" | "systemd" => Some("systemd"),
                u if STRATEGIES.contains(&u) => {
                    return Err(fail(format!(
                        "drover's hostname module implements use=debian and use=systemd (and the file strategy of Debian hosts without systemd), not use={u}"
                    )))
                }
                u => {
                    return Err(fail(format!(
                        "value of use must be one of: {}, got: {u}",
                        STRATEGIES.join(", ")
                    )))
                }
            },
        };
        Ok(HnArgs { name, strategy })
    }

    fn observe(&self, a: &HnArgs) -> Observe {
        let s = Script::new()
            .set("strategy", a.strategy.unwrap_or(""))
            .raw("if [ -z \"$strategy\" ]; then if [ -d /run/systemd/system ]; then strategy=systemd; else strategy=file; fi; fi\necho \"strategy $strategy\"\n")
            .raw("if [ \"$strategy\" = systemd ]; then\n")
            .raw("if ! command -v hostnamectl >/dev/null 2>&1; then echo \"err Failed to find required executable \\\"hostnamectl\\\" in paths: $PATH\"\n")
            .raw("else p=$(hostnamectl --static status 2>&1) || echo \"err Command failed rc=$?, out=, err=$p\"; echo \"permanent $p\"\n")
            .raw("c=$(hostnamectl --transient status 2>&1) || echo \"err Command failed rc=$?, out=, err=$c\"; echo \"current $c\"; fi\n")
            .raw("else\np=; [ -f /etc/hostname ] && p=$(grep -v '^#' /etc/hostname | tr -d ' \\t\\n'); echo \"permanent $p\"; echo \"current $(hostname)\"\nfi\n")
            .raw("echo \"fqdn $(hostname -f 2>/dev/null || hostname)\"\n");
        Observe {
            sections: vec![("look", s)],
            ..Observe::default()
        }
    }

    fn decide(&self, a: &HnArgs, seen: &Observed) -> Outcome<HnChange> {
        let text = seen.section("look");
        if let Some(e) = field(text, "err") {
            return Outcome::Fail(Failure::new(e));
        }
        let systemd = field(text, "strategy") == Some("systemd");
        let permanent = field(text, "permanent").unwrap_or_default().trim();
        let current = field(text, "current").unwrap_or_default().trim();
        let name = a.name.as_str();
        let (set_perm, set_cur) = (permanent != name, current != name);
        if systemd && (set_perm || set_cur) && name.chars().count() > 64 {
            return Outcome::Fail(Failure::new(
                "name cannot be longer than 64 characters on systemd servers, try a shorter name",
            ));
        }
        let fqdn = field(text, "fqdn").unwrap_or_default().trim();
        let mut report = facts(Plan::unchanged().with_value("name", name), name, fqdn);
        if !(set_perm || set_cur) {
            return Outcome::Unchanged(report);
        }
        let before = if name != current { current } else { permanent };
        report.diff_value = Some(crate::vars::map_value([
            (
                "before".to_string(),
                Value::from(format!("hostname = {before}\n")),
            ),
            (
                "after".to_string(),
                Value::from(format!("hostname = {name}\n")),
            ),
        ]));
        report.diff_always = true;
        report = report.with_diff(super::Diff {
            before: format!("hostname = {before}\n"),
            after: format!("hostname = {name}\n"),
            ..super::Diff::default()
        });
        Outcome::change(
            HnChange {
                systemd,
                permanent: set_perm,
                current: set_cur,
            },
            report,
        )
    }

    fn apply(&self, a: &HnArgs, c: &HnChange) -> Vec<Step> {
        let mut s = Script::new().set("n", &a.name);
        // The permanent name first, as Ansible's systemd strategy does.
        s = match (c.systemd, c.permanent) {
            (true, true) => s.raw("hostnamectl --pretty --static set-hostname \"$n\" || exit $?\n"),
            (false, true) => s.raw("printf '%s\\n' \"$n\" >/etc/hostname || exit $?\n"),
            _ => s,
        };
        s = match (c.systemd, c.current) {
            (true, true) => s.raw("hostnamectl --transient set-hostname \"$n\" || exit $?\n"),
            (false, true) => s.raw("hostname \"$n\" || exit $?\n"),
            _ => s,
        };
        vec![Step::Exec {
            script: s.raw("echo \"fqdn $(hostname -f 2>/dev/null || hostname)\"\n"),
            stdin: None,
        }]
    }

    fn finish(&self, a: &HnArgs, _c: &HnChange, done: &Done, mut r: Plan) -> Plan {
        let out = &done.outputs[0];
        if out.rc != 0 {
            r.mark_failed(false);
            r.msg = Some(format!(
                "Command failed rc={}, out={}, err={}",
                out.rc,
                out.stdout_str(),
                out.stderr_str().trim()
            ));
            return r;
        }
        let stdout = out.stdout_str();
        let fqdn = field(&stdout, "fqdn")
            .unwrap_or_default()
            .trim()
            .to_string();
        facts(r, &a.name, &fqdn)
    }
}

/// The name facts Ansible's module returns.
fn facts(p: Plan, name: &str, fqdn: &str) -> Plan {
    let domain = fqdn.split('.').skip(1).collect::<Vec<_>>().join(".");
    let mut f = VarMap::new();
    f.insert(
        "ansible_hostname".into(),
        Value::from(name.split('.').next().unwrap_or_default()),
    );
    f.insert("ansible_nodename".into(), Value::from(name));
    f.insert("ansible_fqdn".into(), Value::from(fqdn));
    f.insert("ansible_domain".into(), Value::from(domain));
    let mut p = p.with_facts(f);
    p.facts_kind = FactKind::ModuleFacts;
    p
}
