//! Loop keywords and `meta` control: the order of execution is asserted through a log file.

mod support;

fn play(yaml: &str) -> (i32, String, String) {
    support::play_logged(None, yaml)
}

#[test]
fn loop_keywords_produce_ansibles_items() {
    let (code, out, log) = play(
        r#"- hosts: localhost
  gather_facts: false
  vars:
    users: [{name: ann, keys: [k1, k2]}, {name: bob, keys: [k3]}]
  tasks:
    - shell: echo "seq {{ item }}" >> LOG
      with_sequence: start=1 end=5 stride=2 format=n%02d
    - shell: echo "nested {{ item[0] }}{{ item[1] }}" >> LOG
      with_nested: [[a, b], [1, 2]]
    - shell: echo "together {{ item[0] }}{{ item[1] }}" >> LOG
      with_together: [[x, y], [7, 8]]
    - shell: echo "sub {{ item[0].name }} {{ item[1] }}" >> LOG
      with_subelements: ["{{ users }}", keys]
    - shell: echo "indexed {{ item[0] }} {{ item[1] }}" >> LOG
      with_indexed_items: [p, q]
"#,
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        log,
        "seq n01\nseq n03\nseq n05\nnested a1\nnested a2\nnested b1\nnested b2\ntogether x7\ntogether y8\nsub ann k1\nsub ann k2\nsub bob k3\nindexed 0 p\nindexed 1 q\n"
    );
}

#[test]
fn end_host_end_play_and_clear_host_errors() {
    let (code, out, log) = play(
        r#"- hosts: localhost
  gather_facts: false
  tasks:
    - shell: echo one >> LOG; exit 1
    - meta: clear_host_errors
    - shell: echo two >> LOG
    - meta: end_host
      when: false
    - shell: echo three >> LOG
    - meta: end_play
    - shell: echo never >> LOG
- hosts: localhost
  gather_facts: false
  tasks:
    - shell: echo next-play >> LOG
"#,
    );
    assert_eq!(log, "one\ntwo\nthree\nnext-play\n", "{out}");
    // The failure before clear_host_errors still counts in the recap, as in Ansible.
    assert_eq!(code, 2, "{out}");
}

fn play_with_inventory(inv: &str, yaml: &str) -> (i32, String, String) {
    support::play_logged(Some(inv), yaml)
}

const FOUR_LOCAL_HOSTS: &str = "[web]\ncanary ansible_connection=local\nw1 ansible_connection=local\nw2 ansible_connection=local\nw3 ansible_connection=local\n";

#[test]
fn a_failed_canary_batch_stops_the_rolling_update() {
    let (code, out, log) = play_with_inventory(
        FOUR_LOCAL_HOSTS,
        r#"- hosts: web
  gather_facts: false
  serial: [1, "50%"]
  max_fail_percentage: 0
  tasks:
    - shell: echo "{{ inventory_hostname }}" >> LOG; [ "{{ inventory_hostname }}" != canary ]
"#,
    );
    assert_eq!(code, 2, "{out}");
    assert_eq!(log, "canary\n", "no host after the canary ran:\n{out}");
}

#[test]
fn batches_follow_serial_and_continue_when_healthy() {
    let (code, out, log) = play_with_inventory(
        FOUR_LOCAL_HOSTS,
        r#"- hosts: web
  gather_facts: false
  serial: [1, "50%"]
  tasks:
    - shell: echo "{{ ansible_play_batch | join(',') }}" >> LOG
      run_once: true
"#,
    );
    assert_eq!(code, 0, "{out}");
    // The last batch size (50% of 4 = 2) repeats: canary, then w1+w2, then w3.
    assert_eq!(log, "canary\nw1,w2\nw3\n");
}

#[test]
fn every_handler_listening_on_a_topic_runs_once_in_definition_order() {
    let (code, out, log) = play(
        r#"- hosts: localhost
  gather_facts: false
  tasks:
    - shell: "true"
      notify: [web changed, second]
    - shell: "true"
      notify: web changed
  handlers:
    - name: first
      shell: echo first >> LOG
      listen: web changed
    - name: second
      shell: echo second >> LOG
      listen: web changed
      notify: third
    - name: third
      shell: echo third >> LOG
"#,
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(log, "first\nsecond\nthird\n", "{out}");
}

#[test]
fn check_mode_predicts_a_file_owned_by_a_user_an_earlier_task_creates() {
    if !support::is_root() {
        eprintln!("skipped: needs root for useradd");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("owned");
    let pb = support::write(
        dir.path(),
        "pb.yml",
        &format!(
            "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - user: name=drover-not-yet\n    - file: path={} state=directory owner=drover-not-yet group=drover-not-yet mode=0750\n",
            target.display()
        ),
    );
    let (code, out, _) = support::run(support::drover().arg("play").arg(&pb).arg("--check"));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("changed=2 "), "{out}");
    assert!(!target.exists());
    let (code, _) = (
        std::process::Command::new("getent")
            .args(["passwd", "drover-not-yet"])
            .status()
            .unwrap()
            .code(),
        (),
    );
    assert_eq!(code, Some(2), "check mode created the user");
}
