//! `Script`: shell text built from fixed program names and quoted words. A module never
//! formats a value into shell text: every value goes through [`Script::cmd`], which quotes it,
//! and the only unquoted text is `&'static str` written in the source. Values marked secret
//! are masked in what is displayed ([`Script::shown`]).

use crate::shell::quote;

/// Commands for one round trip, one per line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Script {
    text: String,
    secrets: Vec<String>,
}

impl Script {
    pub fn new() -> Script {
        Script::default()
    }

    /// One command: a fixed program (with fixed options) and its words, each quoted.
    pub fn cmd<S: AsRef<str>>(
        mut self,
        program: &'static str,
        words: impl IntoIterator<Item = S>,
    ) -> Script {
        self.text.push_str(program);
        for w in words {
            self.text.push(' ');
            self.text.push_str(&quote(w.as_ref()));
        }
        self.text.push('\n');
        self
    }

    /// One command whose every word, the program too, is a value (`executable -c cmd`).
    pub fn argv<S: AsRef<str>>(mut self, words: impl IntoIterator<Item = S>) -> Script {
        let quoted: Vec<String> = words.into_iter().map(|w| quote(w.as_ref())).collect();
        self.text.push_str(&quoted.join(" "));
        self.text.push('\n');
        self
    }

    /// The task's own shell text, run as the user wrote it (`raw`, `shell`): the one place
    /// where text from a playbook is shell code, because that is what the module is for.
    pub fn user_shell(mut self, text: &str) -> Script {
        self.text.push_str(text);
        self.text.push('\n');
        self
    }

    /// `name=value` (the value quoted): fixed text after it refers to `"$name"`.
    pub fn set(mut self, name: &'static str, value: &str) -> Script {
        self.text.push_str(name);
        self.text.push('=');
        self.text.push_str(&quote(value));
        self.text.push('\n');
        self
    }

    /// One more word on the current line, quoted (after fixed text such as `if [ -f`).
    pub fn arg(mut self, word: &str) -> Script {
        self.text.push(' ');
        self.text.push_str(&quote(word));
        self
    }

    /// `export NAME=value` (the value quoted) for an `environment:` variable. A name that is
    /// not a shell identifier (the executor refuses those before) is left out.
    pub fn export(mut self, name: &str, value: &str) -> Script {
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
            && name.chars().all(|c| c == '_' || c.is_ascii_alphanumeric());
        if valid {
            self.text.push_str("export ");
            self.text.push_str(name);
            self.text.push('=');
            self.text.push_str(&quote(value));
            self.text.push('\n');
        }
        self
    }

    /// One more word, `$VAR` and a leading `~` expanded on the host as Python's
    /// `expanduser(expandvars(word))` would (`command`'s `expand_argument_vars`); every
    /// other byte literal.
    pub fn arg_expanding(mut self, word: &str) -> Script {
        self.text.push(' ');
        self.text.push_str(&crate::shell::quote_expanding(word));
        self
    }

    /// One more word for a glob pattern: `*`, `?`, `[` and `]` stay live, the rest is quoted.
    pub fn arg_glob(mut self, pattern: &str) -> Script {
        let mut run = String::new();
        let mut out = String::new();
        for c in pattern.chars() {
            if matches!(c, '*' | '?' | '[' | ']') {
                if !run.is_empty() {
                    out.push_str(&quote(&std::mem::take(&mut run)));
                }
                out.push(c);
            } else {
                run.push(c);
            }
        }
        if !run.is_empty() || out.is_empty() {
            out.push_str(&quote(&run));
        }
        self.text.push(' ');
        self.text.push_str(&out);
        self
    }

    /// One more word for a directory given to `cd`: a leading `-` gets `./` (`cd -` is
    /// `$OLDPWD`).
    pub fn arg_dir(mut self, dir: &str) -> Script {
        self.text.push(' ');
        self.text.push_str(&crate::shell::quote_path(dir));
        self
    }

    /// Fixed shell text (control flow, redirections), as written in the source.
    pub fn raw(mut self, text: &'static str) -> Script {
        self.text.push_str(text);
        self
    }

    /// Text the contract itself generates (section markers with the probe's random token);
    /// not for modules, which only write `&'static str` ([`Script::raw`]).
    pub(super) fn raw_owned(mut self, text: String) -> Script {
        self.text.push_str(&text);
        self
    }

    /// Appends `other` in place.
    pub fn push(&mut self, other: Script) {
        self.text.push_str(&other.text);
        self.secrets.extend(other.secrets);
    }

    /// A value the script uses that must never be displayed (a password): [`Script::shown`]
    /// masks it.
    pub fn secret(mut self, value: impl Into<String>) -> Script {
        let v = value.into();
        if !v.is_empty() {
            self.secrets.push(quote(&v));
        }
        // Masked wherever output could show it (`-vvvv`'s commands, results), as vault
        // values are; short values would mask common words, so they are only masked here.
        if v.chars().count() >= 4 {
            crate::vault::mark_secret(&v);
        }
        self
    }

    /// This script, then `other`.
    pub fn then(mut self, other: Script) -> Script {
        self.text.push_str(&other.text);
        self.secrets.extend(other.secrets);
        self
    }

    pub fn is_empty(&self) -> bool {
        self.text.trim().is_empty()
    }

    /// The shell text, to run.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The shell text with secret values masked, to display.
    pub fn shown(&self) -> String {
        self.secrets.iter().fold(self.text.clone(), |t, s| {
            t.replace(s.as_str(), "'********'")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_quoted_and_secrets_masked() {
        let s = Script::new()
            .cmd("mkdir -p --", ["/tmp/a b", "$(reboot)"])
            .raw("true\n")
            .cmd("chpasswd", ["hunter2; rm -rf /"])
            .secret("hunter2; rm -rf /");
        assert_eq!(
            s.text(),
            "mkdir -p -- '/tmp/a b' '$(reboot)'\ntrue\nchpasswd 'hunter2; rm -rf /'\n"
        );
        assert_eq!(
            s.shown(),
            "mkdir -p -- '/tmp/a b' '$(reboot)'\ntrue\nchpasswd '********'\n"
        );
        // Anything output shows (`-vvvv`'s commands) masks it too.
        assert_eq!(
            crate::vault::redact(s.text()),
            "mkdir -p -- '/tmp/a b' '$(reboot)'\ntrue\nchpasswd '********'\n"
        );
        assert!(Script::new().raw("\n").is_empty());
        let g = Script::new().raw("set --").arg_glob("/var/log/a b*.[0-9]");
        assert_eq!(g.text(), "set -- '/var/log/a b'*.[0-9]");
    }
}
