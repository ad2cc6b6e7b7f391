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

/// What to read: the time, the cache's age, the `deb:` file's fields, dpkg's view of the
/// named packages, apt's candidates (for `latest`) and the automatic marks.
pub(super) fn observe_probe(req: &Request) -> Observe {
    let names: Vec<String> = req.names.iter().map(|p| p.name.clone()).collect();
    let dpkg = |s: Script| s.raw("dpkg-query -W -f=").raw(DPKG_FORMAT_Q);
    let mut sections = vec![
        ("now", Script::new().raw("LC_ALL=C; export LC_ALL\ndate +%s\n")),
        (
            "cache",
            Script::new().raw(concat!(
                "if [ -e /var/lib/apt/periodic/update-success-stamp ]; then stat -c %Y /var/lib/apt/periodic/update-success-stamp; ",
                "else stat -c %Y /var/lib/apt/lists 2>/dev/null || echo 0; fi\n"
            )),
        ),
    ];
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
            sections.push(("auto", with_names(Script::new().raw("apt-mark showauto"))));
        }
    }
    Observe {
        sections,
        ..Observe::default()
    }
}

/// What the probe found, or why the `deb:` file cannot be read.
pub(super) fn probe_from(req: &Request, seen: &Observed) -> Result<Probe, Failure> {
    let num = |k: &str| {
        seen.section(k)
            .lines()
            .next()
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
        now: num("now"),
        cache_mtime: num("cache"),
        observed: parse_dpkg(dpkg),
        candidates: parse_policy(seen.section("policy")),
        deb,
        deb_path,
        auto: seen
            .section("auto")
            .split_whitespace()
            .map(str::to_string)
            .collect(),
    })
}
