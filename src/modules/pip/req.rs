//! Requirements as Ansible's `pip` module reads them (`Package`): a name (PEP 503
//! normalised), extras, and version specifiers checked against an installed version with
//! PEP 440's ordering (pre-releases allowed, as `prereleases=True`); anything else (a URL, a
//! path, a VCS link) is not a plain package and is never "present".

use std::cmp::Ordering;

const OPS: &[&str] = &["===", "~=", "==", "!=", "<=", ">=", "<", ">"];

/// Ansible's `_recover_package_name`: names split at commas, version specifiers joined back
/// to their package (`['django>1.11.1', '<1.11.3']` is one requirement).
pub fn recover_names(names: &[String]) -> Vec<String> {
    let parts: Vec<&str> = names.iter().flat_map(|n| n.split(',')).collect();
    let mut out: Vec<String> = Vec::new();
    let mut cur: Vec<&str> = Vec::new();
    let mut in_brackets = false;
    for p in parts {
        let is_name = !OPS.iter().any(|op| p.trim_start().starts_with(op));
        if is_name && !in_brackets && !cur.is_empty() {
            out.push(cur.join(","));
            cur.clear();
        }
        if p.contains('[') {
            in_brackets = true;
        }
        if in_brackets && p.contains(']') {
            in_brackets = false;
        }
        cur.push(p);
    }
    out.push(cur.join(","));
    out
}

/// PEP 503: runs of `-`, `_`, `.` become `-`, lower case.
pub fn canonical(name: &str) -> String {
    let mut out = String::new();
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// One requirement as given, and its parsed form when it is a plain package.
#[derive(Clone, Debug, PartialEq)]
pub struct Package {
    pub text: String,
    pub name: Option<String>,
    pub specs: Vec<(String, String)>,
}

impl Package {
    /// `version` is the `version` argument (`1.0` becomes `==1.0`).
    pub fn parse(text: &str, version: Option<&str>) -> Package {
        let mut text = text.trim().to_string();
        if let Some(v) = version.map(str::trim_start).filter(|v| !v.is_empty()) {
            let sep = if v.starts_with(|c: char| c.is_ascii_digit()) {
                "=="
            } else {
                " "
            };
            text = format!("{text}{sep}{v}");
        }
        let bad = Package {
            text: text.clone(),
            name: None,
            specs: Vec::new(),
        };
        // The name: letters, digits, `-_.`; then optional extras; then specifiers.
        let body = text.split(';').next().unwrap_or("").trim();
        let end = body
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
            .unwrap_or(body.len());
        let (name, mut rest) = body.split_at(end);
        if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return bad;
        }
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix('[') {
            let Some((_, after)) = r.split_once(']') else {
                return bad;
            };
            rest = after.trim_start();
        }
        let rest = rest
            .strip_prefix('(')
            .and_then(|r| r.strip_suffix(')'))
            .unwrap_or(rest);
        let mut specs = Vec::new();
        for clause in rest.split(',').map(str::trim).filter(|c| !c.is_empty()) {
            let Some(op) = OPS.iter().find(|op| clause.starts_with(**op)) else {
                return bad;
            };
            let v = clause[op.len()..].trim();
            if v.is_empty() || v.contains(char::is_whitespace) {
                return bad;
            }
            specs.push((op.to_string(), v.to_string()));
        }
        Package {
            text: text.clone(),
            name: Some(canonical(name)),
            specs,
        }
    }

    pub fn has_specifier(&self) -> bool {
        !self.specs.is_empty()
    }

    /// Whether an installed version satisfies every specifier.
    pub fn satisfied_by(&self, installed: &str) -> bool {
        self.name.is_some()
            && self.specs.iter().all(|(op, v)| {
                let (have, want) = (Version::parse(installed), Version::parse(v));
                match op.as_str() {
                    "===" => installed == v,
                    "==" if v.ends_with(".*") => prefix_match(installed, &v[..v.len() - 2]),
                    "!=" if v.ends_with(".*") => !prefix_match(installed, &v[..v.len() - 2]),
                    "==" => have.cmp(&want) == Ordering::Equal,
                    "!=" => have.cmp(&want) != Ordering::Equal,
                    "<=" => have <= want,
                    ">=" => have >= want,
                    "<" => have < want,
                    ">" => have > want,
                    _ => {
                        // `~=X.Y`: `>=X.Y` and `==X.*`.
                        let mut prefix: Vec<&str> = v.split('.').collect();
                        if prefix.len() > 1 {
                            prefix.pop();
                        }
                        have >= want && prefix_match(installed, &prefix.join("."))
                    }
                }
            })
    }

    /// Ansible's `_is_present`: an installed `name==version` of this name that satisfies it.
    pub fn present_in(&self, installed: &[(String, String)]) -> bool {
        let Some(name) = &self.name else {
            return false;
        };
        installed
            .iter()
            .any(|(n, v)| canonical(n) == *name && self.satisfied_by(v))
    }
}

fn prefix_match(version: &str, prefix: &str) -> bool {
    let have = Version::parse(version).release;
    let want = Version::parse(prefix).release;
    want.iter()
        .enumerate()
        .all(|(i, w)| have.get(i).copied().unwrap_or(0) == *w)
}

/// A version's place in PEP 440's order: release, pre-release, post-release, dev-release.
type SortKey = (Vec<u64>, (u8, u64, u64), (u8, u64), (u8, u64));

/// A PEP 440 version, enough to order releases, pre-, post- and dev-releases.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version {
    pub release: Vec<u64>,
    /// (kind 0 = a, 1 = b, 2 = rc, number); none for a final release.
    pre: Option<(u8, u64)>,
    post: Option<u64>,
    dev: Option<u64>,
}

impl Version {
    pub fn parse(text: &str) -> Version {
        let t = text.trim().to_lowercase();
        let t = t.trim_start_matches('v');
        let t = t.split('+').next().unwrap_or("");
        let t = t.split_once('!').map_or(t, |(_, r)| r);
        let mut release = Vec::new();
        let mut rest = t;
        loop {
            let end = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            if end == 0 {
                break;
            }
            release.push(rest[..end].parse().unwrap_or(0));
            rest = &rest[end..];
            match rest.strip_prefix('.') {
                Some(r) if r.starts_with(|c: char| c.is_ascii_digit()) => rest = r,
                _ => break,
            }
        }
        let num = |s: &str| -> (u64, usize) {
            let s2 = s.trim_start_matches(['.', '-', '_']);
            let skipped = s.len() - s2.len();
            let end = s2.find(|c: char| !c.is_ascii_digit()).unwrap_or(s2.len());
            (s2[..end].parse().unwrap_or(0), skipped + end)
        };
        let (mut pre, mut post, mut dev) = (None, None, None);
        let mut r = rest.trim_start_matches(['.', '-', '_']);
        for (words, kind) in [
            (&["alpha", "a"][..], 0u8),
            (&["beta", "b"][..], 1),
            (&["rc", "c", "pre", "preview"][..], 2),
        ] {
            if let Some(w) = words.iter().find(|w| r.starts_with(**w)) {
                let (n, used) = num(&r[w.len()..]);
                pre = Some((kind, n));
                r = r[w.len() + used..].trim_start_matches(['.', '-', '_']);
                break;
            }
        }
        if let Some(w) = ["post", "rev", "r"].iter().find(|w| r.starts_with(**w)) {
            let (n, used) = num(&r[w.len()..]);
            post = Some(n);
            r = r[w.len() + used..].trim_start_matches(['.', '-', '_']);
        }
        if let Some(after) = r.strip_prefix("dev") {
            dev = Some(num(after).0);
        }
        Version {
            release,
            pre,
            post,
            dev,
        }
    }

    fn key(&self) -> SortKey {
        let mut rel = self.release.clone();
        while rel.len() > 1 && rel.last() == Some(&0) {
            rel.pop();
        }
        // A dev release of a final version sorts before its pre-releases.
        let pre = match (self.pre, self.post, self.dev) {
            (None, None, Some(_)) => (0, 0, 0),
            (Some((k, n)), _, _) => (1, k as u64, n),
            (None, _, _) => (2, 0, 0),
        };
        let post = self.post.map_or((0, 0), |n| (1, n));
        let dev = self.dev.map_or((1, 0), |n| (0, n));
        (rel, pre, post, dev)
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_recovered_as_ansibles() {
        let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            recover_names(&v(&[
                "django>1.11.1",
                "<1.11.3",
                "ipaddress",
                "simpleproject>1.1.0",
                "<2.0.0"
            ])),
            [
                "django>1.11.1,<1.11.3",
                "ipaddress",
                "simpleproject>1.1.0,<2.0.0"
            ]
        );
        assert_eq!(
            recover_names(&v(&["django>1.11.1,<1.11.3,ipaddress"])),
            ["django>1.11.1,<1.11.3", "ipaddress"]
        );
    }

    #[test]
    fn versions_order_as_pep_440() {
        let mut vs = [
            "1.0.post1",
            "1.0",
            "1.0rc1",
            "1.0b2",
            "1.0a1",
            "1.0.dev1",
            "0.9",
            "1.0.1",
        ]
        .map(Version::parse)
        .to_vec();
        vs.sort();
        let order: Vec<Version> = [
            "0.9",
            "1.0.dev1",
            "1.0a1",
            "1.0b2",
            "1.0rc1",
            "1.0",
            "1.0.post1",
            "1.0.1",
        ]
        .map(Version::parse)
        .to_vec();
        assert_eq!(vs, order);
        assert_eq!(Version::parse("1.0"), Version::parse("1.0"));
        assert_eq!(
            Version::parse("1.0").cmp(&Version::parse("1.0.0")),
            Ordering::Equal
        );
    }

    #[test]
    fn requirements_are_satisfied_as_ansibles() {
        let p = Package::parse("Django>=1.11,<2.0", None);
        assert_eq!(p.name.as_deref(), Some("django"));
        assert!(p.satisfied_by("1.11.29") && !p.satisfied_by("2.0") && !p.satisfied_by("1.10"));
        let p = Package::parse("requests", Some("2.31.0"));
        assert_eq!(p.text, "requests==2.31.0");
        assert!(p.satisfied_by("2.31.0") && !p.satisfied_by("2.31.1"));
        let p = Package::parse("foo", Some(">=1.0"));
        assert_eq!(p.text, "foo >=1.0");
        assert!(Package::parse("a~=1.4.2", None).satisfied_by("1.4.9"));
        assert!(!Package::parse("a~=1.4.2", None).satisfied_by("1.5"));
        assert!(Package::parse("a==1.4.*", None).satisfied_by("1.4.9"));
        assert!(Package::parse("zope.interface[test]", None).name == Some("zope-interface".into()));
        assert_eq!(Package::parse("git+https://x/y.git#egg=y", None).name, None);
        assert_eq!(Package::parse("/srv/pkg.whl", None).name, None);
        let installed = vec![("Zope.Interface".to_string(), "5.0".to_string())];
        assert!(Package::parse("zope-interface>=4", None).present_in(&installed));
    }
}
