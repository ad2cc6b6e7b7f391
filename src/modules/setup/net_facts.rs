//! The network facts, as Ansible's `LinuxNetwork` makes them: each interface of
//! `/sys/class/net` (its files read with builtins), its primary and secondary addresses from
//! `ip addr show`, the default route's interface, address and gateway from `ip route get` to
//! the same public addresses Ansible asks about, and the `local` routes: one `ip` process in
//! batch mode where Ansible runs two per interface and four more. Without `ip` there are no
//! network facts, as in Ansible.

use serde_json::{json, Map, Value as J};

/// Where `ip` is, found in the sbin directories too (as Ansible's `get_bin_path`), then
/// the command when there is one.
macro_rules! with_ip {
    ($cmd:literal) => {
        concat!(
            "ip=; for p in /sbin/ip /usr/sbin/ip /bin/ip /usr/bin/ip; do [ -x \"$p\" ] && { ip=$p; break; }; done; [ -n \"$ip\" ] && { ",
            $cmd,
            "; }; :"
        )
    };
}

/// The sections: `(name, shell)`.
pub const SECTIONS: &[(&str, &str)] = &[
    ("ipbin", with_ip!(r#"echo "$ip""#)),
    (
        "netsys",
        r#"l=$(ls -f /sys/class/net 2>/dev/null) || l=$(cd /sys/class/net 2>/dev/null && echo *); for n in $l; do case $n in .|..) continue;; esac; d=/sys/class/net/$n; [ -d "$d" ] || continue; echo "dev $n"; for k in address mtu operstate type flags speed bridge/bridge_id bridge/stp_state bonding/slaves bonding/mode bonding/miimon bonding/lacp_rate bonding/primary bonding/all_slaves_active bonding_slave/perm_hwaddr; do [ -r "$d/$k" ] && read -r v <"$d/$k" 2>/dev/null && echo "$k $v"; done; [ -d "$d/bridge" ] && { echo bridge; for b in "$d"/brif/*; do [ -e "$b" ] && echo "brif ${b##*/}"; done; }; [ -d "$d/bonding" ] && echo bonding; [ -L "$d/device" ] && (cd -P "$d/device" 2>/dev/null && echo "pciid ${PWD##*/}" && cd -P driver/module 2>/dev/null && echo "module ${PWD##*/}"); done; :"#,
    ),
    // One `ip` for everything, in batch mode: the addresses (primary and secondary: Ansible
    // asks twice per interface), the two routes, the local routes of both families. An `ip`
    // without batch mode (BusyBox's) answers nothing, and is asked command by command.
    (
        "ip",
        with_ip!(
            r#"o=$(LC_ALL=C "$ip" -force -batch - 2>/dev/null <<'@@IP'
addr show
route get 8.8.8.8
route get 2404:6800:400a:800::1012
route show table all type local
@@IP
); if [ -n "$o" ]; then printf '%s\n' "$o"; else LC_ALL=C "$ip" addr show 2>/dev/null; "$ip" route get 8.8.8.8 2>/dev/null; "$ip" -6 route get 2404:6800:400a:800::1012 2>/dev/null; "$ip" route show table all type local 2>/dev/null; fi"#
        ),
    ),
];

const INTERFACE_TYPE: &[(&str, &str)] = &[
    ("1", "ether"),
    ("32", "infiniband"),
    ("512", "ppp"),
    ("772", "loopback"),
    ("65534", "tunnel"),
];

/// The network facts from the sections' lines (`get(name)`), into `out` (JSON values).
pub fn network_facts(get: &dyn Fn(&str) -> Vec<String>, out: &mut Map<String, J>) {
    if get("ipbin").first().is_none_or(|p| p.trim().is_empty()) {
        return;
    }
    let mut interfaces: Map<String, J> = Map::new();
    let mut macs: Map<String, J> = Map::new();
    for line in get("netsys") {
        let (k, v) = line.split_once(' ').unwrap_or((line.as_str(), ""));
        if k == "dev" {
            interfaces.insert(v.to_string(), json!({"device": v}));
            continue;
        }
        let Some((name, J::Object(i))) = interfaces.iter_mut().next_back() else {
            continue;
        };
        match k {
            "address" => {
                macs.insert(name.clone(), J::from(v));
                if !v.is_empty() && v != "00:00:00:00:00:00" {
                    i.insert("macaddress".into(), J::from(v));
                }
            }
            "mtu" => {
                i.insert("mtu".into(), J::from(v.parse::<i64>().unwrap_or(0)));
            }
            "operstate" => {
                i.insert("active".into(), J::from(v != "down"));
            }
            "type" => {
                let t = INTERFACE_TYPE.iter().find(|(n, _)| *n == v);
                i.insert("type".into(), J::from(t.map_or("unknown", |(_, t)| *t)));
            }
            "bridge" => {
                i.insert("type".into(), J::from("bridge"));
                i.insert("interfaces".into(), J::Array(Vec::new()));
            }
            "brif" => {
                if let Some(J::Array(a)) = i.get_mut("interfaces") {
                    a.push(J::from(v));
                }
            }
            "bridge/bridge_id" => {
                i.insert("id".into(), J::from(v));
            }
            "bridge/stp_state" => {
                i.insert("stp".into(), J::from(v == "1"));
            }
            "bonding" => {
                i.insert("type".into(), J::from("bonding"));
            }
            "bonding/slaves" => {
                let s: Vec<J> = v.split_whitespace().map(J::from).collect();
                i.insert("slaves".into(), J::Array(s));
            }
            "bonding/mode" | "bonding/miimon" | "bonding/lacp_rate" => {
                let first = v.split_whitespace().next().unwrap_or("");
                i.insert(k["bonding/".len()..].into(), J::from(first));
            }
            "bonding/primary" if !v.is_empty() => {
                i.insert("primary".into(), J::from(v));
            }
            "bonding/all_slaves_active" => {
                i.insert("all_slaves_active".into(), J::from(v == "1"));
            }
            "bonding_slave/perm_hwaddr" => {
                i.insert("perm_macaddress".into(), J::from(v));
            }
            "pciid" | "module" => {
                i.insert(k.into(), J::from(v));
            }
            "speed" => {
                if let Ok(s) = v.parse::<i64>() {
                    i.insert("speed".into(), J::from(s));
                }
            }
            "flags" => {
                let f = i64::from_str_radix(v.trim_start_matches("0x"), 16).unwrap_or(0);
                i.insert("promisc".into(), J::from(f & 0x0100 > 0));
            }
            _ => {}
        }
    }
    // `ip`'s answers in the order asked: the address blocks (lines that start with an index
    // or a blank), then the routes, each starting with its target or its type.
    let answers = get("ip");
    let targets = ["8.8.8.8 ", "2404:6800:400a:800::1012 ", "local "];
    let cut = answers
        .iter()
        .position(|l| targets.iter().any(|t| l.starts_with(t)))
        .unwrap_or(answers.len());
    let (addrs, routes) = answers.split_at(cut);
    let mut default4 = route(routes, "8.8.8.8");
    let mut default6 = route(routes, "2404:6800:400a:800::1012");
    let mut all4 = Vec::new();
    let mut all6 = Vec::new();
    let sysfs = std::mem::take(&mut interfaces);
    let mut st = Addrs {
        interfaces: &mut interfaces,
        macs: &macs,
        default4: &mut default4,
        default6: &mut default6,
        all4: &mut all4,
        all6: &mut all6,
    };
    // Each device's address lines (`4: eth0: <...>` or `5: veth1@if4: <...>` starts one).
    let mut blocks: Vec<(String, Vec<&String>)> = Vec::new();
    for line in addrs {
        if !line.starts_with(char::is_whitespace) {
            let name = line.split(": ").nth(1).unwrap_or("");
            let device = name.split('@').next().unwrap_or(name).to_string();
            blocks.push((device, Vec::new()));
        } else if let Some((_, lines)) = blocks.last_mut() {
            lines.push(line);
        }
    }
    // As Ansible: device by device in the directory's order (Python's `glob`, unsorted: `ls
    // -f`), its primary addresses, then its secondary ones; an address's label (`eth0:1`)
    // becomes an interface where it is met.
    for (device, info) in sysfs {
        st.interfaces.insert(device.clone(), info);
        let lines = blocks
            .iter()
            .find(|(d, _)| *d == device)
            .map(|(_, l)| l.as_slice())
            .unwrap_or_default();
        for secondary in [false, true] {
            for line in lines {
                let is_secondary = line.split_whitespace().any(|w| w == "secondary");
                if is_secondary == secondary {
                    st.address(&device, line, secondary);
                }
            }
        }
    }
    let renamed: Map<String, J> = interfaces
        .into_iter()
        .map(|(k, v)| (k.replace(':', "_"), v))
        .collect();
    out.insert(
        "interfaces".into(),
        J::Array(renamed.keys().cloned().map(J::from).collect()),
    );
    for (k, v) in renamed {
        out.insert(k, v);
    }
    out.insert("default_ipv4".into(), J::Object(default4));
    out.insert("default_ipv6".into(), J::Object(default6));
    out.insert("all_ipv4_addresses".into(), J::from(all4));
    out.insert("all_ipv6_addresses".into(), J::from(all6));
    let mut reachable = json!({"ipv4": [], "ipv6": []});
    for line in routes {
        let w: Vec<&str> = line.split_whitespace().collect();
        if w.first() != Some(&"local") || w.len() < 2 {
            continue;
        }
        let family = if w[1].contains(':') { "ipv6" } else { "ipv4" };
        if let Some(J::Array(a)) = reachable.get_mut(family) {
            if !a.iter().any(|x| x == w[1]) {
                a.push(J::from(w[1]));
            }
        }
    }
    out.insert("locally_reachable_ips".into(), reachable);
}

/// `interface`, `address` and `gateway` of `ip route get TARGET`'s line (the one that starts
/// with the target).
fn route(lines: &[String], target: &str) -> Map<String, J> {
    let mut m = Map::new();
    let words: Vec<&str> = lines
        .iter()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|w| w.first() == Some(&target))
        .unwrap_or_default();
    if words.first() != Some(&target) {
        return m;
    }
    for w in words.windows(2) {
        match w[0] {
            "dev" => m.insert("interface".into(), J::from(w[1])),
            "src" => m.insert("address".into(), J::from(w[1])),
            "via" if w[1] != target => m.insert("gateway".into(), J::from(w[1])),
            _ => None,
        };
    }
    m
}

/// What the address lines fill in.
struct Addrs<'a> {
    interfaces: &'a mut Map<String, J>,
    macs: &'a Map<String, J>,
    default4: &'a mut Map<String, J>,
    default6: &'a mut Map<String, J>,
    all4: &'a mut Vec<String>,
    all6: &'a mut Vec<String>,
}

impl Addrs<'_> {
    /// `macaddress`, `mtu` and `type` of `device`, as Ansible copies them into the facts of
    /// the default route's address.
    fn link_of(&self, device: &str) -> [(&'static str, J); 3] {
        let dev = self.interfaces.get(device);
        let get = |k: &str| dev.and_then(|d| d.get(k)).cloned();
        [
            (
                "macaddress",
                self.macs.get(device).cloned().unwrap_or(J::Null),
            ),
            ("mtu", get("mtu").unwrap_or(J::Null)),
            ("type", get("type").unwrap_or(J::from("unknown"))),
        ]
    }

    /// One `inet`/`inet6` line of `device`'s block (Ansible's `parse_ip_output`).
    fn address(&mut self, device: &str, line: &str, secondary: bool) {
        let w: Vec<&str> = line.split_whitespace().collect();
        match w.first().copied() {
            Some("inet") if w.len() > 1 => {
                let (address, prefix) = w[1].split_once('/').unwrap_or((w[1], "32"));
                let broadcast = if w.len() > 3 && w[2] == "brd" {
                    w[3]
                } else {
                    ""
                };
                let Ok(addr) = address.parse::<std::net::Ipv4Addr>() else {
                    return;
                };
                let bits: u32 = prefix.parse().unwrap_or(32).min(32);
                let mask = if bits == 0 {
                    0
                } else {
                    u32::MAX << (32 - bits)
                };
                let netmask = std::net::Ipv4Addr::from(mask).to_string();
                let network = std::net::Ipv4Addr::from(u32::from(addr) & mask).to_string();
                let entry = json!({"address": address, "broadcast": broadcast,
                    "netmask": netmask, "network": network, "prefix": prefix});
                let label = *w.last().unwrap_or(&device);
                if label != device {
                    self.interfaces.insert(label.to_string(), json!({}));
                }
                if let Some(J::Object(i)) = self.interfaces.get_mut(label) {
                    if !secondary && !i.contains_key("ipv4") {
                        i.insert("ipv4".into(), entry.clone());
                    } else {
                        push(i, "ipv4_secondaries", entry.clone());
                    }
                }
                if secondary {
                    if let Some(J::Object(i)) = self.interfaces.get_mut(device) {
                        i.entry("ipv4_secondaries")
                            .or_insert_with(|| J::Array(Vec::new()));
                        if device != label {
                            push(i, "ipv4_secondaries", entry.clone());
                        }
                    }
                }
                if self.default4.get("address").and_then(J::as_str) == Some(address) {
                    for k in ["broadcast", "netmask", "network", "prefix"] {
                        self.default4.insert(k.into(), entry[k].clone());
                    }
                    for (k, v) in self.link_of(device) {
                        self.default4.insert(k.into(), v);
                    }
                    self.default4.insert("alias".into(), J::from(label));
                }
                if !address.starts_with("127.") {
                    self.all4.push(address.to_string());
                }
            }
            Some("inet6") if w.len() > 3 => {
                let (address, prefix, scope) = if w[2] == "peer" && w.len() > 5 {
                    let prefix = w[3].split_once('/').map_or("", |(_, p)| p);
                    (w[1], prefix, w[5])
                } else {
                    let (a, p) = w[1].split_once('/').unwrap_or((w[1], ""));
                    (a, p, w[3])
                };
                let entry = json!({"address": address, "prefix": prefix, "scope": scope});
                let Some(J::Object(i)) = self.interfaces.get_mut(device) else {
                    return;
                };
                push(i, "ipv6", entry);
                if self.default6.get("address").and_then(J::as_str) == Some(address) {
                    self.default6.insert("prefix".into(), J::from(prefix));
                    self.default6.insert("scope".into(), J::from(scope));
                    for (k, v) in self.link_of(device) {
                        self.default6.insert(k.into(), v);
                    }
                }
                if address != "::1" {
                    self.all6.push(address.to_string());
                }
            }
            _ => {}
        }
    }
}

fn push(i: &mut Map<String, J>, key: &str, v: J) {
    if let J::Array(a) = i.entry(key).or_insert_with(|| J::Array(Vec::new())) {
        a.push(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interfaces_routes_and_addresses_as_ansible_reads_them() {
        let text = |s: &str| -> Vec<String> { s.lines().map(str::to_string).collect() };
        let get = |k: &str| -> Vec<String> {
            match k {
                "ipbin" => text("/usr/sbin/ip"),
                "netsys" => text("dev eth0\naddress 02:fc:00:00:00:01\nmtu 1400\noperstate up\ntype 1\nflags 0x1003\npciid virtio2\ndev lo\naddress 00:00:00:00:00:00\nmtu 65536\noperstate unknown\ntype 772\nflags 0x9"),
                "ip" => text("1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536\n    inet 127.0.0.1/8 scope host lo\n    inet6 ::1/128 scope host \n4: eth0: <BROADCAST> mtu 1400\n    link/ether 02:fc:00:00:00:01 brd ff:ff:ff:ff:ff:ff\n    inet 192.0.2.2/24 brd 192.0.2.255 scope global eth0\n    inet 192.0.2.9/24 brd 192.0.2.255 scope global eth0:1\n    inet6 fd00::2/64 scope global nodad \n    inet6 fe80::fc:ff:fe00:1/64 scope link \n    inet 192.0.2.7/24 brd 192.0.2.255 scope global secondary eth0\n8.8.8.8 via 192.0.2.1 dev eth0 src 192.0.2.2 uid 0 \n    cache \n2404:6800:400a:800::1012 from :: via fd00::1 dev eth0 src fd00::2 metric 1024 pref medium\nlocal 127.0.0.0/8 dev lo proto kernel scope host src 127.0.0.1\nlocal 192.0.2.2 dev eth0"),
                _ => Vec::new(),
            }
        };
        let mut f = Map::new();
        network_facts(&get, &mut f);
        assert_eq!(f["interfaces"], json!(["eth0", "eth0_1", "lo"]));
        assert_eq!(
            f["default_ipv4"],
            json!({"interface": "eth0", "gateway": "192.0.2.1", "address": "192.0.2.2",
                "broadcast": "192.0.2.255", "netmask": "255.255.255.0", "network": "192.0.2.0",
                "prefix": "24", "macaddress": "02:fc:00:00:00:01", "mtu": 1400, "type": "ether",
                "alias": "eth0"})
        );
        assert_eq!(f["default_ipv6"]["scope"], "global");
        assert_eq!(f["default_ipv6"]["prefix"], "64");
        assert_eq!(f["eth0"]["promisc"], false);
        assert_eq!(f["eth0"]["active"], true);
        assert_eq!(f["lo"]["type"], "loopback");
        assert!(f["lo"].get("macaddress").is_none());
        assert_eq!(f["eth0_1"]["ipv4"]["address"], "192.0.2.9");
        // The directory's order (eth0 before lo here), each device's secondaries after its
        // primaries.
        assert_eq!(
            f["all_ipv4_addresses"],
            json!(["192.0.2.2", "192.0.2.9", "192.0.2.7"])
        );
        assert_eq!(
            f["all_ipv6_addresses"],
            json!(["fd00::2", "fe80::fc:ff:fe00:1"])
        );
        assert_eq!(f["eth0"]["ipv4_secondaries"][0]["address"], "192.0.2.7");
        assert_eq!(
            f["locally_reachable_ips"],
            json!({"ipv4": ["127.0.0.0/8", "192.0.2.2"], "ipv6": []})
        );
        let mut none = Map::new();
        network_facts(&|_| Vec::new(), &mut none);
        assert!(none.is_empty());
    }
}
