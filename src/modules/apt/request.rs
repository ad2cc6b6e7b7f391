//! The task's arguments read into a `Request`, and the apt-get command lines it makes (with
//! the lock retry and apt's errors in a message).

use super::*;

/// The requested operation, validated.
pub struct Request {
    pub(super) names: Vec<PkgSpec>,
    pub(super) state: State,
    pub(super) update_cache: bool,
    pub(super) cache_valid_time: i64,
    pub(super) install_recommends: Option<bool>,
    pub(super) purge: bool,
    pub(super) autoremove: bool,
    pub(super) upgrade: String,
    pub(super) deb: Option<String>,
    pub(super) lock_timeout: i64,
    pub(super) force: bool,
    pub(super) allow_downgrade: bool,
    pub(super) allow_unauthenticated: bool,
    pub(super) allow_change_held: bool,
    pub(super) dpkg_options: Vec<String>,
    pub(super) default_release: Option<String>,
    pub(super) only_upgrade: bool,
    /// `policy_rc_d`: `/usr/sbin/policy-rc.d` exits with this while apt-get runs.
    pub(super) policy_rc_d: Option<i64>,
}

impl Request {
    pub(super) fn from_args(args: &Args) -> Result<Request> {
        let state = match args
            .choice(
                "state",
                &[
                    "present",
                    "absent",
                    "latest",
                    "build-dep",
                    "fixed",
                    "installed",
                    "removed",
                ],
                "present",
            )?
            .as_str()
        {
            "absent" | "removed" => State::Absent,
            "latest" => State::Latest,
            "present" | "installed" => State::Present,
            other => {
                return Err(fail_with(
                    format!("state={other} is not supported by drover's apt module yet"),
                    vec![],
                ))
            }
        };
        let listed = args.list("name");
        // Checked as written: Ansible's list of a comma-separated string keeps the spaces
        // around each part, and a package name with a space is no package.
        for n in args.list_untrimmed("name") {
            crate::modules::names::check_package(&n)?;
        }
        let names: Vec<PkgSpec> = listed.iter().map(|s| PkgSpec::parse(s)).collect();
        let upgrade = match args.get("upgrade") {
            None => "no".to_string(),
            Some(v) => match crate::modules::args_to_bool(v) {
                Some(true) => "yes".into(),
                Some(false) => "no".into(),
                None => args.choice("upgrade", &["no", "yes", "safe", "full", "dist"], "no")?,
            },
        };
        let deb = args.str("deb");
        let exclusive = [!names.is_empty(), deb.is_some(), upgrade != "no"];
        if exclusive.iter().filter(|x| **x).count() > 1 {
            return Err(fail_with(
                "parameters are mutually exclusive: deb|package|upgrade",
                vec![],
            ));
        }
        if names.iter().any(|p| p.name.is_empty()) {
            return Err(fail_with("an empty package name was given", vec![]));
        }
        let install_recommends = match args.get("install_recommends") {
            None => None,
            Some(_) => Some(args.bool_or("install_recommends", true)?),
        };
        let cache_valid_time = args.int("cache_valid_time")?.unwrap_or(0);
        let dpkg_options = match args.get("dpkg_options") {
            None => vec!["force-confdef".into(), "force-confold".into()],
            Some(_) => args.list("dpkg_options"),
        };
        Ok(Request {
            names,
            state,
            // Setting cache_valid_time implies update_cache (Ansible ≥ 2.4).
            update_cache: args.bool_or("update_cache", false)? || cache_valid_time > 0,
            cache_valid_time,
            install_recommends,
            purge: args.bool_or("purge", false)?,
            autoremove: args.bool_or("autoremove", false)?,
            upgrade,
            deb,
            lock_timeout: args.int("lock_timeout")?.unwrap_or(60).max(0),
            force: args.bool_or("force", false)?,
            allow_downgrade: args.bool_or("allow_downgrade", false)?,
            allow_unauthenticated: args.bool_or("allow_unauthenticated", false)?,
            allow_change_held: args.bool_or("allow_change_held_packages", false)?,
            dpkg_options,
            default_release: args.str("default_release"),
            only_upgrade: args.bool_or("only_upgrade", false)?,
            policy_rc_d: args.int("policy_rc_d")?,
        })
    }

    /// Whether anything besides the cache is asked for.
    pub(super) fn has_package_work(&self) -> bool {
        !self.names.is_empty() || self.deb.is_some() || self.upgrade != "no" || self.autoremove
    }

    /// The `deb:` path as apt-get needs it (with a `/`, so it is read as a file).
    /// The `.deb` as an argument: apt-get needs a `/` to take it as a file, and a path that
    /// starts with `-` would be an option.
    /// `deb:` names a URL the host downloads.
    pub(super) fn deb_is_url(&self) -> bool {
        self.deb.as_deref().is_some_and(|d| d.contains("://"))
    }

    pub(super) fn deb_arg(&self) -> Option<String> {
        if self.deb_is_url() {
            return self.deb.clone();
        }
        self.deb.as_ref().map(|d| {
            if d.contains('/') && !d.starts_with('-') {
                d.clone()
            } else {
                format!("./{d}")
            }
        })
    }

    /// `apt-get` with the common options and `sub` + quoted `words`.
    pub(super) fn apt_get(
        &self,
        simulate: bool,
        sub: &'static str,
        extra: &[&'static str],
        words: &[String],
    ) -> Script {
        let mut c = Script::new().raw("DEBIAN_FRONTEND=noninteractive LC_ALL=C apt-get -y -q");
        if simulate {
            c = c.raw(" -s");
        }
        for o in &self.dpkg_options {
            c = c.raw(" -o").arg(&format!("Dpkg::Options::=--{o}"));
        }
        match self.install_recommends {
            Some(false) => c = c.raw(" --no-install-recommends"),
            Some(true) => c = c.raw(" -o APT::Install-Recommends=true"),
            None => {}
        }
        if self.allow_downgrade || self.force {
            c = c.raw(" --allow-downgrades");
        }
        if self.allow_unauthenticated || self.force {
            c = c.raw(" --allow-unauthenticated");
        }
        if self.allow_change_held || self.force {
            c = c.raw(" --allow-change-held-packages");
        }
        if self.force {
            c = c.raw(" --allow-remove-essential");
        }
        if let Some(r) = &self.default_release {
            c = c.raw(" -t").arg(r);
        }
        for e in extra {
            c = c.raw(" ").raw(e);
        }
        c = c.raw(" ").raw(sub);
        for w in words {
            c = c.arg(w);
        }
        c.raw("\n")
    }
}

/// Wraps an apt command so it is retried while another process holds apt's or dpkg's lock,
/// for up to `timeout` seconds. Runs inside the framing's subshell, so `exec`/`exit` are local.
pub(super) fn with_lock_retry(cmd: Script, timeout: i64) -> Script {
    Script::new()
        .set("lt", &timeout.to_string())
        .raw("end=\nexec 3>&1\nwhile :; do\n  err=$( {\n")
        .then(cmd)
        .raw(concat!(
            "  } 2>&1 1>&3 3>&- ); rc=$?\n  case $err in\n",
            "    *'Could not get lock'*|*'Unable to acquire the dpkg frontend lock'*|*'Unable to lock directory'*)\n",
            "      now=$(date +%s); end=${end:-$((now + lt))}\n",
            "      if [ \"$now\" -lt \"$end\" ]; then sleep 1; continue; fi ;;\n",
            "  esac\n  break\ndone\nif [ -n \"$err\" ]; then printf '%s\\n' \"$err\" >&2; fi\nexit $rc\n"
        ))
}

pub(super) fn is_lock_error(stderr: &str) -> bool {
    stderr.contains("Could not get lock")
        || stderr.contains("Unable to acquire the dpkg frontend lock")
        || stderr.contains("Unable to lock directory")
}

/// apt's error lines (`E: …`), or the whole text when there are none.
pub(super) fn apt_errors(stderr: &str, stdout: &str) -> String {
    let e: Vec<&str> = stderr
        .lines()
        .chain(stdout.lines())
        .filter(|l| l.starts_with("E: "))
        .collect();
    if e.is_empty() {
        let s = stderr.trim();
        if s.is_empty() {
            stdout.trim().to_string()
        } else {
            s.to_string()
        }
    } else {
        e.join("\n")
    }
}
