//! End to end on isolated Debian test hosts over SSH: the example roles converge as `deploy`
//! with sudo, state is checked inside each host, the second run changes nothing, check mode
//! predicts and changes nothing, and an unreachable host does not stop the others.

mod support;

use std::process::Command;
use support::hosts::TestHosts;

fn drover(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_drover"))
        .args(args)
        .env("NO_COLOR", "1")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run drover");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn recap_changed(out: &str, host: &str) -> Option<u32> {
    let line = out
        .lines()
        .find(|l| l.starts_with(host) && l.contains(" : ok="))?;
    line.split_whitespace()
        .find_map(|w| w.strip_prefix("changed="))
        .and_then(|v| v.parse().ok())
}

#[test]
fn example_roles_converge_on_test_hosts_as_deploy_with_sudo() {
    let Some(hosts) = TestHosts::up(3) else {
        return;
    };
    let inv = hosts.inventory("deploy", "");
    let kh = hosts.known_hosts();
    // The shipped runtime and app roles on the test group (no runtime package: the hosts have
    // no apt repository here; `tests/e2e_examples.rs` runs the playbooks with one).
    let pb = hosts.dir.path().join("site.yml");
    std::fs::write(
        &pb,
        format!(
            "- hosts: test\n  roles:\n    - {0}/roles/runtime\n    - {0}/roles/app\n",
            env!("CARGO_MANIFEST_DIR")
        ),
    )
    .unwrap();
    let args = [
        "play",
        "-i",
        inv.to_str().unwrap(),
        pb.to_str().unwrap(),
        "--known-hosts",
        kh.to_str().unwrap(),
        "--host-key-checking",
        "accept-new",
        "-b",
        "-e",
        r#"{"runtime_packages": [], "app_name": "hello", "app_env": "test"}"#,
    ];

    // Check mode on fresh hosts predicts the whole deploy (user, directories, release, init
    // script, service start) and creates nothing.
    let mut check_args = args.to_vec();
    check_args.push("--check");
    let (code, out, err) = drover(&check_args);
    assert_eq!(code, 0, "{out}{err}");
    let mut predicted = Vec::new();
    for i in 0..3 {
        assert!(
            !hosts.path(i, "/srv/app").exists() && !hosts.path(i, "/etc/init.d/hello").exists(),
            "check mode created files on host {i}"
        );
        let c = recap_changed(&out, &format!("h{i}")).unwrap();
        assert!(c >= 9, "h{i}: {out}");
        predicted.push(c);
    }

    let (code, out, err) = drover(&args);
    assert_eq!(code, 0, "{out}{err}");
    for (i, predicted) in predicted.iter().enumerate() {
        let conf = std::fs::read_to_string(hosts.path(i, "/srv/app/shared/app.conf")).unwrap();
        assert!(conf.contains("\nname = hello\nenv = test\n"), "{conf}");
        let (_, owner) = hosts.sh(
            i,
            "stat -c '%U:%G %a' /srv/app/shared/app.conf /srv/app/current/bin/server /srv/app/shared",
        );
        assert_eq!(owner, "root:app 640\nroot:root 755\napp:app 755\n");
        assert_eq!(
            std::fs::read_to_string(hosts.path(i, "/var/log/app/hello.service.log")).unwrap(),
            "start\nrestart\n",
            "started, then restarted by the handler on host {i}"
        );
        // Check mode predicted every change the real run made.
        assert_eq!(
            recap_changed(&out, &format!("h{i}")),
            Some(*predicted),
            "{out}"
        );
    }

    for extra in [None, Some("--check")] {
        let mut again = args.to_vec();
        again.extend(extra);
        let (code, out, _) = drover(&again);
        assert_eq!(code, 0);
        for i in 0..3 {
            assert_eq!(
                recap_changed(&out, &format!("h{i}")),
                Some(0),
                "{extra:?}: a second run must change nothing:\n{out}"
            );
        }
    }
}

#[test]
fn an_unreachable_host_does_not_stop_the_others() {
    let Some(hosts) = TestHosts::up(2) else {
        return;
    };
    let mut inv = std::fs::read_to_string(hosts.inventory("root", "")).unwrap();
    inv.push_str("dead ansible_host=127.0.0.1 ansible_port=1 ansible_user=root\n");
    let inv_path = hosts.dir.path().join("with-dead.ini");
    std::fs::write(&inv_path, inv).unwrap();
    let pb = hosts.dir.path().join("touch.yml");
    std::fs::write(&pb, "- hosts: test\n  gather_facts: false\n  tasks:\n    - file: path=/tmp/one state=touch\n    - file: path=/tmp/two state=touch\n").unwrap();
    let kh = hosts.known_hosts();
    let (code, out, err) = drover(&[
        "play",
        "-i",
        inv_path.to_str().unwrap(),
        pb.to_str().unwrap(),
        "--known-hosts",
        kh.to_str().unwrap(),
        "--host-key-checking",
        "accept-new",
    ]);
    assert_eq!(code, 4, "{out}{err}");
    assert!(out.contains("fatal: [dead]: UNREACHABLE!"), "{out}");
    for i in 0..2 {
        assert!(
            hosts.path(i, "/tmp/one").exists() && hosts.path(i, "/tmp/two").exists(),
            "host {i} finished its tasks"
        );
    }
}
