//! `deb822_repository`: a repository as a deb822 `sources.list.d/SLUG.sources` file, written
//! as Ansible's module writes it (the fields in its order and names, lists joined, booleans
//! `yes`/`no`, a multi-line value indented), with its `signed_by` key: a file on the host, the
//! key itself, or a URL the host downloads (`curl` or `wget`) into `/etc/apt/keyrings`.

use super::contract::{Done, Failure, Observe, Observed, Outcome, Resolve, Script, Step, Typed};
use super::fileops::fail;
use super::fileops::{Payload, PutOpts};
use super::{Args, Plan, Spec};
use anyhow::Result;
use minijinja::value::ValueKind;
use minijinja::Value;

pub struct Deb822Repository;

/// The arguments: the deb822 fields, in the order Ansible's module writes them (sorted by
/// argument name), then `mode` and `state`.
static ARGS: [&str; 22] = [
    "allow_downgrade_to_insecure",
    "allow_insecure",
    "allow_weak",
    "architectures",
    "by_hash",
    "check_date",
    "check_valid_until",
    "components",
    "date_max_future",
    "enabled",
    "inrelease_path",
    "languages",
    "name",
    "pdiffs",
    "signed_by",
    "suites",
    "targets",
    "trusted",
    "types",
    "uris",
    "mode",
    "state",
];

/// The deb822 fields.
static FIELDS: &[&str] = ARGS.split_at(20).0;

static SPEC: Spec = Spec {
    args: &ARGS,
    aliases: &[],
    free_form: None,
    any_args: false,
    file_args: false,
};

pub struct DebArgs {
    slug: String,
    present: bool,
    mode: u32,
    /// The fields but `signed_by`: (field name, value), in order.
    fields: Vec<(String, String)>,
    signed_by: Option<String>,
    /// `signed_by` is a URL.
    key_url: bool,
}

#[derive(Debug)]
pub struct DebChange {
    sources: Option<String>,
    /// The downloaded key moved to this keyring file.
    key: Option<String>,
    removes: Vec<String>,
}

const KEYRINGS: &str = "/etc/apt/keyrings";

/// Ansible's `format_field_name`.
fn field_name(k: &str) -> String {
    match k {
        "name" => "X-Repolib-Name".into(),
        "uris" => "URIs".into(),
        _ => k
            .split('_')
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| {
                        f.to_uppercase()
                            .chain(c.flat_map(char::to_lowercase))
                            .collect()
                    })
                    .unwrap_or_default()
            })
            .collect::<Vec<String>>()
            .join("-"),
    }
}

/// Ansible's `format_multiline`: each line indented, an empty one as `.`.
fn multiline(v: &str) -> String {
    let lines: Vec<String> = v
        .trim()
        .lines()
        .map(|l| {
            let l = l.trim();
            format!("    {}", if l.is_empty() { "." } else { l })
        })
        .collect();
    format!("\n{}", lines.join("\n"))
}

/// One `Field: value` line (`Field:` and the lines of a multi-line value).
fn entry(name: &str, value: &str) -> String {
    if value.is_empty() || value.starts_with('\n') {
        format!("{name}:{value}\n")
    } else {
        format!("{name}: {value}\n")
    }
}

impl Typed for Deb822Repository {
    type Args = DebArgs;
    type Change = DebChange;

    fn name(&self) -> &'static str {
        "deb822_repository"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn leaves_accounts_alone(&self) -> bool {
        true
    }

    fn parse(&self, args: &Args, _host: &mut dyn Resolve) -> Result<DebArgs> {
        let name = args.req_str("name")?;
        let lower = name.to_lowercase();
        let dashed = regex::Regex::new(r"[_\s]+")
            .expect("a valid pattern")
            .replace_all(&lower, "-");
        let slug: String = dashed
            .chars()
            .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
            .collect();
        let present = args.choice("state", &["present", "absent"], "present")? == "present";
        let mode = match args.mode("mode")? {
            None => 0o644,
            Some(m) => crate::yaml::parse_mode_str(&m).ok_or_else(|| {
                fail(format!(
                    "deb822_repository's `mode` must be octal here, not `{m}`"
                ))
            })?,
        };
        let mut fields = Vec::new();
        let mut signed_by = None;
        for k in FIELDS {
            let v = match (*k, args.get(k)) {
                ("types", None) => Value::from(vec!["deb"]),
                (_, None) => continue,
                (_, Some(v)) if v.is_none() => continue,
                (_, Some(v)) => v.clone(),
            };
            if *k == "signed_by" {
                signed_by = Some(v.as_str().map_or_else(|| v.to_string(), str::to_string));
                fields.push((field_name(k), String::new()));
                continue;
            }
            let text = match v.kind() {
                ValueKind::Bool => if v.is_true() { "yes" } else { "no" }.to_string(),
                ValueKind::Seq => v
                    .try_iter()?
                    .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
                    .collect::<Vec<_>>()
                    .join(" "),
                _ => {
                    let s = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                    // A boolean field given as text (`yes`, `true`, ...) is written `yes`/`no`.
                    let boolean = [
                        "allow_downgrade_to_insecure",
                        "allow_insecure",
                        "allow_weak",
                        "by_hash",
                        "check_date",
                        "check_valid_until",
                        "enabled",
                        "pdiffs",
                        "trusted",
                    ];
                    if boolean.contains(k) {
                        if args.bool_or(k, false)? { "yes" } else { "no" }.to_string()
                    } else {
                        s
                    }
                }
            };
            if *k == "types" {
                for t in text.split_whitespace() {
                    if t != "deb" && t != "deb-src" {
                        return Err(fail(format!(
                            "value of types must be one or more of: deb, deb-src. Got no match for: {t}"
                        )));
                    }
                }
            }
            let text = if text.contains('\n') {
                multiline(&text)
            } else {
                text
            };
            fields.push((field_name(k), text));
        }
        let key_url = signed_by.as_deref().is_some_and(|s| {
            regex::Regex::new(r"^[A-Za-z][A-Za-z0-9+.-]*://")
                .expect("a valid pattern")
                .is_match(s)
        });
        Ok(DebArgs {
            slug,
            present,
            mode,
            fields,
            signed_by,
            key_url,
        })
    }

    fn observe(&self, a: &DebArgs) -> Observe {
        let mut s = Script::new()
            .set("s", &format!("/etc/apt/sources.list.d/{}.sources", a.slug))
            .set("k", &format!("{KEYRINGS}/{}", a.slug))
            .set("sb", a.signed_by.as_deref().unwrap_or(""))
            .raw("[ -f \"$s\" ] && { echo \"sum $(sha256sum <\"$s\" | cut -d' ' -f1)\"; echo \"mode $(stat -c %a \"$s\")\"; }\n")
            .raw("for e in asc gpg; do [ -f \"$k.$e\" ] && echo \"key $e $(sha256sum <\"$k.$e\" | cut -d' ' -f1) $(stat -c %a \"$k.$e\")\"; done\n")
            .raw("[ -n \"$sb\" ] && [ -f \"$sb\" ] && echo keyfile\n");
        if a.key_url && a.present {
            s = s
                .then(super::contract::host_fetch("\"$D/key\"", sb_url(a), false))
                .raw("if [ \"$dl\" = ok ] && [ -s \"$D/key\" ]; then echo \"got $(sha256sum <\"$D/key\" | cut -d' ' -f1)\"; grep -q 'BEGIN PGP PUBLIC KEY BLOCK' \"$D/key\" && echo armored\nelif [ \"$dl\" = ok ]; then echo 'keyerr the key downloaded is empty'; fi\n");
        }
        Observe {
            sections: vec![("look", s)],
            ..Observe::default()
        }
    }

    fn decide(&self, a: &DebArgs, seen: &Observed) -> Outcome<DebChange> {
        decide(a, seen).unwrap_or_else(Outcome::Fail)
    }

    fn apply(&self, a: &DebArgs, c: &DebChange) -> Vec<Step> {
        let mut steps = Vec::new();
        if let Some(k) = &c.key {
            steps.push(Step::Run {
                what: "installing the signing key",
                script: Script::new()
                    .set("k", k)
                    .set("dir", KEYRINGS)
                    .raw("[ -d \"$dir\" ] || mkdir -m 0755 -- \"$dir\"\nchmod 0755 \"$dir\"; chown root:root \"$dir\"\ncp -- \"$D/key\" \"$k.tmp\" && chmod 0644 \"$k.tmp\" && mv -f -- \"$k.tmp\" \"$k\"\n"),
            });
        }
        if let Some(text) = &c.sources {
            steps.push(Step::Put {
                path: format!("/etc/apt/sources.list.d/{}.sources", a.slug),
                payload: Payload::Bytes(text.clone().into_bytes()),
                opts: PutOpts {
                    mode: Some(a.mode),
                    ..PutOpts::default()
                },
            });
        }
        for p in &c.removes {
            steps.push(Step::Run {
                what: "removing the repository",
                script: Script::new().cmd("rm -f --", [p.as_str()]),
            });
        }
        steps
    }

    fn finish(&self, _a: &DebArgs, _c: &DebChange, _done: &Done, r: Plan) -> Plan {
        r
    }
}

/// The `signed_by` URL.
fn sb_url(a: &DebArgs) -> &str {
    a.signed_by.as_deref().unwrap_or_default()
}

fn decide(a: &DebArgs, seen: &Observed) -> Result<Outcome<DebChange>, Failure> {
    let look = seen.section("look");
    let field = |k: &str| -> Vec<&str> {
        look.lines()
            .filter_map(|l| l.strip_prefix(k).and_then(|r| r.strip_prefix(' ')))
            .collect()
    };
    let sources = format!("/etc/apt/sources.list.d/{}.sources", a.slug);
    let keys: Vec<(&str, &str, &str)> = field("key")
        .iter()
        .filter_map(|l| {
            let mut w = l.split(' ');
            Some((w.next()?, w.next()?, w.next()?))
        })
        .collect();
    if !a.present {
        let mut removes = Vec::new();
        if !field("sum").is_empty() {
            removes.push(sources.clone());
        }
        for (ext, _, _) in &keys {
            removes.push(format!("{KEYRINGS}/{}.{ext}", a.slug));
        }
        let report = Plan::unchanged()
            .with_value("repo", ())
            .with_value("dest", sources.as_str())
            .with_value("key_filename", format!("{KEYRINGS}/{}.gpg", a.slug));
        if removes.is_empty() {
            return Ok(Outcome::Unchanged(report));
        }
        return Ok(Outcome::change(
            DebChange {
                sources: None,
                key: None,
                removes,
            },
            report,
        ));
    }
    // The key: a file on the host, a URL's download, or the key itself.
    let mut key_file: Option<String> = None;
    let mut key_change = None;
    let mut signed = a.signed_by.clone().unwrap_or_default();
    if let Some(sb) = &a.signed_by {
        if look.lines().any(|l| l == "keyfile") {
            key_file = Some(sb.clone());
        } else if a.key_url {
            let notool = look.lines().any(|l| l == "notool");
            let err = field("keyerr")
                .first()
                .or(field("dlfail").first())
                .copied()
                .or(notool.then_some("the host has neither curl nor wget"));
            if let Some(e) = err {
                return Err(Failure::new(format!(
                    "Could not fetch signed_by key: {}",
                    e.trim()
                )));
            }
            let got = field("got").first().copied().unwrap_or_default();
            let ext = if look.lines().any(|l| l == "armored") {
                "asc"
            } else {
                "gpg"
            };
            let path = format!("{KEYRINGS}/{}.{ext}", a.slug);
            let same = keys
                .iter()
                .any(|(e, sum, mode)| *e == ext && *sum == got && *mode == "644");
            if !same {
                key_change = Some(path.clone());
            }
            signed = path.clone();
            key_file = Some(path);
        }
    }
    let signed = if signed.contains('\n') {
        multiline(&signed)
    } else {
        signed
    };
    let repo: String = a
        .fields
        .iter()
        .map(|(k, v)| {
            if k == "Signed-By" {
                entry(k, &signed)
            } else {
                entry(k, v)
            }
        })
        .collect();
    let have = field("sum").first().copied();
    let want = {
        use sha2::Digest;
        let d = sha2::Sha256::digest(repo.as_bytes());
        d.iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    let mode_ok = field("mode")
        .first()
        .is_some_and(|m| u32::from_str_radix(m, 8).ok() == Some(a.mode));
    let write = have != Some(want.as_str()) || !mode_ok;
    let report = Plan::unchanged()
        .with_value("repo", repo.as_str())
        .with_value("dest", sources.as_str())
        .with_value(
            "key_filename",
            key_file.map_or(Value::from(()), Value::from),
        );
    if !write && key_change.is_none() {
        return Ok(Outcome::Unchanged(report));
    }
    Ok(Outcome::change(
        DebChange {
            sources: write.then_some(repo),
            key: key_change,
            removes: Vec::new(),
        },
        report,
    ))
}
