//! The lines of `drover run`'s human output, as `ansible -m` prints them: a command's output
//! under `host | CHANGED | rc=0 >>`, any other module's result as `host | SUCCESS => {...}`
//! (indented JSON), `host | FAILED! => {...}`, `host | UNREACHABLE! => {...}`, `host | SKIPPED`.

use super::pyjson;
use crate::executor::{HostResult, Status};
use minijinja::Value;

/// Modules whose output is text, shown as is (Ansible's `MODULE_NO_JSON`).
const TEXT_MODULES: [&str; 3] = ["command", "shell", "raw"];

fn attr(v: &Value, key: &str) -> Option<Value> {
    v.get_attr(key)
        .ok()
        .filter(|x| !x.is_undefined() && !x.is_none())
}

fn text(v: &Value, key: &str) -> Option<String> {
    attr(v, key)
        .map(|x| {
            x.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| x.to_string())
        })
        .filter(|s| !s.is_empty())
}

/// The line (or block) for one host's result of `module`; `no_log` hides the values.
pub fn result_text(module: &str, r: &HostResult) -> String {
    let module = module.trim_start_matches("ansible.builtin.");
    let state = match r.status {
        Status::Skipped => return format!("{} | SKIPPED", r.host),
        Status::Changed => "CHANGED",
        Status::Ok => "SUCCESS",
        Status::Failed => "FAILED",
        Status::Unreachable => "UNREACHABLE!",
    };
    let dump = |v: &Value| {
        let json = if r.no_log {
            serde_json::json!({ "censored": super::CENSORED })
        } else if module == "debug" && r.status == Status::Ok {
            // Debug shows its message alone, as in a play.
            serde_json::to_value(super::human::Human::shown(v)).unwrap_or_default()
        } else {
            pyjson::clean_result(serde_json::to_value(v).unwrap_or_default())
        };
        pyjson::dumps(&json, true)
    };
    let rc = attr(&r.result, "rc").filter(|_| r.status != Status::Unreachable && !r.no_log);
    if let Some(rc) = rc.filter(|_| TEXT_MODULES.contains(&module)) {
        let mut out = format!("{} | {state} | rc={rc} >>", r.host);
        let mut parts = vec![text(&r.result, "stdout"), text(&r.result, "stderr")];
        if r.status == Status::Failed {
            parts.push(text(&r.result, "msg"));
        }
        for part in parts.into_iter().flatten() {
            out.push('\n');
            out.push_str(part.trim_end_matches('\n'));
        }
        return out;
    }
    // A module's failure is `FAILED!` (a command's, above, `FAILED`), as `ansible -m` says.
    let state = if r.status == Status::Failed {
        "FAILED!"
    } else {
        state
    };
    format!("{} | {state} => {}", r.host, dump(&r.result))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn result(status: Status, fields: Vec<(&str, Value)>) -> HostResult {
        let mut r = HostResult::simple("web1".into(), status, None, Duration::ZERO);
        let mut m = crate::vars::varmap_from_value(&r.result);
        for (k, v) in fields {
            m.insert(k.to_string(), v);
        }
        r.result = crate::vars::map_value(m);
        r
    }

    #[test]
    fn ansible_adhoc_lines() {
        let r = result(
            Status::Changed,
            vec![
                ("rc", Value::from(0)),
                ("stdout", Value::from("hello")),
                ("stderr", Value::from("")),
            ],
        );
        assert_eq!(
            result_text("command", &r),
            "web1 | CHANGED | rc=0 >>\nhello"
        );
        let r = result(
            Status::Failed,
            vec![
                ("rc", Value::from(2)),
                ("stdout", Value::from("")),
                ("stderr", Value::from("no such file")),
                ("msg", Value::from("non-zero return code")),
            ],
        );
        assert_eq!(
            result_text("ansible.builtin.shell", &r),
            "web1 | FAILED | rc=2 >>\nno such file\nnon-zero return code"
        );
        let r = result(Status::Ok, vec![("ping", Value::from("pong"))]);
        assert_eq!(
            result_text("ping", &r),
            "web1 | SUCCESS => {\n    \"changed\": false,\n    \"ping\": \"pong\"\n}"
        );
        let r = result(Status::Skipped, vec![]);
        assert_eq!(result_text("ping", &r), "web1 | SKIPPED");
    }
}
