//! An exclusive advisory lock on a file (`flock(LOCK_EX | LOCK_NB)`), held as long as the
//! returned value lives. The kernel releases it when the process dies however it dies, so a
//! lock never goes stale (unlike pid files). Locks belong to the open file description: two
//! holders in one process exclude each other too. The descriptor is close-on-exec, so child
//! processes (ffmpeg) never inherit it.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;

/// A held lock. Dropping it releases the lock.
#[derive(Debug)]
pub struct FileLock {
    // Held for its descriptor: closing it releases the lock.
    _file: File,
}

impl FileLock {
    /// Lock `path` (created 0600 when missing). `Ok(None)` when another holder has it.
    pub fn try_acquire(path: &Path) -> io::Result<Option<FileLock>> {
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).mode(0o600).open(path)?;
        // SAFETY: the descriptor is valid for the lifetime of `file`.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 {
            return Ok(Some(FileLock { _file: file }));
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
            Ok(None)
        } else {
            Err(err)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_released_on_drop() {
        let dir = std::env::temp_dir().join(format!("klive-file-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(".lock");
        let first = FileLock::try_acquire(&path).unwrap().expect("free");
        assert!(FileLock::try_acquire(&path).unwrap().is_none(), "held by the first");
        drop(first);
        assert!(FileLock::try_acquire(&path).unwrap().is_some(), "released on drop");
        assert!(FileLock::try_acquire(&dir.join("missing-dir").join(".lock")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
