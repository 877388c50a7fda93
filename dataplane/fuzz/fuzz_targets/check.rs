//! Feeds arbitrary text to what `dataplane check` does (`config::check_str`: YAML -> schema ->
//! validation -> the normalised YAML it prints). A refusal is fine; a panic is a bug. The stable
//! fallback is the property suite `config::prop_no_panic`, which also mutates configs/*.yaml.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Err(e) = dataplane::config::check_str(&text) {
        let _ = e.to_string();
    }
});
