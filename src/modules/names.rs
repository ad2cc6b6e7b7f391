//! The names modules hand to target tools as arguments: accounts (`useradd`, `groupadd`),
//! services (`/etc/init.d/NAME`, `systemctl`) and packages (`apt-get`, `dpkg-query`). Quoting
//! (`crate::shell::quote`) already keeps any value one word; these checks refuse what a tool
//! would read as an option (a leading `-`), a path (`/`), a second line, or a name its own
//! database cannot hold, with a message naming the value.

use super::fileops::fail;
use anyhow::Result;

/// The value as shown in a message: control characters escaped, long values cut.
fn shown(name: &str) -> String {
    let escaped: String = name.escape_debug().collect();
    match escaped.char_indices().nth(80) {
        Some((cut, _)) => format!("{}...", &escaped[..cut]),
        None => escaped,
    }
}

/// A user or group name as shadow-utils defines it upstream: letters, digits, `_`, `.` and
/// `-` (not first), optionally ending in `$` (machine accounts), at most 256 bytes, not `.` or
/// `..` and not all digits (it would read as an id). Debian's `useradd` accepts more (`*`,
/// `../x`), which other tools then misread.
pub fn check_account(kind: &str, name: &str) -> Result<()> {
    let body = name.strip_suffix('$').unwrap_or(name);
    let valid = !body.is_empty()
        && name.len() <= 256
        && !body.starts_with('-')
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        && body != "."
        && body != ".."
        && !body.bytes().all(|b| b.is_ascii_digit());
    if valid {
        return Ok(());
    }
    Err(fail(format!(
        "invalid {kind} name `{}`: a {kind} name is letters, digits, `_`, `.` and `-` (not first), optionally ending in `$`",
        shown(name)
    )))
}

/// A service or unit name: not empty, no `/` (a path out of `/etc/init.d`), no leading `-`
/// (an option to `systemctl`), no whitespace or control characters.
pub fn check_service(name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && !name.starts_with('-')
        && !name.contains('/')
        && name != "."
        && name != ".."
        && !name.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        return Ok(());
    }
    Err(fail(format!(
        "invalid service name `{}`: a service name has no `/`, whitespace or control characters and does not start with `-`",
        shown(name)
    )))
}

/// A package name as given to apt (with an optional `:arch`, `=version` or glob): not empty,
/// no leading `-` (apt-get reads `-o...` as an option that can run commands), no whitespace
/// or control characters.
pub fn check_package(name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && !name.starts_with('-')
        && !name.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        return Ok(());
    }
    Err(fail(format!(
        "invalid package name `{}`: a package name has no whitespace or control characters and does not start with `-`",
        shown(name)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_names() {
        for ok in [
            "alice",
            "www-data",
            "_apt",
            "john.doe",
            "HOST$",
            "a1",
            "Debian-exim",
        ] {
            assert!(check_account("user", ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "-rf", "a;b", "*", "../x", "a b", "a\nb", "1234", ".", "..", "a:b", "$", "ü",
        ] {
            let e = check_account("user", bad).unwrap_err().to_string();
            assert!(e.starts_with("invalid user name `"), "{e}");
        }
        assert!(check_account("group", &"x".repeat(257)).is_err());
    }

    #[test]
    fn service_and_package_names() {
        for ok in ["ssh", "getty@tty1.service", "nginx", "systemd-journald"] {
            assert!(check_service(ok).is_ok(), "{ok}");
        }
        for bad in ["", "../../tmp/x", "-H", "a b", "a\0b", ".."] {
            assert!(check_service(bad).is_err(), "{bad:?}");
        }
        for ok in ["nginx", "libc6:amd64", "foo=1.2-3", "python3-*", "g++"] {
            assert!(check_package(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-oDpkg::Pre-Invoke::=x", "a b", "a\nb"] {
            assert!(check_package(bad).is_err(), "{bad:?}");
        }
        assert_eq!(shown(&"x".repeat(100)).len(), 83);
        assert_eq!(shown("a\nb"), "a\\nb");
    }
}
