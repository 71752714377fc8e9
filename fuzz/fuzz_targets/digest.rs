//! Digest strings (`sha256:<hex>`) and bare hex names.
#![no_main]
use libfuzzer_sys::fuzz_target;
use strata::digest::Digest;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(d) = Digest::parse(s) {
        assert_eq!(d.to_string(), s, "a digest has exactly one spelling");
    }
    if let Ok(d) = Digest::from_hex(s) {
        assert_eq!(d.hex(), s);
        assert_eq!(d.short(), &s[..12]);
    }
});
