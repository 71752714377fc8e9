//! `containers/<id>/config.v2.json`.
#![no_main]
use libfuzzer_sys::fuzz_target;
use strata::store::containers::parse_container_config;

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = parse_container_config(data) {
        if let Some(state) = c.state {
            let _ = state.status();
            let _ = state.is_active();
        }
        if let Some(img) = &c.image {
            let _ = strata::digest::ImageId::parse(&img);
        }
    }
});
