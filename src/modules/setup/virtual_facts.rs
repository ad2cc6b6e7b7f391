//! The virtualization facts (`virtualization_type`, `_role`, `_tech_guest`, `_tech_host`),
//! decided from what the `@virt` section read as Ansible's `LinuxVirtual` decides: container
//! markers first (cgroups of PID 1, its `container=` variable, `/run/systemd/container`,
//! `/.dockerenv`), then Xen, the DMI strings, Linux-VServer, `/proc/cpuinfo`, the loaded
//! modules, `dmidecode`, `/dev/kvm`; `NA` when nothing says.

use crate::vars::VarMap;
use minijinja::Value;
use std::collections::BTreeSet;

/// The probe, one shell line of builtins (a process only for `dmidecode` where it is
/// installed; PID 1's environment and cgroups come from the `files` section, see
/// `proc_files`): each finding is one tagged line.
pub const PROBE: &str = r#"for p in /proc/vz /proc/lve /proc/bc /.dockerenv /.dockerinit /proc/xen /dev/kvm /rhev; do [ -e "$p" ] && echo "exists $p"; done; [ -r /run/systemd/container ] && { read -r c </run/systemd/container; echo "systemd $c"; }; [ -r /proc/xen/capabilities ] && while IFS= read -r l; do case $l in *control_d*) echo xenhost;; esac; done </proc/xen/capabilities; for k in product_name sys_vendor product_family bios_vendor; do [ -r /sys/devices/virtual/dmi/id/$k ] && { read -r v </sys/devices/virtual/dmi/id/$k; echo "dmi $k $v"; }; done; if [ -d /rhev ]; then for f in /proc/[0-9]*/comm; do read -r c <"$f" 2>/dev/null; case $c in vdsm|vdsmd) echo vdsm; break;; esac; done; fi; command -v dmidecode >/dev/null 2>&1 && dmidecode -s system-product-name 2>/dev/null | while IFS= read -r l; do echo "dmidecode $l"; done; :"#;

#[derive(Default)]
struct Found {
    kind: Option<String>,
    role: Option<String>,
    guest: BTreeSet<String>,
    host: BTreeSet<String>,
}

impl Found {
    /// The first finding sets type and role; every finding adds its technology.
    fn guest(&mut self, tech: &str, kind: &str) {
        self.guest.insert(tech.to_string());
        if self.kind.is_none() {
            self.kind = Some(kind.to_string());
            self.role = Some("guest".into());
        }
    }
}

/// The facts, from the `@virt` lines.
pub fn virtual_facts(lines: &[String], f: &mut VarMap) {
    let with =
        |tag: &str| -> Vec<&str> { lines.iter().filter_map(|l| l.strip_prefix(tag)).collect() };
    let exists = |p: &str| lines.iter().any(|l| l.strip_prefix("exists ") == Some(p));
    let dmi = |k: &str| -> String {
        with("dmi ")
            .iter()
            .find_map(|l| l.strip_prefix(k).and_then(|v| v.strip_prefix(' ')))
            .unwrap_or("")
            .to_string()
    };
    let mut v = Found::default();
    let docker = regex::Regex::new(r"/docker(/|-[0-9a-f]+\.scope)").expect("a valid pattern");
    for line in with("cgroup ") {
        if docker.is_match(line) {
            v.guest("docker", "docker");
        }
        if line.contains("/lxc/") || line.contains("/machine.slice/machine-lxc") {
            v.guest("lxc", "lxc");
        }
        if line.contains("/system.slice/containerd.service") {
            v.guest("containerd", "containerd");
        }
    }
    for line in with("environ ") {
        if line.contains("container=lxc") {
            v.guest("lxc", "lxc");
        }
        if line.contains("container=podman") {
            v.guest("podman", "podman");
        }
        if line.len() > "container=".len() {
            v.guest("container", "container");
        }
    }
    if exists("/proc/vz") && !exists("/proc/lve") {
        let role = if exists("/proc/bc") { "host" } else { "guest" };
        if role == "host" {
            v.host.insert("openvz".into());
        } else {
            v.guest.insert("openvz".into());
        }
        if v.kind.is_none() {
            v.role = Some(role.into());
        }
        // Ansible's sets the type here even when an earlier finding set one.
        v.kind = Some("openvz".into());
    }
    let systemd = with("systemd ").first().map(|s| s.trim().to_string());
    if let Some(c) = systemd.as_deref().filter(|c| !c.is_empty()) {
        v.guest(c, c);
    }
    if exists("/.dockerenv") || exists("/.dockerinit") {
        v.guest("docker", "docker");
    }
    let containers = ["docker", "lxc", "podman", "openvz", "containerd"];
    if containers.iter().any(|c| v.guest.contains(*c)) || systemd.is_some_and(|c| !c.is_empty()) {
        v.guest.insert("container".into());
    }
    if exists("/proc/xen") {
        let xen_host = lines.iter().any(|l| l == "xenhost");
        if xen_host {
            v.host.insert("xen".into());
        }
        if v.kind.is_none() {
            v.kind = Some("xen".into());
            v.role = Some(if xen_host { "host" } else { "guest" }.into());
        }
    }
    // The DMI strings name the hypervisor of a guest.
    let (product, vendor, family, bios) = (
        dmi("product_name"),
        dmi("sys_vendor"),
        dmi("product_family"),
        dmi("bios_vendor"),
    );
    let dmi_guest = |tech: &str, v: &mut Found| v.guest(tech, tech);
    if [
        "KVM",
        "KVM Server",
        "Bochs",
        "AHV",
        "CloudStack KVM Hypervisor",
    ]
    .contains(&product.as_str())
    {
        dmi_guest("kvm", &mut v);
    }
    if vendor == "oVirt" {
        dmi_guest("oVirt", &mut v);
    }
    if vendor == "Red Hat" {
        if family == "RHV" {
            dmi_guest("RHV", &mut v);
        } else if product == "RHEV Hypervisor" {
            dmi_guest("RHEV", &mut v);
        }
    }
    if product.starts_with("VMware") {
        dmi_guest("VMware", &mut v);
    }
    if ["OpenStack Compute", "OpenStack Nova"].contains(&product.as_str()) {
        dmi_guest("openstack", &mut v);
    }
    if bios == "Xen" {
        dmi_guest("xen", &mut v);
    }
    if bios == "innotek GmbH" {
        dmi_guest("virtualbox", &mut v);
    }
    if ["Amazon EC2", "DigitalOcean", "Hetzner", "Linode"].contains(&bios.as_str()) {
        dmi_guest("kvm", &mut v);
    }
    if [
        "QEMU",
        "Amazon EC2",
        "DigitalOcean",
        "Google",
        "Scaleway",
        "Nutanix",
    ]
    .contains(&vendor.as_str())
    {
        dmi_guest("kvm", &mut v);
    }
    for (name, tech) in [
        ("KubeVirt", "KubeVirt"),
        ("Microsoft Corporation", "VirtualPC"),
        ("Parallels Software International Inc.", "parallels"),
        ("OpenStack Foundation", "openstack"),
    ] {
        if vendor == name {
            dmi_guest(tech, &mut v);
        }
    }
    if let Some(vx) = with("status ").first() {
        let host = vx.split_whitespace().nth(1) == Some("0");
        if host {
            v.host.insert("linux_vserver".into());
        } else {
            v.guest.insert("linux_vserver".into());
        }
        if v.kind.is_none() {
            v.kind = Some("linux_vserver".into());
            v.role = Some(if host { "host" } else { "guest" }.into());
        }
    }
    for line in with("cpu ") {
        let tech = if line.starts_with("model name") && line.contains("QEMU Virtual CPU") {
            "kvm"
        } else if line.starts_with("vendor_id") && line.contains("User Mode Linux")
            || line.starts_with("model name") && line.contains("UML")
        {
            "uml"
        } else if line.starts_with("machine")
            && line.contains("CHRP IBM pSeries (emulated by qemu)")
        {
            "kvm"
        } else if line.starts_with("vendor_id") && line.contains("PowerVM Lx86") {
            "powervm_lx86"
        } else if line.starts_with("vendor_id") && line.contains("IBM/S390") {
            "ibm_systemz"
        } else {
            continue;
        };
        v.guest(tech, tech);
    }
    let module = |m: &str| lines.iter().any(|l| l.strip_prefix("module ") == Some(m));
    for (m, tech, role) in [
        ("kvm", "kvm", "host"),
        ("vboxdrv", "virtualbox", "host"),
        ("virtio", "kvm", "guest"),
    ] {
        if module(m) {
            if role == "host" {
                v.host.insert(tech.into());
            } else {
                v.guest.insert(tech.into());
            }
            if m == "kvm" && lines.iter().any(|l| l == "vdsm") {
                v.host.insert("RHEV".into());
            }
            if v.kind.is_none() {
                let kind = if m == "kvm" && lines.iter().any(|l| l == "vdsm") {
                    "RHEV"
                } else {
                    tech
                };
                v.kind = Some(kind.into());
                v.role = Some(role.into());
            }
        }
    }
    for out in with("dmidecode ") {
        if out.starts_with("VMware") {
            v.guest("VMware", "VMware");
        }
        if out.contains("BHYVE") {
            v.guest("bhyve", "bhyve");
        }
    }
    if exists("/dev/kvm") {
        v.host.insert("kvm".into());
        if v.kind.is_none() {
            v.kind = Some("kvm".into());
            v.role = Some("host".into());
        }
    }
    let na = || "NA".to_string();
    f.insert(
        "virtualization_type".into(),
        Value::from(v.kind.unwrap_or_else(na)),
    );
    f.insert(
        "virtualization_role".into(),
        Value::from(v.role.unwrap_or_else(na)),
    );
    f.insert(
        "virtualization_tech_guest".into(),
        Value::from(v.guest.into_iter().collect::<Vec<_>>()),
    );
    f.insert(
        "virtualization_tech_host".into(),
        Value::from(v.host.into_iter().collect::<Vec<_>>()),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(text: &str) -> VarMap {
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        let mut f = VarMap::new();
        virtual_facts(&lines, &mut f);
        f
    }

    fn s(f: &VarMap, k: &str) -> String {
        f.get(k).unwrap().to_string()
    }

    #[test]
    fn decides_as_ansibles_linux_virtual() {
        // This machine as ansible-core 2.19's setup saw it: docker, on a KVM host.
        let f = facts("exists /.dockerenv\nexists /dev/kvm\n");
        assert_eq!(s(&f, "virtualization_type"), "docker");
        assert_eq!(s(&f, "virtualization_role"), "guest");
        assert_eq!(
            s(&f, "virtualization_tech_guest"),
            "['container', 'docker']"
        );
        assert_eq!(s(&f, "virtualization_tech_host"), "['kvm']");
        // A systemd-nspawn container.
        let f = facts("environ container=systemd-nspawn\nsystemd systemd-nspawn\n");
        assert_eq!(s(&f, "virtualization_type"), "container");
        assert_eq!(
            s(&f, "virtualization_tech_guest"),
            "['container', 'systemd-nspawn']"
        );
        // A KVM guest by its DMI strings.
        let f = facts("dmi product_name Standard PC (Q35 + ICH9, 2009)\ndmi sys_vendor QEMU\n");
        assert_eq!(s(&f, "virtualization_type"), "kvm");
        assert_eq!(s(&f, "virtualization_role"), "guest");
        // Nothing known.
        let f = facts("");
        assert_eq!(s(&f, "virtualization_type"), "NA");
        assert_eq!(s(&f, "virtualization_role"), "NA");
    }
}
