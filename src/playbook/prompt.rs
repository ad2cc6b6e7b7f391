//! `vars_prompt`: play variables asked of the person running the playbook.
//!
//! As Ansible: a variable given with `-e` is not asked; `private` (the default) hides what is
//! typed; an empty answer takes `default`; `confirm` asks twice until both answers match;
//! `unsafe` keeps the answer from being templated. Better than Ansible where it is weak: when
//! stdin is not a terminal (CI), a prompt without a default or `-e` value is an error before
//! any host is contacted, naming the variable and how to pass it, instead of a hang.

use super::task::{err_at, want_bool, want_str};
use crate::yaml::{Node, NodeKind, Span};
use anyhow::Result;

/// One entry of `vars_prompt`.
#[derive(Clone, Debug)]
pub struct VarPrompt {
    pub name: String,
    pub prompt: String,
    pub private: bool,
    pub default: Option<String>,
    pub confirm: bool,
    pub unsafe_: bool,
    pub span: Span,
}

const KEYS: &[&str] = &[
    "name",
    "prompt",
    "private",
    "default",
    "confirm",
    "unsafe",
    "encrypt",
    "salt",
    "salt_size",
];

/// Parses a play's `vars_prompt` list.
pub(super) fn load_prompts(node: &Node) -> Result<Vec<VarPrompt>> {
    let NodeKind::Seq(items) = &node.kind else {
        return Err(err_at(
            &node.span,
            format!("`vars_prompt` must be a list, not {}", node.type_name()),
        ));
    };
    items.iter().map(load_prompt).collect()
}

fn load_prompt(item: &Node) -> Result<VarPrompt> {
    let Some(entries) = item.as_map() else {
        return Err(err_at(
            &item.span,
            format!(
                "a `vars_prompt` entry must be a mapping with `name` and `prompt`, not {}",
                item.type_name()
            ),
        ));
    };
    for (k, _) in entries {
        let key = k.key_str().unwrap_or_default();
        if !KEYS.contains(&key.as_str()) {
            return Err(err_at(
                &k.span,
                format!("`{key}` is not a vars_prompt key (name, prompt, private, default, confirm, unsafe)"),
            ));
        }
        if matches!(key.as_str(), "encrypt" | "salt" | "salt_size") {
            return Err(err_at(
                &k.span,
                format!("`{key}` in vars_prompt (passlib hashing) is not supported by drover\nhint: hash the answer in a task with the `password_hash` filter"),
            ));
        }
    }
    let name = match item.get("name") {
        Some(n) => want_str(n, "name")?,
        None => return Err(err_at(&item.span, "a `vars_prompt` entry needs a `name`")),
    };
    let flag = |k: &str, d: bool| item.get(k).map(|n| want_bool(n, k)).unwrap_or(Ok(d));
    Ok(VarPrompt {
        prompt: match item.get("prompt") {
            Some(p) => want_str(p, "prompt")?,
            None => name.clone(),
        },
        private: flag("private", true)?,
        default: item
            .get("default")
            .map(|d| want_str(d, "default"))
            .transpose()?,
        confirm: flag("confirm", false)?,
        unsafe_: flag("unsafe", false)?,
        span: item.span.clone(),
        name,
    })
}
