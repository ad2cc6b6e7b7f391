//! Valid Ansible that drover refused or misran, each case found by running Ansible's own
//! integration tests (tests/conformance.rs) or playbooks written elsewhere, and checked
//! against ansible-playbook 2.19: FQCN actions, optional variables, templated keywords,
//! modules drover lacks on paths a host never takes, template newlines and backslashes,
//! lookups, Python methods, `run_once` results, `max_fail_percentage` per task, and roles
//! from collections. Everything runs over the local connection in a temp dir.

mod support;

use std::path::Path;
use support::{drover, recap, run, write};

/// Writes `files` into a fresh directory and runs `drover play pb.yml` there with an inventory
/// of `hosts` (local connection); returns (exit code, stdout, stderr, the directory).
fn play_in(
    files: &[(&str, &str)],
    hosts: &[&str],
    extra: &[&str],
) -> (i32, String, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let inv: String = hosts
        .iter()
        .map(|h| format!("{h} ansible_connection=local\n"))
        .collect();
    write(d, "inv.ini", &inv);
    for (p, text) in files {
        write(d, p, &text.replace("DIR", &d.display().to_string()));
    }
    let mut cmd = drover();
    cmd.current_dir(d)
        .args(["play", "-i", "inv.ini", "pb.yml"])
        .args(extra)
        .env_remove("ANSIBLE_COLLECTIONS_PATH");
    let (code, out, err) = run(&mut cmd);
    (code, out, err, dir)
}

fn read(d: &Path, p: &str) -> String {
    std::fs::read_to_string(d.join(p)).unwrap_or_else(|e| panic!("reading {p}: {e}"))
}

#[test]
fn fqcn_structural_actions_load_and_run() {
    let (code, out, err, d) = play_in(
        &[
            (
                "pb.yml",
                "- hosts: all\n  gather_facts: false\n  tasks:\n    - ansible.builtin.import_tasks: t.yml\n    - ansible.builtin.include_tasks: t.yml\n    - ansible.builtin.include_role:\n        name: r\n    - ansible.builtin.import_role:\n        name: r\n    - ansible.builtin.meta: flush_handlers\n    - ansible.legacy.meta: noop\n",
            ),
            ("t.yml", "- ansible.builtin.shell: echo t >> DIR/log\n"),
            ("roles/r/tasks/main.yml", "- shell: echo r >> DIR/log\n"),
        ],
        &["h"],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(read(d.path(), "log"), "t\nt\nr\nr\n");
}

#[test]
fn optional_variable_idioms_are_never_refused() {
    let (code, out, err, d) = play_in(
        &[(
            "pb.yml",
            "- hosts: all\n  gather_facts: false\n  vars:\n    a: {}\n  tasks:\n    - shell: echo unset >> DIR/log\n      when: maybe_set is not defined\n    - shell: echo \"{{ flag | default(false) }} {{ a.b | default('x') }} {{ nested.deep.er | default('y') }}\" >> DIR/log\n    - shell: echo \"{{ other if other is defined else 'z' }}\" >> DIR/log\n",
        )],
        &["h"],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        !out.contains("[WARNING]"),
        "guarded names are not warned about:\n{out}"
    );
    assert_eq!(read(d.path(), "log"), "unset\nFalse x y\nz\n");
}

#[test]
fn an_unguarded_undefined_name_is_warned_then_fails_only_where_reached() {
    let (code, out, err, d) = play_in(
        &[(
            "pb.yml",
            "- hosts: all\n  gather_facts: false\n  tasks:\n    - shell: echo before >> DIR/log\n    - debug: msg=\"{{ nmae }}\"\n      when: false\n    - shell: echo after >> DIR/log\n    - debug: msg=\"{{ nmae }}\"\n",
        )],
        &["h"],
        &[],
    );
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.contains("[WARNING]: pb.yml:5:"), "{out}");
    assert!(out.contains("'nmae' is undefined"), "{out}");
    assert_eq!(read(d.path(), "log"), "before\nafter\n");
}

#[test]
fn a_role_handler_include_finds_the_file_in_the_roles_tasks() {
    let (code, out, err, d) = play_in(
        &[
            (
                "pb.yml",
                "- hosts: all\n  gather_facts: false\n  roles: [r]\n",
            ),
            (
                "roles/r/tasks/main.yml",
                "- shell: echo task\n  notify: clean up\n",
            ),
            (
                "roles/r/handlers/main.yml",
                "- name: clean up\n  include_tasks: cleanup.yml\n",
            ),
            (
                "roles/r/tasks/cleanup.yml",
                "- shell: echo cleaned >> DIR/log\n",
            ),
        ],
        &["h"],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(read(d.path(), "log"), "cleaned\n");
}

#[test]
fn a_run_once_result_reaches_every_host_whole() {
    let (code, out, err, d) = play_in(
        &[(
            "pb.yml",
            "- hosts: all\n  gather_facts: false\n  tasks:\n    - command: echo hi\n      run_once: true\n      register: once\n    - set_fact:\n        shared: 7\n      run_once: true\n    - shell: echo \"{{ inventory_hostname }} {{ once.changed }} {{ once.rc }} {{ once.stdout }} {{ shared }}\" >> DIR/log\n      throttle: 1\n",
        )],
        &["a", "b"],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    let mut lines: Vec<String> = read(d.path(), "log").lines().map(String::from).collect();
    lines.sort();
    assert_eq!(lines, ["a True 0 hi 7", "b True 0 hi 7"]);
}

#[test]
fn a_last_template_line_ending_in_a_newline_gets_no_blank_line() {
    let (code, out, err, d) = play_in(
        &[
            (
                "pb.yml",
                "- hosts: all\n  gather_facts: false\n  vars:\n    x: {k: v, l: [1, 2]}\n  tasks:\n    - template: src=t.j2 dest=DIR/out.yml\n    - template: src=u.j2 dest=DIR/u.txt\n",
            ),
            ("templates/t.j2", "a: 1\n{{ x | to_nice_yaml }}\n"),
            ("templates/u.j2", "a: {{ x.k }}\n\n"),
        ],
        &["h"],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    // Both as ansible-playbook 2.19 writes them.
    assert_eq!(read(d.path(), "out.yml"), "a: 1\nk: v\nl:\n- 1\n- 2\n");
    assert_eq!(read(d.path(), "u.txt"), "a: v\n\n");
}

#[test]
fn a_per_os_branch_naming_a_module_drover_lacks_loads_and_fails_only_when_reached() {
    let files = [
        (
            "pb.yml",
            "- hosts: all\n  gather_facts: false\n  vars:\n    os: Debian\n  tasks:\n    - import_tasks: setup-Archlinux.yml\n      when: os == 'Archlinux'\n    - shell: echo debian >> DIR/log\n",
        ),
        ("setup-Archlinux.yml", "- community.general.pacman: name=x\n- pacman: name=y\n"),
    ];
    let (code, out, err, d) = play_in(&files, &["h"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(read(d.path(), "log"), "debian\n");
    // Reached, the task fails and says why.
    let (code, out, err, _) = play_in(&files, &["h"], &["-e", "os=Archlinux"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        out.contains("The module `community.general.pacman` is an Ansible module that drover does not implement yet"),
        "{out}"
    );
    // A name that is no Ansible module anywhere is still a load error.
    let (code, out, err, _) = play_in(
        &[("pb.yml", "- hosts: all\n  tasks:\n    - pacmna: name=x\n")],
        &["h"],
        &[],
    );
    assert_eq!(code, 5, "{out}{err}");
    assert!(err.contains("unknown module or keyword `pacmna`"), "{err}");
}

#[test]
fn templated_boolean_keywords_are_decided_per_host() {
    let (code, out, err, _) = play_in(
        &[(
            "pb.yml",
            "- hosts: all\n  gather_facts: false\n  vars:\n    x_no_log: true\n  tasks:\n    - debug: msg=secret-text\n      no_log: \"{{ x_no_log }}\"\n    - fail: msg=expected\n      ignore_errors: \"{{ not ansible_check_mode }}\"\n    - command: /bin/false\n      ignore_errors: \"{{ inventory_hostname == 'a' }}\"\n",
        )],
        &["a", "b"],
        &[],
    );
    assert_eq!(code, 2, "{out}{err}");
    // The result is censored (the [ERROR] block's source excerpt may quote the task).
    assert!(!out.contains("\"secret-text\""), "{out}");
    assert!(out.contains("the output has been hidden"), "{out}");
    assert_eq!(recap(&out, "a").failed, 0, "{out}");
    assert_eq!(recap(&out, "a").ignored, 2, "{out}");
    assert_eq!(recap(&out, "b").failed, 1, "{out}");
}

#[test]
fn backslashes_in_template_strings_stay_backreferences() {
    let (code, out, err, d) = play_in(
        &[(
            "pb.yml",
            "- hosts: all\n  gather_facts: false\n  vars:\n    s: abc-def\n  tasks:\n    - copy:\n        content: '{{ s | regex_replace(\"(\\w+)-(\\w+)\", \"\\2 \\1\") }}'\n        dest: DIR/a\n    - copy:\n        content: \"{{ s | regex_replace('(\\\\w+)-(\\\\w+)', '\\\\2 \\\\1') }}\"\n        dest: DIR/b\n",
        )],
        &["h"],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(read(d.path(), "a"), "def abc");
    assert_eq!(read(d.path(), "b"), "def abc");
}

#[test]
fn lookups_filters_methods_and_facts_roles_use() {
    let (code, out, err, d) = play_in(
        &[
            (
                "pb.yml",
                "- hosts: all\n  vars:\n    qz_a: 1\n    qz_b: 2\n  tasks:\n    - shell: echo \"{{ lookup('varnames', '^qz_') }}|{{ 'x' | comment }}|{{ [3, 4].index(4) }}|{{ ansible_facts.selinux.status }}\" >> DIR/log\n    - shell: echo \"{{ item }}\" >> DIR/log\n      with_lines: printf 'l1\\nl2\\n'\n    - shell: echo \"{{ item }}\" >> DIR/log\n      with_community.general.flattened: [[f1], [[f2]]]\n    - include_vars: \"{{ item }}\"\n      with_first_found: [missing.yml, found.yml]\n    - shell: echo \"{{ from_vars_dir }}\" >> DIR/log\n    - include_tasks:\n      args:\n        file: t.yml\n        apply:\n          tags: [always]\n",
            ),
            ("vars/found.yml", "from_vars_dir: yes-vars\n"),
            ("files/found.yml", "from_vars_dir: wrong-files\n"),
            ("t.yml", "- shell: echo included >> DIR/log\n"),
        ],
        &["h"],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        read(d.path(), "log"),
        "qz_a,qz_b|#\n# x\n#|1|disabled\nl1\nl2\nf1\nf2\nyes-vars\nincluded\n"
    );
}

#[test]
fn a_role_sees_its_name_and_collections_provide_roles() {
    let (code, out, err, d) = play_in(
        &[
            (
                "pb.yml",
                "- hosts: all\n  gather_facts: false\n  collections: [devsec.hardening]\n  roles:\n    - devsec.hardening.ssh_hardening\n    - os_hardening\n",
            ),
            (
                "collections/ansible_collections/devsec/hardening/roles/ssh_hardening/tasks/main.yml",
                "- shell: echo \"{{ ansible_role_name }}\" >> DIR/log\n- include_role:\n    name: helper\n",
            ),
            (
                "collections/ansible_collections/devsec/hardening/roles/helper/tasks/main.yml",
                "- shell: echo helper >> DIR/log\n",
            ),
            (
                "collections/ansible_collections/devsec/hardening/roles/os_hardening/tasks/main.yml",
                "- shell: echo \"{{ role_name }}\" >> DIR/log\n",
            ),
        ],
        &["h"],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        read(d.path(), "log"),
        "devsec.hardening.ssh_hardening\nhelper\nos_hardening\n"
    );
}

#[test]
fn max_fail_percentage_stops_the_batch_after_the_failing_task() {
    let (code, out, err, d) = play_in(
        &[(
            "pb.yml",
            "- hosts: all\n  gather_facts: false\n  serial: [1, 2]\n  max_fail_percentage: 0\n  tasks:\n    - fail: msg=boom\n      when: inventory_hostname == 'b'\n    - shell: echo \"{{ inventory_hostname }}\" >> DIR/log\n",
        )],
        &["a", "b", "c"],
        &[],
    );
    assert_eq!(code, 2, "{out}{err}");
    // The canary ran; in the next batch, c did not go on after b failed.
    assert_eq!(read(d.path(), "log"), "a\n");
}

#[test]
fn handlers_that_notify_each_other_run_once_per_flush_and_end() {
    let (code, out, err, d) = play_in(
        &[(
            "pb.yml",
            "- hosts: all\n  gather_facts: false\n  tasks:\n    - command: echo\n      notify: [h1, self]\n  handlers:\n    - name: h1\n      shell: echo h1 >> DIR/log\n      notify: h2\n    - name: h2\n      shell: echo h2 >> DIR/log\n      notify: h1\n    - name: self\n      shell: echo self >> DIR/log\n      notify: self\n",
        )],
        &["h"],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    // As ansible-playbook 2.19: one pass over the handlers per flush point (a play has three:
    // after pre_tasks, tasks and post_tasks, even empty ones); a handler notified by a later one
    // (or by itself) runs at the next flush point.
    assert_eq!(read(d.path(), "log"), "h1\nh2\nself\nh1\nh2\nself\n");
}

#[test]
fn free_form_commands_keep_their_lines_and_expand_variables_as_ansible() {
    // As ansible-core 2.19 runs it: the block scalar's lines (a heredoc), runs of spaces and
    // `\` continuations survive `k=v` parsing; `command` expands `$VAR` and `~` itself.
    let (code, out, err, d) = play_in(
        &[(
            "pb.yml",
            "- hosts: all\n  gather_facts: false\n  tasks:\n    - shell: |\n        creates=DIR/never\n        cat <<EOF > DIR/heredoc\n        One\n          Two\n        EOF\n        echo a \\\n          b  c >> DIR/heredoc\n    - command: sh -c 'echo \"$GREETING\" ~ > DIR/expanded'\n      environment: {GREETING: hi}\n    - command: printf %s $GREETING\n      args: {expand_argument_vars: false}\n      environment: {GREETING: hi}\n      register: r\n    - copy: {content: \"{{ r.stdout }}\", dest: DIR/literal}\n",
        )],
        &["h"],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(read(d.path(), "heredoc"), "One\n  Two\na b c\n");
    let home = std::env::var("HOME").unwrap_or_default();
    assert_eq!(read(d.path(), "expanded"), format!("hi {home}\n"));
    assert_eq!(read(d.path(), "literal"), "$GREETING");
}

#[test]
fn a_notification_no_handler_answers_fails_only_when_the_task_changes() {
    // As ansible-core 2.19: no load-time refusal; the run stops with Ansible's message when a
    // task that changed notifies it, and only warns with ANSIBLE_ERROR_ON_MISSING_HANDLER=false.
    let pb = "- hosts: all\n  gather_facts: false\n  tasks:\n    - command: \"true\"\n      changed_when: false\n      notify: restrat app\n    - shell: echo first >> DIR/log\n      notify: restrat app\n    - shell: echo never >> DIR/log\n  handlers:\n    - name: restart app\n      shell: echo handler >> DIR/log\n";
    let (code, out, err, d) = play_in(&[("pb.yml", pb)], &["h"], &[]);
    assert_ne!(code, 0, "{out}{err}");
    assert!(
        format!("{out}{err}").contains("The requested handler 'restrat app' was not found in either the main handlers list nor in the listening handlers list"),
        "{out}{err}"
    );
    assert_eq!(read(d.path(), "log"), "first\n");
    assert!(
        out.contains("`notify: restrat app` names no handler"),
        "{out}"
    );

    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    write(p, "inv.ini", "h ansible_connection=local\n");
    write(p, "pb.yml", &pb.replace("DIR", &p.display().to_string()));
    let (code, out, err) = run(drover()
        .current_dir(p)
        .args(["play", "-i", "inv.ini", "pb.yml"])
        .env("ANSIBLE_ERROR_ON_MISSING_HANDLER", "false"));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(read(p, "log"), "first\nnever\n");
}

#[test]
fn an_ansible_argument_drover_lacks_loads_and_fails_only_when_reached() {
    // `autoclean` is an argument of Ansible's apt module that drover does not implement: the
    // playbook loads (Ansible would run it), the task fails only on a host that reaches it; a
    // misspelt argument is still a load error.
    let files = [(
        "pb.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - apt: {autoclean: true}\n      when: false\n    - shell: echo ran >> DIR/log\n    - apt: {autoclean: true}\n",
    )];
    let (code, out, err, d) = play_in(&files, &["h"], &[]);
    assert_eq!(code, 2, "{out}{err}");
    assert_eq!(read(d.path(), "log"), "ran\n");
    assert!(
        out.contains("The argument `autoclean` of the module `apt` is Ansible's, and drover does not implement it yet"),
        "{out}"
    );
    let (code, out, err, _) = play_in(
        &[(
            "pb.yml",
            "- hosts: all\n  tasks:\n    - apt: {autoclaen: true}\n",
        )],
        &["h"],
        &[],
    );
    assert_eq!(code, 5, "{out}{err}");
    assert!(
        err.contains("module `apt` has no argument `autoclaen`"),
        "{err}"
    );
    // `drover doc` lists what drover has.
    let (code, out, _) = run(drover().args(["doc", "--list"]));
    assert_eq!(code, 0);
    assert!(
        out.lines().any(|l| l == "apt") && out.lines().any(|l| l == "script"),
        "{out}"
    );
    let (code, out, _) = run(drover().args(["doc", "apt"]));
    assert_eq!(code, 0);
    assert!(out.contains("update_cache"), "{out}");
}

#[test]
fn path_arguments_expand_variables_and_home_on_the_host() {
    // As Ansible's `path` arguments (expanduser(expandvars(p))): `$VAR`/`${VAR}` from the
    // task's environment, an unset one left as written.
    let (code, out, err, d) = play_in(
        &[(
            "pb.yml",
            "- hosts: all\n  gather_facts: false\n  tasks:\n    - file: {path: \"DIR/$SUB-${SUB}-$UNSET_X\", state: directory}\n      environment: {SUB: made}\n    - stat: {path: \"DIR/${SUB}-made-$UNSET_X\"}\n      environment: {SUB: made}\n      register: st\n    - assert: {that: [st.stat.isdir]}\n",
        )],
        &["h"],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(d.path().join("made-made-$UNSET_X").is_dir(), "{out}");
}

#[test]
fn nested_includes_see_the_vars_of_every_enclosing_include() {
    // As Ansible: an include's `vars` reach the tasks of includes and imports inside it, inner
    // over outer, templated in the final scope.
    let files = [
        (
            "pb.yml",
            "- hosts: all\n  gather_facts: false\n  tasks:\n    - include_tasks: outer.yml\n      vars: {canary: value1}\n",
        ),
        (
            "outer.yml",
            "- include_tasks: leaf.yml\n  vars: {canary2: '{{ canary }}'}\n- import_tasks: leaf.yml\n  vars: {canary2: '{{ canary }}-imported'}\n",
        ),
        ("leaf.yml", "- shell: echo '{{ canary2 }}' >> DIR/log\n"),
    ];
    let (code, out, err, d) = play_in(&files, &["h"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(read(d.path(), "log"), "value1\nvalue1-imported\n");
}

#[test]
fn until_retries_and_folded_expressions_as_ansible() {
    // `retries` may use the loop's index; `until` sees the result after failed_when (and the
    // attempt number); with failed_when, running out of attempts is not the task's failure;
    // a `>`-folded `{{ expr }}` keeps its native type; `action: "{{ var }}"` names a module.
    let files = [(
        "pb.yml",
        "- hosts: all\n  gather_facts: false\n  vars:\n    folded: >\n      {{ [1, 2] }}\n    mod: shell\n  tasks:\n    - shell: echo x >> DIR/count-{{ idx }}; wc -l < DIR/count-{{ idx }}\n      register: r\n      until: r.stdout | int == idx + 2\n      retries: \"{{ idx + 2 }}\"\n      delay: 0\n      loop: [a, b]\n      loop_control: {index_var: idx}\n    - shell: echo run >> DIR/fw\n      register: fw\n      failed_when: true\n      until: fw is successful\n      retries: 2\n      delay: 0\n      ignore_errors: true\n    - shell: 'true'\n      register: at\n      until: 1 == 0\n      retries: 2\n      delay: 0\n      failed_when: at.attempts > 6\n    - action: \"{{ mod }} echo {{ folded | type_debug }} > DIR/folded\"\n",
    )];
    let (code, out, err, d) = play_in(&files, &["h"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(read(d.path(), "count-0"), "x\nx\n");
    assert_eq!(read(d.path(), "count-1"), "x\nx\nx\n");
    assert_eq!(read(d.path(), "fw"), "run\nrun\nrun\n");
    assert_eq!(read(d.path(), "folded"), "list\n");
}

#[test]
fn handlers_honour_run_once_and_any_errors_fatal() {
    // As Ansible: a `run_once` handler runs on one host; a handler that fails under
    // `any_errors_fatal` stops the play for every host.
    let files = [(
        "pb.yml",
        "- hosts: all\n  gather_facts: false\n  any_errors_fatal: true\n  tasks:\n    - shell: 'true'\n      notify: [once, boom]\n    - meta: flush_handlers\n    - shell: echo after-{{ inventory_hostname }} >> DIR/log\n  handlers:\n    - name: once\n      shell: echo once >> DIR/log\n      run_once: true\n    - name: boom\n      shell: \"[ {{ inventory_hostname }} != a ]\"\n",
    )];
    let (code, out, err, d) = play_in(&files, &["a", "b"], &[]);
    assert_eq!(code, 2, "{out}{err}");
    assert_eq!(read(d.path(), "log"), "once\n");
}

#[test]
fn a_variable_whose_template_names_an_undefined_one_is_undefined_and_says_which() {
    // As Ansible 2.19: `x: "{{ missing }}"` makes `x` undefined (`default` applies), using it
    // names `missing`; a list element naming an undefined variable fails only where used, and
    // first_found drops it; `debug: var:` with a template other than a bare variable is
    // rendered first (its errors are the task's), then refused as untrusted.
    let files = [(
        "pb.yml",
        "- hosts: all\n  gather_facts: false\n  vars:\n    via: \"{{ missing }}\"\n    files: [\"{{ missing }}nope\", found]\n  tasks:\n    - shell: echo {{ via | default('dflt') }} {{ files | length }} {{ files[1] }} >> DIR/log\n    - shell: echo {{ via }}\n      register: r1\n      ignore_errors: true\n    - shell: echo {{ files }}\n      register: r2\n      ignore_errors: true\n    - shell: echo {{ item | basename }} >> DIR/log\n      with_first_found:\n        - files: \"{{ files }}\"\n          paths: [DIR]\n    - shell: echo {{ 5 / 0 }}\n      register: r3\n      ignore_errors: true\n    - debug:\n        var: '{{ lookup(\"vars\", 42) }}'\n      register: r4\n      ignore_errors: true\n    - debug:\n        var: '{{ \"via\" }}'\n      register: r5\n      ignore_errors: true\n    - shell: echo {{ r1.msg is search(\"'missing' is undefined\") }} {{ r2.msg is search(\"'missing' is undefined\") }} {{ r3.msg is search('division by zero') }} {{ r4.msg is search(\"Variable name must be 'str' not 'int'\") }} {{ r5.msg is search('untrusted') }} >> DIR/log\n",
    ), ("found", "")];
    let (code, out, err, d) = play_in(&files, &["h"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        read(d.path(), "log"),
        "dflt 2 found\nfound\nTrue True True True True\n",
        "{out}"
    );
}

#[test]
fn filters_behave_as_ansibles_on_edge_cases() {
    // Checked against ansible-playbook 2.19: `to_yaml` writes collections of scalars in flow
    // style (PyYAML's default_flow_style=None); `undef(hint)` fails with its hint where used;
    // a guarded chain after a parenthesized expression takes the default; an undefined value
    // inside a result fails the task; subelements gives tuples; random/shuffle edge cases.
    let files = [(
        "pb.yml",
        "- hosts: all\n  gather_facts: false\n  vars:\n    hinted: \"{{ undef(hint='set me') }}\"\n    data: {a: [1, 2], b: {c: d}, e: [{f: g}]}\n    users: [{name: x, groups: [w, v]}]\n  tasks:\n    - copy:\n        content: \"{{ data | to_yaml }}\"\n        dest: DIR/out.yml\n    - shell: echo {{ hinted }}\n      register: r1\n      ignore_errors: true\n    - set_fact:\n        combined: \"{{ {'k': 1} | combine({'j': nope}) }}\"\n      register: r2\n      ignore_errors: true\n    - shell: echo {{ r1.msg is search('set me') }} {{ r2 is failed }} {{ (('k' | extract({})).s | default('a')) }} {{ users | subelements('groups') | first is sameas false }} {{ (users | subelements('groups'))[0][1] }} {{ 22 | shuffle }} {{ hinted | default('dflt') }} >> DIR/log\n",
    )];
    let (code, out, err, d) = play_in(&files, &["h"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        read(d.path(), "out.yml"),
        "a: [1, 2]\nb: {c: d}\ne:\n- {f: g}\n"
    );
    assert_eq!(
        read(d.path(), "log"),
        "True True a False w 22 dflt\n",
        "{out}"
    );
}

#[test]
fn check_mode_fails_on_a_missing_service_unless_an_earlier_task_would_install_it() {
    // Ansible fails a missing service in check mode too. drover keeps predicting when an
    // earlier task of the run predicted a change that did not happen (it may be the one that
    // installs the init script), and says so.
    let files = [(
        "pb.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - service: {name: drover-no-such-svc, state: started, use: sysvinit}\n      register: r1\n      ignore_errors: true\n    - copy: {content: x, dest: DIR/init-script}\n    - service: {name: drover-no-such-svc, state: started, use: sysvinit}\n      register: r2\n    - shell: echo {{ r1 is failed }} {{ r2 is changed }} {{ r2.msg is search('check mode assumes') }} > DIR/log\n      check_mode: false\n",
    )];
    let (code, out, err, d) = play_in(&files, &["h"], &["--check"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(read(d.path(), "log"), "True True True\n", "{out}");
    assert!(!d.path().join("init-script").exists());
}

#[test]
fn the_jsonfile_fact_cache_carries_facts_between_runs() {
    // As Ansible's jsonfile cache: gathered facts and `cacheable: true` values persist in
    // `<dir>/<prefix>s1_<host>`; other set_fact values do not; `--flush-cache` empties it.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "inv.ini", "h ansible_connection=local\n");
    write(d, "one.yml", "- hosts: all\n  tasks:\n    - set_fact: {ansible_kept: k, plain_kept: p, cacheable: true}\n    - set_fact: {not_kept: n}\n");
    write(d, "two.yml", "- hosts: all\n  gather_facts: false\n  tasks:\n    - shell: echo {{ ansible_kept }} {{ plain_kept }} {{ ansible_facts.kept }} {{ not_kept | default('none') }} {{ ansible_facts.distribution is defined }} >> log\n");
    write(
        d,
        "three.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - shell: echo {{ plain_kept }}\n",
    );
    let run = |pb: &str, extra: &[&str]| {
        let mut cmd = drover();
        cmd.current_dir(d)
            .args(["play", "-i", "inv.ini", pb])
            .args(extra)
            .env("ANSIBLE_CACHE_PLUGIN", "jsonfile")
            .env("ANSIBLE_CACHE_PLUGIN_CONNECTION", d.join("cache"))
            .env("ANSIBLE_CACHE_PLUGIN_PREFIX", "pre_");
        run(&mut cmd)
    };
    let (code, out, err) = run("one.yml", &[]);
    assert_eq!(code, 0, "{out}{err}");
    let file = read(d, "cache/pre_s1_h");
    assert!(file.starts_with("{\"__payload__\":"), "{file}");
    let (code, out, err) = run("two.yml", &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(read(d, "log"), "k p k none True\n");
    let (code, out, err) = run("three.yml", &["--flush-cache"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.contains("'plain_kept' is undefined"), "{out}");
    assert!(!d.join("cache/pre_s1_h").exists());
}

#[test]
fn conditionals_are_booleans_and_trusted_as_ansible_2_19_has_them() {
    // A conditional must give a boolean; a whole-template condition that gives a string
    // evaluates it only if the string was written by the user (not computed, not `!unsafe`);
    // string constants with templates inside an expression are rendered in place; `action:`
    // with nested `args:`; lookup('config'); ALLOW_BROKEN_CONDITIONALS relaxes the rule.
    let files = [(
        "pb.yml",
        "- hosts: all\n  gather_facts: false\n  vars:\n    cond: \"1 == 1\"\n    falsy: \"1 == 2\"\n    unsafe_cond: !unsafe \"1 == 1\"\n  tasks:\n    - assert: {that: \"{{ '1 == 1' }}\"}\n      register: r1\n      ignore_errors: true\n    - assert: {that: cond}\n      register: r2\n      ignore_errors: true\n    - assert: {that: \"{{ unsafe_cond }}\"}\n      register: r3\n      ignore_errors: true\n    - shell: echo when-ran >> DIR/log\n      when: \"{{ falsy }}\"\n    - assert:\n        that:\n          - \"{{ cond }}\"\n          - '\"{{ ''hi'' }}\" == \"hi\"'\n          - lookup('config', 'become_flags', plugin_type='become', plugin_name='sudo') == '-H -S -n'\n    - action:\n        module: assert\n        args: {that: \"{{ 1 + 1 == 2 }}\"}\n    - shell: echo {{ r1.msg is search('untrusted') }} {{ r2.msg is search('must have a boolean result') }} {{ r3.msg is search('untrusted') }} >> DIR/log\n",
    )];
    let (code, out, err, d) = play_in(&files, &["h"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(read(d.path(), "log"), "True True True\n", "{out}");
    let (code, out, err, _d) = play_in(
        &[(
            "pb.yml",
            "- hosts: all\n  gather_facts: false\n  tasks:\n    - assert: {that: \"'broken'\"}\n",
        )],
        &["h"],
        &[],
    );
    assert_eq!(code, 2, "{out}{err}");
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "inv.ini", "h ansible_connection=local\n");
    write(
        dir.path(),
        "pb.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - assert: {that: \"'broken'\"}\n",
    );
    let mut cmd = drover();
    cmd.current_dir(dir.path())
        .args(["play", "-i", "inv.ini", "pb.yml"])
        .env("ANSIBLE_ALLOW_BROKEN_CONDITIONALS", "1");
    let (code, out, err) = run(&mut cmd);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn include_role_vars_are_include_parameters() {
    // As Ansible: the `vars:` of an include_role task reach the role's tasks above its
    // defaults and above `set_fact`.
    let files = [
        (
            "pb.yml",
            "- hosts: all\n  gather_facts: false\n  tasks:\n    - set_fact: {who: from_set_fact}\n    - include_role: {name: r}\n      vars: {who: from_include}\n    - shell: echo after={{ who }} >> DIR/log\n",
        ),
        ("roles/r/defaults/main.yml", "who: from_defaults\n"),
        ("roles/r/tasks/main.yml", "- shell: echo in={{ who }} >> DIR/log\n"),
    ];
    let (code, out, err, d) = play_in(&files, &["h"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        read(d.path(), "log"),
        "in=from_include\nafter=from_set_fact\n"
    );
}

#[test]
fn the_sudo_become_options_shape_the_sudo_command() {
    // `ansible_become_exe`, `ansible_become_flags`, `ansible_sudo_chdir` and an empty
    // `ansible_become_user` (sudo's default user), as ansible-core's sudo plugin builds them.
    if unsafe { libc::geteuid() } != 0 {
        support::skip("the sudo options test runs sudo as root");
        return;
    }
    let files = [
        (
            "shim.sh",
            "#!/bin/sh\necho \"$@\" >> DIR/shim.log\nexec sudo \"$@\"\n",
        ),
        (
            "pb.yml",
            "- hosts: all\n  gather_facts: false\n  become: true\n  vars:\n    ansible_become_exe: DIR/shim.sh\n    ansible_become_flags: -H -n\n    ansible_sudo_chdir: /\n    ansible_become_user: ''\n  tasks:\n    - shell: echo $(id -un) $(pwd) >> DIR/log\n",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (p, text) in files {
        write(d, p, &text.replace("DIR", &d.display().to_string()));
    }
    std::fs::set_permissions(
        d.join("shim.sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    write(d, "inv.ini", "h ansible_connection=local\n");
    let mut cmd = drover();
    cmd.current_dir(d).args(["play", "-i", "inv.ini", "pb.yml"]);
    let (code, out, err) = run(&mut cmd);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(read(d, "log"), "root /\n");
    assert!(
        read(d, "shim.log").starts_with("-H -n -- /bin/sh"),
        "{}",
        read(d, "shim.log")
    );
}

#[test]
fn handlers_as_ansible_2_19_runs_them() {
    // An `include_tasks` handler is dynamic (templated file, loop) and its tasks run as
    // handlers without being notifiable themselves; it runs on a failed host under
    // force_handlers; an include_role's handlers answer only once it ran; a role included
    // from a role sees that role's defaults.
    let files = [
        (
            "pb.yml",
            "- hosts: all\n  gather_facts: false\n  force_handlers: true\n  vars: {hfile: h.yml}\n  tasks:\n    - shell: 'true'\n      notify: [inc, dup]\n    - meta: flush_handlers\n    - include_role: {name: outer}\n    - shell: 'true'\n      notify: dup\n    - meta: flush_handlers\n    - shell: 'true'\n      notify: inc\n    - fail:\n  handlers:\n    - name: inc\n      include_tasks: '{{ hfile }}'\n    - name: dup\n      shell: echo play-dup >> DIR/log\n",
        ),
        ("h.yml", "- shell: echo from-include >> DIR/log\n"),
        ("roles/outer/defaults/main.yml", "chained: yes-seen\n"),
        ("roles/outer/tasks/main.yml", "- include_role: {name: inner}\n"),
        (
            "roles/inner/tasks/main.yml",
            "- shell: echo inner={{ chained }} >> DIR/log\n",
        ),
        (
            "roles/inner/handlers/main.yml",
            "- name: dup\n  shell: echo role-dup >> DIR/log\n",
        ),
    ];
    let (code, out, err, d) = play_in(&files, &["h"], &[]);
    assert_eq!(code, 2, "{out}{err}");
    assert_eq!(
        read(d.path(), "log"),
        "from-include\nplay-dup\ninner=yes-seen\nrole-dup\nfrom-include\n",
        "{out}"
    );
    assert!(out.contains("RUNNING HANDLER [inc]"), "{out}");
    // What Ansible refuses in a handler list.
    for (handlers, msg) in [
        (
            "    - name: x\n      include_role: {name: outer}\n",
            "Using 'include_role' as a handler is not supported.",
        ),
        (
            "    - name: x\n      block:\n        - block:\n            - debug:\n",
            "Using a block as a handler is not supported.",
        ),
        (
            "    - name: x\n      meta: flush_handlers\n",
            "flush_handlers cannot be used as a handler",
        ),
    ] {
        let pb = format!("- hosts: all\n  gather_facts: false\n  tasks:\n    - shell: 'true'\n      notify: x\n  handlers:\n{handlers}");
        let (code, out, err, _d) = play_in(
            &[
                ("pb.yml", &pb),
                ("roles/outer/tasks/main.yml", "- debug:\n"),
            ],
            &["h"],
            &[],
        );
        assert_ne!(code, 0, "{out}{err}");
        assert!(format!("{out}{err}").contains(msg), "{msg}\n{out}{err}");
    }
}

#[test]
fn roles_run_once_per_host_and_play_unless_they_allow_duplicates() {
    // As ansible-core: a role that ran to completion on a host does not run there again in
    // the play (decided at run time: a role skipped by `when` runs when listed again), an
    // import_role/include_role allows duplicates by default, `meta: end_role` ends the role
    // for the host, `defaults/main/` may be a directory, and `vars` is every variable.
    let files = [
        (
            "pb.yml",
            "- hosts: all\n  gather_facts: false\n  roles:\n    - {role: a, when: go is defined}\n    - setgo\n    - {role: a, when: go is defined}\n    - {role: a, when: go is defined}\n  tasks:\n    - import_role: {name: a}\n    - include_role: {name: a, allow_duplicates: false}\n    - include_role: {name: ender}\n    - shell: echo {{ 'from_dir' in vars }} {{ vars['from_dir'] | default('none') }} >> DIR/log\n",
        ),
        ("roles/a/tasks/main.yml", "- shell: echo a >> DIR/log\n"),
        ("roles/setgo/tasks/main.yml", "- set_fact: {go: 1}\n"),
        (
            "roles/ender/tasks/main.yml",
            "- shell: echo before-end >> DIR/log\n- meta: end_role\n- shell: echo after-end >> DIR/log\n",
        ),
        ("roles/ender/defaults/main/10.yml", "from_dir: 1\n"),
    ];
    let (code, out, err, d) = play_in(&files, &["h"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        read(d.path(), "log"),
        "a\na\nbefore-end\nFalse none\n",
        "{out}"
    );
    // A tasks file outside the role is refused in Ansible's words.
    let (code, out, err, _d) = play_in(
        &[
            (
                "pb.yml",
                "- hosts: all\n  gather_facts: false\n  tasks:\n    - import_role: {name: a, tasks_from: ../../../pb.yml}\n",
            ),
            ("roles/a/tasks/main.yml", "- debug:\n"),
        ],
        &["h"],
        &[],
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("[ERROR]: Failed loading")
            && err.contains("as it is not inside the expected role path"),
        "{out}{err}"
    );
}

#[test]
fn getent_gives_a_database_as_facts() {
    // As ansible-core's getent: `getent_<database>` maps keys to their other fields, in
    // ansible_facts and as a variable; a missing key fails unless `fail_key: false`.
    let files = [(
        "pb.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - getent: {database: passwd, key: root}\n    - getent: {database: group, key: no-such-group-x, fail_key: false}\n      register: r\n    - getent: {database: passwd, key: no-such-user-x}\n      register: f\n      ignore_errors: true\n    - shell: echo {{ getent_passwd.root[4] }} {{ ansible_facts.getent_passwd.root[1] }} {{ r.ansible_facts.getent_group['no-such-group-x'] }} {{ f.msg }} >> DIR/log\n",
    )];
    let (code, out, err, d) = play_in(&files, &["h"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        read(d.path(), "log"),
        "/root 0 One or more supplied key could not be found in the database.\n",
        "{out}"
    );
}

#[test]
fn the_password_lookup_encrypts_seeds_and_keeps_its_salt() {
    // As ansible-core's password lookup: `encrypt=` returns the hash and stores the password
    // with its salt (the plain lookup then gives the password back), `seed=` makes the same
    // password every time, missing directories are made 0700.
    let files = [(
        "pb.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - set_fact:\n        hashed: \"{{ lookup('password', 'DIR/p/pw encrypt=sha512_crypt') }}\"\n    - set_fact:\n        plain: \"{{ lookup('password', 'DIR/p/pw') }}\"\n        s1: \"{{ lookup('password', '/dev/null seed=x') }}\"\n        s2: \"{{ lookup('password', '/dev/null', seed='x') }}\"\n    - shell: echo {{ hashed.startswith('$6$') }} {{ hashed == (plain | password_hash('sha512', (lookup('file', 'DIR/p/pw').split(' salt=')[1]), rounds=656000)) }} {{ s1 == s2 }} >> DIR/log\n",
    )];
    let (code, out, err, d) = play_in(&files, &["h"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(read(d.path(), "log"), "True True True\n", "{out}");
    let stored = read(d.path(), "p/pw");
    assert!(stored.contains(" salt="), "{stored}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(d.path().join("p"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);
}

/// Outside diff mode, `lineinfile`, `blockinfile` and `ini_file` still return a `diff`: the
/// content headers with empty texts and the attribute changes (ansible-playbook 2.19's
/// values on the same playbook).
#[test]
fn in_place_edits_return_their_diff_outside_diff_mode() {
    let (code, out, err, d) = play_in(
        &[(
            "pb.yml",
            r#"- hosts: all
  gather_facts: false
  tasks:
    - copy: {dest: DIR/li.txt, content: "a\n", mode: "0644"}
    - lineinfile: {path: DIR/li.txt, line: b, mode: "0600"}
      register: l
    - lineinfile: {path: DIR/li.txt, line: b, mode: "0640"}
      register: l2
    - community.general.ini_file: {path: DIR/li.ini, section: s, option: o, value: v}
      register: ini
    - replace: {path: DIR/li.txt, regexp: a, replace: A}
      register: rp
    - copy: {dest: DIR/diffs.json, content: "{{ [l.diff, l2.diff, ini.diff, rp.diff | default('none')] | to_json }}"}
"#,
        )],
        &["h"],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    let got: serde_json::Value = serde_json::from_str(&read(d.path(), "diffs.json")).unwrap();
    let want = r#"[[{"after": "", "after_header": "DIR/li.txt (content)", "before": "", "before_header": "DIR/li.txt (content)"}, {"after": {"mode": "0600"}, "after_header": "DIR/li.txt (file attributes)", "before": {"mode": "0644"}, "before_header": "DIR/li.txt (file attributes)"}], [{"after": "", "after_header": "DIR/li.txt (content)", "before": "", "before_header": "DIR/li.txt (content)"}, {"after": {"mode": "0640"}, "after_header": "DIR/li.txt (file attributes)", "before": {"mode": "0600"}, "before_header": "DIR/li.txt (file attributes)"}], {"after": "", "after_header": "DIR/li.ini (content)", "before": "", "before_header": "DIR/li.ini (content)"}, "none"]"#;
    let want: serde_json::Value =
        serde_json::from_str(&want.replace("DIR", &d.path().display().to_string())).unwrap();
    assert_eq!(got, want);
}

/// The virtualization facts, beside ansible-core 2.19's `setup` on the same machine (the
/// local connection): type, role and the guest and host technologies, key for key; both
/// asked with the same `filter`.
#[test]
fn virtualization_facts_are_ansibles() {
    let venv = match support::ansible::venv() {
        Ok(v) => v,
        Err(why) => {
            support::skip(&format!("ansible-core is not available: {why}"));
            return;
        }
    };
    let keys = [
        "ansible_virtualization_type",
        "ansible_virtualization_role",
        "ansible_virtualization_tech_guest",
        "ansible_virtualization_tech_host",
    ];
    // `host | SUCCESS => {...}`: the JSON after the arrow.
    let json = |out: &str| -> serde_json::Value {
        let start = out.find("=> {").map(|i| i + 3).expect("a result");
        serde_json::from_str(&out[start..]).expect("the result's JSON")
    };
    let mut cmd = support::ansible::command("ansible").unwrap();
    cmd.env("ANSIBLE_PYTHON_INTERPRETER", venv.join("bin/python"))
        .args([
            "localhost",
            "-i",
            "localhost,",
            "-c",
            "local",
            "-m",
            "setup",
        ])
        .args(["-a", "filter=ansible_virtualization_*"]);
    let (code, out, err) = run(&mut cmd);
    assert_eq!(code, 0, "{out}{err}");
    let theirs = json(&out)["ansible_facts"].clone();
    let mut cmd = drover();
    cmd.args([
        "run",
        "-i",
        "localhost,",
        "-c",
        "local",
        "localhost",
        "-m",
        "setup",
    ])
    .args(["-a", "filter=ansible_virtualization_*"]);
    let (code, out, err) = run(&mut cmd);
    assert_eq!(code, 0, "{out}{err}");
    let ours = json(&out)["ansible_facts"].clone();
    // `filter` keeps just the facts it names, as Ansible's.
    assert_eq!(
        ours.as_object().map(|o| o.len()),
        Some(keys.len()),
        "{ours}"
    );
    let sorted = |v: &serde_json::Value| -> serde_json::Value {
        match v.as_array() {
            Some(a) => {
                let mut a = a.clone();
                a.sort_by_key(|x| x.to_string());
                serde_json::Value::Array(a)
            }
            None => v.clone(),
        }
    };
    for k in keys {
        assert_eq!(sorted(&ours[k]), sorted(&theirs[k]), "{k}");
    }
}
