//! Controller files sent to a host with memory that stays flat whatever their size: a source
//! file larger than [`STREAM_OVER`] is hashed while read in small pieces (never held whole),
//! and sent in 512 KiB chunks into the session's temp dir (`$D/upload`) just before the write that
//! uses it, its checksum taken again on the way and compared with the planned one.

use super::fileops::{fail, hex, read_source, Payload};
use super::ModuleCtx;
use anyhow::Result;
use std::io::Read;
use std::path::Path;

/// Source files up to this size are read whole (they may be diffed and decrypted); larger ones
/// are streamed.
pub const STREAM_OVER: u64 = 1 << 20;

/// The bytes sent per round trip while streaming (with its base64 request, about 1.2 MB of
/// memory per transfer in flight).
const CHUNK: usize = 512 << 10;

/// Where a streamed file waits on the host, in the session's temp dir (removed with it).
pub const UPLOADED: &str = "\"$D/upload\"";

/// The payload of a controller source file (`copy`'s `src`): its bytes when small or
/// vault-encrypted, else a reference to it with its checksums, computed while streaming. A
/// source that is not a regular file (a device, a pipe) is refused: it could be read forever.
/// Returns the payload and whether its content came out of a vault.
pub fn local_source(path: &Path, decrypt: bool) -> Result<(Payload, bool)> {
    let meta = std::fs::metadata(path)
        .map_err(|e| fail(format!("could not read src={}: {e}", path.display())))?;
    if !meta.is_file() {
        return Err(fail(format!(
            "src={} is not a regular file (a device or a pipe could be read without end)",
            path.display()
        )));
    }
    if meta.len() <= STREAM_OVER || (decrypt && vault_encrypted(path)) {
        let (data, secret) = read_source(path, decrypt)?;
        return Ok((Payload::Bytes(data), secret));
    }
    let (checksum, md5, size) = hash_file(path)?;
    Ok((
        Payload::LocalFile {
            path: path.to_path_buf(),
            checksum,
            md5,
            size,
        },
        false,
    ))
}

/// The largest template source read (a template is rendered in memory).
pub const MAX_TEMPLATE: u64 = 16 << 20;

/// A template source must be a regular file of at most [`MAX_TEMPLATE`] bytes: a device or a
/// pipe could be read forever, and a huge file is no template.
pub fn check_template_source(path: &Path) -> Result<()> {
    let meta = std::fs::metadata(path)
        .map_err(|e| fail(format!("could not read src={}: {e}", path.display())))?;
    if !meta.is_file() {
        return Err(fail(format!(
            "template src={} is not a regular file (a device or a pipe could be read without end)",
            path.display()
        )));
    }
    if meta.len() > MAX_TEMPLATE {
        return Err(fail(format!(
            "template src={} has {} bytes; templates are rendered in memory, up to {} MiB\nhint: send a large file with `copy`",
            path.display(),
            meta.len(),
            MAX_TEMPLATE >> 20
        )));
    }
    Ok(())
}

/// Whether a file starts with a vault header.
fn vault_encrypted(path: &Path) -> bool {
    let mut head = [0u8; 64];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    crate::vault::is_encrypted(&head[..n])
}

/// SHA-1 and MD5 (hex) and the size of a file, read in pieces.
pub fn hash_file(path: &Path) -> Result<(String, String, u64)> {
    use md5::Md5;
    use sha1::{Digest, Sha1};
    let mut f = std::fs::File::open(path)
        .map_err(|e| fail(format!("could not read src={}: {e}", path.display())))?;
    let (mut sha, mut md5, mut size) = (Sha1::new(), Md5::new(), 0u64);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| fail(format!("could not read src={}: {e}", path.display())))?;
        if n == 0 {
            break;
        }
        sha.update(&buf[..n]);
        md5.update(&buf[..n]);
        size += n as u64;
    }
    Ok((hex(&sha.finalize()), hex(&md5.finalize()), size))
}

/// Sends a controller file into [`UPLOADED`] on the host, a chunk per round trip, checking
/// on the way that it still has the checksum it was planned with.
pub fn upload(ctx: &mut ModuleCtx, path: &Path, checksum: &str) -> Result<()> {
    use sha1::{Digest, Sha1};
    let failed = |what: &str, out: &crate::connection::Output| {
        fail(format!(
            "sending {} to the host failed ({what}): {}",
            path.display(),
            out.stderr_str().trim()
        ))
    };
    let mut f = std::fs::File::open(path)
        .map_err(|e| fail(format!("could not read src={}: {e}", path.display())))?;
    let mut buf = vec![0u8; CHUNK];
    let mut sha = Sha1::new();
    // The first chunk creates (or empties) the file, the others append to it.
    let mut redirect = ">";
    loop {
        let n = read_full(&mut f, &mut buf)
            .map_err(|e| fail(format!("could not read src={}: {e}", path.display())))?;
        if n == 0 {
            break;
        }
        sha.update(&buf[..n]);
        let out = ctx.run_with_stdin(&format!("cat {redirect}{UPLOADED}"), Some(&buf[..n]))?;
        if out.rc != 0 {
            return Err(failed("writing", &out));
        }
        redirect = ">>";
    }
    if hex(&sha.finalize()) != checksum {
        return Err(fail(format!(
            "src={} changed while it was sent; nothing was written",
            path.display()
        )));
    }
    Ok(())
}

/// Fills `buf` from `r` as far as the data goes; the count read (0 at the end).
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}
