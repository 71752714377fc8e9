//! Property tests for digest parsing and ChainID computation, each against an
//! independent, deliberately naive oracle.

use proptest::prelude::*;
use sha2::{Digest as _, Sha256};
use strata::digest::{chain_id, chain_ids, ChainId, DiffId, Digest};

/// The oracle for "is a digest string": moby's `sha256:` + `^[a-f0-9]{64}$`.
fn oracle_is_digest(s: &str) -> bool {
    match s.strip_prefix("sha256:") {
        Some(h) => h.len() == 64 && h.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')),
        None => false,
    }
}

/// The oracle for ChainIDs: straight from the OCI definition, on strings.
fn oracle_chain_ids(diffs: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for d in diffs {
        let next = match out.last() {
            None => d.clone(),
            Some(parent) => {
                let mut h = Sha256::new();
                h.update(parent.as_bytes());
                h.update(b" ");
                h.update(d.as_bytes());
                format!("sha256:{}", hex::encode(h.finalize()))
            }
        };
        out.push(next);
    }
    out
}

fn hex64() -> impl Strategy<Value = String> {
    "[0-9a-f]{64}"
}

/// Strings near the digest form: right prefix or not, right length or not, hex or not.
fn near_digest() -> impl Strategy<Value = String> {
    prop_oneof![
        hex64().prop_map(|h| format!("sha256:{h}")),
        "[0-9a-fA-F]{60,68}".prop_map(|h| format!("sha256:{h}")),
        hex64().prop_map(|h| format!("SHA256:{h}")),
        hex64().prop_map(|h| format!("sha512:{h}")),
        hex64().prop_map(|h| format!("sha256: {h}")),
        hex64().prop_map(|h| format!("sha256:{h}\n")),
        hex64(),
        "sha256:[0-9a-g:\\s]{0,70}",
        any::<String>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parse_accepts_exactly_the_digest_form(s in near_digest()) {
        let ours = Digest::parse(&s);
        prop_assert_eq!(ours.is_ok(), oracle_is_digest(&s), "{:?}: {:?}", s, ours);
        if let Ok(d) = ours {
            // One spelling per digest: printing gives back the input.
            prop_assert_eq!(d.to_string(), s);
        }
    }

    #[test]
    fn bytes_round_trip_through_both_spellings(bytes in any::<[u8; 32]>()) {
        let d = Digest::from_bytes(bytes);
        let s = d.to_string();
        prop_assert!(oracle_is_digest(&s));
        prop_assert_eq!(Digest::parse(&s).unwrap(), d);
        prop_assert_eq!(Digest::from_hex(&d.hex()).unwrap(), d);
        prop_assert_eq!(d.as_bytes(), &bytes);
        prop_assert_eq!(d.short(), s[7..19].to_string());
    }

    #[test]
    fn from_hex_refuses_uppercase_and_wrong_lengths(h in hex64(), cut in 0usize..64, pos in 0usize..64) {
        prop_assert!(Digest::from_hex(&h[..cut]).is_err());
        let longer = format!("{}0", h);
        prop_assert!(Digest::from_hex(&longer).is_err());
        let upper: String = h.chars().enumerate().map(|(i, c)| if i == pos { c.to_ascii_uppercase() } else { c }).collect();
        prop_assert_eq!(Digest::from_hex(&upper).is_ok(), upper == h);
    }

    #[test]
    fn chain_ids_match_the_oci_definition(layers in proptest::collection::vec(any::<[u8; 32]>(), 0..40)) {
        let diffs: Vec<DiffId> = layers.iter().map(|b| DiffId(Digest::from_bytes(*b))).collect();
        let strings: Vec<String> = diffs.iter().map(|d| d.to_string()).collect();
        let ours: Vec<String> = chain_ids(&diffs).iter().map(|c| c.to_string()).collect();
        prop_assert_eq!(ours, oracle_chain_ids(&strings));
    }

    #[test]
    fn chain_id_of_a_prefix_does_not_depend_on_what_follows(
        layers in proptest::collection::vec(any::<[u8; 32]>(), 1..20),
        extra in any::<[u8; 32]>(),
    ) {
        let diffs: Vec<DiffId> = layers.iter().map(|b| DiffId(Digest::from_bytes(*b))).collect();
        let mut longer = diffs.clone();
        longer.push(DiffId(Digest::from_bytes(extra)));
        let a = chain_ids(&diffs);
        let b = chain_ids(&longer);
        prop_assert_eq!(&b[..a.len()], &a[..]);
        // And the step function agrees with the list function.
        let last: ChainId = chain_id(a.last(), longer.last().unwrap());
        prop_assert_eq!(b.last().copied().unwrap(), last);
    }
}

/// A known vector, so the oracle itself is checked: two layers of alpine-like IDs.
#[test]
fn oracle_agrees_with_a_hand_computed_chain() {
    let a = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef".to_string();
    let b = format!("sha256:{}", "ab".repeat(32));
    let expected = format!("sha256:{}", hex::encode(Sha256::digest(format!("{a} {b}").as_bytes())));
    assert_eq!(oracle_chain_ids(&[a.clone(), b.clone()]), vec![a, expected]);
}
