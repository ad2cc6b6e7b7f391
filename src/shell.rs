//! The single quoting function through which every value reaches a remote shell, and small
//! helpers that build command lines out of quoted words.

/// Quotes one word for POSIX `sh`: the shell sees exactly these bytes as one argument.
///
/// Words made only of safe characters are left bare so command lines stay readable;
/// everything else is wrapped in single quotes, with each `'` written as `'\''`.
pub fn quote(word: &str) -> String {
    let safe = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"@%+=:,./_-".contains(&b))
        && !word.starts_with('-');
    if safe {
        return word.to_string();
    }
    let mut out = String::with_capacity(word.len() + 2);
    out.push('\'');
    for ch in word.chars() {
        if ch == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(ch);
        }
    }
    out.push('\'');
    out
}

/// Quotes a path for a tool that reads a leading `-` as an option and takes no `--` before
/// its operands (`find`), or reads `-` itself as something else (`cd -` is `$OLDPWD`): a path
/// starting with `-` gets `./` first (it is relative anyway).
pub fn quote_path(path: &str) -> String {
    if path.starts_with('-') {
        quote(&format!("./{path}"))
    } else {
        quote(path)
    }
}

/// The command that sets an owner and/or a group (names or ids): `chown u:g`, `chown u` or
/// `chgrp g`, as (command, quoted operand); `None` when neither is asked.
pub fn chown_args(owner: Option<&str>, group: Option<&str>) -> Option<(&'static str, String)> {
    match (owner, group) {
        (Some(o), Some(g)) => Some(("chown", quote(&format!("{o}:{g}")))),
        (Some(o), None) => Some(("chown", quote(o))),
        (None, Some(g)) => Some(("chgrp", quote(g))),
        (None, None) => None,
    }
}

/// Quotes one word as Python's `os.path.expanduser(os.path.expandvars(word))` would see it on
/// the host (the `command` module's `expand_argument_vars`): `$NAME` and `${NAME}` become the
/// variable's value (left as written when it is unset), a leading `~` or `~user` the home
/// directory; every other byte stays literal. Only validated names reach the shell unquoted.
pub fn quote_expanding(word: &str) -> String {
    if !word.contains('$') && !word.starts_with('~') {
        return quote(word);
    }
    let mut out = String::with_capacity(word.len() + 8);
    let mut rest = word;
    if let Some(after) = word.strip_prefix('~') {
        let end = after.find('/').unwrap_or(after.len());
        let user = &after[..end];
        if user
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            && !user.starts_with('-')
        {
            // Tilde expansion happens only unquoted, up to an unquoted `/`.
            out.push('~');
            out.push_str(user);
            rest = &after[end..];
            if let Some(r) = rest.strip_prefix('/') {
                out.push('/');
                rest = r;
            }
            if rest.is_empty() {
                return out;
            }
        }
    }
    out.push('"');
    let b = rest.as_bytes();
    let mut i = 0;
    let name_at = |j: usize| -> usize {
        let mut k = j;
        while k < b.len() && (b[k].is_ascii_alphanumeric() || b[k] == b'_') {
            k += 1;
        }
        if k > j && !b[j].is_ascii_digit() {
            k
        } else {
            j
        }
    };
    while i < b.len() {
        if b[i] == b'$' {
            let k = name_at(i + 1);
            if k > i + 1 {
                let name = &rest[i + 1..k];
                out.push_str(&format!("${{{name}-\\${name}}}"));
                i = k;
                continue;
            }
            if b.get(i + 1) == Some(&b'{') {
                let k = name_at(i + 2);
                if k > i + 2 && b.get(k) == Some(&b'}') {
                    let name = &rest[i + 2..k];
                    out.push_str(&format!("${{{name}-\\${{{name}\\}}}}"));
                    i = k + 1;
                    continue;
                }
            }
        }
        let ch = rest[i..].chars().next().unwrap_or('\0');
        if matches!(ch, '"' | '\\' | '`' | '$') {
            out.push('\\');
        }
        out.push(ch);
        i += ch.len_utf8();
    }
    out.push('"');
    out
}

/// Quotes each word and joins them with spaces: an argv as one command line.
pub fn join<S: AsRef<str>>(words: &[S]) -> String {
    words
        .iter()
        .map(|w| quote(w.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Splits a command line into words the way Python's `shlex.split` does (as Ansible's
/// `command` module does, without comments).
pub fn split(line: &str) -> Result<Vec<String>, String> {
    Ok(split_words(line, false)?
        .into_iter()
        .map(|w| w.text)
        .collect())
}

/// Splits a line like Python's `shlex.split(line, comments=True)`.
pub fn shlex_split(line: &str) -> Result<Vec<Word>, String> {
    split_words(line, true)
}

/// One word of a line and the character column (0-based) where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Word {
    pub text: String,
    pub col: usize,
}

/// Python's `shlex.split` in POSIX mode (whitespace is ` \t\r\n`): quotes group, a backslash
/// escapes outside single quotes (inside double quotes only `\\` and `\"`), and with
/// `comments` an unquoted `#` starts a comment. The one shell-word splitter.
pub fn split_words(line: &str, comments: bool) -> Result<Vec<Word>, String> {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        Space,
        Word,
        Quote(char),
        Escape(char),
    }
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut start = 0;
    let mut quoted = false;
    let mut state = State::Space;
    let mut push = |cur: &mut String, quoted: &mut bool, start: usize| {
        if !cur.is_empty() || *quoted {
            words.push(Word {
                text: std::mem::take(cur),
                col: start,
            });
        }
        *quoted = false;
    };
    for (i, c) in line.chars().enumerate() {
        match state {
            State::Space | State::Word => {
                if state == State::Space {
                    start = i;
                }
                match c {
                    ' ' | '\t' | '\r' | '\n' => {
                        if state == State::Word {
                            push(&mut cur, &mut quoted, start);
                        }
                        state = State::Space;
                    }
                    '#' if comments => {
                        if state == State::Word {
                            push(&mut cur, &mut quoted, start);
                        }
                        return Ok(words);
                    }
                    '\'' | '"' => {
                        quoted = true;
                        state = State::Quote(c);
                    }
                    '\\' => state = State::Escape('a'),
                    _ => {
                        cur.push(c);
                        state = State::Word;
                    }
                }
            }
            State::Quote(q) => {
                if c == q {
                    state = State::Word;
                } else if q == '"' && c == '\\' {
                    state = State::Escape('"');
                } else {
                    cur.push(c);
                }
            }
            State::Escape(from) => {
                // Inside double quotes only `\\` and `\"` are escapes; others keep the backslash.
                if from == '"' && c != '\\' && c != '"' {
                    cur.push('\\');
                }
                cur.push(c);
                state = if from == '"' {
                    State::Quote('"')
                } else {
                    State::Word
                };
            }
        }
    }
    match state {
        State::Quote(_) => Err("no closing quotation".into()),
        State::Escape(_) => Err("no escaped character".into()),
        State::Word => {
            push(&mut cur, &mut quoted, start);
            Ok(words)
        }
        State::Space => Ok(words),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expanding_words_in_a_real_shell() {
        let words = [
            ("$FOO/x", "one/x"),
            ("${FOO}y", "oney"),
            ("$UNSET ${UNSET}", "$UNSET ${UNSET}"),
            ("a\"b'`c`$(d)\\", "a\"b'`c`$(d)\\"),
            ("~/p", "/home/h/p"),
            ("~", "/home/h"),
            ("x~", "x~"),
            ("$1 $", "$1 $"),
        ];
        for (w, want) in words {
            let out = std::process::Command::new("sh")
                .args(["-c", &format!("printf %s {}", quote_expanding(w))])
                .env("FOO", "one")
                .env("HOME", "/home/h")
                .env_remove("UNSET")
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), want, "{w}");
        }
    }

    #[test]
    fn quote_table() {
        let table = [
            ("abc", "abc"),
            ("/etc/x.conf", "/etc/x.conf"),
            ("", "''"),
            ("a b", "'a b'"),
            ("it's", "'it'\\''s'"),
            ("$(rm -rf /)", "'$(rm -rf /)'"),
            ("-n", "'-n'"),
            ("a\nb", "'a\nb'"),
            ("*", "'*'"),
        ];
        for (input, want) in table {
            assert_eq!(quote(input), want, "{input:?}");
        }
    }

    #[test]
    fn split_like_shlex() {
        assert_eq!(
            split("echo 'a b' \"c\\\"d\" e\\ f").unwrap(),
            ["echo", "a b", "c\"d", "e f"]
        );
        assert_eq!(split("  ").unwrap(), Vec::<String>::new());
        // As Python's: no comments, a backslash before a backquote kept, an escaped newline kept.
        assert_eq!(
            split("echo # \"a\\`b\" c\\\nd").unwrap(),
            ["echo", "#", "a\\`b", "c\nd"]
        );
        assert!(split("echo 'oops").is_err());
    }

    #[test]
    fn quoted_words_survive_a_real_shell() {
        let nasty = [
            "a'b",
            "$(id)",
            "`id`",
            "; rm -rf /",
            "&& x",
            "a\nb",
            "*",
            "-n",
            "\\",
            "\"",
            " ",
            "",
        ];
        for w in nasty {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("printf '%s' {}", quote(w)))
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), w);
        }
    }

    #[test]
    fn dash_paths_are_never_options_to_find_or_cd() {
        assert_eq!(quote_path("-delete"), "./-delete");
        assert_eq!(quote_path("-"), "./-");
        assert_eq!(quote_path("/a b"), "'/a b'");
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("-")).unwrap();
        std::fs::write(dir.path().join("keep"), "x").unwrap();
        let out = std::process::Command::new("sh")
            .current_dir(dir.path())
            .arg("-c")
            .arg(format!(
                "find {} -mindepth 1; cd -- {} && pwd",
                quote_path("-delete"),
                quote_path("-")
            ))
            .output()
            .unwrap();
        assert!(dir.path().join("keep").exists());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.trim_end().ends_with("/-"), "{text}");
    }
}
