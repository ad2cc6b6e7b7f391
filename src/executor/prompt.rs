//! Asking `vars_prompt` questions: on the terminal when there is one, never from a pipe.

use crate::playbook::{Play, Playbook, VarPrompt};
use crate::vars::VarMap;
use anyhow::{bail, Result};
use minijinja::Value;
use std::io::{BufRead, IsTerminal, Write};

/// Fails, before anything runs, when a prompt could not be answered: stdin is not a terminal,
/// and the variable has neither a `-e` value nor a default.
pub fn check_answerable(pb: &Playbook, extra: &VarMap) -> Result<()> {
    if std::io::stdin().is_terminal() {
        return Ok(());
    }
    for p in pb.plays.iter().flat_map(|p| &p.vars_prompt) {
        if p.default.is_none() && !extra.contains_key(&p.name) {
            bail!(
                "{}: vars_prompt `{}` needs an answer and stdin is not a terminal\nhint: pass it with -e {}=VALUE (or give the prompt a `default`)",
                p.span,
                p.name,
                p.name
            );
        }
    }
    Ok(())
}

/// The play's prompted variables: `-e` values are not asked; without a terminal the default
/// is taken.
pub fn ask(play: &Play, extra: &VarMap) -> Result<VarMap> {
    let mut vars = VarMap::new();
    let tty = std::io::stdin().is_terminal();
    for p in &play.vars_prompt {
        if extra.contains_key(&p.name) {
            continue;
        }
        let answer = if tty {
            ask_one(p)?
        } else {
            p.default.clone().unwrap_or_default()
        };
        vars.insert(p.name.clone(), Value::from(protect(&answer, p.unsafe_)));
    }
    Ok(vars)
}

/// Keeps an `unsafe` answer from being templated when the variable is read.
fn protect(answer: &str, unsafe_: bool) -> String {
    if unsafe_ && (answer.contains("{{") || answer.contains("{%") || answer.contains("{#")) {
        format!("{{% raw %}}{answer}{{% endraw %}}")
    } else {
        answer.to_string()
    }
}

fn ask_one(p: &VarPrompt) -> Result<String> {
    let label = match &p.default {
        Some(d) => format!("{} [{d}]: ", p.prompt),
        None => format!("{}: ", p.prompt),
    };
    loop {
        let first = read(&label, p.private)?;
        if p.confirm {
            let second = read(&format!("confirm {}: ", p.prompt), p.private)?;
            if first != second {
                eprintln!("***** VALUES ENTERED DO NOT MATCH ****");
                continue;
            }
        }
        return Ok(match (&p.default, first.is_empty()) {
            (Some(d), true) => d.clone(),
            _ => first,
        });
    }
}

fn read(label: &str, private: bool) -> Result<String> {
    let term = console::Term::stderr();
    if private {
        term.write_str(label)?;
        return Ok(term.read_secure_line()?);
    }
    eprint!("{label}");
    std::io::stderr().flush()?;
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line)? == 0 {
        bail!("end of input while asking for a vars_prompt answer");
    }
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

#[cfg(test)]
mod tests {
    use super::protect;

    #[test]
    fn unsafe_answers_are_not_templated() {
        let raw = protect("{{ lookup('pipe', 'id') }}", true);
        let env = minijinja::Environment::new();
        assert_eq!(
            env.render_str(&raw, ()).unwrap(),
            "{{ lookup('pipe', 'id') }}"
        );
        assert_eq!(protect("plain", true), "plain");
        assert_eq!(protect("{{ x }}", false), "{{ x }}");
    }
}
