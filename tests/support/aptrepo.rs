//! A local apt repository of tiny packages for the `apt`/`package` end-to-end tests, built
//! once per test process with `dpkg-deb --build` and indexed with `dpkg-scanpackages`:
//! `drover-hello` 1.0 and 2.0 (a script in /usr/bin; 2.0 depends on `drover-dep`),
//! `drover-dep`, `drover-rec` which recommends `drover-recommended`, and `drover-slow`
//! whose postinst sleeps 8 s (holding dpkg's lock), and stand-ins for three well-known daemons
//! (`memcached`, `redis-server`, `nginx`; see [`SERVICES`]), and `nodejs`, an application
//! runtime stand-in whose `/usr/bin/node --version` prints its version. Published into a test host's root
//! as `/srv/drover-repo` with a `[trusted=yes] file:` source.
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
    ("memcached", "1.6.18-1", ""),
    ("redis-server", "7.0.15-1", ""),
    ("nginx", "1.22.1-9", ""),
    ("nodejs", "18.19.0+dfsg-6~deb12u2", ""),
];

/// A stand-in for a real daemon package: a shell "daemon" that copies the configuration file
/// it was started with to `/var/lib/drover-fake/NAME.loaded` (again on SIGHUP) and then idles,
/// a real LSB init script `/etc/init.d/NAME` that logs each action to
/// `/var/log/NAME.initlog`, a default configuration (a conffile), and optionally a system user
/// created by the postinst. Nothing is started or enabled on install.
pub struct FakeService {
    pub pkg: &'static str,
    /// The init script's (and service's) name.
    pub name: &'static str,
    pub daemon: &'static str,
    pub conf: &'static str,
    pub conf_text: &'static str,
    /// More conffiles: (path, content).
    pub extra: &'static [(&'static str, &'static str)],
    pub user: Option<&'static str>,
}

pub const SERVICES: &[FakeService] = &[
    FakeService {
        pkg: "memcached",
        name: "memcached",
        daemon: "/usr/bin/memcached",
        conf: "/etc/memcached.conf",
        conf_text: "# memcached default config file\n-d\nlogfile /var/log/memcached.log\n\
                    -m 64\n-p 11211\n-u memcache\n-l 127.0.0.1\n",
        extra: &[],
        user: Some("memcache"),
    },
    FakeService {
        pkg: "redis-server",
        name: "redis-server",
        daemon: "/usr/bin/redis-server",
        conf: "/etc/redis/redis.conf",
        conf_text: "# Redis configuration file example.\n\
                    bind 127.0.0.1 -::1\n\
                    protected-mode yes\n\
                    port 6379\n\
                    daemonize yes\n\
                    pidfile /run/redis/redis-server.pid\n\
                    loglevel notice\n\
                    logfile /var/log/redis/redis-server.log\n\
                    databases 16\n\
                    save 3600 1 300 100 60 10000\n\
                    # maxmemory <bytes>\n\
                    # maxmemory-policy noeviction\n\
                    dir /var/lib/redis\n",
        extra: &[],
        user: Some("redis"),
    },
    FakeService {
        pkg: "nginx",
        name: "nginx",
        daemon: "/usr/sbin/nginx",
        conf: "/etc/nginx/nginx.conf",
        conf_text: "user www-data;\nworker_processes auto;\npid /run/nginx.pid;\n\
                    events {\n\tworker_connections 768;\n}\n\
                    http {\n\tinclude /etc/nginx/sites-enabled/*;\n}\n",
        extra: &[(
            "/etc/nginx/sites-enabled/default",
            "server {\n\tlisten 80 default_server;\n\troot /var/www/html;\n}\n",
        )],
        user: None,
    },
];

/// The init script of a [`FakeService`].
pub fn init_script(svc: &FakeService) -> String {
    INIT_TEMPLATE
        .replace("@NAME@", svc.name)
        .replace("@DAEMON@", svc.daemon)
        .replace("@CONF@", svc.conf)
}

const INIT_TEMPLATE: &str = r#"#!/bin/sh
### BEGIN INIT INFO
# Provides:          @NAME@
# Required-Start:    $remote_fs $network
# Required-Stop:     $remote_fs $network
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: @NAME@ (drover test stand-in)
### END INIT INFO
NAME=@NAME@
DAEMON=@DAEMON@
CONF=@CONF@
PID=/run/$NAME.pid
LOG=/var/log/$NAME.initlog
[ -x "$DAEMON" ] || exit 5
running() { [ -f "$PID" ] && kill -0 "$(cat "$PID")" 2>/dev/null; }
do_start() {
  running && return 0
  setsid "$DAEMON" "$CONF" </dev/null >/dev/null 2>&1 &
  echo $! > "$PID"
}
do_stop() {
  if running; then kill -TERM -- "-$(cat "$PID")" 2>/dev/null || kill "$(cat "$PID")"; fi
  rm -f "$PID"
}
case "$1" in
  start) do_start; echo start >> "$LOG" ;;
  stop) do_stop; echo stop >> "$LOG" ;;
  restart|force-reload) do_stop; do_start; echo restart >> "$LOG" ;;
  reload) running || exit 7; kill -HUP "$(cat "$PID")"; echo reload >> "$LOG" ;;
  status)
    if running; then echo "$NAME is running"; exit 0; fi
    if [ -f "$PID" ]; then exit 1; fi
    echo "$NAME is not running"; exit 3 ;;
  *) echo "Usage: $0 {start|stop|restart|reload|force-reload|status}" >&2; exit 2 ;;
esac
exit 0
"#;

/// The shell "daemon" of a [`FakeService`]: `-t [-c FILE]` checks a configuration like
/// `nginx -t`; otherwise it records the configuration it loaded and idles (SIGHUP reloads).
fn daemon_script(svc: &FakeService) -> String {
    format!(
        r#"#!/bin/sh
# {pkg}: drover test stand-in; records the configuration it loaded, then idles.
if [ "$1" = -t ]; then
  shift; [ "$1" = -c ] && shift
  f=${{1:-{conf}}}
  if [ -s "$f" ]; then echo "{name}: configuration file $f test is successful" >&2; exit 0; fi
  echo "{name}: cannot read $f" >&2; exit 1
fi
conf=${{1:-{conf}}}
load() {{ mkdir -p /var/lib/drover-fake && cat "$conf" > /var/lib/drover-fake/{name}.loaded; }}
trap load HUP
load
while :; do sleep 1; done
"#,
        pkg = svc.pkg,
        name = svc.name,
        conf = svc.conf
    )
}

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
            if let Some(svc) = SERVICES.iter().find(|svc| svc.pkg == *pkg) {
                build_service(&root, svc);
            } else {
                let bin = root.join("usr/bin").join(pkg);
                std::fs::write(&bin, format!("#!/bin/sh\necho '{pkg} {ver}'\n")).expect("script");
                sh(Command::new("chmod").arg("0755").arg(&bin));
            }
            if *pkg == "nodejs" {
                // The runtime's interpreter, as Debian's package names it.
                let node = root.join("usr/bin/node");
                std::fs::write(
                    &node,
                    "#!/bin/sh\n[ \"$1\" = --version ] && echo v18.19.0\n",
                )
                .expect("node");
                sh(Command::new("chmod").arg("0755").arg(&node));
            }
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

/// Adds a [`FakeService`]'s files to a package build tree.
fn build_service(root: &Path, svc: &FakeService) {
    let put = |path: &str, text: &str, mode: &str| {
        let p = root.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, text).expect("write package file");
        sh(Command::new("chmod").arg(mode).arg(&p));
    };
    put(svc.daemon, &daemon_script(svc), "0755");
    put(
        &format!("/etc/init.d/{}", svc.name),
        &init_script(svc),
        "0755",
    );
    put(svc.conf, svc.conf_text, "0644");
    let mut conffiles = format!("/etc/init.d/{}\n{}\n", svc.name, svc.conf);
    for (path, text) in svc.extra {
        put(path, text, "0644");
        conffiles.push_str(&format!("{path}\n"));
    }
    put("/DEBIAN/conffiles", &conffiles, "0644");
    if let Some(user) = svc.user {
        put(
            "/DEBIAN/postinst",
            &format!(
                "#!/bin/sh\nset -e\nif [ \"$1\" = configure ] && ! getent passwd {user} >/dev/null; then\n  \
                 adduser --system --group --quiet --no-create-home --home /nonexistent {user}\nfi\n"
            ),
            "0755",
        );
    }
}

/// The built .deb of a package version, on the controller.
pub fn deb_path(pkg: &str, ver: &str) -> PathBuf {
    debs().debs.join(deb_name(pkg, ver))
}

/// Publishes the repository into host `i`: every package except the `drover-hello` versions
/// not listed in `hello_versions`, indexed, plus the apt source. Call again to publish more.
pub fn install_into(hosts: &TestHosts, i: usize, hello_versions: &[&str]) {
    publish_into(&hosts.hosts[i].root, hello_versions);
}

/// Publishes the repository into the root file system `root` (a test host's, or an image
/// directory), as [`install_into`] does.
pub fn publish_into(root: &Path, hello_versions: &[&str]) {
    let in_root = |p: &str| root.join(p.trim_start_matches('/'));
    let repo = in_root(REPO_DIR);
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
    let list = in_root("/etc/apt/sources.list.d/drover.list");
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
