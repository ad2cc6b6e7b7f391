//! The table runner: every file `tests/modules/<module>.yaml` lists cases of arguments and a
//! host state (files, users, groups, command outputs) with the outcome `decide` must reach and
//! the steps `apply` must produce. Each change is then applied to the state in memory and
//! decided again: the second decision must be `unchanged` (idempotence). Check mode stops
//! after `decide`, so the same table is also its prediction. No host is needed; the host
//! tests prove the steps do on a real system what the tables say.

use super::super::{Args, Plan};
use super::fixture::Host;
use super::{Outcome, Step, Typed};
use serde_json::Value as J;

/// Compares what a report says with the `expect` keys that concern it.
fn check_report(case: &str, r: &Plan, expect: &J) {
    // The result's verdict, where a module reports one of its own (`Failed { changed: true }`).
    if let Some(v) = expect.get("verdict").and_then(J::as_str) {
        assert_eq!(format!("{:?}", r.verdict), v, "{case}: verdict");
    }
    if let Some(m) = expect.get("msg") {
        assert_eq!(
            r.msg.as_deref().unwrap_or(""),
            m.as_str().unwrap(),
            "{case}: msg"
        );
    }
    // A key with dots looks inside a value (`stat.exists`, `files.0.path`).
    for (k, v) in expect
        .get("values")
        .and_then(J::as_object)
        .into_iter()
        .flatten()
    {
        let mut parts = k.split('.');
        let first = parts.next().unwrap_or_default();
        let mut got = serde_json::to_value(r.values.get(first)).unwrap();
        for p in parts {
            got = match p.parse::<usize>() {
                Ok(i) if got.is_array() => got.get(i),
                _ => got.get(p),
            }
            .cloned()
            .unwrap_or(J::Null);
        }
        assert_eq!(&got, v, "{case}: value {k}");
    }
    if let Some(d) = expect.get("diff").and_then(J::as_array) {
        let got: Vec<J> = r
            .diffs
            .iter()
            .map(|d| J::from(vec![d.before.clone(), d.after.clone()]))
            .collect();
        assert_eq!(&got, d, "{case}: diffs as [before, after]");
    }
    if let Some(p) = expect.get("prepared").and_then(J::as_str) {
        let got = r.diffs.iter().find_map(|d| d.prepared.as_deref());
        assert_eq!(got, Some(p), "{case}: the prepared diff");
    }
}

/// What the driver would gather on `host`: the first look and the further ones.
fn look<T: Typed>(m: &T, typed: &T::Args, host: &Host) -> super::Observed {
    super::driver::look_all(m, typed, &m.observe(typed), |o| Ok(host.observe(o)))
        .expect("a fixture's look cannot fail")
}

/// Runs one case of module `m`.
fn run_case<T: Typed>(m: &T, case: &J, args_v: &minijinja::Value) {
    let name = case["name"].as_str().expect("every case has a name");
    let args = Args::from_value(m.name(), m.spec(), args_v).expect("arguments the spec accepts");
    let mut host = Host::from_json(&case["host"]);
    let expect = &case["expect"];
    let want = expect["outcome"].as_str().expect("expect.outcome");
    let typed = match m.parse(&args, &mut host) {
        Ok(a) => a,
        Err(e) => {
            assert_eq!(want, "fail", "{name}: parse failed: {e:#}");
            if let Some(m) = expect.get("msg").and_then(J::as_str) {
                assert_eq!(format!("{e:#}"), m, "{name}");
            }
            return;
        }
    };
    let outcome = m.decide(&typed, &look(m, &typed, &host));
    match outcome {
        Outcome::Unchanged(r) => {
            assert_eq!(want, "unchanged", "{name}: {:?}", r.msg);
            check_report(name, &r, expect);
        }
        Outcome::Fail(f) => {
            assert_eq!(want, "fail", "{name}: failed with {}", f.msg);
            if let Some(m) = expect.get("msg").and_then(J::as_str) {
                assert_eq!(f.msg, m, "{name}");
            }
            let mut values = expect.clone();
            values.as_object_mut().map(|o| o.remove("msg"));
            check_report(name, &f.into_plan(), &values);
        }
        Outcome::Change {
            change,
            report,
            pending,
        } => {
            assert_eq!(want, "change", "{name}: changed ({:?})", report.msg);
            check_report(name, &report, expect);
            let pend = pending.map(|f| f.msg);
            assert_eq!(
                pend.as_deref(),
                expect.get("pending").and_then(J::as_str),
                "{name}: pending"
            );
            if pend.is_some() {
                // A real run fails before any step: only the prediction counts.
                return;
            }
            let steps = m.apply(&typed, &change);
            let shown: Vec<String> = steps.iter().map(Step::describe).collect();
            let want_steps: Vec<String> = expect["steps"]
                .as_array()
                .unwrap_or_else(|| panic!("{name}: a change lists its steps"))
                .iter()
                .map(|s| s.as_str().unwrap().to_string())
                .collect();
            assert_eq!(shown, want_steps, "{name}: steps");
            let mut after = match case.get("after") {
                Some(a) => Host::from_json(a),
                None => host.clone(),
            };
            let simulated = case.get("after").is_some() || after.apply(&steps);
            assert!(
                simulated,
                "{name}: a change with scripts needs `after:`, the state they leave"
            );
            let again = m.decide(&typed, &look(m, &typed, &after));
            // A command without `creates` runs every time (`again: change`).
            match expect.get("again").and_then(J::as_str) {
                Some("change") => assert!(
                    matches!(again, Outcome::Change { .. }),
                    "{name}: the second run changes again"
                ),
                _ => {
                    if let Outcome::Change { report, .. } = &again {
                        let diffs: Vec<_> =
                            report.diffs.iter().map(|d| (&d.before, &d.after)).collect();
                        panic!("{name}: the second run must change nothing; it would: {diffs:?}");
                    }
                    if let Outcome::Fail(f) = &again {
                        panic!(
                            "{name}: the second run must change nothing; it fails: {}",
                            f.msg
                        );
                    }
                }
            }
        }
    }
}

/// Runs one case of a controller action: the result from the arguments and the case's
/// variables (`host: {vars: ...}`); `outcome` is `ok`, `skipped` or `fail`.
fn run_action<A: super::Action>(a: &A, case: &J, args_v: &minijinja::Value) {
    let name = case["name"].as_str().expect("every case has a name");
    let args = Args::from_value(a.name(), a.spec(), args_v).expect("arguments the spec accepts");
    let host = Host::from_json(&case["host"]);
    let expect = &case["expect"];
    let want = expect["outcome"].as_str().expect("expect.outcome");
    let r = match a.act(&args, &host) {
        Ok(r) => r,
        Err(e) => super::Failure::from_error(e).into_plan(),
    };
    let got = if r.failed() {
        "fail"
    } else if matches!(r.verdict, crate::modules::Verdict::Skipped(_)) {
        "skipped"
    } else {
        "ok"
    };
    assert_eq!(got, want, "{name}: {:?}", r.msg);
    assert!(!r.changed(), "{name}: an action changes nothing");
    check_report(name, &r, expect);
    if let Some(f) = expect.get("facts") {
        let facts = crate::vars::map_value(r.facts.clone().unwrap_or_default());
        let facts = serde_json::to_value(&facts).unwrap();
        assert_eq!(&facts, f, "{name}: facts");
    }
}

/// Runs every case of one table file; the number of cases run.
fn run_file(path: &std::path::Path) -> usize {
    let text = std::fs::read_to_string(path).unwrap();
    let v = crate::yaml::value_from_yaml_str(&text).unwrap();
    let j = serde_json::to_value(&v).unwrap();
    let cases = j["cases"].as_array().expect("a list of cases");
    // The arguments as the YAML loader gives them: strings the user wrote are trusted, as in
    // a playbook (`assert`'s conditions).
    let yaml_cases = v.get_attr("cases").unwrap();
    for (n, case) in cases.iter().enumerate() {
        let args = yaml_cases
            .get_item(&minijinja::Value::from(n))
            .and_then(|c| c.get_attr("args"))
            .unwrap();
        let args = &args;
        let module = case.get("module").unwrap_or(&j["module"]);
        match module.as_str().unwrap() {
            "lineinfile" => run_case(&super::super::lineinfile::LineInFile, case, args),
            "replace" => run_case(&super::super::replace::Replace, case, args),
            "blockinfile" => run_case(&super::super::blockinfile::BlockInFile, case, args),
            "slurp" => run_case(&super::super::slurp::Slurp, case, args),
            "find" => run_case(&super::super::find::Find, case, args),
            "wait_for" => run_case(&super::super::wait_for::WaitFor, case, args),
            "get_url" => run_case(&super::super::get_url::GetUrl, case, args),
            "unarchive" => run_case(&super::super::unarchive::Unarchive, case, args),
            "uri" => run_case(&super::super::uri::Uri, case, args),
            "fetch" => run_case(&super::super::fetch::Fetch, case, args),
            "assemble" => run_case(&super::super::assemble::Assemble, case, args),
            "ini_file" => run_case(&super::super::ini_file::IniFile, case, args),
            "known_hosts" => run_case(&super::super::known_hosts::KnownHosts, case, args),
            "cron" => run_case(&super::super::cron::Cron, case, args),
            "hostname" => run_case(&super::super::hostname::Hostname, case, args),
            "sysctl" => run_case(&super::super::sysctl::Sysctl, case, args),
            "iptables" => run_case(&super::super::iptables::Iptables, case, args),
            "ufw" => run_case(&super::super::ufw::Ufw, case, args),
            "pip" => run_case(&super::super::pip::Pip, case, args),
            "apt_key" => run_case(&super::super::apt_key::AptKey, case, args),
            "modprobe" => run_case(&super::super::modprobe::Modprobe, case, args),
            "async_status" => run_case(&super::super::async_status::AsyncStatus, case, args),
            "group" => run_case(&super::super::group::Group, case, args),
            "command" => run_case(&super::super::command::COMMAND.0, case, args),
            "shell" => run_case(&super::super::command::SHELL.0, case, args),
            "authorized_key" => run_case(&super::super::authorized_key::AuthorizedKey, case, args),
            "file" => run_case(&super::super::file::File, case, args),
            "copy" => run_case(&super::super::copy::Copy, case, args),
            "systemd" => run_case(&super::super::systemd::SYSTEMD.0, case, args),
            "user" => run_case(&super::super::user::User, case, args),
            "stat" => run_case(&super::super::stat::Stat, case, args),
            "getent" => run_case(&super::super::getent::Getent, case, args),
            "ping" => run_case(&super::super::ping::Ping, case, args),
            "service" => run_case(&super::super::service::Service, case, args),
            "apt" => run_case(&super::super::apt::Apt, case, args),
            "package" => run_case(&super::super::package::Package, case, args),
            "tempfile" => run_case(&super::super::tempfile::TempFile, case, args),
            "raw" => run_case(&super::super::raw::Raw, case, args),
            "setup" => run_case(&super::super::setup::Setup, case, args),
            "template" => run_case(&super::super::template::Template, case, args),
            "script" => run_case(&super::super::script::ScriptModule, case, args),
            "include_vars" => run_action(&super::super::include_vars::IncludeVars, case, args),
            "debug" => run_action(&super::super::debug::Debug, case, args),
            "assert" => run_action(&super::super::assert::Assert, case, args),
            "set_fact" => run_action(&super::super::set_fact::SetFact, case, args),
            "fail" => run_action(&super::super::fail::Fail, case, args),
            "pause" => run_action(&super::super::pause::Pause, case, args),
            "group_by" => run_action(&super::super::inventory_ops::GroupBy, case, args),
            "add_host" => run_action(&super::super::inventory_ops::AddHost, case, args),
            other => panic!("{}: no table runner for module {other}", path.display()),
        }
    }
    cases.len()
}

#[test]
fn module_tables() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/modules");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let total: usize = files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .map(|p| run_file(p))
        .sum();
    assert!(total > 0, "no cases in {}", dir.display());
}
