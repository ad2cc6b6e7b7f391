use super::*;

fn args(yaml: &str) -> Args {
    let v = crate::yaml::value_from_yaml_str(yaml).expect("yaml");
    Args::from_value("iptables", &SPEC, &v).expect("args")
}

fn words(yaml: &str) -> Vec<String> {
    let a = args(yaml);
    let version = a.str("ip_version").unwrap_or_else(|| "ipv4".into());
    RuleArgs::parse(&a).expect("parse").words(&version)
}

/// Each expected list is what ansible-core 2.19's `construct_rule` returns for the same
/// parameters.
#[test]
fn rule_words_are_ansibles() {
    let cases: &[(&str, &[&str])] = &[
        (
            "{chain: X, source: 0.0.0.0, destination: 0.0.0.0, jump: DROP, comment: FOOBAR-CHAIN RULE}",
            &["-s", "0.0.0.0", "-d", "0.0.0.0", "-j", "DROP", "-m", "comment", "--comment", "FOOBAR-CHAIN RULE"],
        ),
        (
            "{chain: X, protocol: tcp, destination_port: '22', ctstate: [NEW, ESTABLISHED], jump: ACCEPT, source: '!10.0.0.0/8'}",
            &["-p", "tcp", "!", "-s", "10.0.0.0/8", "-j", "ACCEPT", "--destination-port", "22", "-m", "conntrack", "--ctstate", "NEW,ESTABLISHED"],
        ),
        (
            "{chain: X, protocol: tcp, match: [multiport], destination_ports: ['80', '443', '8000:8080'], jump: ACCEPT, in_interface: eth0}",
            &["-p", "tcp", "-m", "multiport", "-j", "ACCEPT", "-m", "multiport", "--dports", "80,443,8000:8080", "-i", "eth0"],
        ),
        (
            "{chain: X, protocol: tcp, tcp_flags: {flags: [ALL], flags_set: [ACK, RST, SYN, FIN]}, syn: negate, limit: 2/second, limit_burst: '20', log_prefix: 'IPTABLES:INFO: ', log_level: info}",
            &["-p", "tcp", "--tcp-flags", "ALL", "ACK,RST,SYN,FIN", "--log-prefix", "IPTABLES:INFO: ", "--log-level", "info", "!", "--syn", "-m", "limit", "--limit", "2/second", "--limit-burst", "20"],
        ),
        (
            "{chain: X, reject_with: tcp-reset, protocol: tcp, uid_owner: '!1000', match: [state], ctstate: [INVALID]}",
            &["-p", "tcp", "-m", "state", "--state", "INVALID", "-m", "owner", "!", "--uid-owner", "1000", "-j", "REJECT", "--reject-with", "tcp-reset"],
        ),
        (
            "{chain: X, src_range: 192.168.1.100-192.168.1.199, dst_range: 10.0.0.1-10.0.0.50, jump: ACCEPT, match_set: admin, match_set_flags: 'src,dst'}",
            &["-j", "ACCEPT", "-m", "iprange", "--src-range", "192.168.1.100-192.168.1.199", "--dst-range", "10.0.0.1-10.0.0.50", "-m", "set", "--match-set", "admin", "src,dst"],
        ),
        (
            "{chain: X, set_dscp_mark_class: CS1, jump: DSCP, table: mangle, protocol: icmp, icmp_type: echo-request, ip_version: ipv6}",
            &["-p", "icmp", "-j", "DSCP", "--set-dscp-class", "CS1", "--icmpv6-type", "echo-request"],
        ),
        (
            "{chain: X, jump: TEE, gateway: 10.0.0.1, to_ports: '8080', fragment: x, gid_owner: match}",
            &["-j", "TEE", "--gateway", "10.0.0.1", "-f", "x", "--to-ports", "8080", "-m", "owner", "--gid-owner", "--gid-owner", "match"],
        ),
    ];
    for (yaml, want) in cases {
        assert_eq!(words(yaml), *want, "{yaml}");
    }
}

#[test]
fn modes_and_argument_errors() {
    let mode = |y: &str| parse(&args(y)).map(|a| a.mode).map_err(|e| e.to_string());
    assert_eq!(mode("{flush: true}"), Ok(Mode::Flush));
    assert_eq!(
        mode("{chain: INPUT, policy: DROP}"),
        Ok(Mode::Policy("DROP".into()))
    );
    assert_eq!(
        mode("{chain: X, state: absent}"),
        Ok(Mode::Chain { present: false })
    );
    assert_eq!(
        mode("{chain: X, jump: ACCEPT, action: insert}"),
        Ok(Mode::Rule {
            present: true,
            insert: true
        })
    );
    assert_eq!(
        mode("{jump: ACCEPT}").unwrap_err(),
        "flush is False but all of the following are missing: chain"
    );
    assert_eq!(
        mode("{chain: X, flush: true, policy: DROP}").unwrap_err(),
        "parameters are mutually exclusive: flush|policy"
    );
    assert_eq!(
        mode("{chain: X, jump: TEE}").unwrap_err(),
        "jump is TEE but all of the following are missing: gateway"
    );
    assert_eq!(
        mode("{chain: X, jump: DROP, log_prefix: x}").unwrap_err(),
        "Logging options can only be used with the LOG jump target."
    );
    // The LOG jump is implied for the commands, not for the reported rule.
    let a = parse(&args("{chain: X, log_prefix: 'p '}")).expect("parse");
    assert_eq!(a.reported, "--log-prefix p ");
    assert_eq!(a.rule.words("ipv4"), ["-j", "LOG", "--log-prefix", "p "]);
    assert_eq!(a.rule_words("-I", "ipv4")[..4], ["-t", "filter", "-I", "X"]);
}

#[test]
fn reads_a_look() {
    let l = read_look("rc 0\nfirst -P INPUT DROP\nrules 3\n");
    assert_eq!((l.rc, l.first.as_str(), l.rules), (0, "-P INPUT DROP", 3));
    let l = read_look("rc 1\nfirst iptables: No chain/target/match by that name.\nrules 0\n");
    assert_eq!(l.text, "iptables: No chain/target/match by that name.");
    let l = read_look("rc 1\niptables: Bad rule (does a matching rule exist in that chain?).\n");
    assert_eq!(l.rc, 1);
}
