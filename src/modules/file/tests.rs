use super::super::fileops::testing::{args, mode_of, snapshot, Harness};
use super::*;
use crate::modules::Module;
use std::path::Path;

fn run(h: &mut Harness, a: &Args) -> Plan {
    h.run(&FILE, a)
}

fn cycle(h: &mut Harness, dir: &Path, a: &Args) -> (Plan, Plan) {
    h.cycle(&FILE, dir, a)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn directory_created_with_mode_and_predicted_values() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("a/b/c");
    let mut h = Harness::new();
    let a = args(json!({"path": s(&d), "state": "directory", "mode": "u=rwx,g=rx,o="}));
    let (predicted, done) = cycle(&mut h, dir.path(), &a);
    assert!(d.is_dir());
    assert_eq!(mode_of(&d), 0o750);
    assert_eq!(mode_of(&dir.path().join("a")), 0o750);
    for k in ["path", "mode", "owner", "group", "uid", "gid", "state"] {
        assert_eq!(predicted.values.get(k), done.values.get(k), "{k}");
    }
    assert_eq!(done.values["state"].as_str(), Some("directory"));
    assert!(predicted.diffs[0]
        .after
        .contains("\"state\": \"directory\""));
    assert!(predicted.diffs[0].before.contains("\"state\": \"absent\""));
}

#[test]
fn file_mode_symbolic_and_touch() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    let mut h = Harness::new();
    // state=file on a missing path fails like Ansible.
    let plan = FILE
        .run(&mut h.ctx(), &args(json!({"path": s(&f)})), false)
        .unwrap();
    assert!(plan.failed());
    assert_eq!(
        plan.msg.unwrap(),
        format!("file ({}) is absent, cannot continue", s(&f))
    );

    // touch creates; touch is always changed.
    let t = args(json!({"path": s(&f), "state": "touch", "mode": "0640"}));
    let snap = snapshot(dir.path());
    assert!(FILE.run(&mut h.ctx(), &t, true).unwrap().changed());
    assert_eq!(snapshot(dir.path()), snap);
    let done = run(&mut h, &t);
    assert_eq!(done.values["dest"].as_str(), Some(s(&f)));
    assert_eq!(mode_of(&f), 0o640);
    assert!(FILE.run(&mut h.ctx(), &t, true).unwrap().changed());
    // …unless both times are preserved.
    let tp = args(
        json!({"path": s(&f), "state": "touch", "modification_time": "preserve", "access_time": "preserve"}),
    );
    assert!(!FILE.run(&mut h.ctx(), &tp, true).unwrap().changed());

    let a = args(json!({"path": s(&f), "mode": "u+x,g-r"}));
    let (predicted, _) = cycle(&mut h, dir.path(), &a);
    assert_eq!(mode_of(&f), 0o700);
    assert_eq!(predicted.values["mode"].as_str(), Some("0700"));
    assert!(predicted.diffs[0].before.contains("\"mode\": \"0640\""));
    assert!(predicted.diffs[0].after.contains("\"mode\": \"0700\""));
}

#[test]
fn explicit_modification_time_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    std::fs::write(&f, "x").unwrap();
    let mut h = Harness::new();
    let a = args(json!({"path": s(&f), "state": "file", "modification_time": "202001021304.05"}));
    cycle(&mut h, dir.path(), &a);
    let mt = std::fs::metadata(&f).unwrap().modified().unwrap();
    let secs = mt.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    // 2020-01-02 13:04:05 in some time zone: within a day of the UTC value.
    assert!((secs as i64 - 1_577_970_245).abs() < 86_400, "{secs}");
}

#[test]
fn links_symbolic_and_hard() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target.txt");
    std::fs::write(&target, "t").unwrap();
    let other = dir.path().join("other.txt");
    std::fs::write(&other, "o").unwrap();
    let l = dir.path().join("link");
    let mut h = Harness::new();

    let a = args(json!({"path": s(&l), "src": "target.txt", "state": "link"}));
    let (predicted, done) = cycle(&mut h, dir.path(), &a);
    assert_eq!(std::fs::read_link(&l).unwrap(), Path::new("target.txt"));
    assert_eq!(done.values["state"].as_str(), Some("link"));
    assert_eq!(predicted.values["dest"].as_str(), Some(s(&l)));

    // Repointing shows the src change in the diff.
    let b = args(json!({"path": s(&l), "src": s(&other), "state": "link"}));
    let (predicted, _) = cycle(&mut h, dir.path(), &b);
    assert!(predicted.diffs[0].before.contains("target.txt"));
    assert_eq!(std::fs::read_link(&l).unwrap(), other);

    // A missing source needs force.
    let c = args(json!({"path": s(&dir.path().join("dangling")), "src": "nope", "state": "link"}));
    let plan = FILE.run(&mut h.ctx(), &c, false).unwrap();
    assert!(plan.failed() && plan.msg.unwrap().contains("src file does not exist"));

    // Replacing a file needs force.
    let d = args(json!({"path": s(&other), "src": "target.txt", "state": "link"}));
    let plan = FILE.run(&mut h.ctx(), &d, false).unwrap();
    assert!(plan.failed() && plan.msg.unwrap().contains("refusing to convert from file"));

    // Hard link.
    let hl = dir.path().join("hard");
    let e = args(json!({"path": s(&hl), "src": s(&target), "state": "hard"}));
    cycle(&mut h, dir.path(), &e);
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        std::fs::metadata(&hl).unwrap().ino(),
        std::fs::metadata(&target).unwrap().ino()
    );
}

#[test]
fn absent_and_recurse() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("tree");
    std::fs::create_dir_all(d.join("sub")).unwrap();
    std::fs::write(d.join("sub/f"), "x").unwrap();
    std::fs::write(d.join("g"), "y").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(d.join("g"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut h = Harness::new();

    let r = args(
        json!({"path": s(&d), "state": "directory", "recurse": true, "mode": "u=rwX,g=rX,o=rX"}),
    );
    cycle(&mut h, dir.path(), &r);
    assert_eq!(mode_of(&d.join("sub")), 0o755);
    assert_eq!(mode_of(&d.join("g")), 0o644);
    assert_eq!(mode_of(&d.join("sub/f")), 0o644);

    let a = args(json!({"path": s(&d), "state": "absent"}));
    let (predicted, done) = cycle(&mut h, dir.path(), &a);
    assert!(!d.exists());
    assert!(predicted.diffs[0].before.contains("path_content"));
    assert!(predicted.diffs[0].before.contains("sub/f"));
    assert_eq!(done.values["state"].as_str(), Some("absent"));
}

#[test]
fn owner_and_group_by_name_and_number() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    std::fs::write(&f, "x").unwrap();
    let mut h = Harness::new();
    let uid = std::process::Command::new("id")
        .arg("-u")
        .output()
        .unwrap()
        .stdout;
    if uid == b"0\n" {
        let a = args(json!({"path": s(&f), "owner": "daemon", "group": "1"}));
        let (predicted, done) = cycle(&mut h, dir.path(), &a);
        use std::os::unix::fs::MetadataExt;
        let md = std::fs::metadata(&f).unwrap();
        assert_eq!((md.uid(), md.gid()), (1, 1));
        assert_eq!(predicted.values["owner"], done.values["owner"]);
        assert!(predicted.diffs[0].after.contains("\"owner\": 1"));
    }
    let bad = args(json!({"path": s(&f), "owner": "no-such-user-drover"}));
    let plan = FILE.run(&mut h.ctx(), &bad, false).unwrap();
    assert!(plan.failed());
}

#[test]
fn time_formats() {
    assert_eq!(
        parse_time("202001021304.05", "%Y%m%d%H%M.%S").unwrap(),
        TsArg::Local("2020-01-02 13:04:05".into(), "202001021304.05".into())
    );
    assert_eq!(
        parse_time("2020-01-02 13:04", "%Y-%m-%d %H:%M").unwrap(),
        TsArg::Local("2020-01-02 13:04:00".into(), "202001021304.00".into())
    );
    assert!(parse_time("2020-13-02", "%Y-%m-%d").is_err());
    // Python's strptime takes one digit where two may be.
    assert_eq!(
        parse_time("202001011200.0", "%Y%m%d%H%M.%S").unwrap(),
        TsArg::Local("2020-01-01 12:00:00".into(), "202001011200.00".into())
    );
    assert!(parse_time("x", "%Y").is_err());
}
