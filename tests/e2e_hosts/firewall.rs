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
