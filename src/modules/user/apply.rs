//! Carrying out a decision: the account tool, then (from the account as it now is) the home
//! directory and the SSH key, then a last look for the result's values; passwords masked in
//! what a failing tool says and in what is displayed.

use super::*;

/// An SSH key to generate for an account.
pub struct KeyGen<'a> {
    pub user: &'a str,
    pub uid: u32,
    pub path: &'a str,
    pub ktype: &'a str,
    pub bits: Option<i64>,
    pub passphrase: &'a str,
    /// `None`: Ansible's `ansible-generated on <hostname>`.
    pub comment: Option<&'a str>,
    /// `force`: replace an existing key (Ansible's overwrites the private key and writes the
    /// public one anew).
    pub replace: bool,
}

/// What `ssh-keygen` runs in: positional arguments path, comment, passphrase, type, then
/// its extra options (`-b BITS`).
const KEYGEN: &str = "set -e; umask 077; k=$1 c=$2 p=$3 t=$4; shift 4; d=$(dirname -- \"$k\"); [ -d \"$d\" ] || mkdir -p -- \"$d\"; ssh-keygen -q -t \"$t\" \"$@\" -N \"$p\" -C \"$c\" -f \"$k\" </dev/null >/dev/null";

/// The script that runs `ssh-keygen` as the account itself (via `runuser` when the shell is
/// root), so nothing is created through links the account controls, unless the key exists; a
/// missing key directory is made with mode 0700. Values reach the inner shell as positional
/// arguments.
pub fn keygen_script(k: &KeyGen) -> Script {
    let mut s = if k.replace {
        Script::new().raw("if :; then\nown=\n")
    } else {
        Script::new()
            .raw("if [ ! -f")
            .arg(k.path)
            .raw(" ]; then\nown=\n")
    };
    if k.uid != 0 {
        // As the account, unless it cannot write where the key goes (a home left by an
        // earlier account of that name, which useradd does not hand over): then as root, as
        // Ansible's module does, and the new files are handed to the account. The account
        // cannot plant links in a directory it cannot write.
        s = s
            .set("ku", k.user)
            .set("kp", k.path)
            .raw(concat!(
                "if [ \"$(id -u)\" = 0 ]; then\n",
                "if runuser -u \"$ku\" -- sh -c 'd=$(dirname -- \"$1\"); while [ ! -e \"$d\" ]; do d=$(dirname -- \"$d\"); done; [ -w \"$d\" ]' sh \"$kp\"; then set -- runuser -u \"$ku\" --\n",
                "else set --; own=1; kd=$(dirname -- \"$kp\"); [ -d \"$kd\" ] || own=2; fi\n",
                "else set --; fi\n",
            ));
    } else {
        s = s.raw("set --\n");
    }
    if k.replace {
        // Removing replaces links too: nothing is written through them.
        s = s
            .raw("\"$@\" rm -f --")
            .arg(k.path)
            .arg(&format!("{}.pub", k.path))
            .raw("\n");
    }
    s = s.raw("\"$@\" sh -c").arg(KEYGEN).raw(" sh").arg(k.path);
    s = match k.comment {
        Some(c) => s.arg(c),
        None => s.raw(" \"ansible-generated on $(uname -n)\""),
    };
    s = s.arg(k.passphrase).secret(k.passphrase).arg(k.ktype);
    if let Some(b) = k.bits {
        s = s.arg("-b").arg(&b.to_string());
    }
    s.raw(concat!(
        "\nif [ -n \"$own\" ]; then chown -- \"$ku:\" \"$kp\" \"$kp.pub\"",
        "; [ \"$own\" = 2 ] && chown -- \"$ku:\" \"$kd\"; :; fi\n",
        "fi\n"
    ))
}

/// A tool's message with the password hash of its command line (`-p HASH`) masked, should the
/// tool repeat it: a password never shows in a result.
pub(super) fn mask_password(argv: &[String], text: &str) -> String {
    match password_of(argv) {
        Some(pw) => text.replace(pw, "********"),
        None => text.to_string(),
    }
}

fn password_of(argv: &[String]) -> Option<&str> {
    argv.iter()
        .position(|a| a == "-p")
        .and_then(|i| argv.get(i + 1))
        .map(String::as_str)
        .filter(|pw| !pw.is_empty())
}

/// The account tool's step.
pub(super) fn action_steps(c: &UserChange) -> Vec<Step> {
    let mut steps = Vec::new();
    if let Some(Action::Add(a) | Action::Mod(a) | Action::Del(a)) = &c.decision.action {
        let mut script = Script::new().argv(a);
        if let Some(pw) = password_of(a) {
            script = script.secret(pw);
        }
        steps.push(Step::Exec {
            script,
            stdin: None,
        });
    }
    let d = &c.decision;
    let name = c.want.name.as_str();
    let mut local: Vec<Vec<String>> = Vec::new();
    if let Some(days) = d.lexpires {
        local.push(vec![
            "lchage".into(),
            "-E".into(),
            days.to_string(),
            name.into(),
        ]);
    }
    for (flag, groups) in [("-M", &d.lgroup_add), ("-m", &d.lgroup_del)] {
        for g in groups {
            local.push(vec![
                "lgroupmod".into(),
                flag.into(),
                name.into(),
                g.clone(),
            ]);
        }
    }
    for argv in local {
        steps.push(Step::Exec {
            script: Script::new().argv(argv),
            stdin: None,
        });
    }
    if let Some(argv) = &c.decision.chage {
        steps.push(Step::Exec {
            script: Script::new().argv(argv),
            stdin: None,
        });
    }
    if c.want.present {
        steps.push(Step::Observe(observe_account(&c.want, None)));
    }
    steps
}

/// The home directory and the key, once the account exists; then the look that tells the
/// key's values.
pub(super) fn extra_steps(u: &UserArgs, c: &UserChange, pw: &Passwd) -> Vec<Step> {
    let mut steps = Vec::new();
    let owner = format!("{}:{}", pw.uid, pw.gid);
    if c.decision.create_home_dir {
        let home = c.want.home.clone().unwrap_or(pw.home.clone());
        let skel = c
            .want
            .skeleton
            .clone()
            .unwrap_or_else(|| "/etc/skel".into());
        let script = Script::new()
            .set("h", &home)
            .set("o", &owner)
            .set("sk", &skel)
            .raw("set -e; mkdir -p -- \"$h\"; if [ -d \"$sk\" ]; then cp -a -- \"$sk\"/. \"$h\"/; fi; chown -R \"$o\" -- \"$h\"\n");
        steps.push(Step::Exec {
            script,
            stdin: None,
        });
    }
    if let Some(k) = &u.key {
        let path = if k.file.starts_with('/') {
            k.file.clone()
        } else {
            format!("{}/{}", pw.home, k.file)
        };
        steps.push(Step::Exec {
            script: keygen_script(&KeyGen {
                user: &c.want.name,
                uid: pw.uid,
                path: &path,
                ktype: &k.ktype,
                bits: k.bits,
                passphrase: &k.passphrase,
                comment: k.comment.as_deref(),
                replace: c.want.force,
            }),
            stdin: None,
        });
        steps.push(Step::Observe(observe_account(&c.want, Some(&k.file))));
    }
    steps
}

/// What each `Exec` step was, in order, for its failure message.
fn exec_labels(u: &UserArgs, c: &UserChange) -> Vec<String> {
    let mut labels = Vec::new();
    if let Some(Action::Add(a) | Action::Mod(a) | Action::Del(a)) = &c.decision.action {
        labels.push(a.first().cloned().unwrap_or_else(|| "command".into()));
    }
    let d = &c.decision;
    if d.lexpires.is_some() {
        labels.push("lchage".into());
    }
    for _ in d.lgroup_add.iter().chain(&d.lgroup_del) {
        labels.push("lgroupmod".into());
    }
    if c.decision.chage.is_some() {
        labels.push("chage".into());
    }
    if c.decision.create_home_dir {
        labels.push("creating the home directory".into());
    }
    if u.key.is_some() {
        labels.push("generating the SSH key".into());
    }
    labels
}

/// The result once the steps ran.
pub(super) fn finish_user(u: &UserArgs, c: &UserChange, done: &Done, mut plan: Plan) -> Plan {
    if let Some(out) = done.outputs.last().filter(|o| o.rc != 0) {
        let what = exec_labels(u, c)
            .get(done.outputs.len() - 1)
            .cloned()
            .unwrap_or_default();
        let argv = match &c.decision.action {
            Some(Action::Add(a) | Action::Mod(a) | Action::Del(a)) => a.as_slice(),
            None => &[],
        };
        let mut p = Plan::fail(format!(
            "{what} failed (rc={}): {}",
            out.rc,
            mask_password(argv, out.stderr_str().trim())
        ));
        p.values = plan.values;
        return p;
    }
    if !c.want.present {
        return plan;
    }
    let Some(last) = done.observed.last() else {
        return plan;
    };
    let obs = parse_probe(last, &c.want.name, &[]);
    if obs.passwd.is_none() {
        let tool = match &c.decision.action {
            Some(Action::Add(a) | Action::Mod(a)) => a[0].as_str(),
            _ => "usermod",
        };
        plan.mark_failed(false);
        plan.msg = Some(format!("user {} does not exist after {tool}", c.want.name));
        return plan;
    }
    plan = present_values(plan, &obs);
    if let Some(k) = &u.key {
        plan = key_values(plan, &obs, &k.file);
    }
    plan
}
