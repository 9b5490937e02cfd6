//! Blobs: verified reads, and writes that become visible only once their
//! digest is checked (ingest file + rename).

use super::ImageStore;
use crate::image::digest::{Digest, Hasher};
use crate::image::error::{io_err, ImageError, Result};
use crate::store::temp_name;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

pub(super) const INGEST_PREFIX: &str = "";

impl ImageStore {
    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.content.join("blobs").join(d.algorithm().name()).join(d.hex())
    }

    /// Whether the blob is present (with the expected size, when given).
    pub fn has_blob(&self, d: &Digest, size: Option<u64>) -> bool {
        match std::fs::metadata(self.blob_path(d)) {
            Ok(m) => size.is_none_or(|s| s == m.len()),
            Err(_) => false,
        }
    }

    /// Reads a blob whole, verifying it. A blob that fails verification is
    /// removed, so that the next pull fetches it again.
    pub fn read_blob(&self, d: &Digest) -> Result<Vec<u8>> {
        let path = self.blob_path(d);
        let data = std::fs::read(&path).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                ImageError::NotFound {
                    reference: d.to_string(),
                }
            } else {
                io_err("cannot read blob", &path)(e)
            }
        })?;
        let mut h = d.hasher();
        h.update(&data);
        let actual = h.finish();
        if &actual != d {
            let _ = std::fs::remove_file(&path);
            return Err(ImageError::DigestMismatch {
                what: format!("stored blob {}", path.display()),
                expected: d.clone(),
                actual,
            });
        }
        Ok(data)
    }

    /// Opens a blob for streaming; the reader fails at its end if the
    /// content does not match the digest.
    pub fn open_blob(&self, d: &Digest) -> Result<VerifyingReader<File>> {
        let path = self.blob_path(d);
        let f = File::open(&path).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                ImageError::NotFound {
                    reference: d.to_string(),
                }
            } else {
                io_err("cannot open blob", &path)(e)
            }
        })?;
        Ok(VerifyingReader::new(f, d.clone(), path.display().to_string()))
    }

    /// Stores `data`, returning its sha256 digest.
    pub fn put_blob(&self, data: &[u8]) -> Result<Digest> {
        let d = Digest::sha256_of(data);
        if !self.has_blob(&d, Some(data.len() as u64)) {
            let mut ing = self.ingest()?;
            ing.write_all(data)
                .map_err(io_err("cannot write blob", ing.path.clone()))?;
            ing.commit(&d, Some(data.len() as u64), "blob")?;
        }
        Ok(d)
    }

    /// Moves the file `tmp` (on the store's file system, e.g. staged from an
    /// archive) into place as blob `expected`, after hashing it.
    pub fn adopt_file(&self, tmp: &Path, expected: &Digest) -> Result<()> {
        let f = File::open(tmp).map_err(io_err("cannot open", tmp))?;
        let (actual, _) = crate::image::digest::HashingReader::new(f, expected.algorithm())
            .finish()
            .map_err(io_err("cannot read", tmp))?;
        if &actual != expected {
            return Err(ImageError::DigestMismatch {
                what: format!("blob {}", tmp.display()),
                expected: expected.clone(),
                actual,
            });
        }
        let dest = self.blob_path(expected);
        if let Some(dir) = dest.parent() {
            crate::store::private_dir(dir)?;
        }
        std::fs::rename(tmp, &dest).map_err(io_err("cannot move the blob into place", &dest))
    }

    /// A fresh path in the ingest directory (for staging files).
    pub fn temp_path(&self) -> PathBuf {
        self.content.join("ingest").join(temp_name(INGEST_PREFIX))
    }

    /// Starts writing a blob whose digest is checked on commit.
    pub fn ingest(&self) -> Result<Ingest> {
        let path = self.content.join("ingest").join(temp_name(INGEST_PREFIX));
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io_err("cannot create a temp file", &path))?;
        Ok(Ingest {
            file: Some(file),
            path,
            hasher: Hasher::new(crate::image::digest::Algorithm::Sha256),
            size: 0,
            blobs: self.content.join("blobs"),
        })
    }
}

/// A blob being written; removed on drop unless committed.
pub struct Ingest {
    file: Option<File>,
    path: PathBuf,
    hasher: Hasher,
    size: u64,
    blobs: PathBuf,
}

impl Ingest {
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Where the blob is being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The digest of what was written so far.
    pub fn digest(&self) -> Digest {
        self.hasher.clone().finish()
    }

    /// Checks digest (and size) and moves the blob into place. On mismatch
    /// the data is discarded.
    pub fn commit(mut self, expected: &Digest, expected_size: Option<u64>, what: &str) -> Result<()> {
        let actual = std::mem::replace(&mut self.hasher, Hasher::new(expected.algorithm())).finish();
        if let Some(s) = expected_size {
            if s != self.size {
                return Err(ImageError::SizeMismatch {
                    what: what.to_string(),
                    expected: s,
                    actual: self.size,
                });
            }
        }
        if &actual != expected {
            return Err(ImageError::DigestMismatch {
                what: what.to_string(),
                expected: expected.clone(),
                actual,
            });
        }
        drop(self.file.take());
        let dir = self.blobs.join(expected.algorithm().name());
        crate::store::private_dir(&dir)?;
        let dest = dir.join(expected.hex());
        // Replacing an identical blob another pull committed is harmless.
        std::fs::rename(&self.path, &dest).map_err(io_err("cannot move the blob into place", &dest))?;
        self.path = PathBuf::new();
        Ok(())
    }

    /// The digest of what was written, and its size (for blobs whose digest
    /// is learned by writing them).
    pub fn commit_computed(self, what: &str) -> Result<(Digest, u64)> {
        let d = self.hasher.clone().finish();
        let size = self.size;
        self.commit(&d, Some(size), what)?;
        Ok((d, size))
    }
}

impl Write for Ingest {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let f = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("blob already committed"))?;
        let n = f.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Ingest {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A reader that fails at its end if the content does not match.
pub struct VerifyingReader<R> {
    inner: R,
    hasher: Option<Hasher>,
    expected: Digest,
    what: String,
}

impl<R: Read> VerifyingReader<R> {
    pub fn new(inner: R, expected: Digest, what: String) -> Self {
        VerifyingReader {
            inner,
            hasher: Some(expected.hasher()),
            expected,
            what,
        }
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(h) = self.hasher.as_mut() {
            h.update(&buf[..n]);
        }
        if n == 0 && !buf.is_empty() {
            if let Some(h) = self.hasher.take() {
                let actual = h.finish();
                if actual != self.expected {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "{} does not match its digest {} (got {actual})",
                            self.what, self.expected
                        ),
                    ));
                }
            }
        }
        Ok(n)
    }
}
