//! System modules on a test host: `mount` (a tmpfs in the host's own mount namespace),
//! `sysctl` (a key of the host's own namespace), `pam_limits`, `pamd`,
//! `debconf`
//! answers (read back with the host's
//! `debconf-get-selections`), `cron` in root's and another user's crontab and in a cron file
//! (read back with the host's `crontab -l`); check mode predicting and changing nothing, the
//! second run changing nothing, removal.

use super::{play_on, recap_changed, TestHosts};

#[test]
fn cron_jobs_and_variables_in_crontabs_and_cron_files() {
    let Some(hosts) = TestHosts::up(1) else {
        return;
    };
    let pb = hosts.dir.path().join("cron.yml");
    std::fs::write(
        &pb,
        r#"- hosts: test
  gather_facts: false
  tasks:
    - cron: {name: backup, minute: "5", hour: "2", job: /usr/local/bin/backup}
    - cron: {name: MAILTO, env: true, job: ops@example.org}
    - cron: {name: report, special_time: weekly, job: /usr/local/bin/report, user: deploy}
    - cron: {name: rotate, cron_file: rotate-logs, user: root, minute: "*/10", job: /usr/sbin/logrotate /etc/logrotate.conf}
"#,
    )
    .unwrap();
    let tab = |user: &str| hosts.sh(0, &format!("crontab -u {user} -l 2>&1"));
    let (code, out) = play_on(&hosts, "deploy", &pb, &["-b", "--check"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(recap_changed(&out, "h0"), Some(4), "{out}");
    assert_ne!(tab("root").0, 0, "check mode wrote a crontab");
    assert!(!hosts.path(0, "/etc/cron.d/rotate-logs").exists());
    let (code, out) = play_on(&hosts, "deploy", &pb, &["-b"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(recap_changed(&out, "h0"), Some(4), "{out}");
    assert_eq!(
        tab("root").1,
        "MAILTO=\"ops@example.org\"\n#Ansible: backup\n5 2 * * * /usr/local/bin/backup\n"
    );
    assert_eq!(
        tab("deploy").1,
        "#Ansible: report\n@weekly /usr/local/bin/report\n"
    );
    let file = hosts.path(0, "/etc/cron.d/rotate-logs");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "#Ansible: rotate\n*/10 * * * * root /usr/sbin/logrotate /etc/logrotate.conf\n"
    );
    assert_eq!(
        hosts.sh(0, "stat -c '%U %a' /etc/cron.d/rotate-logs").1,
        "root 644\n"
    );
    for extra in [&["-b"][..], &["-b", "--check"][..]] {
        let (code, out) = play_on(&hosts, "deploy", &pb, extra);
        assert_eq!(code, 0, "{out}");
        assert_eq!(recap_changed(&out, "h0"), Some(0), "{extra:?}: {out}");
    }
    // Removal: the job and the variable leave the crontab, the cron file goes with its job.
    let rm = hosts.dir.path().join("cron-rm.yml");
    std::fs::write(
        &rm,
        r#"- hosts: test
  gather_facts: false
  tasks:
    - cron: {name: backup, state: absent}
    - cron: {name: MAILTO, env: true, state: absent}
    - cron: {name: rotate, cron_file: rotate-logs, state: absent}
"#,
    )
    .unwrap();
    let (code, out) = play_on(&hosts, "deploy", &rm, &["-b"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(recap_changed(&out, "h0"), Some(3), "{out}");
    assert_eq!(tab("root").1, "");
    assert!(!file.exists());
    let (code, out) = play_on(&hosts, "deploy", &rm, &["-b"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(recap_changed(&out, "h0"), Some(0), "{out}");
}

#[test]
fn debconf_answers_are_set_once_and_read_back() {
    let Some(hosts) = TestHosts::up(1) else {
        return;
    };
    let pb = hosts.dir.path().join("debconf.yml");
    std::fs::write(
        &pb,
        r#"- hosts: test
  gather_facts: false
  tasks:
    - debconf: {name: drover-demo, question: drover-demo/colour, vtype: string, value: "blue; rm -rf /"}
    - debconf: {name: drover-demo, question: drover-demo/secret, vtype: password, value: "s3cr'et"}
      no_log: true
    - debconf: {name: drover-demo, question: drover-demo/modules, vtype: multiselect, value: [b, a]}
    - debconf: {name: tzdata}
      register: tz
    - copy: {dest: /root/tz, content: "{{ tz.current['tzdata/Zones/Etc'] }}"}
"#,
    )
    .unwrap();
    let (code, out) = play_on(&hosts, "deploy", &pb, &["-b", "--check"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(recap_changed(&out, "h0"), Some(4), "{out}");
    assert_eq!(
        hosts
            .sh(0, "debconf-get-selections | grep -c drover-demo")
            .1,
        "0\n"
    );
    let (code, out) = play_on(&hosts, "deploy", &pb, &["-b"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(recap_changed(&out, "h0"), Some(4), "{out}");
    let (_, sel) = hosts.sh(0, "debconf-get-selections | grep drover-demo | sort");
    assert_eq!(
        sel,
        "drover-demo\tdrover-demo/colour\tstring\tblue; rm -rf /\ndrover-demo\tdrover-demo/modules\tmultiselect\tb, a\ndrover-demo\tdrover-demo/secret\tpassword\ts3cr'et\n"
    );
    assert_eq!(
        std::fs::read_to_string(hosts.path(0, "/root/tz")).unwrap(),
        "UTC"
    );
    for extra in [&["-b"][..], &["-b", "--check"][..]] {
        let (code, out) = play_on(&hosts, "deploy", &pb, extra);
        assert_eq!(code, 0, "{out}");
        assert_eq!(recap_changed(&out, "h0"), Some(0), "{extra:?}: {out}");
    }
}

/// `sysctl` with a key of the host's own UTS namespace (`kernel.domainname`), so that
/// `sysctl -w` and `sysctl -p` change the test host and never the machine running the tests.
#[test]
fn sysctl_sets_a_namespaced_key_and_its_file() {
    let Some(hosts) = TestHosts::up(1) else {
        return;
    };
    let pb = hosts.dir.path().join("sysctl.yml");
    std::fs::write(
        &pb,
        r#"- hosts: test
  gather_facts: false
  tasks:
    - ansible.posix.sysctl: {name: kernel.domainname, value: drover.test, sysctl_file: /etc/sysctl.d/90-drover.conf, sysctl_set: true}
    - command: sysctl -n kernel.domainname
      register: now
      changed_when: false
      check_mode: false
    - copy: {dest: /root/domainname, content: "{{ now.stdout }}"}
"#,
    )
    .unwrap();
    let (code, out) = play_on(&hosts, "deploy", &pb, &["-b", "--check"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(recap_changed(&out, "h0"), Some(2), "{out}");
    assert!(!hosts.path(0, "/etc/sysctl.d/90-drover.conf").exists());
    let (code, out) = play_on(&hosts, "deploy", &pb, &["-b"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(recap_changed(&out, "h0"), Some(2), "{out}");
    let read = |p: &str| std::fs::read_to_string(hosts.path(0, p)).unwrap();
    assert_eq!(
        read("/etc/sysctl.d/90-drover.conf"),
        "kernel.domainname=drover.test\n"
    );
    assert_eq!(read("/root/domainname"), "drover.test");
    for extra in [&["-b"][..], &["-b", "--check"][..]] {
        let (code, out) = play_on(&hosts, "deploy", &pb, extra);
        assert_eq!(code, 0, "{out}");
        assert_eq!(recap_changed(&out, "h0"), Some(0), "{extra:?}: {out}");
    }
}

#[test]
fn pam_limits_edits_limits_conf() {
    let Some(hosts) = TestHosts::up(1) else {
        return;
    };
    let conf = hosts.path(0, "/etc/security/limits.d/90-app.conf");
    std::fs::create_dir_all(conf.parent().unwrap()).unwrap();
    std::fs::write(&conf, "# app limits\napp  soft  nofile  1024 # raised\n").unwrap();
    let pb = hosts.dir.path().join("limits.yml");
    std::fs::write(
        &pb,
        r#"- hosts: test
  gather_facts: false
  tasks:
    - community.general.pam_limits: {domain: app, limit_type: soft, limit_item: nofile, value: 65536, dest: /etc/security/limits.d/90-app.conf}
    - pam_limits: {domain: app, limit_type: hard, limit_item: nofile, value: 4096, use_max: true, dest: /etc/security/limits.d/90-app.conf}
"#,
    )
    .unwrap();
    let (code, out) = play_on(&hosts, "deploy", &pb, &["-b", "--check"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(recap_changed(&out, "h0"), Some(2), "{out}");
    let (code, out) = play_on(&hosts, "deploy", &pb, &["-b"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(recap_changed(&out, "h0"), Some(2), "{out}");
    assert_eq!(
        std::fs::read_to_string(&conf).unwrap(),
        "# app limits\napp\tsoft\tnofile\t65536\t# raised\napp\thard\tnofile\t4096\n"
    );
    for extra in [&["-b"][..], &["-b", "--check"][..]] {
        let (code, out) = play_on(&hosts, "deploy", &pb, extra);
        assert_eq!(code, 0, "{out}");
        assert_eq!(recap_changed(&out, "h0"), Some(0), "{extra:?}: {out}");
    }
}

/// `mount` in the test host's own mount namespace: a tmpfs in fstab and mounted, then
/// unmounted, then gone from fstab with its directory.
#[test]
fn mount_tmpfs_through_its_states() {
    let Some(hosts) = TestHosts::up(1) else {
        return;
    };
    let fstab = hosts.path(0, "/etc/fstab");
    let before = std::fs::read_to_string(&fstab).unwrap_or_default();
    let pb = |state: &str| {
        let p = hosts.dir.path().join(format!("mount-{state}.yml"));
        std::fs::write(
            &p,
            format!(
                r#"- hosts: test
  gather_facts: false
  tasks:
    - ansible.posix.mount: {{path: /mnt/drover tmp, src: tmpfs, fstype: tmpfs, opts: "size=1m", state: {state}}}
    - shell: "mountpoint -q '/mnt/drover tmp' && echo mounted || echo not"
      register: m
      changed_when: false
      check_mode: false
    - copy: {{dest: /root/mounted, content: "{{{{ m.stdout }}}}"}}
"#
            ),
        )
        .unwrap();
        p
    };
    let status = || std::fs::read_to_string(hosts.path(0, "/root/mounted")).unwrap();
    let mounted = pb("mounted");
    let (code, out) = play_on(&hosts, "deploy", &mounted, &["-b", "--check"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        recap_changed(&out, "h0"),
        Some(2),
        "the mount and the report: {out}"
    );
    assert_eq!(std::fs::read_to_string(&fstab).unwrap_or_default(), before);
    let (code, out) = play_on(&hosts, "deploy", &mounted, &["-b"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(recap_changed(&out, "h0"), Some(2), "{out}");
    assert_eq!(status(), "mounted");
    assert_eq!(
        std::fs::read_to_string(&fstab).unwrap(),
        format!("{before}tmpfs /mnt/drover\\040tmp tmpfs size=1m 0 0\n")
    );
    for extra in [&["-b"][..], &["-b", "--check"][..]] {
        let (code, out) = play_on(&hosts, "deploy", &mounted, extra);
        assert_eq!(code, 0, "{out}");
        assert_eq!(recap_changed(&out, "h0"), Some(0), "{extra:?}: {out}");
    }
    let (code, out) = play_on(&hosts, "deploy", &pb("unmounted"), &["-b"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(recap_changed(&out, "h0"), Some(2), "{out}");
    assert_eq!(status(), "not");
    let (code, out) = play_on(&hosts, "deploy", &pb("absent"), &["-b"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(recap_changed(&out, "h0"), Some(1), "{out}");
    assert_eq!(std::fs::read_to_string(&fstab).unwrap(), before);
    assert!(!hosts.path(0, "/mnt/drover tmp").exists());
}

#[test]
fn pamd_edits_a_service_file() {
    let Some(hosts) = TestHosts::up(1) else {
        return;
    };
    let svc = hosts.path(0, "/etc/pam.d/drover-app");
    std::fs::write(
        &svc,
        "# app\nauth       requisite  pam_nologin.so\n@include common-auth\npassword   required   pam_unix.so obscure sha512\n",
    )
    .unwrap();
    let pb = hosts.dir.path().join("pamd.yml");
    std::fs::write(
        &pb,
        r#"- hosts: test
  gather_facts: false
  tasks:
    - community.general.pamd: {name: drover-app, type: auth, control: requisite, module_path: pam_nologin.so, new_control: required}
    - pamd: {name: drover-app, type: password, control: required, module_path: pam_unix.so, state: args_present, module_arguments: "remember=5"}
    - pamd: {name: drover-app, type: password, control: required, module_path: pam_unix.so, state: before, new_type: password, new_control: requisite, new_module_path: pam_pwquality.so, module_arguments: retry=3}
"#,
    )
    .unwrap();
    let (code, out) = play_on(&hosts, "deploy", &pb, &["-b", "--check"]);
    assert_eq!((code, recap_changed(&out, "h0")), (0, Some(3)), "{out}");
    let (code, out) = play_on(&hosts, "deploy", &pb, &["-b"]);
    assert_eq!((code, recap_changed(&out, "h0")), (0, Some(3)), "{out}");
    let text = std::fs::read_to_string(&svc).unwrap();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with("# Updated by Ansible"))
        .collect();
    assert_eq!(
        lines,
        [
            "# app",
            "auth       required pam_nologin.so",
            "@include common-auth",
            "password   requisite pam_pwquality.so retry=3",
            "password   required pam_unix.so obscure sha512 remember=5"
        ]
    );
    for extra in [&["-b"][..], &["-b", "--check"][..]] {
        let (code, out) = play_on(&hosts, "deploy", &pb, extra);
        assert_eq!(code, 0, "{out}");
        assert_eq!(recap_changed(&out, "h0"), Some(0), "{extra:?}: {out}");
    }
}

/// `modprobe` with a module the kernel has (`overlay`, which the test hosts' own file systems
/// use): nothing is loaded or unloaded, the persistent files are written and commented out.
/// A module the kernel does not have fails with `modprobe -n`'s message, in check mode too.
/// The test host has no kernel package: the kernel's list of built-in modules is written into
/// it, naming `overlay` when this kernel has no loadable modules (no `/proc/modules`: then
/// every module is built in, and overlayfs is, or no test host would run).
#[test]
fn modprobe_persists_a_present_module_and_its_options() {
    let Some(hosts) = TestHosts::up(1) else {
        return;
    };
    let (code, out) = hosts.ns_sh(
        0,
        "b=/lib/modules/$(uname -r); mkdir -p $b && : > $b/modules.builtin && { [ -r /proc/modules ] || echo kernel/fs/overlayfs/overlay.ko > $b/modules.builtin; }",
    );
    assert_eq!(code, 0, "{out}");
    let pb = hosts.dir.path().join("modprobe.yml");
    let write = |persistent: &str| {
        std::fs::write(
            &pb,
            format!(
                r#"- hosts: test
  gather_facts: false
  tasks:
    - community.general.modprobe: {{name: overlay, params: "metacopy=off", persistent: {persistent}}}
"#
            ),
        )
        .unwrap()
    };
    let read = |p: &str| std::fs::read_to_string(hosts.path(0, p)).ok();
    std::fs::write(
        hosts.path(0, "/etc/modprobe.d/old.conf"),
        "# kept\noptions overlay redirect_dir=on\n",
    )
    .unwrap();
    write("present");
    let (code, out) = play_on(&hosts, "deploy", &pb, &["-b", "--check"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(recap_changed(&out, "h0"), Some(1), "{out}");
    assert_eq!(read("/etc/modules-load.d/overlay.conf"), None);
    let (code, out) = play_on(&hosts, "deploy", &pb, &["-b"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(recap_changed(&out, "h0"), Some(1), "{out}");
    assert_eq!(
        read("/etc/modules-load.d/overlay.conf").as_deref(),
        Some("overlay\n")
    );
    assert_eq!(
        read("/etc/modprobe.d/overlay.conf").as_deref(),
        Some("options overlay metacopy=off\n")
    );
    assert_eq!(
        read("/etc/modprobe.d/old.conf").as_deref(),
        Some("# kept\n#options overlay redirect_dir=on\n")
    );
    for extra in [&["-b"][..], &["-b", "--check"][..]] {
        let (code, out) = play_on(&hosts, "deploy", &pb, extra);
        assert_eq!(code, 0, "{out}");
        assert_eq!(recap_changed(&out, "h0"), Some(0), "{extra:?}: {out}");
    }
    write("absent");
    let (code, out) = play_on(&hosts, "deploy", &pb, &["-b"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(recap_changed(&out, "h0"), Some(1), "{out}");
    assert_eq!(
        read("/etc/modules-load.d/overlay.conf").as_deref(),
        Some("#overlay\n")
    );
    assert_eq!(
        read("/etc/modprobe.d/overlay.conf").as_deref(),
        Some("#options overlay metacopy=off\n")
    );
    let (code, out) = play_on(&hosts, "deploy", &pb, &["-b", "--check"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(recap_changed(&out, "h0"), Some(0), "{out}");

    std::fs::write(
        &pb,
        "- hosts: test\n  gather_facts: false\n  tasks:\n    - modprobe: {name: drover_no_such_module}\n",
    )
    .unwrap();
    for extra in [&["-b", "--check"][..], &["-b"][..]] {
        let (code, out) = play_on(&hosts, "deploy", &pb, extra);
        assert_ne!(code, 0, "{out}");
        assert!(
            out.contains("Module drover_no_such_module not found"),
            "{out}"
        );
    }
}
