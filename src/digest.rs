//! Content digests and the three IDs Docker derives from them.
//!
//! Every ID in a graphdriver store is a SHA-256 digest, but they name different
//! things: an image ID names config bytes, a DiffID names an uncompressed layer tar,
//! a ChainID names a stack of layers. Mixing them up is the classic bug in tools of
//! this kind, so each gets its own type and conversions are explicit.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// A `sha256:<64 lowercase hex>` digest. Only SHA-256 is used by the stores strata reads.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digest([u8; 32]);

/// The bytes' lexicographic order (what a derived `Ord` gives), compared eight bytes at a
/// time. Why by hand: the derived one calls libc's `memcmp` for every comparison, and the
/// graph of a 10,000-image host searches its maps keyed by digests some 100,000 times;
/// `memcmp` was about an eighth of the main thread's time after loading there (perf).
impl Ord for Digest {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let words = |d: &Digest| {
            let mut w = [0u64; 4];
            for (i, chunk) in d.0.chunks_exact(8).enumerate() {
                let mut b = [0u8; 8];
                b.copy_from_slice(chunk);
                w[i] = u64::from_be_bytes(b);
            }
            w
        };
        words(self).cmp(&words(other))
    }
}

impl PartialOrd for Digest {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// A SHA-256 being computed over bytes fed in pieces; [`Hasher::finish`] gives its [`Digest`].
///
/// ring's SHA-256, not the `sha2` crate's (which stays for HMAC only): ring carries
/// OpenSSL's assembly and picks the AVX2 or SHA-NI path at run time, where `sha2` has only
/// portable Rust on a CPU without SHA extensions. On this project's 2-core Xeon (AVX2, no
/// SHA-NI) ring hashed 140-190 MB/s against `sha2`'s 95-115 MB/s, and `verify` is bound by the
/// hash there: every layer byte goes through one of these.
#[derive(Clone)]
pub struct Hasher(ring::digest::Context);

impl Hasher {
    /// An empty SHA-256.
    pub fn new() -> Self {
        Self(ring::digest::Context::new(&ring::digest::SHA256))
    }

    /// Feeds `bytes`.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The digest of everything fed.
    pub fn finish(self) -> Digest {
        let out = self.0.finish();
        // SHA-256 gives 32 bytes; zipped rather than copy_from_slice, which would panic on
        // any other length.
        let mut bytes = [0u8; 32];
        bytes.iter_mut().zip(out.as_ref()).for_each(|(b, o)| *b = *o);
        Digest(bytes)
    }

    /// The SHA-256 of everything `r` gives until its end, read through `buf`, with the
    /// number of bytes; on a read error, the error and how many bytes came before it.
    pub fn of_reader(
        r: &mut impl std::io::Read,
        buf: &mut [u8],
    ) -> Result<(Digest, u64), (std::io::Error, u64)> {
        let mut h = Self::new();
        let mut bytes = 0u64;
        loop {
            match r.read(buf) {
                Ok(0) => return Ok((h.finish(), bytes)),
                Ok(n) => {
                    h.update(&buf[..n]);
                    bytes += n as u64;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err((e, bytes)),
            }
        }
    }
}

impl Default for Hasher {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Hasher(sha256)")
    }
}

/// Why a string is not a digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// The string has no `sha256:` prefix (no algorithm at all).
    #[error("missing \"sha256:\" prefix")]
    MissingAlgorithm,
    /// An algorithm other than SHA-256 (`sha512:...`); strata reads only SHA-256 stores.
    #[error("unsupported digest algorithm {0:?}")]
    UnsupportedAlgorithm(String),
    /// The hex part is not exactly 64 lowercase hex characters (the offending text, truncated).
    #[error("expected 64 lowercase hex characters, found {0:?}")]
    BadHex(String),
}

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        let mut h = Hasher::new();
        h.update(bytes);
        h.finish()
    }

    /// Wraps a finished hash.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Parses the bare 64-hex form used as file and directory names.
    /// Uppercase is refused, as moby refuses it: such a name was not written by Docker.
    pub fn from_hex(hex_str: &str) -> Result<Self, DigestError> {
        // Checked and decoded in one pass: every ID on disk goes through here (some 60,000
        // on a 10,000-image host).
        let nibble = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        let bytes = hex_str.as_bytes();
        let mut out = [0u8; 32];
        let ok = bytes.len() == 64
            && out.iter_mut().zip(bytes.chunks_exact(2)).all(|(o, pair)| {
                match (nibble(pair[0]), nibble(pair[1])) {
                    (Some(h), Some(l)) => {
                        *o = h << 4 | l;
                        true
                    }
                    _ => false,
                }
            });
        if !ok {
            let shown: String = hex_str.chars().take(80).collect();
            return Err(DigestError::BadHex(shown));
        }
        Ok(Self(out))
    }

    /// Parses `sha256:<hex>`.
    pub fn parse(s: &str) -> Result<Self, DigestError> {
        match s.split_once(':') {
            Some(("sha256", hex_part)) => Self::from_hex(hex_part),
            Some((alg, _)) => {
                Err(DigestError::UnsupportedAlgorithm(alg.chars().take(32).collect()))
            }
            None => Err(DigestError::MissingAlgorithm),
        }
    }

    /// The 32 raw bytes of the hash.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The 64-hex form, as used in file names.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The 12-hex short form Docker prints.
    pub fn short(&self) -> String {
        let mut h = self.hex();
        h.truncate(12);
        h
    }
}

impl Digest {
    /// `sha256:<hex>` written into a buffer on the stack: the JSON of a big host holds tens
    /// of thousands of digests, and formatting each through a `String` was a tenth of
    /// `audit`'s time there.
    fn text(&self) -> ([u8; 71], usize) {
        let mut buf = [0u8; 71];
        buf[..7].copy_from_slice(b"sha256:");
        // 32 bytes always fit the 64 hex digits left.
        let n = match hex::encode_to_slice(self.0, &mut buf[7..]) {
            Ok(()) => 71,
            Err(_) => 7,
        };
        (buf, n)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (buf, n) = self.text();
        // Hex digits and `sha256:` are ASCII.
        f.write_str(std::str::from_utf8(&buf[..n]).unwrap_or("sha256:"))
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex())
    }
}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (buf, n) = self.text();
        s.serialize_str(std::str::from_utf8(&buf[..n]).unwrap_or("sha256:"))
    }
}

/// Serialized as `sha256:<64 lowercase hex>`, so the schema is that string pattern.
impl schemars::JsonSchema for Digest {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Digest".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "string", "pattern": "^sha256:[a-f0-9]{64}$"})
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Digest::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Declares a newtype over [`Digest`] that keeps one kind of ID apart from the others.
macro_rules! digest_newtype {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(schemars::JsonSchema, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Digest);

        impl $name {
            /// The untyped digest underneath.
            pub fn digest(&self) -> &Digest {
                &self.0
            }
            /// The 64-hex form, as used in file and directory names.
            pub fn hex(&self) -> String {
                self.0.hex()
            }
            /// The 12-hex short form Docker prints.
            pub fn short(&self) -> String {
                self.0.short()
            }
            /// Parses `sha256:<hex>`.
            pub fn parse(s: &str) -> Result<Self, DigestError> {
                Digest::parse(s).map(Self)
            }
            /// Parses the bare 64-hex form used as file and directory names.
            pub fn from_hex(s: &str) -> Result<Self, DigestError> {
                Digest::from_hex(s).map(Self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }
    };
}

digest_newtype!(
    /// The ID of an image: the digest of its config's exact bytes.
    ImageId
);
digest_newtype!(
    /// The digest of a layer's uncompressed tar stream.
    DiffId
);
digest_newtype!(
    /// The identity of a layer together with everything beneath it.
    ChainId
);

/// The DiffID of an empty tar archive (1024 zero bytes).
pub const EMPTY_LAYER_DIFF_ID: &str =
    "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef";

/// ChainID of a layer on top of `parent`: `sha256(parent + " " + diff)` over the full
/// digest strings, or the DiffID itself for a base layer.
pub fn chain_id(parent: Option<&ChainId>, diff: &DiffId) -> ChainId {
    match parent {
        None => ChainId(diff.0),
        Some(p) => ChainId(Digest::of(format!("{} {}", p, diff).as_bytes())),
    }
}

/// The ChainID of every prefix of `diff_ids`, in order.
pub fn chain_ids(diff_ids: &[DiffId]) -> Vec<ChainId> {
    let mut out: Vec<ChainId> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = chain_id(out.last(), d);
        out.push(next);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_the_bytes_order() {
        let mut all: Vec<[u8; 32]> = Vec::new();
        for i in 0..32 {
            for v in [0u8, 1, 0x7f, 0x80, 0xff] {
                let mut b = [0x55u8; 32];
                b[i] = v;
                all.push(b);
            }
        }
        for a in &all {
            for b in &all {
                assert_eq!(Digest(*a).cmp(&Digest(*b)), a.cmp(b), "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn hasher_fed_in_pieces_gives_the_sha256_of_the_whole() {
        use sha2::Digest as _;
        // FIPS 180-2's "abc" vector, then bytes that span several 64-byte blocks fed at
        // sizes that straddle block edges, against the `sha2` crate as an independent
        // implementation.
        assert_eq!(
            Digest::of(b"abc").hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 31 % 251) as u8).collect();
        let mut h = Hasher::new();
        let mut rest = data.as_slice();
        for n in [0usize, 1, 63, 64, 65, 127, 1000, 4096].iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (a, b) = rest.split_at((*n).min(rest.len()));
            h.update(a);
            rest = b;
        }
        let reference: [u8; 32] = sha2::Sha256::digest(&data).into();
        assert_eq!(h.finish(), Digest(reference));
        assert_eq!(Digest::of(&data), Digest(reference));
        assert_eq!(
            Hasher::new().finish().hex(),
            hex::encode(<[u8; 32]>::from(sha2::Sha256::digest(b"")))
        );
    }

    #[test]
    fn of_reader_hashes_to_the_end_retries_interrupts_and_counts_before_an_error() {
        use std::io::{Error, ErrorKind, Read};
        // Gives its steps in turn: bytes, or an error of the kind named.
        struct Steps(Vec<Result<&'static [u8], ErrorKind>>);
        impl Read for Steps {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                if self.0.is_empty() {
                    return Ok(0);
                }
                match self.0.remove(0) {
                    Ok(b) => {
                        buf[..b.len()].copy_from_slice(b);
                        Ok(b.len())
                    }
                    Err(k) => Err(Error::from(k)),
                }
            }
        }
        let mut buf = [0u8; 8];
        let mut r = Steps(vec![Ok(b"ab"), Err(ErrorKind::Interrupted), Ok(b"c")]);
        assert_eq!(Hasher::of_reader(&mut r, &mut buf).unwrap(), (Digest::of(b"abc"), 3));
        let mut r = Steps(vec![Ok(b"abcd"), Err(ErrorKind::PermissionDenied), Ok(b"e")]);
        let (e, before) = Hasher::of_reader(&mut r, &mut buf).unwrap_err();
        assert_eq!((e.kind(), before), (ErrorKind::PermissionDenied, 4));
    }

    #[test]
    fn parse_round_trips_and_rejects_bad_forms() {
        let s = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef";
        let d = Digest::parse(s).unwrap();
        assert_eq!(d.to_string(), s);
        assert_eq!(d.short(), "5f70bf18a086");
        assert_eq!(Digest::parse(&s[7..]), Err(DigestError::MissingAlgorithm));
        assert!(matches!(Digest::parse("sha512:00"), Err(DigestError::UnsupportedAlgorithm(_))));
        assert!(Digest::parse(&s.to_uppercase().replace("SHA256", "sha256")).is_err());
        assert!(Digest::parse(&s[..s.len() - 1]).is_err());
    }

    #[test]
    fn empty_tar_has_the_well_known_diff_id() {
        assert_eq!(Digest::of(&[0u8; 1024]).to_string(), EMPTY_LAYER_DIFF_ID);
    }

    #[test]
    fn chain_id_follows_the_oci_definition() {
        let a = DiffId::parse(EMPTY_LAYER_DIFF_ID).unwrap();
        let b = DiffId(Digest::of(b"b"));
        let ids = chain_ids(&[a, b]);
        assert_eq!(ids[0].0, a.0);
        let expected = Digest::of(format!("{} {}", a, b).as_bytes());
        assert_eq!(ids[1].0, expected);
        assert!(chain_ids(&[]).is_empty());
    }
}
