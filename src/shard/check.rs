//! What one shard cannot do alone, found before anything runs. The keywords that mean the
//! whole fleet (`serial`, `max_fail_percentage`, `any_errors_fatal`, `run_once`) are refused,
//! and so is a literal `hostvars['web1']` (or `hostvars.web1`) naming a host of another shard,
//! whose facts and registered results this shard never has: each names its place and the
//! keyword. `--per-shard` says the shard's own hosts are meant and lets them run. A host name
//! computed at run time (`hostvars[item]`, `map('extract', hostvars)`) cannot be told before
//! the run: a warning says what a shard sees of other shards' hosts (inventory variables only).

use super::Shard;
use crate::inventory::Inventory;
use crate::playbook::{value_strings, Play, Playbook, Task};
use crate::yaml::Span;
use anyhow::{bail, Result};
use regex::Regex;
use std::collections::HashSet;
use std::sync::OnceLock;

/// A `hostvars` lookup in a template.
#[derive(Debug, PartialEq, Eq)]
enum Lookup {
    /// `hostvars['name']`, `hostvars["name"]`, `hostvars.name`.
    Literal(String),
    /// `hostvars[inventory_hostname]`: the host itself.
    Own,
    /// Any other use: the host is only known at run time.
    Computed,
}

/// The `hostvars` lookups of one template source.
fn lookups(src: &str) -> Vec<Lookup> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        Regex::new(
            r#"\bhostvars\b(?:\s*\[\s*(?:'([^'\\]*)'|"([^"\\]*)"|(inventory_hostname))\s*\]|\s*\.\s*([A-Za-z_][A-Za-z0-9_]*))?"#,
        )
        .expect("the hostvars pattern compiles")
    });
    re.captures_iter(src)
        .map(|c| match c.get(1).or(c.get(2)).or(c.get(4)) {
            Some(name) => Lookup::Literal(name.as_str().to_string()),
            None if c.get(3).is_some() => Lookup::Own,
            None => Lookup::Computed,
        })
        .collect()
}

/// Every template source a task reads: its arguments and keywords, its vars, its role's
/// defaults and vars, and a `template` task's literal source file.
fn task_texts(t: &Task, play_dir: &std::path::Path) -> Vec<String> {
    let mut out: Vec<String> = crate::playbook::task_sources(t)
        .into_iter()
        .map(str::to_string)
        .collect();
    let role_values = t
        .role
        .iter()
        .flat_map(|r| r.defaults.values().chain(r.vars.values()));
    for v in t.vars.values().chain(role_values) {
        value_strings(v, &mut out);
    }
    out.extend(crate::playbook::template_text(t, play_dir));
    out
}

/// The first keyword of a play or its tasks that needs the whole fleet, and where.
fn fleet_keyword(play: &Play) -> Option<(&Span, &'static str)> {
    let play_kw = [
        (!play.serial.is_empty(), "serial"),
        (play.max_fail_percentage.is_some(), "max_fail_percentage"),
        (play.any_errors_fatal, "any_errors_fatal"),
    ];
    let first = |kw: &[(bool, &'static str)]| kw.iter().find(|(set, _)| *set).map(|(_, k)| *k);
    first(&play_kw).map(|kw| (&play.span, kw)).or_else(|| {
        play.all_tasks().into_iter().find_map(|t| {
            let kw = [
                (t.run_once, "run_once"),
                (t.any_errors_fatal == Some(true), "any_errors_fatal"),
            ];
            first(&kw).map(|kw| (&t.span, kw))
        })
    })
}

/// With `--shard`: refuses what needs the whole fleet (unless `per_shard`) and returns the
/// warnings for what cannot be told before the run. `in_run`: the inventory hosts after
/// `--limit` (a host no shard runs is the same to every shard).
pub fn shard_check(
    books: &[Playbook],
    shard: Shard,
    in_run: &HashSet<String>,
    inventory: &Inventory,
    per_shard: bool,
) -> Result<Vec<String>> {
    let mut warnings = Vec::new();
    if per_shard {
        return Ok(warnings);
    }
    let hint =
        "hint: with --per-shard each shard applies it to its own hosts; or run without --shard";
    for pb in books {
        for play in &pb.plays {
            if let Some((span, kw)) = fleet_keyword(play) {
                bail!("{span}: `{kw}` means the whole fleet, which one shard does not see\n{hint}");
            }
            let mut texts: Vec<(&Span, String)> = Vec::new();
            let mut play_strings = Vec::new();
            for v in play.vars.values() {
                value_strings(v, &mut play_strings);
            }
            texts.extend(play_strings.into_iter().map(|s| (&play.span, s)));
            for t in play.all_tasks() {
                texts.extend(task_texts(t, &pb.dir).into_iter().map(|s| (&t.span, s)));
            }
            let mut warned = false;
            for (span, text) in &texts {
                for lookup in lookups(text) {
                    match lookup {
                        Lookup::Literal(host)
                            if inventory.hosts.contains_key(&host)
                                && in_run.contains(&host)
                                && !shard.owns(&host) =>
                        {
                            bail!(
                                "{span}: `hostvars['{host}']` reads a host of another shard: shard {shard} never has its facts or registered results\nhint: with --per-shard the shard runs anyway and sees only that host's inventory variables; or run without --shard"
                            );
                        }
                        Lookup::Computed if !warned => {
                            warned = true;
                            warnings.push(format!(
                                "{span}: `hostvars` of a host named at run time: under --shard, a host of another shard shows its inventory variables only, not its facts or registered results"
                            ));
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_and_computed_lookups() {
        use Lookup::*;
        let lit = |s: &str| Literal(s.to_string());
        assert_eq!(lookups("{{ hostvars['db1'].port }}"), [lit("db1")]);
        assert_eq!(lookups(r#"{{ hostvars[ "db-2" ]['x'] }}"#), [lit("db-2")]);
        assert_eq!(lookups("{{ hostvars.web1.ansible_host }}"), [lit("web1")]);
        assert_eq!(lookups("{{ hostvars[item].x }}"), [Computed]);
        assert_eq!(lookups("{{ hostvars[ inventory_hostname ].x }}"), [Own]);
        assert_eq!(
            lookups("{{ groups.web | map('extract', hostvars, 'x') }}"),
            [Computed]
        );
        assert_eq!(lookups("{{ myhostvars }} {{ x }}"), []);
    }
}
