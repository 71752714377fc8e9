//! A small, read-only reader of bbolt database files (containerd's `meta.db`, the
//! snapshotters' `metadata.db`).
//!
//! Why our own rather than a crate:
//! - a live containerd holds an exclusive `flock` on `meta.db`; the Go and Rust bbolt
//!   readers take a shared `flock` first and so wait forever on a running host;
//! - `bolt-lite` mis-descends branch pages (it follows the first key greater than the
//!   target instead of the last key less than or equal to it), so lookups miss records;
//! - `bbolt-rs` and `nut` lock the file too, and `jammdb` reads another format.
//!
//! This reader takes the whole file as bytes (read by the caller through `SafeDir` with
//! a byte limit), so it does no I/O at all and is easy to fuzz. The file may be hostile
//! or torn: every offset is checked, a page reached twice in one walk is a cycle, trees
//! and bucket nesting have a depth limit, and a work budget bounds the total effort of
//! all reads of one [`Db`]. Nothing here panics or loops; every problem is a
//! [`BoltError`].
//!
//! Layout (etcd-io/bbolt `internal/common/page.go`, `meta.go`, `bucket.go`), native
//! byte order, which is little-endian on every platform containerd ships for:
//! - page header (16 B): id u64, flags u16 (branch 1, leaf 2, meta 4, freelist 0x10),
//!   count u16, overflow u32; a page spans `(1 + overflow) * page_size` bytes;
//! - meta (at offset 16 of pages 0 and 1): magic u32 `0xED0CDAED`, version u32 (2),
//!   page size u32, flags u32, root bucket {root pgid u64, sequence u64}, freelist u64,
//!   high-water pgid u64, txid u64, checksum u64 = FNV-1a-64 of the 56 bytes before it;
//! - branch element (16 B): pos u32, ksize u32, pgid u64; leaf element (16 B): flags
//!   u32 (1 = nested bucket), pos u32, ksize u32, vsize u32; `pos` is relative to the
//!   element itself and the value follows the key;
//! - a bucket value is {root pgid u64, sequence u64}; root 0 means an inline bucket
//!   whose (leaf) page follows the header inside the value.

use std::cell::Cell;
use std::collections::HashSet;

const MAGIC: u32 = 0xED0C_DAED;
const VERSION: u32 = 2;
const PAGE_HEADER: usize = 16;
const ELEMENT: usize = 16;
const META_LEN: usize = 64;
const BUCKET_HEADER: usize = 16;
const BRANCH: u16 = 0x01;
const LEAF: u16 = 0x02;
/// Deeper B+trees than this do not occur (a billion keys make about six levels).
const MAX_TREE_DEPTH: usize = 64;
/// containerd nests buckets five or six deep; anything past this is hostile.
const MAX_NESTING: u32 = 64;
/// Page sizes tried when meta page 0 is torn and cannot say the page size.
const CANDIDATE_PAGE_SIZES: [usize; 7] = [1024, 2048, 4096, 8192, 16384, 32768, 65536];

/// Why a database, or part of it, could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BoltError {
    /// The file cannot even hold the two meta pages.
    #[error("file is {len} bytes, too short for a bbolt database")]
    TooShort {
        /// File size in bytes.
        len: usize,
    },
    /// Neither meta page has the magic, version and FNV-1a checksum bbolt writes.
    #[error("no valid meta page (meta 0: {meta0}; meta 1: {meta1})")]
    NoValidMeta {
        /// Why meta page 0 was refused.
        meta0: String,
        /// Why meta page 1 was refused.
        meta1: String,
    },
    /// A page id points past the end of the file or past the high-water mark.
    #[error("page {pgid} is outside the database ({pages} pages of {page_size} bytes in the file, high-water mark {high_water})")]
    PageOutOfRange {
        /// The page asked for.
        pgid: u64,
        /// Whole pages in the file.
        pages: u64,
        /// Page size from the meta page.
        page_size: usize,
        /// The meta page's high-water pgid (first page never allocated).
        high_water: u64,
    },
    /// The page header names another page: torn or overwritten.
    #[error("page {pgid} identifies itself as page {found} (torn or overwritten page)")]
    PageIdMismatch {
        /// The page asked for.
        pgid: u64,
        /// The id in its header.
        found: u64,
    },
    /// A tree page that is neither a branch nor a leaf.
    #[error("page {pgid} has flags {flags:#x} where a branch or leaf page belongs")]
    BadPageFlags {
        /// The page.
        pgid: u64,
        /// Its header flags.
        flags: u16,
    },
    /// An element's header, key or value runs past the end of its page.
    #[error("page {pgid}: element {index} lies outside the page")]
    ElementOutOfBounds {
        /// The page (0 for an inline bucket).
        pgid: u64,
        /// The element's index on the page.
        index: usize,
    },
    /// A branch page with nothing to descend into.
    #[error("page {pgid}: branch page without elements")]
    EmptyBranch {
        /// The page.
        pgid: u64,
    },
    /// One walk reached the same page twice.
    #[error("page {pgid} is reached twice in one walk (a page cycle)")]
    Cycle {
        /// The page reached again.
        pgid: u64,
    },
    /// A B+tree or bucket nesting past the depth limit.
    #[error("tree or bucket nesting deeper than {max} levels")]
    TooDeep {
        /// The limit that was passed.
        max: usize,
    },
    /// A nested-bucket value too short to hold its {root, sequence} header.
    #[error("bucket value is {len} bytes, shorter than a bucket header")]
    BadBucketValue {
        /// The value's length in bytes.
        len: usize,
    },
    /// The work budget of one [`Db`] is spent: a hostile structure, stopped early.
    #[error("work limit of {limit} steps exceeded (hostile or corrupt structure)")]
    WorkLimit {
        /// The budget, in page visits and element steps.
        limit: u64,
    },
}

/// The fields of one meta page that the reader uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Meta {
    page_size: usize,
    root: u64,
    high_water: u64,
    txid: u64,
}

/// An opened database: the file's bytes and the meta page chosen.
#[derive(Debug)]
pub struct Db {
    data: Vec<u8>,
    meta: Meta,
    /// Work units spent so far (one per page visited and per element yielded).
    work: Cell<u64>,
    work_limit: u64,
}

fn u16_at(b: &[u8], off: usize) -> Option<u16> {
    b.get(off..off.checked_add(2)?).map(|s| u16::from_le_bytes([s[0], s[1]]))
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    let s = b.get(off..off.checked_add(4)?)?;
    Some(u32::from_le_bytes(s.try_into().ok()?))
}

fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    let s = b.get(off..off.checked_add(8)?)?;
    Some(u64::from_le_bytes(s.try_into().ok()?))
}

/// FNV-1a, 64-bit, as Go's `hash/fnv.New64a`.
fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Parses and validates the meta page whose page starts at `page_off`.
fn parse_meta(data: &[u8], page_off: usize) -> Result<Meta, String> {
    let start = page_off.checked_add(PAGE_HEADER).ok_or("offset overflow")?;
    let m = data
        .get(start..start + META_LEN)
        .ok_or_else(|| format!("file ends before the meta page at offset {page_off}"))?;
    let magic = u32_at(m, 0).unwrap_or(0);
    if magic != MAGIC {
        return Err(format!("bad magic {magic:#010x}"));
    }
    let version = u32_at(m, 4).unwrap_or(0);
    if version != VERSION {
        return Err(format!("unsupported version {version}"));
    }
    let checksum = u64_at(m, 56).unwrap_or(0);
    if checksum != fnv1a64(&m[..56]) {
        return Err("checksum mismatch (torn write)".into());
    }
    let page_size = u32_at(m, 8).unwrap_or(0) as usize;
    if !page_size.is_power_of_two() || !(512..=1 << 20).contains(&page_size) {
        return Err(format!("implausible page size {page_size}"));
    }
    Ok(Meta {
        page_size,
        root: u64_at(m, 16).unwrap_or(0),
        high_water: u64_at(m, 40).unwrap_or(0),
        txid: u64_at(m, 48).unwrap_or(0),
    })
}

/// The highest transaction id among the valid meta pages at the start of a file,
/// given its page size: what a writer has committed by now. Reads only the two
/// meta pages, so it is cheap to ask again after reading the whole file.
pub fn committed_txid(prefix: &[u8], page_size: usize) -> Option<u64> {
    [0, page_size].iter().filter_map(|&off| parse_meta(prefix, off).ok()).map(|m| m.txid).max()
}

impl Db {
    /// Opens a database from its bytes: picks the valid meta page with the highest
    /// transaction id, as bbolt does. Pages are only read when buckets are.
    pub fn open(data: Vec<u8>) -> Result<Db, BoltError> {
        if data.len() < PAGE_HEADER + META_LEN {
            return Err(BoltError::TooShort { len: data.len() });
        }
        let meta0 = parse_meta(&data, 0);
        // Meta 1 sits one page in; the page size comes from meta 0 when it is sound,
        // otherwise every plausible size is tried (a torn meta 0 says nothing).
        let meta1 = match &meta0 {
            Ok(m) => parse_meta(&data, m.page_size),
            Err(_) => {
                let mut found = Err("not found at any candidate page size".to_owned());
                for ps in CANDIDATE_PAGE_SIZES {
                    if let Ok(m) = parse_meta(&data, ps) {
                        if m.page_size == ps {
                            found = Ok(m);
                            break;
                        }
                    }
                }
                found
            }
        };
        let meta = match (&meta0, &meta1) {
            (Ok(a), Ok(b)) => {
                if b.txid > a.txid {
                    *b
                } else {
                    *a
                }
            }
            (Ok(a), Err(_)) => *a,
            (Err(_), Ok(b)) => *b,
            (Err(a), Err(b)) => {
                return Err(BoltError::NoValidMeta { meta0: a.clone(), meta1: b.clone() })
            }
        };
        // A sound file holds at most one element per 16 bytes, and a full read of it
        // (one walk plus a few lookups per record) stays well under two units per
        // element; a hostile one (buckets sharing subtrees at every level, which would
        // make a walk exponential) stops after a fraction of a second.
        let work_limit = 1_000_000 + 2 * (data.len() as u64 / ELEMENT as u64);
        Ok(Db { data, meta, work: Cell::new(0), work_limit })
    }

    /// Transaction id of the meta page in use.
    pub fn txid(&self) -> u64 {
        self.meta.txid
    }

    /// Page size in bytes, from the meta page in use.
    pub fn page_size(&self) -> usize {
        self.meta.page_size
    }

    /// The root bucket, whose keys are the top-level buckets.
    pub fn root(&self) -> Bucket<'_> {
        Bucket { db: self, root: Root::Page(self.meta.root), nesting: 0 }
    }

    fn charge(&self, units: u64) -> Result<(), BoltError> {
        let spent = self.work.get().saturating_add(units);
        self.work.set(spent);
        if spent > self.work_limit {
            return Err(BoltError::WorkLimit { limit: self.work_limit });
        }
        Ok(())
    }

    /// The bytes of page `pgid`, overflow pages included, after checking that it lies
    /// inside both the file and the allocated region and names itself correctly.
    fn page(&self, pgid: u64) -> Result<Node<'_>, BoltError> {
        self.charge(1)?;
        let ps = self.meta.page_size;
        let pages = (self.data.len() / ps) as u64;
        let out_of_range = || BoltError::PageOutOfRange {
            pgid,
            pages,
            page_size: ps,
            high_water: self.meta.high_water,
        };
        // Pages 0 and 1 are the metas; no tree page can be there.
        if pgid < 2 || pgid >= pages || pgid >= self.meta.high_water {
            return Err(out_of_range());
        }
        let off = (pgid as usize).checked_mul(ps).ok_or_else(out_of_range)?;
        let overflow = u32_at(&self.data, off + 12).ok_or_else(out_of_range)? as u64;
        let last = pgid.checked_add(overflow).ok_or_else(out_of_range)?;
        if last >= pages || last >= self.meta.high_water {
            return Err(out_of_range());
        }
        let len = ((1 + overflow) as usize).checked_mul(ps).ok_or_else(out_of_range)?;
        let bytes = self.data.get(off..off + len).ok_or_else(out_of_range)?;
        let found = u64_at(bytes, 0).unwrap_or(u64::MAX);
        if found != pgid {
            return Err(BoltError::PageIdMismatch { pgid, found });
        }
        Node::parse(bytes, pgid)
    }
}

/// Where a bucket's tree starts.
#[derive(Debug, Clone, Copy)]
enum Root<'a> {
    Page(u64),
    /// An inline bucket's leaf page, stored inside its parent's value.
    Inline(&'a [u8]),
}

/// One bucket of a database.
#[derive(Debug, Clone, Copy)]
pub struct Bucket<'a> {
    db: &'a Db,
    root: Root<'a>,
    nesting: u32,
}

/// A value under a key: plain bytes, or a nested bucket.
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    /// A plain value's bytes.
    Data(&'a [u8]),
    /// A nested bucket (leaf element flag 1).
    Bucket(Bucket<'a>),
}

/// A branch or leaf page, bounds-checked as far as its element table.
#[derive(Debug, Clone, Copy)]
struct Node<'a> {
    bytes: &'a [u8],
    /// Page id for messages; 0 for inline pages.
    pgid: u64,
    leaf: bool,
    count: usize,
}

/// One leaf element.
struct LeafElem<'a> {
    is_bucket: bool,
    key: &'a [u8],
    value: &'a [u8],
}

impl<'a> Node<'a> {
    fn parse(bytes: &'a [u8], pgid: u64) -> Result<Node<'a>, BoltError> {
        let flags = u16_at(bytes, 8).ok_or(BoltError::ElementOutOfBounds { pgid, index: 0 })?;
        let count = u16_at(bytes, 10).unwrap_or(0) as usize;
        let leaf = match flags {
            LEAF => true,
            BRANCH => false,
            _ => return Err(BoltError::BadPageFlags { pgid, flags }),
        };
        if PAGE_HEADER + count * ELEMENT > bytes.len() {
            return Err(BoltError::ElementOutOfBounds { pgid, index: count.saturating_sub(1) });
        }
        if !leaf && count == 0 {
            return Err(BoltError::EmptyBranch { pgid });
        }
        Ok(Node { bytes, pgid, leaf, count })
    }

    /// The slice `[elem + pos, elem + pos + len)` of this page, if it is inside it.
    fn slice(&self, elem: usize, pos: u32, len: u32, index: usize) -> Result<&'a [u8], BoltError> {
        let oob = BoltError::ElementOutOfBounds { pgid: self.pgid, index };
        let start = elem.checked_add(pos as usize).ok_or(oob.clone())?;
        let end = start.checked_add(len as usize).ok_or(oob.clone())?;
        self.bytes.get(start..end).ok_or(oob)
    }

    fn leaf_elem(&self, i: usize) -> Result<LeafElem<'a>, BoltError> {
        let elem = PAGE_HEADER + i * ELEMENT;
        let b = self.bytes;
        let oob = || BoltError::ElementOutOfBounds { pgid: self.pgid, index: i };
        let flags = u32_at(b, elem).ok_or_else(oob)?;
        let pos = u32_at(b, elem + 4).ok_or_else(oob)?;
        let ksize = u32_at(b, elem + 8).ok_or_else(oob)?;
        let vsize = u32_at(b, elem + 12).ok_or_else(oob)?;
        let key = self.slice(elem, pos, ksize, i)?;
        let value = self.slice(elem, pos.checked_add(ksize).ok_or_else(oob)?, vsize, i)?;
        Ok(LeafElem { is_bucket: flags & 1 != 0, key, value })
    }

    fn branch_elem(&self, i: usize) -> Result<(&'a [u8], u64), BoltError> {
        let elem = PAGE_HEADER + i * ELEMENT;
        let b = self.bytes;
        let oob = || BoltError::ElementOutOfBounds { pgid: self.pgid, index: i };
        let pos = u32_at(b, elem).ok_or_else(oob)?;
        let ksize = u32_at(b, elem + 4).ok_or_else(oob)?;
        let child = u64_at(b, elem + 8).ok_or_else(oob)?;
        Ok((self.slice(elem, pos, ksize, i)?, child))
    }
}

impl<'a> Bucket<'a> {
    fn root_node(&self) -> Result<Node<'a>, BoltError> {
        match self.root {
            Root::Page(pgid) => self.db.page(pgid),
            Root::Inline(bytes) => {
                self.db.charge(1)?;
                let n = Node::parse(bytes, 0)?;
                // bbolt only ever writes a bucket inline when it fits in one leaf.
                if !n.leaf {
                    return Err(BoltError::BadPageFlags { pgid: 0, flags: BRANCH });
                }
                Ok(n)
            }
        }
    }

    /// Makes the nested bucket stored under a bucket-flagged value.
    fn nested(&self, value: &'a [u8]) -> Result<Bucket<'a>, BoltError> {
        if self.nesting + 1 > MAX_NESTING {
            return Err(BoltError::TooDeep { max: MAX_NESTING as usize });
        }
        let root = u64_at(value, 0)
            .filter(|_| value.len() >= BUCKET_HEADER)
            .ok_or(BoltError::BadBucketValue { len: value.len() })?;
        let root = if root == 0 { Root::Inline(&value[BUCKET_HEADER..]) } else { Root::Page(root) };
        Ok(Bucket { db: self.db, root, nesting: self.nesting + 1 })
    }

    /// The leaf element under `key`, descending branch pages to the child whose key is
    /// the last one less than or equal to `key` (the first child when all are greater).
    fn find(&self, key: &[u8]) -> Result<Option<LeafElem<'a>>, BoltError> {
        let mut node = self.root_node()?;
        let mut visited: Vec<u64> = Vec::new();
        loop {
            if node.leaf {
                // Binary search for the exact key; a leaf that is not sorted (corrupt)
                // only makes lookups miss, it cannot make them loop.
                let (mut lo, mut hi) = (0, node.count);
                while lo < hi {
                    let mid = lo + (hi - lo) / 2;
                    let e = node.leaf_elem(mid)?;
                    match e.key.cmp(key) {
                        std::cmp::Ordering::Equal => return Ok(Some(e)),
                        std::cmp::Ordering::Less => lo = mid + 1,
                        std::cmp::Ordering::Greater => hi = mid,
                    }
                }
                return Ok(None);
            }
            let (mut lo, mut hi) = (0, node.count);
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                if node.branch_elem(mid)?.0 <= key {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            let (_, child) = node.branch_elem(lo.saturating_sub(1))?;
            if visited.contains(&child) {
                return Err(BoltError::Cycle { pgid: child });
            }
            visited.push(child);
            if visited.len() > MAX_TREE_DEPTH {
                return Err(BoltError::TooDeep { max: MAX_TREE_DEPTH });
            }
            node = self.db.page(child)?;
        }
    }

    /// The plain value under `key`; `None` when absent or when `key` is a bucket.
    pub fn get(&self, key: &[u8]) -> Result<Option<&'a [u8]>, BoltError> {
        Ok(self.find(key)?.filter(|e| !e.is_bucket).map(|e| e.value))
    }

    /// The nested bucket under `key`; `None` when absent or when `key` holds data.
    pub fn bucket(&self, key: &[u8]) -> Result<Option<Bucket<'a>>, BoltError> {
        match self.find(key)? {
            Some(e) if e.is_bucket => self.nested(e.value).map(Some),
            _ => Ok(None),
        }
    }

    /// Every key of this bucket with its value, in page order (key order in a sound
    /// file). Linear in the bucket's size; after an error the iterator ends.
    pub fn iter(&self) -> Iter<'a> {
        Iter {
            bucket: *self,
            stack: Vec::new(),
            visited: HashSet::new(),
            started: false,
            done: false,
        }
    }
}

struct Frame<'a> {
    node: Node<'a>,
    next: usize,
}

/// Iterator over one bucket's keys and values. See [`Bucket::iter`].
pub struct Iter<'a> {
    bucket: Bucket<'a>,
    stack: Vec<Frame<'a>>,
    /// Pages entered in this walk: a second visit is a cycle (or a shared subtree,
    /// which bbolt never writes), so it stops the walk instead of repeating it.
    visited: HashSet<u64>,
    started: bool,
    done: bool,
}

/// One item of [`Iter`].
pub type Entry<'a> = (&'a [u8], Value<'a>);

impl<'a> Iter<'a> {
    fn step(&mut self) -> Result<Option<Entry<'a>>, BoltError> {
        if !self.started {
            self.started = true;
            if let Root::Page(pgid) = self.bucket.root {
                self.visited.insert(pgid);
            }
            let node = self.bucket.root_node()?;
            self.stack.push(Frame { node, next: 0 });
        }
        loop {
            let Some(top) = self.stack.last_mut() else { return Ok(None) };
            if top.next >= top.node.count {
                self.stack.pop();
                continue;
            }
            let i = top.next;
            top.next += 1;
            let node = top.node;
            self.bucket.db.charge(1)?;
            if node.leaf {
                let e = node.leaf_elem(i)?;
                let value = if e.is_bucket {
                    Value::Bucket(self.bucket.nested(e.value)?)
                } else {
                    Value::Data(e.value)
                };
                return Ok(Some((e.key, value)));
            }
            let (_, child) = node.branch_elem(i)?;
            if !self.visited.insert(child) {
                return Err(BoltError::Cycle { pgid: child });
            }
            if self.stack.len() >= MAX_TREE_DEPTH {
                return Err(BoltError::TooDeep { max: MAX_TREE_DEPTH });
            }
            let node = self.bucket.db.page(child)?;
            self.stack.push(Frame { node, next: 0 });
        }
    }
}

impl<'a> Iterator for Iter<'a> {
    type Item = Result<Entry<'a>, BoltError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.step() {
            Ok(Some(e)) => Some(Ok(e)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds small databases by hand: a page size of 4096, metas on pages 0 and 1.
    pub(crate) struct Builder {
        pub ps: usize,
        pub pages: Vec<Vec<u8>>,
    }

    impl Builder {
        pub fn new() -> Self {
            Self { ps: 4096, pages: vec![vec![0; 4096], vec![0; 4096]] }
        }

        pub fn meta(&mut self, page: usize, root: u64, txid: u64) {
            let hw = self.pages.len() as u64;
            let p = &mut self.pages[page];
            p[0..8].copy_from_slice(&(page as u64).to_le_bytes());
            p[8..10].copy_from_slice(&4u16.to_le_bytes());
            let m = &mut p[16..16 + 64];
            m[0..4].copy_from_slice(&MAGIC.to_le_bytes());
            m[4..8].copy_from_slice(&VERSION.to_le_bytes());
            m[8..12].copy_from_slice(&4096u32.to_le_bytes());
            m[16..24].copy_from_slice(&root.to_le_bytes());
            m[40..48].copy_from_slice(&hw.to_le_bytes());
            m[48..56].copy_from_slice(&txid.to_le_bytes());
            let sum = fnv1a64(&m[..56]);
            m[56..64].copy_from_slice(&sum.to_le_bytes());
        }

        /// A leaf page body (header + elements) for `items` = (key, value, is_bucket).
        pub fn leaf_bytes(id: u64, items: &[(&[u8], Vec<u8>, bool)]) -> Vec<u8> {
            let mut p = vec![0u8; PAGE_HEADER + items.len() * ELEMENT];
            p[0..8].copy_from_slice(&id.to_le_bytes());
            p[8..10].copy_from_slice(&LEAF.to_le_bytes());
            p[10..12].copy_from_slice(&(items.len() as u16).to_le_bytes());
            let mut data = Vec::new();
            for (i, (k, v, b)) in items.iter().enumerate() {
                let elem = PAGE_HEADER + i * ELEMENT;
                let pos = (p.len() + data.len() - elem) as u32;
                p[elem..elem + 4].copy_from_slice(&u32::from(*b).to_le_bytes());
                p[elem + 4..elem + 8].copy_from_slice(&pos.to_le_bytes());
                p[elem + 8..elem + 12].copy_from_slice(&(k.len() as u32).to_le_bytes());
                p[elem + 12..elem + 16].copy_from_slice(&(v.len() as u32).to_le_bytes());
                data.extend_from_slice(k);
                data.extend_from_slice(v);
            }
            p.extend(data);
            p
        }

        pub fn branch_bytes(id: u64, items: &[(&[u8], u64)]) -> Vec<u8> {
            let mut p = vec![0u8; PAGE_HEADER + items.len() * ELEMENT];
            p[0..8].copy_from_slice(&id.to_le_bytes());
            p[8..10].copy_from_slice(&BRANCH.to_le_bytes());
            p[10..12].copy_from_slice(&(items.len() as u16).to_le_bytes());
            let mut data = Vec::new();
            for (i, (k, child)) in items.iter().enumerate() {
                let elem = PAGE_HEADER + i * ELEMENT;
                let pos = (p.len() + data.len() - elem) as u32;
                p[elem..elem + 4].copy_from_slice(&pos.to_le_bytes());
                p[elem + 4..elem + 8].copy_from_slice(&(k.len() as u32).to_le_bytes());
                p[elem + 8..elem + 16].copy_from_slice(&child.to_le_bytes());
                data.extend_from_slice(k);
            }
            p.extend(data);
            p
        }

        /// Appends a page and returns its id.
        pub fn push(&mut self, mut bytes: Vec<u8>) -> u64 {
            let id = self.pages.len() as u64;
            bytes[0..8].copy_from_slice(&id.to_le_bytes());
            bytes.resize(self.ps, 0);
            self.pages.push(bytes);
            id
        }

        pub fn bytes(&self) -> Vec<u8> {
            self.pages.concat()
        }
    }

    /// An inline bucket value holding `items`.
    pub(crate) fn inline(items: &[(&[u8], Vec<u8>, bool)]) -> Vec<u8> {
        let mut v = vec![0u8; BUCKET_HEADER];
        v.extend(Builder::leaf_bytes(0, items));
        v
    }

    fn bucket_value(root: u64) -> Vec<u8> {
        let mut v = root.to_le_bytes().to_vec();
        v.extend(0u64.to_le_bytes());
        v
    }

    /// root -> branch page with two leaves; "b" is an inline bucket, "z" a paged one.
    fn sample() -> Builder {
        let mut b = Builder::new();
        let inner = b.push(Builder::leaf_bytes(0, &[(b"k", b"v".to_vec(), false)]));
        let l1 = b.push(Builder::leaf_bytes(
            0,
            &[(b"a", b"1".to_vec(), false), (b"b", inline(&[(b"x", b"y".to_vec(), false)]), true)],
        ));
        let l2 = b.push(Builder::leaf_bytes(
            0,
            &[(b"m", b"2".to_vec(), false), (b"z", bucket_value(inner), true)],
        ));
        let root = b.push(Builder::branch_bytes(0, &[(b"a", l1), (b"m", l2)]));
        b.meta(0, root, 4);
        b.meta(1, root, 3);
        b
    }

    #[test]
    fn reads_branches_inline_and_nested_buckets() {
        let db = Db::open(sample().bytes()).unwrap();
        assert_eq!(db.txid(), 4);
        assert_eq!(db.page_size(), 4096);
        let root = db.root();
        assert_eq!(root.get(b"a").unwrap(), Some(&b"1"[..]));
        assert_eq!(root.get(b"m").unwrap(), Some(&b"2"[..]));
        // Keys between and before separators descend to the right child.
        assert_eq!(root.get(b"c").unwrap(), None);
        assert_eq!(root.get(b"0").unwrap(), None);
        assert_eq!(root.get(b"b").unwrap(), None, "a bucket is not a value");
        let b = root.bucket(b"b").unwrap().unwrap();
        assert_eq!(b.get(b"x").unwrap(), Some(&b"y"[..]));
        let z = root.bucket(b"z").unwrap().unwrap();
        assert_eq!(z.get(b"k").unwrap(), Some(&b"v"[..]));
        assert!(root.bucket(b"a").unwrap().is_none());
        let keys: Vec<_> = root.iter().map(|r| r.unwrap().0.to_vec()).collect();
        assert_eq!(keys, vec![b"a".to_vec(), b"b".to_vec(), b"m".to_vec(), b"z".to_vec()]);
    }

    #[test]
    fn bad_checksum_falls_back_to_the_other_meta() {
        let mut b = sample();
        b.pages[0][16 + 20] ^= 0xff; // inside meta 0, after its checksum was computed
        let db = Db::open(b.bytes()).unwrap();
        assert_eq!(db.txid(), 3);
        assert_eq!(db.root().get(b"a").unwrap(), Some(&b"1"[..]));
        b.pages[1][16 + 20] ^= 0xff;
        assert!(matches!(Db::open(b.bytes()), Err(BoltError::NoValidMeta { .. })));
    }

    #[test]
    fn truncated_files_are_errors_not_panics() {
        let bytes = sample().bytes();
        for len in [0, 10, 100, 4096, 4200, 8192, 3 * 4096, 5 * 4096, bytes.len() - 1] {
            let cut = bytes[..len].to_vec();
            if let Ok(db) = Db::open(cut) {
                let all: Vec<_> = db.root().iter().collect();
                let ok = db.root().get(b"m");
                assert!(
                    all.iter().any(|r| r.is_err()) || ok.is_err() || len == bytes.len(),
                    "len {len}"
                );
            }
        }
    }

    #[test]
    fn cycles_and_bad_pages_are_errors() {
        // A branch page pointing at itself.
        let mut b = Builder::new();
        let id = b.pages.len() as u64;
        b.push(Builder::branch_bytes(0, &[(b"a", id)]));
        b.meta(0, id, 2);
        b.meta(1, id, 1);
        let db = Db::open(b.bytes()).unwrap();
        assert!(matches!(db.root().get(b"a"), Err(BoltError::Cycle { .. })));
        let items: Vec<_> = db.root().iter().collect();
        assert!(matches!(items.last(), Some(Err(BoltError::Cycle { .. }))));

        // Out-of-range page ids, and a meta page where a tree page belongs.
        let mut b = Builder::new();
        let root = b.push(Builder::branch_bytes(0, &[(b"a", 999), (b"m", 1)]));
        b.meta(0, root, 2);
        b.meta(1, root, 1);
        let db = Db::open(b.bytes()).unwrap();
        assert!(matches!(db.root().get(b"a"), Err(BoltError::PageOutOfRange { pgid: 999, .. })));
        assert!(matches!(db.root().get(b"n"), Err(BoltError::PageOutOfRange { pgid: 1, .. })));

        // An element whose key runs off the page.
        let mut b = Builder::new();
        let mut leaf = Builder::leaf_bytes(0, &[(b"a", b"1".to_vec(), false)]);
        leaf[16 + 8..16 + 12].copy_from_slice(&u32::MAX.to_le_bytes());
        let root = b.push(leaf);
        b.meta(0, root, 2);
        b.meta(1, root, 1);
        let db = Db::open(b.bytes()).unwrap();
        assert!(matches!(db.root().get(b"a"), Err(BoltError::ElementOutOfBounds { .. })));

        // Nested buckets pointing back at their parent's page stop at the nesting limit.
        let mut b = Builder::new();
        let id = b.pages.len() as u64;
        b.push(Builder::leaf_bytes(0, &[(b"self", bucket_value(id), true)]));
        b.meta(0, id, 2);
        b.meta(1, id, 1);
        let db = Db::open(b.bytes()).unwrap();
        let mut bucket = db.root();
        let mut depth = 0;
        let err = loop {
            match bucket.bucket(b"self") {
                Ok(Some(next)) => bucket = next,
                Ok(None) => panic!("bucket vanished"),
                Err(e) => break e,
            }
            depth += 1;
        };
        assert!(matches!(err, BoltError::TooDeep { .. }), "{err:?} at {depth}");
    }

    /// One file of the `containerd-store` fixture, read from its archive (no root
    /// needed: the databases are plain files).
    pub(crate) fn fixture_file(rel: &str) -> Vec<u8> {
        let archive =
            concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/containerd-store/data-root.tar.gz");
        let gz = flate2::read::GzDecoder::new(std::fs::File::open(archive).unwrap());
        let mut tar = tar::Archive::new(gz);
        for entry in tar.entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().to_string_lossy().trim_start_matches("./").to_owned();
            if path == rel {
                let mut out = Vec::new();
                std::io::Read::read_to_end(&mut entry, &mut out).unwrap();
                return out;
            }
        }
        panic!("{rel} not in the fixture");
    }

    /// Every key path of a database, `/`-joined, buckets ending in `/`.
    fn walk(b: Bucket<'_>, prefix: &str, out: &mut Vec<String>) {
        for item in b.iter() {
            let (k, v) = item.unwrap();
            let name = format!("{prefix}{}", String::from_utf8_lossy(k));
            // Every key the walk finds, a lookup finds too (the descent is right).
            match v {
                Value::Data(d) => {
                    assert_eq!(b.get(k).unwrap(), Some(d), "{name}");
                    out.push(format!("{name}={}", d.len()));
                }
                Value::Bucket(sub) => {
                    assert!(b.bucket(k).unwrap().is_some(), "{name}");
                    out.push(format!("{name}/"));
                    walk(sub, &format!("{name}/"), out);
                }
            }
        }
    }

    #[test]
    fn reads_containerds_meta_db() {
        let db = Db::open(fixture_file("containerd/daemon/io.containerd.metadata.v1.bolt/meta.db"))
            .unwrap();
        let mut all = Vec::new();
        walk(db.root(), "", &mut all);
        if std::env::var_os("STRATA_DUMP_BOLT").is_some() {
            eprintln!("{}", all.join("\n"));
        }
        let images = db
            .root()
            .bucket(b"v1")
            .unwrap()
            .unwrap()
            .bucket(b"moby")
            .unwrap()
            .unwrap()
            .bucket(b"images")
            .unwrap()
            .unwrap();
        let names: Vec<String> =
            images.iter().map(|r| String::from_utf8_lossy(r.unwrap().0).into_owned()).collect();
        assert!(names.contains(&"docker.io/strata/base:1.0".to_owned()), "{names:?}");
        let base = images.bucket(b"docker.io/strata/base:1.0").unwrap().unwrap();
        let target = base.bucket(b"target").unwrap().unwrap();
        assert_eq!(
            target.get(b"digest").unwrap(),
            Some(&b"sha256:dfe3fdbbac9dd9cf1cb2b6862878b4f034f78730bb2a72b4290f9441add038a1"[..])
        );
        assert!(all.len() > 50, "{}", all.len());
    }

    #[test]
    fn reads_the_overlayfs_snapshotter_db() {
        let db = Db::open(fixture_file(
            "containerd/daemon/io.containerd.snapshotter.v1.overlayfs/metadata.db",
        ))
        .unwrap();
        let mut all = Vec::new();
        walk(db.root(), "", &mut all);
        if std::env::var_os("STRATA_DUMP_BOLT").is_some() {
            eprintln!("{}", all.join("\n"));
        }
        let snaps =
            db.root().bucket(b"v1").unwrap().unwrap().bucket(b"snapshots").unwrap().unwrap();
        let n = snaps.iter().filter(|r| matches!(r, Ok((_, Value::Bucket(_))))).count();
        assert!(n >= 6, "{n} snapshots");
    }

    #[test]
    fn ten_thousand_keys_iterate_in_order_and_look_up() {
        let mut b = Builder::new();
        let keys: Vec<String> = (0..10_000).map(|i| format!("image-{i:05}")).collect();
        let mut leaves = Vec::new();
        for chunk in keys.chunks(100) {
            let items: Vec<(&[u8], Vec<u8>, bool)> =
                chunk.iter().map(|k| (k.as_bytes(), k.as_bytes().to_vec(), false)).collect();
            leaves.push((chunk[0].clone(), b.push(Builder::leaf_bytes(0, &items))));
        }
        let branch: Vec<(&[u8], u64)> = leaves.iter().map(|(k, id)| (k.as_bytes(), *id)).collect();
        let root = b.push(Builder::branch_bytes(0, &branch));
        b.meta(0, root, 2);
        b.meta(1, root, 1);
        let db = Db::open(b.bytes()).unwrap();
        let got: Vec<String> =
            db.root().iter().map(|r| String::from_utf8(r.unwrap().0.to_vec()).unwrap()).collect();
        assert_eq!(got, keys);
        for k in keys.iter().step_by(37) {
            assert_eq!(db.root().get(k.as_bytes()).unwrap(), Some(k.as_bytes()));
        }
        assert_eq!(db.root().get(b"image-99999").unwrap(), None);
    }

    #[test]
    fn shared_subtrees_hit_the_work_limit() {
        // Each level's leaf holds many bucket entries all pointing at the next level's
        // page: a full walk would be exponential; the work budget stops it.
        let mut b = Builder::new();
        let names: Vec<String> = (0..200).map(|i| format!("k{i:03}")).collect();
        let mut below = b.push(Builder::leaf_bytes(0, &[(b"x", b"y".to_vec(), false)]));
        for _ in 0..6 {
            let items: Vec<(&[u8], Vec<u8>, bool)> =
                names.iter().map(|n| (n.as_bytes(), bucket_value(below), true)).collect();
            let mut page = Builder::leaf_bytes(0, &items);
            page.resize(page.len().div_ceil(4096) * 4096, 0);
            let overflow = (page.len() / 4096 - 1) as u32;
            page[12..16].copy_from_slice(&overflow.to_le_bytes());
            let id = b.pages.len() as u64;
            page[0..8].copy_from_slice(&id.to_le_bytes());
            b.pages.extend(page.chunks(4096).map(<[u8]>::to_vec));
            below = id;
        }
        b.meta(0, below, 2);
        b.meta(1, below, 1);
        let db = Db::open(b.bytes()).unwrap();
        fn walk_all(b: Bucket<'_>) -> Result<(), BoltError> {
            for item in b.iter() {
                if let (_, Value::Bucket(sub)) = item? {
                    walk_all(sub)?;
                }
            }
            Ok(())
        }
        let r = walk_all(db.root());
        assert!(matches!(r, Err(BoltError::WorkLimit { .. })), "{r:?}");
    }

    #[test]
    fn meta1_found_when_meta0_is_torn() {
        let mut b = sample();
        b.pages[0][16..16 + 64].fill(0);
        let db = Db::open(b.bytes()).unwrap();
        assert_eq!(db.txid(), 3);
    }
}
