//! The pure part: package specs, what dpkg and apt report (parsed), and `decide`, which
//! turns the packages asked for and the packages installed into the names to give apt.

use super::*;

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

    pub(super) fn apt_arg(&self) -> String {
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
pub(super) fn glob(pattern: &str, text: &str) -> bool {
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
) -> std::result::Result<Decision, Failure> {
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
                    return Err(Failure::new(format!(
                        "version number inconsistent with state=latest: {}",
                        p.apt_arg()
                    )));
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

/// `dpkg-query`'s format (`${Package}<TAB>${Status}<TAB>${Version}`), quoted for the shell.
pub(super) const DPKG_FORMAT_Q: &str = "'${Package}\t${Status}\t${Version}\n'";

/// Parses `dpkg-query -W -f=DPKG_FORMAT_Q` output.
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
