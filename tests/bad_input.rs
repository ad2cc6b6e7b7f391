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
    /// Files to write (relative path, content); `{MARKER}` and `{PORT}` are filled in, and
    /// `{XFF}` becomes the byte 0xff (not UTF-8).
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
    out: String,
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
        let p = write(tmp.path(), path, &fill(content));
        // `{XFF}`: a byte that is not UTF-8.
        if content.contains("{XFF}") {
            let bytes = fill(content).replace("{XFF}", "\u{1}").into_bytes();
            let bytes: Vec<u8> = bytes
                .iter()
                .map(|b| if *b == 1 { 0xff } else { *b })
                .collect();
            std::fs::write(p, bytes).unwrap();
        }
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
        out,
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
        ..
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

    empty_playbook: Case {
        files: &[("pb.yml", "# nothing here yet\n")],
        args: PLAY,
        at: None,
        says: &["Empty playbook, nothing to do", "pb.yml"],
        hint: Some("list of plays"),
    };

    second_yaml_document_in_a_playbook: Case {
        files: &[("pb.yml", "\
- hosts: all
  gather_facts: false
  tasks:
    - command: touch {MARKER}
---
- hosts: all
  tasks: []
")],
        args: PLAY,
        at: Some("pb.yml:6:1"),
        says: &["one YAML document"],
        hint: Some("---"),
    };

    merge_key_of_a_scalar: Case {
        files: &[("pb.yml", "\
- hosts: all
  gather_facts: false
  vars:
    <<: 5
  tasks:
    - command: touch {MARKER}
")],
        args: PLAY,
        at: Some("pb.yml:4:9"),
        says: &["`<<` merges a mapping or a list of mappings, not an integer"],
        hint: Some("*name"),
    };

    invalid_utf8_in_the_inventory: Case {
        files: &[
            ("inv.ini", "[web]\nlocal{XFF}host\n"),
            ("pb.yml", "- hosts: all\n  tasks:\n    - command: touch {MARKER}\n"),
        ],
        args: PLAY,
        at: Some("inv.ini:2:6"),
        says: &["not valid UTF-8"],
        hint: Some("UTF-8"),
    };

    yaml_alias_bomb_in_a_playbook: Case {
        files: &[("pb.yml", "\
- hosts: all
  gather_facts: false
  vars:
    a0: &a0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n    a1: &a1 [*a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0]\n    a2: &a2 [*a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1]\n    a3: &a3 [*a2, *a2, *a2, *a2, *a2, *a2, *a2, *a2, *a2, *a2]\n    a4: &a4 [*a3, *a3, *a3, *a3, *a3, *a3, *a3, *a3, *a3, *a3]\n    a5: &a5 [*a4, *a4, *a4, *a4, *a4, *a4, *a4, *a4, *a4, *a4]\n    a6: &a6 [*a5, *a5, *a5, *a5, *a5, *a5, *a5, *a5, *a5, *a5]\n    a7: &a7 [*a6, *a6, *a6, *a6, *a6, *a6, *a6, *a6, *a6, *a6]\n    a8: &a8 [*a7, *a7, *a7, *a7, *a7, *a7, *a7, *a7, *a7, *a7]\n    a9: &a9 [*a8, *a8, *a8, *a8, *a8, *a8, *a8, *a8, *a8, *a8]\n  tasks:
    - name: marker
      command: touch {MARKER}
")],
        args: PLAY,
        at: Some("pb.yml:9:19"),
        says: &["aliases", "expand to more than 250000 nodes"],
        hint: Some("aliases"),
    };

    yaml_alias_bomb_in_group_vars: Case {
        files: &[
            ("group_vars/all.yml", "a0: &a0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\na1: &a1 [*a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0]\na2: &a2 [*a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1]\na3: &a3 [*a2, *a2, *a2, *a2, *a2, *a2, *a2, *a2, *a2, *a2]\na4: &a4 [*a3, *a3, *a3, *a3, *a3, *a3, *a3, *a3, *a3, *a3]\na5: &a5 [*a4, *a4, *a4, *a4, *a4, *a4, *a4, *a4, *a4, *a4]\na6: &a6 [*a5, *a5, *a5, *a5, *a5, *a5, *a5, *a5, *a5, *a5]\na7: &a7 [*a6, *a6, *a6, *a6, *a6, *a6, *a6, *a6, *a6, *a6]\na8: &a8 [*a7, *a7, *a7, *a7, *a7, *a7, *a7, *a7, *a7, *a7]\na9: &a9 [*a8, *a8, *a8, *a8, *a8, *a8, *a8, *a8, *a8, *a8]\n"),
            ("pb.yml", "- hosts: all\n  gather_facts: false\n  tasks:\n    - command: touch {MARKER}\n"),
        ],
        args: PLAY,
        at: Some("group_vars/all.yml:6:15"),
        says: &["aliases", "expand to more than 250000 nodes"],
        hint: Some("aliases"),
    };
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
        says: &["'task' is not a valid attribute for a Play"],
        hint: Some("did you mean `tasks`"),
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

}

// More of the catalogue: structure, keywords, ranges, inventories, extra vars, vault. Each message
// is asserted whole.
bad_input! {
    tasks_not_list: Case {
        files: &[
            ("pb.yml", "- hosts: local\n  gather_facts: false\n  tasks: just words\n"),
        ],
        args: PLAY,
        at: Some("pb.yml:3:10"),
        says: &["a task list must be a list, not a string"],
        hint: Some("start each task with `- name: ...`"),
    };

    task_not_mapping: Case {
        files: &[
            ("pb.yml", "- hosts: local\n  gather_facts: false\n  tasks:\n    - name: marker\n      command: touch {MARKER}\n    - just a string\n"),
        ],
        args: PLAY,
        at: Some("pb.yml:6:7"),
        says: &["a task must be a mapping, not a string"],
        hint: None,
    };

    loop_control_unknown: Case {
        files: &[
            ("pb.yml", "- hosts: local\n  gather_facts: false\n  tasks:\n    - name: marker\n      command: touch {MARKER}\n    - debug: msg=hi\n      loop: [1]\n      loop_control:\n        loopvar: x\n"),
        ],
        args: PLAY,
        at: Some("pb.yml:9:9"),
        says: &["unknown `loop_control` option `loopvar`"],
        hint: Some("use loop_var, index_var, label, pause, extended, extended_allitems or break_when"),
    };

    retries_not_number: Case {
        files: &[
            ("pb.yml", "- hosts: local\n  gather_facts: false\n  tasks:\n    - name: marker\n      command: touch {MARKER}\n    - debug: msg=hi\n      retries: many\n"),
        ],
        args: PLAY,
        at: Some("pb.yml:7:16"),
        says: &["`retries` must be a number"],
        hint: None,
    };

    become_method_pbrun: Case {
        files: &[
            ("pb.yml", "- hosts: local\n  gather_facts: false\n  tasks:\n    - name: marker\n      command: touch {MARKER}\n    - debug: msg=hi\n      become_method: pbrun\n"),
        ],
        args: PLAY,
        at: Some("pb.yml:7:22"),
        says: &["become method `pbrun` is not supported (drover runs `sudo`, `su` and `doas`)"],
        hint: None,
    };

    two_modules: Case {
        files: &[
            ("pb.yml", "- hosts: local\n  gather_facts: false\n  tasks:\n    - name: marker\n      command: touch {MARKER}\n    - debug: msg=hi\n      command: id\n"),
        ],
        args: PLAY,
        at: Some("pb.yml:7:7"),
        says: &["a task can run one module, but this one names `debug` (at pb.yml:6:7) and `command`"],
        hint: None,
    };

    serial_bad: Case {
        files: &[
            ("pb.yml", "- hosts: local\n  gather_facts: false\n  serial: lots\n  tasks: []\n"),
        ],
        args: PLAY,
        at: Some("pb.yml:3:11"),
        says: &["`serial` must be a number or a percentage, not `lots`"],
        hint: None,
    };

    mfp_bad: Case {
        files: &[
            ("pb.yml", "- hosts: local\n  gather_facts: false\n  max_fail_percentage: half\n  tasks: []\n"),
        ],
        args: PLAY,
        at: Some("pb.yml:3:24"),
        says: &["`max_fail_percentage` must be a number"],
        hint: None,
    };

    order_bad: Case {
        files: &[
            ("pb.yml", "- hosts: local\n  gather_facts: false\n  order: random\n  tasks: []\n"),
        ],
        args: PLAY,
        at: Some("pb.yml:3:10"),
        says: &["`order: random` is not a host order"],
        hint: Some("use one of inventory, reverse_inventory, sorted, reverse_sorted, shuffle"),
    };

    strategy_bad: Case {
        files: &[
            ("pb.yml", "- hosts: local\n  gather_facts: false\n  strategy: mitogen_linear\n  tasks: []\n"),
        ],
        args: PLAY,
        at: Some("pb.yml:3:13"),
        says: &["`strategy: mitogen_linear` is not supported by drover (use `linear` or `free`)"],
        hint: None,
    };

    throttle_bad: Case {
        files: &[
            ("pb.yml", "- hosts: local\n  gather_facts: false\n  tasks:\n    - name: marker\n      command: touch {MARKER}\n    - debug: msg=hi\n      throttle: two\n"),
        ],
        args: PLAY,
        at: Some("pb.yml:7:17"),
        says: &["`throttle` must be a whole number of hosts"],
        hint: None,
    };

    include_missing: Case {
        files: &[
            // An import is read when the playbook loads (an include of a missing file fails
            // when it runs, as Ansible's: tests/includes.rs).
            ("pb.yml", "- hosts: local\n  gather_facts: false\n  tasks:\n    - name: marker\n      command: touch {MARKER}\n    - import_tasks: nowhere.yml\n"),
        ],
        args: PLAY,
        at: Some("pb.yml:6:21"),
        says: &["cannot load `nowhere.yml`: reading `nowhere.yml`: No such file or directory (os error 2)"],
        hint: None,
    };

    import_recursive: Case {
        files: &[
            ("pb.yml", "- hosts: local\n  gather_facts: false\n  tasks:\n    - name: marker\n      command: touch {MARKER}\n    - import_tasks: a.yml\n"),
            ("a.yml", "- debug: msg=a\n- import_tasks: a.yml\n"),
        ],
        args: PLAY,
        at: Some("a.yml:2:17"),
        says: &["`a.yml` includes itself (recursive import_tasks)"],
        hint: None,
    };

    include_bad_arg: Case {
        files: &[
            ("pb.yml", "- hosts: local\n  gather_facts: false\n  tasks:\n    - name: marker\n      command: touch {MARKER}\n    - include_tasks:\n        file: a.yml\n        when: true\n"),
            ("a.yml", "- debug: msg=a\n"),
        ],
        args: PLAY,
        at: Some("pb.yml:8:9"),
        says: &["`include_tasks` takes `file` and `apply`, not `when`"],
        hint: None,
    };

    import_playbook_missing: Case {
        files: &[
            ("pb.yml", "- import_playbook: other.yml\n"),
        ],
        args: PLAY,
        at: Some("pb.yml:1:20"),
        says: &["the playbook `other.yml` does not exist"],
        hint: None,
    };

    vars_files_missing: Case {
        files: &[
            ("pb.yml", "- hosts: local\n  gather_facts: false\n  vars_files: [missing.yml]\n  tasks: []\n"),
        ],
        args: PLAY,
        at: Some("pb.yml:3:16"),
        says: &["cannot load vars file `missing.yml`: reading `missing.yml`: No such file or directory (os error 2)"],
        hint: None,
    };

    vars_file_not_map: Case {
        files: &[
            ("pb.yml", "- hosts: local\n  gather_facts: false\n  vars_files: [v.yml]\n  tasks: []\n"),
            ("v.yml", "- a\n- b\n"),
        ],
        args: PLAY,
        at: Some("v.yml:1:1"),
        says: &["a vars file must be a mapping of variable names to values"],
        hint: None,
    };

    meta_unknown: Case {
        files: &[
            ("pb.yml", "- hosts: local\n  gather_facts: false\n  tasks:\n    - name: marker\n      command: touch {MARKER}\n    - meta: reset_everything\n"),
        ],
        args: PLAY,
        at: Some("pb.yml:6:13"),
        says: &["`meta: reset_everything` is not supported by drover yet"],
        hint: None,
    };

    listen_on_task: Case {
        files: &[
            ("pb.yml", "- hosts: local\n  gather_facts: false\n  tasks:\n    - name: marker\n      command: touch {MARKER}\n    - debug: msg=hi\n      listen: topic\n"),
        ],
        args: PLAY,
        at: Some("pb.yml:7:7"),
        says: &["`listen` belongs on handlers, not tasks"],
        hint: None,
    };

    inv_ini_bad_section: Case {
        files: &[
            ("inv.ini", "[web\nlocal ansible_connection=local\n"),
            ("pb.yml", "- hosts: all\n  tasks: []\n"),
        ],
        args: PLAY,
        at: Some("inv.ini:1:1"),
        says: &["unterminated section header `[web`"],
        hint: Some("close it with `]`, e.g. `[webservers]`"),
    };

    inv_bad_range: Case {
        files: &[
            ("inv.ini", "[web]\nweb[01:zz] ansible_connection=local\n"),
            ("pb.yml", "- hosts: all\n  tasks: []\n"),
        ],
        args: PLAY,
        at: Some("inv.ini:2:1"),
        says: &["host range `[01:zz]` must use numbers or single letters"],
        hint: None,
    };

    inv_bad_var: Case {
        files: &[
            ("inv.ini", "[web]\nlocal ansible_connection\n"),
            ("pb.yml", "- hosts: all\n  tasks: []\n"),
        ],
        args: PLAY,
        at: Some("inv.ini:2:7"),
        says: &["expected `key=value` host variable, got `ansible_connection`"],
        hint: Some("a host line is `name key=value ...`; quote values that contain spaces, e.g. `note=\"two words\"`"),
    };

    limit_bad: Case {
        files: &[
            ("pb.yml", "- hosts: all\n  gather_facts: false\n  tasks: []\n"),
        ],
        args: &["play", "-i", "{INV}", "pb.yml", "--limit", "web[1:"],
        at: None,
        says: &["unbalanced `[` in host pattern `web[1`"],
        hint: Some("close it with `]`, or use `~regex` for regular expressions"),
    };

    extra_json_bad: Case {
        files: &[
            ("pb.yml", "- hosts: all\n  gather_facts: false\n  tasks: []\n"),
        ],
        args: &["play", "-i", "{INV}", "pb.yml", "-e", "{\"a\": "],
        at: None,
        says: &["reading extra vars `{\"a\":`: <string>:2:1: YAML syntax error: while parsing a node, did not find expected node content"],
        hint: Some("check the indentation and quoting on this line and the one before it"),
    };

    extra_file_missing: Case {
        files: &[
            ("pb.yml", "- hosts: all\n  gather_facts: false\n  tasks: []\n"),
        ],
        args: &["play", "-i", "{INV}", "pb.yml", "-e", "@nope.yml"],
        at: None,
        says: &["reading `nope.yml`: No such file or directory (os error 2)"],
        hint: None,
    };

    inv_yaml_bad_type: Case {
        files: &[
            ("inv.yml", "all:\n  hosts: [a, b]\n"),
            ("pb.yml", "- hosts: all\n  tasks: []\n"),
        ],
        args: &["play", "-i", "inv.yml", "pb.yml"],
        at: Some("inv.yml:2:10"),
        says: &["`hosts` of group `all` must be a mapping, got a list"],
        hint: Some("write each host as a key ending in `:`, e.g. `hosts: {web1: {}, web2: {}}`"),
    };

    inv_yaml_dup: Case {
        files: &[
            ("inv.yml", "all:\n  hosts:\n    a:\n    a:\n"),
            ("pb.yml", "- hosts: all\n  tasks: []\n"),
        ],
        args: &["play", "-i", "inv.yml", "pb.yml"],
        at: Some("inv.yml:4:5"),
        says: &["duplicate key `a` in a mapping (first defined at ", "inv.yml:3:5)"],
        hint: Some("remove one of them; YAML keeps only one value per key"),
    };


    two_loops: Case {
        files: &[
            ("pb.yml", "- hosts: local\n  gather_facts: false\n  tasks:\n    - name: marker\n      command: touch {MARKER}\n    - debug: msg=hi\n      loop: [1]\n      with_items: [2]\n"),
        ],
        args: PLAY,
        at: Some("pb.yml:8:19"),
        says: &["a task can have only one loop"],
        hint: None,
    };

    args_not_map: Case {
        files: &[
            ("pb.yml", "- hosts: local\n  gather_facts: false\n  tasks:\n    - name: marker\n      command: touch {MARKER}\n    - command: id\n      args: [1, 2]\n"),
        ],
        args: PLAY,
        at: Some("pb.yml:7:13"),
        says: &["`args` must be a mapping"],
        hint: None,
    };

    role_dep_missing: Case {
        files: &[
            ("pb.yml", "- hosts: local\n  gather_facts: false\n  roles: [r]\n"),
            ("roles/r/tasks/main.yml", "- debug: msg=hi\n"),
            ("roles/r/meta/main.yml", "dependencies:\n  - role: ghost\n"),
        ],
        args: PLAY,
        at: None,
        says: &["/roles/r/meta/main.yml:2:11: role `ghost` not found (searched ./roles, .)"],
        hint: Some("put it in `roles/` beside the playbook or pass `--roles-path`"),
    };

    import_role_no_name: Case {
        files: &[
            ("pb.yml", "- hosts: local\n  gather_facts: false\n  tasks:\n    - name: marker\n      command: touch {MARKER}\n    - import_role:\n        tasks_from: x\n"),
        ],
        args: PLAY,
        at: Some("pb.yml:7:9"),
        says: &["`import_role` / `include_role` needs `name:`"],
        hint: None,
    };

    tags_bad_type: Case {
        files: &[
            ("pb.yml", "- hosts: local\n  gather_facts: false\n  tasks:\n    - name: marker\n      command: touch {MARKER}\n    - debug: msg=hi\n      tags: {a: 1}\n"),
        ],
        args: PLAY,
        at: Some("pb.yml:7:13"),
        says: &["`tags` must be a string, not a mapping"],
        hint: None,
    };

    block_unknown_kw: Case {
        files: &[
            ("pb.yml", "- hosts: local\n  gather_facts: false\n  tasks:\n    - name: marker\n      command: touch {MARKER}\n    - block:\n        - debug: msg=hi\n      rescue_me: []\n"),
        ],
        args: PLAY,
        at: Some("pb.yml:8:7"),
        says: &["`rescue_me` is not valid here"],
        hint: None,
    };

    vars_not_map: Case {
        files: &[
            ("pb.yml", "- hosts: local\n  gather_facts: false\n  vars: [a, b]\n  tasks: []\n"),
        ],
        args: PLAY,
        at: Some("pb.yml:3:9"),
        says: &["`vars` must be a mapping of variable names to values"],
        hint: None,
    };

    gather_facts_bad: Case {
        files: &[
            ("pb.yml", "- hosts: local\n  gather_facts: maybe\n  tasks: []\n"),
        ],
        args: PLAY,
        at: Some("pb.yml:2:17"),
        says: &["`gather_facts` must be a boolean (true/false), not `maybe`"],
        hint: None,
    };

    no_hosts: Case {
        files: &[
            ("pb.yml", "- name: x\n  tasks: []\n"),
        ],
        args: PLAY,
        at: Some("pb.yml:1:3"),
        says: &["this play has no `hosts`"],
        hint: Some("add `hosts: all` or a group name"),
    };

    roles_not_list: Case {
        files: &[
            ("pb.yml", "- hosts: local\n  roles: r\n"),
        ],
        args: PLAY,
        at: Some("pb.yml:2:10"),
        says: &["`roles` must be a list"],
        hint: None,
    };


    delay_bad: Case {
        files: &[
            ("pb.yml", "- hosts: local\n  gather_facts: false\n  tasks:\n    - name: marker\n      command: touch {MARKER}\n    - debug: msg=hi\n      delay: soon\n"),
        ],
        args: PLAY,
        at: Some("pb.yml:7:14"),
        says: &["`delay` must be a number"],
        hint: None,
    };

    free_form_bad_kv: Case {
        files: &[
            ("pb.yml", "- hosts: local\n  gather_facts: false\n  tasks:\n    - name: marker\n      command: touch {MARKER}\n    - file: path=\"/tmp/x state=directory\n"),
        ],
        args: PLAY,
        at: Some("pb.yml:6:13"),
        says: &["cannot read the arguments of `file`: failed at splitting arguments, either an unbalanced jinja2 block or quotes"],
        hint: Some("write them as a YAML mapping instead"),
    };

    pause_bad: Case {
        files: &[
            ("pb.yml", "- hosts: local\n  gather_facts: false\n  tasks:\n    - name: marker\n      command: touch {MARKER}\n    - debug: msg=hi\n      loop: [1]\n      loop_control:\n        pause: later\n"),
        ],
        args: PLAY,
        at: Some("pb.yml:9:16"),
        says: &["`pause` must be a number of seconds"],
        hint: None,
    };
}

bad_input! {
    vault_wrong_password: Case {
        files: &[
            ("pb.yml", "- hosts: local\n  gather_facts: false\n  vars_files: [secrets.yml]\n  tasks:\n    - name: marker\n      command: touch {MARKER}\n    - debug: msg=hi\n"),
            ("secrets.yml", include_str!("fixtures/vault/secrets-1.1.yml")),
            ("wrong.txt", "wrong\n"),
        ],
        args: &["play", "-T", "2", "-i", "{INV}", "pb.yml", "--vault-password-file", "wrong.txt"],
        at: Some("pb.yml:3:16"),
        says: &["cannot load vars file `secrets.yml`: secrets.yml:1:1: Decryption failed (no vault secrets were found that could decrypt)"],
        hint: Some("none of the vault passwords given (default@wrong.txt) opens this value; check the password, or pass the right one with --vault-id LABEL@FILE"),
    };

    vault_no_password: Case {
        files: &[
            ("pb.yml", "- hosts: local\n  gather_facts: false\n  vars_files: [secrets.yml]\n  tasks:\n    - name: marker\n      command: touch {MARKER}\n    - debug: msg=hi\n"),
            ("secrets.yml", include_str!("fixtures/vault/secrets-1.1.yml")),
        ],
        args: PLAY,
        at: Some("pb.yml:3:16"),
        says: &["cannot load vars file `secrets.yml`: secrets.yml:1:1: Decryption failed (no vault secrets were found that could decrypt)"],
        hint: Some("this is vault-encrypted and no vault password was given; pass --ask-vault-pass, --vault-password-file FILE or --vault-id LABEL@FILE (or set ANSIBLE_VAULT_PASSWORD_FILE)"),
    };
}

bad_input! {}

/// What Ansible only finds out when a task runs: drover warns at load time, naming the place
/// and what it could not prove (with the same hint), runs the play, and the task fails when a
/// host reaches it: exit 2, the tasks before it ran. Never refused at load time.
fn check_deferred(case: Case) {
    let o = run_case(&case);
    let shown = &o.shown;
    assert!(o.ran, "the tasks before the mistake ran\n{shown}");
    assert_eq!(
        o.code, 2,
        "the task that reaches the mistake fails\n{shown}"
    );
    let all = format!("{}{}", o.out, o.err);
    let warning = all
        .lines()
        .find(|l| l.contains("[WARNING]:") && case.at.is_none_or(|at| names_location(l, at)))
        .unwrap_or_else(|| panic!("no load-time warning naming {:?}\n{shown}", case.at));
    for s in case.says {
        assert!(all.contains(s), "the output must say `{s}`\n{shown}");
    }
    if let Some(h) = case.hint {
        assert!(
            all.lines()
                .any(|l| l.trim_start().starts_with("hint:") && l.contains(h)),
            "the warning's hint must say `{h}` (after {warning})\n{shown}"
        );
    }
}

macro_rules! deferred {
    ($($name:ident: $case:expr;)*) => {
        $(
            #[test]
            fn $name() {
                check_deferred($case);
            }
        )*
    };
}

deferred! {
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

    copy_src_missing: Case {
        files: &[
            ("pb.yml", "- hosts: local\n  gather_facts: false\n  tasks:\n    - name: marker\n      command: touch {MARKER}\n    - copy:\n        src: nothere.txt\n        dest: /tmp/x\n"),
        ],
        args: PLAY,
        at: Some("pb.yml:7:14"),
        says: &["the copy source `nothere.txt` was not found (searched files, ./files)"],
        hint: Some("put it in the role's `files/` directory or give a path relative to the playbook"),
    };

    include_vars_missing: Case {
        files: &[
            ("pb.yml", "- hosts: local\n  gather_facts: false\n  tasks:\n    - name: marker\n      command: touch {MARKER}\n    - include_vars: nothere.yml\n"),
        ],
        args: PLAY,
        at: Some("pb.yml:6:21"),
        says: &["the vars file `nothere.yml` was not found (searched vars, ./vars)"],
        hint: Some("put it in the role's `vars/` directory or give a path relative to the playbook"),
    };

    template_file_syntax: Case {
        files: &[
            ("pb.yml", "- hosts: local\n  gather_facts: false\n  tasks:\n    - name: marker\n      command: touch {MARKER}\n    - template:\n        src: t.j2\n        dest: /tmp/x\n"),
            ("templates/t.j2", "line\n{% if x %}\nunclosed\n"),
        ],
        args: PLAY,
        at: Some("templates/t.j2:3:1"),
        says: &["template syntax error: unexpected end of input, expected end of block"],
        hint: Some("check the `{% %}` blocks are closed (`endif`, `endfor`) and the `{{ }}` pairs"),
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

    when_bad_expr: Case {
        files: &[
            ("pb.yml", "- hosts: local\n  gather_facts: false\n  tasks:\n    - name: marker\n      command: touch {MARKER}\n    - debug: msg=hi\n      when: x ==\n"),
        ],
        args: PLAY,
        at: Some("pb.yml:7:13"),
        says: &["template error in `x ==`: syntax error: unexpected end of input, expected expression"],
        hint: Some("check the `{{ }}` / `{% %}` pairs and filter names"),
    };
}
