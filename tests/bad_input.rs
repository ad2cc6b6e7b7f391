//! A catalogue of bad inputs. For each: exit code 5, stderr starting with `error: ` and naming
//! the exact `file:line:column` of the mistake, a `hint:` where drover gives one, and no host
//! contacted. The inventory's `target` host points at a TCP listener of the test's own that
//! counts connections (there must be none), and the `local` host would run a task touching a
//! marker file before the mistake (it must not exist afterwards).

mod support;

use std::net::TcpListener;
use support::{drover, run, write};

/// The default inventory: `target` is the test's listener, `local` runs on this machine.
const INVENTORY: &str = "\
target ansible_host=127.0.0.1 ansible_port={PORT} ansible_user=nobody
local ansible_connection=local
";

struct Case {
    /// Files to write (relative path, content); `{MARKER}` and `{PORT}` are filled in.
    files: &'static [(&'static str, &'static str)],
    /// Command line after `drover` (`{INV}` is the inventory, written from INVENTORY unless
    /// `files` has an `inv.ini`).
    args: &'static [&'static str],
    /// `file:line:column` the error must name, or None when the mistake is on the command line.
    at: Option<&'static str>,
    /// Text the error message must contain.
    says: &'static [&'static str],
    /// Text the `hint:` line must contain (None: no hint required).
    hint: Option<&'static str>,
}

const PLAY: &[&str] = &["play", "-T", "2", "-i", "{INV}", "pb.yml"];

/// Whether `text` names `loc` exactly (not as a prefix of a longer line or column number).
fn names_location(text: &str, loc: &str) -> bool {
    text.match_indices(loc).any(|(i, _)| {
        let before_ok = i == 0 || matches!(text.as_bytes()[i - 1], b' ' | b'/' | b'`' | b'(');
        let after = text.as_bytes().get(i + loc.len());
        before_ok && !after.is_some_and(u8::is_ascii_digit)
    })
}

/// What one drover run did.
struct Outcome {
    code: i32,
    err: String,
    /// Connections the `target` listener received.
    accepted: usize,
    /// Whether the marker task ran.
    ran: bool,
    /// Everything, for failure messages.
    shown: String,
}

/// Writes the case's files in a fresh temp dir with a fresh listener, runs drover there.
fn run_case(case: &Case) -> Outcome {
    let tmp = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let marker = tmp.path().join("marker");
    let fill = |t: &str| {
        t.replace("{PORT}", &port)
            .replace("{MARKER}", marker.to_str().unwrap())
    };
    if !case.files.iter().any(|(p, _)| *p == "inv.ini") {
        write(tmp.path(), "inv.ini", &fill(INVENTORY));
    }
    for (path, content) in case.files {
        write(tmp.path(), path, &fill(content));
    }
    let args: Vec<String> = case
        .args
        .iter()
        .map(|a| a.replace("{INV}", "inv.ini"))
        .collect();
    let (code, out, err) = run(drover().current_dir(tmp.path()).args(&args));
    let shown = format!(
        "drover {}\nexit {code}\nstdout:\n{out}\nstderr:\n{err}",
        args.join(" ")
    );
    // Connections drover made are queued on the (never accepting) listener until now.
    let mut accepted = 0;
    while listener.accept().is_ok() {
        accepted += 1;
    }
    Outcome {
        code,
        err,
        accepted,
        ran: marker.exists(),
        shown,
    }
}

/// The harness itself: valid input does reach both hosts, so the checks below can fail.
#[test]
fn control_good_input_contacts_hosts() {
    let o = run_case(&Case {
        files: &[(
            "pb.yml",
            "\
- hosts: all
  gather_facts: false
  tasks:
    - name: marker
      command: touch {MARKER}
",
        )],
        args: PLAY,
        at: None,
        says: &[],
        hint: None,
    });
    assert_eq!(
        o.code, 4,
        "target is unreachable (no SSH there)\n{}",
        o.shown
    );
    assert!(o.accepted >= 1, "drover connected to target\n{}", o.shown);
    assert!(o.ran, "the marker task ran on local\n{}", o.shown);
}

fn check(case: Case) {
    let Outcome {
        code,
        err,
        accepted,
        ran,
        shown,
    } = run_case(&case);
    assert_eq!(accepted, 0, "a host was contacted\n{shown}");
    assert!(!ran, "a task ran\n{shown}");
    assert_eq!(code, 5, "bad input exits 5\n{shown}");
    assert!(err.starts_with("error: "), "{shown}");
    if let Some(at) = case.at {
        assert!(
            names_location(&err, at),
            "the error must name `{at}`\n{shown}"
        );
    }
    for s in case.says {
        assert!(err.contains(s), "the error must say `{s}`\n{shown}");
    }
    if let Some(h) = case.hint {
        let hint = err
            .lines()
            .find(|l| l.trim_start().starts_with("hint:"))
            .unwrap_or_else(|| panic!("no `hint:` line\n{shown}"));
        assert!(hint.contains(h), "the hint must say `{h}`\n{shown}");
    }
}

macro_rules! bad_input {
    ($($name:ident: $case:expr;)*) => {
        $(
            #[test]
            fn $name() {
                check($case);
            }
        )*
    };
}

bad_input! {
    malformed_yaml: Case {
        files: &[("pb.yml", "\
- hosts: all
  gather_facts: false
  tasks:
    - name: marker
      command: touch {MARKER}
    - debug: msg: hello
")],
        args: PLAY,
        at: Some("pb.yml:6:17"),
        says: &["YAML syntax error", "mapping values are not allowed"],
        hint: Some("quoting"),
    };

    tab_indentation: Case {
        files: &[("pb.yml", "\
- hosts: all
  gather_facts: false
  tasks:
    - name: marker
      command: touch {MARKER}
\t- debug: msg=hello
")],
        args: PLAY,
        at: Some("pb.yml:6:1"),
        says: &["YAML syntax error", "tab"],
        hint: Some("tabs"),
    };

    tab_indented_key: Case {
        files: &[("pb.yml", "\
- hosts: all
  gather_facts: false
  tasks:
    - name: marker
      command: touch {MARKER}
    - name: second
\tdebug: msg=hello
")],
        args: PLAY,
        at: Some("pb.yml:7:1"),
        says: &["YAML syntax error", "tab"],
        hint: Some("tabs"),
    };

    duplicate_key: Case {
        files: &[("pb.yml", "\
- hosts: all
  gather_facts: false
  tasks:
    - name: marker
      command: touch {MARKER}
      name: again
")],
        args: PLAY,
        at: Some("pb.yml:6:7"),
        says: &["duplicate key `name`", "pb.yml:4:7"],
        hint: Some("remove one"),
    };

    unknown_module: Case {
        files: &[("pb.yml", "\
- hosts: all
  gather_facts: false
  tasks:
    - name: marker
      command: touch {MARKER}
    - debgu:
        msg: hello
")],
        args: PLAY,
        at: Some("pb.yml:6:7"),
        says: &["`debgu`"],
        hint: Some("did you mean `debug`"),
    };

    unknown_module_argument: Case {
        files: &[("pb.yml", "\
- hosts: all
  gather_facts: false
  tasks:
    - name: marker
      command: touch {MARKER}
    - command:
        cmd: pwd
        chdri: /tmp
")],
        args: PLAY,
        at: Some("pb.yml:8:9"),
        says: &["`command`", "`chdri`"],
        hint: Some("did you mean `chdir`"),
    };

    unknown_task_keyword: Case {
        files: &[("pb.yml", "\
- hosts: all
  gather_facts: false
  tasks:
    - name: marker
      command: touch {MARKER}
    - debug: msg=hello
      whne: true
")],
        args: PLAY,
        at: Some("pb.yml:7:7"),
        says: &["`whne`"],
        hint: Some("did you mean `when`"),
    };

    unknown_play_keyword: Case {
        files: &[("pb.yml", "\
- hosts: all
  gather_facts: false
  task:
    - name: marker
      command: touch {MARKER}
")],
        args: PLAY,
        at: Some("pb.yml:3:3"),
        says: &["`task`", "play keyword"],
        hint: Some("did you mean `tasks`"),
    };

    undefined_variable_in_argument: Case {
        files: &[("pb.yml", "\
- hosts: all
  gather_facts: false
  vars:
    name: world
  tasks:
    - name: marker
      command: touch {MARKER}
    - debug:
        msg: \"hello {{ nmae }}\"
")],
        args: PLAY,
        at: Some("pb.yml:9:14"),
        says: &["`nmae`", "not defined"],
        hint: Some("did you mean `name`"),
    };

    undefined_variable_in_when: Case {
        files: &[("pb.yml", "\
- hosts: all
  gather_facts: false
  tasks:
    - name: marker
      command: touch {MARKER}
    - debug: msg=hello
      when: feature_enabled | bool
")],
        args: PLAY,
        at: Some("pb.yml:7:13"),
        says: &["`feature_enabled`", "not defined"],
        hint: Some("-e feature_enabled="),
    };

    template_syntax_error: Case {
        files: &[("pb.yml", "\
- hosts: all
  gather_facts: false
  vars:
    greeting: hi
  tasks:
    - name: marker
      command: touch {MARKER}
    - debug:
        msg: \"{{ greeting | upper }\"
")],
        args: PLAY,
        at: Some("pb.yml:9:14"),
        says: &["template", "syntax error"],
        hint: Some("{{ }}"),
    };

    missing_role: Case {
        files: &[("pb.yml", "\
- hosts: all
  gather_facts: false
  pre_tasks:
    - name: marker
      command: touch {MARKER}
  roles:
    - role: webserverr
")],
        args: PLAY,
        at: Some("pb.yml:7:13"),
        says: &["role `webserverr` not found"],
        hint: Some("roles/"),
    };

    missing_template_source: Case {
        files: &[
            ("pb.yml", "\
- hosts: all
  gather_facts: false
  tasks:
    - name: marker
      command: touch {MARKER}
    - name: config
      template:
        src: app.conf.j2
        dest: /tmp/drover-bad-input-never-written.conf
"),
            ("templates/other.conf.j2", "x = 1\n"),
        ],
        args: PLAY,
        at: Some("pb.yml:8:14"),
        says: &["`app.conf.j2`", "not found"],
        hint: Some("templates/"),
    };

    bad_notify_target: Case {
        files: &[("pb.yml", "\
- hosts: all
  gather_facts: false
  tasks:
    - name: marker
      command: touch {MARKER}
      notify: restrat app
  handlers:
    - name: restart app
      command: \"true\"
")],
        args: PLAY,
        at: Some("pb.yml:6:15"),
        says: &["`notify: restrat app`", "no handler"],
        hint: Some("handler"),
    };

    bad_host_pattern: Case {
        files: &[("pb.yml", "\
- hosts: local
  gather_facts: false
  tasks:
    - name: marker
      command: touch {MARKER}
- hosts: \"web[\"
  gather_facts: false
  tasks:
    - debug: msg=hello
")],
        args: PLAY,
        at: Some("pb.yml:6:10"),
        says: &["`web[`"],
        hint: Some("]"),
    };

    bad_limit_pattern: Case {
        files: &[("pb.yml", "\
- hosts: all
  gather_facts: false
  tasks:
    - name: marker
      command: touch {MARKER}
")],
        args: &["play", "-T", "2", "-i", "{INV}", "pb.yml", "--limit", "web["],
        at: None,
        says: &["`web[`"],
        hint: Some("]"),
    };

    bad_inventory_section: Case {
        files: &[
            ("inv.ini", "\
target ansible_host=127.0.0.1 ansible_port={PORT} ansible_user=nobody
local ansible_connection=local
[group
web1
"),
            ("pb.yml", "\
- hosts: all
  gather_facts: false
  tasks:
    - name: marker
      command: touch {MARKER}
"),
        ],
        args: PLAY,
        at: Some("inv.ini:3:1"),
        says: &["`[group`"],
        hint: Some("]"),
    };

    bad_inventory_range: Case {
        files: &[
            ("inv.ini", "\
target ansible_host=127.0.0.1 ansible_port={PORT} ansible_user=nobody
local ansible_connection=local
[web]
web[01:xx] ansible_connection=local
"),
            ("pb.yml", "\
- hosts: all
  gather_facts: false
  tasks:
    - name: marker
      command: touch {MARKER}
"),
        ],
        args: PLAY,
        at: Some("inv.ini:4:1"),
        says: &["[01:xx]"],
        hint: None,
    };

    bad_extra_vars: Case {
        files: &[("pb.yml", "\
- hosts: all
  gather_facts: false
  tasks:
    - name: marker
      command: touch {MARKER}
")],
        args: &["play", "-T", "2", "-i", "{INV}", "pb.yml", "-e", "version=2 oops"],
        at: None,
        says: &["`oops`"],
        hint: Some("k=v"),
    };

    bad_extra_vars_file: Case {
        files: &[
            ("pb.yml", "\
- hosts: all
  gather_facts: false
  tasks:
    - name: marker
      command: touch {MARKER}
"),
            ("vars.yml", "\
version: 2
name: app: web
"),
        ],
        args: &["play", "-T", "2", "-i", "{INV}", "pb.yml", "-e", "@vars.yml"],
        at: Some("vars.yml:2:10"),
        says: &["YAML syntax error"],
        hint: None,
    };

    playbook_not_a_list: Case {
        files: &[("pb.yml", "\
hosts: all
gather_facts: false
tasks:
  - name: marker
    command: touch {MARKER}
")],
        args: PLAY,
        at: Some("pb.yml:1:1"),
        says: &["must be a list of plays"],
        hint: Some("- hosts:"),
    };

    task_without_module: Case {
        files: &[("pb.yml", "\
- hosts: all
  gather_facts: false
  tasks:
    - name: marker
      command: touch {MARKER}
    - name: forgot the module
      when: true
")],
        args: PLAY,
        at: Some("pb.yml:6:7"),
        says: &["names no module"],
        hint: Some("add a module"),
    };

    bad_error_in_second_playbook: Case {
        files: &[
            ("first.yml", "\
- hosts: all
  gather_facts: false
  tasks:
    - name: marker
      command: touch {MARKER}
"),
            ("pb.yml", "\
- hosts: all
  gather_facts: false
  tasks:
    - debug:
        msg: \"{{ undefined_in_second }}\"
"),
        ],
        args: &["play", "-T", "2", "-i", "{INV}", "first.yml", "pb.yml"],
        at: Some("pb.yml:5:14"),
        says: &["`undefined_in_second`"],
        hint: None,
    };
}
