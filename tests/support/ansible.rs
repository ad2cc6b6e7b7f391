//! Ansible itself, for the tests that use it as the reference: ansible-core (pinned) installed
//! from PyPI into a virtual environment at test time, once per machine (or once per CI run:
//! `.ci/run` points `DROVER_ANSIBLE_VENV` at a fresh directory of its own). Nothing of
//! Ansible's is part of this repository.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The ansible-core release the tests compare against (the newest 2.19, which this Python
/// runs).
pub const ANSIBLE_CORE: &str = "2.19.14";

/// The virtual environment's directory.
pub fn venv_dir() -> PathBuf {
    std::env::var_os("DROVER_ANSIBLE_VENV").map_or_else(
        || Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("ansible-core-{ANSIBLE_CORE}")),
        PathBuf::from,
    )
}

/// The virtual environment with ansible-core installed, made on first use (under a lock, so
/// parallel tests wait for one install); `Err` says why it cannot be had (no Python, no venv
/// module, PyPI unreachable).
pub fn venv() -> Result<PathBuf, String> {
    let dir = venv_dir();
    let done = dir.join(".drover-ok");
    if std::fs::read_to_string(&done).is_ok_and(|v| v.trim() == ANSIBLE_CORE) {
        return Ok(dir);
    }
    let parent = dir.parent().ok_or("the venv directory has no parent")?;
    std::fs::create_dir_all(parent).map_err(|e| format!("creating {}: {e}", parent.display()))?;
    let lock_path = parent.join(format!(
        ".{}.lock",
        dir.file_name().unwrap_or_default().to_string_lossy()
    ));
    let lock = std::fs::File::create(&lock_path)
        .map_err(|e| format!("creating {}: {e}", lock_path.display()))?;
    // SAFETY: flock on a descriptor we own; released when `lock` is closed.
    if unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) } != 0 {
        return Err(format!("locking {}", lock_path.display()));
    }
    if std::fs::read_to_string(&done).is_ok_and(|v| v.trim() == ANSIBLE_CORE) {
        return Ok(dir);
    }
    let _ = std::fs::remove_dir_all(&dir);
    let step = |cmd: &mut Command, what: &str| -> Result<(), String> {
        let out = cmd
            .output()
            .map_err(|e| format!("{what}: cannot run {cmd:?}: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{what} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    };
    step(
        Command::new("python3").args(["-m", "venv"]).arg(&dir),
        "python3 -m venv (Debian: apt-get install python3-venv)",
    )?;
    step(
        Command::new(dir.join("bin/pip")).args([
            "install",
            "-q",
            "--disable-pip-version-check",
            &format!("ansible-core=={ANSIBLE_CORE}"),
        ]),
        "pip install ansible-core from PyPI",
    )?;
    std::fs::write(&done, ANSIBLE_CORE).map_err(|e| format!("writing {}: {e}", done.display()))?;
    Ok(dir)
}

/// The path of one of ansible-core's programs (`ansible-playbook`, `ansible-vault`, ...), or
/// why there is none.
pub fn program(name: &str) -> Result<PathBuf, String> {
    Ok(venv()?.join("bin").join(name))
}

/// A `Command` for one of ansible-core's programs with a quiet, reproducible environment:
/// no colour, no inventory or vault password of this machine, no retry files.
pub fn command(name: &str) -> Result<Command, String> {
    let mut cmd = Command::new(program(name)?);
    cmd.env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_FORCE_COLOR", "0")
        .env("ANSIBLE_RETRY_FILES_ENABLED", "0")
        .env_remove("ANSIBLE_INVENTORY")
        .env_remove("ANSIBLE_VAULT_PASSWORD_FILE")
        .env_remove("ANSIBLE_VAULT_IDENTITY_LIST");
    Ok(cmd)
}
