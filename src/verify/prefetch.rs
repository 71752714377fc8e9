//! Reading ahead of the hasher, for evidence nothing has read yet.
//!
//! On a cold page cache, a layer's pass waits on the disk for every member in turn:
//! the directory and inode of each file, then its first blocks, one at a time, while
//! the disk could serve many at once. A helper thread walks the same tar-split a little
//! ahead of the pass and, for each member, does what makes the pass wait: it opens the
//! file the way the pass will ([`SafeDir::open_file`]: contained, no links, a FIFO or
//! device refused before anything is read) and asks the kernel to start reading its
//! first bytes (`posix_fadvise(WILLNEED)`); a member without content gets the `lstat`
//! the pass will do. It never reads content into the process and holds no buffer.
//!
//! It stays within a window ahead of the pass ([`AHEAD_MEMBERS`] members and
//! [`AHEAD_BYTES`] of advised content), so what it brings into the page cache is
//! bounded, and is what the pass reads next rather than something evicted before use.
//! Within one large file, the pass itself keeps [`FILE_AHEAD`] bytes advised ahead
//! of where it reads ([`FileAhead`]).

use crate::fsread::{Limits, SafeDir};
use crate::tarsplit::{self, Entry, TarSplitReader};
use std::ffi::OsStr;
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::{Condvar, Mutex, MutexGuard};

/// Most members the helper handles ahead of the pass.
pub const AHEAD_MEMBERS: u64 = 256;
/// Most content (as counted by [`advised`]) the helper asks for ahead of the pass.
pub const AHEAD_BYTES: u64 = 64 << 20;
/// How much of one file the helper asks for; the pass asks for the rest as it goes.
const FIRST_BYTES: u64 = 4 << 20;
/// How far ahead of its read position the pass keeps a large file advised.
pub const FILE_AHEAD: u64 = 32 << 20;
/// The size of one advice within a large file: big enough to be few calls, small
/// enough that a call does not stall the reader submitting it.
const FILE_STEP: u64 = 8 << 20;
/// Below this compressed size a tar-split holds a handful of members: a thread to
/// read ahead of them costs more than it saves.
pub const MIN_TAR_SPLIT_BYTES: u64 = 1 << 10;

/// The content of a member of `size` bytes that the helper asks for.
fn advised(size: u64) -> u64 {
    size.min(FIRST_BYTES)
}

/// How far the pass has got, shared with the helper that reads ahead of it.
#[derive(Debug, Default)]
pub struct Window {
    state: Mutex<State>,
    moved: Condvar,
}

#[derive(Debug, Default)]
struct State {
    /// Members the pass has handled.
    members: u64,
    /// Advised content of those members.
    bytes: u64,
    /// The pass is over: the helper stops.
    done: bool,
}

impl Window {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere cannot leave these counters half-written.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The pass has handled one more member, with `size` bytes of content.
    pub fn consumed(&self, size: u64) {
        let mut s = self.lock();
        s.members += 1;
        s.bytes += advised(size);
        drop(s);
        self.moved.notify_one();
    }

    /// The pass is over, however it ended.
    pub fn finish(&self) {
        self.lock().done = true;
        self.moved.notify_one();
    }

    /// A guard that calls [`Window::finish`] when dropped, so the helper never waits
    /// on a pass that has returned early.
    pub fn finish_on_drop(&self) -> FinishGuard<'_> {
        FinishGuard(self)
    }

    /// Waits until member `index`, after `bytes_before` of advised content, is within
    /// the window. False when the pass is over.
    fn wait_for(&self, index: u64, bytes_before: u64) -> bool {
        let mut s = self.lock();
        loop {
            if s.done {
                return false;
            }
            if index < s.members + AHEAD_MEMBERS && bytes_before < s.bytes + AHEAD_BYTES {
                return true;
            }
            s = self.moved.wait(s).unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }
}

/// Ends the helper's work when dropped (see [`Window::finish_on_drop`]).
pub struct FinishGuard<'a>(&'a Window);

impl Drop for FinishGuard<'_> {
    fn drop(&mut self) {
        self.0.finish();
    }
}

/// Walks the tar-split `input` (the same the pass reads) and prepares each member in
/// `layer` ahead of the pass, within `window`. Returns how many members it prepared.
/// Every failure is the pass's to report: here it only means nothing to prepare.
pub fn read_ahead(layer: &SafeDir, input: File, limits: Limits, window: &Window) -> u64 {
    let mut reader = TarSplitReader::new(input, limits);
    let (mut index, mut bytes_before) = (0u64, 0u64);
    while let Ok(Some(entry)) = reader.next_entry() {
        let Entry::File { name, size, .. } = entry else { continue };
        if !window.wait_for(index, bytes_before) {
            break;
        }
        if let Ok(rel) = tarsplit::clean_layer_path(&name) {
            let path =
                if rel.is_empty() { Path::new("") } else { Path::new(OsStr::from_bytes(&rel)) };
            if size > 0 {
                if let Ok((file, _)) = layer.open_file(path) {
                    advise(&file, 0, advised(size));
                }
            } else {
                let _ = layer.lstat(path);
            }
        }
        index += 1;
        bytes_before += advised(size);
    }
    index
}

/// Asks the kernel to start reading `len` bytes of `file` from `offset` into the page
/// cache, without waiting for them. Advice only: a failure changes nothing but speed.
fn advise(file: &File, offset: u64, len: u64) {
    use nix::fcntl::{posix_fadvise, PosixFadviseAdvice};
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else { return };
    let _ = posix_fadvise(file, offset, len, PosixFadviseAdvice::POSIX_FADV_WILLNEED);
}

/// Keeps the next [`FILE_AHEAD`] bytes of one large file advised ahead of where the
/// pass reads, so the disk works on them while the pass hashes what it has.
pub struct FileAhead<'a> {
    file: &'a File,
    /// Everything before this offset has been advised.
    advised: u64,
    /// Nothing past this is advised: the file's size when opened.
    end: u64,
}

impl<'a> FileAhead<'a> {
    /// For `file`, `size` bytes long when opened. Files that one read takes whole need
    /// no advice: the read itself asks for all of it.
    pub fn new(file: &'a File, size: u64, one_read: u64) -> Self {
        let end = if size > one_read { size } else { 0 };
        Self { file, advised: 0, end }
    }

    /// The pass is about to read at `pos`.
    pub fn before_read(&mut self, pos: u64) {
        let want = pos.saturating_add(FILE_AHEAD).min(self.end);
        while self.advised < want {
            let len = FILE_STEP.min(self.end - self.advised);
            advise(self.file, self.advised, len);
            self.advised += len;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::atomic::{AtomicU64, Ordering};

    fn tar_split(names: &[(String, u64)]) -> Vec<u8> {
        let mut text = String::new();
        for (i, (name, size)) in names.iter().enumerate() {
            text.push_str(&format!(
                // Any 8-byte CRC: the helper never reads content to check it.
                "{{\"type\":1,\"name\":\"{name}\",\"size\":{size},\"payload\":\"AAAAAAAAAAA=\",\"position\":{i}}}\n"
            ));
        }
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(text.as_bytes()).unwrap();
        e.finish().unwrap()
    }

    /// The helper never gets more than the window ahead of the pass, stops when the
    /// pass ends early, and a FIFO among the members neither blocks it nor is read.
    #[test]
    fn stays_within_the_window_and_stops_with_the_pass() {
        let dir = tempfile::tempdir().unwrap();
        let mut members = Vec::new();
        nix::unistd::mkfifo(
            &dir.path().join("fifo"),
            nix::sys::stat::Mode::from_bits_truncate(0o600),
        )
        .unwrap();
        members.push(("fifo".to_string(), 5));
        for i in 0..(3 * AHEAD_MEMBERS) {
            std::fs::write(dir.path().join(format!("f{i}")), b"data").unwrap();
            members.push((format!("./f{i}"), 4));
        }
        let ts = dir.path().join("ts.gz");
        std::fs::write(&ts, tar_split(&members)).unwrap();
        let layer = SafeDir::open_root(dir.path()).unwrap();
        let window = Window::default();
        let prepared = AtomicU64::new(0);
        std::thread::scope(|s| {
            let helper = s.spawn(|| {
                let n = read_ahead(&layer, File::open(&ts).unwrap(), Limits::default(), &window);
                prepared.store(n, Ordering::SeqCst);
            });
            // The pass handles 10 members, then gives up.
            for _ in 0..10 {
                window.consumed(4);
            }
            std::thread::sleep(std::time::Duration::from_millis(500));
            window.finish();
            helper.join().unwrap();
        });
        let n = prepared.load(Ordering::SeqCst);
        assert!(n <= 10 + AHEAD_MEMBERS, "prepared {n} members, 10 consumed");
        assert!(n >= AHEAD_MEMBERS, "prepared only {n} members in 500 ms");
    }

    /// A large file is advised in steps, never past its end nor further than
    /// `FILE_AHEAD` beyond the read position.
    #[test]
    fn file_advice_follows_the_reader() {
        let f = tempfile::tempfile().unwrap();
        let mut a = FileAhead::new(&f, 100 << 20, 1 << 20);
        a.before_read(0);
        assert_eq!(a.advised, FILE_AHEAD);
        a.before_read(90 << 20);
        assert_eq!(a.advised, 100 << 20);
        let small = FileAhead::new(&f, 1 << 20, 1 << 20);
        assert_eq!(small.end, 0);
    }
}
