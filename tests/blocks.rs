//! `block` / `rescue` / `always` and `environment`, asserted by the order in which tasks
//! append to a log file, and by the recap.

mod support;

fn play(yaml: &str) -> (i32, String, String) {
    support::play_logged(None, yaml)
}

#[test]
fn rescue_recovers_and_always_runs() {
    let (code, out, log) = play(
        r#"- hosts: localhost
  gather_facts: false
  tasks:
    - block:
        - shell: echo block1 >> LOG
        - shell: echo failing >> LOG; exit 3
        - shell: echo never >> LOG
      rescue:
        - shell: echo "rescue {{ ansible_failed_result.rc }}" >> LOG
      always:
        - shell: echo always >> LOG
    - shell: echo after >> LOG
"#,
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(log, "block1\nfailing\nrescue 3\nalways\nafter\n");
    assert!(
        out.contains("failed=0") && out.contains("rescued=1"),
        "{out}"
    );
}

#[test]
fn always_runs_after_an_unrescued_failure_which_still_stops_the_host() {
    let (code, out, log) = play(
        r#"- hosts: localhost
  gather_facts: false
  tasks:
    - block:
        - shell: echo block >> LOG; exit 1
      always:
        - shell: echo always >> LOG
    - shell: echo after >> LOG
"#,
    );
    assert_eq!(code, 2, "{out}");
    assert_eq!(log, "block\nalways\n");
    assert!(
        out.contains("failed=1") && out.contains("rescued=0"),
        "{out}"
    );
}

#[test]
fn environment_merges_play_block_and_task_levels() {
    let (code, out, log) = play(
        r#"- hosts: localhost
  gather_facts: false
  environment: {A: play, B: play, C: play}
  tasks:
    - block:
        - shell: echo "$A $B $C" >> LOG
          environment: {C: task}
      environment: {B: block}
    - shell: echo "$A $B $C" >> LOG
"#,
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(log, "play block task\nplay play play\n");
}
