//! The hardware facts, as Ansible's `LinuxHardware` makes them: processors from
//! `/proc/cpuinfo`, memory from `/proc/meminfo`, the DMI strings of `/sys`, the uptime, and
//! the mounts of `/etc/mtab` with their sizes (`stat -f`, Ansible's `statvfs`), bind mounts
//! (from `/proc/self/mountinfo`, where Ansible runs `findmnt`) and file-system UUIDs (`lsblk`,
//! run only when a device under `/dev` is mounted).

use serde_json::{json, Map, Value as J};

const DMI: &[(&str, &str)] = &[
    ("bios_date", "bios_date"),
    ("bios_vendor", "bios_vendor"),
    ("bios_version", "bios_version"),
    ("board_asset_tag", "board_asset_tag"),
    ("board_name", "board_name"),
    ("board_serial", "board_serial"),
    ("board_vendor", "board_vendor"),
    ("board_version", "board_version"),
    ("chassis_asset_tag", "chassis_asset_tag"),
    ("chassis_serial", "chassis_serial"),
    ("chassis_vendor", "chassis_vendor"),
    ("chassis_version", "chassis_version"),
    ("form_factor", "chassis_type"),
    ("product_name", "product_name"),
    ("product_serial", "product_serial"),
    ("product_uuid", "product_uuid"),
    ("product_version", "product_version"),
    ("system_vendor", "sys_vendor"),
];

const FORM_FACTOR: &[&str] = &[
    "Unknown",
    "Other",
    "Unknown",
    "Desktop",
    "Low Profile Desktop",
    "Pizza Box",
    "Mini Tower",
    "Tower",
    "Portable",
    "Laptop",
    "Notebook",
    "Hand Held",
    "Docking Station",
    "All In One",
    "Sub Notebook",
    "Space-saving",
    "Lunch Box",
    "Main Server Chassis",
    "Expansion Chassis",
    "Sub Chassis",
    "Bus Expansion Chassis",
    "Peripheral Chassis",
    "RAID Chassis",
    "Rack Mount Chassis",
    "Sealed-case PC",
    "Multi-system",
    "CompactPCI",
    "AdvancedTCA",
    "Blade",
    "Blade Enclosure",
    "Tablet",
    "Convertible",
    "Detachable",
    "IoT Gateway",
    "Embedded PC",
    "Mini PC",
    "Stick PC",
];

/// The sections: `(name, shell)`. `cpu` and `meminfo` lines are made from `proc_files`.
pub const SECTIONS: &[(&str, &str)] = &[
    (
        "cpu",
        // The `cpuinfo` and status lines come from `proc_files`.
        r#"[ -e /proc/xen ] && echo xen; [ -r /sys/hypervisor/type ] && read -r t </sys/hypervisor/type && [ "$t" = xen ] && echo xen; :"#,
    ),
    (
        "dmi",
        r#"d=/sys/devices/virtual/dmi/id; if [ -e $d/product_name ]; then for k in bios_date bios_vendor bios_version board_asset_tag board_name board_serial board_vendor board_version chassis_asset_tag chassis_serial chassis_vendor chassis_version chassis_type product_name product_serial product_uuid product_version sys_vendor; do v=; [ -r $d/$k ] && read -r v <$d/$k 2>/dev/null && echo "$k $v"; done; fi; :"#,
    ),
    (
        "uptime",
        r#"[ -r /proc/uptime ] && read -r u _ </proc/uptime && echo "$u"; :"#,
    ),
    (
        "mounts",
        r#"( m=/etc/mtab; [ -e $m ] || m=/proc/mounts; set --; disk=; while read -r dev mnt fs opts dump pass _; do [ -n "$opts" ] || continue; case $dev in /*|\*|*:/*) ;; *) continue;; esac; [ "$fs" = none ] && continue; case $dev in /dev/*) disk=1;; esac; echo "m $dev $mnt $fs $opts ${dump:-0} ${pass:-0}"; case $mnt in *\*) mnt=$(printf '%b' "$mnt");; esac; set -- "$@" "$mnt"; done <$m; [ -r /proc/self/mountinfo ] && while read -r _ _ _ root mp _; do [ "$root" = / ] || echo "bind $mp"; done </proc/self/mountinfo; [ -n "$disk" ] && command -v lsblk >/dev/null 2>&1 && lsblk --list --noheadings --paths --output NAME,UUID --exclude 2 2>/dev/null | while read -r n u; do [ -n "$u" ] && echo "uuid $n $u"; done; [ $# -gt 0 ] && LC_ALL=C stat -f -c 'size %S %s %b %a %c %d %n' -- "$@" 2>/dev/null; : )"#,
    ),
];

/// The hardware facts from the sections' lines (`get(name)`); `arch` is `ansible_architecture`.
pub fn hardware_facts(get: &dyn Fn(&str) -> Vec<String>, arch: &str, out: &mut Map<String, J>) {
    cpu_facts(&get("cpu"), arch, out);
    memory_facts(&get("meminfo"), out);
    let dmi = get("dmi");
    for (fact, file) in DMI {
        let v = dmi
            .iter()
            .find_map(|l| l.strip_prefix(file).and_then(|r| r.strip_prefix(' ')))
            .map(str::trim);
        let v = match (v, *fact) {
            (Some(n), "form_factor") => {
                match n.parse::<usize>().ok().and_then(|i| FORM_FACTOR.get(i)) {
                    Some(f) => f.to_string(),
                    None => format!("unknown ({n})"),
                }
            }
            (Some(v), _) => v.to_string(),
            (None, _) => "NA".to_string(),
        };
        out.insert(fact.to_string(), J::from(v));
    }
    if let Some(u) = get("uptime").first().and_then(|u| u.parse::<f64>().ok()) {
        out.insert("uptime_seconds".into(), J::from(u as i64));
    }
    out.insert("mounts".into(), J::Array(mounts(&get("mounts"))));
}

fn cpu_facts(lines: &[String], arch: &str, out: &mut Map<String, J>) {
    let xen = lines.iter().any(|l| l == "xen");
    let mut processor = Vec::new();
    let (mut i, mut vendor, mut model, mut procs) = (0i64, 0, 0, 0i64);
    let mut sockets: Vec<(String, i64)> = Vec::new();
    let mut cores: Vec<(String, i64)> = Vec::new();
    let (mut physid, mut coreid) = (String::from("0"), String::from("0"));
    let (mut zp, mut zmt, mut paravirt) = (0i64, 0i64, false);
    let mut allowed = None;
    let set = |v: &mut Vec<(String, i64)>, k: &str, n: i64| match v.iter_mut().find(|(x, _)| x == k)
    {
        Some(e) => e.1 = n,
        None => v.push((k.to_string(), n)),
    };
    for line in lines {
        if let Some(list) = line.strip_prefix("allowed ") {
            allowed = Some(cpu_list_len(list));
            continue;
        }
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        let n = v.parse::<i64>().unwrap_or(0);
        match k {
            "flags" => {
                if xen && !v.split_whitespace().any(|f| f == "vme") {
                    paravirt = true;
                }
                out.insert(
                    "flags".into(),
                    J::from(v.split_whitespace().collect::<Vec<_>>()),
                );
            }
            "model name" | "Processor" | "vendor_id" | "cpu" | "Vendor" | "processor" => {
                processor.push(J::from(v));
                vendor += i64::from(k == "vendor_id");
                model += i64::from(k == "model name");
                procs += i64::from(k == "processor");
                i += 1;
            }
            "physical id" => {
                physid = v.to_string();
                if !sockets.iter().any(|(x, _)| *x == physid) {
                    sockets.push((physid.clone(), 1));
                }
            }
            "core id" => {
                coreid = v.to_string();
                // Ansible's own slip, kept: it asks `sockets`, not `cores`, here.
                if !sockets.iter().any(|(x, _)| *x == coreid) {
                    set(&mut cores, &coreid, 1);
                }
            }
            "cpu cores" => set(&mut sockets, &physid, n),
            "siblings" => set(&mut cores, &coreid, n),
            "# processors" => zp = n,
            "max thread id" => zmt = n + 1,
            "ncpus active" => i = n,
            _ => {}
        }
    }
    if lines
        .iter()
        .all(|l| l.starts_with("allowed ") || l == "xen")
    {
        return;
    }
    if vendor > 0 && vendor == model {
        i = vendor;
    }
    if ["armv", "aarch", "ppc"].iter().any(|p| arch.starts_with(p)) {
        i = procs;
    }
    let (count, cores_n, threads, vcpus);
    if arch == "s390x" {
        (count, cores_n, threads, vcpus) = (
            1,
            if zmt > 0 {
                (zp as f64 / zmt as f64).round() as i64
            } else {
                0
            },
            zmt,
            zp,
        );
    } else if paravirt {
        (count, cores_n, threads, vcpus) = (i, i, 1, i);
    } else {
        count = if sockets.is_empty() {
            i
        } else {
            sockets.len() as i64
        };
        cores_n = match sockets.first() {
            Some((_, n)) if *n != 0 => *n,
            _ => 1,
        };
        let per = cores.first().map_or(1, |(_, n)| *n) as f64 / cores_n as f64;
        threads = round_half_even(per);
        vcpus = threads * count * cores_n;
    }
    out.insert("processor".into(), J::Array(processor));
    out.insert("processor_count".into(), J::from(count));
    out.insert("processor_cores".into(), J::from(cores_n));
    out.insert("processor_threads_per_core".into(), J::from(threads));
    out.insert("processor_vcpus".into(), J::from(vcpus));
    let nproc = allowed.unwrap_or(if arch == "s390x" || paravirt {
        vcpus
    } else {
        procs
    });
    out.insert("processor_nproc".into(), J::from(nproc));
}

/// Python's `round`: halves to the even neighbour.
fn round_half_even(x: f64) -> i64 {
    let r = x.round();
    if (x - x.trunc()).abs() == 0.5 && (r as i64) % 2 != 0 {
        (r - x.signum()) as i64
    } else {
        r as i64
    }
}

/// How many CPUs a `Cpus_allowed_list` (`0-3,6`) names: `sched_getaffinity`'s length.
fn cpu_list_len(list: &str) -> i64 {
    list.split(',')
        .filter_map(|r| {
            let (a, b) = r.trim().split_once('-').unwrap_or((r.trim(), r.trim()));
            Some(b.parse::<i64>().ok()? - a.parse::<i64>().ok()? + 1)
        })
        .sum()
}

fn memory_facts(lines: &[String], out: &mut Map<String, J>) {
    let mb = |k: &str| -> Option<i64> {
        lines
            .iter()
            .find_map(|l| {
                l.strip_prefix(k)?
                    .strip_prefix(": ")?
                    .trim()
                    .parse::<i64>()
                    .ok()
            })
            .map(|kb| kb / 1024)
    };
    if lines.is_empty() {
        return;
    }
    for k in ["MemTotal", "SwapTotal", "MemFree", "SwapFree"] {
        if let Some(v) = mb(k) {
            out.insert(format!("{}_mb", k.to_lowercase()), J::from(v));
        }
    }
    let (total, free, buffers, cached) =
        (mb("MemTotal"), mb("MemFree"), mb("Buffers"), mb("Cached"));
    let (stotal, sfree) = (mb("SwapTotal"), mb("SwapFree"));
    let nfree = match (cached, free, buffers) {
        (Some(c), Some(f), Some(b)) => Some(c + f + b),
        _ => None,
    };
    let sub = |a: Option<i64>, b: Option<i64>| Some(a? - b?);
    out.insert(
        "memory_mb".into(),
        json!({
            "real": {"total": total, "used": sub(total, free), "free": free},
            "nocache": {"free": nfree, "used": sub(total, nfree)},
            "swap": {"total": stotal, "free": sfree, "used": sub(stotal, sfree), "cached": mb("SwapCached")},
        }),
    );
}

/// `/etc/mtab`'s octal escapes (`\040`) as the characters they stand for.
fn unescape(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], octal) {
            (b'\\', Some(d)) => {
                out.push(
                    d.iter()
                        .fold(0u8, |n, c| n.wrapping_mul(8).wrapping_add(c - b'0')),
                );
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn mounts(lines: &[String]) -> Vec<J> {
    // Bind mounts: a mount whose root in its file system is not `/` (what `findmnt` shows as
    // `device[/dir]`, where Ansible looks).
    let binds: Vec<String> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("bind "))
        .map(unescape)
        .collect();
    let uuids: Vec<(&str, &str)> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("uuid ")?.rsplit_once(' '))
        .collect();
    // `size FRSIZE BSIZE BLOCKS BAVAIL FILES FFREE NAME`, the name last (it may hold blanks).
    let sizes: Vec<(Vec<i64>, &str)> = lines
        .iter()
        .filter_map(|l| {
            let mut w = l.strip_prefix("size ")?.splitn(7, ' ');
            let n: Vec<i64> = (0..6).filter_map(|_| w.next()?.parse().ok()).collect();
            (n.len() == 6).then_some((n, w.next().unwrap_or("")))
        })
        .collect();
    let mut out = Vec::new();
    for l in lines {
        let Some(rest) = l.strip_prefix("m ") else {
            continue;
        };
        let f: Vec<String> = rest.split(' ').map(unescape).collect();
        if f.len() < 6 {
            continue;
        }
        let mut options = f[3].clone();
        if binds.contains(&f[1]) && !(options.contains("bind") && options.ends_with('"')) {
            options.push_str(",bind");
        }
        let mut m = json!({
            "mount": f[1], "device": f[0], "fstype": f[2], "options": options,
            "dump": f[4].parse::<i64>().unwrap_or(0), "passno": f[5].parse::<i64>().unwrap_or(0),
        });
        if let Some((n, _)) = sizes.iter().find(|(_, name)| *name == f[1]) {
            let (frsize, bsize, blocks, bavail, files, ffree) =
                (n[0], n[1], n[2], n[3], n[4], n[5]);
            let o = m.as_object_mut().expect("an object");
            for (k, v) in [
                ("size_total", frsize * blocks),
                ("size_available", frsize * bavail),
                ("block_size", bsize),
                ("block_total", blocks),
                ("block_available", bavail),
                ("block_used", blocks - bavail),
                ("inode_total", files),
                ("inode_available", ffree),
                ("inode_used", files - ffree),
            ] {
                o.insert(k.into(), J::from(v));
            }
        }
        let uuid = uuids
            .iter()
            .find(|(d, _)| *d == f[0])
            .map_or("N/A", |(_, u)| *u);
        m["uuid"] = J::from(uuid);
        out.push(m);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processors_memory_and_mounts_as_ansible_counts_them() {
        let text = |s: &str| -> Vec<String> { s.lines().map(str::to_string).collect() };
        let cpu = text("processor: 0\nvendor_id: GenuineIntel\nmodel name: Xeon\nphysical id: 0\nsiblings: 2\ncore id: 0\ncpu cores: 2\nflags: fpu vme\nprocessor: 1\nvendor_id: GenuineIntel\nmodel name: Xeon\nphysical id: 0\nsiblings: 2\ncore id: 1\ncpu cores: 2\nallowed 0-1");
        let mut f = Map::new();
        cpu_facts(&cpu, "x86_64", &mut f);
        assert_eq!(
            f["processor"],
            json!(["0", "GenuineIntel", "Xeon", "1", "GenuineIntel", "Xeon"])
        );
        assert_eq!(
            (
                &f["processor_count"],
                &f["processor_cores"],
                &f["processor_threads_per_core"]
            ),
            (&json!(1), &json!(2), &json!(1))
        );
        assert_eq!(
            (&f["processor_vcpus"], &f["processor_nproc"]),
            (&json!(2), &json!(2))
        );
        assert_eq!(f["flags"], json!(["fpu", "vme"]));
        memory_facts(&text("MemTotal: 2048000\nMemFree: 1024000\nBuffers: 1024\nCached: 2048\nSwapTotal: 0\nSwapFree: 0\nSwapCached: 0"), &mut f);
        assert_eq!(f["memtotal_mb"], 2000);
        assert_eq!(f["memory_mb"]["nocache"]["free"], 1000 + 1 + 2);
        assert_eq!(f["memory_mb"]["real"]["used"], 1000);
        let m = mounts(&text("m /dev/vda / ext4 rw,relatime 0 0\nm /dev/vda /srv/a\\040b ext4 rw 0 0\nbind /srv/a b\nuuid /dev/vda 1234-abcd\nsize 4096 4096 100 40 50 10 /"));
        assert_eq!(m[0]["size_total"], 409600);
        assert_eq!(m[0]["block_used"], 60);
        assert_eq!(m[0]["inode_used"], 40);
        assert_eq!(m[0]["uuid"], "1234-abcd");
        assert_eq!(m[1]["mount"], "/srv/a b");
        assert!(m[1].get("size_total").is_none());
        assert_eq!(cpu_list_len("0-3,6"), 5);
        assert_eq!(round_half_even(0.5), 0);
        assert_eq!(round_half_even(1.5), 2);
    }
}
