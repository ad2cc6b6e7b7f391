//! `stat`: report a path's status under Ansible's keys (`stat.exists`, `stat.mode`, …) from a
//! single probe command (`stat -c` plus the checksum tool). Never changes anything.

use super::contract::{Observe, Observed, Outcome, Resolve, Script, Step, Typed};
use super::fileops::{self, Alg, FileState, ProbeItem, ProbeReq};
use super::{Args, Plan, Spec};
use crate::vars::map_value;
use anyhow::Result;
use minijinja::Value;
use std::convert::Infallible;

pub struct Stat;

static SPEC: Spec = Spec {
    args: &[
        "path",
        "follow",
        "get_checksum",
        "checksum_algorithm",
        "get_mime",
        "get_attributes",
        "get_md5",
    ],
    aliases: &[
        ("dest", "path"),
        ("name", "path"),
        ("checksum", "checksum_algorithm"),
        ("checksum_algo", "checksum_algorithm"),
        ("mime", "get_mime"),
        ("mime_type", "get_mime"),
        ("mime-type", "get_mime"),
        ("attr", "get_attributes"),
        ("attributes", "get_attributes"),
    ],
    free_form: None,
    any_args: false,
    file_args: false,
};

/// `stat`'s arguments.
pub struct StatArgs {
    path: String,
    follow: bool,
    checksum: Option<Alg>,
    mime: bool,
    /// `lsattr`'s flags and version (`attributes`, `attr_flags`, `version`).
    attributes: bool,
}

impl Typed for Stat {
    type Args = StatArgs;
    type Change = Infallible;

    fn leaves_accounts_alone(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        "stat"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn parse(&self, args: &Args, host: &mut dyn Resolve) -> Result<StatArgs> {
        let path = host.expand_path(&args.req_str("path")?)?;
        let alg_name = args.choice(
            "checksum_algorithm",
            &["md5", "sha1", "sha224", "sha256", "sha384", "sha512"],
            "sha1",
        )?;
        let checksum = args
            .bool_or("get_checksum", true)?
            .then(|| Alg::parse(&alg_name).unwrap_or(Alg::Sha1));
        Ok(StatArgs {
            path,
            follow: args.bool_or("follow", false)?,
            checksum,
            mime: args.bool_or("get_mime", true)?,
            attributes: args.bool_or("get_attributes", true)?,
        })
    }

    fn observe(&self, a: &StatArgs) -> Observe {
        let mut item = ProbeItem::new(&a.path, a.follow);
        if let Some(alg) = a.checksum {
            item = item.sum(alg);
        }
        Observe {
            files: Some(ProbeReq {
                items: vec![item],
                ..ProbeReq::default()
            }),
            sections: [
                // Ansible asks `file` of the path itself, followed or not.
                a.mime.then(|| ("mime", mime_script(&a.path))),
                a.attributes.then(|| {
                    let s = Script::new()
                        .raw("lsattr -vd --")
                        .arg(&a.path)
                        .raw(" 2>/dev/null");
                    ("lsattr", s)
                }),
            ]
            .into_iter()
            .flatten()
            .collect(),
            ..Observe::default()
        }
    }

    fn decide(&self, a: &StatArgs, seen: &Observed) -> Outcome<Infallible> {
        let st = seen.files.states.first().cloned().unwrap_or_default();
        let mut value = stat_value(&a.path, &st);
        if st.exists && (a.mime || a.attributes) {
            let mut m: indexmap::IndexMap<String, Value> = value
                .try_iter()
                .into_iter()
                .flatten()
                .filter_map(|k| Some((k.as_str()?.to_string(), value.get_item(&k).ok()?)))
                .collect();
            if a.mime {
                let (mimetype, charset) = mime(seen.section("mime"));
                m.insert("mimetype".into(), Value::from(mimetype));
                m.insert("charset".into(), Value::from(charset));
            }
            // Ansible's get_file_attributes: `VERSION FLAGS PATH`, or nothing where lsattr
            // cannot tell (a link, a filesystem without them).
            let lsattr = seen.section("lsattr");
            let mut w = lsattr.split_whitespace();
            match (a.attributes, w.next(), w.next()) {
                (true, Some(version), Some(flags)) => {
                    let flags = flags.replace('-', "");
                    let names: Vec<&str> = flags.chars().filter_map(attribute_name).collect();
                    m.insert("version".into(), Value::from(version));
                    m.insert("attributes".into(), Value::from(names));
                    m.insert("attr_flags".into(), Value::from(flags));
                }
                // lsattr cannot read a link (Ansible asks it of the path, followed or not).
                (true, _, _) => {
                    m.insert("version".into(), Value::from(()));
                    m.insert("attributes".into(), Value::from(Vec::<String>::new()));
                    m.insert("attr_flags".into(), Value::from(""));
                }
                _ => {}
            }
            m.sort_keys();
            value = map_value(m);
        }
        Outcome::Unchanged(Plan::unchanged().with_value("stat", value))
    }

    fn apply(&self, _a: &StatArgs, change: &Infallible) -> Vec<Step> {
        match *change {}
    }
}

/// Ansible's names of `lsattr` flags (`FILE_ATTRIBUTES`).
fn attribute_name(flag: char) -> Option<&'static str> {
    Some(match flag {
        'A' => "noatime",
        'a' => "append",
        'c' => "compressed",
        'C' => "nocow",
        'd' => "nodump",
        'D' => "dirsync",
        'e' => "extents",
        'E' => "encrypted",
        'h' => "blocksize",
        'i' => "immutable",
        'I' => "indexed",
        'j' => "journalled",
        'N' => "inline",
        's' => "zero",
        'S' => "synchronous",
        't' => "notail",
        'T' => "blockroot",
        'u' => "undelete",
        'X' => "compressedraw",
        'Z' => "compresseddirty",
        _ => return None,
    })
}

/// What tells `mimetype` and `charset`: `file --mime-type --mime-encoding` (Ansible's
/// source); a host without `file` gets the common answers from a look at the first 64 KiB:
/// a directory, an empty file, ASCII or UTF-8 text, else binary.
fn mime_script(path: &str) -> Script {
    let s = Script::new().set("p", path).raw("if command -v file >/dev/null 2>&1; then file --mime-type --mime-encoding -b -- \"$p\" 2>/dev/null || echo 'unknown; charset=unknown'; elif [ -L \"$p\" ]; then echo 'inode/symlink; charset=binary'; ");
    s.raw(concat!(
        "elif [ -d \"$p\" ]; then echo 'inode/directory; charset=binary'; ",
        "elif [ ! -f \"$p\" ] || [ ! -r \"$p\" ]; then echo 'unknown; charset=unknown'; ",
        "elif [ ! -s \"$p\" ]; then echo 'inode/x-empty; charset=binary'; ",
        "elif [ \"$(head -c 65536 \"$p\" | LC_ALL=C tr -d '\\t\\n\\r\\f\\v -~' | head -c 1 | wc -c)\" -eq 0 ]; then echo 'text/plain; charset=us-ascii'; ",
        "elif head -c 65536 \"$p\" | iconv -f UTF-8 -t UTF-8 >/dev/null 2>&1; then echo 'text/plain; charset=utf-8'; ",
        "else echo 'application/octet-stream; charset=binary'; fi\n"
    ))
}

/// `mimetype` and `charset` from the mime section's line.
fn mime(out: &str) -> (String, String) {
    let line = out.lines().next().unwrap_or("").trim();
    let (t, c) = line.split_once(';').unwrap_or((line, ""));
    let charset = c.split_once('=').map_or("unknown", |(_, v)| v.trim());
    let t = if t.is_empty() { "unknown" } else { t.trim() };
    (t.to_string(), charset.to_string())
}

/// glibc's `makedev`.
fn makedev(major: u32, minor: u32) -> u64 {
    let (ma, mi) = (u64::from(major), u64::from(minor));
    ((ma & 0xfff) << 8) | ((ma & !0xfff) << 32) | (mi & 0xff) | ((mi & !0xff) << 12)
}

/// Ansible's `stat` dictionary for one path.
pub fn stat_value(path: &str, st: &FileState) -> Value {
    let mut e: Vec<(String, Value)> = Vec::new();
    let mut put = |k: &str, v: Value| e.push((k.to_string(), v));
    if !st.exists {
        put("exists", Value::from(false));
        return map_value(e);
    }
    let m = st.st_mode;
    let kind = st.kind();
    put("exists", Value::from(true));
    put("path", Value::from(path));
    put("mode", Value::from(format!("{:04o}", st.perm())));
    put("isdir", Value::from(kind == fileops::S_IFDIR));
    put("ischr", Value::from(kind == fileops::S_IFCHR));
    put("isblk", Value::from(kind == fileops::S_IFBLK));
    put("isreg", Value::from(kind == fileops::S_IFREG));
    put("isfifo", Value::from(kind == fileops::S_IFIFO));
    put("islnk", Value::from(kind == fileops::S_IFLNK));
    put("issock", Value::from(kind == fileops::S_IFSOCK));
    put("uid", Value::from(st.uid));
    put("gid", Value::from(st.gid));
    put("size", Value::from(st.size));
    put("inode", Value::from(st.inode));
    put("dev", Value::from(st.dev));
    put("nlink", Value::from(st.nlink));
    put("atime", Value::from(st.atime));
    put("mtime", Value::from(st.mtime));
    put("ctime", Value::from(st.ctime));
    let bits = [
        ("wusr", 0o200),
        ("rusr", 0o400),
        ("xusr", 0o100),
        ("wgrp", 0o020),
        ("rgrp", 0o040),
        ("xgrp", 0o010),
        ("woth", 0o002),
        ("roth", 0o004),
        ("xoth", 0o001),
        ("isuid", 0o4000),
        ("isgid", 0o2000),
    ];
    for (k, b) in bits {
        put(k, Value::from(m & b != 0));
    }
    put("blocks", Value::from(st.blocks));
    put("block_size", Value::from(st.block_size));
    put(
        "device_type",
        Value::from(makedev(st.rdev_major, st.rdev_minor)),
    );
    put("readable", Value::from(st.readable));
    put("writeable", Value::from(st.writeable));
    put("executable", Value::from(st.executable));
    if kind == fileops::S_IFLNK {
        if let Some(s) = &st.link_source {
            put("lnk_source", Value::from(s.as_str()));
        }
        if let Some(t) = &st.link_target {
            put("lnk_target", Value::from(t.as_str()));
        }
    }
    if st.owner != "UNKNOWN" {
        put("pw_name", Value::from(st.owner.as_str()));
    }
    if st.group != "UNKNOWN" {
        put("gr_name", Value::from(st.group.as_str()));
    }
    if let Some(c) = &st.checksum {
        put("checksum", Value::from(c.as_str()));
    }
    map_value(e)
}

#[cfg(test)]
mod tests {
    use super::super::contract::Driven;
    use super::super::fileops::testing::{args, snapshot, Harness};
    use super::super::Module;
    use super::*;
    use serde_json::json;

    fn stat_of(h: &mut Harness, a: serde_json::Value) -> Value {
        let plan = Driven(Stat).run(&mut h.ctx(), &args(a), true).unwrap();
        assert!(!plan.changed() && !plan.failed(), "{:?}", plan.msg);
        plan.values["stat"].clone()
    }

    #[test]
    fn reports_files_links_dirs_and_absence() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f.txt");
        std::fs::write(&f, b"abc").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o640)).unwrap();
        let l = dir.path().join("l");
        std::os::unix::fs::symlink("f.txt", &l).unwrap();
        let before = snapshot(dir.path());
        let mut h = Harness::new();

        let s = stat_of(&mut h, json!({"path": f.to_str().unwrap()}));
        let get = |s: &Value, k: &str| s.get_attr(k).unwrap();
        assert!(get(&s, "exists").is_true());
        assert_eq!(get(&s, "mode").as_str(), Some("0640"));
        assert!(get(&s, "isreg").is_true());
        assert!(!get(&s, "isdir").is_true());
        assert_eq!(get(&s, "size").as_i64(), Some(3));
        assert_eq!(
            get(&s, "checksum").as_str(),
            Some("a9993e364706816aba3e25717850c26c9cd0d89d")
        );
        assert!(get(&s, "rusr").is_true() && !get(&s, "roth").is_true());
        assert!(get(&s, "pw_name").as_str().is_some());
        assert!(
            get(&s, "mtime").as_i64().is_some()
                || get(&s, "mtime").kind() == minijinja::value::ValueKind::Number
        );

        let s = stat_of(
            &mut h,
            json!({"path": f.to_str().unwrap(), "checksum_algorithm": "sha256", "get_checksum": "yes"}),
        );
        assert_eq!(
            get(&s, "checksum").as_str(),
            Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );

        let s = stat_of(&mut h, json!({"path": l.to_str().unwrap()}));
        assert!(get(&s, "islnk").is_true());
        assert_eq!(get(&s, "lnk_target").as_str(), Some("f.txt"));
        assert_eq!(get(&s, "lnk_source").as_str(), f.to_str());
        assert!(get(&s, "checksum").is_undefined());

        let s = stat_of(&mut h, json!({"path": l.to_str().unwrap(), "follow": true}));
        assert!(get(&s, "isreg").is_true());
        assert!(get(&s, "lnk_target").is_undefined());

        let s = stat_of(
            &mut h,
            json!({"path": dir.path().to_str().unwrap(), "get_checksum": false}),
        );
        assert!(get(&s, "isdir").is_true());

        let s = stat_of(
            &mut h,
            json!({"path": dir.path().join("nope").to_str().unwrap()}),
        );
        assert!(!get(&s, "exists").is_true());
        assert_eq!(s.len(), Some(1));

        assert_eq!(snapshot(dir.path()), before);
    }

    #[test]
    fn bad_algorithm_is_an_error() {
        let mut h = Harness::new();
        let r = Driven(Stat).run(
            &mut h.ctx(),
            &args(json!({"path": "/", "checksum_algorithm": "crc"})),
            false,
        );
        assert!(r.is_err());
    }

    #[test]
    fn makedev_matches_glibc() {
        assert_eq!(makedev(8, 1), 2049);
        assert_eq!(makedev(259, 3), 66307);
    }
}
