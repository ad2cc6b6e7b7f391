//! A fleet of 10 test hosts: one play installs a package from the local repository, creates a
//! user with an authorized key, and starts a service. It must change exactly those 10 hosts
//! (an 11th host in another group and the controller itself stay untouched), and a second run
//! must change nothing.

mod support;

use support::daemon::INIT_SCRIPT;
use support::hosts::TestHosts;
use support::{aptrepo, drover, recap, run, s, write};

const PLAY: &str = r#"- hosts: fleet
  become: true
  tasks:
    - name: Install the package
      apt:
        name: drover-hello=1.0
        update_cache: true
    - name: Create the user
      user:
        name: alice
        shell: /bin/bash
    - name: Authorize the user's key
      authorized_key:
        user: alice
        key: "{{ alice_key }}"
    - name: Install the init script
      copy:
        src: drover-echo
        dest: /etc/init.d/drover-echo
        mode: "0755"
    - name: Start the service
      service:
        name: drover-echo
        state: started
        enabled: true
"#;

fn controller_untouched() -> bool {
    let quiet = |cmd: &str| {
        std::process::Command::new("sh")
            .args(["-c", cmd])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    !quiet("dpkg-query -W drover-hello >/dev/null 2>&1")
        && !quiet("getent passwd alice >/dev/null")
        && !std::path::Path::new("/etc/init.d/drover-echo").exists()
}

#[test]
fn ten_hosts_converge_and_nothing_else_changes() {
    if !controller_untouched() {
        support::skip("the controller already has drover-hello, alice or drover-echo");
        return;
    }
    let Some(hosts) = TestHosts::up(11) else {
        return;
    };
    for i in 0..11 {
        aptrepo::install_into(&hosts, i, &["1.0"]);
    }
    // h0..h9 form the fleet; h10 sits in another group and must stay as it is.
    let inv_text = std::fs::read_to_string(hosts.inventory("deploy", "")).unwrap();
    let inv_text = inv_text
        .replace("[test]\n", "[fleet]\n")
        .replace("\nh10 ", "\n[other]\nh10 ");
    let dir = hosts.dir.path();
    let inv = write(dir, "fleet.ini", &inv_text);
    let pb = write(dir, "fleet.yml", PLAY);
    write(dir, "files/drover-echo", INIT_SCRIPT);
    let key = std::fs::read_to_string(hosts.key.with_extension("pub")).unwrap();
    let key = key.trim();
    let kh = hosts.known_hosts();
    let args = |check: bool| {
        let mut c = drover();
        c.args([
            "play",
            "-i",
            s(&inv),
            s(&pb),
            "--known-hosts",
            s(&kh),
            "--host-key-checking",
            "accept-new",
        ])
        .args(["-e", &format!("alice_key='{key}'")]);
        if check {
            c.arg("--check");
        }
        c
    };

    let (code, out, err) = run(&mut args(true));
    assert_eq!(code, 0, "{out}{err}");
    for i in 0..10 {
        assert_eq!(
            recap(&out, &format!("h{i}")).changed,
            5,
            "check mode predicts 5 changes on h{i}:\n{out}"
        );
        assert_eq!(
            aptrepo::installed(&hosts, i, "drover-hello"),
            None,
            "check mode installed on h{i}"
        );
    }

    let (code, out, err) = run(&mut args(false));
    assert_eq!(code, 0, "{out}{err}");
    assert!(!out.contains("[h10]"), "h10 is not in the play:\n{out}");
    for i in 0..10 {
        assert_eq!(recap(&out, &format!("h{i}")).changed, 5, "{out}");
        assert_eq!(
            aptrepo::installed(&hosts, i, "drover-hello").as_deref(),
            Some("1.0")
        );
        let (rc, passwd) = hosts.sh(i, "getent passwd alice");
        assert_eq!(rc, 0, "alice exists on h{i}");
        assert!(passwd.ends_with(":/home/alice:/bin/bash\n"), "{passwd}");
        let (_, keys) = hosts.sh(i, "stat -c '%U %a' /home/alice/.ssh /home/alice/.ssh/authorized_keys; cat /home/alice/.ssh/authorized_keys");
        assert_eq!(keys, format!("alice 700\nalice 600\n{key}\n"), "h{i}");
        let log =
            std::fs::read_to_string(hosts.path(i, "/var/log/drover-echo.log")).unwrap_or_default();
        assert_eq!(log, "start\n", "the service started once on h{i}");
        let (_, links) = hosts.sh(i, "ls /etc/rc2.d | grep -c 'S..drover-echo'");
        assert_eq!(links.trim(), "1", "enabled on h{i}");
    }
    assert_eq!(
        aptrepo::installed(&hosts, 10, "drover-hello"),
        None,
        "h10 untouched"
    );
    assert_eq!(hosts.sh(10, "getent passwd alice").0, 2, "h10 has no alice");
    assert!(
        !hosts.path(10, "/etc/init.d/drover-echo").exists(),
        "h10 untouched"
    );
    assert!(controller_untouched(), "the controller changed");

    let (code, out, _) = run(&mut args(false));
    assert_eq!(code, 0);
    for i in 0..10 {
        assert_eq!(
            recap(&out, &format!("h{i}")).changed,
            0,
            "second run changes nothing:\n{out}"
        );
    }
}

const SHARD_PLAY: &str = r#"- hosts: test
  tasks:
    - name: Record the shard
      shell: echo {{ shard }} >> /tmp/drover-shards
    - name: Fail on one host
      fail:
        msg: planned
      when: inventory_hostname == 'h5'
    - name: Wait
      command: sleep {{ pause | default(0) }}
"#;

/// Three shard processes over eight test hosts: each host runs in exactly one shard; `drover
/// report merge` of their streams gives the unsharded run's recap, JUnit counts and exit code;
/// a shard killed halfway, or one whose stream is not given, makes the merge say the run is
/// incomplete (exit 3).
#[test]
fn shards_cover_the_fleet_once_and_merge_into_its_recap() {
    let Some(hosts) = TestHosts::up(8) else {
        return;
    };
    let dir = hosts.dir.path();
    let inv = hosts.inventory("deploy", "");
    let pb = write(dir, "shards.yml", SHARD_PLAY);
    let kh = hosts.known_hosts();
    let play = |extra: &[&str]| {
        let mut c = drover();
        c.current_dir(dir)
            .args(["play", "-i", s(&inv), s(&pb), "--known-hosts", s(&kh)])
            .args(["--host-key-checking", "accept-new", "--output", "json"])
            .args(extra);
        c
    };
    let stream = |i: u32| dir.join(format!("shard-{i}.jsonl"));
    let spawn = |i: u32, extra: &[&str]| {
        let out = std::fs::File::create(stream(i)).unwrap();
        let shard = format!("{i}/3");
        play(&["--shard", &shard, "-e", &format!("shard={i}")])
            .args(extra)
            .stdout(out)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let shards: Vec<_> = (0..3).map(|i| spawn(i, &[])).collect();
    let codes: Vec<i32> = shards
        .into_iter()
        .map(|mut c| c.wait().unwrap().code().unwrap_or(-1))
        .collect();
    assert_eq!(codes.iter().filter(|c| **c == 2).count(), 1, "{codes:?}");
    assert!(codes.iter().all(|c| [0, 2].contains(c)), "{codes:?}");
    // Every host ran once, in one shard, and every shard had hosts.
    let mut per_shard = [0; 3];
    for i in 0..8 {
        let (rc, ran) = hosts.sh(i, "cat /tmp/drover-shards");
        assert_eq!(rc, 0, "h{i} never ran");
        let lines: Vec<&str> = ran.lines().collect();
        assert_eq!(lines.len(), 1, "h{i} ran in shards {lines:?}");
        per_shard[lines[0].parse::<usize>().unwrap()] += 1;
    }
    assert!(per_shard.iter().all(|n| *n > 0), "{per_shard:?}");

    let merge = |files: &[std::path::PathBuf], extra: &[&str]| {
        let mut c = drover();
        c.current_dir(dir).args(["report", "merge"]).args(extra);
        c.args(files.iter().map(|f| s(f)));
        run(&mut c)
    };
    let all: Vec<_> = (0..3).map(stream).collect();
    let junit = dir.join("merged.xml");
    let (code, out, err) = merge(&all, &["--output", "json", "--junit", s(&junit)]);
    assert_eq!(code, 2, "a host failed: {out}{err}");
    let merged: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(merged["complete"], true, "{out}");

    // The same play unsharded on the same fleet: the same recap, exit code and JUnit counts.
    let whole_junit = dir.join("whole.xml");
    let (code, out, err) = run(&mut play(&["-e", "shard=all", "--junit", s(&whole_junit)]));
    assert_eq!(code, 2, "{out}{err}");
    let recap = out
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["event"] == "recap")
        .unwrap();
    assert_eq!(merged["hosts"], recap["hosts"]);
    assert_eq!(recap["hosts"]["h5"]["failed"], 1, "{recap}");
    let counts = |p: &std::path::Path| {
        let xml = std::fs::read_to_string(p).unwrap();
        let head = xml.lines().nth(1).unwrap().to_string();
        head.split(" time=").next().unwrap().to_string()
    };
    assert_eq!(counts(&junit), counts(&whole_junit));
    assert!(
        counts(&junit).contains("failures=\"1\""),
        "{}",
        counts(&junit)
    );

    // Shard 1 killed while its hosts sleep: its stream is cut short.
    let mut slow = spawn(1, &["-e", "pause=120"]);
    let started = std::time::Instant::now();
    while !std::fs::read_to_string(stream(1))
        .unwrap_or_default()
        .contains("\"name\":\"Wait\"")
    {
        assert!(
            started.elapsed().as_secs() < 60,
            "shard 1 never reached Wait"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    slow.kill().unwrap();
    slow.wait().unwrap();
    let (code, out, err) = merge(&all, &[]);
    assert_eq!(code, 3, "{out}{err}");
    assert!(
        out.contains("shard-1.jsonl): cut short: it stops after event")
            && err.contains("the run is incomplete: no whole stream for shard 1/3"),
        "{out}{err}"
    );
    // The recap still holds the hosts of the whole shards.
    assert!(out.contains("PLAY RECAP"), "{out}");
    // A shard whose stream is not given at all.
    let (code, out, err) = merge(&all[..2], &["--output", "json"]);
    assert_eq!(code, 3, "{out}{err}");
    let m: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(m["complete"], false);
    assert_eq!(m["shards"][2]["state"], "missing", "{out}");
    assert_eq!(m["shards"][1]["state"], "truncated", "{out}");
}
