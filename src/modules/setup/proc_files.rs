//! The larger `/proc` files the hardware and virtual facts read (`cpuinfo`, `meminfo`, the
//! status of a process, `modules`, PID 1's cgroups and, as root, its environment), read by one
//! `grep` that prints each line as `path:line`. The shell's `read` takes a system call per
//! byte: on a many-core host `/proc/cpuinfo` alone is tens of thousands. Without `grep`, a
//! shell loop prints the same. The lines the hardware and virtual collectors parse are then
//! made here, as their shell loops made them.

/// The files, in the order their lines come.
macro_rules! files {
    () => {
        "/proc/cpuinfo /proc/self/status /proc/meminfo /proc/modules /proc/1/cgroup"
    };
}

/// The section's shell (`/dev/null` first, so that `grep` names the file on every line). PID
/// 1's environment (readable by root only) is one line of NUL-separated variables from `grep
/// -a`, a line per variable from the loop (`tr`).
pub const SECTION: &str = concat!(
    "if command -v grep >/dev/null 2>&1; then grep -a '' /dev/null ",
    files!(),
    " /proc/1/environ 2>/dev/null; else for f in ",
    files!(),
    "; do [ -r $f ] && while IFS= read -r l || [ -n \"$l\" ]; do printf '%s:%s\\n' $f \"$l\"; done <$f; done; ",
    "[ -r /proc/1/environ ] && tr '\\000' '\\n' </proc/1/environ 2>/dev/null | while IFS= read -r l; do printf '/proc/1/environ:%s\\n' \"$l\"; done; fi; :"
);

/// The lines of one file in the section's output.
fn of<'a>(files: &'a [String], path: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    files
        .iter()
        .filter_map(move |l| l.strip_prefix(path)?.strip_prefix(':'))
}

/// `cpu` lines: the `/proc/cpuinfo` keys the CPU facts read (`key:value`, the key without its
/// trailing blanks; only the first `flags`), and `allowed LIST` from the status.
pub fn cpu_lines(files: &[String]) -> Vec<String> {
    const KEYS: &[&str] = &[
        "model name",
        "Processor",
        "vendor_id",
        "cpu",
        "Vendor",
        "processor",
        "physical id",
        "core id",
        "cpu cores",
        "siblings",
        "# processors",
        "max thread id",
        "ncpus active",
    ];
    let mut out = Vec::new();
    let mut flags = false;
    for l in of(files, "/proc/cpuinfo") {
        let Some((k, v)) = l.split_once(':') else {
            continue;
        };
        let k = k.trim_end_matches([' ', '\t']);
        if KEYS.contains(&k) {
            out.push(format!("{k}:{v}"));
        } else if k == "flags" && !flags {
            flags = true;
            out.push(format!("flags:{v}"));
        }
    }
    for l in of(files, "/proc/self/status") {
        let mut w = l.split_whitespace();
        if w.next() == Some("Cpus_allowed_list:") {
            out.push(format!("allowed {}", w.collect::<Vec<_>>().join(" ")));
        }
    }
    out
}

/// `meminfo` lines: `Key: kB` for the memory facts' keys.
pub fn meminfo_lines(files: &[String]) -> Vec<String> {
    const KEYS: &[&str] = &[
        "MemTotal:",
        "MemFree:",
        "SwapTotal:",
        "SwapFree:",
        "Buffers:",
        "Cached:",
        "SwapCached:",
    ];
    of(files, "/proc/meminfo")
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let (k, v) = (w.next()?, w.next().unwrap_or(""));
            KEYS.contains(&k).then(|| format!("{k} {v}"))
        })
        .collect()
}

/// `virt` lines: `cgroup LINE` for PID 1's cgroups, `environ container=…` for its
/// `container` variable, `status` for a `VxID:` line, `cpu` for
/// the first `cpuinfo` line that names an emulator, `module` for kvm, vboxdrv and virtio.
pub fn virt_lines(files: &[String]) -> Vec<String> {
    let mut out: Vec<String> = of(files, "/proc/1/cgroup")
        .map(|l| format!("cgroup {l}"))
        .collect();
    out.extend(
        of(files, "/proc/1/environ")
            .flat_map(|l| l.split('\0'))
            .filter(|v| v.starts_with("container="))
            .map(|v| format!("environ {v}")),
    );
    out.extend(
        of(files, "/proc/self/status")
            .find(|l| l.starts_with("VxID:"))
            .map(|l| format!("status {l}")),
    );
    let emulated = |l: &str| {
        let has = |a: &str, b: &str| l.starts_with(a) && l[a.len()..].contains(b);
        has("model name", "QEMU Virtual CPU")
            || has("vendor_id", "User Mode Linux")
            || has("model name", "UML")
            || has("machine", "CHRP IBM pSeries (emulated by qemu)")
            || has("vendor_id", "PowerVM Lx86")
            || has("vendor_id", "IBM/S390")
    };
    out.extend(
        of(files, "/proc/cpuinfo")
            .find(|l| emulated(l))
            .map(|l| format!("cpu {l}")),
    );
    for l in of(files, "/proc/modules") {
        if let Some(m @ ("kvm" | "vboxdrv" | "virtio")) = l.split_whitespace().next() {
            out.push(format!("module {m}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_as_the_shell_loops_made_them() {
        let files: Vec<String> = [
            "/proc/cpuinfo:processor\t: 0",
            "/proc/cpuinfo:model name\t: QEMU Virtual CPU version 2.5+",
            "/proc/cpuinfo:flags\t\t: fpu vme",
            "/proc/cpuinfo:processor\t: 1",
            "/proc/cpuinfo:flags\t\t: fpu",
            "/proc/cpuinfo:bogomips\t: 4000.00",
            "/proc/self/status:Name:\tgrep",
            "/proc/self/status:Cpus_allowed_list:\t0-1",
            "/proc/meminfo:MemTotal:       24000000 kB",
            "/proc/meminfo:Active:       1 kB",
            "/proc/modules:kvm 1 0 - Live 0x0",
            "/proc/modules:ext4 1 0 - Live 0x0",
            "/proc/1/cgroup:0::/init.scope",
            "/proc/1/environ:HOME=/\0container=podman\0TERM=linux",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            cpu_lines(&files),
            [
                "processor: 0",
                "model name: QEMU Virtual CPU version 2.5+",
                "flags: fpu vme",
                "processor: 1",
                "allowed 0-1"
            ]
        );
        assert_eq!(meminfo_lines(&files), ["MemTotal: 24000000"]);
        assert_eq!(
            virt_lines(&files),
            [
                "cgroup 0::/init.scope",
                "environ container=podman",
                "cpu model name\t: QEMU Virtual CPU version 2.5+",
                "module kvm"
            ]
        );
    }

    #[test]
    fn grep_and_the_shell_loop_print_the_same() {
        let run = |path: &str| {
            let out = std::process::Command::new("/bin/sh")
                .args(["-c", SECTION])
                .env("PATH", path)
                .output()
                .unwrap();
            String::from_utf8(out.stdout).unwrap()
        };
        let with_grep = run("/usr/bin:/bin");
        let without = run("/nonexistent");
        let drop_status = |t: &str| -> Vec<String> {
            // The status is of the process that read it (grep, or the shell); PID 1's
            // environment is one line or a line per variable.
            t.lines()
                .filter(|l| !l.starts_with("/proc/self/status:"))
                .flat_map(|l| match l.strip_prefix("/proc/1/environ:") {
                    Some(vars) => vars
                        .split('\0')
                        .map(|v| format!("/proc/1/environ:{v}"))
                        .collect(),
                    None => vec![l.to_string()],
                })
                .collect()
        };
        assert!(with_grep.contains("/proc/meminfo:MemTotal:"), "{with_grep}");
        assert!(
            without.contains("/proc/self/status:Cpus_allowed_list:"),
            "{without}"
        );
        // cpuinfo's MHz lines change between reads.
        let steady = |v: Vec<String>| -> Vec<String> {
            v.into_iter()
                .filter(|l| !l.contains("MHz") && !l.starts_with("/proc/meminfo:"))
                .collect()
        };
        assert_eq!(
            steady(drop_status(&with_grep)),
            steady(drop_status(&without))
        );
    }
}
