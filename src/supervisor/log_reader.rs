//! Reading a container's json-file log without holding it in memory:
//! `--tail N` reads complete lines backwards from the end, a block at a
//! time, and a whole-log read streams forwards line by line. Both stop at
//! the end of the last complete line, and say where that is, so that
//! following continues exactly after what was read (a partial last line is
//! read once the supervisor has finished it).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;

/// How much is read at a time from the end; a line longer than this makes
/// the next read as long as what is pending (so any line length costs
/// linear time).
pub const BLOCK: usize = 64 * 1024;

/// The complete lines of a file, last first, without their newlines.
pub struct ReverseLines<'a> {
    file: &'a File,
    block: usize,
    /// The file's bytes `[pos, pos + buf.len())`, not yet returned; empty,
    /// or ending with the newline of a complete line.
    buf: Vec<u8>,
    pos: u64,
    end: u64,
}

impl<'a> ReverseLines<'a> {
    /// Over the first `len` bytes of `file` (its length when opened: what
    /// is appended meanwhile is for following).
    pub fn new(file: &'a File, len: u64) -> io::Result<ReverseLines<'a>> {
        Self::with_block(file, len, BLOCK)
    }

    pub fn with_block(file: &'a File, len: u64, block: usize) -> io::Result<ReverseLines<'a>> {
        let mut r = ReverseLines {
            file,
            block: block.max(1),
            buf: Vec::new(),
            pos: len,
            end: 0,
        };
        // Drop a partial last line: back to the last newline.
        while r.pos > 0 {
            let n = (r.block as u64).min(r.pos) as usize;
            let mut chunk = vec![0u8; n];
            r.file.read_exact_at(&mut chunk, r.pos - n as u64)?;
            r.pos -= n as u64;
            if let Some(nl) = chunk.iter().rposition(|b| *b == b'\n') {
                chunk.truncate(nl + 1);
                r.end = r.pos + chunk.len() as u64;
                r.buf = chunk;
                break;
            }
        }
        Ok(r)
    }

    /// The offset just after the last complete line.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// Reads more before `pos` into the front of `buf`.
    fn extend_back(&mut self) -> io::Result<()> {
        let want = self.block.max(self.buf.len());
        let n = (want as u64).min(self.pos) as usize;
        let mut chunk = vec![0u8; n + self.buf.len()];
        self.file.read_exact_at(&mut chunk[..n], self.pos - n as u64)?;
        chunk[n..].copy_from_slice(&self.buf);
        self.pos -= n as u64;
        self.buf = chunk;
        Ok(())
    }
}

impl Iterator for ReverseLines<'_> {
    type Item = io::Result<Vec<u8>>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let len = self.buf.len();
            if len == 0 {
                return None;
            }
            // `buf` ends with this line's newline; the line starts after
            // the newline before it.
            if let Some(nl) = self.buf[..len - 1].iter().rposition(|b| *b == b'\n') {
                let line = self.buf[nl + 1..len - 1].to_vec();
                self.buf.truncate(nl + 1);
                return Some(Ok(line));
            }
            if self.pos == 0 {
                let mut line = std::mem::take(&mut self.buf);
                line.pop();
                return Some(Ok(line));
            }
            if let Err(e) = self.extend_back() {
                self.buf.clear();
                return Some(Err(e));
            }
        }
    }
}

/// Calls `each` with every complete line (without its newline) of the
/// bytes `[start, len)` of `file`, first to last; returns the offset just
/// after the last complete line (`start` when there is none).
pub fn forward_lines(file: &File, start: u64, len: u64, mut each: impl FnMut(&[u8])) -> io::Result<u64> {
    let mut f = file;
    f.seek(SeekFrom::Start(start))?;
    let mut reader = BufReader::with_capacity(BLOCK, f.take(len.saturating_sub(start)));
    let mut line = Vec::new();
    let mut end = start;
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
        if n == 0 || line.last() != Some(&b'\n') {
            return Ok(end);
        }
        end += n as u64;
        line.pop();
        each(&line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file_with(bytes: &[u8]) -> (tempfile::NamedTempFile, u64) {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(bytes).unwrap();
        f.flush().unwrap();
        (f, bytes.len() as u64)
    }

    fn backwards(bytes: &[u8], block: usize) -> (Vec<String>, u64) {
        let (f, len) = file_with(bytes);
        let file = f.reopen().unwrap();
        let r = ReverseLines::with_block(&file, len, block).unwrap();
        let end = r.end();
        let lines = r.map(|l| String::from_utf8(l.unwrap()).unwrap()).collect();
        (lines, end)
    }

    #[test]
    fn lines_come_last_first_across_block_boundaries() {
        let text: String = (0..500).map(|i| format!("line number {i}\n")).collect();
        let want: Vec<String> = (0..500).rev().map(|i| format!("line number {i}")).collect();
        // Blocks smaller than a line, splitting lines everywhere, and
        // bigger than the file.
        for block in [1, 3, 7, 16, 64, 1000, 1 << 20] {
            let (got, end) = backwards(text.as_bytes(), block);
            assert_eq!(got, want, "block {block}");
            assert_eq!(end, text.len() as u64);
        }
    }

    #[test]
    fn a_partial_last_line_is_left_for_following() {
        let text = "one\ntwo\nthree without newline";
        for block in [2, 5, 4096] {
            let (got, end) = backwards(text.as_bytes(), block);
            assert_eq!(got, vec!["two", "one"], "block {block}");
            assert_eq!(end, 8);
        }
        let (got, end) = backwards(b"no newline at all", 4);
        assert!(got.is_empty());
        assert_eq!(end, 0);
        let (got, end) = backwards(b"", 4);
        assert!(got.is_empty());
        assert_eq!(end, 0);
    }

    #[test]
    fn long_lines_and_empty_lines_survive() {
        let long = "x".repeat(10_000);
        let text = format!("\n{long}\n\nshort\n");
        let (got, _) = backwards(text.as_bytes(), 16);
        assert_eq!(got, vec!["short".to_string(), String::new(), long, String::new()]);
    }

    #[test]
    fn reading_stops_at_the_length_given() {
        // What is appended after the length was taken is not read.
        let (got, end) = backwards(b"a\nb\nc\n", 4);
        assert_eq!((got.len(), end), (3, 6));
        let (f, _) = file_with(b"a\nb\nc\n");
        let file = f.reopen().unwrap();
        let got: Vec<_> = ReverseLines::with_block(&file, 4, 3)
            .unwrap()
            .map(|l| l.unwrap())
            .collect();
        assert_eq!(got, vec![b"b".to_vec(), b"a".to_vec()]);
    }

    #[test]
    fn forward_reading_gives_complete_lines_and_their_end() {
        let (f, len) = file_with(b"one\ntwo\npart");
        let file = f.reopen().unwrap();
        let mut seen = Vec::new();
        let end = forward_lines(&file, 0, len, |l| seen.push(l.to_vec())).unwrap();
        assert_eq!(seen, vec![b"one".to_vec(), b"two".to_vec()]);
        assert_eq!(end, 8);
        seen.clear();
        let end = forward_lines(&file, 4, len, |l| seen.push(l.to_vec())).unwrap();
        assert_eq!((seen, end), (vec![b"two".to_vec()], 8));
        let end = forward_lines(&file, 8, len, |_| panic!("no complete line")).unwrap();
        assert_eq!(end, 8);
    }
}
