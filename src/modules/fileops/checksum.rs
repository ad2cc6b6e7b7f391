//! Checksums of contents, as Ansible computes them (`sha1` for `checksum`, `md5sum`).

/// Checksum algorithms `stat` and the writers know, by their `*sum` tool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alg {
    Md5,
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl Alg {
    pub fn parse(s: &str) -> Option<Alg> {
        Some(match s.to_ascii_lowercase().as_str() {
            "md5" => Alg::Md5,
            "sha1" => Alg::Sha1,
            "sha224" => Alg::Sha224,
            "sha256" => Alg::Sha256,
            "sha384" => Alg::Sha384,
            "sha512" => Alg::Sha512,
            _ => return None,
        })
    }

    pub fn tool(self) -> &'static str {
        match self {
            Alg::Md5 => "md5sum",
            Alg::Sha1 => "sha1sum",
            Alg::Sha224 => "sha224sum",
            Alg::Sha256 => "sha256sum",
            Alg::Sha384 => "sha384sum",
            Alg::Sha512 => "sha512sum",
        }
    }
}

/// SHA-1 of bytes as lowercase hex (Ansible's `checksum`).
pub fn sha1_hex(data: &[u8]) -> String {
    use sha1::{Digest, Sha1};
    hex(&Sha1::digest(data))
}

/// MD5 of bytes as lowercase hex (Ansible's `md5sum`).
pub fn md5_hex(data: &[u8]) -> String {
    use md5::{Digest, Md5};
    hex(&Md5::digest(data))
}

/// Bytes as lowercase hex (a digest's usual form).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
