//! Where vault passwords come from, as ansible-core reads them: `--vault-id LABEL@SOURCE`
//! (SOURCE a file, an executable or `prompt`), `--vault-password-file FILE`,
//! `--ask-vault-pass`, and the `ANSIBLE_VAULT_IDENTITY_LIST` / `ANSIBLE_VAULT_PASSWORD_FILE`
//! environment variables.

use super::{Secret, DEFAULT_ID};
use anyhow::{anyhow, bail, Context, Result};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The vault options of a command line.
#[derive(Clone, Debug, Default)]
pub struct SecretOptions {
    /// `--vault-id` values, in order.
    pub vault_ids: Vec<String>,
    /// `--vault-password-file` values, in order.
    pub password_files: Vec<PathBuf>,
    /// `--ask-vault-pass`.
    pub ask: bool,
}

/// Resolves every password source, in ansible-core's order: vault ids (those of
/// `ANSIBLE_VAULT_IDENTITY_LIST` first), password files (`ANSIBLE_VAULT_PASSWORD_FILE` last),
/// then the prompt of `--ask-vault-pass`. Executables are run once, prompts asked once.
pub fn load_secrets(opts: &SecretOptions) -> Result<Vec<Secret>> {
    let mut slugs: Vec<(String, String)> = Vec::new();
    let env_ids = std::env::var("ANSIBLE_VAULT_IDENTITY_LIST").unwrap_or_default();
    for raw in env_ids
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .chain(opts.vault_ids.iter().map(String::as_str))
    {
        slugs.push(split_slug(raw));
    }
    let mut files: Vec<String> = opts
        .password_files
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if let Ok(f) = std::env::var("ANSIBLE_VAULT_PASSWORD_FILE") {
        if !f.is_empty() && !files.contains(&f) {
            files.push(f);
        }
    }
    slugs.extend(files.into_iter().map(|f| (DEFAULT_ID.to_string(), f)));
    if opts.ask {
        slugs.push((DEFAULT_ID.to_string(), "prompt".to_string()));
    }
    slugs.dedup();
    let mut out = Vec::new();
    for (id, source) in slugs {
        let password = if source == "prompt" || source == "prompt_ask_vault_pass" {
            let text = if id == DEFAULT_ID {
                "Vault password: ".to_string()
            } else {
                format!("Vault password ({id}): ")
            };
            prompt_password(&text)?
        } else {
            read_source(Path::new(&source), &id)?
        };
        if password.is_empty() {
            bail!("Invalid vault password was provided from {source} (it is empty)");
        }
        out.push(Secret {
            id,
            password,
            source,
        });
    }
    Ok(out)
}

/// A new password asked twice on the terminal (`encrypt` without a password source,
/// `rekey`), under vault id `id`.
pub fn prompt_new_secret(id: &str) -> Result<Secret> {
    let password = prompt_password("New Vault password: ")?;
    if prompt_password("Confirm New Vault password: ")? != password {
        bail!("Passwords do not match");
    }
    if password.is_empty() {
        bail!("A password is required to encrypt");
    }
    Ok(Secret {
        id: id.to_string(),
        password,
        source: "prompt".into(),
    })
}

/// The one new secret of `rekey`: `--new-vault-id` (`LABEL@SOURCE`, or a label whose password
/// is `--new-vault-password-file` or asked) or `--new-vault-password-file`; asked (default
/// id) when neither is given. The environment's vault settings do not count.
pub fn load_new_secret(vault_id: Option<&str>, password_file: Option<&Path>) -> Result<Secret> {
    let file = password_file.map(|f| f.to_string_lossy().into_owned());
    let (id, source) = match (vault_id, file) {
        (Some(v), _) if v.contains('@') => split_slug(v),
        (Some(v), f) => (v.to_string(), f.unwrap_or_else(|| "prompt".into())),
        (None, Some(f)) => (DEFAULT_ID.to_string(), f),
        (None, None) => (DEFAULT_ID.to_string(), "prompt".into()),
    };
    if source == "prompt" {
        return prompt_new_secret(&id);
    }
    let password = read_source(Path::new(&source), &id)?;
    if password.is_empty() {
        bail!("Invalid vault password was provided from {source} (it is empty)");
    }
    Ok(Secret {
        id,
        password,
        source,
    })
}

/// `label@source` → (label, source); a bare source gets the `default` label.
fn split_slug(raw: &str) -> (String, String) {
    match raw.split_once('@') {
        Some((id, src)) => (id.to_string(), src.to_string()),
        None => (DEFAULT_ID.to_string(), raw.to_string()),
    }
}

/// Where a secret comes from: an executable file is run and its standard output is the
/// secret; any other file is read.
pub enum Source {
    Ran(Vec<u8>),
    Read(Vec<u8>),
}

/// Why a secret's source gave nothing; each caller words it as Ansible does for its flag.
pub enum SourceError {
    NotFound(std::io::Error),
    Spawn(std::io::Error),
    /// The program's exit code and standard error.
    Failed(i32, String),
    Read(std::io::Error),
}

/// Runs `path` with `args` when it is an executable file (a bare name is taken from the
/// current directory, not `PATH`), else reads it.
pub fn open_source(path: &Path, args: &[&str]) -> Result<Source, SourceError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(SourceError::NotFound)?;
    if !(meta.is_file() && meta.permissions().mode() & 0o111 != 0) {
        return std::fs::read(path)
            .map(Source::Read)
            .map_err(SourceError::Read);
    }
    let program = if path.components().count() == 1 {
        Path::new(".").join(path)
    } else {
        path.to_path_buf()
    };
    let out = std::process::Command::new(&program)
        .args(args)
        .stdin(std::process::Stdio::inherit())
        .stderr(std::process::Stdio::piped())
        .output()
        .map_err(SourceError::Spawn)?;
    if !out.status.success() {
        return Err(SourceError::Failed(
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ));
    }
    Ok(Source::Ran(out.stdout))
}

/// A password file's content with surrounding whitespace removed, or an executable's
/// standard output without its trailing line break. A `*-client` script is asked for the
/// vault id with `--vault-id ID`, as in Ansible.
fn read_source(path: &Path, id: &str) -> Result<Vec<u8>> {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let args: &[&str] = if stem.ends_with("-client") {
        &["--vault-id", id]
    } else {
        &[]
    };
    match open_source(path, args) {
        Ok(Source::Ran(mut pw)) => {
            while pw.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                pw.pop();
            }
            Ok(pw)
        }
        Ok(Source::Read(data)) => Ok(data.trim_ascii().to_vec()),
        Err(SourceError::NotFound(e)) => bail!(
            "The vault password file {} was not found ({e})\nhint: check the path given to --vault-password-file / --vault-id",
            path.display()
        ),
        Err(SourceError::Spawn(e)) => Err(anyhow!(e))
            .with_context(|| format!("Problem running vault password script {}", path.display())),
        Err(SourceError::Failed(code, stderr)) => bail!(
            "Vault password script {} returned non-zero ({code}): {}",
            path.display(),
            stderr.trim()
        ),
        Err(SourceError::Read(e)) => Err(anyhow!(e))
            .with_context(|| format!("Could not read vault password file {}", path.display())),
    }
}

/// Asks for a vault password on the terminal (`/dev/tty`) without echo; one line, no line
/// break.
pub fn prompt_password(prompt: &str) -> Result<Vec<u8>> {
    prompt_tty(prompt, "use --vault-password-file FILE instead")
}

/// Asks for a secret on the terminal (`/dev/tty`) without echo; `hint` says what to do where
/// there is no terminal.
pub fn prompt_tty(prompt: &str, hint: &str) -> Result<Vec<u8>> {
    let what = prompt.trim_end().trim_end_matches(':').to_lowercase();
    let mut tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(|e| anyhow!("cannot ask for the {what}: no terminal ({e})\nhint: {hint}"))?;
    use std::os::fd::AsRawFd;
    let fd = tty.as_raw_fd();
    // SAFETY: `termios` is plain data; tcgetattr/tcsetattr only read and write it for `fd`,
    // which stays open for the whole function.
    let saved = unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(fd, &mut t) != 0 {
            None
        } else {
            let mut quiet = t;
            quiet.c_lflag &= !libc::ECHO;
            quiet.c_lflag |= libc::ECHONL;
            libc::tcsetattr(fd, libc::TCSANOW, &quiet);
            Some(t)
        }
    };
    let _ = tty.write_all(prompt.as_bytes());
    let _ = tty.flush();
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    let result = loop {
        match tty.read(&mut byte) {
            Ok(0) => break Ok(()),
            Ok(_) if byte[0] == b'\n' => break Ok(()),
            Ok(_) => line.push(byte[0]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => break Err(e),
        }
    };
    if let Some(t) = saved {
        // SAFETY: as above; restores the settings read before.
        unsafe {
            libc::tcsetattr(fd, libc::TCSANOW, &t);
        }
    }
    result.with_context(|| format!("reading the {what} from the terminal"))?;
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_scripts_and_labels() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("pw");
        std::fs::write(&file, "  hunter2 \n").unwrap();
        let script = tmp.path().join("pw-client.sh");
        std::fs::write(&script, "#!/bin/sh\nprintf 'from-%s\\n' \"$2\"\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let opts = SecretOptions {
            vault_ids: vec![format!("prod@{}", script.display())],
            password_files: vec![file.clone()],
            ask: false,
        };
        let got = load_secrets(&opts).unwrap();
        let pairs: Vec<(String, Vec<u8>)> = got.into_iter().map(|s| (s.id, s.password)).collect();
        assert_eq!(
            pairs,
            [
                ("prod".to_string(), b"from-prod".to_vec()),
                ("default".to_string(), b"hunter2".to_vec())
            ]
        );
        std::fs::write(&file, "\n").unwrap();
        let err = load_secrets(&SecretOptions {
            password_files: vec![file],
            ..SecretOptions::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("Invalid vault password"), "{err}");
        assert_eq!(split_slug("x"), ("default".into(), "x".into()));
    }
}
