//! `apt`: manage Debian packages with `dpkg-query`, `apt-cache` and `apt-get` (no Python).
//!
//! `plan` probes in one command (cache age, `dpkg-query -W` for the named packages,
//! `apt-cache policy` candidates for `state: latest`, `dpkg-deb -f` for `deb:`), decides in
//! the pure `decide` function which names to give apt. In check mode it then asks
//! `apt-get -s` (a simulation, which never changes the host) what apt would really do: the
//! prediction is exact, dependencies and autoremovals included, and a name apt cannot find
//! fails with apt's own message. A real run skips the simulation: `apply` runs apt-get
//! between two `dpkg-query` listings of every package, in one round trip, and reports what
//! the listings show changed (what dpkg did, not what apt planned). When the cache must be
//! updated first (`update_cache`, or `cache_valid_time` expired) the package decision is made
//! in `apply` after `apt-get update` (in the same round trip as the stamp; the probe is
//! repeated only for `state: latest`, whose candidates the update may change); in check mode
//! the cache is not updated and the prediction uses the current cache.
//!
//! Choices (documented differences from Ansible):
//! - `install_recommends` unset follows apt's own configuration (as Ansible); `false` adds
//!   `--no-install-recommends`, `true` adds `-o APT::Install-Recommends=true`.
//! - `cache_updated` is true whenever drover ran `apt-get update` successfully; afterwards it
//!   touches `/var/lib/apt/periodic/update-success-stamp` (as Debian's periodic hook does), and
//!   `cache_valid_time` compares against that stamp, or the mtime of `/var/lib/apt/lists`
//!   when there is no stamp. A task that only updates the cache is `changed` exactly when the
//!   cache was updated; with packages, `changed` reflects the packages only (as Ansible).
//! - `lock_timeout` retries apt while another process holds the dpkg/apt locks, then fails
//!   with a message naming the lock.
//! - `diff` lists the packages that change, `name version` before and after.
//! - `force_apt_get`, `update_cache_retries` and `update_cache_retry_max_delay` are accepted
//!   and ignored (drover always uses apt-get and updates once); `state: build-dep`/`fixed`,
//!   `autoclean`, `clean`, `policy_rc_d` and `fail_on_autoremove` are not supported yet.
//! - `upgrade: yes`/`safe` run `apt-get upgrade --with-new-pkgs`, `full`/`dist` run
//!   `apt-get dist-upgrade` (no aptitude).

use super::fileops::fail_with;
use super::sections::Marks;
use super::{Args, Diff, Module, ModuleCtx, Plan, Spec};
use crate::shell::quote;
use anyhow::Result;
use minijinja::Value;
use std::collections::BTreeMap;

pub struct Apt;

static SPEC: Spec = Spec {
    args: &[
        "name",
        "state",
        "update_cache",
        "cache_valid_time",
        "install_recommends",
        "purge",
        "autoremove",
        "upgrade",
        "deb",
        "lock_timeout",
        "force",
        "allow_downgrade",
        "allow_unauthenticated",
        "allow_change_held_packages",
        "dpkg_options",
        "default_release",
        "only_upgrade",
        "force_apt_get",
        "update_cache_retries",
        "update_cache_retry_max_delay",
    ],
    aliases: &[
        ("package", "name"),
        ("pkg", "name"),
        ("update-cache", "update_cache"),
        ("install-recommends", "install_recommends"),
        ("allow-downgrade", "allow_downgrade"),
        ("allow_downgrades", "allow_downgrade"),
        ("allow-downgrades", "allow_downgrade"),
        ("allow-unauthenticated", "allow_unauthenticated"),
        ("allow-change-held-packages", "allow_change_held_packages"),
        ("default-release", "default_release"),
    ],
    free_form: None,
    any_args: false,
};

/// The argument spec, for `package` to translate its arguments.
pub fn spec() -> &'static Spec {
    &SPEC
}

const STAMP: &str = "/var/lib/apt/periodic/update-success-stamp";
const LISTS: &str = "/var/lib/apt/lists";

/// One requested package: `name`, `name=version` or `name=1.*`.
#[derive(Clone, Debug, PartialEq)]
pub struct PkgSpec {
    pub name: String,
    pub version: Option<String>,
}

impl PkgSpec {
    pub fn parse(s: &str) -> PkgSpec {
        match s.split_once('=') {
            Some((n, v)) if !v.is_empty() => PkgSpec {
                name: n.trim().to_string(),
                version: Some(v.trim().to_string()),
            },
            _ => PkgSpec {
                name: s.trim().trim_end_matches('=').to_string(),
                version: None,
            },
        }
    }

    fn apt_arg(&self) -> String {
        match &self.version {
            Some(v) => format!("{}={v}", self.name),
            None => self.name.clone(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum State {
    Present,
    Absent,
    Latest,
}

/// What dpkg knows of a package.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Installed {
    pub version: String,
    /// Fully installed (`install ok installed`).
    pub installed: bool,
    /// Removed with its configuration files left (`deinstall ok config-files`).
    pub config_files: bool,
}

/// The names to give apt.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Decision {
    pub install: Vec<String>,
    pub remove: Vec<String>,
}

/// apt's version wildcards.
fn glob(pattern: &str, text: &str) -> bool {
    crate::glob::wildcard(pattern, text)
}

/// Desired state + observed state → the packages apt must install or remove.
/// `candidates` are `apt-cache policy` candidates (only needed for `Latest`).
pub fn decide(
    want: &[PkgSpec],
    state: State,
    only_upgrade: bool,
    purge: bool,
    observed: &BTreeMap<String, Installed>,
    candidates: &BTreeMap<String, Option<String>>,
) -> std::result::Result<Decision, String> {
    let mut d = Decision::default();
    for p in want {
        let have = observed.get(&p.name).filter(|i| i.installed);
        match state {
            State::Present => match (have, &p.version) {
                (Some(_), None) => {}
                (Some(i), Some(v)) if glob(v, &i.version) => {}
                (None, _) if only_upgrade => {}
                _ => d.install.push(p.apt_arg()),
            },
            State::Latest => {
                if p.version.is_some() {
                    return Err(format!(
                        "version number inconsistent with state=latest: {}",
                        p.apt_arg()
                    ));
                }
                match have {
                    Some(i) => {
                        if let Some(Some(c)) = candidates.get(&p.name) {
                            if *c != i.version {
                                d.install.push(p.name.clone());
                            }
                        }
                    }
                    None if only_upgrade => {}
                    None => d.install.push(p.name.clone()),
                }
            }
            State::Absent => {
                let known = observed.get(&p.name);
                let present = known.is_some_and(|i| i.installed || (purge && i.config_files));
                let matches = match (&p.version, known) {
                    (Some(v), Some(i)) => glob(v, &i.version),
                    _ => true,
                };
                if present && matches {
                    d.remove.push(p.name.clone());
                }
            }
        }
    }
    Ok(d)
}

/// One package change apt reports (`Inst`/`Remv`/`Purg` lines of a simulation).
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    pub action: String,
    pub name: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// Parses `apt-get -s` output.
pub fn parse_simulation(out: &str) -> Vec<Change> {
    let mut v = Vec::new();
    for line in out.lines() {
        let mut words = line.splitn(3, ' ');
        let (Some(action), Some(name)) = (words.next(), words.next()) else {
            continue;
        };
        if !matches!(action, "Inst" | "Remv" | "Purg") {
            continue;
        }
        let rest = words.next().unwrap_or("");
        let old = rest
            .strip_prefix('[')
            .and_then(|r| r.split_once(']'))
            .map(|(o, _)| o.to_string());
        let new = if action == "Inst" {
            rest.split_once('(')
                .and_then(|(_, r)| r.split_whitespace().next())
                .map(|s| s.trim_end_matches(')').to_string())
        } else {
            None
        };
        v.push(Change {
            action: action.to_string(),
            name: name.to_string(),
            old,
            new,
        });
    }
    v
}

/// The `dpkg-query -W -f=` format `parse_dpkg` reads.
const DPKG_FORMAT: &str = "${Package}\t${Status}\t${Version}\n";

/// Parses `dpkg-query -W -f=DPKG_FORMAT` output.
pub fn parse_dpkg(out: &str) -> BTreeMap<String, Installed> {
    let mut m = BTreeMap::new();
    for line in out.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 3 || f[0].is_empty() {
            continue;
        }
        let status: Vec<&str> = f[1].split_whitespace().collect();
        let last = status.last().copied().unwrap_or("");
        m.insert(
            f[0].to_string(),
            Installed {
                version: f[2].to_string(),
                installed: last == "installed",
                config_files: last == "config-files",
            },
        );
    }
    m
}

/// The package changes between two full `dpkg-query` listings (before and after apt ran),
/// by name: installs and version changes are `Inst`, removals `Remv`, and removals that took
/// the configuration files too (a purge) `Purg`.
pub fn dpkg_changes(
    before: &BTreeMap<String, Installed>,
    after: &BTreeMap<String, Installed>,
) -> Vec<Change> {
    let mut names: Vec<&String> = before.keys().chain(after.keys()).collect();
    names.sort();
    names.dedup();
    let mut v = Vec::new();
    for name in names {
        let (b, a) = (before.get(name), after.get(name));
        let was = b.filter(|i| i.installed).map(|i| i.version.clone());
        let is = a.filter(|i| i.installed).map(|i| i.version.clone());
        let had_conf = b.is_some_and(|i| i.installed || i.config_files);
        let has_conf = a.is_some_and(|i| i.installed || i.config_files);
        let action = match (&was, &is) {
            (_, Some(_)) if was != is => "Inst",
            (Some(_), None) if has_conf => "Remv",
            (Some(_), None) => "Purg",
            (None, None) if had_conf && !has_conf => "Purg",
            _ => continue,
        };
        v.push(Change {
            action: action.into(),
            name: name.clone(),
            old: was,
            new: is,
        });
    }
    v
}

/// Parses `apt-cache policy` output: package → candidate (`None` for `(none)`).
pub fn parse_policy(out: &str) -> BTreeMap<String, Option<String>> {
    let mut m = BTreeMap::new();
    let mut cur: Option<String> = None;
    for line in out.lines() {
        if !line.starts_with(' ') && line.ends_with(':') {
            cur = Some(line.trim_end_matches(':').to_string());
        } else if let (Some(name), Some(c)) = (&cur, line.trim().strip_prefix("Candidate:")) {
            let c = c.trim();
            m.insert(name.clone(), (c != "(none)").then(|| c.to_string()));
        }
    }
    m
}

/// The requested operation, validated.
struct Request {
    names: Vec<PkgSpec>,
    state: State,
    update_cache: bool,
    cache_valid_time: i64,
    install_recommends: Option<bool>,
    purge: bool,
    autoremove: bool,
    upgrade: String,
    deb: Option<String>,
    lock_timeout: i64,
    force: bool,
    allow_downgrade: bool,
    allow_unauthenticated: bool,
    allow_change_held: bool,
    dpkg_options: Vec<String>,
    default_release: Option<String>,
    only_upgrade: bool,
}

impl Request {
    fn from_args(args: &Args) -> Result<Request> {
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
            super::names::check_package(&n)?;
        }
        let names: Vec<PkgSpec> = listed.iter().map(|s| PkgSpec::parse(s)).collect();
        let upgrade = match args.get("upgrade") {
            None => "no".to_string(),
            Some(v) => match super::args_to_bool(v) {
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
        })
    }

    /// Whether anything besides the cache is asked for.
    fn has_package_work(&self) -> bool {
        !self.names.is_empty() || self.deb.is_some() || self.upgrade != "no" || self.autoremove
    }

    /// The `deb:` path as apt-get needs it (with a `/`, so it is read as a file).
    /// The `.deb` as an argument: apt-get needs a `/` to take it as a file, and a path that
    /// starts with `-` would be an option.
    fn deb_arg(&self) -> Option<String> {
        self.deb.as_ref().map(|d| {
            if d.contains('/') && !d.starts_with('-') {
                d.clone()
            } else {
                format!("./{d}")
            }
        })
    }

    /// `apt-get` with the common options and `sub` + quoted `words`.
    fn apt_get(&self, simulate: bool, sub: &str, extra: &[&str], words: &[String]) -> String {
        let mut c = String::from("DEBIAN_FRONTEND=noninteractive LC_ALL=C apt-get -y -q");
        if simulate {
            c.push_str(" -s");
        }
        for o in &self.dpkg_options {
            c.push_str(&format!(" -o {}", quote(&format!("Dpkg::Options::=--{o}"))));
        }
        match self.install_recommends {
            Some(false) => c.push_str(" --no-install-recommends"),
            Some(true) => c.push_str(" -o APT::Install-Recommends=true"),
            None => {}
        }
        if self.allow_downgrade || self.force {
            c.push_str(" --allow-downgrades");
        }
        if self.allow_unauthenticated || self.force {
            c.push_str(" --allow-unauthenticated");
        }
        if self.allow_change_held || self.force {
            c.push_str(" --allow-change-held-packages");
        }
        if self.force {
            c.push_str(" --allow-remove-essential");
        }
        if let Some(r) = &self.default_release {
            c.push_str(&format!(" -t {}", quote(r)));
        }
        for e in extra {
            c.push(' ');
            c.push_str(e);
        }
        c.push(' ');
        c.push_str(sub);
        for w in words {
            c.push(' ');
            c.push_str(&quote(w));
        }
        c
    }
}

/// Wraps an apt command so it is retried while another process holds apt's or dpkg's lock,
/// for up to `timeout` seconds. Runs inside the framing's subshell, so `exec`/`exit` are local.
fn with_lock_retry(cmd: &str, timeout: i64) -> String {
    format!(
        "end=\nexec 3>&1\nwhile :; do\n  err=$( {{ {cmd}\n  }} 2>&1 1>&3 3>&- ); rc=$?\n  case $err in\n    *'Could not get lock'*|*'Unable to acquire the dpkg frontend lock'*|*'Unable to lock directory'*)\n      now=$(date +%s); end=${{end:-$((now + {timeout}))}}\n      if [ \"$now\" -lt \"$end\" ]; then sleep 1; continue; fi ;;\n  esac\n  break\ndone\nif [ -n \"$err\" ]; then printf '%s\\n' \"$err\" >&2; fi\nexit $rc"
    )
}

fn is_lock_error(stderr: &str) -> bool {
    stderr.contains("Could not get lock")
        || stderr.contains("Unable to acquire the dpkg frontend lock")
        || stderr.contains("Unable to lock directory")
}

/// apt's error lines (`E: …`), or the whole text when there are none.
fn apt_errors(stderr: &str, stdout: &str) -> String {
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

/// What the probe found.
struct Probe {
    now: i64,
    cache_mtime: i64,
    observed: BTreeMap<String, Installed>,
    candidates: BTreeMap<String, Option<String>>,
    /// `deb:` file's (Package, Version).
    deb: Option<(String, String)>,
    /// The requested packages apt marks as installed automatically (as a dependency).
    auto: Vec<String>,
}

fn probe(ctx: &mut ModuleCtx, req: &Request) -> Result<Probe> {
    let names: Vec<String> = req.names.iter().map(|p| quote(&p.name)).collect();
    let fmt = quote(DPKG_FORMAT);
    let m = Marks::new();
    let mut s = format!(
        "LC_ALL=C; export LC_ALL\n{}date +%s\n{}if [ -e {STAMP} ]; then stat -c %Y {STAMP}; else stat -c %Y {LISTS} 2>/dev/null || echo 0; fi\n",
        m.start("now"),
        m.start("cache")
    );
    if let Some(deb) = req.deb_arg() {
        let d = quote(&deb);
        let mark = |name: &str| m.start(name).trim_end().to_string();
        s.push_str(&format!(
            "{}; if f=$(dpkg-deb -f {d} Package Version 2>&1); then printf '%s\\n' \"$f\"; p=$(dpkg-deb -f {d} Package); {}; dpkg-query -W -f={fmt} \"$p\" 2>/dev/null; else {}; printf '%s\\n' \"$f\"; fi\n",
            mark("deb"),
            mark("dpkg"),
            mark("deberr"),
        ));
    }
    if !names.is_empty() {
        s.push_str(&format!(
            "{}dpkg-query -W -f={fmt} {} 2>/dev/null\n",
            m.start("dpkg"),
            names.join(" ")
        ));
        if req.state == State::Latest {
            s.push_str(&format!(
                "{}apt-cache policy {} 2>/dev/null\n",
                m.start("policy"),
                names.join(" ")
            ));
        }
        if req.state != State::Absent {
            s.push_str(&format!(
                "{}apt-mark showauto {} 2>/dev/null\n",
                m.start("auto"),
                names.join(" ")
            ));
        }
    }
    s.push_str("true\n");
    let out = ctx.run(&s)?;
    let text = out.stdout_str();
    let sec = m.parse(&text);
    let num = |k: &str| {
        sec.first(k)
            .and_then(|v| v.trim().parse::<i64>().ok())
            .unwrap_or(0)
    };
    if let (Some(e), Some(deb)) = (sec.text("deberr"), &req.deb) {
        return Err(fail_with(
            format!("cannot read the package file {deb}: {}", e.trim()),
            vec![],
        ));
    }
    let deb = sec.has("deb").then(|| {
        let field = |k: &str| {
            sec.lines("deb")
                .iter()
                .find_map(|l| l.strip_prefix(k))
                .map(|v| v.trim().to_string())
                .unwrap_or_default()
        };
        (field("Package:"), field("Version:"))
    });
    Ok(Probe {
        now: num("now"),
        cache_mtime: num("cache"),
        observed: parse_dpkg(&sec.text("dpkg").unwrap_or_default()),
        candidates: parse_policy(&sec.text("policy").unwrap_or_default()),
        deb,
        auto: sec
            .lines("auto")
            .iter()
            .flat_map(|l| l.split_whitespace())
            .map(str::to_string)
            .collect(),
    })
}

/// The apt-get operation chosen for the packages.
#[derive(Clone, Debug)]
struct Op {
    sub: String,
    extra: Vec<&'static str>,
    words: Vec<String>,
}

/// The package operation (if any) and what apt's simulation says it changes.
struct PkgPlan {
    changes: Vec<Change>,
    sim_stdout: String,
}

fn choose_op(req: &Request, p: &Probe) -> Result<Option<Op>> {
    let auto: Vec<&'static str> = if req.autoremove {
        vec!["--autoremove"]
    } else {
        vec![]
    };
    if let Some((name, version)) = &p.deb {
        let same = p
            .observed
            .get(name)
            .is_some_and(|i| i.installed && i.version == *version);
        return Ok((!same).then(|| Op {
            sub: "install".into(),
            extra: auto,
            words: req.deb_arg().into_iter().collect(),
        }));
    }
    if req.upgrade != "no" {
        let (sub, extra) = match req.upgrade.as_str() {
            "full" | "dist" => ("dist-upgrade", auto),
            _ => ("upgrade", [vec!["--with-new-pkgs"], auto].concat()),
        };
        return Ok(Some(Op {
            sub: sub.into(),
            extra,
            words: vec![],
        }));
    }
    if req.names.is_empty() {
        return Ok(req.autoremove.then(|| Op {
            sub: "autoremove".into(),
            extra: if req.purge { vec!["--purge"] } else { vec![] },
            words: vec![],
        }));
    }
    let d = decide(
        &req.names,
        req.state,
        req.only_upgrade,
        req.purge,
        &p.observed,
        &p.candidates,
    )
    .map_err(|m| fail_with(m, vec![]))?;
    if !d.install.is_empty() {
        let mut extra = auto;
        if req.only_upgrade {
            extra.push("--only-upgrade");
        }
        return Ok(Some(Op {
            sub: "install".into(),
            extra,
            words: d.install,
        }));
    }
    if !d.remove.is_empty() {
        let mut extra = auto;
        if req.purge {
            extra.push("--purge");
        }
        return Ok(Some(Op {
            sub: "remove".into(),
            extra,
            words: d.remove,
        }));
    }
    Ok(None)
}

fn output_values(stdout: &str, stderr: &str) -> Vec<(String, Value)> {
    let lines = |s: &str| s.lines().map(str::to_string).collect::<Vec<_>>();
    vec![
        ("stdout".into(), Value::from(stdout)),
        ("stderr".into(), Value::from(stderr)),
        ("stdout_lines".into(), Value::from(lines(stdout))),
        ("stderr_lines".into(), Value::from(lines(stderr))),
    ]
}

/// The task failure for an apt-get command that exited non-zero, with apt's own message.
fn apt_failure(
    req: &Request,
    op: &Op,
    cmd: &str,
    rc: i32,
    stdout: &str,
    stderr: &str,
) -> anyhow::Error {
    let msg = if is_lock_error(stderr) {
        format!(
            "Failed to lock apt for exclusive operation: another process held /var/lib/dpkg/lock-frontend (or apt's lists lock) for more than lock_timeout={} seconds",
            req.lock_timeout
        )
    } else {
        format!(
            "apt-get {}{} failed: {}",
            op.sub,
            op.words.iter().map(|w| format!(" {w}")).collect::<String>(),
            apt_errors(stderr, stdout)
        )
    };
    let mut values = output_values(stdout, stderr);
    values.push(("rc".into(), Value::from(rc)));
    values.push(("cmd".into(), Value::from(cmd)));
    fail_with(msg, values)
}

/// Asks apt what the operation would do (`apt-get -s`; never changes the host).
fn simulate(ctx: &mut ModuleCtx, req: &Request, op: &Op) -> Result<String> {
    let cmd = req.apt_get(true, &op.sub, &op.extra, &op.words);
    let out = ctx.run(&cmd)?;
    let (stdout, stderr) = (out.stdout_str(), out.stderr_str());
    if out.rc != 0 {
        return Err(apt_failure(req, op, &cmd, out.rc, &stdout, &stderr));
    }
    Ok(stdout)
}

fn plan_packages(ctx: &mut ModuleCtx, req: &Request, p: &Probe) -> Result<Option<PkgPlan>> {
    let Some(op) = choose_op(req, p)? else {
        return Ok(None);
    };
    let sim_stdout = simulate(ctx, req, &op)?;
    let changes = parse_simulation(&sim_stdout);
    Ok(Some(PkgPlan {
        changes,
        sim_stdout,
    }))
}

fn diff_of(changes: &[Change]) -> Diff {
    let mut changes = changes.to_vec();
    changes.sort_by(|a, b| a.name.cmp(&b.name));
    let mut before = String::new();
    let mut after = String::new();
    for c in &changes {
        if let Some(o) = &c.old {
            before.push_str(&format!("{} {o}\n", c.name));
        }
        if let Some(n) = &c.new {
            after.push_str(&format!("{} {n}\n", c.name));
        }
    }
    Diff {
        before_header: "packages".into(),
        after_header: "packages".into(),
        before,
        after,
    }
}

fn summary(changes: &[Change]) -> String {
    let mut changes = changes.to_vec();
    changes.sort_by(|a, b| a.name.cmp(&b.name));
    let names = |acts: &[&str]| {
        changes
            .iter()
            .filter(|c| acts.contains(&c.action.as_str()))
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (inst, rem) = (names(&["Inst"]), names(&["Remv", "Purg"]));
    match (inst.is_empty(), rem.is_empty()) {
        (false, true) => format!("installed: {inst}"),
        (true, false) => format!("removed: {rem}"),
        (false, false) => format!("installed: {inst}; removed: {rem}"),
        (true, true) => String::new(),
    }
}

struct Work {
    update: bool,
    /// The apt-get operation chosen at plan time (chosen again after the update for
    /// `state: latest`, whose candidates the update may change).
    op: Option<Op>,
    /// Requested packages installed as dependencies: marked as installed manually, as
    /// ansible-core's `apt` does for every package it is asked to install (no change is
    /// reported for that).
    mark: Vec<String>,
}

/// The requested packages that are installed only as another's dependency (not `op`'s).
fn to_mark_manual(req: &Request, p: &Probe, op: &Option<Op>) -> Vec<String> {
    if req.deb.is_some() || req.upgrade != "no" {
        return Vec::new();
    }
    req.names
        .iter()
        .map(|n| n.name.clone())
        .filter(|n| p.auto.contains(n))
        .filter(|n| {
            !op.as_ref().is_some_and(|o| {
                o.words
                    .iter()
                    .any(|w| w == n || w.starts_with(&format!("{n}=")))
            })
        })
        .collect()
}

/// The marker lines around apt-get's own output in a tracked run.
const RUN_MARK: &str = "@@drover-apt-run\n";
const DONE_MARK: &str = "\n@@drover-apt-done\n";

/// Runs the apt-get operation for real, between two listings of dpkg's database (one round
/// trip), and returns apt's stdout and stderr and the package changes dpkg's state shows.
fn run_apt_tracked(
    ctx: &mut ModuleCtx,
    req: &Request,
    op: &Op,
) -> Result<(String, String, Vec<Change>)> {
    let cmd = req.apt_get(false, &op.sub, &op.extra, &op.words);
    let list = format!("dpkg-query -W -f={} 2>/dev/null", quote(DPKG_FORMAT));
    let line = format!(
        "LC_ALL=C; export LC_ALL\n{list}\nprintf '%s' {run}\n( {retry}\n)\nR=$?\nprintf '%s' {done}\n{list}\nexit $R",
        run = quote(RUN_MARK),
        retry = with_lock_retry(&cmd, req.lock_timeout),
        done = quote(DONE_MARK),
    );
    let out = ctx.run(&line)?;
    let text = out.stdout_str();
    let (before, rest) = text.split_once(RUN_MARK).unwrap_or(("", &text));
    let (apt_out, after) = rest.rsplit_once(DONE_MARK).unwrap_or((rest, ""));
    let stderr = out.stderr_str();
    if out.rc != 0 {
        return Err(apt_failure(req, op, &cmd, out.rc, apt_out, &stderr));
    }
    let changes = dpkg_changes(&parse_dpkg(before), &parse_dpkg(after));
    Ok((apt_out.to_string(), stderr, changes))
}

impl Apt {
    fn plan_inner(&self, ctx: &mut ModuleCtx, args: &Args) -> Result<Plan> {
        let req = Request::from_args(args)?;
        let p = probe(ctx, &req)?;
        let fresh = req.cache_valid_time > 0
            && p.cache_mtime > 0
            && p.now - p.cache_mtime < req.cache_valid_time;
        let update = req.update_cache && !fresh;
        let mut plan = Plan::unchanged()
            .with_value("cache_updated", update && ctx.check)
            .with_value("cache_update_time", p.cache_mtime);
        if !ctx.check {
            // A real run: `apply` does the work and reports what dpkg's state shows changed.
            let op = choose_op(&req, &p)?;
            let mark = to_mark_manual(&req, &p, &op);
            // Marking alone is done in `apply` but reports no change.
            plan.changed = update || op.is_some() || !mark.is_empty();
            if plan.changed {
                plan.work = Some(Box::new(Work { update, op, mark }));
            }
            return Ok(plan);
        }
        let pkgs = match plan_packages(ctx, &req, &p) {
            // A cache update is pending: the update may make the package known.
            Err(_) if update => {
                plan.changed = true;
                plan.msg = Some(
                    "the apt cache would be updated; packages cannot be predicted before that"
                        .into(),
                );
                return Ok(plan);
            }
            r => r?,
        };
        let pkg_changed = pkgs.as_ref().is_some_and(|k| !k.changes.is_empty());
        plan.changed = pkg_changed || (update && !req.has_package_work());
        if let Some(k) = &pkgs {
            for (key, v) in output_values(&k.sim_stdout, "") {
                plan.values.insert(key, v);
            }
            if pkg_changed {
                plan.diffs.push(diff_of(&k.changes));
                plan.msg = Some(summary(&k.changes));
            }
        }
        Ok(plan)
    }

    fn apply_inner(&self, ctx: &mut ModuleCtx, args: &Args, plan: &mut Plan) -> Result<()> {
        let work: Work = plan.take_work()?;
        let req = Request::from_args(args)?;
        let mut op = work.op;
        let mut cache_updated = false;
        if work.update {
            // The update and Debian's periodic stamp of the last update, in one round trip.
            let cmd = format!(
                "( {}\n) || exit $?\n{{ [ -d /var/lib/apt/periodic ] || mkdir -p /var/lib/apt/periodic; }} && : >{STAMP} && printf '@@stamp %s\\n' \"$(stat -c %Y {STAMP})\"",
                with_lock_retry(
                    "DEBIAN_FRONTEND=noninteractive LC_ALL=C apt-get -q update",
                    req.lock_timeout,
                )
            );
            let out = ctx.run(&cmd)?;
            if out.rc != 0 {
                let (so, se) = (out.stdout_str(), out.stderr_str());
                let msg = if is_lock_error(&se) {
                    format!("Failed to lock the apt lists for the cache update: another process held it for more than lock_timeout={} seconds", req.lock_timeout)
                } else {
                    format!("Failed to update apt cache: {}", apt_errors(&se, &so))
                };
                let mut values = output_values(&so, &se);
                values.push(("rc".into(), Value::from(out.rc)));
                return Err(fail_with(msg, values));
            }
            cache_updated = true;
            plan.values
                .insert("cache_updated".into(), Value::from(true));
            let so = out.stdout_str();
            if let Some(ts) = so
                .lines()
                .find_map(|l| l.strip_prefix("@@stamp "))
                .and_then(|t| t.trim().parse::<i64>().ok())
            {
                plan.values
                    .insert("cache_update_time".into(), Value::from(ts));
            }
            if req.state == State::Latest && !req.names.is_empty() {
                let p = probe(ctx, &req)?;
                op = choose_op(&req, &p)?;
            }
        }
        plan.diffs.clear();
        plan.msg = None;
        plan.changed = cache_updated && !req.has_package_work();
        if let Some(op) = op {
            let (so, se, changes) = run_apt_tracked(ctx, &req, &op)?;
            for (key, v) in output_values(&so, &se) {
                plan.values.insert(key, v);
            }
            if !changes.is_empty() {
                plan.changed = true;
                plan.diffs.push(diff_of(&changes));
                plan.msg = Some(summary(&changes));
            }
        }
        if !work.mark.is_empty() {
            let names: Vec<String> = work.mark.iter().map(|n| quote(n)).collect();
            let cmd = format!("apt-mark manual {}", names.join(" "));
            let out = ctx.run(&with_lock_retry(&cmd, req.lock_timeout))?;
            if out.rc != 0 {
                let (so, se) = (out.stdout_str(), out.stderr_str());
                return Err(fail_with(
                    format!("'{cmd}' failed: {}", se.trim()),
                    output_values(&so, &se),
                ));
            }
        }
        Ok(())
    }
}

impl Module for Apt {
    fn name(&self) -> &'static str {
        "apt"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn plan(&self, ctx: &mut ModuleCtx, args: &Args) -> Result<Plan> {
        self.plan_inner(ctx, args)
    }

    fn apply(&self, ctx: &mut ModuleCtx, args: &Args, mut plan: Plan) -> Result<Plan> {
        match self.apply_inner(ctx, args, &mut plan) {
            Ok(()) => Ok(plan),
            Err(e) => match e.downcast::<super::fileops::TaskFail>() {
                Ok(f) => {
                    plan.failed = true;
                    // Nothing was changed by a failed apt-get (it resolves before it acts).
                    plan.changed = false;
                    plan.msg = Some(f.msg);
                    for (k, v) in f.values {
                        plan.values.insert(k, v);
                    }
                    Ok(plan)
                }
                Err(e) => Err(e),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inst(v: &str) -> Installed {
        Installed {
            version: v.into(),
            installed: true,
            config_files: false,
        }
    }

    fn specs(s: &[&str]) -> Vec<PkgSpec> {
        s.iter().map(|x| PkgSpec::parse(x)).collect()
    }

    #[test]
    fn decide_table() {
        let mut observed = BTreeMap::new();
        observed.insert("a".to_string(), inst("1.0"));
        observed.insert(
            "c".to_string(),
            Installed {
                version: "1.0".into(),
                installed: false,
                config_files: true,
            },
        );
        let mut cand = BTreeMap::new();
        cand.insert("a".to_string(), Some("2.0".to_string()));
        cand.insert("b".to_string(), Some("1.0".to_string()));
        let d = |w: &[&str], st: State, only: bool, purge: bool| {
            decide(&specs(w), st, only, purge, &observed, &cand).unwrap()
        };
        let di = |i: &[&str]| Decision {
            install: i.iter().map(|s| s.to_string()).collect(),
            remove: vec![],
        };
        let dr = |r: &[&str]| Decision {
            install: vec![],
            remove: r.iter().map(|s| s.to_string()).collect(),
        };
        // (wanted, state, only_upgrade, purge) → decision
        let table = [
            (d(&["a"], State::Present, false, false), di(&[])),
            (d(&["a", "b"], State::Present, false, false), di(&["b"])),
            (d(&["a=1.0"], State::Present, false, false), di(&[])),
            (d(&["a=1.*"], State::Present, false, false), di(&[])),
            (d(&["a=2.0"], State::Present, false, false), di(&["a=2.0"])),
            (d(&["b"], State::Present, true, false), di(&[])),
            (d(&["c"], State::Present, false, false), di(&["c"])),
            (d(&["a", "b"], State::Latest, false, false), di(&["a", "b"])),
            (d(&["b"], State::Latest, true, false), di(&[])),
            (d(&["a", "b"], State::Absent, false, false), dr(&["a"])),
            (d(&["c"], State::Absent, false, false), dr(&[])),
            (d(&["c"], State::Absent, false, true), dr(&["c"])),
            (d(&["a=2.0"], State::Absent, false, false), dr(&[])),
            (d(&["a=1.0"], State::Absent, false, false), dr(&["a"])),
        ];
        for (i, (got, want)) in table.into_iter().enumerate() {
            assert_eq!(got, want, "row {i}");
        }
        // latest with the candidate installed: nothing to do.
        cand.insert("a".to_string(), Some("1.0".to_string()));
        assert_eq!(
            decide(
                &specs(&["a"]),
                State::Latest,
                false,
                false,
                &observed,
                &cand
            )
            .unwrap(),
            di(&[])
        );
        assert!(decide(
            &specs(&["a=1"]),
            State::Latest,
            false,
            false,
            &observed,
            &cand
        )
        .unwrap_err()
        .contains("inconsistent with state=latest"));
    }

    #[test]
    fn globs() {
        assert!(glob("1.*", "1.0"));
        assert!(glob("*", ""));
        assert!(glob("1.0", "1.0"));
        assert!(!glob("1.*", "2.0"));
        assert!(glob("1.*-deb*", "1.2-debian3"));
    }

    #[test]
    fn parses_simulation() {
        let out = "NOTE: This is only a simulation!\nInst drover-dep (1.0 localhost [all])\nInst drover-hello [1.0] (2.0 localhost [all])\nConf drover-dep (1.0 localhost [all])\nRemv old [3:1.2-1]\nPurg gone [2]\n";
        let c = parse_simulation(out);
        assert_eq!(c.len(), 4);
        assert_eq!(
            c[1],
            Change {
                action: "Inst".into(),
                name: "drover-hello".into(),
                old: Some("1.0".into()),
                new: Some("2.0".into()),
            }
        );
        assert_eq!(c[0].old, None);
        assert_eq!(c[2].old.as_deref(), Some("3:1.2-1"));
        let d = diff_of(&c);
        // Sorted by name, so a prediction and a real run list changes alike.
        assert_eq!(d.before, "drover-hello 1.0\ngone 2\nold 3:1.2-1\n");
        assert_eq!(d.after, "drover-dep 1.0\ndrover-hello 2.0\n");
        assert_eq!(
            summary(&c),
            "installed: drover-dep, drover-hello; removed: gone, old"
        );
    }

    #[test]
    fn changes_from_dpkg_listings() {
        let before = parse_dpkg(
            "a\tinstall ok installed\t1\nb\tinstall ok installed\t1\nc\tinstall ok installed\t2\nd\tdeinstall ok config-files\t3\ne\tinstall ok installed\t4\nf\tinstall ok installed\t5\n",
        );
        let after = parse_dpkg(
            "a\tinstall ok installed\t1\nb\tinstall ok installed\t2\nc\tdeinstall ok config-files\t2\nd\tunknown ok not-installed\t\nf\tinstall ok installed\t5\nn\tinstall ok installed\t9\n",
        );
        let ch = |a: &str, n: &str, o: Option<&str>, v: Option<&str>| Change {
            action: a.into(),
            name: n.into(),
            old: o.map(str::to_string),
            new: v.map(str::to_string),
        };
        assert_eq!(
            dpkg_changes(&before, &after),
            vec![
                ch("Inst", "b", Some("1"), Some("2")),
                ch("Remv", "c", Some("2"), None),
                ch("Purg", "d", None, None),
                ch("Purg", "e", Some("4"), None),
                ch("Inst", "n", None, Some("9")),
            ]
        );
        assert!(dpkg_changes(&before, &before).is_empty());
    }

    #[test]
    fn parses_dpkg_and_policy() {
        let d = parse_dpkg("a\tinstall ok installed\t1.0\nb\tdeinstall ok config-files\t2.0\n");
        assert!(d["a"].installed && !d["a"].config_files);
        assert!(!d["b"].installed && d["b"].config_files);
        let p = parse_policy(
            "a:\n  Installed: 1.0\n  Candidate: 2.0\n  Version table:\n *** 1.0 100\nb:\n  Installed: (none)\n  Candidate: (none)\n",
        );
        assert_eq!(p["a"].as_deref(), Some("2.0"));
        assert_eq!(p["b"], None);
    }

    #[test]
    fn commands_quote_every_value() {
        let args = Args {
            map: [
                ("name".to_string(), Value::from("x;rm$(id)`id`")),
                ("default_release".to_string(), Value::from("a b")),
                ("install_recommends".to_string(), Value::from(false)),
            ]
            .into_iter()
            .collect(),
        };
        let req = Request::from_args(&args).unwrap();
        let words: Vec<String> = req.names.iter().map(|p| p.apt_arg()).collect();
        let c = req.apt_get(true, "install", &[], &words);
        assert!(c.contains(" -s "), "{c}");
        assert!(c.contains("'x;rm$(id)`id`'"), "{c}");
        assert!(c.contains("-t 'a b'"), "{c}");
        assert!(c.contains("--no-install-recommends"), "{c}");
        assert!(
            c.contains("-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold"),
            "{c}"
        );
    }

    #[test]
    fn lock_retry_script_is_valid_sh() {
        let s = with_lock_retry("echo out; echo err >&2; false", 0);
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("( {s} )"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
        assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");
    }
}
