//! Entry points for the fuzz targets in `fuzz/` and for the test that replays their corpora
//! (`tests/fuzz_corpus.rs`): each takes arbitrary input and must return (an error is fine)
//! without panicking, hanging or exhausting memory.

use crate::inventory::Inventory;
use std::path::Path;

/// The INI inventory loader, then a pattern resolved against what it loaded.
pub fn ini_inventory(text: &str) {
    if let Ok(inv) = Inventory::from_text(text, "ini") {
        let _ = inv.resolve_pattern("all:!ungrouped");
    }
}

/// The YAML inventory loader.
pub fn yaml_inventory(text: &str) {
    let _ = Inventory::from_text(text, "yaml");
}

/// The playbook loader (plays, tasks, keywords, arguments, templates compiled at load time).
pub fn playbook(text: &str) {
    let _ = crate::playbook::load_playbook_str(text, "fuzz.yml", &Default::default());
}

/// Host patterns against a small fixed inventory (`web[01:03]`, `db`, `&`, `!`, `~regex`...).
pub fn host_pattern(pattern: &str) {
    thread_local! {
        static INV: Option<Inventory> = Inventory::from_text(
            "[web]\nweb[01:03]\n[db]\ndb1\n[app:children]\nweb\ndb\n",
            "ini",
        )
        .ok();
    }
    INV.with(|inv| {
        if let Some(inv) = inv {
            let _ = inv.resolve_pattern(pattern);
            let _ = inv.apply_limit(vec!["web01".into(), "db1".into()], pattern);
        }
    });
}

/// `k=v` free-form module arguments.
pub fn kv_args(text: &str) {
    let _ = crate::playbook::parse_kv(text, true, &|k: &str| k != "_raw_params");
}

/// Template compilation and rendering against a small context (no network or file access is
/// reachable from templates but lookups, which read controller files by name).
pub fn template(text: &str) {
    if text.contains("lookup") || text.contains("query") {
        return;
    }
    if let Ok(t) = crate::template::compile(text) {
        let ctx = minijinja::context! { x => 1, s => "text", l => vec![1, 2, 3] };
        let _ = t.render(&ctx);
    }
}

/// A YAML document through our node tree.
pub fn yaml(text: &str) {
    let _ = crate::yaml::load_str(text, Path::new("fuzz.yml"));
}
