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
    // As ansible-core 2.19 runs it: `clear_host_errors` on the live hosts clears `a`'s
    // failure (exit code 0, `a` back in the next play) but `a` stays stopped for this play.
    let (code, out, log) = play_with_inventory(
        "a ansible_connection=local\nb ansible_connection=local\nc ansible_connection=local\n",
        r#"- hosts: all
  gather_facts: false
  tasks:
    - shell: echo "one {{ inventory_hostname }}" >> LOG; [ {{ inventory_hostname }} != a ]
    - meta: clear_host_errors
    - shell: echo "two {{ inventory_hostname }}" >> LOG
    - meta: end_host
      when: inventory_hostname == 'b'
    - shell: echo "three {{ inventory_hostname }}" >> LOG
    - meta: end_play
    - shell: echo never >> LOG
- hosts: all
  gather_facts: false
  tasks:
    - shell: echo "next-play {{ inventory_hostname }}" >> LOG
"#,
    );
    let mut lines: Vec<&str> = log.lines().collect();
    lines.sort_unstable();
    let want = [
        "next-play a",
        "next-play b",
        "next-play c",
        "one a",
        "one b",
        "one c",
        "three c",
        "two b",
        "two c",
    ];
    assert_eq!(lines, want, "{out}");
    assert_eq!(code, 0, "{out}");
}

#[test]
fn a_failure_nothing_clears_fails_the_run() {
    // With its only host failed the play is over: `clear_host_errors` is never reached.
    let (code, out, log) = play(
        r#"- hosts: localhost
  gather_facts: false
  tasks:
    - shell: echo one >> LOG; exit 1
    - meta: clear_host_errors
    - shell: echo two >> LOG
"#,
    );
    assert_eq!(log, "one\n", "{out}");
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
        support::skip("needs root for useradd");
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

const SIX_LOCAL_HOSTS: &str = "[web]\nh1 ansible_connection=local\nh2 ansible_connection=local\nh3 ansible_connection=local\nh4 ansible_connection=local\nh5 ansible_connection=local\nh6 ansible_connection=local\n";

/// `serial: 2` over six hosts where the listed hosts fail; returns (exit, batches that ran).
fn rolling_with(mfp: &str, failing: &str) -> (i32, String) {
    let (code, out, log) = play_with_inventory(
        SIX_LOCAL_HOSTS,
        &format!(
            r#"- hosts: web
  gather_facts: false
  serial: 2
{mfp}  tasks:
    - shell: echo "{{{{ inventory_hostname }}}}" >> LOG; case " {failing} " in *" {{{{ inventory_hostname }}}} "*) exit 1;; esac
"#
        ),
    );
    // Hosts of a batch run in parallel: the order within it is not fixed.
    let mut ran: Vec<&str> = log.lines().collect();
    ran.sort();
    let _ = out;
    (code, ran.join(","))
}

#[test]
fn max_fail_percentage_edges() {
    // 0: the first failure stops the play after its batch.
    assert_eq!(
        rolling_with("  max_fail_percentage: 0\n", "h2"),
        (2, "h1,h2".into())
    );
    // 50: one of two failing is not more than 50%; the play goes on.
    let (code, ran) = rolling_with("  max_fail_percentage: 50\n", "h2");
    assert_eq!((code, ran.split(',').count()), (2, 6));
    // 100: never by percentage, but a batch whose every host failed ends the play (Ansible).
    let (code, ran) = rolling_with("  max_fail_percentage: 100\n", "h3 h4");
    assert_eq!(code, 2);
    assert_eq!(ran.split(',').count(), 4, "{ran}");
    // Without it: only a wholly failed batch stops the play.
    let (code, ran) = rolling_with("", "h1");
    assert_eq!((code, ran.split(',').count()), (2, 6));
    let (code, ran) = rolling_with("", "h1 h2");
    assert_eq!((code, ran.as_str()), (2, "h1,h2"));
}

#[test]
fn handlers_are_lost_on_failure_unless_forced() {
    let yaml = r#"- hosts: localhost
  gather_facts: false
  tasks:
    - shell: echo changed >> LOG
      notify: note
    - shell: exit 1
  handlers:
    - name: note
      shell: echo handler >> LOG
"#;
    let (code, out, log) = play(yaml);
    assert_eq!((code, log.as_str()), (2, "changed\n"), "{out}");
    let forced = yaml.replace(
        "  gather_facts: false\n",
        "  gather_facts: false\n  force_handlers: true\n",
    );
    let (code, out, log) = play(&forced);
    assert_eq!((code, log.as_str()), (2, "changed\nhandler\n"), "{out}");
}

#[test]
fn special_variables_and_registered_results_have_ansibles_shape() {
    let (code, out, log) = play_with_inventory(
        "[web]\nweb1.example.com ansible_connection=local\nweb2.example.com ansible_connection=local\n[db]\ndb1 ansible_connection=local\n",
        r#"- hosts: web
  gather_facts: false
  serial: 1
  tasks:
    - shell: echo "{{ inventory_hostname_short }} {{ ansible_play_hosts | join(',') }} {{ ansible_play_batch | join(',') }} {{ play_hosts | join(',') }} {{ group_names | join(',') }} {{ groups['db'] | join(',') }} {{ hostvars['db1']['inventory_hostname'] }} {{ ansible_check_mode }} {{ ansible_diff_mode }} {{ ansible_run_tags | join(',') }}" >> LOG
    - command: printf 'a\nb'
      register: r
      changed_when: false
    - shell: echo "{{ r.rc }} {{ r.stdout_lines | join('+') }} {{ r.changed }} {{ r.failed }} {{ r.stdout }}" | tr '\n' ' ' >> LOG; echo >> LOG
    - debug: msg="{{ item }}"
      loop: [x, y]
      register: looped
      when: item == 'x'
    - shell: echo "{{ looped.results | length }} {{ looped.results[1].skipped }} {{ looped.results[0].item }} {{ looped.results[0].msg }}" >> LOG
    - shell: echo "{{ ansible_loop.index }}/{{ ansible_loop.length }} first={{ ansible_loop.first }}" >> LOG
      loop: [p, q]
      loop_control:
        extended: true
    - file:
        path: /tmp
        mode: "{{ omit }}"
      register: omitted
    - shell: echo "omit-ok {{ omitted.changed }}" >> LOG
"#,
    );
    assert_eq!(code, 0, "{out}");
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(
        lines[0],
        "web1 web1.example.com,web2.example.com web1.example.com web1.example.com web db1 db1 False False all",
        "{log}"
    );
    assert_eq!(lines[1], "0 a+b False False a b ", "{log}");
    assert_eq!(lines[2], "2 True x x", "{log}");
    assert_eq!(&lines[3..5], ["1/2 first=True", "2/2 first=False"], "{log}");
    assert_eq!(lines[5], "omit-ok False", "{log}");
    // The second batch sees itself as the batch.
    assert!(
        lines[6].starts_with(
            "web2 web1.example.com,web2.example.com web2.example.com web2.example.com "
        ),
        "{log}"
    );
}

#[test]
fn ignore_unreachable_lets_an_unreachable_host_go_on() {
    let (code, out, log) = play_with_inventory(
        "gone ansible_host=127.0.0.1 ansible_port=1 ansible_user=nobody\nlocal ansible_connection=local\n",
        r#"- hosts: all
  gather_facts: false
  tasks:
    - ping:
      ignore_unreachable: true
    - shell: echo "{{ inventory_hostname }}" >> LOG
      delegate_to: localhost
"#,
    );
    // `gone` stays in the play after its ignored unreachable result, so the delegated task
    // runs for both hosts; the recap counts the ignored one.
    assert_eq!(code, 0, "{out}");
    let mut ran: Vec<&str> = log.lines().collect();
    ran.sort();
    assert_eq!(ran, ["gone", "local"], "{out}");
    assert!(out.contains("ignored=1"), "{out}");
}

#[test]
fn failed_hosts_stay_out_of_later_plays_and_a_stopped_play_ends_the_run() {
    let inv =
        "a ansible_connection=local\nb ansible_connection=local\nc ansible_connection=local\n";
    // `a` fails in play 1; play 2 runs on the others only.
    let (code, out, log) = play_with_inventory(
        inv,
        r#"- hosts: a,b
  gather_facts: false
  tasks:
    - shell: '[ {{ inventory_hostname }} != a ]'
- hosts: all
  gather_facts: false
  tasks:
    - shell: echo "{{ inventory_hostname }}" >> LOG
"#,
    );
    assert_eq!(code, 2, "{out}");
    let mut ran: Vec<&str> = log.lines().collect();
    ran.sort();
    assert_eq!(ran, ["b", "c"], "{out}");
    // any_errors_fatal stops play 1, and with it the plays after it.
    let (code, out, log) = play_with_inventory(
        inv,
        r#"- hosts: a,b
  gather_facts: false
  any_errors_fatal: true
  tasks:
    - shell: '[ {{ inventory_hostname }} != a ]'
- hosts: c
  gather_facts: false
  tasks:
    - shell: echo "{{ inventory_hostname }}" >> LOG
"#,
    );
    assert_eq!((code, log.as_str()), (2, ""), "{out}");
}
