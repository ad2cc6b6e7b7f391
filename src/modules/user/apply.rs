//! Carrying out a decision: the account tools, the home directory and the SSH key, with
//! passwords masked in what a failing tool says.

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
}

/// The script that runs `ssh-keygen` as the account itself (via `runuser` when the shell is
/// root), so nothing is created through links the account controls; a missing key directory
/// is made with mode 0700. Values reach the inner shell as positional arguments.
pub fn keygen_script(k: &KeyGen) -> String {
    let mut kg: Vec<String> = vec![
        "ssh-keygen".into(),
        "-q".into(),
        "-t".into(),
        k.ktype.into(),
    ];
    if let Some(b) = k.bits {
        kg.extend(["-b".into(), b.to_string()]);
    }
    let inner = format!(
        "set -e; umask 077; d=$(dirname -- \"$1\"); [ -d \"$d\" ] || mkdir -p -- \"$d\"; \
         {} -N \"$3\" -C \"$2\" -f \"$1\" </dev/null >/dev/null",
        join(&kg)
    );
    let comment = match k.comment {
        Some(c) => quote(c),
        None => "\"ansible-generated on $(uname -n)\"".into(),
    };
    let as_user = if k.uid == 0 {
        String::new()
    } else {
        format!(
            "if [ \"$(id -u)\" = 0 ]; then set -- runuser -u {} --; else set --; fi; ",
            quote(k.user)
        )
    };
    format!(
        "{as_user}\"$@\" sh -c {} sh {} {comment} {}",
        quote(&inner),
        quote(k.path),
        quote(k.passphrase)
    )
}

pub(super) fn run_argv(ctx: &mut ModuleCtx, argv: &[String]) -> Result<()> {
    let out = ctx.run(&join(argv))?;
    if out.rc != 0 {
        let tool = argv.first().map(String::as_str).unwrap_or("command");
        return Err(fail(format!(
            "{tool} failed (rc={}): {}",
            out.rc,
            mask_password(argv, out.stderr_str().trim())
        )));
    }
    Ok(())
}

/// A tool's message with the password hash of its command line (`-p HASH`) masked, should the
/// tool repeat it: a password never shows in a result.
pub(super) fn mask_password(argv: &[String], text: &str) -> String {
    match argv
        .iter()
        .position(|a| a == "-p")
        .and_then(|i| argv.get(i + 1))
    {
        Some(pw) if !pw.is_empty() => text.replace(pw.as_str(), "********"),
        _ => text.to_string(),
    }
}

pub(super) fn run_script(ctx: &mut ModuleCtx, what: &str, script: &str) -> Result<()> {
    let out = ctx.run(script)?;
    if out.rc != 0 {
        return Err(fail(format!(
            "{what} failed (rc={}): {}",
            out.rc,
            out.stderr_str().trim()
        )));
    }
    Ok(())
}

pub(super) fn apply(ctx: &mut ModuleCtx, args: &Args, mut plan: Plan) -> Result<Plan> {
    let work: Work = plan.take_work()?;
    let want = &work.want;
    match &work.decision.action {
        Some(Action::Add(a) | Action::Mod(a) | Action::Del(a)) => run_argv(ctx, a)?,
        None => {}
    }
    if !want.present {
        return Ok(plan);
    }
    let key = want.generate_ssh_key.then(|| key_file(args));
    let obs = observe(ctx, want, None)?;
    let Some(pw) = obs.passwd.clone() else {
        return Err(fail(format!(
            "user {} does not exist after {}",
            want.name,
            if matches!(work.decision.action, Some(Action::Add(_))) {
                "useradd"
            } else {
                "usermod"
            }
        )));
    };
    let owner = format!("{}:{}", pw.uid, pw.gid);
    if work.decision.create_home_dir {
        let home = want.home.clone().unwrap_or(pw.home.clone());
        let skel = want.skeleton.clone().unwrap_or_else(|| "/etc/skel".into());
        run_script(
            ctx,
            "creating the home directory",
            &format!(
                "set -e; h={}; mkdir -p -- \"$h\"; if [ -d {skel} ]; then cp -a -- {skel}/. \"$h\"/; fi; chown -R {} -- \"$h\"",
                quote(&home),
                quote(&owner),
                skel = quote(&skel),
            ),
        )?;
    }
    if let Some(k) = &key {
        let path = if k.starts_with('/') {
            k.clone()
        } else {
            format!("{}/{k}", pw.home)
        };
        let key_exists = ctx.run(&format!("[ -f {} ]", quote(&path)))?.rc == 0;
        if !key_exists {
            let script = keygen_script(&KeyGen {
                user: &want.name,
                uid: pw.uid,
                path: &path,
                ktype: &key_type(args),
                bits: args.int("ssh_key_bits")?.filter(|b| *b > 0),
                passphrase: &args.str("ssh_key_passphrase").unwrap_or_default(),
                comment: args.str("ssh_key_comment").as_deref(),
            });
            run_script(ctx, "generating the SSH key", &script)?;
        }
    }
    // Creating the home or a key changes no account field: only a key's values need a look.
    let obs = match &key {
        Some(k) => observe(ctx, want, Some(k))?,
        None => obs,
    };
    plan = present_values(plan, &obs);
    if let Some(k) = &key {
        plan = key_values(plan, &obs, k);
    }
    Ok(plan)
}
