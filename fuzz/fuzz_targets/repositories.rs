//! `image/<driver>/repositories.json`.
#![no_main]
use libfuzzer_sys::fuzz_target;
use strata::store::repositories::parse_repositories;

fuzz_target!(|data: &[u8]| {
    if let Ok(records) = parse_repositories(data) {
        for r in records {
            if let Some(p) = r.parsed {
                // Rendering a reference must not panic, and what strata prints must
                // parse back to the same reference.
                let shown = p.to_string();
                let back = strata::reference::Reference::parse(&shown)
                    .unwrap_or_else(|e| panic!("{:?} parsed, printed as {shown:?}, which does not: {e}", r.raw));
                assert_eq!(back, p, "{:?} -> {shown:?}", r.raw);
                let _ = p.familiar();
            }
        }
    }
});
