//! The blob store: uploaded files (test data now, designs next) kept on disk by the SHA-256 of
//! their content, written as they stream in — never whole in memory — and moved into place
//! only once complete and synced, so a crash leaves no half file under a hash.

use pilotline_domain::Code;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

use crate::StoreError;

/// A directory of content-addressed files: `{dir}/{first two hex digits}/{sha256}`.
#[derive(Debug, Clone)]
pub struct BlobStore {
    dir: PathBuf,
}

/// A stored file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    /// SHA-256 of the content, hex.
    pub sha256: String,
    /// Size in bytes.
    pub len: u64,
    /// Where it is.
    pub path: PathBuf,
}

/// A file being written: bytes go to a temporary file as they arrive, hashed on the way.
pub struct BlobWriter {
    file: Option<tokio::fs::File>,
    tmp: PathBuf,
    dir: PathBuf,
    hasher: Sha256,
    len: u64,
    max: u64,
}

fn io(what: &str, path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Blob(format!("{what} {}: {e}", path.display()))
}

impl BlobStore {
    /// The blob store in `dir` (created when first written).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// Starts a file of at most `max` bytes.
    pub async fn writer(&self, max: u64) -> Result<BlobWriter, StoreError> {
        let tmp_dir = self.dir.join("incoming");
        tokio::fs::create_dir_all(&tmp_dir)
            .await
            .map_err(|e| io("cannot create", &tmp_dir, e))?;
        let name = format!("{}-{:016x}", std::process::id(), rand::random::<u64>());
        let tmp = tmp_dir.join(name);
        let file = tokio::fs::File::create(&tmp)
            .await
            .map_err(|e| io("cannot create", &tmp, e))?;
        Ok(BlobWriter {
            file: Some(file),
            tmp,
            dir: self.dir.clone(),
            hasher: Sha256::new(),
            len: 0,
            max,
        })
    }
}

impl BlobWriter {
    /// Appends `chunk`; refuses (`body_too_large`) past the limit, leaving nothing behind.
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), StoreError> {
        self.len += chunk.len() as u64;
        if self.len > self.max {
            return Err(Code::BodyTooLarge
                .refusal()
                .with("limit", format!("{} bytes", self.max))
                .into());
        }
        self.hasher.update(chunk);
        let file = self.file.as_mut().expect("open until finished");
        file.write_all(chunk)
            .await
            .map_err(|e| io("cannot write", &self.tmp, e))
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Syncs the file and moves it under its hash (a file already there is the same content).
    pub async fn finish(mut self) -> Result<Blob, StoreError> {
        let mut file = self.file.take().expect("open until finished");
        file.flush()
            .await
            .map_err(|e| io("cannot write", &self.tmp, e))?;
        file.sync_all()
            .await
            .map_err(|e| io("cannot sync", &self.tmp, e))?;
        drop(file);
        let sha256 = hex::encode(std::mem::take(&mut self.hasher).finalize());
        let shelf = self.dir.join(&sha256[..2]);
        tokio::fs::create_dir_all(&shelf)
            .await
            .map_err(|e| io("cannot create", &shelf, e))?;
        let path = shelf.join(&sha256);
        if tokio::fs::try_exists(&path).await.unwrap_or(false) {
            let _ = tokio::fs::remove_file(&self.tmp).await;
        } else {
            tokio::fs::rename(&self.tmp, &path)
                .await
                .map_err(|e| io("cannot store", &path, e))?;
        }
        self.tmp = PathBuf::new();
        Ok(Blob {
            sha256,
            len: self.len,
            path,
        })
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        // Not finished (refused, or the client went away): nothing half-written stays.
        if !self.tmp.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_file_is_stored_under_its_hash_and_a_refused_one_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = BlobStore::new(dir.path());
        let mut w = blobs.writer(10).await.unwrap();
        w.write(b"hello ").await.unwrap();
        w.write(b"blob").await.unwrap();
        let b = w.finish().await.unwrap();
        assert_eq!(b.sha256, hex::encode(Sha256::digest(b"hello blob")));
        assert_eq!(std::fs::read(&b.path).unwrap(), b"hello blob");
        assert_eq!(b.len, 10);
        assert_eq!(b.path, dir.path().join(&b.sha256[..2]).join(&b.sha256));
        let mut w = blobs.writer(4).await.unwrap();
        let refused = w.write(b"too long").await.unwrap_err();
        assert_eq!(refused.refusal().unwrap().code(), Code::BodyTooLarge);
        drop(w);
        let left = std::fs::read_dir(dir.path().join("incoming"))
            .unwrap()
            .count();
        assert_eq!(left, 0, "a refused upload leaves no file");
    }
}
