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
    let parent = dir.parent().ok_or("the venv directory has no parent")?;
    std::fs::create_dir_all(parent).map_err(|e| format!("creating {}: {e}", parent.display()))?;
    let lock = parent.join(format!(
        ".{}.lock",
        dir.file_name().unwrap_or_default().to_string_lossy()
    ));
    once(&lock, &dir.join(".drover-ok"), ANSIBLE_CORE, || {
        let _ = std::fs::remove_dir_all(&dir);
        step(
            Command::new("python3").args(["-m", "venv"]).arg(&dir),
            "python3 -m venv (Debian: apt-get install python3-venv)",
        )?;
        pip_install(&dir, &[&format!("ansible-core=={ANSIBLE_CORE}")])
    })?;
    Ok(dir)
}

/// The validators of the `deploy/` examples, pinned: check-jsonschema (its vendored GitHub
/// Actions and GitLab CI schemas) and kubernetes-validate (Kubernetes' OpenAPI schemas of
/// every release), installed into the same virtual environment on first use.
pub const VALIDATORS: [&str; 2] = ["check-jsonschema==0.39.0", "kubernetes-validate==1.37.0"];

/// The `bin` directory holding the validators, or why there is none.
pub fn validators() -> Result<PathBuf, String> {
    let dir = venv()?;
    let want = VALIDATORS.join(" ");
    once(
        &dir.join(".drover-validators.lock"),
        &dir.join(".drover-validators"),
        &want,
        || pip_install(&dir, &VALIDATORS),
    )?;
    Ok(dir.join("bin"))
}

/// Runs `install` unless `marker` already says `version`, under a lock on `lock_path` (so
/// parallel tests wait for one install); then writes the marker.
fn once(
    lock_path: &Path,
    marker: &Path,
    version: &str,
    install: impl FnOnce() -> Result<(), String>,
) -> Result<(), String> {
    let done = || std::fs::read_to_string(marker).is_ok_and(|v| v.trim() == version);
    if done() {
        return Ok(());
    }
    let lock = std::fs::File::create(lock_path)
        .map_err(|e| format!("creating {}: {e}", lock_path.display()))?;
    // SAFETY: flock on a descriptor we own; released when `lock` is closed.
    if unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) } != 0 {
        return Err(format!("locking {}", lock_path.display()));
    }
    if done() {
        return Ok(());
    }
    install()?;
    std::fs::write(marker, version).map_err(|e| format!("writing {}: {e}", marker.display()))
}

fn pip_install(venv: &Path, packages: &[&str]) -> Result<(), String> {
    step(
        Command::new(venv.join("bin/pip"))
            .args(["install", "-q", "--disable-pip-version-check"])
            .args(packages),
        &format!("pip install {} from PyPI", packages.join(" ")),
    )
}

fn step(cmd: &mut Command, what: &str) -> Result<(), String> {
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
}

/// The `site-packages` of ansible-core's virtual environment: on `PYTHONPATH` for the
/// Python scripts of `runme.sh` targets, which import Ansible's own package as they do under
/// ansible-test (`pause`'s `test-pause.py`).
pub fn site_packages() -> Result<PathBuf, String> {
    let lib = venv()?.join("lib");
    std::fs::read_dir(&lib)
        .map_err(|e| format!("reading {}: {e}", lib.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("site-packages"))
        .find(|p| p.is_dir())
        .ok_or_else(|| format!("no site-packages under {}", lib.display()))
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

/// The `ansible` package whose collections the tests use (ansible.posix: its integration
/// tests, and its `json` callback for the differential tests), and its pinned SHA-256.
pub const ANSIBLE_PKG: &str = "12.3.0";
const ANSIBLE_PKG_SHA256: &str = "02721f6fb432ddd47f1044ac49b04b5e9ae08890bd427def8df3db1607aeec51";

/// The `ansible_collections` directory holding ansible.posix and the community.general
/// integration targets drover runs (from the `ansible` package on PyPI, unpacked once): a
/// collections path for `ANSIBLE_COLLECTIONS_PATH`'s parent.
pub fn collections() -> Result<PathBuf, String> {
    let pkg = sdist(
        "ansible",
        ANSIBLE_PKG,
        ANSIBLE_PKG_SHA256,
        &[
            "ansible_collections/ansible/posix/*",
            "ansible_collections/community/general/tests/integration/targets/ini_file/*",
            "ansible_collections/community/general/tests/integration/targets/pam_limits/*",
            "ansible_collections/community/general/tests/integration/targets/pamd/*",
            "ansible_collections/community/general/tests/integration/targets/timezone/*",
            "ansible_collections/community/general/tests/integration/targets/ufw/*",
            "ansible_collections/community/general/tests/integration/targets/setup_pkg_mgr/*",
            "ansible_collections/community/general/tests/integration/targets/setup_epel/*",
            "ansible_collections/community/general/tests/integration/targets/setup_remote_tmp_dir/*",
        ],
    )?;
    Ok(pkg.join("ansible_collections"))
}

/// A source distribution from PyPI, checked against its pinned SHA-256 and unpacked (only the
/// members matching `members`, tar wildcards) into a cache directory beside the virtual
/// environment, once; returns the directory it unpacked into (`<name>-<version>`).
pub fn sdist(
    package: &str,
    version: &str,
    sha256: &str,
    members: &[&str],
) -> Result<PathBuf, String> {
    let venv = venv()?;
    let cache = venv_dir()
        .parent()
        .ok_or("the venv directory has no parent")?
        .join("ansible-sources");
    let dir_name = format!("{}-{version}", package.replace('-', "_"));
    let unpacked = cache.join(&dir_name);
    // Unpacked again when other members are asked for.
    let members_tag = {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        members.hash(&mut h);
        h.finish()
    };
    let done = cache.join(format!(".{dir_name}-{members_tag:016x}.ok"));
    if done.exists() {
        return Ok(unpacked);
    }
    std::fs::create_dir_all(&cache).map_err(|e| format!("creating {}: {e}", cache.display()))?;
    let lock = std::fs::File::create(cache.join(format!(".{dir_name}.lock")))
        .map_err(|e| format!("creating the lock: {e}"))?;
    // SAFETY: flock on a descriptor we own; released when `lock` is closed.
    if unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) } != 0 {
        return Err("locking the source cache".into());
    }
    if done.exists() {
        return Ok(unpacked);
    }
    let dl = cache.join("download");
    let _ = std::fs::remove_dir_all(&dl);
    let out = Command::new(venv.join("bin/pip"))
        .args([
            "download",
            "-q",
            "--disable-pip-version-check",
            "--no-deps",
            "--no-binary",
            ":all:",
            "-d",
        ])
        .arg(&dl)
        .arg(format!("{package}=={version}"))
        .output()
        .map_err(|e| format!("running pip download: {e}"))?;
    let archive = std::fs::read_dir(&dl)
        .ok()
        .and_then(|mut rd| rd.find_map(|e| e.ok().map(|e| e.path())))
        .ok_or_else(|| {
            format!(
                "pip download {package}=={version} from PyPI failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
    let sum = Command::new("sha256sum")
        .arg(&archive)
        .output()
        .map_err(|e| format!("sha256sum: {e}"))?;
    let got = String::from_utf8_lossy(&sum.stdout);
    if got.split_whitespace().next() != Some(sha256) {
        return Err(format!(
            "{} has SHA-256 {}, not the pinned {sha256}",
            archive.display(),
            got.split_whitespace().next().unwrap_or("?")
        ));
    }
    // Unpacked over what an earlier call unpacked (each call's members stay).
    let mut tar = Command::new("tar");
    tar.arg("-xzf")
        .arg(&archive)
        .arg("-C")
        .arg(&cache)
        .arg("--wildcards");
    for m in members {
        tar.arg(format!("{dir_name}/{m}"));
    }
    let st = tar.output().map_err(|e| format!("tar: {e}"))?;
    if !st.status.success() {
        return Err(format!(
            "unpacking {}: {}",
            archive.display(),
            String::from_utf8_lossy(&st.stderr)
        ));
    }
    let _ = std::fs::remove_dir_all(&dl);
    std::fs::write(&done, "").map_err(|e| format!("writing {}: {e}", done.display()))?;
    Ok(unpacked)
}
