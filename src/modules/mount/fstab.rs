//! `/etc/fstab` edited as Ansible's `mount` module edits it on Linux: the line of the mount
//! point (`\040` for a space, `\046` for `&`, `\134` for `\`) rewritten with the asked
//! fields when one differs, appended when there is none, or removed.

/// The fields a line sets.
#[derive(Clone, Debug, Default)]
pub struct Entry {
    pub src: String,
    pub name: String,
    pub fstype: String,
    pub opts: String,
    pub dump: String,
    pub passno: String,
}

/// Ansible's `_escape_fstab`.
pub fn escape(v: &str) -> String {
    v.replace('\\', "\\134")
        .replace(' ', "\\040")
        .replace('&', "\\046")
}

/// Whether a line is the swap line of another source (`none ... swap` with `src` given).
fn other_swap(f: &[&str], src: Option<&str>) -> bool {
    src.is_some_and(|s| f[1] == "none" && f.get(2) == Some(&"swap") && f[0] != s)
}

/// Ansible's `_set_mount_save_old`: the new text and whether it changed.
pub fn set(text: &str, want: &Entry, src_given: bool) -> (String, bool) {
    let e = Entry {
        src: escape(&want.src),
        name: escape(&want.name),
        fstype: escape(&want.fstype),
        opts: escape(&want.opts),
        dump: escape(&want.dump),
        passno: escape(&want.passno),
    };
    let line_of = |x: &Entry| {
        format!(
            "{} {} {} {} {} {}\n",
            x.src, x.name, x.fstype, x.opts, x.dump, x.passno
        )
    };
    let mut out = String::new();
    let (mut exists, mut changed) = (false, false);
    for raw in text.split_inclusive('\n') {
        let line = if raw.ends_with('\n') {
            raw.to_string()
        } else {
            format!("{raw}\n")
        };
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            out.push_str(&line);
            continue;
        }
        let f: Vec<&str> = line
            .split('#')
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        if !(4..=6).contains(&f.len()) {
            out.push_str(&line);
            continue;
        }
        let src = src_given.then_some(want.src.as_str());
        if f[1] != e.name || other_swap(&f, src) {
            out.push_str(&line);
            continue;
        }
        exists = true;
        let mut ld = Entry {
            src: f[0].into(),
            name: f[1].into(),
            fstype: f[2].into(),
            opts: f[3].into(),
            // A missing field is Ansible's integer 0, never equal to the text asked for.
            dump: f.get(4).copied().unwrap_or("\0").into(),
            passno: f.get(5).copied().unwrap_or("\0").into(),
        };
        // Ansible's `changed` carries over from an earlier line of the same mount point.
        for (have, want) in [
            (&mut ld.src, &e.src),
            (&mut ld.fstype, &e.fstype),
            (&mut ld.opts, &e.opts),
            (&mut ld.dump, &e.dump),
            (&mut ld.passno, &e.passno),
        ] {
            if have != want {
                *have = want.clone();
                changed = true;
            }
        }
        if changed {
            out.push_str(&line_of(&ld));
        } else {
            out.push_str(&line);
        }
    }
    if !exists {
        out.push_str(&line_of(&e));
        changed = true;
    }
    (out, changed)
}

/// Ansible's `unset_mount`: every six-field line of the mount point removed.
pub fn unset(text: &str, name: &str, src: Option<&str>) -> (String, bool) {
    let name = escape(name);
    let mut out = String::new();
    let mut changed = false;
    for line in text.split_inclusive('\n') {
        let t = line.trim();
        let f: Vec<&str> = line.split_whitespace().collect();
        if t.is_empty() || t.starts_with('#') || f.len() != 6 || f[1] != name || other_swap(&f, src)
        {
            out.push_str(line);
            continue;
        }
        changed = true;
    }
    (out, changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(src: &str, name: &str) -> Entry {
        Entry {
            src: src.into(),
            name: name.into(),
            fstype: "tmpfs".into(),
            opts: "defaults".into(),
            dump: "0".into(),
            passno: "0".into(),
        }
    }

    #[test]
    fn lines_are_rewritten_appended_and_removed_as_ansible() {
        let fstab = "# static\nproc /proc proc defaults 0 0\ntmpfs /mnt/a tmpfs size=1m 0 0\n";
        let (t, c) = set(fstab, &entry("tmpfs", "/mnt/a"), true);
        assert!(c);
        assert_eq!(
            t,
            "# static\nproc /proc proc defaults 0 0\ntmpfs /mnt/a tmpfs defaults 0 0\n"
        );
        let (t2, c2) = set(&t, &entry("tmpfs", "/mnt/a"), true);
        assert!(!c2);
        assert_eq!(t2, t);
        let (t3, c3) = set(fstab, &entry("tmpfs", "/mnt/my dir"), true);
        assert!(c3);
        assert!(t3.ends_with("tmpfs /mnt/my\\040dir tmpfs defaults 0 0\n"));
        let (t4, c4) = unset(&t3, "/mnt/my dir", None);
        assert!(c4);
        assert_eq!(t4, fstab);
    }
}
