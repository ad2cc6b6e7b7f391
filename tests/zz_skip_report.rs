//! The skip report: not a test but the last test binary of `cargo test` (cargo runs test
//! targets in name order, hence the name), with no harness of its own. It prints every test
//! of this run that skipped its checks (`support::skip`), with the reason, so a machine that
//! cannot run part of the suite says so at the end instead of reporting only passes.
mod support;

fn main() {
    let log = support::skip_log();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let mut lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    lines.sort_unstable();
    if lines.is_empty() {
        println!("skip report: no test skipped its checks in this run");
    } else {
        println!(
            "skip report: {} test(s) skipped their checks in this run (cargo counts them as passed):",
            lines.len()
        );
        for l in &lines {
            let (test, why) = l.split_once('\t').unwrap_or((l, ""));
            println!("  SKIPPED {test}: {why}");
        }
    }
    // `.ci/run` reads its own log (DROVER_SKIP_LOG) after cargo; a per-invocation log is done.
    if std::env::var_os("DROVER_SKIP_LOG").is_none() {
        let _ = std::fs::remove_file(&log);
    }
}
