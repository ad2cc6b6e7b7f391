//! A PAM service file as Ansible's `pamd` reads, edits and writes it: comments, `@include`
//! lines, empty lines and rules (`type control path args`, a `[value=action ...]` control
//! kept as its list), the rules matched by type, control and path.

use regex::Regex;
use std::sync::LazyLock;

static RULE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?P<t>-?(?:auth|account|session|password))\s+(?P<c>\[.*\]|\S*)\s+(?P<p>\S*)\s*(?P<a>.*)\s*")
        .expect("a valid pattern")
});
static ARG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(\[.*\]|\S*)").expect("a valid pattern"));

pub const TYPES: &[&str] = &[
    "account",
    "-account",
    "auth",
    "-auth",
    "password",
    "-password",
    "session",
    "-session",
];
const SIMPLE: &[&str] = &[
    "required",
    "requisite",
    "sufficient",
    "optional",
    "include",
    "substack",
    "definitive",
];
const VALUES: &[&str] = &[
    "success",
    "open_err",
    "symbol_err",
    "service_err",
    "system_err",
    "buf_err",
    "perm_denied",
    "auth_err",
    "cred_insufficient",
    "authinfo_unavail",
    "user_unknown",
    "maxtries",
    "new_authtok_reqd",
    "acct_expired",
    "session_err",
    "cred_unavail",
    "cred_expired",
    "cred_err",
    "no_module_data",
    "conv_err",
    "authtok_err",
    "authtok_recover_err",
    "authtok_lock_busy",
    "authtok_disable_aging",
    "try_again",
    "ignore",
    "abort",
    "authtok_expired",
    "module_unknown",
    "bad_item",
    "conv_again",
    "incomplete",
    "default",
];
const ACTIONS: &[&str] = &["ignore", "bad", "die", "ok", "done", "reset"];

/// Ansible's `parse_module_arguments`: each argument split into words, a `[...]` kept whole.
pub fn parse_args(args: &[String]) -> Vec<String> {
    if args.len() == 1 && args[0].is_empty() {
        return Vec::new();
    }
    args.iter()
        .flat_map(|a| {
            ARG.find_iter(a)
                .map(|m| m.as_str().to_string())
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    pub rtype: String,
    /// A simple control, or the words of a `[...]` one.
    pub control: Result<String, Vec<String>>,
    pub path: String,
    pub args: Vec<String>,
}

impl Rule {
    pub fn new(rtype: &str, control: &str, path: &str, args: Vec<String>) -> Rule {
        let control = if control.starts_with('[') {
            Err(control
                .replace(" = ", "=")
                .replace(['[', ']'], "")
                .split(' ')
                .map(String::from)
                .collect())
        } else {
            Ok(control.to_string())
        };
        Rule {
            rtype: rtype.into(),
            control,
            path: path.into(),
            args,
        }
    }

    pub fn control_text(&self) -> String {
        match &self.control {
            Ok(c) => c.clone(),
            Err(words) => format!("[{}]", words.join(" ")),
        }
    }

    pub fn matches(&self, t: &str, c: &str, p: &str) -> bool {
        self.rtype == t && self.control_text() == c && self.path == p
    }

    fn text(&self) -> String {
        let head = format!("{:<11}{} {}", self.rtype, self.control_text(), self.path);
        if self.args.is_empty() {
            head
        } else {
            format!("{head} {}", self.args.join(" "))
        }
    }

    /// Ansible's `PamdRule.validate`.
    fn validate(&self) -> Result<(), String> {
        let line = self.text();
        if !TYPES.contains(&self.rtype.as_str()) {
            return Err(format!(
                "Rule type, {}, is not valid in rule {line}",
                self.rtype
            ));
        }
        match &self.control {
            Ok(c) if !SIMPLE.contains(&c.as_str()) => {
                Err(format!("Rule control, {c}, is not valid in rule {line}"))
            }
            Ok(_) => Ok(()),
            Err(words) => {
                for w in words {
                    let (value, action) = w.split_once('=').unwrap_or((w, ""));
                    if !VALUES.contains(&value) {
                        return Err(format!(
                            "Rule control value, {value}, is not valid in rule {line}"
                        ));
                    }
                    if !ACTIONS.contains(&action) && action.parse::<u64>().is_err() {
                        return Err(format!(
                            "Rule control action, {action}, is not valid in rule {line}"
                        ));
                    }
                }
                Ok(())
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Line {
    /// A comment, an `@include` or an empty line, kept as it is.
    Text(String),
    Rule(Rule),
    /// A line that is none of those.
    Invalid(String),
}

impl Line {
    fn text(&self) -> String {
        match self {
            Line::Text(t) | Line::Invalid(t) => t.clone(),
            Line::Rule(r) => r.text(),
        }
    }

    fn rule(&self) -> Option<&Rule> {
        match self {
            Line::Rule(r) => Some(r),
            _ => None,
        }
    }
}

pub fn parse(content: &str) -> Vec<Line> {
    content
        .lines()
        .map(|l| {
            let t = l.trim_start();
            if t.starts_with('#') || t.starts_with("@include") || l.trim().is_empty() {
                Line::Text(l.to_string())
            } else {
                match RULE.captures(l) {
                    Some(c) => Line::Rule(Rule::new(
                        &c["t"],
                        &c["c"],
                        &c["p"],
                        parse_args(&[c["a"].to_string()]),
                    )),
                    None => Line::Invalid(l.to_string()),
                }
            }
        })
        .collect()
}

/// The first rule a line is, or a failure naming it.
pub fn validate(lines: &[Line]) -> Result<(), String> {
    for l in lines {
        match l {
            Line::Rule(r) => r.validate()?,
            Line::Invalid(t) => return Err(format!("Rule is not valid {t}")),
            Line::Text(_) => {}
        }
    }
    Ok(())
}

/// The file's text, with Ansible's `# Updated by Ansible - TIME` as its second line.
pub fn render(lines: &[Line], now: &str) -> String {
    let mark = format!("# Updated by Ansible - {now}");
    let mut out: Vec<String> = lines.iter().map(Line::text).collect();
    if out.len() <= 1 {
        out.insert(0, String::new());
        out.insert(1, mark);
    } else if out[1].starts_with("# Updated by Ansible") {
        out[1] = mark;
    } else {
        out.insert(1, mark);
    }
    format!("{}\n", out.join("\n"))
}

/// The indexes of the rules that match.
pub fn find(lines: &[Line], t: &str, c: &str, p: &str) -> Vec<usize> {
    (0..lines.len())
        .filter(|i| lines[*i].rule().is_some_and(|r| r.matches(t, c, p)))
        .collect()
}

/// The nearest rule before (`step` -1) or after (+1) line `i`, past comments and empty lines.
pub fn neighbour(lines: &[Line], i: usize, after: bool) -> Option<&Rule> {
    let mut j = i as isize;
    loop {
        j += if after { 1 } else { -1 };
        if j < 0 || j as usize >= lines.len() {
            return None;
        }
        match &lines[j as usize] {
            Line::Rule(r) => return Some(r),
            Line::Text(t) if t.trim_start().starts_with("@include") => return None,
            _ => {}
        }
    }
}
