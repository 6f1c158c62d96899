//! The store's file side: preparing its directory, the disk writer thread, and mapping a
//! segment file for the origin.
//!
//! # Reading back: mmap, not sendfile
//! The origin is hyper, which writes response bodies given as [`Bytes`]. A file mapped with
//! `MAP_POPULATE` and wrapped as `Bytes` (no copy: [`Bytes::from_owner`]) hands hyper the page
//! cache's own pages, so a segment goes from the page cache to the socket with the one copy
//! the kernel makes into the socket buffer, and no `read()` copy into the heap. sendfile(2)
//! would save that last copy too, but only by writing the socket outside hyper's connection
//! (its buffered writes, keep-alive and pipelining), for a gain the origin bench does not
//! need. Mapped pages are file-backed and reclaimable: they are counted in RSS only while a
//! response holds them, and never in the anonymous memory the budget bounds.
//!
//! A segment whose pages are all in the page cache (the common case: it was written minutes
//! ago) is mapped on the async worker itself, `mincore` telling so without touching the disk;
//! only one with a page missing goes to the blocking pool to be read in (`MAP_POPULATE`). On a
//! busy host each hand-off to another thread is one more wakeup to wait for.

use super::{written, StoredSegment, State};
use bytes::Bytes;
use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use parking_lot::Mutex;
use std::sync::mpsc::{channel, Sender};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Work for the disk writer, done in order.
#[derive(Debug)]
pub(super) enum Job {
    /// Write this segment's file and account it.
    Write(Arc<StoredSegment>),
    /// Delete a segment file.
    Unlink(PathBuf),
    /// Delete a stream's (by now empty) subdirectory.
    RemoveDir(PathBuf),
}

/// Create `dir` (0700), lock its marker file and clear everything else in it. A non-empty
/// directory without the marker is refused: it is not ours to clear.
pub(super) fn prepare_directory(dir: &Path, marker: &str) -> Result<File, String> {
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| format!("cannot create: {e}"))?;
    let marker_path = dir.join(marker);
    let entries: Vec<_> = fs::read_dir(dir).map_err(|e| format!("cannot read: {e}"))?.filter_map(Result::ok).collect();
    let marked = entries.iter().any(|e| e.file_name() == marker);
    if !marked && !entries.is_empty() {
        return Err(format!("is not empty and has no {marker}: not a klive-server HLS directory, refusing to clear it"));
    }
    let lock = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&marker_path)
        .map_err(|e| format!("cannot open {marker}: {e}"))?;
    // SAFETY: flock on a descriptor we own.
    if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Err("is in use by another klive-server (give each server its own hls.directory)".to_string());
    }
    let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
    for entry in entries.iter().filter(|e| e.file_name() != marker) {
        let path = entry.path();
        let removed = match entry.file_type() {
            Ok(t) if t.is_dir() => fs::remove_dir_all(&path),
            _ => fs::remove_file(&path),
        };
        removed.map_err(|e| format!("cannot clear {}: {e}", path.display()))?;
    }
    Ok(lock)
}

/// Disk writer threads. Several, because one file at a time is bound by the latency of each
/// create/write on a busy disk, not by its bandwidth (measured: one thread spilled 150
/// segments/s of the 250/s that 500 streams cut, on this machine's shared ext4).
const WRITERS: usize = 4;

/// Start the writer threads; they end when the sender is dropped and the queue is done.
/// Jobs run in parallel across threads; none depends on another's completion: a file is
/// unlinked only once its write has been accounted, and a closed stream's directory is removed
/// by whichever job empties it (the `RemoveDir` itself, or an unlink that another thread ran
/// after it).
/// `pending` counts jobs sent and not yet done: the sender adds one per job, a thread takes it
/// off after the job.
pub(super) fn start_writer(pending: Arc<AtomicU64>) -> std::io::Result<Sender<Job>> {
    let (tx, rx) = channel::<Job>();
    let rx = Arc::new(Mutex::new(rx));
    let closed_dirs: Arc<Mutex<HashSet<PathBuf>>> = Arc::default();
    for i in 0..WRITERS {
        let rx = rx.clone();
        let closed_dirs = closed_dirs.clone();
        let pending = pending.clone();
        std::thread::Builder::new().name(format!("klive-hls-disk-{i}")).spawn(move || {
            let mut made: HashSet<PathBuf> = HashSet::new();
            loop {
                let job = match rx.lock().recv() {
                    Ok(job) => job,
                    Err(_) => return,
                };
                run_job(job, &mut made, &closed_dirs);
                pending.fetch_sub(1, Ordering::Release);
            }
        })?;
    }
    Ok(tx)
}

fn run_job(job: Job, made: &mut HashSet<PathBuf>, closed_dirs: &Mutex<HashSet<PathBuf>>) {
    match job {
        Job::Write(seg) => {
            let bytes = match &*seg.state.lock() {
                State::Spilling(b) => Some(b.clone()),
                _ => None,
            };
            let result = match bytes {
                Some(b) => write_file(&seg.path, &b, made),
                None => Ok(()),
            };
            written(&seg.store, &seg, result);
        }
        Job::Unlink(path) => {
            let _ = fs::remove_file(&path);
            if let Some(dir) = path.parent() {
                let mut closed = closed_dirs.lock();
                if closed.contains(dir) && fs::remove_dir(dir).is_ok() {
                    closed.remove(dir);
                    made.remove(dir);
                }
            }
        }
        Job::RemoveDir(dir) => {
            made.remove(&dir);
            // Under the lock, so that an unlink that empties it later sees it closed.
            let mut closed = closed_dirs.lock();
            if fs::remove_dir(&dir).is_err() && dir.exists() {
                closed.insert(dir);
            }
        }
    }
}

/// Write a segment file once, sequentially, without fsync, as a new file (never over one a
/// reader may have mapped); a partial file is removed.
fn write_file(path: &Path, bytes: &[u8], made: &mut HashSet<PathBuf>) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        if !made.contains(parent) {
            fs::DirBuilder::new().recursive(true).mode(0o700).create(parent)?;
            made.insert(parent.to_path_buf());
        }
    }
    let open = || OpenOptions::new().write(true).create_new(true).mode(0o600).open(path);
    let file = match open() {
        // Another writer thread removed the (then empty) directory meanwhile: make it again.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(parent) = path.parent() {
                fs::DirBuilder::new().recursive(true).mode(0o700).create(parent)?;
            }
            open()
        }
        other => other,
    };
    let result = file.and_then(|mut f| f.write_all(bytes));
    if result.is_err() {
        let _ = fs::remove_file(path);
    }
    result
}

/// A read-only private mapping of a whole file, unmapped on drop.
struct Mapping {
    ptr: *mut libc::c_void,
    len: usize,
}

// SAFETY: the mapping is read-only and owned; nothing aliases it mutably.
unsafe impl Send for Mapping {}
// SAFETY: as above: shared reads of immutable memory.
unsafe impl Sync for Mapping {}

impl AsRef<[u8]> for Mapping {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: ptr..ptr+len is a live PROT_READ mapping for the life of self.
        unsafe { std::slice::from_raw_parts(self.ptr.cast::<u8>(), self.len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly what mmap returned.
        unsafe { libc::munmap(self.ptr, self.len) };
    }
}

/// How a segment file is mapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Residency {
    /// Fault every page in now (`MAP_POPULATE`): may read the disk, so off the async workers.
    Populate,
    /// Map only if every page is already in the page cache (`mincore`): no disk I/O, so it may
    /// run on an async worker; `None` when a page is missing.
    CachedOnly,
}

/// The whole file at `path` as [`Bytes`] backed by a read-only mapping (see the module docs).
pub(crate) fn map_file(path: &Path, residency: Residency) -> std::io::Result<Option<Bytes>> {
    let file = File::open(path)?;
    let len = usize::try_from(file.metadata()?.len()).map_err(|_| std::io::Error::other("file too large"))?;
    if len == 0 {
        return Ok(Some(Bytes::new()));
    }
    let flags = match residency {
        Residency::Populate => libc::MAP_PRIVATE | libc::MAP_POPULATE,
        Residency::CachedOnly => libc::MAP_PRIVATE,
    };
    // SAFETY: a fresh read-only private mapping of a file we opened; segment files are
    // written once before they are published as on disk and never modified, so the mapped
    // bytes do not change under the reader (deleting the file keeps the mapping valid).
    let ptr = unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, flags, file.as_raw_fd(), 0) };
    if ptr == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error());
    }
    let mapping = Mapping { ptr, len };
    if residency == Residency::CachedOnly && !resident(&mapping) {
        return Ok(None);
    }
    Ok(Some(Bytes::from_owner(mapping)))
}

/// Every page of the mapping is in the page cache.
fn resident(m: &Mapping) -> bool {
    // SAFETY: sysconf has no preconditions.
    let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096).max(1);
    let mut vec = vec![0u8; m.len.div_ceil(page)];
    // SAFETY: ptr..ptr+len is our page-aligned mapping; vec has one byte per page of it.
    let rc = unsafe { libc::mincore(m.ptr, m.len, vec.as_mut_ptr()) };
    rc == 0 && vec.iter().all(|b| b & 1 == 1)
}
