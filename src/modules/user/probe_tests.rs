//! The account's observation and the key generation script.

use super::tests::want;
use super::*;
use crate::modules::contract::Observed;

/// An observation with these sections.
fn seen(sections: &[(&str, &str)]) -> Observed {
    Observed {
        sections: sections
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Observed::default()
    }
}

#[test]
fn parses_probe_output() {
    let asked = ["2000".to_string()];
    let o = parse_probe(
        &seen(&[
            ("passwd", "alice:x:1001:1001:Alice:/home/alice:/bin/bash\n"),
            ("shadow", "alice:$6$a$b:19000:0:99999:7:::\n"),
            ("homedir", "yes\n"),
            ("key", "yes\n"),
            ("pub", "ssh-ed25519 AAAA c\n@GROUPS\nroot:x:0:alice\n"),
            ("fp", "256 SHA256:xyz c (ED25519)\n"),
            (
                "groups",
                "alice:x:1001:\nweb:x:2000:alice\ndb:x:2001:bob,alice\nops:x:2002:bob\n",
            ),
        ]),
        "alice",
        &asked.iter().collect::<Vec<_>>(),
    );
    assert_eq!(o.passwd.as_ref().map(|p| p.uid), Some(1001));
    assert_eq!(o.hash.as_deref(), Some("$6$a$b"));
    assert_eq!(o.expire_days, None);
    // A public key file's lines are its data, whatever they look like.
    assert_eq!(o.groups, ["web", "db"]);
    assert_eq!(
        o.public_key.as_deref(),
        Some("ssh-ed25519 AAAA c\n@GROUPS\nroot:x:0:alice")
    );
    assert!(o.same_name_group && o.home_exists && o.key_exists);
    assert_eq!(o.known_groups.get("2000").map(|g| g.gid), Some(2000));
    assert_eq!(o.fingerprint.as_deref(), Some("256 SHA256:xyz c (ED25519)"));
    assert_eq!(o.primary.as_deref(), Some("alice"));
    let none = parse_probe(
        &seen(&[("homedir", "yes\n"), ("groups", "alice:x:1001:\n")]),
        "alice",
        &[],
    );
    assert!(none.same_name_group);
    assert!(none.passwd.is_none());
}

#[test]
fn keygen_runs_as_the_user_with_quoted_values() {
    let s = keygen_script(&KeyGen {
        user: "alice",
        uid: 1001,
        path: "/home/alice/.ssh/id rsa",
        ktype: "rsa",
        bits: Some(2048),
        passphrase: "it's $secret",
        comment: Some("a b"),
        replace: false,
    });
    let text = s.text();
    assert!(text.contains("set -- runuser -u \"$ku\" --\n"), "{text}");
    assert!(
        text.contains(" sh '/home/alice/.ssh/id rsa' 'a b' 'it'\\''s $secret' rsa '-b' 2048\n"),
        "{text}"
    );
    assert!(!s.shown().contains("secret"), "{}", s.shown());
    let out = std::process::Command::new("sh")
        .args(["-n", "-c", text])
        .output()
        .unwrap();
    assert!(out.status.success(), "{text}");
    let root = keygen_script(&KeyGen {
        user: "root",
        uid: 0,
        path: "/root/.ssh/id_ed25519",
        ktype: "ed25519",
        bits: None,
        passphrase: "",
        comment: None,
        replace: false,
    });
    let text = root.text();
    assert!(text.contains("set --\n\"$@\" sh -c"), "{text}");
    assert!(
        text.contains("\"ansible-generated on $(uname -n)\""),
        "{text}"
    );
}

#[test]
fn probe_script_quotes_values() {
    let w = UserWant {
        name: "alice".into(),
        home: Some("/srv/it's".into()),
        groups: Some(vec!["$(id)".into()]),
        ..want()
    };
    let o = observe_account(&w, Some(".ssh/id rsa"));
    let s: String = o
        .sections
        .iter()
        .map(|(_, s)| s.text().to_string())
        .collect();
    assert!(s.contains("H='/srv/it'\\''s'"), "{s}");
    // Group names are matched on the controller: they never reach the shell.
    assert!(!s.contains("$(id)"), "{s}");
    assert!(s.contains("r='.ssh/id rsa'\nk=\"$H/$r\""), "{s}");
}

/// The shadow entry is read only for a task that compares with it.
#[test]
fn shadow_is_read_when_asked_for() {
    let section = |w: &UserWant| {
        let o = observe_account(w, None);
        let (_, s) = o.sections.iter().find(|(n, _)| *n == "shadow").unwrap();
        s.text().to_string()
    };
    assert!(!section(&want()).contains("getent"));
    for w in [
        UserWant {
            password: Some("$6$x$y".into()),
            ..want()
        },
        UserWant {
            password_lock: Some(true),
            ..want()
        },
        UserWant {
            expires: Some(0.0),
            ..want()
        },
        UserWant {
            inactive: Some(3),
            ..want()
        },
        UserWant {
            ages: [None, Some(90), None],
            ..want()
        },
    ] {
        assert!(section(&w).contains("getent shadow"), "{w:?}");
    }
}
