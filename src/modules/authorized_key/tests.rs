use super::*;

const A: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAA alice@laptop";
const B: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABBBB bob";

fn keys(text: &str) -> Vec<KeyLine> {
    wanted_keys(text, None, None).unwrap()
}

#[test]
fn parses_key_lines() {
    let k = parse_key(
        "no-pty,from=\"10.0.0.1,10.0.0.2\",command=\"echo a b\" ssh-ed25519 AAAA the comment",
    )
    .unwrap();
    assert_eq!(
        k.options,
        [
            "no-pty",
            "from=\"10.0.0.1,10.0.0.2\"",
            "command=\"echo a b\""
        ]
    );
    assert_eq!(k.ktype, "ssh-ed25519");
    assert_eq!(k.blob, "AAAA");
    assert_eq!(k.comment.as_deref(), Some("the comment"));
    assert_eq!(parse_key("# comment"), None);
    assert_eq!(parse_key(""), None);
    assert_eq!(parse_key("not a key"), None);
    assert!(parse_key("ssh-ed25519-cert-v01@openssh.com AAAA").is_some());
    assert_eq!(
        render(&k),
        "no-pty,from=\"10.0.0.1,10.0.0.2\",command=\"echo a b\" ssh-ed25519 AAAA the comment"
    );
    assert!(wanted_keys("garbage", None, None).is_err());
}

#[test]
fn options_and_comments_with_line_breaks_are_refused() {
    let key = "ssh-ed25519 AAAA c";
    let evil = "no-pty\nssh-ed25519 BBBB intruder";
    let e = wanted_keys(key, Some(evil), None).unwrap_err().msg;
    assert!(e.starts_with("invalid key_options"), "{e}");
    let e = wanted_keys(key, None, Some(evil)).unwrap_err().msg;
    assert!(e.starts_with("invalid comment"), "{e}");
    assert!(wanted_keys("ssh-ed25519 AAAA a\0b", None, None).is_err());
    assert!(wanted_keys(key, Some("no-pty,from=\"a\""), Some("x")).is_ok());
}

#[test]
fn update_table() {
    type Case<'a> = (&'a str, &'a str, Vec<KeyLine>, bool, bool, Option<String>);
    let cases: Vec<Case> = vec![
        ("add to empty", "", keys(A), true, false, Some(format!("{A}\n"))),
        (
            "add keeps other lines",
            "# mine\nssh-rsa AAAAB3NzaC1yc2EAAAADAQABBBB bob\n",
            keys(A),
            true,
            false,
            Some(format!("# mine\n{B}\n{A}\n")),
        ),
        ("keep", "# x\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAA alice@laptop\n", keys(A), true, false, None),
        (
            "replace options in place",
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAA alice@laptop\n# tail\n",
            wanted_keys(A, Some("no-pty,no-agent-forwarding"), None).unwrap(),
            true,
            false,
            // A changed key is added again after the existing lines.
            Some(format!("# tail\nno-pty,no-agent-forwarding {A}\n")),
        ),
        (
            "the last line of a repeated blob is the key (the file stays as it is)",
            "from=\"x\" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAA old\nssh-rsa AAAAB3NzaC1yc2EAAAADAQABBBB bob\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAA alice@laptop\n",
            keys(A),
            true,
            false,
            None,
        ),
        (
            "remove by blob whatever the options/comment",
            "no-pty ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAA other\nssh-rsa AAAAB3NzaC1yc2EAAAADAQABBBB bob\n",
            keys("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAA"),
            false,
            false,
            Some(format!("{B}\n")),
        ),
        ("remove absent key", "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABBBB bob\n", keys(A), false, false, None),
        (
            "exclusive drops other keys and comments",
            "# header\nssh-rsa AAAAB3NzaC1yc2EAAAADAQABBBB bob\n",
            keys(A),
            true,
            true,
            Some(format!("{A}\n")),
        ),
        (
            "exclusive, already exact",
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAA alice@laptop\n",
            keys(A),
            true,
            true,
            None,
        ),
        (
            "several keys in one task",
            "",
            keys(&format!("{A}\n\n{B}\n")),
            true,
            false,
            Some(format!("{A}\n{B}\n")),
        ),
        (
            "comment replaced",
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAA alice@laptop\n",
            wanted_keys(A, None, Some("work")).unwrap(),
            true,
            false,
            Some("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAA work\n".into()),
        ),
        (
            "file without final newline, unchanged",
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAA alice@laptop",
            keys(A),
            true,
            false,
            None,
        ),
    ];
    for (what, existing, ks, present, exclusive, expect) in cases {
        assert_eq!(update(existing, &ks, present, exclusive), expect, "{what}");
    }
}
