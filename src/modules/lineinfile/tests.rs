use super::super::fileops::testing::{args, mode_of, snapshot, Harness};
use super::*;
use crate::modules::Module;
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
    let plan = LINEINFILE.run(&mut h.ctx(), &a, true).unwrap();
    assert!(plan.changed() && !plan.failed(), "{:?}", plan.msg);
    assert_eq!(
        plan.msg.as_deref(),
        Some("line added and ownership, perms or SE linux context changed")
    );
    assert_eq!(plan.diffs[0].before, "a=1\n#port\nb=2\n");
    assert_eq!(plan.diffs[0].after, "a=1\n#port\nport=80\nb=2\n");
    assert_eq!(plan.diffs[0].before_header, format!("{p} (content)"));
    assert_eq!(snapshot(dir.path()), snap);

    let done = LINEINFILE.run(&mut h.ctx(), &a, false).unwrap();
    assert!(!done.failed(), "{:?}", done.msg);
    assert_eq!(
        std::fs::read_to_string(&f).unwrap(),
        "a=1\n#port\nport=80\nb=2\n"
    );
    assert_eq!(mode_of(&f), 0o600);

    let again = LINEINFILE.run(&mut h.ctx(), &a, true).unwrap();
    assert!(!again.changed(), "{:?}", again.msg);

    // Absent removes, with a backup.
    let rm = args(json!({"path": p, "regexp": "^[ab]=", "state": "absent", "backup": true}));
    let plan = LINEINFILE.run(&mut h.ctx(), &rm, true).unwrap();
    assert_eq!(plan.msg.as_deref(), Some("2 line(s) removed"));
    let done = LINEINFILE.run(&mut h.ctx(), &rm, false).unwrap();
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "#port\nport=80\n");
    let backup = done.values["backup"].as_str().unwrap().to_string();
    assert_eq!(
        std::fs::read_to_string(backup).unwrap(),
        "a=1\n#port\nport=80\nb=2\n"
    );
    assert!(!LINEINFILE.run(&mut h.ctx(), &rm, true).unwrap().changed());
}

#[test]
fn missing_file_create_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("sub/new.conf");
    let p = f.to_str().unwrap();
    let mut h = Harness::new();
    let plan = LINEINFILE
        .run(&mut h.ctx(), &args(json!({"path": p, "line": "x"})), true)
        .unwrap();
    assert!(plan.failed());
    assert_eq!(
        plan.msg.unwrap(),
        format!("Destination {p} does not exist !")
    );

    let a = args(json!({"path": p, "line": "x", "create": "yes"}));
    let snap = snapshot(dir.path());
    let plan = LINEINFILE.run(&mut h.ctx(), &a, true).unwrap();
    assert!(plan.changed());
    assert_eq!(snapshot(dir.path()), snap);
    LINEINFILE.run(&mut h.ctx(), &a, false).unwrap();
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "x\n");
    assert!(!LINEINFILE.run(&mut h.ctx(), &a, true).unwrap().changed());

    let plan = LINEINFILE
        .run(
            &mut h.ctx(),
            &args(json!({"path": dir.path().to_str().unwrap(), "line": "x"})),
            true,
        )
        .unwrap();
    assert!(plan.failed() && plan.msg.unwrap().contains("is a directory"));
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
    LINEINFILE.run(&mut h.ctx(), &a, false).unwrap();
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "a\nb\n");
    assert!(std::fs::symlink_metadata(&l)
        .unwrap()
        .file_type()
        .is_symlink());
}
