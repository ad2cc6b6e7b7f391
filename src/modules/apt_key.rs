//! `apt_key`: an OpenPGP key in apt's keyring (or `keyring`) present or absent, through the
//! host's `apt-key` and `gpg`, as Ansible's module: the key's id from `id`, or read by
//! `gpg --with-colons` from `file`, `data` or a downloaded `url`; present when its
//! fingerprint (the id's last 16 digits, or 8 for a short id) is among `apt-key adv
//! --list-public-keys`' keys. One look lists the keys and reads the key; `data` and `url`
//! land in the session's temp dir (`$D/aptkey`), which the change adds from.

use super::contract::{
    Done, Failure, Observe, Observed, Outcome, Resolve, Script, Step, Typed, SBIN_PATH,
};
use super::fileops::fail;
use super::{Args, Plan, Spec};
use anyhow::Result;
use minijinja::Value;

pub struct AptKey;

static SPEC: Spec = Spec {
    args: &[
        "id",
        "url",
        "data",
        "file",
        "keyring",
        "validate_certs",
        "keyserver",
        "state",
    ],
    aliases: &[],
    free_form: None,
    any_args: false,
    file_args: false,
};

#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    /// Only an id: to remove, or to check (present with nothing to add from).
    None,
    File(String),
    Data(String),
    Url(String),
    Keyserver(String),
}

pub struct KeyArgs {
    id: Option<String>,
    source: Source,
    keyring: Option<String>,
    validate_certs: bool,
    present: bool,
}

/// How the change adds or removes the key.
#[derive(Debug)]
pub enum KeyChange {
    Add,
    Recv(String),
    Remove(String),
}

/// Ansible's `parse_key_id`: (short id, fingerprint, the id), upper case without `0x`.
pub fn parse_key_id(id: &str) -> Option<(String, String, String)> {
    let mut k = id.trim().to_uppercase();
    if let Some(rest) = k.strip_prefix("0X") {
        k = rest.to_string();
    }
    if k.is_empty() || !k.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let n = k.len();
    if n != 8 && n != 16 && n <= 16 {
        return None;
    }
    let short = k[n - 8..].to_string();
    let fp = if n > 16 {
        k[n - 16..].to_string()
    } else {
        k.clone()
    };
    Some((short, fp, k))
}

/// Ansible's `parse_output_for_keys`: the ids of `pub`/`sub` lines not expired (`ALGO/ID`
/// words, or the fifth field of `--with-colons` lines).
pub fn keys_in(output: &str, short: bool) -> Vec<String> {
    output
        .lines()
        .filter(|l| (l.starts_with("pub") || l.starts_with("sub")) && !l.contains("expired"))
        .filter_map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            match words.get(1).and_then(|w| w.split_once('/')) {
                Some((_, code)) if !code.contains('/') => Some(code.to_string()),
                _ => l.split(':').nth(4).map(str::to_string),
            }
        })
        .map(|k| {
            if short && k.len() > 8 {
                k[k.len() - 8..].to_string()
            } else {
                k
            }
        })
        .collect()
}

impl KeyArgs {
    fn keyring_words(&self) -> Vec<String> {
        match &self.keyring {
            Some(k) => vec!["--keyring".into(), k.clone()],
            None => Vec::new(),
        }
    }

    fn apt_key(&self, s: Script) -> Script {
        let mut s = s.raw("LC_ALL=C apt-key");
        for w in self.keyring_words() {
            s = s.arg(&w);
        }
        s
    }
}

impl Typed for AptKey {
    type Args = KeyArgs;
    type Change = KeyChange;

    fn name(&self) -> &'static str {
        "apt_key"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn leaves_accounts_alone(&self) -> bool {
        true
    }

    fn parse(&self, args: &Args, host: &mut dyn Resolve) -> Result<KeyArgs> {
        let given: Vec<&str> = ["data", "file", "keyserver", "url"]
            .into_iter()
            .filter(|k| args.has(k))
            .collect();
        if given.len() > 1 {
            return Err(fail(
                "parameters are mutually exclusive: data|file|keyserver|url",
            ));
        }
        let id = args.str("id").filter(|s| !s.is_empty());
        let source = match given.first().copied() {
            Some("file") => Source::File(host.expand_path(&args.req_str("file")?)?),
            Some("data") => Source::Data(args.req_str("data")?),
            Some("url") => Source::Url(args.req_str("url")?),
            Some(_) => Source::Keyserver(args.req_str("keyserver")?),
            None => Source::None,
        };
        if id.is_none() && matches!(source, Source::Keyserver(_)) {
            return Err(fail("Missing key_id, required with keyserver."));
        }
        let keyring = match args.str("keyring") {
            Some(k) => Some(host.expand_path(&k)?),
            None => None,
        };
        Ok(KeyArgs {
            id,
            source,
            keyring,
            validate_certs: args.bool_or("validate_certs", true)?,
            present: args.choice("state", &["absent", "present"], "present")? == "present",
        })
    }

    fn observe(&self, a: &KeyArgs) -> Observe {
        let mut s = Script::new().raw(SBIN_PATH).raw(concat!(
            "if ! command -v apt-key >/dev/null 2>&1; then echo \"noaptkey $PATH\"\n",
            "elif ! command -v gpg >/dev/null 2>&1; then echo \"nogpg $PATH\"\nelse\n",
        ));
        // The key's id, from where the key comes (when no `id` is given).
        let key_file = match (&a.id, &a.source) {
            (Some(_), _) => None,
            (None, Source::File(f)) => Some(Script::new().set("kf", f)),
            (None, Source::Data(d)) => Some(
                Script::new()
                    .set("kd", d)
                    .raw("kf=\"$D/aptkey\"; printf '%s' \"$kd\" >\"$kf\"\n"),
            ),
            (None, Source::Url(u)) => Some(
                super::contract::host_fetch("\"$D/aptkey\"", u, !a.validate_certs)
                    .raw("kf=\"$D/aptkey\"\n"),
            ),
            _ => None,
        };
        if let Some(k) = key_file {
            s = s.then(k).raw(concat!(
                "if [ \"${dl:-ok}\" = ok ]; then { LC_ALL=C gpg --with-colons \"$kf\" 2>\"$D/aptkey.e\"; echo \"gpgrc $?\"; } | grep -E '^(pub|sub|gpgrc )' | sed 's/^/key /'\n",
                "sed 's/^/gpgerr /' \"$D/aptkey.e\"; rm -f \"$D/aptkey.e\"; fi\n",
            ));
        }
        s = a.apt_key(s.raw("{ "));
        s = s.raw(" adv --list-public-keys --keyid-format=long 2>&1; echo \"rc $?\"; } | grep -E '^(pub|sub|rc )'\nfi\n");
        Observe {
            sections: vec![("look", s)],
            ..Observe::default()
        }
    }

    fn decide(&self, a: &KeyArgs, seen: &Observed) -> Outcome<KeyChange> {
        decide(a, seen).unwrap_or_else(Outcome::Fail)
    }

    fn apply(&self, a: &KeyArgs, c: &KeyChange) -> Vec<Step> {
        let mut s = Script::new().raw(SBIN_PATH);
        s = match c {
            KeyChange::Add => match &a.source {
                Source::File(f) => a.apt_key(s).raw(" add").arg(f),
                _ => a.apt_key(s).raw(" add \"$D/aptkey\""),
            },
            KeyChange::Recv(id) => {
                let Source::Keyserver(ks) = &a.source else {
                    return vec![Step::Fail(Failure::new(
                        "No key to add ... how did i get here?!?!",
                    ))];
                };
                // Ansible's module tries five times.
                let recv = a
                    .apt_key(Script::new())
                    .raw(" adv --no-tty --keyserver")
                    .arg(ks)
                    .raw(" --recv")
                    .arg(id);
                s.raw("ok=1; i=0; while [ $i -lt 5 ]; do if ")
                    .then(recv)
                    .raw("; then ok=0; break; fi; i=$((i + 1)); done; [ $ok = 0 ]")
            }
            KeyChange::Remove(short) => a.apt_key(s).raw(" del").arg(short),
        };
        let list = a
            .apt_key(Script::new().raw(SBIN_PATH))
            .raw(" adv --list-public-keys --keyid-format=long 2>&1 | grep -E '^(pub|sub)'; :");
        vec![
            Step::Exec {
                script: s,
                stdin: None,
            },
            Step::Exec {
                script: list,
                stdin: None,
            },
        ]
    }

    fn finish(&self, a: &KeyArgs, c: &KeyChange, done: &Done, mut r: Plan) -> Plan {
        let first = &done.outputs[0];
        if first.rc != 0 {
            let msg = match c {
                KeyChange::Add => match &a.source {
                    Source::File(f) => format!("Unable to add a key from file {f}"),
                    _ => "Unable to add a key from binary data".to_string(),
                },
                KeyChange::Recv(id) => {
                    let ks = match &a.source {
                        Source::Keyserver(k) => k.as_str(),
                        _ => "",
                    };
                    if first.stdout_str().contains("not found on keyserver") {
                        format!("Key {id} not found on keyserver {ks}")
                    } else {
                        format!("Error fetching key {id} from keyserver: {ks}")
                    }
                }
                KeyChange::Remove(short) => format!("Unable to remove a key with id {short}"),
            };
            r.mark_failed(false);
            r.msg = Some(msg);
            return r
                .with_value("rc", first.rc)
                .with_value("stdout", first.stdout_str().to_string())
                .with_value("stderr", first.stderr_str().to_string());
        }
        let Some(list) = done.outputs.get(1) else {
            return r;
        };
        let short = r
            .values
            .get("key_id")
            .and_then(|v| v.as_str().map(|s| s.len() == 8))
            .unwrap_or(false);
        let after = keys_in(&list.stdout_str(), short);
        let fp = r
            .values
            .get(if short { "short_id" } else { "fp" })
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let there = after.contains(&fp);
        r = r.with_value("after", after);
        if there != a.present {
            r.mark_failed(false);
            r.msg = Some(format!(
                "apt-key did not return an error, but {} (check that the id is correct and *not* a subkey)",
                if a.present { "failed to add the key" } else { "the key was not removed" }
            ));
        }
        r
    }
}

fn decide(a: &KeyArgs, seen: &Observed) -> Result<Outcome<KeyChange>, Failure> {
    let text = seen.section("look");
    let line = |p: &str| text.lines().find_map(|l| l.strip_prefix(p));
    if let Some(path) = line("noaptkey ") {
        return Err(Failure::new(format!(
            "Failed to find required executable \"apt-key\" in paths: {path}. Apt-key has been deprecated. See the deb822_repository as an alternative."
        )));
    }
    if let Some(path) = line("nogpg ") {
        return Err(Failure::new(format!(
            "Failed to find required executable \"gpg\" in paths: {path}"
        )));
    }
    if line("notool").is_some() {
        return Err(Failure::new(
            "Error getting key id from url: the host has neither curl nor wget",
        ));
    }
    if let Some(m) = line("dlfail ") {
        let url = match &a.source {
            Source::Url(u) => u.as_str(),
            _ => "",
        };
        return Err(Failure::new(format!(
            "Failed to download key at {url}: {}",
            m.trim_start_matches("HTTP Error ")
        )));
    }
    let mut r = Plan::unchanged();
    let id = match &a.id {
        Some(i) => Some(i.clone()),
        None => {
            if line("key gpgrc ").is_some_and(|rc| rc != "0") {
                let errs: Vec<&str> = text
                    .lines()
                    .filter_map(|l| l.strip_prefix("gpgerr "))
                    .collect();
                let what = match &a.source {
                    Source::File(f) => f.clone(),
                    _ => "inline data".into(),
                };
                return Err(Failure::new(format!("Unable to extract key from '{what}'"))
                    .with("stdout", "")
                    .with("stderr", errs.join("\n")));
            }
            let keys: String = text
                .lines()
                .filter_map(|l| l.strip_prefix("key "))
                .collect::<Vec<_>>()
                .join("\n");
            keys_in(&keys, false).into_iter().next()
        }
    };
    r = r.with_value("id", id.clone().map_or(Value::from(()), Value::from));
    let Some((short, fp, key_id)) = id.as_deref().and_then(parse_key_id) else {
        return Err(Failure::with_values(
            "Invalid key_id",
            vec![("id".into(), id.map_or(Value::from(()), Value::from))],
        ));
    };
    r = r
        .with_value("short_id", short.as_str())
        .with_value("fp", fp.as_str())
        .with_value("key_id", key_id.as_str());
    if line("rc ").is_some_and(|rc| rc != "0") {
        return Err(Failure::new("Unable to list public keys"));
    }
    let short_format = key_id.len() == 8;
    let listed: String = text
        .lines()
        .filter(|l| l.starts_with("pub") || l.starts_with("sub"))
        .collect::<Vec<_>>()
        .join("\n");
    let keys = keys_in(&listed, short_format);
    let want = if short_format { &short } else { &fp };
    let present = keys.contains(want);
    r = r.with_value("before", keys.clone());
    if a.present && !present {
        let c = match &a.source {
            Source::Keyserver(_) => KeyChange::Recv(key_id),
            Source::None => {
                return Err(Failure::new("No key to add ... how did i get here?!?!"));
            }
            _ => KeyChange::Add,
        };
        return Ok(Outcome::change(c, r));
    }
    if !a.present && keys.contains(&fp) {
        return Ok(Outcome::change(KeyChange::Remove(short), r));
    }
    Ok(Outcome::Unchanged(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_as_ansible_reads_them() {
        assert_eq!(
            parse_key_id("0x36a1d7869245c8950f966e92d8576a8ba88d21e9"),
            Some((
                "A88D21E9".into(),
                "D8576A8BA88D21E9".into(),
                "36A1D7869245C8950F966E92D8576A8BA88D21E9".into()
            ))
        );
        assert_eq!(
            parse_key_id("A88D21E9"),
            Some(("A88D21E9".into(), "A88D21E9".into(), "A88D21E9".into()))
        );
        assert_eq!(parse_key_id("A88D21E"), None);
        assert_eq!(parse_key_id("not hex!"), None);
        let list = "pub   rsa4096/D8576A8BA88D21E9 2017-01-01 [SC]\nsub   rsa4096/1111222233334444 2017-01-01 [E] [expired: 2019-01-01]\npub:-:255:22:A30234ACDECD1576:1765000000:::-:::scESC::::::23::0:\n";
        assert_eq!(
            keys_in(list, false),
            ["D8576A8BA88D21E9", "A30234ACDECD1576"]
        );
        assert_eq!(keys_in(list, true), ["A88D21E9", "DECD1576"]);
    }
}
