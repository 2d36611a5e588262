//! Writing a file whole or not at all: the bytes go to a temporary file beside the target,
//! which is renamed over the target only once every byte is written and synced. A failure
//! at any point leaves what was at the path before untouched and removes the temporary
//! file. The file helpers of [`Image`](crate::Image), [`SpeechResponse`](crate::SpeechResponse)
//! and [`AudioFile`](crate::AudioFile) are built on it.
//!
//! The rename replaces the file at the path rather than writing into it: the new file has
//! the permissions a new file gets, not the old one's, and a symbolic link at the path is
//! replaced by the file, not followed.

use std::ffi::OsString;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// Tells apart the temporary files of one process.
static NEXT_TEMPORARY: AtomicU64 = AtomicU64::new(0);

/// How many names are tried before giving up on creating a temporary file.
const TEMPORARY_ATTEMPTS: u32 = 16;

/// A temporary file's name beside `target`: `.<file name>.<pid>-<n>.mishika-tmp`, hidden on
/// Unix, in the same directory so the final rename never crosses file systems.
fn temporary_path(target: &Path) -> PathBuf {
    let n = NEXT_TEMPORARY.fetch_add(1, Ordering::Relaxed);
    let mut name = OsString::from(".");
    name.push(target.file_name().unwrap_or_else(|| "file".as_ref()));
    name.push(format!(".{}-{n}.mishika-tmp", std::process::id()));
    target.with_file_name(name)
}

/// Creates a new temporary file beside `target` (never an existing one) with `create`,
/// trying fresh names while one is taken.
fn create_temporary<F>(
    target: &Path,
    mut create: impl FnMut(&Path) -> std::io::Result<F>,
) -> Result<(PathBuf, F)> {
    let mut attempts = 0;
    loop {
        let temporary = temporary_path(target);
        match create(&temporary) {
            Ok(file) => return Ok((temporary, file)),
            Err(e)
                if e.kind() == std::io::ErrorKind::AlreadyExists
                    && attempts < TEMPORARY_ATTEMPTS =>
            {
                attempts += 1;
            }
            Err(e) => return Err(Error::io("create", &temporary, e)),
        }
    }
}

/// Write `bytes` to `path` whole or not at all, blocking.
pub(crate) fn write_blocking(path: &Path, bytes: &[u8]) -> Result<()> {
    check_target(path)?;
    let (temporary, mut file) = create_temporary(path, |temporary| {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(temporary)
    })?;
    let written = file
        .write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::io("write", path, e));
    drop(file);
    finish_blocking(written, &temporary, path)
}

/// Rename the temporary file over `path` after a successful write; remove it otherwise.
fn finish_blocking(written: Result<()>, temporary: &Path, path: &Path) -> Result<()> {
    let renamed = written
        .and_then(|()| std::fs::rename(temporary, path).map_err(|e| Error::io("write", path, e)));
    if renamed.is_err() {
        let _ = std::fs::remove_file(temporary);
    }
    renamed
}

/// A path that names a directory (or nothing) cannot be a file's target: say so before
/// creating anything.
fn check_target(path: &Path) -> Result<()> {
    if path.file_name().is_none() || path.is_dir() {
        return Err(Error::new(
            crate::ErrorKind::Io,
            format!(
                "could not write {}: the path names a directory, not a file",
                path.display()
            ),
        ));
    }
    Ok(())
}

/// Write what `fill` writes to `path` whole or not at all: `fill` gets the temporary file;
/// its error (or a failed sync or rename) leaves `path` as it was.
#[cfg(feature = "tokio")]
pub(crate) async fn write_with<T, F, Fut>(path: &Path, fill: F) -> Result<T>
where
    F: FnOnce(tokio::fs::File) -> Fut,
    Fut: std::future::Future<Output = Result<(T, tokio::fs::File)>>,
{
    check_target(path)?;
    let mut attempts = 0;
    let (temporary, file) = loop {
        let temporary = temporary_path(path);
        let created = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temporary)
            .await;
        match created {
            Ok(file) => break (temporary, file),
            Err(e)
                if e.kind() == std::io::ErrorKind::AlreadyExists
                    && attempts < TEMPORARY_ATTEMPTS =>
            {
                attempts += 1;
            }
            Err(e) => return Err(Error::io("create", &temporary, e)),
        }
    };
    let result = async {
        let (value, file) = fill(file).await?;
        file.sync_all()
            .await
            .map_err(|e| Error::io("write", path, e))?;
        drop(file);
        tokio::fs::rename(&temporary, path)
            .await
            .map_err(|e| Error::io("write", path, e))?;
        Ok(value)
    }
    .await;
    if result.is_err() {
        let _ = tokio::fs::remove_file(&temporary).await;
    }
    result
}

/// Write `bytes` to `path` whole or not at all, on tokio's file I/O.
#[cfg(feature = "tokio")]
pub(crate) async fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    use tokio::io::AsyncWriteExt;
    write_with(path, |mut file| async move {
        file.write_all(bytes)
            .await
            .map_err(|e| Error::io("write", path, e))?;
        Ok(((), file))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory of its own under the system's temporary directory, removed at the end.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Scratch {
            let dir = std::env::temp_dir().join(format!(
                "mishika-file-{name}-{}-{}",
                std::process::id(),
                NEXT_TEMPORARY.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }

        fn entries(&self) -> Vec<String> {
            let mut names: Vec<String> = std::fs::read_dir(&self.0)
                .unwrap()
                .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn a_blocking_write_replaces_the_file_and_leaves_nothing_else() {
        let scratch = Scratch::new("blocking");
        let path = scratch.0.join("out.bin");
        std::fs::write(&path, b"old contents, longer than the new").unwrap();
        write_blocking(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(scratch.entries(), ["out.bin"]);
    }

    #[test]
    fn a_failed_rename_leaves_the_target_and_no_temporary_file() {
        let scratch = Scratch::new("rename");
        // A non-empty directory at the target: the rename fails after the bytes are written.
        let path = scratch.0.join("taken");
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("inside"), b"kept").unwrap();
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(scratch.0.join("tmp"))
            .map(drop)
            .map_err(|e| Error::io("create", &path, e));
        let error = finish_blocking(written, &scratch.0.join("tmp"), &path).unwrap_err();
        assert_eq!(error.kind(), crate::ErrorKind::Io);
        assert_eq!(scratch.entries(), ["taken"]);
        assert_eq!(std::fs::read(path.join("inside")).unwrap(), b"kept");
    }

    #[test]
    fn a_directory_is_no_target() {
        let scratch = Scratch::new("dir");
        let error = write_blocking(&scratch.0, b"x").unwrap_err();
        assert_eq!(error.kind(), crate::ErrorKind::Io);
        assert!(error.message().contains("directory"), "{error}");
        assert!(scratch.entries().is_empty());
    }

    #[cfg(feature = "tokio")]
    #[tokio::test]
    async fn a_failed_fill_leaves_the_old_file_and_no_temporary_file() {
        let scratch = Scratch::new("fill");
        let path = scratch.0.join("audio.mp3");
        std::fs::write(&path, b"the old audio").unwrap();
        let error = write_with(&path, |mut file| async move {
            use tokio::io::AsyncWriteExt;
            file.write_all(b"half of the new").await.unwrap();
            Err::<((), tokio::fs::File), _>(Error::new(crate::ErrorKind::Stream, "cut"))
        })
        .await
        .unwrap_err();
        assert_eq!(error.kind(), crate::ErrorKind::Stream);
        assert_eq!(std::fs::read(&path).unwrap(), b"the old audio");
        assert_eq!(scratch.entries(), ["audio.mp3"]);

        write(&path, b"the new audio").await.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"the new audio");
        assert_eq!(scratch.entries(), ["audio.mp3"]);
    }
}
