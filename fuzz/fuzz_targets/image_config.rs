//! Image config bytes (`imagedb/content/sha256/<id>`) through the parser strata uses.
#![no_main]
use libfuzzer_sys::fuzz_target;
use strata::digest::chain_ids;
use strata::store::imagedb::parse_config;

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = parse_config(data) {
        // What the graph does next with a parsed config.
        if let Some(ids) = &c.diff_ids {
            let chain = chain_ids(ids);
            assert_eq!(chain.len(), ids.len());
        }
        let _ = serde_json::to_vec(&c).expect("a parsed config serialises");
    }
});
