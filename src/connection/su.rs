//! `become_method: su` (or `doas`) with a password. Both ask on a terminal only, so the shell
//! of the become user starts on a pseudo-terminal (an SSH channel's, or one of this machine's for the
//! local connection): su's prompt is answered with the password, then the new shell turns the
//! terminal raw and without echo (`stty raw -echo`) and says so with a marker line, after
//! which the terminal carries the framing protocol byte for byte, as a pipe would.

use super::ShellStream;
use anyhow::{bail, Result};
use std::time::{Duration, Instant};

/// The line the su'd shell prints once its terminal is raw.
const READY: &str = "drover-su-ready";

/// Ansible's su prompts (its `prompt_l10n` default), matched before a colon.
const PROMPTS: &[&str] = &[
    "Password",
    "암호",
    "パスワード",
    "Adgangskode",
    "Contraseña",
    "Contrasenya",
    "Hasło",
    "Heslo",
    "Jelszó",
    "Lösenord",
    "Mật khẩu",
    "Mot de passe",
    "Parola",
    "Parool",
    "Pasahitza",
    "Passord",
    "Passwort",
    "Salasana",
    "Sandi",
    "Senha",
    "Wachtwoord",
    "ססמה",
    "Лозинка",
    "Парола",
    "Пароль",
    "गुप्तशब्द",
    "शब्दकूट",
    "సంకేతపదము",
    "හස්පදය",
    "密码",
    "密碼",
    "口令",
];

/// The `-c` command su runs as the become user: the raw terminal, the marker, the shell. The
/// shell reads the terminal through `cat`: on a pipe it is not interactive (no prompts, no
/// job control), as the shells of the other connections. When the shell ends, its process
/// group goes too (`cat` would wait for the terminal's next byte), so su and the channel end.
pub const SHELL: &str =
    "stty raw -echo 2>/dev/null; echo drover-su-ready; cat | { /bin/sh; kill 0; }";

/// Whether `text` ends in one of su's password prompts (a prompt word, blanks, a colon).
fn prompted(text: &str) -> bool {
    let t = text.trim_end();
    let Some(before) = t.strip_suffix(':').or_else(|| t.strip_suffix('：')) else {
        return false;
    };
    let before = before.trim_end().to_lowercase();
    PROMPTS.iter().any(|p| before.ends_with(&p.to_lowercase()))
}

/// Answers the prompt of `program` (su or doas) with `password` and waits for the new
/// shell's marker, all within `wait`. Its refusal (a wrong password, an unknown user) is the
/// error, in its words; a password nobody asked for (su run by root, a `nopass` rule) is
/// never sent.
pub fn login<S: ShellStream>(
    stream: &mut S,
    program: &str,
    password: &str,
    wait: Duration,
) -> Result<()> {
    if password.contains(['\n', '\r', '\0']) {
        bail!("the become password holds a line break or NUL, which {program} cannot read as part of a password\nhint: set `ansible_become_password` to the password alone, on one line");
    }
    let until = Instant::now() + wait;
    let mut seen: Vec<u8> = Vec::new();
    let mut answered = false;
    let mut chunk = [0u8; 1024];
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            bail!(
                "{program} did not start a shell within {} s{}",
                wait.as_secs_f64(),
                shown(&seen)
            );
        }
        stream.wake_after(Some(left));
        let n = match stream.read(&mut chunk) {
            Ok(0) => bail!("{program} ended before the shell started{}", shown(&seen)),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => continue,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        seen.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&seen);
        // The marker on a line of its own: the shell runs, the terminal is raw.
        if let Some(at) = text.find(READY) {
            if text[at..].contains('\n') {
                stream.wake_after(None);
                return Ok(());
            }
            continue;
        }
        if prompted(&text) {
            if answered {
                bail!("{program} asked for the password again: it was not accepted");
            }
            stream.write_all(format!("{password}\n").as_bytes())?;
            stream.flush()?;
            answered = true;
            seen.clear();
        }
    }
}

/// What su printed, for an error message.
fn shown(seen: &[u8]) -> String {
    let t = String::from_utf8_lossy(seen);
    let t = t.trim();
    if t.is_empty() {
        String::new()
    } else {
        format!(": {t}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn su_prompts_as_ansible_matches_them() {
        assert!(prompted("Password: "));
        assert!(prompted("Passwort:"));
        assert!(prompted("パスワード："));
        assert!(prompted("root's Password: "));
        assert!(!prompted("Password"));
        assert!(!prompted("su: Authentication failure\n"));
    }
}
