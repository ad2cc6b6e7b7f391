//! `drover vault create|edit|rekey`: ansible-vault's editor and rekey commands. The plaintext
//! lives only in a private temporary directory (0700, the file 0600) while the editor runs,
//! and is removed after; the encrypted file is replaced atomically.

use super::vault::{decrypt_secrets, encrypt_secret, write_output};
use crate::cli::{VaultEditArgs, VaultRekeyArgs};
use crate::vault::{self, Secret};
use anyhow::{anyhow, bail, Context, Result};
use std::path::{Path, PathBuf};

/// `create FILE`: an error if it exists; else the editor on an empty file, then encrypted.
pub fn create(a: &VaultEditArgs) -> Result<()> {
    if a.file.exists() {
        bail!("destination file ({}) already exists", a.file.display());
    }
    let secret = encrypt_secret(&a.secrets, &a.encrypt)?;
    let text = edit_in_editor(&a.file, b"")?;
    let sealed = vault::encrypt(&text, &secret.password, &secret.id)?;
    write_output(&a.file, sealed.as_bytes())
}

/// `edit FILE`: decrypted into the editor; encrypted again with the secret that opened it
/// (and its vault id) when the text changed.
pub fn edit(a: &VaultEditArgs) -> Result<()> {
    let data = std::fs::read(&a.file).with_context(|| format!("reading `{}`", a.file.display()))?;
    if !vault::is_encrypted(&data) {
        bail!("{}: input is not vault encrypted data", a.file.display());
    }
    let secrets = decrypt_secrets(&a.secrets)?;
    let (plain, secret) = open(&secrets, &data, &a.file)?;
    let text = edit_in_editor(&a.file, &plain)?;
    if text == plain {
        return Ok(());
    }
    let sealed = vault::encrypt(&text, &secret.password, &secret.id)?;
    write_output(&a.file, sealed.as_bytes())
}

/// `rekey FILE...`: each file decrypted and encrypted with the new secret.
pub fn rekey(a: &VaultRekeyArgs) -> Result<()> {
    let secrets = decrypt_secrets(&a.secrets)?;
    let new = vault::load_new_secret(
        a.new_vault_id.as_deref(),
        a.new_vault_password_file.as_deref(),
    )?;
    for f in &a.files {
        let data = std::fs::read(f).with_context(|| format!("reading `{}`", f.display()))?;
        if !vault::is_encrypted(&data) {
            bail!("{}: input is not vault encrypted data", f.display());
        }
        let (plain, _) = open(&secrets, &data, f)?;
        let sealed = vault::encrypt(&plain, &new.password, &new.id)?;
        write_output(f, sealed.as_bytes())?;
    }
    eprintln!("Rekey successful");
    Ok(())
}

/// The plaintext and the secret that decrypted it (one whose id is the file's first).
fn open(secrets: &[Secret], data: &[u8], file: &Path) -> Result<(Vec<u8>, Secret)> {
    let id = vault::parse(data).ok().and_then(|e| e.vault_id);
    let mut ordered: Vec<&Secret> = secrets
        .iter()
        .filter(|s| Some(&s.id) == id.as_ref())
        .collect();
    ordered.extend(secrets.iter().filter(|s| Some(&s.id) != id.as_ref()));
    for s in ordered {
        if let Ok(plain) = vault::decrypt_with(std::slice::from_ref(s), data) {
            return Ok((plain, s.clone()));
        }
    }
    Err(match vault::decrypt_with(secrets, data).err() {
        Some(e) => anyhow!("{}: {}", file.display(), e.report()),
        None => anyhow!("{}: no one secret decrypts it", file.display()),
    })
}

/// Runs the editor (`$EDITOR`, split as a shell would, else `vi`) on a private copy of
/// `text`; returns what it holds when the editor exits successfully.
fn edit_in_editor(file: &Path, text: &[u8]) -> Result<Vec<u8>> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let editor = std::env::var("EDITOR").unwrap_or_else(|_| "vi".into());
    let mut words = crate::shell::split(&editor).map_err(|e| anyhow!("EDITOR: {e}"))?;
    if words.is_empty() {
        words.push("vi".into());
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("drover-vault-{}-{nanos}", std::process::id()));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .with_context(|| format!("creating `{}`", dir.display()))?;
    // The plaintext keeps the file's extension, so the editor picks its syntax.
    let name: PathBuf = file
        .extension()
        .map(|e| PathBuf::from(format!("plain.{}", e.to_string_lossy())))
        .unwrap_or_else(|| PathBuf::from("plain"));
    let path = dir.join(name);
    let result = (|| -> Result<Vec<u8>> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        std::io::Write::write_all(&mut f, text)?;
        drop(f);
        let status = std::process::Command::new(&words[0])
            .args(&words[1..])
            .arg(&path)
            .status()
            .with_context(|| format!("running the editor `{}`", words[0]))?;
        if !status.success() {
            bail!(
                "the editor `{editor}` failed ({status}); {} is unchanged",
                file.display()
            );
        }
        Ok(std::fs::read(&path)?)
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}
