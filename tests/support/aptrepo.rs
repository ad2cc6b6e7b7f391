//! A local apt repository of tiny packages for the `apt`/`package` end-to-end tests, built
//! once per test process with `dpkg-deb --build` and indexed with `dpkg-scanpackages`:
//! `drover-hello` 1.0 and 2.0 (a script in /usr/bin; 2.0 depends on `drover-dep`),
//! `drover-dep`, `drover-rec` which recommends `drover-recommended`, and `drover-slow`
//! whose postinst sleeps 8 s (holding dpkg's lock). Published into a
//! test host's root as `/srv/drover-repo` with a `[trusted=yes] file:` source.
#![allow(dead_code)]

use super::hosts::TestHosts;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The directory on the test hosts the repository is published to.
pub const REPO_DIR: &str = "/srv/drover-repo";

/// Built packages: (package, version, file name in `debs/`).
pub struct Debs {
    _dir: tempfile::TempDir,
    pub debs: PathBuf,
}

/// (package, version, control extras)
const PACKAGES: &[(&str, &str, &str)] = &[
    ("drover-hello", "1.0", ""),
    ("drover-hello", "2.0", "Depends: drover-dep\n"),
    ("drover-dep", "1.0", ""),
    ("drover-rec", "1.0", "Recommends: drover-recommended\n"),
    ("drover-recommended", "1.0", ""),
    ("drover-slow", "1.0", ""),
];

static DEBS: OnceLock<Debs> = OnceLock::new();

fn sh(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The .deb file name of a package version.
pub fn deb_name(pkg: &str, ver: &str) -> String {
    format!("{pkg}_{ver}_all.deb")
}

/// Builds every package once per test process.
pub fn debs() -> &'static Debs {
    DEBS.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let debs = dir.path().join("debs");
        std::fs::create_dir_all(&debs).expect("mkdir debs");
        for (pkg, ver, extra) in PACKAGES {
            let root = dir.path().join(format!("build-{pkg}-{ver}"));
            std::fs::create_dir_all(root.join("DEBIAN")).expect("mkdir DEBIAN");
            std::fs::create_dir_all(root.join("usr/bin")).expect("mkdir usr/bin");
            std::fs::write(
                root.join("DEBIAN/control"),
                format!(
                    "Package: {pkg}\nVersion: {ver}\nSection: misc\nPriority: optional\n\
                     Architecture: all\nMaintainer: drover tests <tests@example.invalid>\n\
                     {extra}Description: drover test package {pkg} {ver}\n"
                ),
            )
            .expect("write control");
            let bin = root.join("usr/bin").join(pkg);
            std::fs::write(&bin, format!("#!/bin/sh\necho '{pkg} {ver}'\n")).expect("script");
            sh(Command::new("chmod").arg("0755").arg(&bin));
            if *pkg == "drover-slow" {
                // Holds dpkg's lock for a while, to test `lock_timeout`.
                let postinst = root.join("DEBIAN/postinst");
                std::fs::write(&postinst, "#!/bin/sh\nsleep 8\n").expect("postinst");
                sh(Command::new("chmod").arg("0755").arg(&postinst));
            }
            if *pkg == "drover-hello" {
                // A conffile, so that `purge` differs from a plain remove.
                std::fs::create_dir_all(root.join("etc")).expect("mkdir etc");
                std::fs::write(
                    root.join("etc/drover-hello.conf"),
                    format!("version={ver}\n"),
                )
                .expect("conffile");
                std::fs::write(root.join("DEBIAN/conffiles"), "/etc/drover-hello.conf\n")
                    .expect("conffiles");
            }
            sh(Command::new("dpkg-deb")
                .args(["--root-owner-group", "-Zgzip", "--build"])
                .arg(&root)
                .arg(debs.join(deb_name(pkg, ver))));
        }
        Debs { _dir: dir, debs }
    })
}

/// The built .deb of a package version, on the controller.
pub fn deb_path(pkg: &str, ver: &str) -> PathBuf {
    debs().debs.join(deb_name(pkg, ver))
}

/// Publishes the repository into host `i`: every package except the `drover-hello` versions
/// not listed in `hello_versions`, indexed, plus the apt source. Call again to publish more.
pub fn install_into(hosts: &TestHosts, i: usize, hello_versions: &[&str]) {
    let repo = hosts.path(i, REPO_DIR);
    let _ = std::fs::remove_dir_all(&repo);
    std::fs::create_dir_all(&repo).expect("mkdir repo");
    for (pkg, ver, _) in PACKAGES {
        if *pkg == "drover-hello" && !hello_versions.contains(ver) {
            continue;
        }
        std::fs::copy(deb_path(pkg, ver), repo.join(deb_name(pkg, ver))).expect("copy deb");
    }
    let out = Command::new("dpkg-scanpackages")
        .args(["-m", ".", "/dev/null"])
        .current_dir(&repo)
        .output()
        .expect("dpkg-scanpackages");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(repo.join("Packages"), &out.stdout).expect("write Packages");
    sh(Command::new("chmod").arg("-R").arg("a+rX").arg(&repo));
    let list = hosts.path(i, "/etc/apt/sources.list.d/drover.list");
    std::fs::create_dir_all(list.parent().expect("parent")).expect("mkdir sources.list.d");
    std::fs::write(list, format!("deb [trusted=yes] file:{REPO_DIR} ./\n"))
        .expect("write drover.list");
}

/// Runs `apt-get update` inside host `i` (to start from a populated cache).
pub fn update(hosts: &TestHosts, i: usize) {
    let (rc, out) = hosts.sh(i, "apt-get update -q 2>&1");
    assert_eq!(rc, 0, "apt-get update in host {i}: {out}");
}

/// Makes the apt cache of host `i` look two days old.
pub fn backdate_lists(hosts: &TestHosts, i: usize) {
    let (rc, out) = hosts.sh(
        i,
        "touch -d '2 days ago' /var/lib/apt/lists; \
         if [ -e /var/lib/apt/periodic/update-success-stamp ]; then \
         touch -d '2 days ago' /var/lib/apt/periodic/update-success-stamp; fi",
    );
    assert_eq!(rc, 0, "{out}");
}

/// The installed version of a package in host `i` (`None` when not installed).
pub fn installed(hosts: &TestHosts, i: usize, pkg: &str) -> Option<String> {
    let (rc, out) = hosts.sh(
        i,
        &format!("dpkg-query -W -f='${{Status}}\\t${{Version}}' {pkg} 2>/dev/null"),
    );
    if rc != 0 {
        return None;
    }
    let (status, ver) = out.split_once('\t')?;
    status.ends_with(" installed").then(|| ver.to_string())
}

/// dpkg's status of a package in host `i` (e.g. `deinstall ok config-files`), if known.
pub fn status(hosts: &TestHosts, i: usize, pkg: &str) -> Option<String> {
    let (rc, out) = hosts.sh(
        i,
        &format!("dpkg-query -W -f='${{Status}}' {pkg} 2>/dev/null"),
    );
    (rc == 0).then_some(out)
}

/// Starts installing `drover-slow` inside host `i` in the background: dpkg's lock is held
/// for about 8 seconds. Returns once the lock is taken.
pub fn hold_dpkg_lock(hosts: &TestHosts, i: usize) {
    let (rc, out) = hosts.sh(
        i,
        "setsid sh -c 'DEBIAN_FRONTEND=noninteractive apt-get install -y -q drover-slow' \
         </dev/null >/tmp/drover-slow.log 2>&1 &",
    );
    assert_eq!(rc, 0, "{out}");
    for _ in 0..100 {
        let (_, log) = hosts.sh(i, "cat /tmp/drover-slow.log");
        if log.contains("Setting up drover-slow") {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("drover-slow did not start installing");
}

/// Whether `p` exists in the host (helper for readability).
pub fn exists(hosts: &TestHosts, i: usize, p: &str) -> bool {
    Path::new(&hosts.path(i, p)).exists()
}
