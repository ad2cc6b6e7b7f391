//! End to end on isolated Debian test hosts over SSH: the example roles converge as `deploy`
//! with sudo, state is checked inside each host, the second run changes nothing, check mode
//! predicts and changes nothing, and an unreachable host does not stop the others.

mod support;

#[path = "e2e_hosts/archives.rs"]
mod archives;
#[path = "e2e_hosts/facts.rs"]
mod facts;
#[path = "e2e_hosts/firewall.rs"]
mod firewall;
#[path = "e2e_hosts/system.rs"]
mod system;

use std::process::Command;
use support::hosts::TestHosts;

fn drover(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_drover"))
        .args(args)
        .env("NO_COLOR", "1")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run drover");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn recap_changed(out: &str, host: &str) -> Option<u32> {
    let line = out
        .lines()
        .find(|l| l.starts_with(host) && l.contains(" : ok="))?;
    line.split_whitespace()
        .find_map(|w| w.strip_prefix("changed="))
        .and_then(|v| v.parse().ok())
}

#[test]
fn example_roles_converge_on_test_hosts_as_deploy_with_sudo() {
    let Some(hosts) = TestHosts::up(3) else {
        return;
    };
    let inv = hosts.inventory("deploy", "");
    let kh = hosts.known_hosts();
    // The shipped runtime and app roles on the test group (no runtime package: the hosts have
    // no apt repository here; `tests/e2e_examples.rs` runs the playbooks with one).
    let pb = hosts.dir.path().join("site.yml");
    std::fs::write(
        &pb,
        format!(
            "- hosts: test\n  roles:\n    - {0}/roles/runtime\n    - {0}/roles/app\n",
            env!("CARGO_MANIFEST_DIR")
        ),
    )
    .unwrap();
    let args = [
        "play",
        "-i",
        inv.to_str().unwrap(),
        pb.to_str().unwrap(),
        "--known-hosts",
        kh.to_str().unwrap(),
        "--host-key-checking",
        "accept-new",
        "-b",
        "-e",
        r#"{"runtime_packages": [], "app_name": "hello", "app_env": "test"}"#,
    ];

    // Check mode on fresh hosts predicts the whole deploy (user, directories, release, init
    // script, service start) and creates nothing.
    let mut check_args = args.to_vec();
    check_args.push("--check");
    let (code, out, err) = drover(&check_args);
    assert_eq!(code, 0, "{out}{err}");
    let mut predicted = Vec::new();
    for i in 0..3 {
        assert!(
            !hosts.path(i, "/srv/app").exists() && !hosts.path(i, "/etc/init.d/hello").exists(),
            "check mode created files on host {i}"
        );
        let c = recap_changed(&out, &format!("h{i}")).unwrap();
        assert!(c >= 9, "h{i}: {out}");
        predicted.push(c);
    }

    let (code, out, err) = drover(&args);
    assert_eq!(code, 0, "{out}{err}");
    for (i, predicted) in predicted.iter().enumerate() {
        let conf = std::fs::read_to_string(hosts.path(i, "/srv/app/shared/app.conf")).unwrap();
        assert!(conf.contains("\nname = hello\nenv = test\n"), "{conf}");
        let (_, owner) = hosts.sh(
            i,
            "stat -c '%U:%G %a' /srv/app/shared/app.conf /srv/app/current/bin/server /srv/app/shared",
        );
        assert_eq!(owner, "root:app 640\nroot:root 755\napp:app 755\n");
        assert_eq!(
            std::fs::read_to_string(hosts.path(i, "/var/log/app/hello.service.log")).unwrap(),
            "start\nrestart\n",
            "started, then restarted by the handler on host {i}"
        );
        // Check mode predicted every change the real run made.
        assert_eq!(
            recap_changed(&out, &format!("h{i}")),
            Some(*predicted),
            "{out}"
        );
    }

    for extra in [None, Some("--check")] {
        let mut again = args.to_vec();
        again.extend(extra);
        let (code, out, _) = drover(&again);
        assert_eq!(code, 0);
        for i in 0..3 {
            assert_eq!(
                recap_changed(&out, &format!("h{i}")),
                Some(0),
                "{extra:?}: a second run must change nothing:\n{out}"
            );
        }
    }
}

#[test]
fn an_unreachable_host_does_not_stop_the_others() {
    let Some(hosts) = TestHosts::up(2) else {
        return;
    };
    let mut inv = std::fs::read_to_string(hosts.inventory("root", "")).unwrap();
    inv.push_str("dead ansible_host=127.0.0.1 ansible_port=1 ansible_user=root\n");
    let inv_path = hosts.dir.path().join("with-dead.ini");
    std::fs::write(&inv_path, inv).unwrap();
    let pb = hosts.dir.path().join("touch.yml");
    std::fs::write(&pb, "- hosts: test\n  gather_facts: false\n  tasks:\n    - file: path=/tmp/one state=touch\n    - file: path=/tmp/two state=touch\n").unwrap();
    let kh = hosts.known_hosts();
    let (code, out, err) = drover(&[
        "play",
        "-i",
        inv_path.to_str().unwrap(),
        pb.to_str().unwrap(),
        "--known-hosts",
        kh.to_str().unwrap(),
        "--host-key-checking",
        "accept-new",
    ]);
    assert_eq!(code, 4, "{out}{err}");
    assert!(out.contains("fatal: [dead]: UNREACHABLE!"), "{out}");
    for i in 0..2 {
        assert!(
            hosts.path(i, "/tmp/one").exists() && hosts.path(i, "/tmp/two").exists(),
            "host {i} finished its tasks"
        );
    }
}

/// Runs `pb` on `hosts` as `user`, with `extra` arguments; the exit code and the output.
fn play_on(hosts: &TestHosts, user: &str, pb: &std::path::Path, extra: &[&str]) -> (i32, String) {
    let inv = hosts.inventory(user, "");
    let kh = hosts.known_hosts();
    let mut args = vec![
        "play",
        "-i",
        inv.to_str().unwrap(),
        pb.to_str().unwrap(),
        "--known-hosts",
        kh.to_str().unwrap(),
        "--host-key-checking",
        "accept-new",
    ];
    args.extend(extra);
    let (code, out, err) = drover(&args);
    (code, format!("{out}{err}"))
}

#[test]
fn text_edits_slurp_and_su_on_a_test_host() {
    let Some(hosts) = TestHosts::up(1) else {
        return;
    };
    let (rc, _) = hosts.sh(
        0,
        "mkdir -p /etc/edits && printf 'port=1\\nhost=a\\n[s]\\nport=2\\n[t]\\n' >/etc/edits/app.conf && printf 'a\\nb' >/etc/edits/block.conf && chmod 0640 /etc/edits/block.conf && printf '[main]\\nport = 80\\n' >/etc/edits/app.ini",
    );
    assert_eq!(rc, 0);
    let pb = hosts.dir.path().join("edits.yml");
    std::fs::write(
        &pb,
        r#"- hosts: test
  gather_facts: false
  tasks:
    - replace: {path: /etc/edits/app.conf, regexp: '^port=(\d)$', replace: 'port=\g<1>0', after: '\[s\]'}
    - replace: path=/etc/edits/app.conf regexp='^host=(.*)$' replace='server=\1' backup=true
      register: rep
    - blockinfile: {path: /etc/edits/block.conf, block: "x=1\ny=2", insertbefore: '^b$', mode: "0600"}
    - blockinfile: {path: /etc/edits/new/created.conf, block: "z", create: true, marker: "; {mark} Z"}
    - community.general.ini_file: {path: /etc/edits/app.ini, section: main, option: port, value: "8080"}
    - ini_file: {path: /etc/edits/app.ini, section: cache, option: size, value: 64m, no_extra_spaces: true}
    - slurp: {src: /etc/os-release}
      register: os
    - copy: {dest: /etc/edits/os-release.copy, content: "{{ os.content | b64decode }}"}
    - command: id -un
      become: true
      become_method: su
      become_user: deploy
      register: who
      changed_when: false
      check_mode: false
    - copy: {dest: /etc/edits/who, content: "{{ who.stdout }}\n"}
"#,
    )
    .unwrap();
    // Check mode predicts every change and makes none.
    let (code, out) = play_on(&hosts, "root", &pb, &["--check"]);
    assert_eq!(code, 0, "{out}");
    let predicted = recap_changed(&out, "h0").unwrap();
    assert_eq!(predicted, 8, "{out}");
    assert!(
        !hosts.path(0, "/etc/edits/new").exists(),
        "check mode created files"
    );
    assert_eq!(
        std::fs::read_to_string(hosts.path(0, "/etc/edits/app.conf")).unwrap(),
        "port=1\nhost=a\n[s]\nport=2\n[t]\n"
    );

    let (code, out) = play_on(&hosts, "root", &pb, &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(recap_changed(&out, "h0"), Some(predicted), "{out}");
    let read = |p: &str| std::fs::read_to_string(hosts.path(0, p)).unwrap();
    assert_eq!(
        read("/etc/edits/app.conf"),
        "port=1\nserver=a\n[s]\nport=20\n[t]\n"
    );
    let (_, backups) = hosts.sh(0, "cat /etc/edits/app.conf.*~");
    assert_eq!(backups, "port=1\nhost=a\n[s]\nport=20\n[t]\n", "the backup");
    assert_eq!(
        read("/etc/edits/block.conf"),
        "a\n# BEGIN ANSIBLE MANAGED BLOCK\nx=1\ny=2\n# END ANSIBLE MANAGED BLOCK\nb"
    );
    let (_, mode) = hosts.sh(0, "stat -c %a /etc/edits/block.conf");
    assert_eq!(mode, "600\n");
    assert_eq!(
        read("/etc/edits/new/created.conf"),
        "; BEGIN Z\nz\n; END Z\n"
    );
    assert_eq!(
        read("/etc/edits/app.ini"),
        "[main]\nport = 8080\n[cache]\nsize=64m\n"
    );
    assert_eq!(read("/etc/edits/os-release.copy"), read("/etc/os-release"));
    assert_eq!(read("/etc/edits/who"), "deploy\n", "su became deploy");

    // Idempotent, and check mode then predicts nothing.
    for extra in [&[][..], &["--check"][..]] {
        let (code, out) = play_on(&hosts, "root", &pb, extra);
        assert_eq!(code, 0, "{out}");
        assert_eq!(recap_changed(&out, "h0"), Some(0), "{extra:?}: {out}");
    }
}

#[test]
fn async_jobs_run_in_the_background_on_a_test_host() {
    let Some(hosts) = TestHosts::up(1) else {
        return;
    };
    let pb = hosts.dir.path().join("async.yml");
    std::fs::write(
        &pb,
        r#"- hosts: test
  gather_facts: false
  tasks:
    - shell: sleep 2; echo done >/tmp/job.out; echo out
      args: {creates: /tmp/job.out}
      async: 30
      poll: 0
      register: job
    - stat: {path: /tmp/job.out}
      register: early
    - async_status: {jid: "{{ job.ansible_job_id }}"}
      register: st
      until: st.finished
      retries: 20
      delay: 1
    - copy:
        dest: /tmp/job.report
        content: "{{ early.stat.exists }} {{ st.rc | default('-') }} {{ st.stdout | default(st.msg) }}\n"
    - command: sleep 1
      async: 10
      poll: 1
      register: polled
    - copy: {dest: /tmp/job.polled, content: "{{ polled.finished }} {{ polled.rc }}\n"}
"#,
    )
    .unwrap();
    let (code, out) = play_on(&hosts, "deploy", &pb, &["-b"]);
    assert_eq!(code, 0, "{out}");
    let read = |p: &str| std::fs::read_to_string(hosts.path(0, p)).unwrap();
    assert_eq!(read("/tmp/job.out"), "done\n", "the job ran");
    assert_eq!(
        read("/tmp/job.report"),
        "False 0 out\n",
        "the play went on before the job ended, then saw its result"
    );
    assert_eq!(read("/tmp/job.polled"), "True 0\n");
    let (_, left) = hosts.sh(0, "ls /root/.ansible_async | wc -l");
    // in, cmd, sh, start, out, err, end, rc of the first job; none of the polled one.
    assert_eq!(
        left.trim(),
        "8",
        "the polled job's files are erased, the other's kept"
    );
    // Again: `creates` names the file now, so the job settles at once and says why.
    let (code, out) = play_on(&hosts, "deploy", &pb, &["-b"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        read("/tmp/job.report"),
        "True 0 skipped, since /tmp/job.out exists\n"
    );
}

#[test]
fn wait_for_ports_and_files_on_a_test_host() {
    let Some(hosts) = TestHosts::up(1) else {
        return;
    };
    let pb = hosts.dir.path().join("wait.yml");
    std::fs::write(
        &pb,
        r#"- hosts: test
  gather_facts: false
  tasks:
    - shell: (sleep 2; echo "service ready on 8080 now" >/tmp/ready.log) >/dev/null 2>&1 &
    - wait_for: {path: /tmp/ready.log, search_regex: 'ready on (?P<port>\d+)', timeout: 20}
      register: file
    - wait_for: {host: "{{ ansible_host }}", port: "{{ ansible_port }}", search_regex: OpenSSH, timeout: 10}
      register: ssh
    - wait_for: {port: 1, state: stopped, timeout: 5}
    - wait_for: {port: 1, state: drained, timeout: 5}
    - wait_for: {port: 1, timeout: 2}
      register: closed
      ignore_errors: true
    - copy:
        dest: /tmp/wait.report
        content: "{{ file.match_groupdict.port }} {{ file.elapsed >= 1 }} {{ ssh.state }} {{ closed.msg }}\n"
"#,
    )
    .unwrap();
    let (code, out) = play_on(&hosts, "root", &pb, &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        std::fs::read_to_string(hosts.path(0, "/tmp/wait.report")).unwrap(),
        "8080 True started Timeout when waiting for 127.0.0.1:1\n"
    );
}

#[test]
fn get_url_downloads_with_the_hosts_curl() {
    use support::http::{HttpServer, Served};
    let Some(hosts) = TestHosts::up(1) else {
        return;
    };
    let body = b"tarball bytes\n".to_vec();
    // A digest that does not match, for the task that must fail.
    let sha256 = "a2b0c1d2";
    let srv = HttpServer::start(
        [
            (
                "/pkg-1.0.tar.gz".to_string(),
                Served {
                    body: body.clone(),
                    disposition: None,
                    content_type: None,
                },
            ),
            (
                "/download?id=7".to_string(),
                Served {
                    body: b"named\n".to_vec(),
                    disposition: Some("app.conf".into()),
                    content_type: None,
                },
            ),
        ]
        .into_iter()
        .collect(),
    );
    let pb = hosts.dir.path().join("get.yml");
    std::fs::write(
        &pb,
        format!(
            r#"- hosts: test
  gather_facts: false
  tasks:
    - file: {{path: /srv/dl, state: directory}}
    - get_url: {{url: "{tar}", dest: /srv/dl/pkg.tar.gz, mode: "0640", owner: deploy}}
    - get_url: {{url: "{named}", dest: /srv/dl/}}
    - get_url: {{url: "{tar}", dest: /srv/dl/other.tar.gz, checksum: "sha256:{sha256}"}}
      register: bad
      ignore_errors: true
    - copy: {{dest: /srv/dl/bad.msg, content: "{{{{ bad.msg is search('did not match') }}}}\n"}}
"#,
            tar = srv.url("/pkg-1.0.tar.gz"),
            named = srv.url("/download?id=7"),
        ),
    )
    .unwrap();
    // Check mode predicts the downloads and leaves nothing behind (no temp file either).
    let (code, out) = play_on(&hosts, "deploy", &pb, &["-b", "--check"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        !hosts.path(0, "/srv/dl").exists(),
        "check mode made the directory"
    );
    let (code, out) = play_on(&hosts, "deploy", &pb, &["-b"]);
    assert_eq!(code, 0, "{out}");
    let read = |p: &str| std::fs::read(hosts.path(0, p)).unwrap();
    assert_eq!(read("/srv/dl/pkg.tar.gz"), body);
    assert_eq!(
        read("/srv/dl/app.conf"),
        b"named\n",
        "named by Content-Disposition"
    );
    assert_eq!(read("/srv/dl/bad.msg"), b"True");
    assert!(
        !hosts.path(0, "/srv/dl/other.tar.gz").exists(),
        "a checksum mismatch writes nothing"
    );
    let (_, attrs) = hosts.sh(
        0,
        "stat -c '%U %a' /srv/dl/pkg.tar.gz; ls -A /srv/dl | grep -c drover-get_url",
    );
    assert_eq!(
        attrs, "deploy 640\n0\n",
        "attributes set, no temp file left"
    );
    // Again: the files are there (304 for the conditional request), nothing changes, and
    // check mode predicts just that.
    for extra in [&["-b"][..], &["-b", "--check"][..]] {
        let (code, out) = play_on(&hosts, "deploy", &pb, extra);
        assert_eq!(code, 0, "{out}");
        assert_eq!(recap_changed(&out, "h0"), Some(0), "{extra:?}: {out}");
    }
    assert!(
        srv.requests
            .lock()
            .unwrap()
            .iter()
            .all(|r| r.starts_with("GET ")),
        "the host's curl made the requests"
    );
    // A host without curl (nor wget): the controller downloads and sends the file.
    hosts.sh(0, "mv /usr/bin/curl /usr/bin/curl.away");
    let pb2 = hosts.dir.path().join("get2.yml");
    std::fs::write(
        &pb2,
        format!(
            "- hosts: test\n  gather_facts: false\n  tasks:\n    - get_url: {{url: \"{}\", dest: /srv/dl/via-controller.tgz}}\n      register: got\n    - copy: {{dest: /srv/dl/warning, content: \"{{{{ got.warnings[0] }}}}\"}}\n",
            srv.url("/pkg-1.0.tar.gz")
        ),
    )
    .unwrap();
    let (code, out) = play_on(&hosts, "deploy", &pb2, &["-b", "--check"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        !hosts.path(0, "/srv/dl/via-controller.tgz").exists(),
        "check mode wrote"
    );
    let (code, out) = play_on(&hosts, "deploy", &pb2, &["-b"]);
    hosts.sh(0, "mv /usr/bin/curl.away /usr/bin/curl");
    assert_eq!(code, 0, "{out}");
    assert_eq!(read("/srv/dl/via-controller.tgz"), body);
    assert!(
        String::from_utf8_lossy(&read("/srv/dl/warning")).contains("the controller downloaded"),
        "{out}"
    );
    let (_, left) = hosts.sh(0, "ls -A /srv/dl | grep -c drover-get_url");
    assert_eq!(left, "0\n", "no temp file left");
}

#[test]
fn uri_requests_from_the_host() {
    use support::http::{HttpServer, Served};
    let Some(hosts) = TestHosts::up(1) else {
        return;
    };
    let srv = HttpServer::start(
        [(
            "/api/status".to_string(),
            Served {
                body: br#"{"healthy": true, "version": "1.2"}"#.to_vec(),
                disposition: None,
                content_type: Some("application/json".into()),
            },
        )]
        .into_iter()
        .collect(),
    );
    let pb = hosts.dir.path().join("uri.yml");
    let payload = hosts.dir.path().join("payload.txt");
    std::fs::write(&payload, "from-the-controller").unwrap();
    std::fs::write(
        &pb,
        format!(
            r#"- hosts: test
  gather_facts: false
  tasks:
    - uri: {{url: "{api}"}}
      register: st
    - uri: {{url: "{api}", method: POST, body: {{name: web, size: 2}}, body_format: json, status_code: [200, 201]}}
    - uri: {{url: "{api}", dest: /tmp/status.json, creates: /tmp/status.json}}
    - uri: {{url: "{missing}", status_code: 404}}
    - uri: {{url: "{api}", method: PUT, src: "{payload}"}}
    - uri: {{url: "{api}", method: PUT, src: /tmp/host-payload, remote_src: true}}
    - uri: {{url: "{api}", method: POST, body_format: form-multipart, body: {{note: hi, file: {{filename: "{payload}"}}}}}}
    - copy: {{dest: /tmp/uri.report, content: "{{{{ st.json.version }}}} {{{{ st.status }}}} {{{{ st.content_type }}}}"}}
      when: st is not skipped
"#,
            api = srv.url("/api/status"),
            missing = srv.url("/nope"),
            payload = payload.display(),
        ),
    )
    .unwrap();
    hosts.sh(0, "printf from-the-host >/tmp/host-payload");
    // Check mode skips the requests, as Ansible's (a request may change the other side).
    let (code, out) = play_on(&hosts, "root", &pb, &["--check"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        srv.requests.lock().unwrap().is_empty(),
        "check mode sent a request"
    );
    let (code, out) = play_on(&hosts, "root", &pb, &[]);
    assert_eq!(code, 0, "{out}");
    let read = |p: &str| std::fs::read_to_string(hosts.path(0, p)).unwrap();
    assert_eq!(read("/tmp/uri.report"), "1.2 200 application/json");
    assert_eq!(
        read("/tmp/status.json"),
        r#"{"healthy": true, "version": "1.2"}"#
    );
    let sent = srv.requests.lock().unwrap().clone();
    assert_eq!(
        sent[..6],
        [
            "GET /api/status",
            r#"POST /api/status {"name": "web", "size": 2}"#,
            "GET /api/status",
            "GET /nope",
            "PUT /api/status from-the-controller",
            "PUT /api/status from-the-host"
        ]
    );
    // A multipart form as Ansible's `prepare_multipart` writes it (the file base64-encoded).
    let form = &sent[6];
    let boundary = form
        .strip_prefix("POST /api/status --")
        .and_then(|f| f.split("\r\n").next())
        .unwrap_or_else(|| panic!("a multipart POST: {form:?}"));
    assert_eq!(
        form.strip_prefix("POST /api/status ").unwrap(),
        format!(
            "--{boundary}\r\nContent-Transfer-Encoding: base64\r\nContent-Type: text/plain\r\nContent-Disposition: form-data; name=\"file\"; filename=\"payload.txt\"\r\n\r\nZnJvbS10aGUtY29udHJvbGxlcg==\r\n\r\n--{boundary}\r\nContent-Type: text/plain\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhi\r\n--{boundary}--\r\n"
        )
    );
    // `creates` now skips the download; the others ask again (and change nothing).
    let (code, out) = play_on(&hosts, "root", &pb, &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(recap_changed(&out, "h0"), Some(0), "{out}");
    assert_eq!(srv.requests.lock().unwrap().len(), 13);
}

#[test]
fn fetch_copies_host_files_to_the_controller() {
    let Some(hosts) = TestHosts::up(1) else {
        return;
    };
    hosts.sh(
        0,
        "mkdir -p /etc/app && printf 'port=80\\n' >/etc/app/app.conf",
    );
    let pb = hosts.dir.path().join("fetch.yml");
    let out_dir = hosts.dir.path().join("fetched");
    std::fs::write(
        &pb,
        format!(
            "- hosts: test\n  gather_facts: false\n  tasks:\n    - fetch: {{src: /etc/app/app.conf, dest: {0}/}}\n    - fetch: {{src: /etc/app/app.conf, dest: {0}/flat.conf, flat: true}}\n    - fetch: {{src: /etc/app/none, dest: {0}/, fail_on_missing: false}}\n",
            out_dir.display()
        ),
    )
    .unwrap();
    let (code, out) = play_on(&hosts, "deploy", &pb, &["-b", "--check"]);
    assert_eq!(code, 0, "{out}");
    assert!(!out_dir.exists(), "check mode fetched");
    let (code, out) = play_on(&hosts, "deploy", &pb, &["-b"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(recap_changed(&out, "h0"), Some(2), "{out}");
    let read = |p: &str| std::fs::read_to_string(out_dir.join(p)).unwrap();
    assert_eq!(read("h0/etc/app/app.conf"), "port=80\n");
    assert_eq!(read("flat.conf"), "port=80\n");
    let (code, out) = play_on(&hosts, "deploy", &pb, &["-b"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(recap_changed(&out, "h0"), Some(0), "{out}");
    hosts.sh(0, "printf 'port=81\\n' >/etc/app/app.conf");
    let (code, out) = play_on(&hosts, "deploy", &pb, &["-b"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(recap_changed(&out, "h0"), Some(2), "{out}");
    assert_eq!(read("flat.conf"), "port=81\n");
}

#[test]
fn assemble_and_wait_for_connection_on_a_test_host() {
    let Some(hosts) = TestHosts::up(1) else {
        return;
    };
    hosts.sh(
        0,
        "mkdir -p /etc/app.d && printf 'a=1\\n' >/etc/app.d/10-a && printf 'b=2' >/etc/app.d/20-b",
    );
    let frags = hosts.dir.path().join("frags");
    std::fs::create_dir_all(&frags).unwrap();
    std::fs::write(frags.join("1"), "one\n").unwrap();
    std::fs::write(frags.join("2"), "two\n").unwrap();
    let mut inv = std::fs::read_to_string(hosts.inventory("root", "")).unwrap();
    inv.push_str("dead ansible_host=127.0.0.1 ansible_port=1 ansible_user=root\n");
    let inv_path = hosts.dir.path().join("with-dead.ini");
    std::fs::write(&inv_path, inv).unwrap();
    let pb = hosts.dir.path().join("assemble.yml");
    std::fs::write(
        &pb,
        format!(
            r##"- hosts: test
  gather_facts: false
  tasks:
    - wait_for_connection: {{timeout: 3, sleep: 1}}
      register: waited
    - assemble: {{src: /etc/app.d, dest: /etc/app.conf, delimiter: "# part", mode: "0600"}}
      when: inventory_hostname != 'dead'
    - assemble: {{src: "{}", dest: /etc/local.conf, remote_src: false}}
      when: inventory_hostname != 'dead'
    # Waiting for another host: the one delegated to.
    - wait_for_connection: {{timeout: 2, sleep: 1}}
      delegate_to: dead
      register: via_dead
      ignore_errors: true
      when: inventory_hostname != 'dead'
    - wait_for_connection: {{timeout: 3}}
      delegate_to: localhost
      register: via_controller
      when: inventory_hostname != 'dead'
    - copy: {{dest: /etc/waited, content: "{{{{ via_dead.failed }}}} {{{{ via_dead.msg is search('timed out waiting') }}}} {{{{ via_controller.failed }}}}"}}
      when: inventory_hostname != 'dead'
"##,
            frags.display()
        ),
    )
    .unwrap();
    let kh = hosts.known_hosts();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "play",
            "-i",
            inv_path.to_str().unwrap(),
            pb.to_str().unwrap(),
            "--known-hosts",
            kh.to_str().unwrap(),
            "--host-key-checking",
            "accept-new",
        ];
        args.extend(extra);
        let (code, out, err) = drover(&args);
        (code, format!("{out}{err}"))
    };
    let (code, out) = run(&[]);
    assert_eq!(code, 2, "the dead host fails: {out}");
    assert!(
        out.contains("timed out waiting for ping module test"),
        "{out}"
    );
    assert_eq!(recap_changed(&out, "h0"), Some(3), "{out}");
    let read = |p: &str| std::fs::read_to_string(hosts.path(0, p)).unwrap();
    assert_eq!(read("/etc/waited"), "True True False");
    assert_eq!(read("/etc/app.conf"), "a=1\n# part\nb=2");
    assert_eq!(read("/etc/local.conf"), "one\ntwo\n");
    let (_, mode) = hosts.sh(0, "stat -c %a /etc/app.conf");
    assert_eq!(mode, "600\n");
    let (_, out) = run(&["-l", "h0"]);
    assert_eq!(recap_changed(&out, "h0"), Some(0), "{out}");
}
