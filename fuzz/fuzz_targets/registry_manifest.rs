//! Registry manifests and indexes (blobs of a docker-registry storage directory), as
//! `strata audit --registry-root` reads them.
#![no_main]
use libfuzzer_sys::fuzz_target;
use strata::store::registry::{parse_manifest, ManifestKind};
use strata::digest::Digest;

fuzz_target!(|data: &[u8]| {
    let d = Digest::of(data);
    let m = parse_manifest(d, data);
    assert_eq!(m.digest, d);
    if m.kind == ManifestKind::Unknown {
        assert!(m.config.is_none() || serde_json::from_slice::<serde_json::Value>(data).is_ok());
    }
    let _ = serde_json::to_vec(&m).expect("manifest info serialises");
});
