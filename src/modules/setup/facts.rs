//! The facts from `setup`'s sections, under Ansible's names: the OS from `/etc/os-release`,
//! the identity, the environment from `export -p` (in dash's and bash's quoting).

use super::*;

fn os_release(lines: &[&str]) -> HashMap<String, String> {
    lines
        .iter()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            (
                k.to_string(),
                v.trim_matches('"').trim_matches('\'').to_string(),
            )
        })
        .collect()
}

fn distribution_name(id: &str) -> String {
    match id {
        "debian" => "Debian".into(),
        "ubuntu" => "Ubuntu".into(),
        "rhel" => "RedHat".into(),
        "centos" => "CentOS".into(),
        "fedora" => "Fedora".into(),
        "rocky" => "Rocky".into(),
        "almalinux" => "AlmaLinux".into(),
        "alpine" => "Alpine".into(),
        "arch" => "Archlinux".into(),
        "opensuse-leap" | "opensuse-tumbleweed" | "opensuse" => "openSUSE Leap".into(),
        "sles" => "SLES".into(),
        "amzn" => "Amazon".into(),
        other => {
            let mut c = other.chars();
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        }
    }
}

fn os_family(id: &str, like: &str) -> String {
    let all = format!("{id} {like}");
    let has = |w: &str| all.split_whitespace().any(|x| x == w);
    if has("debian") || has("ubuntu") {
        "Debian"
    } else if has("rhel") || has("fedora") || has("centos") || has("amzn") {
        "RedHat"
    } else if has("alpine") {
        "Alpine"
    } else if has("arch") {
        "Archlinux"
    } else if has("suse") || has("sles") || has("opensuse") {
        "Suse"
    } else {
        return distribution_name(id);
    }
    .into()
}

/// Parses the probe's output into Ansible's fact names (without the `ansible_` prefix).
/// The facts from the sections' lines (`lines(name)`).
pub fn parse_facts(lines: &dyn Fn(&str) -> Vec<String>, has: &dyn Fn(&str) -> bool) -> VarMap {
    let get = |k: &str| lines(k);
    let first = |k: &str| get(k).first().map(|x| x.to_string()).unwrap_or_default();
    let mut f = VarMap::new();
    if has("platform") {
        platform(&get, &mut f);
    }
    if has("distribution") {
        distribution(&get, &mut f);
    }
    if has("pkg_mgr") {
        let pkg = match first("pkg").as_str() {
            "apt-get" => "apt".to_string(),
            "" => "unknown".to_string(),
            other => other.to_string(),
        };
        f.insert("pkg_mgr".into(), Value::from(pkg));
    }
    if has("service_mgr") {
        f.insert("service_mgr".into(), Value::from(service_mgr(&get("svc"))));
    }
    if has("systemd") {
        systemd(&get("systemd"), &mut f);
    }
    if has("selinux") {
        selinux(&get("selinux"), &mut f);
    }
    if has("fips") {
        f.insert("fips".into(), Value::from(first("fips") == "1"));
    }
    if has("python") {
        python(&get("python"), &mut f);
    }
    if has("user") {
        user(&get, &mut f);
    }
    if has("chroot") {
        f.insert("is_chroot".into(), Value::from(is_chroot(&get("chroot"))));
    }
    if has("env") {
        let env: VarMap = exported(&get("env").join("\n"))
            .into_iter()
            .map(|(k, v)| (k, Value::from(v)))
            .collect();
        f.insert("env".into(), map_value(env));
    }
    f
}

/// Ansible's `service_mgr`: PID 1's name unless it says nothing (`init`, a shell), else the
/// first of the Linux checks that holds (`svc`'s lines after the `comm` line), else
/// `service`.
fn service_mgr(lines: &[String]) -> String {
    let comm = lines
        .first()
        .and_then(|l| l.strip_prefix("comm"))
        .map(str::trim)
        .unwrap_or("");
    if !comm.is_empty() && comm != "init" && !comm.ends_with("sh") {
        return match comm {
            "procd" => "openwrt_init",
            "runit-init" => "runit",
            "svscan" => "svc",
            "openrc-init" => "openrc",
            other => other,
        }
        .to_string();
    }
    lines
        .get(1)
        .cloned()
        .unwrap_or_else(|| "service".to_string())
}

/// Ansible's `is_chroot`: `debian_chroot` set, else `/` not PID 1's root (the shell's `-ef`:
/// device and inode), else (PID 1's root unreadable) `/`'s inode not the file system's root
/// inode.
fn is_chroot(lines: &[String]) -> bool {
    match lines.first().map(String::as_str) {
        Some("env") | Some("differs") => return true,
        Some("same") => return false,
        _ => {}
    }
    let ids: Vec<&String> = lines.iter().filter(|l| l.contains(' ')).collect();
    match ids.as_slice() {
        [mine, pid1, ..] => mine != pid1,
        [mine] => {
            let fs = lines
                .iter()
                .find(|l| !l.contains(' '))
                .map_or("", |s| s.as_str());
            let root = match fs {
                "btrfs" => "256",
                "xfs" => "128",
                _ => "2",
            };
            mine.split(' ').nth(1) != Some(root)
        }
        [] => false,
    }
}

type Lines<'a> = dyn Fn(&str) -> Vec<String> + 'a;

fn platform(get: &Lines, f: &mut VarMap) {
    let first = |k: &str| get(k).first().map(|x| x.to_string()).unwrap_or_default();
    let uname: Vec<String> = first("uname")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let node = uname.get(1).cloned().unwrap_or_default();
    let short = node.split('.').next().unwrap_or("").to_string();
    // Python's `getfqdn`: the names the host's own address resolves back to, the first with
    // a dot (else the first), else the node name. The probe reads `/etc/hosts` itself where
    // the name is there and `files` comes first for hosts (else it asks `getent`).
    let names: Vec<String> = get("fqdn")
        .first()
        .map(|l| l.split_whitespace().skip(1).map(str::to_string).collect())
        .unwrap_or_default();
    let fqdn = names
        .iter()
        .find(|n| n.contains('.'))
        .or(names.first())
        .cloned()
        .unwrap_or_else(|| node.clone());
    let domain = fqdn
        .split_once('.')
        .map(|(_, d)| d.to_string())
        .unwrap_or_default();
    f.insert(
        "system".into(),
        Value::from(uname.first().cloned().unwrap_or_default()),
    );
    f.insert("hostname".into(), Value::from(short));
    f.insert("nodename".into(), Value::from(node.clone()));
    f.insert("fqdn".into(), Value::from(fqdn));
    f.insert("domain".into(), Value::from(domain));
    f.insert(
        "kernel".into(),
        Value::from(uname.get(2).cloned().unwrap_or_default()),
    );
    let arch = uname.get(3).cloned().unwrap_or_default();
    f.insert("architecture".into(), Value::from(arch.clone()));
    f.insert("machine".into(), Value::from(arch));
    f.insert("kernel_version".into(), Value::from(first("kver")));
    let id = first("machineid");
    if !id.is_empty() {
        f.insert("machine_id".into(), Value::from(id));
    }
}

fn distribution(get: &Lines, f: &mut VarMap) {
    let first = |k: &str| get(k).first().map(|x| x.to_string()).unwrap_or_default();
    let os_lines = get("os");
    let os = os_release(&os_lines.iter().map(String::as_str).collect::<Vec<_>>());
    let id = os.get("ID").cloned().unwrap_or_else(|| "unknown".into());
    let like = os.get("ID_LIKE").cloned().unwrap_or_default();
    let mut version = os.get("VERSION_ID").cloned().unwrap_or_default();
    let debver = first("debver");
    if id == "debian" && debver.chars().next().is_some_and(|c| c.is_ascii_digit()) {
        version = debver;
    }
    let major = version.split('.').next().unwrap_or("").to_string();
    f.insert("distribution".into(), Value::from(distribution_name(&id)));
    f.insert("distribution_version".into(), Value::from(version.clone()));
    f.insert("distribution_major_version".into(), Value::from(major));
    if let Some((_, minor)) = version.split_once('.') {
        let minor = minor.split('.').next().unwrap_or("").to_string();
        f.insert("distribution_minor_version".into(), Value::from(minor));
    }
    f.insert(
        "distribution_release".into(),
        Value::from(os.get("VERSION_CODENAME").cloned().unwrap_or_default()),
    );
    f.insert("os_family".into(), Value::from(os_family(&id, &like)));
}

/// `systemd`: the version and compiled-in features of `systemctl --version`, on hosts
/// systemd manages.
fn systemd(sd: &[String], f: &mut VarMap) {
    if let (Some(v), Some(features)) = (
        sd.first()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<i64>().ok()),
        sd.get(1),
    ) {
        f.insert(
            "systemd".into(),
            crate::vars::map_value([
                ("features".to_string(), Value::from(features.to_string())),
                ("version".to_string(), Value::from(v)),
            ]),
        );
    }
}

/// Without an SELinux file system the status is `disabled`, as roles that branch on
/// `ansible_selinux.status` expect on Debian. `selinux_python_present` is whether Ansible's
/// SELinux binding would load: whether the host has `libselinux.so.1`.
fn selinux(lines: &[String], f: &mut VarMap) {
    let enforce = lines
        .iter()
        .find_map(|l| l.strip_prefix("enforce "))
        .unwrap_or("");
    let selinux = match enforce {
        "" => vec![("status", Value::from("disabled"))],
        e => vec![
            ("status", Value::from("enabled")),
            (
                "mode",
                Value::from(if e == "1" { "enforcing" } else { "permissive" }),
            ),
        ],
    };
    f.insert(
        "selinux".into(),
        map_value(selinux.into_iter().map(|(k, v)| (k.to_string(), v))),
    );
    let lib = lines.iter().any(|l| l == "lib");
    f.insert("selinux_python_present".into(), Value::from(lib));
}

/// The host's Python, when it has one (drover needs none): where it is and, from the name of
/// the versioned file beside it, its major and minor version (`version_info` has those two
/// only: drover never runs it). Every Python 3 has an SSL context.
fn python(py: &[String], f: &mut VarMap) {
    if let Some(exe) = py.first().filter(|e| !e.is_empty()) {
        let mut p = vec![
            ("executable".to_string(), Value::from(exe.as_str())),
            ("has_sslcontext".to_string(), Value::from(true)),
            ("type".to_string(), Value::from("cpython")),
        ];
        if let Some((major, minor)) = py.get(1).and_then(|v| v.split_once('.')) {
            if let (Ok(a), Ok(b)) = (major.parse::<i64>(), minor.parse::<i64>()) {
                p.push((
                    "version".to_string(),
                    map_value([
                        ("major".to_string(), Value::from(a)),
                        ("minor".to_string(), Value::from(b)),
                    ]),
                ));
                p.push(("version_info".to_string(), Value::from(vec![a, b])));
            }
        }
        f.insert("python".into(), map_value(p));
    }
}

/// The user facts: the name from `id`, the account from its `/etc/passwd` line (or
/// `getent`), the real and effective ids from `/proc/self/status` (Ansible's
/// `effective_group_id` is the real group, as its `os.getgid()`).
fn user(get: &Lines, f: &mut VarMap) {
    let first = |k: &str| get(k).first().map(|x| x.to_string()).unwrap_or_default();
    // `id` prints: uid=0(root) gid=0(root) groups=0(root)
    let id_line = first("id");
    let name = id_line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("uid="))
        .and_then(|v| v.split_once('('))
        .map(|(_, rest)| rest.split(')').next().unwrap_or("").to_string())
        .unwrap_or_default();
    f.insert("user_id".into(), Value::from(name));
    // The account's passwd line (read, or from `getent`): name:password:uid:gid:gecos:dir:shell
    let pw = first("passwd");
    let pw: Vec<&str> = pw.split(':').collect();
    let num = |s: Option<&&str>| s.and_then(|v| v.parse::<i64>().ok()).unwrap_or(-1);
    if pw.len() >= 7 {
        f.insert("user_uid".into(), Value::from(num(pw.get(2))));
        f.insert("user_gid".into(), Value::from(num(pw.get(3))));
        f.insert("user_gecos".into(), Value::from(pw[4]));
        f.insert("user_dir".into(), Value::from(pw[5]));
        f.insert("user_shell".into(), Value::from(pw[6]));
    }
    let ids = get("ids");
    let id = |key: &str, n: usize| -> i64 {
        ids.iter()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|r| r.split_whitespace().nth(n))
            .and_then(|v| v.parse().ok())
            .unwrap_or(-1)
    };
    f.insert("real_user_id".into(), Value::from(id("Uid:", 0)));
    f.insert("effective_user_id".into(), Value::from(id("Uid:", 1)));
    f.insert("real_group_id".into(), Value::from(id("Gid:", 0)));
    f.insert("effective_group_id".into(), Value::from(id("Gid:", 0)));
}

/// The variables in `export -p` output, as dash (`export A='x'"'"'y'`) and bash in POSIX mode
/// (`export A="x'y"`, `export B=$'a\nb'`, `declare -x C="1"`) print them; names exported
/// without a value are left out, as `env` would.
pub fn exported(text: &str) -> Vec<(String, String)> {
    let c: Vec<char> = text.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    let skip_blank = |i: &mut usize| {
        while *i < c.len() && c[*i].is_whitespace() {
            *i += 1;
        }
    };
    let word = |i: &mut usize| -> String {
        let start = *i;
        while *i < c.len() && !c[*i].is_whitespace() && c[*i] != '=' {
            *i += 1;
        }
        c[start..*i].iter().collect()
    };
    loop {
        skip_blank(&mut i);
        if i >= c.len() {
            break;
        }
        let mut w = word(&mut i);
        // `export NAME…` or `declare -x NAME…`: skip the command and its flags.
        while (w == "export" || w == "declare" || w.starts_with('-')) && i < c.len() {
            skip_blank(&mut i);
            w = word(&mut i);
        }
        if i >= c.len() || c[i] != '=' {
            continue;
        }
        i += 1;
        let value = shell_word(&c, &mut i);
        if !w.is_empty() {
            out.push((w, value));
        }
    }
    out
}

/// One shell word starting at `i` (quotes and escapes removed); stops at unquoted blank.
fn shell_word(c: &[char], i: &mut usize) -> String {
    let mut v = String::new();
    while *i < c.len() && !c[*i].is_whitespace() {
        match c[*i] {
            '\'' => {
                *i += 1;
                while *i < c.len() && c[*i] != '\'' {
                    v.push(c[*i]);
                    *i += 1;
                }
                *i += 1;
            }
            '"' => {
                *i += 1;
                while *i < c.len() && c[*i] != '"' {
                    if c[*i] == '\\' && *i + 1 < c.len() && "\\\"$`\n".contains(c[*i + 1]) {
                        *i += 1;
                    }
                    v.push(c[*i]);
                    *i += 1;
                }
                *i += 1;
            }
            '$' if c.get(*i + 1) == Some(&'\'') => {
                *i += 2;
                while *i < c.len() && c[*i] != '\'' {
                    if c[*i] == '\\' && *i + 1 < c.len() {
                        *i += 1;
                        let e = c[*i];
                        match e {
                            'n' => v.push('\n'),
                            't' => v.push('\t'),
                            'r' => v.push('\r'),
                            'e' | 'E' => v.push('\u{1b}'),
                            'a' => v.push('\u{7}'),
                            'b' => v.push('\u{8}'),
                            'f' => v.push('\u{c}'),
                            'v' => v.push('\u{b}'),
                            'x' | '0'..='7' => {
                                let (radix, max) = if e == 'x' { (16, 2) } else { (8, 3) };
                                let mut digits = String::new();
                                if e != 'x' {
                                    digits.push(e);
                                }
                                while digits.len() < max
                                    && *i + 1 < c.len()
                                    && c[*i + 1].is_digit(radix)
                                {
                                    *i += 1;
                                    digits.push(c[*i]);
                                }
                                if let Some(ch) = u32::from_str_radix(&digits, radix)
                                    .ok()
                                    .and_then(char::from_u32)
                                {
                                    v.push(ch);
                                }
                            }
                            other => v.push(other),
                        }
                    } else {
                        v.push(c[*i]);
                    }
                    *i += 1;
                }
                *i += 1;
            }
            '\\' if *i + 1 < c.len() => {
                v.push(c[*i + 1]);
                *i += 2;
            }
            ch => {
                v.push(ch);
                *i += 1;
            }
        }
    }
    v
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_export_p_of_dash_and_bash() {
        let dash =
            "export A='x'\"'\"'y'\nexport B='multi\nline'\nexport C='$v \"q\" \\b'\nexport E=''\n";
        let bash = "declare -x A=\"x'y\"\nexport B=$'multi\\nline'\nexport OLDPWD\nexport C=\"\\$v \\\"q\\\" \\\\b\"\nexport E=\"\"\n";
        let want = vec![
            ("A".to_string(), "x'y".to_string()),
            ("B".to_string(), "multi\nline".to_string()),
            ("C".to_string(), "$v \"q\" \\b".to_string()),
            ("E".to_string(), String::new()),
        ];
        assert_eq!(super::exported(dash), want);
        assert_eq!(super::exported(bash), want);
    }

    use super::*;

    #[test]
    fn parses_a_debian_probe() {
        let text = "@uname\nLinux web1.example.com 6.1.0 x86_64\n@id\nuid=1000(deploy) gid=1000(deploy) groups=1000(deploy),27(sudo)\n@os\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n@debver\n12.5\n@pkg\napt-get\n@svc\ncomm systemd\n@passwd\ndeploy:x:1000:1000:Deploy,,,:/home/deploy:/bin/bash\n@ids\nUid: 1000 1000\nGid: 1000 1000\n@env\nexport HOME='/home/deploy'\nexport X='a=b'\n@not a marker\n";
        // Written with `@NAME` markers; the probe's own carry its token.
        let text = format!("\n{text}")
            .replace("\n@", "\n@@T:")
            .replace("@@T:not", "@not");
        let sec = crate::modules::sections::Marks::fixed("T").parse(&text);
        let f = parse_facts(
            &|k| sec.lines(k).iter().map(|l| l.to_string()).collect(),
            &|_| true,
        );
        let s = |k: &str| f.get(k).unwrap().to_string();
        assert_eq!(s("hostname"), "web1");
        assert_eq!(s("fqdn"), "web1.example.com");
        assert_eq!(s("domain"), "example.com");
        assert_eq!(s("os_family"), "Debian");
        assert_eq!(s("distribution"), "Debian");
        assert_eq!(s("distribution_version"), "12.5");
        assert_eq!(s("distribution_major_version"), "12");
        assert_eq!(s("distribution_release"), "bookworm");
        assert_eq!(s("pkg_mgr"), "apt");
        assert_eq!(s("service_mgr"), "systemd");
        assert_eq!(s("user_id"), "deploy");
        assert_eq!(f.get("user_uid").unwrap().as_i64(), Some(1000));
        assert_eq!(s("architecture"), "x86_64");
        assert_eq!(s("user_gecos"), "Deploy,,,");
        assert_eq!(s("user_dir"), "/home/deploy");
        assert_eq!(f.get("effective_user_id").unwrap().as_i64(), Some(1000));
        assert_eq!(
            f.get("env").unwrap().get_attr("X").unwrap().as_str(),
            Some("a=b")
        );
    }
}
