//! A rolling deploy over 10 test hosts: `serial: [1, "50%"]` with `max_fail_percentage: 0`.
//! When the canary's smoke test fails, no other host is touched, the recap lists only the
//! canary, and the exit code says a host failed; when the canary is healthy, the batches
//! follow (1, then 5, then 4) and every host gets the release.

mod support;

use support::hosts::TestHosts;
use support::{drover, recap, run, s, write};

const PLAY: &str = r#"- hosts: test
  become: true
  gather_facts: false
  serial: [1, "50%"]
  max_fail_percentage: 0
  tasks:
    - name: Deploy the release
      copy:
        content: "release {{ release }}\n"
        dest: /srv/release
        mode: "0644"
    - name: Smoke test
      command: grep -q "release {{ good_release }}" /srv/release
      changed_when: false
    - name: Record the batch
      shell: echo "{{ ansible_play_batch | join(',') }}" > /srv/batch
"#;

#[test]
fn a_failing_canary_stops_the_rollout_before_any_other_host() {
    let Some(hosts) = TestHosts::up(10) else {
        return;
    };
    let dir = hosts.dir.path();
    let pb = write(dir, "rolling.yml", PLAY);
    let inv = hosts.inventory("deploy", "");
    let kh = hosts.known_hosts();
    let deploy = |release: &str| {
        let mut c = drover();
        c.args(["play", "-i", s(&inv), s(&pb), "--known-hosts", s(&kh)])
            .args(["--host-key-checking", "accept-new"])
            .args(["-e", &format!("release={release} good_release=2")]);
        run(&mut c)
    };

    // Release 1 fails the canary's smoke test.
    let (code, out, err) = deploy("1");
    assert_eq!(code, 2, "{out}{err}");
    let canary = recap(&out, "h0");
    assert_eq!((canary.changed, canary.failed), (1, 1), "{out}");
    for i in 1..10 {
        assert!(
            !out.contains(&format!("[h{i}]")) && !out.contains(&format!("\nh{i} ")),
            "h{i} must not appear at all:\n{out}"
        );
        assert!(!hosts.path(i, "/srv/release").exists(), "h{i} was touched");
    }
    assert_eq!(
        std::fs::read_to_string(hosts.path(0, "/srv/release")).unwrap(),
        "release 1\n"
    );
    assert!(!hosts.path(0, "/srv/batch").exists());

    // Release 2 passes: batches of 1, 5 (50% of 10) and the 4 left.
    let (code, out, err) = deploy("2");
    assert_eq!(code, 0, "{out}{err}");
    let batch = |i: usize| std::fs::read_to_string(hosts.path(i, "/srv/batch")).unwrap();
    assert_eq!(batch(0), "h0\n");
    for i in 1..6 {
        assert_eq!(batch(i), "h1,h2,h3,h4,h5\n", "h{i}");
    }
    for i in 6..10 {
        assert_eq!(batch(i), "h6,h7,h8,h9\n", "h{i}");
    }
    for i in 0..10 {
        assert_eq!(recap(&out, &format!("h{i}")).failed, 0, "{out}");
        assert_eq!(
            std::fs::read_to_string(hosts.path(i, "/srv/release")).unwrap(),
            "release 2\n"
        );
    }
}
