//! `lineinfile`: ensure one line is present (inserted or replaced) or absent in a text file.
//! The file is read with one `cat`, the new content computed in Rust by Ansible's exact
//! algorithm (`present`/`absent` below, pure and table-tested), and written atomically only if
//! it differs; owner/group/mode follow Ansible's `check_file_attrs`.

use super::fileops::{
    self, catch, dict_diff, fail, fail_with, AttrChange, AttrWant, DiffMap, Payload, ProbeItem,
    ProbeReq, PutOpts,
};
use super::{Args, Diff, Module, ModuleCtx, Plan, Spec};
use crate::pyre::{Re as Regex, Template};
use anyhow::Result;
use minijinja::Value;

pub struct LineInFile;

static SPEC: Spec = Spec {
    args: &[
        "path",
        "state",
        "regexp",
        "search_string",
        "line",
        "insertafter",
        "insertbefore",
        "create",
        "backrefs",
        "firstmatch",
        "backup",
        "validate",
        "mode",
        "owner",
        "group",
        "unsafe_writes",
        "attributes",
        "seuser",
        "serole",
        "setype",
        "selevel",
    ],
    aliases: &[
        ("dest", "path"),
        ("destfile", "path"),
        ("name", "path"),
        ("regex", "regexp"),
        ("value", "line"),
        ("attr", "attributes"),
    ],
    free_form: None,
    any_args: false,
};

/// Where to insert when nothing matches.
#[derive(Clone, Debug)]
pub enum Anchor {
    Bof,
    Eof,
    Re(Regex),
}

/// The inputs of Ansible's `present()`.
#[derive(Clone, Debug)]
pub struct PresentOpts {
    pub regexp: Option<Regex>,
    pub search_string: Option<Vec<u8>>,
    pub line: Vec<u8>,
    pub insertafter: Option<Anchor>,
    pub insertbefore: Option<Anchor>,
    pub backrefs: bool,
    pub firstmatch: bool,
}

/// Splits like Python's `readlines()` on bytes: each line keeps its `\n`.
pub fn split_lines(data: &[u8]) -> Vec<Vec<u8>> {
    data.split_inclusive(|b| *b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

/// A line without its final `\n`, so `$` matches where Python's `$` would.
fn body(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\n").unwrap_or(line)
}

fn rstrip_crlf(line: &[u8]) -> &[u8] {
    let mut end = line.len();
    while end > 0 && (line[end - 1] == b'\n' || line[end - 1] == b'\r') {
        end -= 1;
    }
    &line[..end]
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

fn ends_with_eol(lines: &[Vec<u8>]) -> bool {
    lines
        .last()
        .and_then(|l| l.last())
        .is_none_or(|b| *b == b'\n' || *b == b'\r')
}

fn with_eol(line: &[u8]) -> Vec<u8> {
    let mut v = line.to_vec();
    v.push(b'\n');
    v
}

/// Ansible's `present()` on a file's lines: the new lines, whether they changed, and the
/// message (`line added`, `line replaced`, or empty).
pub fn present(mut lines: Vec<Vec<u8>>, o: &PresentOpts) -> (Vec<Vec<u8>>, bool, &'static str) {
    let mut index: [i64; 2] = [-1, -1];
    let mut matched = false;
    let mut captures_line: Option<usize> = None;

    if let Some(re) = &o.regexp {
        for (n, cur) in lines.iter().enumerate() {
            if re.is_match(body(cur)) {
                index[0] = n as i64;
                matched = true;
                captures_line = Some(n);
                if o.firstmatch {
                    break;
                }
            }
        }
    }
    if let Some(s) = &o.search_string {
        for (n, cur) in lines.iter().enumerate() {
            if contains(cur, s) {
                index[0] = n as i64;
                matched = true;
                if o.firstmatch {
                    break;
                }
            }
        }
    }
    let ins_re = match (&o.insertafter, &o.insertbefore) {
        (Some(Anchor::Re(r)), _) => Some(r),
        (None, Some(Anchor::Re(r))) => Some(r),
        _ => None,
    };
    if !matched {
        for (n, cur) in lines.iter().enumerate() {
            if rstrip_crlf(cur) == o.line.as_slice() {
                index[0] = n as i64;
            } else if ins_re.is_some_and(|r| r.is_match(body(cur))) {
                if o.insertafter.is_some() {
                    index[1] = n as i64 + 1;
                    if o.firstmatch {
                        break;
                    }
                }
                if o.insertbefore.is_some() {
                    index[1] = n as i64;
                    if o.firstmatch {
                        break;
                    }
                }
            }
        }
    }

    let line = o.line.as_slice();
    let is_bof = |a: &Option<Anchor>| matches!(a, Some(Anchor::Bof));
    let is_eof = |a: &Option<Anchor>| matches!(a, Some(Anchor::Eof));
    if index[0] != -1 {
        let i = index[0] as usize;
        let new_line = match (o.backrefs, &o.regexp, captures_line) {
            (true, Some(re), Some(n)) => {
                // Python's `match.expand(line)`.
                let hay = body(&lines[n]);
                match (
                    re.captures(hay),
                    Template::parse(&String::from_utf8_lossy(line), re),
                ) {
                    (Some(caps), Ok(t)) => t.expand(hay, &caps),
                    _ => Vec::new(),
                }
            }
            _ => line.to_vec(),
        };
        let new_line = if new_line.ends_with(b"\n") {
            new_line
        } else {
            with_eol(&new_line)
        };
        if lines[i] != new_line {
            lines[i] = new_line;
            return (lines, true, "line replaced");
        }
        return (lines, false, "");
    }
    if o.backrefs {
        return (lines, false, "");
    }
    if is_bof(&o.insertbefore) || is_bof(&o.insertafter) {
        lines.insert(0, with_eol(line));
        return (lines, true, "line added");
    }
    if is_eof(&o.insertafter) || index[1] == -1 {
        if !ends_with_eol(&lines) {
            lines.push(b"\n".to_vec());
        }
        lines.push(with_eol(line));
        return (lines, true, "line added");
    }
    let at = index[1] as usize;
    if o.insertafter.is_some() {
        if lines.len() == at {
            if rstrip_crlf(&lines[at - 1]) != line {
                lines.push(with_eol(line));
                return (lines, true, "line added");
            }
        } else if rstrip_crlf(&lines[at]) != line {
            lines.insert(at, with_eol(line));
            return (lines, true, "line added");
        }
        return (lines, false, "");
    }
    lines.insert(at, with_eol(line));
    (lines, true, "line added")
}

/// What `absent()` matches lines by.
#[derive(Clone, Debug)]
pub enum AbsentBy {
    Re(Regex),
    Search(Vec<u8>),
    Line(Vec<u8>),
}

/// Ansible's `absent()`: the remaining lines and how many were removed.
pub fn absent(lines: Vec<Vec<u8>>, by: &AbsentBy) -> (Vec<Vec<u8>>, usize) {
    let before = lines.len();
    let kept: Vec<Vec<u8>> = lines
        .into_iter()
        .filter(|cur| !match by {
            AbsentBy::Re(r) => r.is_match(body(cur)),
            AbsentBy::Search(s) => contains(cur, s),
            AbsentBy::Line(l) => rstrip_crlf(cur) == l.as_slice(),
        })
        .collect();
    let found = before - kept.len();
    (kept, found)
}

/// Compiles a Python-style regular expression (see `pyre`).
fn compile(key: &str, pattern: &str) -> Result<Regex> {
    Regex::new(pattern, false, false).map_err(|e| {
        fail(format!(
            "invalid `{key}` regular expression `{pattern}`: {e}"
        ))
    })
}

struct Work {
    path: String,
    mkdir: Option<String>,
    write: Option<(Vec<u8>, PutOpts)>,
    attrs: Option<AttrChange>,
}

impl Module for LineInFile {
    fn leaves_accounts_alone(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        "lineinfile"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn plan(&self, ctx: &mut ModuleCtx, args: &Args) -> Result<Plan> {
        // An empty `regexp` or `search_string` matches every line: Ansible warns.
        let warning = match (args.str("regexp"), args.str("search_string")) {
            (Some(r), _) if r.is_empty() => Some("The regular expression is an empty string, which will match every line in the file. This may have unintended consequences, such as replacing the last line in the file rather than appending. If this is desired, use '^' to match every line in the file and avoid this warning."),
            (_, Some(s)) if s.is_empty() => Some("The search string is an empty string, which will match every line in the file. This may have unintended consequences, such as replacing the last line in the file rather than appending."),
            _ => None,
        };
        let plan = catch(plan(ctx, args))?;
        Ok(match warning {
            Some(w) => plan.with_value("warnings", vec![w]),
            None => plan,
        })
    }

    fn apply(&self, ctx: &mut ModuleCtx, _args: &Args, mut plan: Plan) -> Result<Plan> {
        let work: Work = plan.take_work()?;
        if let Some(dir) = &work.mkdir {
            fileops::run_script(
                ctx,
                "creating the parent directory",
                &format!("mkdir -p -- {}", crate::shell::quote(dir)),
            )?;
        }
        let mut backup = None;
        if let Some((data, opts)) = &work.write {
            backup = fileops::put_file(ctx, &work.path, &Payload::Bytes(data.clone()), opts)?;
        }
        if let Some(c) = &work.attrs {
            fileops::run_script(ctx, "setting attributes", &c.script(&work.path, false))?;
        }
        Ok(plan.with_value("backup", backup.unwrap_or_default()))
    }
}

fn plan(ctx: &mut ModuleCtx, args: &Args) -> Result<Plan> {
    let path = fileops::expand_home(ctx, &args.req_str("path")?)?;
    let state = args.choice("state", &["present", "absent"], "present")?;
    let regexp = args.str("regexp");
    let search = args.str("search_string");
    let line = args.str("line");
    let backrefs = args.bool_or("backrefs", false)?;
    let firstmatch = args.bool_or("firstmatch", false)?;
    let create = args.bool_or("create", false)?;
    let backup = args.bool_or("backup", false)?;
    let ins_after = args.str("insertafter");
    let ins_before = args.str("insertbefore");
    for (a, b) in [
        ("insertbefore", "insertafter"),
        ("regexp", "search_string"),
        ("backrefs", "search_string"),
    ] {
        if args.has(a) && args.has(b) {
            return Err(fail(format!("parameters are mutually exclusive: {a}|{b}")));
        }
    }
    if state == "present" && line.is_none() {
        return Err(fail(
            "state is present but all of the following are missing: line",
        ));
    }
    if backrefs && regexp.is_none() {
        return Err(fail("regexp is required with backrefs=true"));
    }
    if state == "absent" && regexp.is_none() && search.is_none() && line.is_none() {
        return Err(fail(
            "one of line, search_string, or regexp is required with state=absent",
        ));
    }
    let validate = args.str("validate");
    if let Some(v) = &validate {
        if !v.contains("%s") {
            return Err(fail(format!("validate must contain %s: {v}")));
        }
    }

    let req = ProbeReq {
        items: vec![ProbeItem::new(&path, false), ProbeItem::new(&path, true)],
        owner: args.str("owner"),
        group: args.str("group"),
        times: Vec::new(),
    };
    let probe = fileops::probe(ctx, &req)?;
    let want = AttrWant::from_args(args, &probe)?;
    let (lst, st) = (&probe.states[0], &probe.states[1]);
    if st.is_dir() {
        return Err(fail_with(
            format!("Path {path} is a directory !"),
            vec![("rc".into(), Value::from(256))],
        ));
    }
    // Writes go to the link's target, as Ansible writes to realpath(dest).
    let real = match (&lst.link_source, lst.is_link()) {
        (Some(r), true) => r.clone(),
        _ => path.clone(),
    };
    let exists = st.exists;
    if !exists {
        if state == "absent" {
            return Ok(Plan::unchanged()
                .with_msg("file not present")
                .with_value("found", 0)
                .with_value("backup", ""));
        }
        if !create {
            return Err(fail_with(
                format!("Destination {path} does not exist !"),
                vec![("rc".into(), Value::from(257))],
            ));
        }
    }
    let before = if exists {
        fileops::read_file(ctx, &real)?
    } else {
        Vec::new()
    };
    let lines = split_lines(&before);
    let (new_lines, mut changed, mut msg, found) = if state == "present" {
        let anchor = |key: &str, v: &Option<String>, eof_ok: bool| -> Result<Option<Anchor>> {
            Ok(match v.as_deref() {
                None => None,
                Some("BOF") => Some(Anchor::Bof),
                Some("EOF") if eof_ok => Some(Anchor::Eof),
                Some(r) => Some(Anchor::Re(compile(key, r)?)),
            })
        };
        let mut insertafter = anchor("insertafter", &ins_after, true)?;
        let insertbefore = anchor("insertbefore", &ins_before, false)?;
        if insertafter.is_none() && insertbefore.is_none() {
            insertafter = Some(Anchor::Eof);
        }
        let opts = PresentOpts {
            regexp: regexp
                .as_deref()
                .map(|r| compile("regexp", r))
                .transpose()?,
            search_string: search.as_ref().map(|s| s.as_bytes().to_vec()),
            line: line.clone().unwrap_or_default().into_bytes(),
            insertafter,
            insertbefore,
            backrefs,
            firstmatch,
        };
        let (l, c, m) = present(lines, &opts);
        (l, c, m.to_string(), None)
    } else {
        let by = match (&regexp, &search, &line) {
            (Some(r), _, _) => AbsentBy::Re(compile("regexp", r)?),
            (None, Some(s), _) => AbsentBy::Search(s.as_bytes().to_vec()),
            (None, None, l) => AbsentBy::Line(l.clone().unwrap_or_default().into_bytes()),
        };
        let (l, n) = absent(lines, &by);
        let msg = if n > 0 {
            format!("{n} line(s) removed")
        } else {
            String::new()
        };
        (l, n > 0, msg, Some(n))
    };
    let after: Vec<u8> = new_lines.concat();

    // Attributes: those of the file as it will be (a new file starts at 0666 & ~umask).
    let current = if exists {
        st.clone()
    } else {
        let me = AttrWant::default().final_new(&probe, false)?;
        fileops::FileState {
            exists: true,
            st_mode: fileops::S_IFREG | me.mode,
            uid: me.uid,
            gid: me.gid,
            owner: me.owner,
            group: me.group,
            ..fileops::FileState::default()
        }
    };
    let attr_change = want.changes(&current, probe.umask)?;
    if !attr_change.is_empty() {
        if changed {
            msg.push_str(" and ");
        }
        msg.push_str("ownership, perms or SE linux context changed");
    }
    let content_changed = changed;
    changed = changed || !attr_change.is_empty();

    let mut plan = if changed {
        let write = content_changed.then(|| {
            (
                after.clone(),
                // An existing file's attributes are known from the probe: naming them lets
                // the temp file be created with its mode and skips a `chown` to the writer's
                // own ids (instead of copying both from the old file with two processes).
                PutOpts {
                    mode: attr_change
                        .mode
                        .map(|m| m.1)
                        .or(exists.then_some(st.st_mode & 0o7777)),
                    owner: attr_change.owner.map(|o| o.1).or(exists.then_some(st.uid)),
                    group: attr_change.group.map(|g| g.1).or(exists.then_some(st.gid)),
                    backup: backup && exists,
                    validate: validate.clone(),
                },
            )
        });
        let attrs = (!content_changed && !attr_change.is_empty()).then(|| attr_change.clone());
        let parent = fileops::dirname(&real);
        let mkdir = (!exists && !parent.is_empty()).then_some(parent);
        Plan::change(Work {
            path: real.clone(),
            mkdir,
            write,
            attrs,
        })
    } else {
        Plan::unchanged()
    };
    let header = format!("{path} (content)");
    if content_changed {
        plan = plan.with_diff(Diff {
            before_header: header.clone(),
            after_header: header,
            before: String::from_utf8_lossy(&before).into_owned(),
            after: String::from_utf8_lossy(&after).into_owned(),
        });
    }
    if !attr_change.is_empty() {
        let (mut b, mut a) = (DiffMap::new(), DiffMap::new());
        attr_change.add_to(&mut b, &mut a);
        let mut d = dict_diff(&b, &a);
        d.before_header = format!("{path} (file attributes)");
        d.after_header = d.before_header.clone();
        plan = plan.with_diff(d);
    }
    plan = plan.with_msg(msg).with_value("backup", "");
    if let Some(n) = found {
        plan = plan.with_value("found", n);
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::super::fileops::testing::{args, mode_of, snapshot, Harness};
    use super::*;
    use serde_json::json;

    fn re(s: &str) -> Regex {
        Regex::new(s, false, false).unwrap()
    }

    fn opts(line: &str) -> PresentOpts {
        PresentOpts {
            regexp: None,
            search_string: None,
            line: line.as_bytes().to_vec(),
            insertafter: Some(Anchor::Eof),
            insertbefore: None,
            backrefs: false,
            firstmatch: false,
        }
    }

    fn run(text: &str, o: &PresentOpts) -> (String, bool, &'static str) {
        let (l, c, m) = present(split_lines(text.as_bytes()), o);
        (String::from_utf8(l.concat()).unwrap(), c, m)
    }

    #[test]
    fn present_table() {
        let base = "a=1\n# marker\nb=2\n";
        let cases: Vec<(&str, &str, PresentOpts, &str, bool, &str)> = vec![
            (
                "append at EOF",
                base,
                opts("c=3"),
                "a=1\n# marker\nb=2\nc=3\n",
                true,
                "line added",
            ),
            ("already present", base, opts("b=2"), base, false, ""),
            (
                "no final newline gets one before the new line",
                "a=1",
                opts("c=3"),
                "a=1\nc=3\n",
                true,
                "line added",
            ),
            ("empty file", "", opts("x"), "x\n", true, "line added"),
            (
                "regexp replaces the last match",
                "a=1\na=2\n",
                PresentOpts {
                    regexp: Some(re("^a=")),
                    ..opts("a=9")
                },
                "a=1\na=9\n",
                true,
                "line replaced",
            ),
            (
                "regexp with firstmatch replaces the first",
                "a=1\na=2\n",
                PresentOpts {
                    regexp: Some(re("^a=")),
                    firstmatch: true,
                    ..opts("a=9")
                },
                "a=9\na=2\n",
                true,
                "line replaced",
            ),
            (
                "regexp matching the exact line is unchanged",
                base,
                PresentOpts {
                    regexp: Some(re("^b=")),
                    ..opts("b=2")
                },
                base,
                false,
                "",
            ),
            (
                "regexp without match appends",
                base,
                PresentOpts {
                    regexp: Some(re("^z=")),
                    ..opts("z=0")
                },
                "a=1\n# marker\nb=2\nz=0\n",
                true,
                "line added",
            ),
            (
                "insertafter regex",
                base,
                PresentOpts {
                    insertafter: Some(Anchor::Re(re("^# marker"))),
                    ..opts("m=1")
                },
                "a=1\n# marker\nm=1\nb=2\n",
                true,
                "line added",
            ),
            (
                "insertafter regex already followed by the line",
                "a=1\n# marker\nm=1\n",
                PresentOpts {
                    insertafter: Some(Anchor::Re(re("^# marker"))),
                    ..opts("m=2")
                },
                "a=1\n# marker\nm=2\nm=1\n",
                true,
                "line added",
            ),
            (
                "insertafter regex without match appends",
                base,
                PresentOpts {
                    insertafter: Some(Anchor::Re(re("^nothing"))),
                    ..opts("m=1")
                },
                "a=1\n# marker\nb=2\nm=1\n",
                true,
                "line added",
            ),
            (
                "insertbefore regex",
                base,
                PresentOpts {
                    insertafter: None,
                    insertbefore: Some(Anchor::Re(re("^b="))),
                    ..opts("m=1")
                },
                "a=1\n# marker\nm=1\nb=2\n",
                true,
                "line added",
            ),
            (
                "insertbefore BOF",
                base,
                PresentOpts {
                    insertafter: None,
                    insertbefore: Some(Anchor::Bof),
                    ..opts("#!top")
                },
                "#!top\na=1\n# marker\nb=2\n",
                true,
                "line added",
            ),
            (
                "insertafter BOF",
                base,
                PresentOpts {
                    insertafter: Some(Anchor::Bof),
                    ..opts("#!top")
                },
                "#!top\na=1\n# marker\nb=2\n",
                true,
                "line added",
            ),
            (
                "insertbefore with firstmatch uses the first anchor",
                "x\nb=1\nb=2\n",
                PresentOpts {
                    insertafter: None,
                    insertbefore: Some(Anchor::Re(re("^b="))),
                    firstmatch: true,
                    ..opts("m")
                },
                "x\nm\nb=1\nb=2\n",
                true,
                "line added",
            ),
            (
                "insertbefore without firstmatch uses the last anchor",
                "x\nb=1\nb=2\n",
                PresentOpts {
                    insertafter: None,
                    insertbefore: Some(Anchor::Re(re("^b="))),
                    ..opts("m")
                },
                "x\nb=1\nm\nb=2\n",
                true,
                "line added",
            ),
            (
                "backrefs expand groups",
                "port = 80\n",
                PresentOpts {
                    regexp: Some(re(r"^port = (\d+)$")),
                    backrefs: true,
                    ..opts(r"port = \1\1")
                },
                "port = 8080\n",
                true,
                "line replaced",
            ),
            (
                "backrefs without a match change nothing",
                "x\n",
                PresentOpts {
                    regexp: Some(re(r"^port = (\d+)$")),
                    backrefs: true,
                    ..opts(r"port = \1")
                },
                "x\n",
                false,
                "",
            ),
            (
                "search_string replaces",
                "Listen 80\nother\n",
                PresentOpts {
                    search_string: Some(b"Listen ".to_vec()),
                    ..opts("Listen 8080")
                },
                "Listen 8080\nother\n",
                true,
                "line replaced",
            ),
            (
                "exact line without final newline is replaced when a regexp misses",
                "a\nb",
                PresentOpts {
                    regexp: Some(re("^zzz")),
                    ..opts("b")
                },
                "a\nb\n",
                true,
                "line replaced",
            ),
            (
                "CRLF line matches and is rewritten with the line separator",
                "a\r\nb\r\n",
                opts("b"),
                "a\r\nb\n",
                true,
                "line replaced",
            ),
        ];
        for (name, text, o, want, changed, msg) in cases {
            let got = run(text, &o);
            assert_eq!(got, (want.to_string(), changed, msg), "{name}");
        }
    }

    #[test]
    fn absent_table() {
        let text = "a=1\nb=2\na=3\n";
        let cases = [
            (AbsentBy::Re(re("^a=")), "b=2\n", 2),
            (AbsentBy::Search(b"=2".to_vec()), "a=1\na=3\n", 1),
            (AbsentBy::Line(b"a=3".to_vec()), "a=1\nb=2\n", 1),
            (AbsentBy::Line(b"zzz".to_vec()), text, 0),
        ];
        for (by, want, n) in cases {
            let (l, found) = absent(split_lines(text.as_bytes()), &by);
            assert_eq!(
                (String::from_utf8(l.concat()).unwrap(), found),
                (want.to_string(), n),
                "{by:?}"
            );
        }
    }

    #[test]
    fn plan_apply_idempotent_and_check_mode() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("conf");
        std::fs::write(&f, "a=1\n#port\nb=2\n").unwrap();
        let p = f.to_str().unwrap();
        let mut h = Harness::new();
        let a = args(
            json!({"path": p, "regexp": "^port=", "line": "port=80", "insertafter": "^#port", "mode": "0600"}),
        );

        // Check mode predicts the change and the diff, touching nothing.
        let snap = snapshot(dir.path());
        let plan = LineInFile.plan_task(&mut h.ctx(true), &a).unwrap();
        assert!(plan.changed && !plan.failed, "{:?}", plan.msg);
        assert_eq!(
            plan.msg.as_deref(),
            Some("line added and ownership, perms or SE linux context changed")
        );
        assert_eq!(plan.diffs[0].before, "a=1\n#port\nb=2\n");
        assert_eq!(plan.diffs[0].after, "a=1\n#port\nport=80\nb=2\n");
        assert_eq!(plan.diffs[0].before_header, format!("{p} (content)"));
        assert_eq!(snapshot(dir.path()), snap);

        let plan = LineInFile.plan_task(&mut h.ctx(false), &a).unwrap();
        let done = LineInFile.apply_task(&mut h.ctx(false), &a, plan).unwrap();
        assert!(!done.failed, "{:?}", done.msg);
        assert_eq!(
            std::fs::read_to_string(&f).unwrap(),
            "a=1\n#port\nport=80\nb=2\n"
        );
        assert_eq!(mode_of(&f), 0o600);

        let again = LineInFile.plan_task(&mut h.ctx(false), &a).unwrap();
        assert!(!again.changed, "{:?}", again.msg);

        // Absent removes, with a backup.
        let rm = args(json!({"path": p, "regexp": "^[ab]=", "state": "absent", "backup": true}));
        let plan = LineInFile.plan_task(&mut h.ctx(false), &rm).unwrap();
        assert_eq!(plan.msg.as_deref(), Some("2 line(s) removed"));
        let done = LineInFile.apply_task(&mut h.ctx(false), &rm, plan).unwrap();
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "#port\nport=80\n");
        let backup = done.values["backup"].as_str().unwrap().to_string();
        assert_eq!(
            std::fs::read_to_string(backup).unwrap(),
            "a=1\n#port\nport=80\nb=2\n"
        );
        assert!(
            !LineInFile
                .plan_task(&mut h.ctx(false), &rm)
                .unwrap()
                .changed
        );
    }

    #[test]
    fn missing_file_create_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("sub/new.conf");
        let p = f.to_str().unwrap();
        let mut h = Harness::new();
        let plan = LineInFile
            .plan_task(&mut h.ctx(false), &args(json!({"path": p, "line": "x"})))
            .unwrap();
        assert!(plan.failed);
        assert_eq!(
            plan.msg.unwrap(),
            format!("Destination {p} does not exist !")
        );

        let a = args(json!({"path": p, "line": "x", "create": "yes"}));
        let snap = snapshot(dir.path());
        let plan = LineInFile.plan_task(&mut h.ctx(true), &a).unwrap();
        assert!(plan.changed);
        assert_eq!(snapshot(dir.path()), snap);
        let plan = LineInFile.plan_task(&mut h.ctx(false), &a).unwrap();
        LineInFile.apply_task(&mut h.ctx(false), &a, plan).unwrap();
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "x\n");
        assert!(!LineInFile.plan_task(&mut h.ctx(false), &a).unwrap().changed);

        let plan = LineInFile
            .plan(
                &mut h.ctx(false),
                &args(json!({"path": dir.path().to_str().unwrap(), "line": "x"})),
            )
            .unwrap();
        assert!(plan.failed && plan.msg.unwrap().contains("is a directory"));
    }

    #[test]
    fn writes_through_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("real");
        std::fs::write(&f, "a\n").unwrap();
        let l = dir.path().join("link");
        std::os::unix::fs::symlink("real", &l).unwrap();
        let mut h = Harness::new();
        let a = args(json!({"path": l.to_str().unwrap(), "line": "b"}));
        let plan = LineInFile.plan_task(&mut h.ctx(false), &a).unwrap();
        LineInFile.apply_task(&mut h.ctx(false), &a, plan).unwrap();
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "a\nb\n");
        assert!(std::fs::symlink_metadata(&l)
            .unwrap()
            .file_type()
            .is_symlink());
    }
}
