//! `ansible.cfg` and `drover.toml` in the working directory: the inventory, roles path and
//! vault password file come from them when the command line does not say; a bad value is an
//! input error naming the file and line.

mod support;

use support::{drover, run, write};

#[test]
fn ansible_cfg_supplies_inventory_roles_path_and_vault_password() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let log = d.join("log");
    write(
        d,
        "ansible.cfg",
        "[defaults]\ninventory = inventory/hosts.ini\nroles_path = shared-roles\nforks = 3\nhost_key_checking = False\nvault_password_file = vault-pass.txt\n\n[ssh_connection]\npipelining = True\n",
    );
    write(
        d,
        "inventory/hosts.ini",
        "[app]\nfromcfg ansible_connection=local\n",
    );
    write(
        d,
        "shared-roles/hello/tasks/main.yml",
        &format!(
            "- shell: echo \"{{{{ inventory_hostname }}}} {{{{ role_name }}}} {{{{ secret }}}}\" >> {}\n",
            log.display()
        ),
    );
    write(d, "vault-pass.txt", "pw\n");
    let (code, vaulted, err) = run(drover().current_dir(d).args([
        "vault",
        "encrypt_string",
        "--vault-password-file",
        "vault-pass.txt",
        "--name",
        "secret",
        "opened",
    ]));
    assert_eq!(code, 0, "{err}");
    write(
        d,
        "site.yml",
        &format!(
            "- hosts: app\n  gather_facts: false\n  vars:\n{}\n  roles: [hello]\n",
            vaulted
                .lines()
                .map(|l| format!("    {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        ),
    );
    let (code, out, err) = run(drover().current_dir(d).args(["play", "site.yml"]));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "fromcfg hello opened\n"
    );
    // The command line wins: another inventory.
    write(
        d,
        "other.ini",
        "elsewhere ansible_connection=local\n[app:children]\n",
    );
    let (code, out, _) = run(drover()
        .current_dir(d)
        .args(["play", "-i", "other.ini", "site.yml"]));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("no hosts matched"), "{out}");

    write(d, "drover.toml", "[defaults]\nforks = \"many\"\n");
    let (code, _, err) = run(drover().current_dir(d).args(["play", "site.yml"]));
    assert_eq!(code, 5, "{err}");
    assert!(
        err.contains("drover.toml:2:1: `forks` must be a number of hosts, not `many`"),
        "{err}"
    );
}

#[test]
fn completions_and_man_page_come_from_the_cli_definition() {
    for (shell, marker) in [
        ("bash", "_drover()"),
        ("zsh", "#compdef drover"),
        ("fish", "complete -c drover"),
    ] {
        let (code, out, err) = run(drover().args(["completions", shell]));
        assert_eq!(code, 0, "{err}");
        assert!(out.contains(marker), "{shell}: {out}");
        assert!(
            out.contains("start-at-task"),
            "{shell} lacks play's options"
        );
    }
    let (code, out, _) = run(drover().arg("man"));
    assert_eq!(code, 0);
    assert!(
        out.starts_with(".ie \\n(.g .ds Aq"),
        "{}",
        &out[..80.min(out.len())]
    );
    assert!(out.contains(".TH drover"), "{out}");
    // A page per subcommand, with that subcommand's options.
    let (code, out, _) = run(drover().args(["man", "play"]));
    assert_eq!(code, 0);
    assert!(out.contains(".TH drover-play"), "{out}");
    assert!(out.contains("start\\-at\\-task"), "{out}");
    let (code, _, err) = run(drover().args(["man", "nope"]));
    assert_eq!(code, 1);
    assert!(err.contains("no subcommand `nope`"), "{err}");
    // A reader that is gone (`| head -n 1` after its line) ends the output quietly: here the
    // pipe's reading end is closed before drover writes at all.
    for args in [
        &["man"][..],
        &["man", "play"][..],
        &["completions", "bash"][..],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = drover()
            .args(args)
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {:?}", out.status);
        assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{args:?}");
    }
}
