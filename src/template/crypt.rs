//! `password_hash`: Unix crypt(3) password hashes as Ansible makes them through passlib —
//! SHA-512 (`$6$`, the default), SHA-256 (`$5$`) and MD5 (`$1$`) crypt, with Ansible's
//! defaults (a random salt of 16 characters, 8 for MD5; 656000 rounds for SHA-512 and
//! 535000 for SHA-256, written into the hash).

use super::filters::{op_err, py_str, text, Params};
use md5::{Digest as _, Md5};
use minijinja::value::{Kwargs, Value};
use minijinja::{Error, State};
use sha2::{Sha256, Sha512};

const ALPHABET: &[u8] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `password_hash(hashtype='sha512', salt=None, salt_size=None, rounds=None, ident=None)`.
pub fn password_hash(
    state: &State,
    value: &Value,
    args: &[Value],
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let p = Params::new("password_hash", args, kwargs);
    let hashtype = p
        .get(0, "hashtype")?
        .map(|v| py_str(&v))
        .unwrap_or_else(|| "sha512".into());
    let salt = p
        .get(1, "salt")?
        .filter(|v| !v.is_none())
        .map(|v| py_str(&v));
    let salt_size = p.get(2, "salt_size")?.filter(|v| !v.is_none());
    let rounds = p.get(3, "rounds")?.filter(|v| !v.is_none());
    let _ident = p.get(4, "ident")?;
    p.finish(5)?;
    let secret = text(state, value, "password_hash")?;
    let alg = match hashtype.as_str() {
        "sha512" | "sha512_crypt" => Alg::Sha512,
        "sha256" | "sha256_crypt" => Alg::Sha256,
        "md5" | "md5_crypt" => Alg::Md5,
        "blowfish" | "bcrypt" => {
            return Err(op_err(
                "password_hash: blowfish (bcrypt) hashes are not supported by drover; use sha512",
            ))
        }
        other => {
            return Err(op_err(format!(
                "{other} is not in the list of supported passlib algorithms: md5, blowfish, sha256, sha512"
            )))
        }
    };
    let salt_size = match salt_size {
        None => alg.salt_size(),
        Some(v) => usize::try_from(
            i64::try_from(v.clone()).map_err(|_| op_err("salt_size must be an integer"))?,
        )
        .map_err(|_| op_err("salt_size must be an integer"))?,
    };
    let rounds = match rounds {
        None => alg.default_rounds(),
        Some(v) => Some(
            i64::try_from(v)
                .ok()
                .and_then(|r| u32::try_from(r).ok())
                .ok_or_else(|| op_err("rounds must be an integer"))?,
        ),
    };
    let salt = match salt {
        Some(s) => {
            if !s.bytes().all(|b| ALPHABET.contains(&b)) {
                return Err(op_err("invalid characters in salt"));
            }
            s
        }
        None => random_salt(salt_size),
    };
    hash(alg, secret.as_bytes(), &salt, rounds)
        .map(Value::from)
        .ok_or_else(|| op_err("Could not hash the secret."))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alg {
    Sha512,
    Sha256,
    Md5,
}

impl Alg {
    /// The algorithm of a passlib name (`sha512_crypt`, `sha256_crypt`, `md5_crypt`).
    pub fn from_passlib(name: &str) -> Option<Alg> {
        match name {
            "sha512_crypt" => Some(Alg::Sha512),
            "sha256_crypt" => Some(Alg::Sha256),
            "md5_crypt" => Some(Alg::Md5),
            _ => None,
        }
    }

    pub(crate) fn salt_size(self) -> usize {
        match self {
            Alg::Md5 => 8,
            _ => 16,
        }
    }

    /// Ansible's implicit rounds (passlib's defaults, written into the hash).
    pub(crate) fn default_rounds(self) -> Option<u32> {
        match self {
            Alg::Sha512 => Some(656_000),
            Alg::Sha256 => Some(535_000),
            Alg::Md5 => None,
        }
    }
}

pub(crate) fn random_salt(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    use std::io::Read as _;
    let _ = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

/// The crypt(3) string for `key`; `None` for rounds passlib refuses (below 1000 for SHA).
pub fn hash(alg: Alg, key: &[u8], salt: &str, rounds: Option<u32>) -> Option<String> {
    match alg {
        Alg::Md5 => Some(md5_crypt(key, salt)),
        Alg::Sha512 => sha_crypt::<Sha512>(key, salt, rounds, "6", &SHA512_ORDER),
        Alg::Sha256 => sha_crypt::<Sha256>(key, salt, rounds, "5", &SHA256_ORDER),
    }
}

/// The bytes of the final digest, in the order crypt(3) encodes them (three at a time).
const SHA512_ORDER: [usize; 64] = [
    0, 21, 42, 22, 43, 1, 44, 2, 23, 3, 24, 45, 25, 46, 4, 47, 5, 26, 6, 27, 48, 28, 49, 7, 50, 8,
    29, 9, 30, 51, 31, 52, 10, 53, 11, 32, 12, 33, 54, 34, 55, 13, 56, 14, 35, 15, 36, 57, 37, 58,
    16, 59, 17, 38, 18, 39, 60, 40, 61, 19, 62, 20, 41, 63,
];
const SHA256_ORDER: [usize; 32] = [
    0, 10, 20, 21, 1, 11, 12, 22, 2, 3, 13, 23, 24, 4, 14, 15, 25, 5, 6, 16, 26, 27, 7, 17, 18, 28,
    8, 9, 19, 29, 31, 30,
];

/// Base-64 of crypt(3): little-endian groups of 24 bits, `n` characters.
fn b64_from_24bit(out: &mut String, b2: u8, b1: u8, b0: u8, n: usize) {
    let mut w = (u32::from(b2) << 16) | (u32::from(b1) << 8) | u32::from(b0);
    for _ in 0..n {
        out.push(ALPHABET[(w & 0x3f) as usize] as char);
        w >>= 6;
    }
}

fn encode(digest: &[u8], order: &[usize]) -> String {
    let mut out = String::new();
    let mut chunks = order.chunks_exact(3);
    for c in chunks.by_ref() {
        b64_from_24bit(&mut out, digest[c[0]], digest[c[1]], digest[c[2]], 4);
    }
    match chunks.remainder() {
        [a] => b64_from_24bit(&mut out, 0, 0, digest[*a], 2),
        [a, b] => b64_from_24bit(&mut out, 0, digest[*a], digest[*b], 3),
        _ => {}
    }
    out
}

/// SHA-crypt (Ulrich Drepper's specification).
fn sha_crypt<D: sha2::Digest + Clone>(
    key: &[u8],
    salt: &str,
    rounds: Option<u32>,
    id: &str,
    order: &[usize],
) -> Option<String> {
    let rounds_n = rounds.unwrap_or(5000);
    if !(1000..=999_999_999).contains(&rounds_n) {
        return None;
    }
    let salt = &salt.as_bytes()[..salt.len().min(16)];
    let n = <D as sha2::Digest>::output_size();
    let mut b = D::new();
    b.update(key);
    b.update(salt);
    b.update(key);
    let b = b.finalize();
    let mut a = D::new();
    a.update(key);
    a.update(salt);
    let mut i = key.len();
    while i > n {
        a.update(&b[..]);
        i -= n;
    }
    a.update(&b[..i]);
    let mut i = key.len();
    while i > 0 {
        if i & 1 == 1 {
            a.update(&b[..]);
        } else {
            a.update(key);
        }
        i >>= 1;
    }
    let a = a.finalize();
    let mut dp = D::new();
    for _ in 0..key.len() {
        dp.update(key);
    }
    let dp = dp.finalize();
    let p: Vec<u8> = dp.iter().cycle().take(key.len()).copied().collect();
    let mut ds = D::new();
    for _ in 0..16 + usize::from(a[0]) {
        ds.update(salt);
    }
    let ds = ds.finalize();
    let s: Vec<u8> = ds.iter().cycle().take(salt.len()).copied().collect();
    let mut c = a.to_vec();
    for r in 0..rounds_n {
        let mut h = D::new();
        if r & 1 == 1 {
            h.update(&p);
        } else {
            h.update(&c);
        }
        if r % 3 != 0 {
            h.update(&s);
        }
        if r % 7 != 0 {
            h.update(&p);
        }
        if r & 1 == 1 {
            h.update(&c);
        } else {
            h.update(&p);
        }
        c = h.finalize().to_vec();
    }
    let salt_s = String::from_utf8_lossy(salt);
    let head = match rounds {
        Some(r) if r != 5000 => format!("${id}$rounds={r}${salt_s}$"),
        _ => format!("${id}${salt_s}$"),
    };
    Some(head + &encode(&c, order))
}

/// MD5-crypt (`$1$`, Poul-Henning Kamp's).
fn md5_crypt(key: &[u8], salt: &str) -> String {
    let salt = &salt.as_bytes()[..salt.len().min(8)];
    let mut b = Md5::new();
    b.update(key);
    b.update(salt);
    b.update(key);
    let b = b.finalize();
    let mut a = Md5::new();
    a.update(key);
    a.update(b"$1$");
    a.update(salt);
    let mut i = key.len();
    while i > 0 {
        a.update(&b[..i.min(16)]);
        i = i.saturating_sub(16);
    }
    let mut i = key.len();
    while i > 0 {
        if i & 1 == 1 {
            a.update([0u8]);
        } else {
            a.update(&key[..1]);
        }
        i >>= 1;
    }
    let mut c = a.finalize().to_vec();
    for r in 0..1000 {
        let mut h = Md5::new();
        if r & 1 == 1 {
            h.update(key);
        } else {
            h.update(&c);
        }
        if r % 3 != 0 {
            h.update(salt);
        }
        if r % 7 != 0 {
            h.update(key);
        }
        if r & 1 == 1 {
            h.update(&c);
        } else {
            h.update(key);
        }
        c = h.finalize().to_vec();
    }
    let mut out = format!("$1${}$", String::from_utf8_lossy(salt));
    for (x, y, z) in [(0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5)] {
        b64_from_24bit(&mut out, c[x], c[y], c[z], 4);
    }
    b64_from_24bit(&mut out, 0, 0, c[11], 2);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_crypt_strings() {
        // As glibc's crypt(3) makes them.
        assert_eq!(
            hash(Alg::Sha512, b"Hello world!", "saltstring", None).unwrap(),
            "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"
        );
        assert_eq!(
            hash(Alg::Sha512, b"Hello world!", "saltstringsaltstring", Some(10000)).unwrap(),
            "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v."
        );
        assert_eq!(
            hash(Alg::Sha256, b"Hello world!", "saltstring", None).unwrap(),
            "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5"
        );
        assert_eq!(
            md5_crypt(b"password", "saltsalt"),
            "$1$saltsalt$qjXMvbEw8oaL.CzflDtaK/"
        );
        assert_eq!(
            hash(Alg::Sha256, b"Hello world!", "saltstring", Some(535_000)).unwrap(),
            "$5$rounds=535000$saltstring$NNdTw/gEYzSXNHQNMSkfDiG25qd5CZh6CpgBnW1qw88"
        );
        assert!(hash(Alg::Sha512, b"x", "s", Some(1)).is_none());
    }
}
