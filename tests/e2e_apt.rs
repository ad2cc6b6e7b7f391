//! End to end for `apt` and `package` on isolated Debian test hosts, against a local apt
//! repository of tiny packages (`support/aptrepo.rs`): pinned installs, idempotence, exact
//! check mode, `state: latest` after publishing a new version with `update_cache`,
//! `cache_valid_time`, `absent` with purge and autoremove, `deb:`, recommends, `package:`
//! dispatch, apt's own message for a name it cannot find; `dpkg_selections` and
//! `package_facts` on the same repository.

mod support;

#[path = "e2e_apt/keys.rs"]
mod keys;
#[path = "e2e_apt/pip.rs"]
mod pip;

use support::aptrepo::{self, deb_path, installed, status};
use support::hosts::TestHosts;
use support::{drover, recap, run, s};

/// Runs playbook text on all test hosts as `user` (with `-b` for `deploy`).
fn play(hosts: &TestHosts, user: &str, name: &str, pb: &str, extra: &[&str]) -> (i32, String) {
    let inv = hosts.inventory(user, "");
    let kh = hosts.known_hosts();
    let path = hosts.dir.path().join(name);
    std::fs::write(&path, pb).expect("write playbook");
    let mut cmd = drover();
    cmd.args(["play", "-i", s(&inv), s(&path), "--known-hosts", s(&kh)])
        .args(["--host-key-checking", "accept-new"]);
    if user != "root" {
        cmd.arg("-b");
    }
    cmd.args(extra);
    let (code, out, err) = run(&mut cmd);
    (code, format!("{out}\n--- stderr ---\n{err}"))
}

fn tasks(body: &str) -> String {
    format!("- hosts: test\n  gather_facts: false\n  tasks:\n{body}")
}

#[test]
fn pinned_install_check_latest_and_purge_as_deploy_with_sudo() {
    let Some(hosts) = TestHosts::up(1) else {
        return;
    };
    aptrepo::install_into(&hosts, 0, &["1.0"]);
    aptrepo::update(&hosts, 0);

    let pin = tasks("    - apt:\n        name: drover-hello=1.0\n");
    // Check mode predicts the install and changes nothing.
    let (code, out) = play(&hosts, "deploy", "pin.yml", &pin, &["--check", "--diff"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(recap(&out, "h0").changed, 1, "{out}");
    assert!(
        out.contains("drover-hello 1.0"),
        "the diff lists the package:\n{out}"
    );
    assert_eq!(installed(&hosts, 0, "drover-hello"), None);

    let (code, out) = play(&hosts, "deploy", "pin.yml", &pin, &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(recap(&out, "h0").changed, 1, "{out}");
    assert_eq!(installed(&hosts, 0, "drover-hello").as_deref(), Some("1.0"));
    let (_, script) = hosts.sh(0, "drover-hello");
    assert_eq!(script, "drover-hello 1.0\n");

    let (code, out) = play(&hosts, "deploy", "pin.yml", &pin, &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        recap(&out, "h0").changed,
        0,
        "second run changes nothing:\n{out}"
    );
    let wild = tasks("    - apt:\n        name: [\"drover-hello=1.*\"]\n");
    let (code, out) = play(&hosts, "deploy", "wild.yml", &wild, &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(recap(&out, "h0").changed, 0, "1.0 matches 1.*:\n{out}");

    // Publish 2.0: `latest` with update_cache upgrades and pulls the new dependency.
    aptrepo::install_into(&hosts, 0, &["1.0", "2.0"]);
    let latest = tasks(
        "    - apt:\n        name: drover-hello\n        state: latest\n        update_cache: yes\n",
    );
    let (code, out) = play(&hosts, "deploy", "latest.yml", &latest, &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(recap(&out, "h0").changed, 1, "{out}");
    assert_eq!(installed(&hosts, 0, "drover-hello").as_deref(), Some("2.0"));
    assert_eq!(installed(&hosts, 0, "drover-dep").as_deref(), Some("1.0"));
    let (code, out) = play(&hosts, "deploy", "latest.yml", &latest, &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        recap(&out, "h0").changed,
        0,
        "with packages, only package changes count:\n{out}"
    );

    // Remove without purge leaves the conffile; purge + autoremove takes everything.
    let rm = tasks("    - apt:\n        name: drover-hello\n        state: absent\n");
    let (code, out) = play(&hosts, "deploy", "rm.yml", &rm, &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(recap(&out, "h0").changed, 1, "{out}");
    assert_eq!(
        status(&hosts, 0, "drover-hello").as_deref(),
        Some("deinstall ok config-files")
    );
    let (code, out) = play(&hosts, "deploy", "rm.yml", &rm, &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(recap(&out, "h0").changed, 0, "{out}");
    let purge = tasks(
        "    - apt:\n        name: drover-hello\n        state: absent\n        purge: yes\n        autoremove: yes\n",
    );
    let (code, out) = play(&hosts, "deploy", "purge.yml", &purge, &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(recap(&out, "h0").changed, 1, "{out}");
    assert_eq!(status(&hosts, 0, "drover-hello"), None, "purged");
    assert!(!hosts.path(0, "/etc/drover-hello.conf").exists());
    assert_eq!(
        installed(&hosts, 0, "drover-dep"),
        None,
        "the dependency was autoremoved"
    );
    let (code, out) = play(&hosts, "deploy", "purge.yml", &purge, &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(recap(&out, "h0").changed, 0, "{out}");
}

#[test]
fn cache_valid_time_updates_only_a_stale_cache() {
    let Some(hosts) = TestHosts::up(1) else {
        return;
    };
    aptrepo::install_into(&hosts, 0, &["1.0"]);
    aptrepo::backdate_lists(&hosts, 0);
    let pb = tasks(
        "    - apt:\n        update_cache: yes\n        cache_valid_time: 3600\n      register: r\n    - debug:\n        msg: \"updated={{ r.cache_updated }}\"\n",
    );
    let (code, out) = play(&hosts, "root", "cache.yml", &pb, &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(recap(&out, "h0").changed, 1, "{out}");
    assert!(
        out.contains("updated=True") || out.contains("updated=true"),
        "{out}"
    );
    let (_, policy) = hosts.sh(0, "apt-cache policy drover-hello");
    assert!(
        policy.contains("Candidate: 1.0"),
        "the cache was updated: {policy}"
    );

    let (code, out) = play(&hosts, "root", "cache.yml", &pb, &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        recap(&out, "h0").changed,
        0,
        "a fresh cache is not updated:\n{out}"
    );
    assert!(
        out.contains("updated=False") || out.contains("updated=false"),
        "{out}"
    );

    aptrepo::backdate_lists(&hosts, 0);
    let (code, out) = play(&hosts, "root", "cache.yml", &pb, &["--check"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        recap(&out, "h0").changed,
        1,
        "check mode predicts the update:\n{out}"
    );
    let (code, out) = play(&hosts, "root", "cache.yml", &pb, &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        recap(&out, "h0").changed,
        1,
        "a stale cache is updated:\n{out}"
    );
}

#[test]
fn deb_files_recommends_package_dispatch_and_apt_errors() {
    let Some(hosts) = TestHosts::up(1) else {
        return;
    };
    aptrepo::install_into(&hosts, 0, &["1.0"]);
    aptrepo::update(&hosts, 0);

    // `deb:` installs a package file copied to the host.
    std::fs::copy(
        deb_path("drover-hello", "1.0"),
        hosts.path(0, "/tmp/drover-hello_1.0_all.deb"),
    )
    .expect("copy deb");
    let deb = tasks("    - apt:\n        deb: /tmp/drover-hello_1.0_all.deb\n");
    let (code, out) = play(&hosts, "root", "deb.yml", &deb, &["--check"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(recap(&out, "h0").changed, 1, "{out}");
    assert_eq!(installed(&hosts, 0, "drover-hello"), None);
    let (code, out) = play(&hosts, "root", "deb.yml", &deb, &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(recap(&out, "h0").changed, 1, "{out}");
    assert_eq!(installed(&hosts, 0, "drover-hello").as_deref(), Some("1.0"));
    let (code, out) = play(&hosts, "root", "deb.yml", &deb, &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(recap(&out, "h0").changed, 0, "{out}");

    // A newer .deb upgrades, its dependency coming from the repository.
    std::fs::copy(
        deb_path("drover-hello", "2.0"),
        hosts.path(0, "/tmp/drover-hello_2.0_all.deb"),
    )
    .expect("copy deb");
    let deb2 = tasks("    - apt:\n        deb: /tmp/drover-hello_2.0_all.deb\n");
    let (code, out) = play(&hosts, "root", "deb2.yml", &deb2, &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(recap(&out, "h0").changed, 1, "{out}");
    assert_eq!(installed(&hosts, 0, "drover-hello").as_deref(), Some("2.0"));
    // The dependency came in marked automatic; asking for it marks it manual (apt's own
    // record, as ansible-core does), with no change reported, and nothing the next time.
    let auto = |h: &TestHosts| h.sh(0, "apt-mark showauto drover-dep").1;
    assert_eq!(auto(&hosts), "drover-dep\n");
    let dep = tasks("    - apt:\n        name: drover-dep\n");
    for _ in 0..2 {
        let (code, out) = play(&hosts, "root", "dep.yml", &dep, &[]);
        assert_eq!(code, 0, "{out}");
        assert_eq!(recap(&out, "h0").changed, 0, "{out}");
        assert_eq!(auto(&hosts), "", "{out}");
    }
    // Automatic again, for the autoremove below.
    assert_eq!(hosts.sh(0, "apt-mark auto drover-dep >/dev/null").0, 0);
    assert_eq!(installed(&hosts, 0, "drover-dep").as_deref(), Some("1.0"));
    let cleanup = tasks(
        "    - apt:\n        name: drover-hello\n        state: absent\n        autoremove: yes\n",
    );
    let (code, out) = play(&hosts, "root", "cleanup.yml", &cleanup, &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(installed(&hosts, 0, "drover-dep"), None, "{out}");

    // Recommends are skipped when asked.
    let norec = tasks("    - apt:\n        name: drover-rec\n        install_recommends: no\n");
    let (code, out) = play(&hosts, "root", "norec.yml", &norec, &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(installed(&hosts, 0, "drover-rec").as_deref(), Some("1.0"));
    assert_eq!(installed(&hosts, 0, "drover-recommended"), None);
    let rec = tasks(
        "    - apt:\n        name: drover-recommended\n        state: absent\n    - apt:\n        name: drover-rec\n        state: absent\n    - apt:\n        name: drover-rec\n        install_recommends: yes\n",
    );
    let (code, out) = play(&hosts, "root", "rec.yml", &rec, &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        installed(&hosts, 0, "drover-recommended").as_deref(),
        Some("1.0")
    );

    // `package:` dispatches to apt, from gathered facts or by probing.
    let pkg = "- hosts: test\n  tasks:\n    - package:\n        name: drover-dep\n        state: present\n";
    let (code, out) = play(&hosts, "root", "pkg.yml", pkg, &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(recap(&out, "h0").changed, 1, "{out}");
    assert_eq!(installed(&hosts, 0, "drover-dep").as_deref(), Some("1.0"));
    let pkg_nofacts = tasks("    - package:\n        name: drover-dep\n        state: absent\n");
    let (code, out) = play(&hosts, "root", "pkg2.yml", &pkg_nofacts, &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(recap(&out, "h0").changed, 1, "{out}");
    assert_eq!(installed(&hosts, 0, "drover-dep"), None);
    let yum = tasks("    - package:\n        name: drover-dep\n        use: yum\n");
    let (code, out) = play(&hosts, "root", "yum.yml", &yum, &[]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("package manager `yum` is not supported by drover yet (supported: apt)"),
        "{out}"
    );

    // A name apt cannot find fails with apt's message, in check mode too.
    let bad = tasks("    - apt:\n        name: drover-nosuch\n");
    for extra in [&["--check"][..], &[][..]] {
        let (code, out) = play(&hosts, "root", "bad.yml", &bad, extra);
        assert_eq!(code, 2, "{out}");
        assert!(
            out.contains("Unable to locate package drover-nosuch"),
            "{out}"
        );
        assert_eq!(recap(&out, "h0").failed, 1, "{out}");
    }
}

#[test]
fn lock_timeout_waits_for_dpkg_and_fails_clearly_when_exceeded() {
    let Some(hosts) = TestHosts::up(1) else {
        return;
    };
    aptrepo::install_into(&hosts, 0, &["1.0"]);
    aptrepo::update(&hosts, 0);

    aptrepo::hold_dpkg_lock(&hosts, 0);
    let short = tasks("    - apt:\n        name: drover-dep\n        lock_timeout: 1\n");
    let (code, out) = play(&hosts, "root", "short.yml", &short, &[]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("Failed to lock apt for exclusive operation"),
        "{out}"
    );
    assert_eq!(installed(&hosts, 0, "drover-dep"), None);

    // The lock is still held for a few seconds: the default timeout waits it out.
    let long = tasks("    - apt:\n        name: drover-dep\n");
    let (code, out) = play(&hosts, "root", "long.yml", &long, &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(recap(&out, "h0").changed, 1, "{out}");
    assert_eq!(installed(&hosts, 0, "drover-dep").as_deref(), Some("1.0"));
    assert_eq!(installed(&hosts, 0, "drover-slow").as_deref(), Some("1.0"));
}

#[test]
fn upgrade_and_update_cache_on_a_host_with_no_lists() {
    let Some(hosts) = TestHosts::up(1) else {
        return;
    };
    // The base has no apt lists at all: the package is unknown until the cache is updated.
    aptrepo::install_into(&hosts, 0, &["1.0"]);
    let pb = tasks("    - apt:\n        name: drover-hello\n        update_cache: yes\n");
    let (code, out) = play(&hosts, "deploy", "fresh.yml", &pb, &["--check"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(recap(&out, "h0").changed, 1, "{out}");
    assert_eq!(installed(&hosts, 0, "drover-hello"), None);
    let (code, out) = play(&hosts, "deploy", "fresh.yml", &pb, &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(recap(&out, "h0").changed, 1, "{out}");
    assert_eq!(installed(&hosts, 0, "drover-hello").as_deref(), Some("1.0"));

    aptrepo::install_into(&hosts, 0, &["1.0", "2.0"]);
    let up = tasks("    - apt:\n        upgrade: dist\n        update_cache: yes\n");
    let (code, out) = play(&hosts, "deploy", "up.yml", &up, &["--check"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(recap(&out, "h0").changed, 1, "{out}");
    assert_eq!(installed(&hosts, 0, "drover-hello").as_deref(), Some("1.0"));
    let (code, out) = play(&hosts, "deploy", "up.yml", &up, &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(recap(&out, "h0").changed, 1, "{out}");
    assert_eq!(installed(&hosts, 0, "drover-hello").as_deref(), Some("2.0"));
    assert_eq!(installed(&hosts, 0, "drover-dep").as_deref(), Some("1.0"));
    let (code, out) = play(&hosts, "deploy", "up.yml", &up, &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        recap(&out, "h0").changed,
        0,
        "nothing left to upgrade:\n{out}"
    );
}

#[test]
fn dpkg_selections_holds_a_package_and_releases_it() {
    let Some(hosts) = TestHosts::up(1) else {
        return;
    };
    aptrepo::install_into(&hosts, 0, &["1.0"]);
    aptrepo::update(&hosts, 0);
    let hold = tasks(
        "    - apt: {name: drover-hello=1.0}\n    - dpkg_selections: {name: drover-hello, selection: hold}\n      register: sel\n    - copy: {dest: /root/sel, content: \"{{ sel.before }} {{ sel.after }}\"}\n      when: sel is changed and not ansible_check_mode\n",
    );
    let selection = |h: &TestHosts| h.sh(0, "dpkg --get-selections drover-hello").1;
    let (code, out) = play(&hosts, "deploy", "hold.yml", &hold, &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(recap(&out, "h0").changed, 3, "{out}");
    assert_eq!(selection(&hosts), "drover-hello\t\t\t\t\thold\n");
    assert_eq!(
        std::fs::read_to_string(hosts.path(0, "/root/sel")).unwrap(),
        "install hold"
    );
    for extra in [&[][..], &["--check"][..]] {
        let (code, out) = play(&hosts, "deploy", "hold.yml", &hold, extra);
        assert_eq!(code, 0, "{out}");
        assert_eq!(recap(&out, "h0").changed, 0, "{extra:?}: {out}");
    }
    let release = tasks("    - dpkg_selections: {name: drover-hello, selection: install}\n    - dpkg_selections: {name: drover-nothere, selection: hold}\n      ignore_errors: true\n      register: missing\n    - assert: {that: \"missing.msg == \\\"Failed to find package 'drover-nothere' to perform selection 'hold'.\\\"\"}\n");
    let (code, out) = play(&hosts, "deploy", "release.yml", &release, &["--check"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(recap(&out, "h0").changed, 1, "{out}");
    assert_eq!(selection(&hosts), "drover-hello\t\t\t\t\thold\n");
    let (code, out) = play(&hosts, "deploy", "release.yml", &release, &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(recap(&out, "h0").changed, 1, "{out}");
    assert_eq!(selection(&hosts), "drover-hello\t\t\t\t\tinstall\n");
}

#[test]
fn package_facts_lists_the_installed_packages() {
    let Some(hosts) = TestHosts::up(1) else {
        return;
    };
    aptrepo::install_into(&hosts, 0, &["1.0"]);
    aptrepo::update(&hosts, 0);
    let pb = tasks(
        "    - apt: {name: drover-hello=1.0}\n    - package_facts:\n    - copy:\n        dest: /root/facts\n        content: \"{{ ansible_facts.packages['drover-hello'] | to_json }} {{ packages['sudo'][0].source }} {{ (ansible_facts.packages | length) > 50 }} {{ 'drover-dep' in ansible_facts.packages }}\"\n",
    );
    let (code, out) = play(&hosts, "deploy", "pf.yml", &pb, &[]);
    assert_eq!(code, 0, "{out}");
    let facts = std::fs::read_to_string(hosts.path(0, "/root/facts")).unwrap();
    assert_eq!(
        facts,
        "[{\"name\": \"drover-hello\", \"version\": \"1.0\", \"arch\": \"all\", \"category\": \"misc\", \"origin\": \"\", \"source\": \"apt\"}] apt True False"
    );
}

#[test]
fn apt_repository_adds_a_source_updates_and_removes_it() {
    let Some(hosts) = TestHosts::up(1) else {
        return;
    };
    aptrepo::install_into(&hosts, 0, &["1.0"]);
    hosts.sh(0, "rm -f /etc/apt/sources.list.d/drover.list");
    let list = hosts.path(0, "/etc/apt/sources.list.d/file_srv_drover_repo.list");
    let add = tasks(
        "    - apt_repository: {repo: \"deb  [trusted=yes] file:/srv/drover-repo ./\"}\n      register: r\n    - apt: {name: drover-hello}\n    - copy: {dest: /root/added, content: \"{{ r.sources_added | join(',') }}\"}\n      when: r is changed and not ansible_check_mode\n",
    );
    // Check mode: apt cannot know the package before the source is there, as Ansible's.
    let (code, out) = play(&hosts, "deploy", "add.yml", &add, &["--check"]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("Unable to locate package drover-hello"),
        "{out}"
    );
    assert!(!list.exists(), "check mode wrote the source");
    let (code, out) = play(&hosts, "deploy", "add.yml", &add, &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(recap(&out, "h0").changed, 3, "{out}");
    assert_eq!(
        std::fs::read_to_string(&list).unwrap(),
        "deb [trusted=yes] file:/srv/drover-repo ./\n"
    );
    assert_eq!(installed(&hosts, 0, "drover-hello").as_deref(), Some("1.0"));
    assert_eq!(
        std::fs::read_to_string(hosts.path(0, "/root/added")).unwrap(),
        "/etc/apt/sources.list.d/file_srv_drover_repo.list"
    );
    for extra in [&[][..], &["--check"][..]] {
        let (code, out) = play(&hosts, "deploy", "add.yml", &add, extra);
        assert_eq!(code, 0, "{out}");
        assert_eq!(recap(&out, "h0").changed, 0, "{extra:?}: {out}");
    }
    // A source apt cannot fetch: the update fails and the file is taken back.
    let broken = tasks(
        "    - apt_repository: {repo: \"deb http://127.0.0.1:9/debian bookworm main\", update_cache_retries: 1}\n",
    );
    let (code, out) = play(&hosts, "deploy", "broken.yml", &broken, &[]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("Failed to update apt cache after 1 retries"),
        "{out}"
    );
    assert!(!hosts
        .path(0, "/etc/apt/sources.list.d/127_0_0_1_9_debian.list")
        .exists());
    let rm = tasks("    - apt_repository: {repo: \"deb [trusted=yes] file:/srv/drover-repo ./\", state: absent, update_cache: false}\n");
    let (code, out) = play(&hosts, "deploy", "rm.yml", &rm, &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(recap(&out, "h0").changed, 1, "{out}");
    assert!(!list.exists());
}

#[test]
fn deb822_repository_writes_a_sources_file_apt_reads() {
    let Some(hosts) = TestHosts::up(1) else {
        return;
    };
    aptrepo::install_into(&hosts, 0, &["1.0"]);
    hosts.sh(0, "rm -f /etc/apt/sources.list.d/drover.list");
    let sources = hosts.path(0, "/etc/apt/sources.list.d/drover-local.sources");
    let pb = tasks(
        "    - deb822_repository: {name: Drover local, uris: file:/srv/drover-repo, suites: ./, trusted: true}\n    - apt: {name: drover-hello, update_cache: true}\n",
    );
    let (code, out) = play(&hosts, "deploy", "deb822.yml", &pb, &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(recap(&out, "h0").changed, 2, "{out}");
    assert_eq!(
        std::fs::read_to_string(&sources).unwrap(),
        "X-Repolib-Name: Drover local\nSuites: ./\nTrusted: yes\nTypes: deb\nURIs: file:/srv/drover-repo\n"
    );
    assert_eq!(
        hosts
            .sh(0, "stat -c %a /etc/apt/sources.list.d/drover-local.sources")
            .1,
        "644\n"
    );
    assert_eq!(installed(&hosts, 0, "drover-hello").as_deref(), Some("1.0"));
    for extra in [&[][..], &["--check"][..]] {
        let (code, out) = play(&hosts, "deploy", "deb822.yml", &pb, extra);
        assert_eq!(code, 0, "{out}");
        assert_eq!(recap(&out, "h0").changed, 0, "{extra:?}: {out}");
    }
    let rm = tasks("    - deb822_repository: {name: Drover local, state: absent}\n");
    let (code, out) = play(&hosts, "deploy", "deb822-rm.yml", &rm, &["--check"]);
    assert_eq!((code, recap(&out, "h0").changed), (0, 1), "{out}");
    assert!(sources.exists());
    let (code, out) = play(&hosts, "deploy", "deb822-rm.yml", &rm, &[]);
    assert_eq!((code, recap(&out, "h0").changed), (0, 1), "{out}");
    assert!(!sources.exists());
}

/// `policy_rc_d`: while apt installs (drover-slow's postinst takes 8 s), policy-rc.d exits
/// 101; the host's own policy-rc.d is back afterwards.
#[test]
fn policy_rc_d_is_in_place_while_apt_runs() {
    let Some(hosts) = TestHosts::up(1) else {
        return;
    };
    aptrepo::install_into(&hosts, 0, &["1.0"]);
    aptrepo::update(&hosts, 0);
    let policy = hosts.path(0, "/usr/sbin/policy-rc.d");
    std::fs::write(&policy, "#!/bin/sh\nexit 0\n").unwrap();
    let pb = tasks("    - apt: {name: drover-slow, policy_rc_d: 101}\n");
    let run = std::thread::scope(|s| {
        let h = s.spawn(|| play(&hosts, "deploy", "prc.yml", &pb, &[]));
        let mut seen = String::new();
        let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::time::Instant::now() < until && !h.is_finished() {
            let text = std::fs::read_to_string(&policy).unwrap_or_default();
            if text.contains("exit 101") {
                seen = text;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        (h.join().unwrap(), seen)
    });
    let ((code, out), seen) = run;
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        seen, "#!/bin/sh\nexit 101\n",
        "policy-rc.d during the install"
    );
    assert_eq!(
        std::fs::read_to_string(&policy).unwrap(),
        "#!/bin/sh\nexit 0\n"
    );
    assert_eq!(installed(&hosts, 0, "drover-slow").as_deref(), Some("1.0"));
}

/// `deb:` from a URL (served on loopback): the host downloads it, as Ansible's `fetch_file`.
#[test]
fn deb_from_a_url() {
    use support::http::{HttpServer, Served};
    let Some(hosts) = TestHosts::up(1) else {
        return;
    };
    let body = std::fs::read(deb_path("drover-hello", "1.0")).unwrap();
    let srv = HttpServer::start(
        [(
            "/hello.deb".to_string(),
            Served {
                body,
                disposition: None,
                content_type: None,
            },
        )]
        .into_iter()
        .collect(),
    );
    let pb = tasks(&format!(
        "    - apt: {{deb: \"{}\"}}\n",
        srv.url("/hello.deb")
    ));
    let (code, out) = play(&hosts, "deploy", "debu.yml", &pb, &["--check"]);
    assert_eq!((code, recap(&out, "h0").changed), (0, 1), "{out}");
    assert_eq!(installed(&hosts, 0, "drover-hello"), None);
    let (code, out) = play(&hosts, "deploy", "debu.yml", &pb, &[]);
    assert_eq!((code, recap(&out, "h0").changed), (0, 1), "{out}");
    assert_eq!(installed(&hosts, 0, "drover-hello").as_deref(), Some("1.0"));
    let (code, out) = play(&hosts, "deploy", "debu.yml", &pb, &[]);
    assert_eq!((code, recap(&out, "h0").changed), (0, 0), "{out}");
    let missing = tasks(&format!(
        "    - apt: {{deb: \"{}\"}}\n",
        srv.url("/none.deb")
    ));
    let (code, out) = play(&hosts, "deploy", "debm.yml", &missing, &[]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("Failure downloading http://127.0.0.1"),
        "{out}"
    );
    assert!(out.contains("HTTP Error 404"), "{out}");
}

/// An index apt cannot fetch fails `update_cache`, as Ansible's (`apt-get update` alone
/// exits 0 then).
#[test]
fn update_cache_fails_on_an_index_it_cannot_fetch() {
    let Some(hosts) = TestHosts::up(1) else {
        return;
    };
    aptrepo::install_into(&hosts, 0, &["1.0"]);
    std::fs::write(
        hosts.path(0, "/etc/apt/sources.list.d/broken.list"),
        "deb http://127.0.0.1:9/debian bookworm main\n",
    )
    .unwrap();
    let pb = tasks("    - apt: {update_cache: true}\n");
    let (code, out) = play(&hosts, "deploy", "upd.yml", &pb, &[]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("Failed to update apt cache"), "{out}");
    assert!(out.contains("Failed to fetch"), "{out}");
    std::fs::remove_file(hosts.path(0, "/etc/apt/sources.list.d/broken.list")).unwrap();
    let (code, out) = play(&hosts, "deploy", "upd.yml", &pb, &[]);
    assert_eq!((code, recap(&out, "h0").changed), (0, 1), "{out}");
}

/// `deb822_repository` with a `signed_by` URL: the host downloads the key into
/// /etc/apt/keyrings (armored: `.asc`); a key that is not there fails with Ansible's words.
#[test]
fn deb822_repository_fetches_its_signing_key() {
    use support::http::{HttpServer, Served};
    let Some(hosts) = TestHosts::up(1) else {
        return;
    };
    let key = b"-----BEGIN PGP PUBLIC KEY BLOCK-----\nnot a real key\n-----END PGP PUBLIC KEY BLOCK-----\n".to_vec();
    let srv = HttpServer::start(
        [(
            "/key.asc".to_string(),
            Served {
                body: key.clone(),
                disposition: None,
                content_type: None,
            },
        )]
        .into_iter()
        .collect(),
    );
    let pb = tasks(&format!(
        "    - deb822_repository: {{name: keyed, uris: http://127.0.0.1:9/debian, suites: bookworm, components: main, signed_by: \"{}\"}}\n",
        srv.url("/key.asc")
    ));
    let (code, out) = play(&hosts, "deploy", "key.yml", &pb, &[]);
    assert_eq!((code, recap(&out, "h0").changed), (0, 1), "{out}");
    assert_eq!(
        std::fs::read(hosts.path(0, "/etc/apt/keyrings/keyed.asc")).unwrap(),
        key
    );
    assert!(
        std::fs::read_to_string(hosts.path(0, "/etc/apt/sources.list.d/keyed.sources"))
            .unwrap()
            .contains("Signed-By: /etc/apt/keyrings/keyed.asc\n")
    );
    let (code, out) = play(&hosts, "deploy", "key.yml", &pb, &[]);
    assert_eq!((code, recap(&out, "h0").changed), (0, 0), "{out}");
    let missing = tasks(&format!(
        "    - deb822_repository: {{name: other, uris: http://127.0.0.1:9/debian, suites: bookworm, signed_by: \"{}\"}}\n",
        srv.url("/none.asc")
    ));
    let (code, out) = play(&hosts, "deploy", "nokey.yml", &missing, &[]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("Could not fetch signed_by key: HTTP Error 404"),
        "{out}"
    );
}
