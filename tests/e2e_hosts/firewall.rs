//! Firewall modules on a test host in a network namespace of its own (its netfilter tables
//! are not this machine's): `iptables` rules, a user chain and a policy, read back with the
//! host's own `iptables -S`; check mode predicting and changing nothing, the second run
//! changing nothing, removal.

use super::{play_on, recap_changed, TestHosts};

#[test]
fn iptables_rules_chains_and_policy_in_the_hosts_own_network() {
    let Some(hosts) = TestHosts::up_isolated() else {
        return;
    };
    let pb = hosts.dir.path().join("iptables.yml");
    let write = |state: &str| {
        std::fs::write(
            &pb,
            format!(
                r#"- hosts: test
  gather_facts: false
  vars: {{want: {state}}}
  tasks:
    - iptables: {{chain: DROVER, chain_management: true, state: "{{{{ want }}}}"}}
      when: want == "present"
    - iptables: {{chain: DROVER, source: 192.0.2.0/24, jump: DROP, comment: "drover test", state: "{{{{ want }}}}"}}
    - iptables: {{chain: INPUT, protocol: tcp, destination_port: "22", ctstate: [NEW], jump: ACCEPT, action: insert, state: "{{{{ want }}}}"}}
    - iptables: {{chain: FORWARD, policy: "{{{{ 'DROP' if want == 'present' else 'ACCEPT' }}}}"}}
    - iptables: {{chain: DROVER, chain_management: true, state: "{{{{ want }}}}"}}
      when: want == "absent"
"#
            ),
        )
        .unwrap()
    };
    let rules = || hosts.ns_sh(0, "iptables -S").1;
    let before = rules();
    assert!(!before.contains("DROVER"), "{before}");

    write("present");
    let (code, out) = play_on(&hosts, "deploy", &pb, &["-b", "--check"]);
    assert_eq!(code, 0, "{out}");
    // The chain, and the rules: the one in the new chain is predicted from a chain that check
    // mode did not create (`-C` fails as for a missing rule).
    assert_eq!(recap_changed(&out, "h0"), Some(4), "{out}");
    assert_eq!(rules(), before, "check mode changed the tables");

    let (code, out) = play_on(&hosts, "deploy", &pb, &["-b"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(recap_changed(&out, "h0"), Some(4), "{out}");
    let now = rules();
    for line in [
        "-P FORWARD DROP",
        "-N DROVER",
        "-A INPUT -p tcp -m tcp --dport 22 -m conntrack --ctstate NEW -j ACCEPT",
        "-A DROVER -s 192.0.2.0/24 -m comment --comment \"drover test\" -j DROP",
    ] {
        assert!(now.lines().any(|l| l == line), "no `{line}` in:\n{now}");
    }
    // This machine's own tables are not the host's.
    let mine = std::process::Command::new("sh")
        .args(["-c", "iptables -S 2>/dev/null || true"])
        .output()
        .unwrap();
    let mine = String::from_utf8_lossy(&mine.stdout);
    assert!(!mine.contains("DROVER"), "{mine}");
    for extra in [&["-b"][..], &["-b", "--check"][..]] {
        let (code, out) = play_on(&hosts, "deploy", &pb, extra);
        assert_eq!(code, 0, "{out}");
        assert_eq!(recap_changed(&out, "h0"), Some(0), "{extra:?}: {out}");
    }

    write("absent");
    let (code, out) = play_on(&hosts, "deploy", &pb, &["-b", "--check"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(recap_changed(&out, "h0"), Some(4), "{out}");
    assert_eq!(rules(), now, "check mode changed the tables");
    let (code, out) = play_on(&hosts, "deploy", &pb, &["-b"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(recap_changed(&out, "h0"), Some(4), "{out}");
    assert_eq!(rules(), before);
    let (code, out) = play_on(&hosts, "deploy", &pb, &["-b"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(recap_changed(&out, "h0"), Some(0), "{out}");
}

#[test]
fn ufw_enables_with_rules_policy_and_logging_in_the_hosts_own_network() {
    let Some(hosts) = TestHosts::up_isolated() else {
        return;
    };
    let pb = hosts.dir.path().join("ufw.yml");
    std::fs::write(
        &pb,
        r#"- hosts: test
  gather_facts: false
  tasks:
    - community.general.ufw: {rule: allow, port: "{{ ansible_port }}", proto: tcp, comment: ssh}
    - ufw: {state: enabled, logging: medium}
    - ufw: {rule: deny, from_ip: 198.51.100.0/24, to_port: "25", proto: tcp}
    # Relative to the numbered rules of an active firewall.
    - ufw: {rule: allow, port: "80", proto: tcp, insert: 0, insert_relative_to: first-ipv4}
    - ufw: {default: reject, direction: incoming}
"#,
    )
    .unwrap();
    let status = || hosts.ns_sh(0, "LC_ALL=C ufw status verbose").1;
    let before = status();
    assert!(before.contains("Status: inactive"), "{before}");

    let (code, out) = play_on(&hosts, "deploy", &pb, &["-b", "--check"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(recap_changed(&out, "h0"), Some(5), "{out}");
    assert_eq!(status(), before, "check mode changed ufw");

    let (code, out) = play_on(&hosts, "deploy", &pb, &["-b"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(recap_changed(&out, "h0"), Some(5), "{out}");
    let now = status();
    for want in [
        "Status: active",
        "Logging: on (medium)",
        "Default: reject (incoming), allow (outgoing)",
        "25/tcp                     DENY IN     198.51.100.0/24",
        "# ssh",
    ] {
        assert!(now.contains(want), "no `{want}` in:\n{now}");
    }
    // The rule inserted first is the first of the firewall's own chain.
    let (_, chain) = hosts.ns_sh(0, "iptables -S ufw-user-input");
    let first = chain.lines().find(|l| l.starts_with("-A ")).unwrap_or("");
    assert!(first.contains("--dport 80"), "{chain}");
    for extra in [&["-b"][..], &["-b", "--check"][..]] {
        let (code, out) = play_on(&hosts, "deploy", &pb, extra);
        assert_eq!(code, 0, "{out}");
        assert_eq!(recap_changed(&out, "h0"), Some(0), "{extra:?}: {out}");
    }
}
