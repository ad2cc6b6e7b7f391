//! Ansible Vault compatibility: data written by the real `ansible-vault` (committed under
//! tests/fixtures/vault/, with its password files) decrypts; what `drover vault` writes,
//! `ansible-vault` reads (ansible-core installed from PyPI at test time); playbooks over the local connection see the
//! plaintext of `!vault` values and encrypted vars files, refuse an encrypted file no password
//! opens with exit 5 (and fail only the task using an inline value none opens)
//! before touching anything, and never print a secret; vault-encrypted `copy`/`template`
//! sources arrive decrypted (locally and on a test host over SSH) with their diffs hidden.

mod support;

use std::path::{Path, PathBuf};
use support::{drover, recap, run, s, snapshot, write};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vault")
}

fn fixture(name: &str) -> PathBuf {
    fixtures().join(name)
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

fn secret(id: &str, password_file: &str) -> drover::vault::Secret {
    drover::vault::Secret {
        id: id.into(),
        password: read(&fixture(password_file)).trim().as_bytes().to_vec(),
        source: password_file.into(),
    }
}

/// The envelope of a `name: !vault |` block as ansible-vault encrypt_string prints it.
fn envelope_of_block(block: &str) -> String {
    let mut lines = block.lines();
    let first = lines.next().unwrap();
    assert!(first.ends_with("!vault |"), "{first}");
    lines.map(|l| format!("{}\n", l.trim())).collect()
}

// ---- (a) data written by ansible-vault -------------------------------------------------

#[test]
fn decrypts_files_written_by_ansible_vault() {
    let plain = std::fs::read(fixture("secrets.yml")).unwrap();
    let default = [secret("default", "password")];
    let v11 = std::fs::read(fixture("secrets-1.1.yml")).unwrap();
    assert!(v11.starts_with(b"$ANSIBLE_VAULT;1.1;AES256\n"));
    assert_eq!(drover::vault::decrypt_with(&default, &v11).unwrap(), plain);

    let v12 = std::fs::read(fixture("secrets-1.2-prod.yml")).unwrap();
    assert!(v12.starts_with(b"$ANSIBLE_VAULT;1.2;AES256;prod\n"));
    let env = drover::vault::parse(&v12).unwrap();
    assert_eq!(env.vault_id.as_deref(), Some("prod"));
    // By its id, and (as Ansible) by trying every password when no id matches.
    for secrets in [
        vec![
            secret("default", "password"),
            secret("prod", "prod-password"),
        ],
        vec![secret("default", "prod-password")],
    ] {
        assert_eq!(drover::vault::decrypt_with(&secrets, &v12).unwrap(), plain);
    }
    let err = drover::vault::decrypt_with(&default, &v12).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Decryption failed (no vault secrets were found that could decrypt)"
    );

    let text = std::fs::read(fixture("text-1.1.txt")).unwrap();
    assert_eq!(
        drover::vault::decrypt_with(&default, &text).unwrap(),
        std::fs::read(fixture("plain.txt")).unwrap()
    );
}

#[test]
fn decrypts_strings_written_by_ansible_vault() {
    let cases = [
        (
            "string-1.1.yml",
            "password",
            "default",
            "vaulted-secret-1.1",
        ),
        (
            "string-1.2-prod.yml",
            "prod-password",
            "prod",
            "vaulted-secret-1.2",
        ),
        ("string-16.yml", "password", "default", "0123456789abcdef"),
    ];
    for (file, pw, id, want) in cases {
        let env = envelope_of_block(&read(&fixture(file)));
        let got = drover::vault::decrypt_with(&[secret(id, pw)], env.as_bytes())
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(String::from_utf8(got).unwrap(), want, "{file}");
    }
    let env = envelope_of_block(&read(&fixture("string-long.yml")));
    let got = drover::vault::decrypt_with(&[secret("default", "password")], env.as_bytes());
    assert_eq!(got.unwrap(), std::fs::read(fixture("long.txt")).unwrap());
}

#[test]
fn vault_view_and_decrypt_commands_read_ansible_vault_files() {
    let (code, out, err) = run(drover().args([
        "vault",
        "view",
        "--vault-password-file",
        s(&fixture("password")),
        s(&fixture("secrets-1.1.yml")),
    ]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, read(&fixture("secrets.yml")));

    let (code, out, err) = run(drover().args([
        "vault",
        "view",
        "--vault-id",
        &format!("dev@{}", s(&fixture("password"))),
        "--vault-id",
        &format!("prod@{}", s(&fixture("prod-password"))),
        s(&fixture("secrets-1.2-prod.yml")),
    ]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, read(&fixture("secrets.yml")));

    // Wrong password: exit 5, Ansible's words and a hint.
    let (code, _, err) = run(drover().args([
        "vault",
        "view",
        "--vault-password-file",
        s(&fixture("password")),
        s(&fixture("secrets-1.2-prod.yml")),
    ]));
    assert_eq!(code, 5, "{err}");
    assert!(
        err.contains("Decryption failed (no vault secrets were found that could decrypt)"),
        "{err}"
    );
    assert!(
        err.contains("hint:") && err.contains("--vault-id prod@FILE"),
        "{err}"
    );

    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("copy.yml");
    std::fs::copy(fixture("secrets-1.1.yml"), &f).unwrap();
    let (code, _, err) = run(drover()
        .env("ANSIBLE_VAULT_PASSWORD_FILE", fixture("password"))
        .args(["vault", "decrypt", s(&f)]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(read(&f), read(&fixture("secrets.yml")));
}

// ---- (b) what drover writes, ansible-vault reads ----------------------------------------

#[test]
fn drover_round_trip_and_ansible_vault_reads_it() {
    let tmp = tempfile::tempdir().unwrap();
    let plain = "db_password: round-trip-secret\nlist: [1, 2]\n";
    let f11 = write(tmp.path(), "v11.yml", plain);
    let f12 = write(tmp.path(), "v12.yml", plain);
    let pw = fixture("password");
    let prod = fixture("prod-password");
    let (code, _, err) =
        run(drover().args(["vault", "encrypt", "--vault-password-file", s(&pw), s(&f11)]));
    assert_eq!(code, 0, "{err}");
    let prod_id = format!("prod@{}", s(&prod));
    let dev_id = format!("dev@{}", s(&pw));
    // Two ids: the one to encrypt with must be named.
    let (code, _, err) = run(drover().args([
        "vault",
        "encrypt",
        "--vault-id",
        &dev_id,
        "--vault-id",
        &prod_id,
        s(&f12),
    ]));
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("--encrypt-vault-id"), "{err}");
    let (code, _, err) = run(drover().args([
        "vault",
        "encrypt",
        "--vault-id",
        &dev_id,
        "--vault-id",
        &prod_id,
        "--encrypt-vault-id",
        "prod",
        s(&f12),
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(read(&f11).starts_with("$ANSIBLE_VAULT;1.1;AES256\n"));
    assert!(read(&f12).starts_with("$ANSIBLE_VAULT;1.2;AES256;prod\n"));
    assert!(read(&f11)
        .lines()
        .skip(1)
        .all(|l| l.len() <= 80 && l.bytes().all(|b| b.is_ascii_hexdigit())));
    // Encrypting twice is refused.
    let (code, _, err) =
        run(drover().args(["vault", "encrypt", "--vault-password-file", s(&pw), s(&f11)]));
    assert_eq!(code, 5);
    assert!(err.contains("already encrypted"), "{err}");

    // encrypt_string: a `name: !vault |` block.
    let (code, block, err) = run(drover().args([
        "vault",
        "encrypt_string",
        "--vault-id",
        &prod_id,
        "--name",
        "token",
        "string-secret",
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(
        block.starts_with("token: !vault |\n          $ANSIBLE_VAULT;1.2;AES256;prod\n"),
        "{block}"
    );
    let env = envelope_of_block(&block);
    let s_prod = [secret("prod", "prod-password")];
    assert_eq!(
        drover::vault::decrypt_with(&s_prod, env.as_bytes()).unwrap(),
        b"string-secret"
    );
    let envf = write(tmp.path(), "string.vault", &env);

    // drover reads its own files back.
    let (code, out, err) = run(drover().args(["vault", "view", "--vault-id", &prod_id, s(&f12)]));
    assert_eq!((code, out.as_str()), (0, plain), "{err}");

    if let Err(why) = support::ansible::venv() {
        support::skip(&format!(
            "the ansible-vault cross-check needs ansible-core: {why}"
        ));
        return;
    }
    let ansible_vault = |args: &[&str]| {
        let mut cmd = support::ansible::command("ansible-vault").expect("the venv is there");
        cmd.args(args);
        run(&mut cmd)
    };
    let (code, out, err) = ansible_vault(&["view", "--vault-password-file", s(&pw), s(&f11)]);
    assert_eq!((code, out.as_str()), (0, plain), "{err}");
    let (code, out, err) = ansible_vault(&["view", "--vault-id", &prod_id, s(&f12)]);
    assert_eq!((code, out.as_str()), (0, plain), "{err}");
    // (ansible-vault view ends what it shows with a line break.)
    let (code, out, err) = ansible_vault(&["view", "--vault-id", &prod_id, s(&envf)]);
    assert_eq!((code, out.trim_end()), (0, "string-secret"), "{err}");
    let (code, _, err) = ansible_vault(&["decrypt", "--vault-password-file", s(&pw), s(&f11)]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(read(&f11), plain);
}

// ---- (c) playbooks see the plaintext; a wrong password touches nothing -------------------

/// A project whose group_vars hold a `!vault` value (1.1) and whose play reads an encrypted
/// vars file (1.1), a play var `!vault` value (1.2, id prod) and include_vars of an encrypted
/// 1.2 file, and a role whose defaults hold a `!vault` value; the tasks write them into
/// `out.txt` and `role.txt`.
fn project(dir: &Path) -> (PathBuf, PathBuf) {
    let inv = write(
        dir,
        "inventory/hosts",
        "localhost ansible_connection=local\n",
    );
    write(
        dir,
        "inventory/group_vars/all.yml",
        &format!("plain_var: visible\n{}", read(&fixture("string-1.1.yml"))),
    );
    std::fs::copy(fixture("secrets-1.1.yml"), dir.join("secrets.yml")).unwrap();
    std::fs::copy(fixture("secrets-1.2-prod.yml"), dir.join("more.yml")).unwrap();
    write(
        dir,
        "roles/app/defaults/main.yml",
        &read(&fixture("string-16.yml")).replace("exact16:", "role_secret:"),
    );
    write(
        dir,
        "roles/app/tasks/main.yml",
        "- copy:\n    dest: \"{{ playbook_dir }}/role.txt\"\n    content: \"{{ role_secret }}\"\n",
    );
    let play_var = read(&fixture("string-1.2-prod.yml")).replace('\n', "\n    ");
    let pb = write(
        dir,
        "site.yml",
        &format!(
            r#"- hosts: localhost
  gather_facts: false
  vars_files:
    - secrets.yml
  vars:
    {play_var}
  roles: [app]
  tasks:
    - include_vars:
        file: more.yml
        name: more
    - name: write what the play sees
      copy:
        dest: "{{{{ playbook_dir }}}}/out.txt"
        content: |
          group_vars: {{{{ vaulted_password }}}}
          vars_files: {{{{ db_password }}}} {{{{ api_token }}}}
          play: {{{{ play_secret }}}}
          include_vars: {{{{ more.db_password }}}}
"#
        )
        .replace("vaulted_password: !vault", "play_secret: !vault"),
    );
    (inv, pb)
}

#[test]
fn playbook_sees_vault_values_over_the_local_connection() {
    let tmp = tempfile::tempdir().unwrap();
    let (inv, pb) = project(tmp.path());
    let (code, out, err) = run(drover().current_dir(tmp.path()).args([
        "play",
        "-i",
        s(&inv),
        s(&pb),
        "--vault-password-file",
        s(&fixture("password")),
        "--vault-id",
        &format!("prod@{}", s(&fixture("prod-password"))),
    ]));
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert_eq!(recap(&out, "localhost").changed, 2, "{out}");
    assert_eq!(read(&tmp.path().join("role.txt")), "0123456789abcdef");
    assert_eq!(
        read(&tmp.path().join("out.txt")),
        "group_vars: vaulted-secret-1.1\n\
         vars_files: s3cr3t-from-encrypted-file tok_AbCdEf123456\n\
         play: vaulted-secret-1.2\n\
         include_vars: s3cr3t-from-encrypted-file\n"
    );
    // Nothing decrypted was left on disk besides what the task wrote.
    assert!(read(&tmp.path().join("secrets.yml")).starts_with("$ANSIBLE_VAULT;1.1;"));
}

#[test]
fn a_vaulted_file_no_password_opens_exits_5_naming_it_and_touches_nothing() {
    // As ansible-core 2.19: a wholly encrypted vars file must open when it is loaded.
    let tmp = tempfile::tempdir().unwrap();
    let (inv, pb) = project(tmp.path());
    let before = snapshot(tmp.path());
    let secrets = tmp.path().join("secrets.yml");
    for extra in [
        vec!["--vault-password-file", s(&fixture("prod-password"))],
        vec![],
    ] {
        let (code, out, err) = run(drover()
            .current_dir(tmp.path())
            .args(["play", "-i", s(&inv), s(&pb)])
            .args(&extra));
        assert_eq!(code, 5, "stdout:\n{out}\nstderr:\n{err}");
        assert!(
            err.contains(&format!(
                "{}:1:1: Decryption failed (no vault secrets were found that could decrypt)",
                secrets.display()
            )),
            "{err}"
        );
        assert!(err.contains("hint:"), "{err}");
        assert!(!out.contains("TASK"), "{out}");
    }
    assert_eq!(snapshot(tmp.path()), before, "a failed load changed files");
}

#[test]
fn an_inline_vault_value_no_password_opens_fails_only_the_task_that_uses_it() {
    // As ansible-core 2.19: a `!vault` value is decrypted when it is used.
    let tmp = tempfile::tempdir().unwrap();
    let (inv, _) = project(tmp.path());
    let play_var = read(&fixture("string-1.2-prod.yml")).replace('\n', "\n    ");
    let pb = write(
        tmp.path(),
        "inline.yml",
        &format!(
            "- hosts: localhost\n  gather_facts: false\n  vars:\n    {}\n  tasks:\n    - copy:\n        dest: \"{{{{ playbook_dir }}}}/plain.txt\"\n        content: \"{{{{ plain_var }}}}\"\n    - copy:\n        dest: \"{{{{ playbook_dir }}}}/secret.txt\"\n        content: \"{{{{ play_secret }}}}\"\n",
            play_var.replace("vaulted_password: !vault", "play_secret: !vault")
        ),
    );
    // The dev password opens group_vars' 1.1 value, not the play's 1.2 (prod) one.
    let (code, out, err) = run(drover().current_dir(tmp.path()).args([
        "play",
        "-i",
        s(&inv),
        s(&pb),
        "--vault-id",
        &format!("dev@{}", s(&fixture("password"))),
    ]));
    assert_eq!(code, 2, "stdout:\n{out}\nstderr:\n{err}");
    assert_eq!(read(&tmp.path().join("plain.txt")), "visible");
    assert!(!tmp.path().join("secret.txt").exists());
    assert!(
        out.contains(&format!(
            "Attempt to use undecryptable variable (from {}:5:",
            pb.display()
        )) && out.contains("Decryption failed"),
        "{out}"
    );
}

// ---- (d) secrets never show in --diff or messages ---------------------------------------

#[test]
fn secrets_are_hidden_in_diff_and_messages() {
    let tmp = tempfile::tempdir().unwrap();
    let (inv, _) = project(tmp.path());
    let dest = write(tmp.path(), "app.conf", "user=app\npassword=old\n");
    let pb = write(
        tmp.path(),
        "diff.yml",
        &format!(
            r#"- hosts: localhost
  gather_facts: false
  vars_files: [secrets.yml]
  tasks:
    - name: config with the secret
      copy:
        dest: {}
        content: "user=app\npassword={{{{ vaulted_password }}}}\ntoken={{{{ api_token }}}}\n"
    - debug:
        msg: "the password is {{{{ vaulted_password }}}}"
"#,
            s(&dest)
        ),
    );
    let (code, out, err) = run(drover().current_dir(tmp.path()).args([
        "play",
        "-i",
        s(&inv),
        s(&pb),
        "--diff",
        "-v",
        "--vault-password-file",
        s(&fixture("password")),
    ]));
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert_eq!(
        read(&dest),
        "user=app\npassword=vaulted-secret-1.1\ntoken=tok_AbCdEf123456\n"
    );
    for secret in ["vaulted-secret-1.1", "tok_AbCdEf123456"] {
        assert!(!out.contains(secret), "`{secret}` shown:\n{out}");
        assert!(!err.contains(secret), "`{secret}` shown:\n{err}");
    }
    assert!(out.contains("+password=********"), "{out}");
    assert!(out.contains("+token=********"), "{out}");
    assert!(out.contains("-password=old"), "{out}");
    assert!(out.contains("the password is ********"), "{out}");

    // The machine-readable outputs mask them too.
    write(tmp.path(), "app.conf", "user=app\npassword=old\n");
    let junit = tmp.path().join("report.xml");
    let (code, out, err) = run(drover().current_dir(tmp.path()).args([
        "play",
        "-i",
        s(&inv),
        s(&pb),
        "--diff",
        "--output",
        "json",
        "--junit",
        s(&junit),
        "--vault-password-file",
        s(&fixture("password")),
    ]));
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    let report = read(&junit);
    for secret in ["vaulted-secret-1.1", "tok_AbCdEf123456"] {
        assert!(!out.contains(secret), "`{secret}` in JSON:\n{out}");
        assert!(!report.contains(secret), "`{secret}` in JUnit:\n{report}");
    }
    assert!(out.contains("the password is ********"), "{out}");
}

// ---- (e) vault-encrypted `copy`/`template` sources --------------------------------------

/// What the vaulted sources hold, none of which may be printed.
const SOURCE_SECRETS: [&str; 4] = [
    "just some text",
    "with two lines",
    "tmpl-secret-body",
    "vaulted-secret-1.1",
];

/// A project over the local connection whose tasks copy ansible-vault's encrypted text file
/// (decrypted, and once with `decrypt: false`), a tree holding it, an encrypted template, a
/// plain template reading a `!vault` variable and the `file` lookup of the encrypted file into
/// `host/`.
fn sources_project(dir: &Path) -> (PathBuf, PathBuf) {
    let (inv, _) = project(dir);
    std::fs::create_dir_all(dir.join("files/tree")).unwrap();
    std::fs::copy(fixture("text-1.1.txt"), dir.join("files/tree/inner.txt")).unwrap();
    std::fs::copy(fixture("text-1.1.txt"), dir.join("files/text.txt")).unwrap();
    let template = drover::vault::encrypt(
        b"tmpl-secret-body {{ plain_var }}\n",
        read(&fixture("password")).trim().as_bytes(),
        "default",
    )
    .unwrap();
    write(dir, "templates/secret.j2", &template);
    write(
        dir,
        "templates/reads-vault.j2",
        "user=app\npassword={{ vaulted_password }}\n",
    );
    std::fs::create_dir_all(dir.join("host")).unwrap();
    std::fs::create_dir_all(dir.join("controller-tmp")).unwrap();
    let pb = write(
        dir,
        "sources.yml",
        r#"- hosts: localhost
  gather_facts: false
  tasks:
    - copy:
        src: text.txt
        dest: "{{ playbook_dir }}/host/text.txt"
    - copy:
        src: text.txt
        dest: "{{ playbook_dir }}/host/still-encrypted.txt"
        decrypt: false
    - copy:
        src: tree
        dest: "{{ playbook_dir }}/host/"
    - template:
        src: secret.j2
        dest: "{{ playbook_dir }}/host/secret.conf"
    - template:
        src: reads-vault.j2
        dest: "{{ playbook_dir }}/host/app.conf"
    - copy:
        content: "{{ lookup('file', 'text.txt') }}"
        dest: "{{ playbook_dir }}/host/lookup.txt"
    - debug:
        msg: "looked up {{ lookup('file', 'text.txt') }}"
"#,
    );
    (inv, pb)
}

fn run_sources(dir: &Path, inv: &Path, pb: &Path, extra: &[&str]) -> (i32, String, String) {
    // A private TMPDIR shows that nothing decrypted is staged on the controller's disk.
    let tmp = dir.join("controller-tmp");
    run(drover()
        .current_dir(dir)
        .env("TMPDIR", &tmp)
        .args(["play", "-i", s(inv), s(pb), "--vault-password-file"])
        .arg(fixture("password"))
        .args(extra))
}

fn assert_no_source_secret(out: &str, err: &str) {
    for secret in SOURCE_SECRETS {
        assert!(!out.contains(secret), "`{secret}` shown:\n{out}");
        assert!(!err.contains(secret), "`{secret}` shown:\n{err}");
    }
}

#[test]
fn vault_encrypted_copy_and_template_sources_are_decrypted_in_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (inv, pb) = sources_project(dir);
    let host = dir.join("host");
    let before = snapshot(dir);

    // Check mode predicts every write, shows no secret in its diff and writes nothing.
    let (code, out, err) = run_sources(dir, &inv, &pb, &["--check", "--diff"]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert_eq!(recap(&out, "localhost").changed, 6, "{out}");
    assert_no_source_secret(&out, &err);
    assert!(out.contains("looked up ********"), "{out}");
    // The plain template's diff is shown, its vault value masked.
    assert!(out.contains("+password=********"), "{out}");
    assert_eq!(snapshot(&host), vec![], "check mode wrote files");

    let (code, out, err) = run_sources(dir, &inv, &pb, &["--diff", "-v"]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert_eq!(recap(&out, "localhost").changed, 6, "{out}");
    assert_no_source_secret(&out, &err);
    let plain = std::fs::read(fixture("plain.txt")).unwrap();
    assert_eq!(std::fs::read(host.join("text.txt")).unwrap(), plain);
    assert_eq!(std::fs::read(host.join("tree/inner.txt")).unwrap(), plain);
    assert_eq!(
        std::fs::read(host.join("still-encrypted.txt")).unwrap(),
        std::fs::read(fixture("text-1.1.txt")).unwrap()
    );
    assert_eq!(
        read(&host.join("secret.conf")),
        "tmpl-secret-body visible\n"
    );
    assert_eq!(
        read(&host.join("app.conf")),
        "user=app\npassword=vaulted-secret-1.1\n"
    );
    assert_eq!(
        read(&host.join("lookup.txt")),
        "just some text\nwith two lines"
    );

    // Idempotent; nothing but the destinations changed on the controller.
    let (code, out, err) = run_sources(dir, &inv, &pb, &["--diff"]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert_eq!(recap(&out, "localhost").changed, 0, "{out}");
    let outside_host = |snap: Vec<(String, Option<Vec<u8>>)>| -> Vec<_> {
        snap.into_iter()
            .filter(|(p, _)| !p.starts_with("host/"))
            .collect()
    };
    assert!(
        outside_host(snapshot(dir)) == outside_host(before),
        "files outside the destinations changed"
    );
    assert_eq!(snapshot(&dir.join("controller-tmp")), vec![]);

    // A changed destination: the diff of the vaulted source is hidden, in check mode too.
    std::fs::write(host.join("text.txt"), "just some text\nold line\n").unwrap();
    std::fs::write(host.join("secret.conf"), "tmpl-secret-body old\n").unwrap();
    for extra in [
        &["--check", "--diff", "-v"][..],
        &["--diff", "--output", "json"],
    ] {
        let (code, out, err) = run_sources(dir, &inv, &pb, extra);
        assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
        assert_no_source_secret(&out, &err);
    }
    assert_eq!(std::fs::read(host.join("text.txt")).unwrap(), plain);
}

#[test]
fn a_vaulted_source_without_its_password_exits_5_before_any_host() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (inv, pb) = sources_project(dir);
    let before = snapshot(dir);
    for password in [Some("prod-password"), None] {
        let mut cmd = drover();
        cmd.current_dir(dir).args(["play", "-i", s(&inv), s(&pb)]);
        if let Some(p) = password {
            // The play's vars open with this one; the sources do not.
            cmd.arg("--vault-id")
                .arg(format!("prod@{}", s(&fixture(p))));
        }
        let (code, out, err) = run(&mut cmd);
        assert_eq!(code, 5, "stdout:\n{out}\nstderr:\n{err}");
        assert!(!out.contains("TASK"), "{out}");
        assert!(err.contains("Decryption failed"), "{err}");
        assert!(err.contains("hint:"), "{err}");
        assert_eq!(snapshot(dir), before, "a failed load changed files");
    }
    // Only the sources are vaulted: the error names the first task's `src`.
    std::fs::write(
        dir.join("inventory/group_vars/all.yml"),
        "plain_var: visible\nvaulted_password: x\n",
    )
    .unwrap();
    let (code, _, err) = run(drover()
        .current_dir(dir)
        .args(["play", "-i", s(&inv), s(&pb)]));
    assert_eq!(code, 5, "{err}");
    assert!(
        err.contains(&format!(
            "{}:5:14: the vault-encrypted source `{}` cannot be decrypted: Decryption failed",
            pb.display(),
            dir.join("files/text.txt").display()
        )),
        "{err}"
    );
    assert!(err.contains("--vault-password-file"), "{err}");
}

#[test]
fn vault_encrypted_sources_reach_a_test_host_decrypted_over_ssh() {
    let Some(hosts) = support::hosts::TestHosts::up(1) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (_, _) = sources_project(dir);
    let pb = write(
        dir,
        "remote.yml",
        r#"- hosts: test
  gather_facts: false
  tasks:
    - file: path=/root/vault state=directory
    - copy:
        src: text.txt
        dest: /root/vault/text.txt
    - template:
        src: secret.j2
        dest: /root/vault/secret.conf
      vars:
        plain_var: remote
"#,
    );
    let inv = hosts.inventory("root", "");
    let kh = hosts.known_hosts();
    let play = |extra: &[&str]| {
        run(drover()
            .current_dir(dir)
            .args(["play", "-i", s(&inv), s(&pb), "--known-hosts", s(&kh)])
            .args(["--host-key-checking", "accept-new", "--vault-password-file"])
            .arg(fixture("password"))
            .args(extra))
    };
    let (code, out, err) = play(&["--check", "--diff"]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert_no_source_secret(&out, &err);
    assert!(!hosts.path(0, "/root/vault").exists(), "check mode wrote");
    let (code, out, err) = play(&["--diff", "-v"]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert_no_source_secret(&out, &err);
    assert_eq!(recap(&out, "h0").changed, 3, "{out}");
    assert_eq!(
        std::fs::read(hosts.path(0, "/root/vault/text.txt")).unwrap(),
        std::fs::read(fixture("plain.txt")).unwrap()
    );
    assert_eq!(
        read(&hosts.path(0, "/root/vault/secret.conf")),
        "tmpl-secret-body remote\n"
    );
    let (code, out, err) = play(&["--diff"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(recap(&out, "h0").changed, 0, "{out}");
}

/// `create`, `edit` and `rekey` as ansible-vault's: the editor is `$EDITOR` (here a script
/// that appends a line to the file it is given), the plaintext never lands beside the file,
/// an unchanged edit rewrites nothing, a rekeyed file opens with the new vault id only, and
/// ansible-vault reads what drover wrote.
#[test]
fn vault_create_edit_and_rekey() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let old_pw = write(d, "old.pw", "old-password\n");
    let new_pw = write(d, "new.pw", "new-password\n");
    let editor = write(
        d,
        "ed.sh",
        "#!/bin/sh\nprintf 'line %s\\n' \"$(wc -l <\"$1\")\" >>\"$1\"\n",
    );
    std::fs::set_permissions(&editor, std::fs::Permissions::from_mode(0o755)).unwrap();
    let noop = write(d, "noop.sh", "#!/bin/sh\nexit 0\n");
    std::fs::set_permissions(&noop, std::fs::Permissions::from_mode(0o755)).unwrap();
    let file = d.join("secret.yml");
    let vault = |editor: &Path, args: &[&str]| {
        let mut cmd = drover();
        cmd.env("EDITOR", editor)
            .current_dir(d)
            .arg("vault")
            .args(args);
        run(&mut cmd)
    };
    let view = |pw: &str| run(drover().args(["vault", "view", "--vault-id", pw, s(&file)]));

    let (code, _, err) = vault(
        &editor,
        &[
            "create",
            "--vault-id",
            &format!("ops@{}", s(&old_pw)),
            s(&file),
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        read(&file).starts_with("$ANSIBLE_VAULT;1.2;AES256;ops\n"),
        "{}",
        read(&file)
    );
    assert_eq!(view(&format!("ops@{}", s(&old_pw))).1, "line 0\n");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // Nothing else in the directory: no plaintext was written beside the file.
    let names: Vec<String> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 5, "{names:?}");
    let (code, _, err) = vault(&editor, &["create", "--vault-id", s(&old_pw), s(&file)]);
    assert_eq!(code, 5);
    assert!(err.contains("already exists"), "{err}");

    // Edited: encrypted again with the same vault id; an edit that changes nothing keeps it.
    let (code, _, err) = vault(
        &editor,
        &[
            "edit",
            "--vault-id",
            &format!("ops@{}", s(&old_pw)),
            s(&file),
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(view(&format!("ops@{}", s(&old_pw))).1, "line 0\nline 1\n");
    assert!(read(&file).starts_with("$ANSIBLE_VAULT;1.2;AES256;ops\n"));
    let before = read(&file);
    let (code, _, err) = vault(
        &noop,
        &[
            "edit",
            "--vault-id",
            &format!("ops@{}", s(&old_pw)),
            s(&file),
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(read(&file), before, "an unchanged edit rewrote the file");

    // Rekeyed to a new vault id: the old password no longer opens it.
    let (code, _, err) = vault(
        &noop,
        &[
            "rekey",
            "--vault-id",
            &format!("ops@{}", s(&old_pw)),
            "--new-vault-id",
            &format!("prod@{}", s(&new_pw)),
            s(&file),
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("Rekey successful"), "{err}");
    assert!(read(&file).starts_with("$ANSIBLE_VAULT;1.2;AES256;prod\n"));
    assert_eq!(view(&format!("prod@{}", s(&new_pw))).1, "line 0\nline 1\n");
    assert_ne!(view(&format!("ops@{}", s(&old_pw))).0, 0);

    if let Err(why) = support::ansible::venv() {
        support::skip(&format!(
            "the ansible-vault cross-check needs ansible-core: {why}"
        ));
        return;
    }
    let mut cmd = support::ansible::command("ansible-vault").expect("the venv is there");
    cmd.args([
        "view",
        "--vault-id",
        &format!("prod@{}", s(&new_pw)),
        s(&file),
    ]);
    let (code, out, err) = run(&mut cmd);
    assert_eq!((code, out.as_str()), (0, "line 0\nline 1\n"), "{err}");
}
