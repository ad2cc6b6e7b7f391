//! Test hosts booted with systemd under `systemd-nspawn` (the `service`/`systemd` suites and
//! the conformance targets Ansible's CI runs on systemd hosts).

use super::hosts::{TestHost, TestHosts};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Names hosts uniquely within this process (targets start hosts from several threads).
static SEQ: AtomicUsize = AtomicUsize::new(0);

fn script() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hosts/testhosts.sh")
}

impl TestHosts {
    /// Brings up `n` hosts booted with systemd, each with the directories `binds` mounted at
    /// the same paths inside; or prints why it cannot (`support::skip`) and returns `None`:
    /// nspawn is optional and may not work in every environment.
    pub fn up_systemd(n: usize, binds: &[&Path]) -> Option<TestHosts> {
        if let Some(why) = super::hosts::unavailable() {
            super::skip(&why);
            return None;
        }
        let has_nspawn = Command::new("sh")
            .args(["-c", "command -v systemd-nspawn"])
            .output()
            .is_ok_and(|o| o.status.success());
        if !has_nspawn {
            super::skip("systemd-nspawn is not installed (Debian: systemd-container)");
            return None;
        }
        let out = Command::new("bash")
            .arg(script())
            .arg("base-systemd")
            .output()
            .expect("run testhosts.sh");
        assert!(
            out.status.success(),
            "building the systemd base failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut set = TestHosts::with_key();
        let binds: Vec<String> = binds.iter().map(|b| b.display().to_string()).collect();
        for _ in 0..n {
            let name = format!(
                "sd{}x{}",
                std::process::id(),
                SEQ.fetch_add(1, Ordering::SeqCst)
            );
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .expect("a free port");
            let out = Command::new("bash")
                .arg(script())
                .args(["up-systemd", &name, &port.to_string()])
                .arg(set.key.with_extension("pub"))
                .env("DROVER_NSPAWN_BINDS", binds.join("\n"))
                .output()
                .expect("run testhosts.sh");
            let root = Command::new("bash")
                .arg(script())
                .args(["root", &name])
                .output()
                .expect("run testhosts.sh")
                .stdout;
            let root = Path::new(String::from_utf8_lossy(&root).trim()).to_path_buf();
            // Pushed before checking, so a half-started host is taken down on drop.
            set.hosts.push(TestHost {
                name,
                addr: "127.0.0.1".into(),
                port,
                root,
            });
            if !out.status.success() {
                super::skip(&format!(
                    "systemd-nspawn could not boot a host here: {}",
                    String::from_utf8_lossy(&out.stderr)
                ));
                return None;
            }
        }
        Some(set)
    }
}
