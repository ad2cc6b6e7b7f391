//! The shipped example (inventory/, playbooks/site.yml, roles/app) works as documented:
//! `drover play -i inventory/hosts.ini playbooks/site.yml --check --diff` changes nothing, a
//! real run deploys the app, and a second run changes nothing.

mod support;

use std::path::Path;
use support::{drover, recap, run, s, snapshot};

/// What the example role creates under its `app_root`.
const EXAMPLE_FILES: &[&str] = &[
    "bin/",
    "bin/start.sh",
    "conf/",
    "conf/app.conf",
    "conf/env",
    "RELEASE",
    "reloaded",
];

fn example(args: &[&str]) -> (i32, String, String) {
    run(drover()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["play", "-i", "inventory/hosts.ini", "playbooks/site.yml"])
        .args(args))
}

#[test]
fn example_site_check_then_deploy_is_idempotent() {
    // 1. The documented command, verbatim: check mode must not create the default app_root.
    let default_root = Path::new("/tmp/drover-example");
    let existing = snapshot(default_root);
    let only_ours = existing
        .iter()
        .all(|(p, _)| EXAMPLE_FILES.contains(&p.as_str()));
    if default_root.exists() && only_ours {
        // Left over from a real run of the example: safe to remove.
        std::fs::remove_dir_all(default_root).unwrap();
    }
    let (code, out, err) = example(&["--check", "--diff"]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    if only_ours {
        assert!(
            !default_root.exists(),
            "--check created {}\n{out}",
            default_root.display()
        );
    } else {
        assert_eq!(snapshot(default_root), existing, "--check changed files");
    }
    assert!(
        out.contains("+port = 8080"),
        "--diff shows the rendered config\n{out}"
    );
    assert!(recap(&out, "localhost").changed > 0, "{out}");

    // 2. The same in check mode against a fresh root of our own.
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("site");
    let ev = format!("app_root={}", s(&root));
    let (code, out, err) = example(&["-e", &ev, "--check"]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(!root.exists(), "--check created {}", root.display());

    // 3. A real run deploys.
    let (code, out, err) = example(&["-e", &ev]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    let first = recap(&out, "localhost");
    assert!(first.changed >= 6, "{out}");
    assert_eq!((first.failed, first.unreachable), (0, 0), "{out}");
    assert!(out.contains("RUNNING HANDLER [app : reload app]"), "{out}");
    let conf = std::fs::read_to_string(root.join("conf/app.conf")).unwrap();
    for line in [
        "name = hello",
        "port = 8080",
        "workers = 2",
        "greeting = \"Hello from hello\"",
        "feature.metrics = on",
        "feature.healthcheck = on",
    ] {
        assert!(conf.lines().any(|l| l == line), "`{line}` in:\n{conf}");
    }
    assert_eq!(
        std::fs::read_to_string(root.join("conf/env")).unwrap(),
        "APP_ENV=example\n"
    );
    let script = root.join("bin/start.sh");
    assert_eq!(
        std::fs::read(&script).unwrap(),
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("roles/app/files/start.sh"))
            .unwrap()
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&script).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o755, "start.sh mode {mode:o}");
    assert!(root.join("RELEASE").exists() && root.join("reloaded").exists());
    assert!(
        out.contains("hello on localhost") && out.contains("listens on 8080"),
        "{out}"
    );
    let deployed = snapshot(&root);

    // 4. Converged: a second real run and a check run change nothing.
    for args in [vec!["-e", ev.as_str()], vec!["-e", ev.as_str(), "--check"]] {
        let (code, out, err) = example(&args);
        assert_eq!(code, 0, "{args:?}: stdout:\n{out}\nstderr:\n{err}");
        let r = recap(&out, "localhost");
        assert_eq!(
            r.changed, 0,
            "{args:?}: second run must change nothing\n{out}"
        );
        assert!(!out.contains("RUNNING HANDLER"), "{args:?}: {out}");
        assert_eq!(snapshot(&root), deployed, "{args:?}");
    }
}
