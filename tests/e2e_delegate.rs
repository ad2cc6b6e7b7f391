//! `delegate_to`: the module runs on the delegate (another inventory host, or the controller
//! for `localhost`) while templates still see the original host's variables.

mod support;

use support::hosts::TestHosts;
use support::{drover, run, s, write};

#[test]
fn delegated_tasks_run_on_the_delegate_with_the_hosts_variables() {
    let Some(hosts) = TestHosts::up(2) else {
        return;
    };
    let dir = hosts.dir.path();
    let inv = hosts.inventory("root", "");
    let controller_dir = tempfile::tempdir().unwrap();
    let pb = write(
        dir,
        "pb.yml",
        &format!(
            r#"- hosts: h0
  gather_facts: false
  tasks:
    - name: On the other host
      copy: content="from {{{{ inventory_hostname }}}}" dest=/tmp/delegated
      delegate_to: h1
    - name: On the controller
      copy: content="from {{{{ inventory_hostname }}}}" dest={}/controller.txt
      delegate_to: localhost
    - name: On the host itself
      copy: content=self dest=/tmp/self
"#,
            controller_dir.path().display()
        ),
    );
    let kh = hosts.known_hosts();
    let (code, out, err) = run(drover().args([
        "play",
        "-i",
        s(&inv),
        s(&pb),
        "--known-hosts",
        s(&kh),
        "--host-key-checking",
        "accept-new",
    ]));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        std::fs::read_to_string(hosts.path(1, "/tmp/delegated")).unwrap(),
        "from h0"
    );
    assert!(
        !hosts.path(0, "/tmp/delegated").exists(),
        "the delegated task ran on h0"
    );
    assert_eq!(
        std::fs::read_to_string(controller_dir.path().join("controller.txt")).unwrap(),
        "from h0"
    );
    assert_eq!(
        std::fs::read_to_string(hosts.path(0, "/tmp/self")).unwrap(),
        "self"
    );
    assert!(!hosts.path(1, "/tmp/self").exists());
}
