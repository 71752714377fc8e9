//! Image references as users type them and repositories.json stores them.
#![no_main]
use libfuzzer_sys::fuzz_target;
use strata::reference::Reference;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(r) = Reference::parse(s) {
        // The normal form strata prints must parse back to itself.
        let shown = r.to_string();
        let back = Reference::parse(&shown).unwrap_or_else(|e| panic!("{s:?} parsed, its normal form {shown:?} does not: {e}"));
        assert_eq!(back, r, "{s:?} -> {shown:?}");
        // So must the familiar form Docker prints, except where Docker's own familiar
        // form is ambiguous: `docker.io/ucker.io/app` prints as `ucker.io/app`, which
        // reads as a registry host (distribution/reference has the same ambiguity).
        let ambiguous = r.name.strip_prefix("docker.io/").is_some_and(|p| {
            let first = p.split('/').next().unwrap_or("");
            p.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost")
        });
        if ambiguous {
            return;
        }
        let fam = r.familiar();
        let back = Reference::parse(&fam).unwrap_or_else(|e| panic!("{s:?} parsed, its familiar form {fam:?} does not: {e}"));
        assert_eq!(back, r, "{s:?} -> familiar {fam:?}");
    }
});
