#![no_main]
//! Fuzz target: `drover::fuzz::yaml` (the one YAML loader: anchors, aliases and their expansion
//! bound, merge keys, a byte order mark) on arbitrary UTF-8 input.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        drover::fuzz::yaml(text);
    }
});
