//! CRC-64/GO-ISO, the checksum tar-split stores for each file's content.
//!
//! Its own module because it is the hot loop of verification (it runs over every
//! byte of every layer) and has its own reference test against the `crc` crate.

/// CRC-64 as tar-split computes it: Go's `crc64.MakeTable(crc64.ISO)`, i.e.
/// CRC-64/GO-ISO. Computed with carry-less multiplication where the CPU has it,
/// since it runs over every byte of every layer.
#[derive(Clone, Copy, Debug)]
pub struct Crc64(crc_fast::Digest);

impl Crc64 {
    /// A CRC at its initial value.
    pub fn new() -> Self {
        Self(crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64GoIso))
    }

    /// Feeds `data` in.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// The CRC of everything fed in so far.
    pub fn finish(&self) -> u64 {
        self.0.finalize()
    }

    /// The CRC of `data` in one call.
    pub fn of(data: &[u8]) -> u64 {
        let mut c = Self::new();
        c.update(data);
        c.finish()
    }
}

impl Default for Crc64 {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD as BASE64;
    use base64::Engine as _;

    #[test]
    fn crc_check_value_matches_go() {
        let crc = Crc64::of(b"123456789");
        assert_eq!(crc, 0xB909_56C7_75A4_1001);
        assert_eq!(BASE64.encode(crc.to_be_bytes()), "uQlWx3WkEAE=");
        assert_eq!(BASE64.encode(Crc64::of(b"hello world").to_be_bytes()), "uc8/VyrZrD4=");
    }

    /// The SIMD path agrees with the plain table method at every length and split,
    /// including the short tails and unaligned starts it handles differently.
    #[test]
    fn crc_matches_the_reference_implementation() {
        let reference = crc::Crc::<u64, crc::Table<16>>::new(&crc::CRC_64_GO_ISO);
        let data: Vec<u8> =
            (0u32..(1 << 20) + 333).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect();
        for len in (0..600).chain([4095, 4096, 4097, 65_537, data.len()]) {
            for start in [0, 1, 7] {
                let d = &data[start..start + len.min(data.len() - start)];
                assert_eq!(Crc64::of(d), reference.checksum(d), "len {len} start {start}");
            }
        }
        let mut split = Crc64::new();
        for chunk in data.chunks(1000) {
            split.update(chunk);
        }
        assert_eq!(split.finish(), reference.checksum(&data));
    }
}
