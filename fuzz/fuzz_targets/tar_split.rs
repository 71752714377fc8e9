//! `layerdb/sha256/<chainID>/tar-split.json.gz`: gzip, then JSON lines, then the tar
//! headers inside the segments, as `strata verify` and `strata files` read them. The
//! first byte picks the input form: even, the rest is the decompressed NDJSON (the
//! target gzips it, so the fuzzer works on the JSON); odd, the rest is the gzip file.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::io::Write;
use strata::fsread::Limits;
use strata::tarsplit::{clean_layer_path, Entry, HeaderTracker, TarSplitReader, MAX_LINE_BYTES};

const LIMITS: Limits = Limits { max_metadata_bytes: 1 << 20, max_tar_split_bytes: 8 << 20, max_tar_split_entries: 20_000 };

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let gz = if mode & 1 == 0 {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(rest).unwrap();
        e.finish().unwrap()
    } else {
        rest.to_vec()
    };
    let mut reader = TarSplitReader::new(&gz[..], LIMITS);
    let mut headers = HeaderTracker::new(1 << 20);
    let mut entries = 0u64;
    loop {
        match reader.next_entry() {
            Ok(Some(Entry::Segment(bytes))) => headers.push_segment(&bytes),
            Ok(Some(Entry::File { name, size, crc })) => {
                let _ = headers.take(size);
                if let Ok(rel) = clean_layer_path(&name) {
                    // A cleaned name never climbs out of the layer.
                    assert!(!rel.starts_with(b"/") && !rel.split(|&b| b == b'/').any(|c| c == b".."), "{rel:?}");
                }
                assert!(size == 0 || crc.is_some() || crc.is_none());
            }
            Ok(None) | Err(_) => break,
        }
        entries += 1;
        assert!(entries <= LIMITS.max_tar_split_entries, "entry limit not enforced");
    }
    assert!(
        reader.decompressed_bytes() <= LIMITS.max_tar_split_bytes + MAX_LINE_BYTES as u64,
        "decompressed {} bytes past the limit",
        reader.decompressed_bytes()
    );
});
