//! `setup` on a test host, beside ansible-core 2.19's `setup` on the same host over SSH: every
//! fact Ansible gathers there exists in drover's with the same name and JSON shape, and the
//! same value wherever the value does not move between the two runs.

use super::drover;
use crate::support::{self, hosts::TestHosts};
use serde_json::Value as J;

/// The facts Ansible gathers that drover leaves out, each for a reason the README's
/// compatibility section gives: they need Python itself (`python_version`, the userspace
/// facts), or they are Ansible's per-distribution file scan, or the block-device, LVM,
/// storage-fabric and capability collectors.
const NOT_GATHERED: &[&str] = &[
    "ansible_python_version",
    "ansible_userspace_architecture",
    "ansible_userspace_bits",
    "ansible_distribution_file_path",
    "ansible_distribution_file_variety",
    "ansible_distribution_file_parsed",
    "ansible_devices",
    "ansible_device_links",
    "ansible_lvm",
    "ansible_fibre_channel_wwn",
    "ansible_iscsi_iqn",
    "ansible_hostnqn",
    "ansible_system_capabilities",
    "ansible_system_capabilities_enforced",
];

/// Facts whose values move between two runs a moment apart: compared by shape.
const MOVING: &[&str] = &[
    "ansible_date_time",
    "ansible_env",
    "ansible_memfree_mb",
    "ansible_swapfree_mb",
    "ansible_memory_mb",
    "ansible_uptime_seconds",
    "ansible_loadavg",
    "ansible_mounts",
    "ansible_python",
];

/// The same JSON type all the way down, the same keys in every object (`env`'s excepted: each
/// tool's own process environment differs; and `python.version`'s), lists compared by their
/// first element.
fn same_shape(path: &str, a: &J, d: &J) -> Result<(), String> {
    match (a, d) {
        (J::Object(x), J::Object(y)) => {
            // `python.version` has no `micro`, `releaselevel`, `serial` in drover's: it
            // reads the version from the interpreter's file name and never runs it.
            if path != "ansible_env" && path != "ansible_python.version" {
                let (kx, ky): (Vec<_>, Vec<_>) = (x.keys().collect(), y.keys().collect());
                let mut kx = kx;
                let mut ky = ky;
                kx.sort();
                ky.sort();
                if kx != ky {
                    return Err(format!("{path}: keys {kx:?} (Ansible) vs {ky:?} (drover)"));
                }
            }
            for (k, v) in x {
                if let Some(w) = y.get(k) {
                    same_shape(&format!("{path}.{k}"), v, w)?;
                }
            }
            Ok(())
        }
        (J::Array(x), J::Array(y)) => match (x.first(), y.first()) {
            (Some(v), Some(w)) => same_shape(&format!("{path}[0]"), v, w),
            _ if x.len() == y.len() => Ok(()),
            _ => Err(format!(
                "{path}: {} items (Ansible) vs {} (drover)",
                x.len(),
                y.len()
            )),
        },
        (J::Number(x), J::Number(y)) if x.is_f64() == y.is_f64() => Ok(()),
        (J::Number(_), J::Number(_)) => Err(format!("{path}: {a} vs {d} (int and float)")),
        _ if std::mem::discriminant(a) == std::mem::discriminant(d) => Ok(()),
        _ => Err(format!("{path}: {a} (Ansible) vs {d} (drover)")),
    }
}

/// Lists whose order is a Python set's (it changes from run to run of ansible-core itself),
/// sorted. The address lists keep the directory order of `/sys/class/net`, as Ansible's.
fn sorted(k: &str, v: &J) -> J {
    match (k, v) {
        (
            "ansible_interfaces"
            | "ansible_virtualization_tech_guest"
            | "ansible_virtualization_tech_host",
            J::Array(a),
        ) => {
            let mut a = a.clone();
            a.sort_by_key(|x| x.to_string());
            J::Array(a)
        }
        _ => v.clone(),
    }
}

/// `host | SUCCESS => {...}`'s facts.
fn facts(out: &str) -> serde_json::Map<String, J> {
    let start = out.find("=> {").map(|i| i + 3).expect("a result");
    let v: J = serde_json::from_str(&out[start..]).expect("the result's JSON");
    v["ansible_facts"].as_object().expect("facts").clone()
}

#[test]
fn setup_gathers_ansibles_facts_on_a_test_host() {
    if let Err(why) = support::ansible::venv() {
        support::skip(&format!("ansible-core is not available: {why}"));
        return;
    }
    // A network namespace of its own: other tests add and remove interfaces on this
    // machine's while this one runs. Its default route points back here (for the route
    // lookups only: no packet leaves).
    let Some(hosts) = TestHosts::up_isolated() else {
        return;
    };
    let addr = &hosts.hosts[0].addr;
    let gateway = format!("{}.1", addr.rsplit_once('.').expect("an IPv4 address").0);
    let (rc, out) = hosts.ns_sh(0, &format!("ip route add default via {gateway}"));
    assert_eq!(rc, 0, "{out}");
    // The kernel gives each interface its IPv6 link-local address a moment after it comes up
    // (duplicate address detection): both tools must see the same, settled addresses.
    let (rc, out) = hosts.ns_sh(
        0,
        "i=0; while [ $i -lt 100 ]; do up=$(ip -o link show up | grep -vc ' lo:'); ll=$(ip -o -6 addr show scope link | grep -vc tentative); [ \"$ll\" -ge \"$up\" ] && [ -z \"$(ip -6 addr show tentative)\" ] && exit 0; sleep 0.1; i=$((i+1)); done; ip -6 addr; exit 1",
    );
    assert_eq!(rc, 0, "the IPv6 addresses did not settle: {out}");
    // `ansible_local`: a JSON file, an INI file and an executable fact.
    let (rc, out) = hosts.sh(
        0,
        "mkdir -p /etc/ansible/facts.d && cd /etc/ansible/facts.d && \
         printf '{\"release\": {\"n\": 7}}\\n' > app.fact && \
         printf '[db]\\nPort = 5432\\n' > db.fact && \
         printf '#!/bin/sh\\necho \"[\\\"a\\\", 1]\"\\n' > run.fact && chmod +x run.fact",
    );
    assert_eq!(rc, 0, "{out}");
    let inv = hosts.inventory("root", "ansible_python_interpreter=/usr/bin/python3");
    let kh = hosts.known_hosts();
    let gather = |subset: &str| -> (serde_json::Map<String, J>, serde_json::Map<String, J>) {
        let mut cmd = support::ansible::command("ansible").unwrap();
        cmd.env("ANSIBLE_HOST_KEY_CHECKING", "false")
            .args(["h0", "-i", inv.to_str().unwrap(), "-m", "setup"])
            .args(["-a", &format!("gather_subset={subset}")]);
        let (code, a_out, a_err) = support::run(&mut cmd);
        assert_eq!(code, 0, "{a_out}{a_err}");
        let (code, d_out, d_err) = drover(&[
            "run",
            "-i",
            inv.to_str().unwrap(),
            "h0",
            "-m",
            "setup",
            "-a",
            &format!("gather_subset={subset}"),
            "--known-hosts",
            kh.to_str().unwrap(),
            "--host-key-checking",
            "accept-new",
        ]);
        assert_eq!(code, 0, "{d_out}{d_err}");
        (facts(&a_out), facts(&d_out))
    };
    let (theirs, ours) = gather("all");
    let mut problems = Vec::new();
    for (k, v) in &theirs {
        if NOT_GATHERED.contains(&k.as_str()) {
            continue;
        }
        let Some(mine) = ours.get(k) else {
            problems.push(format!("{k}: missing (Ansible: {v})"));
            continue;
        };
        if let Err(e) = same_shape(k, v, mine) {
            problems.push(e);
        } else if !MOVING.contains(&k.as_str()) && sorted(k, v) != sorted(k, mine) {
            problems.push(format!("{k}: {v} (Ansible) vs {mine} (drover)"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // The facts the roles branch on are there, not just equal in absence.
    for k in [
        "ansible_default_ipv4",
        "ansible_all_ipv4_addresses",
        "ansible_interfaces",
        "ansible_lo",
        "ansible_mounts",
        "ansible_processor_vcpus",
        "ansible_memtotal_mb",
        "ansible_user_shell",
        "ansible_virtualization_type",
    ] {
        assert!(theirs.contains_key(k), "Ansible gathered no {k}");
    }
    assert_eq!(
        ours["ansible_local"],
        serde_json::json!({"app": {"release": {"n": 7}}, "db": {"db": {"port": "5432"}}, "run": ["a", 1]})
    );
    // The clocks agree to the minute; the mounts are the same file systems.
    let epoch = |f: &serde_json::Map<String, J>| -> i64 {
        f["ansible_date_time"]["epoch"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!((epoch(&theirs) - epoch(&ours)).abs() < 60);
    let mounts = |f: &serde_json::Map<String, J>| -> Vec<String> {
        let mut m: Vec<String> = f["ansible_mounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                format!(
                    "{} {} {} {}",
                    m["mount"], m["device"], m["fstype"], m["uuid"]
                )
            })
            .collect();
        m.sort();
        m
    };
    assert_eq!(mounts(&theirs), mounts(&ours));
    assert_eq!(
        ours["ansible_python"]["executable"],
        theirs["ansible_python"]["executable"]
    );
    assert_eq!(ours["ansible_default_ipv4"]["gateway"], gateway.as_str());
    assert_eq!(ours["ansible_default_ipv4"]["address"], addr.as_str());

    // A subset gathers the same facts in both.
    let (theirs, ours) = gather("!all,!min,network,virtual");
    let mut a: Vec<&String> = theirs
        .keys()
        .filter(|k| !NOT_GATHERED.contains(&k.as_str()))
        .collect();
    let mut d: Vec<&String> = ours.keys().collect();
    a.sort();
    d.sort();
    assert_eq!(a, d);
}
