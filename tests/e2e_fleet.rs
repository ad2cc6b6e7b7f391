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
