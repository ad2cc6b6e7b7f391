use super::super::fileops::testing::{args, mode_of, Harness};
use super::super::SearchPaths;
use super::*;
use crate::modules::Module;
use serde_json::json;

fn cycle(h: &mut Harness, dir: &Path, a: &Args) -> (Plan, Plan) {
    h.cycle(&COPY, dir, a)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn dest_resolution() {
    let table = [
        ("/etc/app/", "a.conf", "/etc/app/a.conf"),
        ("/etc/app/b.conf", "a.conf", "/etc/app/b.conf"),
        ("rel/", "x", "rel/x"),
    ];
    for (dest, base, want) in table {
        assert_eq!(fileops::dest_for_file(dest, base), want);
    }
}

#[test]
fn python_json_for_structured_content() {
    let v = Value::from(minijinja::value::Serde(
        json!({"b": [1, 2.5, true, null], "a": "é\"x"}),
    ));
    assert_eq!(
        py_json(&v),
        r#"{"b": [1, 2.5, true, null], "a": "\u00e9\"x"}"#
    );
}

#[test]
fn content_write_check_idempotent_and_diff() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("motd");
    std::fs::write(&f, "old\n").unwrap();
    let mut h = Harness::new();
    let a = args(json!({"content": "hello\n", "dest": s(&f), "mode": "0640", "backup": true}));
    let (predicted, done) = cycle(&mut h, dir.path(), &a);
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "hello\n");
    assert_eq!(mode_of(&f), 0o640);
    assert_eq!(predicted.diffs[0].before, "old\n");
    assert_eq!(predicted.diffs[0].after, "hello\n");
    assert_eq!(
        predicted.values["checksum"].as_str(),
        Some("f572d396fae9206628714fb2ce00f72e94f2258f")
    );
    for k in ["dest", "mode", "owner", "group", "size", "checksum"] {
        assert_eq!(predicted.values.get(k), done.values.get(k), "{k}");
    }
    let backup = done.values["backup_file"].as_str().unwrap().to_string();
    assert_eq!(std::fs::read_to_string(backup).unwrap(), "old\n");

    // Only the mode differs: an attribute change with a file-style diff.
    let b = args(json!({"content": "hello\n", "dest": s(&f), "mode": "u+x"}));
    let (predicted, _) = cycle(&mut h, dir.path(), &b);
    assert!(predicted.diffs[0].after.contains("\"mode\": \"0740\""));
    assert_eq!(mode_of(&f), 0o740);

    // force: no leaves an existing file alone.
    let c = args(json!({"content": "other\n", "dest": s(&f), "force": false}));
    assert!(!COPY.run(&mut h.ctx(), &c, true).unwrap().changed());
}

#[test]
fn src_file_into_directory_and_missing_source() {
    let dir = tempfile::tempdir().unwrap();
    let role = dir.path().join("role");
    std::fs::create_dir_all(role.join("files")).unwrap();
    std::fs::write(role.join("files/app.conf"), "x=1\n").unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let mut h = Harness::new();
    h.paths = SearchPaths {
        dirs: vec![role.clone()],
    };
    let a = args(json!({"src": "app.conf", "dest": s(&out)}));
    let (predicted, _) = cycle(&mut h, &out, &a);
    assert_eq!(
        std::fs::read_to_string(out.join("app.conf")).unwrap(),
        "x=1\n"
    );
    assert_eq!(
        predicted.values["dest"].as_str(),
        Some(s(&out.join("app.conf")))
    );
    assert_eq!(
        predicted.diffs[0].after_header,
        s(&role.join("files/app.conf"))
    );

    // dest ending in / that does not exist yet: created.
    let nested = out.join("a/b/");
    let b = args(
        json!({"src": "app.conf", "dest": format!("{}/", s(&nested)), "directory_mode": "0700"}),
    );
    cycle(&mut h, &out, &b);
    assert_eq!(
        std::fs::read_to_string(nested.join("app.conf")).unwrap(),
        "x=1\n"
    );
    assert_eq!(mode_of(&out.join("a")), 0o700);

    // A missing parent without the trailing slash fails.
    let c = args(json!({"src": "app.conf", "dest": s(&out.join("zz/app.conf"))}));
    let plan = COPY.run(&mut h.ctx(), &c, false).unwrap();
    assert!(plan.failed() && plan.msg.unwrap().contains("does not exist"));

    let d = args(json!({"src": "nope.conf", "dest": s(&out)}));
    let plan = COPY.run(&mut h.ctx(), &d, false).unwrap();
    assert!(plan.failed());
    let msg = plan.msg.unwrap();
    assert!(
        msg.contains("nope.conf") && msg.contains(s(&role.join("files"))),
        "{msg}"
    );
}

#[test]
fn directory_trees_with_and_without_trailing_slash() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("site");
    std::fs::create_dir_all(src.join("css")).unwrap();
    std::fs::create_dir_all(src.join("empty")).unwrap();
    std::fs::write(src.join("index.html"), "<h1>hi</h1>\n").unwrap();
    std::fs::write(src.join("css/a.css"), "a{}\n").unwrap();
    std::os::unix::fs::symlink("index.html", src.join("home.html")).unwrap();
    let out = dir.path().join("out");
    let mut h = Harness::new();

    let a = args(json!({"src": s(&src), "dest": s(&out), "local_follow": false, "mode": "0600"}));
    cycle(&mut h, dir.path(), &a);
    assert_eq!(
        std::fs::read_to_string(out.join("site/css/a.css")).unwrap(),
        "a{}\n"
    );
    assert!(out.join("site/empty").is_dir());
    assert_eq!(
        std::fs::read_link(out.join("site/home.html")).unwrap(),
        Path::new("index.html")
    );
    assert_eq!(mode_of(&out.join("site/index.html")), 0o600);

    let out2 = dir.path().join("out2");
    let b = args(json!({"src": format!("{}/", s(&src)), "dest": s(&out2)}));
    cycle(&mut h, dir.path(), &b);
    assert_eq!(
        std::fs::read_to_string(out2.join("index.html")).unwrap(),
        "<h1>hi</h1>\n"
    );
    // local_follow (default) copies the link's target as a file.
    assert_eq!(
        std::fs::read_to_string(out2.join("home.html")).unwrap(),
        "<h1>hi</h1>\n"
    );
    assert!(!std::fs::symlink_metadata(out2.join("home.html"))
        .unwrap()
        .file_type()
        .is_symlink());

    // Changing one file changes only that file.
    std::fs::write(src.join("css/a.css"), "b{}\n").unwrap();
    let (predicted, _) = cycle(&mut h, dir.path(), &b);
    assert_eq!(predicted.diffs.len(), 1);
    assert_eq!(predicted.diffs[0].before, "a{}\n");
    assert_eq!(
        std::fs::read_to_string(out2.join("css/a.css")).unwrap(),
        "b{}\n"
    );
}

#[test]
fn remote_src_file_and_tree() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("d")).unwrap();
    std::fs::write(src.join("d/f.txt"), "remote\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(src.join("d/f.txt"), std::fs::Permissions::from_mode(0o751)).unwrap();
    let mut h = Harness::new();

    let one = dir.path().join("one.txt");
    let a = args(json!({"src": s(&src.join("d/f.txt")), "dest": s(&one), "remote_src": true}));
    cycle(&mut h, dir.path(), &a);
    assert_eq!(std::fs::read_to_string(&one).unwrap(), "remote\n");

    let tree = dir.path().join("tree");
    let b = args(json!({"src": format!("{}/", s(&src)), "dest": s(&tree), "remote_src": "yes"}));
    cycle(&mut h, dir.path(), &b);
    assert_eq!(
        std::fs::read_to_string(tree.join("d/f.txt")).unwrap(),
        "remote\n"
    );
    assert_eq!(mode_of(&tree.join("d/f.txt")), 0o751);
}

#[test]
fn validate_failure_leaves_dest() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("sudoers");
    std::fs::write(&f, "ok\n").unwrap();
    let mut h = Harness::new();
    let a = args(json!({"content": "broken\n", "dest": s(&f), "validate": "grep -qx ok %s"}));
    let plan = COPY.run(&mut h.ctx(), &a, true).unwrap();
    assert!(plan.changed());
    let done = COPY.run(&mut h.ctx(), &a, false).unwrap();
    assert!(done.failed());
    assert_eq!(done.msg.as_deref(), Some("failed to validate"));
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "ok\n");
}

#[test]
fn content_into_directory_fails() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new();
    let a = args(json!({"content": "x", "dest": s(dir.path())}));
    let plan = COPY.run(&mut h.ctx(), &a, false).unwrap();
    assert!(plan.failed());
    assert_eq!(
        plan.msg.as_deref(),
        Some("can not use content with a dir as dest")
    );
}
