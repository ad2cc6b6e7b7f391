//! The Ansible Vault envelope and cipher, byte for byte as ansible-core writes and reads it.
//!
//! ```text
//! $ANSIBLE_VAULT;1.1;AES256            (or $ANSIBLE_VAULT;1.2;AES256;<vault id>)
//! hex( hex(salt) "\n" hex(hmac) "\n" hex(ciphertext) ), in lines of 80 characters
//! ```
//!
//! Keys: PBKDF2-HMAC-SHA256 over the password and the 32-byte salt, 10000 iterations,
//! 80 bytes = 32 AES-256 key + 32 HMAC-SHA256 key + 16 CTR initial counter. The plaintext
//! is PKCS#7-padded to 16 bytes and encrypted with AES-256-CTR (128-bit big-endian counter);
//! the HMAC covers the ciphertext and is checked in constant time before decrypting.

use aes::Aes256;
use ctr::cipher::{KeyIvInit, StreamCipher};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;

type Aes256Ctr = ctr::Ctr128BE<Aes256>;
type HmacSha256 = Hmac<Sha256>;

/// The first bytes of every vault envelope.
pub const HEADER: &str = "$ANSIBLE_VAULT";
const CIPHER: &str = "AES256";
const ITERATIONS: u32 = 10_000;
/// The vault id of secrets given without a label (`--vault-password-file`, `--ask-vault-pass`).
pub const DEFAULT_ID: &str = "default";

/// Why vault data could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatError {
    /// Not a vault envelope, or a damaged one.
    Malformed(String),
    /// A cipher other than AES256 (ansible-core knows no other).
    UnsupportedCipher(String),
    /// The HMAC did not match: wrong password (or altered data).
    BadHmac,
    /// The HMAC matched but the padding is wrong (altered data).
    BadPadding,
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormatError::Malformed(why) => write!(f, "malformed vault data: {why}"),
            FormatError::UnsupportedCipher(c) => {
                write!(f, "unsupported vault cipher `{c}` (only AES256 exists)")
            }
            FormatError::BadHmac => write!(f, "HMAC verification failed"),
            FormatError::BadPadding => write!(f, "bad padding after decryption"),
        }
    }
}

impl std::error::Error for FormatError {}

/// A parsed envelope: the header's version and vault id, and the binary payload.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// `1.1` or `1.2`.
    pub version: String,
    /// The vault id of a 1.2 header; `None` for 1.1.
    pub vault_id: Option<String>,
    salt: Vec<u8>,
    hmac: Vec<u8>,
    ciphertext: Vec<u8>,
}

/// Whether the data is a vault envelope (leading whitespace allowed, as in `!vault |` blocks).
pub fn is_encrypted(data: &[u8]) -> bool {
    data.trim_ascii_start().starts_with(HEADER.as_bytes())
}

/// Parses `$ANSIBLE_VAULT;…` text into its parts.
pub fn parse(data: &[u8]) -> Result<Envelope, FormatError> {
    let text = std::str::from_utf8(data.trim_ascii())
        .map_err(|_| FormatError::Malformed("not ASCII text".into()))?;
    let mut lines = text.lines();
    let header = lines.next().unwrap_or("").trim();
    let fields: Vec<&str> = header.split(';').map(str::trim).collect();
    if fields.first() != Some(&HEADER) || fields.len() < 3 {
        return Err(FormatError::Malformed(
            "the first line is not a `$ANSIBLE_VAULT;VERSION;CIPHER` header".into(),
        ));
    }
    let version = fields[1].to_string();
    if fields[2] != CIPHER {
        return Err(FormatError::UnsupportedCipher(fields[2].to_string()));
    }
    let vault_id = fields
        .get(3)
        .filter(|s| !s.is_empty())
        .map(|s| s.to_string());
    let body: String = lines.flat_map(|l| l.trim().chars()).collect();
    let inner = unhex(body.as_bytes()).ok_or_else(|| {
        FormatError::Malformed("the body is not hexadecimal (truncated or edited?)".into())
    })?;
    let mut parts = inner.splitn(3, |b| *b == b'\n');
    let mut next = |what: &str| {
        parts
            .next()
            .and_then(unhex)
            .ok_or_else(|| FormatError::Malformed(format!("the {what} is missing or not hex")))
    };
    let salt = next("salt")?;
    let hmac = next("HMAC")?;
    let ciphertext = next("ciphertext")?;
    Ok(Envelope {
        version,
        vault_id,
        salt,
        hmac,
        ciphertext,
    })
}

struct Keys {
    cipher: [u8; 32],
    hmac: [u8; 32],
    iv: [u8; 16],
}

fn derive(password: &[u8], salt: &[u8]) -> Keys {
    let mut out = [0u8; 80];
    pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, ITERATIONS, &mut out);
    let mut k = Keys {
        cipher: [0; 32],
        hmac: [0; 32],
        iv: [0; 16],
    };
    k.cipher.copy_from_slice(&out[..32]);
    k.hmac.copy_from_slice(&out[32..64]);
    k.iv.copy_from_slice(&out[64..]);
    k
}

impl Envelope {
    /// Decrypts with one password: the HMAC is verified (constant time) first.
    pub fn decrypt(&self, password: &[u8]) -> Result<Vec<u8>, FormatError> {
        let keys = derive(password, &self.salt);
        let mut mac = HmacSha256::new_from_slice(&keys.hmac).expect("HMAC takes any key length");
        mac.update(&self.ciphertext);
        mac.verify_slice(&self.hmac)
            .map_err(|_| FormatError::BadHmac)?;
        let mut data = self.ciphertext.clone();
        Aes256Ctr::new(&keys.cipher.into(), &keys.iv.into()).apply_keystream(&mut data);
        let pad = *data.last().ok_or(FormatError::BadPadding)? as usize;
        if pad == 0 || pad > 16 || pad > data.len() {
            return Err(FormatError::BadPadding);
        }
        if !data[data.len() - pad..].iter().all(|b| *b as usize == pad) {
            return Err(FormatError::BadPadding);
        }
        data.truncate(data.len() - pad);
        Ok(data)
    }
}

/// Encrypts `plaintext` into a complete envelope (ending in a newline). A `vault_id` other
/// than `default` gives a 1.2 header carrying it, as ansible-vault does.
pub fn encrypt_with_salt(plaintext: &[u8], password: &[u8], vault_id: &str, salt: &[u8]) -> String {
    let keys = derive(password, salt);
    let pad = 16 - plaintext.len() % 16;
    let mut data = Vec::with_capacity(plaintext.len() + pad);
    data.extend_from_slice(plaintext);
    data.extend(std::iter::repeat_n(pad as u8, pad));
    Aes256Ctr::new(&keys.cipher.into(), &keys.iv.into()).apply_keystream(&mut data);
    let mut mac = HmacSha256::new_from_slice(&keys.hmac).expect("HMAC takes any key length");
    mac.update(&data);
    let tag = mac.finalize().into_bytes();
    let inner = format!("{}\n{}\n{}", hex(salt), hex(&tag), hex(&data));
    let body = hex(inner.as_bytes());
    let mut out = if vault_id.is_empty() || vault_id == DEFAULT_ID {
        format!("{HEADER};1.1;{CIPHER}\n")
    } else {
        format!("{HEADER};1.2;{CIPHER};{vault_id}\n")
    };
    for chunk in body.as_bytes().chunks(80) {
        out.push_str(std::str::from_utf8(chunk).expect("hex is ASCII"));
        out.push('\n');
    }
    out
}

/// Encrypts with a fresh random 32-byte salt from the operating system.
pub fn encrypt(plaintext: &[u8], password: &[u8], vault_id: &str) -> std::io::Result<String> {
    let mut salt = [0u8; 32];
    random_bytes(&mut salt)?;
    Ok(encrypt_with_salt(plaintext, password, vault_id, &salt))
}

/// Fills `buf` from `/dev/urandom`.
fn random_bytes(buf: &mut [u8]) -> std::io::Result<()> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")?.read_exact(buf)
}

fn hex(data: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(data.len() * 2);
    for b in data {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

fn unhex(text: &[u8]) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    text.chunks(2)
        .map(|p| Some(digit(p[0])? << 4 | digit(p[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_all_padding_lengths() {
        for len in [0usize, 1, 15, 16, 17, 100] {
            let plain = vec![b'x'; len];
            let text = encrypt_with_salt(&plain, b"pw", "default", &[7u8; 32]);
            assert!(text.starts_with("$ANSIBLE_VAULT;1.1;AES256\n"), "{text}");
            assert!(text.lines().skip(1).all(|l| l.len() <= 80));
            let env = parse(text.as_bytes()).unwrap();
            assert_eq!(env.vault_id, None);
            assert_eq!(env.decrypt(b"pw").unwrap(), plain);
            assert_eq!(env.decrypt(b"other"), Err(FormatError::BadHmac));
        }
    }

    #[test]
    fn labelled_secret_writes_a_1_2_header() {
        let text = encrypt(b"v", b"pw", "prod").unwrap();
        assert!(
            text.starts_with("$ANSIBLE_VAULT;1.2;AES256;prod\n"),
            "{text}"
        );
        let env = parse(text.as_bytes()).unwrap();
        assert_eq!(env.version, "1.2");
        assert_eq!(env.vault_id.as_deref(), Some("prod"));
        assert_eq!(env.decrypt(b"pw").unwrap(), b"v");
    }

    #[test]
    fn damaged_data_is_reported() {
        assert!(matches!(
            parse(b"$ANSIBLE_VAULT;1.1;AES256\nzz\n"),
            Err(FormatError::Malformed(_))
        ));
        assert!(matches!(
            parse(b"$ANSIBLE_VAULT;1.1;AES128\n00\n"),
            Err(FormatError::UnsupportedCipher(_))
        ));
        assert!(is_encrypted(b"  $ANSIBLE_VAULT;1.1;AES256\n"));
        assert!(!is_encrypted(b"a: 1\n"));
    }
}
