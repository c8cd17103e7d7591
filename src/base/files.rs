//! Writing files so that a crash mid-write leaves the old file, never half a new one.

use std::io::{Read as _, Write as _};
use std::path::Path;

use crate::base::error::{Error, Result};

/// Writes `bytes` to `path` through a synced temporary file beside it, then renames it into
/// place. The folder is created if needed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::write(dir, e))?;
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::write(dir, e))?;
    file.write_all(bytes)
        .and_then(|()| file.as_file().sync_all())
        .map_err(|e| Error::write(path, e))?;
    file.persist(path)
        .map_err(|e| Error::write(path, e.error))?;
    Ok(())
}

/// Opens `path` for reading only if it is a regular file: a FIFO would hang and a device such
/// as `/dev/zero` never ends. The check is made on the file opened (a symlink is followed to
/// what it names), so nothing can be swapped in between; the open itself does not wait for a
/// FIFO's writer.
pub fn open_regular(path: &Path) -> Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
        .map_err(|e| Error::read(path, e))?;
    let meta = file.metadata().map_err(|e| Error::read(path, e))?;
    if !meta.is_file() {
        return Err(Error::InvalidInput(format!(
            "{} is not a regular file (a folder, a pipe or a device); give a file",
            path.display()
        )));
    }
    Ok(file)
}

/// Reads a whole file of at most `max_bytes`, only a regular file ([`open_regular`]). `what`
/// names the limit for the message.
pub fn read_limited(path: &Path, max_bytes: u64, what: &str) -> Result<Vec<u8>> {
    let file = open_regular(path)?;
    let too_big = |size: u64| {
        Error::InvalidInput(format!(
            "{} is {size} bytes, more than the {max_bytes} allowed ({what})",
            path.display()
        ))
    };
    let size = file.metadata().map_err(|e| Error::read(path, e))?.len();
    if size > max_bytes {
        return Err(too_big(size));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    // The file may grow while it is read: never take more than the limit.
    file.take(max_bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::read(path, e))?;
    if bytes.len() as u64 > max_bytes {
        return Err(too_big(bytes.len() as u64));
    }
    Ok(bytes)
}

/// [`read_limited`] for a text file, which must be UTF-8.
pub fn read_text_limited(path: &Path, max_bytes: u64, what: &str) -> Result<String> {
    String::from_utf8(read_limited(path, max_bytes, what)?)
        .map_err(|_| Error::InvalidInput(format!("{} is not UTF-8 text", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_whole_file_and_creates_its_folder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/file.txt");
        write_atomic(&path, b"first, longer").unwrap();
        write_atomic(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        assert_eq!(
            std::fs::read_dir(dir.path().join("sub")).unwrap().count(),
            1
        );
    }

    #[test]
    fn only_regular_files_within_the_limit_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"12345").unwrap();
        assert_eq!(read_limited(&file, 5, "test").unwrap(), b"12345");
        let err = read_limited(&file, 4, "limits.test")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("5 bytes") && err.contains("limits.test"),
            "{err}"
        );
        for not_a_file in [Path::new("/dev/zero"), dir.path()] {
            let err = read_limited(not_a_file, 4, "test").unwrap_err().to_string();
            assert!(err.contains("not a regular file"), "{err}");
        }
        let fifo = dir.path().join("fifo");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        let err = read_limited(&fifo, 4, "test").unwrap_err().to_string();
        assert!(err.contains("not a regular file"), "{err}");
    }
}
