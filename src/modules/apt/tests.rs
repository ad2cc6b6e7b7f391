use super::*;

fn inst(v: &str) -> Installed {
    Installed {
        version: v.into(),
        installed: true,
        config_files: false,
    }
}

fn specs(s: &[&str]) -> Vec<PkgSpec> {
    s.iter().map(|x| PkgSpec::parse(x)).collect()
}

#[test]
fn decide_table() {
    let mut observed = BTreeMap::new();
    observed.insert("a".to_string(), inst("1.0"));
    observed.insert(
        "c".to_string(),
        Installed {
            version: "1.0".into(),
            installed: false,
            config_files: true,
        },
    );
    let mut cand = BTreeMap::new();
    cand.insert("a".to_string(), Some("2.0".to_string()));
    cand.insert("b".to_string(), Some("1.0".to_string()));
    let d = |w: &[&str], st: State, only: bool, purge: bool| {
        decide(&specs(w), st, only, purge, &observed, &cand).unwrap()
    };
    let di = |i: &[&str]| Decision {
        install: i.iter().map(|s| s.to_string()).collect(),
        remove: vec![],
    };
    let dr = |r: &[&str]| Decision {
        install: vec![],
        remove: r.iter().map(|s| s.to_string()).collect(),
    };
    // (wanted, state, only_upgrade, purge) → decision
    let table = [
        (d(&["a"], State::Present, false, false), di(&[])),
        (d(&["a", "b"], State::Present, false, false), di(&["b"])),
        (d(&["a=1.0"], State::Present, false, false), di(&[])),
        (d(&["a=1.*"], State::Present, false, false), di(&[])),
        (d(&["a=2.0"], State::Present, false, false), di(&["a=2.0"])),
        (d(&["b"], State::Present, true, false), di(&[])),
        (d(&["c"], State::Present, false, false), di(&["c"])),
        (d(&["a", "b"], State::Latest, false, false), di(&["a", "b"])),
        (d(&["b"], State::Latest, true, false), di(&[])),
        (d(&["a", "b"], State::Absent, false, false), dr(&["a"])),
        (d(&["c"], State::Absent, false, false), dr(&[])),
        (d(&["c"], State::Absent, false, true), dr(&["c"])),
        (d(&["a=2.0"], State::Absent, false, false), dr(&[])),
        (d(&["a=1.0"], State::Absent, false, false), dr(&["a"])),
    ];
    for (i, (got, want)) in table.into_iter().enumerate() {
        assert_eq!(got, want, "row {i}");
    }
    // latest with the candidate installed: nothing to do.
    cand.insert("a".to_string(), Some("1.0".to_string()));
    assert_eq!(
        decide(
            &specs(&["a"]),
            State::Latest,
            false,
            false,
            &observed,
            &cand
        )
        .unwrap(),
        di(&[])
    );
    assert!(decide(
        &specs(&["a=1"]),
        State::Latest,
        false,
        false,
        &observed,
        &cand
    )
    .unwrap_err()
    .msg
    .contains("inconsistent with state=latest"));
}

#[test]
fn globs() {
    assert!(glob("1.*", "1.0"));
    assert!(glob("*", ""));
    assert!(glob("1.0", "1.0"));
    assert!(!glob("1.*", "2.0"));
    assert!(glob("1.*-deb*", "1.2-debian3"));
}

#[test]
fn parses_simulation() {
    let out = "NOTE: This is only a simulation!\nInst drover-dep (1.0 localhost [all])\nInst drover-hello [1.0] (2.0 localhost [all])\nConf drover-dep (1.0 localhost [all])\nRemv old [3:1.2-1]\nPurg gone [2]\n";
    let c = parse_simulation(out);
    assert_eq!(c.len(), 4);
    assert_eq!(
        c[1],
        Change {
            action: "Inst".into(),
            name: "drover-hello".into(),
            old: Some("1.0".into()),
            new: Some("2.0".into()),
        }
    );
    assert_eq!(c[0].old, None);
    assert_eq!(c[2].old.as_deref(), Some("3:1.2-1"));
    let d = diff_of(&c);
    // Sorted by name, so a prediction and a real run list changes alike.
    assert_eq!(d.before, "drover-hello 1.0\ngone 2\nold 3:1.2-1\n");
    assert_eq!(d.after, "drover-dep 1.0\ndrover-hello 2.0\n");
    assert_eq!(
        summary(&c),
        "installed: drover-dep, drover-hello; removed: gone, old"
    );
}

#[test]
fn changes_from_dpkg_listings() {
    let before = parse_dpkg(
        "a\tinstall ok installed\t1\nb\tinstall ok installed\t1\nc\tinstall ok installed\t2\nd\tdeinstall ok config-files\t3\ne\tinstall ok installed\t4\nf\tinstall ok installed\t5\n",
    );
    let after = parse_dpkg(
        "a\tinstall ok installed\t1\nb\tinstall ok installed\t2\nc\tdeinstall ok config-files\t2\nd\tunknown ok not-installed\t\nf\tinstall ok installed\t5\nn\tinstall ok installed\t9\n",
    );
    let ch = |a: &str, n: &str, o: Option<&str>, v: Option<&str>| Change {
        action: a.into(),
        name: n.into(),
        old: o.map(str::to_string),
        new: v.map(str::to_string),
    };
    assert_eq!(
        dpkg_changes(&before, &after),
        vec![
            ch("Inst", "b", Some("1"), Some("2")),
            ch("Remv", "c", Some("2"), None),
            ch("Purg", "d", None, None),
            ch("Purg", "e", Some("4"), None),
            ch("Inst", "n", None, Some("9")),
        ]
    );
    assert!(dpkg_changes(&before, &before).is_empty());
}

#[test]
fn parses_dpkg_and_policy() {
    let d = parse_dpkg("a\tinstall ok installed\t1.0\nb\tdeinstall ok config-files\t2.0\n");
    assert!(d["a"].installed && !d["a"].config_files);
    assert!(!d["b"].installed && d["b"].config_files);
    let p = parse_policy(
        "a:\n  Installed: 1.0\n  Candidate: 2.0\n  Version table:\n *** 1.0 100\nb:\n  Installed: (none)\n  Candidate: (none)\n",
    );
    assert_eq!(p["a"].as_deref(), Some("2.0"));
    assert_eq!(p["b"], None);
}

#[test]
fn commands_quote_every_value() {
    let args = Args {
        map: [
            ("name".to_string(), Value::from("x;rm$(id)`id`")),
            ("default_release".to_string(), Value::from("a b")),
            ("install_recommends".to_string(), Value::from(false)),
        ]
        .into_iter()
        .collect(),
    };
    let req = Request::from_args(&args).unwrap();
    let words: Vec<String> = req.names.iter().map(|p| p.apt_arg()).collect();
    let c = req.apt_get(true, "install", &[], &words).text().to_string();
    assert!(c.contains(" -s "), "{c}");
    assert!(c.contains("'x;rm$(id)`id`'"), "{c}");
    assert!(c.contains("-t 'a b'"), "{c}");
    assert!(c.contains("--no-install-recommends"), "{c}");
    assert!(
        c.contains("-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold"),
        "{c}"
    );
}

#[test]
fn lock_retry_script_is_valid_sh() {
    let cmd = Script::new().raw("echo out; echo err >&2; false\n");
    let s = with_lock_retry(cmd, 0).text().to_string();
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("( {s} )"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");
}
