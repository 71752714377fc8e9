//! Arbitrary bytes as a bbolt file: open it and walk every bucket, looking every key up
//! again. Must never panic, loop or run away (the reader's work budget bounds it).
#![no_main]
use libfuzzer_sys::fuzz_target;
use strata::store::containerd::bbolt::{Bucket, Db, Value};

fn walk(b: Bucket<'_>) {
    for item in b.iter() {
        let Ok((k, v)) = item else { return };
        let _ = b.get(k);
        match v {
            Value::Data(_) => {}
            Value::Bucket(sub) => {
                let _ = b.bucket(k);
                walk(sub);
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(db) = Db::open(data.to_vec()) {
        let _ = (db.txid(), db.page_size());
        walk(db.root());
    }
});
