//! `strata files LAYER|IMAGE`: the entries of a layer, or of each layer of an image.
//!
//! Streams: the analysis ([`crate::analysis::files::for_each_file`]) hands each entry
//! over as soon as it is read and [`FilesWriter`] writes it, in table or JSON form,
//! so memory stays flat however large the layer. Nothing here reads the disk.

use super::Format;
use crate::analysis::files::{FileType, LayerFile, LayerId};
use crate::finding::terminal_safe;
use std::io::{self, Write};

/// `drwxr-xr-x` from a tar type and permission bits.
fn mode_string(f: &LayerFile) -> String {
    let t = match f.kind {
        FileType::Dir => 'd',
        FileType::Symlink => 'l',
        FileType::HardLink => 'h',
        FileType::Char => 'c',
        FileType::Block => 'b',
        FileType::Fifo => 'p',
        FileType::File => '-',
        FileType::Meta | FileType::Unknown => '?',
    };
    super::permission_string(t, f.mode)
}

fn time_string(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map_or_else(|| secs.to_string(), |t| t.format("%Y-%m-%d %H:%M:%S").to_string())
}

fn table_line(f: &LayerFile) -> String {
    let mut line = format!(
        "{}  {:>5}/{:<5}  {:>10}  {}  {}",
        mode_string(f),
        f.uid,
        f.gid,
        f.size,
        time_string(f.mtime),
        terminal_safe(&f.path)
    );
    if let Some(t) = &f.link_target {
        line.push_str(if f.kind == FileType::HardLink { " link to " } else { " -> " });
        line.push_str(&terminal_safe(t));
    }
    if f.whiteout {
        line.push_str("  (whiteout)");
    }
    line
}

/// Writes the entries of layers (bottom first) as the analysis streams them in:
/// [`FilesWriter::begin_layer`], then [`FilesWriter::file`] for each entry, then
/// [`FilesWriter::finish`]. JSON is an array of `{"chain_id", "diff_id", "files":
/// [{path, type, size, mode, uid, gid, mtime, link_target, whiteout}]}`; the table
/// has one block per layer, `ls -l` style.
pub struct FilesWriter<'a> {
    out: &'a mut dyn Write,
    json: bool,
    layers: usize,
    /// No entry written yet in the current layer.
    first: bool,
}

impl<'a> FilesWriter<'a> {
    /// Starts the output (`[` for JSON).
    pub fn new(out: &'a mut dyn Write, format: Format) -> io::Result<Self> {
        let json = format == Format::Json;
        if json {
            write!(out, "[")?;
        }
        Ok(Self { out, json, layers: 0, first: true })
    }

    /// Starts the block of one layer, closing the previous one.
    pub fn begin_layer(&mut self, layer: &LayerId) -> io::Result<()> {
        self.end_layer()?;
        if self.json {
            let diff = serde_json::to_string(&layer.diff_id).map_err(io::Error::other)?;
            write!(
                self.out,
                "{}\n  {{\"chain_id\": \"{}\", \"diff_id\": {diff}, \"files\": [",
                if self.layers > 0 { "," } else { "" },
                layer.chain_id
            )?;
        } else {
            if self.layers > 0 {
                writeln!(self.out)?;
            }
            let diff = layer.diff_id.map_or_else(|| "?".to_owned(), |d| d.to_string());
            writeln!(self.out, "layer {} (diff {diff})", layer.chain_id)?;
        }
        self.layers += 1;
        self.first = true;
        Ok(())
    }

    /// Writes one entry of the current layer.
    pub fn file(&mut self, f: &LayerFile) -> io::Result<()> {
        if self.json {
            let s = serde_json::to_string(f).map_err(io::Error::other)?;
            write!(self.out, "{}\n    {s}", if self.first { "" } else { "," })?;
        } else {
            writeln!(self.out, "{}", table_line(f))?;
        }
        self.first = false;
        Ok(())
    }

    fn end_layer(&mut self) -> io::Result<()> {
        if self.json && self.layers > 0 {
            write!(self.out, "{}]}}", if self.first { "" } else { "\n  " })?;
        }
        Ok(())
    }

    /// Closes the last layer and the whole listing.
    pub fn finish(mut self) -> io::Result<()> {
        self.end_layer()?;
        if self.json {
            writeln!(self.out, "\n]")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(kind: FileType, mode: u32) -> LayerFile {
        LayerFile {
            path: "x".into(),
            kind,
            size: 0,
            mode,
            uid: 0,
            gid: 0,
            mtime: 0,
            link_target: None,
            whiteout: false,
        }
    }

    #[test]
    fn modes_read_like_ls() {
        assert_eq!(mode_string(&f(FileType::Dir, 0o755)), "drwxr-xr-x");
        assert_eq!(mode_string(&f(FileType::File, 0o4755)), "-rwsr-xr-x");
        assert_eq!(mode_string(&f(FileType::Dir, 0o1777)), "drwxrwxrwt");
        assert_eq!(mode_string(&f(FileType::File, 0o2644)), "-rw-r-Sr--");
    }
}
