//! The fuzz corpora (`fuzz/corpus/<target>/`), replayed through the fuzz entry points on every
//! test run: a short, deterministic smoke run of the fuzz targets on stable Rust. Inputs that
//! once crashed a target are kept in its corpus, so a regression fails here first.

use std::path::Path;

fn replay(target: &str, f: fn(&str)) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        if let Ok(text) = std::str::from_utf8(&bytes) {
            f(text);
            n += 1;
        }
    }
    n
}

/// A fuzz target: its corpus directory's name and its entry point.
type Target = (&'static str, fn(&str));

#[test]
fn every_corpus_input_returns() {
    let targets: &[Target] = &[
        ("ini_inventory", drover::fuzz::ini_inventory),
        ("yaml_inventory", drover::fuzz::yaml_inventory),
        ("playbook", drover::fuzz::playbook),
        ("host_pattern", drover::fuzz::host_pattern),
        ("kv_args", drover::fuzz::kv_args),
        ("template", drover::fuzz::template),
        ("yaml", drover::fuzz::yaml),
    ];
    for (name, f) in targets {
        assert!(replay(name, *f) > 0, "the {name} corpus is empty");
    }
}
