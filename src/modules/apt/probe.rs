//! The one probe: cache age, dpkg's view of the named packages, apt's candidates, a `deb:`
//! file's fields and which packages are marked automatic, as sections of one answer.

use super::*;

/// What the probe found.
pub(super) struct Probe {
    pub(super) now: i64,
    pub(super) cache_mtime: i64,
    pub(super) observed: BTreeMap<String, Installed>,
    pub(super) candidates: BTreeMap<String, Option<String>>,
    /// `deb:` file's (Package, Version).
    pub(super) deb: Option<(String, String)>,
    /// A `deb:` URL's download on the host (in the session's temp dir).
    pub(super) deb_path: Option<String>,
    /// The requested packages apt marks as installed automatically (as a dependency).
    pub(super) auto: Vec<String>,
}

/// What to read: the host's time and the cache's age, the `deb:` file's fields, dpkg's view of the
/// named packages, apt's candidates (for `latest`) and the automatic marks.
pub(super) fn observe_probe(req: &Request) -> Observe {
    let names: Vec<String> = req.names.iter().map(|p| p.name.clone()).collect();
    let dpkg = |s: Script| s.raw("dpkg-query -W -f=").raw(DPKG_FORMAT_Q);
    // The host's time and the cache's age from one `stat`: a file the session creates or
    // truncates now (either marks its modification time) and the stamp of the last update.
    let mut sections = vec![(
        "cache",
        Script::new().raw(concat!(
            "LC_ALL=C; export LC_ALL\n",
            "f=/var/lib/apt/periodic/update-success-stamp; [ -e $f ] || f=/var/lib/apt/lists\n",
            "if : >\"$D/now\" 2>/dev/null; then stat -c %Y \"$D/now\" $f 2>/dev/null; ",
            "else date +%s; stat -c %Y $f 2>/dev/null; fi; :\n"
        )),
    )];
    if let Some(deb) = req.deb_arg() {
        // A URL: the host downloads it (as Ansible's `fetch_file`) into the session's temp
        // dir, which the session removes at its end.
        let at = |s: Script| {
            if req.deb_is_url() {
                s.raw("d=\"$D/drover-deb.deb\"\n")
            } else {
                s.set("d", &deb)
            }
        };
        if req.deb_is_url() {
            sections.push((
                "debdl",
                crate::modules::contract::host_fetch("\"$D/drover-deb.deb\"", &deb, false)
                    .raw("[ \"$dl\" = ok ] && echo \"path $f\"\n"),
            ));
        }
        let fields = at(Script::new())
            .raw("f=$(dpkg-deb -f \"$d\" Package Version 2>&1); r=$?; printf '%s\\n' \"$f\"; (exit $r)\n");
        sections.push(("deb", fields));
        let installed =
            dpkg(at(Script::new()).raw("p=$(dpkg-deb -f \"$d\" Package 2>/dev/null) && "))
                .raw(" \"$p\" 2>/dev/null\n");
        sections.push(("debdpkg", installed));
    }
    if !names.is_empty() {
        let with_names = |s: Script| names.iter().fold(s, |s, n| s.arg(n)).raw(" 2>/dev/null\n");
        sections.push(("dpkg", with_names(dpkg(Script::new()))));
        if req.state == State::Latest {
            sections.push(("policy", with_names(Script::new().raw("apt-cache policy"))));
        }
        if req.state != State::Absent {
            sections.push(("auto", auto_marks(&names)));
        }
    }
    Observe {
        sections,
        ..Observe::default()
    }
}

/// Which of `names` apt marks as installed automatically, read from apt's own record
/// (`/var/lib/apt/extended_states`) by one `grep`: the stanzas of those names. `apt-mark
/// showauto` says the same but starts libapt (and two `dpkg` processes), the probe's costliest
/// part on an idempotent run; it is the fallback where `grep` fails (its lines come as `=NAME`).
fn auto_marks(names: &[String]) -> Script {
    let mut grep = Script::new().raw("grep -A3 -x -F");
    for n in names {
        let bare = n.split(':').next().unwrap_or(n);
        grep = grep.raw(" -e").arg(&format!("Package: {bare}"));
    }
    let showauto = names
        .iter()
        .fold(Script::new().raw("apt-mark showauto"), |s, n| s.arg(n));
    Script::new()
        .raw("f=/var/lib/apt/extended_states; if [ -e $f ]; then ")
        .then(grep)
        .raw(" $f 2>/dev/null; r=$?; if [ $r -gt 1 ]; then ")
        .then(showauto)
        .raw(" 2>/dev/null | while read -r l; do echo \"=$l\"; done; fi; fi; :\n")
}

/// The names `auto_marks` found marked automatic: each stanza's `Package` with
/// `Auto-Installed: 1`, bare and with its `Architecture` (`name:arch`), or an `=NAME` line.
fn parse_auto(out: &str) -> Vec<String> {
    // Each stanza as (Package, Architecture, Auto-Installed: 1).
    let mut stanzas: Vec<(&str, Option<&str>, bool)> = Vec::new();
    let mut auto = Vec::new();
    for line in out.lines() {
        let field = |k: &str| line.strip_prefix(k).map(str::trim);
        if let Some(n) = line.strip_prefix('=') {
            auto.push(n.trim().to_string());
        } else if let Some(n) = field("Package:") {
            stanzas.push((n, None, false));
        } else if let (Some(a), Some(st)) = (field("Architecture:"), stanzas.last_mut()) {
            st.1 = Some(a);
        } else if let (Some(v), Some(st)) = (field("Auto-Installed:"), stanzas.last_mut()) {
            st.2 = v == "1";
        }
    }
    for (name, arch, _) in stanzas.into_iter().filter(|s| s.2) {
        auto.push(name.to_string());
        auto.extend(arch.map(|a| format!("{name}:{a}")));
    }
    auto
}

/// What the probe found, or why the `deb:` file cannot be read.
pub(super) fn probe_from(req: &Request, seen: &Observed) -> Result<Probe, Failure> {
    // The host's time, then the cache's (none: 0).
    let num = |n: usize| {
        seen.section("cache")
            .lines()
            .nth(n)
            .and_then(|v| v.trim().parse::<i64>().ok())
            .unwrap_or(0)
    };
    let dl = seen.section("debdl");
    let why = dl.lines().find_map(|l| match l {
        "notool" => Some("the host has neither curl nor wget"),
        _ => l.strip_prefix("dlfail "),
    });
    if let Some(why) = why {
        return Err(Failure::new(format!(
            "Failure downloading {}, {why}",
            req.deb.as_deref().unwrap_or_default()
        )));
    }
    let deb_path = dl
        .lines()
        .find_map(|l| l.strip_prefix("path "))
        .map(str::to_string);
    let deb = match (&req.deb, seen.code("deb")) {
        (Some(d), Some(rc)) if rc != 0 => {
            return Err(Failure::new(format!(
                "cannot read the package file {d}: {}",
                seen.section("deb").trim()
            )))
        }
        (Some(_), Some(_)) => {
            let field = |k: &str| {
                seen.section("deb")
                    .lines()
                    .find_map(|l| l.strip_prefix(k))
                    .map(|v| v.trim().to_string())
                    .unwrap_or_default()
            };
            Some((field("Package:"), field("Version:")))
        }
        _ => None,
    };
    let dpkg = if deb.is_some() {
        seen.section("debdpkg")
    } else {
        seen.section("dpkg")
    };
    Ok(Probe {
        now: num(0),
        cache_mtime: num(1),
        observed: parse_dpkg(dpkg),
        candidates: parse_policy(seen.section("policy")),
        deb,
        deb_path,
        auto: parse_auto(seen.section("auto")),
    })
}

#[cfg(test)]
mod auto_tests {
    use super::*;

    #[test]
    fn automatic_marks_from_apt_records_or_apt_mark() {
        let grep = "Package: libfoo\nArchitecture: amd64\nAuto-Installed: 1\n\nPackage: bar\n--\nPackage: baz\nArchitecture: i386\nAuto-Installed: 0\n";
        assert_eq!(parse_auto(grep), ["libfoo", "libfoo:amd64"]);
        assert_eq!(
            parse_auto("=libfoo\n=libbar:i386\n"),
            ["libfoo", "libbar:i386"]
        );
        assert!(parse_auto("").is_empty());
    }
}
