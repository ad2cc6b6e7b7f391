//! `unarchive` on a test host: tar and zip archives from the controller, from the host and
//! from a URL (served on loopback by the test), state checked inside the host, check mode
//! predicting and changing nothing, the second run changing nothing.

use super::{play_on, recap_changed, support, TestHosts};
use std::process::Command;

#[test]
fn unarchive_from_the_controller_and_the_host() {
    let Some(hosts) = TestHosts::up(1) else {
        return;
    };
    // An archive on the controller, and one made on the host.
    let tree = hosts.dir.path().join("tree");
    std::fs::create_dir_all(tree.join("app/bin")).unwrap();
    std::fs::write(tree.join("app/VERSION"), "1.0\n").unwrap();
    std::fs::write(tree.join("app/bin/run"), "#!/bin/sh\necho run\n").unwrap();
    let tgz = hosts.dir.path().join("app.tar.gz");
    let st = Command::new("tar")
        .arg("-C")
        .arg(&tree)
        .arg("-czf")
        .arg(&tgz)
        .arg("app")
        .status()
        .unwrap();
    assert!(st.success());
    let (rc, _) = hosts.sh(0, "mkdir -p /opt/src/data && echo d >/opt/src/data/x && tar -C /opt/src -cf /opt/data.tar data && mkdir -p /opt/app /opt/data");
    assert_eq!(rc, 0);
    let pb = hosts.dir.path().join("unarchive.yml");
    std::fs::write(
        &pb,
        format!(
            r#"- hosts: test
  gather_facts: false
  tasks:
    - unarchive: {{src: "{}", dest: /opt/app, owner: deploy, mode: "u=rwX,g=rX,o="}}
    - unarchive: {{src: /opt/data.tar, dest: /opt/data, remote_src: true, list_files: true}}
      register: data
    - copy: {{dest: /opt/data.files, content: "{{{{ data.files | join(',') }}}} {{{{ data.handler }}}}"}}
"#,
            tgz.display()
        ),
    )
    .unwrap();
    let (code, out) = play_on(&hosts, "deploy", &pb, &["-b", "--check"]);
    assert_eq!(code, 0, "{out}");
    let predicted = recap_changed(&out, "h0").unwrap();
    assert!(
        !hosts.path(0, "/opt/app/app").exists(),
        "check mode unpacked"
    );
    let (code, out) = play_on(&hosts, "deploy", &pb, &["-b"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(recap_changed(&out, "h0"), Some(predicted), "{out}");
    let read = |p: &str| std::fs::read_to_string(hosts.path(0, p)).unwrap();
    assert_eq!(read("/opt/app/app/VERSION"), "1.0\n");
    assert_eq!(read("/opt/data/data/x"), "d\n");
    assert_eq!(read("/opt/data.files"), "data/,data/x TarArchive");
    let (_, attrs) = hosts.sh(0, "stat -c '%U %a %n' /opt/app/app /opt/app/app/VERSION");
    assert_eq!(
        attrs,
        "deploy 750 /opt/app/app\ndeploy 640 /opt/app/app/VERSION\n"
    );
    for extra in [&["-b"][..], &["-b", "--check"][..]] {
        let (code, out) = play_on(&hosts, "deploy", &pb, extra);
        assert_eq!(code, 0, "{out}");
        assert_eq!(recap_changed(&out, "h0"), Some(0), "{extra:?}: {out}");
    }
    // A file changed under the destination is unpacked again.
    hosts.sh(0, "echo 2.0 >/opt/app/app/VERSION");
    let (code, out) = play_on(&hosts, "deploy", &pb, &["-b"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(recap_changed(&out, "h0"), Some(1), "{out}");
    assert_eq!(read("/opt/app/app/VERSION"), "1.0\n");
}

#[test]
fn unarchive_zip_from_the_controller_the_host_and_a_url() {
    use support::http::{HttpServer, Served};
    let Some(hosts) = TestHosts::up(1) else {
        return;
    };
    // A zip made on the host with Info-ZIP's zip: a file, a directory, a 0600 file.
    let (rc, out) = hosts.sh(
        0,
        "mkdir -p /opt/src/d && echo hello >/opt/src/a.txt && echo secret >/opt/src/d/b && chmod 600 /opt/src/d/b && touch -t 201705111530.00 /opt/src/a.txt /opt/src/d/b && cd /opt/src && zip -qr /opt/t.zip a.txt d && mkdir -p /opt/c /opt/h /opt/u /opt/v",
    );
    assert_eq!(rc, 0, "{out}");
    let zip = std::fs::read(hosts.path(0, "/opt/t.zip")).unwrap();
    let local = hosts.dir.path().join("app.zip");
    std::fs::write(&local, &zip).unwrap();
    let srv = HttpServer::start(
        [(
            "/t.zip".to_string(),
            Served {
                body: zip.clone(),
                disposition: None,
                content_type: Some("application/zip".into()),
            },
        )]
        .into_iter()
        .collect(),
    );
    let pb = hosts.dir.path().join("unzip.yml");
    std::fs::write(
        &pb,
        format!(
            r#"- hosts: test
  gather_facts: false
  tasks:
    - unarchive: {{src: "{local}", dest: /opt/c, owner: deploy, mode: "u=rwX,g=rX,o="}}
    - unarchive: {{src: /opt/t.zip, dest: /opt/h, remote_src: true, list_files: true}}
      register: h
    - copy: {{dest: /opt/h.files, content: "{{{{ h.files | join(',') }}}} {{{{ h.handler }}}}"}}
    - unarchive: {{src: "{url}", dest: /opt/u, remote_src: true}}
"#,
            local = local.display(),
            url = srv.url("/t.zip"),
        ),
    )
    .unwrap();
    let (code, out) = play_on(&hosts, "deploy", &pb, &["-b", "--check", "--diff"]);
    assert_eq!(code, 0, "{out}");
    let predicted = recap_changed(&out, "h0").unwrap();
    assert!(
        out.contains(">f++++++.?? a.txt"),
        "the prepared diff: {out}"
    );
    let (_, listed) = hosts.sh(0, "ls -A /opt/c /opt/h /opt/u | grep -vc ':$\\|^$'");
    assert_eq!(listed, "0\n", "check mode unpacked");
    let (code, out) = play_on(&hosts, "deploy", &pb, &["-b"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(recap_changed(&out, "h0"), Some(predicted), "{out}");
    let read = |p: &str| std::fs::read_to_string(hosts.path(0, p)).unwrap();
    for dir in ["/opt/c", "/opt/h", "/opt/u"] {
        assert_eq!(read(&format!("{dir}/a.txt")), "hello\n");
        assert_eq!(read(&format!("{dir}/d/b")), "secret\n");
    }
    assert_eq!(read("/opt/h.files"), "a.txt,d/,d/b ZipArchive");
    let (_, attrs) = hosts.sh(
        0,
        "stat -c '%U %a %n' /opt/c/a.txt /opt/c/d /opt/c/d/b /opt/h/d/b /opt/h/a.txt; date -r /opt/h/a.txt +%Y%m%d%H%M",
    );
    assert_eq!(
        attrs,
        "deploy 640 /opt/c/a.txt\ndeploy 750 /opt/c/d\ndeploy 640 /opt/c/d/b\nroot 600 /opt/h/d/b\nroot 644 /opt/h/a.txt\n201705111530\n"
    );
    for extra in [&["-b"][..], &["-b", "--check"][..]] {
        let (code, out) = play_on(&hosts, "deploy", &pb, extra);
        assert_eq!(code, 0, "{out}");
        assert_eq!(recap_changed(&out, "h0"), Some(0), "{extra:?}: {out}");
    }
    // A member changed on the host (same size, other content) is unpacked again.
    hosts.sh(
        0,
        "echo HELLO >/opt/h/a.txt && touch -t 201705111530.00 /opt/h/a.txt",
    );
    let (code, out) = play_on(&hosts, "deploy", &pb, &["-b", "--diff"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(recap_changed(&out, "h0"), Some(1), "{out}");
    assert!(out.contains(".fc......?? a.txt"), "{out}");
    assert_eq!(read("/opt/h/a.txt"), "hello\n");
    // A host without curl or wget: the controller downloads the URL for it.
    let pb2 = hosts.dir.path().join("unzip2.yml");
    std::fs::write(
        &pb2,
        format!(
            "- hosts: test\n  gather_facts: false\n  tasks:\n    - unarchive: {{src: \"{}\", dest: /opt/v, remote_src: true}}\n",
            srv.url("/t.zip")
        ),
    )
    .unwrap();
    hosts.sh(0, "mv /usr/bin/curl /usr/bin/curl.away");
    let (code, out) = play_on(&hosts, "deploy", &pb2, &["-b"]);
    let (code2, out2) = play_on(&hosts, "deploy", &pb2, &["-b"]);
    hosts.sh(0, "mv /usr/bin/curl.away /usr/bin/curl");
    assert_eq!(code, 0, "{out}");
    assert_eq!(recap_changed(&out, "h0"), Some(1), "{out}");
    assert_eq!(read("/opt/v/d/b"), "secret\n");
    assert_eq!((code2, recap_changed(&out2, "h0")), (0, Some(0)), "{out2}");
}
