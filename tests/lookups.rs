//! Ansible lookups (`lookup`, `query`, `q`) in playbooks run by the drover binary over the
//! implicit localhost, each in its own temp dir: values are checked with `assert:` tasks and
//! in the `debug` output.

mod support;

use std::path::Path;
use support::{drover, run, write};

/// `drover play pb.yml` in `dir`, with extra environment variables.
fn play(dir: &Path, envs: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = drover();
    cmd.current_dir(dir).arg("play").arg("pb.yml");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    run(&mut cmd)
}

const ROLE_TASKS: &str = r#"- name: file from the role's files/
  assert:
    that:
      - lookup('file', 'greeting.txt') == 'hello from the role'
      - lookup('template', 'motd.j2') == 'motd for ' ~ inventory_hostname ~ ' (' ~ colour ~ ')\n'
"#;

const PLAYBOOK: &str = r#"- hosts: localhost
  gather_facts: false
  vars:
    colour: blue
    wanted: colour
  roles:
    - web
  tasks:
    - name: file from the playbook's files/
      assert:
        that:
          - lookup('file', 'plain.txt') == 'plain'
          - query('file', 'plain.txt') == ['plain']
          - q('file', 'plain.txt') | length == 1
    - name: template from the playbook's templates/
      assert:
        that:
          - lookup('template', 'page.j2') == 'colour=blue\n'
    - name: env with a default
      assert:
        that:
          - lookup('env', 'DROVER_LOOKUP_E2E') == 'from-env'
          - lookup('env', 'DROVER_LOOKUP_UNSET_X', default='fallback') == 'fallback'
    - name: pipe and lines
      assert:
        that:
          - lookup('pipe', 'echo piped') == 'piped'
          - query('lines', 'printf "one\ntwo\n"') == ['one', 'two']
          - lookup('lines', 'printf "one\ntwo\n"') == 'one,two'
    - name: first_found with skip
      assert:
        that:
          - lookup('first_found', ['missing.txt', 'plain.txt']) is search('files/plain.txt$')
          - "query('first_found', {'files': ['nope1', 'nope2'], 'skip': True}) == []"
    - name: fileglob
      debug:
        msg: "globbed {{ query('fileglob', 'conf/*.conf') | map('basename') | join(' ') }}"
    - name: vars
      assert:
        that:
          - lookup('vars', wanted) == 'blue'
          - lookup('vars', 'undefined_thing', default='dflt') == 'dflt'
    - name: password
      debug:
        msg: "password={{ lookup('password', 'creds/db length=16 chars=ascii_letters,digits') }}"
"#;

fn password_of(out: &str) -> String {
    let line = out
        .lines()
        .find(|l| l.contains("password="))
        .unwrap_or_else(|| panic!("no password in output:\n{out}"));
    let start = line.find("password=").unwrap() + "password=".len();
    line[start..]
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect()
}

#[test]
fn lookups_in_a_playbook() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write(dir, "pb.yml", PLAYBOOK);
    write(dir, "roles/web/tasks/main.yml", ROLE_TASKS);
    write(dir, "roles/web/files/greeting.txt", "hello from the role\n");
    write(
        dir,
        "roles/web/templates/motd.j2",
        "motd for {{ inventory_hostname }} ({{ colour }})\n",
    );
    write(dir, "files/plain.txt", "plain\n");
    write(dir, "files/conf/a.conf", "a");
    write(dir, "files/conf/b.conf", "b");
    write(dir, "files/conf/c.txt", "c");
    write(dir, "templates/page.j2", "colour={{ colour }}\n");

    let envs = [("DROVER_LOOKUP_E2E", "from-env")];
    let (code, out, err) = play(dir, &envs);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("globbed a.conf b.conf"), "{out}");
    let first = password_of(&out);
    assert_eq!(first.len(), 16, "{out}");
    let stored = std::fs::read_to_string(dir.join("creds/db")).unwrap();
    assert_eq!(stored.trim_end(), first);

    let (code, out, err) = play(dir, &envs);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert_eq!(password_of(&out), first, "the password must be stable");
}

#[test]
fn failing_and_unknown_lookups() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write(
        dir,
        "pb.yml",
        r#"- hosts: localhost
  gather_facts: false
  tasks:
    - name: ignored errors give None (an empty list with wantlist), as ansible-core 2.19
      assert:
        that:
          - lookup('file', 'missing.txt', errors='ignore') is none
          - lookup('file', 'missing.txt', errors='ignore', wantlist=True) == []
    - name: pipe failure
      debug:
        msg: "{{ lookup('pipe', 'exit 4') }}"
"#,
    );
    let (code, out, err) = play(dir, &[]);
    assert_ne!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    let all = format!("{out}{err}");
    assert!(all.contains("returned 4"), "{all}");
    assert!(all.contains("ok: [localhost]"), "{all}");

    write(
        dir,
        "pb.yml",
        r#"- hosts: localhost
  gather_facts: false
  tasks:
    - debug:
        msg: "{{ lookup('nosuchplugin', 'x') }}"
"#,
    );
    let (code, out, err) = play(dir, &[]);
    assert_ne!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    let all = format!("{out}{err}");
    assert!(
        all.contains("nosuchplugin") && all.contains("first_found"),
        "{all}"
    );
}
