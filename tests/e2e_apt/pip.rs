//! `pip` on a test host with no network: wheels made here (pure Python, two versions) in a
//! directory on the host, installed into a virtualenv the module creates with `python3 -m
//! venv`, upgraded with `state: latest`, removed; read back with the virtualenv's own pip;
//! check mode predicting (pip's dry run) and changing nothing, the second run changing nothing.

use super::support::hosts::TestHosts;
use super::{play, recap, tasks};
use std::path::Path;
use std::process::Command;

/// Writes `drover_hello-VERSION-py3-none-any.whl` into `dir` (with a RECORD of sha256s).
fn make_wheel(dir: &Path, version: &str) {
    let script = r#"
import base64, hashlib, sys, zipfile
d, v = sys.argv[1], sys.argv[2]
info = f"drover_hello-{v}.dist-info"
files = {
    "drover_hello/__init__.py": f"VERSION = {v!r}\n",
    f"{info}/METADATA": f"Metadata-Version: 2.1\nName: drover-hello\nVersion: {v}\n",
    f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: drover-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}
record = ""
with zipfile.ZipFile(f"{d}/drover_hello-{v}-py3-none-any.whl", "w") as z:
    for name, text in files.items():
        data = text.encode()
        z.writestr(name, data)
        h = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record += f"{name},sha256={h},{len(data)}\n"
    record += f"{info}/RECORD,,\n"
    z.writestr(f"{info}/RECORD", record)
"#;
    let st = Command::new("python3")
        .args(["-c", script])
        .arg(dir)
        .arg(version)
        .status()
        .expect("python3");
    assert!(st.success());
}

#[test]
fn pip_installs_upgrades_and_removes_in_a_virtualenv() {
    let Some(hosts) = TestHosts::up(1) else {
        return;
    };
    let wheels = hosts.path(0, "/srv/wheels");
    std::fs::create_dir_all(&wheels).unwrap();
    make_wheel(&wheels, "1.0");
    let common = "virtualenv: /opt/venv, virtualenv_command: python3 -m venv, extra_args: --no-index --find-links /srv/wheels";
    let installed = || {
        hosts
            .sh(
                0,
                "/opt/venv/bin/pip list --format=freeze 2>/dev/null | grep -i '^drover'",
            )
            .1
    };
    let pb = tasks(&format!(
        "    - pip: {{name: drover-hello==1.0, {common}}}\n"
    ));
    let (code, out) = play(&hosts, "deploy", "pip.yml", &pb, &["--check"]);
    assert_eq!((code, recap(&out, "h0").changed), (0, 1), "{out}");
    assert!(
        !hosts.path(0, "/opt/venv").exists(),
        "check mode made the virtualenv"
    );
    let (code, out) = play(&hosts, "deploy", "pip.yml", &pb, &[]);
    assert_eq!((code, recap(&out, "h0").changed), (0, 1), "{out}");
    assert_eq!(installed(), "drover-hello==1.0\n");
    for extra in [&[][..], &["--check"][..]] {
        let (code, out) = play(&hosts, "deploy", "pip.yml", &pb, extra);
        assert_eq!(
            (code, recap(&out, "h0").changed),
            (0, 0),
            "{extra:?}: {out}"
        );
    }

    // A newer version appears: `latest` upgrades, and then has nothing to do.
    make_wheel(&wheels, "2.0");
    let latest = tasks(&format!(
        "    - pip: {{name: drover-hello, state: latest, {common}}}\n"
    ));
    let (code, out) = play(&hosts, "deploy", "latest.yml", &latest, &["--check"]);
    assert_eq!((code, recap(&out, "h0").changed), (0, 1), "{out}");
    assert_eq!(installed(), "drover-hello==1.0\n");
    let (code, out) = play(&hosts, "deploy", "latest.yml", &latest, &[]);
    assert_eq!((code, recap(&out, "h0").changed), (0, 1), "{out}");
    assert_eq!(installed(), "drover-hello==2.0\n");
    for extra in [&[][..], &["--check"][..]] {
        let (code, out) = play(&hosts, "deploy", "latest.yml", &latest, extra);
        assert_eq!(
            (code, recap(&out, "h0").changed),
            (0, 0),
            "{extra:?}: {out}"
        );
    }
    // A version range the installed one satisfies is no change, without asking pip.
    let range = tasks("    - pip: {name: 'drover-hello>=1.5,<3', virtualenv: /opt/venv}\n");
    let (code, out) = play(&hosts, "deploy", "range.yml", &range, &[]);
    assert_eq!((code, recap(&out, "h0").changed), (0, 0), "{out}");

    let gone = tasks("    - pip: {name: drover-hello, state: absent, virtualenv: /opt/venv}\n");
    let (code, out) = play(&hosts, "deploy", "gone.yml", &gone, &[]);
    assert_eq!((code, recap(&out, "h0").changed), (0, 1), "{out}");
    assert_eq!(installed(), "");
    let (code, out) = play(&hosts, "deploy", "gone.yml", &gone, &[]);
    assert_eq!((code, recap(&out, "h0").changed), (0, 0), "{out}");

    // The default virtualenv_command is not on the host: Ansible's message.
    let missing = tasks("    - pip: {name: drover-hello, virtualenv: /opt/other}\n");
    let (code, out) = play(&hosts, "deploy", "missing.yml", &missing, &[]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("Failed to find required executable \\\"virtualenv\\\""),
        "{out}"
    );
}
