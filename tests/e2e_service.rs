//! End to end for `service` (and `systemd`) on isolated Debian test hosts: an LSB init script
//! for a tiny daemon is installed from the test, then started/enabled, checked for
//! idempotence, predicted in check mode, stopped, restarted, reloaded, disabled, and restarted
//! by a handler only on the hosts whose config file changed; `service_facts` following it, and
//! `hostname` and `timezone` on a sysvinit and a systemd-booted host.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use support::daemon::INIT_SCRIPT;
use support::hosts::TestHosts;
use support::{drover, recap, run, s, write, Recap};

fn install_script(hosts: &TestHosts, i: usize) {
    let p = hosts.path(i, "/etc/init.d/drover-echo");
    std::fs::write(&p, INIT_SCRIPT).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Runs a playbook on the test hosts as `deploy` with sudo.
fn play(hosts: &TestHosts, name: &str, yaml: &str, extra: &[&str]) -> (i32, String, String) {
    let pb = write(hosts.dir.path(), name, yaml);
    let inv = hosts.inventory("deploy", "");
    let kh = hosts.known_hosts();
    let mut cmd = drover();
    cmd.args(["play", "-i", s(&inv), s(&pb), "--known-hosts", s(&kh)])
        .args(["--host-key-checking", "accept-new", "-b"])
        .args(extra)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    run(&mut cmd)
}

/// One task on every host, without facts; returns (exit code, output, each host's recap).
fn task(hosts: &TestHosts, yaml_task: &str, extra: &[&str]) -> (i32, String, Vec<Recap>) {
    let pb = format!("- hosts: test\n  gather_facts: false\n  tasks:\n    - {yaml_task}\n");
    let (code, out, err) = play(hosts, "task.yml", &pb, extra);
    let r = (0..hosts.hosts.len())
        .map(|i| recap(&out, &format!("h{i}")))
        .collect();
    (code, format!("{out}{err}"), r)
}

/// Whether the daemon's loop runs on each host, asked over SSH (the host's processes are not
/// visible from outside its pid namespace). Asks again for a few seconds while the answer
/// differs from `expect`, since a daemon may take a moment to start or stop.
fn daemon_alive(hosts: &TestHosts, expect: &[bool]) -> Vec<bool> {
    let mut got = Vec::new();
    for _ in 0..10 {
        let (_, _, r) = task(
            hosts,
            "shell: \"pgrep -f 'drover-echo[.]beat' && test -s /run/drover-echo.pid && kill -0 $(cat /run/drover-echo.pid)\"\n      changed_when: false\n      ignore_errors: true",
            &[],
        );
        got = r.iter().map(|x| x.failed == 0 && x.ignored == 0).collect();
        if got == expect {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    got
}

fn rc_links(hosts: &TestHosts, i: usize, dir: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(hosts.path(i, dir))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.len() > 3 && &n[3..] == "drover-echo")
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn log(hosts: &TestHosts, i: usize) -> String {
    std::fs::read_to_string(hosts.path(i, "/var/log/drover-echo.log")).unwrap_or_default()
}

#[test]
fn sysv_service_lifecycle_on_a_tini_host() {
    let Some(hosts) = TestHosts::up(1) else {
        return;
    };
    install_script(&hosts, 0);
    let start = "service: name=drover-echo state=started enabled=yes";

    // Check mode predicts the change and touches nothing.
    let (code, out, r) = task(&hosts, start, &["--check"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(r[0].changed, 1, "{out}");
    assert_eq!(log(&hosts, 0), "", "check mode ran the init script");
    assert!(rc_links(&hosts, 0, "/etc/rc2.d").is_empty());
    assert_eq!(daemon_alive(&hosts, &[false]), [false]);

    // The first run starts and enables it (with gathered facts: service_mgr names PID 1,
    // `tini`, as Ansible's does; the module drives the init scripts for it).
    let pb = format!("- hosts: test\n  tasks:\n    - {start}\n      register: svc\n    - assert:\n        that:\n          - ansible_facts.service_mgr == 'tini'\n          - svc.state == 'started'\n          - svc.enabled\n          - svc.name == 'drover-echo'\n");
    let (code, out, err) = play(&hosts, "start.yml", &pb, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(recap(&out, "h0").changed, 1, "{out}");
    assert_eq!(log(&hosts, 0), "start\n");
    let links = rc_links(&hosts, 0, "/etc/rc2.d");
    assert_eq!(links.len(), 1, "{links:?}");
    assert!(links[0].starts_with('S'), "{links:?}");
    assert_eq!(rc_links(&hosts, 0, "/etc/rc5.d").len(), 1);
    assert_eq!(daemon_alive(&hosts, &[true]), [true]);

    // The second run changes nothing; neither does check mode now.
    let (code, out, r) = task(&hosts, start, &[]);
    assert_eq!((code, r[0].changed), (0, 0), "{out}");
    let (code, out, r) = task(&hosts, start, &["--check"]);
    assert_eq!((code, r[0].changed), (0, 0), "{out}");

    // Stopped: changes once, then not; check mode on a running service predicts, stops nothing.
    let stop = "service: name=drover-echo state=stopped";
    let (code, out, r) = task(&hosts, stop, &["--check"]);
    assert_eq!((code, r[0].changed), (0, 1), "{out}");
    assert_eq!(daemon_alive(&hosts, &[true]), [true]);
    let (code, out, r) = task(&hosts, stop, &[]);
    assert_eq!((code, r[0].changed), (0, 1), "{out}");
    assert_eq!(daemon_alive(&hosts, &[false]), [false]);
    let (code, out, r) = task(&hosts, stop, &[]);
    assert_eq!((code, r[0].changed), (0, 0), "{out}");
    assert_eq!(log(&hosts, 0), "start\nstop\n");

    // Restarted always changes, running or not.
    for _ in 0..2 {
        let (code, out, r) = task(&hosts, "service: name=drover-echo state=restarted", &[]);
        assert_eq!((code, r[0].changed), (0, 1), "{out}");
        assert_eq!(daemon_alive(&hosts, &[true]), [true]);
    }
    assert_eq!(log(&hosts, 0), "start\nstop\nrestart\nrestart\n");

    // Reloaded always changes: reload when running.
    let (code, out, r) = task(&hosts, "service: name=drover-echo state=reloaded", &[]);
    assert_eq!((code, r[0].changed), (0, 1), "{out}");
    assert!(hosts.path(0, "/var/log/drover-echo.reloaded").exists());
    assert_eq!(daemon_alive(&hosts, &[true]), [true]);

    // With `pattern`, the process table decides whether it runs.
    let (code, out, r) = task(
        &hosts,
        "service: name=drover-echo state=started pattern=drover-echo.beat",
        &[],
    );
    assert_eq!((code, r[0].changed), (0, 0), "{out}");
    let (code, out, r) = task(
        &hosts,
        "service: name=drover-echo state=stopped pattern=no-such-process-xyz",
        &["--check"],
    );
    assert_eq!((code, r[0].changed), (0, 0), "{out}");

    // Disabling removes the start links and keeps the stop links; then idempotent.
    let (code, out, r) = task(&hosts, "service: name=drover-echo enabled=no", &[]);
    assert_eq!((code, r[0].changed), (0, 1), "{out}");
    let links = rc_links(&hosts, 0, "/etc/rc2.d");
    assert!(links.iter().all(|l| l.starts_with('K')), "{links:?}");
    let (code, out, r) = task(&hosts, "service: name=drover-echo enabled=no", &[]);
    assert_eq!((code, r[0].changed), (0, 0), "{out}");
    // Re-enabling puts the start link back.
    let (code, out, r) = task(&hosts, "service: name=drover-echo enabled=true", &[]);
    assert_eq!((code, r[0].changed), (0, 1), "{out}");
    assert!(rc_links(&hosts, 0, "/etc/rc2.d")[0].starts_with('S'));

    // A service without an init script fails with a clear message.
    let (code, out, r) = task(&hosts, "service: name=no-such-svc state=started", &[]);
    assert_ne!(code, 0, "{out}");
    assert_eq!(r[0].failed, 1, "{out}");
    assert!(out.contains("/etc/init.d/no-such-svc"), "{out}");
}

#[test]
fn a_handler_restarts_the_service_only_where_the_file_changed() {
    let Some(hosts) = TestHosts::up(2) else {
        return;
    };
    for i in 0..2 {
        install_script(&hosts, i);
    }
    // Host 0 already has the file as the play wants it; host 1 does not.
    std::fs::write(hosts.path(0, "/etc/drover-echo.conf"), "port=7\n").unwrap();
    let pb = "- hosts: test\n  gather_facts: false\n  tasks:\n    - service: name=drover-echo state=started\n    - copy:\n        content: \"port=7\\n\"\n        dest: /etc/drover-echo.conf\n      notify: restart echo\n  handlers:\n    - name: restart echo\n      service: name=drover-echo state=restarted\n";
    let (code, out, err) = play(&hosts, "handler.yml", pb, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(recap(&out, "h0").changed, 1, "{out}");
    assert_eq!(recap(&out, "h1").changed, 3, "{out}");
    assert!(!hosts.path(0, "/var/log/drover-echo.restarted").exists());
    assert!(hosts.path(1, "/var/log/drover-echo.restarted").exists());
    assert_eq!(log(&hosts, 0), "start\n");
    assert_eq!(log(&hosts, 1), "start\nrestart\n");
    assert_eq!(daemon_alive(&hosts, &[true, true]), [true, true]);

    // Converged: nothing changes, no handler runs.
    let (code, out, _) = play(&hosts, "handler.yml", pb, &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(recap(&out, "h0").changed, 0, "{out}");
    assert_eq!(recap(&out, "h1").changed, 0, "{out}");
    assert_eq!(log(&hosts, 1), "start\nrestart\n");
}

/// The same daemon as a systemd unit (systemd turns `$$` into `$`). `forking`: `systemctl
/// start` returns once the pid file is written and the start is logged.
const UNIT: &str = "[Unit]
Description=drover test daemon

[Service]
Type=forking
PIDFile=/run/drover-echo.pid
ExecStartPre=/bin/sh -c 'echo start >> /var/log/drover-echo.log'
ExecStart=/bin/sh -c 'while :; do date > /run/drover-echo.beat; sleep 1; done </dev/null >/dev/null 2>&1 & echo $$! > /run/drover-echo.pid'
ExecReload=/bin/sh -c 'echo reload >> /var/log/drover-echo.log; touch /var/log/drover-echo.reloaded'

[Install]
WantedBy=multi-user.target
";

#[test]
fn systemd_and_service_on_a_systemd_host() {
    let Some(hosts) = TestHosts::up_systemd(1, &[]) else {
        return;
    };
    let unit = hosts.path(0, "/usr/lib/systemd/system/drover-echo.service");
    std::fs::write(&unit, UNIT).unwrap();
    let wants = hosts.path(
        0,
        "/etc/systemd/system/multi-user.target.wants/drover-echo.service",
    );
    let start = "systemd: name=drover-echo state=started enabled=yes daemon_reload=yes";

    let (code, out, r) = task(&hosts, start, &["--check"]);
    assert_eq!((code, r[0].changed), (0, 1), "{out}");
    assert_eq!(log(&hosts, 0), "");
    assert!(!wants.exists());

    let (code, out, r) = task(&hosts, start, &[]);
    assert_eq!((code, r[0].changed), (0, 1), "{out}");
    assert_eq!(log(&hosts, 0), "start\n");
    assert!(std::fs::symlink_metadata(&wants).is_ok(), "not enabled");
    assert_eq!(daemon_alive(&hosts, &[true]), [true]);

    // Idempotent, and the result carries Ansible's keys.
    let pb = format!("- hosts: test\n  tasks:\n    - {start}\n      register: u\n    - assert:\n        that:\n          - ansible_facts.service_mgr == 'systemd'\n          - u is not changed\n          - u.name == 'drover-echo'\n          - u.state == 'started'\n          - u.enabled\n          - u.status.ActiveState == 'active'\n          - u.status.UnitFileState == 'enabled'\n");
    let (code, out, err) = play(&hosts, "again.yml", &pb, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(recap(&out, "h0").changed, 0, "{out}");

    // `service` dispatches to systemd (facts gathered, or probed without them).
    let pb = "- hosts: test\n  tasks:\n    - service: name=drover-echo state=restarted\n";
    let (code, out, err) = play(&hosts, "restart.yml", pb, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(recap(&out, "h0").changed, 1, "{out}");
    assert_eq!(log(&hosts, 0), "start\nstart\n");
    let (code, out, r) = task(&hosts, "service: name=drover-echo state=reloaded", &[]);
    assert_eq!((code, r[0].changed), (0, 1), "{out}");
    assert!(hosts.path(0, "/var/log/drover-echo.reloaded").exists());
    assert_eq!(daemon_alive(&hosts, &[true]), [true]);

    let stop = "service: name=drover-echo state=stopped enabled=no";
    let (code, out, r) = task(&hosts, stop, &[]);
    assert_eq!((code, r[0].changed), (0, 1), "{out}");
    assert_eq!(daemon_alive(&hosts, &[false]), [false]);
    assert!(std::fs::symlink_metadata(&wants).is_err(), "still enabled");
    let (code, out, r) = task(&hosts, stop, &[]);
    assert_eq!((code, r[0].changed), (0, 0), "{out}");

    // Masking and unmasking.
    let masked = hosts.path(0, "/etc/systemd/system/drover-echo.service");
    let (code, out, r) = task(&hosts, "systemd_service: name=drover-echo masked=yes", &[]);
    assert_eq!((code, r[0].changed), (0, 1), "{out}");
    assert_eq!(
        std::fs::read_link(&masked).ok().as_deref(),
        Some(Path::new("/dev/null"))
    );
    let (code, out, r) = task(
        &hosts,
        "ansible.builtin.systemd: name=drover-echo masked=yes",
        &[],
    );
    assert_eq!((code, r[0].changed), (0, 0), "{out}");
    let (code, out, r) = task(
        &hosts,
        "systemd: name=drover-echo masked=no state=started",
        &[],
    );
    assert_eq!((code, r[0].changed), (0, 1), "{out}");
    assert!(std::fs::symlink_metadata(&masked).is_err());
    assert_eq!(daemon_alive(&hosts, &[true]), [true]);

    // A unit that does not exist fails like Ansible.
    let (code, out, r) = task(&hosts, "systemd: name=no-such-unit state=started", &[]);
    assert_ne!(code, 0, "{out}");
    assert_eq!(r[0].failed, 1, "{out}");
    assert!(
        out.contains("Could not find the requested service no-such-unit"),
        "{out}"
    );
}

/// `hostname` on a sysvinit host (`/etc/hostname` and the running name) and on a systemd host
/// (`hostnamectl`): check mode predicts and changes nothing, the second run changes nothing,
/// the name facts follow.
#[test]
fn hostname_on_sysvinit_and_systemd_hosts() {
    const PB: &str = r#"- hosts: test
  gather_facts: false
  tasks:
    - hostname: {name: web-01.example.org}
      register: hn
    - command: hostname
      register: running
      changed_when: false
      check_mode: false
    - copy:
        dest: /root/hostname.report
        content: "{{ running.stdout }} {{ ansible_hostname }} {{ ansible_nodename }}"
      when: not ansible_check_mode
    - assert:
        that: hn is not changed or hn.diff.after == 'hostname = web-01.example.org\n'
"#;
    for systemd in [false, true] {
        let hosts = if systemd {
            TestHosts::up_systemd(1, &[])
        } else {
            TestHosts::up(1)
        };
        let Some(hosts) = hosts else {
            return;
        };
        let etc = hosts.path(0, "/etc/hostname");
        let before = std::fs::read_to_string(&etc).unwrap_or_default();
        let (code, out, err) = play(&hosts, "hn.yml", PB, &["--check"]);
        assert_eq!(code, 0, "{out}{err}");
        assert_eq!(recap(&out, "h0").changed, 1, "{systemd}: {out}");
        assert_eq!(std::fs::read_to_string(&etc).unwrap_or_default(), before);
        let (code, out, err) = play(&hosts, "hn.yml", PB, &[]);
        assert_eq!(code, 0, "{out}{err}");
        assert_eq!(recap(&out, "h0").changed, 2, "{systemd}: {out}");
        assert_eq!(
            std::fs::read_to_string(&etc).unwrap(),
            "web-01.example.org\n"
        );
        assert_eq!(
            std::fs::read_to_string(hosts.path(0, "/root/hostname.report")).unwrap(),
            "web-01.example.org web-01 web-01.example.org"
        );
        for extra in [&[][..], &["--check"][..]] {
            let (code, out, err) = play(&hosts, "hn.yml", PB, extra);
            assert_eq!(code, 0, "{out}{err}");
            assert_eq!(recap(&out, "h0").changed, 0, "{systemd} {extra:?}: {out}");
        }
    }
}

/// `service_facts` on a sysvinit host: an init script's state as `service --status-all` shows
/// it, before and after it starts.
#[test]
fn service_facts_follow_an_init_script() {
    let Some(hosts) = TestHosts::up(1) else {
        return;
    };
    install_script(&hosts, 0);
    const PB: &str = r#"- hosts: test
  gather_facts: false
  tasks:
    - service_facts:
    - copy: {dest: /root/before, content: "{{ ansible_facts.services['drover-echo'] | to_json }}"}
    - service: {name: drover-echo, state: started}
    - service_facts:
    - copy: {dest: /root/after, content: "{{ services['drover-echo'].state }}"}
"#;
    let (code, out, err) = play(&hosts, "sf.yml", PB, &[]);
    assert_eq!(code, 0, "{out}{err}");
    let read = |p: &str| std::fs::read_to_string(hosts.path(0, p)).unwrap();
    assert_eq!(
        read("/root/before"),
        r#"{"name": "drover-echo", "state": "stopped", "source": "sysv"}"#
    );
    assert_eq!(read("/root/after"), "running");
}

/// `community.general.timezone` on a sysvinit host (`/etc/timezone`, `/etc/localtime`,
/// `dpkg-reconfigure tzdata`) and on a systemd host (`timedatectl`).
#[test]
fn timezone_on_sysvinit_and_systemd_hosts() {
    const PB: &str = r#"- hosts: test
  gather_facts: false
  tasks:
    - community.general.timezone: {name: Europe/Paris}
      register: tz
    - command: date +%Z
      register: zone
      changed_when: false
      check_mode: false
    - copy: {dest: /root/tz.report, content: "{{ tz.diff.before.name }} {{ tz.diff.after.name }} {{ zone.stdout }}"}
      when: tz is changed and not ansible_check_mode
"#;
    for systemd in [false, true] {
        let hosts = if systemd {
            TestHosts::up_systemd(1, &[])
        } else {
            TestHosts::up(1)
        };
        let Some(hosts) = hosts else {
            return;
        };
        let (code, out, err) = play(&hosts, "tz.yml", PB, &["--check"]);
        assert_eq!(code, 0, "{out}{err}");
        assert_eq!(recap(&out, "h0").changed, 1, "{systemd}: {out}");
        let link = || std::fs::read_link(hosts.path(0, "/etc/localtime")).unwrap_or_default();
        assert!(
            !link().to_string_lossy().contains("Paris"),
            "check mode changed it"
        );
        let (code, out, err) = play(&hosts, "tz.yml", PB, &[]);
        assert_eq!(code, 0, "{out}{err}");
        assert_eq!(recap(&out, "h0").changed, 2, "{systemd}: {out}");
        assert!(
            link().to_string_lossy().ends_with("zoneinfo/Europe/Paris"),
            "{:?}",
            link()
        );
        let report = std::fs::read_to_string(hosts.path(0, "/root/tz.report")).unwrap();
        assert!(
            report.starts_with("Etc/UTC Europe/Paris CE"),
            "{systemd}: {report}"
        );
        if !systemd {
            assert_eq!(
                std::fs::read_to_string(hosts.path(0, "/etc/timezone")).unwrap(),
                "Europe/Paris\n"
            );
        }
        for extra in [&[][..], &["--check"][..]] {
            let (code, out, err) = play(&hosts, "tz.yml", PB, extra);
            assert_eq!(code, 0, "{out}{err}");
            assert_eq!(recap(&out, "h0").changed, 0, "{systemd} {extra:?}: {out}");
        }
    }
}

/// `reboot` on a systemd-booted host (its harness starts the container again when it
/// reboots, as systemd-nspawn@.service does): check mode reboots nothing; a real run returns
/// once the host is back (a new PID 1, the boot check given as `boot_time_command`, since a
/// container shares the kernel's boot id) and a task after it runs on the new boot; a
/// shutdown command that is nowhere fails with Ansible's message.
#[test]
fn reboot_waits_for_a_systemd_host_to_come_back() {
    let Some(hosts) = TestHosts::up_systemd(1, &[]) else {
        return;
    };
    let started = || {
        let (code, out, _) = task(
            &hosts,
            "command: awk '{print $22}' /proc/1/stat\n      register: b\n    - copy: {dest: /root/boot, content: \"{{ b.stdout }}\"}",
            &[],
        );
        assert_eq!(code, 0, "{out}");
        std::fs::read_to_string(hosts.path(0, "/root/boot")).unwrap()
    };
    let first = started();
    let pb = "- hosts: test\n  gather_facts: false\n  tasks:\n    - reboot: {boot_time_command: \"awk '{print $22}' /proc/1/stat\", reboot_timeout: 120, msg: \"drover's test\"}\n      register: r\n    - command: systemctl is-system-running --wait\n      changed_when: false\n      failed_when: false\n    - copy: {dest: /root/rebooted, content: \"{{ r.rebooted }} {{ r.elapsed is number }}\"}\n";
    let (code, out, err) = play(&hosts, "reboot.yml", pb, &["--check"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(recap(&out, "h0").changed, 2, "{out}");
    assert_eq!(started(), first, "check mode rebooted the host");
    let (code, out, err) = play(&hosts, "reboot.yml", pb, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(recap(&out, "h0").changed, 2, "{out}");
    assert_eq!(
        std::fs::read_to_string(hosts.path(0, "/root/rebooted")).unwrap(),
        "True True"
    );
    assert_ne!(started(), first, "PID 1 is the same: no reboot");

    let (code, out, _) = task(&hosts, "reboot: {search_paths: [/nowhere]}", &[]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("Unable to find command \\\"shutdown\\\" in search paths: ['/nowhere']"),
        "{out}"
    );
}

/// `systemd` with `scope: global` (a user unit enabled for every user, read back with
/// `systemctl --global is-enabled`) and `scope: user` (the unit started in `deploy`'s own
/// service manager, which lingering starts), check mode predicting and changing nothing, the
/// second run changing nothing.
#[test]
fn systemd_global_and_user_scopes() {
    let Some(hosts) = TestHosts::up_systemd(1, &[]) else {
        return;
    };
    std::fs::create_dir_all(hosts.path(0, "/etc/systemd/user")).unwrap();
    std::fs::write(
        hosts.path(0, "/etc/systemd/user/drover-u.service"),
        "[Unit]\nDescription=drover user unit\n[Service]\nExecStart=/bin/sleep 1000\n[Install]\nWantedBy=default.target\n",
    )
    .unwrap();
    let global = "systemd: {name: drover-u.service, enabled: true, scope: global}";
    // The link itself (its target is a path inside the host).
    let wanted = || {
        hosts
            .path(0, "/etc/systemd/user/default.target.wants/drover-u.service")
            .symlink_metadata()
            .is_ok()
    };
    let (code, out, r) = task(&hosts, global, &["--check"]);
    assert_eq!((code, r[0].changed), (0, 1), "{out}");
    assert!(!wanted(), "check mode enabled the unit");
    let (code, out, r) = task(&hosts, global, &[]);
    assert_eq!((code, r[0].changed), (0, 1), "{out}");
    assert!(wanted());
    for extra in [&[][..], &["--check"][..]] {
        let (code, out, r) = task(&hosts, global, extra);
        assert_eq!((code, r[0].changed), (0, 0), "{extra:?}: {out}");
    }

    // deploy's own manager, started by lingering; the unit is enabled for it by the above.
    let (code, out, _) = task(
        &hosts,
        "shell: loginctl enable-linger deploy; for i in $(seq 100); do if test -S /run/user/1000/systemd/private; then break; fi; sleep 0.1; done; test -S /run/user/1000/systemd/private",
        &[],
    );
    assert_eq!(code, 0, "{out}");
    let user =
        "systemd: {name: drover-u.service, state: stopped, scope: user}\n      become: false";
    let (code, out, r) = task(&hosts, user, &["--check"]);
    assert_eq!((code, r[0].changed), (0, 1), "{out}");
    let (code, out, r) = task(&hosts, user, &[]);
    assert_eq!((code, r[0].changed), (0, 1), "{out}");
    let active = "command: systemctl --user is-active drover-u.service\n      become: false\n      environment: {XDG_RUNTIME_DIR: /run/user/1000}";
    let (code, out, _) = task(&hosts, active, &[]);
    assert_eq!(code, 2, "the unit is still active: {out}");
    for extra in [&[][..], &["--check"][..]] {
        let (code, out, r) = task(&hosts, user, extra);
        assert_eq!((code, r[0].changed), (0, 0), "{extra:?}: {out}");
    }
}
