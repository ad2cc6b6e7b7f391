//! `drover vault encrypt|decrypt|view|encrypt_string`: ansible-vault's file and string
//! commands, reading and writing exactly ansible-vault's format (`create`, `edit` and `rekey`
//! are in `vault_edit.rs`).

use super::common::input;
use crate::cli::{VaultCommand, VaultEncryptArgs, VaultSecretArgs};
use crate::vault::{self, Secret};
use anyhow::{anyhow, bail, Context, Result};
use std::io::{Read, Write};
use std::path::Path;

/// Runs a `drover vault` subcommand; returns the exit code. Mistakes (a wrong password, a
/// file that is or is not encrypted already) are input errors: exit 5.
pub fn run_vault(cmd: &VaultCommand) -> Result<i32> {
    input(run(cmd))?;
    Ok(0)
}

fn run(cmd: &VaultCommand) -> Result<()> {
    match cmd {
        VaultCommand::Encrypt(a) => {
            let secret = encrypt_secret(&a.secrets, &a.encrypt)?;
            each_file(&a.files, a.output.as_deref(), |data, name| {
                if vault::is_encrypted(data) {
                    bail!("{name}: input is already encrypted");
                }
                Ok(vault::encrypt(data, &secret.password, &secret.id)?.into_bytes())
            })
            .map(|n| {
                if n > 0 {
                    eprintln!("Encryption successful");
                }
            })
        }
        VaultCommand::Decrypt(a) => {
            let secrets = decrypt_secrets(&a.secrets)?;
            each_file(&a.files, a.output.as_deref(), |data, name| {
                decrypt(&secrets, data, name)
            })
            .map(|n| {
                if n > 0 {
                    eprintln!("Decryption successful");
                }
            })
        }
        VaultCommand::View(a) => {
            let secrets = decrypt_secrets(&a.secrets)?;
            let mut out = std::io::stdout().lock();
            for f in &a.files {
                let data = read(f)?;
                out.write_all(&decrypt(&secrets, &data, &f.display().to_string())?)?;
            }
            out.flush().map_err(Into::into)
        }
        VaultCommand::EncryptString(a) => {
            let secret = encrypt_secret(&a.secrets, &a.encrypt)?;
            let mut items: Vec<(Option<String>, String)> = Vec::new();
            if let Some(name) = &a.stdin_name {
                items.push((Some(name.clone()), read_stdin()?));
            }
            if a.prompt {
                let text = vault::prompt_password("String to encrypt: ")?;
                let text = String::from_utf8(text).map_err(|_| anyhow!("not UTF-8 text"))?;
                items.push((a.names.first().cloned(), text));
            }
            for (i, s) in a.strings.iter().enumerate() {
                items.push((a.names.get(i).cloned(), s.clone()));
            }
            if items.is_empty() {
                eprintln!("Reading plaintext input from stdin. (ctrl-d to end input, twice if your content does not already have a newline)");
                items.push((a.names.first().cloned(), read_stdin()?));
            }
            let mut out = String::new();
            for (name, text) in &items {
                let block = vault::encrypt(text.as_bytes(), &secret.password, &secret.id)?;
                out.push_str(&vault_block(name.as_deref(), &block));
            }
            print!("{out}");
            eprintln!("Encryption successful");
            Ok(())
        }
        VaultCommand::Create(a) => super::vault_edit::create(a),
        VaultCommand::Edit(a) => super::vault_edit::edit(a),
        VaultCommand::Rekey(a) => super::vault_edit::rekey(a),
    }
}

/// `name: !vault |` and the envelope indented by ten spaces, as ansible-vault prints it.
pub fn vault_block(name: Option<&str>, envelope: &str) -> String {
    let mut out = match name {
        Some(n) => format!("{n}: !vault |\n"),
        None => "!vault |\n".to_string(),
    };
    for line in envelope.lines() {
        out.push_str("          ");
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn decrypt(secrets: &[Secret], data: &[u8], name: &str) -> Result<Vec<u8>> {
    if !vault::is_encrypted(data) {
        bail!("{name}: input is not vault encrypted data");
    }
    vault::decrypt_with(secrets, data).map_err(|e| anyhow!("{name}: {}", e.report()))
}

/// The secrets to decrypt with; asks on the terminal when none is given, as ansible-vault.
pub(super) fn decrypt_secrets(args: &VaultSecretArgs) -> Result<Vec<Secret>> {
    let mut opts = args.options();
    if opts.vault_ids.is_empty()
        && opts.password_files.is_empty()
        && std::env::var_os("ANSIBLE_VAULT_PASSWORD_FILE").is_none()
        && std::env::var_os("ANSIBLE_VAULT_IDENTITY_LIST").is_none()
    {
        opts.ask = true;
    }
    vault::load_secrets(&opts)
}

/// The one secret to encrypt with: `--encrypt-vault-id`'s, the only one given, or a new
/// password asked twice on the terminal.
pub(super) fn encrypt_secret(args: &VaultSecretArgs, enc: &VaultEncryptArgs) -> Result<Secret> {
    let secrets = vault::load_secrets(&args.options())?;
    if let Some(id) = &enc.encrypt_vault_id {
        return secrets.into_iter().find(|s| &s.id == id).ok_or_else(|| {
            anyhow!("Did not find a match for --encrypt-vault-id={id} in the known vault-ids\nhint: give it with --vault-id {id}@FILE")
        });
    }
    match secrets.len() {
        0 => vault::prompt_new_secret(vault::DEFAULT_ID),
        1 => Ok(secrets.into_iter().next().expect("one secret")),
        _ => {
            let ids: Vec<&str> = secrets.iter().map(|s| s.id.as_str()).collect();
            bail!(
                "The vault-ids {} are available to encrypt. Specify the vault-id to encrypt with --encrypt-vault-id",
                ids.join(",")
            )
        }
    }
}

/// Applies `f` to each file in place (or to `--output`), or to standard input when no file
/// is named; returns how many inputs were handled.
fn each_file(
    files: &[std::path::PathBuf],
    output: Option<&Path>,
    f: impl Fn(&[u8], &str) -> Result<Vec<u8>>,
) -> Result<usize> {
    if output.is_some() && files.len() > 1 {
        bail!("--output takes one input file");
    }
    if files.is_empty() || files.iter().all(|f| f.as_os_str() == "-") {
        let data = read_stdin()?.into_bytes();
        let result = f(&data, "<stdin>")?;
        write_output(output.unwrap_or(Path::new("-")), &result)?;
        return Ok(1);
    }
    for file in files {
        let data = read(file)?;
        let result = f(&data, &file.display().to_string())?;
        write_output(output.unwrap_or(file), &result)?;
    }
    Ok(files.len())
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading `{}`", path.display()))
}

fn read_stdin() -> Result<String> {
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .context("reading standard input")?;
    if s.is_empty() {
        bail!("stdin was empty, not encrypting");
    }
    Ok(s)
}

/// Writes through a temporary file renamed over the target, so a failure leaves the old
/// content; a new file is private (0600), an existing one keeps its mode.
pub(super) fn write_output(path: &Path, data: &[u8]) -> Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    if path.as_os_str() == "-" {
        let mut out = std::io::stdout().lock();
        out.write_all(data)?;
        return out.flush().map_err(Into::into);
    }
    let mode = std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(0o600);
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.drover-vault-{}", std::process::id()));
    let written = (|| -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(anyhow!("writing `{}`: {e}", path.display()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_is_indented_like_ansible_vault() {
        let b = vault_block(Some("pw"), "$ANSIBLE_VAULT;1.1;AES256\n3031\n");
        assert_eq!(
            b,
            "pw: !vault |\n          $ANSIBLE_VAULT;1.1;AES256\n          3031\n"
        );
    }
}
