use super::*;

#[test]
fn symbolic_modes_match_ansible() {
    // (spec, current, is_dir, umask, want)
    let table: &[(&str, u32, bool, u32, u32)] = &[
        ("u+x", 0o644, false, 0o022, 0o744),
        ("u=rw,g=r,o=", 0o777, false, 0o022, 0o640),
        ("a+X", 0o644, false, 0o022, 0o644),
        ("a+X", 0o744, false, 0o022, 0o755),
        ("a+X", 0o600, true, 0o022, 0o711),
        ("go-rwx", 0o755, false, 0o022, 0o700),
        ("+x", 0o644, false, 0o022, 0o755),
        ("+w", 0o444, false, 0o022, 0o644),
        ("=r", 0o777, false, 0o022, 0o444),
        ("u+s", 0o755, false, 0o022, 0o4755),
        ("g+s,o+t", 0o755, true, 0o022, 0o3755),
        ("u=rwx,g=u,o=g", 0o600, false, 0o022, 0o777),
        ("g=u-w", 0o750, false, 0o022, 0o750),
        ("g=u", 0o750, false, 0o022, 0o770),
        ("u-s", 0o4755, false, 0o022, 0o755),
        ("o=", 0o1777, true, 0o022, 0o770),
        ("a=rw", 0o755, false, 0o077, 0o666),
    ];
    for (spec, cur, dir, umask, want) in table {
        let got = symbolic_to_octal(spec, *cur, *dir, *umask).unwrap();
        assert_eq!(got, *want, "{spec} on {cur:o}: got {got:o}, want {want:o}");
    }
    assert!(symbolic_to_octal("z+x", 0o644, false, 0o022).is_err());
    assert!(symbolic_to_octal("u+q", 0o644, false, 0o022).is_err());
    assert!(symbolic_to_octal("ux", 0o644, false, 0o022).is_err());
    assert_eq!(resolve_mode("0640", 0o777, false, 0o022).unwrap(), 0o640);
}

#[test]
fn path_helpers() {
    assert_eq!(dirname("/a/b/c"), "/a/b");
    assert_eq!(dirname("/a"), "/");
    assert_eq!(dirname("a"), "");
    assert_eq!(dirname("a/b/"), "a/b");
    assert_eq!(basename("/a/b.txt"), "b.txt");
    assert_eq!(join("/d/", "x"), "/d/x");
    assert_eq!(join("/d", "/x"), "/x");
    assert_eq!(ancestors("/a/b/c"), ["/a", "/a/b"]);
    assert_eq!(ancestors("a/b/c"), ["a", "a/b"]);
    assert_eq!(fmt_mode(0o644), "0644");
    assert_eq!(fmt_mode(0o4755), "04755");
    assert_eq!(fmt_mode(0), "0000");
}

#[test]
fn probe_parses_stat_and_lookups() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("it's a file");
    std::fs::write(&f, b"hello\n").unwrap();
    let link = dir.path().join("ln");
    std::os::unix::fs::symlink(&f, &link).unwrap();
    let mut h = testing::Harness::new();
    let mut ctx = h.ctx();
    let req = ProbeReq {
        items: vec![
            ProbeItem::new(f.to_str().unwrap(), false).sum(Alg::Sha1),
            ProbeItem::new(link.to_str().unwrap(), false).sum(Alg::Sha1),
            ProbeItem::new(link.to_str().unwrap(), true).sum(Alg::Sha256),
            ProbeItem::new(dir.path().join("none").to_str().unwrap(), false),
        ],
        owner: Some("root".into()),
        group: Some("0".into()),
        times: vec!["2020-01-02 03:04:05".into()],
    };
    let p = probe(&mut ctx, &req).unwrap();
    assert_eq!(
        p.states[0].checksum.as_deref(),
        Some(sha1_hex(b"hello\n").as_str())
    );
    assert_eq!(p.states[0].size, 6);
    assert!(p.states[0].is_reg());
    assert_eq!(p.states[0].state_name(), "file");
    assert!(p.states[1].is_link());
    assert_eq!(p.states[1].checksum, None);
    assert_eq!(p.states[1].link_target.as_deref(), f.to_str());
    assert!(p.states[2].is_reg());
    assert_eq!(p.states[2].checksum.as_ref().map(String::len), Some(64));
    assert!(!p.states[3].exists);
    assert_eq!(
        p.owner,
        Some(Ident {
            id: 0,
            name: "root".into()
        })
    );
    assert_eq!(p.group.as_ref().map(|g| g.id), Some(0));
    assert!(p.times[0].is_some());
    assert!(p.me_user.is_some());

    // The identity and the id lookups are memoized: asked again, the script leaves them
    // out and the answers are the same; twins and conditional items answer without a stat.
    let known: Vec<String> = memo_keys(&req, "")
        .into_iter()
        .filter(|k| ctx.conn().unwrap().memo().get(k).is_some())
        .collect();
    assert_eq!(known.len(), 3, "{known:?}");
    let again = probe_script(&req, &known, "@@T:").text().to_string();
    assert!(
        !again.contains("getent") && !again.contains(" id"),
        "{again}"
    );
    let p2 = probe(&mut ctx, &req).unwrap();
    assert_eq!(
        (p2.owner, p2.group, p2.me_user),
        (p.owner, p.group, p.me_user)
    );
    let fs = f.to_str().unwrap();
    let twins = ProbeReq {
        items: vec![
            ProbeItem::new(fs, false).sum(Alg::Sha1),
            ProbeItem::new(fs, true).sum(Alg::Sha1),
            ProbeItem::new(fs, true).sum(Alg::Sha1),
            ProbeItem::new(format!("{fs}/x"), false).when(ProbeCond::IsDir(fs.into())),
            ProbeItem::new(dir.path().to_str().unwrap(), true).when(ProbeCond::Missing(fs.into())),
        ],
        ..ProbeReq::default()
    };
    let script = probe_script(&twins, &[], "@@T:").text().to_string();
    assert_eq!(script.matches("stat ").count(), 4, "{script}");
    let t = probe(&mut ctx, &twins).unwrap();
    assert_eq!(t.states[0], t.states[1]);
    assert_eq!(t.states[1], t.states[2]);
    assert!(t.states[0].checksum.is_some());
    assert!(!t.states[3].exists && !t.states[4].exists);
}

#[test]
fn unknown_owner_is_a_task_failure() {
    let mut h = testing::Harness::new();
    let mut ctx = h.ctx();
    let req = ProbeReq {
        owner: Some("no-such-user-drover".into()),
        ..ProbeReq::default()
    };
    let p = probe(&mut ctx, &req).unwrap();
    // A prediction assumes an earlier task creates the user; a real run fails with this.
    let (want, pending) = AttrWant::resolve(None, Some("no-such-user-drover"), None, &p);
    assert_eq!(want.owner.map(|o| o.id), Some(NOT_YET_ID));
    let plan = pending.unwrap().into_plan();
    assert!(plan.failed());
    assert_eq!(
        plan.msg.unwrap(),
        "chown failed: failed to look up user no-such-user-drover"
    );
}

#[test]
fn put_file_validates_and_backs_up() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("app.conf");
    std::fs::write(&dest, b"old\n").unwrap();
    let d = dest.to_str().unwrap();
    let mut h = testing::Harness::new();
    let mut ctx = h.ctx();
    let bad = PutOpts {
        validate: Some("grep -q good %s".into()),
        ..PutOpts::default()
    };
    let err = put_file(&mut ctx, d, &Payload::Bytes(b"bad\n".to_vec()), &bad).unwrap_err();
    let plan = catch(Err(err)).unwrap();
    assert_eq!(plan.msg.as_deref(), Some("failed to validate"));
    assert_eq!(std::fs::read(&dest).unwrap(), b"old\n");
    // A validator without `%s` is refused when the write comes, the file untouched.
    let no_path = PutOpts {
        validate: Some("visudo -c".into()),
        ..PutOpts::default()
    };
    let err = put_file(&mut ctx, d, &Payload::Bytes(b"new\n".to_vec()), &no_path).unwrap_err();
    let plan = catch(Err(err)).unwrap();
    assert_eq!(
        plan.msg.as_deref(),
        Some("validate must contain %s: visudo -c")
    );
    assert_eq!(std::fs::read(&dest).unwrap(), b"old\n");
    let good = PutOpts {
        validate: Some("grep -q good %s && case %s in *.conf) true;; *) false;; esac".into()),
        backup: true,
        mode: Some(0o600),
        ..PutOpts::default()
    };
    let backup = put_file(&mut ctx, d, &Payload::Bytes(b"good\n".to_vec()), &good)
        .unwrap()
        .unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), b"good\n");
    assert_eq!(std::fs::read(&backup).unwrap(), b"old\n");
    assert_eq!(testing::mode_of(&dest), 0o600);
    let leftovers = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("drover-tmp"))
        .count();
    assert_eq!(leftovers, 0);
}

#[test]
fn decisions() {
    let probe = Probe {
        umask: 0o022,
        me_user: Some(Ident {
            id: 5,
            name: "me".into(),
        }),
        me_group: Some(Ident {
            id: 6,
            name: "us".into(),
        }),
        ..Probe::default()
    };
    let absent = FileState::default();
    let want = AttrWant {
        mode: Some("u+x".into()),
        ..AttrWant::default()
    };
    let d = decide_file(&absent, &absent, "abc", &want, &probe, true, false).unwrap();
    assert_eq!(
        d,
        FileDecision::Write(FinalAttrs {
            uid: 5,
            gid: 6,
            owner: "me".into(),
            group: "us".into(),
            mode: 0o744
        })
    );
    let same = FileState {
        exists: true,
        st_mode: S_IFREG | 0o744,
        nlink: 1,
        checksum: Some("abc".into()),
        ..FileState::default()
    };
    match decide_file(&same, &same, "abc", &want, &probe, true, false).unwrap() {
        FileDecision::Attrs(c, _) => assert!(c.is_empty()),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        decide_file(&same, &same, "xyz", &want, &probe, false, false).unwrap(),
        FileDecision::Keep
    );
    let link = FileState {
        exists: true,
        st_mode: S_IFLNK | 0o777,
        ..FileState::default()
    };
    assert!(matches!(
        decide_file(&link, &same, "abc", &want, &probe, true, false).unwrap(),
        FileDecision::Write(_)
    ));
    assert!(matches!(
        decide_file(&link, &same, "abc", &want, &probe, true, true).unwrap(),
        FileDecision::Attrs(..)
    ));
}

#[test]
fn a_link_target_cannot_pass_for_a_line_of_the_answer() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("ln");
    // A target that would read as a checksum line and a new path of the answer.
    std::os::unix::fs::symlink("x\nC 0000\n@P\nS", &link).unwrap();
    let mut h = testing::Harness::new();
    let mut ctx = h.ctx();
    let req = ProbeReq {
        items: vec![ProbeItem::new(link.to_str().unwrap(), false).sum(Alg::Sha1)],
        ..ProbeReq::default()
    };
    let err = probe(&mut ctx, &req).unwrap_err();
    assert!(format!("{err:#}").contains("holding a newline"), "{err:#}");
}

/// A look a conditional item made is not made again by an unconditional twin after it; a
/// symlink's final target is read only when asked; `RealDir` holds for a directory, not for a
/// link to one.
#[test]
fn probe_makes_each_look_once() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real");
    std::fs::create_dir(&real).unwrap();
    let ln = dir.path().join("ln");
    std::os::unix::fs::symlink(&real, &ln).unwrap();
    let src = dir.path().join("src");
    std::fs::write(&src, b"x").unwrap();
    let (real, ln, src) = (
        real.to_str().unwrap(),
        ln.to_str().unwrap(),
        src.to_str().unwrap(),
    );
    let mut h = testing::Harness::new();
    let mut ctx = h.ctx();
    let req = ProbeReq {
        items: vec![
            ProbeItem::new(ln, false).no_realpath(),
            ProbeItem::new(src, true).when(ProbeCond::RealDir(ln.into())),
            ProbeItem::new(src, true).when(ProbeCond::IsDir(ln.into())),
            ProbeItem::new(src, true),
            ProbeItem::new(ln, false),
        ],
        ..ProbeReq::default()
    };
    let script = probe_script(&req, &[], "@@T:").text().to_string();
    let looks: Vec<&str> = script.split("printf '%sP\\n'").skip(1).collect();
    assert!(!looks[0].contains("readlink -f"), "{script}");
    assert!(looks[4].contains("readlink -f"), "{script}");
    let out = ctx.run(&script).unwrap().stdout_str();
    // Item 3 is item 2's answer (its condition held), not a `stat` of its own.
    assert!(out.contains("@@T:SAME 2\n"), "{out}");
    let p = probe(&mut ctx, &req).unwrap();
    assert!(p.states[0].is_link());
    assert_eq!(p.states[0].link_target.as_deref(), Some(real));
    assert_eq!(p.states[0].link_source, None);
    assert!(!p.states[1].exists, "a link to a directory is no RealDir");
    assert!(p.states[2].is_reg());
    assert_eq!(p.states[3], p.states[2]);
    assert_eq!(p.states[4].link_source.as_deref(), Some(real));
    let in_real = ProbeReq {
        items: vec![ProbeItem::new(src, true).when(ProbeCond::RealDir(real.into()))],
        ..ProbeReq::default()
    };
    assert!(probe(&mut ctx, &in_real).unwrap().states[0].is_reg());
    // The probes ran in the session shell and left none of their variables there.
    let with_lookups = ProbeReq {
        owner: Some("root".into()),
        group: Some("root".into()),
        ..in_real
    };
    probe(&mut ctx, &with_lookups).unwrap();
    let left = ctx
        .run("echo \"${nl-u}${tg-u}${p-u}${t-u}${o-u}${g-u}${tm-u}${r-u}\"")
        .unwrap();
    assert_eq!(left.stdout_str(), "uuuuuuuu\n");
}

/// `id`'s names answer the lookups of the user and groups a shell runs as, by name and number.
#[test]
fn id_answers_its_own_lookups() {
    let found = id_lookups("uid=0(root) gid=0(root) groups=0(root),4(adm),1001");
    let get = |k: &str| {
        found
            .iter()
            .find(|(key, _)| *key == id_answer_key(k))
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(get(&user_memo_key("root")), Some("@U root:x:0:\n"));
    assert_eq!(get(&user_memo_key("0")), Some("@U root:x:0:\n"));
    assert_eq!(get(&group_memo_key("adm")), Some("@G adm:x:4:\n"));
    assert_eq!(get(&group_memo_key("4")), Some("@G adm:x:4:\n"));
    // A number without a name is no answer (the lookup says what the database has).
    assert_eq!(get(&group_memo_key("1001")), None);
    let line = get(&user_memo_key("root"))
        .unwrap()
        .strip_prefix("@U ")
        .unwrap();
    assert_eq!(
        resolve_ident(Some("root"), passwd_fields(line.trim_end())),
        Some(Ident {
            id: 0,
            name: "root".into()
        })
    );
    assert!(id_lookups("uid=1000 gid=1000").is_empty());
}
