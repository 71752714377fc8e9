//! `distribution/v2metadata-by-diffid/sha256/<diffid>` (JSON) and
//! `distribution/diffid-by-digest/sha256/<digest>` (a digest string): the first byte
//! picks which.
#![no_main]
use libfuzzer_sys::fuzz_target;
use strata::digest::DiffId;
use strata::store::distribution::V2Metadata;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    if which & 1 == 0 {
        if let Ok(v) = serde_json::from_slice::<Vec<V2Metadata>>(rest) {
            let again = serde_json::to_vec(&v).unwrap();
            let back: Vec<V2Metadata> = serde_json::from_slice(&again).unwrap();
            assert_eq!(back, v);
        }
    } else if let Ok(s) = std::str::from_utf8(rest) {
        if let Ok(d) = DiffId::parse(s) {
            assert_eq!(d.to_string(), s);
        }
    }
});
