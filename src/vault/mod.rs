//! Ansible Vault: the file format (`format.rs`), where passwords come from (`secrets.rs`), and
//! the process-wide state the loaders and the output share.
//!
//! The YAML loader decrypts `!vault` scalars and whole vault-encrypted files as it reads them
//! (`crate::yaml::load_file`/`load_str`), with the secrets set once per run by the command
//! (`set_secrets`). Plaintext lives in memory only. Every decrypted string is remembered
//! (`is_secret`, `secrets`) so output can hide it (`redact`).

mod format;
mod secrets;

pub use format::{
    encrypt, encrypt_with_salt, is_encrypted, parse, Envelope, FormatError, DEFAULT_ID, HEADER,
};
pub use secrets::{
    load_new_secret, load_secrets, open_source, prompt_new_secret, prompt_password, prompt_tty,
    SecretOptions, Source, SourceError,
};

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, RwLock};

/// One vault password and the id it was given under (`default` when unlabelled).
#[derive(Clone)]
pub struct Secret {
    pub id: String,
    pub password: Vec<u8>,
    /// Where it came from, for messages (`password file x`, `prompt`).
    pub source: String,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({}@{})", self.id, self.source)
    }
}

/// Why vault data could not be decrypted. `Display` is the message; `hint` says what to pass.
#[derive(Debug, Clone)]
pub enum DecryptError {
    /// No vault password was given at all.
    NoSecrets { vault_id: Option<String> },
    /// Passwords were given but none opens the data.
    NoMatch {
        vault_id: Option<String>,
        tried: Vec<String>,
    },
    /// The data is not a readable vault envelope.
    Format(FormatError),
}

impl std::fmt::Display for DecryptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecryptError::Format(e) => write!(f, "{e}"),
            _ => write!(
                f,
                "Decryption failed (no vault secrets were found that could decrypt)"
            ),
        }
    }
}

impl DecryptError {
    /// What to do about it, for the `hint:` line.
    pub fn hint(&self) -> String {
        let label = |id: &Option<String>| id.clone().unwrap_or_else(|| "LABEL".into());
        match self {
            DecryptError::NoSecrets { vault_id } => format!(
                "this is vault-encrypted and no vault password was given; pass --ask-vault-pass, \
                 --vault-password-file FILE or --vault-id {}@FILE (or set ANSIBLE_VAULT_PASSWORD_FILE)",
                label(vault_id)
            ),
            DecryptError::NoMatch { vault_id, tried } => {
                let which = match vault_id {
                    Some(id) => format!(" (vault id `{id}`)"),
                    None => String::new(),
                };
                format!(
                    "none of the vault passwords given ({}) opens this value{which}; check the \
                     password, or pass the right one with --vault-id {}@FILE",
                    tried.join(", "),
                    label(vault_id)
                )
            }
            DecryptError::Format(_) => {
                "the vault text is damaged; re-create it with `drover vault encrypt_string` \
                 or `ansible-vault encrypt`"
                    .into()
            }
        }
    }

    /// `{message}\nhint: {hint}`, for error reports that carry a position before them.
    pub fn report(&self) -> String {
        format!("{self}\nhint: {}", self.hint())
    }
}

/// Decrypts vault data with the given secrets, as ansible-core tries them: those whose id is
/// the envelope's vault id first, then all the others in the order given.
pub fn decrypt_with(secrets: &[Secret], data: &[u8]) -> Result<Vec<u8>, DecryptError> {
    let env = parse(data).map_err(DecryptError::Format)?;
    let id = env.vault_id.clone();
    if secrets.is_empty() {
        return Err(DecryptError::NoSecrets { vault_id: id });
    }
    let matching = secrets.iter().filter(|s| Some(&s.id) == id.as_ref());
    let others = secrets.iter().filter(|s| Some(&s.id) != id.as_ref());
    for s in matching.chain(others) {
        match env.decrypt(&s.password) {
            Ok(plain) => return Ok(plain),
            Err(FormatError::BadHmac | FormatError::BadPadding) => continue,
            Err(e) => return Err(DecryptError::Format(e)),
        }
    }
    Err(DecryptError::NoMatch {
        vault_id: id,
        tried: secrets
            .iter()
            .map(|s| format!("{}@{}", s.id, s.source))
            .collect(),
    })
}

static SECRETS: RwLock<Vec<Secret>> = RwLock::new(Vec::new());
static DECRYPTED: Mutex<Option<HashMap<Vec<u8>, Vec<u8>>>> = Mutex::new(None);
static REVEALED: RwLock<BTreeSet<String>> = RwLock::new(BTreeSet::new());

/// Sets the vault passwords every later load in this process decrypts with.
pub fn set_secrets(secrets: Vec<Secret>) {
    *SECRETS.write().unwrap_or_else(|e| e.into_inner()) = secrets;
    *DECRYPTED.lock().unwrap_or_else(|e| e.into_inner()) = None;
}

/// Decrypts vault data with the process's secrets (results are kept in memory, so a file
/// read again or an aliased value does not pay the key derivation twice). Callers record what
/// counts as a secret (`mark_secret`).
pub fn decrypt(data: &[u8]) -> Result<Vec<u8>, DecryptError> {
    let key = data.trim_ascii().to_vec();
    if let Some(plain) = DECRYPTED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .and_then(|m| m.get(&key))
    {
        return Ok(plain.clone());
    }
    let plain = {
        let secrets = SECRETS.read().unwrap_or_else(|e| e.into_inner());
        decrypt_with(&secrets, data)?
    };
    DECRYPTED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(HashMap::new)
        .insert(key, plain.clone());
    Ok(plain)
}

/// A controller file as a task uses it (`copy`/`template` `src`): a vault-encrypted file is
/// decrypted in memory, never written out; the flag says it was.
pub fn open_bytes(data: Vec<u8>) -> Result<(Vec<u8>, bool), DecryptError> {
    if !is_encrypted(&data) {
        return Ok((data, false));
    }
    decrypt(&data).map(|plain| (plain, true))
}

/// Records a decrypted value so output can hide it. Empty strings are ignored.
pub fn mark_secret(value: &str) {
    let mut set = REVEALED.write().unwrap_or_else(|e| e.into_inner());
    for v in [value, value.trim()] {
        if !v.is_empty() && !set.contains(v) {
            set.insert(v.to_string());
        }
    }
}

/// Whether this exact string came out of a vault.
pub fn is_secret(value: &str) -> bool {
    REVEALED
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .contains(value)
}

/// Every string decrypted so far, longest first.
pub fn secrets() -> Vec<String> {
    let mut all: Vec<String> = REVEALED
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .cloned()
        .collect();
    all.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    all
}

/// What a hidden secret is shown as.
pub const MASK: &str = "********";

/// Replaces every occurrence of a decrypted secret in `text` with `********`.
pub fn redact(text: &str) -> Cow<'_, str> {
    let set = REVEALED.read().unwrap_or_else(|e| e.into_inner());
    if set.is_empty() || !set.iter().any(|s| text.contains(s.as_str())) {
        return Cow::Borrowed(text);
    }
    drop(set);
    let mut out = text.to_string();
    for s in secrets() {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), MASK);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(id: &str, pw: &str) -> Secret {
        Secret {
            id: id.into(),
            password: pw.as_bytes().to_vec(),
            source: "test".into(),
        }
    }

    #[test]
    fn tries_matching_id_then_all_others() {
        let data = encrypt(b"plain", b"right", "prod").unwrap();
        // The id matches a wrong password; another id holds the right one: still opens.
        let s = [secret("prod", "wrong"), secret("dev", "right")];
        assert_eq!(decrypt_with(&s, data.as_bytes()).unwrap(), b"plain");
        let err = decrypt_with(&[secret("prod", "wrong")], data.as_bytes()).unwrap_err();
        assert!(matches!(err, DecryptError::NoMatch { .. }));
        assert!(err
            .to_string()
            .starts_with("Decryption failed (no vault secrets"));
        assert!(
            err.hint().contains("--vault-id prod@FILE"),
            "{}",
            err.hint()
        );
        let err = decrypt_with(&[], data.as_bytes()).unwrap_err();
        assert!(matches!(err, DecryptError::NoSecrets { .. }));
        assert!(
            err.hint().contains("--vault-password-file"),
            "{}",
            err.hint()
        );
    }

    #[test]
    fn redaction_replaces_longest_first() {
        mark_secret("redact-me-unit-test-secret");
        mark_secret("redact-me-unit");
        assert!(is_secret("redact-me-unit-test-secret"));
        assert_eq!(
            redact("a redact-me-unit-test-secret b redact-me-unit c"),
            "a ******** b ******** c"
        );
        assert!(matches!(redact("nothing here"), Cow::Borrowed(_)));
    }
}
