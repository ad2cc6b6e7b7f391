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
    /// The requested packages apt marks as installed automatically (as a dependency).
    pub(super) auto: Vec<String>,
}

pub(super) fn probe(ctx: &mut ModuleCtx, req: &Request) -> Result<Probe> {
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
