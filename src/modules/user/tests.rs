use super::*;
use crate::modules::clock::ymd;
use crate::modules::fileops::testing::show;

#[test]
fn a_password_in_a_tools_message_is_masked() {
    let argv: Vec<String> = ["useradd", "-p", "$6$s$h", "bob"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(
        mask_password(&argv, "useradd: bad hash $6$s$h for bob"),
        "useradd: bad hash ******** for bob"
    );
    let none: Vec<String> = vec!["userdel".into(), "bob".into()];
    assert_eq!(
        mask_password(&none, "userdel: bob in use"),
        "userdel: bob in use"
    );
}

pub(super) fn want() -> UserWant {
    UserWant {
        name: "alice".into(),
        present: true,
        create_home: true,
        update_always: true,
        ..UserWant::default()
    }
}

fn gentry(name: &str, gid: u32) -> GroupEntry {
    GroupEntry {
        name: name.into(),
        gid,
        members: vec![],
    }
}

fn existing() -> Account {
    let mut known = BTreeMap::new();
    known.insert("alice".to_string(), gentry("alice", 1001));
    known.insert("web".to_string(), gentry("web", 2000));
    known.insert("db".to_string(), gentry("db", 2001));
    known.insert("2000".to_string(), gentry("web", 2000));
    Account {
        passwd: Some(Passwd {
            name: "alice".into(),
            uid: 1001,
            gid: 1001,
            comment: "Alice".into(),
            home: "/home/alice".into(),
            shell: "/bin/bash".into(),
        }),
        hash: Some("$6$salt$hash".into()),
        expire_days: None,
        ages: Some([0, 99999, 7, -1]),
        primary: Some("alice".into()),
        groups: vec!["web".into()],
        same_name_group: true,
        known_groups: known,
        home_exists: true,
        key_exists: false,
        public_key: None,
        fingerprint: None,
    }
}

fn argv(d: &Decision) -> Option<String> {
    d.action.as_ref().map(|a| match a {
        Action::Add(v) | Action::Mod(v) | Action::Del(v) => show(v),
    })
}

#[test]
fn decide_table() {
    let absent = Account::default();
    let cases: Vec<(&str, UserWant, Account, Option<&str>)> = vec![
        ("create plain", want(), absent.clone(), Some("useradd -m alice")),
        (
            "create full",
            UserWant {
                uid: Some(1500),
                group: Some("web".into()),
                groups: Some(vec!["db".into(), "adm".into()]),
                shell: Some("/bin/zsh".into()),
                home: Some("/srv/alice".into()),
                comment: Some("Alice A".into()),
                password: Some("$6$x$y".into()),
                system: true,
                ..want()
            },
            absent.clone(),
            Some("useradd -u 1500 -g web -G db,adm -c 'Alice A' -d /srv/alice -s /bin/zsh -p '$6$x$y' -m -r alice"),
        ),
        (
            "create with login.defs overrides",
            UserWant {
                system: true,
                login_defs: vec![("UID_MIN", "500".into()), ("UMASK", "077".into())],
                ..want()
            },
            absent.clone(),
            Some("useradd -m -r -K UID_MIN=500 -K UMASK=077 alice"),
        ),
        (
            "create without home, group of that name exists",
            UserWant {
                create_home: false,
                ..want()
            },
            Account {
                same_name_group: true,
                ..absent.clone()
            },
            Some("useradd -N -M alice"),
        ),
        (
            "create with expiry",
            UserWant {
                expires: Some(86_400.0 * 365.0),
                ..want()
            },
            absent.clone(),
            Some("useradd -e 1971-01-01 -m alice"),
        ),
        ("exists, nothing asked", want(), existing(), None),
        (
            "same values",
            UserWant {
                uid: Some(1001),
                group: Some("alice".into()),
                groups: Some(vec!["web".into()]),
                shell: Some("/bin/bash".into()),
                home: Some("/home/alice".into()),
                comment: Some("Alice".into()),
                password: Some("$6$salt$hash".into()),
                ..want()
            },
            existing(),
            None,
        ),
        (
            "groups by gid match",
            UserWant {
                groups: Some(vec!["2000".into()]),
                ..want()
            },
            existing(),
            None,
        ),
        (
            "exact groups differ",
            UserWant {
                groups: Some(vec!["db".into()]),
                ..want()
            },
            existing(),
            Some("usermod -G db alice"),
        ),
        (
            "append a missing group",
            UserWant {
                groups: Some(vec!["db".into()]),
                append: true,
                ..want()
            },
            existing(),
            Some("usermod -a -G db alice"),
        ),
        (
            "append an existing group",
            UserWant {
                groups: Some(vec!["web".into()]),
                append: true,
                ..want()
            },
            existing(),
            None,
        ),
        (
            "clear groups",
            UserWant {
                groups: Some(vec![]),
                ..want()
            },
            existing(),
            Some("usermod -G '' alice"),
        ),
        (
            "primary group listed in groups is ignored",
            UserWant {
                groups: Some(vec!["web".into(), "alice".into()]),
                ..want()
            },
            existing(),
            None,
        ),
        (
            "modify many",
            UserWant {
                uid: Some(1600),
                group: Some("web".into()),
                shell: Some("/bin/sh".into()),
                comment: Some("x".into()),
                home: Some("/srv/a".into()),
                move_home: true,
                ..want()
            },
            existing(),
            Some("usermod -u 1600 -g web -c x -d /srv/a -m -s /bin/sh alice"),
        ),
        (
            "password differs, always",
            UserWant {
                password: Some("$6$new$h".into()),
                ..want()
            },
            existing(),
            Some("usermod -p '$6$new$h' alice"),
        ),
        (
            "password differs, on_create",
            UserWant {
                password: Some("$6$new$h".into()),
                update_always: false,
                ..want()
            },
            existing(),
            None,
        ),
        (
            "remove",
            UserWant {
                present: false,
                remove: true,
                force: true,
                ..want()
            },
            existing(),
            Some("userdel -f -r alice"),
        ),
        (
            "already absent",
            UserWant {
                present: false,
                ..want()
            },
            absent.clone(),
            None,
        ),
    ];
    for (what, w, obs, expect) in cases {
        let d = decide(&w, &obs, false).unwrap();
        assert_eq!(argv(&d).as_deref(), expect, "{what}");
    }
}

#[test]
fn home_and_key_extras() {
    let mut obs = existing();
    obs.home_exists = false;
    let d = decide(&want(), &obs, true).unwrap();
    assert!(d.create_home_dir && d.action.is_none() && d.changed());
    let d = decide(
        &UserWant {
            create_home: false,
            ..want()
        },
        &obs,
        true,
    )
    .unwrap();
    assert!(!d.changed());
    let w = UserWant {
        generate_ssh_key: true,
        ..want()
    };
    assert!(decide(&w, &existing(), true).unwrap().gen_key);
    let mut has_key = existing();
    has_key.key_exists = true;
    assert!(!decide(&w, &has_key, true).unwrap().changed());
}

#[test]
fn missing_groups_fail_only_outside_check_mode() {
    let w = UserWant {
        groups: Some(vec!["nosuch".into()]),
        ..want()
    };
    assert_eq!(
        decide(&w, &existing(), true).unwrap_err().msg,
        "Group nosuch does not exist"
    );
    assert!(decide(&w, &existing(), false).is_ok());
}

#[test]
fn expiry() {
    assert_eq!(ymd(0), "1970-01-01");
    assert_eq!(ymd(19_723), "2024-01-01");
    let mut obs = existing();
    obs.expire_days = Some(19_723);
    let w = UserWant {
        expires: Some(19_723.0 * 86_400.0 + 5.0),
        ..want()
    };
    assert_eq!(argv(&decide(&w, &obs, true).unwrap()), None);
    let w = UserWant {
        expires: Some(-1.0),
        ..want()
    };
    assert_eq!(
        argv(&decide(&w, &obs, true).unwrap()).as_deref(),
        Some("usermod -e '' alice")
    );
}

#[test]
fn password_ages_change_only_what_differs() {
    let mut want = want();
    want.ages = [Some(0), Some(90), Some(7)];
    want.inactive = Some(-1);
    let d = decide(&want, &existing(), true).unwrap();
    assert_eq!(
        d.chage,
        Some(vec![
            "chage".into(),
            "-M".into(),
            "90".into(),
            "alice".into()
        ])
    );
    assert!(
        d.action.is_none(),
        "inactive -1 is the empty field: {:?}",
        d.action
    );
    want.inactive = Some(30);
    let d = decide(&want, &existing(), true).unwrap();
    assert_eq!(
        d.action,
        Some(Action::Mod(vec![
            "usermod".into(),
            "-f".into(),
            "30".into(),
            "alice".into()
        ]))
    );
}
