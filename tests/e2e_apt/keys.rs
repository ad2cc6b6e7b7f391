//! `apt_key` with the host's `apt-key` and `gpg`: a key made here (ed25519, no passphrase)
//! added from inline data, from a file on the host and from a URL on loopback into a keyring
//! of its own, then removed by id; each read back with the host's `apt-key list`, check mode
//! predicting and changing nothing, the second run changing nothing.

use super::support::hosts::TestHosts;
use super::support::http::{HttpServer, Served};
use super::{play, recap, tasks};
use std::process::Command;

/// A fresh public key, armored, and its 40-digit fingerprint.
fn make_key() -> (String, String) {
    let home = tempfile::tempdir().unwrap();
    let gpg = |args: &[&str]| {
        let out = Command::new("gpg")
            .arg("--homedir")
            .arg(home.path())
            .args(["--batch", "--quiet"])
            .args(args)
            .output()
            .expect("gpg");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    gpg(&[
        "--passphrase",
        "",
        "--quick-gen-key",
        "Drover Test <test@drover.invalid>",
        "ed25519",
        "sign",
        "never",
    ]);
    let armored = gpg(&["--armor", "--export"]);
    let fpr = gpg(&["--with-colons", "--list-keys"])
        .lines()
        .find_map(|l| {
            l.strip_prefix("fpr:")
                .map(|r| r.trim_matches(':').to_string())
        })
        .expect("a fingerprint");
    (armored, fpr)
}

#[test]
fn apt_key_adds_from_data_file_and_url_and_removes_by_id() {
    let Some(hosts) = TestHosts::up(1) else {
        return;
    };
    let (key, fpr) = make_key();
    let long = &fpr[fpr.len() - 16..];
    let listed = |keyring: &str| {
        hosts
            .sh(
                0,
                &format!("apt-key {keyring} list --keyid-format=long 2>/dev/null"),
            )
            .1
    };
    // Inline data, without an id: the key's id comes from gpg.
    let pb = tasks(&format!(
        "    - apt_key: {{data: \"{}\"}}\n      register: r\n    - copy: {{dest: /root/r.txt, content: \"{{{{ r.fp }}}} {{{{ r.id }}}} {{{{ r.short_id }}}}\"}}\n",
        key.replace('\n', "\\n")
    ));
    let (code, out) = play(&hosts, "deploy", "data.yml", &pb, &["--check"]);
    assert_eq!((code, recap(&out, "h0").changed), (0, 2), "{out}");
    assert!(!listed("").contains(long), "check mode added the key");
    let (code, out) = play(&hosts, "deploy", "data.yml", &pb, &[]);
    assert_eq!((code, recap(&out, "h0").changed), (0, 2), "{out}");
    assert!(listed("").contains(long), "{}", listed(""));
    let r = std::fs::read_to_string(hosts.path(0, "/root/r.txt")).unwrap();
    assert_eq!(r, format!("{long} {long} {}", &fpr[fpr.len() - 8..]));
    for extra in [&[][..], &["--check"][..]] {
        let (code, out) = play(&hosts, "deploy", "data.yml", &pb, extra);
        assert_eq!(
            (code, recap(&out, "h0").changed),
            (0, 0),
            "{extra:?}: {out}"
        );
    }

    // Removed by its full fingerprint.
    let rm = tasks(&format!(
        "    - apt_key: {{id: \"{fpr}\", state: absent}}\n"
    ));
    let (code, out) = play(&hosts, "deploy", "rm.yml", &rm, &["--check"]);
    assert_eq!((code, recap(&out, "h0").changed), (0, 1), "{out}");
    assert!(listed("").contains(long));
    let (code, out) = play(&hosts, "deploy", "rm.yml", &rm, &[]);
    assert_eq!((code, recap(&out, "h0").changed), (0, 1), "{out}");
    assert!(!listed("").contains(long), "{}", listed(""));
    let (code, out) = play(&hosts, "deploy", "rm.yml", &rm, &[]);
    assert_eq!((code, recap(&out, "h0").changed), (0, 0), "{out}");

    // From a file on the host, and from a URL into a keyring of its own.
    std::fs::write(hosts.path(0, "/root/key.asc"), &key).unwrap();
    let srv = HttpServer::start(
        [(
            "/key.asc".to_string(),
            Served {
                body: key.clone().into_bytes(),
                disposition: None,
                content_type: None,
            },
        )]
        .into_iter()
        .collect(),
    );
    let keyring = "/etc/apt/trusted.gpg.d/drover.gpg";
    let pb = tasks(&format!(
        "    - apt_key: {{file: /root/key.asc}}\n    - apt_key: {{url: \"{}\", keyring: {keyring}}}\n",
        srv.url("/key.asc")
    ));
    let (code, out) = play(&hosts, "deploy", "file.yml", &pb, &[]);
    assert_eq!((code, recap(&out, "h0").changed), (0, 2), "{out}");
    assert!(listed(&format!("--keyring {keyring}")).contains(long));
    assert!(hosts.path(0, keyring).exists());
    let (code, out) = play(&hosts, "deploy", "file.yml", &pb, &[]);
    assert_eq!((code, recap(&out, "h0").changed), (0, 0), "{out}");

    // A URL that is not there fails as Ansible's download does.
    let bad = tasks(&format!(
        "    - apt_key: {{url: \"{}\"}}\n",
        srv.url("/none.asc")
    ));
    let (code, out) = play(&hosts, "deploy", "bad.yml", &bad, &[]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("Failed to download key at"), "{out}");
}
