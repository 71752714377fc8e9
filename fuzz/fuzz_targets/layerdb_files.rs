//! The small files of `layerdb/sha256/<chainID>/` and `layerdb/mounts/<name>/`: the
//! first byte picks which parser gets the rest, as text (the readers check UTF-8).
//! Also the overlay2 `link` and `lower` files of the driver home (selectors 5, 6).
#![no_main]
use libfuzzer_sys::fuzz_target;
use strata::store::graphdriver::{is_valid_link_name, parse_link, parse_lower};
use strata::store::layerdb::{is_safe_dir_name, parse_cache_id, parse_diff, parse_mount_id, parse_parent, parse_size};

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    match which % 7 {
        0 => {
            let _ = parse_diff(text);
        }
        1 => {
            if let Ok(n) = parse_size(text) {
                assert_eq!(n.to_string().parse::<i64>().unwrap(), n);
            }
        }
        2 => {
            if let Ok(c) = parse_cache_id(text) {
                // A cache-id names a directory under the driver home: never a way out.
                assert!(is_safe_dir_name(&c));
                assert!(!c.contains('/') && c != ".." && c != ".");
            }
        }
        3 => {
            let _ = parse_parent(text);
        }
        4 => {
            if let Ok(m) = parse_mount_id(text) {
                assert!(!m.contains('/') && !m.starts_with('.'));
            }
        }
        5 => {
            if let Ok(l) = parse_link(text) {
                assert!(is_valid_link_name(&l) && !l.contains('/'));
            }
        }
        _ => {
            if let Ok(lower) = parse_lower(text) {
                for l in lower {
                    let name = l.strip_prefix("l/").expect("l/ prefix");
                    assert!(is_valid_link_name(name) && !name.contains('/'));
                }
            }
        }
    }
});
